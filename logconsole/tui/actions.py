"""Every action of the console, named once with the class that owns it and its keys.

Bindings (``BINDINGS = bindings("TimelineScreen")``), the `?` help and the
command palette are all derived from :data:`ACTIONS`; nothing else declares a
key.  A target is named by its class name (a screen or a widget), so this
module imports no screen and no widget.

Only keys that terminals forward over SSH are used: printable characters,
Enter/Escape/Tab, arrows, Home/End/PgUp/PgDn and a few Ctrl+letter chords
(never Alt/Meta/Cmd, never Ctrl+H/I/M which are Backspace/Tab/Enter).

To add a screen's keys: add a :class:`Target` (its help section and the screen
whose palette offers them) and its :class:`Action` rows, then set the class's
``BINDINGS = bindings("ItsClassName")``.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Target:
    """A class that owns actions."""

    name: str  # the class name (also a CSS type selector for the palette's lookup)
    title: str  # the help section; targets sharing a title share a section
    palette: str | None = None  # name of the screen whose command palette offers these actions
    help: bool = True  # listed in the `?` help


@dataclass(frozen=True)
class Action:
    target: str  # Target.name
    action: str  # Textual action on the target (may take arguments: "move(-1)"); "app." for app actions
    keys: str  # Textual key names, comma separated (first is the one shown)
    description: str
    show: bool = False  # shown in the footer
    palette: bool = True  # offered in the command palette (when the target has one)
    display: str | None = None  # how the help shows the keys (default: derived)
    short: str | None = None  # footer label (default: the description up to its first " (")
    priority: bool = False
    bind: bool = True  # False: documented only (the widget handles the key itself, e.g. Input's Enter)


#: Help order: the sections appear in this order.
TARGETS: list[Target] = [
    Target("EventList", "Event list", palette="TimelineScreen"),
    Target("TimelineScreen", "Timeline", palette="TimelineScreen"),
    Target("FilterInput", "Filter input", palette="TimelineScreen"),
    Target("EventDetailScreen", "Event detail", palette="EventDetailScreen"),
    Target("FieldPickScreen", "Field picker", palette="FieldPickScreen"),
    Target("MarksScreen", "Marks list", palette="MarksScreen"),
    Target("ViewsScreen", "Saved views", palette="ViewsScreen"),
    Target("HelpScreen", "Help", palette="HelpScreen"),
    Target("FindingsScreen", "Findings"),
    Target("ReadinessScreen", "Audit readiness"),
    Target("NarrativeScreen", "Narrative editor"),
    Target("Histogram", "Histogram (focused)"),
    Target("FacetPanel", "Facets (focused)"),
    Target("FrequencyScreen", "Frequency table (Shift+F)"),
    Target("FrequencyTable", "Frequency table (Shift+F)"),
    Target("ActorsScreen", "Actors screen (A)"),
    Target("IntegrityScreen", "Integrity screen (I)"),
    Target("DetectionsScreen", "Detections screen (D)"),
    Target("IdentityScreen", "Identity screen (W)"),
    Target("EvidenceScreen", "Evidence of a link", help=False),
    Target("PivotScreen", "Pivot table (P)", palette="PivotScreen"),
    Target("SqlScreen", "SQL prompt (:)", palette="SqlScreen"),
    Target("ActorDetailScreen", "Actor detail", help=False),
    Target("PolicyScreen", "Suggested policy", help=False),
    Target("FailureList", "Integrity failures", help=False),
    Target("ChoiceScreen", "Choice", help=False),
    Target("PromptScreen", "Prompt", help=False),
    Target("ExportScreen", "Export", help=False),
]

_FINDINGS_SHOWN = ("open", "new_from_marked", "export", "back", "delete")


def _findings(keys: str, action: str, description: str, display: str) -> Action:
    return Action("FindingsScreen", action, keys, description, show=action in _FINDINGS_SHOWN, palette=False,
                  display=display)


ACTIONS: list[Action] = [
    # ---- the event list (focused on the timeline)
    Action("EventList", "cursor_up", "up,k", "Previous event"),
    Action("EventList", "cursor_down", "down,j", "Next event"),
    Action("EventList", "page_up", "pageup,ctrl+u", "Page up"),
    Action("EventList", "page_down", "pagedown,ctrl+d", "Page down"),
    Action("EventList", "first", "home,g", "First event", display="Home g"),
    Action("EventList", "last", "end,G", "Last event", display="End G"),
    Action("EventList", "column_left", "left,h", "Previous column (for Shift+F and y)"),
    Action("EventList", "column_right", "right,l", "Next column (for Shift+F and y)"),
    Action("EventList", "open_event", "enter", "Open the event detail", show=True, short="detail"),
    Action("EventList", "column_hide", "x", "Hide the current column (remembered for this view)"),
    Action("EventList", "column_pick", "C", "Columns: show a hidden column, or reset to the format's columns"),
    Action("EventList", "column_move(-1)", "less_than_sign", "Move the current column left"),
    Action("EventList", "column_move(1)", "greater_than_sign", "Move the current column right"),
    Action("EventList", "column_resize(-2)", "minus", "Narrow the current column"),
    Action("EventList", "column_resize(2)", "plus,equals_sign", "Widen the current column", display="+ ="),
    Action("EventList", "column_wrap", "w", "Wrap the current column over up to 3 lines (again: one line)"),
    # ---- the timeline
    Action("TimelineScreen", "focus_filter", "slash", "Edit the filter", show=True, short="filter"),
    Action("TimelineScreen", "back", "escape", "Back: undo the last filter, drill-down or pivot (to the screen it came from)",
           display="Esc"),
    Action("TimelineScreen", "back_or_quit", "q", "Back like Esc; at the first view, quit", show=True,
           short="back/quit"),
    Action("TimelineScreen", "jump_time", "J", "Jump to a time (01:18, 14 01:18, ISO 8601, or +5m / -2h from the current event)"),
    Action("TimelineScreen", "toggle_mark", "m", "Bookmark / unbookmark the event", show=True, short="mark"),
    Action("TimelineScreen", "next_match(1)", "n", "Next match: the next event whose cells show the filter's words"),
    Action("TimelineScreen", "next_match(-1)", "N", "Previous match"),
    Action("TimelineScreen", "edit_note", "c", "Add or edit the event's note (comment)"),
    Action("TimelineScreen", "add_tag", "t", "Tag the event (prefix with - to remove a tag)"),
    Action("TimelineScreen", "next_mark", "right_square_bracket", "Next bookmark"),
    Action("TimelineScreen", "prev_mark", "left_square_bracket", "Previous bookmark"),
    Action("TimelineScreen", "marks", "M", "List bookmarks, notes and tags"),
    Action("TimelineScreen", "marks_to_finding", "b", "Add the bookmarked events to a new or existing finding"),
    Action("TimelineScreen", "frequency", "F", "Frequency table of the current column", display="Shift+F"),
    Action("TimelineScreen", "toggle_facets", "f", "Show / hide the facet panel"),
    Action("TimelineScreen", "toggle_histogram", "H", "Show / hide the histogram"),
    Action("TimelineScreen", "focus_pane(1)", "tab", "Focus the next pane (histogram, list, facets)", palette=False),
    Action("TimelineScreen", "focus_pane(-1)", "shift+tab", "Focus the previous pane", palette=False),
    Action("TimelineScreen", "copy_cell", "y", "Copy the current cell's value (OSC 52)"),
    Action("TimelineScreen", "copy_raw", "Y", "Copy the event's raw record (OSC 52)"),
    Action("TimelineScreen", "save_view", "s", "Save the current filter as a named view"),
    Action("TimelineScreen", "views", "v", "Open a saved view"),
    Action("TimelineScreen", "open_screen('actors')", "A", "Actors and privileges screen"),
    Action("TimelineScreen", "open_screen('integrity')", "I", "Integrity (chain verification) screen"),
    Action("TimelineScreen", "open_screen('findings')", "R", "Findings screen"),
    Action("TimelineScreen", "open_screen('detections')", "D", "Detections screen (Sigma rule hits)"),
    Action("TimelineScreen", "open_screen('pivot')", "P",
           "Pivot: count this view's events by two fields (actor x action, ip x hour); Enter drills into a cell"),
    Action("TimelineScreen", "open_screen('sql')", "colon", "SQL prompt: read-only SQL over the index's views"),
    Action("TimelineScreen", "verify_path", "V", "Verify a path (hash chain, CloudTrail bucket copy, sequence numbers; "
           "options as key=value)"),
    Action("TimelineScreen", "import_grants", "ctrl+g", "Import a grants (permissions) file (IAM authorization details, RBAC, policy)"),
    Action("TimelineScreen", "rerun_trust", "ctrl+t", "Re-run the verifications and grants imports done so far"),
    Action("TimelineScreen", "export", "e", "Export the report, or this view's events (CSV, JSON lines, Timesketch)"),
    Action("TimelineScreen", "open_screen('identity')", "W",
           "Who: the identity of this event's actor across sources (aliases, links, sessions, timeline)"),
    Action("TimelineScreen", "reload", "ctrl+r", "Reload (after another ingest)"),
    Action("TimelineScreen", "help", "question_mark", "Show every key", show=True, short="help"),
    Action("TimelineScreen", "app.command_palette", "ctrl+p", "Command palette (every action)", palette=False),
    Action("TimelineScreen", "app.quit", "ctrl+q", "Quit", palette=False),
    # ---- the filter input
    Action("FilterInput", "apply", "enter", "Apply the filter (it is validated while you type)", palette=False,
           bind=False),
    Action("FilterInput", "history_prev", "up", "Older filter from the history", palette=False),
    Action("FilterInput", "history_next", "down", "Newer filter from the history", palette=False),
    Action("FilterInput", "cancel", "escape", "Back to the list (keeps the applied filter)", palette=False),
    # ---- the event detail
    Action("EventDetailScreen", "back", "escape,q", "Back to the timeline", show=True, display="Esc q", short="back"),
    Action("EventDetailScreen", "pivot_actor", "a", "Drill down: AND this actor onto the filter", show=True, short="actor"),
    Action("EventDetailScreen", "pivot_ip", "i", "Drill down: AND this source IP onto the filter", show=True, short="IP"),
    Action("EventDetailScreen", "pivot_resource", "r", "Drill down: AND this resource onto the filter", show=True,
           short="resource"),
    Action("EventDetailScreen", "pivot_window", "w", "Show ±5 minutes around this event", show=True, short="±5 min"),
    Action("EventDetailScreen", "pick_field", "f", "Pick any field: filter by it, add it to the filter, or copy it",
           short="field"),
    Action("EventDetailScreen", "identity", "W", "Who: the identity of this event's actor across sources"),
    Action("EventDetailScreen", "prev_event", "K", "Previous event in the timeline"),
    Action("EventDetailScreen", "next_event", "J", "Next event in the timeline"),
    Action("EventDetailScreen", "toggle_mark", "m", "Bookmark / unbookmark"),
    Action("EventDetailScreen", "edit_note", "c", "Add or edit the note (comment)"),
    Action("EventDetailScreen", "add_tag", "t", "Tag (prefix with - to remove)"),
    Action("EventDetailScreen", "copy_raw", "y", "Copy the raw record (OSC 52)"),
    Action("EventDetailScreen", "copy_sha", "Y", "Copy the raw record's SHA-256 (OSC 52)"),
    Action("EventDetailScreen", "help", "question_mark", "Show every key"),
    # ---- the detail's field picker
    Action("FieldPickScreen", "filter", "enter", "Filter by this value (a new view)", show=True, short="filter"),
    Action("FieldPickScreen", "add", "plus", "Add this value to the current filter (drill down)", show=True,
           short="add"),
    Action("FieldPickScreen", "copy", "y", "Copy this value (OSC 52)", show=True, short="copy"),
    Action("FieldPickScreen", "back", "escape,q", "Back to the event", display="Esc q", short="back"),
    # ---- bookmarks, notes and tags (M)
    Action("MarksScreen", "open", "enter", "Go to the event in the timeline", show=True, short="go to"),
    Action("MarksScreen", "unmark", "d", "Remove the bookmark (keeps note and tags)", show=True, short="unmark"),
    Action("MarksScreen", "edit_note", "c", "Edit the note (comment)"),
    Action("MarksScreen", "add_tag", "t", "Tag (prefix with - to remove)"),
    Action("MarksScreen", "back", "escape,q", "Back", show=True, display="Esc q", short="back"),
    # ---- saved views (v)
    Action("ViewsScreen", "open", "enter", "Apply the view", show=True, short="apply"),
    Action("ViewsScreen", "delete", "d", "Delete the view", show=True, short="delete"),
    Action("ViewsScreen", "back", "escape,q", "Back", show=True, display="Esc q", short="back"),
    # ---- help (?)
    Action("HelpScreen", "close", "escape,q,question_mark", "Close the help", show=True, display="Esc q ?",
           short="close"),
    # ---- findings (R)
    _findings("enter", "open", "Show the finding's events in the timeline", "Enter"),
    _findings("a", "new_from_marked", "New finding from the bookmarked events", "a"),
    _findings("c", "new_from_filter", "New finding from the timeline's current filter", "c"),
    _findings("v", "new_from_view", "New finding from a saved view", "v"),
    _findings("plus", "attach_marked", "Attach the bookmarked events to this finding", "Plus"),
    _findings("t", "edit_title", "Edit the title", "t"),
    _findings("s", "edit_severity", "Set the severity", "s"),
    _findings("n", "edit_narrative", "Edit the narrative (Markdown)", "n"),
    _findings("f", "edit_filter", "Edit the saved filter", "f"),
    _findings("K", "move_up", "Move up", "K"),
    _findings("J", "move_down", "Move down", "J"),
    _findings("x,delete", "delete", "Delete the finding", "x Delete"),
    _findings("e", "export", "Export: report or timeline", "e"),
    _findings("r", "readiness", "Audit readiness of the sources", "r"),
    _findings("escape,q", "back", "Back", "Escape q"),
    Action("ReadinessScreen", "toggle", "s", "Per source / per format", show=True, palette=False,
           short="per source / per format"),
    Action("ReadinessScreen", "back", "escape,q", "Back", show=True, palette=False, display="Esc q", short="back"),
    Action("NarrativeScreen", "save", "ctrl+o", "Save the narrative", show=True, palette=False, display="Ctrl+O",
           short="save", priority=True),
    Action("NarrativeScreen", "cancel", "escape", "Cancel", show=True, palette=False, display="Esc", short="cancel"),
    # ---- the histogram (focused)
    Action("Histogram", "cursor(-1)", "left,h", "Earlier bucket"),
    Action("Histogram", "cursor(1)", "right,l", "Later bucket"),
    Action("Histogram", "cursor_edge(0)", "home", "First bucket"),
    Action("Histogram", "cursor_edge(1)", "end", "Last bucket"),
    Action("Histogram", "zoom_in", "plus,equals_sign", "Zoom in", show=True),
    Action("Histogram", "zoom_out", "minus", "Zoom out", show=True),
    Action("Histogram", "zoom_reset", "0", "Whole span"),
    Action("Histogram", "toggle_log", "L", "Log scale"),
    Action("Histogram", "mark", "space", "Mark range start/end", show=True),
    Action("Histogram", "select", "enter", "Filter to range", show=True),
    Action("Histogram", "unmark", "escape", "Drop the marked start"),
    # ---- the facet panel (focused)
    Action("FacetPanel", "move(-1)", "up,k", "Previous value"),
    Action("FacetPanel", "move(1)", "down,j", "Next value"),
    Action("FacetPanel", "edge(0)", "home", "First value"),
    Action("FacetPanel", "edge(1)", "end", "Last value"),
    Action("FacetPanel", "drill", "enter", "Drill down", show=True),
    Action("FacetPanel", "frequency", "F", "Frequency table", show=True),
    # ---- the frequency table (Shift+F)
    Action("FrequencyScreen", "drill", "enter", "Drill down", show=True),
    Action("FrequencyScreen", "back", "escape,q", "Back", show=True),
    Action("FrequencyTable", "move(-1)", "up,k", "Up"),
    Action("FrequencyTable", "move(1)", "down,j", "Down"),
    Action("FrequencyTable", "page(-1)", "pageup,ctrl+u", "Page up"),
    Action("FrequencyTable", "page(1)", "pagedown,ctrl+d", "Page down"),
    Action("FrequencyTable", "edge(0)", "home,g", "First"),
    Action("FrequencyTable", "edge(1)", "end,G", "Last"),
    # ---- actors and privileges (A)
    Action("ActorsScreen", "open", "enter", "Open actor", show=True),
    Action("ActorsScreen", "timeline", "t", "Actor's events", show=True),
    Action("ActorsScreen", "cycle_sort", "s", "Sort", show=True),
    Action("ActorsScreen", "reverse", "r", "Reverse"),
    Action("ActorsScreen", "group_identity", "i", "Group by identity (a role session under its caller, with its role's grants)",
           short="by identity"),
    Action("ActorsScreen", "back", "escape,q", "Back", show=True),
    Action("ActorDetailScreen", "open", "enter", "Timeline", show=True),
    Action("ActorDetailScreen", "policy", "p", "Suggested policy", show=True),
    Action("ActorDetailScreen", "timeline", "t", "Actor's events", show=True),
    Action("ActorDetailScreen", "back", "escape,q", "Back", show=True),
    Action("ActorDetailScreen", "row_edge(0)", "home,g", "First row", priority=True),
    Action("ActorDetailScreen", "row_edge(1)", "end,G", "Last row", priority=True),
    Action("ActorDetailScreen", "row_page(-1)", "pageup,ctrl+u", "Page up", priority=True),
    Action("ActorDetailScreen", "row_page(1)", "pagedown,ctrl+d", "Page down", priority=True),
    Action("PolicyScreen", "close", "escape,q,p", "Close", show=True),
    # ---- integrity (I)
    Action("DetectionsScreen", "open", "enter", "Rule's events", show=True),
    Action("DetectionsScreen", "finding", "f", "Finding from the rule's hits", show=True, short="finding"),
    Action("DetectionsScreen", "run", "r", "Run the rules over new events", show=True, short="run"),
    Action("DetectionsScreen", "back", "escape,q", "Back", show=True),
    Action("IntegrityScreen", "close", "escape,q", "Back", show=True),
    Action("IntegrityScreen", "open", "enter", "Open in timeline", show=True),
    Action("IntegrityScreen", "switch", "tab", "Targets/failures", show=True),
    Action("IntegrityScreen", "verify_index", "i", "Verify index", show=True),
    Action("IntegrityScreen", "verify_sequences", "s", "Sequence check", show=True),
    Action("IntegrityScreen", "reload", "r", "Reload", show=True),
    Action("FailureList", "move(-1)", "up,k", "Up"),
    Action("FailureList", "move(1)", "down,j", "Down"),
    Action("FailureList", "page(-1)", "pageup", "Page up"),
    Action("FailureList", "page(1)", "pagedown", "Page down"),
    Action("FailureList", "edge(0)", "home,g", "First"),
    Action("FailureList", "edge(1)", "end,G", "Last"),
    # ---- identity (W)
    Action("IdentityScreen", "pane('graph')", "g", "Graph: the identity's links as a tree", show=True, short="graph"),
    Action("IdentityScreen", "pane('sessions')", "s", "Sessions: start, end, addresses, user agents", show=True,
           short="sessions"),
    Action("IdentityScreen", "pane('events')", "e", "Events: the merged timeline of every alias", show=True,
           short="events"),
    Action("IdentityScreen", "toggle_weak", "w", "Show / hide weak links (same name, credential use)", show=True,
           short="weak links"),
    Action("IdentityScreen", "open", "enter", "Graph: the link's evidence; sessions: its events; events: timeline",
           display="Enter", bind=False),
    Action("IdentityScreen", "back", "escape,q", "Back", show=True, display="Esc q", short="back"),
    Action("EvidenceScreen", "open", "enter", "Show the event in the timeline", show=True, short="timeline"),
    Action("EvidenceScreen", "all", "t", "Show every evidence event in the timeline", show=True, short="all"),
    Action("EvidenceScreen", "back", "escape,q", "Back", show=True, display="Esc q", short="back"),
    # ---- pivot (P) and SQL (:)
    Action("PivotScreen", "drill", "enter", "Drill into the cell (ANDs both values onto the filter)", show=True,
           short="drill"),
    Action("PivotScreen", "set_row", "r", "Change the row field", show=True, short="rows"),
    Action("PivotScreen", "set_col", "c", "Change the column field", show=True, short="columns"),
    Action("PivotScreen", "swap", "x", "Swap rows and columns", show=True, short="swap"),
    Action("PivotScreen", "back", "escape,q", "Back", show=True, display="Esc q", short="back"),
    Action("SqlScreen", "cancel_or_back", "escape", "Cancel the running statement; else back", show=True,
           display="Esc", short="cancel/back", priority=True),
    Action("SqlScreen", "edit", "colon", "Edit the statement", show=True, short="edit"),
    Action("SqlScreen", "open", "o", "Open the row's event in the timeline (Enter on the row)", show=True,
           short="open event"),
    # ---- dialogs
    Action("ChoiceScreen", "cancel", "escape,q", "cancel"),
    Action("PromptScreen", "cancel", "escape", "cancel"),
    Action("ExportScreen", "cancel", "escape", "cancel", show=True),
]

_KEY_LABELS = {
    "slash": "/", "question_mark": "?", "escape": "Esc", "enter": "Enter", "up": "↑", "down": "↓",
    "left": "←", "right": "→", "pageup": "PgUp", "pagedown": "PgDn", "home": "Home", "end": "End",
    "right_square_bracket": "]", "left_square_bracket": "[", "tab": "Tab", "shift+tab": "Shift+Tab",
    "plus": "+", "minus": "-", "equals_sign": "=", "space": "Space", "ctrl+o": "Ctrl+O", "ctrl+s": "Ctrl+S",
    "ctrl+r": "Ctrl+R", "ctrl+p": "Ctrl+P", "ctrl+q": "Ctrl+Q", "ctrl+d": "Ctrl+D", "ctrl+u": "Ctrl+U",
    "full_stop": ".", "comma": ",", "delete": "Del", "colon": ":", "less_than_sign": "<", "greater_than_sign": ">",
}

_TARGETS = {t.name: t for t in TARGETS}


def key_label(keys: str) -> str:
    """How a human reads Textual key names: ``"escape,q"`` -> ``"Esc q"``."""
    return " ".join(_KEY_LABELS.get(k, k) for k in keys.split(","))


def keys_shown(a: Action) -> str:
    return a.display or key_label(a.keys)


def actions_of(target: str) -> list[Action]:
    if target not in _TARGETS:
        raise KeyError(f"no such action target: {target}")
    return [a for a in ACTIONS if a.target == target]


def bindings(target: str) -> list[Binding]:
    """The Textual bindings of the class named *target*."""
    return [
        Binding(a.keys, a.action, a.short or a.description.split(" (")[0], show=a.show, priority=a.priority,
                tooltip=a.description)
        for a in actions_of(target) if a.bind
    ]


def help_rows() -> list[tuple[str, str, str]]:
    """(section, keys, description) of every action the help lists, section by section."""
    return [(t.title, keys_shown(a), a.description) for t in TARGETS if t.help for a in actions_of(t.name)]


def palette_actions(screen: str) -> list[tuple[Target, Action]]:
    """(target, action) offered in the command palette of the screen class named *screen*."""
    return [(t, a) for t in TARGETS if t.palette == screen for a in actions_of(t.name) if a.palette]
