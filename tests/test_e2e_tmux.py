"""End to end: README command (1) - ``logconsole open sample_data/`` - in a real terminal (tmux).

A person's session: the console ingests the case and opens; they type a filter
(the attacker's address), open the frequency table of the action column
(Shift+F) and drill into the top value, open an event, go back up the
drill-down stack, select a time range on the histogram, and quit.  Every step is checked on the screen as tmux
renders it (``capture-pane``), not on widget internals.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"

pytestmark = pytest.mark.slow


def _logconsole_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "logconsole"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "from logconsole.cli import main; main()"]


class Tmux:
    """A private tmux server (its own socket) running one command in a 120x40 window."""

    def __init__(self, tmp: Path, command: list[str], cwd: Path, width: int = 120, height: int = 40) -> None:
        self.socket = f"lc-e2e-{os.getpid()}-{time.monotonic_ns()}"
        self.session = "console"
        # COLUMNS/LINES (set by some test runners) would override the real terminal size
        env_prefix = "env -u COLUMNS -u LINES TERM=xterm-256color COLORTERM=truecolor TEXTUAL_ANIMATIONS=none "
        shell = f"cd {shlex.quote(str(cwd))} && {env_prefix}{shlex.join(command)}; echo '[console exited]' $?; sleep 600"
        # a fixed window size: no client is attached, so tell tmux not to follow one
        self._run("-f", "/dev/null", "new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height),
                  "sh", "-c", "sleep 0.5; " + shell)
        self._run("set-option", "-t", self.session, "window-size", "manual")
        self._run("resize-window", "-t", self.session, "-x", str(width), "-y", str(height))

    def _run(self, *args: str) -> str:
        res = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30)
        if res.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args[:2])}: {res.stderr.strip()}")
        return res.stdout

    def screen(self) -> str:
        return self._run("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        for k in keys:
            self._run("send-keys", "-t", self.session, k)
            time.sleep(0.15)

    def type(self, text: str) -> None:
        self._run("send-keys", "-t", self.session, "-l", text)
        time.sleep(0.2)

    def wait_for(self, pattern: str, timeout: float = 30.0, *, absent: str | None = None, check=None) -> str:
        """Wait until the screen matches *pattern* (a regex) and ``check(screen)``; returns the screen."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if (
                re.search(pattern, screen)
                and (absent is None or not re.search(absent, screen))
                and (check is None or check(screen))
            ):
                return screen
            if "[console exited]" in screen:
                break
            time.sleep(0.2)
        raise AssertionError(f"the screen never showed {pattern!r}; it shows:\n{screen}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=30)


@pytest.fixture
def tmux_console(tmp_path):
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (.ci/run installs it)")
    assert any(SAMPLE.rglob("*.json.gz")), "sample_data/ is missing (python sample_data/generate.py writes it)"
    # README command (1): `logconsole open sample_data/`, here with the index in a temp dir
    cmd = _logconsole_cmd() + ["open", "--db", str(tmp_path / "case.db"), str(SAMPLE)]
    t = Tmux(tmp_path, cmd, cwd=tmp_path)
    try:
        yield t
    finally:
        t.close()


def _rows(screen: str) -> list[str]:
    """The event rows on screen (they start with a UTC time)."""
    return [ln for ln in screen.splitlines() if re.match(r"\s*\S?\s*2026-03-14T\d\d:\d\d:\d\dZ (?!\+)", ln)]


def _count(screen: str) -> tuple[int, int]:
    m = re.search(r"([\d,]+) of ([\d,]+) events", screen)
    assert m, f"no 'N of M events' on screen:\n{screen}"
    return int(m.group(1).replace(",", "")), int(m.group(2).replace(",", ""))


def test_open_filter_drill_down_detail_back(tmux_console):
    t = tmux_console

    # 1. it opens at once while the ingest runs behind it, then shows every event, times in UTC with
    # the zone, the histogram on top; the view stayed at the start while the batches landed
    screen = t.wait_for(r"ingest done: 3,551 events .*\(exit status 0\)", timeout=90)
    # the list reloads on its own timer after the status line says the ingest is done
    screen = t.wait_for(r"3,551 of 3,551 events", timeout=20, check=lambda s: re.search(r"2026-03-14T00:0\d:\d\dZ", s))
    shown, total = _count(screen)
    assert shown == total == 3551
    assert "UTC" in screen and "actor" in screen and "source IP" in screen

    # 2. a filter: everything from the attacker's address
    time.sleep(0.5)  # let the first counts settle; a person reads the screen first
    t.keys("/")
    t.type("ip:203.0.113.77")
    t.wait_for(r"(?m)^\S*\s*/\s*ip:203\.0\.113\.77\s*$|ip:203\.0\.113\.77▏|ip:203\.0\.113\.77 ", timeout=10)
    t.keys("Enter")
    # the list now holds only that address's events (the count alone updates while typing)
    screen = t.wait_for(r"\b328 of 3,551 events", check=lambda s: _rows(s) and all("203.0.113.77" in r for r in _rows(s)))
    assert len(_rows(screen)) > 20  # the list fills the 40-line terminal

    # 3. drill down: Shift+F on the action column, the top value is the exfiltration (GetObject x 250)
    t.keys("Right", "F")
    screen = t.wait_for(r"Action: \d+ distinct values in 328 matching events", check=lambda s: "GetObject" in s)
    assert "frequency of Action" in screen
    top = next(ln for ln in screen.splitlines() if re.match(r"\s*GetObject\s+250\s+76\.2%", ln))
    assert "■" in top
    assert "ip:203.0.113.77" in screen  # the breadcrumb names where we came from
    t.keys("Enter")
    screen = t.wait_for(r"\b250 of 3,551 events",
                        check=lambda s: 'action:"GetObject"' in s and _rows(s) and all("GetObject" in r for r in _rows(s)))
    assert 'action:"GetObject"' in screen
    assert re.search(r"ip:203\.0\.113\.77 › \+ action:\"GetObject\"", screen)  # the breadcrumb: an ANDed step
    assert "acme-customer" in screen, screen  # the exfiltrated bucket

    # 4. open an event: normalized fields, provenance and the raw record's hash
    t.keys("Enter")
    screen = t.wait_for(r"raw SHA-256\s+[0-9a-f]{64}", check=lambda s: "DataAnalyticsRole" in s and "source file" in s)
    assert "GetObject" in screen and "203.0.113.77" in screen
    assert "arn:aws:s3:::acme-customer-exports/" in screen
    assert re.search(r"source file\s+\S*sample_data/cloudtrail/", screen)
    assert "DataAnalyticsRole" in screen

    # 5. back to the list, then back up the drill-down stack
    t.keys("Escape")
    t.wait_for(r"\b250 of 3,551 events", absent=r"raw SHA-256")
    t.keys("q")  # back to the frequency table the drill-down came from, cursor still on GetObject
    screen = t.wait_for(r"Action: \d+ distinct values in 328 matching events")
    assert "frequency of Action" in screen
    t.keys("q")
    screen = t.wait_for(r"\b328 of 3,551 events", absent=r'action:"GetObject"',
                        check=lambda s: any("GetObject" not in r for r in _rows(s)))
    t.keys("q")
    t.wait_for(r"3,551 of 3,551 events", check=lambda s: any("203.0.113.77" not in r for r in _rows(s)))

    # 6. the histogram (Shift+Tab from the list): mark a range of buckets, Enter filters to it
    t.keys("BTab", "Home")
    screen = t.wait_for(r"2026-03-14T00:00:00Z \+15m: \d+ events")  # 24 h in 15-minute buckets, UTC
    assert re.search(r"UTC 03-14 00:00Z\s+03-14 06:00Z", screen)  # the time axis, with its zone
    t.keys("Right", "Right", "space", "Right", "Right", "Right")
    t.wait_for(r"2026-03-14T01:15:00Z \+15m: .*range from 00:30:00Z")
    t.keys("Enter")
    def in_range(s: str) -> bool:
        times = [re.search(r"T(\d\d:\d\d:\d\d)Z", r).group(1) for r in _rows(s)]
        return bool(times) and all("00:30:00" <= x < "01:30:00" for x in times) and "until:" in s

    screen = t.wait_for(r"\b277 of 3,551 events", check=in_range)
    assert "since:2026-03-14T00:30:00Z until:2026-03-14T01:29:59.999999Z" in screen
    times = [re.search(r"2026-03-14T(\d\d:\d\d:\d\d)Z", r).group(1) for r in _rows(screen)]
    assert times and all("00:30:00" <= x < "01:30:00" for x in times)
    t.wait_for(r"\+1m: \d+ events")  # the histogram follows the new range: 1-minute buckets
    t.keys("q")
    t.wait_for(r"3,551 of 3,551 events")

    # 7. quit
    t.keys("C-q")
    t.wait_for(r"\[console exited\] 0", timeout=15)
