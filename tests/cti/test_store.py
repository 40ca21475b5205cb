"""PbxState: snapshots replace, changes upsert or remove, and the per-user channel index."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from custom_components.basix_cti.cti.models import (
    Change,
    Channel,
    FieldSpec,
    Group,
    Item,
    Mwi,
    Notice,
    Snapshot,
    UnknownMessage,
    User,
)
from custom_components.basix_cti.cti.store import Delta, PbxState, ends_item

NOW = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def leg(
    uuid: str,
    user_id: str | None = None,
    *,
    entity: str = "channel",
    hungup: bool = False,
    answered: bool = False,
    last_event: str | None = None,
) -> Channel:
    return Channel(
        entity=entity,
        uuid=uuid,
        direction="outbound",
        peer_location="internal",
        calling_name=None,
        calling_number=None,
        called_number=None,
        offered_at=NOW,
        answered_at=NOW if answered else None,
        hungup_at=NOW if hungup else None,
        other_uuid=None,
        user_id=user_id,
        user_name=None,
        group_id=None,
        group_name=None,
        state=None,
        target=None,
        end_user=None,
        origination=None,
        other_info=None,
        last_event=last_event,
        fields={"uuid": uuid},
    )


def user(user_id: str, label: str = "x") -> User:
    return User(user_id, None, label, None, None, None, None, {"id": user_id})


def mwi(user_id: str | None, mailbox: str | None, new: int) -> Mwi:
    return Mwi(user_id, mailbox, new, 0, {})


def keys(records: tuple[Any, ...]) -> list[str]:
    return [r.key for r in records]


def legs_of(state: PbxState, user_id: str) -> tuple[Channel, ...]:
    """The stored legs of a user, from every channel table (a scan: tests only)."""
    tables = (state.channels, state.queued_channels, state.parked_channels)
    return tuple(leg for table in tables for leg in table.values() if leg.user_id == user_id)


def uuids_of(state: PbxState, user_id: str) -> set[tuple[str, str]]:
    return {(c.entity, c.uuid) for c in legs_of(state, user_id)}


@pytest.fixture
def state() -> PbxState:
    return PbxState()


# --- snapshots ----------------------------------------------------------------------------------


def test_snapshot_fills_an_empty_store(state: PbxState) -> None:
    delta = state.apply(Snapshot("channel", (leg("a", "201"), leg("b", "202"), leg("c"))))
    assert delta == Delta(
        "channel",
        (leg("a", "201"), leg("b", "202"), leg("c")),
        (),
        None,
        True,
        frozenset({"201", "202"}),
    )
    assert set(state.channels) == {"a", "b", "c"}
    assert uuids_of(state, "201") == {("channel", "a")}


def test_snapshot_replaces_and_lists_what_vanished(state: PbxState) -> None:
    state.apply(Snapshot("channel", (leg("a", "201"), leg("b", "202"), leg("c", "203"))))
    delta = state.apply(Snapshot("channel", (leg("a", "201"), leg("c", "204"), leg("d", "205"))))
    assert delta is not None
    assert delta.snapshot
    assert keys(delta.upserted) == ["a", "c", "d"]
    assert keys(delta.removed) == ["b"]
    # a is unchanged: its user is not disturbed; c moved from 203 to 204.
    assert delta.users == {"202", "203", "204", "205"}
    assert set(state.channels) == {"a", "c", "d"}
    assert legs_of(state, "202") == ()
    assert legs_of(state, "203") == ()
    assert uuids_of(state, "204") == {("channel", "c")}


def test_empty_snapshot_clears_the_entity_only(state: PbxState) -> None:
    state.apply(Snapshot("channel", (leg("a", "201"),)))
    state.apply(Snapshot("parked_channel", (leg("a", "201", entity="parked_channel"),)))
    delta = state.apply(Snapshot("channel", ()))
    assert delta is not None
    assert keys(delta.removed) == ["a"]
    assert delta.users == {"201"}
    assert state.channels == {}
    assert set(state.parked_channels) == {"a"}
    assert uuids_of(state, "201") == {("parked_channel", "a")}


def test_snapshot_leaves_out_legs_that_already_hung_up(state: PbxState) -> None:
    state.apply(Snapshot("channel", (leg("a", "201"),)))
    delta = state.apply(Snapshot("channel", (leg("a", "201", hungup=True), leg("b", "202"))))
    assert delta is not None
    assert keys(delta.upserted) == ["b"]
    assert keys(delta.removed) == ["a"]
    assert set(state.channels) == {"b"}


def test_snapshot_of_users_and_groups_keyed_by_id(state: PbxState) -> None:
    state.apply(Snapshot("user", (user("201"), user("202"), user("203"))))
    state.apply(Snapshot("group", (Group("9", "sales", None, None, None, {}),)))
    assert set(state.users) == {"201", "202", "203"}
    assert set(state.groups) == {"9"}
    delta = state.apply(Snapshot("user", (user("201"), user("203"))))
    assert delta is not None
    assert keys(delta.removed) == ["202"]
    assert delta.users == {"202"}  # the user whose record went
    assert set(state.users) == {"201", "203"}


def test_snapshot_skips_items_without_a_key_and_keeps_the_last_duplicate(state: PbxState) -> None:
    delta = state.apply(Snapshot("channel", (leg("", "201"), leg("a", "201"), leg("a", "202"))))
    assert delta is not None
    assert delta.upserted == (leg("a", "202"),)
    assert legs_of(state, "201") == ()
    assert legs_of(state, "202") == (leg("a", "202"),)


# --- changes ------------------------------------------------------------------------------------


def test_change_inserts_and_updates(state: PbxState) -> None:
    delta = state.apply(Change("channel", leg("a", "201"), "CHANNEL_CREATE"))
    assert delta == Delta(
        "channel", (leg("a", "201"),), (), "CHANNEL_CREATE", False, frozenset({"201"})
    )
    answered = leg("a", "201", answered=True)
    delta = state.apply(Change("channel", answered, "CHANNEL_ANSWER"))
    assert delta == Delta("channel", (answered,), (), "CHANNEL_ANSWER", False, frozenset({"201"}))
    assert state.channels["a"] is answered
    assert legs_of(state, "201") == (answered,)


def test_repeating_the_same_record_changes_no_user(state: PbxState) -> None:
    state.apply(Change("channel", leg("a", "201"), "CHANNEL_CREATE"))
    delta = state.apply(Change("channel", leg("a", "201"), "CHANNEL_CALLSTATE"))
    assert delta is not None
    assert delta.upserted == (leg("a", "201"),)
    assert delta.users == frozenset()


def test_a_channel_that_changes_user_moves_in_the_index(state: PbxState) -> None:
    state.apply(Change("channel", leg("a", "201"), "CHANNEL_CREATE"))
    delta = state.apply(Change("channel", leg("a", "202"), "CHANNEL_BRIDGE"))
    assert delta is not None
    assert delta.users == {"201", "202"}
    assert legs_of(state, "201") == ()
    assert legs_of(state, "202") == (leg("a", "202"),)
    delta = state.apply(Change("channel", leg("a"), "CHANNEL_BRIDGE"))
    assert delta is not None
    assert delta.users == {"202"}
    assert legs_of(state, "202") == ()


@pytest.mark.parametrize(
    "event",
    [
        "CHANNEL_HANGUP",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_DESTROY",
        "channel_hangup",
        "QUEUE_MEMBER_REMOVE",
        "CHANNEL_DELETE",
        "X_DESTROYED",
    ],
)
def test_events_that_end_a_channel_remove_it(state: PbxState, event: str) -> None:
    state.apply(Change("channel", leg("a", "201"), "CHANNEL_CREATE"))
    state.apply(Change("channel", leg("b", "201"), "CHANNEL_CREATE"))
    final = leg("a", "201", last_event=event)
    delta = state.apply(Change("channel", final, event))
    assert delta == Delta("channel", (), (final,), event, False, frozenset({"201"}))
    assert set(state.channels) == {"b"}
    assert legs_of(state, "201") == (leg("b", "201"),)


@pytest.mark.parametrize("event", ["CHANNEL_UNPARK", "UNPARK", "channel_unpark"])
def test_an_unpark_ends_the_park_not_the_call(state: PbxState, event: str) -> None:
    # FreeSWITCH sends CHANNEL_UNPARK for the `channel` leg that is taken from its park slot:
    # the call goes on. Only the `parked_channel` item ends.
    state.apply(Change("channel", leg("a", "201"), "CHANNEL_CREATE"))
    state.apply(Change("parked_channel", leg("a", "201", entity="parked_channel"), "PARK"))
    delta = state.apply(Change("channel", leg("a", "201", last_event=event), event))
    assert delta is not None
    assert keys(delta.upserted) == ["a"]
    assert delta.removed == ()
    assert set(state.channels) == {"a"}
    delta = state.apply(Change("parked_channel", leg("a", "201", entity="parked_channel"), event))
    assert delta is not None
    assert keys(delta.removed) == ["a"]
    assert state.parked_channels == {}
    assert set(state.channels) == {"a"}
    assert uuids_of(state, "201") == {("channel", "a")}


def test_a_snapshot_keeps_an_unparked_channel_but_not_an_unparked_park(state: PbxState) -> None:
    state.apply(Snapshot("channel", (leg("a", "201", last_event="CHANNEL_UNPARK"),)))
    state.apply(
        Snapshot("parked_channel", (leg("a", "201", entity="parked_channel", last_event="UNPARK"),))
    )
    assert set(state.channels) == {"a"}
    assert state.parked_channels == {}


def test_a_hangup_timestamp_removes_whatever_the_event(state: PbxState) -> None:
    state.apply(Change("channel", leg("a", "201"), "CHANNEL_CREATE"))
    delta = state.apply(Change("channel", leg("a", "201", hungup=True), None))
    assert delta is not None
    assert keys(delta.removed) == ["a"]
    assert state.channels == {}
    assert legs_of(state, "201") == ()


def test_removal_takes_the_old_and_new_owner(state: PbxState) -> None:
    state.apply(Change("channel", leg("a", "201"), "CHANNEL_CREATE"))
    delta = state.apply(Change("channel", leg("a"), "CHANNEL_HANGUP"))
    assert delta is not None
    assert delta.users == {"201"}
    assert legs_of(state, "201") == ()


def test_removing_an_unknown_item_stores_nothing_but_says_so(state: PbxState) -> None:
    ghost = leg("ghost", "201")
    delta = state.apply(Change("channel", ghost, "CHANNEL_HANGUP"))
    # Listed, so that a user known only from elsewhere (a restored device) can go too.
    assert delta == Delta("channel", (), (ghost,), "CHANNEL_HANGUP", False, frozenset())
    assert state.channels == {}
    delta = state.apply(Change("user", user("404"), "removed"))
    assert delta is not None
    assert keys(delta.removed) == ["404"]
    assert state.users == {}


def test_a_change_without_a_key_is_not_stored(state: PbxState) -> None:
    delta = state.apply(Change("channel", leg("", "201"), "CHANNEL_CREATE"))
    assert delta == Delta("channel", (), (), "CHANNEL_CREATE", False, frozenset())
    assert state.channels == {}
    assert legs_of(state, "201") == ()


def test_parked_channels_have_their_own_table(state: PbxState) -> None:
    state.apply(Change("channel", leg("a", "201"), "CHANNEL_CREATE"))
    state.apply(Change("parked_channel", leg("a", "201", entity="parked_channel"), "PARK"))
    state.apply(Change("queued_channel", leg("q", "201", entity="queued_channel"), "QUEUE_JOIN"))
    assert set(state.channels) == {"a"}
    assert set(state.parked_channels) == {"a"}
    assert set(state.queued_channels) == {"q"}
    assert set(state.items("parked_channel")) == {"a"}
    assert uuids_of(state, "201") == {
        ("channel", "a"),
        ("parked_channel", "a"),
        ("queued_channel", "q"),
    }
    delta = state.apply(
        Change("parked_channel", leg("a", "201", entity="parked_channel"), "UNPARK")
    )
    assert delta is not None
    assert keys(delta.removed) == ["a"]
    assert state.parked_channels == {}
    assert set(state.channels) == {"a"}  # the leg itself goes on
    assert uuids_of(state, "201") == {("channel", "a"), ("queued_channel", "q")}


def test_users_groups_and_other_items(state: PbxState) -> None:
    delta = state.apply(Change("user", user("201", "Taro"), "updated"))
    assert delta is not None
    assert delta.users == {"201"}  # their record changed: their entities follow
    assert state.users["201"].label == "Taro"
    delta = state.apply(Change("user", user("201", "Taro"), "updated"))
    assert delta is not None
    assert delta.users == frozenset()  # the same record again: nothing to tell
    state.apply(Change("gizmo", Item("gizmo", "t1", {"id": "t1"}), "added"))
    assert set(state.items("gizmo")) == {"t1"}
    delta = state.apply(Change("user", user("201"), "removed"))
    assert delta is not None
    assert keys(delta.removed) == ["201"]
    assert delta.users == {"201"}
    assert state.users == {}


def test_mwi_keyed_by_box_and_names_its_user(state: PbxState) -> None:
    delta = state.apply(Change("mwi", mwi("201", "9201", 1), "MWI"))
    assert delta is not None
    assert delta.users == {"201"}
    assert state.mwi["201"].new_messages == 1
    state.apply(Change("mwi", mwi(None, "800", 3), "MWI"))
    assert set(state.mwi) == {"201", "800"}
    delta = state.apply(Change("mwi", mwi("201", "9201", 0), "MWI"))
    assert delta is not None
    assert delta.users == {"201"}
    assert state.mwi["201"].new_messages == 0
    delta = state.apply(Snapshot("mwi", (mwi(None, "800", 3),)))
    assert delta is not None
    assert keys(delta.removed) == ["201"]
    assert delta.users == {"201"}


@pytest.mark.parametrize(
    "message",
    [
        Notice("msg", "hi", b"hi"),
        UnknownMessage((1, 2)),
    ],
)
def test_messages_without_items_give_no_delta(state: PbxState, message: Any) -> None:
    assert state.apply(message) is None


def test_field_specs_are_kept(state: PbxState) -> None:
    assert state.apply(FieldSpec("channel", ("uuid", "state"))) is None
    assert state.field_specs == {"channel": ("uuid", "state")}


def test_views_are_read_only_and_live(state: PbxState) -> None:
    channels = state.channels
    unseen = state.items("nothing_yet")
    assert unseen == {}
    state.apply(Change("channel", leg("a"), "CHANNEL_CREATE"))
    state.apply(Change("nothing_yet", Item("nothing_yet", "1", {}), "X"))
    assert set(channels) == {"a"}
    assert set(unseen) == {"1"}
    with pytest.raises(TypeError):
        channels["b"] = leg("b")  # type: ignore[index]


def test_ends_item() -> None:
    assert ends_item(leg("a"), "CHANNEL_HANGUP_COMPLETE")
    assert ends_item(leg("a", hungup=True), "CHANNEL_ANSWER")
    assert not ends_item(leg("a"), "CHANNEL_ANSWER")
    assert not ends_item(leg("a"), None)
    assert ends_item(leg("a", last_event="CHANNEL_HANGUP"), None)  # the older generation
    # Gone whatever the event name: Brastel's store deletes a channel whose last_event says so.
    assert ends_item(leg("a", last_event="CHANNEL_HANGUP"), "updated")
    assert ends_item(leg("a", last_event="CHANNEL_HANGUP"), "CHANNEL_ANSWER")
    assert ends_item(leg("a", last_event="STATE_CHANGE"), "removed")
    assert ends_item(user("1"), "removed")
    assert not ends_item(user("1"), "updated")
    assert not ends_item(leg("a", last_event="CHANNEL_BRIDGE"), "added")
    assert not ends_item(user("1"), None)
    assert ends_item(user("1"), "user_removed")
    assert not ends_item(leg("a"), "CHANNEL_UNPARK")
    assert ends_item(leg("a", entity="parked_channel"), "CHANNEL_UNPARK")
    assert ends_item(leg("a"), "UNPARK", "parked_channel")  # the table the change goes to
    assert not ends_item(leg("a", entity="parked_channel"), "UNPARK", "channel")
    assert not ends_item(Item("parked_channel", "1", {}), "UNPARK")
    assert ends_item(Item("parked_channel", "1", {}), "UNPARK", "parked_channel")


# --- per-event work stays per leg, whatever the size of the PBX --------------------------------------


def _big_state(channels: int) -> PbxState:
    state = PbxState()
    state.apply(Snapshot("channel", tuple(leg(f"c{i}", f"u{i % 5000}") for i in range(channels))))
    return state


def test_one_event_touches_only_its_users_channels_among_10000() -> None:
    state = _big_state(10_000)
    others_before = {u: legs_of(state, u) for u in ("u0", "u1", "u4999")}
    assert len(legs_of(state, "u7")) == 2

    delta = state.apply(Change("channel", leg("c7", "u7", answered=True), "CHANNEL_ANSWER"))
    assert delta is not None
    assert delta.users == {"u7"}
    assert delta.upserted == (leg("c7", "u7", answered=True),)
    assert sorted(legs_of(state, "u7"), key=lambda c: c.uuid) == [
        leg("c5007", "u7"),
        leg("c7", "u7", answered=True),
    ]
    assert {u: legs_of(state, u) for u in others_before} == others_before

    delta = state.apply(Change("channel", leg("c7", "u8"), "CHANNEL_BRIDGE"))
    assert delta is not None
    assert delta.users == {"u7", "u8"}
    assert legs_of(state, "u7") == (leg("c5007", "u7"),)
    assert len(legs_of(state, "u8")) == 3
    assert len(state.channels) == 10_000


class _Watched(Channel):
    """A channel that notes every read of any of its attributes (a walk over it, say)."""

    touched: ClassVar[set[str]] = set()

    def __getattribute__(self, name: str) -> Any:
        _Watched.touched.add(object.__getattribute__(self, "uuid"))
        return object.__getattribute__(self, name)


def test_per_event_work_does_not_grow_with_the_number_of_channels() -> None:
    # Counted, not timed: the events of one user's leg must not look at any other leg.
    state = PbxState()
    plain = (leg(f"c{i}", f"u{i % 5000}") for i in range(10_000))
    legs = [_Watched(**{f.name: getattr(c, f.name) for f in fields(Channel)}) for c in plain]
    state.apply(Snapshot("channel", tuple(legs)))
    _Watched.touched.clear()
    for i in range(200):
        state.apply(Change("channel", leg("c3", "u3", answered=bool(i % 2)), "CHANNEL_ANSWER"))
        assert state.channels["c3"].answered_at is not None or not i % 2
    state.apply(Change("channel", leg("c9", "u9"), "CHANNEL_HANGUP"))
    state.apply(Change("channel", leg("c10", "u10"), "CHANNEL_CREATE"))
    assert _Watched.touched == {"c3", "c9", "c10"}  # the old records of the legs that changed
    assert len(state.channels) == 9_999
