"""``logconsole verify``: chain verification of log files and of the index itself."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from logconsole.commands.common import db_option, emit_json, fail, json_option, open_engine, resolve_db, warn
from logconsole.store.sanitize import one_line

SCHEMES = ("auto", "hash-chain", "cloudtrail-digest", "sequence")


def _style(status: str) -> str:
    color = {"intact": "green", "consistent": "cyan", "tampered": "red", "unverifiable": "yellow"}.get(status)
    return click.style(status.upper(), fg=color, bold=True)


def _print_human(results, verbose: bool) -> None:
    for r in results:
        click.echo(f"{_style(r.status)}  {r.scheme}  {one_line(r.path, 200)}")
        if r.coverage:
            click.echo(f"  coverage: {one_line(r.coverage, 400)}")
        click.echo(f"  anchor:   {one_line(r.anchor, 400)}")
        if r.failures:
            click.echo(f"  failures ({len(r.failures)}):")
            shown = r.failures if verbose else r.failures[:50]
            for f in shown:
                click.echo(f"    {click.style(f.kind, fg='red')}  {f.location(r.path) or '-'}: {one_line(f.detail, 300)}")
            if len(shown) < len(r.failures):
                click.echo(f"    ... {len(r.failures) - len(shown)} more (use --verbose or --json)")
        if r.explained:
            click.echo(f"  explained ({len(r.explained)}):")
            shown = r.explained if verbose else r.explained[:10]
            for f in shown:
                click.echo(f"    {f.kind}  {f.location(r.path) or '-'}: {one_line(f.detail, 200)} "
                           f"[{one_line(f.explained, 200)}]")
            if len(shown) < len(r.explained):
                click.echo(f"    ... {len(r.explained) - len(shown)} more (use --verbose or --json)")
        for n in r.notes:
            click.echo(f"  note: {one_line(n, 400)}")


def _detect(path: str) -> str | None:
    from logconsole.analysis.chain import hashchain, sequence
    from logconsole.analysis.chain.cloudtrail_digest import is_bucket

    if os.path.isdir(path):
        return "cloudtrail-digest" if is_bucket(path) else None
    if hashchain.sniff(path):
        return "hash-chain"
    if sequence.sniff(path):
        return "sequence"
    return None


def _expand(paths: list[str]) -> list[tuple[str, bool]]:
    """(path, named) pairs: directories that are CloudTrail buckets stay whole; other directories
    are walked (their files are not *named*: those without any scheme are skipped quietly).
    An ``AWSLogs`` tree without digests becomes one (unverifiable) target."""
    from logconsole.analysis.chain.cloudtrail_digest import is_bucket

    out: list[tuple[str, bool]] = []
    for p in paths:
        if os.path.isdir(p) and not is_bucket(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                if root != p and is_bucket(root):
                    out.append((root, True))
                    dirs[:] = []
                    continue
                if "AWSLogs" in dirs and not is_bucket(root):
                    out.append((os.path.join(root, "AWSLogs"), True))
                    dirs.remove("AWSLogs")
                for name in sorted(files):
                    if not name.startswith(".") and not name.endswith((".checkpoint", ".head.json")):
                        out.append((os.path.join(root, name), False))
        else:
            out.append((p, True))
    return out


@click.command("verify")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--scheme", type=click.Choice(SCHEMES), default="auto", show_default=True,
              help="Verification scheme (auto-detected per path by default).")
@click.option("--index", "index_", is_flag=True, help="Verify logconsole's own index against its checkpoints.")
@click.option("--from-index", is_flag=True,
              help="Sequence analysis over the auditd/Windows events already in the index.")
@click.option("--hash-field", default=None, help="hash-chain: field holding the record's hash [hash].")
@click.option("--prev-field", default=None, help="hash-chain: field holding the previous hash [prev_hash].")
@click.option("--seq-field", default=None, help="hash-chain/sequence: integer sequence field [seq].")
@click.option("--time-field", default=None, help="hash-chain/sequence: time field [time, timestamp, ts ...].")
@click.option("--canon", type=click.Choice(["jcs", "sorted"]), default=None,
              help="hash-chain canonicalisation: RFC 8785 JCS [default], or compact JSON with sorted keys "
                   "(without the option, a log hashed the other way is recognised from its first record).")
@click.option("--genesis", default=None, help="hash-chain: prev value of a chain's first record [64 zeros].")
@click.option("--hmac-key-file", type=click.Path(dir_okay=False), default=None,
              help="hash-chain: HMAC-SHA256 key (the file's bytes without a trailing newline).")
@click.option("--pubkey", type=click.Path(dir_okay=False), default=None,
              help="hash-chain: Ed25519 public key (PEM) for LOG.checkpoint signatures.")
@click.option("--public-keys", type=click.Path(dir_okay=False), default=None,
              help="cloudtrail-digest: output of `aws cloudtrail list-public-keys`.")
@click.option("--expected-end", default=None,
              help="cloudtrail-digest: time logging should cover until (ISO 8601); a missing newest tail is reported.")
@click.option("--start-time", default=None,
              help="cloudtrail-digest: check only digests whose window ends after this time (ISO 8601); the chain "
                   "starts there, as `aws cloudtrail validate-logs --start-time` does.")
@click.option("--end-time", default=None,
              help="cloudtrail-digest: check only digests whose window starts before this time (ISO 8601).")
@click.option("--time-tolerance", type=float, default=None,
              help="Seconds a timestamp may go back before it is a time regression [hash-chain 0, sequence 1].")
@click.option("--quick", is_flag=True, help="--index: skip re-hashing every raw record.")
@click.option("--checkpoint", "record_cp", is_flag=True,
              help="Record an index checkpoint now (ingest records one automatically) and print its root.")
@click.option("--store/--no-store", default=True, show_default=True,
              help="Store results in the index (when it exists or --db is given).")
@click.option("-v", "--verbose", is_flag=True, help="List every failure.")
@db_option
@json_option
def verify(paths, scheme, index_, from_index, hash_field, prev_field, seq_field, time_field, canon, genesis,
           hmac_key_file, pubkey, public_keys, expected_end, start_time, end_time, time_tolerance, quick, record_cp,
           store, verbose, db_path, as_json):
    """Verify log integrity: hash chains, CloudTrail digests, sequence numbers, the index.

    \b
    Schemes (auto-detected per PATH):
      hash-chain         JSON lines carrying seq / prev_hash / hash (docs/integrity.md)
      cloudtrail-digest  a directory copied from the trail's bucket (AWSLogs/...)
      sequence           auditd serials, Windows EventRecordID, any seq field
    `verify --index` checks logconsole's own index against the checkpoint every
    ingest records.

    Status per target: intact (verified up to an anchor), consistent (the chain
    holds but nothing rules out a cut tail), tampered, unverifiable.  Exit 0
    when every target is intact or consistent, 1 when any is tampered, 2 when
    nothing could be verified.
    """
    from logconsole.analysis.chain import hashchain, sequence
    from logconsole.analysis.chain.cloudtrail_digest import CloudTrailOptions, verify_bucket
    from logconsole.analysis.chain.model import exit_code, unverifiable
    from logconsole.analysis.chain.textio import not_regular, read_small
    from logconsole.util.timeparse import parse_iso

    started = int(time.time() * 1_000_000)
    if record_cp:
        from logconsole.analysis.chain.custody import record_checkpoint
        from logconsole.util.timeparse import format_us

        new_cp = record_checkpoint(open_engine(db_path), "manual")
        if not as_json:
            click.echo(f"index checkpoint #{new_cp['id']} at {format_us(new_cp['created_us'])}: size "
                       f"{new_cp['size']}, root {new_cp['root']}")
        if not paths and not index_ and not from_index:
            if as_json:
                emit_json({"checkpoint": new_cp})
            sys.exit(0)
    else:
        new_cp = None
    if not paths and not index_ and not from_index:
        fail("give PATH... to verify, or --index / --from-index")
    results = []
    engine = None
    from logconsole.store.dialect import is_url, redact

    db_file = resolve_db(db_path)
    if index_ or from_index:
        engine = open_engine(db_path)
        if index_:
            from logconsole.analysis.chain.custody import verify_index

            results.append(verify_index(engine, check_raw=not quick))
        if from_index:
            tol = int((time_tolerance if time_tolerance is not None else 1.0) * 1_000_000)
            got = sequence.verify_index_sources(engine, tolerance_us=tol)
            if not got:
                warn("no auditd or Windows sources with sequence numbers in the index")
            results.extend(got)

    # ---- options
    opts = hashchain.ChainOptions(canon=canon or "jcs", canon_explicit=canon is not None)
    if hash_field:
        opts.hash_field = hash_field
    if prev_field:
        opts.prev_field = prev_field
    if seq_field:
        opts.seq_field = seq_field
    if time_field:
        opts.time_field = time_field
    if genesis is not None:
        opts.genesis = genesis
        opts.genesis_explicit = True
    opts.fields_explicit = bool(hash_field or prev_field)
    if time_tolerance is not None:
        opts.time_tolerance_us = int(time_tolerance * 1_000_000)
    try:
        if hmac_key_file:
            opts.hmac_key = hashchain.load_hmac_key(hmac_key_file)
            opts.hmac_key_name = Path(hmac_key_file).name
        if pubkey:
            opts.pubkey_pem = read_small(pubkey, 1 << 20)
            opts.pubkey_name = Path(pubkey).name
            opts.pubkey_error = hashchain.pubkey_problem(opts.pubkey_pem)
    except (OSError, ValueError) as exc:
        fail(str(exc) if isinstance(exc, ValueError) else f"{exc.filename or pubkey or hmac_key_file}: {exc.strerror}")
    ct_opts = CloudTrailOptions(public_keys=public_keys)
    for name, value, attr in (("--expected-end", expected_end, "expected_end_us"),
                              ("--start-time", start_time, "start_us"), ("--end-time", end_time, "end_us")):
        if value:
            try:
                setattr(ct_opts, attr, parse_iso(value))
            except Exception:
                fail(f"{name}: unparseable time {value!r} (use ISO 8601, e.g. 2026-03-01T12:00:00Z)")

    # ---- targets
    chains: list[str] = []
    chain_opts = opts
    expanded = _expand(list(paths))
    order = {p: i for i, (p, _named) in enumerate(expanded)}
    skipped = 0
    refused_in_dirs: list[str] = []
    for p, named in expanded:
        if not os.path.exists(p):
            results.append(unverifiable(p, scheme if scheme != "auto" else "unknown", f"{p}: no such file or directory"))
            continue
        refused = None if os.path.isdir(p) else not_regular(p)
        if refused is not None:  # a FIFO would block the read (and the whole command) until a writer appears
            if named:
                results.append(unverifiable(p, scheme if scheme != "auto" else "unknown", f"{p}: {refused}"))
            else:
                refused_in_dirs.append(p)
            continue
        if not os.path.isdir(p) and not os.access(p, os.R_OK):
            results.append(unverifiable(p, scheme if scheme != "auto" else "unknown", f"{p}: permission denied"))
            continue
        s = scheme
        if s == "auto":
            s = "hash-chain" if (opts.fields_explicit and not os.path.isdir(p)) else _detect(p)
        if s is None and os.path.isdir(p) and os.path.basename(p.rstrip("/")) == "AWSLogs":
            results.append(unverifiable(p, "cloudtrail-digest", f"{p}: CloudTrail logs without CloudTrail-Digest "
                                        "files: log file integrity validation was off or the digests were not "
                                        "collected, so these logs cannot be verified"))
            continue
        if s is None:
            if not named:
                skipped += 1
                continue
            results.append(unverifiable(p, "unknown", f"{p}: no chain, digest or sequence numbers found "
                                        "(use --scheme to force one)"))
            continue
        if s == "hash-chain":
            if os.path.isdir(p):
                results.append(unverifiable(p, s, f"{p}: a directory, not a hash-chained log"))
                continue
            if not opts.fields_explicit:
                found = hashchain.sniff(p)
                if found and found != (opts.hash_field, opts.prev_field) and not chains:
                    chain_opts = hashchain.ChainOptions(**{**opts.__dict__, "hash_field": found[0], "prev_field": found[1]})
            chains.append(p)
        elif s == "cloudtrail-digest":
            try:
                results.append(verify_bucket(p, ct_opts))
            except ValueError as exc:
                fail(str(exc))
        else:
            tol = int((time_tolerance if time_tolerance is not None else 1.0) * 1_000_000)
            results.append(sequence.verify_file(p, seq_field=seq_field or "seq", time_field=time_field,
                                                tolerance_us=tol))
    if chains:
        results.extend(hashchain.verify_files(chains, chain_opts))
    if skipped:
        warn(f"{skipped} file(s) found in directories carry no chain, digest or sequence numbers; skipped")
    for p in refused_in_dirs:
        warn(f"{one_line(p, 300)}: {not_regular(p) or 'not a regular file'}; skipped")
    if not results:
        fail("nothing to verify: no chain, digest or sequence numbers found in the given paths")

    # keep the order the user gave (index targets first)
    results.sort(key=lambda r: -1 if r.scheme == "index" or (r.source_id is not None and r.path not in order)
                 else order.get(r.path, len(order)))
    code = exit_code(results)
    # ---- store
    if store and (engine is not None or db_path or is_url(db_file) or os.path.exists(db_file)):
        try:
            from logconsole.analysis.chain.results import store_results
            from logconsole.store.db import open_db

            engine = engine or open_db(db_file, create=bool(db_path))
            store_results(engine, results, command={"argv": sys.argv[1:]}, exit_code=code, started_us=started)
            from logconsole.analysis.chain.trust import refresh

            refresh(engine)  # each event's integrity and the gap markers follow the new results
        except Exception as exc:
            warn(f"results not stored in {redact(db_file)}: {exc}")
    if as_json:
        doc = {"targets": [r.as_json() for r in results], "exit_code": code}
        if new_cp is not None:
            doc["checkpoint"] = new_cp
        emit_json(doc)
    else:
        _print_human(results, verbose)
    sys.exit(code)
