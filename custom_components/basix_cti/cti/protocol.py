"""Read decoded ws_cti frames into typed messages, for every generation of the protocol.

A `Parser` lives as long as one connection: it remembers each entity's `field_spec` and lays
the following records out by it. It never raises: a frame it cannot read becomes an
`UnknownMessage`, a record it can only partly read keeps what it can, and every oddity is
reported once through a `ProblemReporter`. Report kinds are fixed names (`unknown_message`,
`bad_value`...): what the server named (a message tag, an entity, a field) goes into the message
only, so that a server sending ever new names cannot get past the reporter's rate limit.

Names are normalised to the newer generation's: `chan_info` -> `channel`, `park_info` and
`unpark_info` -> `parked_channel` (events `PARK` / `UNPARK`), `mwi_info` -> `mwi` (event `MWI`).
Entity, event and field names and notice texts are read alike as atoms, binaries or Erlang
strings (charlists): Brastel's own code compares them with strings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from itertools import islice
import logging
from operator import itemgetter
from types import MappingProxyType
from typing import Any

from .models import (
    CHANNEL,
    CHANNEL_ENTITIES,
    DOMAIN,
    GROUP,
    GROUP_MEMBER,
    MWI,
    PARKED_CHANNEL,
    TERMINAL,
    USER,
    Change,
    Channel,
    FieldLayout,
    Fields,
    FieldSpec,
    Group,
    GroupMember,
    Item,
    Message,
    Mwi,
    Notice,
    OtherInfo,
    Record,
    Snapshot,
    Target,
    Terminal,
    UnknownMessage,
    User,
)
from .problems import ProblemReporter, brief, clip
from .terms import Atom, ImproperList, as_text
from .values import (
    USER_AVATARS,
    avatar_url,
    from_bert,
    from_bert_values,
    is_absent,
    parse_disposition,
    parse_end_user,
    parse_mwi,
    parse_origination,
    parse_other_info,
    parse_state,
    parse_tags,
    parse_target,
    to_datetime,
    to_int,
    to_name,
    to_text,
)

__all__ = ["MWI_BOX_FIELDS", "MWI_NEW_FIELDS", "MWI_OLD_FIELDS", "MWI_USER_FIELDS", "Parser"]

_LOGGER = logging.getLogger(__name__)

# Older entity names and what the newer generation calls them.
_ENTITY_NAMES: Mapping[str, str] = {
    "chan_info": CHANNEL,
    "park_info": PARKED_CHANNEL,
    "unpark_info": PARKED_CHANNEL,
    "mwi_info": MWI,
}

# The events the older generation's messages stand for.
_OLDER_EVENTS: Mapping[str, str] = {"park_info": "PARK", "unpark_info": "UNPARK", "mwi_info": "MWI"}

# MWI fields are not documented: these are the names servers commonly use, first match wins.
MWI_NEW_FIELDS = ("new_messages", "new", "messages_new", "new_count", "unread")
MWI_OLD_FIELDS = ("old_messages", "old", "messages_old", "old_count", "saved")
MWI_USER_FIELDS = ("user_id", "owner_id")
MWI_BOX_FIELDS = ("mailbox", "box", "voicemail_box", "id")
_MWI_WAITING_FIELDS = ("waiting", "messages_waiting", "mwi")

# User and group fields under the names servers use for them, first match wins.
_NAME_FIELDS = ("name", "user_name", "username", "group_name")
_LABEL_FIELDS = ("label", "user_label", "group_label", "display_name")
_EXTENSION_FIELDS = ("main_extension", "extension", "user_extension", "exten", "ext")
_DID_FIELDS = ("did", "user_did")
_EMAIL_FIELDS = ("email", "user_email")
_AVATAR_FIELDS = ("avatar", "avatar_url", "picture")
# The voicemail counters of a user's or group's own box (current generation).
_MWI_FIELD = "mwi"
# Where an older server may name a leg's hangup cause without a disposition.
_CAUSE_FIELDS = ("hangup_cause", "cause")

_EXTRA = "_extra_{}"

# What `Parser._channel` reads, in the order it unpacks them: compiled into one itemgetter
# per field_spec, so that a record costs one C call, not a dict lookup by name per field.
_CHANNEL_READS = (
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
    "user_id",
    "user_name",
    "group_id",
    "group_name",
    "state",
    "target",
    "end_user",
    "origination",
    "other_info",
    "last_event",
    "last_event_data",
    "tags",
    "call_id",
    "last_bridged_user_id",
    *_CAUSE_FIELDS,
)
# Layouts of records sent as maps, by their keys: a server that sends maps sends the same
# keys each time. Bounded: one that does not costs a new layout a record, nothing more.
_MAX_MAP_LAYOUTS = 64


class _Spec:
    """A field_spec compiled once: its layout, and where a channel's model finds its values."""

    __slots__ = ("_channel", "layout", "user_id_at", "width")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.layout = FieldLayout(names)
        self.width = len(names)
        self.user_id_at = self.layout.positions.get("user_id")
        self._channel: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None

    def channel(self) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
        """The values `Parser._channel` reads, from a record's values plus one None after them.

        A field the spec lacks is read at -1: the None after the values.
        """
        if self._channel is None:
            positions = self.layout.positions
            self._channel = itemgetter(*(positions.get(name, -1) for name in _CHANNEL_READS))
        return self._channel


# A real field_spec names 22 fields. Every record of the entity is laid out by its spec, so a
# spec of 20,000 names would make each short record a dict of 20,000 entries: longer specs are
# refused, and a record's values past this many are dropped.
MAX_FIELDS = 256
# Fields a frame's short records may fill with None (missing at their end), in all: a record
# of two bytes must not cost a whole spec's worth of entries a thousand times over.
MAX_PADDING = 100_000
# The most records a snapshot may hold: a PBX of 60,000 users sends 60,000, and handing its
# owner a million (two-byte records, each a whole channel) would hold the owner's event loop.
MAX_RECORDS = 200_000
# The most of a notice's text that is kept (its raw term keeps all of it).
MAX_NOTICE = 1_000

type _Fields = dict[str, Any]


def _first(fields: Mapping[str, Any], names: Sequence[str]) -> Any:
    """Return the value of the first of `names` that the record has and is not empty."""
    for name in names:
        value = fields.get(name)
        if value is not None and value != "":
            return value
    return None


# The group `type` numbers of the 2023 README; a server may send the names instead.
_GROUP_TYPES: Mapping[int, str] = {0: "ring", 1: "hunt"}


def _group_type(value: Any) -> str | None:
    number = to_int(value) if not isinstance(value, bool) else None
    if number is not None:
        return _GROUP_TYPES.get(number, str(number))
    return to_text(value)


class Parser:
    """Turn decoded frames into messages; one parser per connection (see `reset`)."""

    def __init__(self, reporter: ProblemReporter | None = None, server: str | None = None) -> None:
        """Report problems through `reporter`; resolve avatar file names against `server`."""
        self._reporter = reporter if reporter is not None else ProblemReporter(_LOGGER)
        self._server = server
        # Keyed by the entity name as sent, so that `park_info` and `unpark_info` (both
        # `parked_channel` to the rest of the code) keep their own layouts.
        self._specs: dict[str, tuple[str, ...]] = {}
        self._compiled: dict[str, _Spec] = {}
        self._no_spec = _Spec(())
        self._map_specs: dict[tuple[str, ...], _Spec] = {}
        self._padding = MAX_PADDING  # None fields short records may still get in this frame
        self._messages: Mapping[str, Callable[[tuple[Any, ...]], Message | None]] = {
            "field_spec": self._field_spec,
            "initial_info": self._initial_info,
            "info_event": self._info_event,
            "initial_chan_info": self._initial_chan_info,
            "chan_info": self._older_change,
            "park_info": self._older_change,
            "unpark_info": self._older_change,
            "mwi_info": self._older_change,
            "system_msg": self._notice,
            "msg": self._notice,
        }
        self._builders: Mapping[str, Callable[[str, _Fields, Fields, str | None], Record]] = {
            USER: self._user,
            GROUP: self._group,
            GROUP_MEMBER: self._group_member,
            TERMINAL: self._terminal,
            DOMAIN: self._domain,
            MWI: self._mwi,
        }

    @property
    def field_specs(self) -> Mapping[str, tuple[str, ...]]:
        """The latest layout of each entity's records, keyed by the entity name as sent."""
        return MappingProxyType(self._specs)

    def reset(self) -> None:
        """Forget every layout: a new connection starts over with its own field specs."""
        self._specs.clear()
        self._compiled.clear()
        self._map_specs.clear()

    def feed(self, term: Any) -> list[Message]:
        """Read one decoded frame into its messages, in order; never raises."""
        self._padding = MAX_PADDING
        try:
            return self._feed(term)
        except Exception:  # last resort: a parser bug must not end the connection
            _LOGGER.debug("Parser failed on %s", brief(term), exc_info=True)
            self._report(
                "parser_error", "Could not read a frame (a bug in this parser): %s", brief(term)
            )
            return [UnknownMessage(term)]

    # --- frames ---------------------------------------------------------------------------------

    def _feed(self, term: Any) -> list[Message]:
        # Until November 2018 every message came wrapped in a one-element list; a list of several
        # messages is read the same way, one after the other.
        if isinstance(term, list) and term and all(self._tag(item) for item in term):
            return [self._message(item) for item in term]
        return [self._message(term)]

    @staticmethod
    def _tag(term: Any) -> str | None:
        if isinstance(term, tuple) and term:
            return to_name(term[0])
        return None

    def _message(self, term: Any) -> Message:
        tag = self._tag(term)
        handler = self._messages.get(tag) if tag else None
        if handler is None:
            self._report(
                "unknown_message", "Ignored a message this client does not know: %s", brief(term)
            )
            return UnknownMessage(term)
        message = handler(term)
        if message is None:
            self._report(
                "malformed_message",
                "Ignored a %s message of an unexpected shape: %s",
                tag,
                brief(term),
            )
            return UnknownMessage(term)
        return message

    def _field_spec(self, term: tuple[Any, ...]) -> Message | None:
        if len(term) != 3:
            return None
        wire = to_name(term[1])
        if wire is None:
            return None
        if isinstance(term[2], list | tuple) and len(term[2]) > MAX_FIELDS:
            self._report(
                "long_field_spec",
                "Ignored a %s field_spec of %d fields: more than %d cannot be real",
                wire,
                len(term[2]),
                MAX_FIELDS,
            )
            return UnknownMessage(term)
        names = self._field_names(wire, term[2])
        if names is None:
            return None
        self._specs[wire] = names
        self._compiled[wire] = _Spec(names)
        return FieldSpec(_ENTITY_NAMES.get(wire, wire), names)

    def _field_names(self, wire: str, value: Any) -> tuple[str, ...] | None:
        value = from_bert(value, self._reporter)
        if value is None:
            value = ()  # `{bert, nil}`
        if not isinstance(value, list | tuple):
            return None
        if not value:
            self._report(
                "empty_field_spec",
                "The %s field_spec names no fields: its records' values are kept unnamed",
                wire,
            )
            return ()
        names = []
        for index, item in enumerate(value):
            name = to_name(item)
            if name is None:
                self._report(
                    "bad_field_name", "A %s field_spec names a field with %s", wire, brief(item)
                )
                name = _EXTRA.format(index)
            names.append(name)
        return self._unique(wire, names)

    def _unique(self, wire: str, names: list[str]) -> tuple[str, ...]:
        """Rename each repeat of a field name `NAME_INDEX`, so that no value hides another."""
        if len(set(names)) == len(names):
            return tuple(names)
        taken = set(names)
        seen: set[str] = set()
        repeated: list[str] = []
        for index, name in enumerate(names):
            if name in seen:
                repeated.append(name)
                renamed = f"{name}_{index}"
                while renamed in taken:  # a field of that name exists too
                    renamed += "_"
                taken.add(renamed)
                names[index] = renamed
            seen.add(name)
        self._report(
            "repeated_field_name",
            "The %s field_spec names %s more than once; the repeats are renamed NAME_POSITION",
            wire,
            brief(sorted(set(repeated))),
        )
        return tuple(names)

    def _initial_info(self, term: tuple[Any, ...]) -> Message | None:
        if len(term) != 3:
            return None
        wire = to_name(term[1])
        return self._snapshot(wire, term[2]) if wire else None

    def _initial_chan_info(self, term: tuple[Any, ...]) -> Message | None:
        return self._snapshot("chan_info", term[1]) if len(term) == 2 else None

    def _info_event(self, term: tuple[Any, ...]) -> Message | None:
        # The event name is documented; a frame without it still says what changed.
        if len(term) not in (3, 4):
            return None
        wire = to_name(term[1])
        if wire is None:
            return None
        event = None
        if len(term) == 4:
            event = to_name(term[3]) or to_text(from_bert(term[3], self._reporter))
        record = self._record(wire, term[2], event)
        if record is None:
            return None
        return Change(_ENTITY_NAMES.get(wire, wire), record, event)

    def _older_change(self, term: tuple[Any, ...]) -> Message | None:
        if len(term) != 2:
            return None
        wire = to_name(term[0]) or ""
        record = self._record(wire, term[1], None)
        if record is None:
            return None
        return Change(_ENTITY_NAMES.get(wire, wire), record, self._older_event(wire, record))

    @staticmethod
    def _older_event(wire: str, record: Record) -> str | None:
        # The older generation names its event in the message (park, unpark, MWI) or, for a
        # channel, in the record's own `last_event` field.
        fixed = _OLDER_EVENTS.get(wire)
        if fixed is not None:
            return fixed
        return record.last_event if isinstance(record, Channel) else None

    def _notice(self, term: tuple[Any, ...]) -> Message | None:
        if len(term) != 2:
            return None
        name = to_name(term[1]) if isinstance(term[1], list) else None
        value = name or from_bert(term[1], self._reporter)
        kind = to_name(term[0]) or "msg"
        # A structured notice is named by its tag: `{connection_replaced, Details}`.
        head = value[0] if isinstance(value, tuple | list) and value else value
        text = clip(str(head), MAX_NOTICE) if isinstance(head, str) and head else None
        return Notice(kind, text, value)

    # --- records --------------------------------------------------------------------------------

    def _snapshot(self, wire: str, value: Any) -> Message | None:
        records = self._record_list(wire, value)
        if records is None:
            return None
        if len(records) > MAX_RECORDS:
            self._report(
                "long_snapshot",
                "Ignored a %s snapshot of %d records: more than %d cannot be real",
                wire,
                len(records),
                MAX_RECORDS,
            )
            return UnknownMessage((Atom("initial_info"), wire, len(records)))
        items = []
        for raw in records:
            record = self._record(wire, raw, None)
            if record is not None:
                items.append(record)
        return Snapshot(_ENTITY_NAMES.get(wire, wire), tuple(items))

    def _record_list(self, wire: str, value: Any) -> Sequence[Any] | None:
        match value:
            case list():
                return value
            case ImproperList():
                self._report(
                    "improper_list", "A %s snapshot is an improper list; read its elements", wire
                )
                return value.elements
            case ():
                return ()
            case _ if is_absent(value):  # `{bert, nil}` or `undefined`: no items at all
                return ()
            case _:
                # Not an empty snapshot: taking it for one would wipe every item of the entity.
                return None

    def _record(self, wire: str, raw: Any, event: str | None) -> Record | None:
        """Build one record; a record that cannot be read costs itself only, never its frame."""
        try:
            row = self._row(wire, raw)
            if row is None:
                return None
            spec, values = row
            entity = _ENTITY_NAMES.get(wire, wire)
            if entity in CHANNEL_ENTITIES:
                return self._channel(entity, spec, values, event)
            view = Fields(spec.layout, values)
            if len(values) == spec.width:
                fields = dict(zip(spec.layout.names, values, strict=True))
            else:
                fields = dict(zip(view, values, strict=True))
            builder = self._builders.get(entity, self._item)
            return builder(entity, fields, view, event)
        except Exception:  # a bug reading one record must not lose the snapshot
            _LOGGER.debug("Failed to read a %s record %s", wire, brief(raw), exc_info=True)
            self._report("record_error", "Could not read a %s record: %s", wire, brief(raw))
            return None

    def _row(self, wire: str, raw: Any) -> tuple[_Spec, tuple[Any, ...]] | None:
        """A record's layout and values (BERT converted); values past the spec are kept."""
        if type(raw) is not tuple or len(raw) > MAX_FIELDS + 1:
            if isinstance(raw, Mapping | list | tuple) and len(raw) > MAX_FIELDS + 1:
                self._report(
                    "long_record",
                    "A %s record has %d values; only the first %d are read",
                    wire,
                    len(raw),
                    MAX_FIELDS,
                )
                raw = (
                    dict(islice(raw.items(), MAX_FIELDS))
                    if isinstance(raw, Mapping)
                    else raw[:MAX_FIELDS]
                )
            if isinstance(raw, Mapping):  # a server that sends maps names its own fields
                return self._map_row(raw)
            if isinstance(raw, list | tuple):
                raw = tuple(raw)
            else:
                self._report(
                    "bad_record",
                    "Ignored a %s record that is not a tuple: %s",
                    wire,
                    brief(raw),
                )
                return None
        spec = self._compiled.get(wire)
        if spec is None:
            self._report(
                "record_without_spec",
                "A %s record came before its field_spec; its values are kept unnamed",
                wire,
            )
            spec = self._no_spec
        width = spec.width
        # An Erlang record is a tuple tagged with its name: drop the tag when it is exactly that.
        if (
            len(raw) == width + 1
            and isinstance(raw[0], Atom)
            and raw[0] in (wire, _ENTITY_NAMES.get(wire))
        ):
            raw = raw[1:]
        values = from_bert_values(raw, self._reporter)
        if width and len(raw) != width:
            self._report(
                "record_length",
                "A %s record has %d values for %d fields; missing ones are empty, extra ones kept",
                wire,
                len(raw),
                width,
            )
            missing = width - len(raw)
            if missing > self._padding:
                self._report(
                    "short_records",
                    "A frame's %s records lack more fields than %d; the missing ones are left out",
                    wire,
                    MAX_PADDING,
                )
            elif missing > 0:
                self._padding -= missing
                values += (None,) * missing
        return spec, values

    def _map_row(self, raw: Mapping[Any, Any]) -> tuple[_Spec, tuple[Any, ...]]:
        reporter = self._reporter
        fields = {as_text(from_bert(k, reporter)): from_bert(v, reporter) for k, v in raw.items()}
        names = tuple(fields)
        spec = self._map_specs.get(names)
        if spec is None:
            if len(self._map_specs) >= _MAX_MAP_LAYOUTS:
                self._map_specs.clear()
            spec = self._map_specs[names] = _Spec(names)
        return spec, tuple(fields.values())

    # --- models ---------------------------------------------------------------------------------

    def _text(self, fields: _Fields, name: str, entity: str) -> str | None:
        return self._value_text(fields.get(name), name, entity)

    def _time(self, fields: _Fields, name: str, entity: str) -> datetime | None:
        return self._value_time(fields.get(name), name, entity)

    def _value_text(self, value: Any, name: str, entity: str) -> str | None:
        """A field's text; a value that is neither text nor number is reported and dropped."""
        if type(value) is str and value:  # what nearly every field is: no conversion
            return value
        if value is None:
            return None
        text = to_text(value)
        if text is None and value != "":
            self._report(
                "bad_value",
                "%s.%s is not a text or number: %s",
                entity,
                name,
                brief(value),
            )
        return text

    def _value_time(self, value: Any, name: str, entity: str) -> datetime | None:
        if value is None:
            return None
        moment = to_datetime(value)
        if moment is None and value not in (None, "", 0):
            self._report(
                "bad_time",
                "%s.%s is not a usable time: %s",
                entity,
                name,
                brief(value),
            )
        return moment

    def _channel(
        self, entity: str, spec: _Spec, values: tuple[Any, ...], event: str | None
    ) -> Channel:
        (
            uuid,
            direction,
            peer_location,
            calling_name,
            calling_number,
            called_number,
            offer_timestamp,
            answer_timestamp,
            hangup_timestamp,
            other_uuid,
            user_id,
            user_name,
            group_id,
            group_name,
            state,
            target,
            end_user,
            origination,
            other_info,
            last_event,
            last_event_data,
            tags,
            call_id,
            last_bridged_user_id,
            hangup_cause,
            cause,
        ) = spec.channel()(
            (*values, None) if len(values) >= spec.width else self._pad(spec, values)
        )
        text = self._value_text
        uuid = text(uuid, "uuid", entity)
        if uuid is None:
            self._report("no_uuid", "A %s record has no uuid; it cannot be tracked", entity)
        reporter = self._reporter
        server = self._server
        parsed_target = parse_target(target, reporter)
        parsed_end_user = parse_end_user(end_user, reporter, server)
        parsed_other_info = parse_other_info(other_info, reporter, server, parsed_end_user)
        disposition = parse_disposition(last_event_data, reporter)
        if disposition is None:
            if hangup_cause is None or hangup_cause == "":
                hangup_cause = cause if cause is not None and cause != "" else None
            disposition = parse_disposition(hangup_cause, reporter)
        # A spec with `user_id` says whose leg this is, even when empty (a caller's leg). Only
        # a record without the field at all leaves it to other_info / target of type user.
        at = spec.user_id_at
        if at is not None and at < len(values):
            owner = text(user_id, "user_id", entity)
        else:
            owner = self._channel_user(parsed_other_info, parsed_target)
        time = self._value_time
        return Channel(
            entity=entity,
            uuid=uuid or "",
            direction=text(direction, "direction", entity),
            peer_location=text(peer_location, "peer_location", entity),
            calling_name=text(calling_name, "calling_name", entity),
            calling_number=text(calling_number, "calling_number", entity),
            called_number=text(called_number, "called_number", entity),
            offered_at=time(offer_timestamp, "offer_timestamp", entity),
            answered_at=time(answer_timestamp, "answer_timestamp", entity),
            hungup_at=time(hangup_timestamp, "hangup_timestamp", entity),
            other_uuid=text(other_uuid, "other_uuid", entity),
            user_id=owner,
            user_name=text(user_name, "user_name", entity),
            group_id=text(group_id, "group_id", entity),
            group_name=text(group_name, "group_name", entity),
            state=parse_state(state, reporter),
            target=parsed_target,
            end_user=parsed_end_user,
            origination=parse_origination(origination, reporter),
            other_info=parsed_other_info,
            last_event=text(last_event, "last_event", entity) or event,
            fields=Fields(spec.layout, values),
            last_event_data=to_text(last_event_data),
            disposition=disposition,
            tags=parse_tags(tags, reporter),
            call_id=text(call_id, "call_id", entity),
            last_bridged_user_id=text(last_bridged_user_id, "last_bridged_user_id", entity),
        )

    @staticmethod
    def _pad(spec: _Spec, values: tuple[Any, ...]) -> tuple[Any, ...]:
        # A short record whose missing fields were left out (see MAX_PADDING): read as None.
        return values + (None,) * (spec.width - len(values) + 1)

    @staticmethod
    def _channel_user(other_info: OtherInfo | None, target: Target | None) -> str | None:
        if other_info is not None and other_info.type == USER and other_info.user_id:
            return other_info.user_id
        if target is not None and target.type == USER and target.id:
            return target.id
        return None

    def _record_id(self, fields: _Fields, entity: str) -> str | None:
        record_id = self._text(fields, "id", entity)
        return record_id if record_id is not None else self._text(fields, "uuid", entity)

    def _user(self, entity: str, fields: _Fields, view: Fields, _event: str | None) -> User:
        record_id = self._required_id(fields, entity)
        number = self._number
        return User(
            id=record_id,
            name=to_text(_first(fields, _NAME_FIELDS)),
            label=to_text(_first(fields, _LABEL_FIELDS)),
            extension=to_text(_first(fields, _EXTENSION_FIELDS)),
            did=to_text(_first(fields, _DID_FIELDS)),
            email=to_text(_first(fields, _EMAIL_FIELDS)),
            avatar_url=avatar_url(_first(fields, _AVATAR_FIELDS), self._server, USER_AVATARS),
            fields=view,
            do_not_disturb_status=number(fields, "do_not_disturb_status", entity),
            fwd_always_status=number(fields, "fwd_always_status", entity),
            presence=number(fields, "presence", entity),
            role=number(fields, "role", entity),
            park_group=to_text(fields.get("park_group")),
            flags=number(fields, "flags", entity),
            mwi=self._box(fields, record_id or None, None),
        )

    def _group(self, entity: str, fields: _Fields, view: Fields, _event: str | None) -> Group:
        record_id = self._required_id(fields, entity)
        number = self._number
        return Group(
            id=record_id,
            name=to_text(_first(fields, _NAME_FIELDS)),
            label=to_text(_first(fields, _LABEL_FIELDS)),
            extension=to_text(_first(fields, _EXTENSION_FIELDS)),
            avatar_url=avatar_url(_first(fields, _AVATAR_FIELDS), self._server),
            fields=view,
            group_type=_group_type(fields.get("type")),
            queue=number(fields, "queue", entity),
            flags=number(fields, "flags", entity),
            check_login_status=number(fields, "check_login_status", entity),
            mwi=self._box(fields, None, record_id or None),
        )

    def _box(self, fields: _Fields, user_id: str | None, mailbox: str | None) -> Mwi | None:
        """The voicemail box in a user's or group's own `mwi` field; None without the field."""
        if _MWI_FIELD not in fields:
            return None
        raw = fields[_MWI_FIELD]
        counts = parse_mwi(raw, self._reporter)
        if counts is None:
            return None
        new, old, urgent_new, urgent_old = counts
        return Mwi(
            user_id=user_id,
            mailbox=mailbox,
            new_messages=new,
            old_messages=old,
            fields={_MWI_FIELD: raw},
            urgent_new=urgent_new,
            urgent_old=urgent_old,
            raw=raw,
        )

    def _group_member(
        self, entity: str, fields: _Fields, view: Fields, _event: str | None
    ) -> GroupMember:
        number = self._number
        member = GroupMember(
            id=self._text(fields, "id", entity),
            group_id=self._text(fields, "group_id", entity),
            user_id=self._text(fields, "user_id", entity),
            priority=number(fields, "priority", entity),
            login_status=number(fields, "login_status", entity),
            role=number(fields, "role", entity),
            fields=view,
        )
        if not member.key:
            self._report("no_id", "A %s record has no id; it cannot be tracked", entity)
        return member

    def _terminal(self, entity: str, fields: _Fields, view: Fields, _event: str | None) -> Terminal:
        registered = fields.get("registered")
        if not isinstance(registered, bool):
            number = to_int(registered)
            registered = None if number is None else number != 0
        return Terminal(
            id=self._required_id(fields, entity),
            name=self._text(fields, "name", entity),
            user_id=self._text(fields, "assoc_user_id", entity),
            type=self._text(fields, "type", entity),
            user_agent=self._text(fields, "user_agent", entity),
            registered=registered,
            fields=view,
        )

    def _domain(self, entity: str, fields: _Fields, view: Fields, _event: str | None) -> Item:
        # One record, its fields undocumented: keyed like Brastel's store (id, else name), and
        # kept even without either, as the PBX's one domain.
        key = self._record_id(fields, entity) or to_text(_first(fields, _NAME_FIELDS))
        return Item(entity=entity, id=key or DOMAIN, fields=view)

    def _number(self, fields: _Fields, name: str, entity: str) -> int | None:
        value = fields.get(name)
        if value is None or value == "":
            return None
        number = to_int(value)
        if number is None:
            self._report("bad_value", "%s.%s is not a number: %s", entity, name, brief(value))
        return number

    def _required_id(self, fields: _Fields, entity: str) -> str:
        record_id = self._record_id(fields, entity)
        if record_id is None:
            self._report("no_id", "A %s record has no id; it cannot be tracked", entity)
        return record_id or ""

    def _mwi(self, entity: str, fields: _Fields, view: Fields, _event: str | None) -> Mwi:
        new = self._count(fields, MWI_NEW_FIELDS, entity)
        old = self._count(fields, MWI_OLD_FIELDS, entity)
        urgent_new = urgent_old = None
        if new is None and old is None:
            waiting = _first(fields, _MWI_WAITING_FIELDS)
            if isinstance(waiting, bool):
                # Only a flag: one message stands for "some", so that a count shows it.
                new = int(waiting)
            elif waiting is not None and (counts := parse_mwi(waiting, self._reporter)):
                new, old, urgent_new, urgent_old = counts  # a summary such as `2/5`
        user_id = to_text(_first(fields, MWI_USER_FIELDS))
        mailbox = to_text(_first(fields, MWI_BOX_FIELDS))
        if user_id is None and mailbox is None:
            self._report(
                "no_mwi_box",
                "An MWI record names neither user nor mailbox: %s",
                brief(sorted(fields)),
            )
        return Mwi(
            user_id=user_id,
            mailbox=mailbox,
            new_messages=new,
            old_messages=old,
            fields=view,
            urgent_new=urgent_new,
            urgent_old=urgent_old,
        )

    def _count(self, fields: _Fields, names: Sequence[str], entity: str) -> int | None:
        value = _first(fields, names)
        if value is None or isinstance(value, bool):
            return None
        count = to_int(value)
        if count is None:
            self._report("bad_count", "A %s count is not a number: %s", entity, brief(value))
        return count

    def _item(self, entity: str, fields: _Fields, view: Fields, _event: str | None) -> Item:
        return Item(entity=entity, id=self._record_id(fields, entity), fields=view)

    def _report(self, kind: str, message: str, *args: object) -> None:
        self._reporter.report(kind, message, *args)
