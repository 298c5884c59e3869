"""Tables of the chain-verification area (on the shared :data:`schema.metadata`).

* ``verify_runs`` / ``verify_targets`` / ``verify_failures``: every ``logconsole
  verify`` run whose results were stored, one row per target and per failure
  (explained sequence anomalies too, with ``explained`` set).
* ``index_checkpoints``: logconsole's own chain of custody - after every ingest,
  the RFC 9162 Merkle root over the events' raw SHA-256 in id order, the size,
  the time and the tool version.
* ``custody_blocks``: the current tree in aligned blocks of
  :data:`logconsole.analysis.chain.merkle.BLOCK` leaves (subtree roots plus an
  8-byte prefix per leaf) so that ``verify --index`` can say *which* events
  changed, were deleted or added.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, LargeBinary, String, Table, Text

from logconsole.store.schema import metadata

verify_runs = Table(
    "verify_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("started_us", BigInteger, nullable=False),
    Column("finished_us", BigInteger),
    Column("tool_version", String, nullable=False),
    Column("command", Text),  # JSON: argv / options
    Column("exit_code", Integer),
)

verify_targets = Table(
    "verify_targets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("verify_runs.id"), nullable=False),
    Column("path", Text, nullable=False),
    Column("scheme", String, nullable=False),
    Column("status", String, nullable=False),  # intact | consistent | tampered | unverifiable
    Column("records", Integer, nullable=False, default=0),
    Column("coverage", Text),
    Column("anchor", Text),
    Column("source_id", Integer),  # index source for this path, when ingested
    Column("result", Text, nullable=False),  # the full JSON result of this target
    Index("ix_verify_targets_run", "run_id"),
)

verify_failures = Table(
    "verify_failures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("target_id", Integer, ForeignKey("verify_targets.id"), nullable=False),
    Column("kind", String, nullable=False),
    Column("line", Integer),
    Column("seq", BigInteger),
    Column("detail", Text),
    Column("file", Text),
    Column("missing", Integer),
    Column("explained", Text),  # NULL: a failure; else the benign explanation (sequence scheme)
    Column("event_id", Integer),  # the index event at that record, when known
    Index("ix_verify_failures_target", "target_id"),
)

index_checkpoints = Table(
    "index_checkpoints",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("created_us", BigInteger, nullable=False),
    Column("size", Integer, nullable=False),  # number of leaves (events)
    Column("root", String(64), nullable=False),  # hex RFC 9162 Merkle tree head
    Column("max_event_id", Integer, nullable=False),
    Column("tool_version", String, nullable=False),
    Column("trigger", String, nullable=False),  # ingest | manual
)

custody_blocks = Table(
    "custody_blocks",
    metadata,
    Column("block_no", Integer, primary_key=True),
    Column("first_id", Integer, nullable=False),
    Column("last_id", Integer, nullable=False),
    Column("count", Integer, nullable=False),
    Column("root", LargeBinary(32), nullable=False),  # subtree root of the block's leaves
    Column("ids", LargeBinary),  # int64 ids, only when the block's ids are not contiguous
    Column("leaves", LargeBinary, nullable=False),  # 8-byte prefix of each leaf hash, id order
)

# ---- trust on the timeline: what the latest verification results say about each event
# (recomputed from the stored results by logconsole.analysis.chain.trust.refresh)

#: a source whose records a verification covered: ``verified`` (each record checked, none failed on
#: its own) or ``tampered`` (the file itself failed: modified, inserted, listed by no digest)
source_trust = Table(
    "source_trust",
    metadata,
    Column("source_id", Integer, primary_key=True),
    Column("status", String, nullable=False),  # verified | tampered
    Column("target_id", Integer, nullable=False),  # verify_targets.id of the result that says so
    Column("scheme", String, nullable=False),
    Column("kind", String),  # the file-level failure kind, when tampered
    Column("detail", Text),
)

#: an event whose own record failed (modified, inserted, reordered, malformed)
event_trust = Table(
    "event_trust",
    metadata,
    Column("event_id", Integer, primary_key=True),
    Column("status", String, nullable=False),  # tampered
    Column("kind", String, nullable=False),
    Column("target_id", Integer, nullable=False),
    Column("file", Text),
    Column("line", Integer),
    Column("detail", Text),
    Column("original_hash", Text),  # a modified record: the hash its original content had
)

#: where records are missing (deleted, truncated, seq_gap, a listed log file absent) or logging was
#: stopped (CloudTrail StopLogging .. StartLogging, auditd DAEMON_END, Windows 1100/1102): marker rows
integrity_gaps = Table(
    "integrity_gaps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String, nullable=False),  # deleted | truncated | seq_gap | missing_file | logging_stopped ...
    Column("start_us", BigInteger, nullable=False),  # where the marker sits on the timeline
    Column("end_us", BigInteger),  # the end of an interval (logging stopped), else NULL
    Column("source_id", Integer),
    Column("event_id", Integer),  # the event the gap precedes (or that stopped logging)
    Column("end_event_id", Integer),  # the event that restarted logging
    Column("missing", Integer),  # records missing, when known
    Column("file", Text),
    Column("detail", Text, nullable=False),
    Column("target_id", Integer),  # the verification result that found it (NULL: from the events)
    Index("ix_integrity_gaps_start", "start_us"),
)
