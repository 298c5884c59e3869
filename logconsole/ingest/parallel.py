"""Parse in a second process while the ingest process writes the index.

SQLite allows one writer and its C work (B-tree and FTS5 inserts) is about
half of an ingest; the other half is Python (JSON decoding, field mapping,
hashing, compression).  For a large file the pipeline starts
``python -m logconsole.ingest.parallel`` and hands it the parser name, its
options and the (read-only) input; the worker runs the batch loop
(:func:`logconsole.ingest.batches.iter_batches`) and streams the prepared
batches back over its stdout (length-prefixed pickles).  The parent does everything that touches the
index (dedup against it, ids, the per-batch transaction) exactly as for an
in-process parse, in the same order, so results, accounting and crash
behaviour are identical; only the wall time changes.

Threads would not do: ``executemany`` takes the GIL back after every row, and a
busy parsing thread makes each re-acquisition wait for the switch interval.

The worker is used only when it pays (input >= :data:`MIN_BYTES`, 2+ CPUs) and
can be turned off with ``LOGCONSOLE_INGEST_WORKER=0`` (``=1`` forces it, for
tests).  If it cannot start, the pipeline parses in-process.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
from collections.abc import Iterator
from typing import IO, Any

from logconsole.ingest.base import Parser
from logconsole.ingest.batches import PreparedBatch
from logconsole.ingest.formats import BY_NAME
from logconsole.ingest.reader import Input, ReadState

#: (estimated decompressed) input size from which a worker process is used
MIN_BYTES = 24 * 1024 * 1024
_GZ_RATIO = 6  # a rough decompressed/compressed ratio for JSON logs
_LEN = struct.Struct("<Q")
_ENV = "LOGCONSOLE_INGEST_WORKER"


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def parallel_wanted(inp: Input, parser: Parser) -> bool:
    mode = os.environ.get(_ENV, "").strip()
    if mode == "0":
        return False
    if BY_NAME.get(parser.name) is not type(parser):
        return False  # the worker makes its parser from the format list by name
    if mode == "1":
        return True
    # what is left to parse: a continued file (a followed log that grew) is read from its offset
    size = (inp.size - inp.start) * (_GZ_RATIO if inp.gzipped else 1)
    return size >= MIN_BYTES and _cpus() >= 2


# ------------------------------------------------------------------ framing
def _send(out: IO[bytes], msg: Any) -> None:
    data = pickle.dumps(msg, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(_LEN.pack(len(data)))
    out.write(data)
    out.flush()


def _recv(inp: IO[bytes]) -> Any:
    head = inp.read(_LEN.size)
    if len(head) < _LEN.size:
        raise EOFError("parse worker ended without a result")
    (n,) = _LEN.unpack(head)
    data = inp.read(n)
    if len(data) < n:
        raise EOFError("parse worker output was cut")
    return pickle.loads(data)


class WorkerError(RuntimeError):
    """The parse worker failed in a way the in-process parse would not have."""


class ParseWorker:
    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.source_options: dict[str, Any] = {}
        self.read_state: ReadState | None = None

    def batches(self) -> Iterator[PreparedBatch]:
        """Prepared batches and the input position after each; raises what the parser raised."""
        assert self.proc.stdout is not None
        while True:
            try:
                msg = _recv(self.proc.stdout)
            except EOFError as exc:
                rc = self.proc.wait()
                raise WorkerError(f"{exc} (exit status {rc})") from None
            kind = msg[0]
            if kind == "batch":
                yield msg[1], msg[2]
            elif kind == "done":
                self.source_options, self.read_state = msg[1], msg[2]
                return
            elif kind == "error":
                err, text = msg[1], msg[2]
                if isinstance(err, BaseException):
                    raise err
                raise WorkerError(text)
            else:  # pragma: no cover
                raise WorkerError(f"unexpected message from the parse worker: {kind!r}")

    def close(self) -> None:
        p = self.proc
        for f in (p.stdin, p.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def __enter__(self) -> ParseWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def start_worker(parser: Parser, inp: Input, batch_size: int) -> ParseWorker | None:
    """Start a worker for *inp* (None if it cannot start: the caller parses in-process)."""
    job = {
        "parser": parser.name, "options": dict(parser.options),
        "input": (inp.fd, inp.display, str(inp.path) if inp.path else None, inp.size, inp.gzipped, inp.start,
                  inp.start_line),
        "batch_size": batch_size,
    }
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "logconsole.ingest.parallel"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, env=env, close_fds=True, pass_fds=(inp.fd,),
        )
    except OSError:
        return None
    w = ParseWorker(proc)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        _send(proc.stdin, job)
        proc.stdin.close()
        hello = _recv(proc.stdout)
    except (OSError, EOFError, pickle.PickleError):
        w.close()
        return None
    if hello != ("ready",):
        w.close()
        return None
    return w


# ------------------------------------------------------------------ worker side
def _worker_main() -> int:
    import traceback

    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write to the protocol stream
    job = _recv(sys.stdin.buffer)
    try:
        from logconsole.ingest.batches import iter_batches
        from logconsole.ingest.formats import make_parser

        parser = make_parser(job["parser"], job["options"])
        fd, display, path, size, gz, start, start_line = job["input"]
        inp = Input.from_fd(fd, display, path, size, gz)  # the parent's descriptor: the same file
        if start:
            inp.continue_from(start, start_line)
    except BaseException as exc:  # cannot start: the parent parses in-process
        _send(out, ("failed", repr(exc)))
        return 1
    _send(out, ("ready",))
    try:
        for prepared, position in iter_batches(parser, inp, job["batch_size"]):
            _send(out, ("batch", prepared, position))
        _send(out, ("done", parser.source_options(), inp.read_state()))
    except BrokenPipeError:
        return 1  # the parent is gone
    except BaseException as exc:
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        try:
            pickle.dumps(exc)
            payload: Any = exc
        except Exception:
            payload = None
        try:
            _send(out, ("error", payload, text))
        except BrokenPipeError:
            pass
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main())
