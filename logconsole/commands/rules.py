"""``logconsole rules run`` and ``logconsole rules check``: Sigma detections over the index."""

from __future__ import annotations

import sys
from collections import Counter

import click

from logconsole.commands.common import db_option, emit_json, fail, json_option, open_engine

rules_option = click.option(
    "--rules", "rule_paths", multiple=True, type=click.Path(),
    help="Sigma rule file or directory (e.g. a SigmaHQ checkout); repeatable. The shipped rules always run.",
)
no_shipped_option = click.option("--no-shipped", is_flag=True, help="Leave out the rules shipped with logconsole.")


@click.group("rules")
def rules() -> None:
    """Sigma detection rules: run them over the index, or check which ones map onto logconsole's formats."""


def _load(rule_paths, no_shipped):
    from logconsole.analysis.rules.loader import load_rules

    loaded, problems = load_rules(list(rule_paths), shipped=not no_shipped)
    missing = [p for p in problems if p.reason == "no such file or directory"]
    if missing:
        fail(f"{missing[0].path}: no such file or directory")
    return loaded, problems


@rules.command("run")
@click.argument("query", nargs=-1)
@rules_option
@no_shipped_option
@click.option("--all-stored", is_flag=True, help="List the stored hits of every rule, not only of the rules loaded now.")
@db_option
@json_option
def run_cmd(query, rule_paths, no_shipped, all_stored, db_path, as_json):
    """Run the shipped rules (and --rules PATH...) over the index and store their hits.

    Only events newer than a rule's last run are read; with QUERY (a filter,
    see docs/query.md) the rules run over the matching events instead.
    """
    from logconsole.analysis.rules.engine import hits_json, run_rules
    from logconsole.store.filter import FilterError, compile_filter

    eng = open_engine(db_path)
    where = None
    text = " ".join(query).strip()
    if text:
        try:
            where = compile_filter(text).where
        except FilterError as exc:
            fail(f"query: {exc}")
    loaded, problems = _load(rule_paths, no_shipped)
    progress = None if as_json or not sys.stderr.isatty() else (lambda m: click.echo(m, err=True))
    res = run_rules(eng, loaded, problems, where=where, rule_paths=[str(p) for p in rule_paths], progress=progress)
    with eng.connect() as conn:
        hits = hits_json(conn, None if all_stored else [r.rule.key for r in res.ran])
    unmapped = len(res.unmapped) + len(res.problems)
    if as_json:
        emit_json({
            "rules": {"loaded": res.loaded, "ran": len(res.ran), "unmapped": unmapped,
                      "not_applicable": res.not_applicable, "formats": res.formats},
            "timing": {"build_s": round(res.seconds_build, 3), "match_s": round(res.seconds_match, 3),
                       "events_read": res.events_read, "rows": res.rows},
            "errors": [{"rule_id": r.rule.rule_id or r.rule.key, "error": r.error} for r in res.ran if r.error],
            "hits": hits,
        })
        return
    click.echo(f"rules: {res.loaded} loaded, {len(res.ran)} ran, {unmapped} unmapped "
               f"(`logconsole rules check` lists them), {res.not_applicable} for formats not in the index")
    click.echo(f"read {res.events_read:,} events in {res.seconds_build:.1f} s, matched in {res.seconds_match:.1f} s")
    for r in res.ran:
        if r.error:
            click.echo(f"error: {_safe(r.rule.title)}: {_safe(r.error)}", err=True)
    if not hits:
        click.echo("no hits")
        return
    for h in hits:
        click.echo(f"{h['level']:<13} {len(h['events']):>6}  {_safe(h['title'])}  ({_safe(h['author'] or 'unknown author')})")
    total = sum(len(h["events"]) for h in hits)
    click.echo(f"{len(hits)} rules with hits, {total} hits (events: `logconsole search rule:RULE_ID`)")


@rules.command("check")
@rules_option
@no_shipped_option
@click.option("--all", "show_all", is_flag=True, help="Also list every rule that compiles.")
@json_option
def check_cmd(rule_paths, no_shipped, show_all, as_json):
    """Compile every rule for every format it selects and list the ones that cannot run, with the reason."""
    from logconsole.analysis.rules.compiler import compile_rules, verify_sql

    loaded, problems = _load(rule_paths, no_shipped)
    compiled, unmapped = compile_rules(loaded)
    compiled, rejected = verify_sql(compiled)
    unmapped += rejected
    ok_keys = {c.rule.key for c in compiled}
    per: dict[str, Counter] = {}
    for r in loaded:
        product = r.logsource[0] or "(none)"
        per.setdefault(product, Counter())["loaded"] += 1
        if r.key in ok_keys:
            per[product]["compiled"] += 1
    for u in unmapped:
        per.setdefault(u.rule.logsource[0] or "(none)", Counter())["unmapped"] += 1
    for p in problems:
        c = per.setdefault(p.product or "(none)", Counter())
        c["loaded"] += 1
        c["invalid"] += 1
    if as_json:
        emit_json({
            "rules": {"loaded": len(loaded) + len(problems), "compiled": len(ok_keys),
                      "unmapped": len(unmapped), "invalid": len(problems)},
            "products": {k: dict(v) for k, v in sorted(per.items())},
            "unmapped": [{"rule_id": u.rule.rule_id or u.rule.key, "title": u.rule.title, "file": u.rule.path,
                          "logsource": list(u.rule.logsource), "reason": u.reason} for u in unmapped]
            + [{"rule_id": p.rule_id, "title": p.title, "file": p.path, "reason": p.reason} for p in problems],
            **({"compiled": [{"rule_id": c.rule.rule_id or c.rule.key, "title": c.rule.title, "target": c.target.key,
                              "sql": c.queries} for c in compiled]} if show_all else {}),
        })
        return
    click.echo(f"{len(loaded) + len(problems)} rules: {len(ok_keys)} compile, {len(unmapped)} unmapped, "
               f"{len(problems)} invalid")
    click.echo(f"{'product':<14} {'loaded':>7} {'compiled':>9} {'unmapped':>9} {'invalid':>8}")
    for k, v in sorted(per.items()):
        click.echo(f"{_safe(k):<14} {v['loaded']:>7} {v['compiled']:>9} {v['unmapped']:>9} {v['invalid']:>8}")
    for u in unmapped:
        click.echo(f"unmapped: {_safe(u.rule.path)}: {_safe(u.reason)}")
    for p in problems:
        click.echo(f"invalid: {_safe(p.path)}: {_safe(p.reason)}")
    if show_all:
        for comp in compiled:
            click.echo(f"ok: {_safe(comp.rule.path)} -> {comp.target.key}")


def _safe(s: str | None) -> str:
    from logconsole.store.sanitize import one_line

    return one_line(s or "")
