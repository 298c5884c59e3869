"""hash-chain scheme: clean chains verify, every tampering is found at the right line and seq."""

from __future__ import annotations

import base64
import json

import pytest

from logconsole.analysis.chain.hashchain import ChainOptions, order_files, sniff, verify_files
from tests import chainfixtures as cf

PROFILES = [
    pytest.param("jcs", None, "canonical", id="sha256-jcs-canonical-lines"),
    pytest.param("jcs", None, "plain", id="sha256-jcs-plain-lines"),
    pytest.param("sorted", None, "plain", id="sha256-sorted"),
    pytest.param("jcs", cf.HMAC_KEY, "canonical", id="hmac-jcs"),
    pytest.param("sorted", cf.HMAC_KEY, "plain", id="hmac-sorted"),
]

TAMPERINGS = {
    "modified": lambda ch: cf.t_modified(ch, 10),
    "modified-and-rehashed": lambda ch: cf.t_modified_rehashed(ch, 10),
    "deleted-one": lambda ch: cf.t_deleted(ch, 10),
    "deleted-three": lambda ch: cf.t_deleted(ch, 10, 3),
    "deleted-head": lambda ch: cf.t_deleted(ch, 0),
    "inserted-valid-hash": lambda ch: cf.t_inserted(ch, 10),
    "inserted-bad-hash": lambda ch: cf.t_inserted(ch, 10, valid_hash=False),
    "replayed-far": lambda ch: cf.t_replayed(ch, 5, 20),
    "replayed-adjacent": lambda ch: cf.t_replayed(ch, 5, 6),
    "swapped": lambda ch: cf.t_swapped(ch, 10),
    "moved-later": lambda ch: cf.t_moved(ch, 10, 20),
    "moved-earlier": lambda ch: cf.t_moved(ch, 20, 10),
    "malformed": lambda ch: cf.t_malformed(ch, 10),
}


def _opts(mode, key):
    return ChainOptions(canon=mode, hmac_key=key)


def _run(path, opts):
    res = verify_files([str(path)], opts)
    assert len(res) == 1
    return res[0]


@pytest.mark.parametrize("mode,key,style", PROFILES)
def test_clean_chain_has_no_failure(tmp_path, mode, key, style):
    ch = cf.make_chain(60, mode=mode, key=key, style=style)
    r = _run(ch.write(tmp_path / "app.log"), _opts(mode, key))
    assert r.failures == []
    assert r.status == "consistent"  # no anchor: a cut tail cannot be ruled out
    assert r.records == 60
    assert "seq 1-60" in r.coverage
    assert any("no anchor" in n for n in r.notes)
    if key is not None:
        assert r.anchor.startswith("HMAC-SHA256")


@pytest.mark.parametrize("mode,key,style", PROFILES)
@pytest.mark.parametrize("name", sorted(TAMPERINGS))
def test_each_tampering_is_localised(tmp_path, mode, key, style, name):
    ch = cf.make_chain(40, mode=mode, key=key, style=style)
    lines, (kind, line, seq) = TAMPERINGS[name](ch)
    r = _run(ch.write(tmp_path / f"{name}.log", lines), _opts(mode, key))
    got = [(f.kind, f.line, f.seq) for f in r.failures]
    assert got == [(kind, line, seq)], [f.as_json() for f in r.failures]
    assert r.status == "tampered"


def test_deletion_reports_missing_count(tmp_path):
    ch = cf.make_chain(30)
    lines, _ = cf.t_deleted(ch, 12, 4)
    r = _run(ch.write(tmp_path / "d.log", lines), ChainOptions())
    (f,) = r.failures
    assert f.kind == "deleted" and f.line == 13 and f.seq == 17 and f.missing == 4
    assert "seq 13-16" in f.detail


def test_every_failure_is_reported_not_only_the_first(tmp_path):
    ch = cf.make_chain(60)
    recs = [dict(r) for r in ch.records]
    recs[5]["actor"] = "x"  # modified at line 6
    recs[30]["actor"] = "y"  # modified at line 31
    del recs[45]  # deleted: reported at line 46 (seq 47)
    lines = [ch.line(r) for r in recs]
    lines[50] = "{not json"  # malformed at line 51
    r = _run(ch.write(tmp_path / "many.log", lines), ChainOptions())
    assert [(f.kind, f.line, f.seq) for f in r.failures] == [
        ("modified", 6, 6), ("modified", 31, 31), ("deleted", 46, 47), ("malformed", 51, None)]


def test_writer_skipped_seq_is_seq_gap(tmp_path):
    ch = cf.make_chain(30, skip_seq_at=12)
    r = _run(ch.write(tmp_path / "g.log"), ChainOptions())
    assert [(f.kind, f.line, f.seq, f.missing) for f in r.failures] == [("seq_gap", 13, 16, 3)]


def test_time_regression(tmp_path):
    ch = cf.make_chain(30, time_back_at=9)
    r = _run(ch.write(tmp_path / "t.log"), ChainOptions())
    assert [(f.kind, f.line, f.seq) for f in r.failures] == [("time_regression", 10, 10)]
    # the next record goes forward again: that is not a second regression
    assert r.status == "tampered"


def test_wrong_hmac_key_is_a_configuration_problem_not_n_modifications(tmp_path):
    ch = cf.make_chain(20, key=cf.HMAC_KEY)
    r = _run(ch.write(tmp_path / "k.log"), ChainOptions(hmac_key=b"other"))
    assert r.failures == [] and r.status == "unverifiable"
    assert any("20 of 20 records do not match their HMAC key" in n for n in r.notes)
    # a deletion is still reported: the links do not depend on the key
    lines, _ = cf.t_deleted(ch, 8)
    r = _run(ch.write(tmp_path / "k2.log", lines), ChainOptions(hmac_key=b"other"))
    assert [(f.kind, f.line, f.seq) for f in r.failures] == [("deleted", 9, 10)] and r.status == "tampered"


def test_canonicalisation_is_recognised_from_the_first_record(tmp_path):
    # record 0 of a seed-14 chain holds a float, so JCS and sorted differ right away
    ch = cf.make_chain(20, mode="sorted", style="plain", start_seq=14)
    assert cf.canon({k: v for k, v in ch.records[0].items() if k != "hash"}, "jcs") != \
        cf.canon({k: v for k, v in ch.records[0].items() if k != "hash"}, "sorted")
    p = ch.write(tmp_path / "s.log")
    r = _run(p, ChainOptions())
    assert r.failures == [] and any("--canon sorted" in n for n in r.notes)
    r = _run(p, ChainOptions(canon_explicit=True))  # --canon jcs given: no switch
    assert {f.kind for f in r.failures} == {"modified"}


def test_blank_lines_and_crlf_are_tolerated(tmp_path):
    ch = cf.make_chain(10)
    p = tmp_path / "crlf.log"
    p.write_bytes(("\r\n".join(ch.lines()) + "\r\n\r\n").encode())
    r = _run(p, ChainOptions())
    assert r.failures == [] and r.records == 10


def test_gzip_log(tmp_path):
    import gzip

    ch = cf.make_chain(10)
    p = tmp_path / "app.log.gz"
    p.write_bytes(gzip.compress(("\n".join(ch.lines()) + "\n").encode(), mtime=0))
    r = _run(p, ChainOptions())
    assert r.failures == [] and r.records == 10


def test_custom_field_names(tmp_path):
    recs = []
    prev = "GENESIS"
    import hashlib

    for i in range(8):
        rec = {"n": i + 1, "previous_hash": prev, "at": f"2026-03-01T10:00:0{i}Z", "msg": "é"}
        rec["entry_hash"] = hashlib.sha256(cf.canon(rec, "sorted")).hexdigest()
        recs.append(rec)
        prev = rec["entry_hash"]
    p = tmp_path / "custom.log"
    p.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    assert sniff(str(p)) == ("entry_hash", "previous_hash")
    opts = ChainOptions(hash_field="entry_hash", prev_field="previous_hash", seq_field="n", time_field="at",
                        canon="sorted", genesis="GENESIS")
    assert _run(p, opts).failures == []
    recs[3]["msg"] = "changed"
    p.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    assert [(f.kind, f.line, f.seq) for f in _run(p, opts).failures] == [("modified", 4, 4)]


# ---------------------------------------------------------------- checkpoints


def test_signed_checkpoint_makes_it_intact(tmp_path):
    priv, pem = cf.ed25519_keypair()
    ch = cf.make_chain(40)
    p = ch.write(tmp_path / "app.log")
    cf.write_checkpoint(p, 40, ch.records[-1]["hash"], priv)
    r = _run(p, ChainOptions(pubkey_pem=pem, pubkey_name="ck.pem"))
    assert r.failures == [] and r.status == "intact"
    assert "Ed25519 checkpoint app.log.checkpoint" in r.anchor
    assert "anchored through record 40" in r.coverage


def test_checkpoint_without_pubkey_is_only_consistent(tmp_path):
    priv, _pem = cf.ed25519_keypair()
    ch = cf.make_chain(10)
    p = ch.write(tmp_path / "app.log")
    cf.write_checkpoint(p, 10, ch.records[-1]["hash"], priv)
    r = _run(p, ChainOptions())
    assert r.status == "consistent" and r.failures == []
    assert any("--pubkey" in n for n in r.notes)


def test_records_after_checkpoint_are_not_anchored(tmp_path):
    priv, pem = cf.ed25519_keypair()
    ch = cf.make_chain(30)
    p = ch.write(tmp_path / "app.log")
    cf.write_checkpoint(p, 25, ch.records[24]["hash"], priv)
    r = _run(p, ChainOptions(pubkey_pem=pem))
    assert r.status == "intact" and "5 later record(s) not anchored" in r.coverage


def test_truncated_tail_against_checkpoint(tmp_path):
    priv, pem = cf.ed25519_keypair()
    ch = cf.make_chain(40)
    lines, (kind, line, seq) = cf.t_truncated_tail(ch, 33)
    p = ch.write(tmp_path / "app.log", lines)
    cf.write_checkpoint(p, 40, ch.records[-1]["hash"], priv)
    r = _run(p, ChainOptions(pubkey_pem=pem))
    assert [(f.kind, f.line, f.seq, f.missing) for f in r.failures] == [(kind, line, seq, 7)]
    assert r.status == "tampered"
    # without the checkpoint the same file looks consistent: that is why anchors matter
    (tmp_path / "app.log.checkpoint").unlink()
    assert _run(p, ChainOptions(pubkey_pem=pem)).status == "consistent"


def test_fully_rewritten_chain_is_caught_by_checkpoint_head(tmp_path):
    priv, pem = cf.ed25519_keypair()
    ch = cf.make_chain(20)
    recs = [dict(r) for r in ch.records]
    recs[7]["actor"] = "nobody"
    recs = ch.reseal_from(7, recs)  # attacker recomputes every later hash
    p = ch.write(tmp_path / "app.log", [ch.line(r) for r in recs])
    cf.write_checkpoint(p, 20, ch.records[-1]["hash"], priv)
    r = _run(p, ChainOptions(pubkey_pem=pem))
    assert [(f.kind, f.line, f.seq) for f in r.failures] == [("modified", 20, 20)]


def test_bad_checkpoint_signature(tmp_path):
    priv, pem = cf.ed25519_keypair()
    ch = cf.make_chain(10)
    p = ch.write(tmp_path / "app.log")
    sig = base64.b64encode(priv.sign(b"11\nffff\n")).decode()
    cf.write_checkpoint(p, 10, ch.records[-1]["hash"], signature=sig)
    r = _run(p, ChainOptions(pubkey_pem=pem))
    assert [(f.kind, f.line) for f in r.failures] == [("bad_signature", None)]
    assert r.status == "tampered"


def test_checkpoint_with_other_key_is_bad_signature_and_rsa_key_is_unknown(tmp_path):
    priv, _ = cf.ed25519_keypair()
    _, other_pem = cf.ed25519_keypair(b"another seed")
    ch = cf.make_chain(10)
    p = ch.write(tmp_path / "app.log")
    cf.write_checkpoint(p, 10, ch.records[-1]["hash"], priv)
    assert [f.kind for f in _run(p, ChainOptions(pubkey_pem=other_pem)).failures] == ["bad_signature"]
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    rsa_pem = cf.rsa_key().public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    assert [f.kind for f in _run(p, ChainOptions(pubkey_pem=rsa_pem)).failures] == ["unknown_key"]


def test_malformed_checkpoint(tmp_path):
    ch = cf.make_chain(5)
    p = ch.write(tmp_path / "app.log")
    (tmp_path / "app.log.checkpoint").write_text("{broken")
    r = _run(p, ChainOptions())
    assert [f.kind for f in r.failures] == ["malformed"]


# ---------------------------------------------------------------- rotation


def _rotated(tmp_path, n_files=3, per=15):
    ch = cf.make_chain(n_files * per)
    paths = []
    for k in range(n_files):
        name = "app.log" if k == n_files - 1 else f"app.log.{n_files - 1 - k}"
        p = tmp_path / name
        ch.write(p, ch.lines()[k * per:(k + 1) * per])
        paths.append(p)
    return ch, paths


def test_rotated_files_continue_one_chain(tmp_path):
    _ch, paths = _rotated(tmp_path)
    # given in any order, they are ordered oldest first
    shuffled = [str(paths[2]), str(paths[0]), str(paths[1])]
    assert order_files(shuffled, ChainOptions()) == [[str(p) for p in paths]]
    res = verify_files(shuffled, ChainOptions())
    assert [r.status for r in res] == ["consistent"] * 3
    assert [r.records for r in res] == [15, 15, 15]


def test_missing_rotated_file(tmp_path):
    _ch, paths = _rotated(tmp_path)
    res = verify_files([str(paths[0]), str(paths[2])], ChainOptions())
    assert res[0].failures == []
    assert [(f.kind, f.line, f.seq, f.missing) for f in res[1].failures] == [("missing_file", 1, 31, 15)]


def test_later_file_alone_reports_missing_head(tmp_path):
    _ch, paths = _rotated(tmp_path)
    (r,) = verify_files([str(paths[1])], ChainOptions())
    assert [(f.kind, f.line, f.seq, f.missing) for f in r.failures] == [("deleted", 1, 16, 15)]


def test_modification_in_second_file_is_reported_in_that_file(tmp_path):
    ch, paths = _rotated(tmp_path)
    recs = [dict(r) for r in ch.records[15:30]]
    recs[3]["actor"] = "zed"
    ch.write(paths[1], [ch.line(r) for r in recs])
    res = verify_files([str(p) for p in paths], ChainOptions())
    assert [r.failures for r in (res[0], res[2])] == [[], []]
    assert [(f.kind, f.line, f.seq, f.file) for f in res[1].failures] == [("modified", 4, 19, str(paths[1]))]


def test_common_genesis_values_are_accepted_unless_genesis_is_given(tmp_path):
    for first_prev in (None, "", "GENESIS"):
        ch = cf.make_chain(10, prev=first_prev if first_prev is not None else cf.GENESIS)
        recs = [dict(r) for r in ch.records]
        recs[0]["prev_hash"] = first_prev
        recs = ch.reseal_from(1, [cf.seal(recs[0])] + recs[1:])
        p = ch.write(tmp_path / "g.log", [ch.line(r) for r in recs])
        assert _run(p, ChainOptions()).failures == [], first_prev
        r = _run(p, ChainOptions(genesis="0" * 64, genesis_explicit=True))
        expected = "malformed" if first_prev is None else "truncated"  # null is no hash at all
        assert [(f.kind, f.line) for f in r.failures] == [(expected, 1)]


def test_chain_restart_in_the_middle(tmp_path):
    ch = cf.make_chain(10)
    other = cf.make_chain(5, seed=9, start_seq=11)
    p = ch.write(tmp_path / "r.log", ch.lines() + other.lines())
    r = _run(p, ChainOptions())
    assert [(f.kind, f.line, f.seq) for f in r.failures] == [("broken_link", 11, 11)]


def test_time_cache_equals_parse_time():
    from datetime import datetime

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from logconsole.analysis.chain.hashchain import _TimeCache
    from logconsole.util.timeparse import parse_time

    cache = _TimeCache()

    @settings(max_examples=300, deadline=None)
    @given(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)), st.integers(0, 6))
    def check(dt, digits):
        s = dt.strftime("%Y-%m-%dT%H:%M:%S") + (("." + f"{dt.microsecond:06d}"[:digits]) if digits else "") + "Z"
        assert cache.get(s) == parse_time(s)

    check()
    for odd in ("2026-03-01T09:00:07+01:00", "2026-03-01 09:00:07Z", "garbage-garbage-garbageZ", 1772355600):
        try:
            ref = parse_time(odd)
        except Exception:
            ref = None
        assert cache.get(odd) == ref


def test_long_distance_move_is_one_reordering(tmp_path, monkeypatch):
    import logconsole.analysis.chain.hashchain as hc

    monkeypatch.setattr(hc, "MAX_INSERTED_RUN", 100)  # the far end of the move is not loaded
    ch = cf.make_chain(1500)
    lines, exp = cf.t_moved(ch, 10, 1400)
    r = _run(ch.write(tmp_path / "m.log", lines), ChainOptions())
    assert [(f.kind, f.line, f.seq) for f in r.failures] == [exp]
    lines, exp = cf.t_moved(ch, 1400, 10)
    r = _run(ch.write(tmp_path / "m2.log", lines), ChainOptions())
    assert [(f.kind, f.line, f.seq) for f in r.failures] == [exp]
