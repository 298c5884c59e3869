"""JSON records in whatever container an export tool wrote them.

Shared by the JSON-based parsers (``gcp-audit``,
``azure-activity``, ``windows-security``).  One evidence file may hold:

* JSON lines (one object per line; ``gcloud logging read --format=json`` piped
  through ``jq -c``, Event Hub captures, NXLog/Logstash output);
* a top-level JSON array ``[ {...}, ... ]`` (Sentinel / Log Analytics exports,
  ``gcloud ... --format=json``, ``ConvertTo-Json``), one line or pretty-printed;
* an object wrapping the array under a known key (``{"records": [...]}`` from
  Azure diagnostic settings, ``{"value": [...]}`` from the REST API,
  ``{"entries": [...]}`` from the Logging API);
* concatenated pretty-printed objects (``jq`` without ``-c``).

Each is streamed with bounded memory by :mod:`logconsole.ingest.jsonstream`.
The reader (:mod:`logconsole.ingest.reader`) removes a UTF-8 byte order mark and
transcodes files starting with a UTF-16 one (Windows PowerShell 5 ``ConvertTo-Json
| Out-File`` writes UTF-16LE) to UTF-8 on the fly; their events' ``raw`` is the
record re-encoded as UTF-8 (the source row keeps the SHA-256 of the file's bytes).  :func:`iter_json_records` yields
:class:`JsonRecord` for each object and :class:`~logconsole.ingest.base.Quarantined`
for everything that is not one (with line/element and a one-line reason), so
``records == events + quarantined`` holds by construction.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterator

from logconsole.ingest.base import Event, ParseError, Quarantined
from logconsole.ingest.jsonstream import ArrayProblem, iter_array_records
from logconsole.ingest.reader import Input, Sample

BOM = b"\xef\xbb\xbf"
_WS = b" \t\r\n"


@dataclass(slots=True)
class JsonRecord:
    obj: dict[str, Any]
    raw: str
    line: int | None
    rec_index: int | None


def strip_head(data: bytes) -> bytes:
    """Leading BOM and whitespace removed (for sniffing)."""
    if data.startswith(BOM):
        data = data[3:]
    return data.lstrip(_WS)


def container_kind(head: bytes, keys: tuple[str, ...]) -> tuple[str, str | None]:
    """``("array", None)``, ``("object", key)``, ``("stream", None)`` or ``("lines", None)``."""
    h = strip_head(head)
    if h.startswith(b"["):
        return "array", None
    if h.startswith(b"{"):
        for k in keys:
            if re.match(rb'\{\s*"' + re.escape(k.encode()) + rb'"\s*:\s*\[', h):
                return "object", k
        first = h.split(b"\n", 1)[0].rstrip(b"\r \t")
        if first == b"{":
            # a pretty-printed object (or several, concatenated): not one per line
            return "stream", None
    return "lines", None


class _Wrapped:
    """Duck-typed Input for iter_array_records: skips a BOM (optionally brackets a stream)."""

    def __init__(self, inp: Input, bracket: bool) -> None:
        self.inp = inp
        self.bracket = bracket

    def iter_chunks(self) -> Iterator[bytes]:
        if self.bracket:
            yield b"["
        first = True
        for chunk in self.inp.iter_chunks():
            if first:
                first = False
                if chunk.startswith(BOM):
                    chunk = chunk[3:]
            yield chunk
        if self.bracket:
            yield b"]"


def iter_json_records(inp: Input, keys: tuple[str, ...] = ()) -> Iterator[JsonRecord | Quarantined]:
    """Every JSON object of *inp*, whatever the container (see module doc)."""
    head = inp.sample(8192).data  # UTF-8 (the reader transcodes UTF-16 with a BOM)
    kind, key = container_kind(head, keys)
    if kind == "lines":
        yield from _iter_lines(inp)
        return
    if kind == "stream":
        yield from _iter_stream(_Wrapped(inp, False))
        return
    if kind == "object":
        src = iter_array_records(_Wrapped(inp, False), key)  # type: ignore[arg-type]
    else:
        src = iter_array_records(_Wrapped(inp, False), None)  # type: ignore[arg-type]
    for item in src:
        if isinstance(item, ArrayProblem):
            yield Quarantined(item.reason, item.raw, line=item.line, rec_index=item.index)
            continue
        if not isinstance(item.obj, dict):
            yield Quarantined(
                f"expected a JSON object, got {type(item.obj).__name__} (element {item.index})",
                item.raw, line=item.line, rec_index=item.index,
            )
            continue
        yield JsonRecord(item.obj, item.raw, item.line, None if kind == "stream" else item.index)


_DECODER = json.JSONDecoder()
_WS_RE = re.compile(r"[ \t\r\n]*")
#: an object that fails to parse is skipped up to the next line starting with "{"
_RESYNC = re.compile(r"\n(?=\{)")


def _iter_stream(src: _Wrapped) -> Iterator[JsonRecord | Quarantined]:
    """Concatenated (pretty-printed) JSON objects, e.g. ``jq .`` output.

    A broken object is quarantined up to the next line that starts with ``{``
    (where ``jq`` starts every object), so one bad object costs one record.
    """
    dec = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    chunks = src.iter_chunks()
    buf = ""
    eof = False
    line = 1  # line number of buf[counted]
    counted = 0

    def more() -> bool:
        nonlocal buf, eof
        if eof:
            return False
        try:
            buf += dec.decode(next(chunks))
            return True
        except StopIteration:
            buf += dec.decode(b"", final=True)
            eof = True
            return False

    def line_at(pos: int) -> int:
        nonlocal line, counted
        line += buf.count("\n", counted, pos)
        counted = pos
        return line

    pos = 0
    while True:
        pos = _WS_RE.match(buf, pos).end()  # type: ignore[union-attr]
        if pos >= len(buf):
            if more():
                continue
            return
        start = line_at(pos)
        err = None
        try:
            obj, end = _DECODER.raw_decode(buf, pos)
        except RecursionError:
            err = "JSON nested too deeply"
        except json.JSONDecodeError as exc:
            if not eof and len(buf) - pos < MAX_RECORD_STREAM and more():
                continue  # maybe the object continues in the next chunk
            err = f"bad JSON: {exc.msg}"
        if err is None:
            if isinstance(obj, dict):
                yield JsonRecord(obj, buf[pos:end], start, None)
            else:
                yield Quarantined(f"expected a JSON object, got {type(obj).__name__}", buf[pos:end], line=start)
            pos = end
        else:
            m = _RESYNC.search(buf, pos + 1)
            while m is None and not eof and len(buf) - pos < MAX_RECORD_STREAM and more():
                m = _RESYNC.search(buf, pos + 1)
            stop = m.start() + 1 if m else len(buf)
            yield Quarantined(err, buf[pos:stop], line=start)
            pos = stop
        if pos > 1 << 20:  # drop what has been consumed
            line_at(pos)
            buf = buf[pos:]
            counted -= pos
            pos = 0


MAX_RECORD_STREAM = 16 * 1024 * 1024


def _iter_lines(inp: Input) -> Iterator[JsonRecord | Quarantined]:
    for lineno, line in inp.iter_lines():
        if line is None:
            yield Quarantined("line longer than the 4 MiB limit", None, line=lineno)
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Quarantined(f"invalid UTF-8 at byte {exc.start}", line, line=lineno)
            continue
        try:
            obj = json.loads(text)
        except RecursionError:
            yield Quarantined("JSON nested too deeply", line, line=lineno)
            continue
        except ValueError as exc:
            yield Quarantined(f"bad JSON: {exc}", line, line=lineno)
            continue
        if not isinstance(obj, dict):
            yield Quarantined(f"expected a JSON object, got {type(obj).__name__}", line, line=lineno)
            continue
        yield JsonRecord(obj, text, lineno, None)


def mostly(good: int, total: int) -> bool:
    """Enough of a detection sample agrees: all of one or two, else at least four in
    five (a few corrupt records at the top do not change what a file is)."""
    return good > 0 and (good == total or (good >= 3 and good * 5 >= total * 4))


def sample_objects(sample: Sample, n: int = 10, keys: tuple[str, ...] = ()) -> tuple[list[dict[str, Any]], int]:
    """Parse up to *n* leading JSON-lines objects of a sample: (objects, lines tried).

    A line holding a whole container (``[...]`` or ``{"<key>": [...]}`` for a key
    in *keys*) contributes its first elements instead; a line that is not a
    JSON object or such a container contributes nothing, so ``len(objects) <
    tried`` tells the caller the sample is not clean JSON lines.
    """
    objs: list[dict[str, Any]] = []
    tried = 0
    for i, ln in enumerate(sample.first_nonblank(n)):
        if i == 0 and ln.startswith(BOM):
            ln = ln[3:]
        tried += 1
        try:
            obj = json.loads(ln)
        except (ValueError, RecursionError):
            continue
        inner = None
        if isinstance(obj, list):
            inner = obj
        elif isinstance(obj, dict):
            for k in keys:
                if isinstance(obj.get(k), list):
                    inner = obj[k]
                    break
        if inner is not None:
            elems = [e for e in inner[:n] if isinstance(e, dict)]
            if elems and len(elems) == len(inner[:n]):
                objs.extend(elems)
                tried += len(elems) - 1
            continue
        if isinstance(obj, dict):
            objs.append(obj)
    return objs, tried


# ------------------------------------------------------------- value helpers


def clean_text(value: Any, limit: int | None = None) -> str | None:
    """A value as text fit for the index (None for empty; lone surrogates replaced)."""
    if value is None:
        return None
    if isinstance(value, bool):
        s = "true" if value else "false"
    elif isinstance(value, str):
        s = value
    elif isinstance(value, (int, float)):
        s = str(value)
    else:
        try:
            s = json.dumps(value, separators=(",", ":"), sort_keys=True)
        except (ValueError, TypeError, RecursionError):
            s = repr(value)
    if s == "":
        return None
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = s.encode("utf-8", "replace").decode("utf-8")
    if limit is not None and len(s) > limit:
        s = s[:limit]
    return s


def scrub_event(ev: Event) -> Event:
    """Make every text column of *ev* encodable (JSON escapes can produce lone surrogates)."""
    for name in ("record_id", "ts_raw", "service", "action", "error_code", "actor", "actor_type",
                 "actor_uid", "session", "target_user", "src_ip", "user_agent", "host", "resource",
                 "account", "region", "message", "dedup_key"):
        v = getattr(ev, name)
        if v is not None:
            setattr(ev, name, clean_text(v))
    return ev


def value_of(v: Any) -> Any:
    """Azure-style ``{"value": x, "localizedValue": y}`` wrappers unwrapped."""
    if isinstance(v, dict) and "value" in v:
        return v.get("value")
    return v


def first(rec: dict[str, Any], *names: str) -> Any:
    """The first of *names* (dotted paths allowed) present and non-empty in *rec*."""
    for name in names:
        cur: Any = rec
        for part in name.split("."):
            if isinstance(cur, dict) and part in cur:
                cur = cur[part]
            else:
                cur = None
                break
        cur = value_of(cur)
        if cur not in (None, "", [], {}):
            return cur
    return None


def as_str(v: Any) -> str | None:
    """Scalars as text; containers and empties as None."""
    if v is None or isinstance(v, (dict, list)):
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    s = str(v)
    return s or None


def require_time(v: Any, field: str) -> Any:
    if v in (None, ""):
        raise ParseError(f"missing {field}")
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise ParseError(f"{field} has wrong type {type(v).__name__}")
    return v


def parse_json_records(inp: Input, keys: tuple[str, ...], to_event) -> Iterator[Event | Quarantined]:
    """The parse loop of a JSON-record format: each record through
    ``to_event(obj, raw, line=, rec_index=)``; a :class:`ParseError` quarantines it."""
    for rec in iter_json_records(inp, keys):
        if isinstance(rec, Quarantined):
            yield rec
            continue
        try:
            yield scrub_event(to_event(rec.obj, rec.raw, line=rec.line, rec_index=rec.rec_index))
        except ParseError as exc:
            yield Quarantined(str(exc), rec.raw, line=rec.line, rec_index=rec.rec_index)
