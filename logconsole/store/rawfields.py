"""Any field of a JSON record in the filter language: ``requestParameters.userName:svc-backup``.

A term whose name is a dotted path that is no filter field (or ``field.PATH``, for
a top-level key such as ``field.TargetUserName``) matches events whose raw JSON
record has that value at PATH (:func:`logconsole.util.jsonpath.json_values`: keys
holding dots, lists fan out, any element may match).  ``*``/``?`` are wildcards;
an exact value compares as text (``responseStatus.code:403``, ``readOnly:true``).

The raw record is stored compressed, so such a term decodes the records it is
tested on: SQLite tests it after the indexed terms of the same filter
(``action:GetSecretValue requestParameters.secretId:prod*`` reads only the
``GetSecretValue`` records).  The function ``lc_raw_match`` is registered on every
connection by :func:`register`.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import orjson
from sqlalchemy import ColumnElement, func

from logconsole.store.rawcodec import decode_bytes
from logconsole.store.schema import events
from logconsole.util.jsonpath import cell, json_values

_PATH_RE = re.compile(r"[A-Za-z_@$][\w@$/-]*(\.[A-Za-z_@$][\w@$/-]*)*")


class _Matcher:
    """``lc_raw_match(raw, path, pattern, wild)``: 1 if any value at path matches, else 0."""

    def __init__(self) -> None:
        self.last_blob: bytes | None = None
        self.last_obj: Any = None
        self.patterns: dict[str, re.Pattern[str]] = {}

    def __call__(self, blob: bytes | None, path: str, pattern: str, wild: int) -> int:
        if blob is None:
            return 0
        if blob is not self.last_blob and blob != self.last_blob:
            try:
                self.last_obj = orjson.loads(decode_bytes(blob))
            except (orjson.JSONDecodeError, ValueError):
                self.last_obj = None
            self.last_blob = blob
        obj = self.last_obj
        if not isinstance(obj, (dict, list)):
            return 0
        values = [cell(v) for v in json_values(obj, path.split("."))]
        if wild:
            rx = self.patterns.get(pattern)
            if rx is None:
                rx = self.patterns[pattern] = re.compile(fnmatch.translate(pattern), re.S)
            return 1 if any(v is not None and rx.match(v) for v in values) else 0
        return 1 if pattern in values else 0


def register(dbapi_conn) -> None:
    dbapi_conn.create_function("lc_raw_match", 4, _Matcher())


def valid_path(path: str) -> bool:
    return bool(_PATH_RE.fullmatch(path))


def raw_field_match(path: str, text: str, wild: bool) -> ColumnElement[bool]:
    return func.lc_raw_match(events.c.raw, path, text, 1 if wild else 0) == 1
