"""Audit readiness: how far each source can carry an audit.

Each source is scored against the audit-ready checklist:

* **comprehensive** - successful *and* failed access attempts are both
  recorded (1 point), and actions on resources are recorded (1 point);
* **tamper-evident** - the source's chain or digest was verified: ``intact``
  (anchored by a signature or checkpoint) 2 points, ``consistent`` (chain holds,
  tail not anchored) 1 point; ``tampered``, ``unverifiable``, a chain present but
  never verified (``unverified``), or no chain at all (``absent``) 0 points;
* **contextual** - shares of events with an actor id, with millisecond-or-better
  timestamps (as written in the record), and with a target resource; each
  share gives 1 point at >= 90 %, 0.5 at >= 50 %.

The score is points / 7 as a percentage; ``ready`` >= 80, ``partial`` >= 50,
else ``not ready``.  When grants are loaded, the index-wide counts of dormant
and over-privileged actors are added (see :mod:`logconsole.report.integrations`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, and_, case, func, not_, or_, select

from logconsole.ingest.formats import facts_of
from logconsole.util.timeparse import format_us
from logconsole.report.integrations import Privileges, verification_results
from logconsole.store import dialect, rawcodec
from logconsole.store.schema import events, sources

MAX_POINTS = 7.0
SHARE_FULL = 0.90
SHARE_HALF = 0.50

#: raw keys that show a record carries its own hash chain
CHAIN_KEYS = ("prev_hash", "previous_hash", "prevHash", "hash_prev")


@dataclass
class SourceReadiness:
    source_id: int
    path: str
    format: str
    events: int
    success: int
    failure: int
    with_resource: int
    with_actor: int
    with_ms: int
    tamper: str  # intact | consistent | tampered | unverifiable | unverified | absent | sequence
    tamper_detail: str
    points: float = 0.0
    score: int = 0
    grade: str = "not ready"
    notes: list[str] = field(default_factory=list)

    def share(self, n: int) -> float:
        return (n / self.events) if self.events else 0.0

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["comprehensive"] = {
            "success_and_failure": self.success > 0 and self.failure > 0,
            "resource_actions": self.with_resource > 0,
        }
        d["contextual"] = {
            "actor_id": round(self.share(self.with_actor), 4),
            "ms_timestamps": round(self.share(self.with_ms), 4),
            "target_resource": round(self.share(self.with_resource), 4),
        }
        return d


def _ms_clause():
    """ts_raw written with fractional seconds of 3+ digits, or as epoch milli/microseconds."""
    r = events.c.ts_raw
    return or_(
        dialect.glob(r, "*[0-9][.,][0-9][0-9][0-9]*"),
        and_(dialect.glob(r, "[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]*"),
             not_(dialect.glob(r, "*[^0-9]*"))),
    )


def _nonempty(col):
    return and_(col.is_not(None), col != "")


def _has_chain(conn, source_id: int) -> bool:
    row = conn.execute(select(events.c.raw).where(events.c.source_id == source_id).order_by(events.c.id).limit(1)).first()
    if row is None:
        return False
    try:
        obj = json.loads(rawcodec.decode(row[0]))
    except ValueError:
        return False
    return isinstance(obj, dict) and any(k in obj for k in CHAIN_KEYS)


def _digest_present(path: str) -> bool:
    """A CloudTrail log file whose bucket copy also holds CloudTrail-Digest files."""
    marker = f"{os.sep}CloudTrail{os.sep}"
    if marker not in path:
        return False
    root = path.split(marker, 1)[0]
    return os.path.isdir(os.path.join(root, "CloudTrail-Digest"))


_STATUS_RANK = {"tampered": 0, "unverifiable": 1, "consistent": 2, "intact": 3}


def _verification_index(engine: Engine) -> dict[Any, dict[str, Any]]:
    """Latest verification result per index source id and per covered file path.

    When several targets cover a file (e.g. its own hash chain and a sequence
    analysis), the worst status wins.
    """
    out: dict[Any, dict[str, Any]] = {}

    def put(key: Any, r: dict[str, Any]) -> None:
        cur = out.get(key)
        if cur is None or _STATUS_RANK.get(str(r.get("status")), 1) < _STATUS_RANK.get(str(cur.get("status")), 1):
            out[key] = r

    for r in verification_results(engine) or []:
        if r.get("scheme") == "index":
            continue
        if r.get("source_id") is not None:
            put(("source", r["source_id"]), r)
        for p in r.get("files") or [r.get("path")]:
            if not p:
                continue
            put(p, r)
            try:
                put(os.path.realpath(p), r)
            except (OSError, ValueError):
                pass
    return out


def _tamper_for(conn, src: dict[str, Any], verified: dict[Any, dict[str, Any]]) -> tuple[str, str]:
    path = src["path"]
    res = verified.get(("source", src["id"]))
    if res is None and path != "-":
        res = verified.get(path) or verified.get(os.path.realpath(path))
    if res is None and path != "-":
        # a CloudTrail bucket is verified as a directory: look for a result on a parent
        for p, r in verified.items():
            if isinstance(p, str) and r.get("scheme") == "cloudtrail-digest" and path.startswith(p.rstrip(os.sep) + os.sep):
                res = r
                break
    if res is not None:
        status = res.get("status", "unverifiable")
        fails = res.get("failures") or []
        detail = f"{res.get('scheme', '?')}: {status}"
        if res.get("anchor") and res.get("anchor") != "none":
            detail += f", anchor {res['anchor']}"
        if fails:
            detail += f", {len(fails)} failure(s)"
        return status, detail
    facts = facts_of(src["format"])
    if facts is not None and facts.sequence is not None:  # sequence numbers: evidence, not proof
        return "sequence", "record sequence numbers only (evidence, not proof); not verified"
    if _has_chain(conn, src["id"]):
        return "unverified", "records carry a hash chain; run `logconsole verify` on the file"
    if src["format"] == "cloudtrail" and _digest_present(path):
        return "unverified", "CloudTrail digest files present; run `logconsole verify` on the bucket copy"
    return "absent", "no hash chain, digest or signature"


_TAMPER_POINTS = {"intact": 2.0, "consistent": 1.0}


def _share_points(share: float) -> float:
    return 1.0 if share >= SHARE_FULL else 0.5 if share >= SHARE_HALF else 0.0


def score(r: SourceReadiness) -> None:
    pts = 0.0
    if r.success > 0 and r.failure > 0:
        pts += 1
    else:
        r.notes.append("no failed attempts recorded" if r.success else "no successful actions recorded")
    if r.with_resource > 0:
        pts += 1
    else:
        r.notes.append("no resource named in any event")
    pts += _TAMPER_POINTS.get(r.tamper, 0.0)
    for label, n in (("actor id", r.with_actor), ("ms timestamps", r.with_ms), ("target resource", r.with_resource)):
        sp = _share_points(r.share(n))
        pts += sp
        if sp < 1:
            r.notes.append(f"{label} in {100 * r.share(n):.0f}% of events")
    r.points = pts
    r.score = int(round(100 * pts / MAX_POINTS))
    r.grade = "ready" if r.score >= 80 else "partial" if r.score >= 50 else "not ready"


def source_readiness(engine: Engine) -> list[SourceReadiness]:
    verified = _verification_index(engine)
    out: list[SourceReadiness] = []
    with engine.connect() as conn:
        stats = {
            r.source_id: r
            for r in conn.execute(
                select(
                    events.c.source_id,
                    func.count().label("n"),
                    func.sum(case((events.c.outcome == "success", 1), else_=0)).label("ok"),
                    func.sum(case((events.c.outcome == "failure", 1), else_=0)).label("bad"),
                    func.sum(case((_nonempty(events.c.resource), 1), else_=0)).label("res"),
                    func.sum(case((or_(_nonempty(events.c.actor_uid), _nonempty(events.c.actor)), 1), else_=0)).label("act"),
                    func.sum(case((_ms_clause(), 1), else_=0)).label("ms"),
                ).group_by(events.c.source_id)
            )
        }
        for src in conn.execute(select(sources).where(sources.c.status == "complete").order_by(sources.c.path, sources.c.id)):
            s = dict(src._mapping)
            st = stats.get(s["id"])
            tamper, detail = _tamper_for(conn, s, verified)
            r = SourceReadiness(
                source_id=s["id"], path=s["path"], format=s["format"],
                events=st.n if st else 0, success=(st.ok or 0) if st else 0, failure=(st.bad or 0) if st else 0,
                with_resource=(st.res or 0) if st else 0, with_actor=(st.act or 0) if st else 0,
                with_ms=(st.ms or 0) if st else 0, tamper=tamper, tamper_detail=detail,
            )
            score(r)
            out.append(r)
    return out


@dataclass
class FormatReadiness:
    format: str
    sources: int
    events: int
    success: int
    failure: int
    with_resource: int
    with_actor: int
    with_ms: int
    tamper: dict[str, int]
    score_min: int
    score_max: int
    score: int  # score of the format taken as one source (tamper points: the worst source)

    def share(self, n: int) -> float:
        return (n / self.events) if self.events else 0.0


_TAMPER_ORDER = ["tampered", "unverifiable", "absent", "unverified", "sequence", "consistent", "intact"]


def by_format(rows: list[SourceReadiness]) -> list[FormatReadiness]:
    groups: dict[str, list[SourceReadiness]] = {}
    for r in rows:
        groups.setdefault(r.format, []).append(r)
    out = []
    for fmt in sorted(groups):
        g = groups[fmt]
        tam: dict[str, int] = {}
        for r in g:
            tam[r.tamper] = tam.get(r.tamper, 0) + 1
        worst = min(tam, key=lambda t: _TAMPER_ORDER.index(t) if t in _TAMPER_ORDER else 0)
        agg = SourceReadiness(0, "", fmt, sum(r.events for r in g), sum(r.success for r in g), sum(r.failure for r in g),
                              sum(r.with_resource for r in g), sum(r.with_actor for r in g), sum(r.with_ms for r in g),
                              worst, "")
        score(agg)
        out.append(FormatReadiness(
            fmt, len(g), agg.events, agg.success, agg.failure, agg.with_resource, agg.with_actor, agg.with_ms,
            dict(sorted(tam.items(), key=lambda kv: _TAMPER_ORDER.index(kv[0]) if kv[0] in _TAMPER_ORDER else 0)),
            min(r.score for r in g), max(r.score for r in g), agg.score,
        ))
    return out


def readiness(engine: Engine, privileges: Privileges | None = None) -> dict[str, Any]:
    """The whole readiness result (JSON-able): per source, per format, and grants counts."""
    rows = source_readiness(engine)
    priv = privileges if privileges is not None else Privileges(engine)
    counts = priv.counts()
    return {
        "sources": [r.as_json() for r in rows],
        "formats": [asdict(f) for f in by_format(rows)],
        "grants": counts if counts is not None else None,
        "grants_note": None if counts is not None else (priv.error or "no grants imported (`logconsole grants import`)"),
        "scoring": {
            "max_points": MAX_POINTS, "share_full": SHARE_FULL, "share_half": SHARE_HALF,
            "grades": {"ready": 80, "partial": 50},
        },
    }


def fmt_range(first: int | None, last: int | None) -> str:
    if first is None:
        return "-"
    return f"{format_us(first)} .. {format_us(last)}"
