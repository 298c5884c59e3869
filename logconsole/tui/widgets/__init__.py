"""Widgets of the console: they draw and post messages; the screen that holds them decides what to do."""
