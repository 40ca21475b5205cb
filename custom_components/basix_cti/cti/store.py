"""The PBX as last told: every item of every entity, and what each message changed.

`PbxState.apply` takes the parser's messages in arrival order and answers with a `Delta`. Each
channel entity (`channel`, `channel_waiting`, `queued_channel`, `parked_channel`) has its own
table, so a parked call can be in `channel_waiting` (or `parked_channel`) and, under the same
uuid, in `channel`. The work of one event
is proportional to what it changed; "the calls of user X" is CallTracker's (cti/calls.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import cast

from .models import (
    CHANNEL,
    CHANNEL_WAITING,
    DOMAIN,
    GROUP,
    GROUP_MEMBER,
    MWI,
    PARKED_CHANNEL,
    QUEUED_CHANNEL,
    TERMINAL,
    USER,
    Change,
    Channel,
    FieldSpec,
    Group,
    GroupMember,
    Item,
    Message,
    Mwi,
    Record,
    Snapshot,
    Terminal,
    User,
)
from .steps import STEP, Steps, finish

__all__ = ["Delta", "PbxState", "ends_item"]

# Words in an event name that say the item is gone (docs/calls.md, "Removal"): any event
# containing one ends its item (`removed`, CHANNEL_HANGUP_COMPLETE, QUEUE_MEMBER_REMOVE...).
_ENDING_WORDS = ("HANGUP", "DESTROY", "DELETE", "REMOVE")
# An unpark ends the call's stay in its park slot, not the call: FreeSWITCH's CHANNEL_UNPARK
# comes for a `channel` leg that goes on. So this word ends `parked_channel` items only.
_UNPARK = "UNPARK"


@dataclass(frozen=True, slots=True)
class Delta:
    """What one message changed in the store.

    `upserted` are the items now stored (for a snapshot: all of them), `removed` those that left
    (for a change: the record that ended them). A change that ends an item the store does not
    hold still lists its record in `removed`: the PBX's `removed` of a user must reach whoever
    knows that user from elsewhere (a device restored from an earlier run). `users` are the ids
    of the users whose records, channels, voicemail boxes, memberships or terminals changed
    (both the old and the new owner when a channel moved).
    """

    entity: str
    upserted: tuple[Record, ...]
    removed: tuple[Record, ...]
    event: str | None
    snapshot: bool
    users: frozenset[str]


def ends_item(record: Record, event: str | None, entity: str | None = None) -> bool:
    """Return whether a change removes its item: an ending event, or a channel that hung up.

    The event name (`removed`, an older CHANNEL_HANGUP...) and a channel's own `last_event`
    both count: a channel whose `last_event` is CHANNEL_HANGUP is gone whatever event it came
    with (Brastel's store deletes it so). An unpark ends only a `parked_channel` item; `entity`
    is the table the change goes to (by default the record's).
    """
    channel = record if isinstance(record, Channel) else None
    names = [(event or "").upper()]
    if channel is not None and channel.last_event:
        names.append(channel.last_event.upper())
    if any(word in name for name in names for word in _ENDING_WORDS):
        return True
    if entity is None and channel is not None:
        entity = channel.entity
    if entity == PARKED_CHANNEL and any(_UNPARK in name for name in names):
        return True
    return channel is not None and channel.hungup_at is not None


def _owners(record: Record | None) -> frozenset[str]:
    """Users a record concerns, for the `users` of a delta."""
    match record:
        case User(id=user_id) if user_id:
            return frozenset((user_id,))
        case Channel(user_id=user_id) | Mwi(user_id=user_id) if user_id:
            return frozenset((user_id,))
        case GroupMember(user_id=user_id) | Terminal(user_id=user_id) if user_id:
            return frozenset((user_id,))
        case _:
            return frozenset()


# Lookups the entities make on every update of a user or a group, kept as indexes so that
# their cost does not grow with the size of the PBX: entity -> the record attributes indexed.
_INDEXED: Mapping[str, tuple[str, ...]] = {
    GROUP_MEMBER: ("user_id", "group_id"),
    TERMINAL: ("user_id",),
}


class PbxState:
    """Every current item of every entity, keyed by `Record.key`.

    Which calls a user has is CallTracker's to answer (cti/calls.py): it counts parked and
    voicemail legs for the parker and the box owner, which a plain index by `user_id` would not.
    """

    def __init__(self) -> None:
        """Start empty: the server's snapshots fill the store after connecting."""
        self._tables: dict[str, dict[str, Record]] = {}
        self._field_specs: dict[str, tuple[str, ...]] = {}
        # (entity, attribute) -> attribute value -> key -> record, for the entities in _INDEXED.
        self._indexes: dict[tuple[str, str], dict[str, dict[str, Record]]] = {}

    # --- reading --------------------------------------------------------------------------------

    @property
    def channels(self) -> Mapping[str, Channel]:
        """The `channel` table (call legs) by uuid."""
        return cast(Mapping[str, Channel], self.items(CHANNEL))

    @property
    def waiting_channels(self) -> Mapping[str, Channel]:
        """The `channel_waiting` table by uuid: calls queued on a group, and parked calls.

        A queued call is in state `calling` (target type `group`), a parked one in `park`.
        """
        return cast(Mapping[str, Channel], self.items(CHANNEL_WAITING))

    @property
    def queued_channels(self) -> Mapping[str, Channel]:
        """The `queued_channel` table (calls waiting in a queue) by uuid."""
        return cast(Mapping[str, Channel], self.items(QUEUED_CHANNEL))

    @property
    def parked_channels(self) -> Mapping[str, Channel]:
        """The `parked_channel` table (parked calls) by uuid."""
        return cast(Mapping[str, Channel], self.items(PARKED_CHANNEL))

    @property
    def users(self) -> Mapping[str, User]:
        """Users by id."""
        return cast(Mapping[str, User], self.items(USER))

    @property
    def groups(self) -> Mapping[str, Group]:
        """Groups by id."""
        return cast(Mapping[str, Group], self.items(GROUP))

    @property
    def group_members(self) -> Mapping[str, GroupMember]:
        """Group memberships by `GroupMember.key` (`id`, else `USER_ID:GROUP_ID`)."""
        return cast(Mapping[str, GroupMember], self.items(GROUP_MEMBER))

    @property
    def terminals(self) -> Mapping[str, Terminal]:
        """SIP terminals (phones) by id."""
        return cast(Mapping[str, Terminal], self.items(TERMINAL))

    @property
    def domain(self) -> Item | None:
        """The PBX domain's own record, when the server sent one (fields undocumented)."""
        return cast(Item | None, next(iter(self._table(DOMAIN).values()), None))

    @property
    def mwi(self) -> Mapping[str, Mwi]:
        """Voicemail boxes of the older `mwi_info` (and of simulators' `mwi` entity).

        The current generation reports a box in its owner's record: `User.mwi`, `Group.mwi`.
        """
        return cast(Mapping[str, Mwi], self.items(MWI))

    def members_of(self, group_id: str) -> list[GroupMember]:
        """The memberships of one group."""
        return cast(list[GroupMember], self._indexed(GROUP_MEMBER, "group_id", group_id))

    def groups_of(self, user_id: str) -> list[GroupMember]:
        """The memberships of one user."""
        return cast(list[GroupMember], self._indexed(GROUP_MEMBER, "user_id", user_id))

    def terminals_of(self, user_id: str) -> list[Terminal]:
        """The terminals associated with one user."""
        return cast(list[Terminal], self._indexed(TERMINAL, "user_id", user_id))

    def _indexed(self, entity: str, attribute: str, value: str) -> list[Record]:
        return list(self._indexes.get((entity, attribute), {}).get(value, {}).values())

    @property
    def field_specs(self) -> Mapping[str, tuple[str, ...]]:
        """The latest field list of each entity, as the server last announced it."""
        return MappingProxyType(self._field_specs)

    def items(self, entity: str) -> Mapping[str, Record]:
        """Every item of `entity` by key (a read-only live view; empty for an unseen entity)."""
        return MappingProxyType(self._table(entity))

    # --- writing --------------------------------------------------------------------------------

    def apply(self, message: Message) -> Delta | None:
        """Apply one message; return what changed, or None for a message that holds no items."""
        match message:
            case Snapshot():
                return self._apply_snapshot(message)
            case Change():
                return self._apply_change(message)
            case FieldSpec():
                self._field_specs[message.entity] = message.fields
                return None
            case _:
                return None

    def _table(self, entity: str) -> dict[str, Record]:
        table = self._tables.get(entity)
        if table is None:
            table = self._tables[entity] = {}
        return table

    def _reindex(self, entity: str, old: Record | None, new: Record | None) -> None:
        """Move one item's index entries from `old` (None: was absent) to `new` (None: gone)."""
        for attribute in _INDEXED.get(entity, ()):
            index = self._indexes.setdefault((entity, attribute), {})
            if old is not None and (value := getattr(old, attribute, None)):
                bucket = index.get(value)
                if bucket is not None:
                    bucket.pop(old.key, None)
                    if not bucket:
                        del index[value]
            if new is not None and (value := getattr(new, attribute, None)):
                index.setdefault(value, {})[new.key] = new

    def _apply_change(self, change: Change) -> Delta:
        entity, item, event = change.entity, change.item, change.event
        key = item.key
        if not key:
            # An item without its key cannot be told from any other: nothing to store.
            return Delta(entity, (), (), event, False, frozenset())
        table = self._table(entity)
        old = table.get(key)
        if ends_item(item, event, entity):
            if old is None:
                # Nothing to drop here; the removal is still news to whoever knows the item.
                return Delta(entity, (), (item,), event, False, frozenset())
            del table[key]
            self._reindex(entity, old, None)
            return Delta(entity, (), (item,), event, False, _owners(old) | _owners(item))
        table[key] = item
        self._reindex(entity, old, item)
        users = frozenset[str]()
        if old != item:
            users = _owners(old) | _owners(item)
        return Delta(entity, (item,), (), event, False, users)

    def _apply_snapshot(self, snapshot: Snapshot) -> Delta:
        return finish(self.snapshot_steps(snapshot))

    def snapshot_steps(self, snapshot: Snapshot) -> Steps[Delta]:
        """Apply a snapshot in steps (`cti/steps.py`); the result is the snapshot's Delta.

        Readers see every step's change at once: to keep them from seeing half a snapshot,
        apply it to `staged()` and `commit` that.
        """
        entity = snapshot.entity
        table = self._table(entity)
        # A snapshot can still list a leg that hung up; it is not a current item.
        fresh: dict[str, Record] = {}
        for index, item in enumerate(snapshot.items, 1):
            if item.key and not ends_item(item, None, entity):
                fresh[item.key] = item
            if not index % STEP:
                yield
        removed = tuple(record for key, record in table.items() if key not in fresh)
        users: set[str] = set()
        for index, record in enumerate(removed, 1):
            del table[record.key]
            self._reindex(entity, record, None)
            users |= _owners(record)
            if not index % STEP:
                yield
        yield
        for index, (key, item) in enumerate(fresh.items(), 1):
            old = table.get(key)
            table[key] = item
            self._reindex(entity, old, item)
            if old != item:
                users |= _owners(old) | _owners(item)
            if not index % STEP:
                yield
        return Delta(entity, tuple(fresh.values()), removed, None, True, frozenset(users))

    # --- staging --------------------------------------------------------------------------------

    def staged(self, entity: str) -> PbxState:
        """A copy to apply one message about `entity` to while readers go on reading this one.

        Only the entity's own table and indexes are copied (a message changes nothing else):
        the copy costs a dict copy, not the records. `commit` makes its changes this state's.
        """
        stage = PbxState()
        stage._tables = dict(self._tables)
        stage._tables[entity] = dict(self._table(entity))
        stage._field_specs = self._field_specs
        stage._indexes = dict(self._indexes)
        for attribute in _INDEXED.get(entity, ()):
            index = self._indexes.get((entity, attribute), {})
            stage._indexes[entity, attribute] = {value: dict(b) for value, b in index.items()}
        return stage

    def commit(self, stage: PbxState, entity: str) -> list[object]:
        """Take over what `stage` (from `staged(entity)`) changed, all at once.

        Returns what it replaced: freeing a table of thousands of records is costly, so that
        is left to the caller (`offload.release_later`).
        """
        replaced: list[object] = [self._table(entity)]
        self._tables[entity] = stage._table(entity)
        for attribute in _INDEXED.get(entity, ()):
            replaced.append(self._indexes.get((entity, attribute)))
            self._indexes[entity, attribute] = stage._indexes.get((entity, attribute), {})
        return replaced
