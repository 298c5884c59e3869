"""Edit a finding's narrative (Markdown) in a text area."""

from __future__ import annotations


from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static, TextArea

from logconsole.store.sanitize import one_line
from logconsole.tui.actions import bindings


class NarrativeScreen(ModalScreen[str | None]):
    """Edit a finding's narrative (Markdown) in a text area; Ctrl+O saves, Esc cancels."""

    BINDINGS = bindings("NarrativeScreen")
    DEFAULT_CSS = """
    NarrativeScreen { align: center middle; }
    NarrativeScreen #narrative-box { width: 100; max-width: 100%; height: 80%; border: round $accent; background: $surface; padding: 0 1; }
    NarrativeScreen TextArea { height: 1fr; }
    """

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(id="narrative-box"):
            yield Static(Text("Narrative: " + one_line(self.title_text, 80), style="bold"))
            yield TextArea(self.text, id="narrative-text", soft_wrap=True, tab_behavior="indent")
            yield Static(Text("Markdown. Ctrl+O save · Esc cancel", style="dim"))

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_save(self) -> None:
        self.dismiss(self.query_one(TextArea).text)

    def action_cancel(self) -> None:
        self.dismiss(None)
