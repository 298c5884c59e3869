"""index scheme: RFC 9162 tree over the index, checkpoint after every ingest, localisation."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select, update

from logconsole.analysis.chain import merkle
from logconsole.analysis.chain.custody import latest_checkpoint, record_checkpoint, verify_index
from logconsole.workflows.ingest import run_ingest
from logconsole.store import rawcodec
from logconsole.store.db import open_db
from logconsole.store.integrity_schema import custody_blocks, index_checkpoints
from logconsole.store.schema import events

REAL = Path(__file__).parent / "data" / "realdata"


# ---------------------------------------------------------------- RFC 9162 hashing


def test_empty_and_single_leaf():
    assert merkle.root_of([]) == hashlib.sha256(b"").digest()
    assert merkle.mth_recursive([b"x"]) == hashlib.sha256(b"\x00x").digest()


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 9, 31, 33, 100])
def test_bottom_up_and_compact_range_equal_the_rfc_definition(n):
    data = [f"leaf{i}".encode() for i in range(n)]
    expected = merkle.mth_recursive(data)
    leaves = [merkle.leaf_hash(d) for d in data]
    assert merkle.root_of(leaves) == expected
    cr = merkle.CompactRange()
    for k, h in enumerate(leaves, 1):
        cr.append(h)
        assert cr.root() == merkle.mth_recursive(data[:k])
    assert cr.size == n


def test_aligned_block_roots_give_the_same_head():
    data = [f"e{i}".encode() for i in range(11)]
    leaves = [merkle.leaf_hash(d) for d in data]
    blocks = [merkle.root_of(leaves[i:i + 4]) for i in range(0, 11, 4)]  # blocks of 4 (a power of two)
    assert merkle.root_of(blocks) == merkle.mth_recursive(data)


def test_rfc6962_reference_vector():
    # RFC 6962 test vectors (certificate-transparency-go merkle tests): 8 leaves
    leaves = [bytes.fromhex(h) for h in ["", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                         "606162636465666768696a6b6c6d6e6f"]]
    assert merkle.mth_recursive(leaves).hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert merkle.root_of([merkle.leaf_hash(x) for x in leaves]).hex() == \
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


# ---------------------------------------------------------------- the index


@pytest.fixture
def db(tmp_path, monkeypatch):
    monkeypatch.setattr(merkle, "BLOCK", 8)
    import logconsole.analysis.chain.custody as custody

    monkeypatch.setattr(custody, "BLOCK", 8)
    eng = open_db(tmp_path / "case.db")
    r = run_ingest(eng, [str(REAL / "k8s-audit" / "demo.log")])
    assert not r.errors
    yield eng
    eng.dispose()


def test_ingest_records_a_checkpoint_and_verify_is_intact(db):
    cp = latest_checkpoint(db)
    with db.connect() as conn:
        n = conn.execute(select(func.count()).select_from(events)).scalar_one()
        shas = [r[0] for r in conn.execute(select(events.c.raw_sha256).order_by(events.c.id))]
        nblocks = conn.execute(select(func.count()).select_from(custody_blocks)).scalar_one()
    assert cp["size"] == n > 8 and cp["trigger"] == "ingest"
    assert cp["root"] == merkle.mth_recursive([bytes.fromhex(s) for s in shas]).hex()
    assert nblocks == (n + 7) // 8
    r = verify_index(db)
    assert r.status == "intact" and r.failures == []
    assert cp["root"] in r.anchor


def test_second_ingest_extends_the_tree_incrementally(db):
    run_ingest(db, [str(REAL / "ssh-auth" / "test.log")])
    with db.connect() as conn:
        cps = list(conn.execute(select(index_checkpoints).order_by(index_checkpoints.c.id)))
        shas = [r[0] for r in conn.execute(select(events.c.raw_sha256).order_by(events.c.id))]
    assert len(cps) == 2 and cps[1].size == len(shas) > cps[0].size
    assert cps[1].root == merkle.mth_recursive([bytes.fromhex(s) for s in shas]).hex()
    r = verify_index(db)
    assert r.status == "intact" and "2 checkpoint(s)" in r.coverage


def _event(db, eid):
    with db.connect() as conn:
        return conn.execute(select(events).where(events.c.id == eid)).first()


def test_modified_raw_with_recomputed_sha_is_localised(db):
    ev = _event(db, 5)
    raw = rawcodec.decode_bytes(ev.raw).replace(b"}", b",\"x\":1}", 1)
    with db.begin() as conn:
        conn.execute(update(events).where(events.c.id == 5).values(
            raw=rawcodec.encode(raw), raw_sha256=hashlib.sha256(raw).hexdigest()))
    r = verify_index(db)
    assert [(f.kind, f.event_id, f.line) for f in r.failures] == [("modified", 5, ev.line)]
    assert r.status == "tampered"


def test_modified_raw_only_is_caught_by_the_raw_hash(db):
    ev = _event(db, 12)
    raw = rawcodec.decode_bytes(ev.raw) + b" "
    with db.begin() as conn:
        conn.execute(update(events).where(events.c.id == 12).values(raw=rawcodec.encode(raw)))
    r = verify_index(db)
    assert [(f.kind, f.event_id) for f in r.failures] == [("modified", 12)]
    assert "stored SHA-256" in r.failures[0].detail


def test_deleted_and_added_events(db):
    with db.begin() as conn:
        conn.execute(delete(events).where(events.c.id == 9))
        row = dict(conn.execute(select(events).where(events.c.id == 3)).first()._mapping)
        row["id"] = 10_000
        conn.execute(insert(events).values(**row))
    r = verify_index(db)
    assert [(f.kind, f.event_id) for f in r.failures] == [("deleted", 9), ("inserted", 10_000)]


def test_rewritten_history_breaks_an_earlier_checkpoint(db):
    # attacker deletes an event and re-records a checkpoint: the latest matches, the earlier one does not
    with db.begin() as conn:
        conn.execute(delete(events).where(events.c.id == 2))
        conn.execute(delete(custody_blocks))
    record_checkpoint(db, "manual")
    r = verify_index(db)
    assert [f.kind for f in r.failures] == ["broken_link"]
    assert "history was rewritten" in r.failures[0].detail


def test_no_checkpoint_is_unverifiable(tmp_path):
    eng = open_db(tmp_path / "empty.db")
    assert verify_index(eng).status == "unverifiable"


def test_interrupted_ingest_is_not_checkpointed(db):
    from logconsole.store.schema import sources

    with db.begin() as conn:
        sid = conn.execute(insert(sources).values(
            path="/x", format="jsonl", sha256="f" * 64, bytes=1, parser="p", parser_version="1", ingested_at=0,
            status="partial")).inserted_primary_key[0]
        row = dict(conn.execute(select(events).where(events.c.id == 1)).first()._mapping)
        n = conn.execute(select(func.max(events.c.id))).scalar_one()
        row.update(id=n + 1, source_id=sid)
        conn.execute(insert(events).values(**row))
    cp = record_checkpoint(db, "manual")
    assert cp["max_event_id"] == n
    r = verify_index(db)
    assert r.status == "intact" and any("interrupted ingest" in x for x in r.notes)
    # the next ingest removes the partial source: still intact
    with db.begin() as conn:
        conn.execute(delete(events).where(events.c.source_id == sid))
        conn.execute(delete(sources).where(sources.c.id == sid))
    assert verify_index(db).status == "intact"
