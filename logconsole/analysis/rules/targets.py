"""Where Sigma rules run: one *target* per (format, Sigma log source) pair.

A target says which Sigma ``logsource`` values it serves, which index formats
feed it, how Sigma field names map to the record's own fields (the processing
pipeline's field mapping) and how a raw record becomes rows of those fields.
The rules engine builds one narrow working table per target from the events'
raw records (only the columns its rules use) and runs the compiled SQL on it.

Readers (how a raw record becomes rows):

* ``json``: the record's own JSON; a Sigma field is a dotted path
  (``requestParameters.userName``, ``objectRef.resource``); a key is matched
  exactly, else case-insensitively; an ``{"value": ...}`` object (Azure) reads as
  its value; a list yields one row per element (any element may match);
* ``windows``: every exporter shape of a Windows event (JSON exports and the
  ``evtx`` crate's JSON) as flat System + EventData fields
  (:func:`logconsole.ingest.windows_security.event_fields`); Security 4688 also
  answers to the Sysmon process-creation names (``Image``, ``ParentImage`` ...);
* ``auditd``: one row per audit record of the event (``type``, ``a0``..``aN``,
  ``exe``, ``key``, ``name``, ``SYSCALL`` ...), as Sigma's auditd rules expect;
* ``auditd_exec``: one row per ``execve`` event in Sysmon-like names for the
  Linux ``process_creation`` category (closed: a rule asking for another field
  is listed as unmapped);
* ``text``: line formats (auth.log, PostgreSQL): the normalized columns and the
  format's ``extra`` fields (closed set).

Every reader also provides ``_text``, the record's text, for keyword rules.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sigma.pipelines.common import windows_logsource_mapping

from logconsole.ingest.auditd import record_fields
from logconsole.util.errors import ParseError
from logconsole.util.jsonpath import cell, json_values, lookup as _lookup
from logconsole.ingest.windows_security import event_fields

Logsource = tuple[str | None, str | None, str | None]  # (product, service, category)

#: rows per record at most when list values multiply (a record is never dropped: the first rows are kept)
MAX_ROWS_PER_RECORD = 64

#: formats whose raw record is a Windows event (the JSON exports and binary .evtx)
WINDOWS_FORMATS = ("windows-security", "windows-evtx")


@dataclass(frozen=True)
class Target:
    key: str  # working-table name
    title: str
    formats: tuple[str, ...]
    logsources: tuple[Logsource, ...]
    reader: str  # json | windows | auditd | auditd_exec | text
    field_map: dict[str, str] = field(default_factory=dict)  # Sigma field -> row field
    #: None: any field name may exist in a record (JSON); else the only row fields there are
    fields: frozenset[str] | None = None
    #: windows targets: channel names (lower case) and event ids (None: any)
    channels: frozenset[str] | None = None
    event_ids: frozenset[int] | None = None
    #: row field -> events column holding exactly that value (no raw record needed)
    columns: dict[str, str] = field(default_factory=dict)
    #: match JSON keys ignoring case (Azure exports spell the same key in several cases)
    ci_keys: bool = False
    note: str = ""

    def accepts(self, flat: dict[str, Any]) -> bool:
        if self.channels is not None and str(flat.get("Channel") or "").lower() not in self.channels:
            return False
        return self.event_ids is None or flat.get("EventID") in self.event_ids


def _channels(*names: Any) -> frozenset[str]:
    out: set[str] = set()
    for n in names:
        out.update(str(x).lower() for x in ([n] if isinstance(n, str) else n))
    return frozenset(out)


SYSMON = "Microsoft-Windows-Sysmon/Operational"

#: Sigma Windows categories -> Sysmon event ids (Sysmon's own numbering)
SYSMON_CATEGORIES: dict[str, tuple[int, ...]] = {
    "process_creation": (1,), "file_change": (2,), "network_connection": (3,), "sysmon_status": (4, 16),
    "process_termination": (5,), "driver_load": (6,), "image_load": (7,), "create_remote_thread": (8,),
    "raw_access_thread": (9,), "process_access": (10,), "file_event": (11,), "registry_add": (12,),
    "registry_delete": (12,), "registry_set": (13,), "registry_rename": (14,),
    "registry_event": (12, 13, 14), "create_stream_hash": (15,), "pipe_created": (17, 18),
    "wmi_event": (19, 20, 21), "dns_query": (22,), "file_delete": (23, 26), "clipboard_capture": (24,),
    "process_tampering": (25,), "file_delete_detected": (26,), "file_block_executable": (27,),
    "file_block_shredding": (28,), "file_executable_detected": (29,), "sysmon_error": (255,),
}

POWERSHELL = _channels(windows_logsource_mapping["powershell"])
#: Windows categories logged by PowerShell itself
POWERSHELL_CATEGORIES: dict[str, tuple[frozenset[str], tuple[int, ...]]] = {
    "ps_module": (POWERSHELL, (4103,)),
    "ps_script": (POWERSHELL, (4104,)),
    "ps_classic_start": (_channels("Windows PowerShell"), (400,)),
    "ps_classic_provider_start": (_channels("Windows PowerShell"), (600,)),
    "ps_classic_script": (_channels("Windows PowerShell"), (800,)),
}

#: Security 4688 (process creation) fields under the Sysmon names rules use
SECURITY_4688_ALIASES = {
    "Image": "NewProcessName", "ParentImage": "ParentProcessName", "ParentProcessId": "ProcessId",
    "ProcessId": "NewProcessId", "LogonId": "SubjectLogonId",
}
_INTEGRITY = {"S-1-16-4096": "Low", "S-1-16-8192": "Medium", "S-1-16-8448": "Medium", "S-1-16-12288": "High",
              "S-1-16-16384": "System"}

AUDITD_EXEC_FIELDS = frozenset({"Image", "CommandLine", "CurrentDirectory", "User", "LogonId", "ProcessId",
                                "ParentProcessId", "type", "_text"})

#: normalized columns (and their names as rule fields) for the line formats
TEXT_COLUMNS = {"action": "action", "actor": "actor", "target_user": "target_user", "service": "service",
                "program": "service", "host": "host", "src_ip": "src_ip", "resource": "resource",
                "outcome": "outcome", "error_code": "error_code", "session": "session", "message": "message"}


def _windows_targets() -> list[Target]:
    out: list[Target] = []
    for service, chans in windows_logsource_mapping.items():
        out.append(Target(f"win_{service.replace('-', '_')}", f"Windows {service}", WINDOWS_FORMATS,
                          (("windows", service, None),), "windows", channels=_channels(chans)))
    for cat, eids in SYSMON_CATEGORIES.items():
        out.append(Target(f"win_{cat}", f"Windows {cat} (Sysmon{' / Security 4688' if cat == 'process_creation' else ''})",
                          WINDOWS_FORMATS, (("windows", None, cat),), "windows",
                          channels=_channels(SYSMON, "Security") if cat == "process_creation" else _channels(SYSMON),
                          event_ids=frozenset(eids + ((4688,) if cat == "process_creation" else ()))))
    for cat, (ps_chans, eids) in POWERSHELL_CATEGORIES.items():
        out.append(Target(f"win_{cat}", f"Windows {cat} (PowerShell)", WINDOWS_FORMATS,
                          (("windows", None, cat),), "windows", channels=ps_chans, event_ids=frozenset(eids)))
    return out


#: Every target, in the order rules are listed.  A rule runs on each target whose
#: logsources contain its (product, service, category) exactly.
TARGETS: list[Target] = [
    Target("cloudtrail", "AWS CloudTrail", ("cloudtrail",), (("aws", "cloudtrail", None),), "json",
           columns={"eventName": "action", "eventSource": "service", "awsRegion": "region",
                    "userAgent": "user_agent", "errorCode": "error_code", "eventID": "record_id"}),
    Target("gcp_audit", "Google Cloud audit log", ("gcp-audit",), (("gcp", "gcp.audit", None),), "json",
           field_map={"gcp.audit.method_name": "protoPayload.methodName",
                      "gcp.audit.service_name": "protoPayload.serviceName",
                      "gcp.audit.resource_name": "protoPayload.resourceName",
                      "gcp.audit.principal_email": "protoPayload.authenticationInfo.principalEmail"},
           note="data.X reads the LogEntry field X (Sigma's Pub/Sub spelling)"),
    Target("azure_activity", "Azure activity log", ("azure-activity",),
           (("azure", "activitylogs", None),), "json", ci_keys=True,
           field_map={"OperationNameValue": "operationName", "CategoryValue": "category",
                      "ResourceProviderValue": "resourceProviderName", "ActivityStatusValue": "status",
                      "ResourceId": "resourceId"}),
    Target("k8s_audit", "Kubernetes audit", ("k8s-audit",),
           (("kubernetes", "audit", None), ("kubernetes", "audit", "application")), "json",
           field_map={"apiGroup": "objectRef.apiGroup", "hostPath": "requestObject.spec.volumes.hostPath.path",
                      "capabilities": "requestObject.spec.containers.securityContext.capabilities.add"}),
    Target("auditd", "Linux auditd", ("auditd",), (("linux", "auditd", None),), "auditd"),
    Target("linux_process_creation", "Linux process creation (auditd execve)", ("auditd",),
           (("linux", None, "process_creation"),), "auditd_exec", fields=AUDITD_EXEC_FIELDS),
    Target("linux_auth", "Linux auth.log / secure", ("syslog-auth",),
           (("linux", "auth", None), ("linux", "sshd", None), ("linux", "sudo", None), ("linux", "su", None),
            ("linux", "syslog", None), ("linux", "cron", None), ("linux", None, None)), "text",
           fields=frozenset(TEXT_COLUMNS) | {"pid", "_text"}),
    Target("pgaudit", "PostgreSQL / pgAudit", ("pgaudit",),
           (("postgresql", "pgaudit", None), ("postgresql", None, None)), "text",
           fields=frozenset(TEXT_COLUMNS) | {"statement", "database", "class", "command", "object_type",
                                             "object_name", "application", "_text"}),
    *_windows_targets(),
]

TARGET_BY_KEY = {t.key: t for t in TARGETS}

#: Sigma products logconsole reads (a rule of another product is listed as "no format")
PRODUCTS_READ = {"aws", "gcp", "azure", "kubernetes", "linux", "windows", "postgresql"}


def targets_for(logsource: Logsource) -> list[Target]:
    return [t for t in TARGETS if logsource in t.logsources]


def formats_of(targets: Iterable[Target]) -> set[str]:
    return {f for t in targets for f in t.formats}


# ------------------------------------------------------------------ row building


def _product(cols: list[list[str | None]]) -> Iterable[tuple[str | None, ...]]:
    if all(len(c) <= 1 for c in cols):
        return [tuple(c[0] if c else None for c in cols)]
    return itertools.islice(itertools.product(*[c or [None] for c in cols]), MAX_ROWS_PER_RECORD)


@dataclass
class Record:
    """One event as read for the working tables (decoded lazily, once)."""

    event_id: int
    format: str
    raw: bytes
    columns: dict[str, Any]  # normalized columns and extra
    _text: str | None = None
    _json: Any = None
    _json_done: bool = False

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self.raw.decode("utf-8", "replace")
        return self._text

    def json(self) -> Any:
        if not self._json_done:
            self._json_done = True
            try:
                self._json = orjson.loads(self.raw)
            except orjson.JSONDecodeError:
                self._json = None
        return self._json


_PATHS: dict[tuple[str, str], tuple[int, Any]] = {}


def _accessor(t: Target, f: str) -> tuple[int, Any]:
    """How to read field *f* of target *t*: (0, None) text, (1, column), (2, path parts); cached."""
    acc = _PATHS.get((t.key, f))
    if acc is None:
        if f == "_text":
            acc = (0, None)
        elif f in t.columns:
            acc = (1, t.columns[f])
        else:
            path = f[5:] if t.key == "gcp_audit" and f.startswith("data.") else f
            acc = (2, path.split("."))
        _PATHS[(t.key, f)] = acc
    return acc


def _json_rows(t: Target, rec: Record, fields: list[str]) -> Iterable[tuple[str | None, ...]]:
    vals: list[Any] = []
    multi = False
    obj = None
    for f in fields:
        kind, arg = _accessor(t, f)
        if kind == 1:
            v = rec.columns.get(arg)
            vals.append(v if v is None or type(v) is str else cell(v))
            continue
        if kind == 0:
            vals.append(rec.text)
            continue
        if obj is None:
            obj = rec.json()
        found = json_values(obj, arg, t.ci_keys) if obj is not None else ()
        if not found:
            vals.append(None)
        elif len(found) == 1:
            v = found[0]
            vals.append(v if type(v) is str else cell(v))
        else:
            multi = True
            vals.append([cell(x) for x in found])
    if not multi:
        return (tuple(vals),)
    return _product([v if isinstance(v, list) else ([v] if v is not None else []) for v in vals])


def _windows_flat(rec: Record) -> dict[str, Any] | None:
    obj = rec.json()
    if not isinstance(obj, dict):
        return None
    flat = event_fields(obj)
    if flat is None:
        return None
    for k in [k for k in flat if " " in k]:  # Defender's "Threat Name" is ThreatName to Sigma rules
        flat.setdefault(k.replace(" ", ""), flat[k])
    if flat.get("EventID") == 4688 and str(flat.get("Channel") or "").lower() == "security":
        sec = dict(flat)
        for sysmon_name, sec_name in SECURITY_4688_ALIASES.items():
            if sec.get(sec_name) is not None:
                flat[sysmon_name] = sec[sec_name]  # in 4688, ProcessId is the creator's (ParentProcessId)
        user = flat.get("SubjectUserName")
        if user and "User" not in flat:
            dom = flat.get("SubjectDomainName")
            flat["User"] = f"{dom}\\{user}" if dom else user
        label = flat.get("MandatoryLabel")
        if isinstance(label, str) and label in _INTEGRITY:
            flat.setdefault("IntegrityLevel", _INTEGRITY[label])
    return flat


def _flat_rows(flat: dict[str, Any], rec: Record, fields: list[str]) -> Iterable[tuple[str | None, ...]]:
    cols: list[list[str | None]] = []
    for f in fields:
        if f == "_text":
            cols.append([rec.text])
            continue
        found, v = _lookup(flat, f)
        if not found and "." in f:
            vals = json_values(flat, f.split("."), True)
            cols.append([cell(x) for x in vals])
            continue
        if isinstance(v, list):
            cols.append([cell(x) for x in v])
        else:
            cols.append([cell(v)] if v is not None else [])
    return _product(cols)


def _auditd_records(rec: Record) -> list[dict[str, str]]:
    out = []
    for line in rec.raw.split(b"\n"):
        if not line.strip():
            continue
        try:
            out.append(record_fields(line))
        except ParseError:
            continue
    return out


def _auditd_exec(recs: list[dict[str, str]]) -> dict[str, Any] | None:
    execve = next((r for r in recs if r.get("type") == "EXECVE"), None)
    if execve is None:
        return None
    sysc = next((r for r in recs if r.get("type") == "SYSCALL"), {})
    cwd = next((r for r in recs if r.get("type") == "CWD"), {})
    try:
        argc = int(execve.get("argc", "0"))
    except ValueError:
        argc = 0
    args = [execve.get(f"a{i}", "") for i in range(argc)] if argc else [
        v for k, v in sorted(((k, v) for k, v in execve.items() if k[:1] == "a" and k[1:].isdigit()),
                             key=lambda kv: int(kv[0][1:]))]
    return {"type": "EXECVE", "Image": sysc.get("exe"), "CommandLine": " ".join(args),
            "CurrentDirectory": cwd.get("cwd"), "User": sysc.get("UID") or sysc.get("uid"),
            "LogonId": sysc.get("auid"), "ProcessId": sysc.get("pid"), "ParentProcessId": sysc.get("ppid")}


def _text_flat(rec: Record) -> dict[str, Any]:
    flat = dict(rec.columns.get("extra") or {})
    for name, col in TEXT_COLUMNS.items():
        flat[name] = rec.columns.get(col)
    return flat


RowBuilder = Callable[[Record, list[str]], Iterable[tuple[str | None, ...]]]


def rows_for(t: Target, rec: Record, fields: list[str], cache: dict[str, Any]) -> Iterable[tuple[str | None, ...]]:
    """The working-table rows of *rec* for target *t* (columns in *fields* order);
    *cache* holds the per-record decoded view shared by the targets of one reader."""
    if t.reader == "json":
        return _json_rows(t, rec, fields)
    if t.reader == "windows":
        if "windows" not in cache:
            cache["windows"] = _windows_flat(rec)
        flat = cache["windows"]
        if flat is None or not t.accepts(flat):
            return ()
        return _flat_rows(flat, rec, fields)
    if t.reader in ("auditd", "auditd_exec"):
        if "auditd" not in cache:
            cache["auditd"] = _auditd_records(rec)
        if t.reader == "auditd":
            out: list[tuple[str | None, ...]] = []
            for r in cache["auditd"]:
                out.extend(_flat_rows(r, rec, fields))
            return out
        ex = _auditd_exec(cache["auditd"])
        return _flat_rows(ex, rec, fields) if ex is not None else ()
    if t.reader == "text":
        return _flat_rows(_text_flat(rec), rec, fields)
    raise ValueError(f"unknown reader {t.reader!r}")
