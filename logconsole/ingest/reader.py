"""Opening evidence files read-only, gzip transparently, in bounded memory."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sys
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from collections.abc import Iterator

#: A line longer than this is quarantined (and skipped without buffering it).
MAX_LINE = 4 * 1024 * 1024
SAMPLE_BYTES = 64 * 1024
_CHUNK = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"


class InputError(Exception):
    """A path that cannot be read: missing, unreadable, not a regular file."""


class TruncatedInput(Exception):
    """The container ended early (truncated gzip)."""


def _open_readonly(path: Path) -> BinaryIO:
    flags = os.O_RDONLY | getattr(os, "O_NOATIME", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except PermissionError:
        # O_NOATIME is refused unless we own the file; retry without it.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    return os.fdopen(fd, "rb", buffering=_CHUNK)


def file_sha256(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with _open_readonly(path) as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


@dataclass
class Sample:
    """The first bytes of a file (decompressed), for format detection."""

    name: str
    data: bytes
    lines: list[bytes] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")

    def first_nonblank(self, n: int = 5) -> list[bytes]:
        return [ln for ln in self.lines if ln.strip()][:n]


@dataclass
class Input:
    """One evidence file opened for parsing."""

    path: Path  # the real file read (a spool file for stdin)
    display: str  # what the user named ("-" for stdin)
    sha256: str
    size: int
    mtime: float | None
    gzipped: bool

    @classmethod
    def open(cls, path: str | os.PathLike) -> Input:
        p = Path(path)
        try:
            st = p.stat()
        except FileNotFoundError:
            raise InputError(f"{path}: no such file or directory") from None
        except PermissionError:
            raise InputError(f"{path}: permission denied") from None
        if not p.is_file():
            raise InputError(f"{path}: not a regular file")
        try:
            sha, size = file_sha256(p)
            with _open_readonly(p) as f:
                magic = f.read(2)
        except PermissionError:
            raise InputError(f"{path}: permission denied") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
        return cls(p, str(path), sha, size, st.st_mtime, magic == GZIP_MAGIC)

    @classmethod
    def from_stdin(cls, stream: BinaryIO | None = None) -> Input:
        """Spool standard input to a private temporary file (bounded memory)."""
        stream = stream or sys.stdin.buffer
        fd, name = tempfile.mkstemp(prefix="logconsole-stdin-")
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(stream, out, _CHUNK)
        inp = cls.open(name)
        inp.display = "-"
        inp.mtime = None
        return inp

    def open_stream(self) -> BinaryIO:
        raw = _open_readonly(self.path)
        self._raw = raw
        if self.gzipped:
            return io.BufferedReader(_GunzipRaw(raw), buffer_size=_CHUNK)
        return raw

    def position(self) -> int:
        """Bytes of the (compressed) file consumed so far by the open stream, for progress."""
        raw = getattr(self, "_raw", None)
        try:
            return raw.tell() if raw is not None and not raw.closed else self.size
        except (OSError, ValueError):
            return 0

    def sample(self, nbytes: int = SAMPLE_BYTES) -> Sample:
        data = b""
        with self.open_stream() as f:
            try:
                data = f.read(nbytes)
            except (EOFError, OSError, zlib.error):
                pass
        lines = data.split(b"\n")
        if len(data) == nbytes and len(lines) > 1:
            lines = lines[:-1]  # drop the cut last line
        return Sample(Path(self.display).name, data, [ln.rstrip(b"\r") for ln in lines])

    def iter_lines(self, max_line: int = MAX_LINE) -> Iterator[tuple[int, bytes | None]]:
        """Yield ``(lineno, line)`` (1-based, newline stripped).

        An over-long line is yielded as ``(lineno, None)`` and skipped without
        being held in memory.  A truncated gzip stream raises
        :class:`TruncatedInput` after the last complete line.
        """
        lineno = 0
        with self.open_stream() as f:
            readline = f.readline
            while True:
                try:
                    line = readline(max_line + 1)
                except (EOFError, OSError, zlib.error) as exc:
                    raise TruncatedInput(f"compressed stream ended early after line {lineno}: {exc}") from None
                if not line:
                    return
                lineno += 1
                if len(line) > max_line and not line.endswith(b"\n"):
                    # skip the rest of this line in chunks
                    try:
                        while True:
                            more = readline(_CHUNK)
                            if not more or more.endswith(b"\n"):
                                break
                    except (EOFError, OSError, zlib.error) as exc:
                        raise TruncatedInput(f"compressed stream ended early in line {lineno}: {exc}") from None
                    yield lineno, None
                    continue
                if line.endswith(b"\n"):
                    line = line[:-1]
                    if line.endswith(b"\r"):
                        line = line[:-1]
                yield lineno, line

    def iter_chunks(self) -> Iterator[bytes]:
        """Decompressed content in chunks; raises TruncatedInput on a cut gzip stream."""
        with self.open_stream() as f:
            read = getattr(f, "read1", f.read)  # read1: no data lost if the stream then fails
            while True:
                try:
                    chunk = read(_CHUNK)
                except (EOFError, OSError, zlib.error) as exc:
                    raise TruncatedInput(f"compressed stream ended early: {exc}") from None
                if not chunk:
                    return
                yield chunk


class _GunzipRaw(io.RawIOBase):
    """Streaming gunzip that hands out every byte it could decompress before
    reporting a truncated or corrupt stream (``gzip.GzipFile`` loses the data
    of the failing read call).  Concatenated gzip members are supported."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self._d = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self._pending = b""
        self._error: str | None = None
        self._done = False

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        try:
            self._f.close()
        finally:
            super().close()

    def _fill(self) -> None:
        while not self._pending and not self._done:
            chunk = self._f.read(65536)
            if not chunk:
                if not self._d.eof:
                    self._error = "compressed stream ended early"
                self._done = True
                return
            try:
                out = self._d.decompress(chunk)
                while self._d.eof and self._d.unused_data:
                    rest = self._d.unused_data
                    self._d = zlib.decompressobj(zlib.MAX_WBITS | 16)
                    out += self._d.decompress(rest)
            except zlib.error as exc:
                self._error = f"corrupt compressed data: {exc}"
                self._done = True
                return
            self._pending = out

    def readinto(self, b) -> int:
        self._fill()
        if not self._pending:
            if self._error:
                err, self._error = self._error, None
                raise EOFError(err)
            return 0
        n = min(len(b), len(self._pending))
        b[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def expand_paths(paths: list[str]) -> list[str]:
    """Files as given; directories walked recursively in sorted order; "-" kept."""
    out: list[str] = []
    for p in paths:
        if p == "-":
            out.append(p)
            continue
        path = Path(p)
        if path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs.sort()
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    out.append(os.path.join(root, name))
        else:
            out.append(p)
    return out
