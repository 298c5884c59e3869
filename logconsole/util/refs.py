"""Where a record sits in its evidence file, in words."""

from __future__ import annotations


def record_ref(line: int | None, rec_index: int | None, *, source: str = "", index_mark: str = "#") -> str:
    """``line 12``, ``line 1, record #5`` (element 5, from 0, of the line's record array) or ``record #5``.

    *source* prefixes the reference (the report's ``S3 line 1, record 4``, with
    ``index_mark=""``); with neither a line nor an index the reference is the
    source alone, or ``?``.
    """
    parts = []
    if line is not None:
        parts.append(f"line {line}")
    if rec_index is not None:
        parts.append(f"record {index_mark}{rec_index}")
    where = ", ".join(parts)
    if source:
        return f"{source} {where}" if where else source
    return where or "?"
