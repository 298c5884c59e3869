"""Trust from the console (and any caller): verify a path with options, import a grants file,
re-run both.  Each stores its results like the CLI (``verify``, ``grants import``) and refreshes
each event's integrity and the gap markers, so the screens only need a reload.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import fields

from sqlalchemy import Engine, select

from logconsole.analysis.chain import hashchain, sequence
from logconsole.analysis.chain.auto import VerifyOptions
from logconsole.analysis.chain.cloudtrail_digest import is_bucket, verify_bucket
from logconsole.analysis.chain.model import TargetResult, unverifiable
from logconsole.analysis.chain.results import latest_results, store_results
from logconsole.analysis.chain.textio import not_regular
from logconsole.analysis.chain.trust import refresh
from logconsole.analysis.privileges.grants import ImportResult, import_file
from logconsole.store.grants_schema import grant_snapshots


def parse_verify_request(text: str) -> tuple[list[str], VerifyOptions]:
    """``PATH [PATH ...] [key=value ...]`` (the console's prompt) -> paths and options; ValueError."""
    known = {f.name for f in fields(VerifyOptions)}
    paths: list[str] = []
    values: dict[str, str] = {}
    for tok in shlex.split(text):
        key, sep, value = tok.partition("=")
        if sep and key.replace("-", "_") in known:
            values[key.replace("-", "_")] = value
        elif sep and not os.path.exists(tok):
            raise ValueError(f"unknown option {key!r}; known: {', '.join(sorted(known))}")
        else:
            paths.append(os.path.expanduser(tok))
    if not paths:
        raise ValueError("give a path to verify (a hash-chained log, a CloudTrail bucket copy, ...)")
    return paths, VerifyOptions(**values)


def verify_paths(engine: Engine, paths: list[str], opts: VerifyOptions | None = None) -> list[TargetResult]:
    """Verify files or bucket copies (scheme detected per path, as ``logconsole verify`` does)."""
    opts = opts or VerifyOptions()
    chain_opts = opts.chain_options()
    results: list[TargetResult] = []
    chains: list[str] = []
    for p in paths:
        if not os.path.exists(p):
            results.append(unverifiable(p, "unknown", f"{p}: no such file or directory"))
        elif os.path.isdir(p):
            if is_bucket(p):
                results.append(verify_bucket(p, opts.cloudtrail_options(p)))
            else:
                results.append(unverifiable(p, "unknown", f"{p}: a directory, not a CloudTrail bucket copy"))
        elif (why := not_regular(p)) is not None:
            results.append(unverifiable(p, "unknown", f"{p}: {why}"))
        elif chain_opts.fields_explicit or hashchain.sniff(p):
            chains.append(p)
        elif sequence.sniff(p):
            results.append(sequence.verify_file(p, seq_field=opts.seq_field or "seq", time_field=opts.time_field))
        else:
            results.append(unverifiable(p, "unknown", f"{p}: no chain, digest or sequence numbers found"))
    if chains:
        if not chain_opts.fields_explicit:
            found = hashchain.sniff(chains[0])
            if found:
                chain_opts.hash_field, chain_opts.prev_field = found
        results.extend(hashchain.verify_files(chains, chain_opts))
    if results:
        store_results(engine, results, command={"argv": ["console: verify", *paths]})
    refresh(engine)
    return results


def rerun(engine: Engine, opts: VerifyOptions | None = None) -> tuple[list[TargetResult], list[ImportResult]]:
    """Verify again every target verified before (and the index's sequence-numbered sources), and
    import again every grants file imported before (a changed file becomes a new snapshot)."""
    paths = [r.path for r in latest_results(engine) if r.scheme not in ("index", "sequence") and os.path.exists(r.path)]
    results = verify_paths(engine, paths, opts) if paths else []
    seq = sequence.verify_index_sources(engine)  # the sequence numbers of the index's sources
    if seq:
        store_results(engine, seq, command={"argv": ["console: re-run", "--from-index"]})
        refresh(engine)
    results += seq
    with engine.connect() as conn:
        files = sorted({f for (f,) in conn.execute(select(grant_snapshots.c.file)) if f and os.path.isfile(f)})
    grants = [import_file(engine, f) for f in files]
    return results, grants


def import_grants(engine: Engine, path: str) -> ImportResult:
    """Import one grants file (format detected), as ``logconsole grants import`` does."""
    return import_file(engine, os.path.expanduser(path))
