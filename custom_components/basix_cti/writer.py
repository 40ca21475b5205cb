"""Tells entities to write their states a few at a time, and fires call events behind them.

A call touches one or two users, and their entities are written at once, as the frame is
read. A snapshot or a reconnect touches every user of the PBX: 2,000 users are 16,000
entities, a second of state writes on this kind of machine, which must not hold the event
loop in one go. Those writes go into a queue instead, flushed in order a few milliseconds at
a time, with a turn of the loop between.

Two rules hold either way:
- a call event fires only after the states of the change that caused it are written (an
  automation on `incoming_call` reads `ringing`): events queue behind the writes before them.
  Behind a long queue (a reconnect of 2,000 users) the states an event finds are at least as
  new as the event, and may be newer: the call it announces may have ended meanwhile;
- the order is first come, first served: a change that arrives while the queue is flushing
  goes behind it, even a small one.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial
import logging

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util.signal_type import SignalType

_LOGGER = logging.getLogger(__package__)

# A change that wakes no more than this many signals (users, groups, the PBX) is written at
# once: about a millisecond of writes, the cost a single frame had before the queue existed.
WRITE_AT_ONCE = 16
# How long one flush may hold the loop before it yields (seconds).
FLUSH_SLICE = 0.005


class SlicedQueue:
    """Runs queued callables first come, first served, a slice of time at a time.

    One queue for the entities every platform adds: three platforms taking their own slices
    in the same loop turn would hold it three times as long.
    """

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, name: str, slice_: float) -> None:
        """Run in a task of `entry` named `name`, yielding after `slice_` seconds of work."""
        self._hass = hass
        self._entry = entry
        self._name = name
        self.time_slice = slice_
        self._queue: deque[Callable[[], None]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def __bool__(self) -> bool:
        """Whether jobs wait."""
        return bool(self._queue)

    @property
    def closed(self) -> bool:
        """Whether `close` was called: jobs queued since are dropped."""
        return self._closed

    @callback
    def extend(self, jobs: Iterable[Callable[[], None]]) -> None:
        """Queue `jobs`; they run in a task of their own, never in the caller's callback."""
        if self._closed:
            return
        self._queue.extend(jobs)
        if self._queue and self._task is None:
            self._task = self._entry.async_create_task(
                self._hass, self._run(), self._name, eager_start=False
            )

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self._queue
        try:
            while queue:
                until = loop.time() + self.time_slice
                while queue:  # at least one job a slice, however short the slice
                    job = queue.popleft()
                    try:
                        job()
                    except Exception:
                        # One failed job must not leave the ones behind it waiting.
                        _LOGGER.exception("Error in %s", self._name)
                    if loop.time() >= until:
                        break
                await asyncio.sleep(0)
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    @callback
    def close(self) -> None:
        """Drop what waits, and take nothing more: what it served is going away."""
        self._closed = True
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()
            self._task = None


class StateWriter:
    """A first-in first-out queue of entity signals to send and call events to fire."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry) -> None:
        """Write for the entities of `entry`; the queue flushes in a task of that entry."""
        self._hass = hass
        self._queue = SlicedQueue(hass, entry, "basix_cti state writes", FLUSH_SLICE)
        # The signals in the queue: one that is there already writes this change too, since
        # an entity reads the current state when it writes, and before anything queued after.
        self._queued: set[SignalType[()]] = set()

    @callback
    def publish(self, signals: Iterable[SignalType[()]], then: Callable[[], None] | None) -> None:
        """Have the entities of `signals` write their states, then call `then` (fire events)."""
        signals = list(signals)
        if self._queue.closed:
            return
        if not self._queue and len(signals) <= WRITE_AT_ONCE:
            for signal in signals:
                async_dispatcher_send(self._hass, signal)
            if then is not None:
                then()
            return
        jobs: list[Callable[[], None]] = []
        for signal in signals:
            if signal not in self._queued:
                self._queued.add(signal)
                jobs.append(partial(self._send, signal))
        if then is not None:
            jobs.append(then)
        self._queue.extend(jobs)

    @property
    def time_slice(self) -> float:
        """How long one flush may hold the loop (seconds)."""
        return self._queue.time_slice

    @time_slice.setter
    def time_slice(self, seconds: float) -> None:
        self._queue.time_slice = seconds

    def _send(self, signal: SignalType[()]) -> None:
        self._queued.discard(signal)
        async_dispatcher_send(self._hass, signal)

    @callback
    def close(self) -> None:
        """Drop what waits: the entities are going away."""
        self._queue.close()
        self._queued.clear()
