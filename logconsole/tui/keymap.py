"""The console's key map: one table drives the bindings, the `?` help and the command palette.

Only keys that terminals forward over SSH are used: printable characters,
Enter/Escape/Tab, arrows, Home/End/PgUp/PgDn and a few Ctrl+letter chords
(never Alt/Meta/Cmd, never Ctrl+H/I/M which are Backspace/Tab/Enter).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Key:
    keys: str  # Textual key names, comma separated (first is the one shown)
    action: str  # action name on the screen (or widget) that owns the context
    description: str
    show: bool = False  # shown in the footer
    palette: bool = True  # offered in the command palette
    display: str | None = None  # how the help shows the keys (default: derived)
    priority: bool = False
    short: str | None = None  # footer label


_KEY_LABELS = {
    "slash": "/", "question_mark": "?", "escape": "Esc", "enter": "Enter", "up": "↑", "down": "↓",
    "left": "←", "right": "→", "pageup": "PgUp", "pagedown": "PgDn", "home": "Home", "end": "End",
    "right_square_bracket": "]", "left_square_bracket": "[", "tab": "Tab", "shift+tab": "Shift+Tab",
    "plus": "+", "minus": "-", "equals_sign": "=", "space": "Space", "ctrl+o": "Ctrl+O", "ctrl+s": "Ctrl+S",
    "ctrl+r": "Ctrl+R", "ctrl+p": "Ctrl+P", "ctrl+q": "Ctrl+Q", "ctrl+d": "Ctrl+D", "ctrl+u": "Ctrl+U",
    "full_stop": ".", "comma": ",", "delete": "Del",
}


def key_label(keys: str) -> str:
    return " ".join(_KEY_LABELS.get(k, k) for k in keys.split(","))


#: Context name -> keys.  Contexts: the timeline screen, its event list, the filter
#: input, the event detail screen, the marks and views lists, and the help screen.
KEYMAP: dict[str, list[Key]] = {
    "Event list": [
        Key("up,k", "cursor_up", "Previous event"),
        Key("down,j", "cursor_down", "Next event"),
        Key("pageup,ctrl+u", "page_up", "Page up"),
        Key("pagedown,ctrl+d", "page_down", "Page down"),
        Key("home,g", "first", "First event", display="Home g"),
        Key("end,G", "last", "Last event", display="End G"),
        Key("left,h", "column_left", "Previous column (for Shift+F and y)"),
        Key("right,l", "column_right", "Next column (for Shift+F and y)"),
        Key("enter", "open_event", "Open the event detail", show=True, short="detail"),
    ],
    "Timeline": [
        Key("slash", "focus_filter", "Edit the filter", show=True, short="filter"),
        Key("escape", "back", "Back: undo the last filter, drill-down or pivot", display="Esc"),
        Key("q", "back_or_quit", "Back like Esc; at the first view, quit", show=True, short="back/quit"),
        Key("J", "jump_time", "Jump to a time (ISO 8601, or +5m / -1h from the current event)"),
        Key("m", "toggle_mark", "Bookmark / unbookmark the event", show=True, short="mark"),
        Key("n", "edit_note", "Add or edit the event's note"),
        Key("t", "add_tag", "Tag the event (prefix with - to remove a tag)"),
        Key("right_square_bracket", "next_mark", "Next bookmark"),
        Key("left_square_bracket", "prev_mark", "Previous bookmark"),
        Key("M", "marks", "List bookmarks, notes and tags"),
        Key("b", "marks_to_finding", "Add the bookmarked events to a new or existing finding"),
        Key("F", "frequency", "Frequency table of the current column", display="Shift+F"),
        Key("f", "toggle_facets", "Show / hide the facet panel"),
        Key("H", "toggle_histogram", "Show / hide the histogram"),
        Key("tab", "app.focus_next", "Focus the next pane (histogram, list, facets)", palette=False),
        Key("y", "copy_cell", "Copy the current cell's value (OSC 52)"),
        Key("Y", "copy_raw", "Copy the event's raw record (OSC 52)"),
        Key("s", "save_view", "Save the current filter as a named view"),
        Key("v", "views", "Open a saved view"),
        Key("A", "actors", "Actors and privileges screen"),
        Key("I", "integrity", "Integrity (chain verification) screen"),
        Key("R", "findings", "Findings screen"),
        Key("ctrl+r", "reload", "Reload (after another ingest)"),
        Key("question_mark", "help", "Show every key", show=True, short="help"),
        Key("ctrl+p", "app.command_palette", "Command palette (every action)", palette=False),
        Key("ctrl+q", "app.quit", "Quit", palette=False),
    ],
    "Filter input": [
        Key("enter", "apply", "Apply the filter (it is validated while you type)", palette=False),
        Key("up", "history_prev", "Older filter from the history", palette=False),
        Key("down", "history_next", "Newer filter from the history", palette=False),
        Key("escape", "cancel", "Back to the list (keeps the applied filter)", palette=False),
    ],
    "Event detail": [
        Key("escape,q", "back", "Back to the timeline", show=True, display="Esc q", short="back"),
        Key("a", "pivot_actor", "Filter by this actor", show=True, short="actor"),
        Key("i", "pivot_ip", "Filter by this source IP", show=True, short="IP"),
        Key("r", "pivot_resource", "Filter by this resource", show=True, short="resource"),
        Key("w", "pivot_window", "Show ±5 minutes around this event", show=True, short="±5 min"),
        Key("f", "pick_field", "Pick any field: filter by it, add it to the filter, or copy it", short="field"),
        Key("K", "prev_event", "Previous event in the timeline"),
        Key("J", "next_event", "Next event in the timeline"),
        Key("m", "toggle_mark", "Bookmark / unbookmark"),
        Key("n", "edit_note", "Add or edit the note"),
        Key("t", "add_tag", "Tag (prefix with - to remove)"),
        Key("y", "copy_raw", "Copy the raw record (OSC 52)"),
        Key("Y", "copy_sha", "Copy the raw record's SHA-256 (OSC 52)"),
        Key("question_mark", "help", "Show every key"),
    ],
    "Field picker": [
        Key("enter", "filter", "Filter by this value (a new view)", show=True, short="filter"),
        Key("plus", "add", "Add this value to the current filter (drill down)", show=True, short="add"),
        Key("y", "copy", "Copy this value (OSC 52)", show=True, short="copy"),
        Key("escape,q", "back", "Back to the event", display="Esc q", short="back"),
    ],
    "Marks list": [
        Key("enter", "open", "Go to the event in the timeline", show=True, short="go to"),
        Key("d", "unmark", "Remove the bookmark (keeps note and tags)", show=True, short="unmark"),
        Key("n", "edit_note", "Edit the note"),
        Key("t", "add_tag", "Tag (prefix with - to remove)"),
        Key("escape,q", "back", "Back", show=True, display="Esc q", short="back"),
    ],
    "Saved views": [
        Key("enter", "open", "Apply the view", show=True, short="apply"),
        Key("d", "delete", "Delete the view", show=True, short="delete"),
        Key("escape,q", "back", "Back", show=True, display="Esc q", short="back"),
    ],
    "Help": [
        Key("escape,q,question_mark", "close", "Close the help", show=True, display="Esc q ?", short="close"),
    ],
}


def bindings(context: str, *, exclude: tuple[str, ...] = ()) -> list[Binding]:
    out = []
    for k in KEYMAP[context]:
        if k.action in exclude:
            continue
        out.append(Binding(k.keys, k.action, k.short or k.description.split(" (")[0], show=k.show, priority=k.priority,
                           tooltip=k.description))
    return out


def help_rows() -> list[tuple[str, str, str]]:
    """(context, keys, description) for every key."""
    return [(ctx, k.display or key_label(k.keys), k.description) for ctx, keys in KEYMAP.items() for k in keys]


def _add_area_keys() -> None:
    """Keys of the findings screens (defined beside them) for the help and the palette."""
    from logconsole.tui.screens.findings import keymap_entries

    for context, keys in keymap_entries().items():
        KEYMAP.setdefault(context, keys)


_add_area_keys()
