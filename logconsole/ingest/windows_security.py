"""Windows event logs (Security and any other channel) exported as JSON.

Every exporter spells an event differently; each record is first brought to one
view (system fields + EventData name/value pairs) and then mapped:

* flat records (NXLog/Logstash "Mordor" JSON lines, Azure Monitor Agent /
  Sentinel and Log Analytics ``SecurityEvent`` exports): ``EventID``,
  ``Channel``, ``Computer``/``Hostname``, ``EventRecordID``/``RecordNumber``,
  EventData fields at the top level and/or as an ``EventData`` XML string;
* ``evtx_dump``/python-evtx JSON: ``{"Event": {"System": {...}, "EventData": {...}}}``;
* Winlogbeat/Elastic: ``winlog.{event_id,record_id,channel,computer_name,event_data}``;
* EvtxECmd JSON: ``EventId``, ``EventRecordId``, ``Payload`` (JSON string);
* ``Get-WinEvent | ConvertTo-Json``: ``Id``, ``RecordId``, ``LogName``, ``MachineName``.

Times: ``TimeCreated`` (UTC) when present.  NXLog's ``EventTime`` is local time
without a zone: the offset is inferred per record from ``@timestamp`` (UTC,
set by Logstash on receipt) minus ``EventReceivedTime`` (the same instant in the
collector's local time), rounded to 15 minutes; ``extra.time_zone`` says what was
done.  Option ``tz`` (``"+02:00"``, ``"UTC"`` or an IANA name such as
``"America/New_York"``, DST-aware) overrides the inference.  Sysmon records use
their own ``UtcTime`` (UTC, milliseconds) when there is no ``TimeCreated``.
"""

from __future__ import annotations

import html
import json
import re
from datetime import datetime, timedelta, tzinfo
from typing import Any
from collections.abc import Iterator

from logconsole.ingest.base import Event, Evidence, FormatFacts, ParseError, Parser, Quarantined, as_dict
from logconsole.ingest.jsonrecords import (
    as_str, clean_text, container_kind, parse_json_records, mostly, sample_objects,
    strip_head,
)
from logconsole.ingest.reader import Input, Sample
from logconsole.util.timeparse import parse_iso, parse_time, parse_tz

_CONTAINER_KEYS = ("Events", "events", "records", "value")
AUDIT_SUCCESS = 0x20000000000000
AUDIT_FAILURE = 0x10000000000000
_NULL = {"", "-", "S-1-0-0", "%%1793", "NULL SID"}
_DATA_RE = re.compile(r'<Data\s+Name\s*=\s*["\']([^"\']+)["\']\s*(?:/>|>(.*?)</Data>)', re.S)
_DATE_MS = re.compile(r"^/Date\((-?\d+)\)/$")

#: Security channel event id -> readable action
SECURITY_ACTIONS = {
    1100: "eventlog-shutdown", 1102: "log-cleared", 1104: "log-full", 1108: "eventlog-error",
    4608: "system-startup", 4616: "system-time-changed", 4618: "security-event-pattern",
    4624: "logon", 4625: "logon-failed", 4627: "group-membership", 4634: "logoff", 4647: "logoff-user-initiated",
    4648: "explicit-credential-logon", 4656: "object-handle-requested", 4657: "registry-value-modified",
    4658: "object-handle-closed", 4660: "object-deleted", 4661: "object-handle-requested-ds",
    4662: "ds-object-operation", 4663: "object-access", 4664: "hard-link-created", 4670: "permissions-changed",
    4672: "special-privileges-assigned", 4673: "privileged-service-called", 4674: "privileged-object-operation",
    4688: "process-created", 4689: "process-exited", 4690: "handle-duplicated", 4692: "dpapi-backup",
    4697: "service-installed", 4698: "scheduled-task-created", 4699: "scheduled-task-deleted",
    4700: "scheduled-task-enabled", 4701: "scheduled-task-disabled", 4702: "scheduled-task-updated",
    4703: "token-right-adjusted", 4704: "user-right-assigned", 4705: "user-right-removed",
    4706: "trust-created", 4713: "kerberos-policy-changed", 4715: "audit-policy-sd-changed",
    4717: "system-access-granted", 4718: "system-access-removed", 4719: "audit-policy-changed",
    4720: "user-created", 4722: "user-enabled", 4723: "password-change-attempt", 4724: "password-reset",
    4725: "user-disabled", 4726: "user-deleted", 4727: "group-created", 4728: "group-member-added",
    4729: "group-member-removed", 4730: "group-deleted", 4731: "group-created", 4732: "group-member-added",
    4733: "group-member-removed", 4734: "group-deleted", 4735: "group-changed", 4737: "group-changed",
    4738: "user-changed", 4739: "domain-policy-changed", 4740: "user-locked-out", 4741: "computer-created",
    4742: "computer-changed", 4743: "computer-deleted", 4754: "group-created", 4755: "group-changed",
    4756: "group-member-added", 4757: "group-member-removed", 4758: "group-deleted", 4764: "group-type-changed",
    4765: "sid-history-added", 4766: "sid-history-add-failed", 4767: "user-unlocked",
    4768: "kerberos-tgt-requested", 4769: "kerberos-service-ticket-requested", 4770: "kerberos-ticket-renewed",
    4771: "kerberos-preauth-failed", 4772: "kerberos-tgt-failed", 4776: "credential-validation",
    4778: "session-reconnected", 4779: "session-disconnected", 4780: "admin-acl-set", 4781: "account-renamed",
    4782: "password-hash-accessed", 4793: "password-policy-checked", 4794: "dsrm-password-set-attempt",
    4798: "user-groups-enumerated", 4799: "group-members-enumerated", 4800: "workstation-locked",
    4801: "workstation-unlocked", 4817: "object-audit-changed", 4902: "per-user-audit-table-created",
    4904: "security-source-registered", 4905: "security-source-unregistered", 4906: "crash-on-audit-fail-changed",
    4907: "object-audit-settings-changed", 4912: "per-user-audit-policy-changed", 4946: "firewall-rule-added",
    4947: "firewall-rule-modified", 4948: "firewall-rule-deleted", 4964: "special-groups-logon",
    5136: "ds-object-modified", 5137: "ds-object-created", 5139: "ds-object-moved", 5141: "ds-object-deleted",
    5140: "share-accessed", 5142: "share-added", 5143: "share-modified", 5144: "share-deleted",
    5145: "share-object-checked", 5152: "wfp-packet-dropped", 5154: "wfp-listen-permitted",
    5156: "wfp-connection-allowed", 5157: "wfp-connection-blocked", 5158: "wfp-bind-allowed",
    5159: "wfp-bind-blocked", 5376: "credential-manager-backup", 5377: "credential-manager-restore",
    5379: "credential-manager-read", 6416: "external-device-recognized",
}
SYSMON_ACTIONS = {
    1: "process-created", 2: "file-time-changed", 3: "network-connection", 4: "sysmon-state-changed",
    5: "process-terminated", 6: "driver-loaded", 7: "image-loaded", 8: "remote-thread-created",
    9: "raw-disk-read", 10: "process-accessed", 11: "file-created", 12: "registry-object-added-deleted",
    13: "registry-value-set", 14: "registry-renamed", 15: "file-stream-created", 16: "sysmon-config-changed",
    17: "pipe-created", 18: "pipe-connected", 19: "wmi-filter", 20: "wmi-consumer", 21: "wmi-binding",
    22: "dns-query", 23: "file-deleted", 24: "clipboard-changed", 25: "process-tampering",
    26: "file-delete-detected", 27: "file-block-executable", 28: "file-block-shredding", 29: "file-executable-detected",
    255: "sysmon-error",
}
SYSTEM_ACTIONS = {104: "log-cleared", 7034: "service-crashed", 7036: "service-state-changed",
                  7040: "service-start-type-changed", 7045: "service-installed", 6005: "eventlog-started",
                  6006: "eventlog-stopped", 1074: "shutdown-initiated"}
#: other channels (matched by a lower-case substring of the channel name) -> {event id: action}
OTHER_ACTIONS = {
    "powershell/operational": {4103: "powershell-pipeline-executed", 4104: "powershell-script-block",
                               4105: "powershell-command-started", 4106: "powershell-command-stopped"},
    "windows powershell": {400: "powershell-engine-started", 403: "powershell-engine-stopped",
                           600: "powershell-provider-started", 800: "powershell-pipeline-executed"},
    "terminalservices-localsessionmanager": {21: "rdp-session-logon", 22: "rdp-shell-started",
                                             23: "rdp-session-logoff", 24: "rdp-session-disconnected",
                                             25: "rdp-session-reconnected"},
    "terminalservices-remoteconnectionmanager": {1149: "rdp-authentication-succeeded"},
    "windows defender/operational": {1116: "malware-detected", 1117: "malware-action-taken",
                                     5001: "realtime-protection-disabled", 5007: "defender-config-changed"},
    "taskscheduler/operational": {106: "scheduled-task-registered", 140: "scheduled-task-updated",
                                  141: "scheduled-task-deleted", 200: "scheduled-task-action-started",
                                  201: "scheduled-task-action-completed"},
    "wmi-activity/operational": {5861: "wmi-permanent-subscription"},
    "bits-client/operational": {59: "bits-job-started"},
}
LOGON_TYPES = {
    0: "System", 2: "Interactive", 3: "Network", 4: "Batch", 5: "Service", 7: "Unlock", 8: "NetworkCleartext",
    9: "NewCredentials", 10: "RemoteInteractive", 11: "CachedInteractive", 12: "CachedRemoteInteractive",
    13: "CachedUnlock",
}
NTSTATUS = {
    "0xc0000064": "user name does not exist", "0xc000006a": "wrong password", "0xc000006d": "bad user name or password",
    "0xc000006e": "account restriction", "0xc000006f": "outside authorized hours", "0xc0000070": "workstation restriction",
    "0xc0000071": "password expired", "0xc0000072": "account disabled", "0xc00000dc": "server in wrong state",
    "0xc0000133": "clock skew", "0xc000015b": "logon type not granted", "0xc000018c": "trust failure",
    "0xc0000192": "netlogon not started", "0xc0000193": "account expired", "0xc0000224": "password must change",
    "0xc0000225": "windows bug", "0xc0000234": "account locked out", "0xc00002ee": "failure", "0xc0000413": "authentication firewall",
    "0xc000005e": "no logon servers",
}
#: message-table insertion strings that appear in EventData
_MSG_STRINGS = {
    "%%1842": "Yes", "%%1843": "No", "%%1832": "Identification", "%%1833": "Impersonation",
    "%%1840": "Delegation", "%%1841": "Denied by Process Trust Label ACE", "%%1936": "Type 1 (full token)",
    "%%1937": "Type 2 (elevated)", "%%1938": "Type 3 (limited)",
}
#: events whose actor is the Target* account (who logged on / off / authenticated)
_TARGET_ACTOR = {4624, 4625, 4634, 4647, 4768, 4769, 4770, 4771, 4772, 4776, 4778, 4779, 4964}
#: events whose Target* account is acted upon by the Subject
_TARGET_USER = {4648, 4720, 4722, 4723, 4724, 4725, 4726, 4738, 4740, 4767, 4781, 4794, 4798, 4688}
_GROUP_EVENTS = {4727, 4728, 4729, 4730, 4731, 4732, 4733, 4734, 4735, 4737, 4754, 4755, 4756, 4757, 4758, 4764, 4799}
#: EventData names copied to ``extra`` (first present name wins), in this order
_EXTRA_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("auth_package", ("AuthenticationPackageName",)), ("logon_process", ("LogonProcessName",)),
    ("workstation", ("WorkstationName", "Workstation")), ("ip_port", ("IpPort",)),
    ("logon_guid", ("LogonGuid",)), ("linked_logon_id", ("TargetLinkedLogonId",)),
    ("elevated_token", ("ElevatedToken",)), ("command_line", ("CommandLine",)),
    ("parent_process", ("ParentProcessName", "ParentImage")), ("parent_command_line", ("ParentCommandLine",)),
    ("process_name", ("ProcessName", "Image")), ("process_id", ("NewProcessId", "ProcessId")),
    ("object_type", ("ObjectType",)), ("access_mask", ("AccessMask", "GrantedAccess")),
    ("service_file", ("ServiceFileName", "ImagePath")), ("target_server", ("TargetServerName",)),
    ("share", ("ShareName",)), ("relative_target", ("RelativeTargetName",)),
    ("destination_ip", ("DestAddress", "DestinationIp")), ("destination_port", ("DestPort", "DestinationPort")),
    ("hashes", ("Hashes",)), ("category", ("Category",)), ("task_name", ("TaskName",)),
    ("audit_policy_changes", ("AuditPolicyChanges",)), ("subcategory", ("SubcategoryGuid",)),
    ("failure_reason", ("FailureReason",)), ("ticket_options", ("TicketOptions",)),
    ("ticket_encryption", ("TicketEncryptionType",)), ("service_name", ("ServiceName",)),
)
_EXTRA_INDEX = {n: i for i, (_key, names) in enumerate(_EXTRA_FIELDS) for n in names}
_RESOURCE_KEYS = ("ObjectName", "NewProcessName", "TargetFilename", "TargetObject", "ImageLoaded", "TargetImage",
                  "Image", "ServiceName", "TaskName", "ShareName", "TargetServerName", "Application", "PipeName",
                  "QueryName")


def _is_windows(obj: dict[str, Any]) -> str | None:
    """The exporter shape of a Windows event object, or None."""
    ev = obj.get("Event")
    if isinstance(ev, dict) and isinstance(ev.get("System"), dict):
        return "evtx"
    wl = obj.get("winlog")
    if isinstance(wl, dict) and ("event_id" in wl or "channel" in wl):
        return "winlogbeat"
    if "EventID" in obj and any(k in obj for k in ("Channel", "EventRecordID", "RecordNumber", "Computer",
                                                   "Hostname", "SourceName", "EventSourceName")):
        return "flat"
    if "EventId" in obj and "EventRecordId" in obj and "Channel" in obj:
        return "evtxecmd"
    if "Id" in obj and "RecordId" in obj and "LogName" in obj:
        return "getwinevent"
    return None


class WindowsView:
    """One event brought to a common shape."""

    __slots__ = (
        "channel",
        "computer",
        "data",
        "event_id",
        "event_type",
        "keywords",
        "provider",
        "rec",
        "record_number",
        "shape",
        "time_field",
        "time_raw",
    )

    def __init__(self) -> None:
        self.event_id: int | None = None
        self.record_number: int | None = None
        self.channel: str | None = None
        self.provider: str | None = None
        self.computer: str | None = None
        self.keywords: Any = None
        self.event_type: str | None = None
        self.time_raw: Any = None
        self.time_field: str | None = None
        self.data: dict[str, Any] = {}
        self.rec: dict[str, Any] = {}
        self.shape = "flat"


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        s = v.strip()
        try:
            return int(s, 16) if s.lower().startswith("0x") else int(s)
        except ValueError:
            return None
    if isinstance(v, dict):  # evtx_dump: {"#text": 4624, "#attributes": {...}}
        return _int(v.get("#text"))
    return None


def _named_data(data: dict[str, Any]) -> dict[str, Any]:
    """xmltodict-style ``{"Data": [{"@Name": k, "#text": v}, ...]}`` flattened to ``{k: v}``."""
    items = data.get("Data")
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        return data
    out = {k: v for k, v in data.items() if k not in ("Data", "#attributes", "@xmlns")}
    for it in items:
        if not isinstance(it, dict):
            continue
        name = it.get("@Name")
        if name is None and isinstance(it.get("#attributes"), dict):
            name = it["#attributes"].get("Name")
        if isinstance(name, str):
            out.setdefault(name, it.get("#text"))
    return out


def _xml_data(xml: str) -> dict[str, str]:
    if len(xml) > 1_000_000:
        return {}
    out: dict[str, str] = {}
    for m in _DATA_RE.finditer(xml):
        out[m.group(1)] = html.unescape(m.group(2) or "")
    return out


def windows_view(obj: dict[str, Any], shape: str) -> WindowsView:
    """*obj* (an exporter's record of the given *shape*, see :func:`_is_windows`) brought to one view;
    raises :class:`ParseError` without an event id."""
    v = WindowsView()
    v.rec = obj
    v.shape = shape
    if shape == "evtx":
        ev = obj["Event"]
        sysd = ev["System"]
        v.event_id = _int(sysd.get("EventID"))
        v.record_number = _int(sysd.get("EventRecordID"))
        v.channel = as_str(sysd.get("Channel"))
        prov = sysd.get("Provider")
        if isinstance(prov, dict):
            pa = prov["#attributes"] if isinstance(prov.get("#attributes"), dict) else prov
            prov = pa.get("Name") or pa.get("@Name")
        v.provider = as_str(prov)
        v.computer = as_str(sysd.get("Computer"))
        v.keywords = sysd.get("Keywords")
        tc = sysd.get("TimeCreated")
        if isinstance(tc, dict):
            attrs = tc["#attributes"] if isinstance(tc.get("#attributes"), dict) else tc
            v.time_raw = attrs.get("SystemTime") or tc.get("@SystemTime")  # evtx_dump / xmltodict
            v.time_field = "System.TimeCreated.SystemTime"
        data = ev.get("EventData")
        if not isinstance(data, dict):
            ud = ev.get("UserData")
            if isinstance(ud, dict) and len(ud) == 1 and isinstance(next(iter(ud.values())), dict):
                data = next(iter(ud.values()))  # e.g. UserData.LogFileCleared
            else:
                data = {}
        sec = sysd.get("Security")
        if isinstance(sec, dict):
            sa = sec["#attributes"] if isinstance(sec.get("#attributes"), dict) else sec
            uid = sa.get("UserID") or sa.get("@UserID")
            if uid and "UserID" not in data:
                data = {**data, "UserID": uid}
        v.data = {k: val for k, val in _named_data(data).items() if k != "#attributes"}
    elif shape == "winlogbeat":
        wl = obj["winlog"]
        v.event_id = _int(wl.get("event_id")) or _int((obj.get("event") or {}).get("code") if isinstance(obj.get("event"), dict) else None)
        v.record_number = _int(wl.get("record_id"))
        v.channel = as_str(wl.get("channel"))
        v.provider = as_str(wl.get("provider_name"))
        v.computer = as_str(wl.get("computer_name"))
        v.keywords = wl.get("keywords")
        v.time_raw, v.time_field = obj.get("@timestamp"), "@timestamp"
        data = as_dict(wl.get("event_data"))
        ud = wl.get("user_data")
        if not data and isinstance(ud, dict):
            data = ud
        v.data = dict(data)
        if isinstance(obj.get("event"), dict) and as_str(obj["event"].get("outcome")):
            v.event_type = "AUDIT_" + obj["event"]["outcome"].upper()
    elif shape == "evtxecmd":
        v.event_id = _int(obj.get("EventId"))
        v.record_number = _int(obj.get("EventRecordId"))
        v.channel = as_str(obj.get("Channel"))
        v.provider = as_str(obj.get("Provider"))
        v.computer = as_str(obj.get("Computer"))
        v.keywords = obj.get("Keywords")
        v.time_raw, v.time_field = obj.get("TimeCreated"), "TimeCreated"
        payload = obj.get("Payload")
        data = {}
        if isinstance(payload, str) and len(payload) < 1_000_000:
            try:
                pl = json.loads(payload)
            except (ValueError, RecursionError):
                pl = None
            items = pl.get("EventData", {}).get("Data") if isinstance(pl, dict) and isinstance(pl.get("EventData"), dict) else None
            if isinstance(items, dict):
                items = [items]
            if isinstance(items, list):
                for it in items:
                    if isinstance(it, dict) and isinstance(it.get("@Name"), str):
                        data[it["@Name"]] = it.get("#text")
        v.data = data
    elif shape == "getwinevent":
        v.event_id = _int(obj.get("Id"))
        v.record_number = _int(obj.get("RecordId"))
        v.channel = as_str(obj.get("LogName"))
        v.provider = as_str(obj.get("ProviderName"))
        v.computer = as_str(obj.get("MachineName"))
        v.keywords = obj.get("KeywordsDisplayNames") or obj.get("Keywords")
        v.time_raw, v.time_field = obj.get("TimeCreated"), "TimeCreated"
        v.data = {}
    else:  # flat
        v.event_id = _int(obj.get("EventID"))
        v.record_number = _int(obj.get("EventRecordID")) if obj.get("EventRecordID") is not None else _int(obj.get("RecordNumber"))
        v.channel = as_str(obj.get("Channel"))
        v.provider = as_str(obj.get("Provider") if isinstance(obj.get("Provider"), str) else None) or as_str(
            obj.get("SourceName") or obj.get("EventSourceName"))
        v.computer = as_str(obj.get("Computer") or obj.get("Hostname") or obj.get("MachineName"))
        v.keywords = obj.get("Keywords")
        v.event_type = as_str(obj.get("EventType"))
        data = dict(obj)
        ed = obj.get("EventData")
        if isinstance(ed, str) and "<Data" in ed:
            for k, val in _xml_data(ed).items():
                data.setdefault(k, val)
        elif isinstance(ed, dict):
            for k, val in _named_data(ed).items():
                data.setdefault(k, val)
        v.data = data
    if v.event_id is None:
        raise ParseError("missing EventID")
    return v


class WindowsSecurityParser(Parser):
    name = "windows-security"
    version = "1"
    description = "Windows event logs as JSON (NXLog/Mordor, Sentinel/AMA, evtx_dump, Winlogbeat, EvtxECmd): Security and other channels"
    facts = FormatFacts(short_label="win", timestamp_desc="Windows event time created", sequence="windows",
                        verify_hint="sequence analysis of the ingested record ids: logconsole verify --from-index (s in the console)")

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._tz = _tz_option(options.get("tz"))
        self._last_inferred: int | None = None
        #: how zone-less local times were converted in this source: {note: count}
        self._zones: dict[str, int] = {}

    def sniff(self, sample: Sample) -> Evidence | None:
        objs, tried = sample_objects(sample, keys=_CONTAINER_KEYS)
        if mostly(len(objs), tried):
            shapes = [s for s in (_is_windows(o) for o in objs) if s]
            if mostly(len(shapes), tried):
                return Evidence(95, f"{len(shapes)} of {tried} JSON line(s) are Windows events ({shapes[0]} export: "
                                    "EventID, Channel, record number)")
            return None
        head = strip_head(sample.data[:65536])
        kind, _ = container_kind(head, _CONTAINER_KEYS)
        if kind == "lines":
            return None
        if b'"EventID"' in head and (b'"EventRecordID"' in head or b'"RecordNumber"' in head) and b'"Channel"' in head:
            return Evidence(90, "JSON container of Windows events (EventID, EventRecordID, Channel)")
        if b'"System"' in head and b'"EventRecordID"' in head and b'"Event"' in head:
            return Evidence(90, "JSON container of evtx_dump-style Windows events (Event.System)")
        if b'"winlog"' in head and b'"event_id"' in head:
            return Evidence(90, "JSON container of Winlogbeat Windows events")
        if b'"EventId"' in head and b'"EventRecordId"' in head and b'"Channel"' in head:
            return Evidence(90, "JSON container of EvtxECmd Windows events")
        if b'"RecordId"' in head and b'"LogName"' in head and b'"MachineName"' in head and b'"Id"' in head:
            return Evidence(85, "JSON container of Get-WinEvent | ConvertTo-Json records")
        return None

    def source_options(self) -> dict[str, Any]:
        """The options, plus how zone-less local times were converted (stored on the source)."""
        opts = super().source_options()
        if self._zones:
            opts["local_time_conversion"] = dict(sorted(self._zones.items()))
        return opts

    def parse(self, inp: Input) -> Iterator[Event | Quarantined]:
        yield from parse_json_records(inp, _CONTAINER_KEYS, self.to_event)

    # ------------------------------------------------------------------ time
    def _time(self, v: WindowsView, extra: dict[str, Any]) -> tuple[int, str]:
        rec = v.rec
        cands: list[tuple[str, Any]] = []
        if v.time_raw not in (None, ""):
            cands.append((v.time_field or "TimeCreated", v.time_raw))
        if v.shape == "flat":
            order: tuple[str, ...] = ("TimeCreated", "EventTime", "TimeGenerated", "UtcTime", "@timestamp", "Timestamp")
            if _channel_kind(v.channel, v.provider) == "sysmon":
                # Sysmon's own UtcTime is UTC with milliseconds: better than a zone-less EventTime
                order = ("TimeCreated", "UtcTime") + order[1:]
            for k in order:
                if rec.get(k) not in (None, ""):
                    cands.append((k, rec[k]))
        if not cands:
            raise ParseError("missing TimeCreated/EventTime")
        field, raw = cands[0]
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
            raise ParseError(f"{field} has wrong type {type(raw).__name__}")
        if isinstance(raw, str):
            m = _DATE_MS.match(raw.strip())
            if m:  # ConvertTo-Json: /Date(ms)/
                return parse_time(int(m.group(1))), field
        if isinstance(raw, str) and _naive(raw):
            naive_us = parse_iso(raw)
            off = self._offset_for(rec, extra, naive_us)
            if field == "UtcTime":
                extra["time_zone"] = "UTC (Sysmon UtcTime)"
                return naive_us, field
            note = extra.get("time_zone")
            if note:
                self._zones[note] = self._zones.get(note, 0) + 1
            return naive_us - off, field
        if field == "TimeCreated" and isinstance(rec.get("TimeGenerated"), str) and rec.get("TimeGenerated") != raw:
            extra["time_generated"] = rec["TimeGenerated"]
        return parse_time(raw), field

    def _offset_for(self, rec: dict[str, Any], extra: dict[str, Any], naive_us: int) -> int:
        """µs to subtract from a zone-less local time (*naive_us*, read as if UTC) to get UTC."""
        if self._tz is not None:
            local = (datetime(1970, 1, 1) + timedelta(microseconds=naive_us))
            delta = self._tz.utcoffset(local) or timedelta(0)
            off = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
            extra["time_zone"] = f"{_fmt_off(off)} (tz option {self.options.get('tz')})"
            return off
        ts, recv = rec.get("@timestamp"), rec.get("EventReceivedTime")
        if isinstance(ts, str) and isinstance(recv, str) and _naive(recv) and not _naive(ts):
            try:
                diff = parse_iso(recv) - parse_iso(ts)
            except ParseError:
                diff = None
            if diff is not None and abs(diff) <= 14 * 3600 * 1_000_000:
                q = 15 * 60 * 1_000_000
                off = int(round(diff / q)) * q
                self._last_inferred = off
                extra["time_zone"] = f"{_fmt_off(off)} (inferred: EventReceivedTime vs @timestamp)"
                return off
        if self._last_inferred is not None:
            extra["time_zone"] = f"{_fmt_off(self._last_inferred)} (inferred from earlier records)"
            return self._last_inferred
        extra["time_zone"] = "assumed UTC (local time without zone; use --tz)"
        return 0

    # ---------------------------------------------------------------- mapping
    def to_event(self, rec: dict[str, Any], raw: str, *, line: int | None = None,
                 rec_index: int | None = None) -> Event:
        shape = _is_windows(rec)
        if shape is None:
            raise ParseError("not a Windows event (no EventID)")
        v = windows_view(rec, shape)
        extra: dict[str, Any] = {"event_id": v.event_id}
        ts, ts_field = self._time(v, extra)
        ts_raw = rec.get(ts_field) if v.shape == "flat" else v.time_raw
        extra["time_field"] = ts_field
        return map_event(v, raw, fmt=self.name, ts_us=ts, ts_raw=ts_raw, extra=extra, line=line, rec_index=rec_index)


# ------------------------------------------------------------------ mapping


def map_event(v: WindowsView, raw: str, *, fmt: str, ts_us: int, ts_raw: Any, extra: dict[str, Any],
              line: int | None = None, rec_index: int | None = None) -> Event:
    """One Windows event (any exporter's shape, brought to a :class:`WindowsView`) mapped to
    the normalized columns: actor, action, target, resource, outcome, source address, host.

    Shared by the JSON exports (``windows-security``) and binary ``.evtx`` files
    (:mod:`logconsole.ingest.evtx_file`); *extra* already holds what the caller knows
    (event id, time field) and is completed here."""
    d = v.data
    eid = v.event_id
    ts = ts_us
    channel = v.channel
    kind = _channel_kind(channel, v.provider)
    if channel:
        extra["channel"] = channel
    if v.provider:
        extra["provider"] = v.provider
    if v.record_number is not None:
        extra["record_number"] = v.record_number
    if v.shape != "flat":
        extra["export"] = v.shape
    action = _action(kind, eid, channel)

    def g(*names: str) -> str | None:
        for n in names:
            val = d.get(n)
            if val is None:  # most names are absent: no call for them
                continue
            s = as_str(val)
            if s is not None:
                s = s.strip()
                if s not in _NULL:
                    return s
        return None

    subj = _account(g("SubjectDomainName"), g("SubjectUserName"))
    subj_sid = g("SubjectUserSid")
    tgt = _account(g("TargetDomainName"), g("TargetUserName"))
    tgt_sid = g("TargetUserSid", "TargetSid")
    actor = actor_uid = session = target_user = None
    resource = None
    if eid in _TARGET_ACTOR and kind == "security":
        actor, actor_uid = tgt, tgt_sid
        session = g("TargetLogonId")
        if subj and subj != actor:
            extra["subject"] = subj
        if eid in (4768, 4769, 4770) and not actor:
            actor = g("TargetUserName")
    elif eid in _GROUP_EVENTS and kind == "security":
        actor, actor_uid, session = subj, subj_sid, g("SubjectLogonId")
        resource = tgt  # the group
        member = g("MemberName", "MemberSid")
        if member:
            target_user = member
            extra["member"] = member
    elif kind == "security" and (subj or tgt):
        actor, actor_uid, session = subj, subj_sid, g("SubjectLogonId")
        if eid in _TARGET_USER and tgt:
            target_user = tgt
            if tgt_sid:
                extra["target_sid"] = tgt_sid
        if actor is None and tgt:
            actor, actor_uid = tgt, tgt_sid
    elif kind == "sysmon":
        actor = g("User")
        session = g("LogonId")
    else:
        actor = subj or tgt or g("User") or _account(g("Domain"), g("AccountName"))
        actor_uid = subj_sid or g("UserID")
        session = g("SubjectLogonId", "LogonId")
    if actor is None and kind == "security" and eid == 1102:
        actor = _account(g("SubjectDomainName"), g("SubjectUserName"))
    actor_type = _actor_type(actor, actor_uid)
    # ---- logon details
    lt = _int(d.get("LogonType"))
    if lt is not None:
        extra["logon_type"] = lt
        extra["logon_type_name"] = LOGON_TYPES.get(lt, str(lt))
    # only the entries some name of which the record has, in table order
    for i in sorted({_EXTRA_INDEX[n] for n in d if n in _EXTRA_INDEX}):
        key, names = _EXTRA_FIELDS[i]
        val = g(*names)
        if val is not None:
            extra[key] = val[:4000]
    tet = g("TokenElevationType")
    if tet:
        extra["token_elevation"] = _MSG_STRINGS.get(tet, tet)
    if "elevated_token" in extra:
        extra["elevated_token"] = _MSG_STRINGS.get(extra["elevated_token"], extra["elevated_token"])
    imp = g("ImpersonationLevel")
    if imp:
        extra["impersonation_level"] = _MSG_STRINGS.get(imp, imp)
    privs = g("PrivilegeList")
    if privs:
        extra["privileges"] = privs.split()
    # ---- outcome
    outcome = _outcome(v)
    err = None
    status = g("Status")
    sub = g("SubStatus")
    if eid == 4625 and kind == "security":
        outcome = "failure"
        err = sub if sub and sub.lower() != "0x0" else status
    elif eid in (4771, 4772) and kind == "security":
        outcome = "failure"
        err = g("FailureCode") or status
    elif eid in (4768, 4769, 4776) and kind == "security" and status:
        if status.lower() not in ("0x0", "0"):
            outcome = "failure"
            err = status
        elif outcome == "unknown":
            outcome = "success"
    if err:
        extra["status"] = err
        txt = NTSTATUS.get(err.lower())
        if txt:
            extra["status_text"] = txt
    # ---- source address
    src_ip = None
    for k in ("IpAddress", "ClientAddress", "SourceAddress", "SourceIp"):
        s = g(k)
        if s:
            src_ip = s[7:] if s.startswith("::ffff:") else s
            break
    if resource is None:
        if eid == 4648 and kind == "security":
            resource = g("TargetServerName")
        else:
            resource = g(*_RESOURCE_KEYS)
    host = v.computer
    record_id = None
    dedup = None
    if v.record_number is not None:
        record_id = "/".join(str(p) for p in (host, channel, v.record_number) if p is not None)
        if host and channel:
            dedup = record_id
    msg = f"[{eid}] {actor or '?'} {action}"
    if lt is not None and action.startswith(("logon", "logoff", "explicit")):
        msg += f" type {lt} ({LOGON_TYPES.get(lt, '?')})"
    if target_user:
        msg += f" target {target_user}"
    if resource:
        msg += f" {resource}"
    if extra.get("command_line") and resource and extra["command_line"] != resource:
        msg += f" cmd: {extra['command_line']}"
    if src_ip:
        msg += f" from {src_ip}"
    if outcome == "failure":
        msg += " -> failure" + (f" {err}" if err else "") + (f" ({extra['status_text']})" if extra.get("status_text") else "")
    return Event(
        ts_us=ts, ts_raw=as_str(ts_raw), raw=raw, format=fmt, line=line, rec_index=rec_index,
        record_id=record_id, dedup_key=dedup, service=channel, action=action, outcome=outcome,
        error_code=err, actor=actor, actor_type=actor_type, actor_uid=actor_uid, session=session,
        target_user=target_user, src_ip=src_ip, user_agent=None, host=host, resource=resource,
        account=None, region=None, message=clean_text(msg, 2000), extra=extra,
    )


# ------------------------------------------------------------------ helpers


def _naive(s: str) -> bool:
    """An ISO-ish time string without zone information."""
    t = s.strip()
    if not re.match(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", t):
        return False
    return not re.search(r"(Z|z|[+-]\d{2}:?\d{2}|UTC|GMT)$", t)


def _tz_option(v: Any) -> tzinfo | None:
    """``+HH:MM`` / ``-HHMM``, ``UTC``/``Z``, or an IANA zone name (DST-aware)."""
    if v in (None, ""):
        return None
    return parse_tz(str(v))


def _fmt_off(us: int) -> str:
    sign = "+" if us >= 0 else "-"
    m = abs(us) // 60_000_000
    return f"{sign}{m // 60:02d}:{m % 60:02d}"


def _channel_kind(channel: str | None, provider: str | None) -> str:
    c = (channel or "").lower()
    if c == "security":
        return "security"
    if "sysmon" in c or (provider or "").lower() == "microsoft-windows-sysmon":
        return "sysmon"
    if c == "system":
        return "system"
    return "other"


def _action(kind: str, eid: int | None, channel: str | None) -> str:
    table = {"security": SECURITY_ACTIONS, "sysmon": SYSMON_ACTIONS, "system": SYSTEM_ACTIONS}.get(kind)
    if table and eid in table:
        return table[eid]
    if kind == "security":
        return f"security-{eid}"
    low = (channel or "").lower()
    for key, names in OTHER_ACTIONS.items():
        if key in low and eid in names:
            return names[eid]
    return f"{channel or 'unknown'}:{eid}"


def _account(domain: str | None, user: str | None) -> str | None:
    """``DOMAIN\\user`` with a DNS domain reduced to its first label (THESHIRE.LOCAL -> THESHIRE)."""
    if not user:
        return None
    if "\\" in user or "@" in user:
        return user
    if not domain:
        return user
    if "." in domain:
        domain = domain.split(".", 1)[0].upper()
    return f"{domain}\\{user}"


def _actor_type(actor: str | None, sid: str | None) -> str | None:
    if actor is not None and actor.rsplit("\\", 1)[-1].endswith("$"):
        return "Computer"
    if sid in ("S-1-5-18",):
        return "System"
    if sid in ("S-1-5-19", "S-1-5-20") or (sid or "").startswith("S-1-5-80-"):
        return "Service"
    if sid == "S-1-5-7":
        return "Anonymous"
    if actor is None:
        return None
    name = actor.rsplit("\\", 1)[-1]
    if name.endswith("$"):
        return "Computer"
    if actor.upper() in ("NT AUTHORITY\\SYSTEM", "SYSTEM"):
        return "System"
    if actor.upper().startswith("NT AUTHORITY\\") or actor.upper().startswith(("WINDOW MANAGER\\", "FONT DRIVER HOST\\")):
        return "Service"
    return "User"


def _outcome(v: WindowsView) -> str:
    et = (v.event_type or "").upper().replace(" ", "_")
    if et == "AUDIT_FAILURE":
        return "failure"
    if et == "AUDIT_SUCCESS":
        return "success"
    kw = v.keywords
    if isinstance(kw, list):
        low = " ".join(str(k).lower() for k in kw)
        if "audit failure" in low:
            return "failure"
        if "audit success" in low:
            return "success"
        return "unknown"
    if isinstance(kw, str) and not kw.strip().lower().startswith("0x") and not kw.strip().lstrip("-").isdigit():
        low = kw.lower()
        if "audit failure" in low:
            return "failure"
        if "audit success" in low:
            return "success"
        return "unknown"
    n = _int(kw)
    if n is not None:
        n &= 0xFFFFFFFFFFFFFFFF
        if n & AUDIT_FAILURE:
            return "failure"
        if n & AUDIT_SUCCESS:
            return "success"
    return "unknown"



def event_fields(obj: dict[str, Any]) -> dict[str, Any] | None:
    """One Windows event of any exporter shape as flat fields, or None if *obj* is not one.

    System fields keep their Windows names (``EventID``, ``Channel``, ``Provider_Name``,
    ``Computer``, ``EventRecordID``, ``Keywords``); EventData/UserData names follow
    (a system field wins a name clash).  Used by the rules engine for every shape
    this parser reads, including the ``evtx`` crate's JSON.
    """
    shape = _is_windows(obj)
    if shape is None:
        return None
    try:
        v = windows_view(obj, shape)
    except ParseError:
        return None
    out: dict[str, Any] = dict(v.data) if shape != "flat" else {
        k: val for k, val in v.data.items() if k != "EventData" or not isinstance(val, (dict, str))}
    out.update({"EventID": v.event_id, "Channel": v.channel, "Provider_Name": v.provider,
                "Computer": v.computer, "EventRecordID": v.record_number})
    if v.keywords is not None:
        out["Keywords"] = v.keywords
    return out
