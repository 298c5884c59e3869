"""Format detection by sampling the first records of a file."""

from __future__ import annotations

from dataclasses import dataclass

from logconsole.ingest.base import Evidence
from logconsole.ingest.formats import PARSERS, UnknownFormat, names
from logconsole.ingest.reader import Input, Sample

__all__ = ["Detection", "UnknownFormat", "detect", "detect_sample"]


@dataclass
class Detection:
    format: str
    evidence: str
    score: int


def detect_sample(sample: Sample) -> Detection | None:
    best: Detection | None = None
    for cls in PARSERS:
        try:
            ev: Evidence | None = cls().sniff(sample)
        except Exception:  # a sniffer must never break detection
            ev = None
        if ev is None or ev.score <= 0:
            continue
        if best is None or ev.score > best.score:
            best = Detection(cls.name, ev.detail, ev.score)
    return best


def detect(inp: Input) -> Detection:
    sample = inp.sample()
    found = detect_sample(sample)
    if found is None:
        raise UnknownFormat(
            f"{inp.display}: no format recognizes this file; name one with --format "
            f"({', '.join(names())})"
        )
    return found
