"""Binary .evtx ingest: detection, mapping, provenance, accounting, corruption, sequence gaps."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import evtx
import pytest
from sqlalchemy import select

from logconsole.ingest.base import Event, Quarantined
from logconsole.ingest.detect import detect_sample
from logconsole.ingest.evtx_file import CHUNK_SIZE, HEADER_BLOCK, EvtxParser
from logconsole.ingest.pipeline import ingest_paths
from logconsole.ingest.reader import Input, Sample
from logconsole.store.schema import events, quarantine

ROOT = Path(__file__).resolve().parent.parent
CASES = Path(__file__).resolve().parent / "data" / "sigma_regression" / "cases"


def _gen():
    """benchmarks/gen_evtx.py (a script, not a package module)."""
    if "gen_evtx" not in sys.modules:
        spec = importlib.util.spec_from_file_location("gen_evtx", ROOT / "benchmarks" / "gen_evtx.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules["gen_evtx"] = mod
        spec.loader.exec_module(mod)
    return sys.modules["gen_evtx"]


def case_evtx(name: str) -> Path:
    return next((CASES / name).glob("*.evtx.gz"))


def unpacked(name: str, tmp_path: Path) -> Path:
    src = case_evtx(name)
    out = tmp_path / src.name.removesuffix(".gz")
    out.write_bytes(gzip.decompress(src.read_bytes()))
    return out


def json_objects(path: Path) -> list[dict]:
    """The case's JSON file: concatenated pretty-printed objects."""
    text = path.read_text("utf-8")
    dec = json.JSONDecoder()
    i, out = 0, []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        obj, i = dec.raw_decode(text, i)
        out.append(obj)


def parse(path: Path) -> tuple[list[Event], list[Quarantined], EvtxParser]:
    p = EvtxParser()
    items = list(p.parse(Input.open(path)))
    return [i for i in items if isinstance(i, Event)], [i for i in items if isinstance(i, Quarantined)], p


def record_slots(data: bytes, chunk_offset: int) -> list[tuple[int, int]]:
    """(file offset, size) of each record of the chunk at *chunk_offset*."""
    out, pos = [], chunk_offset + 512
    while data[pos:pos + 4] == b"\x2a\x2a\x00\x00":
        size = struct.unpack_from("<I", data, pos + 4)[0]
        out.append((pos, size))
        pos += size
    return out


def fix_chunk_crcs(data: bytearray, chunk_offset: int) -> None:
    c = chunk_offset
    free = struct.unpack_from("<I", data, c + 48)[0]
    struct.pack_into("<I", data, c + 52, zlib.crc32(data[c + 512:c + free]))
    struct.pack_into("<I", data, c + 124, zlib.crc32(data[c + 128:c + 512], zlib.crc32(data[c:c + 120])))


# ------------------------------------------------------------------ detection


def test_detected_by_magic_bytes_whatever_the_name(tmp_path):
    data = gzip.decompress(case_evtx("registry_set_amsi_disable").read_bytes())
    det = detect_sample(Sample("logs.json", data[:65536], []))
    assert det is not None and det.format == "windows-evtx" and det.score == 100
    assert detect_sample(Sample("x.evtx", b"ElfFilX" + data[7:65536], [])) is None or \
        detect_sample(Sample("x.evtx", b"ElfFilX" + data[7:65536], [])).format != "windows-evtx"
    # a gzip-compressed .evtx is detected and read through the transparent gunzip
    res_path = tmp_path / "a.evtx.gz"
    res_path.write_bytes(case_evtx("registry_set_amsi_disable").read_bytes())
    evs, qs, _ = parse(res_path)
    assert len(evs) == 1 and not qs


# ------------------------------------------------------------------ every copied case


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir()))
def test_regression_case_ingests_completely(case, engine):
    """Each SigmaHQ case's .evtx: no record quarantined and as many events as the case's JSON holds."""
    path = case_evtx(case)
    want = json_objects(next((CASES / case).glob("*.json")))
    res = ingest_paths(engine, [str(path)])
    (src,) = res.sources
    assert src.status == "ingested" and src.format == "windows-evtx"
    assert src.quarantined == 0
    assert src.events == len(want)
    assert src.records == src.events + src.duplicates + src.merged + src.quarantined
    with engine.connect() as conn:
        rows = list(conn.execute(select(events.c.record_id, events.c.extra).order_by(events.c.id)))
    got_ids = sorted(json.loads(r.extra)["record_number"] for r in rows)
    assert got_ids == sorted(o["Event"]["System"]["EventRecordID"] for o in want)
    for r in rows:
        extra = json.loads(r.extra)
        assert r.record_id.endswith("/" + str(extra["record_number"]))
        assert extra["export"] == "evtx" and extra["evtx"]["chunk"] == 0


# ------------------------------------------------------------------ mapping


def test_security_event_mapped(tmp_path):
    evs, qs, _ = parse(unpacked("win_security_susp_scheduled_task_delete_or_disable", tmp_path))
    assert not qs and len(evs) == 1
    e = evs[0]
    assert e.format == "windows-evtx" and e.service == "Security" and e.action == "scheduled-task-disabled"
    assert e.actor == "SWACHCHHANDA\\xodih" and e.actor_uid.startswith("S-1-5-21-") and e.actor_type == "User"
    assert e.session == "0x3144c" and e.outcome == "success" and e.host == "swachchhanda"
    assert e.resource == "\\Microsoft\\Windows\\SystemRestore\\SR"
    assert e.ts_raw == "2026-03-11T05:16:41.816327Z" and e.ts_us == 1773206201816327
    assert e.record_id == "swachchhanda/Security/27732" and e.dedup_key == e.record_id
    assert e.extra["event_id"] == 4701 and e.extra["record_number"] == 27732
    assert e.line is None and e.rec_index == 0


def test_sysmon_events_mapped(tmp_path):
    evs, qs, _ = parse(unpacked("proc_creation_win_reg_system_restore_modification", tmp_path))
    assert not qs and len(evs) == 4
    for e in evs:
        assert e.service == "Microsoft-Windows-Sysmon/Operational" and e.action == "process-created"
        assert e.actor and "\\" in e.actor
        assert e.resource and e.resource.lower().endswith(".exe")
        assert e.extra["command_line"] and e.extra["parent_process"]
    assert [e.rec_index for e in evs] == [0, 1, 2, 3]
    evs, _, _ = parse(unpacked("registry_set_amsi_disable", tmp_path))
    assert evs[0].action == "registry-value-set" and evs[0].resource.startswith("HK")


# ------------------------------------------------------------------ provenance and raw


def test_raw_is_the_crate_rendering_and_the_record_bytes_are_pointed_to(tmp_path):
    path = unpacked("file_event_win_hktl_netexec_file_indicators", tmp_path)
    evs, _, _ = parse(path)
    data = path.read_bytes()
    rendered = [r["data"] for r in evtx.PyEvtxParser(str(path)).records_json()]
    assert [e.raw for e in evs] == rendered  # raw_sha256 is reproducible from the file with the evtx package
    for e in evs:
        prov = e.extra["evtx"]
        body = data[prov["offset"]:prov["offset"] + prov["size"]]
        assert body[:4] == b"\x2a\x2a\x00\x00"
        assert struct.unpack_from("<Q", body, 8)[0] == prov["record"]
        assert hashlib.sha256(body).hexdigest() == prov["sha256"]
        assert HEADER_BLOCK <= prov["offset"] < HEADER_BLOCK + CHUNK_SIZE


def test_ingested_raw_sha256_matches_rendering(engine, tmp_path):
    path = unpacked("proc_creation_win_github_self_hosted_runner", tmp_path)
    ingest_paths(engine, [str(path)])
    rendered = [r["data"] for r in evtx.PyEvtxParser(str(path)).records_json()]
    with engine.connect() as conn:
        shas = [r[0] for r in conn.execute(select(events.c.raw_sha256).order_by(events.c.rec_index))]
    assert shas == [hashlib.sha256(r.encode("utf-8")).hexdigest() for r in rendered]


def test_same_records_twice_are_duplicates(engine, tmp_path):
    path = unpacked("proc_creation_win_reg_system_restore_modification", tmp_path)
    copy = tmp_path / "copy.evtx"
    copy.write_bytes(path.read_bytes() + bytes(CHUNK_SIZE))  # another file (other SHA-256), same records
    res = ingest_paths(engine, [str(path), str(copy)])
    assert [(s.events, s.duplicates) for s in res.sources] == [(4, 0), (0, 4)]


# ------------------------------------------------------------------ corruption


def test_corrupt_chunk_quarantined_with_its_offset(engine, tmp_path):
    good = gzip.decompress(case_evtx("file_event_win_hktl_netexec_file_indicators").read_bytes())
    bad = good + b"\x13" * CHUNK_SIZE + bytes(CHUNK_SIZE)  # a garbage chunk, then unused space
    path = tmp_path / "c.evtx"
    path.write_bytes(bad)
    res = ingest_paths(engine, [str(path)])
    (src,) = res.sources
    assert (src.records, src.events, src.quarantined) == (8, 7, 1)
    with engine.connect() as conn:
        (q,) = conn.execute(select(quarantine)).mappings().all()
    assert f"chunk 1 at file offset {HEADER_BLOCK + CHUNK_SIZE}" in q["reason"] and "no ElfChnk signature" in q["reason"]
    assert q["raw_len"] == CHUNK_SIZE and q["rec_index"] == 7


def test_unrenderable_record_quarantined_others_kept(tmp_path):
    path = unpacked("file_event_win_hktl_netexec_file_indicators", tmp_path)
    data = bytearray(path.read_bytes())
    slots = record_slots(bytes(data), HEADER_BLOCK)
    off, size = slots[2]
    data[off + 34:off + 60] = b"\xff" * 26  # BinXML garbage inside record 3
    fix_chunk_crcs(data, HEADER_BLOCK)
    path.write_bytes(bytes(data))
    evs, qs, p = parse(path)
    assert len(evs) == 6 and len(qs) == 1
    q = qs[0]
    assert f"record 3 at file offset {off}" in q.reason and "chunk 0" in q.reason
    assert q.raw == bytes(data[off:off + size]) and q.rec_index == 2
    assert [e.rec_index for e in evs] == [0, 1, 3, 4, 5, 6]
    assert "crc_mismatch" not in p.source_options()


def test_broken_record_header_quarantines_rest_of_chunk(tmp_path):
    path = unpacked("file_event_win_hktl_netexec_file_indicators", tmp_path)
    data = bytearray(path.read_bytes())
    off, _size = record_slots(bytes(data), HEADER_BLOCK)[4]
    struct.pack_into("<I", data, off + 4, 999_999)  # record 5's size
    path.write_bytes(bytes(data))
    evs, qs, p = parse(path)
    assert len(evs) == 4 and len(qs) == 1
    assert qs[0].records == 3  # records 5..7 per the chunk header
    assert f"record size 999999 out of bounds at file offset {off}" in qs[0].reason
    assert sum(i.records for i in [*evs, *qs]) == 7
    # the edit also broke the chunk's CRC: noted on the events and the source
    assert evs[0].extra["evtx"]["crc"] == "mismatch: records"
    assert p.source_options()["crc_mismatch"] == [f"chunk 0 at file offset {HEADER_BLOCK}: records CRC32"]


def test_truncated_file_quarantines_cut_chunk(engine, tmp_path):
    good = gzip.decompress(case_evtx("proc_creation_win_reg_system_restore_modification").read_bytes())
    second = gzip.decompress(case_evtx("registry_set_amsi_disable").read_bytes())[HEADER_BLOCK:]
    path = tmp_path / "t.evtx"
    path.write_bytes(good + second[:30000])
    res = ingest_paths(engine, [str(path)])
    (src,) = res.sources
    assert (src.events, src.quarantined, src.records) == (4, 1, 5)
    with engine.connect() as conn:
        reason = conn.execute(select(quarantine.c.reason)).scalar()
    assert reason.startswith(f"corrupt chunk 1 at file offset {HEADER_BLOCK + CHUNK_SIZE}: truncated chunk (30000")


def test_bad_file_header_still_reads_chunks(tmp_path):
    path = unpacked("registry_set_amsi_disable", tmp_path)
    data = bytearray(path.read_bytes())
    data[40] ^= 0xFF  # inside the CRC-covered part of the file header
    path.write_bytes(bytes(data))
    evs, qs, p = parse(path)
    assert len(evs) == 1 and not qs
    assert p.source_options()["file_header"] == "file header CRC32 mismatch"


# ------------------------------------------------------------------ sequence verification


def _built(tmp_path: Path, n: int, gaps: frozenset[int] = frozenset()) -> Path:
    out = tmp_path / "big.evtx"
    _gen().build(n, out, [CASES / "file_event_win_hktl_netexec_file_indicators"], gaps=gaps)
    return out


def test_generated_file_reads_back(tmp_path):
    path = _built(tmp_path, 500)
    evs, qs, p = parse(path)
    assert len(evs) == 500 and not qs and p.source_options()["chunks"] > 1
    assert [e.extra["record_number"] for e in evs] == list(range(1, 501))
    assert len({e.extra["evtx"]["chunk"] for e in evs}) == p.source_options()["chunks"]


def _verify(*args: str) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "logconsole.cli", "verify", "--json", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    return proc.returncode, json.loads(proc.stdout)


def test_record_id_gap_is_a_failure_in_file_and_index_mode(tmp_path, db_path, engine):
    path = _built(tmp_path, 300, gaps=frozenset({120, 121}))
    code, out = _verify(str(path))
    (t,) = out["targets"]
    assert code != 0 and t["scheme"] == "sequence"
    (f,) = t["failures"]
    assert f["kind"] == "seq_gap" and "2 EventRecordID(s) missing (120-121) before 122" in f["detail"]
    ingest_paths(engine, [str(path)])
    engine.dispose()
    code, out = _verify("--from-index", "--db", db_path)
    seq = [t for t in out["targets"] if t["scheme"] == "sequence"]
    assert len(seq) == 1 and [f["kind"] for f in seq[0]["failures"]] == ["seq_gap"]
    assert seq[0]["failures"][0]["event_id"] is not None


def test_saved_copy_gaps_are_explained(tmp_path):
    """A log saved from Event Viewer (or wevtutil, maybe filtered) numbers its record headers from 1
    while the EventRecordIDs keep their gaps: a gap there is expected, not a deletion."""
    path = _built(tmp_path, 300, gaps=frozenset({120}))
    data = bytearray(path.read_bytes())
    n = 0
    for c in range(HEADER_BLOCK, len(data), CHUNK_SIZE):
        for off, _size in record_slots(bytes(data), c):
            n += 1
            struct.pack_into("<Q", data, off + 8, n)  # renumbered headers: 1..300
        fix_chunk_crcs(data, c)
    path.write_bytes(bytes(data))
    evs, qs, _ = parse(path)
    assert not qs and [e.extra["evtx"]["record"] for e in evs] == list(range(1, 301))
    code, out = _verify(str(path))
    (t,) = out["targets"]
    assert code == 0 and not t["failures"]
    (x,) = t["explained"]
    assert "1 EventRecordID(s) missing (120) before 121" in x["detail"] and x["explained"].startswith("saved copy")


def test_forced_on_a_non_evtx_file_quarantines_it(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"hello\n")
    evs, qs, _ = parse(path)
    assert not evs and len(qs) == 1 and qs[0].reason.startswith("not an .evtx file")


def test_quarantine_listing_names_chunk_offset_and_record(tmp_path, db_path):
    good = gzip.decompress(case_evtx("registry_set_amsi_disable").read_bytes())
    path = tmp_path / "c.evtx"
    path.write_bytes(good + b"\x13" * CHUNK_SIZE)
    run = [sys.executable, "-m", "logconsole.cli"]
    subprocess.run([*run, "ingest", "--db", db_path, str(path)], capture_output=True, cwd=ROOT, timeout=300)
    out = subprocess.run([*run, "quarantine", "--db", db_path], capture_output=True, text=True, cwd=ROOT,
                         timeout=300).stdout
    assert f"c.evtx:record #1: corrupt chunk 1 at file offset {HEADER_BLOCK + CHUNK_SIZE}: no ElfChnk signature" in out
