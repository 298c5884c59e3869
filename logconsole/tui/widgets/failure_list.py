"""The failures of one verification target: a virtual list (Line API) for the integrity screen."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from logconsole.analysis.chain.model import Failure
from logconsole.store.sanitize import one_line
from logconsole.tui.actions import bindings
from logconsole.tui.cells import middle_cut

STATUS_STYLE = {
    "intact": "bold green",
    "consistent": "bold cyan",
    "tampered": "bold red",
    "unverifiable": "bold yellow",
    "not verified": "dim",
}


class FailureList(ScrollView, can_focus=True):
    """Virtual list of one target's failures (and explained anomalies)."""

    DEFAULT_CSS = """
    FailureList { height: 1fr; background: $surface; }
    FailureList > .failures--kind { color: $error; text-style: bold; }
    FailureList > .failures--explained { color: $text-muted; }
    FailureList > .failures--where { color: $text; }
    FailureList > .failures--cursor { background: $accent 50%; }
    FailureList > .failures--empty { color: $text-muted; text-style: italic; }
    """
    COMPONENT_CLASSES = {"failures--kind", "failures--explained", "failures--where", "failures--cursor",
                         "failures--empty"}
    BINDINGS = bindings("FailureList")

    cursor = reactive(0)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.items: list[Failure] = []
        self.target: str | None = None  # the verified path (failures in it are not named by file)
        self.empty_text = "no target selected"

    def set_items(self, items: list[Failure], empty_text: str, target: str | None = None) -> None:
        self.items = items
        self.target = target
        self.empty_text = empty_text
        self.virtual_size = Size(self.size.width, max(1, len(items)))
        self.cursor = 0
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self.items) - 1)) if self.items else 0

    def watch_cursor(self, _old: int, new: int) -> None:
        self.scroll_to_region(Region(0, new, 1, 1), animate=False, force=True)
        self.refresh()

    def action_move(self, delta: int) -> None:
        self.cursor += delta

    def action_page(self, direction: int) -> None:
        self.cursor += direction * max(1, self.scrollable_content_region.height)

    def action_edge(self, end: int) -> None:
        self.cursor = len(self.items) - 1 if end else 0

    @property
    def current(self) -> Failure | None:
        return self.items[self.cursor] if self.items else None

    def on_resize(self, _event) -> None:
        self.virtual_size = Size(self.size.width, max(1, len(self.items)))

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(name, partial=True)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        _, sy = self.scroll_offset
        i = sy + y
        if not self.items:
            if y == 0:
                return Strip([Segment("  " + self.empty_text, base + self._style("failures--empty"))]).adjust_cell_length(width, base)
            return Strip.blank(width, base)
        if i >= len(self.items):
            return Strip.blank(width, base)
        f = self.items[i]
        where = [f.location(self.target, 60)]
        kind_style = self._style("failures--explained" if f.explained else "failures--kind")
        detail = one_line(f.detail, 400)
        if f.explained:
            detail += f"  [explained: {one_line(f.explained, 120)}]"
        room = max(10, width - 17 - 29)
        detail = middle_cut(detail, room)  # a reason's end (the hash it names) stays visible
        segs = [
            Segment(f" {f.kind:<16}", base + kind_style),
            Segment(f"{' '.join(where):<28} ", base + self._style("failures--where")),
            Segment(detail, base + (self._style("failures--explained") if f.explained else Style())),
        ]
        if i == self.cursor and self.has_focus:
            cur = self._style("failures--cursor")
            segs = [Segment(s.text, (s.style or base) + cur) for s in segs]
        return Strip(segs).adjust_cell_length(width, base)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
