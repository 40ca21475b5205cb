"""Call endings from the current generation's hangup dispositions, on real-server frames.

Each leg goes over the wire as a Basix server writes it (`etf.encode(..., atoms="latin1")`,
the 2023 README's channel fields) and through Parser -> PbxState -> CallTracker.
"""

from __future__ import annotations

from datetime import UTC, datetime
import logging
from typing import Any

import pytest

from custom_components.basix_cti.cti import etf
from custom_components.basix_cti.cti.calls import (
    CallDirection,
    CallEvent,
    CallEventType,
    CallPhase,
    CallTracker,
    EndReason,
)
from custom_components.basix_cti.cti.problems import ProblemReporter
from custom_components.basix_cti.cti.protocol import Parser
from custom_components.basix_cti.cti.store import PbxState
from custom_components.basix_cti.cti.terms import Atom

A = Atom
UNDEF = A("undefined")
T0 = 1_764_547_200_000_000  # microseconds
CHANNEL = [
    "uuid", "direction", "peer_location", "calling_name", "calling_number", "called_number",
    "offer_timestamp", "answer_timestamp", "hangup_timestamp", "other_uuid", "user_id", "state",
    "group_id", "target", "origination", "end_user", "tags", "last_bridged_user_id",
    "last_event", "last_event_data", "other_info", "call_id",
]  # fmt: skip
CALLER = "0312345678"


class Office:
    """A PBX as the tracker sees it: frames in, call events out."""

    def __init__(self) -> None:
        self.parser = Parser(ProblemReporter(logging.getLogger("test.calls_current")), "pbx")
        self.state = PbxState()
        self.tracker = CallTracker(self.state)
        self.events: list[CallEvent] = []
        self.legs: dict[str, dict[str, Any]] = {}
        self.clock = T0
        self._send((A("field_spec"), A("channel"), [A(f) for f in CHANNEL]))
        self._send((A("initial_info"), A("channel"), (A("bert"), A("nil"))))

    def _send(self, term: Any) -> None:
        for message in self.parser.feed(etf.decode(etf.encode(term, atoms="latin1"))):
            delta = self.state.apply(message)
            if delta is not None:
                self.events.extend(self.tracker.apply(delta)[0])

    def tick(self) -> int:
        self.clock += 1_000_000
        return self.clock

    def leg(self, uuid: str, event: str = "updated", **values: Any) -> None:
        fields = self.legs.setdefault(uuid, {"uuid": uuid.encode(), "offer_timestamp": self.tick()})
        fields.update(values)
        record = tuple(fields.get(name, UNDEF) for name in CHANNEL)
        self._send((A("info_event"), A("channel"), record, A(event)))

    def hangup(self, uuid: str, disposition: str | None) -> None:
        data = disposition.encode() if disposition else UNDEF
        self.leg(
            uuid,
            hangup_timestamp=self.tick(),
            last_event=A("CHANNEL_HANGUP"),
            last_event_data=data,
        )
        del self.legs[uuid]

    def caller(self, uuid: str = "a") -> None:
        """An external caller's leg, offered to a ring group."""
        self.leg(
            uuid,
            "added",
            direction=A("inbound"),
            peer_location=A("external"),
            calling_number=CALLER.encode(),
            called_number=b"0312340000",
            state=(self.tick(), A("calling"), A("int"), A("group"), (A("ring"), 9, UNDEF, UNDEF, b"q9")),
            target=(A("group"), 9, b"sales", b"0312340000"),
            last_event=A("CHANNEL_CREATE"),
        )  # fmt: skip

    def ring(self, uuid: str, user: int, caller: str = "a") -> None:
        self.leg(
            uuid,
            "added",
            direction=A("outbound"),
            calling_number=CALLER.encode(),
            called_number=str(user).encode(),
            other_uuid=caller.encode(),
            user_id=user,
            state=(self.tick(), A("calling"), A("int"), A("user"), (user,)),
            last_event=A("CHANNEL_CREATE"),
        )

    def answer(self, uuid: str, other: str) -> None:
        now = self.tick()
        self.leg(uuid, answer_timestamp=now, last_event=A("CHANNEL_ANSWER"))
        for leg, partner in ((uuid, other), (other, uuid)):
            self.leg(
                leg,
                other_uuid=partner.encode(),
                state=(now, A("bridged")),
                last_event=A("CHANNEL_BRIDGE"),
            )

    def of(self, user: str) -> list[tuple[str, str | None]]:
        return [
            (e.type.value, e.reason.value if e.reason else None)
            for e in self.events
            if e.user_id == user
        ]

    def last(self, user: str) -> CallEvent:
        return [e for e in self.events if e.user_id == user][-1]


@pytest.fixture
def office() -> Office:
    return Office()


def test_ring_group_losers_lose_the_race(office: Office) -> None:
    office.caller()
    office.ring("b1", 201)
    office.ring("b2", 202)
    office.answer("b1", "a")
    office.hangup("b2", "send_cancel,LOSE_RACE")
    assert office.of("201") == [("incoming_call", None), ("answered", None)]
    assert office.of("202") == [("incoming_call", None), ("ended", "answered_elsewhere")]
    data = office.last("202").as_dict()
    assert (data["hangup_cause"], data["hangup_side"]) == ("LOSE_RACE", "pbx")
    office.hangup("a", "recv_bye,NORMAL_CLEARING")
    office.hangup("b1", "send_bye,NORMAL_CLEARING")
    ended = office.last("201")
    assert (ended.type, ended.hangup_cause, ended.hangup_side) == (
        CallEventType.ENDED,
        "NORMAL_CLEARING",
        "pbx",
    )
    assert ended.duration is not None
    assert ended.duration > 0


def test_hold_is_read_from_the_legs_last_event(office: Office) -> None:
    """Every change comes as `updated`: what happened is the leg's own `last_event`."""
    office.caller()
    office.ring("b1", 201)
    office.answer("b1", "a")
    assert office.tracker.phase_of("201") is CallPhase.TALKING
    office.leg("b1", last_event=A("CHANNEL_HOLD"))
    assert office.tracker.phase_of("201") is CallPhase.ON_HOLD
    office.leg("b1", last_event=A("STATE_CHANGE"))  # an unrelated change keeps the hold
    assert office.tracker.phase_of("201") is CallPhase.ON_HOLD
    office.leg("b1", last_event=A("CHANNEL_UNHOLD"))
    assert office.tracker.phase_of("201") is CallPhase.TALKING
    assert office.of("201") == [("incoming_call", None), ("answered", None)]


@pytest.mark.parametrize("bridge_first", [False, True])
def test_a_pickup_names_the_colleague(office: Office, bridge_first: bool) -> None:
    office.caller()
    office.ring("b1", 201)
    office.ring("b2", 202)
    # 203 dials the pickup code: their phone calls into the PBX.
    office.leg(
        "p",
        "added",
        direction=A("inbound"),
        peer_location=A("internal"),
        calling_number=b"203",
        called_number=b"**201",
        user_id=203,
        state=(office.tick(), A("system_operation"), b"pickup"),
    )
    if bridge_first:
        office.answer("p", "a")
    office.hangup("b1", "send_cancel,PICKED_OFF")
    office.hangup("b2", "send_cancel,PICKED_OFF")
    if not bridge_first:
        office.answer("p", "a")
    for rung in ("201", "202"):
        assert office.of(rung) == [("incoming_call", None), ("ended", "picked_up")]
        event = office.last(rung)
        assert event.picked_up_by == "203"
        assert event.as_dict()["picked_up_by"] == "203"
    # The colleague answered a call that came in, from the caller.
    assert office.of("203")[-1] == ("answered", None)
    (call,) = office.tracker.calls_of("203")
    assert call.direction is CallDirection.INCOMING
    assert call.remote_number == CALLER
    assert call.our_number == "0312340000"


def test_a_colleague_picking_up_never_rings_and_the_call_counts_once(office: Office) -> None:
    """The picker's phone dials in (leg `p`, already naming the caller's leg): no ringing."""
    office.caller()
    office.ring("b1", 201)
    office.leg(
        "p",
        "added",
        direction=A("inbound"),
        peer_location=A("internal"),
        calling_number=b"203",
        called_number=b"pickup_uuid.a",
        other_uuid=b"a",
        user_id=203,
        state=(office.tick(), A("system_operation"), b"pickup"),
        last_event=A("CHANNEL_CREATE"),
    )
    assert office.tracker.phase_of("203") is CallPhase.IDLE
    assert office.of("203") == []
    office.answer("p", "a")
    office.hangup("b1", "send_cancel,PICKED_OFF")
    assert office.of("203") == [("incoming_call", None), ("answered", None)]
    assert office.tracker.phase_of("203") is CallPhase.TALKING
    assert office.of("201") == [("incoming_call", None), ("ended", "picked_up")]
    assert office.tracker.active_calls == 1  # two legs called in, but it is one call


def test_the_queue_letting_go_does_not_decide_where_the_call_went(office: Office) -> None:
    """A queued call leaves `channel_waiting` before its `channel` record turns to voicemail."""
    office._send((A("field_spec"), A("channel_waiting"), [A(f) for f in CHANNEL]))
    office.caller()
    queued = tuple(office.legs["a"].get(name, UNDEF) for name in CHANNEL)
    office._send((A("info_event"), A("channel_waiting"), queued, A("added")))
    office.ring("b1", 202)
    office.hangup("b1", "send_cancel,NO_ANSWER")
    office._send((A("info_event"), A("channel_waiting"), queued, A("removed")))
    assert office.of("202") == [("incoming_call", None)]
    office.leg("a", state=(office.tick(), A("voicemail"), A("group"), 9, b"sales"))
    assert office.of("202") == [("incoming_call", None), ("missed", "voicemail")]


def test_a_pickup_whose_picker_never_shows_still_ends(office: Office) -> None:
    office.caller()
    office.ring("b1", 201)
    office.hangup("b1", "send_cancel,PICKED_OFF")
    assert office.of("201") == [("incoming_call", None)]  # waits for the caller's next move
    office.hangup("a", "recv_bye,NORMAL_CLEARING")
    assert office.of("201")[-1] == ("ended", "picked_up")
    assert office.last("201").picked_up_by is None


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ("send_cancel,ORIGINATOR_CANCEL", ("missed", "caller_hung_up")),
        ("recv_refuse,USER_BUSY", ("missed", "busy")),
        ("recv_refuse,CALL_REJECTED", ("missed", "refused")),
        ("recv_refuse,INCOMPATIBLE_DESTINATION", ("missed", "refused")),
        ("send_cancel,LOSE_RACE", ("ended", "answered_elsewhere")),
    ],
)
def test_the_disposition_decides_at_once(
    office: Office, disposition: str, expected: tuple[str, str]
) -> None:
    office.caller()
    office.ring("b1", 201)
    office.hangup("b1", disposition)  # the caller's leg is still calling: no need to wait
    assert office.of("201") == [("incoming_call", None), expected]
    cause = disposition.split(",")[1]
    assert office.last("201").as_dict()["hangup_cause"] == cause


def test_no_answer_then_voicemail_is_missed_and_no_ones_answer(office: Office) -> None:
    office.caller()
    office.ring("b1", 201)
    office.hangup("b1", "send_cancel,NO_ANSWER")
    assert office.of("201") == [("incoming_call", None)]
    office.leg("a", state=(office.tick(), A("voicemail"), A("user"), 201, b"Yamada"))
    assert office.of("201") == [("incoming_call", None), ("missed", "voicemail")]
    # The voicemail app answers the caller: that is nobody's `answered`.
    office.leg("a", answer_timestamp=office.tick(), last_event=A("CHANNEL_ANSWER"))
    office.hangup("a", "recv_bye,NORMAL_CLEARING")
    assert office.of("201") == [("incoming_call", None), ("missed", "voicemail")]
    assert all(e.type is not CallEventType.ANSWERED for e in office.events)


def test_no_answer_then_the_caller_gives_up_stays_no_answer(office: Office) -> None:
    office.caller()
    office.ring("b1", 201)
    office.hangup("b1", "send_cancel,NO_ANSWER")
    office.hangup("a", "recv_cancel,ORIGINATOR_CANCEL")
    assert office.of("201")[-1] == ("missed", "no_answer")


def test_unknown_cause_is_kept_and_the_legs_decide(office: Office) -> None:
    office.caller()
    office.ring("b1", 201)
    office.hangup("b1", "send_cancel,SOMETHING_NEW")
    office.hangup("a", None)
    event = office.last("201")
    assert (event.type, event.reason) == (CallEventType.MISSED, EndReason.CALLER_HUNG_UP)
    assert (event.hangup_cause, event.hangup_side) == ("SOMETHING_NEW", "pbx")


@pytest.mark.parametrize(
    ("disposition", "reason"),
    [
        ("send_refuse,USER_BUSY", "busy"),
        ("send_bye,CALL_REJECTED", "refused"),
        ("recv_cancel,ORIGINATOR_CANCEL", "caller_hung_up"),
        ("send_bye,NO_ANSWER", "no_answer"),
        ("send_cancel,LOSE_RACE", "no_answer"),  # not the caller's to lose
        (None, "no_answer"),
    ],
)
def test_an_outgoing_call_nobody_answered(
    office: Office, disposition: str | None, reason: str
) -> None:
    office.leg(
        "o",
        "added",
        direction=A("inbound"),
        peer_location=A("internal"),
        calling_number=b"201",
        called_number=b"0120000000",
        user_id=201,
        state=(office.tick(), A("calling"), A("ext"), A("pstn"), (b"0120000000",)),
    )
    office.hangup("o", disposition)
    assert office.of("201") == [("outgoing_call", None), ("ended", reason)]
    assert office.last("201").call.direction is CallDirection.OUTGOING


def _call_user_leg(office: Office, **values: Any) -> None:
    """The leg a Basix API `call_user` request rings user 201 on, to call `values`' number."""
    office.leg(
        "u",
        "added",
        direction=A("outbound"),
        peer_location=A("internal"),
        calling_name="鈴木 花子".encode(),
        called_number=b"201",
        user_id=201,
        origination=b"call_user*202*sato.taro",
        state=(office.tick(), A("calling"), A("int"), A("user"), (201,)),
        last_event=A("CHANNEL_CREATE"),
        **values,
    )


def test_a_call_user_call_is_the_users_call_out_though_their_phone_rings(office: Office) -> None:
    """The PBX rings 201 to call 202: for 201 a call out to 202, answered when 202 answers."""
    _call_user_leg(office, calling_number=b"202")
    assert office.of("201") == [("outgoing_call", None)]
    [call] = office.tracker.calls_of("201")
    assert (call.direction, call.phase) == (CallDirection.OUTGOING, CallPhase.DIALING)
    assert (call.remote_number, call.remote_name, call.called_number) == ("202", "鈴木 花子", "202")
    # 201 picks up: the PBX only starts to dial, nobody answered 201's call yet.
    office.leg("u", answer_timestamp=office.tick(), last_event=A("CHANNEL_ANSWER"))
    office.leg(
        "d",
        "added",
        direction=A("outbound"),
        peer_location=A("internal"),
        calling_number=b"201",
        called_number=b"202",
        other_uuid=b"u",
        user_id=202,
        origination=b"call_user*202*sato.taro",
        state=(office.tick(), A("calling"), A("int"), A("user"), (202,)),
        last_event=A("CHANNEL_CREATE"),
    )
    office.leg("u", other_uuid=b"d", last_event=A("STATE_CHANGE"))
    assert office.tracker.phase_of("201") is CallPhase.DIALING
    assert office.of("201") == [("outgoing_call", None)]
    # 202's phone rings with a call from 201, as for any internal call.
    assert office.of("202") == [("incoming_call", None)]
    [theirs] = office.tracker.calls_of("202")
    assert (theirs.direction, theirs.remote_number) == (CallDirection.INCOMING, "201")
    assert office.tracker.active_calls == 1  # no leg called in, still one call

    bridged_at = office.clock + 1_000_000  # the next tick: the bridge's
    office.answer("d", "u")
    assert office.of("201") == [("outgoing_call", None), ("answered", None)]
    assert office.tracker.phase_of("201") is CallPhase.TALKING
    office.hangup("d", "recv_bye,NORMAL_CLEARING")
    office.hangup("u", "send_bye,NORMAL_CLEARING")
    ended = office.last("201")
    assert ended.type is CallEventType.ENDED
    # From 202's answer, not from 201 picking up.
    assert ended.call.answered_at == datetime.fromtimestamp(bridged_at / 1_000_000, UTC)
    assert ended.call.channel.hungup_at is not None
    assert ended.duration == (ended.call.channel.hungup_at - ended.call.answered_at).total_seconds()
    assert office.tracker.active_calls == 0


@pytest.mark.parametrize(
    ("disposition", "reason"),
    [
        ("recv_refuse,CALL_REJECTED", "refused"),
        ("send_cancel,NO_ANSWER", "no_answer"),
        ("send_cancel,ORIGINATOR_CANCEL", "caller_hung_up"),
    ],
)
def test_a_call_user_call_the_user_never_took_is_not_missed(
    office: Office, disposition: str, reason: str
) -> None:
    _call_user_leg(office, calling_number=b"0312345678")
    office.hangup("u", disposition)
    assert office.of("201") == [("outgoing_call", None), ("ended", reason)]
