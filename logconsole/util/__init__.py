"""Bottom utilities: time parsing and shared error types.

Modules here import nothing else from ``logconsole``; every other layer may import them.
"""
