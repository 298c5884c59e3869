"""The action table is the one place keys are declared: every row names a real action of a real class."""

from __future__ import annotations

import importlib
import pkgutil

import logconsole.tui.screens as screens_pkg
import logconsole.tui.widgets as widgets_pkg
from logconsole.tui import actions, screen_list
from logconsole.tui.app import LogConsoleApp


def _classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for pkg in (screens_pkg, widgets_pkg):
        for m in pkgutil.iter_modules(pkg.__path__):
            mod = importlib.import_module(f"{pkg.__name__}.{m.name}")
            for name, value in vars(mod).items():
                if isinstance(value, type) and value.__module__ == mod.__name__:
                    found[name] = value
    return found


def test_every_action_exists_on_its_target():
    classes = _classes()
    for t in actions.TARGETS:
        cls = classes[t.name]
        rows = actions.actions_of(t.name)
        assert rows, t
        assert [b.action for b in cls.BINDINGS] == [a.action for a in rows if a.bind], t
        for a in rows:
            if not a.bind:
                continue
            name = a.action.split("(")[0]
            owner = LogConsoleApp if name.startswith("app.") else cls
            assert hasattr(owner, "action_" + name.removeprefix("app.")), (t.name, a.action)
        if t.palette is not None:
            assert t.palette in classes, t


def test_no_key_is_bound_twice_on_one_target():
    for t in actions.TARGETS:
        seen: dict[str, str] = {}
        for a in actions.actions_of(t.name):
            for key in a.keys.split(","):
                assert key not in seen, (t.name, key, a.action, seen.get(key))
                seen[key] = a.action


def test_every_class_with_bindings_is_in_the_table():
    targets = {t.name for t in actions.TARGETS}
    for name, cls in _classes().items():
        if "BINDINGS" in vars(cls) and vars(cls)["BINDINGS"]:
            assert name in targets, name


def test_screen_list_opens_with_timeline_actions():
    opened = {a.action for a in actions.actions_of("TimelineScreen") if a.action.startswith("open_screen(")}
    for a in opened:
        name = a.split("'")[1]
        assert name in screen_list.SCREENS, a
    assert set(screen_list.SCREENS) >= {"frequency", "actors", "integrity", "findings"}


def test_help_sections_follow_the_target_order():
    titles = []
    for section, _keys, _desc in actions.help_rows():
        if section not in titles:
            titles.append(section)
    assert titles[:3] == ["Event list", "Timeline", "Filter input"]
    assert "Actor detail" not in titles  # help=False targets stay out
