"""A private scratch database for one run's working tables, on every engine.

The Sigma rules compile to SQLite SQL (pysigma-backend-sqlite: ``LIKE ... ESCAPE``,
``COLLATE NOCASE``, ``REGEXP``), evaluated over working tables that are filled
in Python from the decoded records.  Those tables live in a temporary SQLite
database of the run's own (a file SQLite removes on close, spilling to disk
only past its cache), whatever engine holds the index: the rules' SQL is
evaluated by the engine it was written for, so a case on PostgreSQL gets
exactly the hits it gets on SQLite, and the working rows never travel back to
a server.  Only the hits are written to the index (through SQLAlchemy).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

Error = sqlite3.Error


def open_scratch(functions: dict[str, tuple[int, Callable[..., Any]]] | None = None) -> sqlite3.Connection:
    """A new, empty scratch database with *functions* (name -> (arity, callable)) registered."""
    db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-65536")
    for name, (arity, fn) in (functions or {}).items():
        db.create_function(name, arity, fn, deterministic=True)
    db.execute("BEGIN")  # one transaction for the run's life: nothing of it is ever kept
    return db
