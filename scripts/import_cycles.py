#!/usr/bin/env python3
"""Fail on any import cycle inside the ``logconsole`` package.

The graph is read with :mod:`ast` (nothing is imported or executed) and holds every
``import``/``from ... import`` of a ``logconsole`` module, at module level and inside
functions alike: a function-level import that closes a cycle is still a cycle in the
design, it only moves the failure to run time. Imports under ``if TYPE_CHECKING:`` are
left out (they never run).

usage: python scripts/import_cycles.py [PACKAGE_DIR]     (default: ./logconsole)
exit 0 and "no import cycles" when the graph is acyclic; exit 1 and each cycle otherwise.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def module_names(pkg_dir: Path) -> dict[str, Path]:
    """Every module of the package by dotted name (``logconsole.store.db``)."""
    root = pkg_dir.parent
    out: dict[str, Path] = {}
    for path in sorted(pkg_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append(child)
            visit(child)

    visit(tree)
    return found


def import_graph(pkg_dir: Path) -> dict[str, set[str]]:
    """Edges module -> internal modules it imports."""
    mods = module_names(pkg_dir)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        is_pkg = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in _imports(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                    pkg = pkg[: len(pkg) - (node.level - 1)]
                    base = ".".join(pkg + ([base] if base else []))
                for alias in node.names:
                    sub = f"{base}.{alias.name}" if base else alias.name
                    targets.append(sub if sub in mods else base)
            for t in targets:
                while t and t not in mods:  # `import a.b.c` names a.b.c; fall back to the nearest module
                    t = t.rpartition(".")[0]
                if t and t != name:
                    graph[name].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def main(argv: list[str]) -> int:
    pkg = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent / "logconsole"
    graph = import_graph(pkg)
    found = cycles(graph)
    edges = sum(len(v) for v in graph.values())
    if not found:
        print(f"no import cycles: {len(graph)} modules, {edges} internal import edges")
        return 0
    for i, comp in enumerate(found, 1):
        print(f"cycle {i} ({len(comp)} modules): {', '.join(comp)}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
