"""Severities of findings (the investigator's and the privilege analysis's), least severe first."""

from __future__ import annotations

SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")

#: rank for sorting, most severe first (``critical`` 0 ... ``info`` 4)
SEVERITY_RANK: dict[str, int] = {s: i for i, s in enumerate(reversed(SEVERITIES))}

#: how the console colours each severity (Rich style strings)
SEVERITY_STYLE: dict[str, str] = {
    "critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan", "info": "dim",
}


def severity_rank(severity: str) -> int:
    """Sort key, most severe first; an unknown severity sorts last."""
    return SEVERITY_RANK.get(severity, len(SEVERITIES))
