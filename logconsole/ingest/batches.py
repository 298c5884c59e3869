"""The batch loop: parser items -> prepared batches, the one place it is written.

Both the in-process ingest (:mod:`logconsole.ingest.pipeline`) and the parse
worker (:mod:`logconsole.ingest.parallel`) run :func:`iter_batches`; the
pipeline writes what it yields, the worker pickles it to the pipeline.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import orjson

from logconsole.ingest.base import Event, Parser, Quarantined, norm_ip
from logconsole.ingest.reader import Input, TruncatedInput
from logconsole.store import rawcodec
from logconsole.store.schema import QUARANTINE_RAW_CAP

BATCH_SIZE = 5000
#: the first batch of a file is at most this big: it is written sooner (a console opened on a
#: fresh bundle shows its first rows while the rest loads), at the cost of one more transaction
FIRST_BATCH = 1000

#: one prepared batch (see :func:`prepare_batch`) and the input position after it
PreparedBatch = tuple[list[tuple], int]


def iter_batches(parser: Parser, inp: Input, batch_size: int = BATCH_SIZE) -> Iterator[PreparedBatch]:
    """Parse *inp* and yield prepared batches of at most *batch_size* items (the first of at
    most :data:`FIRST_BATCH`), then a last (possibly empty) one.  A cut compressed container ends the parse with a
    quarantined "truncated container" entry after the records read before the cut."""
    items = parser.parse(inp)
    batch: list[Event | Quarantined] = []
    limit = min(batch_size, FIRST_BATCH)
    while True:
        try:
            item = next(items)
        except StopIteration:
            break
        except TruncatedInput as exc:
            batch.append(Quarantined(f"truncated container: {exc}", None, line=None))
            break
        batch.append(item)
        if len(batch) >= limit:
            yield prepare_batch(batch), inp.position()
            batch = []
            limit = batch_size
    yield prepare_batch(batch), inp.position()


def dedup_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "big", signed=True)


def prepare_batch(batch: list[Event | Quarantined]) -> list[tuple]:
    """Everything per record that does not need the index: bytes, SHA-256, dedup
    key hash, normalised IP, ``extra`` JSON, compressed raw.  (The full-text rows are
    made later, off the critical path: :mod:`logconsole.store.fulltext_index`.)

    Plain tuples, cheap to pickle (the parse worker runs this):
    ``(0, records, dup, merged, dedup_hash, by_id, format, dedup_key, record_id,
    sha, ts_us, row)`` for an event, *row* being the events columns ``line`` ..
    ``raw_sha256``; ``(1, records, line, rec_index, reason, raw, raw_len)`` for a
    quarantined record.
    """
    out: list[tuple] = []
    for item in batch:
        out.append(_prepare_quarantined(item) if isinstance(item, Quarantined) else _prepare_event(item))
    return out


def _prepare_quarantined(item: Quarantined) -> tuple:
    raw = item.raw
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    raw_len = len(raw) if raw is not None else None
    return (1, item.records, item.line, item.rec_index, item.reason[:1000],
            raw[:QUARANTINE_RAW_CAP] if raw is not None else None, raw_len)


def _prepare_event(item: Event) -> tuple:
    raw_b = item.raw.encode("utf-8", "surrogateescape") if isinstance(item.raw, str) else item.raw
    sha = hashlib.sha256(raw_b).hexdigest()
    key = f"id:{item.format}:{item.dedup_key}" if item.dedup_key else f"sha:{sha}"
    ip_text, ip_key = _ip(item.src_ip)
    extra = _dumps_extra(item.extra) if item.extra else None
    row = (
        item.line, item.rec_index, item.record_id, item.format, item.ts_us, item.ts_raw,
        item.service, item.action, item.outcome or "unknown", item.error_code, item.actor, item.actor_type,
        item.actor_uid, item.session, item.target_user, ip_text, ip_key, item.user_agent, item.host,
        item.resource, item.account, item.region, item.message, extra, rawcodec.encode(raw_b), sha,
    )
    return (0, item.records, item.dup, item.merged, dedup_hash(key), bool(item.dedup_key), item.format,
            item.dedup_key, item.record_id, sha, item.ts_us, row)


_EXTRA_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def _dumps_extra(extra: dict[str, Any]) -> str:
    """Compact JSON with sorted keys: orjson (~0.8 µs for a Windows event's extra against
    ~6 µs), the standard library for what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(extra, option=_EXTRA_OPTS, default=str).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(extra, separators=(",", ":"), sort_keys=True, default=str)


_norm_ip_cached = lru_cache(maxsize=65536)(norm_ip)


def _ip(value: Any) -> tuple[str | None, bytes | None]:
    """``norm_ip``, memoised: audit logs repeat a few thousand addresses and ``ipaddress`` costs ~12 µs a call."""
    try:
        return _norm_ip_cached(value)
    except TypeError:  # an unhashable value
        return norm_ip(value)
