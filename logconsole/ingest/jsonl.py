"""Generic JSON lines, mapped to the normalized columns.

Mapping: ``--map ts=@timestamp,actor=user.name,action=event.action`` (dotted
paths into the record) or a mapping file (YAML/JSON object of the same
pairs).  Columns not mapped are guessed from common field names (see
:data:`GUESSES`), so home-grown logs work without a mapping; the mapping used
is stored with the source.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import yaml

from logconsole.ingest.base import (
    Event, Evidence, FormatFacts, ParseError, Parser, Quarantined, dig,
)
from logconsole.ingest.jsonstream import iter_json_lines
from logconsole.ingest.reader import Input, Sample
from logconsole.util.timeparse import parse_time

TARGETS = (
    "ts", "actor", "actor_type", "actor_uid", "action", "service", "outcome", "error_code", "session",
    "target_user", "src_ip", "user_agent", "host", "resource", "account", "region", "message", "record_id",
)
ALIASES = {"time": "ts", "timestamp": "ts", "ip": "src_ip", "user": "actor", "ua": "user_agent", "error": "error_code", "id": "record_id"}

GUESSES: dict[str, tuple[str, ...]] = {
    "ts": ("@timestamp", "timestamp", "time", "ts", "eventTime", "event_time", "datetime", "date", "created_at", "@t"),
    "actor": ("actor", "user.name", "user", "username", "user_name", "principal", "subject", "actor.name", "identity"),
    "action": ("action", "event.action", "event", "operation", "method", "verb", "activity", "type", "eventName"),
    "outcome": ("outcome", "event.outcome", "result", "status", "success", "decision"),
    "src_ip": ("src_ip", "source.ip", "ip", "client_ip", "remote_addr", "source_ip", "sourceIPAddress", "clientIp"),
    "resource": ("resource", "target", "object", "path", "resource.name", "entity"),
    "user_agent": ("user_agent", "userAgent", "user_agent.original", "ua"),
    "host": ("host", "hostname", "host.name", "server"),
    "service": ("service", "app", "application", "component", "event.provider"),
    "message": ("message", "msg"),
    "record_id": ("event.id", "event_id", "eventID", "uuid"),
    "session": ("session", "session_id", "sessionId"),
    "error_code": ("error", "error_code", "errorCode", "reason"),
    "target_user": ("target_user", "user.target.name"),
}
_SUCCESS = {"success", "succeeded", "ok", "true", "allow", "allowed", "accept", "accepted", "granted", "pass", "passed"}
_FAILURE = {"failure", "failed", "fail", "false", "deny", "denied", "error", "reject", "rejected", "forbidden", "unauthorized", "blocked"}


def parse_map(spec: str | None) -> dict[str, str]:
    """``ts=@timestamp,actor=user.name`` -> {"ts": "@timestamp", ...}; a path to a file also works."""
    if not spec:
        return {}
    p = Path(spec)
    if "=" not in spec and p.exists():
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ValueError(f"{spec}: cannot read mapping file: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{spec}: mapping file must hold an object of column: path pairs")
        pairs = {str(k): str(v) for k, v in data.items()}
    else:
        pairs = {}
        for part in spec.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise ValueError(f"--map: expected column=path, got {part!r}")
            k, v = part.split("=", 1)
            pairs[k.strip()] = v.strip()
    out = {}
    for k, v in pairs.items():
        k = ALIASES.get(k, k)
        if k not in TARGETS:
            raise ValueError(f"--map: unknown column {k!r}; valid: {', '.join(TARGETS)}")
        out[k] = v
    return out


def normalize_outcome(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "success" if value else "failure"
    if isinstance(value, int):
        if 200 <= value < 400:
            return "success"
        if 400 <= value < 600:
            return "failure"
        return "success" if value == 0 else "unknown"
    s = str(value).strip().lower()
    if s in _SUCCESS:
        return "success"
    if s in _FAILURE:
        return "failure"
    if s.isdigit():
        return normalize_outcome(int(s))
    return "unknown"


class JsonLinesParser(Parser):
    name = "jsonl"
    version = "1"
    description = "Any JSON-lines log, mapped with --map col=path,... or guessed from common field names"
    facts = FormatFacts(short_label="json", timestamp_desc="Event time",
                        verify_hint="if the log is hash-chained: logconsole verify PATH")

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        m = options.get("map")
        self.mapping = parse_map(m) if isinstance(m, str) else dict(m or {})
        self._resolved: dict[str, str] | None = None

    def source_options(self) -> dict[str, Any]:
        return {"map": self._resolved or self.mapping}

    def sniff(self, sample: Sample) -> Evidence | None:
        lines = sample.first_nonblank(5)
        if not lines:
            return None
        objs = []
        for ln in lines:
            try:
                o = json.loads(ln)
            except (ValueError, RecursionError):
                continue
            if isinstance(o, dict):
                objs.append(o)
        if not objs or len(objs) * 2 < len(lines):  # at least half of the first lines must be objects
            return None
        ts_key = next((k for k in GUESSES["ts"] if dig(objs[0], k) is not None), None)
        if ts_key:
            return Evidence(20, f"{len(objs)} JSON object line(s) with a time field {ts_key!r} (generic mapping)")
        return Evidence(5, f"{len(objs)} JSON object line(s); no known time field: use --map ts=PATH")

    def _resolve(self, obj: dict[str, Any]) -> dict[str, str]:
        res = dict(self.mapping)
        for col, cands in GUESSES.items():
            if col in res:
                continue
            for c in cands:
                v = dig(obj, c)
                if v is not None and not isinstance(v, (dict, list)):
                    res[col] = c
                    break
        return res

    def parse(self, inp: Input) -> Iterator[Event | Quarantined]:
        for item in iter_json_lines(inp):
            if isinstance(item, Quarantined):
                yield item
                continue
            lineno, text, obj = item
            try:
                if self._resolved is None:
                    self._resolved = self._resolve(obj)
                yield self.to_event(obj, text, lineno)
            except ParseError as exc:
                yield Quarantined(str(exc), text, line=lineno)

    def to_event(self, obj: dict[str, Any], raw: str, lineno: int) -> Event:
        m = self._resolved or {}
        ts_path = m.get("ts")
        if not ts_path:
            raise ParseError("no time field (map one with --map ts=PATH)")
        ts_val = dig(obj, ts_path)
        if ts_val is None or ts_val == "":
            raise ParseError(f"missing time field {ts_path!r}")
        if isinstance(ts_val, (dict, list, bool)):
            raise ParseError(f"time field {ts_path!r} has wrong type {type(ts_val).__name__}")
        ts = parse_time(ts_val)
        vals: dict[str, Any] = {}
        for col, path in m.items():
            if col == "ts":
                continue
            v = dig(obj, path)
            if isinstance(v, (dict, list)):
                v = json.dumps(v, separators=(",", ":"), sort_keys=True)
            vals[col] = v
        outcome = normalize_outcome(vals.pop("outcome", None))
        s = {k: (str(v) if v is not None and v != "" else None) for k, v in vals.items()}
        msg = s.get("message")
        if not msg:
            parts = [s.get("actor") or "?", s.get("action") or "?"]
            if res := s.get("resource"):
                parts.append(res)
            msg = " ".join(parts) + (" -> failure" if outcome == "failure" else "")
        return Event(
            ts_us=ts, ts_raw=str(ts_val), raw=raw, format=self.name, line=lineno,
            record_id=s.get("record_id"), service=s.get("service"), action=s.get("action"), outcome=outcome,
            error_code=s.get("error_code"), actor=s.get("actor"), actor_type=s.get("actor_type"),
            actor_uid=s.get("actor_uid"), session=s.get("session"), target_user=s.get("target_user"),
            src_ip=s.get("src_ip"), user_agent=s.get("user_agent"), host=s.get("host"), resource=s.get("resource"),
            account=s.get("account"), region=s.get("region"), message=msg,
        )
