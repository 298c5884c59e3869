"""Times as an investigator types them, resolved against a reference.

Used by the filter language (``since:`` / ``until:``) and by the console's
jump-to-time (``J``): full ISO 8601 times, partial times that take their
missing parts from the reference, and offsets from the reference.

    2026-03-14T01:18:00Z   2026-03-14 01:18   full (no zone: UTC)
    01:18   01:18:30       that clock time on the reference's day
    14 01:18               day 14 of the reference's month, 01:18
    03-14 01:18            March 14 of the reference's year
    2026-03-14             midnight UTC
    -2h  +30m  -1d         before / after the reference (s, m, h, d, w)
    24h  7d                before *now* (the older form, kept)
    now

The reference (:class:`TimeRef`) is the view's time range: ``anchor`` is where
missing parts and offsets are taken from (the console's cursor for ``J``, the
end of the range for a filter); a partial time that falls outside the range
but inside it one day (or month) earlier or later is moved there, so ``01:18``
typed over a view of one night means that night.

Every error is a :class:`TimeSyntaxError` naming the position in the text.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from logconsole.util.errors import ParseError
from logconsole.util.timeparse import parse_iso

#: what the index can hold (UTC µs of years 1..9999 minus a margin)
MIN_US = -62135596800 * 1_000_000
MAX_US = 253402300799 * 1_000_000


class TimeSyntaxError(ValueError):
    def __init__(self, message: str, position: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass(frozen=True)
class TimeRef:
    """``anchor_us``: where missing parts and ``-2h`` come from; ``start_us``/``end_us``:
    the view's range (either may be None); ``now_us``: for the ``24h`` form."""

    anchor_us: int | None = None
    start_us: int | None = None
    end_us: int | None = None
    now_us: int | None = None

    @property
    def now(self) -> int:
        return self.now_us if self.now_us is not None else int(time.time() * 1_000_000)

    @property
    def anchor(self) -> int:
        if self.anchor_us is not None:
            return self.anchor_us
        if self.end_us is not None:
            return self.end_us
        return self.now


_UNIT_US = {"s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000, "w": 604_800_000_000}
_OFFSET = re.compile(r"^([+-])?(\d{1,12}(?:\.\d{1,6})?)(s|m|h|d|w)$")
_CLOCK = r"(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
_PARTIAL = [
    ("clock", re.compile(rf"^{_CLOCK}$")),
    ("day", re.compile(rf"^(\d{{1,2}})[ T]{_CLOCK}$")),
    ("monthday", re.compile(rf"^(\d{{1,2}})-(\d{{1,2}})[ T]{_CLOCK}$")),
]


def _check(us: int, text: str, position: int) -> int:
    if not MIN_US <= us <= MAX_US:
        raise TimeSyntaxError(f"time {text!r} is out of range (years 1 to 9999)", position)
    return us


def _dt(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=us)


def _us(dt: datetime) -> int:
    return (dt - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)


def _clock(groups: tuple[str | None, ...]) -> tuple[int, int, int, int]:
    h, m, s, frac = groups
    return int(h or 0), int(m or 0), int(s or 0), int((frac or "0").ljust(6, "0"))


def _shift_months(dt: datetime, n: int) -> datetime | None:
    y, mo = divmod(dt.month - 1 + n, 12)
    try:
        return dt.replace(year=dt.year + y, month=mo + 1)
    except ValueError:
        return None


def _into_range(us: int, ref: TimeRef, step: str) -> int:
    lo, hi = ref.start_us, ref.end_us
    if lo is None and hi is None:
        return us
    if (lo is None or us >= lo) and (hi is None or us <= hi):
        return us
    dt = _dt(us)
    for k in (-1, 1):
        cand = dt + timedelta(days=k) if step == "day" else _shift_months(dt, k)
        if cand is None:
            continue
        c = _us(cand)
        if (lo is None or c >= lo) and (hi is None or c <= hi):
            return c
    return us


def resolve_time(text: str, ref: TimeRef | None = None, *, position: int = 0) -> int:
    """UTC epoch µs of *text* (see the module doc); raises :class:`TimeSyntaxError`."""
    ref = ref or TimeRef()
    s = text.strip()
    pos = position + (len(text) - len(text.lstrip()))
    if not s:
        raise TimeSyntaxError("empty time", pos)
    if s == "now":
        return ref.now
    m = _OFFSET.match(s)
    if m:
        sign, num, unit = m.groups()
        delta = int(float(num) * _UNIT_US[unit])
        if sign == "+":
            return _check(ref.anchor + delta, s, pos)
        if sign == "-":
            return _check(ref.anchor - delta, s, pos)
        return _check(ref.now - delta, s, pos)
    for kind, rx in _PARTIAL:
        m = rx.match(s)
        if not m:
            continue
        g = m.groups()
        a = _dt(ref.anchor)
        try:
            if kind == "clock":
                h, mi, sec, us = _clock(g)
                dt = a.replace(hour=h, minute=mi, second=sec, microsecond=us)
                step = "day"
            elif kind == "day":
                h, mi, sec, us = _clock(g[1:])
                dt = a.replace(day=int(g[0]), hour=h, minute=mi, second=sec, microsecond=us)
                step = "month"
            else:
                h, mi, sec, us = _clock(g[2:])
                dt = a.replace(month=int(g[0]), day=int(g[1]), hour=h, minute=mi, second=sec, microsecond=us)
                step = "year"
        except ValueError as exc:
            raise TimeSyntaxError(f"bad time {s!r}: {exc}", pos) from None
        return _check(_into_range(_us(dt), ref, step), s, pos)
    try:
        us = parse_iso(s if re.search(r"(Z|[+-]\d\d:?\d\d|UTC|GMT)$", s) or len(s) <= 10 else s + "Z")
    except (ParseError, OverflowError, ValueError):
        raise TimeSyntaxError(
            f"bad time {s!r}: use ISO 8601 (2026-03-14T01:05:00Z), a clock time (01:18, 14 01:18), "
            "an offset from the view (-2h, +30m) or an age (24h, 7d)", pos) from None
    return _check(us, s, pos)
