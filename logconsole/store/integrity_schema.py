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
