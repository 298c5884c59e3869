"""Pausing Python's cyclic garbage collector around bulk work.

Building hundreds of thousands of small containers (alias rows, link lists, row
tuples) makes the collector run its full (oldest-generation) pass again and again over
everything built so far: in the identity graph build of 200,000 CloudTrail events
that was ~30 % of the time (docs/performance.md).  The bulk steps make no reference
cycles worth collecting mid-way; reference counting still frees everything else.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic collector inside the block (re-entrant: only the outermost
    block turns it back on, and only if it was on)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
