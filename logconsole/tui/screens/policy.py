"""The suggested least-privilege policy of an actor (`p` on the actor detail)."""

from __future__ import annotations


from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from logconsole.store.sanitize import inert, one_line
from logconsole.tui.actions import bindings


class PolicyScreen(ModalScreen[None]):
    """The suggested least-privilege policy, as text (copy it from the terminal)."""

    BINDINGS = bindings("PolicyScreen")
    DEFAULT_CSS = """
    PolicyScreen { align: center middle; }
    PolicyScreen #policy-box { width: 90%; height: 85%; border: round $accent; background: $surface; padding: 0 1; }
    """

    def __init__(self, actor: str, text: str) -> None:
        super().__init__()
        self.actor = actor
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="policy-box"):
            yield Static(Text(f"Suggested least-privilege policy for {one_line(self.actor, 150)} (from what it used)",
                              style="bold"))
            yield Static(Text(inert(self.text, keep_newlines=True)))

    def action_close(self) -> None:
        self.dismiss(None)
