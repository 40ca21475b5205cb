"""The model's records and changes as the Erlang terms a Basix server sends, in three generations.

**current** (2023-2026, the default; protocol.md "Fields of the current generation"):
`{field_spec, Entity, [Field]}` for each of `pbx.ENTITIES` (`domain`, `user`, `group`,
`group_member`, `terminal`, `channel`, `channel_waiting`) with exactly the field lists of
`pbx.FIELDS`, then `{initial_info, Entity, [Record] | {bert, nil}}` for each, then
`{info_event, Entity, Record, added | updated | removed}` per change. A leg that hangs up comes
as `removed` (`hangup_event="updated"` sends it as `updated`), `last_event` `CHANNEL_HANGUP`.
The `mwi` field of users and groups is written in `mwi_format` (see `MWI_FORMATS`).

**newer** (2019-2022, the README of that time): the same messages; `channel` has the README's 20
fields (no `last_event_data`, no `call_id`), `other_info` seven elements, `end_user` four parts;
calls waiting in a queue are `queued_channel`, parked ones `parked_channel`, both with the
README's four fields `uuid, state, peer_number, end_user`; no `domain`, no `channel_waiting`.

**older** (2016-2018): `{field_spec, chan_info | park_info | unpark_info | mwi_info, [..]}`,
`{initial_chan_info, [Record] | {bert, nil}}` (channels only), then `{chan_info, R}` per channel
change, `{park_info, R}` / `{unpark_info, R}` when a call is parked / taken from its slot,
`{mwi_info, R}` when a user's box changes. Channel records have the 17 fields of the 2016 README
(with `user_name` and `group_name`), `last_event` in that README's words (`NEW_CHANNEL`,
`CHANNEL_ORIGINATE`, `CHANNEL_APPLICATION` for a state change), the older `calling` state
`{Ts, calling, TargetType, TargetId, TargetName}` (`{Ts, calling_external, Address}` for the
network) and `park` state `{Ts, park, Slot}`. With `wrap`, every message is `[Msg]` (to 2018).

Names (message tags, entity, field and event names, notice texts) are atoms by default;
`names="binary"` or `"charlist"` sends them as binaries or Erlang strings, which Brastel's 2026
code compares with strings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from custom_components.basix_cti.cti.terms import Atom

from .pbx import (
    CHANNEL,
    CHANNEL_WAITING,
    ENTITIES,
    FIELDS,
    MAILBOX,
    MWI_FIELDS,
    REMOVED,
    Record,
)
from .wire import AtomMode, Charlist, encode

if TYPE_CHECKING:
    from .pbx import Pbx

type Generation = Literal["current", "newer", "older"]
type NameForm = Literal["atom", "binary", "charlist"]
type MwiFormat = Literal["text", "counts", "summary", "tuple", "empty"]

GENERATIONS: tuple[Generation, ...] = ("current", "newer", "older")
GENERATION_ALIASES: dict[str, Generation] = {"new": "newer", "old": "older"}
"""Names the simulator used before the current generation existed."""
MWI_FORMATS: tuple[MwiFormat, ...] = ("text", "counts", "summary", "tuple", "empty")
"""How `mwi` is written: `text` (default) `''` for an empty box, else `N/M` (new/saved);
`counts` always `N/M` (`0/0` too); `summary` `N/M (U/V)` with the urgent counts, as SIP message
summaries; `tuple` `{N, M}`; `empty` always `''` (the README's only example)."""

NEWER_CHANNEL_FIELDS = tuple(f for f in FIELDS[CHANNEL] if f not in ("last_event_data", "call_id"))
"""The 20 channel fields of the 2019-2024 README."""
NEWER_WAITING_FIELDS = ("uuid", "state", "peer_number", "end_user")
"""`queued_channel` and `parked_channel` of the newer generation (README)."""
NEWER_ENTITIES = (
    "user",
    "group",
    "group_member",
    "terminal",
    "channel",
    "queued_channel",
    "parked_channel",
)
NEWER_FIELDS: dict[str, tuple[str, ...]] = {
    **{e: FIELDS[e] for e in ("user", "group", "group_member", "terminal")},
    "channel": NEWER_CHANNEL_FIELDS,
    "queued_channel": NEWER_WAITING_FIELDS,
    "parked_channel": NEWER_WAITING_FIELDS,
}

OLD_CHANNEL_FIELDS = (
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
)
"""The 17 `chan_info` fields of the 2016 README."""
OLD_FIELD_SPECS: dict[str, tuple[str, ...]] = {
    "chan_info": OLD_CHANNEL_FIELDS,
    "park_info": OLD_CHANNEL_FIELDS,
    "unpark_info": OLD_CHANNEL_FIELDS,
    "mwi_info": MWI_FIELDS,
}
"""The older generation's record layouts."""

BERT_NIL = (Atom("bert"), Atom("nil"))


def generation_of(name: str) -> Generation:
    """Return the generation called `name` (`current`, `newer`, `older`, or an old alias)."""
    generation = GENERATION_ALIASES.get(name, name)
    if generation not in GENERATIONS:
        raise ValueError(f"unknown generation {name!r}")
    return generation


class FrameBuilder:
    """Turn records and changes into terms of one generation (the server encodes them)."""

    def __init__(
        self,
        pbx: Pbx,
        generation: str = "current",
        *,
        wrap: bool = False,
        names: NameForm = "atom",
        mwi_format: MwiFormat = "text",
        hangup_event: Literal["removed", "updated"] = "removed",
    ) -> None:
        """Build terms for `generation`; `wrap` puts each message in a one-element list."""
        if names not in ("atom", "binary", "charlist"):
            raise ValueError(f"unknown name form {names!r}")
        if mwi_format not in MWI_FORMATS:
            raise ValueError(f"unknown mwi format {mwi_format!r}")
        self.pbx = pbx
        self.generation: Generation = generation_of(generation)
        self.wrap = wrap
        self.names = names
        self.mwi_format = mwi_format
        self.hangup_event = hangup_event

    # ------------------------------------------------------------------ messages

    def name(self, text: str) -> Any:
        """Return a name (message tag, entity, field, event, notice) in the chosen form."""
        if self.names == "binary":
            return str(text)
        if self.names == "charlist":
            return Charlist(text)
        return Atom(text)

    def message(self, *parts: Any) -> Any:
        """Return a message tuple (its first part a name), wrapped as `[Msg]` when asked."""
        term = (self.name(parts[0]), *parts[1:])
        return [term] if self.wrap else term

    def system_msg(self, text: str) -> Any:
        """Return a `{system_msg, Notice}` (e.g. `connection_limit_reached`)."""
        return self.message("system_msg", self.name(text))

    @property
    def entities(self) -> tuple[str, ...]:
        """The model's entities whose snapshots a connection starts with."""
        if self.generation == "older":
            return (CHANNEL,)
        if self.generation == "newer":
            return tuple(e for e in ENTITIES if e != "domain")
        return ENTITIES

    def field_specs(self) -> list[Any]:
        """Return the field specs a connection starts with."""
        if self.generation == "older":
            specs: Sequence[tuple[str, tuple[str, ...]]] = list(OLD_FIELD_SPECS.items())
        elif self.generation == "newer":
            specs = list(NEWER_FIELDS.items())
        else:
            specs = [(e, FIELDS[e]) for e in ENTITIES]
        return [
            self.message("field_spec", self.name(entity), [self.name(f) for f in fields])
            for entity, fields in specs
        ]

    def snapshots(self, records: Mapping[str, Sequence[Record]]) -> list[Any]:
        """Return the snapshots of each entity in `records` (older: channels only)."""
        if self.generation == "older":
            channels = [self._old_record(r) for r in records.get(CHANNEL, ())]
            return [self.message("initial_chan_info", channels or BERT_NIL)]
        if self.generation == "newer":
            grouped: dict[str, list[Any]] = {e: [] for e in NEWER_ENTITIES}
            for entity in self.entities:
                for r in records.get(entity, ()):
                    wire_entity = self._newer_entity(entity, r)
                    grouped[wire_entity].append(self.record(wire_entity, r))
            return [
                self.message("initial_info", self.name(e), items or BERT_NIL)
                for e, items in grouped.items()
            ]
        out = []
        for entity in ENTITIES:
            if entity not in records:
                continue
            items = [self.record(entity, r) for r in records[entity]]
            out.append(self.message("initial_info", self.name(entity), items or BERT_NIL))
        return out

    def change(self, entity: str, record: Record, event: str) -> Any | None:
        """Return the message for one change, or None when this generation does not send it."""
        if self.generation == "older":
            return self._old_change(entity, record, event)
        if entity == MAILBOX or entity not in self.entities:
            return None
        if entity == CHANNEL and event == REMOVED:
            event = self.hangup_event
        wire_entity = self._newer_entity(entity, record) if self.generation == "newer" else entity
        return self.message(
            "info_event",
            self.name(wire_entity),
            self.record(wire_entity, record),
            self.name(event),
        )

    # ------------------------------------------------------------------ records

    def record(self, entity: str, record: Record) -> tuple[Any, ...]:
        """Return a record of this generation: its values in field spec order."""
        if self.generation == "newer":
            return tuple(self._newer_value(entity, f, record) for f in NEWER_FIELDS[entity])
        return tuple(self._value(f, record.get(f)) for f in FIELDS[entity])

    def _value(self, name: str, value: Any) -> Any:
        if name == "mwi":
            return self.mwi(value)
        return value

    def mwi(self, counts: Any) -> Any:
        """Write a box's `(new, saved)` counts in this server's `mwi_format`.

        A box the PBX has no counts for (None) is `undefined`, BERT's "no value".
        """
        if counts is None:
            return None
        new, saved = counts if isinstance(counts, tuple) else (0, 0)
        match self.mwi_format:
            case "empty":
                return ""
            case "tuple":
                return (new, saved)
            case "summary":
                return f"{new}/{saved} (0/0)"
            case "counts":
                return f"{new}/{saved}"
        return "" if (new, saved) == (0, 0) else f"{new}/{saved}"

    def _newer_entity(self, entity: str, record: Record) -> str:
        if entity != CHANNEL_WAITING:
            return entity
        state = record.get("state")
        parked = isinstance(state, tuple) and len(state) > 1 and state[1] == "park"
        return "parked_channel" if parked else "queued_channel"

    def _newer_value(self, entity: str, name: str, record: Record) -> Any:
        if name == "peer_number":
            inbound = record.get("direction") == "inbound"
            return record.get("calling_number" if inbound else "called_number")
        value = record.get(name)
        if name == "mwi":
            return self.mwi(value)
        if name == "other_info" and isinstance(value, tuple):
            return value[:7]
        if name == "end_user" and isinstance(value, str) and value.count("*") >= 4:
            return value.rsplit("*", 1)[0]
        del entity
        return value

    def _old_change(self, entity: str, record: Record, event: str) -> Any | None:
        if entity == CHANNEL:
            return self.message("chan_info", self._old_record(record))
        if entity == CHANNEL_WAITING and self._newer_entity(entity, record) == "parked_channel":
            name = "unpark_info" if event == REMOVED else "park_info"
            return self.message(name, self._old_record(record))
        if entity == MAILBOX and event != REMOVED:
            return self.message("mwi_info", tuple(record[f] for f in MWI_FIELDS))
        return None

    def _old_record(self, record: Record) -> tuple[Any, ...]:
        values = dict(record)
        values["state"] = self.old_state(record.get("state"))
        values["last_event"] = _old_event(record)
        return tuple(values.get(f) for f in OLD_CHANNEL_FIELDS)

    def old_state(self, state: Any) -> Any:
        """Return a channel state in its older form (`calling`, `calling_external`, `park`)."""
        if not isinstance(state, tuple) or len(state) < 2:
            return state
        ts, name = state[0], state[1]
        if name == "calling" and len(state) == 5 and isinstance(state[4], tuple):
            target_type, data = state[3], state[4]
            if target_type == "user" and data:
                user = self.pbx.users.get(data[0])
                return (ts, Atom("calling"), Atom("user"), data[0], user.label if user else None)
            if target_type == "group" and len(data) > 1:
                group = self.pbx.groups.get(data[1])
                return (ts, Atom("calling"), Atom("group"), data[1], group.label if group else None)
            if target_type == "pstn" and data:
                return (ts, Atom("calling_external"), data[0])
        if name == "park" and len(state) > 2:
            return (ts, Atom("park"), state[2])
        return state


def _old_event(record: Record) -> Any:
    """The 2016 README's name for a channel's last event."""
    event = record.get("last_event")
    if event == "CHANNEL_CREATE":
        inbound = record.get("direction") == "inbound"
        return Atom("NEW_CHANNEL" if inbound else "CHANNEL_ORIGINATE")
    if event == "STATE_CHANGE":
        return Atom("CHANNEL_APPLICATION")
    return event


def encode_frame(term: Any, *, atoms: AtomMode = "latin1", compressed: bool = False) -> bytes:
    """Encode one message as the bytes of a binary WebSocket frame.

    `compressed` is Erlang's `[compressed]` option: a frame is compressed only where that makes
    it smaller.
    """
    return encode(term, atoms=atoms, compressed=compressed)
