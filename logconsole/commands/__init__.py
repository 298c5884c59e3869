"""CLI command groups by area; ``logconsole.cli`` loads them lazily (so that
``logconsole search`` never imports Textual, and start-up stays fast)."""
