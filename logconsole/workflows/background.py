"""An ingest in a background process, for a console that opens at once.

``logconsole open PATH...`` starts the console straight away and the ingest in a
second process (:class:`BackgroundIngest`): ``logconsole ingest --progress-json --db
DB PATH...`` (with ``--follow`` for ``open --follow``), in a ``fork()`` of the
console's process before it starts Textual (nothing to start or import again), else
a new ``python -m logconsole`` process.  The
child commits its rows batch by batch, so the console shows them as they land; it
reads the child's JSON lines (``docs/cli.md``, ``ingest --progress-json``) on a
thread into an :class:`IngestStatus` that the console polls: files done and to do,
bytes read, the step after the ingest that runs, errors (one line each, naming file
and line), the exit status.

A second process, not a thread: the ingest is CPU-bound Python and the console must
stay responsive; SQLite (WAL) lets the console read while the child writes.

Stopping (:meth:`BackgroundIngest.stop`) sends SIGINT, then SIGTERM, then SIGKILL,
waiting between them.  Whenever it stops, the index stays consistent: every batch
is one transaction, and a file whose ingest was cut off is left ``partial``, removed
and ingested again by the next ingest of the same paths
(:mod:`logconsole.ingest.pipeline`).

Nothing here imports Textual.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, Any

from logconsole.store.sanitize import one_line
from logconsole.workflows.ingest import INGEST_STEPS, Step

#: how long :meth:`BackgroundIngest.stop` waits after each signal
STOP_WAIT_S = 10.0


@dataclass
class IngestStatus:
    """What the background ingest has said so far (a copy: :meth:`BackgroundIngest.status`)."""

    started: float = 0.0
    #: "starting", "ingesting", "steps", "following", "done" (the child has ended)
    phase: str = "starting"
    files_total: int = 0
    files_done: int = 0
    bytes_total: int = 0
    #: bytes of the files settled plus the position in the file being read
    bytes_done: int = 0
    #: records read: of the files settled, and of the file being read
    records: int = 0
    file_records: int = 0
    current: str | None = None
    step: str | None = None
    #: one line each: files that could not be read or parsed, files that changed, a fatal error
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: the ``result`` of the ingest (``ingest --json``), once the rows and the steps are done
    result: dict[str, Any] | None = None
    #: following: events ingested since the follow started, looks that found something
    follow_events: int = 0
    follow_ticks: int = 0
    #: the child's exit status once it has ended; ``stopped``: it was stopped by us
    returncode: int | None = None
    stopped: bool = False
    #: when the rows (not the steps) were all written, and when the child ended (monotonic)
    rows_done_at: float | None = None
    ended_at: float | None = None

    @property
    def running(self) -> bool:
        return self.returncode is None

    def elapsed(self, now: float | None = None) -> float:
        end = self.ended_at if self.ended_at is not None else (now if now is not None else time.monotonic())
        return max(0.0, end - self.started)

    def eta(self, now: float | None = None) -> float | None:
        """Seconds until the rows are all written, from the bytes read so far (None: not known yet)."""
        if self.phase != "ingesting" or not self.bytes_total or self.bytes_done <= 0:
            return None
        t = self.elapsed(now)
        if t < 0.5:
            return None
        rate = self.bytes_done / t
        return max(0.0, (self.bytes_total - self.bytes_done) / rate)


#: runs ``logconsole ingest ARGS...`` in the calling process and returns its exit status
IngestRunner = Callable[[list[str]], int]


class _Forked:
    """A child made by ``fork()`` that runs *runner*: no new interpreter to start and nothing to
    import again (1-3 s of a 2-core machine's time before the first batch).  The subset of
    :class:`subprocess.Popen` that :class:`BackgroundIngest` uses."""

    def __init__(self, runner: IngestRunner, argv: list[str], env: dict[str, str]) -> None:
        self.args = argv
        self.returncode: int | None = None
        for f in (sys.stdout, sys.stderr):
            try:
                f.flush()
            except (OSError, ValueError):
                pass
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 1
            try:
                os.setsid()  # the terminal's signals are the console's; it stops the child itself
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(out_w, 1)
                os.dup2(err_w, 2)
                for fd in (null, out_r, out_w, err_r, err_w):
                    os.close(fd)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 (the process's own streams)
                sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)  # noqa: SIM115
                sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)  # noqa: SIM115
                os.environ.clear()
                os.environ.update(env)
                code = runner(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except KeyboardInterrupt:
                code = 130
            except BaseException as exc:  # the parent reports the last line of stderr
                try:
                    sys.stderr.write(f"logconsole: error: {exc.__class__.__name__}: {exc}\n")
                except BaseException:
                    pass
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        self.pid = pid
        os.close(out_w)
        os.close(err_w)
        self.stdout: IO[bytes] | None = os.fdopen(out_r, "rb")
        self.stderr: IO[bytes] | None = os.fdopen(err_r, "rb")

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            time.sleep(0.02)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)


class BackgroundIngest:
    """``logconsole ingest --progress-json`` in a child process, read on a thread.

    With *runner* (the caller's way to run the ``ingest`` command in-process) and while the calling
    process has one thread, the child is a ``fork()`` of it that calls *runner*; otherwise a new
    ``python -m logconsole`` process."""

    def __init__(self, db: str, paths: Sequence[str], *, fmt: str | None = None, follow: bool = False,
                 no_verify: bool = False, verify_opts: Sequence[str] = (), grants: bool = True,
                 extra_args: Sequence[str] = (), env: dict[str, str] | None = None,
                 runner: IngestRunner | None = None) -> None:
        self.runner = runner
        self.db = db
        self.paths = list(paths)
        self.follow = follow
        args = [sys.executable, "-m", "logconsole", "ingest", "--db", db, "--progress-json"]
        if fmt:
            args += ["--format", fmt]
        if follow:
            args.append("--follow")
        if no_verify:
            args.append("--no-verify")
        for opt in verify_opts:
            args += ["--verify-opt", opt]
        if grants:
            args.append("--import-grants")
        args += list(extra_args)
        args += ["--", *self.paths]
        self.argv = args
        self.env = env
        self.proc: subprocess.Popen[bytes] | _Forked | None = None
        self._status = IngestStatus()
        self._lock = threading.Lock()
        self._done_in_file = 0  # bytes of the files settled
        self._threads: list[threading.Thread] = []
        #: lines the child wrote on stderr that are not progress (a crash would say why here)
        self.stderr_lines: list[str] = []

    # ------------------------------------------------------------------ life cycle
    def start(self) -> BackgroundIngest:
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self._status = IngestStatus(started=time.monotonic())
        # a session of its own: the terminal's signals (Ctrl-C while the console starts, a hang-up)
        # are the console's to handle; it stops the child itself
        if self.runner is not None and hasattr(os, "fork") and threading.active_count() == 1:
            self.proc = _Forked(self.runner, self.argv[self.argv.index("ingest") + 1:], env)
        else:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, env=env, start_new_session=True)
        for target, stream in ((self._read_progress, self.proc.stdout), (self._read_stderr, self.proc.stderr)):
            t = threading.Thread(target=target, args=(stream,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def status(self) -> IngestStatus:
        """A copy of what the child has said so far (cheap: the console polls it)."""
        with self._lock:
            if self._status.returncode is None and self.proc is not None:
                rc = self.proc.poll()
                if rc is not None and not any(t.is_alive() for t in self._threads):
                    self._ended(rc)
            s = self._status
            return replace(s, errors=list(s.errors), warnings=list(s.warnings), notes=list(s.notes))

    def wait(self, timeout: float | None = None) -> IngestStatus:
        """Wait for the child to end (and its output to be read)."""
        p = self.proc
        if p is not None:
            p.wait(timeout)
            for t in self._threads:
                t.join(timeout)
            if not any(t.is_alive() for t in self._threads):
                for f in (p.stdout, p.stderr):
                    if f is not None:
                        f.close()
        return self.status()

    def stop(self, wait_s: float = STOP_WAIT_S) -> IngestStatus:
        """Stop the child cleanly: SIGINT (it ends its batch or its look and exits), then
        SIGTERM, then SIGKILL, waiting *wait_s* seconds after each.  Idempotent."""
        p = self.proc
        if p is None:
            return self.status()
        if p.poll() is None:
            with self._lock:
                self._status.stopped = True
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
                try:
                    p.send_signal(sig)
                except ProcessLookupError:
                    break
                try:
                    p.wait(wait_s)
                    break
                except subprocess.TimeoutExpired:
                    continue
        return self.wait(wait_s)

    def _ended(self, rc: int) -> None:
        s = self._status
        s.returncode = rc
        s.ended_at = time.monotonic()
        s.phase = "done"
        s.current = None
        if rc != 0 and not s.errors and not s.stopped:
            tail = [ln for ln in self.stderr_lines if ln.strip()][-1:]
            why = one_line(tail[0], 300) if tail else "no message"
            s.errors.append(f"the ingest ended with exit status {rc}: {why}")

    # ------------------------------------------------------------------ reading the child
    def _read_progress(self, stream: IO[bytes]) -> None:
        for raw in stream:
            try:
                msg = json.loads(raw)
            except ValueError:
                self._stderr_line(raw.decode("utf-8", "replace"))
                continue
            if isinstance(msg, dict):
                with self._lock:
                    self._apply(msg)

    def _read_stderr(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self._stderr_line(raw.decode("utf-8", "replace"))

    def _stderr_line(self, line: str) -> None:
        line = line.rstrip("\n")
        with self._lock:
            self.stderr_lines.append(line)
            del self.stderr_lines[:-200]
            text = line.removeprefix("logconsole: ")
            if text.startswith("error: "):
                self._add(self._status.errors, text.removeprefix("error: "))

    @staticmethod
    def _add(into: list[str], text: str) -> None:
        text = one_line(text, 500)
        if text not in into:
            into.append(text)

    def _apply(self, msg: dict[str, Any]) -> None:
        s = self._status
        kind = msg.get("event")
        if kind == "start":
            s.phase = "ingesting"
            s.files_total = int(msg.get("files") or 0)
            s.bytes_total = int(msg.get("bytes") or 0)
        elif kind == "batch":
            s.current = str(msg.get("path"))
            done, total = int(msg.get("done") or 0), int(msg.get("total") or 0)
            s.bytes_done = self._done_in_file + min(done, total)
            s.file_records = int(msg.get("records") or 0)
        elif kind == "source":
            s.files_done += 1
            self._done_in_file += int(msg.get("bytes") or 0) if msg.get("status") == "ingested" else 0
            s.bytes_done = self._done_in_file
            s.records += int(msg.get("records") or 0)
            s.file_records = 0
            if msg.get("status") in ("error", "changed") and msg.get("message"):
                self._add(s.errors, str(msg["message"]))
            s.current = None
        elif kind == "step":
            if s.rows_done_at is None:
                s.rows_done_at = time.monotonic()
            s.phase = "steps"
            s.step = str(msg.get("name"))
        elif kind == "result":
            if s.rows_done_at is None:
                s.rows_done_at = time.monotonic()
            s.result = msg
            s.step = None
            s.phase = "following" if self.follow else "finishing"
            for e in list(msg.get("errors") or []) + list(msg.get("changed") or []):
                self._add(s.errors, str(e))
            for w in msg.get("warnings") or []:
                self._add(s.warnings, str(w))
            for n in msg.get("notes") or []:
                self._add(s.notes, str(n))
        elif kind == "following":
            s.phase = "following"
        elif kind == "tick":
            s.follow_ticks += 1
            s.follow_events += int(msg.get("events") or 0)
            for e in msg.get("errors") or []:
                self._add(s.errors, str(e))
        elif kind == "changed":
            self._add(s.warnings, str(msg.get("message")))
        elif kind == "error":
            text = str(msg.get("message"))
            if int(msg.get("exit_status") or 0) == 130 and s.stopped:
                return  # stopped by us: not an error
            self._add(s.errors, text)


def steps_from(name: str | None) -> list[Step]:
    """The steps after an ingest from *name* on (those an interrupted child did not finish)."""
    names = [s.name for s in INGEST_STEPS]
    return list(INGEST_STEPS[names.index(name):]) if name in names else []


def describe_exit(status: IngestStatus) -> str:
    """One line for the end of a background ingest: what it did and its exit status."""
    rc = status.returncode
    res = status.result
    if rc is None:
        return "ingest running"
    if status.stopped and res is None:
        where = (f"during the step after the ingest '{status.step}'; the rows are all written. Not done yet: "
                 + "; ".join(s.missing for s in steps_from(status.step))
                 + " (the next `logconsole open PATH...` or `logconsole ingest PATH...` runs them)"
                 if status.step else
                 f"after {status.files_done:,} of {status.files_total:,} file(s); the files ingested so far are "
                 "kept, a partly ingested file is redone by the next `logconsole open PATH...` or "
                 "`logconsole ingest PATH...`")
        return f"ingest stopped (exit status {rc}) {where}"
    if res is not None:
        line = (f"ingest done: {int(res.get('events') or 0):,} events from "
                f"{sum(1 for s in res.get('sources') or [] if s.get('status') == 'ingested')} file(s), "
                f"{int(res.get('duplicates') or 0):,} duplicates, {int(res.get('quarantined') or 0):,} quarantined "
                f"in {float(res.get('seconds') or 0):.1f} s")
        if status.follow_ticks or status.phase == "following" or status.stopped:
            line += f"; followed: +{status.follow_events:,} events"
        return line + f" (exit status {rc})"
    return f"ingest failed (exit status {rc})"


__all__ = ["BackgroundIngest", "IngestStatus", "describe_exit"]
