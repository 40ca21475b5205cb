"""Parser: both generations, wrapped or not, and every frame the simulator would never send."""

from __future__ import annotations

from datetime import UTC, datetime
import json
import logging
import random
from typing import Any

import pytest

from custom_components.basix_cti.cti.export import to_json
from custom_components.basix_cti.cti.models import (
    Change,
    Channel,
    EndUser,
    FieldSpec,
    Group,
    Item,
    Mwi,
    Notice,
    Party,
    Snapshot,
    Target,
    UnknownMessage,
    User,
)
from custom_components.basix_cti.cti.problems import ProblemReporter
from custom_components.basix_cti.cti.protocol import Parser
from custom_components.basix_cti.cti.terms import Atom, ImproperList

A = Atom
NIL = (A("bert"), A("nil"))
UNDEF = A("undefined")
TS_US = 1_700_000_000_000_000
TS = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
SERVER = "pbx.example.com"

# The older chan_info fields as Brastel documents them (docs/calls.md).
OLD_CHANNEL_FIELDS = [
    "uuid",
    "direction",
    "peer_location",
    "calling_name",
    "calling_number",
    "called_number",
    "offer_timestamp",
    "answer_timestamp",
    "hangup_timestamp",
    "other_uuid",
    "user_name",
    "user_id",
    "state",
    "group_id",
    "group_name",
    "target",
    "last_event",
]
CHANNEL_FIELDS = [*OLD_CHANNEL_FIELDS, "end_user", "origination", "other_info"]
USER_FIELDS = ["id", "name", "label", "extension", "did", "email", "avatar"]
GROUP_FIELDS = ["id", "name", "label", "extension", "avatar"]
MWI_FIELDS = ["user_id", "mailbox", "new_messages", "old_messages"]


def spec(entity: str, fields: list[str]) -> tuple[Any, ...]:
    return (A("field_spec"), A(entity), [A(f) for f in fields])


def record(fields: list[str], **values: Any) -> tuple[Any, ...]:
    """A record laid out by `fields`; unnamed ones are `undefined`, as an Erlang server sends."""
    return tuple(values.get(name, UNDEF) for name in fields)


def b_leg(**overrides: Any) -> tuple[Any, ...]:
    """The B-leg of an incoming call to user 201, in the newer layout, as the wire carries it."""
    values: dict[str, Any] = {
        "uuid": b"b-leg",
        "direction": A("outbound"),
        "peer_location": A("external"),
        "calling_name": "田中".encode(),
        "calling_number": b"0901234567",
        "called_number": b"201",
        "offer_timestamp": TS_US,
        "answer_timestamp": 0,
        "hangup_timestamp": 0,
        "other_uuid": b"a-leg",
        "user_name": b"taro",
        "user_id": 201,
        "state": (TS_US, A("calling"), A("internal"), A("user"), (201, A("x"))),
        "group_id": NIL,
        "group_name": b"",
        "target": (A("user"), b"201", "太郎".encode(), b"0312345678"),
        "last_event": A("CHANNEL_CREATE"),
        "end_user": b"55*Tanaka+Ichiro*ACME*",
        "origination": b"web+call*0312345678",
        "other_info": (
            A("pstn"),
            b"55*Tanaka+Ichiro*ACME*",
            A("inbound"),
            A("external"),
            b"0901234567",
            TS_US,
            NIL,
        ),
    }
    values.update(overrides)
    return record(CHANNEL_FIELDS, **values)


def wraps(term: Any, wrapped: bool) -> Any:
    return [term] if wrapped else term


@pytest.fixture
def reporter() -> ProblemReporter:
    return ProblemReporter(logging.getLogger("test.protocol"))


@pytest.fixture
def parser(reporter: ProblemReporter) -> Parser:
    return Parser(reporter, server=SERVER)


def feed_one(parser: Parser, term: Any) -> Any:
    messages = parser.feed(term)
    assert len(messages) == 1
    return messages[0]


@pytest.fixture(params=[False, True], ids=["plain", "wrapped"])
def wrapped(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


# --- newer generation ---------------------------------------------------------------------------


def test_field_spec(parser: Parser, wrapped: bool) -> None:
    message = feed_one(parser, wraps(spec("channel", CHANNEL_FIELDS), wrapped))
    assert message == FieldSpec("channel", tuple(CHANNEL_FIELDS))
    assert all(type(name) is str for name in message.fields)
    assert parser.field_specs == {"channel": tuple(CHANNEL_FIELDS)}


def test_initial_info_channel_translates_every_value(parser: Parser, wrapped: bool) -> None:
    parser.feed(spec("channel", CHANNEL_FIELDS))
    message = feed_one(parser, wraps((A("initial_info"), A("channel"), [b_leg()]), wrapped))
    assert isinstance(message, Snapshot)
    assert message.entity == "channel"
    (channel,) = message.items
    assert isinstance(channel, Channel)
    assert channel.key == channel.uuid == "b-leg"
    assert channel.entity == "channel"
    assert (channel.direction, channel.peer_location) == ("outbound", "external")
    assert (channel.calling_name, channel.calling_number, channel.called_number) == (
        "田中",
        "0901234567",
        "201",
    )
    assert channel.offered_at == TS
    assert channel.answered_at is None  # 0: not answered yet
    assert channel.hungup_at is None
    assert (channel.other_uuid, channel.user_id, channel.user_name) == ("a-leg", "201", "taro")
    assert (channel.group_id, channel.group_name) == (None, None)
    assert channel.state is not None
    assert (channel.state.name, channel.state.since) == ("calling", TS)
    assert channel.state.details["user_id"] == "201"
    assert channel.target == Target(type="user", id="201", name="太郎", address="0312345678")
    assert channel.end_user == EndUser(
        candidates=(Party(id="55", name="Tanaka Ichiro", organization="ACME", avatar=None),),
        raw="55*Tanaka+Ichiro*ACME*",
    )
    assert channel.origination == ("web call", "0312345678")
    assert channel.other_info is not None
    assert channel.other_info.end_user == channel.end_user
    assert channel.other_info.offered_at == TS
    assert channel.last_event == "CHANNEL_CREATE"
    # Every field is kept, converted.
    assert set(channel.fields) == set(CHANNEL_FIELDS)
    assert channel.fields["calling_name"] == "田中"
    assert channel.fields["group_id"] is None


@pytest.mark.parametrize("event", [A("CHANNEL_ANSWER"), b"CHANNEL_ANSWER", "CHANNEL_ANSWER"])
def test_info_event_with_atom_or_binary_event_name(
    parser: Parser, wrapped: bool, event: Any
) -> None:
    parser.feed(spec("channel", CHANNEL_FIELDS))
    message = feed_one(
        parser,
        wraps((A("info_event"), A("channel"), b_leg(answer_timestamp=TS_US), event), wrapped),
    )
    assert isinstance(message, Change)
    assert (message.entity, message.event) == ("channel", "CHANNEL_ANSWER")
    assert type(message.event) is str
    assert isinstance(message.item, Channel)
    assert message.item.answered_at == TS


def test_info_event_fills_last_event_from_the_event_when_the_record_has_none(
    parser: Parser,
) -> None:
    fields = ["uuid", "state"]
    parser.feed(spec("channel", fields))
    message = feed_one(
        parser, (A("info_event"), A("channel"), (b"u", (TS_US, A("bridged"))), A("CHANNEL_HOLD"))
    )
    assert message.item.last_event == "CHANNEL_HOLD"


def test_info_event_without_event_name(parser: Parser) -> None:
    parser.feed(spec("user", USER_FIELDS))
    message = feed_one(parser, (A("info_event"), A("user"), record(USER_FIELDS, id=7)))
    assert message == Change("user", message.item, None)
    assert message.item.id == "7"


@pytest.mark.parametrize("empty", [NIL, [], (), UNDEF, None])
def test_initial_info_empty(parser: Parser, wrapped: bool, empty: Any) -> None:
    parser.feed(spec("channel", CHANNEL_FIELDS))
    assert feed_one(parser, wraps((A("initial_info"), A("channel"), empty), wrapped)) == Snapshot(
        "channel", ()
    )


@pytest.mark.parametrize("entity", ["queued_channel", "parked_channel"])
def test_other_channel_entities_are_channels(parser: Parser, entity: str) -> None:
    parser.feed(spec(entity, CHANNEL_FIELDS))
    message = feed_one(parser, (A("info_event"), A(entity), b_leg(), A("CHANNEL_PARK")))
    assert message.entity == entity
    assert isinstance(message.item, Channel)
    assert message.item.entity == entity


def test_users_and_groups_are_keyed_by_id_not_uuid(parser: Parser) -> None:
    parser.feed(spec("user", USER_FIELDS))
    parser.feed(spec("group", GROUP_FIELDS))
    users = feed_one(
        parser,
        (
            A("initial_info"),
            A("user"),
            [
                record(
                    USER_FIELDS,
                    id=201,
                    name=b"taro",
                    label="田中 太郎".encode(),
                    extension=201,
                    avatar=b"u201.png",
                ),
                record(
                    USER_FIELDS,
                    id=202,
                    name=b"hanako",
                    label=b"Jos\xe9",
                    extension=b"202",
                    avatar=b"",
                ),
                record(
                    USER_FIELDS,
                    id=b"203",
                    email=b"x@example.com",
                    did=b"0312345678",
                    avatar=b"//cdn/x.png",
                ),
            ],
        ),
    )
    assert [u.key for u in users.items] == ["201", "202", "203"]
    taro, hanako, third = users.items
    assert taro == User(
        id="201",
        name="taro",
        label="田中 太郎",
        extension="201",
        did=None,
        email=None,
        avatar_url="https://pbx.example.com/basix/avatars/users/u201.png",
        fields=taro.fields,
    )
    assert hanako.label == "José"  # invalid UTF-8: Latin-1, snapshot kept
    assert hanako.avatar_url is None  # empty: the default icon
    assert (third.email, third.did, third.avatar_url) == (
        "x@example.com",
        "0312345678",
        "//cdn/x.png",
    )

    groups = feed_one(
        parser,
        (
            A("initial_info"),
            A("group"),
            [
                record(
                    GROUP_FIELDS,
                    id=9,
                    name=b"sales",
                    label="営業".encode(),
                    extension=b"600",
                    avatar=b"g9.png",
                ),
                record(GROUP_FIELDS, id=10, avatar=b"HTTPS://cdn.example.com/g.png"),
            ],
        ),
    )
    sales, other = groups.items
    assert isinstance(sales, Group)
    assert (sales.key, sales.name, sales.label, sales.extension) == ("9", "sales", "営業", "600")
    assert (
        sales.avatar_url == "https://pbx.example.com/basix/avatars/g9.png"
    )  # group avatars resolve too
    assert (other.key, other.avatar_url) == ("10", "HTTPS://cdn.example.com/g.png")


def test_user_falls_back_to_uuid_and_reports_a_missing_id(
    parser: Parser, reporter: ProblemReporter
) -> None:
    parser.feed(spec("user", ["uuid", "name"]))
    message = feed_one(parser, (A("info_event"), A("user"), (b"u-7", b"x"), A("USER_UPDATE")))
    assert message.item.id == "u-7"
    parser.feed(spec("user", ["name"]))
    message = feed_one(parser, (A("info_event"), A("user"), (b"x",), A("USER_UPDATE")))
    assert message.item.id == ""
    assert reporter.counts["no_id"] == 1


@pytest.mark.parametrize(
    ("entity", "fields", "values", "key"),
    [
        ("conference_room", ["uuid", "name"], (b"room-1", b"Big"), "room-1"),  # unknown kind
        ("gizmo", ["name"], (b"nameless",), ""),
    ],
)
def test_other_entities_are_generic_items(
    parser: Parser, entity: str, fields: list[str], values: tuple[Any, ...], key: str
) -> None:
    parser.feed(spec(entity, fields))
    message = feed_one(parser, (A("initial_info"), A(entity), [values]))
    assert message.entity == entity
    (item,) = message.items
    assert isinstance(item, Item)
    assert (item.entity, item.key) == (entity, key)
    assert list(item.fields) == fields


# --- older generation ---------------------------------------------------------------------------


def old_leg(**overrides: Any) -> tuple[Any, ...]:
    values: dict[str, Any] = {
        "uuid": b"old-1",
        "direction": b"inbound",
        "user_id": 201,
        "state": (TS_US, A("calling"), A("user"), 202, b"Hanako"),
        "target": (A("user"), 202, b"Hanako", b""),
        "last_event": b"CHANNEL_ORIGINATE",
    }
    values.update(overrides)
    return record(OLD_CHANNEL_FIELDS, **values)


@pytest.mark.parametrize(
    ("wire", "entity"),
    [
        ("chan_info", "channel"),
        ("park_info", "parked_channel"),
        ("unpark_info", "parked_channel"),
        ("mwi_info", "mwi"),
    ],
)
def test_older_field_specs_are_normalised(
    parser: Parser, wrapped: bool, wire: str, entity: str
) -> None:
    assert feed_one(parser, wraps(spec(wire, ["uuid"]), wrapped)) == FieldSpec(entity, ("uuid",))
    assert parser.field_specs[wire] == ("uuid",)


def test_initial_chan_info(parser: Parser, wrapped: bool) -> None:
    parser.feed(wraps(spec("chan_info", OLD_CHANNEL_FIELDS), wrapped))
    message = feed_one(
        parser, wraps((A("initial_chan_info"), [old_leg(), old_leg(uuid=b"old-2")]), wrapped)
    )
    assert isinstance(message, Snapshot)
    assert message.entity == "channel"
    assert [c.key for c in message.items] == ["old-1", "old-2"]
    channel = message.items[0]
    assert isinstance(channel, Channel)
    assert channel.state is not None
    assert channel.state.details == {
        "target_type": "user",
        "target_id": "202",
        "target_name": "Hanako",
    }
    assert (channel.end_user, channel.origination, channel.other_info) == (None, None, None)


@pytest.mark.parametrize("empty", [NIL, []])
def test_initial_chan_info_empty(parser: Parser, wrapped: bool, empty: Any) -> None:
    parser.feed(spec("chan_info", OLD_CHANNEL_FIELDS))
    assert feed_one(parser, wraps((A("initial_chan_info"), empty), wrapped)) == Snapshot(
        "channel", ()
    )


def test_chan_info_event_comes_from_last_event(parser: Parser, wrapped: bool) -> None:
    parser.feed(spec("chan_info", OLD_CHANNEL_FIELDS))
    message = feed_one(
        parser,
        wraps(
            (A("chan_info"), old_leg(last_event=A("CHANNEL_HANGUP"), hangup_timestamp=TS_US)),
            wrapped,
        ),
    )
    assert isinstance(message, Change)
    assert (message.entity, message.event) == ("channel", "CHANNEL_HANGUP")
    assert message.item.hungup_at == TS
    assert message.item.user_id == "201"


@pytest.mark.parametrize(("wire", "event"), [("park_info", "PARK"), ("unpark_info", "UNPARK")])
def test_park_and_unpark(parser: Parser, wrapped: bool, wire: str, event: str) -> None:
    parser.feed(spec(wire, OLD_CHANNEL_FIELDS))
    message = feed_one(parser, wraps((A(wire), old_leg(state=(TS_US, A("park"), 701))), wrapped))
    assert isinstance(message, Change)
    assert (message.entity, message.event) == ("parked_channel", event)
    assert isinstance(message.item, Channel)
    assert message.item.entity == "parked_channel"
    assert message.item.state is not None
    assert message.item.state.details["slot"] == "701"


def test_mwi_info(parser: Parser, wrapped: bool) -> None:
    parser.feed(spec("mwi_info", MWI_FIELDS))
    message = feed_one(
        parser,
        wraps(
            (
                A("mwi_info"),
                record(MWI_FIELDS, user_id=201, mailbox=b"201", new_messages=2, old_messages=5),
            ),
            wrapped,
        ),
    )
    assert message == Change("mwi", Mwi("201", "201", 2, 5, message.item.fields), "MWI")
    assert message.item.key == "201"


def test_mwi_in_the_newer_generation(parser: Parser) -> None:
    parser.feed(spec("mwi", MWI_FIELDS))
    message = feed_one(
        parser, (A("initial_info"), A("mwi"), [record(MWI_FIELDS, mailbox=b"800", new_messages=0)])
    )
    (box,) = message.items
    assert box == Mwi(None, "800", 0, None, box.fields)
    assert box.key == "800"


@pytest.mark.parametrize(
    ("fields", "values", "expected"),
    [
        (["owner_id", "box", "new", "old"], (201, b"9201", 1, 2), ("201", "9201", 1, 2)),
        (
            ["voicemail_box", "messages_new", "messages_old"],
            (b"9201", b"3", b"4"),
            (None, "9201", 3, 4),
        ),
        (["id", "new_count", "old_count"], (9201, 5, 6), (None, "9201", 5, 6)),
        (["user_id", "unread", "saved"], (201, 7, 8), ("201", None, 7, 8)),
        (["user_id", "waiting"], (201, True), ("201", None, 1, None)),
        (["user_id", "waiting"], (201, False), ("201", None, 0, None)),
        (["user_id", "waiting"], (201, (A("bert"), A("true"))), ("201", None, 1, None)),
        (["user_id", "new_messages", "waiting"], (201, 4, True), ("201", None, 4, None)),
    ],
)
def test_mwi_aliases(
    parser: Parser, fields: list[str], values: tuple[Any, ...], expected: tuple[Any, ...]
) -> None:
    parser.feed(spec("mwi_info", fields))
    box = feed_one(parser, (A("mwi_info"), values)).item
    assert (box.user_id, box.mailbox, box.new_messages, box.old_messages) == expected


def test_mwi_odd_values_are_reported(parser: Parser, reporter: ProblemReporter) -> None:
    parser.feed(spec("mwi_info", ["new_messages", "old_messages"]))
    box = feed_one(parser, (A("mwi_info"), (b"lots", 2))).item
    assert (box.user_id, box.mailbox, box.new_messages, box.old_messages) == (None, None, None, 2)
    assert reporter.counts["bad_count"] == 1
    assert reporter.counts["no_mwi_box"] == 1


# --- notices and unknown frames -----------------------------------------------------------------


@pytest.mark.parametrize("tag", ["system_msg", "msg"])
@pytest.mark.parametrize(
    ("payload", "text", "plain"),
    [
        (b"Maintenance at 3:00", "Maintenance at 3:00", "Maintenance at 3:00"),
        ("メンテナンス".encode(), "メンテナンス", "メンテナンス"),
        ("hello", "hello", "hello"),
        (A("connection_limit_reached"), "connection_limit_reached", "connection_limit_reached"),
        (b"connection_replaced", "connection_replaced", "connection_replaced"),
        ("connection_replaced", "connection_replaced", "connection_replaced"),
        # A structured notice is named by its tag, and carries plain values (text, not bytes).
        ((A("error"), b"x"), "error", ("error", "x")),
        (
            [A("auto_answer"), b"u-1", (A("bert"), True)],
            "auto_answer",
            ["auto_answer", "u-1", True],
        ),
        (42, None, 42),
    ],
)
def test_notices(
    parser: Parser, wrapped: bool, tag: str, payload: Any, text: str | None, plain: Any
) -> None:
    message = feed_one(parser, wraps((A(tag), payload), wrapped))
    assert message == Notice(tag, text, plain)
    assert text is None or type(message.text) is str
    assert "b'" not in json.dumps(to_json(message), ensure_ascii=False)


@pytest.mark.parametrize(
    "term",
    [
        (A("weather_report"), b"sunny"),
        (A("info_event"), A("channel")),  # too short
        (A("initial_info"), A("channel"), b"not a list"),  # would wipe the table if read as empty
        (A("initial_info"), 42, []),
        (A("field_spec"), A("channel"), b"uuid"),
        (A("field_spec"), 7, [A("uuid")]),
        (A("field_spec"), A("channel")),
        (A("chan_info"),),
        (A("initial_chan_info"), [], []),
        (A("system_msg"),),
        (A("info_event"), 5, (b"x",), A("E")),
        (A("info_event"), A("channel"), 5, A("E")),  # a record that is no record
        (A("info_event"), A("channel"), (b"x",), A("E"), A("extra")),
        (1, 2),
        (),
        [],
        [b"x", b"y"],
        b"\x83garbage",
        None,
        42,
        {A("info_event"): 1},
    ],
)
def test_frames_that_are_not_understood_become_unknown(parser: Parser, term: Any) -> None:
    parser.feed(spec("channel", ["uuid"]))
    assert parser.feed(term) == [UnknownMessage(term)]


def test_unknown_frames_are_reported(parser: Parser, reporter: ProblemReporter) -> None:
    parser.feed((A("weather_report"), b"sunny"))
    parser.feed((A("weather_report"), b"rain"))
    parser.feed((A("info_event"),))
    assert reporter.counts["unknown_message"] == 2
    assert reporter.counts["malformed_message"] == 1


def test_names_from_the_server_do_not_make_new_report_kinds(
    parser: Parser, reporter: ProblemReporter, caplog: pytest.LogCaptureFixture
) -> None:
    # A server sending ever new tags, entities or field values must not get past the rate
    # limit: one warning per kind, however many names.
    parser.feed(spec("channel", ["uuid", "direction"]))
    with caplog.at_level(logging.WARNING):
        for i in range(2_000):
            parser.feed((A(f"tag_{i}"), b"x"))
            parser.feed((A("info_event"), A(f"entity_{i}"), b"not a record", A("E")))
            parser.feed((A("info_event"), A("channel"), (f"u{i}".encode(), (i,)), A("E")))
    assert reporter.counts == {
        "unknown_message": 2_000,
        "bad_record": 2_000,
        "malformed_message": 2_000,
        "bad_value": 2_000,
    }
    assert len(caplog.records) == 4
    assert "tag_0" in caplog.records[0].getMessage()


def test_binary_message_tags_are_read(parser: Parser) -> None:
    parser.feed((b"field_spec", b"chan_info", [b"uuid", "last_event"]))
    message = feed_one(parser, (b"chan_info", (b"u-1", b"CHANNEL_ANSWER")))
    assert (message.entity, message.event, message.item.uuid) == (
        "channel",
        "CHANNEL_ANSWER",
        "u-1",
    )
    assert feed_one(parser, (b"msg", b"hi")) == Notice("msg", "hi", "hi")


def test_a_list_of_messages_is_read_in_order(parser: Parser) -> None:
    messages = parser.feed(
        [spec("channel", ["uuid"]), (A("info_event"), A("channel"), (b"u-1",), A("CHANNEL_CREATE"))]
    )
    assert isinstance(messages[0], FieldSpec)
    assert isinstance(messages[1], Change)
    assert messages[1].item.uuid == "u-1"


# --- records that do not fit --------------------------------------------------------------------


def test_record_before_its_field_spec_keeps_the_values(
    parser: Parser, reporter: ProblemReporter
) -> None:
    change = feed_one(parser, (A("info_event"), A("gizmo"), (b"a", 2), A("GIZMO_UPDATE")))
    assert change.item.fields == {"_extra_0": "a", "_extra_1": 2}
    feed_one(parser, (A("info_event"), A("gizmo"), (b"b", 3), A("GIZMO_UPDATE")))
    channel = feed_one(parser, (A("info_event"), A("channel"), (b"u-1",), A("CHANNEL_CREATE"))).item
    assert isinstance(channel, Channel)
    assert channel.uuid == ""  # unknown without a layout: the store cannot key it
    assert channel.fields == {"_extra_0": "u-1"}
    assert reporter.counts["record_without_spec"] == 3


def test_short_and_long_records(parser: Parser, reporter: ProblemReporter) -> None:
    parser.feed(spec("channel", ["uuid", "direction", "user_id"]))
    snapshot = feed_one(
        parser,
        (
            A("initial_info"),
            A("channel"),
            [(b"short",), (b"long", A("inbound"), 201, b"x", (A("bert"), A("true")))],
        ),
    )
    short, long_ = snapshot.items
    assert short.fields == {"uuid": "short", "direction": None, "user_id": None}
    assert (short.uuid, short.direction, short.user_id) == ("short", None, None)
    assert long_.fields == {
        "uuid": "long",
        "direction": "inbound",
        "user_id": 201,
        "_extra_3": "x",
        "_extra_4": True,
    }
    assert (long_.uuid, long_.direction, long_.user_id) == ("long", "inbound", "201")
    assert reporter.counts["record_length"] == 2


def test_a_bad_record_costs_itself_only(parser: Parser, reporter: ProblemReporter) -> None:
    parser.feed(spec("channel", CHANNEL_FIELDS))
    snapshot = feed_one(
        parser,
        (
            A("initial_info"),
            A("channel"),
            [
                b_leg(uuid=b"good-1"),
                b"not a record",
                b_leg(
                    uuid=b"bad-escape",
                    end_user=b"1*100%+sure*Caf%C3%A9*",
                    origination=b"x%zz*ok+now",
                ),
                b_leg(
                    uuid=b"bad-state",
                    state=A("bridged"),
                    other_info=(A("pstn"), 12345, A("inbound")),
                ),
                b_leg(uuid=b"good-2"),
            ],
        ),
    )
    assert [c.key for c in snapshot.items] == ["good-1", "bad-escape", "bad-state", "good-2"]
    escaped = snapshot.items[1]
    assert escaped.end_user.party == Party(
        id="1", name="100% sure", organization="Café", avatar=None
    )
    assert escaped.origination == ("x%zz", "ok now")
    assert escaped.calling_name == "田中"  # the rest of the record is read as usual
    odd = snapshot.items[2]
    assert odd.state.name == "bridged"
    assert odd.state.raw == (A("bridged"),)
    assert odd.other_info.end_user is None
    assert odd.other_info.direction == "inbound"
    assert reporter.counts["bad_record"] == 1
    assert reporter.counts["bad_escape:end_user"] == 1
    assert reporter.counts["bad_escape:origination"] == 1
    assert reporter.counts["bad_state"] == 1
    assert reporter.counts["bad_other_info_end_user"] == 1


def test_a_record_that_breaks_the_parser_costs_itself_only(
    parser: Parser, reporter: ProblemReporter
) -> None:
    class Hostile:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("no comparing me")

        __hash__ = object.__hash__

    parser.feed(spec("channel", ["uuid", "calling_name"]))
    snapshot = feed_one(
        parser,
        (A("initial_info"), A("channel"), [(b"u-1", b"x"), (b"u-2", Hostile()), (b"u-3", b"z")]),
    )
    assert [c.key for c in snapshot.items] == ["u-1", "u-3"]
    assert reporter.counts["record_error"] == 1


def test_a_frame_that_breaks_the_parser_is_unknown(
    parser: Parser, reporter: ProblemReporter
) -> None:
    class Hostile(tuple[Any, ...]):
        __slots__ = ()

        def __len__(self) -> int:
            raise RuntimeError("no")

    term = Hostile((A("msg"), b"x"))
    assert parser.feed(term) == [UnknownMessage(term)]
    assert reporter.counts["parser_error"] == 1


def test_records_as_lists_maps_and_tagged_tuples(parser: Parser) -> None:
    parser.feed(spec("user", ["id", "name"]))
    snapshot = feed_one(
        parser,
        (
            A("initial_info"),
            A("user"),
            [
                [1, b"list"],
                {A("id"): 2, b"name": b"map", A("label"): "ラベル".encode()},
                (A("user"), 3, b"tagged"),
            ],
        ),
    )
    assert [(u.id, u.name) for u in snapshot.items] == [
        ("1", "list"),
        ("2", "map"),
        ("3", "tagged"),
    ]
    assert snapshot.items[1].label == "ラベル"
    assert "user" not in snapshot.items[2].fields.values()


def test_improper_record_list_is_read(parser: Parser, reporter: ProblemReporter) -> None:
    parser.feed(spec("user", ["id"]))
    snapshot = feed_one(parser, (A("initial_info"), A("user"), ImproperList(((1,), (2,)), b"tail")))
    assert [u.id for u in snapshot.items] == ["1", "2"]
    assert reporter.counts["improper_list"] == 1


def test_bad_field_names_are_kept_positionally(parser: Parser, reporter: ProblemReporter) -> None:
    message = feed_one(parser, (A("field_spec"), A("user"), [A("id"), 17, b"name"]))
    assert message.fields == ("id", "_extra_1", "name")
    assert reporter.counts["bad_field_name"] == 1


@pytest.mark.parametrize("fields", [NIL, [], ()])
def test_an_empty_field_spec_is_reported(
    parser: Parser, reporter: ProblemReporter, fields: Any
) -> None:
    assert feed_one(parser, (A("field_spec"), A("user"), fields)).fields == ()
    assert reporter.counts["empty_field_spec"] == 1
    user = feed_one(parser, (A("info_event"), A("user"), (5, b"x"), A("USER_UPDATE"))).item
    assert user.fields == {"_extra_0": 5, "_extra_1": "x"}  # kept, unnamed


def test_a_repeated_field_name_hides_no_value(parser: Parser, reporter: ProblemReporter) -> None:
    names = ["id", "name", "name", "label", "name", "name_2", "id"]
    message = feed_one(parser, (A("field_spec"), A("user"), [A(n) for n in names]))
    # The repeats are renamed after their position (avoiding a field of that name).
    assert message.fields == ("id", "name", "name_2_", "label", "name_4", "name_2", "id_6")
    user = feed_one(
        parser, (A("info_event"), A("user"), (7, b"a", b"b", b"L", b"c", b"d", 8), A("E"))
    ).item
    assert user.fields == {
        "id": 7,
        "name": "a",
        "name_2_": "b",
        "label": "L",
        "name_4": "c",
        "name_2": "d",
        "id_6": 8,
    }
    assert (user.id, user.name, user.label) == ("7", "a", "L")
    assert reporter.counts["repeated_field_name"] == 1


def test_values_of_unexpected_types_are_reported_and_kept(
    parser: Parser, reporter: ProblemReporter
) -> None:
    parser.feed(spec("channel", ["uuid", "direction", "offer_timestamp", "target"]))
    channel = feed_one(
        parser,
        (
            A("info_event"),
            A("channel"),
            (b"u", (1, 2), b"yesterday", b"user:201"),
            A("CHANNEL_CREATE"),
        ),
    ).item
    assert (channel.direction, channel.offered_at, channel.target) == (None, None, None)
    assert channel.fields["direction"] == (1, 2)
    assert reporter.counts["bad_value"] == 1
    assert reporter.counts["bad_time"] == 1
    assert reporter.counts["bad_target"] == 1


def test_a_channel_without_uuid_is_reported(parser: Parser, reporter: ProblemReporter) -> None:
    parser.feed(spec("channel", ["uuid", "direction"]))
    channel = feed_one(
        parser, (A("info_event"), A("channel"), (UNDEF, A("inbound")), A("CHANNEL_CREATE"))
    ).item
    assert channel.uuid == ""
    assert reporter.counts["no_uuid"] == 1


def test_big_integers_are_exact(parser: Parser) -> None:
    parser.feed(spec("user", ["id", "extension"]))
    parser.feed(spec("channel", ["uuid", "offer_timestamp", "user_id"]))
    user = feed_one(
        parser, (A("info_event"), A("user"), (2**64 + 1, -(2**31)), A("USER_UPDATE"))
    ).item
    assert (user.id, user.extension) == ("18446744073709551617", "-2147483648")
    channel = feed_one(
        parser, (A("info_event"), A("channel"), (b"u", TS_US + 1, 2**53 + 1), A("CHANNEL_CREATE"))
    ).item
    assert channel.offered_at is not None
    assert channel.offered_at.microsecond == 1
    assert channel.user_id == "9007199254740993"


# --- whose leg: Channel.user_id -----------------------------------------------------------------


def test_user_id_field_in_the_spec_wins_even_when_empty(parser: Parser) -> None:
    parser.feed(spec("channel", CHANNEL_FIELDS))
    # The caller's A-leg: the spec has user_id, empty here, while target / other_info name a user.
    a_leg = b_leg(
        uuid=b"a-leg",
        user_id=UNDEF,
        other_info=(A("user"), 201, A("inbound"), A("internal"), b"201", TS_US, NIL),
    )
    channel = feed_one(parser, (A("info_event"), A("channel"), a_leg, A("CHANNEL_CREATE"))).item
    assert channel.user_id is None
    channel = feed_one(
        parser, (A("info_event"), A("channel"), b_leg(user_id=b""), A("CHANNEL_CREATE"))
    ).item
    assert channel.user_id is None


def test_user_id_from_other_info_then_target_when_the_spec_has_none(parser: Parser) -> None:
    fields = ["uuid", "target", "other_info"]
    parser.feed(spec("channel", fields))
    by_other_info = (
        b"1",
        (A("group"), 9, b"G", b""),
        (A("user"), 301, A("inbound"), A("internal"), b"", 0, 9),
    )
    by_target = (
        b"2",
        (A("user"), 302, b"T", b""),
        (A("pstn"), b"***", A("inbound"), A("external"), b"", 0, NIL),
    )
    nobody = (b"3", (A("pstn"), b"0312", b"", b""), UNDEF)
    snapshot = feed_one(
        parser, (A("initial_info"), A("channel"), [by_other_info, by_target, nobody])
    )
    assert [c.user_id for c in snapshot.items] == ["301", "302", None]


# --- state between frames -----------------------------------------------------------------------


def test_a_new_field_spec_replaces_the_layout(parser: Parser) -> None:
    parser.feed(spec("user", ["id", "name"]))
    parser.feed(spec("user", ["name", "id"]))
    user = feed_one(parser, (A("info_event"), A("user"), (b"taro", 5), A("USER_UPDATE"))).item
    assert (user.id, user.name) == ("5", "taro")


def test_park_and_unpark_keep_their_own_layouts(parser: Parser) -> None:
    parser.feed(spec("park_info", ["uuid", "state"]))
    parser.feed(spec("unpark_info", ["state", "uuid"]))
    parked = feed_one(parser, (A("park_info"), (b"p1", (TS_US, A("park"), 1)))).item
    unparked = feed_one(parser, (A("unpark_info"), ((TS_US, A("bridged")), b"p1"))).item
    assert parked.uuid == unparked.uuid == "p1"


def test_reset_forgets_the_layouts(parser: Parser, reporter: ProblemReporter) -> None:
    parser.feed(spec("user", ["id"]))
    parser.reset()
    assert parser.field_specs == {}
    user = feed_one(parser, (A("info_event"), A("user"), (5,), A("USER_UPDATE"))).item
    assert user.fields == {"_extra_0": 5}
    assert reporter.counts["record_without_spec"] == 1


def test_frames_are_processed_in_the_order_fed(parser: Parser) -> None:
    parser.feed(spec("channel", ["uuid", "last_event"]))
    out = []
    for term in [
        (A("initial_info"), A("channel"), [(b"u-1", A("CHANNEL_CREATE"))]),
        (A("info_event"), A("channel"), (b"u-1", A("CHANNEL_ANSWER")), A("CHANNEL_ANSWER")),
        (A("info_event"), A("channel"), (b"u-1", A("CHANNEL_HANGUP")), A("CHANNEL_HANGUP")),
    ]:
        out.extend(parser.feed(term))
    assert [type(m).__name__ for m in out] == ["Snapshot", "Change", "Change"]
    assert [m.event for m in out[1:]] == ["CHANNEL_ANSWER", "CHANNEL_HANGUP"]


def test_default_reporter_logs(caplog: pytest.LogCaptureFixture) -> None:
    parser = Parser()
    with caplog.at_level(logging.WARNING):
        assert parser.feed((A("nonsense"),)) == [UnknownMessage((A("nonsense"),))]
    assert any("nonsense" in r.getMessage() for r in caplog.records)


def test_user_avatars_without_a_server_are_left_out() -> None:
    parser = Parser()
    parser.feed(spec("user", ["id", "avatar"]))
    user = feed_one(parser, (A("info_event"), A("user"), (1, b"a.png"), A("USER_UPDATE"))).item
    assert user.avatar_url is None
    assert user.fields["avatar"] == "a.png"


# --- never raises -------------------------------------------------------------------------------


def _random_term(rng: random.Random, depth: int = 0) -> Any:
    leaves: list[Any] = [
        A("undefined"),
        A("channel"),
        A("user"),
        A("bert"),
        A("nil"),
        A("calling"),
        b"",
        b"%",
        b"\xff\xfe",
        b"_MANY_:2|a|b",
        b"***",
        "str",
        0,
        -1,
        2**70,
        1.5,
        True,
        None,
        NIL,
    ]
    if depth > 3 or rng.random() < 0.4:
        return rng.choice(leaves)
    kind = rng.randrange(4)
    children = [_random_term(rng, depth + 1) for _ in range(rng.randrange(6))]
    if kind == 0:
        return children
    if kind == 1:
        return {b"k%d" % i: c for i, c in enumerate(children)}
    tags = [
        "field_spec",
        "initial_info",
        "info_event",
        "initial_chan_info",
        "chan_info",
        "park_info",
        "mwi_info",
        "msg",
    ]
    return (A(rng.choice(tags)), *children) if kind == 2 else tuple(children)


def test_feed_never_raises_on_random_terms(reporter: ProblemReporter) -> None:
    rng = random.Random(1234)
    parser = Parser(reporter, server=SERVER)
    parser.feed(spec("channel", CHANNEL_FIELDS))
    parser.feed(spec("chan_info", OLD_CHANNEL_FIELDS))
    parser.feed(spec("user", USER_FIELDS))
    parser.feed(spec("mwi_info", MWI_FIELDS))
    for _ in range(3000):
        term = _random_term(rng)
        messages = parser.feed(term)
        assert messages
    # Only the intended, reported problem paths ran: no parser bug was hit.
    assert "parser_error" not in reporter.counts
    assert "record_error" not in reporter.counts
