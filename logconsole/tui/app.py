"""The logconsole Textual application and its factory.

``create_app(engine, ...)`` builds the app for ``logconsole open`` and for
tests (Pilot and SVG snapshots), Posting-style.  Styles live in ``app.tcss``.
"""

from __future__ import annotations

import os
from functools import partial
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine
from textual.app import App, SystemCommand
from textual.screen import Screen

from logconsole.store import annotations as ann
from logconsole.store.sanitize import one_line
from logconsole.tui.inert_filter import InertFilter
from logconsole.tui.actions import keys_shown, palette_actions

def palette_text(text: str, limit: int = 200) -> str:
    """Text for the command palette, which parses markup: one inert line with every ``[`` escaped
    (view names and filters can hold values drilled down from log records)."""
    return one_line(text, limit).replace("[", "\\[")


class LogConsoleApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "logconsole"
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        engine: Engine,
        *,
        db_path: str | None = None,
        initial_filter: str = "",
        ansi_color: bool | None = None,
        cursor_blink: bool = True,
    ) -> None:
        if ansi_color is None:
            ansi_color = os.environ.get("LOGCONSOLE_ANSI", "") not in ("", "0")
        super().__init__(ansi_color=ansi_color)
        self.engine = engine
        # the index's location: a SQLite file's path, or a server's URL (for the SQL prompt's own connection)
        self.db_path = db_path or ((engine.url.database or "") if engine.url.get_backend_name() == "sqlite"
                                   else engine.url.render_as_string(hide_password=False))
        self.initial_filter = initial_filter
        self.cursor_blink = cursor_blink
        self._filters.append(InertFilter())  # no control character reaches the terminal, whoever drew it
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            # over SSH every animation frame is a screen update: jump, don't glide
            self.animation_level = "none"
        self.sub_title = os.path.basename(self.db_path) if self.db_path else ""
        self.analytics = True
        #: the ingest running behind the console (``logconsole open PATH...``), or None
        self.ingest_job: Any = None

    def get_default_screen(self) -> Screen:
        from logconsole.tui.screens.timeline import TimelineScreen

        return TimelineScreen(self.engine, initial_filter=self.initial_filter)

    @property
    def timeline(self):
        from logconsole.tui.screens.timeline import TimelineScreen

        for s in self.screen_stack:
            if isinstance(s, TimelineScreen):
                return s
        return None

    # ---------------------------------------------------------------- shared actions
    def copy_value(self, text: str, what: str) -> None:
        """Copy through OSC 52 (works over SSH where the local terminal allows it)."""
        self.copy_to_clipboard(text)
        self.notify(f"copied {what} ({len(text):,} characters) via OSC 52", markup=False, timeout=3)

    def annotations_changed(self) -> None:
        tl = self.timeline
        if tl is not None:
            tl.reload_flags()

    def edit_note(self, event_id: int, after: Callable[[], None] | None = None) -> None:
        from logconsole.tui.screens.prompt import PromptScreen

        with self.engine.connect() as conn:
            cur = ann.get_annotation(conn, event_id)

        def done(value: str | None) -> None:
            if value is None:
                return
            with self.engine.begin() as conn:
                ann.set_note(conn, event_id, value)
            self.notify("note saved" if value.strip() else "note removed", markup=False, timeout=2)
            self.annotations_changed()
            if after:
                after()

        self.push_screen(
            PromptScreen("Note for this event:", value=(cur or {}).get("note") or "",
                         hint="Enter saves; an empty note removes it; Esc cancels"),
            done,
        )

    def edit_tag(self, event_id: int, after: Callable[[], None] | None = None) -> None:
        from logconsole.tui.screens.prompt import PromptScreen

        with self.engine.connect() as conn:
            cur = ann.get_annotation(conn, event_id)
            known = [t for t, _ in ann.all_tags(conn)][:8]
        tags = ", ".join((cur or {}).get("tags") or []) or "none"

        def validate(s: str) -> str | None:
            t = s.strip().removeprefix("-")
            if not t:
                return None
            try:
                ann.normalize_tag(t)
            except ValueError as exc:
                return str(exc)
            return None

        def done(value: str | None) -> None:
            if value is None or not value.strip():
                return
            v = value.strip()
            with self.engine.begin() as conn:
                if v.startswith("-"):
                    ann.remove_tag(conn, event_id, v[1:])
                    msg = f"tag {one_line(v[1:], 40)} removed"
                else:
                    t = ann.add_tag(conn, event_id, v)
                    msg = f"tagged {one_line(t, 40)}"
            self.notify(msg, markup=False, timeout=2)
            self.annotations_changed()
            if after:
                after()

        hint = f"current: {tags}; known: {', '.join(known) or 'none'}; -NAME removes a tag"
        self.push_screen(PromptScreen("Tag this event:", placeholder="e.g. exfil", hint=one_line(hint, 300),
                                      validate=validate), done)

    def action_help(self) -> None:
        from logconsole.tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen())

    # ---------------------------------------------------------------- command palette
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for target, k in palette_actions(type(screen).__name__):
            namespace = screen
            if target.name != type(screen).__name__:  # a widget on this screen
                found = screen.query(target.name)
                if not found:
                    continue
                namespace = found.first()
            title, _, more = k.description.partition(" (")
            yield SystemCommand(
                palette_text(title),
                palette_text(f"key {keys_shown(k)}" + (f" · {more.rstrip(')')}" if more else "")),
                partial(self.run_action, k.action, namespace),
            )
        if type(screen).__name__ == "TimelineScreen":
            with self.engine.connect() as conn:
                views = ann.list_views(conn)
            for name, text in views:
                yield SystemCommand(
                    palette_text(f"Open view: {one_line(name, 40)}"), palette_text(text or "(all events)"),
                    partial(screen.apply_view, name, text),
                )
            yield SystemCommand("Show all events", "Clear the filter (pushes onto the breadcrumb)",
                                partial(screen.apply_filter, "", label="all events"))
            yield SystemCommand("Show bookmarked events", "Filter marked:true",
                                partial(screen.apply_filter, "marked:true", label="bookmarks"))
            yield SystemCommand("Show failures", "Filter outcome:failure",
                                partial(screen.apply_filter, "outcome:failure", label="failures"))


def create_app(engine: Engine, *, db_path: str | None = None, initial_filter: str = "",
               ansi_color: bool | None = None, cursor_blink: bool = True,
               analytics: bool = True, ingest_job: Any = None) -> LogConsoleApp:
    """The console app over the index behind *engine* (used by ``logconsole open`` and tests).

    ``cursor_blink=False`` keeps snapshots stable; ``analytics=False`` leaves out
    the histogram and facet widgets (for tests that must not depend on them);
    *ingest_job*: a started :class:`~logconsole.workflows.background.BackgroundIngest`
    writing into the index (the timeline shows its rows as they land, and its status).
    """
    app = LogConsoleApp(engine, db_path=db_path, initial_filter=initial_filter, ansi_color=ansi_color,
                        cursor_blink=cursor_blink)
    app.analytics = analytics
    app.ingest_job = ingest_job
    return app
