"""The parser interface every format module implements.

A parser turns a :class:`~logconsole.ingest.reader.Input` (an opened evidence
file) into a stream of :class:`Event` and :class:`Quarantined` items.  The
pipeline (``logconsole.ingest.pipeline``) does everything else: dedup, batching,
accounting, provenance, FTS.  Lossless accounting rule, per source::

    records == events + duplicates + merged + quarantined

where each yielded item says how many input records it stands for:
``Event.records`` (default 1; a Kubernetes event merged from 3 stages has
``records=3, dup=2``; an auditd event grouped from 5 lines has ``records=5,
merged=4``) and ``Quarantined.records`` (default 1).
"""

from __future__ import annotations

import ipaddress
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from logconsole.ingest.reader import Input, Sample
from logconsole.util.errors import ParseError as ParseError  # part of the parser interface


@dataclass(slots=True)
class Event:
    ts_us: int
    raw: str | bytes
    format: str
    line: int | None = None
    rec_index: int | None = None
    record_id: str | None = None
    ts_raw: str | None = None
    service: str | None = None
    action: str | None = None
    outcome: str = "unknown"  # success | failure | unknown
    error_code: str | None = None
    actor: str | None = None
    actor_type: str | None = None
    actor_uid: str | None = None
    session: str | None = None
    target_user: str | None = None
    src_ip: str | None = None
    user_agent: str | None = None
    host: str | None = None
    resource: str | None = None
    account: str | None = None
    region: str | None = None
    message: str | None = None
    extra: dict[str, Any] | None = None
    #: input records this event stands for
    records: int = 1
    #: of those, how many were folded in as duplicates (k8s stages) ...
    dup: int = 0
    #: ... or merged as parts of one event (auditd lines)
    merged: int = 0
    #: set (to ``record_id``) when the format's own id identifies a record, so the
    #: same record delivered twice (even with different raw text) is a duplicate;
    #: unset: an identical raw record in *another* file is a duplicate
    dedup_key: str | None = None


@dataclass(slots=True)
class Quarantined:
    reason: str
    raw: bytes | str | None
    line: int | None = None
    rec_index: int | None = None
    records: int = 1


Item = Event | Quarantined


@dataclass(slots=True)
class Evidence:
    """Why a parser thinks a sample is its format."""

    score: int  # 0 = not mine; 100 = certain
    detail: str


@dataclass(frozen=True, slots=True)
class FormatFacts:
    """What the rest of logconsole knows about a format, declared once by its parser.

    Every parser sets ``facts``; there is no default (``tests/test_formats.py``
    checks each parser of :data:`logconsole.ingest.formats.PARSERS`)."""

    #: label in the timeline's narrow format column (the full name is shown elsewhere)
    short_label: str
    #: what an event's time means (Timesketch ``timestamp_desc`` in exports)
    timestamp_desc: str
    #: the records carry sequence numbers, analysed by ``verify --from-index`` with the rules
    #: of this kind (``"auditd"`` serials, ``"windows"`` EventRecordID); the readiness report
    #: counts them as evidence of completeness, not proof.  None: no sequence numbers
    sequence: str | None = None
    #: how to verify sources of this format, shown for a source nothing has verified yet
    verify_hint: str | None = None
    #: the console's columns, in order, for a view of only this format (``ts_us``, ``actor``,
    #: ``action``, ``resource``, ``outcome``, ``src_ip``, ``service``, ``format``); None: the
    #: console's default without the format column
    columns: tuple[str, ...] | None = None


class Parser(ABC):
    #: format name, e.g. "cloudtrail" (stored in ``sources.format`` and ``events.format``)
    name: ClassVar[str]
    #: bump when the mapping changes (stored per source)
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    #: per-format facts (display, exports, readiness); no default
    facts: ClassVar[FormatFacts]

    def __init__(self, **options: Any) -> None:
        self.options = options

    @abstractmethod
    def sniff(self, sample: Sample) -> Evidence | None:
        """Look at the first bytes/lines of a file; return evidence or None."""

    @abstractmethod
    def parse(self, inp: Input) -> Iterator[Item]:
        """Yield one item per input record (or group of records)."""

    def source_options(self) -> dict[str, Any]:
        """Options worth recording in ``sources.options`` (JSON)."""
        return {k: v for k, v in self.options.items() if v is not None}


# ---------------------------------------------------------------- helpers


def norm_ip(value: Any) -> tuple[str | None, bytes | None]:
    """Normalise an address: returns (text, 16-byte key) or (text, None) if not an IP."""
    if value is None or value == "":
        return None, None
    s = str(value).strip()
    cand = s
    if cand.startswith("[") and "]" in cand:
        cand = cand[1:cand.index("]")]
    try:
        ip = ipaddress.ip_address(cand.split("%", 1)[0])
    except ValueError:
        return s, None
    if ip.version == 4:
        return str(ip), ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + ip.packed).packed
    if ip.ipv4_mapped is not None:
        v4 = ip.ipv4_mapped
        return str(v4), ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + v4.packed).packed
    return str(ip), ip.packed


def dig(obj: Any, path: str, default: Any = None) -> Any:
    """``dig(rec, "a.b.c")`` for nested dicts; list indexes allowed as digits."""
    cur = obj
    for part in path.split("."):
        if isinstance(cur, dict):
            if part not in cur:
                return default
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit():
            i = int(part)
            if i >= len(cur):
                return default
            cur = cur[i]
        else:
            return default
    return cur


def as_dict(value: Any) -> dict[str, Any]:
    """*value* if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """*value* if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def text_or_none(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    return str(value)


def decode_utf8(line: bytes) -> str:
    """Strict UTF-8 decoding; raises ParseError naming the byte offset."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"invalid UTF-8 at byte {exc.start}") from None


#: digits -> "0", every other byte -> " ": a run of 19 zeros is an integer orjson may not keep exact
_DIGITS = bytes(48 if 48 <= c <= 57 else 32 for c in range(256))
_LONG_NUMBER = b"0" * 19


def load_json_object(line: bytes | str) -> dict:
    """Parse one JSON object; raises ParseError with a short reason.

    Bytes must be UTF-8 (``json.loads`` would otherwise guess UTF-16/32).  orjson parses
    (~3x faster than ``json``) unless the text holds a run of 19+ digits: orjson turns
    integers beyond 64 bits into floats, ``json`` keeps them.  Whatever orjson refuses
    (NaN, lone surrogates, non-objects, bad JSON) goes through ``json``, so values and
    quarantine reasons are exactly those of ``json.loads``."""
    if isinstance(line, (bytes, bytearray)):
        line = decode_utf8(line)
    if _LONG_NUMBER not in line.encode("utf-8", "surrogatepass").translate(_DIGITS):
        try:
            fast = orjson.loads(line)
        except orjson.JSONDecodeError:
            pass
        else:
            if isinstance(fast, dict):
                return fast
    try:
        obj = json.loads(line)
    except UnicodeDecodeError as exc:
        raise ParseError(f"invalid UTF-8 at byte {exc.start}") from None
    except RecursionError:
        raise ParseError("JSON nested too deeply") from None
    except ValueError as exc:
        raise ParseError(f"bad JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ParseError(f"expected a JSON object, got {type(obj).__name__}")
    return obj
