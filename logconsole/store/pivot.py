"""Two-field count tables: rows x columns of event counts for a filter.

``logconsole pivot actor action [QUERY]`` and the console's pivot screen
(drill into a cell with :func:`cell_filter`).  A dimension is a field of the
filter language that names one value per event (``actor``, ``action``,
``ip``, ``outcome``, ``extra.KEY`` ...) or a time bucket (``minute``,
``hour``, ``day``, ``week``, or ``time:15m`` / ``time:6h`` / ``time:2d``).
One ``GROUP BY`` over the matching events; the rows and columns with the
largest totals are kept (``max_rows``/``max_cols``) and the rest is summed
into ``other`` counts, so totals always add up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, literal_column, select, true

from logconsole.store import dialect
from logconsole.store.filter import ALIASES, term
from logconsole.store.schema import events, sources
from logconsole.util.timeparse import format_us


class PivotError(ValueError):
    pass


#: filter field -> events column (one value per event)
_COLUMNS = {
    "actor": events.c.actor, "actor_type": events.c.actor_type, "actor_uid": events.c.actor_uid,
    "action": events.c.action, "service": events.c.service, "outcome": events.c.outcome,
    "error": events.c.error_code, "session": events.c.session, "target": events.c.target_user,
    "ip": events.c.src_ip, "ua": events.c.user_agent, "host": events.c.host, "resource": events.c.resource,
    "account": events.c.account, "region": events.c.region, "format": events.c.format,
    "message": events.c.message, "record": events.c.record_id,
}
_BUCKETS = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class Dimension:
    name: str  # as the user wrote it, canonical
    expr: Any  # SQL expression of the value
    bucket_us: int | None = None  # a time bucket: its width

    def label(self, value: Any) -> str:
        if value is None:
            return "(none)"
        if self.bucket_us is not None:
            return format_us(int(value))
        return str(value)

    def filter_for(self, value: Any) -> str:
        """The filter terms that select events with this value."""
        if self.bucket_us is not None:
            return f"since:{format_us(int(value))} until:{format_us(int(value) + self.bucket_us - 1)}"
        if value is None:
            return f"-{self.name}:*"
        if self.name == "source":
            return f"source:{int(value)}"
        return term(self.name, str(value))


def dimension(name: str) -> Dimension:
    """A pivot dimension by name; raises :class:`PivotError` naming the choices."""
    n = name.strip()
    low = n.lower()
    if low in _BUCKETS:
        width = _BUCKETS[low] * 1_000_000
        return Dimension(low, events.c.ts_us.op("/")(width).op("*")(width), width)
    m = re.fullmatch(r"time:(\d{1,6})([smhdw])", low)
    if m:
        width = int(m.group(1)) * _UNIT[m.group(2)] * 1_000_000
        if width <= 0:
            raise PivotError(f"{name}: a bucket needs a positive width")
        return Dimension(low, events.c.ts_us.op("/")(width).op("*")(width), width)
    if n.startswith("extra."):
        key = n[6:]
        if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", key):
            raise PivotError(f"bad extra field name {key!r}")
        return Dimension(n, dialect.json_field(events.c.extra, key))
    if low == "source":
        return Dimension("source", events.c.source_id)
    canon = ALIASES.get(low, low)
    if canon in ("error_code",):
        canon = "error"
    col = _COLUMNS.get(canon)
    if col is None:
        raise PivotError(
            f"cannot pivot on {name!r}; use a field ({', '.join(sorted(_COLUMNS))}, source, extra.KEY) "
            f"or a time bucket ({', '.join(_BUCKETS)}, time:15m)")
    return Dimension(canon, col)


@dataclass
class PivotTable:
    row: Dimension
    col: Dimension
    rows: list[Any]  # row values, largest total first (time buckets: in time order)
    cols: list[Any]
    counts: dict[tuple[Any, Any], int]
    row_totals: dict[Any, int]
    col_totals: dict[Any, int]
    total: int
    other_rows: int = 0  # how many row values were folded into "other"
    other_cols: int = 0
    other_row_totals: dict[Any, int] = field(default_factory=dict)  # per shown column
    other_col_totals: dict[Any, int] = field(default_factory=dict)  # per shown row
    other_other: int = 0

    def count(self, r: Any, c: Any) -> int:
        return self.counts.get((r, c), 0)

    def as_json(self) -> dict[str, Any]:
        return {
            "row_field": self.row.name, "col_field": self.col.name, "total": self.total,
            "columns": [{"value": c, "label": self.col.label(c), "total": self.col_totals[c]} for c in self.cols],
            "rows": [
                {"value": r, "label": self.row.label(r), "total": self.row_totals[r],
                 "counts": [self.count(r, c) for c in self.cols],
                 "other_columns": self.other_col_totals.get(r, 0)}
                for r in self.rows
            ],
            "other_rows": {"values": self.other_rows, "counts": [self.other_row_totals.get(c, 0) for c in self.cols],
                           "other_columns": self.other_other},
            "other_columns": self.other_cols,
        }


def pivot(conn: Connection, row: str | Dimension, col: str | Dimension, where: ColumnElement[bool] | None = None,
          *, max_rows: int = 50, max_cols: int = 20) -> PivotTable:
    """Counts of events matching *where* by (*row*, *col*)."""
    rd = row if isinstance(row, Dimension) else dimension(row)
    cd = col if isinstance(col, Dimension) else dimension(col)
    r_expr, c_expr = rd.expr.label("r"), cd.expr.label("c")
    q = select(r_expr, c_expr, func.count().label("n")).where(where if where is not None else true())
    q = q.group_by(literal_column("r"), literal_column("c"))
    counts: dict[tuple[Any, Any], int] = {}
    row_totals: dict[Any, int] = {}
    col_totals: dict[Any, int] = {}
    for r, c, n in conn.execute(q):
        counts[(r, c)] = n
        row_totals[r] = row_totals.get(r, 0) + n
        col_totals[c] = col_totals.get(c, 0) + n
    total = sum(row_totals.values())

    def top(totals: dict[Any, int], dim: Dimension, limit: int) -> list[Any]:
        keys = sorted(totals, key=lambda k: (-totals[k], k is None, str(k)))[:limit]
        if dim.bucket_us is not None:
            keys.sort(key=lambda k: (k is None, k if k is not None else 0))
        return keys

    rows = top(row_totals, rd, max_rows)
    cols = top(col_totals, cd, max_cols)
    shown_r, shown_c = set(rows), set(cols)
    t = PivotTable(rd, cd, rows, cols, {k: v for k, v in counts.items() if k[0] in shown_r and k[1] in shown_c},
                   {r: row_totals[r] for r in rows}, {c: col_totals[c] for c in cols}, total,
                   other_rows=len(row_totals) - len(rows), other_cols=len(col_totals) - len(cols))
    for (r, c), n in counts.items():
        if r in shown_r and c not in shown_c:
            t.other_col_totals[r] = t.other_col_totals.get(r, 0) + n
        elif r not in shown_r and c in shown_c:
            t.other_row_totals[c] = t.other_row_totals.get(c, 0) + n
        elif r not in shown_r and c not in shown_c:
            t.other_other += n
    return t


def cell_filter(table: PivotTable, row_value: Any, col_value: Any, base: str | None = None) -> str:
    """The filter that selects a cell's events: *base* ANDed with both values (drill-down)."""
    parts = [f"({base})"] if base and base.strip() else []
    parts.append(table.row.filter_for(row_value))
    parts.append(table.col.filter_for(col_value))
    return " ".join(parts)


def source_labels(conn: Connection, ids: list[Any]) -> dict[Any, str]:
    """Source ids -> file paths, for a ``source`` dimension's labels."""
    if not ids:
        return {}
    return {r[0]: r[1] for r in conn.execute(select(sources.c.id, sources.c.path).where(sources.c.id.in_(ids)))}
