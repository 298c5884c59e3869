"""Time parsing: everything becomes UTC epoch microseconds."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo, UTC
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from logconsole.util.errors import ParseError

UTC = UTC
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_FRAC = re.compile(r"(\.\d{6})\d+")  # fromisoformat wants at most 6 digits: drop the rest
_SPACE_T = re.compile(r"^(\d{4}-\d{2}-\d{2}) (\d)")
_TZ_NOCOLON = re.compile(r"([+-]\d{2})(\d{2})$")
_UTC_SUFFIX = re.compile(r"\s*(UTC|GMT)$")
# years outside this range are almost certainly bad data
MIN_US = int((datetime(1971, 1, 1, tzinfo=UTC) - _EPOCH) / _US)
MAX_US = int((datetime(2200, 1, 1, tzinfo=UTC) - _EPOCH) / _US)


def dt_to_us(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // _US


def us_to_dt(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def format_us(us: int | None, *, sep: str = "T", zone: bool = True, precision: str = "auto") -> str:
    """ISO 8601 in UTC with the zone shown: ``2020-09-14T01:19:40.123Z``."""
    if us is None:
        return ""
    dt = us_to_dt(us)
    s = dt.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    frac = us % 1_000_000
    if precision == "us" or (precision == "auto" and frac % 1000):
        s += f".{frac:06d}"
    elif precision == "ms" or (precision == "auto" and frac):
        s += f".{frac // 1000:03d}"
    return s + ("Z" if zone else "")


def parse_iso(value: str) -> int:
    """ISO 8601 / RFC 3339 (and common variants) to UTC epoch µs."""
    s = value.strip()
    try:
        return _check(dt_to_us(datetime.fromisoformat(s.replace("Z", "+00:00") if s.endswith("Z") else s)))
    except ValueError:
        pass
    t = _UTC_SUFFIX.sub("+00:00", s)
    t = t[:-1] + "+00:00" if t.endswith(("Z", "z")) else t
    t = _SPACE_T.sub(r"\1T\2", t)
    t = _FRAC.sub(r"\1", t)
    t = _TZ_NOCOLON.sub(r"\1:\2", t)
    try:
        return _check(dt_to_us(datetime.fromisoformat(t)))
    except ValueError:
        raise ParseError(f"unparseable time {value[:64]!r}") from None


def parse_epoch(value: float | int | str) -> int:
    """Epoch seconds, milliseconds or microseconds (by magnitude) to µs."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ParseError(f"unparseable epoch time {str(value)[:64]!r}") from None
    if x != x or x in (float("inf"), float("-inf")):
        raise ParseError(f"unparseable epoch time {str(value)[:64]!r}")
    ax = abs(x)
    if ax >= 1e17:  # nanoseconds
        us = int(x // 1000)
    elif ax >= 1e14:
        us = int(x)
    elif ax >= 1e11:
        us = int(round(x * 1000))
    else:
        us = int(round(x * 1_000_000))
    return _check(us)


def parse_time(value) -> int:
    """Any supported representation: ISO string, epoch number or numeric string."""
    if value is None or value == "":
        raise ParseError("missing time")
    if isinstance(value, bool):
        raise ParseError("time has wrong type bool")
    if isinstance(value, (int, float)):
        return parse_epoch(value)
    if isinstance(value, str):
        s = value.strip()
        if s and (s[0].isdigit() or s[0] == "-") and s.replace(".", "", 1).lstrip("-").isdigit():
            return parse_epoch(s)
        return parse_iso(s)
    raise ParseError(f"time has wrong type {type(value).__name__}")


def _check(us: int) -> int:
    if not (MIN_US <= us <= MAX_US):
        raise ParseError(f"time out of range ({format_us(us) if -62e15 < us < 2.5e17 else us})")
    return us


_TZ_OFFSET = re.compile(r"(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?")


def parse_tz(spec: str, abbreviations: dict[str, int] | None = None) -> tzinfo:
    """A zone option: ``UTC``/``Z``/``GMT``, ``+HH:MM``/``-HHMM``, an IANA name (DST-aware),
    or one of *abbreviations* (name -> minutes east of UTC).  Raises ValueError."""
    s = str(spec).strip()
    if s.upper() in ("UTC", "Z", "GMT", "UTC+0", "GMT+0"):
        return timezone.utc
    m = _TZ_OFFSET.fullmatch(s)
    if m:
        off = timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))
        if off >= timedelta(hours=24):
            raise ValueError(f"time zone offset out of range: {s!r}")
        return timezone(-off if m.group(1) == "-" else off)
    if abbreviations and s.upper() in abbreviations:
        return timezone(timedelta(minutes=abbreviations[s.upper()]))
    try:
        return ZoneInfo(s)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {s!r}: use UTC, +HH:MM or an IANA name such as Europe/Berlin") from None
