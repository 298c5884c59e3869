"""CloudTrail digest files and their signature sidecars: integrity evidence, not log records.

A digest (``AWSLogs/ACCT/CloudTrail-Digest/REGION/Y/m/d/..._CloudTrail-Digest_....json.gz``)
lists the log files delivered in one hour with their SHA-256; its sidecar
(``DIGEST.json.gz.head.json``, ``aws s3api head-object`` output) carries its signature.
Neither holds an audit event: the parser yields no event and quarantines nothing, so a
bucket copy ingests with 0 quarantined records.  The source is listed by ``sources`` with
format ``cloudtrail-digest``; its options name the digest window and the log files it
covers (``covers``), which the ingest's verification step then checks
(:mod:`logconsole.analysis.chain.cloudtrail_digest`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from logconsole.ingest.base import Event, Evidence, FormatFacts, Parser, Quarantined
from logconsole.ingest.reader import Input, Sample

_DIGEST_KEYS = (b'"digestStartTime"', b'"digestEndTime"', b'"digestS3Object"')
_SIDECAR = re.compile(rb'"Metadata"\s*:\s*\{[^}]*"(?:x-amz-meta-)?signature"', re.S)


class CloudTrailDigestParser(Parser):
    name = "cloudtrail-digest"
    version = "1"
    description = ("CloudTrail digest files and their signature sidecars (*.json.gz.head.json): integrity "
                   "evidence, no events; verified with the log files they list")
    facts = FormatFacts(short_label="dgst", timestamp_desc="end of the digest window (digestEndTime)",
                        verify_hint="verified by the ingest with its bucket copy: logconsole verify BUCKET_DIR "
                                    "--public-keys KEYS")

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._facts: dict[str, Any] = {}

    def sniff(self, sample: Sample) -> Evidence | None:
        head = sample.data[:65536]
        if all(k in head for k in _DIGEST_KEYS):
            return Evidence(100, "CloudTrail digest (digestStartTime, digestEndTime, digestS3Object)")
        if sample.name.endswith(".head.json") and _SIDECAR.search(head):
            return Evidence(95, "signature sidecar of a CloudTrail digest (head-object Metadata.signature)")
        if re.match(rb'\s*\{\s*"PublicKeyList"\s*:', head):
            return Evidence(90, "CloudTrail public keys (aws cloudtrail list-public-keys output)")
        return None

    def parse(self, inp: Input) -> Iterator[Event | Quarantined]:
        try:
            data = b"".join(inp.iter_chunks())
        except (OSError, EOFError) as exc:  # a cut .gz: the document cannot be read whole
            yield Quarantined(f"not a readable CloudTrail digest document: {str(exc)[:120]}", None, line=1)
            return
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            doc = None
        if isinstance(doc, dict) and "digestEndTime" in doc:
            files = [f.get("s3Object") for f in doc.get("logFiles") or [] if isinstance(f, dict)]
            self._facts = {
                "kind": "digest", "digest_start": doc.get("digestStartTime"), "digest_end": doc.get("digestEndTime"),
                "previous": doc.get("previousDigestS3Object"),
                "covers": [f for f in files if isinstance(f, str)],
            }
        elif isinstance(doc, dict) and "PublicKeyList" in doc:
            self._facts = {"kind": "public keys"}
        elif isinstance(doc, dict) and isinstance(doc.get("Metadata"), dict):
            self._facts = {"kind": "signature sidecar"}
        else:
            # not integrity evidence after all (a forced --format, a damaged file): keep it, quarantined
            yield Quarantined("not a CloudTrail digest, signature sidecar or public-keys document "
                              "(one JSON object expected)", data[:1 << 20], line=1)

    def source_options(self) -> dict[str, Any]:
        return {**super().source_options(), **self._facts}
