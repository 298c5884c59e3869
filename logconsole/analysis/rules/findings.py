"""A finding made from a Sigma rule's hits (the Detections screen's ``f``)."""

from __future__ import annotations

import re

from sqlalchemy import Engine, select

from logconsole.store import detections as ds
from logconsole.store.detections_schema import LEVEL_SEVERITY, sigma_rules
from logconsole.store.findings import create_finding

_MD = re.compile(r"([\\`*_{}\[\]()#+!|<>~])")


def _md(text: str | None) -> str:
    """Rule text as literal Markdown (a rule file is not the investigator's Markdown)."""
    return _MD.sub(r"\\\1", " ".join((text or "").split()))


def finding_from_rule(engine: Engine, key: str) -> tuple[int, int]:
    """Create a finding with the rule's hit events attached; returns (finding id, events)."""
    with engine.begin() as conn:
        row = conn.execute(select(sigma_rules).where(sigma_rules.c.key == key)).first()
        if row is None:
            raise ValueError(f"no rule {key!r} in the index")
        r = row._mapping
        ids = ds.hit_event_ids(conn, key)
        narrative = (f"Sigma rule **{_md(r['title'])}** ({_md(r['level'])}) matched {len(ids)} event(s).\n\n"
                     f"{_md(r['description'])}\n\n"
                     f"Rule by {_md(r['author'] or 'unknown author')}; source: {_md(r['link'] or r['file'])}"
                     f"{' (Detection Rule License 1.1)' if 'SigmaHQ' in (r['link'] or '') else ''}.")
        fid = create_finding(conn, f"Sigma: {r['title']}"[:300], severity=LEVEL_SEVERITY.get(r["level"], "medium"),
                             narrative=narrative, event_ids=ids)
    return fid, len(ids)
