"""Grants files found in an evidence bundle, imported when the bundle is ingested or opened.

A file that no log format reads and that parses as grants (AWS
``get-account-authorization-details`` JSON, Kubernetes RBAC YAML, a logconsole
policy file) is imported as a snapshot with its provenance (path, SHA-256, the
position of every rule), exactly as ``logconsole grants import`` would.  Several
snapshots of one account are imported oldest content first (by the newest date
inside each), so the latest state is the active one and ``grants diff`` compares them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import Engine

from logconsole.analysis.privileges.grants import ImportResult, import_file, parse_bytes
from logconsole.analysis.privileges.model import GrantFormatError

#: grants files are small documents; anything larger is not looked at
MAX_BYTES = 64 << 20
_SUFFIXES = (".json", ".yaml", ".yml")


@dataclass
class Found:
    path: str
    newest: int  # newest date inside (µs), 0 when none


def find_grants(paths: list[str]) -> list[Found]:
    """Grants files among *paths* (files that no log format took), oldest content first."""
    out: list[Found] = []
    for p in paths:
        if not p.lower().endswith(_SUFFIXES) or not os.path.isfile(p):
            continue
        try:
            if os.path.getsize(p) > MAX_BYTES:
                continue
            from logconsole.analysis.chain.textio import read_small

            snap = parse_bytes(read_small(p, MAX_BYTES), p)
        except (OSError, GrantFormatError, ValueError):
            continue
        if not snap.principals and not snap.rules:
            continue
        dates = [r.effective_from for r in snap.rules if r.effective_from is not None]
        dates += [pr.created_at for pr in snap.principals if pr.created_at is not None]
        out.append(Found(p, max(dates, default=0)))
    out.sort(key=lambda f: (f.newest, f.path))
    return out


def import_found(engine: Engine, paths: list[str]) -> list[ImportResult]:
    """Import every grants file among *paths*; returns what was imported (already imported ones too)."""
    return [import_file(engine, f.path) for f in find_grants(paths)]
