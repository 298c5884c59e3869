"""Widgets of the console (event list, filter bar; histogram and facets come from tui-analytics)."""
