"""BERT conversion and the PBX's structured values (protocol.md: Frames, Values inside records)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
import logging
import time
from typing import Any

import pytest

from custom_components.basix_cti.cti import etf
from custom_components.basix_cti.cti.models import Disposition, Party, Target, Whoscall
from custom_components.basix_cti.cti.problems import ProblemReporter
from custom_components.basix_cti.cti.terms import Atom, BitBinary, FrozenMap, ImproperList
from custom_components.basix_cti.cti.values import (
    END_USER_AVATARS,
    USER_AVATARS,
    avatar_url,
    decode_text,
    from_bert,
    parse_disposition,
    parse_end_user,
    parse_mwi,
    parse_origination,
    parse_other_info,
    parse_state,
    parse_tags,
    parse_target,
    parse_whoscall,
    to_datetime,
    to_int,
    to_name,
    to_text,
)

A = Atom
NIL = (A("bert"), A("nil"))
TS = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
TS_US = 1_700_000_000_000_000


@pytest.fixture
def reporter() -> ProblemReporter:
    return ProblemReporter(logging.getLogger("test.values"))


# --- from_bert ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        (NIL, None),
        (A("undefined"), None),
        ((A("bert"), A("true")), True),
        ((A("bert"), A("false")), False),
        (True, True),
        (b"plain", "plain"),
        ("日本語".encode(), "日本語"),
        (b"Jos\xe9", "José"),  # Latin-1 from a real server: never fails
        (b"", ""),
        ("abc", "abc"),  # STRING_EXT
        ("æ\x97¥æ\x9c¬".encode("latin-1").decode("latin-1"), "日本"),  # UTF-8 bytes as a STRING_EXT
        ("caf\xe9", "café"),  # a Latin-1 STRING_EXT
        ("日本", "日本"),  # wider characters are text already
        ("line 1\r\n\tline 2", "line 1\r\n\tline 2"),  # white space is text
        # Erlang writes any list of integers 0-255 as a STRING_EXT: a list of ids is no text.
        ("\x03\x05\x07", [3, 5, 7]),
        ("\x00\x01\x7f\xff", [0, 1, 127, 255]),
        ("caf\xe9\x81", [99, 97, 102, 233, 129]),  # Latin-1 read, with a C1 control in it
        (2**64 + 1, 2**64 + 1),  # exact, no float rounding
        (-(2**31), -(2**31)),
        (1.5, 1.5),
    ],
)
def test_from_bert_scalars(term: Any, expected: Any) -> None:
    result = from_bert(term)
    assert result == expected
    assert type(result) is type(expected)


def test_from_bert_keeps_atoms_as_atoms_and_strings_are_not_atoms() -> None:
    assert isinstance(from_bert(A("calling")), Atom)
    assert from_bert("undefined") == "undefined"  # only the atom means "no value"
    assert from_bert(A("nil")) == "nil"


def test_from_bert_dict_and_time_and_nesting() -> None:
    term = (
        A("bert"),
        A("dict"),
        [
            (A("name"), b"Tanaka"),
            (b"when", (A("bert"), A("time"), 1700, 0, 5)),
            ([1, 2], [NIL, (b"x", A("undefined"))]),
            "not a pair",
        ],
    )
    assert from_bert(term) == {
        "name": "Tanaka",
        "when": datetime(2023, 11, 14, 22, 13, 20, 5, tzinfo=UTC),
        (1, 2): [None, ("x", None)],
    }


def test_from_bert_unknown_or_malformed_bert_tuples_stay_tuples() -> None:
    assert from_bert((A("bert"), A("regex"), b"a.*")) == (A("bert"), A("regex"), "a.*")
    assert from_bert((A("bert"), A("time"), b"x", 0, 0)) == ("bert", "time", "x", 0, 0)
    assert from_bert((A("bert"),)) == (A("bert"),)
    assert from_bert((b"bert", A("nil"))) == ("bert", "nil")  # a binary is not the BERT tag


def test_from_bert_maps_improper_lists_and_others() -> None:
    assert from_bert({b"k": [b"v"]}) == {"k": ["v"]}
    assert from_bert({A("k"): 1, (b"x",): {b"y": [2]}}) == {"k": 1, ("x",): {"y": [2]}}
    assert from_bert({1: 2, b"m": {b"n": NIL}}) == {1: 2, "m": {"n": None}}
    frozen = from_bert(FrozenMap({b"k": b"v"}))
    assert frozen == {"k": "v"}
    assert hash(frozen) == hash(FrozenMap({"k": "v"}))
    key_map = from_bert({FrozenMap({b"a": 1}): b"x"})
    assert key_map == {FrozenMap({"a": 1}): "x"}
    # A map used as a key inside a BERT dict stays hashable.
    assert from_bert((A("bert"), A("dict"), [({b"a": 1}, 2)])) == {FrozenMap({"a": 1}): 2}
    assert from_bert(ImproperList((b"a",), b"t")) == ImproperList(("a",), "t")
    bits = BitBinary(b"\x80", 1)
    assert from_bert(bits) is bits


def test_from_bert_converts_as_deep_as_the_decoder_goes() -> None:
    term: Any = b"leaf"
    for level in range(etf.MAX_DEPTH):
        term = (term,) if level % 2 else [term]
    result = from_bert(etf.decode(etf.encode(term)))
    for _ in range(etf.MAX_DEPTH):
        result = result[0]
    assert result == "leaf"  # text, not bytes, at the decoder's deepest level
    with pytest.raises(etf.EtfDecodeError):
        etf.decode(etf.encode([term]))


def test_from_bert_dict_whose_keys_share_one_hash_stays_a_list(
    reporter: ProblemReporter,
) -> None:
    modulus = (1 << 61) - 1  # hash(n) == n % modulus for Python ints
    pairs = [(k * modulus, b"v") for k in range(1, 40_001)]
    start = time.perf_counter()
    result = from_bert((A("bert"), A("dict"), pairs), reporter)
    assert time.perf_counter() - start < 1.0  # as a dict: quadratic, some seconds
    assert result == [(k * modulus, "v") for k in range(1, 40_001)]
    assert reporter.counts["hash_flooding"] == 1
    # A few clashes, as in any real dict, are fine.
    few = [(k * modulus, 1) for k in range(1, 60)] + [(k, 2) for k in range(100)]
    assert from_bert((A("bert"), A("dict"), few), reporter) == dict(few)
    assert reporter.counts["hash_flooding"] == 1


def test_from_bert_dict_keys_are_made_hashable_at_any_depth() -> None:
    term = (
        A("bert"),
        A("dict"),
        [((b"a", [1, [2]]), 1), (ImproperList(([3],), b"t"), 2), ([{b"m": [4]}], 3)],
    )
    assert from_bert(term) == {
        ("a", (1, (2,))): 1,
        ImproperList(((3,),), "t"): 2,
        (FrozenMap({"m": (4,)}),): 3,
    }


def test_from_bert_stops_at_pathological_depth() -> None:
    term: Any = b"leaf"
    for _ in range(5000):
        term = [term]
    result = from_bert(term)  # no RecursionError
    depth = 0
    while isinstance(result, list):
        result = result[0]
        depth += 1
    assert depth == 5000


def test_to_name() -> None:
    assert to_name(A("calling")) == "calling"
    assert type(to_name(A("calling"))) is str
    assert to_name(b"user") == "user"
    assert to_name(b"Jos\xe9") == "José"
    assert to_name("") is None
    assert to_name(b"") is None
    assert to_name(7) is None
    assert to_name(None) is None


def test_decode_text_falls_back_to_latin1() -> None:
    assert decode_text("ü".encode()) == "ü"
    assert decode_text(b"\xff\xfe") == "ÿþ"


# --- to_text / to_int ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        (b"", None),
        (A("inbound"), "inbound"),
        (b"201", "201"),
        (201, "201"),
        (2**70, str(2**70)),
        (2.0, "2"),
        (2.5, "2.5"),
        (True, "true"),
        (False, "false"),
        ((1, 2), None),
        ([], None),
    ],
)
def test_to_text(value: Any, expected: str | None) -> None:
    result = to_text(value)
    assert result == expected
    assert result is None or type(result) is str


def test_to_text_of_an_unprintably_big_int_is_none() -> None:
    assert to_text(10**5000) is None  # more digits than Python prints: unusable as an id


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3),
        (True, 1),
        (2.0, 2),
        (2.5, None),
        ("7", 7),
        (b" 12 ", 12),
        ("x", None),
        (None, None),
        ([1], None),
    ],
)
def test_to_int(value: Any, expected: int | None) -> None:
    assert to_int(value) == expected


# --- to_datetime --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        1_700_000_000,  # seconds
        1_700_000_000_000,  # milliseconds
        TS_US,  # microseconds
        TS_US * 1000,  # nanoseconds
        1_700_000_000.0,
        (1700, 0, 0),  # Erlang now()
        (A("bert"), A("time"), 1700, 0, 0),
        TS,
        TS.replace(tzinfo=None),
        TS.astimezone(timezone(timedelta(hours=9))),
        "1700000000000000",
        b"1700000000",
        "2023-11-14T22:13:20+00:00",
        "2023-11-14T22:13:20",
    ],
)
def test_to_datetime_accepts_every_form(value: Any) -> None:
    result = to_datetime(value)
    assert result == TS
    assert result is not None
    assert result.tzinfo is not None


def test_to_datetime_keeps_microseconds_exact() -> None:
    assert to_datetime(TS_US + 123_456) == TS + timedelta(microseconds=123_456)
    assert to_datetime((1700, 0, 7)) == TS + timedelta(microseconds=7)


@pytest.mark.parametrize(
    "value",
    [None, 0, -5, True, False, float("nan"), 10**30, (0, 0, 0), (1, b"x", 0), "soon", [], (1, 2)],
)
def test_to_datetime_unusable_values_give_none(value: Any) -> None:
    assert to_datetime(value) is None


def test_to_datetime_overflow_gives_none() -> None:
    assert to_datetime((10**12, 0, 0)) is None
    assert to_datetime(9.9e18 * 1e6) is None
    assert to_datetime(10**400) is None
    assert to_datetime(1e300) is None
    assert to_datetime(float("inf")) is None


# --- end_user / origination ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [b"***", "****", "*", b"", "*****"])
def test_end_user_made_only_of_stars_is_no_end_user(value: str | bytes) -> None:
    assert parse_end_user(value) is None


def test_end_user_current_five_parts_with_prefecture_and_avatar_url() -> None:
    end_user = parse_end_user(
        "42*%E7%94%B0%E4%B8%AD*ACME*t42.png*%E6%9D%B1%E4%BA%AC%E9%83%BD", server="pbx.example.com"
    )
    assert end_user is not None
    assert end_user.party == Party(
        id="42",
        name="田中",
        organization="ACME",
        avatar="t42.png",
        prefecture="東京都",
        avatar_url="https://pbx.example.com/basix/avatars/end_users/t42.png",
    )
    many = parse_end_user("_MANY_:2|1*A***|2*B**https://cdn.example/b.png*", server="pbx")
    assert many is not None
    assert [p.avatar_url for p in many.candidates] == [None, "https://cdn.example/b.png"]


def test_end_user_single_party_decodes_each_part_with_plus_as_space() -> None:
    end_user = parse_end_user("42*Tanaka+Taro*%E6%A0%AA%E5%BC%8F+ACME*a%2Bb.png")
    assert end_user is not None
    assert end_user.party == Party(
        id="42", name="Tanaka Taro", organization="株式 ACME", avatar="a+b.png"
    )
    assert end_user.raw == "42*Tanaka+Taro*%E6%A0%AA%E5%BC%8F+ACME*a%2Bb.png"


def test_end_user_empty_parts_are_none() -> None:
    end_user = parse_end_user(b"*Suzuki**")
    assert end_user is not None
    assert end_user.party == Party(id=None, name="Suzuki", organization=None, avatar=None)


def test_end_user_many_candidates() -> None:
    end_user = parse_end_user(b"_MANY_:2|1*A+a*Org*|2*B*%41*x.png")
    assert end_user is not None
    assert end_user.candidates == (
        Party(id="1", name="A a", organization="Org", avatar=None),
        Party(id="2", name="B", organization="A", avatar="x.png"),
    )
    assert end_user.party is None  # two candidates: no single party


def test_end_user_many_with_no_candidates() -> None:
    end_user = parse_end_user("_MANY_:0|")
    assert end_user is not None
    assert end_user.candidates == ()


def test_end_user_bad_escape_costs_only_its_percent_sign(reporter: ProblemReporter) -> None:
    end_user = parse_end_user(b"7*100%+sure*Caf%C3%A9*%E9t%E9+1.png", reporter)
    assert end_user is not None
    # `100%+sure`: a % that starts no escape stays, and the + is a space as everywhere else;
    # `%E9` is not UTF-8: a Latin-1 server wrote it, so it is read as Latin-1.
    assert end_user.party == Party(
        id="7", name="100% sure", organization="Café", avatar="été 1.png"
    )
    assert reporter.counts["bad_escape:end_user"] == 1
    assert reporter.counts["latin1_escape:end_user"] == 1


def test_end_user_wrong_part_count_keeps_what_it_can(reporter: ProblemReporter) -> None:
    end_user = parse_end_user("5*Sato", reporter)
    assert end_user is not None
    assert end_user.party == Party(id="5", name="Sato", organization=None, avatar=None)
    end_user = parse_end_user("5*Sato*Org*av*Osaka*extra", reporter)
    assert end_user is not None
    assert end_user.party == Party(
        id="5", name="Sato", organization="Org", avatar="av", prefecture="Osaka"
    )
    assert reporter.counts["end_user_parts"] == 2


def test_end_user_odd_values(reporter: ProblemReporter) -> None:
    assert parse_end_user(None, reporter) is None
    assert parse_end_user("", reporter) is None
    assert parse_end_user(12, reporter) is None
    assert reporter.counts == {"bad_end_user": 1}


def test_origination_treats_plus_as_space_and_decodes_parts() -> None:
    assert parse_origination(b"click+to+call*0312345678*%E7%94%B0%E4%B8%AD") == (
        "click to call",
        "0312345678",
        "田中",
    )
    assert parse_origination("a%2Bb") == ("a+b",)


def test_origination_bad_escape_keeps_the_rest(reporter: ProblemReporter) -> None:
    assert parse_origination("ok+part*bad%zz+part%21*%*100%", reporter) == (
        "ok part",
        "bad%zz part!",
        "%",
        "100%",
    )
    assert reporter.counts["bad_escape:origination"] == 3
    assert parse_origination("Jos%E9*%C3%A9*%FF%FE", reporter) == ("José", "é", "ÿþ")
    assert reporter.counts["latin1_escape:origination"] == 2
    assert parse_origination("50%*%E9") == ("50%", "é")  # without a reporter, quietly


def test_origination_odd_values(reporter: ProblemReporter) -> None:
    assert parse_origination(None, reporter) is None
    assert parse_origination("", reporter) == ()
    assert parse_origination(("x",), reporter) is None
    assert reporter.counts == {"bad_origination": 1}


# --- target / other_info ------------------------------------------------------------------------


def test_target() -> None:
    assert parse_target((A("user"), 201, "田中", b"0312345678")) == Target(
        type="user", id="201", name="田中", address="0312345678"
    )
    assert parse_target([A("group"), b"9"]) == Target(type="group", id="9", name=None, address=None)
    assert parse_target(None) is None


def test_target_not_a_tuple_is_reported(reporter: ProblemReporter) -> None:
    assert parse_target(b"user:201", reporter) is None
    assert reporter.counts == {"bad_target": 1}


def test_other_info_of_a_user() -> None:
    info = parse_other_info((A("user"), 201, A("outbound"), A("internal"), b"201", TS_US, 7))
    assert info is not None
    assert (info.type, info.user_id, info.end_user, info.group_id) == ("user", "201", None, "7")
    assert (info.direction, info.peer_location, info.address) == ("outbound", "internal", "201")
    assert info.offered_at == TS


def test_other_info_of_an_external_party() -> None:
    info = parse_other_info(
        (A("pstn"), "9*Yamada+Hanako**", A("inbound"), A("external"), "0901234", None, None)
    )
    assert info is not None
    assert info.user_id is None
    assert info.end_user is not None
    assert info.end_user.party == Party(
        id="9", name="Yamada Hanako", organization=None, avatar=None
    )
    assert info.offered_at is None


def test_other_info_second_element_not_a_binary_keeps_the_rest(reporter: ProblemReporter) -> None:
    info = parse_other_info(
        (A("pstn"), (1, 2), A("inbound"), A("external"), "0901234", TS_US, 3), reporter
    )
    assert info is not None
    assert info.end_user is None
    assert (info.direction, info.address, info.offered_at, info.group_id) == (
        "inbound",
        "0901234",
        TS,
        "3",
    )
    assert reporter.counts == {"bad_other_info_end_user": 1}


def test_other_info_short_or_not_a_tuple(reporter: ProblemReporter) -> None:
    info = parse_other_info((A("user"), 5), reporter)
    assert info is not None
    assert (info.user_id, info.direction, info.group_id) == ("5", None, None)
    info = parse_other_info((A("pstn"), A("undefined")), reporter)
    assert info is not None
    assert (info.type, info.user_id, info.end_user) == ("pstn", None, None)
    assert parse_other_info(b"user", reporter) is None
    assert parse_other_info(None, reporter) is None
    assert reporter.counts == {"bad_other_info": 1}


# --- state --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "name", "details"),
    [
        (
            (A("voicemail"), A("user"), 201, b"Tanaka"),
            "voicemail",
            {"target_type": "user", "target_id": "201", "target_name": "Tanaka"},
        ),
        ((A("checking_voicemail"), "Box"), "checking_voicemail", {"target_name": "Box"}),
        (
            (A("calling"), A("internal"), A("user"), (201, A("x"))),
            "calling",
            {
                "target_location": "internal",
                "target_type": "user",
                "user_id": "201",
                "target_id": "201",
            },
        ),
        (
            (A("calling"), A("internal"), A("group"), (A("ring"), 9, 0, 0, 33)),
            "calling",
            {
                "target_location": "internal",
                "target_type": "group",
                "group_type": "ring",
                "group_id": "9",
                "target_id": "9",
                "group_queue_id": "33",
            },
        ),
        (
            (A("calling"), A("internal"), A("group"), (A("hunt"), 9, 0, 0, 33)),
            "calling",
            {
                "target_location": "internal",
                "target_type": "group",
                "group_type": "hunt",
                "group_id": "9",
                "target_id": "9",
                "group_queue_id": None,
            },
        ),
        (
            (A("calling"), A("external"), A("pstn"), (b"0312345678",)),
            "calling",
            {"target_location": "external", "target_type": "pstn", "address": "0312345678"},
        ),
        (
            (A("calling"), A("external"), A("bridged_endpoint"), (b"alice", b"sip.example.com")),
            "calling",
            {
                "target_location": "external",
                "target_type": "bridged_endpoint",
                "address": "alice@sip.example.com",
            },
        ),
        (
            (A("calling"), A("external"), A("teleport"), (1, 2)),
            "calling",
            {"target_location": "external", "target_type": "teleport", "target_data": (1, 2)},
        ),
        (
            (A("calling"), A("user"), 201, b"Tanaka"),  # older generation
            "calling",
            {"target_type": "user", "target_id": "201", "target_name": "Tanaka"},
        ),
        ((A("calling_external"), b"0312345678"), "calling_external", {"address": "0312345678"}),
        ((A("calling_siptermination"), b"sip:x@y"), "calling_siptermination", {"url": "sip:x@y"}),
        ((A("ivr"), 12), "ivr", {"ivr_id": "12"}),
        ((A("system_operation"), A("reload")), "system_operation", {"operation": "reload"}),
        ((A("conference"), 3), "conference", {"room_id": "3"}),
        ((A("xml_ivr"),), "xml_ivr", {}),
        ((A("plivo"),), "plivo", {}),
        ((A("bridged"),), "bridged", {}),
        (
            (A("park"), 701, A("unused"), 201, b"Tanaka"),
            "park",
            {"slot": "701", "parker_id": "201", "parker_name": "Tanaka"},
        ),
        ((A("park"), 701), "park", {"slot": "701", "parker_id": None, "parker_name": None}),
        (
            (A("eavesdrop"), b"u-1", A("listening")),
            "eavesdrop",
            {"uuid": "u-1", "eavesdrop_state": "listening"},
        ),
        ((A("new_fangled"), 1, b"x"), "new_fangled", {}),
    ],
)
def test_state_names_and_details(
    extra: tuple[Any, ...], name: str, details: dict[str, Any]
) -> None:
    value = (TS_US, *extra)
    state = parse_state(value)
    assert state is not None
    assert state.name == name
    assert type(state.name) is str
    assert state.since == TS
    assert dict(state.details) == details
    assert state.raw == value


def test_state_bridged_endpoint_with_a_part_missing() -> None:
    state = parse_state((TS_US, A("calling"), A("external"), A("bridged_endpoint"), (b"alice",)))
    assert state is not None
    assert state.details["address"] == "alice"


def test_state_not_a_tuple_keeps_the_value(reporter: ProblemReporter) -> None:
    state = parse_state(A("bridged"), reporter)
    assert state is not None
    assert (state.name, state.since, state.raw) == ("bridged", None, (A("bridged"),))
    state = parse_state(42, reporter)
    assert state is not None
    assert (state.name, state.raw) == ("unknown", (42,))
    assert reporter.counts == {"bad_state": 2}


def test_state_as_a_list_or_without_a_time() -> None:
    state = parse_state([TS_US, A("ivr"), 5])
    assert state is not None
    assert (state.name, state.details) == ("ivr", {"ivr_id": "5"})
    state = parse_state((A("ivr"), 5))
    assert state is not None
    assert (state.name, state.since, state.details) == ("ivr", None, {"ivr_id": "5"})
    state = parse_state((A("bridged"),))
    assert state is not None
    assert state.name == "bridged"


def test_state_without_a_name(reporter: ProblemReporter) -> None:
    state = parse_state((TS_US,), reporter)
    assert state is not None
    assert (state.name, state.since, state.raw) == ("unknown", TS, (TS_US,))
    state = parse_state((TS_US, 17), reporter)
    assert state is not None
    assert state.name == "unknown"
    assert parse_state((), reporter) is not None
    assert parse_state(None, reporter) is None
    assert reporter.counts == {"bad_state": 3}


# --- avatars ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "server", "expected"),
    [
        (None, "pbx.example.com", None),
        ("", "pbx.example.com", None),
        (b"  ", "pbx.example.com", None),
        (42, "pbx.example.com", None),
        ("https://cdn.example.com/a.png", "pbx.example.com", "https://cdn.example.com/a.png"),
        ("http://cdn.example.com/a.png", "pbx.example.com", "http://cdn.example.com/a.png"),
        ("HTTPS://CDN.example.com/a.png", "pbx.example.com", "HTTPS://CDN.example.com/a.png"),
        ("//cdn.example.com/a.png", "pbx.example.com", "//cdn.example.com/a.png"),
        ("hTTp://cdn.example.com/a.png", "pbx", "hTTp://cdn.example.com/a.png"),
        # Only web addresses are URLs: any other "scheme" is part of a file name on the server.
        (
            "data:image/png;base64,AAAA",
            "pbx.example.com",
            "https://pbx.example.com/basix/avatars/data%3Aimage/png;base64,AAAA",
        ),
        (
            "javascript:alert(1)",
            "pbx.example.com",
            "https://pbx.example.com/basix/avatars/javascript%3Aalert(1)",
        ),
        ("a1:b.png", "pbx.example.com", "https://pbx.example.com/basix/avatars/a1%3Ab.png"),
        ("javascript:alert(1)", None, None),
        (b"u201.png", "pbx.example.com", "https://pbx.example.com/basix/avatars/u201.png"),
        (
            "dir/田中 1.png",
            "pbx.example.com",
            "https://pbx.example.com/basix/avatars/dir/%E7%94%B0%E4%B8%AD%201.png",
        ),
        (
            "/u201.png",
            "pbx.example.com:8443",
            "https://pbx.example.com:8443/basix/avatars/u201.png",
        ),
        (
            "u201.png",
            "wss://pbx.example.com/basix/api/ws_cti",
            "https://pbx.example.com/basix/avatars/u201.png",
        ),
        ("u201.png", "ws://localhost:8080", "http://localhost:8080/basix/avatars/u201.png"),
        (
            "u201.png",
            "wss://dom:secret@pbx.example.com",
            "https://pbx.example.com/basix/avatars/u201.png",
        ),
        ("u201.png", "[::1]:9000", "https://[::1]:9000/basix/avatars/u201.png"),
        ("u201.png", None, None),
        ("u201.png", "", None),
        ("u201.png", "host:notaport", None),
        ("u201.png", "wss://", None),
    ],
)
def test_avatar_url(value: Any, server: str | None, expected: str | None) -> None:
    assert avatar_url(value, server) == expected


# --- current generation: BERT booleans as Erlang writes them -----------------------------------


def test_bert_booleans_as_erlang_encodes_them_are_booleans() -> None:
    # `{bert, true}` in Erlang is a tuple of two atoms; the decoder gives `true` as a bool.
    frame = etf.encode((A("bert"), True, (A("bert"), False), [(A("bert"), True)]), atoms="latin1")
    assert from_bert(etf.decode(frame)) == (A("bert"), True, False, [True])
    assert from_bert((A("bert"), True)) is True
    assert from_bert((A("bert"), False)) is False
    assert from_bert((A("bert"), A("true"))) is True  # a decoder that keeps atoms


# --- cut escapes --------------------------------------------------------------------------------


def test_a_cut_escape_keeps_the_raw_text(reporter: ProblemReporter) -> None:
    # 田中 cut inside 中: kept as sent rather than read as Latin-1 mojibake.
    assert parse_origination("%E7%94%B0%E4*ok%E7%94*abc%E*Jos%E9", reporter) == (
        "%E7%94%B0%E4",
        "ok%E7%94",
        "abc%E",
        "José",
    )
    assert reporter.counts["cut_escape:origination"] == 2
    assert reporter.counts["bad_escape:origination"] == 1  # `abc%E`: the % is kept as it is
    end_user = parse_end_user("1*%E7%94%B0%E4*Org", reporter)
    assert end_user is not None
    assert end_user.party is not None
    assert end_user.party.name == "%E7%94%B0%E4"


# --- voicemail counters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "counts"),
    [
        ("", (0, 0, None, None)),
        (b"", (0, 0, None, None)),
        ("  ", (0, 0, None, None)),
        ("2/5", (2, 5, None, None)),
        (b"2/5", (2, 5, None, None)),
        (" 2 / 5 ", (2, 5, None, None)),
        ("2/5 (1/0)", (2, 5, 1, 0)),
        ("2/5(1/0)", (2, 5, 1, 0)),
        ("3", (3, None, None, None)),
        (3, (3, None, None, None)),
        (0, (0, None, None, None)),
        (3.0, (3, None, None, None)),
        (True, (1, None, None, None)),
        (False, (0, None, None, None)),
        ("yes", (1, None, None, None)),
        ("no", (0, None, None, None)),
        ((2, 5), (2, 5, None, None)),
        ([2, 5, 1, 0], (2, 5, 1, 0)),
        ((A("mwi"), 2, 5), (2, 5, None, None)),
        ((A("mwi"), b"2/5"), (2, 5, None, None)),
        ({"new": 2, "old": 5}, (2, 5, None, None)),
        ({A("new_messages"): 4}, (4, None, None, None)),
        ({"saved": 1, "new": 0, "urgent": 1}, (0, 1, 1, None)),
        ({"waiting": True}, (1, None, None, None)),
    ],
)
def test_mwi_every_plausible_form(value: Any, counts: tuple[int | None, ...]) -> None:
    assert parse_mwi(from_bert(value)) == counts


def test_mwi_from_real_bert_terms() -> None:
    for term, counts in [
        ((A("bert"), True), (1, None, None, None)),
        ((A("bert"), A("false")), (0, None, None, None)),
        ((A("bert"), A("dict"), [(A("new"), 1), (A("old"), 2)]), (1, 2, None, None)),
        ("2/5", (2, 5, None, None)),  # an Erlang string (charlist)
    ]:
        assert parse_mwi(from_bert(etf.decode(etf.encode(term, atoms="latin1")))) == counts
    # Erlang writes a list of small integers as a STRING_EXT, which decodes to a str.
    assert parse_mwi(from_bert(etf.decode(bytes([131, 107, 0, 2, 2, 5])))) == (2, 5, None, None)


def test_mwi_no_value_and_unknown_forms(reporter: ProblemReporter) -> None:
    assert parse_mwi(None, reporter) is None
    assert parse_mwi(A("undefined"), reporter) is None
    assert parse_mwi((A("bert"), A("nil")), reporter) is None
    for odd in ("lots", "2/5/7", -1, (1, 2, 3, 4, 5), {"x": 1}, ("a", "b"), 1.5, [True, 2]):
        assert parse_mwi(odd, reporter) == (None, None, None, None)
    assert reporter.counts["unknown_mwi"] == 8


# --- tags, whoscall, disposition ----------------------------------------------------------------


def test_tags_are_a_list() -> None:
    assert parse_tags("monitoring_required;auto_answer") == ("monitoring_required", "auto_answer")
    assert parse_tags(b" a ; ;b;") == ("a", "b")
    assert parse_tags([A("a"), b"b", ""]) == ("a", "b")
    assert parse_tags("") == ()
    assert parse_tags(None) == ()
    assert parse_tags(A("undefined")) == ()


def test_tags_odd_value(reporter: ProblemReporter) -> None:
    assert parse_tags({"a": 1}, reporter) == ()
    assert reporter.counts["bad_tags"] == 1


def test_whoscall_is_url_encoded_json() -> None:
    raw = "%7B%22name%22%3A%22%E6%A0%AA%E5%BC%8F%E4%BC%9A%E7%A4%BE+X%22%2C%22score%22%3A3%7D"
    assert parse_whoscall(raw) == Whoscall(data={"name": "株式会社+X", "score": 3}, raw=raw)
    form = '{"spam":+true}'
    assert parse_whoscall(form) == Whoscall(data={"spam": True}, raw=form)
    assert parse_whoscall(b"%5B1%2C2%5D") == Whoscall(data=[1, 2], raw="%5B1%2C2%5D")


def test_whoscall_not_json_keeps_the_raw_text(reporter: ProblemReporter) -> None:
    assert parse_whoscall("not%20json", reporter) == Whoscall(data=None, raw="not%20json")
    assert parse_whoscall("[" * 100_000, reporter) == Whoscall(data=None, raw="[" * 100_000)
    deep = "[" * 60_000 + "]" * 60_000
    assert parse_whoscall(deep[:50_000] + deep[-50_000:], reporter) is not None
    assert reporter.counts["bad_whoscall"] >= 2
    # The 2021 servers' answer timestamp in the same place is no caller-ID data.
    assert parse_whoscall(TS_US, reporter) is None
    assert parse_whoscall("", reporter) is None
    assert parse_whoscall(None, reporter) is None


def test_other_info_eighth_element_is_whoscall() -> None:
    info = parse_other_info(
        (
            A("end_user"),
            b"9*Sato****",
            A("inbound"),
            A("external"),
            b"0312345678",
            TS_US,
            None,
            b"%7B%22spam%22%3Afalse%7D",
        ),
        server="pbx.example.com",
    )
    assert info is not None
    assert info.whoscall == Whoscall(data={"spam": False}, raw="%7B%22spam%22%3Afalse%7D")
    assert info.end_user is not None
    assert info.end_user.party == Party(id="9", name="Sato", organization=None, avatar=None)
    seven = parse_other_info((A("user"), 201, A("outbound"), A("internal"), b"201", TS_US, 9))
    assert seven is not None
    assert (seven.user_id, seven.group_id, seven.whoscall) == ("201", "9", None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"send_cancel,LOSE_RACE", ("send", "cancel", "LOSE_RACE")),
        (b"send_cancel,PICKED_OFF", ("send", "cancel", "PICKED_OFF")),
        ("recv_cancel,ORIGINATOR_CANCEL", ("recv", "cancel", "ORIGINATOR_CANCEL")),
        (A("recv_refuse,USER_BUSY"), ("recv", "refuse", "USER_BUSY")),
        (" send_bye , normal_clearing ", ("send", "bye", "NORMAL_CLEARING")),
        ("recv_bye", ("recv", "bye", None)),
        ("LOSE_RACE", (None, None, "LOSE_RACE")),
        ("hangup,CALL_REJECTED", (None, "hangup", "CALL_REJECTED")),
    ],
)
def test_dispositions(value: Any, expected: tuple[str | None, ...]) -> None:
    disposition = parse_disposition(value)
    assert disposition is not None
    assert (disposition.side, disposition.action, disposition.cause) == expected
    assert disposition.raw == to_text(value).strip()  # type: ignore[union-attr]


def test_disposition_odd_values(reporter: ProblemReporter) -> None:
    assert parse_disposition(None, reporter) is None
    assert parse_disposition("", reporter) is None
    assert parse_disposition("  ", reporter) is None
    assert parse_disposition((1, 2), reporter) is None
    assert reporter.counts["bad_disposition"] == 1
    assert parse_disposition(16) == Disposition(None, None, "16", "16")  # a Q.850 code


def test_calling_without_target_data_is_the_newer_form() -> None:
    state = parse_state((TS_US, A("calling"), A("int"), A("user")))
    assert state is not None
    assert dict(state.details) == {"target_location": "int", "target_type": "user"}
    state = parse_state((TS_US, A("calling"), A("ext"), A("pstn"), A("undefined")))
    assert state is not None
    assert dict(state.details) == {"target_location": "ext", "target_type": "pstn"}
    older = parse_state((TS_US, A("calling"), A("user"), 201, b"Tanaka"))
    assert older is not None
    assert older.details["target_id"] == "201"


def test_avatar_folders() -> None:
    assert USER_AVATARS == "basix/avatars/users"
    assert END_USER_AVATARS == "basix/avatars/end_users"
    assert avatar_url("a.png", "pbx", USER_AVATARS) == "https://pbx/basix/avatars/users/a.png"
    assert (
        avatar_url("a.png", "pbx", END_USER_AVATARS) == "https://pbx/basix/avatars/end_users/a.png"
    )
    assert avatar_url("https://x/a.png", "pbx", USER_AVATARS) == "https://x/a.png"
