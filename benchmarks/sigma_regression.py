"""SigmaHQ regression cases: ingest each case's .evtx, run the rule its info.yml names, compare.

    python benchmarks/sigma_regression.py [--data DIR] [--rules DIR ...] [--json] [-v]

A case folder holds ``info.yml`` (the rule's id and title, and per test the
evidence ``path`` and the expected ``match_count``), the ``.evtx`` file (or
``.evtx.gz``) and the same events as JSON.  For each case, in a fresh index:

1. ingest the ``.evtx`` (``logconsole.ingest.pipeline.ingest_paths``) and check
   the ingest side: nothing quarantined, as many events as the JSON file holds;
2. load the rule (``rule.yml`` in the case folder, else the file with that id
   under ``--rules``, default the ``rules*`` folders next to ``--data``) and run
   it with the rules engine (``logconsole.analysis.rules``);
3. compare the rule's hits with ``match_count``; a test without ``match_count`` is
   counted as expecting at least one hit, and those cases are counted apart.

The figure printed last is "N of M cases give exactly match_count".  Every
other case is listed with why: the rule did not compile or map (the engine's
reason), a different number of hits, or an ingest problem.  Without the rules
engine installed only the ingest side is checked.

Default ``--data``: ``../shared/sigma/regression_data`` from the repository
(or from the main checkout when run in a worktree).  The cases copied for the
tests live in ``tests/data/sigma_regression/cases``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_ID_LINE = re.compile(r"^id:\s*['\"]?([0-9a-fA-F-]{36})", re.M)


@dataclass
class Case:
    name: str
    folder: Path
    rule_id: str | None
    title: str | None
    evidence: Path | None
    json_file: Path | None
    match_count: int | None  # None: not given ("at least one")
    kind: str | None  # the test's type (evtx, raw ...)


@dataclass
class Outcome:
    case: str
    rule_id: str | None
    title: str | None
    expected: int | None
    events: int | None = None
    quarantined: int | None = None
    json_events: int | None = None
    hits: int | None = None
    status: str = "error"  # exact | at-least-one | miss | ingest | skipped | error
    reason: str | None = None
    rule_file: str | None = None
    notes: list[str] = field(default_factory=list)


def default_data() -> Path | None:
    for base in (ROOT.parent, ROOT.parent.parent, Path("/work")):
        cand = base / "shared" / "sigma" / "regression_data"
        if cand.is_dir():
            return cand
    return None


def json_objects(path: Path) -> list[Any]:
    """Concatenated (pretty-printed) JSON objects, a JSON array, or JSON lines."""
    text = path.read_text("utf-8")
    dec = json.JSONDecoder()
    i, out = 0, []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        obj, i = dec.raw_decode(text, i)
        out.append(obj)
    if len(out) == 1 and isinstance(out[0], list):
        return out[0]
    return out


def find_cases(data: Path) -> list[Case]:
    cases = []
    for info in sorted(data.rglob("info.yml")):
        folder = info.parent
        doc = yaml.safe_load(info.read_text("utf-8")) or {}
        meta = (doc.get("rule_metadata") or [{}])[0] or {}
        tests = doc.get("regression_tests_info") or []
        test = next((t for t in tests if isinstance(t, dict)), None)
        evidence = None
        kind = test.get("type") if test else None
        for pat in ("*.evtx", "*.evtx.gz"):
            evidence = evidence or next(iter(sorted(folder.glob(pat))), None)
        cases.append(Case(
            name=folder.name, folder=folder, rule_id=meta.get("id"), title=meta.get("title"),
            evidence=evidence, json_file=next(iter(sorted(folder.glob("*.json"))), None),
            match_count=test.get("match_count") if test else None, kind=kind,
        ))
    return cases


def rule_index(dirs: list[Path]) -> dict[str, Path]:
    """Rule id -> file, read from each YAML file's ``id:`` line."""
    out: dict[str, Path] = {}
    for d in dirs:
        for f in sorted(d.rglob("*.yml")):
            m = _ID_LINE.search(f.read_text("utf-8", "replace")[:4000])
            if m:
                out.setdefault(m.group(1).lower(), f)
    return out


def engine_available() -> bool:
    import importlib

    try:
        importlib.import_module("logconsole.analysis.rules.engine")
        importlib.import_module("logconsole.analysis.rules.loader")
    except ImportError:
        return False
    return True


def run_case(case: Case, rules: dict[str, Path], workdir: Path, *, with_rules: bool = True) -> Outcome:
    from logconsole.ingest.pipeline import ingest_paths
    from logconsole.store.db import open_db

    out = Outcome(case.name, case.rule_id, case.title, case.match_count)
    if case.kind not in (None, "evtx") or case.evidence is None:
        out.status = "skipped"
        out.reason = f"not an .evtx case (test type {case.kind or 'none: the test is commented out'})"
        return out
    if case.json_file is not None:
        out.json_events = len(json_objects(case.json_file))
    db = workdir / f"{case.name}.db"
    engine = open_db(str(db))
    try:
        res = ingest_paths(engine, [str(case.evidence)])
        src = res.sources[0] if res.sources else None
        if src is None or src.status != "ingested":
            out.status, out.reason = "ingest", (src.message if src else "nothing ingested")
            return out
        out.events, out.quarantined = src.events, src.quarantined
        if src.quarantined or (out.json_events is not None and src.events != out.json_events):
            out.status = "ingest"
            out.reason = f"{src.events} events, {src.quarantined} quarantined; the case's JSON holds {out.json_events}"
            return out
        if not with_rules:
            out.status = "skipped"
            out.reason = "ingest side only (no rules engine)"
            return out
        rule_file = case.folder / "rule.yml"
        if not rule_file.is_file():
            rule_file = rules.get((case.rule_id or "").lower())  # type: ignore[assignment]
        if rule_file is None:
            out.status, out.reason = "error", f"rule {case.rule_id} not found"
            return out
        out.rule_file = str(rule_file)
        out.hits, why = _run_rule(engine, rule_file, case.rule_id or "")
        if out.hits is None:
            out.status, out.reason = "miss", why
        elif case.match_count is None:
            out.status = "at-least-one" if out.hits >= 1 else "miss"
            out.reason = None if out.hits >= 1 else "no hit (the case names no match_count: at least one expected)"
        elif out.hits == case.match_count:
            out.status = "exact"
        else:
            out.status = "miss"
            out.reason = f"{out.hits} hit(s), {case.match_count} expected" + (f"; {why}" if why else "")
        return out
    finally:
        engine.dispose()


def _run_rule(engine, rule_file: Path, rule_id: str) -> tuple[int | None, str | None]:
    """Hits of the rule in *rule_file* over the index behind *engine* (None and a reason if it did not run)."""
    from sqlalchemy import select

    from logconsole.analysis.rules.engine import hits_json, run_rules
    from logconsole.analysis.rules.loader import load_rules
    from logconsole.store.schema import events

    loaded, problems = load_rules([rule_file], shipped=False)
    if not loaded:
        return None, "; ".join(f"{p.reason}" for p in problems) or "the rule did not load"
    res = run_rules(engine, loaded, problems)
    why = None
    if res.unmapped:
        why = "; ".join(str(getattr(u, "reason", u)) for u in res.unmapped)
    errors = [r.error for r in res.ran if r.error]
    if errors:
        why = "; ".join(e for e in errors if e)
    if not res.ran:
        return None, why or f"the rule did not run (formats present: {', '.join(res.formats)})"
    with engine.connect() as conn:
        hits = hits_json(conn)
        ids = [i for h in hits if (h.get("rule_id") or "").lower() == rule_id.lower() for i in h["events"]]
        if ids:  # which records matched: enough to check a miss by hand
            rows = conn.execute(select(events.c.record_id, events.c.resource).where(events.c.id.in_(ids))
                                .order_by(events.c.id))
            matched = "; ".join(f"{r.record_id} {r.resource or ''}".strip() for r in rows)
            why = f"{why}; matched: {matched}" if why else f"matched: {matched}"
    return len(ids), why


def summarize(outcomes: list[Outcome]) -> dict[str, Any]:
    evtx_cases = [o for o in outcomes if o.status != "skipped" or o.reason == "ingest side only (no rules engine)"]
    with_count = [o for o in evtx_cases if o.expected is not None]
    without = [o for o in evtx_cases if o.expected is None]
    return {
        "cases": len(outcomes),
        "evtx_cases": len(evtx_cases),
        "with_match_count": len(with_count),
        "exact": sum(o.status == "exact" for o in with_count),
        "without_match_count": len(without),
        "at_least_one": sum(o.status == "at-least-one" for o in without),
        "ingest_ok": sum(o.status not in ("ingest", "error") for o in evtx_cases),
        "not_evtx": [o.case for o in outcomes if o.status == "skipped" and o.reason != "ingest side only (no rules engine)"],
        "misses": [{"case": o.case, "rule_id": o.rule_id, "expected": o.expected, "hits": o.hits, "status": o.status,
                    "reason": o.reason} for o in evtx_cases if o.status in ("miss", "ingest", "error")],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="folder of regression cases (default: ../shared/sigma/regression_data)")
    ap.add_argument("--rules", type=Path, action="append", default=None, help="rule folder(s) to find the rules by id")
    ap.add_argument("--ingest-only", action="store_true", help="only check the ingest side")
    ap.add_argument("--json", action="store_true", help="print the outcomes as JSON")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per case")
    args = ap.parse_args(argv)
    data = args.data or default_data()
    if data is None or not data.is_dir():
        print("no regression data: give --data DIR", file=sys.stderr)
        return 2
    rule_dirs = args.rules or [p for p in sorted(data.parent.glob("rules*")) if p.is_dir()]
    with_rules = not args.ingest_only and engine_available()
    rules = rule_index(rule_dirs) if with_rules else {}
    cases = find_cases(data)
    t0 = time.perf_counter()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="logconsole-sigma-regression-") as tmp:
        for case in cases:
            try:
                o = run_case(case, rules, Path(tmp), with_rules=with_rules)
            except Exception as exc:  # one broken case must not hide the others' figures
                o = Outcome(case.name, case.rule_id, case.title, case.match_count, status="error",
                            reason=f"{exc.__class__.__name__}: {exc}")
            outcomes.append(o)
            if args.verbose and not args.json:
                print(f"{o.status:13} {o.case}: expected {o.expected if o.expected is not None else '>=1'}, "
                      f"hits {o.hits}, events {o.events}" + (f" -- {o.reason}" if o.reason else ""))
    summary = summarize(outcomes)
    summary["seconds"] = round(time.perf_counter() - t0, 2)
    summary["rules_engine"] = with_rules
    if args.json:
        print(json.dumps({"summary": summary, "outcomes": [asdict(o) for o in outcomes]}, indent=2))
        return 0
    s = summary
    print(f"{s['cases']} cases in {data}: {s['evtx_cases']} with an .evtx file"
          + (f", {len(s['not_evtx'])} not ({', '.join(s['not_evtx'])})" if s["not_evtx"] else ""))
    print(f"ingest: {s['ingest_ok']} of {s['evtx_cases']} ingest completely (0 quarantined, as many events as the case's JSON)")
    if with_rules:
        print(f"rules: {s['exact']} of {s['with_match_count']} cases give exactly match_count; "
              f"{s['at_least_one']} of {s['without_match_count']} cases without match_count have at least one hit")
    else:
        print("rules: not run (the rules engine is not installed)")
    for m in s["misses"]:
        print(f"  {m['status']}: {m['case']} (rule {m['rule_id']}): {m['reason']}")
    print(f"{s['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
