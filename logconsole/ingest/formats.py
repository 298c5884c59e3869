"""The log formats logconsole reads: one explicit list of parsers.

Adding a format is its module (a :class:`~logconsole.ingest.base.Parser` subclass
with its ``name``, ``description`` and :class:`~logconsole.ingest.base.FormatFacts`),
one line here, its test and its section in ``docs/formats.md``
(``docs/architecture.md``, "Add a log format").

The order of :data:`PARSERS` is the detection order: when two sniffers are equally
sure, the earlier parser wins.  It is kept sorted by name.
"""

from __future__ import annotations

from typing import Any

from logconsole.ingest.auditd import AuditdParser
from logconsole.ingest.azure_activity import AzureActivityParser
from logconsole.ingest.base import FormatFacts, Parser
from logconsole.ingest.cloudtrail import CloudTrailParser
from logconsole.ingest.cloudtrail_digest import CloudTrailDigestParser
from logconsole.ingest.evtx_file import EvtxParser
from logconsole.ingest.gcp_audit import GcpAuditParser
from logconsole.ingest.jsonl import JsonLinesParser
from logconsole.ingest.k8s_audit import K8sAuditParser
from logconsole.ingest.pgaudit import PgAuditParser
from logconsole.ingest.syslog_auth import SyslogAuthParser
from logconsole.ingest.windows_security import WindowsSecurityParser

PARSERS: tuple[type[Parser], ...] = (
    AuditdParser,            # auditd
    AzureActivityParser,     # azure-activity
    CloudTrailParser,        # cloudtrail
    CloudTrailDigestParser,  # cloudtrail-digest
    GcpAuditParser,          # gcp-audit
    JsonLinesParser,         # jsonl
    K8sAuditParser,          # k8s-audit
    PgAuditParser,           # pgaudit
    SyslogAuthParser,        # syslog-auth
    EvtxParser,              # windows-evtx
    WindowsSecurityParser,   # windows-security
)

BY_NAME: dict[str, type[Parser]] = {p.name: p for p in PARSERS}


class UnknownFormat(Exception):
    """No parser of that name, or none recognizes a file."""


def names() -> list[str]:
    return [p.name for p in PARSERS]


def parser_class(name: str) -> type[Parser]:
    try:
        return BY_NAME[name]
    except KeyError:
        raise UnknownFormat(f"unknown format {name!r}; known: {', '.join(names())}") from None


def make_parser(name: str, options: dict[str, Any] | None = None) -> Parser:
    return parser_class(name)(**(options or {}))


def facts_of(name: str) -> FormatFacts | None:
    """The facts of the format stored as *name* in an index; None for a name no parser
    of this version has (an index written by another version)."""
    cls = BY_NAME.get(name)
    return cls.facts if cls is not None else None
