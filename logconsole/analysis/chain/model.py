"""Result model shared by every verification scheme."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from collections.abc import Iterable

from logconsole.store.sanitize import one_line

#: Statuses, from best to worst (``unverifiable`` is "nothing could be said").
INTACT = "intact"  # verified up to an anchor (signature or checkpoint)
CONSISTENT = "consistent"  # the chain holds but nothing rules out a cut tail
TAMPERED = "tampered"
UNVERIFIABLE = "unverifiable"
STATUSES = (INTACT, CONSISTENT, TAMPERED, UNVERIFIABLE)

#: Failure kinds, exactly as documented in docs/integrity.md.
FAILURE_KINDS = (
    "modified",
    "deleted",
    "inserted",
    "reordered",
    "truncated",
    "seq_gap",
    "time_regression",
    "bad_signature",
    "unknown_key",
    "broken_link",
    "missing_file",
    "malformed",
)

SCHEMES = ("hash-chain", "cloudtrail-digest", "sequence", "index")

EVIDENCE_NOTE = (
    "sequence analysis is evidence, not proof: numbers are written by the logging system itself "
    "and can be rewritten consistently; gaps can have benign causes"
)


@dataclass
class Failure:
    kind: str
    line: int | None = None  # 1-based line in ``file`` (None for file-level failures)
    seq: int | None = None  # the record's sequence number, when it has one
    detail: str = ""
    file: str | None = None  # file the failure is in (rotated chains, CloudTrail buckets)
    missing: int | None = None  # how many records are missing (deleted, seq_gap, truncated)
    explained: str | None = None  # sequence scheme: benign explanation (reboot, rotation, 1102 ...)
    event_id: int | None = None  # the index event, when verified from the index
    source_id: int | None = None  # the index source of ``file`` (not stored; filled when results are read)

    def __post_init__(self) -> None:
        if self.kind not in FAILURE_KINDS:
            raise ValueError(f"unknown failure kind {self.kind!r}")

    def as_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "line": self.line, "seq": self.seq, "detail": self.detail}
        if self.file is not None:
            d["file"] = self.file
        if self.missing is not None:
            d["missing"] = self.missing
        if self.explained is not None:
            d["explained"] = self.explained
        if self.event_id is not None:
            d["event_id"] = self.event_id
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Failure:
        return cls(
            d["kind"], d.get("line"), d.get("seq"), d.get("detail") or "", d.get("file"),
            d.get("missing"), d.get("explained"), d.get("event_id"),
        )

    def location(self, target: str | None = None, file_width: int = 120) -> str:
        """Where the failure is, as shown to a reader: ``FILE line N seq N event N`` (each part only when
        known; the file only when it is not the *target* itself).  Empty when nothing is known."""
        where = []
        if self.file and self.file != target:
            where.append(one_line(self.file, file_width))
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.seq is not None:
            where.append(f"seq {self.seq}")
        if self.event_id is not None:
            where.append(f"event {self.event_id}")
        return " ".join(where)

    def sort_key(self) -> tuple:
        return (self.file or "", self.line if self.line is not None else 1 << 62, FAILURE_KINDS.index(self.kind))


@dataclass
class TargetResult:
    path: str
    scheme: str
    status: str = UNVERIFIABLE
    records: int = 0
    coverage: str = ""
    anchor: str = "none"
    failures: list[Failure] = field(default_factory=list)
    explained: list[Failure] = field(default_factory=list)  # benign anomalies (sequence scheme)
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # every file this target covers
    source_id: int | None = None  # index source, when verified from/mapped to the index
    #: files (relative to ``path``) whose every record was checked against an anchor or chain and held:
    #: the CloudTrail log files whose hash a digest confirmed
    covered: list[str] = field(default_factory=list)

    def fail(self, kind: str, line: int | None = None, seq: int | None = None, detail: str = "", **kw: Any) -> Failure:
        f = Failure(kind, line, seq, detail, **kw)
        self.failures.append(f)
        return f

    def finish(self, *, anchored: bool, verifiable: bool = True) -> TargetResult:
        """Set the status from the failures found: tampered > unverifiable > intact/consistent."""
        self.failures.sort(key=Failure.sort_key)
        self.explained.sort(key=Failure.sort_key)
        if self.failures:
            self.status = TAMPERED
        elif not verifiable:
            self.status = UNVERIFIABLE
        else:
            self.status = INTACT if anchored else CONSISTENT
        return self

    def as_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "path": self.path,
            "scheme": self.scheme,
            "status": self.status,
            "records": self.records,
            "coverage": self.coverage,
            "anchor": self.anchor,
            "failures": [f.as_json() for f in self.failures],
        }
        if self.explained:
            d["explained"] = [f.as_json() for f in self.explained]
        if self.notes:
            d["notes"] = list(self.notes)
        if self.files and self.files != [self.path]:
            d["files"] = list(self.files)
        if self.covered:
            d["verified_files"] = list(self.covered)
        if self.scheme == "sequence":
            d["evidence"] = EVIDENCE_NOTE
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TargetResult:
        return cls(
            d["path"], d["scheme"], d["status"], d.get("records") or 0, d.get("coverage") or "",
            d.get("anchor") or "none", [Failure.from_json(f) for f in d.get("failures", [])],
            [Failure.from_json(f) for f in d.get("explained", [])], list(d.get("notes", [])),
            list(d.get("files", [])), d.get("source_id"), list(d.get("verified_files", [])),
        )


def exit_code(results: Iterable[TargetResult]) -> int:
    """0: every target intact/consistent; 1: any tampered; 2: otherwise (nothing verifiable)."""
    results = list(results)
    if any(r.status == TAMPERED for r in results):
        return 1
    if results and all(r.status in (INTACT, CONSISTENT) for r in results):
        return 0
    return 2


def unverifiable(path: str, scheme: str, reason: str) -> TargetResult:
    r = TargetResult(path, scheme, UNVERIFIABLE)
    r.notes.append(reason)
    r.files = [path]
    return r
