"""cloudtrail-digest scheme on a bucket signed with a test RSA key generated here."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import timedelta

import pytest

from logconsole.analysis.chain.cloudtrail_digest import CloudTrailOptions, is_bucket, load_public_keys, verify_bucket
from logconsole.util.timeparse import dt_to_us, parse_iso
from tests import chainfixtures as cf


@pytest.fixture(scope="module")
def key():
    return cf.rsa_key()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, key):
    return cf.make_bucket(tmp_path_factory.mktemp("ct") / "bucket", key=key, hours=4, empty_hour=2)


@pytest.fixture
def bucket(tmp_path, pristine):
    root = tmp_path / "bucket"
    shutil.copytree(pristine.root, root)
    b = cf.Bucket(root, root / "public-keys.json", [root / pristine.rel(p) for p in pristine.digests],
                  [root / pristine.rel(p) for p in pristine.logs], pristine.end, pristine.fingerprint)
    return b


def run(b, **kw):
    kw.setdefault("public_keys", str(b.keys_file))
    return verify_bucket(str(b.root), CloudTrailOptions(**kw))


def kinds(r):
    """(kind, file) of every failure; CloudTrail failures name a file, never a line or seq."""
    assert r.status == ("tampered" if r.failures else r.status)
    assert all(f.line is None and f.seq is None and f.file for f in r.failures)
    return [(f.kind, f.file) for f in r.failures]


def test_clean_bucket_is_intact(bucket):
    assert is_bucket(str(bucket.root))
    r = run(bucket, expected_end_us=dt_to_us(bucket.end + timedelta(minutes=30)))
    assert r.failures == [] and r.status == "intact"
    assert r.records == 4 + 6  # 4 digests (one hour empty), 6 log files
    assert "4/4 verified" in r.anchor and bucket.fingerprint in r.anchor
    assert "6 hash-verified" in r.coverage


def test_spki_keys_are_accepted_too(tmp_path, key):
    b = cf.make_bucket(tmp_path / "b", key=key, hours=2, spki=True)
    assert run(b).status == "intact"


def test_without_keys_the_chain_is_checked_but_unanchored(bucket):
    r = verify_bucket(str(bucket.root), CloudTrailOptions())
    assert r.status == "consistent" and r.failures == []
    assert r.anchor.startswith("none") and any("unanchored" in n for n in r.notes)
    # a modified log is still caught without keys
    data = gzip.decompress(bucket.logs[0].read_bytes()).replace(b"alice", b"bobby")
    bucket.logs[0].write_bytes(gzip.compress(data, mtime=0))
    assert kinds(verify_bucket(str(bucket.root), CloudTrailOptions())) == [("modified", bucket.rel(bucket.logs[0]))]


def test_without_sidecars_only_newest_is_unanchored(tmp_path, key):
    b = cf.make_bucket(tmp_path / "b", key=key, hours=3, with_sidecars=False)
    r = run(b)
    # older digests are verified with the signature their successor carries; the newest cannot be
    assert r.failures == [] and r.status == "consistent"
    assert any("no signature sidecar" in n for n in r.notes)


def test_modified_log_file(bucket):
    data = gzip.decompress(bucket.logs[3].read_bytes()).replace(b"203.0.113.7", b"198.51.100.9")
    bucket.logs[3].write_bytes(gzip.compress(data, mtime=0))
    r = run(bucket)
    assert kinds(r) == [("modified", bucket.rel(bucket.logs[3]))]
    assert "hash value doesn't match" in r.failures[0].detail and r.status == "tampered"
    assert r.failures[0].line is None and r.failures[0].seq is None


def test_deleted_log_file(bucket):
    bucket.logs[1].unlink()
    r = run(bucket)
    assert kinds(r) == [("deleted", bucket.rel(bucket.logs[1]))]
    assert f"log file {bucket.rel(bucket.logs[1])} deleted" in r.failures[0].detail


def test_log_file_listed_by_no_digest(bucket):
    extra = bucket.logs[0].with_name(bucket.logs[0].name.replace("0000abcd", "0099abcd"))
    shutil.copy(bucket.logs[0], extra)
    r = run(bucket)
    assert kinds(r) == [("inserted", bucket.rel(extra))]
    assert "listed by no digest" in r.failures[0].detail


def test_modified_digest_breaks_signature_and_next_hash_link(bucket):
    cf.rewrite_gz_json(bucket.digests[1], lambda o: {**o, "logFiles": o["logFiles"][:1]})
    r = run(bucket)
    assert kinds(r) == sorted([("bad_signature", bucket.rel(bucket.digests[1])),
                               ("broken_link", bucket.rel(bucket.digests[2])),
                               ("inserted", bucket.rel(bucket.logs[3]))], key=lambda k: k[1])


def test_deleted_middle_digest(bucket):
    bucket.digests[1].unlink()
    bucket.digests[1].with_name(bucket.digests[1].name + ".head.json").unlink()
    r = run(bucket)
    assert kinds(r) == [("missing_file", bucket.rel(bucket.digests[2]))]
    assert "previous digest" in r.failures[0].detail
    # its log files cannot be verified any more, and the result says so
    assert any("window of a missing digest" in n for n in r.notes)


def test_deleted_newest_tail_against_expected_end(bucket):
    bucket.digests[-1].unlink()
    r = run(bucket, expected_end_us=dt_to_us(bucket.end))
    assert [f.kind for f in r.failures] == ["truncated"]
    assert "hour(s) of digests are missing" in r.failures[0].detail
    # aws-cli would accept this; without --expected-end we can only say it is not ruled out
    r2 = run(bucket)
    assert r2.failures == [] and any("--expected-end" in n for n in r2.notes)


def test_forged_sidecar_signature(bucket):
    side = bucket.digests[3].with_name(bucket.digests[3].name + ".head.json")
    doc = json.loads(side.read_text())
    sig = doc["Metadata"]["signature"]
    doc["Metadata"]["signature"] = ("0" if sig[0] != "0" else "1") + sig[1:]
    side.write_text(json.dumps(doc))
    r = run(bucket)
    assert kinds(r) == [("bad_signature", bucket.rel(bucket.digests[3]))]


def test_sidecar_disagrees_with_next_previous_signature(bucket):
    side = bucket.digests[1].with_name(bucket.digests[1].name + ".head.json")
    other = json.loads(bucket.digests[0].with_name(bucket.digests[0].name + ".head.json").read_text())
    side.write_text(json.dumps(other))
    r = run(bucket)
    assert ("broken_link", bucket.rel(bucket.digests[2])) in kinds(r)
    assert ("bad_signature", bucket.rel(bucket.digests[1])) in kinds(r)


def test_unknown_key(bucket, tmp_path):
    other = cf.make_bucket(tmp_path / "other", key=cf.rsa_key(), hours=1)
    r = run(bucket, public_keys=str(other.keys_file))
    assert {f.kind for f in r.failures} == {"unknown_key"} and len(r.failures) == 4


def test_windows_must_meet(tmp_path, key):
    b = cf.make_bucket(tmp_path / "b", key=key, hours=3, overlap_at=2)
    r = run(b)
    assert kinds(r) == [("time_regression", b.rel(b.digests[2]))]


def test_windows_with_a_hole_do_not_meet(tmp_path, key):
    b = cf.make_bucket(tmp_path / "b", key=key, hours=3, hole_at=1)
    r = run(b)
    assert kinds(r) == [("broken_link", b.rel(b.digests[1]))]
    assert "do not meet" in r.failures[0].detail


def test_malformed_digest(bucket):
    bucket.digests[2].write_bytes(b"\x1f\x8bnot really gzip")
    r = run(bucket)
    assert ("malformed", bucket.rel(bucket.digests[2])) in kinds(r)
    assert ("missing_file", bucket.rel(bucket.digests[3])) in kinds(r)


def test_moved_digest(bucket):
    moved = bucket.digests[3].parent.parent / bucket.digests[3].name
    bucket.digests[3].rename(moved)
    bucket.digests[3].with_name(bucket.digests[3].name + ".head.json").rename(moved.with_name(moved.name + ".head.json"))
    r = run(bucket)
    assert ("broken_link", bucket.rel(moved)) in kinds(r)


def test_public_keys_errors(tmp_path):
    p = tmp_path / "k.json"
    p.write_text('{"nothing": 1}')
    with pytest.raises(ValueError, match="PublicKeyList"):
        load_public_keys(str(p))
    p.write_text('{"PublicKeyList": [{"Value": "AAAA", "Fingerprint": "ab"}]}')
    with pytest.raises(ValueError, match="PKCS #1"):
        load_public_keys(str(p))


def test_real_cloudtrail_samples_are_not_buckets():
    from pathlib import Path

    root = Path(__file__).parent / "data" / "realdata" / "cloudtrail"
    assert not is_bucket(str(root))
    assert verify_bucket(str(root)).status == "unverifiable"


def test_regions_are_separate_chains(tmp_path, key):
    root = tmp_path / "b"
    us = cf.make_bucket(root, key=key, hours=4)
    eu = cf.make_bucket(root, key=key, hours=2, region="eu-west-1")
    r = run(us)
    assert r.failures == [] and r.status == "intact"
    assert not any("re)started" in n for n in r.notes)  # a second region is not a logging restart
    assert any("2 digest chains" in n for n in r.notes)
    # eu-west-1 stopped two hours early: only that chain's tail is reported
    r = run(us, expected_end_us=dt_to_us(us.end))
    assert kinds(r) == [("truncated", eu.rel(eu.digests[-1]))]
    assert "eu-west-1" in r.failures[0].detail


# ---------------------------------------------------------------- copies by day folder, ranges, deleted files


@pytest.fixture
def two_days(tmp_path, key):
    """A bucket whose chain runs from 22:00 to 02:00: two day folders (2026-03-01 and 2026-03-02)."""
    return cf.make_bucket(tmp_path / "b2", hours=4, key=key, first=cf.T0.replace(hour=22))


def _drop_day(b, day: str) -> None:
    for sub in ("CloudTrail", "CloudTrail-Digest"):
        shutil.rmtree(b.root / "AWSLogs" / cf.ACCOUNT / sub / cf.REGION / day)


def test_copy_starting_mid_chain_is_consistent_with_a_note(two_days):
    """Only the second day was copied: its oldest digest points at a digest in a folder that is not
    here. That is where the copy starts, not a deleted file."""
    _drop_day(two_days, "2026/03/01")
    r = verify_bucket(str(two_days.root), CloudTrailOptions(public_keys=str(two_days.keys_file)))
    assert r.failures == [] and r.status == "intact"
    assert any(n.startswith("start of copy: ") and "in a folder that was not copied" in n for n in r.notes)


def test_start_time_bounds_the_range(two_days):
    first_day = two_days.root / "AWSLogs" / cf.ACCOUNT / "CloudTrail-Digest" / cf.REGION / "2026/03/01"
    for p in first_day.iterdir():
        p.unlink()  # the folder is here, its digests are not: only --start-time makes that a start
    keys = str(two_days.keys_file)
    assert verify_bucket(str(two_days.root), CloudTrailOptions(public_keys=keys)).status == "tampered"
    start = parse_iso("2026-03-02T00:00:00Z")
    r = verify_bucket(str(two_days.root), CloudTrailOptions(public_keys=keys, start_us=start))
    assert r.failures == [] and r.status == "intact"
    assert any("before --start-time" in n for n in r.notes)


def test_end_time_leaves_later_digests_unchecked(two_days):
    two_days.logs[-1].write_bytes(b"not even gzip")  # in the last hour, outside the range below
    end = parse_iso("2026-03-02T00:30:00Z")
    r = verify_bucket(str(two_days.root), CloudTrailOptions(public_keys=str(two_days.keys_file), end_us=end))
    assert r.failures == []
    assert any("outside --start-time/--end-time were not checked" in n for n in r.notes)


def test_deleted_log_file_in_a_copy_starting_mid_chain_is_named(two_days):
    _drop_day(two_days, "2026/03/01")
    victim = two_days.logs[-1]
    victim.unlink()
    r = verify_bucket(str(two_days.root), CloudTrailOptions(public_keys=str(two_days.keys_file)))
    assert r.status == "tampered"
    assert kinds(r) == [("deleted", two_days.rel(victim))]
    assert victim.name in r.failures[0].detail


def test_cli_start_end_time_and_exit_codes(two_days):
    from click.testing import CliRunner

    from logconsole.cli import main

    _drop_day(two_days, "2026/03/01")
    args = ["verify", str(two_days.root), "--public-keys", str(two_days.keys_file), "--json", "--no-store"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0 and json.loads(r.stdout)["targets"][0]["status"] == "intact"
    r = CliRunner().invoke(main, [*args, "--start-time", "2026-03-02T00:00:00Z", "--end-time", "2026-03-02T01:00:00Z"])
    assert r.exit_code == 0
    two_days.logs[-2].unlink()
    r = CliRunner().invoke(main, args)
    t = json.loads(r.stdout)["targets"][0]
    assert r.exit_code == 1 and [f["kind"] for f in t["failures"]] == ["deleted"]
    assert CliRunner().invoke(main, [*args, "--start-time", "yesterday-ish"]).exit_code == 2
