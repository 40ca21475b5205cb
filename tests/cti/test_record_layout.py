"""How a record is kept: one layout per field_spec, a values tuple behind a mapping view, and
the texts, targets and times that repeat shared rather than copied (issue #12)."""

from __future__ import annotations

import logging
from typing import Any

from hypothesis import given, strategies as st
import pytest

from custom_components.basix_cti.cti import values
from custom_components.basix_cti.cti.models import FieldLayout, Fields
from custom_components.basix_cti.cti.problems import ProblemReporter
from custom_components.basix_cti.cti.protocol import Parser
from custom_components.basix_cti.cti.terms import Atom
from custom_components.basix_cti.cti.values import from_bert, parse_end_user, parse_target
from tests.cti.test_protocol import CHANNEL_FIELDS, b_leg, feed_one, spec

A = Atom


@pytest.fixture
def reporter() -> ProblemReporter:
    return ProblemReporter(logging.getLogger("test.record_layout"))


@pytest.fixture
def parser(reporter: ProblemReporter) -> Parser:
    return Parser(reporter, server="pbx.example.com")


def snapshot(parser: Parser, *records: tuple[Any, ...]) -> Any:
    return feed_one(parser, (A("initial_info"), A("channel"), list(records)))


# --- the view ------------------------------------------------------------------------------------


def test_fields_read_like_the_dict_they_replace() -> None:
    layout = FieldLayout(("uuid", "state"))
    fields = Fields(layout, ("u-1", None, 7))
    assert fields == {"uuid": "u-1", "state": None, "_extra_2": 7}
    assert dict(fields) == {"uuid": "u-1", "state": None, "_extra_2": 7}
    assert list(fields) == ["uuid", "state", "_extra_2"]
    assert len(fields) == 3
    assert fields["_extra_2"] == 7
    assert fields.get("state", "default") is None  # present, though None
    assert fields.get("nothing", "default") == "default"
    assert "state" in fields
    assert "_extra_1" not in fields  # position 1 has a name of its own
    assert "_extra_3" not in fields  # past the values
    assert 5 not in fields
    with pytest.raises(KeyError):
        fields["nothing"]
    with pytest.raises(KeyError):
        fields[3]  # type: ignore[index]
    assert repr(fields) == "Fields({'uuid': 'u-1', 'state': None, '_extra_2': 7})"


def test_a_short_record_has_only_the_fields_it_has() -> None:
    fields = Fields(FieldLayout(("uuid", "user_id")), ("u-1",))
    assert fields == {"uuid": "u-1"}
    assert "user_id" not in fields
    assert fields.get("user_id") is None


def test_a_spec_naming_a_field_extra_does_not_hide_an_extra_value() -> None:
    fields = Fields(FieldLayout(("a", "_extra_2")), (1, 2, 3))
    assert fields == {"a": 1, "_extra_2": 2, "_extra_2_": 3}
    assert len(set(fields)) == len(fields)


def test_views_compare_by_value() -> None:
    layout = FieldLayout(("a",))
    assert Fields(layout, (1,)) == Fields(layout, (1,))
    assert Fields(layout, (1,)) != Fields(layout, (2,))
    assert Fields(layout, (1,)) == Fields(FieldLayout(("a",)), (1,))  # another layout alike
    assert Fields(layout, (1,)) != {"a": 1, "b": 2}
    assert Fields(layout, (1,)) != [1]


def test_every_record_of_a_spec_shares_its_layout(parser: Parser) -> None:
    parser.feed(spec("channel", CHANNEL_FIELDS))
    first, second = snapshot(parser, b_leg(uuid=b"one"), b_leg(uuid=b"two")).items
    assert isinstance(first.fields, Fields)
    assert first.fields.layout is second.fields.layout
    assert first.fields["uuid"] == "one"
    assert second.fields["uuid"] == "two"


def test_map_records_with_the_same_keys_share_a_layout(parser: Parser) -> None:
    first, second = snapshot(
        parser, {A("uuid"): b"one", A("user_id"): b"7"}, {A("uuid"): b"two", A("user_id"): b"7"}
    ).items
    assert (first.uuid, first.user_id, second.uuid) == ("one", "7", "two")
    assert first.fields.layout is second.fields.layout
    assert first.fields == {"uuid": "one", "user_id": "7"}


def test_a_spec_without_user_id_takes_the_owner_from_other_info(parser: Parser) -> None:
    parser.feed(spec("channel", ["uuid", "other_info"]))
    (channel,) = snapshot(parser, (b"one", (A("user"), b"204", A("inbound")))).items
    assert channel.user_id == "204"
    assert channel.last_event is None


# --- shared, not copied ---------------------------------------------------------------------------


def test_texts_that_repeat_are_one_string(parser: Parser) -> None:
    parser.feed(spec("channel", CHANNEL_FIELDS))
    first, second = snapshot(parser, b_leg(uuid=b"one"), b_leg(uuid=b"two")).items
    assert first.user_name is second.user_name
    assert first.target is second.target  # one user's calls: one Target
    assert first.direction is second.direction
    assert type(first.direction) is str  # an atom read as text is plain text
    assert first.offered_at is second.offered_at


def test_the_end_user_of_other_info_is_the_records_own_and_reported_once(
    parser: Parser, reporter: ProblemReporter
) -> None:
    parser.feed(spec("channel", CHANNEL_FIELDS))
    bad = b"1*100%+sure*ACME*"
    (channel,) = snapshot(
        parser,
        b_leg(
            end_user=bad,
            other_info=(A("pstn"), bad, A("inbound"), A("external"), b"0901234567", 0, None),
        ),
    ).items
    assert channel.other_info.end_user is channel.end_user
    assert channel.end_user.party.name == "100% sure"
    assert reporter.counts["bad_escape:end_user"] == 1


def test_targets_are_shared_only_when_equal_texts_make_them() -> None:
    by_text = parse_target((A("user"), "1", None, None))
    assert parse_target((A("user"), "1", None, None)) is by_text
    # 1, 1.0 and true are one dict key in Python, three different ids here.
    assert parse_target((A("user"), 1, None, None)).id == "1"
    assert parse_target((A("user"), True, None, None)).id == "true"
    assert parse_target((A("user"), 1.5, None, None)).id == "1.5"
    assert parse_target(("user", "1", "n")).name == "n"  # a short one is read as before


def test_the_text_cache_stays_bounded_and_keeps_what_repeats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(values, "_TEXT_CACHE_MAX", 8)
    monkeypatch.setattr(values, "_TEXTS", {})
    monkeypatch.setattr(values, "_OLD_TEXTS", {})
    texts: dict[bytes, str] = values._TEXTS
    old: dict[bytes, str] = values._OLD_TEXTS
    keep = values._text_of(b"repeated", texts, old)
    for number in range(100):
        values._text_of(str(number).encode(), texts, old)
        assert values._text_of(b"repeated", texts, old) is keep
        assert len(texts) <= 8
        assert len(old) <= 8


def test_a_long_text_is_not_cached_but_read_again_at_once_shared() -> None:
    long = b"x" * 100
    first = from_bert(long)
    assert from_bert(bytes(long)) is first  # the very next one: the other_info's copy
    from_bert(b"y" * 100)
    assert from_bert(bytes(long)) == first


# --- the end_user fast path ----------------------------------------------------------------------

# Everything a form-encoded part can hold, and what would trip the one-pass decoding.
_PART_TEXT = st.lists(
    st.sampled_from(
        [*"ab09 +*%=\r\n_.~é山", "%41", "%2A", "%2a", "%E5%B1%B1", "%E5", "%zz", "%E9"]
    ),
    max_size=12,
).map("".join)


@given(text=_PART_TEXT)
def test_decoding_a_whole_end_user_at_once_is_decoding_it_part_by_part(text: str) -> None:
    whole = values._form_decode_all(text)
    if whole is not None:
        by_part = [values._form_decode(part, None, "end_user") for part in text.split("*")]
        assert whole == by_part


@given(text=_PART_TEXT)
def test_an_end_user_reads_the_same_and_reports_the_same_either_way(text: str) -> None:
    fast, slow = ProblemReporter(logging.getLogger("a")), ProblemReporter(logging.getLogger("b"))
    parsed = parse_end_user(text, fast)
    original = values._form_decode_all
    try:
        values._form_decode_all = lambda _text: None
        reference = parse_end_user(text, slow)
    finally:
        values._form_decode_all = original
    assert parsed == reference
    assert dict(fast.counts) == dict(slow.counts)


def test_what_is_shared_never_keeps_a_huge_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(values, "_TARGETS", {})
    huge = "x" * 100_000
    target = parse_target((A("user"), "1", huge, None))
    assert target.name == huge
    assert values._TARGETS == {}  # read, not kept
    big = b"y" * (values._LONG_MEMO_BYTES + 1)
    assert from_bert(big) == big.decode()
    assert values._LAST_LONG[0][0] is not big
    moments = dict(values._MOMENTS)
    assert values.to_datetime(10**40) is None  # no time, and no cache key either
    assert moments == values._MOMENTS
