"""The filter bar: an input validated while typing, a live match count, and the status line.

The bar compiles the text on every keystroke with
:func:`logconsole.store.filter.compile_filter`; an error is shown inline (with
its position) and the applied filter stays in force.  A valid filter gets a
debounced preview count ("→ N match") from a worker.  Enter posts
:class:`FilterBar.Applied`; the screen decides what to do with it.
"""

from __future__ import annotations

from rich.text import Text
from sqlalchemy import Engine
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Static
from textual.worker import get_current_worker

from logconsole.store.filter import FilterError, compile_filter
from logconsole.store.queries import count as count_where
from logconsole.store.sanitize import one_line
from logconsole.tui.actions import bindings

PREVIEW_DELAY = 0.25


class QuietInput(Input):
    """An Input whose cursor blink follows ``app.cursor_blink`` (off for snapshots and slow links)."""

    def on_mount(self) -> None:
        self.cursor_blink = getattr(self.app, "cursor_blink", True)


class FilterInput(QuietInput):
    """The text input, with history on Up/Down."""

    BINDINGS = bindings("FilterInput")

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.history: list[str] = []
        self._hpos: int | None = None
        self._draft = ""

    def action_history_prev(self) -> None:
        if not self.history:
            return
        if self._hpos is None:
            self._draft = self.value
            self._hpos = len(self.history)
        if self._hpos > 0:
            self._hpos -= 1
            self.value = self.history[self._hpos]
            self.cursor_position = len(self.value)

    def action_history_next(self) -> None:
        if self._hpos is None:
            return
        self._hpos += 1
        if self._hpos >= len(self.history):
            self._hpos = None
            self.value = self._draft
        else:
            self.value = self.history[self._hpos]
        self.cursor_position = len(self.value)

    def reset_history_position(self) -> None:
        self._hpos = None

    def action_cancel(self) -> None:
        self.post_message(FilterBar.Cancelled())


class FilterBar(Vertical):
    """Filter input + status line ("breadcrumb ... N of M events")."""

    class Applied(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Cancelled(Message):
        pass

    def __init__(self, engine: Engine, **kw) -> None:
        super().__init__(**kw)
        self.engine = engine
        self.applied_text = ""
        self.breadcrumb: Text = Text("all events")
        self.count_text: Text = Text("")
        self.position: int | None = None  # 1-based row of the cursor
        self._status_left: tuple[Text | None, bool] = (None, False)
        self._preview_timer: Timer | None = None
        self.error: FilterError | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="filter-row"):
            yield Static(Text("/"), id="filter-prompt")
            yield FilterInput(placeholder="filter: actor:alice outcome:failure since:24h \"access denied\"  (? help)",
                              id="filter-input", select_on_focus=False)
        yield Static(id="filter-status")

    @property
    def input(self) -> FilterInput:
        return self.query_one(FilterInput)

    # --------------------------------------------------------------- state from the screen
    def set_applied(self, text: str, breadcrumb: Text, count: int | None, total: int | None) -> None:
        self._cancel_preview()
        self.applied_text = text
        self.breadcrumb = breadcrumb
        if count is None:
            self.count_text = Text("counting…", style="dim")
        else:
            self.count_text = Text(f"{count:,} of {total:,} events" if total is not None else f"{count:,} events")
        if self.input.value != text:
            with self.prevent(Input.Changed):
                self.input.value = text
        self.error = None
        self._show_status()

    def set_position(self, row: int | None) -> None:
        """Show the cursor's row ("row 12 · 40 of 241 events") without touching the message on the left."""
        if row == self.position:
            return
        self.position = row
        left, keep = self._status_left
        self._show_status(left, keep_start=keep)

    def set_history(self, items: list[str]) -> None:
        self.input.history = list(items)
        self.input.reset_history_position()

    def _show_status(self, left: Text | None = None, *, keep_start: bool = False) -> None:
        status = self.query_one("#filter-status", Static)
        width = max(20, self.size.width or 80)
        self._status_left = (left, keep_start)
        right = self.count_text
        if self.position is not None and self.count_text.plain.endswith(" events"):
            right = Text(f"row {self.position:,} · ", style="dim") + self.count_text
        left = left if left is not None else self.breadcrumb
        room = max(0, width - right.cell_len - 2)
        left = left.copy()
        if left.cell_len > room:
            if keep_start:  # messages: keep their beginning
                left.truncate(max(1, room), overflow="ellipsis")
            else:  # breadcrumbs: keep the newest end
                left = Text("…") + left[left.cell_len - room + 1:]
        line = Text(no_wrap=True, overflow="crop")
        line.append_text(left)
        line.append(" " * max(1, width - left.cell_len - right.cell_len))
        line.append_text(right)
        status.update(line)

    def on_resize(self) -> None:
        self._show_status()

    # --------------------------------------------------------------- typing
    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        text = event.value
        if self._preview_timer is not None:
            self._preview_timer.stop()
            self._preview_timer = None
        try:
            flt = compile_filter(text)
        except FilterError as exc:
            self.error = exc
            self.input.add_class("-invalid")
            msg = Text("✗ ", style="bold")
            msg.append(f"col {exc.position + 1}: ")
            msg.append(one_line(exc.message, 300))
            self.query_one("#filter-status").add_class("-error")
            self._show_status(msg, keep_start=True)
            return
        self.error = None
        self.input.remove_class("-invalid")
        self.query_one("#filter-status").remove_class("-error")
        if text.strip() == self.applied_text.strip():
            self._show_status()
            return
        self._show_status(Text("✓ valid - Enter applies", style="italic"), keep_start=True)
        self._preview_timer = self.set_timer(PREVIEW_DELAY, lambda: self._preview(flt))

    def _preview(self, flt) -> None:
        self._preview_timer = None
        self._count_preview(flt)

    @work(thread=True, exclusive=True, group="filter-preview", exit_on_error=False)
    def _count_preview(self, flt) -> None:
        try:
            with self.engine.connect() as conn:
                n = count_where(conn, flt.where)
        except Exception:  # the preview is best effort; applying reports errors
            return
        if get_current_worker().is_cancelled:
            return
        self.app.call_from_thread(self._show_preview, flt.text, n)

    def _cancel_preview(self) -> None:
        if self._preview_timer is not None:
            self._preview_timer.stop()
            self._preview_timer = None

    def _show_preview(self, text: str, n: int) -> None:
        if self.input.value != text or self.error is not None or text.strip() == self.applied_text.strip():
            return
        self._show_status(Text(f"✓ valid - {n:,} match - Enter applies", style="italic"), keep_start=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.error is not None:
            self.app.bell()
            return
        self._cancel_preview()
        self.input.reset_history_position()
        self.post_message(self.Applied(event.value.strip()))
