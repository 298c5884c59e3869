"""Audit readiness (`r` on the findings screen): per format or per source, and the grants counts."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from sqlalchemy import Engine
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from logconsole.store.sanitize import one_line
from logconsole.tui.actions import bindings


def _tail(path: str, width: int) -> str:
    s = one_line(path)
    return s if len(s) <= width else "…" + s[-(width - 1):]



class ReadinessScreen(Screen[None]):
    """Audit readiness per format (or per source with `s`), and the grants counts."""

    BINDINGS = bindings("ReadinessScreen")
    DEFAULT_CSS = """
    ReadinessScreen #ready-title { height: 1; padding: 0 1; }
    ReadinessScreen #ready-table { height: 1fr; }
    ReadinessScreen #ready-grants-box { height: auto; max-height: 12; padding: 0 1; border-top: solid $accent; }
    """

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.result: dict[str, Any] | None = None
        self.per_source = False

    def compose(self) -> ComposeResult:
        yield Static(Text("Audit readiness: computing…", style="bold"), id="ready-title")
        yield DataTable(id="ready-table", cursor_type="row", zebra_stripes=False)
        with VerticalScroll(id="ready-grants-box"):
            yield Static(id="ready-grants")
        yield Footer()

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="readiness")
    def _load(self) -> None:
        from logconsole.report.readiness import readiness

        res = readiness(self.engine)
        self.app.call_from_thread(self._show, res)

    @staticmethod
    def _pct(n: int, d: int) -> str:
        return f"{100 * n / d:.0f}%" if d else "-"

    def _show(self, res: dict[str, Any]) -> None:
        if not self.is_mounted:
            return
        self.result = res
        table = self.query_one(DataTable)
        table.clear(columns=True)
        if self.per_source:
            for label, width in (("score", 5), ("grade", 9), ("format", 16), ("events", 9), ("ok / fail", 17), ("actor", 5),
                                 ("ms", 5), ("resource", 8), ("tamper-evident", 14), ("source", 70), ("notes", 80)):
                table.add_column(label, width=width)
            for r in sorted(res["sources"], key=lambda r: (r["score"], r["path"])):
                n = r["events"]
                table.add_row(
                    Text(f"{r['score']}%", justify="right"), Text(r["grade"]), Text(one_line(r["format"], 16)), Text(f"{n:,}", justify="right"),
                    Text(f"{r['success']:,} / {r['failure']:,}"), Text(self._pct(r["with_actor"], n)), Text(self._pct(r["with_ms"], n)),
                    Text(self._pct(r["with_resource"], n)), Text(r["tamper"]), Text(_tail(r["path"], 70)), Text(one_line("; ".join(r["notes"]), 80)),
                )
        else:
            for label, width in (("format", 18), ("sources", 7), ("events", 11), ("ok / fail", 21), ("actor", 5), ("ms", 5),
                                 ("resource", 8), ("tamper-evident", 40), ("score", 14)):
                table.add_column(label, width=width)
            for f in res["formats"]:
                n = f["events"]
                rng = f" ({f['score_min']}-{f['score_max']}%)" if f["score_min"] != f["score_max"] else ""
                table.add_row(
                    Text(one_line(f["format"], 18)), Text(str(f["sources"]), justify="right"), Text(f"{n:,}", justify="right"),
                    Text(f"{f['success']:,} / {f['failure']:,}"), Text(self._pct(f["with_actor"], n)), Text(self._pct(f["with_ms"], n)),
                    Text(self._pct(f["with_resource"], n)), Text(one_line(", ".join(f"{k} {v}" for k, v in f["tamper"].items()), 40)),
                    Text(f"{f['score']}%{rng}"),
                )
        self.query_one("#ready-title", Static).update(Text(
            f"Audit readiness ({'per source' if self.per_source else 'per format'}; s toggles): comprehensive, "
            "tamper-evident, contextual; score = points / 7", style="bold"))
        g = res["grants"]
        t = Text()
        if g is None:
            t.append("grants: " + one_line(res.get("grants_note") or "not imported"), style="dim")
        else:
            t.append(f"grants: {len(g['dormant'])} dormant, {len(g['overprivileged'])} over-privileged actor(s), "
                     f"{g['unknown_permissions']:,} permission(s) in state unknown\n")
            for name in g["dormant"]:
                t.append("  dormant: " + one_line(name, 100) + "\n")
            for name in g["overprivileged"]:
                t.append("  over-privileged: " + one_line(name, 100) + "\n")
        self.query_one("#ready-grants", Static).update(t)

    def action_toggle(self) -> None:
        self.per_source = not self.per_source
        if self.result is not None:
            self._show(self.result)

    def action_back(self) -> None:
        self.dismiss(None)
