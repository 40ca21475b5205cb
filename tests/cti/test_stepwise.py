"""A large snapshot is applied in steps with the loop free between them, and seen only whole."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from custom_components.basix_cti.cti.calls import CallPhase, CallTracker, apply_message
from custom_components.basix_cti.cti.models import Change, ChannelState, Snapshot
from custom_components.basix_cti.cti.steps import STEP
from custom_components.basix_cti.cti.store import PbxState
from tests.cti.test_store import leg

USERS = 400
LEGS = 4_000

RINGING = ChannelState("calling", None, {}, ())
TALKING = ChannelState("bridged", None, {}, ())


def legs(count: int, state: ChannelState, offset: int = 0) -> tuple:
    return tuple(
        replace(leg(f"leg-{n}", f"u{n % USERS}"), state=state)
        for n in range(offset, offset + count)
    )


def snapshot(items: tuple) -> Snapshot:
    return Snapshot("channel", items)


def phases(tracker: CallTracker) -> dict[str, CallPhase]:
    return {f"u{n}": tracker.phase_of(f"u{n}") for n in range(USERS)}


def calls(tracker: CallTracker) -> dict[str, list[tuple[str, CallPhase, str | None]]]:
    """Each user's calls (an answer time read from the clock differs: left out)."""
    return {
        f"u{n}": sorted(
            (call.uuid, call.phase, call.direction) for call in tracker.calls_of(f"u{n}")
        )
        for n in range(USERS)
    }


async def test_a_large_snapshot_is_applied_in_steps_and_seen_whole() -> None:
    """Readers between the steps see the old PBX, then the new one; never a mix of the two."""
    state = PbxState()
    tracker = CallTracker(state)
    await apply_message(state, tracker, snapshot(legs(LEGS, RINGING)))
    assert set(phases(tracker).values()) == {CallPhase.RINGING}
    # Half the legs went, the rest are answered, new ones ring: every user changes.
    new = legs(LEGS // 2, TALKING) + legs(LEGS // 2, RINGING, offset=LEGS)
    seen: list[tuple[int, frozenset[CallPhase]]] = []
    done = False

    async def reader() -> None:
        while not done:
            seen.append((len(state.channels), frozenset(phases(tracker).values())))
            await asyncio.sleep(0)

    task = asyncio.create_task(reader())
    await asyncio.sleep(0)
    applied = await apply_message(state, tracker, snapshot(new))
    done = True
    await task
    assert applied is not None
    delta, events, users = applied
    # The loop had a turn at every step of the store and of the tracker.
    assert len(seen) > 2 * LEGS / STEP
    # Each reader saw all of the old state or all of the new one.
    assert set(seen) <= {
        (LEGS, frozenset({CallPhase.RINGING})),
        (LEGS, frozenset({CallPhase.TALKING, CallPhase.RINGING})),
    }
    assert seen[0] == (LEGS, frozenset({CallPhase.RINGING}))
    assert len(delta.removed) == LEGS // 2
    assert events == []
    assert users == {f"u{n}" for n in range(USERS)}
    # The same as applying it at once.
    at_once_state = PbxState()
    at_once = CallTracker(at_once_state)
    for message in (snapshot(legs(LEGS, RINGING)), snapshot(new)):
        at_once.apply(at_once_state.apply(message))  # type: ignore[arg-type]
    assert dict(state.channels) == dict(at_once_state.channels)
    assert calls(tracker) == calls(at_once)
    assert tracker.active_calls == at_once.active_calls


async def test_changes_after_a_stepwise_snapshot_go_to_the_committed_state() -> None:
    """What a change finds after a staged snapshot is that snapshot, in store and tracker."""
    state = PbxState()
    tracker = CallTracker(state)
    await apply_message(state, tracker, snapshot(legs(LEGS, RINGING)))
    hung_up = replace(legs(1, RINGING)[0], last_event="CHANNEL_HANGUP")
    applied = await apply_message(state, tracker, Change("channel", hung_up, "removed"))
    assert applied is not None
    _, events, users = applied
    assert [event.type.value for event in events] == ["missed"]
    assert users == {"u0"}
    assert "leg-0" not in state.channels
    assert len(state.channels) == LEGS - 1


async def test_a_small_snapshot_is_applied_at_once() -> None:
    """A small PBX's snapshot takes no turn of the loop: nothing waits on it."""
    state = PbxState()
    tracker = CallTracker(state)
    turns = 0

    async def counter() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(counter())
    await asyncio.sleep(0)
    before = turns
    await apply_message(state, tracker, snapshot(legs(STEP, RINGING)))
    assert turns == before
    task.cancel()
    assert len(state.channels) == STEP


async def test_an_empty_snapshot_ending_many_calls_is_applied_in_steps() -> None:
    """An empty snapshot after thousands of legs ends them all: that too takes steps."""
    state = PbxState()
    tracker = CallTracker(state)
    await apply_message(state, tracker, snapshot(legs(LEGS, RINGING)))
    turns = 0
    done = False

    async def counter() -> None:
        nonlocal turns
        while not done:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(counter())
    await asyncio.sleep(0)
    before = turns
    applied = await apply_message(state, tracker, snapshot(()))
    done = True
    await task
    assert applied is not None
    assert len(applied[0].removed) == LEGS
    assert not state.channels
    assert set(phases(tracker).values()) == {CallPhase.IDLE}
    # The store's removals and the tracker's endings each took a turn every STEP legs.
    assert turns - before >= 2 * LEGS / STEP
