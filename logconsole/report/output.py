"""Where reports and exports may be written.

``export -o PATH`` (and the console's export) go through :func:`open_output`:

* ``-`` (or no path) is standard output;
* an existing file is refused unless ``force`` (a symlink counts as existing);
* the index itself (and its ``-wal``/``-shm``/``.lock`` files) and every ingested
  evidence file are always refused, compared by device and inode, so no other
  name, hard link or symlink reaches them;
* a new file is created with mode 0600 (like the index); an overwritten one is
  set to 0600; without ``force`` the file is created exclusively (``O_EXCL``), so
  a file appearing between the check and the open is not overwritten either.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, select

from logconsole.store.schema import sources


class OutputRefused(Exception):
    pass


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)  # follows symlinks: the file the name leads to
    except OSError:
        return None
    return st.st_dev, st.st_ino


def protected_files(engine: Engine | None, db_path: str | None) -> dict[tuple[int, int], str]:
    """(device, inode) -> what it is, for the index files and every ingested source."""
    out: dict[tuple[int, int], str] = {}
    if db_path:
        for suffix, what in (("", "the index"), ("-wal", "the index's log"), ("-shm", "the index's shared memory"),
                             (".lock", "the index's lock")):
            ident = _identity(db_path + suffix)
            if ident:
                out[ident] = f"{what} ({db_path}{suffix})"
    if engine is not None:
        with engine.connect() as conn:
            for (path,) in conn.execute(select(sources.c.path)):
                if path and path != "-":
                    ident = _identity(path)
                    if ident:
                        out.setdefault(ident, f"an ingested evidence file ({path})")
    return out


def check_output_path(path: str, *, force: bool, protected: dict[tuple[int, int], str]) -> None:
    """Raise :class:`OutputRefused` if *path* may not be written."""
    ident = _identity(path)
    if ident is not None and ident in protected:
        raise OutputRefused(f"{path}: refusing to write over {protected[ident]}")
    try:
        lst = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputRefused(f"{path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(lst.st_mode) or (ident is not None and stat.S_ISDIR(os.stat(path).st_mode)):
        raise OutputRefused(f"{path}: is a directory")
    if not force:
        raise OutputRefused(f"{path}: exists; refusing to overwrite it (use --force)")


@contextmanager
def open_output(path: str | None, *, force: bool = False, engine: Engine | None = None, db_path: str | None = None,
                binary: bool = False, protected: dict[tuple[int, int], str] | None = None) -> Iterator[IO[Any]]:
    """A stream to write a report/export to; see the module doc."""
    if path is None or path == "-":
        yield sys.stdout.buffer if binary else sys.stdout
        return
    prot = protected if protected is not None else protected_files(engine, db_path)
    check_output_path(path, force=force, protected=prot)
    # no O_TRUNC: truncate only once the opened file is known not to be protected
    flags = os.O_WRONLY | os.O_CREAT | (0 if force else os.O_EXCL) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise OutputRefused(f"{path}: exists; refusing to overwrite it (use --force)") from None
    except OSError as exc:
        raise OutputRefused(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) in prot:  # raced onto a protected file
            raise OutputRefused(f"{path}: refusing to write over {prot[(st.st_dev, st.st_ino)]}")
        os.fchmod(fd, 0o600)
        os.ftruncate(fd, 0)
        fh: IO[Any] = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")
    except BaseException:
        os.close(fd)
        raise
    with fh:
        yield fh


@contextmanager
def private_umask() -> Iterator[None]:
    """Files a library creates meanwhile get mode 0600 (parquet writers take a path)."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def resolve(path: str) -> str:
    return str(Path(path).expanduser())
