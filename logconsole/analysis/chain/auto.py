"""Verification of what an ingest brought in, without another command.

:func:`verify_ingested` finds, among the index sources under the ingested paths, every
source whose integrity can be checked and verifies it:

* JSON-lines files that carry a hash chain (:func:`logconsole.analysis.chain.hashchain.sniff`,
  or the fields of the options);
* CloudTrail log files inside a copy of the trail's bucket that holds digest files
  (the bucket root is the directory above ``AWSLogs/``), with the public keys of the
  options or a ``list-public-keys`` output found at the bucket root;
* sequence-numbered sources (auditd serials, Windows EventRecordID) from the index.

The results are stored like ``logconsole verify``'s and each event's integrity is
refreshed (:func:`logconsole.analysis.chain.trust.refresh`).

Options come from the command line or a case file: ``logconsole.yaml`` (or
``.logconsole.yaml``) in an ingested directory, key ``verify``::

    verify:
      public_keys: keys.json        # aws cloudtrail list-public-keys output
      pubkey: app/checkpoint.pem    # Ed25519 key of LOG.checkpoint files
      hash_field: hash
      prev_field: prev_hash
      canon: jcs                    # or sorted
      hmac_key_file: app/hmac.key
      expected_end: 2026-03-15T00:00:00Z
      start_time: 2026-03-14T00:00:00Z
      end_time: 2026-03-15T00:00:00Z

Relative paths in a case file are relative to the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from logconsole.analysis.chain import hashchain, sequence
from logconsole.analysis.chain.cloudtrail_digest import CloudTrailOptions, is_bucket, verify_bucket
from logconsole.analysis.chain.model import TargetResult, unverifiable
from logconsole.analysis.chain.results import store_results
from logconsole.analysis.chain.textio import read_small
from logconsole.analysis.chain.trust import refresh
from logconsole.store.schema import sources
from logconsole.util.timeparse import parse_iso

CASE_FILES = ("logconsole.yaml", ".logconsole.yaml")
SEQUENCE_FORMATS = ("auditd", "windows-security", "windows-evtx")


class CaseFileError(ValueError):
    """A case file that cannot be read or holds an unknown option."""


@dataclass
class VerifyOptions:
    public_keys: str | None = None
    pubkey: str | None = None
    hash_field: str | None = None
    prev_field: str | None = None
    seq_field: str | None = None
    time_field: str | None = None
    canon: str | None = None
    genesis: str | None = None
    hmac_key_file: str | None = None
    expected_end: str | None = None
    start_time: str | None = None
    end_time: str | None = None

    def merged(self, other: VerifyOptions) -> VerifyOptions:
        """These options, with *other*'s where these have none (the command line wins over a case file)."""
        return VerifyOptions(**{f.name: getattr(self, f.name) if getattr(self, f.name) is not None
                                else getattr(other, f.name) for f in fields(self)})

    def chain_options(self) -> hashchain.ChainOptions:
        o = hashchain.ChainOptions(canon=self.canon or "jcs", canon_explicit=self.canon is not None)
        for name in ("hash_field", "prev_field", "seq_field", "time_field"):
            if getattr(self, name):
                setattr(o, name, getattr(self, name))
        if self.genesis is not None:
            o.genesis, o.genesis_explicit = self.genesis, True
        o.fields_explicit = bool(self.hash_field or self.prev_field)
        if self.hmac_key_file:
            o.hmac_key = hashchain.load_hmac_key(self.hmac_key_file)
            o.hmac_key_name = Path(self.hmac_key_file).name
        if self.pubkey:
            o.pubkey_pem = read_small(self.pubkey, 1 << 20)
            o.pubkey_name = Path(self.pubkey).name
            o.pubkey_error = hashchain.pubkey_problem(o.pubkey_pem)
        return o

    def cloudtrail_options(self, bucket: str) -> CloudTrailOptions:
        keys = self.public_keys or _keys_in(bucket)
        return CloudTrailOptions(
            public_keys=keys,
            expected_end_us=parse_iso(self.expected_end) if self.expected_end else None,
            start_us=parse_iso(self.start_time) if self.start_time else None,
            end_us=parse_iso(self.end_time) if self.end_time else None,
        )


def case_file_options(paths: list[str]) -> tuple[VerifyOptions, str | None]:
    """The ``verify`` options of the first case file in the ingested directories, and its path."""
    import yaml

    for p in paths:
        if not os.path.isdir(p):
            continue
        for name in CASE_FILES:
            f = os.path.join(p, name)
            if not os.path.isfile(f):
                continue
            try:
                doc = yaml.safe_load(read_small(f, 1 << 20)) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise CaseFileError(f"{f}: cannot read the case file: {str(exc).splitlines()[0]}") from None
            section = doc.get("verify") if isinstance(doc, dict) else None
            if section is None:
                return VerifyOptions(), f
            if not isinstance(section, dict):
                raise CaseFileError(f"{f}: 'verify' must be a mapping of options")
            known = {x.name for x in fields(VerifyOptions)}
            unknown = sorted(set(map(str, section)) - known)
            if unknown:
                raise CaseFileError(f"{f}: unknown verify option(s) {', '.join(unknown)} "
                                    f"(known: {', '.join(sorted(known))})")
            values: dict[str, Any] = {}
            for k, v in section.items():
                if v is None:
                    continue
                v = str(v)
                if k in ("public_keys", "pubkey", "hmac_key_file") and not os.path.isabs(v):
                    v = os.path.join(p, v)
                values[k] = v
            return VerifyOptions(**values), f
    return VerifyOptions(), None


def _keys_in(bucket: str) -> str | None:
    """A ``list-public-keys`` output kept next to ``AWSLogs/`` in the bucket copy, if any."""
    root = Path(bucket)
    for p in sorted(root.glob("*.json")):
        try:
            doc = json.loads(read_small(p, 8 << 20))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("PublicKeyList"), list):
            return str(p)
    return None


def _bucket_root(path: str) -> str | None:
    """The directory holding ``AWSLogs/`` above a CloudTrail log file."""
    parts = Path(path).parts
    if "AWSLogs" not in parts:
        return None
    i = len(parts) - 1 - parts[::-1].index("AWSLogs")
    return str(Path(*parts[:i])) if i > 0 else None


def _under(path: str, roots: list[str]) -> bool:
    real = os.path.realpath(path)
    for r in roots:
        rr = os.path.realpath(r)
        if real == rr or real.startswith(rr.rstrip(os.sep) + os.sep):
            return True
    return False


def verify_ingested(engine: Engine, paths: list[str], opts: VerifyOptions | None = None) -> list[TargetResult]:
    """Verify every checkable source under *paths* (see the module docstring); store the results and
    refresh each event's integrity.  Returns the results."""
    opts = opts or VerifyOptions()
    with engine.connect() as conn:
        rows = [(p, f) for p, f in conn.execute(select(sources.c.path, sources.c.format)
                                                .where(sources.c.status == "complete").order_by(sources.c.id))
                if p != "-" and _under(p, paths)]
    results: list[TargetResult] = []
    chain_opts = opts.chain_options()
    chains: list[str] = []
    buckets: list[str] = []
    sequenced = False
    for path, fmt in rows:
        if fmt == "cloudtrail":
            root = _bucket_root(path)
            if root is not None and root not in buckets and is_bucket(root):
                buckets.append(root)
        elif fmt in SEQUENCE_FORMATS:
            sequenced = True
        elif fmt == "jsonl" and os.path.isfile(path):
            found = hashchain.sniff(path) if not chain_opts.fields_explicit else (chain_opts.hash_field,
                                                                                  chain_opts.prev_field)
            if found:
                chains.append(path)
                if not chain_opts.fields_explicit and found != (chain_opts.hash_field, chain_opts.prev_field):
                    chain_opts.hash_field, chain_opts.prev_field = found
    for b in buckets:
        try:
            results.append(verify_bucket(b, opts.cloudtrail_options(b)))
        except ValueError as exc:  # unreadable public keys
            results.append(unverifiable(b, "cloudtrail-digest", str(exc)))
    if chains:
        results.extend(hashchain.verify_files(chains, chain_opts))
    if sequenced:
        results.extend(sequence.verify_index_sources(engine))
    if results:
        store_results(engine, results, command={"argv": ["ingest: automatic verification"]})
    refresh(engine)
    return results


def summary(results: list[TargetResult]) -> str:
    """One line: how many targets per status."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    if not counts:
        return "nothing to verify (no hash chain, CloudTrail digests or sequence numbers)"
    return "verified " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
