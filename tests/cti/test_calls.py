"""Call state and call events from legs, without Home Assistant: simulator -> wire -> tracker."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from basix_simulator.frames import FrameBuilder, encode_frame
from basix_simulator.pbx import Pbx
from custom_components.basix_cti.cti import etf
from custom_components.basix_cti.cti.calls import (
    CallDirection,
    CallEvent,
    CallPhase,
    CallTracker,
    EndReason,
)
from custom_components.basix_cti.cti.models import (
    CHANNEL,
    Change,
    Channel,
    ChannelState,
    Disposition,
    Snapshot,
)
from custom_components.basix_cti.cti.protocol import Parser
from custom_components.basix_cti.cti.store import PbxState

YAMADA, SUZUKI, TAKAHASHI = "1001", "1002", "1003"


@dataclass
class Wire:
    """A PBX whose every change travels as a real frame into parser, store and tracker."""

    pbx: Pbx
    generation: str = "new"
    parser: Parser = field(default_factory=Parser)
    state: PbxState = field(default_factory=PbxState)
    events: list[CallEvent] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tracker = CallTracker(self.state)
        self.builder = FrameBuilder(self.pbx, self.generation)  # type: ignore[arg-type]
        for term in self.builder.field_specs():
            self.send(term)
        self.resync()
        self.disconnect = self.pbx.subscribe(self._changed)

    def resync(self) -> None:
        entities = ("channel", "queued_channel", "parked_channel", "user", "group", "mwi")
        for term in self.builder.snapshots({e: self.pbx.snapshot(e) for e in entities}):
            self.send(term)

    def _changed(self, entity: str, record: dict[str, Any], event: str) -> None:
        if (term := self.builder.change(entity, record, event)) is not None:
            self.send(term)

    def send(self, term: Any) -> None:
        for message in self.parser.feed(etf.decode(encode_frame(term))):
            if (delta := self.state.apply(message)) is not None:
                events, _ = self.tracker.apply(delta)
                self.events.extend(events)

    def kinds(self, user_id: str) -> list[str]:
        return [e.type.value for e in self.events if e.user_id == user_id]

    def phase(self, user_id: str) -> CallPhase:
        return self.tracker.phase_of(user_id)


@pytest.fixture(params=["new", "old"])
def wire(request: pytest.FixtureRequest) -> Wire:
    return Wire(Pbx.demo(users=4, groups=1, seed=3), request.param)


def test_answered_call(wire: Wire) -> None:
    call = wire.pbx.incoming_call(to="201", caller="0311112222", caller_name="田中 一郎")
    assert wire.phase(YAMADA) is CallPhase.RINGING
    ringing = wire.tracker.calls_of(YAMADA)[0]
    assert ringing.caller_number == "0311112222"
    assert ringing.remote_name == "田中 一郎"
    wire.pbx.answer(call)
    assert wire.phase(YAMADA) is CallPhase.TALKING
    wire.pbx.hangup(call)
    assert wire.phase(YAMADA) is CallPhase.IDLE
    assert wire.kinds(YAMADA) == ["incoming_call", "answered", "ended"]
    ended = wire.events[-1]
    assert ended.duration is not None
    assert ended.duration >= 0


def test_missed_reasons(wire: Wire) -> None:
    """Missed because the caller gave up, or because it went to voicemail; nothing else."""
    gave_up = wire.pbx.incoming_call(to="201")
    wire.pbx.caller_hangs_up(gave_up)
    to_box = wire.pbx.incoming_call(to="202")
    wire.pbx.to_voicemail(to_box)
    assert wire.kinds(YAMADA) == ["incoming_call", "missed"]
    assert wire.kinds(SUZUKI) == ["incoming_call", "missed"]
    missed = [e for e in wire.events if e.type.value == "missed"]
    assert [(e.user_id, e.reason) for e in missed] == [
        (YAMADA, EndReason.CALLER_HUNG_UP),
        (SUZUKI, EndReason.VOICEMAIL),
    ]
    assert wire.phase(YAMADA) is CallPhase.IDLE
    assert wire.phase(SUZUKI) is CallPhase.IDLE


def test_park_and_pickup_events(wire: Wire) -> None:
    """Parking ends the parker's talk; the pick-up is the picker's call; nothing is doubled."""
    call = wire.pbx.incoming_call(to="201")
    wire.pbx.answer(call)
    wire.pbx.park(call, slot="701")
    if wire.generation == "new":  # the older park state does not name the parker
        assert wire.phase(YAMADA) is CallPhase.PARKED
    wire.pbx.pickup("701", by="203")
    assert wire.phase(YAMADA) is CallPhase.IDLE
    assert wire.phase(TAKAHASHI) is CallPhase.TALKING
    assert wire.kinds(YAMADA) == ["incoming_call", "answered", "ended"]
    # The picker's phone dialled in, but what it took is a call that came in.
    assert wire.kinds(TAKAHASHI) == ["incoming_call", "answered"]
    taken = [e for e in wire.events if e.user_id == TAKAHASHI][-1]
    assert taken.call.direction is CallDirection.INCOMING


def test_group_call(wire: Wire) -> None:
    """The member who answers talks; the others' ringing ends without a missed call."""
    group = next(iter(wire.pbx.groups.values()))
    first, *others = group.members
    call = wire.pbx.incoming_call(to=group.extension)
    wire.pbx.answer(call, by=first)
    assert wire.kinds(first) == ["incoming_call", "answered"]
    for member in others:
        assert wire.kinds(member) == ["incoming_call", "ended"]
        ended = [e for e in wire.events if e.user_id == member][-1]
        assert ended.reason is EndReason.ANSWERED_ELSEWHERE


def test_outgoing_unanswered_is_not_missed(wire: Wire) -> None:
    call = wire.pbx.outgoing_call("201", "0120000000")
    assert wire.phase(YAMADA) is CallPhase.DIALING
    wire.pbx.hangup(call)
    assert wire.kinds(YAMADA) == ["outgoing_call", "ended"]
    assert wire.events[-1].reason is EndReason.NO_ANSWER


def test_internal_call_is_both_sides(wire: Wire) -> None:
    call = wire.pbx.internal_call("201", "202")
    assert wire.phase(YAMADA) is CallPhase.DIALING
    assert wire.phase(SUZUKI) is CallPhase.RINGING
    wire.pbx.answer(call)
    assert wire.phase(YAMADA) is CallPhase.TALKING
    assert wire.phase(SUZUKI) is CallPhase.TALKING
    assert wire.tracker.active_calls == 1


def test_snapshot_resync_invents_no_events(wire: Wire) -> None:
    """Calls that began or ended unseen are shown or dropped, without made-up events."""
    ringing = wire.pbx.incoming_call(to="201")
    late = Wire(wire.pbx, wire.generation)  # connects mid-call
    assert late.phase(YAMADA) is CallPhase.RINGING
    assert late.events == []

    late.disconnect()
    wire.pbx.caller_hangs_up(ringing)
    wire.pbx.incoming_call(to="203")
    late.resync()
    assert late.phase(YAMADA) is CallPhase.IDLE
    assert late.phase(TAKAHASHI) is CallPhase.RINGING
    assert late.events == []


def _leg(uuid: str, **changes: Any) -> Channel:
    values: dict[str, Any] = {
        "entity": CHANNEL,
        "uuid": uuid,
        "direction": None,
        "peer_location": None,
        "calling_name": None,
        "calling_number": "0300000000",
        "called_number": None,
        "offered_at": datetime(2026, 11, 22, tzinfo=UTC),
        "answered_at": None,
        "hungup_at": None,
        "other_uuid": None,
        "user_id": "7",
        "user_name": None,
        "group_id": None,
        "group_name": None,
        "state": None,
        "target": None,
        "end_user": None,
        "origination": None,
        "other_info": None,
        "last_event": None,
        "fields": {},
    }
    values.update(changes)
    return Channel(**values)


def _apply(tracker: CallTracker, state: PbxState, leg: Channel, event: str | None) -> list[str]:
    events, _ = tracker.apply(state.apply(Change(CHANNEL, leg, event)))  # type: ignore[arg-type]
    return [e.type.value for e in events]


def test_tolerates_what_the_simulator_never_sends() -> None:
    """No direction, hold as a state name, a hang-up cause that says another phone won."""
    state = PbxState()
    tracker = CallTracker(state)
    calling = ChannelState("calling", None, {}, ())
    assert _apply(tracker, state, _leg("a", state=calling), "CHANNEL_CREATE") == ["incoming_call"]
    assert tracker.phase_of("7") is CallPhase.RINGING

    held = ChannelState("hold", None, {}, ())
    answered = datetime(2026, 11, 22, 0, 1, tzinfo=UTC)
    assert _apply(tracker, state, _leg("a", state=held, answered_at=answered), None) == ["answered"]
    assert tracker.phase_of("7") is CallPhase.ON_HOLD

    lost = _leg("b", state=calling, disposition=Disposition(None, None, "LOSE_RACE", "LOSE_RACE"))
    _apply(tracker, state, lost, "CHANNEL_CREATE")
    events, _ = tracker.apply(state.apply(Change(CHANNEL, lost, "CHANNEL_HANGUP")))  # type: ignore[arg-type]
    assert [(e.type.value, e.reason) for e in events] == [("ended", EndReason.ANSWERED_ELSEWHERE)]
    assert tracker.calls_of("7")[0].uuid == "a"

    tracker.apply(state.apply(Snapshot(CHANNEL, ())))  # type: ignore[arg-type]
    assert tracker.phase_of("7") is CallPhase.IDLE


def test_a_leg_that_arrives_answered_tells_the_whole_story() -> None:
    """A leg first seen already answered announces the call, then its answer."""
    state = PbxState()
    tracker = CallTracker(state)
    answered = datetime(2026, 11, 22, 0, 1, tzinfo=UTC)
    talking = _leg("a", direction="outbound", answered_at=answered)
    assert _apply(tracker, state, talking, "CHANNEL_ANSWER") == ["incoming_call", "answered"]


def test_answer_event_without_a_timestamp() -> None:
    """CHANNEL_ANSWER alone is enough: the answer time is the state's, else now."""
    state = PbxState()
    tracker = CallTracker(state)
    assert _apply(tracker, state, _leg("a", direction="outbound"), "CHANNEL_CREATE") == [
        "incoming_call"
    ]
    assert _apply(tracker, state, _leg("a", direction="outbound"), "CHANNEL_ANSWER") == ["answered"]
    call = tracker.calls_of("7")[0]
    assert call.phase is CallPhase.TALKING
    assert call.answered_at is not None


def _end(tracker: CallTracker, state: PbxState, leg: Channel) -> list[tuple[str, Any]]:
    events, _ = tracker.apply(state.apply(Change(CHANNEL, leg, "CHANNEL_HANGUP")))  # type: ignore[arg-type]
    return [(e.type.value, e.reason) for e in events]


@pytest.mark.parametrize(
    ("caller_then", "expected"),
    [
        ("calling", [("missed", EndReason.NO_ANSWER)]),
        ("bridged", [("ended", EndReason.ANSWERED_ELSEWHERE)]),
        ("voicemail", [("missed", EndReason.VOICEMAIL)]),
        (None, [("missed", EndReason.CALLER_HUNG_UP)]),
    ],
)
def test_unanswered_leg_waits_for_the_callers_next_move(
    caller_then: str | None, expected: list[tuple[str, Any]]
) -> None:
    """The phone stops ringing first; where the caller's leg goes next says why."""
    state = PbxState()
    tracker = CallTracker(state)
    calling = ChannelState("calling", None, {}, ())
    caller = _leg("caller", direction="inbound", user_id=None, state=calling)
    _apply(tracker, state, caller, "CHANNEL_CREATE")
    ringing = _leg("b", direction="outbound", other_uuid="caller", state=calling)
    _apply(tracker, state, ringing, "CHANNEL_CREATE")

    assert _end(tracker, state, ringing) == []  # not decided yet
    if caller_then is None:
        assert _end(tracker, state, caller) == expected
    else:
        moved = _leg(
            "caller",
            direction="inbound",
            user_id=None,
            state=ChannelState(caller_then, None, {}, ()),
        )
        events, _ = tracker.apply(state.apply(Change(CHANNEL, moved, "CHANNEL_APPLICATION")))  # type: ignore[arg-type]
        assert [(e.type.value, e.reason) for e in events] == expected


def test_unanswered_leg_without_a_caller_is_missed_at_once() -> None:
    state = PbxState()
    tracker = CallTracker(state)
    ringing = _leg("b", direction="outbound")
    _apply(tracker, state, ringing, "CHANNEL_CREATE")
    assert _end(tracker, state, ringing) == [("missed", EndReason.NO_ANSWER)]


def test_a_resync_still_tells_an_ending_seen_live() -> None:
    """A ring that ended before a reconnect is decided from the snapshot, not forgotten."""
    state = PbxState()
    tracker = CallTracker(state)
    calling = ChannelState("calling", None, {}, ())
    caller = _leg("caller", direction="inbound", user_id=None, state=calling)
    _apply(tracker, state, caller, "CHANNEL_CREATE")
    ringing = _leg("b", direction="outbound", other_uuid="caller", state=calling)
    _apply(tracker, state, ringing, "CHANNEL_CREATE")
    assert _end(tracker, state, ringing) == []

    events, _ = tracker.apply(state.apply(Snapshot(CHANNEL, ())))  # type: ignore[arg-type]
    assert [(e.type.value, e.reason) for e in events] == [("missed", EndReason.CALLER_HUNG_UP)]


def test_a_caller_in_an_ivr_does_not_hold_the_missed_call() -> None:
    """Only a caller still being offered around is waited for; one in an IVR is not."""
    state = PbxState()
    tracker = CallTracker(state)
    ivr = ChannelState("ivr", None, {"ivr_id": "1"}, ())
    caller = _leg("caller", direction="inbound", user_id=None, state=ivr)
    _apply(tracker, state, caller, "CHANNEL_CREATE")
    calling = ChannelState("calling", None, {}, ())
    ringing = _leg("b", direction="outbound", other_uuid="caller", state=calling)
    _apply(tracker, state, ringing, "CHANNEL_CREATE")
    assert _end(tracker, state, ringing) == [("missed", EndReason.NO_ANSWER)]
