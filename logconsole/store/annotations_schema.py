"""Tables of the investigator's annotations (marks, notes, tags, saved views, filter history).  Tables only.

Annotations are keyed by the event's content ``(dedup, raw_sha256)``, not by
``events.id``; the logic is in :mod:`logconsole.store.annotations`.
"""

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from logconsole.store.schema import metadata

annotations = Table(
    "annotations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dedup", BigInteger, nullable=False),
    Column("raw_sha256", String(64), nullable=False),
    Column("source_sha256", String(64)),
    Column("record_ref", Text),
    Column("event_id", Integer),  # hint: last known events.id
    Column("marked", Integer, nullable=False, default=0),
    Column("note", Text),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
    Column("created_by", Text),  # the investigator (--as NAME, the database role, else the OS user)
    Column("updated_by", Text),
    UniqueConstraint("dedup", "raw_sha256", name="uq_annotations_key"),
)

annotation_tags = Table(
    "annotation_tags",
    metadata,
    Column("annotation_id", Integer, ForeignKey("annotations.id", ondelete="CASCADE"), nullable=False),
    Column("tag", Text, nullable=False),
    UniqueConstraint("annotation_id", "tag", name="uq_annotation_tags"),
    Index("ix_annotation_tags_tag", "tag"),
)

saved_views = Table(
    "saved_views",
    metadata,
    Column("name", Text, primary_key=True),
    Column("filter", Text, nullable=False),
    Column("created_us", BigInteger, nullable=False),
)

filter_history = Table(
    "filter_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("filter", Text, nullable=False, unique=True),
    Column("used_us", BigInteger, nullable=False),
)
