"""The status line of an ingest running behind the console (``logconsole open PATH...``).

It shows what :class:`logconsole.workflows.background.IngestStatus` says, with the
event count the timeline screen reads from the index: files done of all, events,
the rate (events per second) and the time left; then the step after the ingest that
runs, "following" with the count of new events, and at the end the result and the
child's exit status.  Plain text (file names are made inert), readable without
colour: the state is a word, not a colour.
"""

from __future__ import annotations

import os

from rich.text import Text
from textual.widgets import Static

from logconsole.store.sanitize import one_line
from logconsole.workflows.background import IngestStatus, describe_exit


def clock(seconds: float) -> str:
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def status_text(st: IngestStatus, events: int, events_at_start: int, now: float | None = None) -> str:
    """The status line for *st*, with *events* in the index now (and *events_at_start* when it began)."""
    added = max(0, events - events_at_start)
    errors = f" · {len(st.errors)} error(s)" if st.errors else ""
    if st.returncode is not None:
        return describe_exit(st) + errors
    if st.phase == "starting":
        return "ingest starting…"
    if st.phase == "ingesting":
        t = st.elapsed(now)
        rate = f"{added / t:,.0f} ev/s" if t >= 0.5 else "– ev/s"
        eta = st.eta(now)
        left = f"{clock(eta)} left" if eta is not None else "time left: estimating"
        name = f" · {one_line(os.path.basename(st.current), 40)}" if st.current else ""
        return (f"ingesting {st.files_done:,}/{st.files_total:,} files · {events:,} events · {rate} · {left}"
                f"{name}{errors}")
    if st.phase == "steps":
        return f"rows written ({events:,} events) · after the ingest: {st.step}…{errors}"
    if st.phase == "following":
        return f"● following {st.files_total:,} file(s) · +{st.follow_events:,} new events · {events:,} events{errors}"
    return f"ingest finishing… · {events:,} events{errors}"


class IngestStatusLine(Static):
    """One line under the timeline while (and after) an ingest runs behind the console."""

    DEFAULT_CSS = """
    IngestStatusLine {
        height: 1;
        background: $panel;
        color: $text;
    }
    IngestStatusLine.-error {
        text-style: bold;
    }
    """

    def show(self, st: IngestStatus, events: int, events_at_start: int) -> None:
        text = status_text(st, events, events_at_start)
        self.set_class(bool(st.errors), "-error")
        self.update(Text(" " + text, no_wrap=True, overflow="ellipsis"))

    @property
    def text(self) -> str:
        return str(self.render())
