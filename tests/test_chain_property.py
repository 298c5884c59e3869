"""Property test: any single tampering of a hash chain is reported once, with the right kind, line and seq;
two tamperings far apart are both reported."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logconsole.analysis.chain.hashchain import ChainOptions, verify_files
from tests import chainfixtures as cf

N = 30
CHAINS = {
    "sha": (cf.make_chain(N), ChainOptions()),
    "hmac": (cf.make_chain(N, key=cf.HMAC_KEY, style="plain"), ChainOptions(hmac_key=cf.HMAC_KEY)),
}

OPS = st.one_of(
    st.tuples(st.just("modified"), st.integers(0, N - 1)),
    st.tuples(st.just("rehash"), st.integers(0, N - 2)),
    st.tuples(st.just("deleted"), st.integers(1, N - 2), st.integers(1, 3)),
    st.tuples(st.just("inserted"), st.integers(1, N - 1)),
    st.tuples(st.just("swap"), st.integers(0, N - 2)),
    st.tuples(st.just("move"), st.integers(0, N - 1), st.integers(0, N - 1)),
    st.tuples(st.just("replay"), st.integers(0, N - 1), st.integers(0, N)),
)


def apply(ch, op):
    kind = op[0]
    if kind == "modified":
        return cf.t_modified(ch, op[1])
    if kind == "rehash":
        if ch.key is not None:
            return None  # an HMAC chain cannot be re-hashed without the key: that is plain "modified"
        return cf.t_modified_rehashed(ch, op[1])
    if kind == "deleted":
        return None if op[1] + op[2] >= N else cf.t_deleted(ch, op[1], op[2])
    if kind == "inserted":
        return cf.t_inserted(ch, op[1], valid_hash=ch.key is None)
    if kind == "swap":
        return cf.t_swapped(ch, op[1])
    if kind == "move":
        return None if abs(op[1] - op[2]) <= 1 else cf.t_moved(ch, op[1], op[2])
    return None if op[2] in (op[1], op[1] + 1) else cf.t_replayed(ch, op[1], op[2])


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(sorted(CHAINS)), OPS)
def test_single_tampering_is_localised(tmp_path_factory, which, op):
    ch, opts = CHAINS[which]
    got = apply(ch, op)
    if got is None:
        return
    lines, expected = got
    p = ch.write(tmp_path_factory.mktemp("p") / "x.log", lines)
    (r,) = verify_files([str(p)], opts)
    assert [(f.kind, f.line, f.seq) for f in r.failures] == [expected], op
    assert r.status == "tampered"


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(2, 10), st.integers(18, 27), st.sampled_from(["modified", "deleted", "inserted", "swap"]))
def test_two_tamperings_far_apart_are_both_reported(tmp_path_factory, a, b, second):
    ch = cf.make_chain(N)
    recs = [dict(r) for r in ch.records]
    recs[a]["actor"] = "x"  # modified at line a+1
    if second == "modified":
        recs[b]["actor"] = "y"
        exp2 = ("modified", b + 1, b + 1)
    elif second == "deleted":
        del recs[b]
        exp2 = ("deleted", b + 1, b + 2)
    elif second == "inserted":
        fake = cf.seal({"seq": b + 1, "prev_hash": recs[b - 1]["hash"], "time": recs[b]["time"], "actor": "m"})
        recs.insert(b, fake)
        exp2 = ("inserted", b + 1, b + 1)
    else:
        recs[b], recs[b + 1] = recs[b + 1], recs[b]
        exp2 = ("reordered", b + 1, b + 2)
    p = ch.write(tmp_path_factory.mktemp("q") / "y.log", [ch.line(r) for r in recs])
    (r,) = verify_files([str(p)], ChainOptions())
    assert [(f.kind, f.line, f.seq) for f in r.failures] == [("modified", a + 1, a + 1), exp2]


def _seqless_chain(n: int = 40) -> cf.Chain:
    recs, prev = [], cf.GENESIS
    for r in cf.make_chain(n).records:
        x = {k: v for k, v in r.items() if k not in ("seq", "hash")}
        x["prev_hash"] = prev
        x = cf.seal(x)
        recs.append(x)
        prev = x["hash"]
    return cf.Chain(recs, "jcs", None, "canonical")


SEQLESS = _seqless_chain()


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(["modified", "deleted", "inserted", "swap", "move"]), st.integers(1, 37), st.integers(1, 37))
def test_without_seq_field(tmp_path_factory, kind, i, k):
    """Without seq a deletion cannot be told from a rewrite: broken_link, at the first record after it."""
    rs = [dict(r) for r in SEQLESS.records]
    if kind == "modified":
        rs[i]["actor"] = "zz"
        exp = ("modified", i + 1)
    elif kind == "deleted":
        del rs[i]
        exp = ("broken_link", i + 1)
    elif kind == "inserted":
        rs.insert(i, cf.seal({"prev_hash": rs[i - 1]["hash"], "actor": "m"}))
        exp = ("inserted", i + 1)
    elif kind == "swap":
        rs[i], rs[i + 1] = rs[i + 1], rs[i]
        exp = ("reordered", i + 1)
    else:
        if abs(i - k) <= 1:
            return
        rs.insert(k, rs.pop(i))
        exp = ("reordered", min(i, k) + 1)
    p = SEQLESS.write(tmp_path_factory.mktemp("s") / "x.log", [SEQLESS.line(r) for r in rs])
    (r,) = verify_files([str(p)], ChainOptions())
    assert [(f.kind, f.line) for f in r.failures] == [exp]
