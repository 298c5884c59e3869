"""Importing grants files into the index, loading the active grants, diffing
snapshots.

* :func:`detect_format` - ``aws-iam`` / ``k8s-rbac`` / ``policy`` from content.
* :func:`import_file` - parse + store one file as a snapshot (read-only open,
  SHA-256 of the bytes; the same bytes twice are reported, not duplicated).
* :func:`load_active` - the latest snapshot per label, as model objects.
* :func:`diff_snapshots` - what changed between two snapshots.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select

from logconsole.analysis.privileges import aws_iam, k8s_rbac, policy
from logconsole.analysis.privileges.catalog import catalog_version
from logconsole.analysis.privileges.model import Edge, GrantFormatError, ParsedSnapshot, Principal, Rule
from logconsole.ingest.reader import open_readonly
from logconsole.store.grants_schema import grant_edges, grant_principals, grant_rules, grant_snapshots

FORMATS = ("aws-iam", "k8s-rbac", "policy")
MAX_BYTES = 512 * 1024 * 1024


@dataclass
class ImportResult:
    file: str
    format: str
    label: str
    snapshot_id: int
    sha256: str
    principals: int
    rules: int
    edges: int
    warnings: list[str] = field(default_factory=list)
    already: bool = False  # the same bytes were imported before

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _read(path: str) -> bytes:
    try:
        size = os.path.getsize(path)
        if size > MAX_BYTES:
            raise GrantFormatError(f"{path}: {size} bytes is larger than the {MAX_BYTES} byte limit for grants files")
        with open_readonly(path) as fh:  # evidence: read-only, access time left alone
            return fh.read()
    except OSError as exc:
        raise GrantFormatError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _decode(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise GrantFormatError(f"{path}:{line}: invalid UTF-8") from None


def _json_error(path: str, text: str, exc: json.JSONDecodeError) -> GrantFormatError:
    return GrantFormatError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}")


def parse_bytes(data: bytes, path: str, fmt: str | None = None) -> ParsedSnapshot:
    """Detect (unless *fmt* is given) and parse a grants file.  Any malformed
    content is a :class:`GrantFormatError` naming the file, never a traceback."""
    try:
        return _parse_bytes(data, path, fmt)
    except GrantFormatError:
        raise
    except RecursionError:
        raise GrantFormatError(f"{path}: nested too deeply") from None
    except (TypeError, AttributeError, ValueError, KeyError, IndexError) as exc:
        raise GrantFormatError(f"{path}: malformed {fmt or 'grants'} content: an element has the wrong type "
                               f"({exc.__class__.__name__}: {str(exc)[:120]})") from None


def _parse_bytes(data: bytes, path: str, fmt: str | None = None) -> ParsedSnapshot:
    text = _decode(data, path)
    stripped = text.lstrip()
    obj: Any = None
    docs: list[Any] | None = None
    if stripped.startswith("{") or stripped.startswith("["):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            if fmt == "aws-iam" or (fmt is None and '"UserDetailList"' in text[:100000]):
                raise _json_error(path, text, exc) from None
            obj = None
    if fmt is None:
        if obj is not None and aws_iam.looks_like(obj):
            fmt = "aws-iam"
        else:
            try:
                docs = [obj] if obj is not None else k8s_rbac.load_documents(text, path)
            except GrantFormatError as exc:
                head = text[:20000]
                if any(k in head for k in ("apiVersion:", "kind:", "logconsole-policy")):
                    raise  # a grants file with a syntax error: file:line: invalid YAML: ...
                raise GrantFormatError(
                    f"{path}: not a grants file (neither JSON nor YAML: line {exc.args[0][len(path):].lstrip(':')}); "
                    "expected get-account-authorization-details JSON, Kubernetes RBAC YAML or a logconsole policy file"
                ) from None
            if policy.looks_like(docs):
                fmt = "policy"
            elif k8s_rbac.looks_like(docs):
                fmt = "k8s-rbac"
            elif any(isinstance(d, dict) and aws_iam.looks_like(d) for d in docs):
                fmt, obj = "aws-iam", next(d for d in docs if isinstance(d, dict) and aws_iam.looks_like(d))
            else:
                raise GrantFormatError(
                    f"{path}: cannot tell the grants format (expected get-account-authorization-details JSON, "
                    "Kubernetes RBAC YAML, or a logconsole policy file); pass --format"
                )
    if fmt == "aws-iam":
        if obj is None:
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                raise _json_error(path, text, exc) from None
        return aws_iam.parse(obj, path)
    if docs is None:
        docs = [obj] if obj is not None else k8s_rbac.load_documents(text, path)
    if fmt == "k8s-rbac":
        return k8s_rbac.parse(docs, path)
    if fmt == "policy":
        return policy.parse(docs, path)
    raise GrantFormatError(f"unknown grants format {fmt!r} (use one of {', '.join(FORMATS)})")


def detect_format(path: str) -> str:
    return parse_bytes(_read(path), path).format


def import_file(engine: Engine, path: str, fmt: str | None = None, label: str | None = None) -> ImportResult:
    apath = os.path.abspath(path)
    data = _read(apath)
    digest = hashlib.sha256(data).hexdigest()
    with engine.connect() as conn:
        row = conn.execute(select(grant_snapshots).where(grant_snapshots.c.sha256 == digest)).mappings().first()
    if row is not None:
        summ = json.loads(row["summary"] or "{}")
        return ImportResult(apath, row["format"], row["label"], row["id"], digest, summ.get("principals", 0),
                            summ.get("rules", 0), summ.get("edges", 0), [], already=True)
    snap = parse_bytes(data, apath, fmt)
    if label:
        snap.label = label
    summary = {"principals": len(snap.principals), "rules": len(snap.rules), "edges": len(snap.edges),
               "warnings": snap.warnings, "meta": snap.meta}
    with engine.begin() as conn:
        key = conn.execute(grant_snapshots.insert().values(
            label=snap.label, format=snap.format, file=apath, sha256=digest, bytes=len(data),
            imported_at=time.time_ns() // 1000, catalog_version=catalog_version() if snap.format == "aws-iam" else None,
            summary=json.dumps(summary),
        )).inserted_primary_key
        if key is None:
            raise RuntimeError("the INSERT returned no primary key")
        sid = int(key[0])
        if snap.principals:
            conn.execute(grant_principals.insert(), [
                {"snapshot_id": sid, "provider": p.provider, "kind": p.kind, "name": p.name,
                 "aliases": json.dumps([a for a in p.aliases if a]), "created_at": p.created_at,
                 "info": json.dumps(p.info, default=str)} for p in snap.principals
            ])
        if snap.rules:
            conn.execute(grant_rules.insert(), [
                {"snapshot_id": sid, "provider": r.provider, "subject": r.subject, "subject_kind": r.subject_kind,
                 "effect": r.effect, "actions": json.dumps(r.actions), "not_action": r.not_action,
                 "resources": json.dumps(r.resources), "not_resource": r.not_resource,
                 "condition": json.dumps(r.condition) if r.condition else None, "policy_type": r.policy_type,
                 "scope": r.scope, "via": r.via, "container": r.container, "provenance": r.provenance,
                 "sid": r.sid, "effective_from": r.effective_from} for r in snap.rules
            ])
        if snap.edges:
            conn.execute(grant_edges.insert(), [
                {"snapshot_id": sid, "provider": e.provider, "subject": e.subject, "target": e.target,
                 "via": e.via, "scope": e.scope, "provenance": e.provenance} for e in snap.edges
            ])
    return ImportResult(apath, snap.format, snap.label, sid, digest, len(snap.principals), len(snap.rules),
                        len(snap.edges), snap.warnings)


# ------------------------------------------------------------------ loading


@dataclass
class GrantSet:
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    principals: list[Principal] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    generic_formats: dict[str, list[str]] = field(default_factory=dict)  # principal -> formats

    def providers(self) -> set[str]:
        out = set()
        for s in self.snapshots:
            out.add({"aws-iam": "aws", "k8s-rbac": "k8s", "policy": "generic"}[s["format"]])
        return out

    def aws_accounts(self) -> set[str]:
        acc: set[str] = set()
        for s in self.snapshots:
            if s["format"] == "aws-iam":
                acc.update(json.loads(s["summary"] or "{}").get("meta", {}).get("accounts", []))
        return acc


def list_snapshots(conn) -> list[dict[str, Any]]:
    rows = conn.execute(select(grant_snapshots).order_by(grant_snapshots.c.id)).mappings().all()
    latest: dict[str, int] = {}
    for r in rows:
        latest[r["label"]] = r["id"]
    out = []
    for r in rows:
        d = dict(r)
        d["active"] = latest[r["label"]] == r["id"]
        d["summary"] = json.loads(r["summary"] or "{}")
        out.append(d)
    return out


def _rule(r: Any) -> Rule:
    return Rule(
        provider=r["provider"], subject=r["subject"], subject_kind=r["subject_kind"], effect=r["effect"],
        actions=json.loads(r["actions"]), resources=json.loads(r["resources"]), not_action=bool(r["not_action"]),
        not_resource=bool(r["not_resource"]), condition=json.loads(r["condition"]) if r["condition"] else None,
        policy_type=r["policy_type"], scope=r["scope"], via=r["via"] or "", container=r["container"] or "",
        provenance=r["provenance"], sid=r["sid"], effective_from=r["effective_from"],
    )


def load_snapshot(conn, sid: int) -> GrantSet:
    return _load(conn, [sid])


def _load(conn, ids: list[int]) -> GrantSet:
    gs = GrantSet()
    if not ids:
        return gs
    gs.snapshots = [dict(r) for r in conn.execute(select(grant_snapshots).where(grant_snapshots.c.id.in_(ids))).mappings()]
    for r in conn.execute(select(grant_principals).where(grant_principals.c.snapshot_id.in_(ids)).order_by(grant_principals.c.id)).mappings():
        gs.principals.append(Principal(r["provider"], r["kind"], r["name"], json.loads(r["aliases"] or "[]"),
                                       r["created_at"], json.loads(r["info"] or "{}")))
    gs.rules = [_rule(r) for r in conn.execute(select(grant_rules).where(grant_rules.c.snapshot_id.in_(ids)).order_by(grant_rules.c.id)).mappings()]
    gs.edges = [Edge(r["provider"], r["subject"], r["target"], r["via"], r["scope"], r["provenance"] or "")
                for r in conn.execute(select(grant_edges).where(grant_edges.c.snapshot_id.in_(ids)).order_by(grant_edges.c.id)).mappings()]
    for s in gs.snapshots:
        if s["format"] == "policy":
            fm = json.loads(s["summary"] or "{}").get("meta", {}).get("formats", [])
            for p in gs.principals:
                if p.provider == "generic" and p.info.get("system") == json.loads(s["summary"] or "{}").get("meta", {}).get("system"):
                    gs.generic_formats[p.name] = fm
    return gs


def load_active(conn) -> GrantSet:
    """The latest snapshot of each label."""
    q = select(func.max(grant_snapshots.c.id)).group_by(grant_snapshots.c.label)
    return _load(conn, [r[0] for r in conn.execute(q)])


# ------------------------------------------------------------------ diff


def _rule_key(r: Rule) -> tuple:
    return (r.subject, r.effect, tuple(sorted(a.lower() for a in r.actions)), r.not_action,
            tuple(sorted(r.resources)), r.not_resource, json.dumps(r.condition, sort_keys=True) if r.condition else "",
            r.policy_type, r.scope or "", r.via)


def diff_snapshots(conn, old_id: int, new_id: int) -> dict[str, Any]:
    a, b = load_snapshot(conn, old_id), load_snapshot(conn, new_id)
    if not a.snapshots or not b.snapshots:
        missing = old_id if not a.snapshots else new_id
        raise GrantFormatError(f"no grants snapshot with id {missing} (see `logconsole grants list`)")
    pa = {p.name: p for p in a.principals}
    pb = {p.name: p for p in b.principals}
    ra = {_rule_key(r): r for r in a.rules}
    rb = {_rule_key(r): r for r in b.rules}
    ea = {(e.subject, e.target, e.via, e.scope or "") for e in a.edges}
    eb = {(e.subject, e.target, e.via, e.scope or "") for e in b.edges}

    def rdict(r: Rule) -> dict[str, Any]:
        return {"subject": r.subject, "effect": r.effect, "actions": r.actions, "not_action": r.not_action,
                "resources": r.resources, "not_resource": r.not_resource, "conditional": r.conditional,
                "policy_type": r.policy_type, "scope": r.scope, "via": r.via, "provenance": r.provenance}

    return {
        "old": {"id": old_id, "file": a.snapshots[0]["file"], "sha256": a.snapshots[0]["sha256"], "label": a.snapshots[0]["label"]},
        "new": {"id": new_id, "file": b.snapshots[0]["file"], "sha256": b.snapshots[0]["sha256"], "label": b.snapshots[0]["label"]},
        "principals_added": sorted(set(pb) - set(pa)),
        "principals_removed": sorted(set(pa) - set(pb)),
        "rules_added": [rdict(rb[k]) for k in rb if k not in ra],
        "rules_removed": [rdict(ra[k]) for k in ra if k not in rb],
        "bindings_added": [dict(zip(("subject", "target", "via", "scope"), e)) for e in sorted(eb - ea)],
        "bindings_removed": [dict(zip(("subject", "target", "via", "scope"), e)) for e in sorted(ea - eb)],
    }


def default_diff_pair(conn, label: str | None = None) -> tuple[int, int]:
    snaps = list_snapshots(conn)
    by_label: dict[str, list[int]] = {}
    for s in snaps:
        by_label.setdefault(s["label"], []).append(s["id"])
    if label is not None:
        ids = by_label.get(label, [])
        if len(ids) < 2:
            raise GrantFormatError(f"label {label!r} has {len(ids)} snapshot(s); need two to diff")
        return ids[-2], ids[-1]
    cands = [(ids[-1], ids) for ids in by_label.values() if len(ids) >= 2]
    if not cands:
        raise GrantFormatError("no label has two snapshots yet; import a newer file of the same account/cluster, or pass OLD NEW ids")
    ids = max(cands)[1]
    return ids[-2], ids[-1]
