"""Tables of the investigator's findings.  Tables only; the logic is in :mod:`logconsole.store.findings`.

A finding's attached events are keyed by the event's content ``(dedup,
raw_sha256)``, not by ``events.id``, so a finding survives re-ingesting its
files; ``event_id`` is a hint only.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from logconsole.store.schema import metadata

findings = Table(
    "findings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("position", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("severity", String, nullable=False, default="medium"),
    Column("narrative", Text),
    Column("query", Text),  # a filter (logconsole.store.filter); None: attached events only
    Column("query_now_us", BigInteger),  # "now" for relative times in the query
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Column("created_by", Text),  # the investigator (--as NAME, the database role, else the OS user)
    Column("updated_by", Text),
)

finding_events = Table(
    "finding_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("finding_id", Integer, ForeignKey("findings.id", ondelete="CASCADE"), nullable=False),
    Column("dedup", BigInteger, nullable=False),
    Column("raw_sha256", String(64), nullable=False),
    Column("event_id", Integer),  # hint: events.id when attached
    Column("added_us", BigInteger, nullable=False),
    Column("added_by", Text),
    UniqueConstraint("finding_id", "dedup", "raw_sha256", name="uq_finding_events"),
    Index("ix_finding_events_key", "dedup", "raw_sha256"),
)
