"""What the PBX tells us, as plain data: the records of each entity and the messages carrying them.

Everything here is built by `protocol.Parser` from decoded frames. Ids are text (an integer id
becomes its decimal form) so that they can key dictionaries and Home Assistant unique ids alike.
Every record keeps `fields`, all it was sent (after BERT conversion), so nothing is lost when the
server sends something this module does not model.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
import re
from typing import Any

# Entity kinds as the newer and current generations name them; the older generation's names map
# onto these (`chan_info` -> channel, `park_info`/`unpark_info` -> parked_channel, `mwi_info` ->
# mwi). `mwi` is no entity of any Basix generation since 2019 (voicemail counts are the `mwi`
# field of users and groups); it stays for the older `mwi_info` and simulators that invent it.
CHANNEL = "channel"
CHANNEL_WAITING = "channel_waiting"
QUEUED_CHANNEL = "queued_channel"
PARKED_CHANNEL = "parked_channel"
USER = "user"
GROUP = "group"
GROUP_MEMBER = "group_member"
TERMINAL = "terminal"
DOMAIN = "domain"
MWI = "mwi"
CHANNEL_ENTITIES = frozenset({CHANNEL, CHANNEL_WAITING, QUEUED_CHANNEL, PARKED_CHANNEL})


# The name of a record's value past the end of its field_spec: `_extra_POSITION`.
_EXTRA = "_extra_{}"
_EXTRA_NAME = re.compile(r"_extra_(\d{1,6})")


class FieldLayout:
    """The names of a record's values, in order: one per field_spec, shared by all its records.

    Values past the named ones are called `_extra_POSITION` (a record longer than its spec, or
    one that came before any spec). A spec that itself names a field `_extra_N` does not hide an
    extra value of that name: the extra's name gets `_` appended until it is free.
    """

    __slots__ = ("_clash", "names", "positions")

    def __init__(self, names: tuple[str, ...]) -> None:
        """Lay records out by `names`, which must be unique."""
        self.names = names
        self.positions: Mapping[str, int] = {name: index for index, name in enumerate(names)}
        self._clash = any(_EXTRA_NAME.fullmatch(name) for name in names)

    def name(self, index: int) -> str:
        """The name of the value at `index`."""
        if index < len(self.names):
            return self.names[index]
        name = _EXTRA.format(index)
        if self._clash:
            while name in self.positions:
                name += "_"
        return name

    def position(self, name: str) -> int | None:
        """Where the value of `name` is in a record laid out so (it may be past a short one)."""
        index = self.positions.get(name)
        if index is not None:
            return index
        match = _EXTRA_NAME.match(name)
        if match is None:
            return None
        index = int(match[1])
        if index < len(self.names) or self.name(index) != name:
            return None
        return index


class Fields(Mapping[str, Any]):
    """A record's values by name: a read-only view of its values tuple through its layout.

    Costs one tuple a record where a dict of the same items would cost three or four times
    as much; the layout is shared by every record of the same field_spec.
    """

    __slots__ = ("_layout", "_values")

    def __init__(self, layout: FieldLayout, values: tuple[Any, ...]) -> None:
        """View `values` (converted BERT values) as named by `layout`."""
        self._layout = layout
        self._values = values

    @property
    def layout(self) -> FieldLayout:
        """The names of the values."""
        return self._layout

    @property
    def values_tuple(self) -> tuple[Any, ...]:
        """The values, in the order of the layout."""
        return self._values

    def __getitem__(self, key: str) -> Any:
        """Return the value of field `key`."""
        index = self._layout.positions.get(key) if type(key) is str else None
        if index is None:
            index = self._layout.position(key) if isinstance(key, str) else None
        if index is None or index >= len(self._values):
            raise KeyError(key)
        return self._values[index]

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value of field `key`, or `default` when the record has no such field."""
        index = self._layout.positions.get(key) if type(key) is str else None
        if index is None:
            index = self._layout.position(key) if isinstance(key, str) else None
        if index is None or index >= len(self._values):
            return default
        return self._values[index]

    def __contains__(self, key: object) -> bool:
        """Whether the record has field `key`."""
        if not isinstance(key, str):
            return False
        index = self._layout.position(key)
        return index is not None and index < len(self._values)

    def __iter__(self) -> Iterator[str]:
        """The field names, in the order of the record."""
        name = self._layout.name
        return (name(index) for index in range(len(self._values)))

    def __len__(self) -> int:
        """The number of fields the record has."""
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        """Equal to any mapping of the same items (fast for a view laid out by the same names).

        A reconnect's field_spec makes a new layout of the same names: its records still
        compare by their values alone.
        """
        if isinstance(other, Fields) and (
            other._layout is self._layout or other._layout.names == self._layout.names
        ):
            return self._values == other._values
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a mapping, as a dict is not hashable

    def __repr__(self) -> str:
        """Show the items like a dict."""
        return f"Fields({dict(self.items())!r})"


@dataclass(frozen=True, slots=True)
class Party:
    """One external party as the PBX resolved it from its address book; any part may be unknown.

    `avatar` is the part as sent, `avatar_url` where it resolves (a URL as is, a file name under
    `basix/avatars/end_users/`); `prefecture` is the fifth part, sent since 2023.
    """

    id: str | None
    name: str | None
    organization: str | None
    avatar: str | None
    prefecture: str | None = None
    avatar_url: str | None = None


@dataclass(frozen=True, slots=True)
class EndUser:
    """The `end_user` value: no candidate (`***`), one, or several (`_MANY_:N|...`)."""

    candidates: tuple[Party, ...]
    raw: str

    @property
    def party(self) -> Party | None:
        """The party when the PBX resolved exactly one, else None."""
        return self.candidates[0] if len(self.candidates) == 1 else None


@dataclass(frozen=True, slots=True)
class Target:
    """The `target` value: whom the call was for, and the address (usually our DID) it came in on."""

    type: str | None
    id: str | None
    name: str | None
    address: str | None


@dataclass(frozen=True, slots=True)
class ChannelState:
    """The `state` value: a name, when the channel entered it, and its per-name details.

    `details` uses the keys of protocol.md (target_type, target_id, target_name, target_location,
    user_id, group_type, group_id, queue_id, address, url, ivr_id, operation, room_id, slot,
    parker_id, parker_name, uuid, eavesdrop_state); a name this module does not know keeps its
    elements in `raw` only.
    """

    name: str
    since: datetime | None
    details: Mapping[str, Any]
    raw: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class OtherInfo:
    """The newer `other_info` value: who is on the other side of this channel."""

    type: str | None
    user_id: str | None
    end_user: EndUser | None
    direction: str | None
    peer_location: str | None
    address: str | None
    offered_at: datetime | None
    group_id: str | None
    whoscall: Whoscall | None = None


@dataclass(frozen=True, slots=True)
class Whoscall:
    """The eighth `other_info` element: what a caller-ID service says about the caller.

    `data` is the decoded JSON (its keys are undocumented) or None when the text is not JSON;
    `raw` is the text as sent, always kept.
    """

    data: Any
    raw: str


@dataclass(frozen=True, slots=True)
class Disposition:
    """How a leg ended, from `last_event_data` (`SIDE_ACTION,CAUSE`, e.g. `send_cancel,LOSE_RACE`).

    `side` is `recv` (the far end of this leg did it) or `send` (the PBX did), `action` one of
    `bye`, `cancel`, `refuse`, `cause` a FreeSWITCH hangup cause as sent (upper case). Any part
    may be missing from an unexpected value; `raw` keeps the text.
    """

    side: str | None
    action: str | None
    cause: str | None
    raw: str


@dataclass(frozen=True, slots=True)
class Channel:
    """One call leg (`channel`, `queued_channel`, `parked_channel`, or an older `chan_info`).

    `direction` is the switch's view, as FreeSWITCH reports it: `inbound` is a leg that called
    into the PBX, `outbound` one the PBX placed (to a phone or out to the network).
    `user_id` is the user this leg belongs to: the `user_id` field when the field spec has one
    (None when it is empty: that is a caller's leg), else the user named by `other_info` /
    `target` when their type is `user`. See docs/calls.md.
    """

    entity: str
    uuid: str
    direction: str | None
    peer_location: str | None
    calling_name: str | None
    calling_number: str | None
    called_number: str | None
    offered_at: datetime | None
    answered_at: datetime | None
    hungup_at: datetime | None
    other_uuid: str | None
    user_id: str | None
    user_name: str | None
    group_id: str | None
    group_name: str | None
    state: ChannelState | None
    target: Target | None
    end_user: EndUser | None
    origination: tuple[str, ...] | None
    other_info: OtherInfo | None
    last_event: str | None
    fields: Mapping[str, Any]
    last_event_data: str | None = None
    disposition: Disposition | None = None
    tags: tuple[str, ...] = ()
    call_id: str | None = None
    last_bridged_user_id: str | None = None

    @property
    def key(self) -> str:
        """The store key of a channel."""
        return self.uuid


@dataclass(frozen=True, slots=True)
class User:
    """A PBX user: a person with an extension, the unit Home Assistant makes a device of.

    `extension` is `main_extension` (current generation) or `extension`. The status fields are
    the PBX's integers as sent: their meaning is not documented beyond their names
    (`fwd_always_status` and `do_not_disturb_status` 0 is off in Brastel's example), so they
    are not interpreted here. `mwi` is the user's voicemail box, read from the record's own
    `mwi` field; None when the record has no such field (an older server).
    """

    id: str
    name: str | None
    label: str | None
    extension: str | None
    did: str | None
    email: str | None
    avatar_url: str | None
    fields: Mapping[str, Any]
    do_not_disturb_status: int | None = None
    fwd_always_status: int | None = None
    presence: int | None = None
    role: int | None = None
    park_group: str | None = None
    flags: int | None = None
    mwi: Mwi | None = None

    @property
    def key(self) -> str:
        """The store key of a user."""
        return self.id


@dataclass(frozen=True, slots=True)
class Group:
    """A ring group, queue or other group of users.

    `group_type` is the `type` field by name: `ring` (0: all phones ring), `hunt` (1: one
    after another), or what the server sent; `mwi` the group's own voicemail box, as for users.
    """

    id: str
    name: str | None
    label: str | None
    extension: str | None
    avatar_url: str | None
    fields: Mapping[str, Any]
    group_type: str | None = None
    queue: int | None = None
    flags: int | None = None
    check_login_status: int | None = None
    mwi: Mwi | None = None

    @property
    def key(self) -> str:
        """The store key of a group."""
        return self.id


@dataclass(frozen=True, slots=True)
class GroupMember:
    """One user's membership of one group (`group_member`).

    `login_status` says whether the member takes the group's calls (values undocumented:
    kept as sent). Keyed by `id`; a record without one by `USER_ID:GROUP_ID`, as Brastel's store.
    """

    id: str | None
    group_id: str | None
    user_id: str | None
    priority: int | None
    login_status: int | None
    role: int | None
    fields: Mapping[str, Any]

    @property
    def key(self) -> str:
        """The store key of a membership."""
        if self.id:
            return self.id
        if self.user_id and self.group_id:
            return f"{self.user_id}:{self.group_id}"
        return ""


@dataclass(frozen=True, slots=True)
class Terminal:
    """A SIP phone (`terminal`): whose it is, what it is, whether it is registered.

    `registered` is None when the PBX does not say (Brastel: "implementation pending").
    """

    id: str
    name: str | None
    user_id: str | None
    type: str | None
    user_agent: str | None
    registered: bool | None
    fields: Mapping[str, Any]

    @property
    def key(self) -> str:
        """The store key of a terminal."""
        return self.id


@dataclass(frozen=True, slots=True)
class Mwi:
    """A message-waiting indication: the state of one voicemail box.

    From a user's or group's `mwi` field (current generation), `mailbox` is None for a user's
    box and the group's id for a group's, and `raw` the field's value as sent; from an older
    `mwi_info` record, the counts come from its fields. `urgent_new` / `urgent_old` are the
    counts in parentheses of a `N/M (U/V)` summary. A bare "messages waiting" flag gives
    `new_messages` 1 (some) or 0.
    """

    user_id: str | None
    mailbox: str | None
    new_messages: int | None
    old_messages: int | None
    fields: Mapping[str, Any]
    urgent_new: int | None = None
    urgent_old: int | None = None
    raw: Any = None

    @property
    def key(self) -> str:
        """Boxes are keyed by their user when known, else by mailbox."""
        return self.user_id or self.mailbox or ""


@dataclass(frozen=True, slots=True)
class Item:
    """A record of a kind with no model of its own (`domain`, kinds this version does not know)."""

    entity: str
    id: str | None
    fields: Mapping[str, Any]

    @property
    def key(self) -> str:
        """Generic items are keyed by `id`, else `uuid`, else empty."""
        return self.id or ""


type Record = Channel | User | Group | GroupMember | Terminal | Mwi | Item


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """The layout of an entity's records, replacing any earlier one."""

    entity: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every current item of one entity kind: what the server sends right after connecting."""

    entity: str
    items: tuple[Record, ...]


@dataclass(frozen=True, slots=True)
class Change:
    """One item of an entity changed; `event` is the server's name for why (e.g. CHANNEL_ANSWER)."""

    entity: str
    item: Record
    event: str | None


@dataclass(frozen=True, slots=True)
class Notice:
    """A `system_msg` or `msg` from the server.

    `text` is the notice as text when it is a name or text (`connection_limit_reached`,
    `connection_replaced`, `logout`...), or the name a tagged tuple starts with
    (`{auto_answer, ...}`); `term` the payload as plain values (BERT converted: text, not
    bytes), whatever its shape.
    """

    kind: str
    text: str | None
    term: Any


@dataclass(frozen=True, slots=True)
class UnknownMessage:
    """A frame this version does not understand, kept whole for diagnostics."""

    term: Any


type Message = FieldSpec | Snapshot | Change | Notice | UnknownMessage
