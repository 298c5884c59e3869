"""The package's structure, checked: no import cycles inside ``logconsole/``.

The layer contracts themselves (console/CLI -> workflows -> report -> analysis -> ingest ->
store -> util, and no Textual in the core) are import-linter contracts in ``pyproject.toml``,
run by ``lint-imports`` in ``.ci/run``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _checker():
    spec = importlib.util.spec_from_file_location("import_cycles", ROOT / "scripts" / "import_cycles.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["import_cycles"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_no_import_cycles_in_package():
    checker = _checker()
    graph = checker.import_graph(ROOT / "logconsole")
    assert len(graph) > 50  # the whole package was read
    assert checker.cycles(graph) == []


def test_cycle_checker_finds_function_level_cycles(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import c\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    (pkg / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    checker = _checker()
    graph = checker.import_graph(pkg)
    assert checker.cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]
    assert "pkg.a" not in graph["pkg.d"]  # TYPE_CHECKING-only imports never run
