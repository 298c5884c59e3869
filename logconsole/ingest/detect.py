"""Format detection by sampling the first records of a file."""

from __future__ import annotations

from dataclasses import dataclass

from logconsole.ingest import formats  # noqa: F401  (registers every parser)
from logconsole.ingest.base import REGISTRY, Evidence
from logconsole.ingest.reader import Input, Sample


class UnknownFormat(Exception):
    pass


@dataclass
class Detection:
    format: str
    evidence: str
    score: int


def detect_sample(sample: Sample) -> Detection | None:
    best: Detection | None = None
    for name, cls in sorted(REGISTRY.items()):
        try:
            ev: Evidence | None = cls().sniff(sample)
        except Exception as exc:  # a sniffer must never break detection
            ev = None
            _ = exc
        if ev is None or ev.score <= 0:
            continue
        if best is None or ev.score > best.score:
            best = Detection(name, ev.detail, ev.score)
    return best


def detect(inp: Input) -> Detection:
    sample = inp.sample()
    found = detect_sample(sample)
    if found is None:
        raise UnknownFormat(
            f"{inp.display}: no format recognizes this file; name one with --format "
            f"({', '.join(sorted(REGISTRY))})"
        )
    return found
