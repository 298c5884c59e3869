"""The JCS fast path is byte-identical to rfc8785 wherever it is taken; slow path otherwise."""

from __future__ import annotations

import json

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from logconsole.analysis.chain.canon import MAX_SAFE, CanonError, canon_jcs, canon_sorted, jcs_fast_ok
from tests import chainfixtures as cf

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
keys = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)
scalars = st.one_of(text, st.integers(-MAX_SAFE, MAX_SAFE), st.booleans(), st.none())
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(keys, inner, max_size=4)), max_leaves=12)
records = st.dictionaries(keys, values, max_size=8)


@settings(max_examples=400, deadline=None)
@given(records)
def test_fast_path_equals_rfc8785(rec):
    assert canon_jcs(rec) == rfc8785.dumps(rec)
    # on this domain the sorted profile is the same bytes as json.dumps(sort_keys) too
    assert canon_sorted(rec) == json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(keys, st.one_of(values, st.floats(allow_nan=False, allow_infinity=False)), max_size=6))
def test_sorted_matches_json_dumps(rec):
    assert canon_sorted(rec) == json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(keys, st.one_of(values, st.floats(allow_nan=False, allow_infinity=False)), max_size=6))
def test_any_record_matches_rfc8785(rec):
    try:
        expected = rfc8785.dumps(rec)
    except Exception:
        try:
            canon_jcs(rec)
        except CanonError:
            return
        raise AssertionError("canon_jcs accepted what rfc8785 refuses") from None
    assert canon_jcs(rec) == expected


def test_fast_path_is_taken_only_when_safe():
    assert jcs_fast_ok({"a": "x", "b": [1, True, None, {"c": "é"}]})
    assert not jcs_fast_ok({"a": 1.0})  # JCS writes 1
    assert not jcs_fast_ok({"a": MAX_SAFE + 1})  # outside I-JSON
    assert not jcs_fast_ok({"\ue000": 1, "😀": 2})  # UTF-16 order differs from code point order
    assert canon_jcs({"\ufb01": 3, "😀": 2, "c": 1.0}) == rfc8785.dumps({"\ufb01": 3, "😀": 2, "c": 1.0})
    assert canon_jcs({"c": 1.0}) == b'{"c":1}'


def test_sorted_is_compact_sorted_and_keeps_non_ascii():
    assert canon_sorted({"b": "é", "a": 1.0}) == '{"a":1.0,"b":"é"}'.encode()


def test_lone_surrogate_is_refused():
    for fn in (canon_jcs, canon_sorted):
        try:
            fn({"a": "\ud800"})
        except CanonError:
            continue
        raise AssertionError(fn)


def test_fixture_records_agree():
    ch = cf.make_chain(200)
    for r in ch.records:
        body = {k: v for k, v in r.items() if k != "hash"}
        assert canon_jcs(body) == rfc8785.dumps(body)
        assert json.loads(canon_jcs(body)) == body
