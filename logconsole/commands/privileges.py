"""Privilege commands: ``grants import|list|diff``, ``actors``, ``actor NAME``."""

from __future__ import annotations

import click

from logconsole.commands.common import db_option, emit_json, fail, json_option, open_engine, warn
from logconsole.store.sanitize import one_line

window_options = [
    click.option("--since", default=None, help="Window start: ISO 8601 time or 15m/24h/7d ago (default: first event)."),
    click.option("--until", default=None, help="Window end: ISO 8601 time or 15m/24h/7d ago (default: last event)."),
]


def _window(f):
    for opt in reversed(window_options):
        f = opt(f)
    return f


def _parse_window(since, until):
    from logconsole.analysis.privileges.actors import window_us
    from logconsole.store.filter import FilterError

    try:
        return window_us(since, until)
    except (FilterError, ValueError) as exc:
        fail(f"bad --since/--until: {exc}")


# ------------------------------------------------------------------ grants


@click.group()
def grants():
    """Import and inspect grants: AWS IAM, Kubernetes RBAC, generic policy files."""


@grants.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["aws-iam", "k8s-rbac", "policy"]), default=None,
              help="Force the format (default: detected from the content).")
@click.option("--label", default=None,
              help="Snapshot label (default: AWS account id, RBAC file name, or the policy's system).")
@db_option
@json_option
def grants_import(files, fmt, label, db_path, as_json):
    """Import grants files as snapshots (file, SHA-256, position of every rule).

    aws-iam: `aws iam get-account-authorization-details` output.  k8s-rbac:
    Role/ClusterRole/RoleBinding/ClusterRoleBinding YAML (multi-document or
    List).  policy: the logconsole policy YAML (docs/privileges.md).  A newer
    snapshot with the same label supersedes the older one, which is kept for
    `grants diff`.  Exit 2 if a file cannot be read or parsed.
    """
    from logconsole.analysis.privileges.grants import import_file
    from logconsole.analysis.privileges.model import GrantFormatError

    engine = open_engine(db_path, create=True)
    results = []
    errors = 0
    for f in files:
        try:
            r = import_file(engine, f, fmt, label)
        except GrantFormatError as exc:
            errors += 1
            if as_json:
                results.append({"file": f, "error": str(exc)})
            else:
                click.echo(f"logconsole: error: {one_line(str(exc), 400)}", err=True)
            continue
        results.append(r.as_dict())
        if not as_json:
            if r.already:
                click.echo(f"{one_line(r.file)}: already imported as snapshot {r.snapshot_id} (same SHA-256)")
            else:
                click.echo(f"{one_line(r.file)}: {r.format}, label {one_line(r.label)}: snapshot {r.snapshot_id}: "
                           f"{r.principals} principal(s), {r.rules} rule(s), {r.edges} binding(s)")
            for w in r.warnings:
                warn(one_line(w, 400))
    if as_json:
        emit_json(results)
    if errors:
        raise SystemExit(2)


@grants.command("list")
@db_option
@json_option
def grants_list(db_path, as_json):
    """List imported snapshots (the latest of each label is active)."""
    from logconsole.analysis.privileges.grants import list_snapshots
    from logconsole.util.timeparse import format_us

    engine = open_engine(db_path)
    with engine.connect() as conn:
        snaps = list_snapshots(conn)
    if as_json:
        emit_json([{**s, "imported_at": format_us(s["imported_at"])} for s in snaps])
        return
    if not snaps:
        click.echo("no grants imported (logconsole grants import FILE...)")
        return
    click.echo(f"{'ID':>4}  {'ACTIVE':6}  {'FORMAT':8}  {'LABEL':20}  {'IMPORTED':20}  {'PRINC':>5}  {'RULES':>5}  SHA-256       FILE")
    for s in snaps:
        sm = s["summary"]
        click.echo(f"{s['id']:>4}  {'yes' if s['active'] else 'old':6}  {s['format']:8}  {one_line(s['label'], 20):20}  "
                   f"{format_us(s['imported_at'], precision='s'):20}  {sm.get('principals', 0):>5}  {sm.get('rules', 0):>5}  "
                   f"{s['sha256'][:12]}  {one_line(s['file'])}")


@grants.command("diff")
@click.argument("old", required=False, type=int)
@click.argument("new", required=False, type=int)
@click.option("--label", default=None, help="Diff the two latest snapshots of this label.")
@db_option
@json_option
def grants_diff(old, new, label, db_path, as_json):
    """What changed between two snapshots (ids from `grants list`).

    Without ids: the two latest snapshots of the same label.
    """
    from logconsole.analysis.privileges.grants import default_diff_pair, diff_snapshots
    from logconsole.analysis.privileges.model import GrantFormatError

    engine = open_engine(db_path)
    with engine.connect() as conn:
        try:
            if old is None or new is None:
                if old is not None or new is not None:
                    fail("give both OLD and NEW snapshot ids, or none")
                old, new = default_diff_pair(conn, label)
            d = diff_snapshots(conn, old, new)
        except GrantFormatError as exc:
            fail(str(exc))
    if as_json:
        emit_json(d)
        return
    click.echo(f"snapshot {d['old']['id']} ({one_line(d['old']['file'])}) -> {d['new']['id']} ({one_line(d['new']['file'])})")
    for p in d["principals_added"]:
        click.echo(f"+ principal {one_line(p)}")
    for p in d["principals_removed"]:
        click.echo(f"- principal {one_line(p)}")
    for sign, key in (("+", "rules_added"), ("-", "rules_removed")):
        for r in d[key]:
            acts = ("NOT " if r["not_action"] else "") + ",".join(r["actions"])
            res = ("NOT " if r["not_resource"] else "") + ",".join(r["resources"])
            cond = " [conditional]" if r["conditional"] else ""
            click.echo(f"{sign} {one_line(r['subject'])}: {r['effect']} {one_line(acts, 200)} on {one_line(res, 120)}{cond}"
                       f"  ({one_line(r['via'], 120)})")
    for sign, key in (("+", "bindings_added"), ("-", "bindings_removed")):
        for b in d[key]:
            scope = f" in {b['scope']}" if b["scope"] else ""
            click.echo(f"{sign} binding {one_line(b['subject'])} -> {one_line(b['target'])}{scope} ({b['via']})")
    if not any(d[k] for k in ("principals_added", "principals_removed", "rules_added", "rules_removed",
                              "bindings_added", "bindings_removed")):
        click.echo("no changes")


# ------------------------------------------------------------------ actors


def _bar(used: int, granted: int | None, width: int = 12) -> str:
    if not granted:
        return " " * width
    n = max(0, min(width, round(width * used / granted)))
    if used and n == 0:
        n = 1
    return "█" * n + "·" * (width - n)


@click.command()
@click.option("--sort", "sort_key", type=click.Choice(["overprivilege", "events", "denied", "findings", "unused",
                                                       "granted", "last_seen", "name"]),
              default="overprivilege", show_default=True, help="Row order (overprivilege = unused/granted).")
@click.option("--provider", type=click.Choice(["aws", "k8s", "generic"]), default=None, help="Only actors of this kind.")
@_window
@db_option
@json_option
def actors(sort_key, provider, since, until, db_path, as_json):
    """One row per actor: events, first/last seen, and permissions granted,
    used, unused, unknown, used_not_granted, denied attempts, findings."""
    from logconsole.analysis.privileges.actors import analyze, sort_views

    lo, hi = _parse_window(since, until)
    engine = open_engine(db_path)
    a = analyze(engine, lo, hi)
    views = sort_views([v for v in a.actors if provider is None or v.provider == provider], sort_key)
    if as_json:
        emit_json([v.summary() for v in views])
        return
    if not views:
        click.echo("no actors (ingest CloudTrail / Kubernetes audit logs, or import grants)")
        return
    click.echo(f"window {a.window_text()}")
    w = min(60, max(10, max(len(v.name) for v in views)))
    click.echo(f"{'ACTOR':{w}}  {'TYPE':14}  {'EVENTS':>7}  {'LAST SEEN':20}  {'GRANTED':>7}  {'USED':>5}  {'UNUSED':>6}  "
               f"{'UNKN':>5}  {'UNGR':>5}  {'DENIED':>6}  {'FIND':>4}  USED/GRANTED")
    for v in views:
        s = v.summary()
        g = "-" if s["granted"] is None else str(s["granted"])
        last = (s["last_seen"][:19] + "Z") if s["last_seen"] else "-"
        click.echo(f"{one_line(s['actor'], w):{w}}  {one_line(s['type'], 14):14}  {s['events']:>7}  {last:20}  "
                   f"{g:>7}  {s['used']:>5}  {s['unused']:>6}  {s['unknown']:>5}  {s['used_not_granted']:>5}  "
                   f"{s['denied']:>6}  {s['findings']:>4}  {_bar(s['used'], s['granted'])}")


@click.command()
@click.argument("name")
@click.option("--suggest-policy", is_flag=True, help="Print a least-privilege policy from what was used "
              "(IAM JSON for AWS, Role YAML for Kubernetes). Actions used only by tampered events, events in a "
              "finding or events matching --exclude are left out; sensitive ones are listed 'review before "
              "granting' (on standard error; with --json in the document) instead of granted.")
@click.option("--exclude", default=None, metavar="QUERY",
              help="--suggest-policy: leave out what only events matching this filter used (e.g. 'ip:203.0.113.77').")
@click.option("--all-permissions", is_flag=True, help="Text output: list every permission row (default: 40).")
@click.option("--provider", type=click.Choice(["aws", "k8s", "generic"]), default=None,
              help="When a name exists in several systems (a Kubernetes user and a portal user).")
@_window
@db_option
@json_option
def actor(name, suggest_policy, exclude, all_permissions, provider, since, until, db_path, as_json):
    """One actor: permissions with their state, denied attempts, findings.

    NAME is the actor as `logconsole actors` shows it (the ARN for AWS); an
    unambiguous user or role name also works.
    """
    from logconsole.analysis.privileges.actors import actor_report, analyze, resolve_name

    lo, hi = _parse_window(since, until)
    engine = open_engine(db_path)
    a = analyze(engine, lo, hi)
    hits = [h for h in resolve_name(a, name) if provider is None or h.provider == provider]
    if not hits:
        fail(f"no actor {name!r} in the index or the imported grants (see `logconsole actors`)")
    if len(hits) > 1:
        fail(f"{name!r} is ambiguous: " + ", ".join(f"{one_line(h.name)} ({h.provider})" for h in hits[:10])
             + " (give the full name or --provider)")
    full = analyze(engine, lo, hi, only=hits[0].name, provider=hits[0].provider, with_events=True)
    v = next(x for x in full.actors if x.name == hits[0].name and x.provider == hits[0].provider)
    if suggest_policy:
        from logconsole.analysis.privileges.suggest import suggest_full

        where = None
        if exclude:
            from logconsole.store.filter import FilterError, compile_filter

            try:
                where = compile_filter(exclude).where
            except FilterError as exc:
                fail(f"--exclude: {exc}")
        s = suggest_full(engine, v, lo, hi, exclude=where)
        if as_json:
            emit_json(s.as_json())
            return
        click.echo(s.policy_text())
        if s.notes_text():
            click.echo(s.notes_text(), err=True)  # stdout stays a policy document to paste
        return
    rep = actor_report(v, full)
    if as_json:
        emit_json(rep)
        return
    _print_actor(rep, all_permissions)


def _print_actor(rep: dict, all_permissions: bool) -> None:
    click.echo(f"{one_line(rep['actor'])}  ({one_line(rep['type'])}, {rep['provider']})")
    click.echo(f"  window {rep['window']['text']}; {rep['events']} event(s), first {rep['first_seen'] or '-'}, "
               f"last {rep['last_seen'] or '-'}")
    if rep["source_ips"]:
        click.echo(f"  source IPs: {one_line(', '.join(rep['source_ips'][:10]), 200)}")
    if rep["sessions"]:
        click.echo("  sessions: " + one_line(", ".join(f"{s['session']} ({s['events']})" for s in rep["sessions"][:8]), 300))
    if rep.get("impersonated_by"):
        click.echo(f"  impersonated by: {one_line(', '.join(rep['impersonated_by']))}")
    if not rep["grants_imported"]:
        click.echo("  no grants imported for this actor: states show usage only")
    g = "-" if rep["granted"] is None else rep["granted"]
    click.echo(f"  granted {g}, used {rep['used']}, unused {rep['unused']}, unknown {rep['unknown']}, "
               f"used_not_granted {rep['used_not_granted']}, denied {rep['denied_events']}")
    for w in rep.get("warnings", []):
        click.echo(f"  warning: {one_line(w, 300)}")
    click.echo("\nPERMISSIONS")
    perms = rep["permissions"] if all_permissions else rep["permissions"][:40]
    for p in perms:
        cnt = f"{p['count']}x last {p['last_used']}" if p["count"] else ""
        extra = f" ({p['actions']} actions)" if p.get("actions") else ""
        cond = " [conditional]" if p.get("conditional") else ""
        click.echo(f"  {p['state']:16} {one_line(p['action'], 60):60} {one_line(p['resource'], 40):40} {cnt}{extra}{cond}")
    if len(rep["permissions"]) > len(perms):
        click.echo(f"  ... {len(rep['permissions']) - len(perms)} more (--all-permissions or --json)")
    if rep["denied"]:
        click.echo("\nDENIED")
        for d in rep["denied"]:
            click.echo(f"  {d['count']:>4}x {one_line(d['action'], 50):50} {one_line(d['resource'] or '', 50):50} "
                       f"{d['first']} .. {d['last']}")
    if rep["findings"]:
        click.echo("\nFINDINGS")
        for f in rep["findings"]:
            ev = f"  events {','.join(map(str, f['events'][:10]))}{'...' if len(f['events']) > 10 else ''}" if f["events"] else ""
            click.echo(f"  [{f['severity']:6}] {f['kind']}: {one_line(f['detail'], 400)}{ev}")
