"""Tables of the identity graph (on the shared :data:`schema.metadata`).  Tables only.

* ``identity_aliases``: one row per alias (an access key, an IAM user ARN, a role
  session, a Kubernetes user or service account, ``ses:N@host``, a database session,
  ...) with the identity it belongs to (``identity_id``: the connected component over
  the *merging* strong links), first/last time, event count, and up to a few
  source addresses and user agents.
* ``identity_links``: a link between two aliases with its kind, strength
  (``strong``/``weak``), first time and the number of evidence events;
  ``identity_evidence`` holds the evidence event ids (capped per link).
* ``identity_events``: each event's primary alias, keyed ``(alias_id, ts_us,
  event_id)`` so that one alias's timeline is an index range and the timeline of
  several aliases is a merge of their ranges (keyset pages, never all rows).

``analysis/identity/`` builds and reads them; ``docs/identity.md`` documents the
link kinds.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, PrimaryKeyConstraint, String, Table, Text, UniqueConstraint

from logconsole.store.schema import metadata

identity_aliases = Table(
    "identity_aliases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String, nullable=False),  # aws_key, aws_user, aws_session, k8s_sa, host_session, ...
    Column("value", Text, nullable=False),
    Column("identity_id", Integer, nullable=False),
    Column("first_ts", BigInteger),  # UTC epoch µs of its first/last event (NULL: only named by a link)
    Column("last_ts", BigInteger),
    Column("events", Integer, nullable=False, default=0),  # events whose primary alias this is
    Column("src_ips", Text),  # JSON list (capped)
    Column("user_agents", Text),  # JSON list (capped)
    UniqueConstraint("kind", "value", name="uq_identity_alias"),
    Index("ix_identity_aliases_identity", "identity_id"),
    Index("ix_identity_aliases_value", "value"),
)

identity_links = Table(
    "identity_links",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String, nullable=False),  # access_key, assumed_session, same_name, credential_use, ...
    Column("from_alias", Integer, nullable=False),
    Column("to_alias", Integer, nullable=False),
    Column("strength", String, nullable=False),  # strong | weak
    Column("first_ts", BigInteger),
    Column("evidence_count", Integer, nullable=False, default=0),
    UniqueConstraint("kind", "from_alias", "to_alias", name="uq_identity_link"),
    Index("ix_identity_links_from", "from_alias"),
    Index("ix_identity_links_to", "to_alias"),
)

identity_evidence = Table(
    "identity_evidence",
    metadata,
    Column("link_id", Integer, nullable=False),
    Column("event_id", Integer, nullable=False),
    PrimaryKeyConstraint("link_id", "event_id"),
    sqlite_with_rowid=False,
)

identity_events = Table(
    "identity_events",
    metadata,
    Column("alias_id", Integer, nullable=False),
    Column("ts_us", BigInteger, nullable=False),
    Column("event_id", Integer, nullable=False),
    PrimaryKeyConstraint("alias_id", "ts_us", "event_id"),
    sqlite_with_rowid=False,
)
