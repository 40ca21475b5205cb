"""What the event loop hands to a worker thread, and how the worker keeps from stopping it.

A worker thread alone does not keep the loop free: whatever runs there in one C call holds
the GIL, and so every thread, the loop too, for as long as it takes.

- Cyclic garbage collection: reading a large frame builds up to a million objects, which
  sets off collections that walk them, or the whole heap (0.4 s for 3 million objects on a
  2-core machine). Terms and messages hold no cycles, so collecting while they are built
  frees nothing: the collector is paused while a worker reads (`collection_paused`). What
  was built meanwhile is then moved to the oldest generation in constant time; left young,
  it would all be walked by the first young collection after the pause (80 ms for a
  million objects, in whichever thread allocates next: often the loop's).
- Freeing: the last reference to a frame's million terms, or to a table of thousands of
  records a snapshot replaced, frees them all at once. `release_later` does that in a worker
  too, the collector paused, so that it is not one of the loop's callbacks. It is still one
  C call holding the GIL for as long as it takes (about 0.1 s for a million objects on a
  2-core machine): the loop does not run meanwhile, it only does not do the work. Freeing
  in pieces would hand the GIL back between them, at three times the cost in all.

Aging (`_age_young_objects`) moves every young object of the process, not only the frame's,
into the oldest generation: young cycles elsewhere then wait for a full collection, which is
what they would get anyway after surviving two young ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import contextlib
import gc
import threading
from typing import Any

__all__ = ["collection_paused", "release", "release_later"]


class _CollectionPause:
    """Pause the collector while any worker reads a frame (counted: several clients may)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers = 0
        self._resume = False

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if not self._readers:
                self._resume = gc.isenabled()  # never turn on what the application turned off
                gc.disable()
            self._readers += 1
        try:
            yield
        finally:
            with self._lock:
                self._readers -= 1
                if not self._readers and self._resume:
                    _age_young_objects()
                    gc.enable()


def _age_young_objects() -> None:
    """Move every tracked object to the oldest generation, in constant time.

    `freeze` moves them all to the permanent generation, `unfreeze` back into the oldest one:
    both splice lists. An application that froze objects of its own (a pre-fork server) keeps
    them frozen: then nothing is moved.
    """
    if not gc.get_freeze_count():
        gc.freeze()
        gc.unfreeze()


collection_paused = _CollectionPause()


def release(objects: list[Any]) -> None:
    """Drop `objects` (the caller's last references to them), the collector paused."""
    with collection_paused():
        objects.clear()


def release_later(held: list[Any]) -> None:
    """`release` what `held` holds in a worker thread, without waiting for it.

    The caller must have dropped every other reference of its own first: an object it still
    refers to when the worker is done with it would be freed whole, on the caller's thread.
    """
    done = asyncio.get_running_loop().run_in_executor(None, release, held)
    # Nothing waits for it; an executor stopped at shutdown may end it with SystemExit.
    done.add_done_callback(_ignore_outcome)


def _ignore_outcome(done: asyncio.Future[None]) -> None:
    if not done.cancelled():
        done.exception()
