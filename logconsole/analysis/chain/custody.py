"""``index``: logconsole's own chain of custody over its SQLite index.

At the end of every ingest (a step of :mod:`logconsole.workflows.ingest`) a
checkpoint records the RFC 9162 Merkle tree head over the events' raw SHA-256
(leaf data = the 32 bytes of ``events.raw_sha256``) in id (= ingest) order, the
size, the time and the tool version.  The tree is kept in aligned blocks of
:data:`~logconsole.analysis.chain.merkle.BLOCK` leaves (``custody_blocks``), so a
checkpoint only hashes what the ingest added.

``verify --index`` recomputes everything from the events table: each raw record
against its stored SHA-256, each block's subtree root against the stored one
(a differing block is then searched leaf by leaf: changed, deleted, added
events), the head of every earlier checkpoint (history rewritten?), and events
added after the last checkpoint.  The checkpoint lives in the same file: copy
its root into your case notes (``logconsole verify --index`` prints it) to make
it an external anchor.
"""

from __future__ import annotations

import hashlib
import time
from array import array
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select

from logconsole import __version__
from logconsole.analysis.chain.merkle import BLOCK, CompactRange, leaf_hash, root_of
from logconsole.analysis.chain.model import TargetResult, unverifiable
from logconsole.util.timeparse import format_us
from logconsole.store import dialect, rawcodec
from logconsole.store.integrity_schema import custody_blocks, index_checkpoints
from logconsole.store.schema import events, sources

PREFIX = 8


def _leaf(raw_sha256: str) -> bytes:
    try:
        data = bytes.fromhex(raw_sha256)
        if len(data) != 32:
            raise ValueError
    except (ValueError, TypeError):
        data = (raw_sha256 or "").encode("utf-8", "surrogateescape")
    return leaf_hash(data)


def _pack_ids(ids: list[int]) -> bytes | None:
    if not ids or ids[-1] - ids[0] + 1 == len(ids):
        return None  # contiguous: first_id..last_id
    return array("q", ids).tobytes()


def _unpack_ids(row: Any) -> list[int]:
    if row.ids is None:
        return list(range(row.first_id, row.last_id + 1))
    a = array("q")
    a.frombytes(row.ids)
    return a.tolist()


def record_checkpoint(engine: Engine, trigger: str = "ingest") -> dict[str, Any]:
    """Extend the stored tree with the events added since, and store a checkpoint
    (one writer at a time: on a server several ingests may finish together)."""
    with dialect.of(engine).exclusive(engine, "custody"), engine.begin() as conn:
        b = custody_blocks.c
        last = conn.execute(select(b.block_no, b.first_id, b.last_id, b.count)
                            .order_by(b.block_no.desc()).limit(1)).first()
        if last is None:
            bno, after = 0, 0
        else:
            block_no, first_id, last_id, count = last  # (a Row's .count is tuple.count)
            if count < BLOCK:
                bno, after = block_no, first_id - 1  # redo the partial last block
            else:
                bno, after = block_no + 1, last_id
        conn.execute(delete(custody_blocks).where(custody_blocks.c.block_no >= bno))
        ids: list[int] = []
        leaves: list[bytes] = []
        rows_out: list[dict[str, Any]] = []

        def flush() -> None:
            nonlocal bno, ids, leaves
            if not ids:
                return
            rows_out.append(dict(block_no=bno, first_id=ids[0], last_id=ids[-1], count=len(ids), root=root_of(leaves),
                                 ids=_pack_ids(ids), leaves=b"".join(h[:PREFIX] for h in leaves)))
            bno += 1
            ids, leaves = [], []
            if len(rows_out) >= 64:  # write as we go: memory stays flat whatever the index size
                conn.execute(insert(custody_blocks), rows_out)
                rows_out.clear()

        # events of an interrupted ingest (source still partial) are removed by the next ingest:
        # the tree stops before the first of them
        first_partial = conn.execute(
            select(func.min(events.c.id)).where(events.c.source_id.in_(
                select(sources.c.id).where(sources.c.status == "partial")))
        ).scalar()
        q = select(events.c.id, events.c.raw_sha256).where(events.c.id > after)
        if first_partial is not None:
            q = q.where(events.c.id < first_partial)
        for eid, sha in conn.execute(q.order_by(events.c.id)):
            ids.append(eid)
            leaves.append(_leaf(sha))
            if len(ids) == BLOCK:
                flush()
        flush()
        if rows_out:
            conn.execute(insert(custody_blocks), rows_out)
        roots = [r[0] for r in conn.execute(select(custody_blocks.c.root).order_by(custody_blocks.c.block_no))]
        size = conn.execute(select(func.coalesce(func.sum(custody_blocks.c.count), 0))).scalar_one()
        max_id = conn.execute(select(func.coalesce(func.max(custody_blocks.c.last_id), 0))).scalar_one()
        cp = dict(created_us=int(time.time() * 1_000_000), size=int(size), root=root_of(roots).hex(),
                  max_event_id=int(max_id), tool_version=__version__, trigger=trigger)
        pk = conn.execute(insert(index_checkpoints).values(**cp)).inserted_primary_key
        if pk is None:  # pragma: no cover - SQLite always returns the rowid
            raise RuntimeError("the index returned no id for the checkpoint")
        cp["id"] = pk[0]
    return cp


def latest_checkpoint(engine: Engine) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(index_checkpoints).order_by(index_checkpoints.c.id.desc()).limit(1)).first()
    return dict(row._mapping) if row else None


def verify_index(engine: Engine, *, check_raw: bool = True) -> TargetResult:
    db = engine.url.database or ":memory:"
    with engine.connect() as conn:
        cps = [dict(r._mapping) for r in conn.execute(select(index_checkpoints).order_by(index_checkpoints.c.id))]
        if not cps:
            return unverifiable(db, "index", "no index checkpoint yet: every ingest records one "
                                "(run `logconsole ingest` first)")
        blocks = list(conn.execute(select(custody_blocks).order_by(custody_blocks.c.block_no)))
        src = {r.id: (r.path, r.status) for r in conn.execute(select(sources.c.id, sources.c.path, sources.c.status))}
        latest = cps[-1]
        res = TargetResult(db, "index", files=[db])
        pending = sorted(cps, key=lambda c: (c["max_event_id"], c["id"]))
        pi = 0
        prefix_roots: dict[int, tuple[int, str]] = {}
        cr = CompactRange()
        bi = 0
        cur: dict[int, tuple[bytes, int | None, int]] = {}  # id -> (leaf, line, source) within the current block
        changed_blocks = 0
        n = 0
        first_id = last_id = None
        late: list[tuple[int, int | None, int]] = []
        partial_late = 0

        def close_block(b: Any) -> None:
            nonlocal changed_blocks
            now_root = root_of([cur[i][0] for i in sorted(cur)])
            if now_root == b.root and len(cur) == b.count:
                return
            changed_blocks += 1
            old_ids = _unpack_ids(b)
            old = {i: b.leaves[k * PREFIX:(k + 1) * PREFIX] for k, i in enumerate(old_ids)}
            found = False
            for i in sorted(set(old) | set(cur)):
                if i in old and i not in cur:
                    res.fail("deleted", None, None, f"event {i} was deleted from the index (block {b.block_no}, "
                             f"events {b.first_id}-{b.last_id})", event_id=i)
                    found = True
                elif i in cur and i not in old:
                    leaf, line, sid = cur[i]
                    res.fail("inserted", line, None, f"event {i} was added inside checkpointed range "
                             f"{b.first_id}-{b.last_id}", file=src.get(sid, ("?",))[0], event_id=i)
                    found = True
                elif cur[i][0][:PREFIX] != old[i]:
                    leaf, line, sid = cur[i]
                    res.fail("modified", line, None, f"event {i}: raw record hash differs from the checkpoint",
                             file=src.get(sid, ("?",))[0], event_id=i)
                    found = True
            if not found:
                res.fail("modified", None, None, f"block {b.block_no} (events {b.first_id}-{b.last_id}): subtree root "
                         "differs from the checkpoint")

        def flush_blocks_upto(eid: int | None) -> None:
            """Close every stored block that ends before *eid* (None: all)."""
            nonlocal bi, cur
            while bi < len(blocks) and (eid is None or blocks[bi].last_id < eid):
                close_block(blocks[bi])
                bi += 1
                cur = {}

        q = select(events.c.id, events.c.raw_sha256, events.c.line, events.c.source_id,
                   *( [events.c.raw] if check_raw else [])).order_by(events.c.id)
        for row in conn.execution_options(yield_per=5000).execute(q):
            eid, sha, line, sid = row[0], row[1], row[2], row[3]
            n += 1
            first_id = eid if first_id is None else first_id
            last_id = eid
            if check_raw:
                actual = hashlib.sha256(rawcodec.decode_bytes(row[4])).hexdigest()
                if actual != sha:
                    res.fail("modified", line, None, f"event {eid}: raw record does not match its stored SHA-256",
                             file=src.get(sid, ("?",))[0], event_id=eid)
            leaf = _leaf(sha)
            while pi < len(pending) and pending[pi]["max_event_id"] < eid:
                prefix_roots[pending[pi]["id"]] = (cr.size, cr.root().hex())
                pi += 1
            cr.append(leaf)
            flush_blocks_upto(eid)
            if bi < len(blocks) and blocks[bi].first_id <= eid <= blocks[bi].last_id:
                cur[eid] = (leaf, line, sid)
            elif eid > latest["max_event_id"]:
                if src.get(sid, ("", ""))[1] == "partial":
                    partial_late += 1
                else:
                    late.append((eid, line, sid))
            else:
                # between stored blocks: not covered when the checkpoint was made
                res.fail("inserted", line, None, f"event {eid} is not in the checkpointed tree",
                         file=src.get(sid, ("?",))[0], event_id=eid)
        while pi < len(pending):
            prefix_roots[pending[pi]["id"]] = (cr.size, cr.root().hex())
            pi += 1
        flush_blocks_upto(None)
    for eid, line, sid in late:
        res.fail("inserted", line, None, f"event {eid} was added after the last checkpoint without an ingest",
                 file=src.get(sid, ("?",))[0], event_id=eid)
    if partial_late:
        res.notes.append(f"{partial_late} event(s) belong to an interrupted ingest (source still partial); the next "
                         "ingest removes and redoes them")
    size_now, root_now = prefix_roots.get(latest["id"], (0, ""))
    latest_ok = root_now == latest["root"] and size_now == latest["size"]
    if not latest_ok and not res.failures:
        res.fail("modified", None, None, f"tree head {root_now[:16]}... differs from checkpoint #{latest['id']} "
                 f"({latest['root'][:16]}...)")
    if latest_ok:
        for c in cps[:-1]:
            size_c, root_c = prefix_roots.get(c["id"], (0, ""))
            if root_c != c["root"] or size_c != c["size"]:
                res.fail("broken_link", None, None, f"checkpoint #{c['id']} ({format_us(c['created_us'])}, size "
                         f"{c['size']}) does not match the index: its history was rewritten")
    res.records = n
    res.coverage = (f"{n} events" + (f", ids {first_id}-{last_id}" if n else "")
                    + f"; {len(cps)} checkpoint(s) checked" + ("" if check_raw else "; raw records not re-hashed"))
    res.anchor = (f"index checkpoint #{latest['id']} ({format_us(latest['created_us'])}, {latest['trigger']}, "
                  f"logconsole {latest['tool_version']}): size {latest['size']}, root {latest['root']}")
    res.notes.append("the checkpoint is stored in the index itself: record its root outside (case notes, report) "
                     "to make it an external anchor")
    return res.finish(anchored=True)
