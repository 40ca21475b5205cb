"""Parser and store on the current generation (2023-2026), framed as the real server frames it.

Every frame here goes through `etf.encode(..., atoms="latin1")` and back, as a Basix server
writes it (Latin-1 atoms: Brastel's own decoder reads no others), with the 2023 README's field
lists in its order.
"""

from __future__ import annotations

from collections.abc import Callable
import json
import logging
from typing import Any

import pytest

from custom_components.basix_cti.cti import etf
from custom_components.basix_cti.cti.export import to_json
from custom_components.basix_cti.cti.models import (
    Change,
    Channel,
    Group,
    GroupMember,
    Item,
    Mwi,
    Notice,
    Snapshot,
    Terminal,
    User,
)
from custom_components.basix_cti.cti.problems import ProblemReporter
from custom_components.basix_cti.cti.protocol import Parser
from custom_components.basix_cti.cti.store import PbxState
from custom_components.basix_cti.cti.terms import Atom

A = Atom
NIL = (A("bert"), A("nil"))
UNDEF = A("undefined")
TS_US = 1_700_000_000_000_000
SERVER = "pbx.example.com"

# The 2023-2024 README's field lists, in its order (channel: 21 there, plus call_id).
CHANNEL = [
    "uuid", "direction", "peer_location", "calling_name", "calling_number", "called_number",
    "offer_timestamp", "answer_timestamp", "hangup_timestamp", "other_uuid", "user_id", "state",
    "group_id", "target", "origination", "end_user", "tags", "last_bridged_user_id",
    "last_event", "last_event_data", "other_info", "call_id",
]  # fmt: skip
USER = [
    "id", "name", "fwd_always_status", "do_not_disturb_status", "language", "main_extension",
    "presence", "role", "park_group", "mwi_target", "flags", "followme", "email", "avatar",
    "label", "mwi",
]  # fmt: skip
GROUP = [
    "id", "name", "type", "language", "main_extension", "queue", "label", "flags",
    "check_login_status", "mwi",
]  # fmt: skip
GROUP_MEMBER = ["id", "group_id", "user_id", "priority", "login_status", "role"]
TERMINAL = ["id", "name", "assoc_user_id", "type", "user_agent", "registered"]

# How a name may come: an atom, a binary, or an Erlang string (a charlist).
NAME_FORMS: dict[str, Callable[[str], Any]] = {
    "atom": A,
    "binary": lambda name: name.encode(),
    "charlist": lambda name: [ord(c) for c in name],
}


def wire(term: Any) -> Any:
    """The term as the parser gets it from a real server's frame."""
    return etf.decode(etf.encode(term, atoms="latin1"))


def row(fields: list[str], **values: Any) -> tuple[Any, ...]:
    return tuple(values.get(name, UNDEF) for name in fields)


def admin(**values: Any) -> tuple[Any, ...]:
    """The README's example user."""
    base: dict[str, Any] = {
        "id": 10001000,
        "name": b"admin",
        "fwd_always_status": 0,
        "do_not_disturb_status": 0,
        "language": 0,
        "main_extension": b"1000",
        "presence": 0,
        "role": 100,
        "park_group": 0,
        "flags": 0,
        "email": b"admin@test1.com",
        "label": "ユーザ・10001000".encode(),
        "mwi": b"",
    }
    return row(USER, **(base | values))


@pytest.fixture
def reporter() -> ProblemReporter:
    return ProblemReporter(logging.getLogger("test.protocol_current"))


@pytest.fixture
def parser(reporter: ProblemReporter) -> Parser:
    return Parser(reporter, server=SERVER)


def feed(parser: Parser, term: Any, name: Callable[[str], Any] = A) -> list[Any]:
    return parser.feed(wire(term))


def spec(entity: str, fields: list[str], name: Callable[[str], Any] = A) -> tuple[Any, ...]:
    return (name("field_spec"), name(entity), [name(f) for f in fields])


@pytest.mark.parametrize("form", list(NAME_FORMS))
def test_names_in_any_form(parser: Parser, form: str) -> None:
    name = NAME_FORMS[form]
    parser.feed(wire(spec("user", USER, name)))
    (snapshot,) = parser.feed(wire((name("initial_info"), name("user"), [admin()])))
    assert isinstance(snapshot, Snapshot)
    assert snapshot.entity == "user"
    (user,) = snapshot.items
    assert isinstance(user, User)
    assert (user.id, user.extension, user.label) == ("10001000", "1000", "ユーザ・10001000")
    (change,) = parser.feed(
        wire((name("info_event"), name("user"), admin(label=b"x"), name("updated")))
    )
    assert change == Change("user", change.item, "updated")
    (notice,) = parser.feed(wire((name("system_msg"), name("connection_limit_reached"))))
    assert notice == Notice("system_msg", "connection_limit_reached", "connection_limit_reached")


def test_the_readme_user_and_group(parser: Parser) -> None:
    parser.feed(wire(spec("user", USER)))
    parser.feed(wire(spec("group", GROUP)))
    (users,) = parser.feed(wire((A("initial_info"), A("user"), [admin(avatar=b"u1.png")])))
    (user,) = users.items
    assert user == User(
        id="10001000",
        name="admin",
        label="ユーザ・10001000",
        extension="1000",
        did=None,
        email="admin@test1.com",
        avatar_url="https://pbx.example.com/basix/avatars/users/u1.png",
        fields=user.fields,
        do_not_disturb_status=0,
        fwd_always_status=0,
        presence=0,
        role=100,
        park_group="0",
        flags=0,
        mwi=Mwi("10001000", None, 0, 0, {"mwi": ""}, raw=""),
    )
    group_row = row(
        GROUP,
        id=10001111,
        name=b"group1",
        type=0,
        language=0,
        main_extension=b"1111",
        queue=0,
        label="グループ・10001111".encode(),
        flags=4,
        mwi=b"1/3 (1/0)",
    )
    (groups,) = parser.feed(wire((A("initial_info"), A("group"), [group_row])))
    (group,) = groups.items
    assert isinstance(group, Group)
    assert (group.id, group.extension, group.group_type, group.flags) == (
        "10001111",
        "1111",
        "ring",
        4,
    )
    assert group.mwi == Mwi(None, "10001111", 1, 3, {"mwi": "1/3 (1/0)"}, 1, 0, "1/3 (1/0)")


@pytest.mark.parametrize(
    ("mwi", "new", "old"),
    [
        (b"", 0, 0),
        (b"2/5", 2, 5),
        ("2/5", 2, 5),  # a binary written from an Erlang string
        (b"2/5 (0/0)", 2, 5),
        ((2, 5), 2, 5),
        (3, 3, None),
        ((A("bert"), True), 1, None),
        (True, 1, None),
        ((A("bert"), A("dict"), [(A("new"), 4), (A("old"), 1)]), 4, 1),
        ({A("new"): 4, A("saved"): 2}, 4, 2),
        (UNDEF, None, None),
    ],
)
def test_user_mwi_in_every_form(parser: Parser, mwi: Any, new: int | None, old: int | None) -> None:
    parser.feed(wire(spec("user", USER)))
    (change,) = parser.feed(wire((A("info_event"), A("user"), admin(mwi=mwi), A("updated"))))
    user = change.item
    assert isinstance(user, User)
    if mwi is UNDEF:
        assert user.mwi is None
        return
    assert user.mwi is not None
    assert (user.mwi.new_messages, user.mwi.old_messages) == (new, old)
    assert user.mwi.user_id == "10001000"
    json.dumps(to_json(user))


def test_unknown_mwi_form_is_reported_once_and_kept(
    parser: Parser, reporter: ProblemReporter
) -> None:
    parser.feed(wire(spec("user", USER)))
    for _ in range(3):
        (change,) = parser.feed(
            wire((A("info_event"), A("user"), admin(mwi=b"lots"), A("updated")))
        )
    user = change.item
    assert isinstance(user, User)
    assert user.mwi == Mwi("10001000", None, None, None, {"mwi": "lots"}, raw="lots")
    assert reporter.counts["unknown_mwi"] == 3  # counted each time, logged once


def test_group_members_terminals_and_domain_are_kept_by_id(parser: Parser) -> None:
    state = PbxState()
    for message in [
        *feed(parser, spec("group_member", GROUP_MEMBER)),
        *feed(parser, spec("terminal", TERMINAL)),
        *feed(parser, spec("domain", ["id", "name"])),
        *feed(
            parser,
            (
                A("initial_info"),
                A("group_member"),
                [
                    row(
                        GROUP_MEMBER,
                        id=110001001,
                        group_id=10001111,
                        user_id=10001001,
                        priority=0,
                        login_status=0,
                        role=0,
                    ),
                    row(
                        GROUP_MEMBER,
                        id=110001002,
                        group_id=10001111,
                        user_id=10001002,
                        priority=1,
                        login_status=1,
                        role=0,
                    ),
                ],
            ),
        ),
        *feed(
            parser,
            (
                A("initial_info"),
                A("terminal"),
                [
                    row(
                        TERMINAL,
                        id=7,
                        name=b"t7",
                        assoc_user_id=10001001,
                        type=b"sip",
                        user_agent=b"Yealink T54W",
                        registered=(A("bert"), True),
                    ),
                    row(TERMINAL, id=8, name=b"t8", assoc_user_id=10001002, registered=0),
                    row(TERMINAL, id=9, name=b"t9"),
                ],
            ),
        ),
        *feed(parser, (A("initial_info"), A("domain"), [(1, b"test1.com")])),
    ]:
        state.apply(message)
    assert set(state.group_members) == {"110001001", "110001002"}
    member = state.group_members["110001002"]
    assert member == GroupMember("110001002", "10001111", "10001002", 1, 1, 0, member.fields)
    assert [m.key for m in state.members_of("10001111")] == ["110001001", "110001002"]
    assert [m.key for m in state.groups_of("10001001")] == ["110001001"]
    assert {t.key: t.registered for t in state.terminals.values()} == {
        "7": True,
        "8": False,
        "9": None,
    }
    terminal = state.terminals["7"]
    assert terminal == Terminal("7", "t7", "10001001", "sip", "Yealink T54W", True, terminal.fields)
    assert [t.key for t in state.terminals_of("10001002")] == ["8"]
    assert state.domain == Item("domain", "1", {"id": 1, "name": "test1.com"})
    # A membership removed by the PBX leaves, and names its user.
    (removal,) = feed(
        parser,
        (A("info_event"), A("group_member"), row(GROUP_MEMBER, id=110001001), A("removed")),
    )
    delta = state.apply(removal)
    assert delta is not None
    assert [m.key for m in delta.removed] == ["110001001"]
    assert set(state.group_members) == {"110001002"}
    # The lookups by user and group follow: a removal names only its id, the stored record
    # says whose it was.
    assert [m.key for m in state.members_of("10001111")] == ["110001002"]
    assert state.groups_of("10001001") == []
    # A phone handed to another user moves with it.
    (moved,) = feed(
        parser,
        (A("info_event"), A("terminal"), row(TERMINAL, id=8, assoc_user_id=10001001), A("updated")),
    )
    state.apply(moved)
    assert state.terminals_of("10001002") == []
    assert [t.key for t in state.terminals_of("10001001")] == ["7", "8"]


def test_group_member_without_id_is_keyed_like_brastels_store(parser: Parser) -> None:
    parser.feed(wire(spec("group_member", ["group_id", "user_id"])))
    (snapshot,) = parser.feed(wire((A("initial_info"), A("group_member"), [(9, 201)])))
    assert [m.key for m in snapshot.items] == ["201:9"]


def _leg(**values: Any) -> tuple[Any, ...]:
    base: dict[str, Any] = {
        "uuid": b"b1",
        "direction": A("outbound"),
        "peer_location": A("external"),
        "calling_number": b"0312341234",
        "called_number": b"1001",
        "offer_timestamp": TS_US,
        "other_uuid": b"a1",
        "user_id": 10001001,
        "state": (TS_US, A("calling"), A("int"), A("user"), (10001001,)),
        "end_user": b"55*%E7%94%B0%E4%B8%AD*ACME*t.png*%E5%A4%A7%E9%98%AA%E5%BA%9C",
        "tags": b"monitoring_required;auto_answer",
        "last_event": A("CHANNEL_CREATE"),
        "other_info": (
            A("end_user"),
            b"55*Tanaka***",
            A("inbound"),
            A("external"),
            b"0312341234",
            TS_US,
            UNDEF,
            b"%7B%22spam%22%3Atrue%7D",
        ),
        "call_id": b"abc@10.0.0.1",
    }
    return row(CHANNEL, **(base | values))


def test_a_current_channel(parser: Parser) -> None:
    parser.feed(wire(spec("channel", CHANNEL)))
    (change,) = parser.feed(wire((A("info_event"), A("channel"), _leg(), A("added"))))
    channel = change.item
    assert isinstance(channel, Channel)
    assert change.event == "added"
    assert channel.tags == ("monitoring_required", "auto_answer")
    assert channel.call_id == "abc@10.0.0.1"
    assert channel.user_id == "10001001"
    assert channel.state is not None
    assert channel.state.details["user_id"] == "10001001"
    party = channel.end_user.party if channel.end_user else None
    assert party is not None
    assert (party.name, party.prefecture, party.avatar_url) == (
        "田中",
        "大阪府",
        "https://pbx.example.com/basix/avatars/end_users/t.png",
    )
    assert channel.other_info is not None
    assert channel.other_info.whoscall is not None
    assert channel.other_info.whoscall.data == {"spam": True}
    assert channel.disposition is None


def test_a_hangup_with_its_disposition_leaves_whatever_the_event_name(parser: Parser) -> None:
    state = PbxState()
    state.apply(parser.feed(wire(spec("channel", CHANNEL)))[0])
    state.apply(parser.feed(wire((A("info_event"), A("channel"), _leg(), A("added"))))[0])
    assert set(state.channels) == {"b1"}
    hangup = _leg(last_event=A("CHANNEL_HANGUP"), last_event_data=b"send_cancel,PICKED_OFF")
    (change,) = parser.feed(wire((A("info_event"), A("channel"), hangup, A("updated"))))
    channel = change.item
    assert isinstance(channel, Channel)
    assert channel.disposition is not None
    assert (channel.disposition.side, channel.disposition.action) == ("send", "cancel")
    assert channel.disposition.cause == "PICKED_OFF"
    assert channel.last_event_data == "send_cancel,PICKED_OFF"
    delta = state.apply(change)
    assert delta is not None
    assert delta.removed == (channel,)
    assert state.channels == {}


@pytest.mark.parametrize("state_term", [
    (TS_US, A("calling"), A("int"), A("group"), (A("ring"), 10001111, UNDEF, UNDEF, b"group1")),
    (TS_US, A("park"), 901, UNDEF, 10001001, "山田".encode()),
])  # fmt: skip
def test_channel_waiting_is_read_like_a_channel(parser: Parser, state_term: Any) -> None:
    store = PbxState()
    store.apply(parser.feed(wire(spec("channel_waiting", CHANNEL)))[0])
    leg = _leg(uuid=b"a1", direction=A("inbound"), user_id=UNDEF, state=state_term)
    (snapshot,) = parser.feed(wire((A("initial_info"), A("channel_waiting"), [leg])))
    store.apply(snapshot)
    waiting = store.waiting_channels["a1"]
    assert waiting.entity == "channel_waiting"
    assert waiting.state is not None
    if waiting.state.name == "park":
        assert dict(waiting.state.details) == {
            "slot": "901",
            "parker_id": "10001001",
            "parker_name": "山田",
        }
    else:
        assert waiting.state.details["group_queue_id"] == "group1"
    (gone,) = parser.feed(wire((A("info_event"), A("channel_waiting"), leg, A("removed"))))
    store.apply(gone)
    assert store.waiting_channels == {}


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        (A("connection_limit_reached"), "connection_limit_reached"),
        (A("connection_replaced"), "connection_replaced"),
        (b"connection_replaced", "connection_replaced"),
        ("connection_limit_reached", "connection_limit_reached"),
        ((A("auto_answer"), b"b1", (A("bert"), True)), "auto_answer"),
    ],
)
def test_system_messages_in_every_form(parser: Parser, payload: Any, text: str) -> None:
    (notice,) = parser.feed(wire((A("system_msg"), payload)))
    assert isinstance(notice, Notice)
    assert notice.text == text
    assert "b'" not in json.dumps(to_json(notice), ensure_ascii=False)
