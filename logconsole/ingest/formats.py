"""Importing this module registers every parser (one module per format)."""

from logconsole.ingest import cloudtrail, jsonl, k8s_audit  # noqa: F401
from logconsole.ingest import gcp_audit  # noqa: F401
from logconsole.ingest import azure_activity  # noqa: F401
from logconsole.ingest import auditd, pgaudit, syslog_auth  # noqa: F401
from logconsole.ingest import windows_security  # noqa: F401
from logconsole.ingest import evtx_file  # noqa: F401
