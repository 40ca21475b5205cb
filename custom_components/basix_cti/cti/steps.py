"""Work done in steps, so that a large message does not hold its caller's event loop.

A snapshot of a large PBX is 10,000 channels: applying it to the store and the call tracker
takes far longer than one event-loop callback may. The loops that grow with a message are
generators that pause after every `STEP` items; `finish` runs one to its end at once (the
plain, synchronous API), `finish_stepwise` gives the event loop a turn at each pause. What one
turn holds the loop for is then bounded by the work of `STEP` items, whatever the message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator

__all__ = ["STEP", "Steps", "finish", "finish_stepwise"]

# Items between two pauses: the store and the tracker spend some 20 to 40 us on a channel
# on a busy 2-core machine, so a step holds the loop well under 20 ms.
STEP = 250

type Steps[T] = Generator[None, None, T]


def finish[T](steps: Steps[T]) -> T:
    """Run `steps` to their end without pausing; return their result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


async def finish_stepwise[T](steps: Steps[T]) -> T:
    """Run `steps` to their end, giving the event loop a turn at each pause; their result."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        await asyncio.sleep(0)
