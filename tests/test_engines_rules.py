"""Sigma detections give the same hits on SQLite and on PostgreSQL: the same rules over the
same records (sample_data/, the real samples of tests/data/realdata and the SigmaHQ
regression cases' EVTX files) store the same (rule, event) pairs.  Needs a real server
(LOGCONSOLE_TEST_PG) for the PostgreSQL side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from logconsole.cli import main
from tests.conftest import ENGINES, SAMPLE_DATA, drop_target, index_target

# one worker runs the whole module (with -n): its commands read and write the module's shared cases
pytestmark = pytest.mark.xdist_group("engines-rules")

DATA = Path(__file__).resolve().parent / "data"
SIGMA_RULES = DATA / "sigma" / "rules"
REGRESSION = DATA / "sigma_regression" / "cases"
REALDATA = [p for p in sorted((DATA / "realdata").iterdir()) if p.is_dir() and p.name != "LICENSES"]
REGRESSION_EVTX = sorted(REGRESSION.glob("*/*.evtx*"))
REGRESSION_RULES = sorted(REGRESSION.glob("*/rule.yml"))


def cli(*args: str) -> dict:
    r = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert r.exit_code == 0, (args, r.output)
    return json.loads(r.stdout) if "--json" in args else {}


@pytest.fixture(scope="module")
def indexes(tmp_path_factory):
    """On each engine, two indexes: the sample case, and the real samples with the regression cases."""
    made: dict[str, tuple[str, str]] = {}
    try:
        for kind in ENGINES:
            base = tmp_path_factory.mktemp(kind)
            made[kind] = (index_target(kind, base), index_target(kind, base / "real"))
            (base / "real").mkdir()
            sample, real = made[kind]
            cli("ingest", "--db", sample, str(SAMPLE_DATA))
            cli("ingest", "--db", real, *map(str, REALDATA), *map(str, REGRESSION_EVTX))
        yield made
    finally:
        for sample, real in made.values():
            drop_target(sample)
            drop_target(real)


def _same(outs: dict[str, dict]) -> dict:
    """What every engine's run says, without the timings; asserts they agree and returns it."""
    seen = {kind: {"rules": o["rules"], "errors": o["errors"],
                   "hits": sorted((h["rule_id"], tuple(h["events"])) for h in o["hits"])}
            for kind, o in outs.items()}
    first = seen[ENGINES[0]]
    for kind in ENGINES[1:]:
        assert seen[kind] == first, kind
    assert first["errors"] == []
    return first


def test_ingest_detections_step_stores_the_same_hits(indexes):
    """The ingest's ``detections`` step ran the shipped rules; a run lists what it stored."""
    got = _same({k: cli("rules", "run", "--db", s, "--json") for k, (s, _r) in indexes.items()})
    assert len(got["hits"]) >= 5, got  # stopped trail, admin policy, RBAC binding, sudo root session ...


def test_sigmahq_rules_give_the_same_hits(indexes):
    for which in (0, 1):
        got = _same({k: cli("rules", "run", "--db", t[which], "--rules", str(SIGMA_RULES), "--json")
                     for k, t in indexes.items()})
        if which == 0:
            assert got["hits"]


def test_regression_rules_give_the_same_hits(indexes):
    got = _same({k: cli("rules", "run", "--db", r, "--no-shipped", *[f"--rules={p}" for p in REGRESSION_RULES],
                        "--json") for k, (_s, r) in indexes.items()})
    assert len(got["hits"]) >= 25, "most regression rules match their own case's records"


def test_filtered_run_gives_the_same_hits(indexes):
    got = _same({k: cli("rules", "run", "--db", s, "--rules", str(SIGMA_RULES), "--json", "format:cloudtrail")
                 for k, (s, _r) in indexes.items()})
    assert got["hits"]
