"""Opening evidence files read-only, gzip transparently, in bounded memory, and
knowing exactly which bytes were read.

An :class:`Input` holds one read-only descriptor (``O_RDONLY|O_NOATIME``) on the
evidence file, taken once; every stream over it reads with ``pread`` up to the size
the file had when it was opened (:attr:`Input.limit`), so bytes appended while an
ingest runs are not read.  The longest stream (the parse) hashes the bytes as it
reads them: :meth:`Input.finish` gives the SHA-256 of exactly the bytes parsed and
compares the file's size, modification time and identity before and after
(:class:`ReadOutcome`).  Standard input is spooled to an unnamed temporary file
that disappears with the process, whatever kills it.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
import stat
import sys
import tempfile
import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

#: A line longer than this is quarantined (and skipped without buffering it).
MAX_LINE = 4 * 1024 * 1024
SAMPLE_BYTES = 64 * 1024
#: detection looks past at most this many bytes of leading blank lines
BLANK_HEAD_LIMIT = 256 * 1024 * 1024
_CHUNK = 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"
_O_NOATIME = getattr(os, "O_NOATIME", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class InputError(Exception):
    """A path that cannot be read: missing, unreadable, not a regular file."""


class TruncatedInput(Exception):
    """The container ended early (truncated gzip)."""


def open_readonly_fd(path: str | os.PathLike) -> int:
    """A read-only descriptor that leaves the access time alone where the kernel allows
    it (``O_NOATIME`` needs the file's owner or CAP_FOWNER; otherwise plain ``O_RDONLY``)."""
    if _O_NOATIME:
        try:
            return os.open(path, os.O_RDONLY | _O_NOATIME | _O_CLOEXEC)
        except PermissionError:
            pass
    return os.open(path, os.O_RDONLY | _O_CLOEXEC)


def open_readonly(path: str | os.PathLike) -> BinaryIO:
    """Evidence opened for reading, never for writing, with ``O_NOATIME`` where allowed."""
    return os.fdopen(open_readonly_fd(path), "rb", buffering=_CHUNK)


def file_sha256(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with open_readonly(path) as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


@dataclass
class Sample:
    """The first bytes of a file (decompressed, a UTF-8 BOM removed, UTF-16 with a BOM
    decoded to UTF-8), for format detection."""

    name: str
    data: bytes
    lines: list[bytes] = field(default_factory=list)
    #: "utf-16-le"/"utf-16-be" when the file is UTF-16 with a BOM (data is then UTF-8)
    encoding: str | None = None
    #: the compressed container ended inside the sample
    truncated: bool = False

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")

    def first_nonblank(self, n: int = 5) -> list[bytes]:
        return [ln for ln in self.lines if ln.strip()][:n]


class _Hasher:
    """SHA-256 of a stream's bytes from offset 0, fed in order, with snapshots at the
    start of the last chunks so the hash of a shorter prefix can be had cheaply."""

    KEEP = 8

    def __init__(self, fd: int, start: int, state: hashlib._Hash | None) -> None:
        self.fd = fd
        self.pos = start
        self.h = state if state is not None else hashlib.sha256()
        self.snaps: deque[tuple[int, hashlib._Hash]] = deque(maxlen=self.KEEP)

    def update(self, pos: int, data: bytes) -> None:
        if pos != self.pos:  # pragma: no cover - streams read in order
            raise RuntimeError("hashed stream read out of order")
        self.snaps.append((pos, self.h.copy()))
        self.h.update(data)
        self.pos += len(data)

    def upto(self, offset: int) -> str:
        """The hash of bytes [0, offset) (offset <= pos)."""
        if offset == self.pos:
            return self.h.hexdigest()
        for pos, h in reversed(self.snaps):
            if pos <= offset:
                h = h.copy()
                _hash_range(self.fd, h, pos, offset)
                return h.hexdigest()
        h = hashlib.sha256()
        _hash_range(self.fd, h, 0, offset)
        return h.hexdigest()


def _end_of_last_line(fd: int, size: int, chunk: int = 65536) -> int:
    """The offset just past the last newline before *size* (0 if there is none)."""
    end = size
    while end > 0:
        start = max(0, end - chunk)
        data = os.pread(fd, end - start, start)
        i = data.rfind(b"\n")
        if i >= 0:
            return start + i + 1
        end = start
    return 0


def _hash_range(fd: int, h: hashlib._Hash, start: int, end: int) -> int:
    pos = start
    while pos < end:
        data = os.pread(fd, min(_CHUNK, end - pos), pos)
        if not data:
            break
        h.update(data)
        pos += len(data)
    return pos


class _PRead(io.RawIOBase):
    """A raw stream over [start, limit) of a descriptor, read with ``pread`` (streams
    over one descriptor do not disturb each other), optionally hashed."""

    def __init__(self, fd: int, start: int, limit: int, hasher: _Hasher | None) -> None:
        self.fd = fd
        self.pos = start
        self.limit = limit
        self.hasher = hasher

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = min(len(b), self.limit - self.pos)
        if n <= 0:
            return 0
        data = os.pread(self.fd, n, self.pos)
        if self.hasher is not None and data:
            self.hasher.update(self.pos, data)
        b[:len(data)] = data
        self.pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self.pos

    def close(self) -> None:  # the descriptor belongs to the Input
        super().close()


@dataclass
class ReadState:
    """What the parse read (computed where the parse ran: here or in the parse worker)."""

    sha256: str  # of bytes [0, end)
    end: int
    last_line: int
    held_back: bool  # an unterminated last line of a growing file was left for later
    mode: str  # "lines" | "stream"
    blank_lines: int


@dataclass
class ReadOutcome:
    """What the parse read, and whether the file changed while it was read."""

    sha256: str  # of bytes [0, end)
    start: int  # first byte parsed (0, or where a continuation began)
    end: int  # bytes [0, end) are covered by sha256
    start_line: int
    end_line: int  # last line number read (0: none)
    size_now: int | None  # the file's size after the parse (None for standard input)
    #: unchanged | grown | shrunk | rewritten | replaced
    state: str = "unchanged"
    detail: str = ""
    #: "lines" when the parse read lines (a later ingest can continue after `end`), else "stream"
    mode: str = "stream"


@dataclass
class Input:
    """One evidence file opened for parsing."""

    path: Path | None  # the file read (None for standard input: an unnamed spool)
    display: str  # what the user named ("-" for stdin)
    sha256: str  # of the whole file at open (the lookup key); the parse's own hash is in finish()
    size: int  # bytes at open: streams read at most this much
    mtime: float | None
    gzipped: bool
    fd: int = -1
    dev: int = 0
    ino: int = 0
    mtime_ns: int = 0
    #: a continuation parses from this byte / line number on (the bytes before were ingested)
    start: int = 0
    start_line: int = 1
    #: blank lines seen (not records: counted, never stored)
    blank_lines: int = 0
    _prefix_state: hashlib._Hash | None = field(default=None, repr=False)
    _hashers: list[_Hasher] = field(default_factory=list, repr=False)
    _raw: _PRead | None = field(default=None, repr=False)
    _line_end: int = field(default=0, repr=False)  # byte offset after the last line yielded
    _last_line: int = field(default=0, repr=False)
    _held_back: int | None = field(default=None, repr=False)
    _mode: str = field(default="stream", repr=False)
    _head_cut: bool = field(default=False, repr=False)
    #: "utf-16-le"/"utf-16-be": the file is UTF-16 with a BOM; streams yield UTF-8
    encoding: str | None = None

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, path: str | os.PathLike, *, prehash: bool = True, complete_lines: bool = False) -> Input:
        """Open an evidence file read-only.  *complete_lines* (following a log that is
        still written): a last line without its newline is left out, so that it is
        read whole once the writer ends it (a compressed file is taken as it is)."""
        p = Path(path)
        try:
            fd = open_readonly_fd(p)
        except FileNotFoundError:
            raise InputError(f"{path}: no such file or directory") from None
        except PermissionError:
            raise InputError(f"{path}: permission denied (cannot open for reading)") from None
        except OSError as exc:
            raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise InputError(f"{path}: not a regular file")
            try:
                magic = os.pread(fd, 2, 0)
            except OSError as exc:
                raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except BaseException:
            os.close(fd)
            raise
        size = st.st_size
        if complete_lines and magic != GZIP_MAGIC:
            size = _end_of_last_line(fd, size)
        inp = cls(p, str(path), "", size, st.st_mtime, magic == GZIP_MAGIC, fd=fd, dev=st.st_dev,
                  ino=st.st_ino, mtime_ns=st.st_mtime_ns)
        if prehash:
            inp.prehash()
        return inp

    @classmethod
    def from_stdin(cls, stream: BinaryIO | None = None) -> Input:
        """Spool standard input to an unnamed temporary file (bounded memory; nothing
        is left behind when the process ends, however it ends)."""
        stream = stream or sys.stdin.buffer
        with tempfile.TemporaryFile(prefix="logconsole-stdin-") as spool:
            while chunk := stream.read(_CHUNK):
                spool.write(chunk)
            spool.flush()
            fd = os.dup(spool.fileno())
        st = os.fstat(fd)
        magic = os.pread(fd, 2, 0)
        inp = cls(None, "-", "", st.st_size, None, magic == GZIP_MAGIC, fd=fd, dev=st.st_dev, ino=st.st_ino,
                  mtime_ns=st.st_mtime_ns)
        inp.prehash()
        return inp

    @classmethod
    def from_fd(cls, fd: int, display: str, path: str | None, size: int, gzipped: bool, start: int = 0,
                start_line: int = 1) -> Input:
        """An Input over an inherited descriptor (the parse worker)."""
        st = os.fstat(fd)
        return cls(Path(path) if path else None, display, "", size, st.st_mtime, gzipped, fd=fd, dev=st.st_dev,
                   ino=st.st_ino, mtime_ns=st.st_mtime_ns, start=start, start_line=start_line)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self) -> None:
        try:
            self.close()
        except OSError:  # pragma: no cover
            pass

    def prehash(self, offsets: Sequence[int] = ()) -> dict[int, str]:
        """Hash the whole file (bytes [0, size)) into :attr:`sha256`; returns the hash of
        the prefix [0, o) for each o of *offsets* (for finding an ingested prefix)."""
        h = hashlib.sha256()
        want = sorted(o for o in set(offsets) if 0 <= o <= self.size)
        out: dict[int, str] = {}
        pos = 0
        for o in [*want, self.size]:
            got = _hash_range(self.fd, h, pos, o)
            if got < o:  # the file shrank since it was opened
                break
            pos = o
            if o in want:
                out[o] = h.hexdigest()
        self.sha256 = h.hexdigest()
        return out

    def continue_from(self, offset: int, line: int) -> None:
        """Parse only bytes [offset, size): the bytes before were ingested already (their
        hash is the prefix state, so the parse's hash still covers [0, end))."""
        h = hashlib.sha256()
        if _hash_range(self.fd, h, 0, offset) < offset:
            raise InputError(f"{self.display}: shrank while it was read")
        self._prefix_state = h
        self.start = offset
        self.start_line = line

    # ------------------------------------------------------------------ reading
    @property
    def limit(self) -> int:
        return self.size

    def open_stream(self) -> BinaryIO:
        """The content from :attr:`start` (decompressed; UTF-16 transcoded to UTF-8), hashed
        as it is read."""
        hasher = _Hasher(self.fd, self.start, self._prefix_state.copy() if self._prefix_state else None)
        self._hashers.append(hasher)
        raw = _PRead(self.fd, self.start, self.size, hasher)
        self._raw = raw
        src: io.RawIOBase = _GunzipRaw(raw) if self.gzipped else raw
        if self.encoding is None and self.start == 0:
            self.encoding = utf16_encoding(self._head(4)[0])
        if self.encoding is not None:
            src = _Utf16Raw(src, self.encoding)
        return io.BufferedReader(src, buffer_size=_CHUNK)

    def position(self) -> int:
        """Bytes of the (compressed) file consumed so far by the open stream, for progress."""
        raw = self._raw
        return raw.pos if raw is not None else self.size

    def sample(self, nbytes: int = SAMPLE_BYTES) -> Sample:
        data, truncated = self._head(nbytes, skip_blank=True)
        encoding = utf16_encoding(data)
        if data.startswith(UTF8_BOM):
            data = data[3:]
        elif encoding is not None:
            data = data[2:len(data) - (len(data) % 2)].decode(encoding, "replace").encode("utf-8")
        lines = data.split(b"\n")
        if not truncated and len(lines) > 1 and self._head_cut:
            lines = lines[:-1]  # drop the cut last line
        return Sample(Path(self.display).name, data, [ln.rstrip(b"\r") for ln in lines], encoding, truncated)

    def _head(self, nbytes: int, *, skip_blank: bool = False) -> tuple[bytes, bool]:
        """The first *nbytes* decompressed bytes, and whether the container ended early
        (everything readable before the cut is kept).  With *skip_blank*, leading blank
        lines (up to :data:`BLANK_HEAD_LIMIT` bytes of them) are passed over, so a file that
        starts with a flood of empty lines is still recognized by its records."""
        raw: io.RawIOBase = _PRead(self.fd, 0, self.size, None)
        if self.gzipped:
            raw = _GunzipRaw(raw)
        buf = bytearray()
        chunk = bytearray(65536)
        truncated = False
        skipped = 0
        while len(buf) < nbytes:
            try:
                n = raw.readinto(chunk)
            except (EOFError, OSError, zlib.error):
                truncated = True
                break
            if not n:
                break
            buf += chunk[:n]
            if skip_blank and skipped < BLANK_HEAD_LIMIT and not buf.strip(b" \t\r\n"):
                skipped += len(buf)
                buf.clear()
        raw.close()
        self._head_cut = len(buf) >= nbytes
        return bytes(buf[:nbytes]), truncated

    def iter_lines(self, max_line: int = MAX_LINE, *, keep_blank: bool = False) -> Iterator[tuple[int, bytes | None]]:
        """Yield ``(lineno, line)`` (1-based, newline stripped, a leading UTF-8 BOM removed).

        Blank lines are counted in :attr:`blank_lines` and not yielded (unless
        *keep_blank*: a format whose records may hold blank lines counts them itself).
        An over-long line is yielded as ``(lineno, None)`` and skipped without being
        held in memory.  A truncated gzip stream raises :class:`TruncatedInput` after
        the last complete line.  An unterminated last line of a file that grew while
        it was read is held back (a later ingest reads it whole).
        """
        self._mode = "lines"
        lineno = self.start_line - 1
        offset = self.start
        with self.open_stream() as f:
            readline = f.readline
            first = self.start == 0
            while True:
                try:
                    line = readline(max_line + 1)
                except (EOFError, OSError, zlib.error) as exc:
                    raise TruncatedInput(f"compressed stream ended early after line {lineno}: {exc}") from None
                if not line:
                    return
                line_start = offset
                offset += len(line)
                lineno += 1
                if first:
                    first = False
                    if line.startswith(UTF8_BOM):
                        line = line[3:]
                if len(line) > max_line and not line.endswith(b"\n"):
                    # skip the rest of this line in chunks
                    try:
                        while True:
                            more = readline(_CHUNK)
                            offset += len(more)
                            if not more or more.endswith(b"\n"):
                                break
                    except (EOFError, OSError, zlib.error) as exc:
                        raise TruncatedInput(f"compressed stream ended early in line {lineno}: {exc}") from None
                    self._line_end, self._last_line = offset, lineno
                    yield lineno, None
                    continue
                if line.endswith(b"\n"):
                    line = line[:-1]
                    if line.endswith(b"\r"):
                        line = line[:-1]
                elif not self.gzipped and self.encoding is None and offset >= self.size and self._grew():
                    self._held_back = line_start  # a record still being written
                    return
                self._line_end, self._last_line = offset, lineno
                if not keep_blank and not line.strip():
                    self.blank_lines += 1
                    if not line:  # a run of empty lines: skip it at C speed, not a readline each
                        run = _newline_run(f)
                        lineno += run
                        offset += run
                        self.blank_lines += run
                        self._line_end, self._last_line = offset, lineno
                    continue
                yield lineno, line

    def iter_chunks(self) -> Iterator[bytes]:
        """Decompressed content in chunks (a leading UTF-8 BOM removed); raises
        TruncatedInput on a cut gzip stream."""
        with self.open_stream() as f:
            read = getattr(f, "read1", f.read)  # read1: no data lost if the stream then fails
            first = self.start == 0
            while True:
                try:
                    chunk = read(_CHUNK)
                except (EOFError, OSError, zlib.error) as exc:
                    raise TruncatedInput(f"compressed stream ended early: {exc}") from None
                if not chunk:
                    return
                if first:
                    first = False
                    if chunk.startswith(UTF8_BOM):
                        chunk = chunk[3:]
                yield chunk

    def _grew(self) -> bool:
        try:
            return os.fstat(self.fd).st_size > self.size
        except OSError:  # pragma: no cover
            return False

    # ------------------------------------------------------------------ after the parse
    def read_state(self) -> ReadState:
        """(sha256 of [0, end), end, last line) of the longest stream read, after reading
        the rest of it up to :attr:`limit` (the parse may stop early on a corrupt
        container); a held-back last line is excluded."""
        hasher = max(self._hashers, key=lambda h: h.pos, default=None)
        if hasher is None:
            hasher = _Hasher(self.fd, self.start, self._prefix_state.copy() if self._prefix_state else None)
        mode = "lines" if self._mode == "lines" and self.encoding is None else "stream"
        if self._held_back is not None:
            return ReadState(hasher.upto(self._held_back), self._held_back, self._last_line, True, mode,
                             self.blank_lines)
        if hasher.pos < self.size:
            # the rest of the file (not parsed: a corrupt compressed tail) still belongs to it
            while hasher.pos < self.size:
                data = os.pread(self.fd, min(_CHUNK, self.size - hasher.pos), hasher.pos)
                if not data:
                    break
                hasher.update(hasher.pos, data)
        return ReadState(hasher.h.hexdigest(), hasher.pos, self._last_line, False, mode, self.blank_lines)

    def finish(self, rs: ReadState | None = None) -> ReadOutcome:
        """Compare the file after the parse with the file at open (*state*: what the parse
        read, from :meth:`read_state`, possibly computed in the parse worker)."""
        rs = rs if rs is not None else self.read_state()
        sha, end = rs.sha256, rs.end
        out = ReadOutcome(sha, self.start, end, self.start_line, rs.last_line, None, mode=rs.mode)
        try:
            st = os.fstat(self.fd)
        except OSError as exc:  # pragma: no cover
            out.state, out.detail = "replaced", f"cannot stat after reading: {exc}"
            return out
        out.size_now = st.st_size
        if self.path is not None:
            try:
                pst = os.stat(self.path)
                if (pst.st_dev, pst.st_ino) != (self.dev, self.ino):
                    out.state, out.detail = "replaced", "the path now names another file (rotated or replaced)"
                    return out
            except OSError:
                out.state, out.detail = "replaced", "the file was removed or renamed while it was read"
                return out
        if end < self.size and not rs.held_back:
            out.state = "shrunk"
            out.detail = f"{self.size:,} bytes when opened, only {end:,} could be read"
        elif st.st_size < self.size:
            out.state = "shrunk"
            out.detail = f"{self.size:,} bytes when opened, {st.st_size:,} after it was read"
        elif not rs.held_back and self.sha256 and sha != self.sha256:
            out.state = "rewritten"
            out.detail = "its bytes changed while it was read (the SHA-256 of the parse differs)"
        elif st.st_size > self.size:
            if self.gzipped or rs.mode != "lines":
                out.state = "rewritten"
                out.detail = (f"it grew from {self.size:,} to {st.st_size:,} bytes while it was read, and a "
                              f"{'compressed' if self.gzipped else 'document'} file cannot be read as a prefix")
            else:
                out.state = "grown"
                out.detail = f"it grew from {self.size:,} to {st.st_size:,} bytes while it was read"
        elif st.st_mtime_ns != self.mtime_ns:
            out.state = "rewritten"
            out.detail = "it was modified (same size, new modification time) while it was read"
        elif rs.held_back:  # pragma: no cover - held back only when it grew
            out.state = "grown"
        return out


def _newline_run(f: BinaryIO) -> int:
    """Consume the ``\n`` bytes at the stream's position (complete empty lines); their count."""
    n = 0
    peek = getattr(f, "peek", None)
    if peek is None:  # pragma: no cover - streams are BufferedReaders
        return 0
    while True:
        try:
            buf = peek(1)
        except (EOFError, OSError, zlib.error):
            return n  # the next readline reports the truncation
        k = len(buf) - len(buf.lstrip(b"\n"))
        if k == 0:
            return n
        f.read(k)
        n += k


def utf16_encoding(head: bytes) -> str | None:
    """``utf-16-le``/``utf-16-be`` when *head* starts with a UTF-16 byte order mark."""
    if head.startswith(b"\xff\xfe") and not head.startswith(b"\xff\xfe\x00\x00"):
        return "utf-16-le"
    if head.startswith(b"\xfe\xff"):
        return "utf-16-be"
    return None


class _Utf16Raw(io.RawIOBase):
    """UTF-16 (with a BOM) transcoded to UTF-8; broken code units stay broken (lone
    surrogates are written as such, so the record is quarantined as invalid UTF-8)."""

    def __init__(self, src: io.RawIOBase, encoding: str) -> None:
        self._src = src
        self._dec = codecs.getincrementaldecoder(encoding)("surrogatepass")
        self._pending = b""
        self._first = True
        self._done = False

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        try:
            self._src.close()
        finally:
            super().close()

    def readinto(self, b) -> int:
        while not self._pending and not self._done:
            chunk = self._src.read(65536)
            if not chunk:
                self._done = True
                try:
                    tail = self._dec.decode(b"", final=True)
                except UnicodeDecodeError:
                    tail = "\udcff"  # an odd trailing byte: keep the last record invalid
                self._pending = tail.encode("utf-8", "surrogatepass")
                break
            text = self._dec.decode(chunk)
            if self._first and text:
                self._first = False
                text = text.removeprefix("\ufeff")
            self._pending = text.encode("utf-8", "surrogatepass")
        n = min(len(b), len(self._pending))
        b[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


class _GunzipRaw(io.RawIOBase):
    """Streaming gunzip that hands out every byte it could decompress before
    reporting a truncated or corrupt stream (``gzip.GzipFile`` loses the data
    of the failing read call).  Concatenated gzip members are supported."""

    def __init__(self, f: io.RawIOBase | BinaryIO) -> None:
        self._f = f
        self._d = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self._pending = b""
        self._at: int = 0  # read position in _pending (not re-sliced: highly compressed data inflates to MBs)
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
        if self._at >= len(self._pending):
            self._pending, self._at = b"", 0
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
        at = self._at
        n = min(len(b), len(self._pending) - at)
        b[:n] = self._pending[at:at + n]
        self._at = at + n
        return n


def expand_paths(paths: list[str], errors: list[str] | None = None,
                 exclude: set[tuple[int, int]] | None = None) -> list[str]:
    """Files as given; directories walked recursively in sorted order (hidden entries
    skipped); "-" kept.  A directory that cannot be read is reported in *errors* with
    its path and reason; files whose (device, inode) is in *exclude* (the index's own
    files) are left out."""
    out: list[str] = []

    def unreadable(exc: OSError) -> None:
        if errors is not None:
            errors.append(f"{exc.filename}: cannot read directory: {exc.strerror or exc}")

    for p in paths:
        if p == "-":
            out.append(p)
            continue
        path = Path(p)
        if path.is_dir():
            if not os.access(path, os.R_OK | os.X_OK) and errors is not None:
                errors.append(f"{p}: cannot read directory: Permission denied")
                continue
            for root, dirs, files in os.walk(path, onerror=unreadable):
                dirs.sort()
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for name in sorted(files):
                    if name.startswith("."):
                        continue
                    full = os.path.join(root, name)
                    if exclude:
                        try:
                            st = os.stat(full)
                        except OSError:
                            st = None
                        if st is not None and (st.st_dev, st.st_ino) in exclude:
                            continue
                    out.append(full)
        else:
            out.append(p)
    return out
