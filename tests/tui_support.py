"""Shared helpers for the console tests (tests/test_tui_*.py): fixture indexes, screen text, async runner."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
from pathlib import Path

T0 = 1_600_045_200_000_000  # 2020-09-14T01:00:00Z
S = 1_000_000

ALICE = "arn:aws:iam::111122223333:user/alice"
BOB = "arn:aws:iam::111122223333:user/bob"
ROLE = "arn:aws:sts::111122223333:assumed-role/Admin/mallory"

#: Hostile text: terminal escapes (OSC 52 clipboard write, clear screen, title), Rich/Textual
#: markup and an action link, bidi override.
HOSTILE_USER = "evil\x1b]52;c;cHduZWQ=\x07[bold red]PWNED[/bold red]\x1b[2J[@click=app.quit]x[/]"
HOSTILE_ACTION = "[link=http://x]Get[/link]\x1b]0;title\x07Object\u202e"
HOSTILE_BUCKET = "b[reverse]x[/reverse]\x1b[31m"


def iso(us: int) -> str:
    from logconsole.util.timeparse import format_us

    return format_us(us)


def ct_record(i: int, ts: int, *, arn: str | None = ALICE, name: str = "GetObject", ip: str = "10.0.0.1",
              err: str | None = None, bucket: str = "case-bucket", key: str | None = None,
              user_name: str | None = None) -> dict:
    rec = {
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "arn": arn, "accountId": "111122223333",
                         "userName": user_name or (arn.rsplit("/", 1)[-1] if arn else None)},
        "eventTime": iso(ts),
        "eventSource": "s3.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": ip,
        "userAgent": "aws-cli/2.13.0",
        "requestParameters": {"bucketName": bucket, "key": key or f"obj-{i % 7}"},
        "responseElements": None,
        "eventID": f"00000000-0000-0000-0000-{i:012d}",
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333",
    }
    if arn is None:
        rec["userIdentity"].pop("arn")
    if err:
        rec["errorCode"] = err
        rec["errorMessage"] = "Access Denied"
    return rec


def standard_records(n: int = 240) -> list[dict]:
    """*n* events, one every 30 s from T0: alice/bob/admin role, three IPs, every 6th one fails."""
    recs = []
    for i in range(n):
        arn = (ALICE, BOB, ROLE)[i % 3]
        ip = ("10.0.0.1", "10.0.0.2", "203.0.113.9")[(i // 3) % 3]
        name = ("GetObject", "PutObject", "ListBucket", "DeleteObject")[i % 4]
        err = "AccessDenied" if i % 6 == 5 else None
        recs.append(ct_record(i, T0 + i * 30 * S, arn=arn, name=name, ip=ip, err=err))
    return recs


def hostile_records() -> list[dict]:
    return [
        ct_record(9001, T0 + 5 * S, arn=None, user_name=HOSTILE_USER, name=HOSTILE_ACTION, ip="198.51.100.7",
                  bucket=HOSTILE_BUCKET, key="k[/]\x1b]8;;http://evil\x07link\x1b]8;;\x07"),
    ]


def build_index(tmp_path: Path, records: list[dict] | None = None, name: str = "case") -> tuple[str, object]:
    """Write *records* as a CloudTrail file and ingest it into a fresh index; returns (db path, engine)."""
    from logconsole.workflows.ingest import run_ingest
    from logconsole.store.db import open_db

    records = standard_records() if records is None else records
    src = tmp_path / f"{name}.json"
    src.write_text(json.dumps({"Records": records}, ensure_ascii=False), encoding="utf-8")
    db = str(tmp_path / f"{name}.db")
    eng = open_db(db)
    res = run_ingest(eng, [str(src)])
    assert not res.errors, res.errors
    return db, eng


def screen_text(app) -> str:
    """What the terminal shows, as plain text (one line per row)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(seg.text for seg in strip) for strip in strips)


def screen_segments(app):
    for strip in app.screen._compositor.render_strips():
        yield from strip


async def settle(app, pilot) -> None:
    """Wait for workers and pending refreshes."""
    for _ in range(3):
        await pilot.pause()
        await app.workers.wait_for_complete()
    await pilot.pause()


async def press(app, pilot, *keys: str) -> None:
    for k in keys:
        await pilot.press(k)
        await settle(app, pilot)


async def type_text(app, pilot, text: str) -> None:
    for ch in text:
        await pilot.press(_key_for(ch))
    await settle(app, pilot)


_KEYS = {" ": "space", "/": "slash", ":": "colon", '"': "quotation_mark", "-": "minus", ".": "full_stop",
         "*": "asterisk", "(": "left_parenthesis", ")": "right_parenthesis", "[": "left_square_bracket",
         "]": "right_square_bracket", "+": "plus", "?": "question_mark", "_": "underscore", "@": "at",
         "=": "equals_sign", ",": "comma", "'": "apostrophe", "\\": "backslash", "<": "less_than_sign",
         ">": "greater_than_sign", "!": "exclamation_mark", "#": "number_sign", "&": "ampersand", "|": "vertical_line"}


def _key_for(ch: str) -> str:
    return _KEYS.get(ch, ch)


def sync(fn):
    """Run an async test body with asyncio.run (no pytest async plugin needed)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return asyncio.run(fn(*args, **kwargs))

    wrapper.__signature__ = inspect.signature(fn)
    return wrapper


def tl(app):
    """The timeline screen (asserting it is the one shown)."""
    from logconsole.tui.screens.timeline import TimelineScreen

    assert isinstance(app.screen, TimelineScreen), app.screen
    return app.screen


async def wait_for(pilot, cond, tries: int = 300) -> None:
    """Let the console run until *cond()* holds (at most *tries* x 20 ms)."""
    for _ in range(tries):
        await pilot.pause(0.02)
        if cond():
            return
    raise AssertionError("condition never held")
