"""Linux audit (auditd) logs: raw and ``log_format=ENRICHED``.

One kernel/user-space *event* is written as one or more *records* (lines)
that share the stamp ``msg=audit(EPOCH.MS:SERIAL)``: a SYSCALL record with its
EXECVE, CWD, PATH, SOCKADDR, PROCTITLE ... auxiliaries, closed by an EOE
record on recent kernels.  This parser groups the records of one stamp into
one :class:`~logconsole.ingest.base.Event` (``records=N, merged=N-1``).  Lines
of different events can interleave, so open groups are buffered by stamp in a
bounded window and flushed on EOE, when the window is exceeded, or at the end
of the file.

Mapping (see ``docs/formats.md``, section ``auditd``):

* actor = the *login* user (``auid``; its name from the enriched ``AUID=``
  section when present); ``auid=4294967295`` means unset.  For authentication
  records written before login (``USER_AUTH``, ``USER_ACCT``, ``CRED_ACQ``,
  ``USER_LOGIN``/``USER_ERR`` ...) the account being logged into (``acct=``)
  is the actor and ``extra.actor_from`` says so.
* the effective/real ids (``uid``, ``euid`` ... and their enriched names) go to
  ``extra``; ``target_user`` is ``acct=`` or, when it differs from the login
  user, the effective user.
* ``extra.serial`` and ``extra.boot`` (1-based, per file) feed sequence
  analysis: a new boot starts at ``DAEMON_START`` or when the kernel serial goes
  backwards while the time moves forward.  ``DAEMON_*`` records carry auditd's
  own serial and are marked ``extra.serial_space = "auditd"``.
"""

from __future__ import annotations

import errno
import ipaddress
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterator

from logconsole.ingest.base import Event, Evidence, FormatFacts, ParseError, Parser, Quarantined
from logconsole.ingest.reader import Input, Sample, TruncatedInput
from logconsole.util.timeparse import MAX_US, MIN_US
from logconsole.store.sanitize import one_line

#: records that only complement the main record of an event
_AUX = frozenset({
    "EXECVE", "PATH", "CWD", "PROCTITLE", "SOCKADDR", "EOE", "BPRM_FCAPS", "CAPSET", "MMAP", "FD_PAIR",
    "IPC", "IPC_SET_PERM", "OBJ_PID", "SOCKETCALL", "MQ_OPEN", "MQ_SENDRECV", "MQ_NOTIFY", "MQ_GETSETATTR",
    "KERN_MODULE", "TIME_INJOFFSET", "TIME_ADJNTPVAL", "URINGOP", "OPENAT2", "BPF",
})
#: authentication/login records: before login the account logged into is the actor
_AUTH_TYPES = frozenset({
    "USER_AUTH", "USER_ACCT", "USER_LOGIN", "USER_LOGOUT", "USER_ERR", "USER_START", "USER_END",
    "CRED_ACQ", "CRED_REFR", "CRED_DISP", "ANOM_LOGIN_FAILURES", "ANOM_LOGIN_TIME", "ANOM_LOGIN_SESSIONS",
    "ANOM_LOGIN_ACCT", "ANOM_LOGIN_LOCATION", "ANOM_LOGIN_SERVICE", "USER_ROLE_CHANGE",
})
#: string fields that auditd writes hex-encoded (unquoted) when they hold spaces, quotes or controls
_ENCODED = frozenset({
    "proctitle", "acct", "cmd", "cwd", "exe", "comm", "name", "data", "key", "path", "ocomm", "old", "new",
    "watch", "dir", "grp", "new_group", "old_group", "vm", "root_dir", "sw", "new-chardev", "old-chardev",
    "new-disk", "old-disk", "new-fs", "old-fs", "new-net", "old-net", "new-mem", "old-mem", "device",
    "user", "new_user", "old_user", "unit", "file", "id_str",
})
_UNSET_IDS = frozenset({"4294967295", "-1"})
_ARCH_NAMES = {"c000003e": "x86_64", "40000003": "i386", "c00000b7": "aarch64", "40000028": "armeb",
               "c00000f3": "riscv64", "80000016": "s390x", "c0000015": "ppc64le", "80000015": "ppc64"}

_RECORD = re.compile(
    r"(?:node=(?P<node>\S+) )?type=(?P<type>[A-Za-z0-9_]+(?:\[\d+\])?) "
    r"msg=audit\((?P<sec>\d{1,12})\.(?P<ms>\d{1,6}):(?P<serial>\d{1,20})\):? ?(?P<body>.*)",
    re.S,
)
_NOSTAMP = re.compile(r"(?:node=(?P<node>\S+) )?type=(?P<type>[A-Za-z0-9_]+(?:\[\d+\])?) msg=\?\s*(?P<body>.*)", re.S)
_KV = re.compile(r"""(?:(?<=[\s,])|^)([A-Za-z0-9_\-]+(?:\[\d+\])?)=("[^"]*"?|'[^']*'?|[^\s]*)""")
_HEX = re.compile(r"(?:[0-9A-F]{2})+")
_EXECVE_ARG = re.compile(r"a(\d+)(?:\[(\d+)\])?")
_SNIFF = re.compile(rb"^(?:node=\S+ )?type=[A-Za-z0-9_]+(?:\[\d+\])? msg=(?:audit\(\d+\.\d+:\d+\)|\?)")

#: default grouping window: a group not touched for this many lines is flushed
WINDOW_LINES = 512
#: at most this many groups are held open at once (memory bound)
MAX_OPEN = 4096
_FLUSHED_MEMORY = 65536


@dataclass(slots=True)
class _Val:
    text: str
    quoted: bool


@dataclass(slots=True)
class _Rec:
    line: int
    raw: bytes
    type: str
    node: str | None
    stamp: str | None  # "EPOCH.MS:SERIAL" or None for ``msg=?``
    ts_us: int | None
    serial: int | None
    fields: dict[str, _Val]
    enriched: dict[str, str]
    prose: str | None


@dataclass
class _Group:
    key: tuple[str | None, str]
    recs: list[_Rec]
    boot: int
    boot_reason: str | None
    last_line: int
    late: bool = False
    ts_inferred: str | None = None


@dataclass
class _NodeState:
    boot: int = 1
    max_serial: int | None = None
    max_ts: int | None = None
    seen: bool = False


def _tokens(text: str) -> tuple[dict[str, _Val], str | None]:
    """key=value pairs (first occurrence wins) and the leading prose, if any."""
    out: dict[str, _Val] = {}
    prose = None
    first = True
    for m in _KV.finditer(text):
        if first:
            lead = text[:m.start()].strip(" ,:")
            prose = lead or None
            first = False
        k, v = m.group(1), m.group(2)
        if v.startswith("'"):
            inner = v[1:-1] if len(v) >= 2 and v.endswith("'") else v[1:]
            if k == "msg":
                sub, sub_prose = _tokens(inner)
                for ik, iv in sub.items():
                    out.setdefault(ik, iv)
                if sub_prose and prose is None:
                    prose = sub_prose
                elif sub_prose:
                    prose = f"{prose} {sub_prose}"
                if not sub and inner.strip():
                    prose = (prose + " " if prose else "") + inner.strip()
                continue
            out.setdefault(k, _Val(inner, True))
        elif v.startswith('"'):
            out.setdefault(k, _Val(v[1:-1] if len(v) >= 2 and v.endswith('"') else v[1:], True))
        else:
            out.setdefault(k, _Val(v, False))
    if first:
        prose = text.strip(" ,:") or None
    return out, prose


def _unhex(text: str, *, nul: str | None = None) -> str:
    b = bytes.fromhex(text)
    if nul is not None:
        b = b.rstrip(b"\0").replace(b"\0", nul.encode())
    return b.decode("utf-8", "backslashreplace")


def _decode(key: str, v: _Val, rtype: str) -> tuple[str, bool]:
    """(decoded text, was_hex) of one field value."""
    if v.quoted:
        return v.text, False
    encoded = key in _ENCODED or (rtype == "EXECVE" and _EXECVE_ARG.fullmatch(key) is not None)
    if encoded and v.text not in ("(null)", "(none)", "?") and _HEX.fullmatch(v.text):
        return _unhex(v.text, nul=" " if key == "proctitle" else None), True
    return v.text, False


def _sockaddr(hexstr: str) -> str | None:
    try:
        b = bytes.fromhex(hexstr)
    except ValueError:
        return None
    if len(b) < 2:
        return None
    fam = int.from_bytes(b[:2], "little")
    if fam == 2 and len(b) >= 8:
        return f"inet {ipaddress.IPv4Address(b[4:8])}:{int.from_bytes(b[2:4], 'big')}"
    if fam == 10 and len(b) >= 24:
        return f"inet6 [{ipaddress.IPv6Address(b[8:24])}]:{int.from_bytes(b[2:4], 'big')}"
    if fam == 1:
        path = b[2:].split(b"\0", 1)[0] if b[2:3] != b"\0" else b"@" + b[3:].split(b"\0", 1)[0]
        return "local " + path.decode("utf-8", "backslashreplace")
    if fam == 16:
        return "netlink"
    return f"family {fam}"


def _parse_record(lineno: int, line: bytes) -> _Rec:
    if b"\x00" in line:
        raise ParseError("NUL byte in an audit record")
    main_b, sep, enr_b = line.partition(b"\x1d")
    try:
        main = main_b.decode("utf-8")
        enr_text = enr_b.decode("utf-8") if sep else ""
    except UnicodeDecodeError as exc:
        raise ParseError(f"invalid UTF-8 at byte {exc.start}") from None
    m = _RECORD.match(main)
    if m is None:
        m2 = _NOSTAMP.match(main)
        if m2 is None:
            if "type=" in main and "msg=audit(" in main:
                raise ParseError("malformed audit record header (expected type=T msg=audit(EPOCH.MS:SERIAL):)")
            raise ParseError("not an audit record (no type=... msg=audit(...))")
        fields, prose = _tokens(m2.group("body"))
        enriched = {k: v.text for k, v in _tokens(enr_text)[0].items()} if sep else {}
        return _Rec(lineno, line, m2.group("type"), m2.group("node"), None, None, None, fields, enriched, prose)
    sec, ms = m.group("sec"), m.group("ms")
    ts = int(sec) * 1_000_000 + int(ms.ljust(6, "0")[:6])
    if not (MIN_US <= ts <= MAX_US):
        raise ParseError(f"audit time out of range ({sec}.{ms})")
    serial = int(m.group("serial"))
    fields, prose = _tokens(m.group("body"))
    enriched = {k: v.text for k, v in _tokens(enr_text)[0].items()} if sep else {}
    return _Rec(lineno, line, m.group("type"), m.group("node"), f"{sec}.{ms}:{serial}", ts, serial, fields,
                enriched, prose)


class AuditdParser(Parser):
    name = "auditd"
    version = "1"
    description = "Linux audit log (auditd raw or ENRICHED): records grouped per event by msg=audit(time:serial)"
    facts = FormatFacts(short_label="audit", timestamp_desc="auditd event time", sequence="auditd",
                        verify_hint="sequence analysis of the ingested serials: logconsole verify --from-index (s in the console)")

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        w = options.get("window")
        self.window = int(w) if w not in (None, "") else WINDOW_LINES

    def sniff(self, sample: Sample) -> Evidence | None:
        lines = sample.first_nonblank(20)
        if not lines:
            return None
        hits = sum(1 for ln in lines if _SNIFF.match(ln))
        if hits == 0:
            return None
        if hits == len(lines):
            enr = any(b"\x1d" in ln for ln in lines)
            return Evidence(95, f"{hits} line(s) of type=... msg=audit(time:serial) records"
                                + (" with an enriched (0x1D) section" if enr else ""))
        if hits * 2 >= len(lines):
            return Evidence(70, f"{hits} of {len(lines)} lines are type=... msg=audit(...) records")
        return None

    def source_options(self) -> dict[str, Any]:
        # only what this parser uses (the CLI passes one options dict to every parser)
        return {"window": self.window}

    # ------------------------------------------------------------------ parse
    def parse(self, inp: Input) -> Iterator[Event | Quarantined]:
        st = _Grouper(self, self.window)
        try:
            for lineno, line in inp.iter_lines():
                yield from st.expire(lineno)
                if line is None:
                    yield Quarantined("line longer than the 4 MiB limit", None, line=lineno)
                    continue
                try:
                    rec = _parse_record(lineno, line)
                except ParseError as exc:
                    yield Quarantined(str(exc), line, line=lineno)
                    continue
                yield from st.add(rec)
        except TruncatedInput:
            # a cut .gz: emit what was read (the open groups) before the pipeline records the truncation
            yield from st.finish()
            raise
        yield from st.finish()

    def to_event(self, g: _Group) -> Event:
        """One event from the records of one stamp, in named steps (each reads the
        group through a :class:`_GroupView`, which notes every hex-decoded field)."""
        v = _GroupView(g.recs)
        extra = _sequence_extra(g, v.types)
        who = _identity(v, extra)
        _copy_fields(v, extra)
        target = _target_user(v, who)
        if v.enr:
            extra["names"] = v.enr
        syscall_name, action = _syscall_and_action(v, extra)
        cmdline, paths = _auxiliaries(v, extra)
        outcome, error_code = _outcome(v)
        resource = _resource(v, extra, syscall_name, action, paths)
        src_ip = _source(v, extra)
        message = _summary(v, extra, who, action, cmdline, resource, target, src_ip, outcome, error_code)
        if v.hexed:
            extra["hex_decoded"] = sorted(set(v.hexed))
        first, recs = v.first, v.recs
        serial = first.serial
        return Event(
            ts_us=first.ts_us if first.ts_us is not None else 0,
            ts_raw=first.stamp.split(":", 1)[0] if first.stamp else None,
            raw=b"\n".join(r.raw for r in recs), format=self.name, line=first.line,
            record_id=str(serial) if serial is not None else None,
            service="auditd", action=action, outcome=outcome, error_code=error_code, actor=who.actor,
            actor_type=who.actor_type, actor_uid=who.actor_uid, session=who.session, target_user=target,
            src_ip=src_ip, host=first.node, resource=resource, message=message, extra=extra,
            records=len(recs), merged=len(recs) - 1,
        )


# ------------------------------------------------------------- mapping steps
_NO_VALUE = (None, "", "?", "(null)", "(none)")
#: ids and fields of the main/SYSCALL record copied to ``extra`` ("-" becomes "_")
_ID_FIELDS = ("uid", "euid", "suid", "fsuid", "gid", "egid", "sgid", "fsgid", "ouid", "pid", "ppid",
              "old-auid", "id", "ses", "tty", "terminal", "subj", "op", "grantors", "res", "success",
              "exit", "items", "unit", "spid", "suid", "kind", "direction", "list", "old-level", "new-level")
#: process fields copied from whichever record of the group has them
_PROCESS_FIELDS = ("comm", "exe", "key", "cwd", "cmd", "proctitle", "data")
_PATH_FIELDS = ("item", "name", "nametype", "objtype", "mode", "ouid", "inode")
_AVC = ("AVC", "USER_AVC")
_AVC_DECISION = re.compile(r"avc:\s+(denied|granted)\s+\{\s*([^}]*?)\s*\}")


class _GroupView:
    """The records of one event: the first, the SYSCALL record, the main (non-auxiliary)
    record and the primary one (main, else SYSCALL, else first); field values decoded,
    the hex-encoded ones noted in :attr:`hexed`."""

    def __init__(self, recs: list[_Rec]) -> None:
        self.recs = recs
        self.types = [r.type for r in recs]
        self.first = recs[0]
        self.syscall = next((r for r in recs if r.type == "SYSCALL"), None)
        self.main = next((r for r in recs if r.type not in _AUX and r.type != "SYSCALL"), None)
        self.prim = self.main or self.syscall or self.first
        self.hexed: list[str] = []
        #: the enriched (0x1D) name sections, the primary record's first
        self.enr: dict[str, str] = {}
        for r in (self.prim, self.syscall, *recs):
            if r is not None:
                for k, val in r.enriched.items():
                    self.enr.setdefault(k, val)

    def val(self, rec: _Rec | None, key: str) -> str | None:
        if rec is None:
            return None
        v = rec.fields.get(key)
        if v is None:
            return None
        text, was_hex = _decode(key, v, rec.type)
        if was_hex:
            self.hexed.append(f"{rec.type}.{key}")
        return text

    def anyval(self, key: str, *order: _Rec | None) -> str | None:
        """The first meaningful value of *key* in *order* (default: primary, SYSCALL, all)."""
        for r in order or (self.prim, self.syscall, *self.recs):
            t = self.val(r, key)
            if t not in _NO_VALUE:
                return t
        return None


@dataclass(slots=True)
class _Who:
    actor: str | None
    actor_type: str | None
    actor_uid: str | None
    auid: str | None
    session: str | None
    acct: str | None


def _sequence_extra(g: _Group, types: list[str]) -> dict[str, Any]:
    """Serial, stamp and boot for sequence analysis; how the group was formed."""
    first = g.recs[0]
    extra: dict[str, Any] = {}
    if first.serial is not None:
        extra["serial"] = first.serial
        extra["stamp"] = first.stamp
    extra["boot"] = g.boot
    if g.boot_reason:
        extra["boot_reason"] = g.boot_reason
    if first.type.startswith("DAEMON_"):
        extra["serial_space"] = "auditd"
    extra["types"] = types
    if g.late:
        extra["late_records"] = True
    if g.ts_inferred:
        extra["time_inferred"] = g.ts_inferred
    return extra


def _identity(v: _GroupView, extra: dict[str, Any]) -> _Who:
    """The actor: the login user (auid), or before login the account logged into (acct)."""
    prim = v.prim
    auid = v.anyval("auid", prim, v.syscall)
    ses = v.anyval("ses", prim, v.syscall)
    acct = v.anyval("acct", prim)
    actor = actor_uid = actor_type = None
    if auid is not None and auid not in _UNSET_IDS:
        actor_uid = auid
        name = v.enr.get("AUID")
        actor = name if name and name not in ("unset", "?") else _uid_name(auid)
        actor_type = "login-user"
    elif prim.type in _AUTH_TYPES and acct and acct != "?":
        actor = acct
        actor_type = "account"
        extra["actor_from"] = "acct"
    if auid is not None:
        extra["auid"] = auid
    return _Who(actor, actor_type, actor_uid, auid, None if ses in _UNSET_IDS else ses, acct)


def _copy_fields(v: _GroupView, extra: dict[str, Any]) -> None:
    for k in _ID_FIELDS:
        t = v.anyval(k, v.prim, v.syscall)
        if t is not None:
            extra[k.replace("-", "_")] = t
    for k in _PROCESS_FIELDS:
        t = v.anyval(k)
        if t is not None:
            extra[k] = t


def _target_user(v: _GroupView, who: _Who) -> str | None:
    """``acct=``, or the effective user when a login user acted as another one."""
    uid = v.val(v.syscall, "uid")
    euid = v.val(v.syscall, "euid")  # effective ids only exist in SYSCALL records
    acct = who.acct
    target = acct if acct and acct != "?" and who.actor_type != "account" else None
    if who.actor_type == "account":
        target = acct
    if target is None and who.actor_type == "login-user" and euid is not None and euid not in _UNSET_IDS \
            and euid != who.auid:
        target = (v.enr.get("EUID") or (v.enr.get("UID") if euid == uid else None)) or _uid_name(euid)
    return target


def _syscall_and_action(v: _GroupView, extra: dict[str, Any]) -> tuple[str | None, str]:
    """The system call's name and the event's action (the main record's type, else the call)."""
    syscall_name = None
    sc = v.syscall
    if sc is not None:
        arch = v.val(sc, "arch")
        num = v.val(sc, "syscall")
        syscall_name = sc.enriched.get("SYSCALL") or _syscall_name(arch, num)
        extra["syscall"] = syscall_name
        if arch:
            extra["arch"] = sc.enriched.get("ARCH") or _ARCH_NAMES.get(arch, arch)
    if v.main is not None:
        action = v.main.type
    elif syscall_name:
        action = syscall_name
    elif "EXECVE" in v.types:
        action = "execve"
    else:
        action = v.first.type
    return syscall_name, action


def _auxiliaries(v: _GroupView, extra: dict[str, Any]) -> tuple[str | None, list[dict[str, str]]]:
    """EXECVE command line, PATH items, SOCKADDR, the record's prose and an AVC decision."""
    cmdline = None
    ex = next((r for r in v.recs if r.type == "EXECVE"), None)
    if ex is not None:
        cmdline = _execve_args(ex, v.hexed)
        extra["cmdline"] = cmdline
        if "argc" in ex.fields:
            extra["argc"] = ex.fields["argc"].text
    paths = []
    for r in v.recs:
        if r.type == "PATH":
            p = {k: t for k in _PATH_FIELDS if (t := v.val(r, k)) is not None}
            if r.enriched.get("OUID"):
                p["owner"] = r.enriched["OUID"]
            paths.append(p)
        elif r.type == "SOCKADDR" and "saddr" in r.fields:
            sa = _sockaddr(r.fields["saddr"].text)
            if sa:
                extra["sockaddr"] = sa
    if paths:
        extra["paths"] = paths
    prim = v.prim
    if prim.prose:
        extra["text"] = prim.prose
    if prim.type in _AVC:
        pm = _AVC_DECISION.search(prim.prose or "")
        if pm:
            extra["avc"] = pm.group(1)
            extra["permission"] = pm.group(2)
        for k in ("scontext", "tcontext", "tclass", "permissive", "name", "path"):
            t = v.val(prim, k)
            if t is not None:
                extra[f"avc_{k}"] = t
    return cmdline, paths


def _outcome(v: _GroupView) -> tuple[str, str | None]:
    """success/failure from ``res=``, an AVC decision or the call's ``success=``; the errno name."""
    prim, sc = v.prim, v.syscall
    outcome, error_code = "unknown", None
    res = v.val(prim, "res")
    succ = v.val(sc, "success") if sc else v.val(prim, "success")
    if res is not None:
        outcome = _res_outcome(res)
    elif prim.type in _AVC and prim.prose:
        outcome = "failure" if "denied" in prim.prose else "success" if "granted" in prim.prose else "unknown"
    if outcome == "unknown" and succ is not None:
        outcome = {"yes": "success", "no": "failure"}.get(succ, "unknown")
    if sc is not None and succ == "no":
        error_code = _errno_name(v.val(sc, "exit"))
    return outcome, error_code


def _resource(v: _GroupView, extra: dict[str, Any], syscall_name: str | None, action: str,
              paths: list[dict[str, str]]) -> str | None:
    """What was acted on: a command, an AVC object, a named path, the executable, cwd or socket."""
    prim = v.prim
    resource = v.anyval("cmd", prim)
    if resource is None and prim.type in _AVC:
        resource = v.anyval("path", prim) or v.anyval("name", prim)
    if resource is None and syscall_name not in (None, "execve", "execveat") and paths:
        named = [p for p in paths if p.get("nametype") not in ("PARENT",) and p.get("name")]
        if named:
            resource = named[0]["name"]
    if resource is None and action in ("execve", "execveat") and paths and paths[0].get("name"):
        resource = v.anyval("exe", v.syscall) or paths[0]["name"]
    if resource is None:
        resource = v.anyval("exe", prim, v.syscall)
    if resource is None and paths and paths[0].get("name"):
        resource = paths[0]["name"]
    if resource is None:
        resource = extra.get("cwd") or extra.get("sockaddr")
    return resource


def _source(v: _GroupView, extra: dict[str, Any]) -> str | None:
    """The remote address (``addr=``); a differing ``hostname=`` goes to ``extra``."""
    addr = v.anyval("addr", v.prim)
    src_ip = addr if addr and addr != "?" else None
    remote = v.anyval("hostname", v.prim)
    if remote and remote != src_ip:
        extra["remote_host"] = remote
    return src_ip


def _summary(v: _GroupView, extra: dict[str, Any], who: _Who, action: str, cmdline: str | None,
             resource: str | None, target: str | None, src_ip: str | None, outcome: str,
             error_code: str | None) -> str:
    """The one-line message: who did what (with what), as whom, from where, and how it ended."""
    acct = who.acct
    parts = [who.actor or "(unset)", action]
    op = extra.get("op")
    if op:
        parts.append(f"op={op}")
    if cmdline:
        parts.append(cmdline)
    elif resource:
        parts.append(resource)
    elif v.prim.prose:
        parts.append(v.prim.prose)
    if extra.get("data") is not None:
        parts.append(f"data={extra['data']!r}")
    if acct and acct != who.actor:
        parts.append(f"acct={acct}")
    if target and target != acct:
        parts.append(f"as {target}")
    if src_ip:
        parts.append(f"from {src_ip}")
    if outcome == "failure":
        parts.append(f"-> failed{' ' + error_code if error_code else ''}")
    if extra.get("key") and extra["key"] not in ("(null)",):
        parts.append(f"[key={extra['key']}]")
    return one_line(" ".join(parts), 600)


class _Grouper:
    """Buffers records by stamp in a bounded window; tracks boots per node."""

    def __init__(self, parser: AuditdParser, window: int) -> None:
        self.p = parser
        self.window = max(1, window)
        self.open: OrderedDict[tuple[str | None, str], _Group] = OrderedDict()
        self.nodes: dict[str | None, _NodeState] = {}
        self.flushed: OrderedDict[tuple[str | None, str], None] = OrderedDict()
        self.orphans: list[_Rec] = []
        self.last_ts: int | None = None
        self.last_stamp: str | None = None

    def _emit(self, g: _Group) -> Iterator[Event | Quarantined]:
        self.flushed[g.key] = None
        if len(self.flushed) > _FLUSHED_MEMORY:
            self.flushed.popitem(last=False)
        try:
            yield self.p.to_event(g)
        except Exception as exc:  # never lose the records of a group
            yield Quarantined(f"cannot map audit event {g.key[1]}: {type(exc).__name__}: {exc}",
                              b"\n".join(r.raw for r in g.recs), line=g.recs[0].line, records=len(g.recs))

    def expire(self, lineno: int) -> Iterator[Event | Quarantined]:
        while self.open:
            key, g = next(iter(self.open.items()))
            if lineno - g.last_line <= self.window and len(self.open) <= MAX_OPEN:
                break
            del self.open[key]
            yield from self._emit(g)

    def _boot(self, rec: _Rec) -> tuple[int, str | None]:
        ns = self.nodes.setdefault(rec.node, _NodeState())
        reason = None
        if not ns.seen:
            ns.seen = True
            reason = "first record of this host in the file"
            if rec.type != "DAEMON_START" and not rec.type.startswith("DAEMON_"):
                ns.max_serial, ns.max_ts = rec.serial, rec.ts_us
            return ns.boot, reason
        if rec.type == "DAEMON_START":
            ns.boot += 1
            ns.max_serial = ns.max_ts = None
            return ns.boot, "DAEMON_START (auditd started)"
        if rec.type.startswith("DAEMON_") or rec.serial is None:
            return ns.boot, None
        if ns.max_serial is None:
            ns.max_serial, ns.max_ts = rec.serial, rec.ts_us
        elif rec.serial < ns.max_serial and rec.ts_us is not None and ns.max_ts is not None and rec.ts_us > ns.max_ts:
            reason = f"serial {rec.serial} after {ns.max_serial} while the time moved forward"
            ns.boot += 1
            ns.max_serial, ns.max_ts = rec.serial, rec.ts_us
        elif rec.serial > ns.max_serial:
            ns.max_serial, ns.max_ts = rec.serial, rec.ts_us
        return ns.boot, reason

    def add(self, rec: _Rec) -> Iterator[Event | Quarantined]:
        if rec.stamp is None:
            if self.last_ts is None:
                self.orphans.append(rec)
                return
            rec.ts_us = self.last_ts
            boot = self.nodes.get(rec.node, _NodeState()).boot
            g = _Group((rec.node, f"?{rec.line}"), [rec], boot, None, rec.line,
                       ts_inferred=f"record has no time stamp (msg=?); time of the preceding record {self.last_stamp}")
            yield from self._emit(g)
            return
        self.last_ts, self.last_stamp = rec.ts_us, rec.stamp
        if self.orphans:
            for o in self.orphans:
                o.ts_us = rec.ts_us
                g = _Group((o.node, f"?{o.line}"), [o], 1, None, o.line,
                           ts_inferred=f"record has no time stamp (msg=?); time of the following record {rec.stamp}")
                yield from self._emit(g)
            self.orphans = []
        key = (rec.node, rec.stamp)
        grp = self.open.get(key)
        if grp is not None:
            grp.recs.append(rec)
            grp.last_line = rec.line
            self.open.move_to_end(key)
            if rec.type == "EOE":
                del self.open[key]
                yield from self._emit(grp)
            return
        boot, reason = self._boot(rec)
        g = _Group(key, [rec], boot, reason, rec.line, late=key in self.flushed)
        if rec.type == "EOE":
            yield from self._emit(g)
            return
        self.open[key] = g
        if len(self.open) > MAX_OPEN:
            _k, old = self.open.popitem(last=False)
            yield from self._emit(old)

    def finish(self) -> Iterator[Event | Quarantined]:
        while self.open:
            _k, g = self.open.popitem(last=False)
            yield from self._emit(g)
        for o in self.orphans:
            yield Quarantined("audit record without a time stamp (msg=?) and no other record to take one from",
                              o.raw, line=o.line)
        self.orphans = []


def _uid_name(uid: str) -> str:
    """Numeric ids stay numeric (names need the enriched section), except uid 0 which is root."""
    return "root" if uid == "0" else uid


def _res_outcome(res: str) -> str:
    r = res.lower()
    if r in ("success", "yes", "1", "ok"):
        return "success"
    if r in ("failed", "fail", "failure", "no", "0"):
        return "failure"
    return "unknown"


def _errno_name(exit_code: str | None) -> str | None:
    if exit_code is None:
        return None
    try:
        n = int(exit_code)
    except ValueError:
        return exit_code
    if n < 0 and -n in errno.errorcode:
        return errno.errorcode[-n]
    return exit_code


def _execve_args(rec: _Rec, hexed: list[str]) -> str:
    args: dict[int, list[tuple[int, str]]] = {}
    for k, v in rec.fields.items():
        m = _EXECVE_ARG.fullmatch(k)
        if m is None:
            continue
        idx = int(m.group(1))
        part = int(m.group(2)) if m.group(2) is not None else -1
        if v.quoted:
            text = v.text
        elif _HEX.fullmatch(v.text):
            text = _unhex(v.text)
            hexed.append(f"EXECVE.{k}")
        else:
            text = v.text
        args.setdefault(idx, []).append((part, text))
    out = []
    for idx in sorted(args):
        out.append("".join(t for _p, t in sorted(args[idx])))
    return " ".join(_shell_quote(a) for a in out)


def _shell_quote(arg: str) -> str:
    if arg and not re.search(r"[\s'\"\\$`]", arg):
        return arg
    return "'" + arg.replace("'", "'\\''") + "'"


def _syscall_name(arch: str | None, num: str | None) -> str | None:
    if num is None:
        return None
    try:
        n = int(num)
    except ValueError:
        return num
    table = _tables().get(_ARCH_NAMES.get(arch or "", "x86_64"), _tables()["x86_64"])
    return table.get(n, f"syscall_{n}")


_TABLES: dict[str, dict[int, str]] = {}


def _tables() -> dict[str, dict[int, str]]:
    if not _TABLES:
        for name, blob in (("x86_64", _SYSCALLS_X86_64), ("aarch64", _SYSCALLS_GENERIC),
                           ("riscv64", _SYSCALLS_GENERIC), ("i386", _SYSCALLS_I386)):
            _TABLES[name] = {int(a): b for a, _, b in (p.partition(":") for p in blob.split())}
    return _TABLES


# Syscall numbers from the Linux UAPI headers (asm/unistd_64.h, asm/unistd_32.h, asm-generic/unistd.h).
_SYSCALLS_X86_64 = (
    "0:read 1:write 2:open 3:close 4:stat 5:fstat 6:lstat 7:poll 8:lseek 9:mmap 10:mprotect 11:munmap "
    "12:brk 13:rt_sigaction 14:rt_sigprocmask 15:rt_sigreturn 16:ioctl 17:pread64 18:pwrite64 19:readv "
    "20:writev 21:access 22:pipe 23:select 24:sched_yield 25:mremap 26:msync 27:mincore 28:madvise "
    "29:shmget 30:shmat 31:shmctl 32:dup 33:dup2 34:pause 35:nanosleep 36:getitimer 37:alarm 38:setitimer "
    "39:getpid 40:sendfile 41:socket 42:connect 43:accept 44:sendto 45:recvfrom 46:sendmsg 47:recvmsg "
    "48:shutdown 49:bind 50:listen 51:getsockname 52:getpeername 53:socketpair 54:setsockopt "
    "55:getsockopt 56:clone 57:fork 58:vfork 59:execve 60:exit 61:wait4 62:kill 63:uname 64:semget "
    "65:semop 66:semctl 67:shmdt 68:msgget 69:msgsnd 70:msgrcv 71:msgctl 72:fcntl 73:flock 74:fsync "
    "75:fdatasync 76:truncate 77:ftruncate 78:getdents 79:getcwd 80:chdir 81:fchdir 82:rename 83:mkdir "
    "84:rmdir 85:creat 86:link 87:unlink 88:symlink 89:readlink 90:chmod 91:fchmod 92:chown 93:fchown "
    "94:lchown 95:umask 96:gettimeofday 97:getrlimit 98:getrusage 99:sysinfo 100:times 101:ptrace "
    "102:getuid 103:syslog 104:getgid 105:setuid 106:setgid 107:geteuid 108:getegid 109:setpgid "
    "110:getppid 111:getpgrp 112:setsid 113:setreuid 114:setregid 115:getgroups 116:setgroups "
    "117:setresuid 118:getresuid 119:setresgid 120:getresgid 121:getpgid 122:setfsuid 123:setfsgid "
    "124:getsid 125:capget 126:capset 127:rt_sigpending 128:rt_sigtimedwait 129:rt_sigqueueinfo "
    "130:rt_sigsuspend 131:sigaltstack 132:utime 133:mknod 134:uselib 135:personality 136:ustat "
    "137:statfs 138:fstatfs 139:sysfs 140:getpriority 141:setpriority 142:sched_setparam "
    "143:sched_getparam 144:sched_setscheduler 145:sched_getscheduler 146:sched_get_priority_max "
    "147:sched_get_priority_min 148:sched_rr_get_interval 149:mlock 150:munlock 151:mlockall "
    "152:munlockall 153:vhangup 154:modify_ldt 155:pivot_root 156:_sysctl 157:prctl 158:arch_prctl "
    "159:adjtimex 160:setrlimit 161:chroot 162:sync 163:acct 164:settimeofday 165:mount 166:umount2 "
    "167:swapon 168:swapoff 169:reboot 170:sethostname 171:setdomainname 172:iopl 173:ioperm "
    "174:create_module 175:init_module 176:delete_module 177:get_kernel_syms 178:query_module "
    "179:quotactl 180:nfsservctl 181:getpmsg 182:putpmsg 183:afs_syscall 184:tuxcall 185:security "
    "186:gettid 187:readahead 188:setxattr 189:lsetxattr 190:fsetxattr 191:getxattr 192:lgetxattr "
    "193:fgetxattr 194:listxattr 195:llistxattr 196:flistxattr 197:removexattr 198:lremovexattr "
    "199:fremovexattr 200:tkill 201:time 202:futex 203:sched_setaffinity 204:sched_getaffinity "
    "205:set_thread_area 206:io_setup 207:io_destroy 208:io_getevents 209:io_submit 210:io_cancel "
    "211:get_thread_area 212:lookup_dcookie 213:epoll_create 214:epoll_ctl_old 215:epoll_wait_old "
    "216:remap_file_pages 217:getdents64 218:set_tid_address 219:restart_syscall 220:semtimedop "
    "221:fadvise64 222:timer_create 223:timer_settime 224:timer_gettime 225:timer_getoverrun "
    "226:timer_delete 227:clock_settime 228:clock_gettime 229:clock_getres 230:clock_nanosleep "
    "231:exit_group 232:epoll_wait 233:epoll_ctl 234:tgkill 235:utimes 236:vserver 237:mbind "
    "238:set_mempolicy 239:get_mempolicy 240:mq_open 241:mq_unlink 242:mq_timedsend 243:mq_timedreceive "
    "244:mq_notify 245:mq_getsetattr 246:kexec_load 247:waitid 248:add_key 249:request_key 250:keyctl "
    "251:ioprio_set 252:ioprio_get 253:inotify_init 254:inotify_add_watch 255:inotify_rm_watch "
    "256:migrate_pages 257:openat 258:mkdirat 259:mknodat 260:fchownat 261:futimesat 262:newfstatat "
    "263:unlinkat 264:renameat 265:linkat 266:symlinkat 267:readlinkat 268:fchmodat 269:faccessat "
    "270:pselect6 271:ppoll 272:unshare 273:set_robust_list 274:get_robust_list 275:splice 276:tee "
    "277:sync_file_range 278:vmsplice 279:move_pages 280:utimensat 281:epoll_pwait 282:signalfd "
    "283:timerfd_create 284:eventfd 285:fallocate 286:timerfd_settime 287:timerfd_gettime 288:accept4 "
    "289:signalfd4 290:eventfd2 291:epoll_create1 292:dup3 293:pipe2 294:inotify_init1 295:preadv "
    "296:pwritev 297:rt_tgsigqueueinfo 298:perf_event_open 299:recvmmsg 300:fanotify_init "
    "301:fanotify_mark 302:prlimit64 303:name_to_handle_at 304:open_by_handle_at 305:clock_adjtime "
    "306:syncfs 307:sendmmsg 308:setns 309:getcpu 310:process_vm_readv 311:process_vm_writev 312:kcmp "
    "313:finit_module 314:sched_setattr 315:sched_getattr 316:renameat2 317:seccomp 318:getrandom "
    "319:memfd_create 320:kexec_file_load 321:bpf 322:execveat 323:userfaultfd 324:membarrier 325:mlock2 "
    "326:copy_file_range 327:preadv2 328:pwritev2 329:pkey_mprotect 330:pkey_alloc 331:pkey_free "
    "332:statx 333:io_pgetevents 334:rseq 424:pidfd_send_signal 425:io_uring_setup 426:io_uring_enter "
    "427:io_uring_register 428:open_tree 429:move_mount 430:fsopen 431:fsconfig 432:fsmount 433:fspick "
    "434:pidfd_open 435:clone3 436:close_range 437:openat2 438:pidfd_getfd 439:faccessat2 "
    "440:process_madvise 441:epoll_pwait2 442:mount_setattr 443:quotactl_fd 444:landlock_create_ruleset "
    "445:landlock_add_rule 446:landlock_restrict_self 447:memfd_secret 448:process_mrelease "
    "449:futex_waitv 450:set_mempolicy_home_node "
)
_SYSCALLS_GENERIC = (
    "0:io_setup 1:io_destroy 2:io_submit 3:io_cancel 4:io_getevents 5:setxattr 6:lsetxattr 7:fsetxattr "
    "8:getxattr 9:lgetxattr 10:fgetxattr 11:listxattr 12:llistxattr 13:flistxattr 14:removexattr "
    "15:lremovexattr 16:fremovexattr 17:getcwd 18:lookup_dcookie 19:eventfd2 20:epoll_create1 "
    "21:epoll_ctl 22:epoll_pwait 23:dup 24:dup3 25:fcntl 26:inotify_init1 27:inotify_add_watch "
    "28:inotify_rm_watch 29:ioctl 30:ioprio_set 31:ioprio_get 32:flock 33:mknodat 34:mkdirat 35:unlinkat "
    "36:symlinkat 37:linkat 38:renameat 39:umount2 40:mount 41:pivot_root 42:nfsservctl 43:statfs "
    "44:fstatfs 45:truncate 46:ftruncate 47:fallocate 48:faccessat 49:chdir 50:fchdir 51:chroot 52:fchmod "
    "53:fchmodat 54:fchownat 55:fchown 56:openat 57:close 58:vhangup 59:pipe2 60:quotactl 61:getdents64 "
    "62:lseek 63:read 64:write 65:readv 66:writev 67:pread64 68:pwrite64 69:preadv 70:pwritev 71:sendfile "
    "72:pselect6 73:ppoll 74:signalfd4 75:vmsplice 76:splice 77:tee 78:readlinkat 79:fstatat 80:fstat "
    "81:sync 82:fsync 83:fdatasync 84:sync_file_range 85:timerfd_create 86:timerfd_settime "
    "87:timerfd_gettime 88:utimensat 89:acct 90:capget 91:capset 92:personality 93:exit 94:exit_group "
    "95:waitid 96:set_tid_address 97:unshare 98:futex 99:set_robust_list 100:get_robust_list "
    "101:nanosleep 102:getitimer 103:setitimer 104:kexec_load 105:init_module 106:delete_module "
    "107:timer_create 108:timer_gettime 109:timer_getoverrun 110:timer_settime 111:timer_delete "
    "112:clock_settime 113:clock_gettime 114:clock_getres 115:clock_nanosleep 116:syslog 117:ptrace "
    "118:sched_setparam 119:sched_setscheduler 120:sched_getscheduler 121:sched_getparam "
    "122:sched_setaffinity 123:sched_getaffinity 124:sched_yield 125:sched_get_priority_max "
    "126:sched_get_priority_min 127:sched_rr_get_interval 128:restart_syscall 129:kill 130:tkill "
    "131:tgkill 132:sigaltstack 133:rt_sigsuspend 134:rt_sigaction 135:rt_sigprocmask 136:rt_sigpending "
    "137:rt_sigtimedwait 138:rt_sigqueueinfo 139:rt_sigreturn 140:setpriority 141:getpriority 142:reboot "
    "143:setregid 144:setgid 145:setreuid 146:setuid 147:setresuid 148:getresuid 149:setresgid "
    "150:getresgid 151:setfsuid 152:setfsgid 153:times 154:setpgid 155:getpgid 156:getsid 157:setsid "
    "158:getgroups 159:setgroups 160:uname 161:sethostname 162:setdomainname 163:getrlimit 164:setrlimit "
    "165:getrusage 166:umask 167:prctl 168:getcpu 169:gettimeofday 170:settimeofday 171:adjtimex "
    "172:getpid 173:getppid 174:getuid 175:geteuid 176:getgid 177:getegid 178:gettid 179:sysinfo "
    "180:mq_open 181:mq_unlink 182:mq_timedsend 183:mq_timedreceive 184:mq_notify 185:mq_getsetattr "
    "186:msgget 187:msgctl 188:msgrcv 189:msgsnd 190:semget 191:semctl 192:semtimedop 193:semop "
    "194:shmget 195:shmctl 196:shmat 197:shmdt 198:socket 199:socketpair 200:bind 201:listen 202:accept "
    "203:connect 204:getsockname 205:getpeername 206:sendto 207:recvfrom 208:setsockopt 209:getsockopt "
    "210:shutdown 211:sendmsg 212:recvmsg 213:readahead 214:brk 215:munmap 216:mremap 217:add_key "
    "218:request_key 219:keyctl 220:clone 221:execve 222:mmap 223:fadvise64 224:swapon 225:swapoff "
    "226:mprotect 227:msync 228:mlock 229:munlock 230:mlockall 231:munlockall 232:mincore 233:madvise "
    "234:remap_file_pages 235:mbind 236:get_mempolicy 237:set_mempolicy 238:migrate_pages 239:move_pages "
    "240:rt_tgsigqueueinfo 241:perf_event_open 242:accept4 243:recvmmsg 244:arch_specific_syscall "
    "260:wait4 261:prlimit64 262:fanotify_init 263:fanotify_mark 264:name_to_handle_at "
    "265:open_by_handle_at 266:clock_adjtime 267:syncfs 268:setns 269:sendmmsg 270:process_vm_readv "
    "271:process_vm_writev 272:kcmp 273:finit_module 274:sched_setattr 275:sched_getattr 276:renameat2 "
    "277:seccomp 278:getrandom 279:memfd_create 280:bpf 281:execveat 282:userfaultfd 283:membarrier "
    "284:mlock2 285:copy_file_range 286:preadv2 287:pwritev2 288:pkey_mprotect 289:pkey_alloc "
    "290:pkey_free 291:statx 292:io_pgetevents 293:rseq 294:kexec_file_load 403:clock_gettime64 "
    "404:clock_settime64 405:clock_adjtime64 406:clock_getres_time64 407:clock_nanosleep_time64 "
    "408:timer_gettime64 409:timer_settime64 410:timerfd_gettime64 411:timerfd_settime64 "
    "412:utimensat_time64 413:pselect6_time64 414:ppoll_time64 416:io_pgetevents_time64 "
    "417:recvmmsg_time64 418:mq_timedsend_time64 419:mq_timedreceive_time64 420:semtimedop_time64 "
    "421:rt_sigtimedwait_time64 422:futex_time64 423:sched_rr_get_interval_time64 424:pidfd_send_signal "
    "425:io_uring_setup 426:io_uring_enter 427:io_uring_register 428:open_tree 429:move_mount 430:fsopen "
    "431:fsconfig 432:fsmount 433:fspick 434:pidfd_open 435:clone3 436:close_range 437:openat2 "
    "438:pidfd_getfd 439:faccessat2 440:process_madvise 441:epoll_pwait2 442:mount_setattr "
    "443:quotactl_fd 444:landlock_create_ruleset 445:landlock_add_rule 446:landlock_restrict_self "
    "447:memfd_secret 448:process_mrelease 449:futex_waitv 450:set_mempolicy_home_node 451:syscalls "
)
_SYSCALLS_I386 = (
    "0:restart_syscall 1:exit 2:fork 3:read 4:write 5:open 6:close 7:waitpid 8:creat 9:link 10:unlink "
    "11:execve 12:chdir 13:time 14:mknod 15:chmod 16:lchown 17:break 18:oldstat 19:lseek 20:getpid "
    "21:mount 22:umount 23:setuid 24:getuid 25:stime 26:ptrace 27:alarm 28:oldfstat 29:pause 30:utime "
    "31:stty 32:gtty 33:access 34:nice 35:ftime 36:sync 37:kill 38:rename 39:mkdir 40:rmdir 41:dup "
    "42:pipe 43:times 44:prof 45:brk 46:setgid 47:getgid 48:signal 49:geteuid 50:getegid 51:acct "
    "52:umount2 53:lock 54:ioctl 55:fcntl 56:mpx 57:setpgid 58:ulimit 59:oldolduname 60:umask 61:chroot "
    "62:ustat 63:dup2 64:getppid 65:getpgrp 66:setsid 67:sigaction 68:sgetmask 69:ssetmask 70:setreuid "
    "71:setregid 72:sigsuspend 73:sigpending 74:sethostname 75:setrlimit 76:getrlimit 77:getrusage "
    "78:gettimeofday 79:settimeofday 80:getgroups 81:setgroups 82:select 83:symlink 84:oldlstat "
    "85:readlink 86:uselib 87:swapon 88:reboot 89:readdir 90:mmap 91:munmap 92:truncate 93:ftruncate "
    "94:fchmod 95:fchown 96:getpriority 97:setpriority 98:profil 99:statfs 100:fstatfs 101:ioperm "
    "102:socketcall 103:syslog 104:setitimer 105:getitimer 106:stat 107:lstat 108:fstat 109:olduname "
    "110:iopl 111:vhangup 112:idle 113:vm86old 114:wait4 115:swapoff 116:sysinfo 117:ipc 118:fsync "
    "119:sigreturn 120:clone 121:setdomainname 122:uname 123:modify_ldt 124:adjtimex 125:mprotect "
    "126:sigprocmask 127:create_module 128:init_module 129:delete_module 130:get_kernel_syms 131:quotactl "
    "132:getpgid 133:fchdir 134:bdflush 135:sysfs 136:personality 137:afs_syscall 138:setfsuid "
    "139:setfsgid 140:_llseek 141:getdents 142:_newselect 143:flock 144:msync 145:readv 146:writev "
    "147:getsid 148:fdatasync 149:_sysctl 150:mlock 151:munlock 152:mlockall 153:munlockall "
    "154:sched_setparam 155:sched_getparam 156:sched_setscheduler 157:sched_getscheduler 158:sched_yield "
    "159:sched_get_priority_max 160:sched_get_priority_min 161:sched_rr_get_interval 162:nanosleep "
    "163:mremap 164:setresuid 165:getresuid 166:vm86 167:query_module 168:poll 169:nfsservctl "
    "170:setresgid 171:getresgid 172:prctl 173:rt_sigreturn 174:rt_sigaction 175:rt_sigprocmask "
    "176:rt_sigpending 177:rt_sigtimedwait 178:rt_sigqueueinfo 179:rt_sigsuspend 180:pread64 181:pwrite64 "
    "182:chown 183:getcwd 184:capget 185:capset 186:sigaltstack 187:sendfile 188:getpmsg 189:putpmsg "
    "190:vfork 191:ugetrlimit 192:mmap2 193:truncate64 194:ftruncate64 195:stat64 196:lstat64 197:fstat64 "
    "198:lchown32 199:getuid32 200:getgid32 201:geteuid32 202:getegid32 203:setreuid32 204:setregid32 "
    "205:getgroups32 206:setgroups32 207:fchown32 208:setresuid32 209:getresuid32 210:setresgid32 "
    "211:getresgid32 212:chown32 213:setuid32 214:setgid32 215:setfsuid32 216:setfsgid32 217:pivot_root "
    "218:mincore 219:madvise 220:getdents64 221:fcntl64 224:gettid 225:readahead 226:setxattr "
    "227:lsetxattr 228:fsetxattr 229:getxattr 230:lgetxattr 231:fgetxattr 232:listxattr 233:llistxattr "
    "234:flistxattr 235:removexattr 236:lremovexattr 237:fremovexattr 238:tkill 239:sendfile64 240:futex "
    "241:sched_setaffinity 242:sched_getaffinity 243:set_thread_area 244:get_thread_area 245:io_setup "
    "246:io_destroy 247:io_getevents 248:io_submit 249:io_cancel 250:fadvise64 252:exit_group "
    "253:lookup_dcookie 254:epoll_create 255:epoll_ctl 256:epoll_wait 257:remap_file_pages "
    "258:set_tid_address 259:timer_create 260:timer_settime 261:timer_gettime 262:timer_getoverrun "
    "263:timer_delete 264:clock_settime 265:clock_gettime 266:clock_getres 267:clock_nanosleep "
    "268:statfs64 269:fstatfs64 270:tgkill 271:utimes 272:fadvise64_64 273:vserver 274:mbind "
    "275:get_mempolicy 276:set_mempolicy 277:mq_open 278:mq_unlink 279:mq_timedsend 280:mq_timedreceive "
    "281:mq_notify 282:mq_getsetattr 283:kexec_load 284:waitid 286:add_key 287:request_key 288:keyctl "
    "289:ioprio_set 290:ioprio_get 291:inotify_init 292:inotify_add_watch 293:inotify_rm_watch "
    "294:migrate_pages 295:openat 296:mkdirat 297:mknodat 298:fchownat 299:futimesat 300:fstatat64 "
    "301:unlinkat 302:renameat 303:linkat 304:symlinkat 305:readlinkat 306:fchmodat 307:faccessat "
    "308:pselect6 309:ppoll 310:unshare 311:set_robust_list 312:get_robust_list 313:splice "
    "314:sync_file_range 315:tee 316:vmsplice 317:move_pages 318:getcpu 319:epoll_pwait 320:utimensat "
    "321:signalfd 322:timerfd_create 323:eventfd 324:fallocate 325:timerfd_settime 326:timerfd_gettime "
    "327:signalfd4 328:eventfd2 329:epoll_create1 330:dup3 331:pipe2 332:inotify_init1 333:preadv "
    "334:pwritev 335:rt_tgsigqueueinfo 336:perf_event_open 337:recvmmsg 338:fanotify_init "
    "339:fanotify_mark 340:prlimit64 341:name_to_handle_at 342:open_by_handle_at 343:clock_adjtime "
    "344:syncfs 345:sendmmsg 346:setns 347:process_vm_readv 348:process_vm_writev 349:kcmp "
    "350:finit_module 351:sched_setattr 352:sched_getattr 353:renameat2 354:seccomp 355:getrandom "
    "356:memfd_create 357:bpf 358:execveat 359:socket 360:socketpair 361:bind 362:connect 363:listen "
    "364:accept4 365:getsockopt 366:setsockopt 367:getsockname 368:getpeername 369:sendto 370:sendmsg "
    "371:recvfrom 372:recvmsg 373:shutdown 374:userfaultfd 375:membarrier 376:mlock2 377:copy_file_range "
    "378:preadv2 379:pwritev2 380:pkey_mprotect 381:pkey_alloc 382:pkey_free 383:statx 384:arch_prctl "
    "385:io_pgetevents 386:rseq 393:semget 394:semctl 395:shmget 396:shmctl 397:shmat 398:shmdt "
    "399:msgget 400:msgsnd 401:msgrcv 402:msgctl 403:clock_gettime64 404:clock_settime64 "
    "405:clock_adjtime64 406:clock_getres_time64 407:clock_nanosleep_time64 408:timer_gettime64 "
    "409:timer_settime64 410:timerfd_gettime64 411:timerfd_settime64 412:utimensat_time64 "
    "413:pselect6_time64 414:ppoll_time64 416:io_pgetevents_time64 417:recvmmsg_time64 "
    "418:mq_timedsend_time64 419:mq_timedreceive_time64 420:semtimedop_time64 421:rt_sigtimedwait_time64 "
    "422:futex_time64 423:sched_rr_get_interval_time64 424:pidfd_send_signal 425:io_uring_setup "
    "426:io_uring_enter 427:io_uring_register 428:open_tree 429:move_mount 430:fsopen 431:fsconfig "
    "432:fsmount 433:fspick 434:pidfd_open 435:clone3 436:close_range 437:openat2 438:pidfd_getfd "
    "439:faccessat2 440:process_madvise 441:epoll_pwait2 442:mount_setattr 443:quotactl_fd "
    "444:landlock_create_ruleset 445:landlock_add_rule 446:landlock_restrict_self 447:memfd_secret "
    "448:process_mrelease 449:futex_waitv 450:set_mempolicy_home_node "
)


def record_fields(line: bytes) -> dict[str, str]:
    """One audit record line as ``{"type": T, key: decoded value ...}`` (hex arguments decoded,
    ENRICHED names such as ``SYSCALL``/``UID`` included; a raw record gets ``SYSCALL`` from
    its arch and number).  Raises :class:`ParseError` for a line that is no audit record."""
    rec = _parse_record(0, line)
    out: dict[str, str] = {"type": rec.type}
    for key, val in rec.fields.items():
        out[key] = _decode(key, val, rec.type)[0]
    for key, text in rec.enriched.items():
        out.setdefault(key, text)
    if rec.type == "SYSCALL" and "SYSCALL" not in out and "syscall" in out:
        name = _syscall_name(out.get("arch"), out["syscall"])
        if name:
            out["SYSCALL"] = name
    return out
