"""Streaming records out of a JSON container without loading the file.

``{"Records": [ {...}, {...} ]}`` (CloudTrail S3 delivery) and top-level
``[ {...}, ... ]`` arrays (Windows/Azure exports) can be hundreds of MB in one
line.  :func:`iter_array_records` walks the array element by element with
``json.JSONDecoder.raw_decode`` over a sliding buffer, so memory is bounded by
the largest single record.  A cut or corrupt container keeps every element that
could be read and reports the rest as :class:`ArrayProblem` items.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterator

from logconsole.ingest.base import ParseError, Quarantined, decode_utf8, load_json_object
from logconsole.ingest.reader import Input, TruncatedInput

MAX_RECORD = 16 * 1024 * 1024
_decoder = json.JSONDecoder()
_WS = re.compile(r"[ \t\r\n]*")


@dataclass(slots=True)
class ArrayRecord:
    index: int  # 0-based position in the array
    line: int  # 1-based line where the element starts
    raw: str  # the element's exact text
    obj: Any


@dataclass(slots=True)
class ArrayProblem:
    index: int | None
    line: int
    reason: str
    raw: str


def iter_array_records(inp: Input, key: str | None = "Records") -> Iterator[ArrayRecord | ArrayProblem]:
    """Yield the elements of the array under *key* (or of a top-level array if key is None
    or the document starts with ``[``)."""
    dec = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    chunks = inp.iter_chunks()
    buf = ""
    eof = False
    truncated: str | None = None
    line = 1  # line number at buf[lpos]
    lpos = 0  # newlines are counted incrementally: never rescan from buf[0]

    def line_at(p: int) -> int:
        nonlocal line, lpos
        if p > lpos:
            line += buf.count("\n", lpos, p)
            lpos = p
        return line

    def cut(p: int) -> None:
        """Drop buf[:p] (already consumed)."""
        nonlocal buf, lpos
        line_at(p)
        buf = buf[p:]
        lpos = 0

    def more() -> bool:
        nonlocal buf, eof, truncated
        if eof:
            return False
        try:
            chunk = next(chunks)
            buf += dec.decode(chunk)
            return True
        except StopIteration:
            buf += dec.decode(b"", final=True)
        except TruncatedInput as exc:
            truncated = str(exc)
        eof = True
        return False

    # ---- find the opening bracket of the array
    while len(buf) < 4096 and more():
        pass
    m = _WS.match(buf)
    pos = m.end() if m else 0
    if buf.startswith("[", pos):
        pos += 1
    else:
        pat = re.compile(r'"{}"\s*:\s*\['.format(re.escape(key or "Records")))
        while True:
            m = pat.search(buf)
            if m:
                pos = m.end()
                break
            if len(buf) > MAX_RECORD or not more():
                yield ArrayProblem(None, 1, f'no "{key}" array found' + (f" ({truncated})" if truncated else ""), buf[:4096])
                return
    cut(pos)
    pos = 0
    index = 0
    while True:
        # skip whitespace and one comma
        while True:
            m = _WS.match(buf, pos)
            if m is not None:  # always (the pattern matches the empty string)
                pos = m.end()
            if pos < len(buf) and buf[pos] == ",":
                pos += 1
                continue
            if pos >= len(buf) and more():
                continue
            break
        if pos >= len(buf):
            reason = truncated or "container ends before the closing ]"
            yield ArrayProblem(index, line_at(pos), f"truncated container: {reason}", "")
            return
        if buf[pos] == "]":
            return
        start_line = line_at(pos)
        try:
            obj, end = _decoder.raw_decode(buf, pos)
        except RecursionError:
            obj, end = None, -1
            err = "JSON nested too deeply"
        except json.JSONDecodeError as exc:
            obj, end = None, -1
            err = f"bad JSON: {exc.msg} (element {index})"
        if end < 0:
            if not eof and len(buf) - pos < MAX_RECORD and more():
                continue  # maybe the element was cut by the chunk boundary
            if eof and not truncated and err.startswith("bad JSON") and _looks_incomplete(buf, pos):
                err = f"truncated container: element {index} is cut off"
            elif truncated:
                err = f"truncated container: {truncated}; element {index} is cut off"
            # resynchronise at the next element boundary, if there is one
            nxt = re.compile(r"\}\s*,\s*\{").search(buf, pos + 1)
            if nxt is None:
                yield ArrayProblem(index, start_line, err, buf[pos:pos + 65536])
                return
            yield ArrayProblem(index, start_line, err, buf[pos:nxt.start() + 1])
            index += 1
            cut(nxt.start() + 1)
            pos = 0
            continue
        yield ArrayRecord(index, start_line, buf[pos:end], obj)
        index += 1
        pos = end
        if pos > _CUT:
            cut(pos)
            pos = 0


_CUT = 1 << 20


def _looks_incomplete(buf: str, pos: int) -> bool:
    tail = buf[pos:]
    return tail.count("{") > tail.count("}")


def iter_json_lines(inp: Input) -> Iterator[tuple[int, str, dict] | Quarantined]:
    """JSON lines: ``(lineno, text, object)`` per line holding a JSON object, a
    :class:`Quarantined` for an over-long, non-UTF-8 or non-object line (blank lines
    are counted by the reader, not records)."""
    for lineno, line in inp.iter_lines():
        if line is None:
            yield Quarantined("line longer than the 4 MiB limit", None, line=lineno)
            continue
        try:
            text = decode_utf8(line)
            obj = load_json_object(text)
        except ParseError as exc:
            yield Quarantined(str(exc), line, line=lineno)
            continue
        yield lineno, text, obj
