"""Canonical JSON for hashing, with fast paths that are byte-identical to the slow ones.

* ``jcs``: RFC 8785 (the ``rfc8785`` package).  Fast path: when a record holds only
  strings, safe integers (|n| <= 2**53-1), booleans, nulls, lists and objects whose
  keys sort the same by UTF-16 code units as by code points (no key character at or
  above U+E000), RFC 8785 output equals ``json.dumps(sort_keys=True,
  separators=(",", ":"), ensure_ascii=False)``: both escape exactly ``"``, ``\\``
  and the C0 controls the same way (``\\b \\t \\n \\f \\r``, else ``\\u00xx``
  lowercase) and keep everything else literal; so does ``orjson.dumps`` with
  ``OPT_SORT_KEYS``, which is what the fast path calls .
  tests/test_chain_canon.py checks the equality on generated samples.
* ``sorted``: compact JSON with sorted keys and non-ASCII kept, as many home-grown
  loggers hash (``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``).
"""

from __future__ import annotations

import json
from typing import Any
from collections.abc import Callable

import orjson
import rfc8785

_OPT = orjson.OPT_SORT_KEYS


def _fast_dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj, option=_OPT)
    except orjson.JSONEncodeError:
        raise CanonError("record contains text that is not valid Unicode (lone surrogate)") from None


MAX_SAFE = (1 << 53) - 1
_dumps_sorted = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


class CanonError(ValueError):
    """The record cannot be canonicalised (e.g. a number outside I-JSON, lone surrogates)."""


def _key_ok(k: str) -> bool:
    return k.isascii() or max(k) < "\ue000"


def jcs_fast_ok(o: Any) -> bool:
    """True when the fast serialisation equals RFC 8785 for *o*."""
    t = type(o)
    if t is str or t is bool or o is None:
        return True
    if t is int:
        return -MAX_SAFE <= o <= MAX_SAFE
    if t is dict:
        for k, v in o.items():
            if type(k) is not str or not _key_ok(k):
                return False
            tv = type(v)
            if tv is str:
                continue
            if not jcs_fast_ok(v):
                return False
        return True
    if t is list:
        return all(not (type(v) is not str and not jcs_fast_ok(v)) for v in o)
    return False  # floats and anything else: the slow, exact path


def canon_jcs(obj: Any) -> bytes:
    if jcs_fast_ok(obj):
        return _fast_dumps(obj)
    return canon_jcs_slow(obj)


def canon_jcs_slow(obj: Any) -> bytes:
    try:
        return rfc8785.dumps(obj)
    except (rfc8785.CanonicalizationError, rfc8785.IntegerDomainError, rfc8785.FloatDomainError) as exc:
        raise CanonError(f"not canonicalisable (RFC 8785): {exc}") from None
    except (TypeError, ValueError) as exc:  # pragma: no cover - defensive
        raise CanonError(f"not canonicalisable (RFC 8785): {exc}") from None


def canon_sorted(obj: Any) -> bytes:
    if jcs_fast_ok(obj):  # no floats, safe ints: json.dumps, RFC 8785 and orjson agree byte for byte
        return _fast_dumps(obj)
    try:
        return _dumps_sorted(obj).encode("utf-8")
    except UnicodeEncodeError:
        raise CanonError("record contains text that is not valid Unicode (lone surrogate)") from None
    except ValueError as exc:  # NaN etc. never come from json.loads; defensive
        raise CanonError(str(exc)) from None


CANONS: dict[str, Callable[[Any], bytes]] = {"jcs": canon_jcs, "sorted": canon_sorted}
