"""The PBX model: every call flow emits the legs and events docs/calls.md describes."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote_plus

import pytest

from basix_simulator.pbx import (
    CHANNEL_FIELDS,
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
    assert first.email == "sato.taro@example.basix"
    assert all(" " in u.label and not u.label.isascii() for u in pbx.users.values())
    assert any(u.did is None for u in pbx.users.values())
    avatars = {u.avatar for u in pbx.users.values()}
    assert "" in avatars
    assert any(a.startswith("https://") for a in avatars)
    assert any(a.startswith("//") for a in avatars)
    assert any(a and "/" not in a for a in avatars)
    assert [g.extension for g in pbx.groups.values()] == ["601", "602", "603"]
    assert [g.type for g in pbx.groups.values()] == ["ring", "queue", "ring"]
    members = [m for g in pbx.groups.values() for m in g.members]
    assert sorted(members) == sorted(pbx.users)
    assert set(pbx.mwi) == set(pbx.users)
    assert sum(new for new, _ in pbx.mwi.values()) == 3
    with pytest.raises(KeyError):
        pbx.user_by_extension("999")


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


def test_records_have_field_spec_order(pbx: Pbx) -> None:
    call = pbx.incoming_call("201")
    for leg in call.legs:
        assert tuple(pbx.channels[leg]) == CHANNEL_FIELDS
    assert tuple(pbx.snapshot("user")[0]) == (
        "id",
        "name",
        "label",
        "extension",
        "did",
        "email",
        "avatar",
    )
    group = pbx.snapshot("group")[0]
    assert group["type"] == Atom("ring")
    assert isinstance(group["type"], Atom)
    assert isinstance(group["members"], list)
    assert tuple(pbx.snapshot("mwi")[0]) == ("user_id", "mailbox", "new_messages", "old_messages")
    with pytest.raises(ValueError, match="unknown entity"):
        pbx.snapshot("nothing")


# --- incoming calls -------------------------------------------------------------------------------


def test_incoming_answered_and_hung_up(pbx: Pbx, events: Events, clock: ManualClock) -> None:
    u = user(pbx, "201")
    start = clock.now
    call = pbx.incoming_call(
        "201", caller="09011112222", caller_name="山田 太郎", organization="ACME Co."
    )
    a, b = call.legs
    assert call.uuid == a
    assert events.names() == [("CHANNEL_CREATE", a), ("CHANNEL_CREATE", b)]
    ra, rb = pbx.channels[a], pbx.channels[b]
    assert ra["direction"] == "inbound"
    assert isinstance(ra["direction"], Atom)
    assert ra["peer_location"] == "external"
    assert ra["user_id"] is None
    assert ra["calling_number"] == "09011112222"
    assert ra["calling_name"] == "山田 太郎"
    assert ra["called_number"] == u.did
    assert ra["target"] == (Atom("user"), u.id, u.label, u.did)
    assert ra["state"] == (start, Atom("calling"), Atom("internal"), Atom("user"), (u.id,))
    assert ra["offer_timestamp"] == start
    assert ra["answer_timestamp"] is None
    contact_id, name, org, avatar = (unquote_plus(p) for p in ra["end_user"].split("*"))
    assert (name, org, avatar) == ("山田 太郎", "ACME Co.", "")
    assert contact_id
    assert "+" in ra["end_user"]  # spaces form-encoded
    assert ra["other_info"] == (
        Atom("user"),
        u.id,
        Atom("outbound"),
        Atom("internal"),
        "201",
        start,
        None,
    )
    assert rb["direction"] == "outbound"
    assert rb["peer_location"] == "internal"
    assert rb["user_id"] == u.id
    assert rb["user_name"] == u.name
    assert rb["calling_number"] == "09011112222"
    assert rb["called_number"] == "201"
    assert rb["target"] == ra["target"]
    assert rb["end_user"] == ra["end_user"]
    assert rb["other_uuid"] == a
    assert rb["state"][1:] == (Atom("calling"), Atom("internal"), Atom("user"), (u.id,))
    assert rb["other_info"][:5] == (
        Atom("pstn"),
        ra["end_user"],
        Atom("inbound"),
        Atom("external"),
        "09011112222",
    )
    assert call.status == "ringing"

    events.clear()
    clock.advance(4)
    pbx.answer(call)
    assert events.names() == [("CHANNEL_ANSWER", b), ("CHANNEL_BRIDGE", a), ("CHANNEL_BRIDGE", b)]
    answer_b = events.of(b)[0][1]
    assert answer_b["answer_timestamp"] == start + 4 * SECOND
    assert answer_b["last_event"] == "CHANNEL_ANSWER"
    for leg in (a, b):
        assert pbx.channels[leg]["state"] == (clock.now, Atom("bridged"))
        assert pbx.channels[leg]["answer_timestamp"] == clock.now
        assert pbx.channels[leg]["last_event"] == "CHANNEL_BRIDGE"
    assert pbx.channels[a]["other_uuid"] == b
    assert call.status == "talking"
    assert call.answered_by == u.id

    events.clear()
    clock.advance(30)
    pbx.hangup(call)
    assert events.names() == [("CHANNEL_HANGUP", b), ("CHANNEL_HANGUP", a)]
    for _, record in events.of(a) + events.of(b):
        assert record["hangup_timestamp"] == clock.now
        assert record["last_event"] == "CHANNEL_HANGUP"
    assert pbx.channels == {}
    assert pbx.calls == {}
    assert call.ended
    with pytest.raises(CallStateError):
        pbx.hangup(call)
    with pytest.raises(CallStateError):
        pbx.answer(call)


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


def test_ring_group_answered_by_one_member(pbx: Pbx, events: Events) -> None:
    group = pbx.group("601")
    call = pbx.incoming_call("601")
    a, *bs = call.legs
    assert len(bs) == len(group.members) >= 2
    ra = pbx.channels[a]
    assert ra["target"] == (Atom("group"), group.id, group.label, pbx.main_number)
    assert ra["state"][1:4] == (Atom("calling"), Atom("internal"), Atom("group"))
    assert ra["state"][4] == (Atom("ring"), group.id, None, None, group.id)
    assert ra["group_id"] == group.id
    assert ra["group_name"] == group.name
    assert ra["other_info"] is None
    assert [pbx.channels[b]["user_id"] for b in bs] == list(group.members)
    assert all(pbx.channels[b]["group_id"] == group.id for b in bs)

    events.clear()
    answerer = group.members[1]
    winner = bs[1]
    pbx.answer(call, by=answerer)
    names = events.names()
    assert names[0] == ("CHANNEL_ANSWER", winner)
    assert sorted(names[1:-2]) == sorted(("CHANNEL_HANGUP", b) for b in bs if b != winner)
    assert names[-2:] == [("CHANNEL_BRIDGE", a), ("CHANNEL_BRIDGE", winner)]
    for b in bs:
        if b != winner:
            assert events.last(b)["answer_timestamp"] is None
            assert events.last(b)["hangup_timestamp"] is not None
    assert pbx.channels[a]["other_uuid"] == winner
    assert pbx.channels[a]["other_info"][:2] == (Atom("user"), answerer)
    assert set(pbx.channels) == {a, winner}
    assert call.answered_by == answerer


def test_answer_by_someone_not_rung(pbx: Pbx) -> None:
    call = pbx.incoming_call("201")
    with pytest.raises(CallStateError):
        pbx.answer(call, by="202")


def test_queue_group_lists_the_waiting_call(pbx: Pbx, events: Events) -> None:
    call = pbx.incoming_call("602")
    assert list(pbx.queued) == [call.uuid]
    assert ("QUEUE_JOIN", call.uuid) in events.names("queued_channel")
    assert pbx.channels[call.uuid]["state"][4][0] == Atom("queue")
    assert pbx.channels[call.uuid]["state"][4][4] is None  # QueueId only for ring groups
    pbx.answer(call)
    assert events.names("queued_channel") == [
        ("QUEUE_JOIN", call.uuid),
        ("QUEUE_REMOVE", call.uuid),
    ]
    assert pbx.queued == {}


def test_caller_gives_up_is_a_missed_call(pbx: Pbx, events: Events) -> None:
    call = pbx.incoming_call("601")
    a, *bs = call.legs
    events.clear()
    pbx.caller_hangs_up(call)
    names = events.names()
    assert names[0] == ("CHANNEL_HANGUP", a)
    assert sorted(names[1:]) == sorted(("CHANNEL_HANGUP", b) for b in bs)
    for b in bs:
        assert events.last(b)["answer_timestamp"] is None
    assert pbx.channels == {}
    assert call.ended


def test_to_voicemail_leaves_a_message(pbx: Pbx, events: Events, clock: ManualClock) -> None:
    u = user(pbx, "203")
    before = pbx.mwi[u.id]
    call = pbx.incoming_call("203")
    a, b = call.legs
    events.clear()
    clock.advance(8)
    pbx.to_voicemail(call)
    assert events.names(None) == [
        ("CHANNEL_HANGUP", b),
        ("CHANNEL_ANSWER", a),
        ("CHANNEL_HANGUP", a),
        ("MWI", u.id),
    ]
    assert events.last(b)["answer_timestamp"] is None
    voicemail = events.of(a)[0][1]
    assert voicemail["state"] == (clock.now, Atom("voicemail"), Atom("user"), u.id, u.label)
    assert voicemail["answer_timestamp"] == clock.now
    mwi = events.log[-1][1]
    assert mwi == {
        "user_id": u.id,
        "mailbox": "203",
        "new_messages": before[0] + 1,
        "old_messages": before[1],
    }
    assert pbx.mwi[u.id] == (before[0] + 1, before[1])
    assert pbx.channels == {}


def test_voicemail_held_open_until_hangup(pbx: Pbx, events: Events) -> None:
    u = user(pbx, "204")
    call = pbx.incoming_call("204")
    pbx.to_voicemail(call, leave_message=True, hang_up=False)
    assert list(pbx.channels) == [call.uuid]
    assert pbx.channels[call.uuid]["state"][1] == "voicemail"
    assert call.status == "voicemail"
    assert pbx.calls_of(u) == [call]
    assert ("MWI", u.id) not in events.names("mwi")
    pbx.hangup(call)
    assert events.names("mwi")[-1] == ("MWI", u.id)
    assert pbx.mwi[u.id][0] == 1


def test_voicemail_without_message_keeps_mwi(pbx: Pbx, events: Events) -> None:
    u = user(pbx, "205")
    call = pbx.incoming_call("205")
    pbx.to_voicemail(call, leave_message=False)
    assert events.names("mwi") == []
    assert pbx.mwi[u.id] == (0, 0)


def test_group_voicemail_has_no_mailbox(pbx: Pbx, events: Events) -> None:
    group = pbx.group("601")
    call = pbx.incoming_call("601")
    pbx.to_voicemail(call)
    voicemail = events.of(call.uuid)[-2][1]
    assert voicemail["state"][1:4] == (Atom("voicemail"), Atom("group"), group.id)
    assert events.names("mwi") == []


# --- outgoing and internal calls ------------------------------------------------------------------


def test_outgoing_call(pbx: Pbx, events: Events, clock: ManualClock) -> None:
    u = user(pbx, "202")
    call = pbx.outgoing_call("202", "0398765432")
    a, b = call.legs
    assert events.names() == [("CHANNEL_CREATE", a), ("CHANNEL_CREATE", b)]
    ra, rb = pbx.channels[a], pbx.channels[b]
    assert (ra["direction"], ra["peer_location"], ra["user_id"]) == ("inbound", "internal", u.id)
    assert ra["called_number"] == "0398765432"
    assert ra["calling_number"] == "202"
    assert ra["state"][1:] == (Atom("calling"), Atom("external"), Atom("pstn"), ("0398765432",))
    assert ra["other_uuid"] == b
    assert ra["other_info"][0] == "pstn"
    assert (rb["direction"], rb["peer_location"], rb["user_id"]) == ("outbound", "external", None)
    assert rb["calling_number"] == u.did
    assert rb["other_uuid"] == a
    assert rb["other_info"][:2] == (Atom("user"), u.id)
    assert rb["target"] == (Atom("pstn"), None, None, "0398765432")
    events.clear()
    clock.advance(5)
    pbx.answer(call)
    assert events.names() == [("CHANNEL_ANSWER", b), ("CHANNEL_BRIDGE", b), ("CHANNEL_BRIDGE", a)]
    assert pbx.channels[a]["answer_timestamp"] == clock.now
    assert call.answered_by == u.id
    events.clear()
    pbx.hangup(call)
    assert events.names() == [("CHANNEL_HANGUP", a), ("CHANNEL_HANGUP", b)]


def test_outgoing_call_not_answered(pbx: Pbx, events: Events) -> None:
    call = pbx.outgoing_call("202", "117")
    a, b = call.legs
    events.clear()
    pbx.caller_hangs_up(call)
    assert events.names() == [("CHANNEL_HANGUP", a), ("CHANNEL_HANGUP", b)]
    with pytest.raises(CallStateError):
        pbx.to_voicemail(pbx.outgoing_call("202", "117"))


def test_internal_call(pbx: Pbx, events: Events) -> None:
    caller, callee = user(pbx, "201"), user(pbx, "205")
    call = pbx.internal_call("201", "205")
    a, b = call.legs
    ra, rb = pbx.channels[a], pbx.channels[b]
    assert (ra["direction"], ra["peer_location"], ra["user_id"]) == (
        "inbound",
        "internal",
        caller.id,
    )
    assert (rb["direction"], rb["peer_location"], rb["user_id"]) == (
        "outbound",
        "internal",
        callee.id,
    )
    assert ra["calling_number"] == rb["calling_number"] == "201"
    assert ra["called_number"] == rb["called_number"] == "205"
    assert ra["end_user"] == NO_END_USER
    assert ra["target"] == (Atom("user"), callee.id, callee.label, "205")
    assert ra["other_info"][:2] == (Atom("user"), callee.id)
    assert rb["other_info"][:2] == (Atom("user"), caller.id)
    pbx.answer(call)
    assert call.answered_by == callee.id
    pbx.hold(call, by=caller)
    assert events.names()[-1] == ("CHANNEL_HOLD", a)
    pbx.unhold(call)
    assert events.names()[-1] == ("CHANNEL_UNHOLD", a)


def test_internal_call_to_a_group(pbx: Pbx) -> None:
    group = pbx.group("603")
    caller = next(u for u in pbx.users.values() if u.id not in group.members)
    call = pbx.internal_call(caller, "603")
    assert len(call.legs) == 1 + len(group.members)


# --- hold, transfer, park -------------------------------------------------------------------------


def test_hold_and_unhold(pbx: Pbx, events: Events) -> None:
    call = pbx.incoming_call("201")
    _, b = call.legs
    with pytest.raises(CallStateError):
        pbx.hold(call)
    pbx.answer(call)
    events.clear()
    pbx.hold(call)
    assert events.names() == [("CHANNEL_HOLD", b)]
    assert pbx.channels[b]["last_event"] == "CHANNEL_HOLD"
    assert pbx.channels[b]["state"][1] == "bridged"
    assert call.status == "held"
    with pytest.raises(CallStateError):
        pbx.hold(call)
    pbx.unhold(call)
    assert events.names() == [("CHANNEL_HOLD", b), ("CHANNEL_UNHOLD", b)]
    assert call.status == "talking"
    with pytest.raises(CallStateError):
        pbx.unhold(call)


def test_blind_transfer(pbx: Pbx, events: Events, clock: ManualClock) -> None:
    first, second = user(pbx, "201"), user(pbx, "206")
    call = pbx.incoming_call("201")
    a, b = call.legs
    with pytest.raises(CallStateError):
        pbx.transfer(call, "206")
    pbx.answer(call)
    events.clear()
    clock.advance(20)
    pbx.transfer(call, "206")
    (c,) = [leg for leg in call.legs if leg not in (a, b)]
    assert events.names() == [
        ("CHANNEL_CREATE", c),
        ("CHANNEL_HANGUP", b),
        ("CHANNEL_APPLICATION", a),
    ]
    assert events.last(b)["answer_timestamp"] is not None  # the first user did talk
    rc = pbx.channels[c]
    assert (rc["direction"], rc["user_id"], rc["other_uuid"]) == ("outbound", second.id, a)
    assert rc["calling_number"] == pbx.channels[a]["calling_number"]
    assert rc["called_number"] == "206"
    assert rc["target"] == (Atom("user"), second.id, second.label, first.did)
    assert pbx.channels[a]["target"] == rc["target"]
    assert pbx.channels[a]["state"] == (
        clock.now,
        Atom("calling"),
        Atom("internal"),
        Atom("user"),
        (second.id,),
    )
    assert pbx.channels[a]["other_uuid"] == c
    assert set(pbx.channels) == {a, c}
    assert call.status == "ringing"
    events.clear()
    pbx.answer(call)
    assert events.names() == [("CHANNEL_ANSWER", c), ("CHANNEL_BRIDGE", a), ("CHANNEL_BRIDGE", c)]
    assert call.answered_by == second.id
    pbx.hangup(call)
    assert pbx.channels == {}


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


def test_transfer_unanswered_then_voicemail(pbx: Pbx, events: Events) -> None:
    second = user(pbx, "203")
    before = pbx.mwi[second.id][0]
    call = pbx.incoming_call("201")
    pbx.answer(call)
    pbx.transfer(call, "203")
    events.clear()
    pbx.to_voicemail(call)
    voicemail = events.of(call.uuid)[0]
    assert voicemail[0] == "CHANNEL_APPLICATION"  # already answered before the transfer
    assert voicemail[1]["state"][1:4] == (Atom("voicemail"), Atom("user"), second.id)
    assert pbx.mwi[second.id][0] == before + 1


def test_park_and_pickup(pbx: Pbx, events: Events, clock: ManualClock) -> None:
    parker, picker = user(pbx, "201"), user(pbx, "204")
    call = pbx.incoming_call("201")
    a, b = call.legs
    pbx.answer(call)
    events.clear()
    clock.advance(10)
    pbx.park(call, "702")
    assert events.names(None) == [("CHANNEL_PARK", a), ("PARK", a), ("CHANNEL_HANGUP", b)]
    park_state = (clock.now, Atom("park"), "702", None, parker.id, parker.label)
    assert pbx.channels[a]["state"] == park_state
    assert pbx.channels[a]["other_uuid"] is None
    assert pbx.parked == {a: events.log[1][1]}
    assert pbx.parked[a]["state"] == park_state
    assert pbx.parked_slots == {"702": a}
    assert call.status == "parked"
    with pytest.raises(CallStateError):
        pbx.park(pbx.incoming_call("205"), "702")  # not answered
    other = pbx.incoming_call("206")
    pbx.answer(other)
    with pytest.raises(CallStateError, match="taken"):
        pbx.park(other, "702")
    pbx.hangup(other)

    events.clear()
    clock.advance(15)
    assert pbx.pickup("702", "204") is call
    (p,) = [leg for leg in call.legs if leg not in (a, b)]
    assert events.names(None) == [
        ("CHANNEL_CREATE", p),
        ("CHANNEL_ANSWER", p),
        ("UNPARK", a),
        ("CHANNEL_BRIDGE", a),
        ("CHANNEL_BRIDGE", p),
    ]
    rp = pbx.channels[p]
    assert (rp["direction"], rp["user_id"], rp["called_number"], rp["other_uuid"]) == (
        "inbound",
        picker.id,
        "702",
        a,
    )
    assert rp["answer_timestamp"] == clock.now
    assert pbx.channels[a]["other_uuid"] == p
    assert pbx.parked == {}
    assert pbx.parked_slots == {}
    assert call.answered_by == picker.id
    with pytest.raises(CallStateError):
        pbx.pickup("702", "204")


def test_hangup_while_parked_unparks(pbx: Pbx, events: Events) -> None:
    call = pbx.incoming_call("201")
    pbx.answer(call)
    pbx.park(call)
    events.clear()
    pbx.hangup(call)
    assert events.names(None) == [("UNPARK", call.uuid), ("CHANNEL_HANGUP", call.uuid)]
    assert pbx.parked == {}


# --- users, MWI, subscription ---------------------------------------------------------------------


def test_users_come_and_go(pbx: Pbx, events: Events) -> None:
    new = pbx.add_user(label="新人 一号")
    assert new.extension == "209"
    assert new.name == "user209"
    assert new.email == "user209@example.basix"
    assert events.names(None) == [("USER_CREATE", new.id), ("MWI", new.id)]
    with pytest.raises(ValueError, match="exists"):
        pbx.add_user(id=new.id)
    changed = pbx.update_user(new, label="新人 二号", id="ignored")
    assert changed.id == new.id
    assert pbx.users[new.id].label == "新人 二号"
    assert events.names("user")[-1] == ("USER_UPDATE", new.id)

    member = pbx.group("601").members[0]
    call = pbx.incoming_call(member)
    events.clear()
    pbx.remove_user(member)
    names = events.names(None)
    assert ("CHANNEL_HANGUP", call.uuid) in names
    assert ("GROUP_UPDATE", pbx.group("601").id) in names
    assert names[-2:] == [("USER_DELETE", member), ("MWI_DELETE", member)]
    assert member not in pbx.users
    assert member not in pbx.group("601").members
    assert member not in pbx.mwi
    assert pbx.channels == {}


def test_add_group(pbx: Pbx, events: Events) -> None:
    group = pbx.add_group("night", "夜間", members=["201", "202"], type="ring")
    assert group.extension == "600"
    assert group.members == (user(pbx, "201").id, user(pbx, "202").id)
    assert events.names("group") == [("GROUP_CREATE", group.id)]
    assert events.log[-1][1]["members"] == list(group.members)


def test_set_mwi(pbx: Pbx, events: Events) -> None:
    u = user(pbx, "202")
    pbx.set_mwi("202", 3, 4)
    assert pbx.mwi[u.id] == (3, 4)
    assert events.log == [
        ("mwi", {"user_id": u.id, "mailbox": "202", "new_messages": 3, "old_messages": 4}, "MWI")
    ]


def test_subscribers_get_copies_and_can_leave(pbx: Pbx, events: Events) -> None:
    call = pbx.incoming_call("201")
    created = events.log[0][1]
    pbx.answer(call)
    assert created["answer_timestamp"] is None  # not changed by later events
    events.unsubscribe()
    events.unsubscribe()  # twice is harmless
    pbx.hangup(call)
    assert all(n != "CHANNEL_HANGUP" for _, _, n in events.log)


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
    assert pbx.parked == {}
    assert pbx.queued == {}
    created = [n for n, _ in events.names() if n == "CHANNEL_CREATE"]
    hung_up = [n for n, _ in events.names() if n == "CHANNEL_HANGUP"]
    assert len(created) == len(hung_up) >= 2


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


async def test_random_traffic_is_bounded_and_cleans_up() -> None:
    pbx = Pbx.demo(users=9, groups=2, seed=3)
    seen: set[str] = set()
    most = 0

    def watch(entity: str, record: dict[str, Any], event: str) -> None:
        nonlocal most
        seen.add(event)
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
