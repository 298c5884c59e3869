"""The index schema (SQLAlchemy Core).  Nothing here imports Textual.

Tables owned by the core: ``meta``, ``sources``, ``events``, ``quarantine`` and
the full-text table ``events_fts`` (created by the engine's dialect: SQLAlchemy
has no full-text type).  Tables only: feature areas define theirs in their own
tables-only modules on the same :data:`metadata` (``annotations_schema``,
``findings_schema``, ``grants_schema``, ``integrity_schema``), and
:data:`logconsole.store.db.TABLE_MODULES` lists them all so that
:func:`logconsole.store.db.open_db` creates everything in one place.  Nothing
here imports a feature module.

Column names follow ECS/OCSF meaning; ``docs/formats.md`` documents them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

#: Bump when the schema changes; add a step to ``db.MIGRATIONS``.
#: 2: ``fts_terms`` (the vocabulary behind substring search); 3: who made annotations and findings
SCHEMA_VERSION = 3

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String, primary_key=True),
    Column("value", Text, nullable=False),
)

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("path", Text, nullable=False),  # absolute path as given (or "-" for stdin)
    Column("format", String, nullable=False),
    Column("sha256", String(64), nullable=False, unique=True),  # of the file's bytes
    Column("bytes", BigInteger, nullable=False),
    Column("mtime", Float),
    Column("parser", String, nullable=False),
    Column("parser_version", String, nullable=False),
    Column("ingested_at", BigInteger, nullable=False),  # UTC epoch µs
    Column("first_ts", BigInteger),
    Column("last_ts", BigInteger),
    Column("records", Integer, nullable=False, default=0),
    Column("events", Integer, nullable=False, default=0),
    Column("duplicates", Integer, nullable=False, default=0),
    Column("merged", Integer, nullable=False, default=0),
    Column("quarantined", Integer, nullable=False, default=0),
    # "complete" once every record is accounted for; "partial" while ingesting.
    Column("status", String, nullable=False, default="partial"),
    Column("options", Text),  # JSON: parser options used (mapping, year and its origin, ...)
)

#: What each source read of its file: the byte range, the lines, the file's identity
#: and size afterwards.  ``sources.sha256``/``sources.bytes`` describe bytes
#: ``[0, end_offset)``; a later ingest of the same file (path or device+inode) that
#: starts with those bytes continues at ``end_offset`` (``continues`` names the source
#: it extends).  Blank lines are counted here, not stored as records.
source_reads = Table(
    "source_reads",
    metadata,
    Column("source_id", Integer, ForeignKey("sources.id"), primary_key=True),
    Column("start_offset", BigInteger, nullable=False),  # first byte parsed by this source
    Column("end_offset", BigInteger, nullable=False),  # bytes [0, end_offset) are hashed in sources.sha256
    Column("start_line", Integer, nullable=False),
    Column("end_line", Integer, nullable=False),  # last line read (0: none)
    Column("file_size", BigInteger),  # the file's size when the read ended (> end_offset: it had grown)
    Column("dev", BigInteger),
    Column("inode", BigInteger),
    Column("mtime_ns", BigInteger),
    Column("mode", String, nullable=False),  # "lines": a later ingest may continue at end_offset; "stream"
    Column("state", String, nullable=False),  # "whole" | "prefix" (the file had grown past end_offset)
    Column("continues", Integer, ForeignKey("sources.id")),
    Column("blank_lines", BigInteger, nullable=False, default=0),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", Integer, ForeignKey("sources.id"), nullable=False),
    Column("line", Integer),  # 1-based line where the record starts
    Column("rec_index", Integer),  # 0-based index inside a JSON array container, else NULL
    Column("record_id", Text),  # the format's own id: eventID, auditID, audit serial, EventRecordID
    Column("format", String, nullable=False),
    Column("ts_us", BigInteger, nullable=False),  # UTC epoch microseconds (@timestamp)
    Column("ts_raw", Text),  # the time exactly as written in the record
    Column("service", Text),  # event.provider / api.service.name
    Column("action", Text),  # event.action / api.operation
    Column("outcome", String, nullable=False, default="unknown"),  # success|failure|unknown
    Column("error_code", Text),  # event.reason / api.response.error
    Column("actor", Text),  # user.name / actor.user.name (the principal that acted)
    Column("actor_type", Text),  # actor.user.type: IAMUser, AssumedRole, ServiceAccount, ...
    Column("actor_uid", Text),  # user.id / actor.user.uid: ARN, uid, SID
    Column("session", Text),  # session / credential: access key, session name, ses= ...
    Column("target_user", Text),  # user.target.name
    Column("src_ip", Text),  # source.ip as written (normalized textual form)
    Column("src_ip_key", LargeBinary(16)),  # 16-byte IPv6(-mapped) address for CIDR ranges
    Column("user_agent", Text),
    Column("host", Text),
    Column("resource", Text),
    Column("account", Text),
    Column("region", Text),
    Column("message", Text),  # one-line human summary
    Column("extra", Text),  # JSON object of format-specific fields (serial, boot, logon type, ...)
    Column("raw", LargeBinary, nullable=False),  # the raw record, see store.rawcodec
    Column("raw_sha256", String(64), nullable=False),  # hex SHA-256 of the raw record's bytes
    Column("dedup", BigInteger, nullable=False),  # int64 of a hash of the dedup key
    Index("ix_events_ts", "ts_us"),
    Index("ix_events_actor_ts", "actor", "ts_us"),
    # (action, ts_us): "action:X" then the first page in time order reads the index only
    # (action alone: 135 ms for 20k matches at 1M events; with ts_us: < 10 ms)
    Index("ix_events_action", "action", "ts_us"),
    Index("ix_events_ip", "src_ip_key"),
    # src_ip as written: CloudTrail puts service names there ("lambda.amazonaws.com"),
    # which have no src_ip_key; "ip:lambda.amazonaws.com" scanned 1M rows (260 ms)
    Index("ix_events_src_ip_ts", "src_ip", "ts_us"),
    Index("ix_events_dedup", "dedup"),
    Index("ix_events_source", "source_id", "line"),
    # outcome then time: "failures per time bucket" and ``outcome:failure``
    # (timeline pages, facets) from the index alone
    Index("ix_events_outcome_ts", "outcome", "ts_us"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", Integer, ForeignKey("sources.id"), nullable=False),
    Column("path", Text, nullable=False),
    Column("line", Integer),
    Column("rec_index", Integer),
    Column("reason", Text, nullable=False),
    Column("raw", LargeBinary),  # the offending bytes, capped at QUARANTINE_RAW_CAP
    Column("raw_len", Integer),  # original length before capping
)

QUARANTINE_RAW_CAP = 64 * 1024

#: The vocabulary of ``events_fts`` (lowercase words, long identifiers left out):
#: free-text words match inside these (``store.fulltext``).  Filled at ingest; a
#: word whose events were removed may stay (it then matches nothing).
fts_terms = Table(
    "fts_terms",
    metadata,
    Column("term", Text, primary_key=True),
    sqlite_with_rowid=False,
)

#: Columns a user may see and filter on, in display order.
EVENT_FIELDS = [
    "ts_us", "format", "service", "action", "outcome", "error_code", "actor", "actor_type",
    "actor_uid", "session", "target_user", "src_ip", "user_agent", "host", "resource",
    "account", "region", "message", "record_id",
]
