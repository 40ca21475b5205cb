"""The model's records and changes as the Erlang terms a Basix server sends, in both generations.

Newer generation (2019 on):
`{field_spec, Entity, [Field]}` for each of `ENTITIES`, then `{initial_info, Entity, [Record] |
{bert, nil}}` for each, then `{info_event, Entity, Record, EventAtom}` per change.

Older generation (2016 to 2018): `{field_spec, chan_info | park_info | unpark_info | mwi_info, [..]}`,
`{initial_chan_info, [Record] | {bert, nil}}` (channels only), then `{chan_info, R}` for channel
changes, `{park_info, R}` / `{unpark_info, R}` for parked_channel PARK / UNPARK, `{mwi_info, R}`.
Older channel records stop at `last_event` (no end_user, origination, other_info), and their
`calling` state is the older `{Ts, calling, TargetType, TargetId, TargetName}` (`{Ts,
calling_external, Address}` for the network), their `park` state `{Ts, park, Slot}`. Queued
channels, users and groups are not sent at all. With `wrap`, every message is `[Msg]`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from custom_components.basix_cti.cti.etf import encode
from custom_components.basix_cti.cti.terms import Atom

from .pbx import CHANNEL, ENTITIES, FIELDS, MWI, MWI_FIELDS, PARKED_CHANNEL, Record

if TYPE_CHECKING:
    from .pbx import Pbx

type Generation = Literal["new", "old"]
type AtomMode = Literal["utf8", "latin1"]

OLD_CHANNEL_FIELDS = FIELDS[CHANNEL][: FIELDS[CHANNEL].index("last_event") + 1]
"""The older `chan_info` fields: the newer channel's without end_user, origination, other_info."""
OLD_FIELD_SPECS: dict[str, tuple[str, ...]] = {
    "chan_info": OLD_CHANNEL_FIELDS,
    "park_info": OLD_CHANNEL_FIELDS,
    "unpark_info": OLD_CHANNEL_FIELDS,
    "mwi_info": MWI_FIELDS,
}
"""The older generation's record layouts."""

BERT_NIL = (Atom("bert"), Atom("nil"))


class FrameBuilder:
    """Turn records and changes into terms of one generation (the server encodes them)."""

    def __init__(self, pbx: Pbx, generation: Generation = "new", *, wrap: bool = False) -> None:
        """Build terms for `generation`; `wrap` puts each message in a one-element list."""
        if generation not in ("new", "old"):
            raise ValueError(f"unknown generation {generation!r}")
        self.pbx = pbx
        self.generation = generation
        self.wrap = wrap

    def message(self, term: Any) -> Any:
        """Wrap a message as `[Msg]` when the pre-2018 wrapper is on."""
        return [term] if self.wrap else term

    def system_msg(self, text: str) -> Any:
        """Return a `{system_msg, <<Text>>}` notice."""
        return self.message((Atom("system_msg"), text))

    def field_specs(self) -> list[Any]:
        """Return the field specs a connection starts with."""
        if self.generation == "old":
            specs = list(OLD_FIELD_SPECS.items())
        else:
            specs = [(e, FIELDS[e]) for e in ENTITIES]
        return [
            self.message((Atom("field_spec"), Atom(name), [Atom(f) for f in fields]))
            for name, fields in specs
        ]

    def snapshots(self, records: Mapping[str, Sequence[Record]]) -> list[Any]:
        """Return the snapshots of each entity in `records` (older: channels only)."""
        if self.generation == "old":
            channels = [self._old_record(r) for r in records.get(CHANNEL, ())]
            return [self.message((Atom("initial_chan_info"), channels or BERT_NIL))]
        out = []
        for entity in ENTITIES:
            if entity not in records:
                continue
            items = [self.record(entity, r) for r in records[entity]]
            out.append(self.message((Atom("initial_info"), Atom(entity), items or BERT_NIL)))
        return out

    def change(self, entity: str, record: Record, event: str) -> Any | None:
        """Return the message for one change, or None when this generation does not send it."""
        if self.generation == "new":
            return self.message(
                (Atom("info_event"), Atom(entity), self.record(entity, record), Atom(event))
            )
        if entity == CHANNEL:
            return self.message((Atom("chan_info"), self._old_record(record)))
        if entity == PARKED_CHANNEL:
            name = "unpark_info" if event == "UNPARK" else "park_info"
            return self.message((Atom(name), self._old_record(record)))
        if entity == MWI and event == "MWI":
            return self.message((Atom("mwi_info"), tuple(record[f] for f in MWI_FIELDS)))
        return None

    def record(self, entity: str, record: Record) -> tuple[Any, ...]:
        """Return a newer-generation record: its values in field spec order."""
        return tuple(record.get(f) for f in FIELDS[entity])

    def _old_record(self, record: Record) -> tuple[Any, ...]:
        values = dict(record)
        values["state"] = self.old_state(record.get("state"))
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


def encode_frame(term: Any, *, atoms: AtomMode = "utf8", compressed: bool = False) -> bytes:
    """Encode one message as the bytes of a binary WebSocket frame."""
    return encode(term, compressed=compressed, atoms=atoms)
