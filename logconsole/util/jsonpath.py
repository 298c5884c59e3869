"""Dotted paths into parsed JSON records (rules engine working tables, ``field.path:`` filters)."""

from __future__ import annotations

from typing import Any

import orjson

_MISSING = object()


def lookup(obj: dict[str, Any], key: str) -> tuple[bool, Any]:
    """Exact key, else the first key equal ignoring case."""
    if key in obj:
        return True, obj[key]
    low = key.lower()
    for k, v in obj.items():
        if k.lower() == low:
            return True, v
    return False, None


def _leaf(obj: Any) -> list[Any]:
    if isinstance(obj, list):
        return [x for x in obj if x is not None]
    if isinstance(obj, dict) and "value" in obj and len(obj) <= 3 and not isinstance(obj["value"], (dict, list)):
        return [obj["value"]]  # Azure {"value": ..., "localizedValue": ...}
    return [obj]


def json_values(obj: Any, parts: list[str], ci: bool = False) -> list[Any]:
    """Values at a dotted path: exact keys first (the common case, one dict lookup per
    part); a key that itself holds dots (``authorization.k8s.io/decision``) is tried next;
    with *ci* a key may differ in case; lists fan out."""
    cur = obj
    for i, p in enumerate(parts):
        if isinstance(cur, dict):
            nxt = cur.get(p, _MISSING)
            if nxt is _MISSING:
                return _json_slow(cur, parts[i:], ci)
            if nxt is None:
                return []
            cur = nxt
        elif isinstance(cur, list):
            out: list[Any] = []
            for item in cur:
                out.extend(json_values(item, parts[i:], ci))
            return out
        else:
            return []
    return _leaf(cur)


def _json_slow(cur: dict[str, Any], parts: list[str], ci: bool) -> list[Any]:
    for n in range(len(parts), 1, -1):
        key = ".".join(parts[:n])
        found, val = lookup(cur, key) if ci else (key in cur, cur.get(key))
        if found:
            return json_values(val, parts[n:], ci) if val is not None else []
    if ci:
        found, val = lookup(cur, parts[0])
        if found and val is not None:
            return json_values(val, parts[1:], ci)
    return []


def cell(value: Any) -> str | None:
    """A JSON value as stored in a working table (TEXT COLLATE NOCASE)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return orjson.dumps(value).decode()


