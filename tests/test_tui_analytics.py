"""Pilot and snapshot tests: histogram, facet panel and frequency screen in minimal host apps."""

from __future__ import annotations

import asyncio
import functools
import inspect

import pytest
from sqlalchemy import true
from textual.app import App, ComposeResult
from textual.widgets import Static

from logconsole.store import aggregates
from logconsole.store.db import open_db
from logconsole.store.filter import compile_filter
from logconsole.tui.screens.frequency import FrequencyScreen
from logconsole.tui.widgets.facets import FacetPanel
from logconsole.tui.widgets.histogram import GLYPH_FAILURE, GLYPH_SUCCESS, Histogram, range_term

from tests.test_tui_analytics_aggregates import insert_events

H = 3600 * 1_000_000
T0 = 1_600_041_600_000_000  # 2020-09-14T00:00:00Z

HOSTILE = "evil\x1b]52;c;cHduZWQ=\x07[bold red]x[/]\x1b[2J"


def build_rows():
    rows = []
    # 48 hours, 1 event per 10 minutes; failures concentrated in hour 30; alice dominant
    for i in range(48 * 6):
        ts = T0 + i * 600 * 1_000_000
        hour = i // 6
        failed = hour == 30 or i % 25 == 0
        actor = "arn:aws:iam::111122223333:user/alice" if i % 3 else ("bob" if i % 2 else "carol")
        rows.append(dict(ts_us=ts, outcome="failure" if failed else "success", actor=actor,
                         action=["GetObject", "PutObject", "ListBuckets", "AssumeRole"][i % 4],
                         src_ip=["10.0.0.1", "10.0.0.2", "203.0.113.9"][i % 3 if i % 7 else 0],
                         resource=f"arn:aws:s3:::bucket/key-{i % 40:02d}"))
    rows.append(dict(ts_us=T0 + 47 * H + 1, actor=HOSTILE, action="Hostile", src_ip=None, outcome="unknown"))
    return rows


@pytest.fixture
def engine(tmp_path):
    eng = open_db(tmp_path / "tui.db")
    insert_events(eng, build_rows())
    aggregates.clear_cache()
    yield eng
    eng.dispose()


def sync(fn):
    """Run an async test body with asyncio (no pytest async plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    wrapper.__signature__ = inspect.signature(fn)
    return wrapper


async def settle(pilot, cond, tries: int = 1500) -> None:
    for _ in range(tries):
        await pilot.pause(0.01)
        if cond():
            return
    raise AssertionError("the widget did not finish loading")


def screen_text(widget) -> list[str]:
    return ["".join(seg.text for seg in widget.render_line(y)) for y in range(widget.size.height)]


# ------------------------------------------------------------------ histogram


class HistApp(App):
    def __init__(self, engine, where=None):
        super().__init__()
        self.engine = engine
        self.where = where
        self.selected: list[Histogram.RangeSelected] = []

    def compose(self) -> ComposeResult:
        yield Histogram(self.engine, self.where)

    def on_histogram_range_selected(self, msg: Histogram.RangeSelected) -> None:
        self.selected.append(msg)


def ready(h: Histogram):
    return lambda: h.data is not None and not h.busy


@sync
async def test_histogram_counts_and_draws_failures_with_their_own_glyph(engine):
    app = HistApp(engine)
    async with app.run_test(size=(100, 12)) as pilot:
        h = app.query_one(Histogram)
        await settle(pilot, ready(h))
        d = h.data
        assert sum(b.total for b in d.buckets) == 48 * 6 + 1
        assert sum(b.failure for b in d.buckets) == sum(1 for r in build_rows() if r.get("outcome") == "failure")
        assert d.width_us == H  # 48 h over 93 slots -> 1 h buckets
        assert d.start_us == T0 and len(d.buckets) == 48
        lines = screen_text(h)
        # the failure burst at hour 30 is drawn with the failure glyph, successes with the full block
        col = 7 + 30
        bar = "".join(ln[col] for ln in lines[1:-1])
        assert bar.count(GLYPH_FAILURE) == 5 and GLYPH_SUCCESS not in bar  # 6 of a peak of 7, 6 rows
        assert GLYPH_SUCCESS in "".join(ln[7 + 2] for ln in lines[1:-1])
        # the axis is labelled in UTC with the zone
        assert "UTC" in lines[-1] and "09-14 00:00Z" in lines[-1]
        # the cursor starts on the busiest bucket and the status names it in UTC
        assert h.cursor == 47
        assert lines[0].startswith("2020-09-15T23:00:00Z +1h: 7 events, 1 unknown")


@sync
async def test_histogram_zoom_in_and_out(engine):
    app = HistApp(engine)
    async with app.run_test(size=(100, 12)) as pilot:
        h = app.query_one(Histogram)
        h.focus()
        await settle(pilot, ready(h))
        h.cursor = 30
        await pilot.press("plus")
        await settle(pilot, lambda: ready(h)() and h.data.width_us < H)
        assert h.view is not None
        assert h.data.width_us == 10 * 60 * 1_000_000  # 12 h span / 93 slots -> 10 min buckets
        assert h.data.start_us <= T0 + 30 * H < h.data.end_us
        # the cursor stays on the same time
        assert h.data.start_us + h.cursor * h.data.width_us == T0 + 30 * H
        await pilot.press("minus")
        await settle(pilot, lambda: ready(h)() and h.data.width_us == H)
        assert h.view is None and h.data.start_us == T0
        await pilot.press("plus", "0")
        await settle(pilot, lambda: ready(h)() and h.view is None and h.data.width_us == H)


@sync
async def test_histogram_range_selection_posts_bounds(engine):
    app = HistApp(engine)
    async with app.run_test(size=(100, 12)) as pilot:
        h = app.query_one(Histogram)
        h.focus()
        await settle(pilot, ready(h))
        await pilot.press("home", "right", "right", "space", "right", "right", "right", "space")
        await pilot.pause()
        assert len(app.selected) == 1
        msg = app.selected[0]
        assert (msg.start_us, msg.end_us) == (T0 + 2 * H, T0 + 6 * H)
        assert msg.term == "since:2020-09-14T02:00:00Z until:2020-09-14T05:59:59.999999Z"
        # the term selects exactly the events of those 4 buckets
        with engine.connect() as c:
            assert aggregates.count(c, compile_filter(msg.term).where) == 4 * 6
        # marking backwards gives the same ordered bounds; Enter alone selects one bucket
        await pilot.press("space", "left", "enter")
        await pilot.press("end", "enter")
        await pilot.pause()
        assert (app.selected[1].start_us, app.selected[1].end_us) == (T0 + 4 * H, T0 + 6 * H)
        assert (app.selected[2].start_us, app.selected[2].end_us) == (T0 + 47 * H, T0 + 48 * H)


@sync
async def test_histogram_escape_drops_half_marked_range(engine):
    app = HistApp(engine)
    async with app.run_test(size=(100, 12)) as pilot:
        h = app.query_one(Histogram)
        h.focus()
        await settle(pilot, ready(h))
        await pilot.press("space")
        assert h.mark_start is not None
        await pilot.press("escape")
        assert h.mark_start is None and app.selected == []


@sync
async def test_histogram_follows_the_filter(engine):
    app = HistApp(engine)
    async with app.run_test(size=(100, 12)) as pilot:
        h = app.query_one(Histogram)
        await settle(pilot, ready(h))
        h.where = compile_filter("outcome:failure").where
        await settle(pilot, lambda: ready(h)() and all(b.success == 0 for b in h.data.buckets))
        assert sum(b.failure for b in h.data.buckets) == sum(1 for r in build_rows() if r.get("outcome") == "failure")
        h.where = compile_filter("actor:nobody").where
        await settle(pilot, lambda: ready(h)() and h.data.full is None)
        assert "no events" in screen_text(h)[0]


def test_range_term():
    assert range_term(T0, T0 + H) == "since:2020-09-14T00:00:00Z until:2020-09-14T00:59:59.999999Z"
    assert range_term(T0, T0) == "since:2020-09-14T00:00:00Z until:2020-09-14T00:00:00Z"


# --------------------------------------------------------------------- facets


class FacetApp(App):
    CSS = "FacetPanel { width: 1fr; }"

    def __init__(self, engine, where=None):
        super().__init__()
        self.engine = engine
        self.where = where
        self.drills: list[FacetPanel.DrillDown] = []
        self.breadcrumb: list[str] = []

    def compose(self) -> ComposeResult:
        yield FacetPanel(self.engine, self.where)

    def on_facet_panel_drill_down(self, msg: FacetPanel.DrillDown) -> None:
        self.drills.append(msg)

    def on_facet_panel_frequency_requested(self, msg: FacetPanel.FrequencyRequested) -> None:
        # the host decides: the whole frequency table, whose value drills down like a facet value
        panel = msg.panel
        screen = FrequencyScreen(self.engine, panel.where, msg.field, self.breadcrumb)

        def done(term):
            if term is not None and screen.selected is not None:
                self.drills.append(FacetPanel.DrillDown(panel, msg.field, screen.selected.value))

        self.push_screen(screen, done)


@sync
async def test_facets_show_top_values_and_drill_down(engine):
    app = FacetApp(engine)
    async with app.run_test(size=(60, 50)) as pilot:
        p = app.query_one(FacetPanel)
        p.focus()
        await settle(pilot, lambda: not p.busy and p.lines[0].kind == "header")
        text = "\n".join(screen_text(p))
        assert "Actor  4 values" in text
        assert "Source IP" in text and "Outcome" in text and "Resource" in text
        first = p.current
        assert (first.column, first.value, first.count) == ("actor", "arn:aws:iam::111122223333:user/alice", 192)
        await pilot.press("enter")
        await pilot.pause()
        assert app.drills[-1].field == "actor"
        assert app.drills[-1].term == 'actor:"arn:aws:iam::111122223333:user/alice"'
        # down to the action facet's first value
        for _ in range(4):
            await pilot.press("down")
        assert p.current.column == "action"
        await pilot.press("enter")
        await pilot.pause()
        assert app.drills[-1].field == "action" and app.drills[-1].value == p.current.value
        # Shift+F: the full frequency table of that facet; Enter there drills down the same way
        app.breadcrumb = ["outcome:success"]
        await pilot.press("F")
        await settle(pilot, freq_ready(app))
        assert app.screen.column == "action" and "outcome:success" in str(app.screen.query_one("#freq-crumbs").render())
        await pilot.press("end", "enter")
        await pilot.pause()
        assert app.screen is not None and not isinstance(app.screen, FrequencyScreen)
        assert (app.drills[-1].field, app.drills[-1].value, app.drills[-1].term) == ("action", "Hostile", 'action:"Hostile"')
        await pilot.press("F")
        await settle(pilot, freq_ready(app))
        await pilot.press("escape")
        await pilot.pause()
        assert len(app.drills) == 3 and not isinstance(app.screen, FrequencyScreen)


@sync
async def test_facets_hostile_value_is_inert(engine):
    app = FacetApp(engine)
    async with app.run_test(size=(60, 50)) as pilot:
        p = app.query_one(FacetPanel)
        await settle(pilot, lambda: not p.busy and p.lines[0].kind == "header")
        text = "\n".join(screen_text(p))
        assert "\x1b" not in text and "\x07" not in text
        assert ";c;cHduZWQ=\\x07[bold red]x[/]\\x1b[2J" in text  # shown, spelled out, no markup


@sync
async def test_facets_follow_the_filter(engine):
    app = FacetApp(engine)
    async with app.run_test(size=(60, 50)) as pilot:
        p = app.query_one(FacetPanel)
        await settle(pilot, lambda: not p.busy and p.lines[0].kind == "header")
        p.where = compile_filter("actor:bob").where
        await settle(pilot, lambda: not p.busy and p.total == 48)
        assert [ln.value for ln in p.lines if ln.kind == "value" and ln.column == "actor"] == ["bob"]


# ------------------------------------------------------------------ frequency


class FreqHost(App):
    """Pushes a FrequencyScreen on start and records what it dismisses with."""

    def __init__(self, engine, where=None, column="actor", breadcrumb=("outcome:\"success\"",)):
        super().__init__()
        self.engine = engine
        self.where = where if where is not None else true()
        self.column = column
        self.breadcrumb = breadcrumb
        self.results: list[str | None] = []

    def compose(self) -> ComposeResult:
        yield Static("host timeline", id="host")

    def on_mount(self) -> None:
        self.open()

    def open(self) -> None:
        self.push_screen(FrequencyScreen(self.engine, self.where, self.column, self.breadcrumb), self.results.append)


def freq_ready(app):
    return lambda: isinstance(app.screen, FrequencyScreen) and app.screen.table.distinct is not None and 0 in app.screen.table.pages


@sync
async def test_frequency_enter_returns_term_and_q_goes_back(engine):
    app = FreqHost(engine, column="src_ip")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, freq_ready(app))
        t = app.screen.table
        assert (t.total, t.distinct) == (289, 4)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.results == ['ip:"10.0.0.2"']
        assert not isinstance(app.screen, FrequencyScreen)
        # the term selects that value's events
        with engine.connect() as c:
            assert aggregates.count(c, compile_filter(app.results[0]).where) == t.pages[0][1].count
        app.open()
        await settle(pilot, freq_ready(app))
        await pilot.press("q")
        await pilot.pause()
        assert app.results[-1] is None and not isinstance(app.screen, FrequencyScreen)
        app.open()
        await settle(pilot, freq_ready(app))
        await pilot.press("end", "enter")  # the empty value
        await pilot.pause()
        assert app.results[-1] == "-ip:*"


@sync
async def test_frequency_pages_a_high_cardinality_column(engine, tmp_path, monkeypatch):
    import logconsole.tui.widgets.frequency_table as freq

    eng = open_db(tmp_path / "many.db")
    insert_events(eng, [dict(ts_us=T0 + i, resource=f"r{i:05d}", actor="x" if i % 2 else "y") for i in range(1200)])
    # above the prefetch limit: pages are fetched on demand, only those that are shown
    monkeypatch.setattr(freq, "PREFETCH_ALL", 1000)
    aggregates.clear_cache()
    app = FreqHost(eng, column="resource")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, freq_ready(app))
        t = app.screen.table
        assert t.distinct == 1200 and list(t.pages) == [0]
        await pilot.press("end")
        await settle(pilot, lambda: 2 in t.pages)
        assert t.current.value == "r01199"
        assert sorted(t.pages) == [0, 2]  # page 1 was never needed
        await pilot.press("enter")
        await pilot.pause()
        assert app.results == ['resource:"r01199"']
    # below it, the rest of the table arrives right after the first page
    monkeypatch.setattr(freq, "PREFETCH_ALL", 50_000)
    app = FreqHost(eng, column="resource")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, lambda: freq_ready(app)() and sorted(app.screen.table.pages) == [0, 1, 2])
        t = app.screen.table
        assert [len(t.pages[i]) for i in (0, 1, 2)] == [500, 500, 200] and not t.pending
        assert t.pages[1][0].value == "r00500" and t.pages[2][-1].value == "r01199"
        await pilot.press("end", "enter")
        await pilot.pause()
        assert app.results == ['resource:"r01199"']
    eng.dispose()


@sync
async def test_frequency_quotes_hostile_values(engine):
    app = FreqHost(engine, column="actor")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, freq_ready(app))
        t = app.screen.table
        values = [r.value for r in t.pages[0]]
        t.cursor = values.index(HOSTILE)
        await pilot.press("enter")
        await pilot.pause()
        term = app.results[-1]
        assert term.startswith('actor:"evil\x1b]52')
        with engine.connect() as c:
            assert aggregates.count(c, compile_filter(term).where) == 1


def _snap_app(engine):
    return FreqHost(engine, where=compile_filter("outcome:success OR outcome:unknown").where, column="action",
                    breadcrumb=["outcome:success OR outcome:unknown", 'actor:"' + HOSTILE.replace('"', '\\"') + '"'])


async def _snap_ready(pilot):
    await settle(pilot, freq_ready(pilot.app))
    title = pilot.app.screen.query_one("#freq-title")
    await settle(pilot, lambda: "distinct" in str(title.render()))
    await pilot.press("down")
    await pilot.pause()


def test_snapshot_frequency_80x24(engine, snap_compare):
    assert snap_compare(_snap_app(engine), terminal_size=(80, 24), run_before=_snap_ready)


def test_snapshot_frequency_160x48(engine, snap_compare):
    assert snap_compare(_snap_app(engine), terminal_size=(160, 48), run_before=_snap_ready)


def test_breadcrumb_forms():
    from rich.text import Text as RText

    from logconsole.tui.screens.frequency import breadcrumb_text

    assert breadcrumb_text(None, "actor").plain == "all events › frequency of Actor"
    assert breadcrumb_text("ip:\"1.2.3.4\"", "src_ip").plain == 'all events › ip:"1.2.3.4" › frequency of Source IP'
    many = [f"action:A{i}" for i in range(6)]
    assert breadcrumb_text(many, "action").plain == (
        "all events › … › action:A2 › action:A3 › action:A4 › action:A5 › frequency of Action")
    assert breadcrumb_text(["x\x1b[31m"], "actor").plain == "all events › x\\x1b[31m › frequency of Actor"
    given = RText("all events › failures")
    assert breadcrumb_text(given, "actor").plain == "all events › failures › frequency of Actor"
    assert given.plain == "all events › failures"  # the caller's Text is not modified


def test_fit_value_cuts_long_and_wide_values_safely():
    from rich.cells import cell_len

    from logconsole.tui.cells import fit_value

    assert fit_value("arn:aws:iam::111122223333:user/alice", 20, "actor") == "…22223333:user/alice"
    assert fit_value("GetObject", 6, "action") == "GetOb…"
    assert fit_value(None, 8, "actor") == "(empty) "
    for col in ("resource", "action"):
        for v in ("日本語" * 10, "a\x1b[2J" * 300_000, "x" * 3):
            out = fit_value(v, 9, col)
            assert cell_len(out) == 9 and "\x1b" not in out


class PanelsApp(App):
    """The histogram over the facet panel, as the timeline lays them out."""

    CSS = "FacetPanel { width: 1fr; }"

    def __init__(self, engine):
        super().__init__()
        self.engine = engine

    def compose(self) -> ComposeResult:
        yield Histogram(self.engine, id="histogram")
        yield FacetPanel(self.engine, id="facets")


async def _panels_ready(pilot):
    h = pilot.app.query_one(Histogram)
    p = pilot.app.query_one(FacetPanel)
    await settle(pilot, lambda: ready(h)() and not p.busy and p.lines[0].kind == "header"
                 and all("updating" not in ln.text and "counting" not in ln.text for ln in p.lines))
    h.focus()
    await pilot.press("home", "right", "space", "right", "right")  # a half-marked range
    await pilot.pause()


def test_snapshot_histogram_and_facets_80x24(engine, snap_compare):
    assert snap_compare(PanelsApp(engine), terminal_size=(80, 24), run_before=_panels_ready)


@sync
async def test_histogram_log_scale_keeps_quiet_buckets_visible(tmp_path):
    eng = open_db(tmp_path / "burst.db")
    # one burst of 1000 events in hour 0, a single failure in hour 5
    rows = [dict(ts_us=T0 + i) for i in range(1000)] + [dict(ts_us=T0 + 5 * H, outcome="failure")]
    insert_events(eng, rows)
    aggregates.clear_cache()
    app = HistApp(eng)
    async with app.run_test(size=(40, 12)) as pilot:
        h = app.query_one(Histogram)
        h.focus()
        await settle(pilot, ready(h))
        col = 7 + (5 * H) // h.data.width_us
        linear = "".join(ln[col] for ln in screen_text(h)[1:-1])
        assert linear.strip() == "▁" and GLYPH_FAILURE not in linear  # 1 of 1000: a sliver
        await pilot.press("L")
        lines = screen_text(h)
        log = "".join(ln[col] for ln in lines[1:-1])
        assert GLYPH_FAILURE in log  # log(2)/log(1001) of 6 rows: a full failure cell
        assert "log" in lines[-2]
    eng.dispose()


@sync
async def test_histogram_cursor_and_marked_range_are_drawn_not_only_coloured(engine):
    app = HistApp(engine)
    async with app.run_test(size=(100, 12)) as pilot:
        h = app.query_one(Histogram)
        h.focus()
        await settle(pilot, ready(h))
        h.cursor = 14
        await pilot.press("space", "right", "right")
        axis = screen_text(h)[-1]
        # 1 h buckets: labels at buckets 0 and 24 (12 cells each); 14..16 are free
        assert axis[7 + 14: 7 + 17] == "━━^"
        assert h.get_component_rich_style("histogram--cursor").reverse


@sync
async def test_frequency_of_a_column_without_values_says_so(engine):
    app = FreqHost(engine, column="ts_us")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, FrequencyScreen)
        assert "No frequency table: cannot group by 'ts_us'" in str(app.screen.query_one("#freq-title").render())
        await pilot.press("enter")
        assert isinstance(app.screen, FrequencyScreen)  # nothing to drill into
        await pilot.press("q")
        await pilot.pause()
        assert app.results == [None]
