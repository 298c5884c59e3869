"""OpenSSH, sudo, su, PAM and account management in ``auth.log`` / ``secure``.

Accepts the three line shapes found on real hosts:

* RFC 3164 / BSD: ``[<PRI>]Mmm dd HH:MM:SS host prog[pid]: message`` (no year,
  no zone);
* RFC 3339 "high precision" (rsyslog ``RSYSLOG_FileFormat``, Ubuntu 24.04+):
  ``2024-05-01T10:00:00.123456+02:00 host prog[pid]: message``;
* RFC 5424: ``<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD...] MESSAGE``.

Classic lines have no year: it comes from the ``year`` option (CLI
``--year``), else from the file's modification time (the year of the *last*
line; earlier lines get one year less per Dec->Jan rollover, and a last line
dated after the mtime belongs to the previous year), else (stdin) from the
current date.  Which one was used is recorded in ``sources.options`` and in
every event's ``extra`` (``year``, ``year_from``).  Zoneless times are read in
the ``tz`` option (IANA name or ``+HH:MM``), default UTC, recorded likewise.

Every line that has a syslog header becomes an event: recognised sshd, sudo,
su, PAM, cron, logind and useradd/usermod/groupadd/passwd... messages get a
specific ``action``; any other line gets ``action="syslog"`` with the program in
``service``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo, UTC
from typing import Any
from collections.abc import Iterator

from logconsole.ingest.base import Event, Evidence, FormatFacts, ParseError, Parser, Quarantined, norm_ip
from logconsole.ingest.reader import Input, Sample, TruncatedInput
from logconsole.util.timeparse import MAX_US, MIN_US, dt_to_us, parse_iso, parse_tz
from logconsole.store.sanitize import one_line

_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}

_BSD = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}(?P<day>\d{1,2}) "
    r"(?:(?P<year>\d{4}) )?(?P<hms>\d{2}:\d{2}:\d{2})(?P<frac>\.\d{1,9})? +(?P<host>\S+) ?(?P<rest>.*)",
    re.S,
)
_ISO = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?P<zone>Z|[+-]\d{2}:?\d{2})?)"
    r" +(?P<host>\S+) ?(?P<rest>.*)",
    re.S,
)
_5424 = re.compile(
    r"<(?P<pri>\d{1,3})>(?P<ver>\d{1,2}) (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) ?"
    r"(?P<rest>.*)",
    re.S,
)
_TAG = re.compile(r"(?P<prog>[^\s\[\]:]{1,128})(?:\[(?P<pid>[^\]\s]{0,32})\])?: ?(?P<msg>.*)", re.S)
_IP = r"(?P<ip>[0-9A-Fa-f:.]+[0-9A-Fa-f](?:%\w+)?)"

_AUTH_PROGS = frozenset({
    "sshd", "sshd-session", "sshd-auth", "sudo", "su", "useradd", "userdel", "usermod", "groupadd", "groupdel",
    "groupmod", "passwd", "chpasswd", "gpasswd", "chage", "login", "systemd-logind", "cron", "crond", "polkitd",
    "unix_chkpwd", "dbus-daemon", "gdm-password", "pkexec", "doas", "newgrp", "chfn", "chsh", "vipw",
})

# ----------------------------------------------------------------- message rules
_R = re.compile
_SSH_RULES: list[tuple[re.Pattern[str], str, str]] = [
    (_R(r"Accepted (?P<method>\S+) for (?P<user>.+?) from " + _IP + r" port (?P<port>\d+)(?: (?P<proto>ssh2))?"
        r"(?:: (?P<keytype>\S+) (?P<fp>\S+))?"), "ssh_login", "success"),
    (_R(r"Failed (?P<method>\S+) for (?P<invalid>invalid user )?(?P<user>.*?) from " + _IP +
        r"(?: port (?P<port>\d+))?(?: (?P<proto>ssh2))?"), "ssh_login", "failure"),
    (_R(r"[Ii]nvalid user (?P<user>.*?) from " + _IP + r"(?: port (?P<port>\d+))?"), "ssh_invalid_user", "failure"),
    (_R(r"User (?P<user>.+?) from " + _IP + r" not allowed because (?P<reason>.*)"), "ssh_login", "failure"),
    (_R(r"error: maximum authentication attempts exceeded for (?P<invalid>invalid user )?(?P<user>.*?) from "
        + _IP + r"(?: port (?P<port>\d+))?"), "ssh_max_auth_tries", "failure"),
    (_R(r"(?:Connection closed|Disconnected) (?:by|from) (?:(?P<who>authenticating|invalid) )?user (?P<user>.*?) "
        + _IP + r"(?: port (?P<port>\d+))?"), "ssh_disconnect", "unknown"),
    (_R(r"(?:Connection closed|Disconnected) (?:by|from) " + _IP + r"(?: port (?P<port>\d+))?"),
     "ssh_disconnect", "unknown"),
    (_R(r"Received disconnect from " + _IP + r"(?: port (?P<port>\d+))?:? ?(?P<reason>.*)"), "ssh_disconnect",
     "unknown"),
    (_R(r"Connection reset by (?:(?:authenticating|invalid) user (?P<user>.*?) )?" + _IP +
        r"(?: port (?P<port>\d+))?"), "ssh_disconnect", "unknown"),
    (_R(r"Connection from " + _IP + r" port (?P<port>\d+)"), "ssh_connect", "unknown"),
    (_R(r"Did not receive identification string from " + _IP + r"(?: port (?P<port>\d+))?"), "ssh_no_ident",
     "failure"),
    (_R(r"Server listening on (?P<ip>\S+) port (?P<port>\d+)"), "ssh_listen", "success"),
    (_R(r"Received signal (?P<signal>\d+); terminating"), "ssh_stop", "success"),
    (_R(r"error: PAM: Authentication failure for (?P<invalid>illegal user |invalid user )?(?P<user>.*?) from "
        r"(?P<ip>\S+)"), "ssh_login", "failure"),
    (_R(r"Disconnecting (?:(?P<who>authenticating|invalid) user (?P<user>.*?) )?" + _IP +
        r"(?: port (?P<port>\d+))?: (?P<reason>.*?)(?: \[preauth\])?$"), "ssh_disconnect", "failure"),
    (_R(r"Unable to negotiate with " + _IP + r" port (?P<port>\d+): (?P<reason>.*?)(?: \[preauth\])?$"),
     "ssh_negotiation_failed", "failure"),
    (_R(r"Bad protocol version identification (?P<reason>.*) from " + _IP + r"(?: port (?P<port>\d+))?"),
     "ssh_no_ident", "failure"),
    (_R(r"banner exchange: Connection from " + _IP + r" port (?P<port>\d+): (?P<reason>.*)"), "ssh_no_ident",
     "failure"),
    (_R(r"Timeout before authentication for (?:connection from )?" + _IP + r"(?: (?:port|to) (?P<port>\S+))?"),
     "ssh_auth_timeout", "failure"),
    (_R(r"ROOT LOGIN REFUSED FROM " + _IP), "ssh_login", "failure"),
    (_R(r"PAM (?P<more>\d+) more authentication failures?;.*?rhost=" + _IP + r"\s+user=(?P<user>\S+)"),
     "auth_failure", "failure"),
    (_R(r"Starting session: (?P<reason>.*?) for (?P<user>\S+) from " + _IP + r" port (?P<port>\d+)"),
     "ssh_session_start", "success"),
    (_R(r"Close session: user (?P<user>\S+) from " + _IP + r" port (?P<port>\d+)"), "ssh_session_end", "success"),
    (_R(r"subsystem request for (?P<reason>\S+) by user (?P<user>\S+)"), "ssh_subsystem", "success"),
    (_R(r"Postponed (?P<method>\S+) for (?P<invalid>invalid user )?(?P<user>.*?) from " + _IP +
        r"(?: port (?P<port>\d+))?"), "ssh_auth_postponed", "unknown"),
]
_LOGIN_RULES: list[tuple[re.Pattern[str], str, str]] = [
    (_R(r"FAILED LOGIN (?:\(\d+\) |\d+ )?(?:on '?(?P<tty>[^' ]+)'? |FROM (?P<from>\S+) )?"
        r"(?:FROM '?(?P<from2>[^' ]*)'? )?FOR '?(?P<user>[^', ]+)'?,? ?(?P<reason>.*)"), "login", "failure"),
    (_R(r"ROOT LOGIN\s+ON '?(?P<tty>[^' ]+)'?(?: FROM '?(?P<from>[^' ]+)'?)?"), "login", "success"),
    (_R(r"LOGIN ON '?(?P<tty>[^' ]+)'? BY '?(?P<user>[^' ]+)'?(?: FROM '?(?P<from>[^' ]+)'?)?"), "login", "success"),
]
#: PAM services where "session opened for user T by U" means U became T
_SWITCH_SERVICES = frozenset({"su", "su-l", "sudo", "sudo-i", "runuser", "runuser-l", "pkexec", "doas"})
_PAM = _R(r"pam_(?P<module>\w+)\((?P<service>[^:)]+):(?P<facility>[^)]+)\): (?P<text>.*)")
_PAM_SESSION = _R(r"session (?P<what>opened|closed) for user (?P<user>[^\s(]+)(?:\(uid=(?P<uid>\d+)\))?"
                  r"(?: by (?P<by>[^\s(]*)(?:\(uid=(?P<byuid>\d+)\))?)?")
_PAM_AUTHFAIL = _R(r"(?:authentication failure|(?P<more>\d+) more authentication failures?);(?P<kv>.*)")
_PAM_PWCHANGE = _R(r"password changed for (?P<user>\S+)")
_SUDO = _R(r"\s*(?P<user>\S+) : (?P<body>.*)")
_SU_DEBIAN = _R(r"(?P<failed>FAILED SU|Successful su) (?:\(to (?P<to>\S+)\) (?P<by>\S+)|for (?P<to2>\S+) by (?P<by2>\S+))")
_SU_RH = _R(r"\(to (?P<to>\S+)\) (?P<by>\S+) on (?P<tty>\S+)")
_SU_PLUS = _R(r"(?P<sign>[+-]) (?P<tty>\S+) (?P<by>[^:\s]+):(?P<to>\S+)")
_ACCOUNT_RULES: list[tuple[re.Pattern[str], str]] = [
    (_R(r"new user: name=(?P<target>[^,]+),(?: UID=(?P<uid>\d+),)?(?: GID=(?P<gid>\d+),)?(?P<kv>.*)"), "user_add"),
    (_R(r"new group: name=(?P<target>[^,]+)(?:, GID=(?P<gid>\d+))?"), "group_add"),
    (_R(r"group added to (?P<file>\S+): name=(?P<target>[^,]+)(?:, GID=(?P<gid>\d+))?"), "group_add"),
    (_R(r"(?:add|added) '?(?P<target>[^' ]+)'? to (?:shadow )?group '?(?P<group>[^' ]+)'?"), "group_member_add"),
    (_R(r"user (?P<target>\S+) added by (?P<by>\S+) to group (?P<group>\S+)"), "group_member_add"),
    (_R(r"(?:delete|deleted|removed) '?(?P<target>[^' ]+)'? from (?:shadow )?group '?(?P<group>[^' ]+)'?"),
     "group_member_remove"),
    (_R(r"user (?P<target>\S+) removed by (?P<by>\S+) from group (?P<group>\S+)"), "group_member_remove"),
    (_R(r"delete user '(?P<target>[^']+)'"), "user_delete"),
    (_R(r"removed group '(?P<target>[^']+)'"), "group_delete"),
    (_R(r"group '(?P<target>[^']+)' removed"), "group_delete"),
    (_R(r"(?:change|changed) user '(?P<target>[^']+)' (?P<what>.*)"), "user_modify"),
    (_R(r"(?:lock|unlock) user '(?P<target>[^']+)' password"), "user_modify"),
    (_R(r"password (?:for|of) '?(?P<target>[^' ]+)'? changed(?: by '?(?P<by>[^' ]+)'?)?"), "password_change"),
    (_R(r"changed password expiry for (?P<target>\S+)"), "user_modify"),
    (_R(r"group '(?P<group>[^']+)' (?P<what>.*)"), "group_modify"),
]
_SESSION_LOGIND = _R(r"New session (?P<sid>\S+) of user (?P<user>\S+?)\.?\s*$")
_SESSION_LOGIND_END = _R(r"Removed session (?P<sid>[^\s.]+)\.?")
_CRON_CMD = _R(r"\((?P<user>[^)]+)\) CMD \((?P<cmd>.*)\)\s*$")


def _tz(spec: Any) -> tzinfo:
    return parse_tz(str(spec))


class SyslogAuthParser(Parser):
    name = "syslog-auth"
    version = "1"
    description = "auth.log / secure: OpenSSH, sudo, su, PAM, useradd/usermod (RFC 3164, RFC 3339 and RFC 5424 syslog)"
    facts = FormatFacts(short_label="auth", timestamp_desc="syslog time",
                        columns=("ts_us", "actor", "action", "outcome", "src_ip", "resource"))

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        y = options.get("year")
        self.year_opt: int | None = None
        if y not in (None, ""):
            try:
                self.year_opt = int(y)
            except (TypeError, ValueError):
                raise ValueError(f"year must be a number, got {y!r}") from None
            if not 1971 <= self.year_opt <= 2199:
                raise ValueError(f"year {self.year_opt} out of range")
        tzs = options.get("tz")
        self.tz_from = "option" if tzs not in (None, "") else "default (zoneless times read as UTC)"
        self.tz = _tz(tzs) if tzs not in (None, "") else UTC
        self.tz_name = str(tzs) if tzs not in (None, "") else "UTC"
        self.year_used: int | None = None
        self.year_from: str | None = None
        self.year_note: str | None = None
        self.year_needed = False  # set once a line without a year was read

    # ------------------------------------------------------------------ sniff
    def sniff(self, sample: Sample) -> Evidence | None:
        lines = sample.first_nonblank(20)
        if not lines:
            return None
        hits = 0
        progs: set[str] = set()
        for ln in lines:
            try:
                text = ln.decode("utf-8", "replace")
            except Exception:
                continue
            head = _header(text)
            if head is None:
                continue
            hits += 1
            if head[3]:
                progs.add(head[3].lower())
        if hits == 0 or hits * 2 < len(lines):
            return None
        auth = sorted(progs & _AUTH_PROGS)
        if auth:
            score = 90 if hits == len(lines) else 75
            return Evidence(score, f"{hits} of {len(lines)} lines are syslog lines from {', '.join(auth)}")
        return Evidence(30, f"{hits} of {len(lines)} lines are syslog lines (no auth programs seen)")

    def source_options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {}  # only what this parser uses (the CLI passes one options dict to every parser)
        if self.year_used is not None and self.year_needed:
            opts["year"] = self.year_used
            opts["year_from"] = self.year_from
            if self.year_note:
                opts["year_note"] = self.year_note
        opts["tz"] = self.tz_name
        opts["tz_from"] = self.tz_from
        return opts

    # ------------------------------------------------------------------ year
    def _base_year(self, inp: Input) -> tuple[int, str, str | None]:
        """(year of the first classic line, "option" | "mtime" | "current-date", note)."""
        if self.year_opt is not None:
            return self.year_opt, "option", None
        if inp.mtime is not None:
            ref = datetime.fromtimestamp(inp.mtime, UTC)
            src = "mtime"
        else:
            ref = datetime.now(UTC)
            src = "current-date"
        notes = [] if src == "mtime" else ["no file modification time (stdin)"]
        rollovers, last = _scan_months(inp)
        year_last = ref.year
        if last is not None:
            mon, day, hms = last
            try:
                h, mi, s = (int(x) for x in hms.split(":"))
                cand = datetime(year_last, mon, day, h, mi, s, tzinfo=self.tz)
                if cand > ref + timedelta(days=1):
                    year_last -= 1
                    notes.append(f"the last line is dated after the {src}: one year earlier")
            except ValueError:
                pass
        if rollovers:
            notes.append(f"{rollovers} Dec->Jan rollover(s) in the file; {year_last} is the year of the last line")
        return year_last - rollovers, src, "; ".join(notes) or None

    # ------------------------------------------------------------------ parse
    def parse(self, inp: Input) -> Iterator[Event | Quarantined]:
        year, year_from, self.year_note = self._base_year(inp)
        self.year_used, self.year_from = year, year_from
        prev_mon: int | None = None
        for lineno, line in inp.iter_lines():
            if line is None:
                yield Quarantined("line longer than the 4 MiB limit", None, line=lineno)
                continue
            if b"\x00" in line:
                yield Quarantined("NUL byte: binary data or a UTF-16 file, not a syslog line", line, line=lineno)
                continue
            try:
                text = line.decode("utf-8")
                bad_utf8 = False
            except UnicodeDecodeError:
                text = line.decode("utf-8", "backslashreplace")
                bad_utf8 = True
            try:
                m = _BSD.fullmatch(text)
                if m is not None:
                    mon = _MONTHS[m.group("mon")]
                    line_year = year
                    if m.group("year"):
                        line_year = int(m.group("year"))
                        yfrom = "line"
                    else:
                        if prev_mon is not None and mon < prev_mon and prev_mon - mon > 6:
                            year += 1
                            line_year = year
                            prev_mon = mon
                        elif prev_mon is not None and mon > prev_mon and mon - prev_mon > 6:
                            line_year = year - 1  # a stray line from before the rollover
                        else:
                            prev_mon = mon
                        yfrom = year_from
                        self.year_needed = True
                    ev = self._bsd_event(m, text, line, lineno, line_year, yfrom)
                else:
                    ev = self._other_event(text, line, lineno)
            except ParseError as exc:
                yield Quarantined(str(exc), line, line=lineno)
                continue
            if bad_utf8:
                ev.extra = ev.extra or {}
                ev.extra["invalid_utf8"] = True
            yield ev

    def _bsd_event(self, m: re.Match[str], text: str, raw: bytes, lineno: int, year: int, yfrom: str) -> Event:
        mon = _MONTHS[m.group("mon")]
        day = int(m.group("day"))
        h, mi, s = (int(x) for x in m.group("hms").split(":"))
        frac = m.group("frac") or ""
        us = int((frac[1:] + "000000")[:6]) if frac else 0
        try:
            dt = datetime(year, mon, day, h, mi, s, us, tzinfo=self.tz)
        except ValueError as exc:
            raise ParseError(f"invalid date {m.group('mon')} {day} {m.group('hms')} in year {year} ({exc})") from None
        ts = _check(dt_to_us(dt.astimezone(UTC)))
        ts_raw = text[m.start("mon"):m.end("frac") if frac else m.end("hms")]
        extra: dict[str, Any] = {"year": year, "year_from": yfrom}
        if self.tz is not UTC or self.tz_from == "option":
            extra["tz"] = self.tz_name
        return self._event(ts, ts_raw, m.group("host"), m.group("rest"), m.group("pri"), raw, lineno, extra)

    def _other_event(self, text: str, raw: bytes, lineno: int) -> Event:
        m = _5424.fullmatch(text)
        if m is not None and m.group("ver") == "1":
            ts_raw = m.group("ts")
            if ts_raw == "-":
                raise ParseError("RFC 5424 record without a timestamp (NILVALUE)")
            ts = parse_iso(ts_raw)
            sd, msg = _split_sd(m.group("rest"))
            msg = msg.removeprefix("\ufeff")
            app = None if m.group("app") == "-" else m.group("app")
            pid = None if m.group("procid") == "-" else m.group("procid")
            extra: dict[str, Any] = {"syslog": "rfc5424"}
            if m.group("msgid") != "-":
                extra["msgid"] = m.group("msgid")
            if sd:
                extra["structured_data"] = sd
            host = None if m.group("host") == "-" else m.group("host")
            return self._event(ts, ts_raw, host, None, m.group("pri"), raw, lineno, extra, prog=app, pid=pid, msg=msg)
        m = _ISO.fullmatch(text)
        if m is not None:
            ts_raw = m.group("ts")
            extra = {"syslog": "rfc3339"}
            if m.group("zone"):
                ts = parse_iso(ts_raw)
            else:
                try:
                    dt = datetime.fromisoformat(ts_raw[:26])
                except ValueError:
                    raise ParseError(f"unparseable time {ts_raw[:40]!r}") from None
                ts = _check(dt_to_us(dt.replace(tzinfo=self.tz).astimezone(UTC)))
                extra["tz"] = self.tz_name
            return self._event(ts, ts_raw, m.group("host"), m.group("rest"), m.group("pri"), raw, lineno, extra)
        raise ParseError("not a syslog line (no RFC 3164, RFC 3339 or RFC 5424 header)")

    # ---------------------------------------------------------------- mapping
    def _event(self, ts: int, ts_raw: str, host: str | None, rest: str | None, pri: str | None, raw: bytes,
               lineno: int, extra: dict[str, Any], *, prog: str | None = None, pid: str | None = None,
               msg: str | None = None) -> Event:
        if rest is not None:
            t = _TAG.fullmatch(rest)
            if t is not None:
                prog, pid, msg = t.group("prog"), t.group("pid"), t.group("msg")
            else:
                msg = rest
        msg = msg or ""
        if pri is not None:
            p = int(pri)
            extra["facility"], extra["severity"] = p >> 3, p & 7
        if pid:
            extra["pid"] = pid
        ev = Event(ts_us=ts, ts_raw=ts_raw, raw=raw, format=self.name, line=lineno, service=prog, host=host,
                   action="syslog", extra=extra)
        body = msg.strip()
        base = (prog or "").lower()
        handled = False
        if base in ("sshd", "sshd-session", "sshd-auth"):
            handled = _ssh(ev, body)
        elif base == "sudo":
            handled = _sudo(ev, body)
        elif base == "su":
            handled = _su(ev, body)
        elif base in ("useradd", "userdel", "usermod", "groupadd", "groupdel", "groupmod", "passwd", "chpasswd",
                      "gpasswd", "chage", "newusers", "vipw", "chsh", "chfn"):
            handled = _account(ev, body)
        elif base == "login":
            handled = _login(ev, body)
        elif base in ("cron", "crond"):
            handled = _cron(ev, body)
        elif base == "systemd-logind":
            handled = _logind(ev, body)
        if not handled:
            _pam(ev, body)
        if ev.src_ip is None and ev.action == "syslog":
            m = re.search(r"\b(?:from|rhost=|by) ?" + _IP, body)
            if m:
                ev.src_ip = _ipval(m.group("ip"))
        who = ev.actor or "-"
        summary = f"{prog or 'syslog'}: {body}" if ev.action == "syslog" else f"{who} {ev.action} " + _detail(ev, body)
        ev.message = one_line(summary, 600)
        return ev


def _detail(ev: Event, body: str) -> str:
    parts = []
    if ev.target_user and ev.target_user != ev.actor:
        parts.append(f"target {ev.target_user}")
    if ev.resource:
        parts.append(ev.resource)
    if ev.src_ip:
        parts.append(f"from {ev.src_ip}")
    if ev.outcome == "failure":
        parts.append("-> failed" + (f" ({ev.error_code})" if ev.error_code else ""))
    return " ".join(parts) if parts else body


def _ipval(ip: str | None) -> str | None:
    if not ip:
        return None
    return ip


def _ssh(ev: Event, body: str) -> bool:
    for rx, action, outcome in _SSH_RULES:
        m = rx.match(body)
        if m is None:
            continue
        g = m.groupdict()
        ev.action, ev.outcome = action, outcome
        user = g.get("user")
        if user:
            ev.actor = user
        ex = ev.extra
        assert ex is not None
        if action == "ssh_listen":
            ex["listen_addr"] = g.get("ip")
        else:
            ev.src_ip = _ipval(g.get("ip"))
        for k in ("method", "port", "keytype", "fp", "reason", "who", "signal", "more"):
            if g.get(k):
                ex[k if k != "fp" else "key_fingerprint"] = g[k].strip()
        if g.get("invalid") or action == "ssh_invalid_user" or g.get("who") == "invalid":
            ex["invalid_user"] = True
        if action == "ssh_login" and g.get("method"):
            ev.resource = f"ssh:{g['method']}"
            if outcome == "failure":
                ev.error_code = "invalid user" if g.get("invalid") else f"{g['method']} rejected"
        if action == "ssh_login" and g.get("reason"):
            ev.error_code = g["reason"]
        if "preauth" in body:
            ex["preauth"] = True
        return True
    return False


def _sudo(ev: Event, body: str) -> bool:
    m = _SUDO.match(body)
    if m is None or ("=" not in m.group("body") and "incorrect password" not in m.group("body")):
        return False
    ev.actor = m.group("user")
    ev.action = "sudo"
    body_all = m.group("body")
    cmd = None
    ci = body_all.find("COMMAND=")
    if ci >= 0 and (ci == 0 or body_all[:ci].endswith("; ")):
        # the command may itself contain " ; ": everything after COMMAND= belongs to it
        cmd = body_all[ci + len("COMMAND="):]
        body_all = body_all[:ci]
    parts = [p.strip() for p in body_all.split(" ; ") if p.strip() and p.strip() != ";"]
    kv: dict[str, str] = {}
    notes: list[str] = []
    for p in parts:
        k, eq, v = p.partition("=")
        if eq and re.fullmatch(r"[A-Z_]+", k):
            kv[k] = v.rstrip(" ;")
        else:
            notes.append(p.rstrip(" ;"))
    if cmd is not None:
        kv["COMMAND"] = cmd
    ev.target_user = kv.get("USER") or "root"
    ev.resource = kv.get("COMMAND")
    ex = ev.extra
    assert ex is not None
    for k in ("TTY", "PWD", "GROUP", "ENV", "CHROOT", "CWD"):
        if k in kv:
            ex[k.lower()] = kv[k]
    if notes:
        ev.outcome = "failure"
        ev.error_code = "; ".join(notes)
    else:
        ev.outcome = "success"
    return True


def _su(ev: Event, body: str) -> bool:
    ex = ev.extra
    assert ex is not None
    m = _SU_DEBIAN.match(body)
    if m:
        ev.action = "su"
        ev.outcome = "failure" if m.group("failed") == "FAILED SU" else "success"
        ev.target_user = m.group("to") or m.group("to2")
        ev.actor = m.group("by") or m.group("by2")
        return True
    m = _SU_RH.match(body) or _SU_PLUS.match(body)
    if m:
        ev.action = "su"
        ev.outcome = "failure" if m.groupdict().get("sign") == "-" else "success"
        ev.target_user = m.group("to")
        ev.actor = m.group("by")
        ex["tty"] = m.group("tty")
        return True
    return False


def _account(ev: Event, body: str) -> bool:
    for rx, action in _ACCOUNT_RULES:
        m = rx.match(body)
        if m is None:
            continue
        g = m.groupdict()
        ev.action, ev.outcome = action, "success"
        ev.target_user = (g.get("target") or "").strip() or None
        if g.get("by"):
            ev.actor = g["by"]
        ex = ev.extra
        assert ex is not None
        for k in ("uid", "gid", "group", "file", "what"):
            if g.get(k):
                ex[k] = g[k].strip()
        if g.get("group"):
            ev.resource = f"group:{g['group']}"
        elif ev.target_user:
            ev.resource = f"{'group' if action.startswith('group_') else 'user'}:{ev.target_user}"
        kvs = g.get("kv") or ""
        for k, v in re.findall(r"(\w+)=([^,]*)", kvs):
            ex[k.lower()] = v.strip()
        return True
    if body.startswith("pam_"):
        return False
    if re.search(r"fail|error|cannot|unable|not found|denied", body, re.I):
        ev.action, ev.outcome = "account_error", "failure"
        return True
    return False


def _login(ev: Event, body: str) -> bool:
    for rx, action, outcome in _LOGIN_RULES:
        m = rx.match(body)
        if m is None:
            continue
        g = m.groupdict()
        ev.action, ev.outcome = action, outcome
        ev.actor = g.get("user") or ("root" if body.startswith("ROOT") else None)
        src = g.get("from") or g.get("from2")
        if src and norm_ip(src)[1] is not None:
            ev.src_ip = src
        elif src:
            ex_src = src  # a tty or host name, not an address
            assert ev.extra is not None
            ev.extra["from"] = ex_src
        ex = ev.extra
        assert ex is not None
        if g.get("tty"):
            ex["tty"] = g["tty"]
        if outcome == "failure" and g.get("reason"):
            ev.error_code = g["reason"].strip()
        return True
    return False


def _cron(ev: Event, body: str) -> bool:
    m = _CRON_CMD.match(body)
    if m is None:
        return False
    ev.action, ev.outcome = "cron_cmd", "success"
    ev.actor = m.group("user")
    ev.resource = m.group("cmd")
    return True


def _logind(ev: Event, body: str) -> bool:
    m = _SESSION_LOGIND.match(body)
    if m:
        ev.action, ev.outcome, ev.actor, ev.session = "session_open", "success", m.group("user"), m.group("sid")
        return True
    m = _SESSION_LOGIND_END.match(body)
    if m:
        ev.action, ev.outcome, ev.session = "session_close", "success", m.group("sid")
        return True
    return False


def _pam(ev: Event, body: str) -> bool:
    m = _PAM.match(body)
    if m is None:
        return False
    ex = ev.extra
    assert ex is not None
    ex["pam_module"] = f"pam_{m.group('module')}"
    ex["pam_service"] = m.group("service")
    ex["pam_facility"] = m.group("facility")
    text = m.group("text")
    s = _PAM_SESSION.match(text)
    if s:
        ev.action = "session_open" if s.group("what") == "opened" else "session_close"
        ev.outcome = "success"
        by = s.group("by")
        user = s.group("user")
        if by and m.group("service") in _SWITCH_SERVICES:  # su/sudo: "for user root by vagrant(uid=1000)"
            ev.actor, ev.target_user = by, user
        else:
            ev.actor = user
        if s.group("uid"):
            ex["uid"] = s.group("uid")
        if s.group("byuid"):
            ex["by_uid"] = s.group("byuid")
        if ev.actor == "" or ev.actor is None:
            ev.actor = user
        return True
    a = _PAM_AUTHFAIL.match(text)
    if a:
        kv = dict(re.findall(r"(\w+)=(\S*)", a.group("kv")))
        if a.group("more"):
            ex["more_failures"] = int(a.group("more"))
        ev.action, ev.outcome, ev.error_code = "auth_failure", "failure", "authentication failure"
        svc = m.group("service")
        user = kv.get("user") or None
        if svc in ("su", "su-l", "sudo") and (kv.get("ruser") or kv.get("logname")):
            ev.actor = kv.get("ruser") or kv.get("logname")
            ev.target_user = user
        else:
            ev.actor = user
        if kv.get("rhost"):
            ev.src_ip = kv["rhost"]
        for k in ("tty", "ruser", "logname", "uid", "euid"):
            if kv.get(k):
                ex[k] = kv[k]
        ev.resource = f"pam:{svc}"
        return True
    p = _PAM_PWCHANGE.match(text)
    if p:
        ev.action, ev.outcome, ev.target_user = "password_change", "success", p.group("user")
        ev.resource = f"user:{p.group('user')}"
        return True
    if text.startswith("check pass; user unknown"):
        ev.action, ev.outcome, ev.error_code = "auth_failure", "failure", "user unknown"
        return True
    return False


def _split_sd(rest: str) -> tuple[list[dict[str, Any]] | None, str]:
    """RFC 5424 STRUCTURED-DATA then MSG."""
    if rest.startswith("- ") or rest == "-":
        return None, rest[2:]
    out: list[dict[str, Any]] = []
    i = 0
    n = len(rest)
    while i < n and rest[i] == "[":
        j = i + 1
        in_q = False
        while j < n:
            c = rest[j]
            if c == "\\" and j + 1 < n:
                j += 2
                continue
            if c == '"':
                in_q = not in_q
            elif c == "]" and not in_q:
                break
            j += 1
        if j >= n:
            raise ParseError("RFC 5424 structured data not terminated")
        elem = rest[i + 1:j]
        sid, _, params = elem.partition(" ")
        d: dict[str, Any] = {"id": sid}
        for k, v in re.findall(r'([^\s=]+)="((?:[^"\\]|\\.)*)"', params):
            d[k] = re.sub(r"\\(.)", r"\1", v)
        out.append(d)
        i = j + 1
    return out or None, rest[i:].lstrip(" ")


def _header(text: str) -> tuple[str, str | None, str | None, str | None] | None:
    """(kind, host, ts, program) when *text* starts with a syslog header, else None."""
    m = _BSD.fullmatch(text)
    kind = "rfc3164"
    if m is None:
        m5 = _5424.fullmatch(text)
        if m5 is not None and m5.group("ver") == "1" and re.match(r"\d{4}-\d{2}-\d{2}T|-$", m5.group("ts")):
            return "rfc5424", m5.group("host"), m5.group("ts"), m5.group("app")
        m = _ISO.fullmatch(text)
        kind = "rfc3339"
        if m is None:
            return None
    t = _TAG.fullmatch(m.group("rest"))
    if t is None:
        return None
    return kind, m.group("host"), None, t.group("prog")


def _scan_months(inp: Input) -> tuple[int, tuple[int, int, str] | None]:
    """Count Dec->Jan rollovers among classic lines; also the last classic line's (month, day, hh:mm:ss)."""
    rollovers = 0
    prev = None
    last = None
    rx = re.compile(rb"(?:<\d{1,3}>)?(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}(\d{1,2}) (\d{2}:\d{2}:\d{2}) ")
    try:
        for _n, line in inp.iter_lines():
            if not line:
                continue
            m = rx.match(line)
            if m is None:
                continue
            mon = _MONTHS[m.group(1).decode()]
            if prev is not None and mon < prev and prev - mon > 6:
                rollovers += 1
                prev = mon
            elif prev is None or not (mon > prev and mon - prev > 6):
                prev = mon
            last = (mon, int(m.group(2)), m.group(3).decode())
    except TruncatedInput:
        pass  # a cut .gz: the year comes from what is readable; parse() reports the truncation
    return rollovers, last


def _check(us: int) -> int:
    if not (MIN_US <= us <= MAX_US):
        raise ParseError("time out of range")
    return us

