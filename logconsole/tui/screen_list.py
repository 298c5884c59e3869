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


@dataclass(frozen=True)
class ViewContext:
    """What the timeline shows when it opens a screen."""

    engine: Engine
    where: Any  # the SQL condition of the current filter (None: every event)
    filter_text: str
    breadcrumb: list[str]
    column: str | None = None  # the column under the list's cursor (or a facet's column)
    event_id: int | None = None  # the event under the list's cursor


@dataclass(frozen=True)
class ScreenEntry:
    name: str
    title: str  # "the TITLE screen"
    build: Callable[[ViewContext], Screen[Any]]
    #: True: the screen's result is ANDed onto the current filter (a drill-down);
    #: False: it replaces the filter (a pivot).
    drill: bool = False


SCREENS: dict[str, ScreenEntry] = {
    e.name: e
    for e in (
        ScreenEntry("frequency", "frequency",
                    lambda v: FrequencyScreen(v.engine, v.where, v.column or "actor", v.breadcrumb,
                                              filter_text=v.filter_text),
                    drill=True),
        ScreenEntry("actors", "actors", lambda v: ActorsScreen(v.engine, filter_text=v.filter_text)),
        ScreenEntry("integrity", "integrity", lambda v: IntegrityScreen(v.engine)),
        ScreenEntry("findings", "findings",
                    lambda v: FindingsScreen(v.engine, filter_text=v.filter_text, where=v.where)),
        ScreenEntry("detections", "detections", lambda v: DetectionsScreen(v.engine)),
        ScreenEntry("identity", "identity", lambda v: IdentityScreen(v.engine, event_id=v.event_id)),
    )
}

