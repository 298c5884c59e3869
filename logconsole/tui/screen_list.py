"""The screens the timeline opens by key, listed once with how each is built.

Each screen gets the timeline's current view (:class:`ViewContext`) and
dismisses with a filter string (which the timeline applies) or None.  The
key that opens one is an action of the timeline in :mod:`logconsole.tui.actions`
(``open_screen('NAME')``); the frequency table is also opened by the facet
panel's Shift+F.

To add a screen: write ``tui/screens/NAME.py`` (one screen class), add an
entry here, and its keys and the timeline key that opens it to
:mod:`logconsole.tui.actions`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from textual.screen import Screen

from logconsole.tui.screens.actors import ActorsScreen
from logconsole.tui.screens.detections import DetectionsScreen
from logconsole.tui.screens.findings import FindingsScreen
from logconsole.tui.screens.frequency import FrequencyScreen
from logconsole.tui.screens.identity import IdentityScreen
from logconsole.tui.screens.integrity import IntegrityScreen
from logconsole.tui.screens.pivot import PivotScreen
from logconsole.tui.screens.sql import SqlScreen


@dataclass(frozen=True)
class ViewContext:
    """What the timeline shows when it opens a screen."""

    engine: Engine
    where: Any  # the SQL condition of the current filter (None: every event)
    filter_text: str
    breadcrumb: list[str]
    column: str | None = None  # the column under the list's cursor (or a facet's column)
    event_id: int | None = None  # the event under the list's cursor
    db_path: str = ""  # the index file


@dataclass(frozen=True)
class ScreenEntry:
    name: str
    title: str  # "the TITLE screen"
    build: Callable[[ViewContext], Screen[Any]]
    #: True: the screen's result is ANDed onto the current filter (a drill-down);
    #: False: it replaces the filter (a pivot).
    drill: bool = False


#: the list's column -> the pivot's default row field (the time column pivots by hour)
_PIVOT_ROW = {"ts_us": "hour", "actor": "actor", "action": "action", "resource": "resource", "outcome": "outcome",
              "src_ip": "ip", "format": "format"}

SCREENS: dict[str, ScreenEntry] = {
    e.name: e
    for e in (
        ScreenEntry("frequency", "frequency",
                    lambda v: FrequencyScreen(v.engine, v.where, v.column or "actor", v.breadcrumb,
                                              filter_text=v.filter_text),
                    drill=True),
        ScreenEntry("actors", "actors", lambda v: ActorsScreen(v.engine, filter_text=v.filter_text)),
        ScreenEntry("integrity", "integrity", lambda v: IntegrityScreen(v.engine)),
        ScreenEntry("pivot", "pivot",
                    lambda v: PivotScreen(v.engine, v.where, filter_text=v.filter_text, breadcrumb=v.breadcrumb,
                                          row=_PIVOT_ROW.get(v.column or "", "actor"),
                                          col="actor" if _PIVOT_ROW.get(v.column or "") == "action" else "action"),
                    drill=True),
        ScreenEntry("sql", "sql", lambda v: SqlScreen(v.db_path)),
        ScreenEntry("findings", "findings",
                    lambda v: FindingsScreen(v.engine, filter_text=v.filter_text, where=v.where)),
        ScreenEntry("detections", "detections", lambda v: DetectionsScreen(v.engine)),
        ScreenEntry("identity", "identity", lambda v: IdentityScreen(v.engine, event_id=v.event_id)),
    )
}

