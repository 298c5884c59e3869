"""Detections: Sigma rules that ran over the index and the events they matched.  No Textual here.

Tables:

* ``sigma_rules``: one row per rule that ran (key = the rule's id, else file#n),
  with what a report must keep (title, level, status, ATT&CK tags, author, rule
  file and link: DRL 1.1 asks to keep the author and a link), the rule's digest
  and ``last_event_id``, the highest ``events.id`` it has seen: the next run
  evaluates only newer events (a changed rule starts again from 0);
* ``sigma_hits``: (rule key, event id) pairs;
* ``sigma_rule_paths``: the ``--rules`` paths a run used, so that the run after
  an ingest evaluates the same rule set on the new events.

Tables only; reads and writes are in :mod:`logconsole.store.detections`.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from logconsole.store.schema import metadata

#: Sigma levels, most severe first
LEVELS = ("critical", "high", "medium", "low", "informational")
LEVEL_RANK = {lv: i for i, lv in enumerate(LEVELS)}
#: Sigma level -> finding severity
LEVEL_SEVERITY = {"critical": "critical", "high": "high", "medium": "medium", "low": "low", "informational": "info"}

sigma_rules = Table(
    "sigma_rules",
    metadata,
    Column("key", Text, primary_key=True),
    Column("rule_id", Text),
    Column("title", Text, nullable=False),
    Column("level", String, nullable=False),
    Column("status", String),
    Column("tags", Text),  # JSON list
    Column("author", Text),
    Column("description", Text),
    Column("file", Text, nullable=False),
    Column("link", Text),
    Column("origin", Text),  # "logconsole" (shipped) or the --rules path
    Column("logsource", Text),  # product/service/category
    Column("targets", Text),  # working tables it ran on
    Column("digest", String(64), nullable=False),
    Column("last_event_id", Integer, nullable=False, default=0),
    Column("last_run_us", BigInteger),
    Column("hits", Integer, nullable=False, default=0),
)

sigma_hits = Table(
    "sigma_hits",
    metadata,
    Column("rule_key", Text, ForeignKey("sigma_rules.key", ondelete="CASCADE"), primary_key=True),
    Column("event_id", Integer, primary_key=True),
    Index("ix_sigma_hits_event", "event_id"),
)

sigma_rule_paths = Table(
    "sigma_rule_paths",
    metadata,
    Column("path", Text, primary_key=True),
    Column("added_us", BigInteger, nullable=False),
)


