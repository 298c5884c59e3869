"""Reading evidence files read-only (gzip transparent), line by line, fast."""

from __future__ import annotations

import errno
import io
import os
import stat
import zlib
from pathlib import Path
from typing import BinaryIO
from collections.abc import Iterator

from logconsole.ingest.reader import GZIP_MAGIC, MAX_LINE, _GunzipRaw, open_readonly

_CHUNK = 1 << 20


class NotRegularFile(OSError):
    """A FIFO, device, socket or directory where a file was expected."""

    def __str__(self) -> str:
        return str(self.strerror)


def not_regular(path: str | os.PathLike) -> str | None:
    """Why *path* is refused as evidence (a FIFO, device, socket or directory), or None for a regular file
    (symlinks are followed).  Reading a FIFO would block until a writer appears."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # the open reports it
    if stat.S_ISREG(mode):
        return None
    kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a directory" if stat.S_ISDIR(mode) else "not a regular file")
    return f"{kind}, not a regular file: refused"


def open_binary(path: str | os.PathLike) -> BinaryIO:
    """Open read-only (O_NOATIME when allowed); gunzip transparently.  Anything but a regular file is
    refused with OSError(EINVAL) before it is opened (a FIFO would block the open itself)."""
    why = not_regular(path)
    if why is not None:
        raise NotRegularFile(errno.EINVAL, why)
    raw = open_readonly(Path(path))
    magic = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
    if magic == GZIP_MAGIC:
        return io.BufferedReader(_GunzipRaw(raw), buffer_size=_CHUNK)
    return raw


def read_small(path: str | os.PathLike, limit: int = 16 << 20) -> bytes:
    """The raw bytes of a small regular file (a key, a sidecar, a checkpoint); raises OSError."""
    why = not_regular(path)
    if why is not None:
        raise NotRegularFile(errno.EINVAL, why)
    with open_readonly(Path(path)) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))
    return data


def read_all(path: str | os.PathLike, limit: int = 1 << 30) -> bytes:
    """The whole (decompressed) content; raises OSError/EOFError on failure."""
    with open_binary(path) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit} bytes")
    return data


def iter_lines(path: str | os.PathLike, limit_lines: int | None = None) -> Iterator[tuple[int, bytes | None]]:
    """Yield ``(lineno, line)`` 1-based without the newline (``\\r\\n`` too).

    A line longer than :data:`MAX_LINE` is yielded as ``None``.  A corrupt or
    truncated gzip stream raises ``OSError`` after the last complete line.
    """
    lineno = 0
    tail = b""
    overlong = False
    with open_binary(path) as f:
        while True:
            try:
                chunk = f.read(_CHUNK)
            except (EOFError, zlib.error) as exc:
                raise OSError(errno.EIO, f"compressed stream ended early after line {lineno}: {exc}") from None
            if not chunk:
                break
            parts = chunk.split(b"\n")
            parts[0] = tail + parts[0]
            tail = parts.pop()
            for ln in parts:
                lineno += 1
                if overlong:
                    overlong = False
                    yield lineno, None
                else:
                    yield lineno, (ln[:-1] if ln.endswith(b"\r") else ln)
                if limit_lines is not None and lineno >= limit_lines:
                    return
            if len(tail) > MAX_LINE:
                overlong = True
                tail = b""
    if tail or overlong:
        lineno += 1
        yield lineno, (None if overlong else (tail[:-1] if tail.endswith(b"\r") else tail))


def open_text_error(path: str, exc: BaseException) -> str:
    msg = getattr(exc, "strerror", None) or str(exc)
    return f"{path}: cannot read: {msg}"
