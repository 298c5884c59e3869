"""A small modal dialog: a one-line text prompt (notes, tags, jump-to-time, view names)."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from logconsole.store.sanitize import one_line
from logconsole.tui.widgets.filter_bar import QuietInput
from logconsole.tui.actions import bindings


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line of text.  Enter submits, Escape cancels (dismisses with None).

    *validate* may return an error message for the current text; the prompt then
    shows it and refuses to submit.
    """

    BINDINGS = bindings("PromptScreen")

    def __init__(
        self,
        title: str,
        *,
        value: str = "",
        placeholder: str = "",
        hint: str = "",
        validate: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.placeholder = placeholder
        self.hint = hint
        self.validate = validate

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box", classes="dialog"):
            yield Static(Text(self.title_text, style="bold"), id="prompt-title")
            yield QuietInput(value=self.value, placeholder=self.placeholder, id="prompt-input")
            yield Static(Text(self.hint, style="dim"), id="prompt-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.validate is None:
            return
        err = self.validate(event.value)
        hint = self.query_one("#prompt-hint", Static)
        if err:
            hint.update(Text("✗ " + one_line(err, 200)))
            hint.add_class("-error")
        else:
            hint.update(Text(self.hint, style="dim"))
            hint.remove_class("-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.validate is not None and self.validate(event.value):
            self.app.bell()
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
