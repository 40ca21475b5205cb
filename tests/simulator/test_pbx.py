"""The PBX model: every call flow emits the legs, events and dispositions protocol.md describes.

Each sequence is asserted as (event, leg, last_event, last_event_data) in order, the way the
`pbx` module docstring lists them: a client reading the current generation sees exactly this.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import unquote, unquote_plus

import pytest

from basix_simulator.office_day import STEPS, OfficeDay
from basix_simulator.pbx import (
    CHANNEL_FIELDS,
    FIELDS,
    NO_END_USER,
    CallStateError,
    ManualClock,
    Pbx,
    User,
)
from basix_simulator.traffic import SCENARIOS, RandomTraffic, Scenarios, run_scenario
from custom_components.basix_cti.cti.terms import Atom

SECOND = 1_000_000


class Events:
    """Everything the PBX announced, in order."""

    def __init__(self, pbx: Pbx) -> None:
        self.log: list[tuple[str, dict[str, Any], str]] = []
        self.unsubscribe = pbx.subscribe(lambda e, r, n: self.log.append((e, r, n)))

    def names(self, entity: str | None = "channel") -> list[tuple[str, str]]:
        """(event, uuid or id) per event of `entity` (all entities when None)."""
        return [
            (n, r.get("uuid") or r.get("id") or r.get("user_id"))
            for e, r, n in self.log
            if entity is None or e == entity
        ]

    def legs(self) -> list[tuple[str, str, str, str | None]]:
        """(event, uuid, last_event, last_event_data) of every channel change."""
        return [
            (n, r["uuid"], r["last_event"], r["last_event_data"])
            for e, r, n in self.log
            if e == "channel"
        ]

    def of(self, uuid: str) -> list[tuple[str, dict[str, Any]]]:
        return [(n, r) for e, r, n in self.log if e == "channel" and r["uuid"] == uuid]

    def last(self, uuid: str) -> dict[str, Any]:
        return self.of(uuid)[-1][1]

    def clear(self) -> None:
        self.log.clear()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def pbx(clock: ManualClock) -> Pbx:
    return Pbx.demo(users=8, groups=3, seed=7, clock=clock)


@pytest.fixture
def events(pbx: Pbx) -> Events:
    return Events(pbx)


def user(pbx: Pbx, ext: str) -> User:
    return pbx.user_by_extension(ext)


def created(uuid: str) -> tuple[str, str, str, None]:
    return ("added", uuid, "CHANNEL_CREATE", None)


def updated(uuid: str, last_event: str) -> tuple[str, str, str, None]:
    return ("updated", uuid, last_event, None)


def ended(uuid: str, disposition: str) -> tuple[str, str, str, str]:
    return ("removed", uuid, "CHANNEL_HANGUP", disposition)


# --- set-up ---------------------------------------------------------------------------------------


def test_demo_pbx() -> None:
    pbx = Pbx.demo()
    assert len(pbx.users) == 20
    assert [u.extension for u in pbx.users.values()] == [str(201 + i) for i in range(20)]
    assert len({u.id for u in pbx.users.values()}) == 20
    assert len({u.name for u in pbx.users.values()}) == 20
    first = pbx.user_by_extension("201")
    assert first.label == "佐藤 太郎"
    assert first.did == "0312345601"
    assert [g.extension for g in pbx.groups.values()] == ["601", "602", "603"]
    assert [(g.type, g.queue) for g in pbx.groups.values()] == [
        ("ring", False),
        ("ring", True),
        ("hunt", False),
    ]
    avatars = [u.avatar for u in pbx.users.values()]
    assert "" in avatars
    # plain file names, resolved by clients under basix/avatars/users/; a few absolute URLs
    assert any(a and "/" not in a for a in avatars)
    assert any(a.startswith("https://") for a in avatars)
    assert any(a.startswith("//") for a in avatars)
    assert pbx.mwi[pbx.user("202").id] == (2, 5)


def test_field_lists_are_the_readmes() -> None:
    assert len(FIELDS["channel"]) == 22
    assert FIELDS["user"] == (
        "id",
        "name",
        "fwd_always_status",
        "do_not_disturb_status",
        "language",
        "main_extension",
        "presence",
        "role",
        "park_group",
        "mwi_target",
        "flags",
        "followme",
        "email",
        "avatar",
        "label",
        "mwi",
    )
    assert FIELDS["group"] == (
        "id",
        "name",
        "type",
        "language",
        "main_extension",
        "queue",
        "label",
        "flags",
        "check_login_status",
        "mwi",
    )
    assert FIELDS["group_member"] == (
        "id",
        "group_id",
        "user_id",
        "priority",
        "login_status",
        "role",
    )
    assert FIELDS["terminal"] == (
        "id",
        "name",
        "assoc_user_id",
        "type",
        "user_agent",
        "registered",
    )


def test_records_have_field_spec_order(pbx: Pbx) -> None:
    call = pbx.incoming_call("201", caller="0312340000", caller_name="鈴木 花子")
    a = pbx.channels[call.uuid]
    assert tuple(a)[:22] == CHANNEL_FIELDS
    assert tuple(a)[22:] == ("user_name", "group_name")  # only the older generation sends them
    for entity in ("user", "group", "group_member", "terminal", "domain"):
        for record in pbx.snapshot(entity):
            assert tuple(record) == FIELDS[entity]
    (b,) = pbx.live_legs(call)[1:]
    record = pbx.channels[b]
    assert record["offer_timestamp"] > 10**15  # microseconds
    assert record["call_id"] == b  # the PBX placed this leg: its uuid is the SIP Call-ID
    assert a["call_id"] != a["uuid"]
    # end_user: id*name*organization*avatar*prefecture
    parts = a["end_user"].split("*")
    assert len(parts) == 5
    assert unquote_plus(parts[1]) == "鈴木 花子"
    info = record["other_info"]
    assert len(info) == 8
    assert info[0] == Atom("end_user")
    assert info[1] == a["end_user"]


def test_whoscall_is_url_encoded_json(pbx: Pbx) -> None:
    call = pbx.incoming_call("201", "0312340000", "鈴木", whoscall={"name": "鈴木商店", "spam": 0})
    (b,) = pbx.live_legs(call)[1:]
    whoscall = pbx.channels[b]["other_info"][7]
    assert json.loads(unquote(whoscall)) == {"name": "鈴木商店", "spam": 0}


def test_unknown_caller_is_all_stars(pbx: Pbx) -> None:
    assert NO_END_USER == "****"
    call = pbx.incoming_call("202", caller="0120000000", caller_name=None)
    assert pbx.channels[call.uuid]["end_user"] == NO_END_USER


# --- calls ----------------------------------------------------------------------------------------


def test_incoming_answered_caller_hangs_up(pbx: Pbx, events: Events, clock: ManualClock) -> None:
    call = pbx.incoming_call("201")
    a, b = call.legs
    clock.advance(3)
    pbx.answer(call)
    assert pbx.channels[a]["last_bridged_user_id"] == user(pbx, "201").id
    pbx.caller_hangs_up(call)
    assert events.legs() == [
        created(a),
        created(b),
        updated(b, "CHANNEL_ANSWER"),
        updated(a, "CHANNEL_BRIDGE"),
        updated(b, "CHANNEL_BRIDGE"),
        ended(a, "recv_bye,NORMAL_CLEARING"),
        ended(b, "send_bye,NORMAL_CLEARING"),
    ]
    assert events.last(a)["hangup_timestamp"] == clock.now
    assert pbx.channels == {}
    assert call.ended


def test_incoming_answered_user_hangs_up(pbx: Pbx, events: Events) -> None:
    call = pbx.incoming_call("201")
    a, b = call.legs
    pbx.answer(call)
    events.clear()
    pbx.hangup(call)
    assert events.legs() == [
        ended(b, "recv_bye,NORMAL_CLEARING"),
        ended(a, "send_bye,NORMAL_CLEARING"),
    ]


def test_ring_group_answered_by_one_member(pbx: Pbx, events: Events) -> None:
    group = pbx.group("601")
    call = pbx.incoming_call(group)
    a, *rung = call.legs
    assert len(rung) == len(group.members) >= 2
    winner = group.members[1]
    pbx.answer(call, by=winner)
    won = next(leg for leg in rung if events.last(leg)["user_id"] == winner)
    lost = [leg for leg in rung if leg != won]
    assert events.legs()[len(call.legs) :] == [
        updated(won, "CHANNEL_ANSWER"),
        *[ended(leg, "send_cancel,LOSE_RACE") for leg in lost],
        updated(a, "CHANNEL_BRIDGE"),
        updated(won, "CHANNEL_BRIDGE"),
    ]
    assert call.answered_by == winner


def test_queued_group_call_waits_in_channel_waiting(pbx: Pbx, events: Events) -> None:
    group = pbx.group("602")
    assert group.queue
    call = pbx.incoming_call(group)
    assert set(pbx.waiting) == {call.uuid}
    assert pbx.queued == pbx.waiting
    waiting = pbx.waiting[call.uuid]
    assert waiting["state"][1:4] == ("calling", "int", "group")
    assert waiting["state"][4] == ("ring", group.id, None, None, group.name)
    pbx.answer(call)
    assert pbx.waiting == {}
    assert [n for n, _ in events.names("channel_waiting")] == ["added", "removed"]


def test_caller_gives_up(pbx: Pbx, events: Events) -> None:
    call = pbx.incoming_call("601")
    a, *rung = call.legs
    events.clear()
    pbx.caller_hangs_up(call)
    assert events.legs() == [
        ended(a, "recv_cancel,ORIGINATOR_CANCEL"),
        *[ended(leg, "send_cancel,ORIGINATOR_CANCEL") for leg in rung],
    ]


def test_call_pickup_by_a_colleague(pbx: Pbx, events: Events) -> None:
    call = pbx.incoming_call("201")
    a, b = call.legs
    events.clear()
    picker = user(pbx, "204")
    pbx.call_pickup(call, picker)
    c = call.legs[-1]
    assert events.legs() == [
        created(c),
        updated(c, "CHANNEL_ANSWER"),
        ended(b, "send_cancel,PICKED_OFF"),
        updated(a, "CHANNEL_BRIDGE"),
        updated(c, "CHANNEL_BRIDGE"),
    ]
    leg = events.last(c)
    assert leg["user_id"] == picker.id
    assert leg["called_number"] == f"pickup_uuid.{a}"
    assert leg["other_uuid"] == a
    assert call.answered_by == picker.id
    with pytest.raises(CallStateError):
        pbx.call_pickup(call, "205")  # nothing rings any more


def test_call_pickup_refuses_the_rung_user(pbx: Pbx) -> None:
    call = pbx.incoming_call("201")
    with pytest.raises(CallStateError, match="answer it"):
        pbx.call_pickup(call, "201")


def test_ring_timeout(pbx: Pbx, events: Events) -> None:
    call = pbx.incoming_call("601")
    a, *rung = call.legs
    events.clear()
    pbx.ring_timeout(call)
    assert events.legs() == [
        *[ended(leg, "send_cancel,NO_ANSWER") for leg in rung],
        ended(a, "send_refuse,NO_ANSWER"),
    ]


@pytest.mark.parametrize("kind", ["internal", "outgoing"])
def test_busy_callee(pbx: Pbx, events: Events, kind: str) -> None:
    if kind == "internal":
        call = pbx.internal_call("201", "202")
    else:
        call = pbx.outgoing_call("201", "0398765432")
    a, b = call.legs
    events.clear()
    pbx.busy(call)
    assert events.legs() == [
        ended(b, "recv_refuse,USER_BUSY"),
        ended(a, "send_refuse,USER_BUSY"),
    ]


def test_declined_call(pbx: Pbx, events: Events) -> None:
    call = pbx.incoming_call("201")
    a, b = call.legs
    events.clear()
    pbx.hangup(call)  # the rung user declines
    assert events.legs() == [
        ended(b, "recv_refuse,CALL_REJECTED"),
        ended(a, "send_refuse,CALL_REJECTED"),
    ]


def test_max_duration(pbx: Pbx, events: Events) -> None:
    call = pbx.incoming_call("201")
    a, b = call.legs
    pbx.answer(call)
    events.clear()
    pbx.max_duration(call)
    assert sorted(events.legs()) == sorted(
        [ended(a, "send_bye,ALLOTTED_TIMEOUT"), ended(b, "send_bye,ALLOTTED_TIMEOUT")]
    )


def test_to_voicemail_leaves_a_message(pbx: Pbx, events: Events) -> None:
    target = user(pbx, "204")
    call = pbx.incoming_call(target)
    a, b = call.legs
    events.clear()
    pbx.to_voicemail(call)
    assert events.legs() == [
        ended(b, "send_cancel,NO_ANSWER"),
        updated(a, "CHANNEL_ANSWER"),
        ended(a, "recv_bye,NORMAL_CLEARING"),
    ]
    assert events.of(a)[0][1]["state"][1:] == ("voicemail", "user", target.id, target.label)
    (update,) = [(r, n) for e, r, n in events.log if e == "user"]
    assert update[1] == "updated"
    assert update[0]["mwi"] == (1, 0)
    assert call.answered_by is None  # the voicemail app took the call, not a user


def test_voicemail_held_open_until_the_caller_hangs_up(pbx: Pbx, events: Events) -> None:
    call = pbx.incoming_call("204")
    pbx.to_voicemail(call, hang_up=False)
    assert call.status == "voicemail"
    assert user(pbx, "204").id in [c.voicemail_user.id for c in pbx.calls_of("204")]  # type: ignore[union-attr]
    assert pbx.mwi[user(pbx, "204").id] == (0, 0)
    pbx.hangup(call)
    assert events.legs()[-1] == ended(call.uuid, "recv_bye,NORMAL_CLEARING")
    assert pbx.mwi[user(pbx, "204").id] == (1, 0)


def test_voicemail_without_message_keeps_the_count(pbx: Pbx) -> None:
    call = pbx.incoming_call("204")
    pbx.to_voicemail(call, leave_message=False)
    assert pbx.mwi[user(pbx, "204").id] == (0, 0)


def test_group_voicemail_counts_in_the_groups_box(pbx: Pbx, events: Events) -> None:
    group = pbx.group("602")
    call = pbx.incoming_call(group)
    pbx.to_voicemail(call)
    assert pbx.group_mwi[group.id] == (1, 0)
    (record,) = [r for e, r, n in events.log if e == "group"]
    assert record["mwi"] == (1, 0)
    assert pbx.waiting == {}


def test_outgoing_call(pbx: Pbx, events: Events) -> None:
    caller = user(pbx, "203")
    call = pbx.outgoing_call(caller, "0398765432")
    a, b = call.legs
    rec_a, rec_b = pbx.channels[a], pbx.channels[b]
    assert (rec_a["direction"], rec_a["user_id"]) == ("inbound", caller.id)
    assert (rec_b["direction"], rec_b["user_id"], rec_b["peer_location"]) == (
        "outbound",
        None,
        "external",
    )
    assert rec_a["state"][1:] == ("calling", "ext", "pstn", ("0398765432",))
    pbx.answer(call)
    assert pbx.channels[b]["last_bridged_user_id"] == caller.id
    events.clear()
    pbx.far_end_hangs_up(call)
    assert events.legs() == [
        ended(b, "recv_bye,NORMAL_CLEARING"),
        ended(a, "send_bye,NORMAL_CLEARING"),
    ]


def test_outgoing_call_given_up(pbx: Pbx, events: Events) -> None:
    call = pbx.outgoing_call("203", "0398765432")
    a, b = call.legs
    events.clear()
    pbx.hangup(call)
    assert events.legs() == [
        ended(a, "recv_cancel,ORIGINATOR_CANCEL"),
        ended(b, "send_cancel,ORIGINATOR_CANCEL"),
    ]


def test_internal_call(pbx: Pbx, events: Events) -> None:
    call = pbx.internal_call("201", "202")
    a, b = call.legs
    assert pbx.channels[a]["user_id"] == user(pbx, "201").id
    assert pbx.channels[b]["user_id"] == user(pbx, "202").id
    assert {pbx.channels[leg]["peer_location"] for leg in call.legs} == {"internal"}
    pbx.answer(call)
    events.clear()
    pbx.caller_hangs_up(call)
    assert events.legs() == [
        ended(a, "recv_bye,NORMAL_CLEARING"),
        ended(b, "send_bye,NORMAL_CLEARING"),
    ]


def test_hold_and_unhold(pbx: Pbx, events: Events) -> None:
    call = pbx.incoming_call("201")
    _, b = call.legs
    pbx.answer(call)
    events.clear()
    pbx.hold(call)
    with pytest.raises(CallStateError):
        pbx.hold(call)
    pbx.unhold(call)
    with pytest.raises(CallStateError):
        pbx.unhold(call)
    assert events.legs() == [updated(b, "CHANNEL_HOLD"), updated(b, "CHANNEL_UNHOLD")]


def test_blind_transfer(pbx: Pbx, events: Events) -> None:
    call = pbx.incoming_call("201")
    a, b = call.legs
    pbx.answer(call)
    events.clear()
    pbx.transfer(call, "203")
    c = call.legs[-1]
    assert events.legs() == [
        created(c),
        ended(b, "recv_bye,NORMAL_CLEARING"),
        updated(a, "STATE_CHANGE"),
    ]
    assert events.last(a)["state"][1:4] == ("calling", "int", "user")
    assert events.last(c)["user_id"] == user(pbx, "203").id
    pbx.answer(call)
    assert call.answered_by == user(pbx, "203").id


def test_transfer_unanswered_then_the_caller_hangs_up(pbx: Pbx, events: Events) -> None:
    call = pbx.incoming_call("201")
    a, _ = call.legs
    pbx.answer(call)
    pbx.transfer(call, "203")
    c = call.legs[-1]
    events.clear()
    pbx.caller_hangs_up(call)
    assert events.legs() == [
        ended(a, "recv_bye,NORMAL_CLEARING"),
        ended(c, "send_cancel,ORIGINATOR_CANCEL"),
    ]


def test_park_and_pickup(pbx: Pbx, events: Events, clock: ManualClock) -> None:
    parker = user(pbx, "202")
    call = pbx.incoming_call(parker)
    a, b = call.legs
    pbx.answer(call)
    events.clear()
    clock.advance(10)
    slot = pbx.park(call)
    first = 901 + parker.park_group * 3
    assert slot == str(first)
    assert events.legs() == [updated(a, "STATE_CHANGE"), ended(b, "recv_bye,NORMAL_CLEARING")]
    (waiting,) = [(r, n) for e, r, n in events.log if e == "channel_waiting"]
    assert waiting[1] == "added"
    assert waiting[0]["state"] == (clock.now, "park", first, None, parker.id, parker.label)
    assert pbx.parked == pbx.waiting
    assert pbx.parked_slots == {slot: a}
    with pytest.raises(CallStateError):
        pbx.park(call)  # not talking any more
    assert pbx.free_park_slot(parker) == str(first + 1)
    events.clear()
    pbx.pickup(slot, "205")
    c = call.legs[-1]
    assert events.legs() == [
        created(c),
        updated(c, "CHANNEL_ANSWER"),
        updated(a, "CHANNEL_BRIDGE"),
        updated(c, "CHANNEL_BRIDGE"),
    ]
    assert [n for n, _ in events.names("channel_waiting")] == ["removed"]
    assert pbx.waiting == {}
    assert pbx.parked_slots == {}
    with pytest.raises(CallStateError):
        pbx.pickup(slot, "205")


def test_park_slots_run_out_into_the_shared_ones(pbx: Pbx) -> None:
    parker = user(pbx, "201")
    base = 901 + parker.park_group * 3
    slots = []
    for _ in range(4):
        call = pbx.incoming_call(parker)
        pbx.answer(call)
        slots.append(pbx.park(call))
    assert slots == [str(base), str(base + 1), str(base + 2), "997"]


def test_hangup_while_parked(pbx: Pbx, events: Events) -> None:
    call = pbx.incoming_call("201")
    pbx.answer(call)
    pbx.park(call)
    events.clear()
    pbx.caller_hangs_up(call)
    assert events.legs() == [ended(call.uuid, "recv_bye,NORMAL_CLEARING")]
    assert [n for n, _ in events.names("channel_waiting")] == ["removed"]
    assert pbx.parked_slots == {}


# --- users, groups, mailboxes ---------------------------------------------------------------------


def test_users_come_and_go(pbx: Pbx, events: Events) -> None:
    new = pbx.add_user(label="新人", extension="299")
    assert events.names(None) == [("added", new.id), ("added", f"t{new.id}"), ("added", new.id)]
    assert [e for e, _, _ in events.log] == ["user", "terminal", "mwi"]
    events.clear()
    pbx.update_user(new, label="新人さん", registered=False)
    assert [(e, n) for e, _, n in events.log] == [("user", "updated"), ("terminal", "updated")]
    member = user(pbx, "201")
    call = pbx.incoming_call(member)
    pbx.answer(call)
    events.clear()
    pbx.remove_user(member)
    assert [(e, n) for e, _, n in events.log] == [
        ("channel", "removed"),
        ("channel", "removed"),
        ("group_member", "removed"),
        ("terminal", "removed"),
        ("user", "removed"),
        ("mwi", "removed"),
    ]
    assert member.id not in pbx.users
    assert all(member.id not in g.members for g in pbx.groups.values())
    with pytest.raises(ValueError, match="exists"):
        pbx.add_user(id=user(pbx, "202").id)


def test_add_group(pbx: Pbx, events: Events) -> None:
    group = pbx.add_group("night", members=["201", "202"], type="queue")
    assert (group.type, group.queue) == ("ring", True)
    assert [(e, n) for e, _, n in events.log] == [
        ("group", "added"),
        ("group_member", "added"),
        ("group_member", "added"),
    ]
    assert events.log[1][1]["user_id"] == user(pbx, "201").id
    with pytest.raises(ValueError, match="type"):
        pbx.add_group("odd", type="circle")


def test_set_mwi(pbx: Pbx, events: Events) -> None:
    pbx.set_mwi("203", 3, 4)
    assert pbx.mwi[user(pbx, "203").id] == (3, 4)
    assert [(e, n) for e, _, n in events.log] == [("user", "updated"), ("mwi", "updated")]
    assert events.log[0][1]["mwi"] == (3, 4)
    events.clear()
    pbx.set_mwi("601", 1, 2)
    assert [(e, n) for e, _, n in events.log] == [("group", "updated")]
    assert events.log[0][1]["mwi"] == (1, 2)


def test_subscribers_get_copies_and_can_leave(pbx: Pbx, events: Events) -> None:
    call = pbx.incoming_call("201")
    first = events.log[0][1]
    pbx.answer(call)
    assert first["answer_timestamp"] is None  # not changed by later events
    events.unsubscribe()
    events.unsubscribe()  # twice is harmless
    pbx.hangup(call)
    assert all(n != "removed" for _, _, n in events.log)


# --- the office day -------------------------------------------------------------------------------


def office_pbx() -> Pbx:
    return Pbx.demo(users=6, groups=2, seed=1, clock=ManualClock())


def test_office_day_emits_each_disposition_in_its_step() -> None:
    pbx = office_pbx()
    day = OfficeDay(pbx)
    results = {r.name: r for r in day.run()}
    assert day.done
    assert pbx.channels == {}
    assert pbx.calls == {}
    assert pbx.waiting == {}
    ext = {u.id: u.extension for u in pbx.users.values()}

    def endings(step: str) -> list[tuple[str | None, str]]:
        return [
            (ext.get(r["user_id"]), r["last_event_data"])
            for e, r, n in results[step].changes
            if e == "channel" and n == "removed"
        ]

    assert endings("sales_call_answered") == [
        ("201", "send_cancel,LOSE_RACE"),
        ("205", "send_cancel,LOSE_RACE"),
    ]
    assert endings("sales_call_ends") == [
        (None, "recv_bye,NORMAL_CLEARING"),
        ("203", "send_bye,NORMAL_CLEARING"),
    ]
    assert endings("abandoned_call_ends") == [
        (None, "recv_cancel,ORIGINATOR_CANCEL"),
        ("202", "send_cancel,ORIGINATOR_CANCEL"),
    ]
    assert endings("voicemail_taken") == [("204", "send_cancel,NO_ANSWER")]
    assert endings("voicemail_left") == [(None, "recv_bye,NORMAL_CLEARING")]
    assert endings("outgoing_call_ends") == [
        ("205", "recv_bye,NORMAL_CLEARING"),
        (None, "send_bye,NORMAL_CLEARING"),
    ]
    assert endings("busy_call_refused") == [
        ("206", "recv_refuse,USER_BUSY"),
        ("201", "send_refuse,USER_BUSY"),
    ]
    assert endings("pickup_call_picked_up") == [("202", "send_cancel,PICKED_OFF")]
    assert endings("pickup_call_ends") == [
        ("204", "recv_bye,NORMAL_CLEARING"),
        (None, "send_bye,NORMAL_CLEARING"),
    ]
    assert endings("park_call_parked") == [("201", "recv_bye,NORMAL_CLEARING")]
    assert endings("park_call_ends") == [
        (None, "recv_bye,NORMAL_CLEARING"),
        ("203", "send_bye,NORMAL_CLEARING"),
    ]
    assert endings("transfer_call_transferred") == [("205", "recv_bye,NORMAL_CLEARING")]
    assert endings("transfer_call_ends") == [
        ("206", "recv_bye,NORMAL_CLEARING"),
        (None, "send_bye,NORMAL_CLEARING"),
    ]
    assert endings("support_voicemail_taken") == [
        ("202", "send_cancel,NO_ANSWER"),
        ("204", "send_cancel,NO_ANSWER"),
        ("206", "send_cancel,NO_ANSWER"),
    ]
    waiting = [
        (step, n, r["state"][1])
        for step, result in results.items()
        for e, r, n in result.changes
        if e == "channel_waiting"
    ]
    assert waiting == [
        ("park_call_parked", "added", "park"),
        ("park_call_unparked", "removed", "park"),
        ("support_call_rings", "added", "calling"),
        ("support_voicemail_taken", "removed", "calling"),
    ]
    voicemail = {
        (e, ext.get(r["id"], r["id"]), r["mwi"])
        for result in results.values()
        for e, r, n in result.changes
        if e in ("user", "group")
    }
    assert voicemail == {("user", "204", (1, 0)), ("group", pbx.group("602").id, (1, 0))}
    # The picker and the unparker are answered; the voicemail takes its callers unanswered.
    assert results["pickup_call_picked_up"].call.answered_by == pbx.user("204").id  # type: ignore[union-attr]
    assert results["park_call_unparked"].call.answered_by == pbx.user("203").id  # type: ignore[union-attr]
    assert results["voicemail_left"].call.answered_by is None  # type: ignore[union-attr]


def test_office_day_is_deterministic_and_steppable() -> None:
    first, second = OfficeDay(office_pbx()), OfficeDay(office_pbx())
    assert first.next_step is STEPS[0]
    head = first.run_until("sales_call_answered")
    assert [r.name for r in head] == ["sales_call_rings", "sales_call_answered"]
    assert first.pbx.calls  # the customer is still talking with 203
    rest = first.run()
    assert len(head) + len(rest) == len(STEPS)
    assert [r.channel_events() for r in [*head, *rest]] == [
        r.channel_events() for r in second.run()
    ]
    assert first.pbx.clock() == second.pbx.clock() > ManualClock().now
    with pytest.raises(IndexError):
        first.step()
    with pytest.raises(KeyError):
        OfficeDay(office_pbx()).run_until("lunch")


def test_office_day_needs_its_pbx() -> None:
    with pytest.raises(KeyError):
        OfficeDay(Pbx.demo(users=3, groups=1, clock=ManualClock()))


# --- kept from before


def test_same_seed_same_uuids() -> None:
    first, second = Pbx.demo(seed=3), Pbx.demo(seed=3)
    assert first.incoming_call("201").legs == second.incoming_call("201").legs
    assert Pbx.demo(seed=4).incoming_call("201").legs != first.incoming_call("201").legs


def test_lookups(pbx: Pbx) -> None:
    u = user(pbx, "202")
    for key in (u.id, u.extension, u.name, u.email, u.did):
        assert key is not None
        assert pbx.user(key) == u
    assert pbx.find_user("label", u.label) == u
    assert pbx.find_user("extension", "999") is None
    group = next(iter(pbx.groups.values()))
    assert pbx.resolve("601") == group
    assert pbx.group(group.name) == group
    with pytest.raises(KeyError):
        pbx.resolve("nobody")


def test_unknown_caller_has_no_end_user(pbx: Pbx) -> None:
    call = pbx.incoming_call("202", caller="0120000000", caller_name=None)
    assert pbx.channels[call.uuid]["end_user"] == NO_END_USER
    assert pbx.channels[call.uuid]["calling_name"] is None
    # a known number is resolved from the address book next time
    pbx.incoming_call("203", caller="09012345678")
    pbx.hangup(call)
    again = pbx.incoming_call("204", caller="09012345678", caller_name=None)
    assert "%E5%B1%B1%E7%94%B0" in pbx.channels[again.uuid]["end_user"]


def test_incoming_on_user_without_did_uses_main_number(pbx: Pbx) -> None:
    nodid = next(u for u in pbx.users.values() if u.did is None)
    call = pbx.incoming_call(nodid.id)
    assert pbx.channels[call.uuid]["called_number"] == pbx.main_number
    explicit = pbx.incoming_call("201", did="0355550000")
    assert pbx.channels[explicit.uuid]["target"][3] == "0355550000"


def test_answer_by_someone_not_rung(pbx: Pbx) -> None:
    call = pbx.incoming_call("201")
    with pytest.raises(CallStateError):
        pbx.answer(call, by="202")


def test_internal_call_to_a_group(pbx: Pbx) -> None:
    group = pbx.group("603")
    caller = next(u for u in pbx.users.values() if u.id not in group.members)
    call = pbx.internal_call(caller, "603")
    assert len(call.legs) == 1 + len(group.members)


def test_transfer_of_an_outgoing_call(pbx: Pbx) -> None:
    call = pbx.outgoing_call("201", "0398765432")
    pbx.answer(call)
    a, b = call.legs
    pbx.transfer(call, "202")
    assert a not in pbx.channels  # the transferring user's own leg
    (c,) = [leg for leg in call.legs if leg not in (a, b)]
    assert pbx.channels[c]["calling_number"] == "0398765432"
    assert pbx.channels[c]["other_uuid"] == b
    pbx.answer(call)
    assert call.answered_by == user(pbx, "202").id
    pbx.caller_hangs_up(call)
    assert pbx.channels == {}


def test_a_failing_subscriber_does_not_break_the_pbx(
    pbx: Pbx, events: Events, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(entity: str, record: dict[str, Any], event: str) -> None:
        raise RuntimeError("boom")

    pbx.subscribe(broken)
    pbx.incoming_call("201")
    assert len(events.log) == 2
    assert "listener failed" in caplog.text


def test_calls_of(pbx: Pbx) -> None:
    first = pbx.incoming_call("601")
    second = pbx.internal_call("201", "202")
    member = pbx.group("601").members[0]
    assert first in pbx.calls_of(member)
    assert pbx.calls_of("202") == [second] or second in pbx.calls_of("202")
    assert second in pbx.calls_of("201")


async def test_scenarios_need_idle_users() -> None:
    pbx = Pbx.demo(users=1, groups=0, seed=2)
    scenarios = Scenarios(pbx, time_scale=0)
    pbx.incoming_call("201")
    assert scenarios.idle_users() == []
    with pytest.raises(RuntimeError, match="idle users"):
        await scenarios.play("internal")


async def test_a_cancelled_scenario_hangs_up() -> None:
    pbx = Pbx.demo(users=4, groups=1, seed=2)
    task = asyncio.create_task(run_scenario(pbx, "incoming_answered", time_scale=1.0))
    for _ in range(5):
        await asyncio.sleep(0)
    assert pbx.channels
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pbx.channels == {}


async def test_a_call_ended_from_outside_stops_its_scenario() -> None:
    pbx = Pbx.demo(users=4, groups=1, seed=2)
    task = asyncio.create_task(run_scenario(pbx, "hold", time_scale=0.001))
    for _ in range(5):
        await asyncio.sleep(0)
    (call,) = pbx.calls.values()
    pbx.hangup(call)
    assert (await task) is call


# --- traffic --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_each_scenario_plays_to_the_end(name: str) -> None:
    pbx = Pbx.demo(users=8, groups=3, seed=2)
    events = Events(pbx)
    call = await run_scenario(pbx, name, time_scale=0, seed=5)
    assert call is not None
    assert call.ended
    assert pbx.channels == {}
    assert pbx.calls == {}
    assert pbx.waiting == {}
    legs = events.legs()
    added = [leg for n, leg, _, _ in legs if n == "added"]
    removed = [leg for n, leg, _, data in legs if n == "removed" and data]
    assert sorted(added) == sorted(removed)
    assert len(added) >= 2


async def test_random_traffic_is_bounded_and_cleans_up() -> None:
    pbx = Pbx.demo(users=9, groups=2, seed=3)
    seen: set[str] = set()
    dispositions: set[str] = set()
    most = 0

    def watch(entity: str, record: dict[str, Any], event: str) -> None:
        nonlocal most
        if entity == "channel":
            seen.add(record["last_event"])
            if record["last_event_data"]:
                dispositions.add(record["last_event_data"].split(",")[1])
        most = max(most, len(pbx.calls))

    pbx.subscribe(watch)
    traffic = RandomTraffic(pbx, calls_per_minute=6000, seed=1, time_scale=0.002, max_calls=3)
    task = asyncio.create_task(traffic.run())
    await asyncio.sleep(1.5)
    assert traffic.started > 10
    assert traffic.running <= 3
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert most <= 3
    assert traffic.running == 0
    assert pbx.channels == {}
    assert pbx.calls == {}
    assert {"CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_BRIDGE", "CHANNEL_HANGUP"} <= seen
    assert {"NORMAL_CLEARING", "ORIGINATOR_CANCEL"} <= dispositions
