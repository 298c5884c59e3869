"""A small modal picker: one of several (label, value) items."""

from __future__ import annotations


from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from logconsole.store.sanitize import one_line
from logconsole.tui.actions import bindings


class ChoiceScreen(ModalScreen[str | None]):
    """Pick one of several (label, value) items; Enter picks, Escape cancels (None)."""

    BINDINGS = bindings("ChoiceScreen")
    DEFAULT_CSS = """
    ChoiceScreen { align: center middle; }
    ChoiceScreen #choice-box { width: 76; max-width: 100%; height: auto; border: round $accent; background: $surface; padding: 0 1; }
    ChoiceScreen OptionList { height: auto; max-height: 16; }
    """

    def __init__(self, title: str, items: list[tuple[str, str]], *, selected: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.items = items
        #: the value the cursor starts on (the current one), else the first item
        self.selected = selected

    def compose(self) -> ComposeResult:
        with Vertical(id="choice-box"):
            yield Static(Text(one_line(self.title_text, 200), style="bold"))
            yield OptionList(*[Option(Text(one_line(label, 200)), id=str(i)) for i, (label, _) in enumerate(self.items)])

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        ol.focus()
        start = next((i for i, (_, v) in enumerate(self.items) if v == self.selected), 0)
        if self.items:
            ol.highlighted = start

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(self.items[int(event.option.id or 0)][1])

    def action_cancel(self) -> None:
        self.dismiss(None)
