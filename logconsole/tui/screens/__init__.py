"""Screens of the console, one per module; the timeline opens them through logconsole.tui.screen_list."""
