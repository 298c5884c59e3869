"""Error types shared by every layer."""

from __future__ import annotations


class ParseError(Exception):
    """A value or record that cannot be parsed; the message is the reason (for a record, its quarantine reason)."""
