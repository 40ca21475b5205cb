"""A model of a Basix PBX: users, groups, mailboxes, and calls as FreeSWITCH-style legs.

Every call is built exactly as `docs/calls.md` describes it; `pbx.channels` (uuid -> record dict,
keys in `CHANNEL_FIELDS` order) is the truth a client's store is compared with. Every change is
announced to the subscribers as `callback(entity, record, event)`, `record` being a copy taken at
that moment. Values are what the server puts on the wire: `Atom` for Erlang atoms, `str` for
binaries (text, ids), `int` microseconds since the epoch for timestamps, `None` for `undefined`.

Sequences (events in order; `A` is the caller's leg, `B` a leg ringing a user):

- `incoming_call`: A `CHANNEL_CREATE`, then one B `CHANNEL_CREATE` per rung phone (a queue group
  also puts A into `queued_channel`, event `QUEUE_JOIN`);
- `answer`: B `CHANNEL_ANSWER`, the other rung B-legs `CHANNEL_HANGUP` (no `answer_timestamp`),
  (`QUEUE_REMOVE`), A `CHANNEL_BRIDGE` (now answered, `other_uuid` = B), B `CHANNEL_BRIDGE`;
- `hold` / `unhold`: `CHANNEL_HOLD` / `CHANNEL_UNHOLD` on the user's leg (`last_event` says so);
- `transfer`: new B `CHANNEL_CREATE` ringing the new user, the old user's leg `CHANNEL_HANGUP`,
  the staying leg `CHANNEL_APPLICATION` (state `calling` the new user); `answer` as above;
- `park`: staying leg `CHANNEL_PARK` (state `park`), `parked_channel` `PARK`, parker's leg hangs up;
  `pickup`: picker's leg `CHANNEL_CREATE` + `CHANNEL_ANSWER`, `parked_channel` `UNPARK`,
  both legs `CHANNEL_BRIDGE`;
- `to_voicemail`: rung B-legs `CHANNEL_HANGUP`, A `CHANNEL_ANSWER` in state `voicemail`, then (by
  default at once) A `CHANNEL_HANGUP` and `mwi` `MWI` with one more new message;
- `caller_hangs_up`: A `CHANNEL_HANGUP`, then every rung B-leg `CHANNEL_HANGUP` (a missed call);
- `hangup`: every leg `CHANNEL_HANGUP`, the users' legs first.

A leg that hangs up carries `hangup_timestamp` and leaves `pbx.channels` after its event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
import logging
import random
import time
from typing import Any, Literal
from urllib.parse import quote_plus
import uuid as uuid_module

from custom_components.basix_cti.cti.terms import Atom

_LOGGER = logging.getLogger(__name__)

CHANNEL = "channel"
QUEUED_CHANNEL = "queued_channel"
PARKED_CHANNEL = "parked_channel"
USER = "user"
GROUP = "group"
MWI = "mwi"
ENTITIES = (CHANNEL, QUEUED_CHANNEL, PARKED_CHANNEL, USER, GROUP, MWI)
"""Every entity the simulator serves, in the order it sends their field specs and snapshots."""

CHANNEL_FIELDS = (
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
    "end_user",
    "origination",
    "other_info",
)
"""Fields of `channel`, `queued_channel` and `parked_channel` records (newer generation)."""
USER_FIELDS = ("id", "name", "label", "extension", "did", "email", "avatar")
"""Fields of `user` records."""
GROUP_FIELDS = ("id", "name", "label", "extension", "type", "members", "avatar")
"""Fields of `group` records (`members` is a list of user ids)."""
MWI_FIELDS = ("user_id", "mailbox", "new_messages", "old_messages")
"""Fields of `mwi` records (and of the older `mwi_info`)."""

FIELDS: dict[str, tuple[str, ...]] = {
    CHANNEL: CHANNEL_FIELDS,
    QUEUED_CHANNEL: CHANNEL_FIELDS,
    PARKED_CHANNEL: CHANNEL_FIELDS,
    USER: USER_FIELDS,
    GROUP: GROUP_FIELDS,
    MWI: MWI_FIELDS,
}
"""The field spec of each entity."""

NO_END_USER = "***"
"""The `end_user` value when the PBX knows nothing about the external party."""

type Record = dict[str, Any]
type Listener = Callable[[str, Record, str], None]
type Clock = Callable[[], int]


class CallStateError(ValueError):
    """An operation that the call's current state does not allow (e.g. answering a hung-up call)."""


def system_clock() -> int:
    """Microseconds since the epoch, from the system clock."""
    return time.time_ns() // 1000


class ManualClock:
    """A clock the tests move by hand: `clock.advance(1.5)`; calling it returns microseconds."""

    def __init__(self, start: int = 1_767_225_600_000_000) -> None:
        """Start at `start` microseconds since the epoch (default 2026-01-01T00:00:00Z)."""
        self.now = start

    def __call__(self) -> int:
        """Return the current time in microseconds since the epoch."""
        return self.now

    def advance(self, seconds: float) -> int:
        """Move the clock forward and return the new time."""
        self.now += round(seconds * 1_000_000)
        return self.now


@dataclass(frozen=True, slots=True)
class User:
    """A PBX user (a person with a phone); `avatar` empty means the default icon."""

    id: str
    name: str
    label: str
    extension: str
    did: str | None = None
    email: str | None = None
    avatar: str = ""

    def record(self) -> Record:
        """Return the `user` record, keys in `USER_FIELDS` order."""
        return {f: getattr(self, f) for f in USER_FIELDS}


@dataclass(frozen=True, slots=True)
class Group:
    """A ring group, queue or other group of users; every member's phone rings on a call."""

    id: str
    name: str
    label: str
    extension: str
    type: str = "ring"
    members: tuple[str, ...] = ()
    avatar: str = ""

    def record(self) -> Record:
        """Return the `group` record, keys in `GROUP_FIELDS` order (`type` an atom)."""
        return {
            "id": self.id,
            "name": self.name,
            "label": self.label,
            "extension": self.extension,
            "type": Atom(self.type),
            "members": list(self.members),
            "avatar": self.avatar,
        }


@dataclass(frozen=True, slots=True)
class Contact:
    """An external party as the PBX's address book knows it."""

    id: str
    name: str | None
    organization: str | None = None
    avatar: str | None = None

    def end_user(self) -> str:
        """Return the `end_user` binary: `id*name*organization*avatar`, parts form-encoded."""
        return "*".join(
            quote_plus(p or "") for p in (self.id, self.name, self.organization, self.avatar)
        )


type CallKind = Literal["incoming", "outgoing", "internal"]
type CallStatus = Literal["ringing", "talking", "held", "parked", "voicemail", "ended"]


@dataclass(eq=False)
class Call:
    """A handle on one call: `uuid` is its A-leg (the leg that called into the PBX).

    `pending` are legs placed and not answered yet (leg uuid -> rung user id, None for the network),
    `anchor` the leg that stays on a transfer or park (the external party, or the caller of an
    internal call), `active` the user's leg bridged with it.
    """

    uuid: str
    kind: CallKind
    target: User | Group | None
    caller: User | None = None
    pending: dict[str, str | None] = field(default_factory=dict)
    anchor: str | None = None
    active: str | None = None
    status: CallStatus = "ringing"
    held_leg: str | None = None
    park_slot: str | None = None
    voicemail_user: User | None = None
    voicemail_message: bool = False
    answered_by: str | None = None
    """The user talking with the staying party (after `answer` / `pickup`), else None."""
    legs: list[str] = field(default_factory=list)
    """Every leg this call ever had, in creation order (`Pbx.live_legs` for those still up)."""

    @property
    def ended(self) -> bool:
        """True once every leg has hung up."""
        return self.status == "ended"


class Pbx:
    """The model: users, groups, mailboxes, channels; every change announced to subscribers."""

    def __init__(
        self,
        domain: str = "example.basix",
        seed: int | None = None,
        *,
        clock: Clock | None = None,
        main_number: str = "0312345600",
    ) -> None:
        """Create an empty PBX; `seed` makes uuids reproducible, `clock` gives microseconds."""
        self.domain = domain
        self.main_number = main_number
        self.clock: Clock = clock or system_clock
        self.random = random.Random(seed)
        self.users: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.channels: dict[str, Record] = {}
        self.queued: dict[str, Record] = {}
        self.parked: dict[str, Record] = {}
        """Parked channels by uuid (the `parked_channel` entity); `parked_slots` maps slot -> uuid."""
        self.parked_slots: dict[str, str] = {}
        self.mwi: dict[str, tuple[int, int]] = {}
        self.contacts: dict[str, Contact] = {}
        """The address book: external number -> contact (filled by `incoming_call`)."""
        self.calls: dict[str, Call] = {}
        """Calls not ended yet, by the uuid of their A-leg."""
        self._listeners: list[Listener] = []
        self._next_user = 1001
        self._next_group = 5001
        self._next_contact = 1

    # ------------------------------------------------------------------ set-up

    @classmethod
    def demo(
        cls,
        users: int = 20,
        groups: int = 3,
        seed: int | None = 1,
        *,
        domain: str = "example.basix",
        clock: Clock | None = None,
    ) -> Pbx:
        """Build a populated PBX: users on extensions 201.., Japanese labels, DIDs, groups 601..

        Every fifth user has no DID; avatars mix empty, absolute URLs, `//` URLs and file names.
        Groups alternate ring/queue/ring, members spread round-robin. Two mailboxes hold messages.
        """
        pbx = cls(domain, seed, clock=clock)
        for i in range(users):
            family, family_r = _FAMILY[i % len(_FAMILY)]
            given, given_r = _GIVEN[(i * 3 + i // len(_FAMILY)) % len(_GIVEN)]
            name = f"{family_r}.{given_r}"
            if any(u.name == name for u in pbx.users.values()):
                name = f"{name}{i + 1}"
            user_id = str(1001 + i)
            avatar = ("", f"https://{domain}/static/avatars/{user_id}.png", f"{name}.png", "")[
                i % 4
            ]
            if i % 7 == 6:
                avatar = f"//cdn.{domain}/avatars/{user_id}.jpg"
            pbx.add_user(
                id=user_id,
                name=name,
                label=f"{family} {given}",
                extension=str(201 + i),
                did=None if i % 5 == 4 else f"03{12345601 + i:08d}",
                email=None if i % 9 == 8 else f"{name}@{domain}",
                avatar=avatar,
            )
        ids = list(pbx.users)
        base = 601 if 201 + users <= 600 else 201 + users + 10
        for g in range(groups):
            name, label = _GROUPS[g % len(_GROUPS)]
            if g >= len(_GROUPS):
                name, label = f"{name}{g + 1}", f"{label}{g + 1}"
            pbx.add_group(
                name=name,
                label=label,
                extension=str(base + g),
                type="queue" if g % 3 == 1 else "ring",
                members=[uid for j, uid in enumerate(ids) if j % groups == g],
            )
        for uid, counts in zip(ids[1:3], ((2, 5), (1, 0)), strict=False):
            pbx.mwi[uid] = counts
        return pbx

    def add_user(  # noqa: PLR0917 - the record's fields, in order
        self,
        name: str | None = None,
        label: str | None = None,
        extension: str | None = None,
        did: str | None = None,
        email: str | None = None,
        avatar: str = "",
        *,
        id: str | None = None,  # noqa: A002 - the record's own field name
    ) -> User:
        """Create a user (missing fields get defaults), its mailbox; events USER_CREATE, MWI."""
        user_id = id or self._new_user_id()
        if user_id in self.users:
            raise ValueError(f"user id {user_id} exists")
        extension = extension or self._free_extension()
        name = name or f"user{extension}"
        user = User(
            id=user_id,
            name=name,
            label=label or name,
            extension=extension,
            did=did,
            email=email if email is not None else f"{name}@{self.domain}",
            avatar=avatar,
        )
        self.users[user.id] = user
        self._emit(USER, user.record(), "USER_CREATE")
        self.mwi[user.id] = (0, 0)
        self._emit(MWI, self.mwi_record(user.id), "MWI")
        return user

    def update_user(self, user: str | User, **changes: Any) -> User:
        """Change fields of a user (not its id); event USER_UPDATE."""
        old = self.user(user)
        changes.pop("id", None)
        new = replace(old, **changes)
        self.users[new.id] = new
        self._emit(USER, new.record(), "USER_UPDATE")
        return new

    def remove_user(self, user: str | User) -> None:
        """Hang up the user's calls, take it out of its groups, delete it and its mailbox."""
        u = self.user(user)
        for call in self.calls_of(u):
            self.hangup(call)
        for group in list(self.groups.values()):
            if u.id in group.members:
                g = replace(group, members=tuple(m for m in group.members if m != u.id))
                self.groups[g.id] = g
                self._emit(GROUP, g.record(), "GROUP_UPDATE")
        del self.users[u.id]
        self._emit(USER, u.record(), "USER_DELETE")
        if u.id in self.mwi:
            record = self.mwi_record(u.id)
            del self.mwi[u.id]
            self._emit(MWI, record, "MWI_DELETE")

    def add_group(  # noqa: PLR0917 - the record's fields, in order
        self,
        name: str,
        label: str | None = None,
        extension: str | None = None,
        type: str = "ring",  # noqa: A002 - the record's own field name
        members: list[str] | tuple[str, ...] = (),
        avatar: str = "",
        *,
        id: str | None = None,  # noqa: A002 - the record's own field name
    ) -> Group:
        """Create a group of the given members (ids or extensions); event GROUP_CREATE."""
        group_id = id or self._new_group_id()
        group = Group(
            id=group_id,
            name=name,
            label=label or name,
            extension=extension or self._free_extension(600),
            type=type,
            members=tuple(self.user(m).id for m in members),
            avatar=avatar,
        )
        self.groups[group.id] = group
        self._emit(GROUP, group.record(), "GROUP_CREATE")
        return group

    def set_mwi(self, user: str | User, new: int, old: int = 0) -> None:
        """Set a mailbox's counts of new and old messages; event MWI."""
        u = self.user(user)
        self.mwi[u.id] = (new, old)
        self._emit(MWI, self.mwi_record(u.id), "MWI")

    # ------------------------------------------------------------------ look-ups

    def user(self, key: str | User) -> User:
        """Find a user by id, extension, name, e-mail or DID (or the User); KeyError if none."""
        if isinstance(key, User):
            return self.users[key.id]
        if key in self.users:
            return self.users[key]
        for u in self.users.values():
            if key in (u.extension, u.name, u.email, u.did):
                return u
        raise KeyError(f"no user {key!r}")

    def user_by_extension(self, extension: str) -> User:
        """Return the user on that extension; KeyError if none."""
        for u in self.users.values():
            if u.extension == extension:
                return u
        raise KeyError(f"no user on extension {extension!r}")

    def find_user(self, kind: str, value: str) -> User | None:
        """Find the user whose field `kind` (id, name, label, extension, did, email) is `value`."""
        for u in self.users.values():
            if getattr(u, kind, None) == value:
                return u
        return None

    def group(self, key: str | Group) -> Group:
        """Find a group by id, extension or name (or the Group itself); KeyError if none."""
        if isinstance(key, Group):
            return self.groups[key.id]
        if key in self.groups:
            return self.groups[key]
        for g in self.groups.values():
            if key in (g.extension, g.name):
                return g
        raise KeyError(f"no group {key!r}")

    def resolve(self, key: str | User | Group) -> User | Group:
        """Find a user or, failing that, a group, by any of their keys; KeyError if neither."""
        if isinstance(key, Group):
            return self.group(key)
        try:
            return self.user(key)
        except KeyError:
            if isinstance(key, User):
                raise
            return self.group(key)

    def calls_of(self, user: str | User) -> list[Call]:
        """Return the calls not ended in which the user has a leg (ringing included)."""
        uid = self.user(user).id
        return [
            c
            for c in self.calls.values()
            if any(self.channels.get(leg, {}).get("user_id") == uid for leg in self._live(c))
            or (
                c.status == "voicemail"
                and c.voicemail_user is not None
                and c.voicemail_user.id == uid
            )
        ]

    def mwi_record(self, user_id: str) -> Record:
        """Return the `mwi` record of a user's mailbox."""
        new, old = self.mwi.get(user_id, (0, 0))
        user = self.users.get(user_id)
        return {
            "user_id": user_id,
            "mailbox": user.extension if user else None,
            "new_messages": new,
            "old_messages": old,
        }

    def snapshot(self, entity: str) -> list[Record]:
        """Return copies of every current record of an entity, as `initial_info` carries them."""
        match entity:
            case "channel":
                return [dict(r) for r in self.channels.values()]
            case "queued_channel":
                return [dict(r) for r in self.queued.values()]
            case "parked_channel":
                return [dict(r) for r in self.parked.values()]
            case "user":
                return [u.record() for u in self.users.values()]
            case "group":
                return [g.record() for g in self.groups.values()]
            case "mwi":
                return [self.mwi_record(uid) for uid in self.mwi]
        raise ValueError(f"unknown entity {entity!r}")

    # ------------------------------------------------------------------ notification

    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Call `callback(entity, record, event)` on every change; returns the unsubscribe function."""
        self._listeners.append(callback)

        def unsubscribe() -> None:
            if callback in self._listeners:
                self._listeners.remove(callback)

        return unsubscribe

    def _emit(self, entity: str, record: Record, event: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(entity, dict(record), event)
            except Exception:
                _LOGGER.exception("simulator listener failed on %s %s", entity, event)

    # ------------------------------------------------------------------ calls

    def incoming_call(
        self,
        to: str | User | Group,
        caller: str = "09012345678",
        caller_name: str | None = "山田 太郎",
        organization: str | None = None,
        did: str | None = None,
    ) -> Call:
        """Call a user or group from the network: the A-leg, then a ringing B-leg per phone."""
        target = self.resolve(to)
        if isinstance(target, User):
            did = did or target.did or self.main_number
        else:
            did = did or self.main_number
        contact = self._contact(caller, caller_name, organization)
        end_user = contact.end_user() if contact else NO_END_USER
        now = self.clock()
        a = self._new_leg(
            direction="inbound",
            peer_location="external",
            calling_name=caller_name,
            calling_number=caller,
            called_number=did,
            state=self._calling_state(target, now),
            target=(
                Atom("user" if isinstance(target, User) else "group"),
                target.id,
                target.label,
                did,
            ),
            end_user=end_user,
            origination=_origination("pstn", caller, caller_name),
            group=target if isinstance(target, Group) else None,
            now=now,
        )
        call = Call(uuid=a["uuid"], kind="incoming", target=target)
        self._start(call, a)
        if isinstance(target, Group) and target.type == "queue":
            self.queued[a["uuid"]] = dict(a)
            self._emit(QUEUED_CHANNEL, a, "QUEUE_JOIN")
        self._ring(call, a["uuid"], target)
        return call

    def outgoing_call(self, from_: str | User, number: str) -> Call:
        """Call out to the network from a user: the user's A-leg, then the B-leg to the network."""
        user = self.user(from_)
        contact = self.contacts.get(number)
        end_user = contact.end_user() if contact else NO_END_USER
        now = self.clock()
        state = (now, Atom("calling"), Atom("external"), Atom("pstn"), (number,))
        target = (
            Atom("pstn"),
            contact.id if contact else None,
            contact.name if contact else None,
            number,
        )
        a = self._new_leg(
            direction="inbound",
            peer_location="internal",
            calling_name=user.label,
            calling_number=user.extension,
            called_number=number,
            state=state,
            target=target,
            end_user=end_user,
            origination=_origination("user", user.id, user.label),
            user=user,
            now=now,
        )
        call = Call(uuid=a["uuid"], kind="outgoing", target=None, caller=user)
        self._start(call, a)
        b = self._new_leg(
            direction="outbound",
            peer_location="external",
            calling_name=user.label,
            calling_number=user.did or self.main_number,
            called_number=number,
            state=state,
            target=target,
            end_user=end_user,
            origination=a["origination"],
            other_uuid=a["uuid"],
            now=now,
        )
        b["other_info"] = self._describe(a)
        self._add_leg(call, b)
        call.pending[b["uuid"]] = None
        self._set(a["uuid"], None, other_uuid=b["uuid"], other_info=self._describe(b))
        return call

    def internal_call(self, from_: str | User, to: str | User | Group) -> Call:
        """Call a user (or group) from a user: the caller's A-leg, B-legs ringing the callee(s)."""
        user = self.user(from_)
        target = self.resolve(to)
        now = self.clock()
        a = self._new_leg(
            direction="inbound",
            peer_location="internal",
            calling_name=user.label,
            calling_number=user.extension,
            called_number=target.extension,
            state=self._calling_state(target, now),
            target=(
                Atom("user" if isinstance(target, User) else "group"),
                target.id,
                target.label,
                target.extension,
            ),
            end_user=NO_END_USER,
            origination=_origination("user", user.id, user.label),
            user=user,
            group=target if isinstance(target, Group) else None,
            now=now,
        )
        call = Call(uuid=a["uuid"], kind="internal", target=target, caller=user)
        self._start(call, a)
        self._ring(call, a["uuid"], target)
        return call

    def answer(self, call: Call, by: str | User | None = None) -> None:
        """Answer on a rung phone (`by` picks which, for groups; the others stop ringing).

        For an outgoing call, the network answers. Raises CallStateError when nothing rings.
        """
        self._check(call)
        if not call.pending:
            raise CallStateError(f"call {call.uuid} has no ringing leg")
        if by is None or all(u is None for u in call.pending.values()):
            leg = next(iter(call.pending))
        else:
            uid = self.user(by).id
            legs = [leg for leg, u in call.pending.items() if u == uid]
            if not legs:
                raise CallStateError(f"user {uid} is not rung by call {call.uuid}")
            leg = legs[0]
        now = self.clock()
        self._set(leg, "CHANNEL_ANSWER", answer_timestamp=now)
        for other in [p for p in call.pending if p != leg]:
            self._hangup_leg(call, other)
        call.pending.clear()
        if call.kind == "outgoing" and call.anchor is None:
            # The network answered: the remote leg stays on transfers, the user's leg is active.
            call.anchor, call.active = leg, call.uuid
        else:
            call.anchor = call.anchor or call.uuid
            call.active = leg
        self._dequeue(call)
        anchor, active = call.anchor, call.active
        anchor_rec = self.channels[anchor]
        self._set(
            anchor,
            "CHANNEL_BRIDGE",
            answer_timestamp=anchor_rec["answer_timestamp"] or now,
            state=(now, Atom("bridged")),
            other_uuid=active,
            other_info=self._describe(self.channels[active]),
        )
        self._set(
            active,
            "CHANNEL_BRIDGE",
            answer_timestamp=self.channels[active]["answer_timestamp"] or now,
            state=(now, Atom("bridged")),
            other_uuid=anchor,
            other_info=self._describe(self.channels[anchor]),
        )
        call.status = "talking"
        call.answered_by = self._leg_user(active) or self._leg_user(anchor)

    def hold(self, call: Call, by: str | User | None = None) -> None:
        """Put the other party on hold: CHANNEL_HOLD on the user's leg.

        `by` picks the caller's side of an internal call (default: the answering user's leg).
        """
        self._check(call)
        if call.status != "talking" or call.active is None or call.anchor is None:
            raise CallStateError(f"call {call.uuid} is not talking")
        leg = call.active
        if by is not None and self.channels[call.anchor].get("user_id") == self.user(by).id:
            leg = call.anchor
        call.held_leg = leg
        call.status = "held"
        self._set(leg, "CHANNEL_HOLD")

    def unhold(self, call: Call) -> None:
        """Take the call back from hold: CHANNEL_UNHOLD on the leg that held it."""
        self._check(call)
        if call.status != "held" or call.held_leg is None:
            raise CallStateError(f"call {call.uuid} is not on hold")
        leg, call.held_leg = call.held_leg, None
        call.status = "talking"
        self._set(leg, "CHANNEL_UNHOLD")

    def transfer(self, call: Call, to: str | User | Group) -> None:
        """Blind transfer by the answering user: a new B-leg rings `to`, the user's leg hangs up."""
        self._check(call)
        if call.status not in ("talking", "held") or call.anchor is None or call.active is None:
            raise CallStateError(f"call {call.uuid} is not answered")
        target = self.resolve(to)
        anchor = call.anchor
        old = call.active
        call.target = target
        new_legs = self._ring(call, anchor, target, transfer=True)
        call.active = None
        call.held_leg = None
        self._hangup_leg(call, old)
        now = self.clock()
        changes: dict[str, Any] = {
            "state": self._calling_state(target, now),
            "other_uuid": new_legs[0] if len(new_legs) == 1 else None,
            "other_info": (
                self._describe(self.channels[new_legs[0]]) if len(new_legs) == 1 else None
            ),
        }
        self._set(anchor, "CHANNEL_APPLICATION", **changes)
        call.status = "ringing"
        call.answered_by = None

    def park(self, call: Call, slot: str = "701") -> None:
        """Park the call in `slot` (by the answering user, whose leg hangs up)."""
        self._check(call)
        if call.status not in ("talking", "held") or call.anchor is None or call.active is None:
            raise CallStateError(f"call {call.uuid} is not answered")
        if slot in self.parked_slots:
            raise CallStateError(f"park slot {slot} is taken")
        parker_leg = call.active
        parker = self.users.get(self.channels[parker_leg].get("user_id") or "")
        now = self.clock()
        anchor = call.anchor
        self._set(
            anchor,
            "CHANNEL_PARK",
            state=(
                now,
                Atom("park"),
                slot,
                None,
                parker.id if parker else None,
                parker.label if parker else None,
            ),
            other_uuid=None,
            other_info=None,
        )
        self.parked[anchor] = dict(self.channels[anchor])
        self.parked_slots[slot] = anchor
        self._emit(PARKED_CHANNEL, self.parked[anchor], "PARK")
        call.active = None
        call.held_leg = None
        call.park_slot = slot
        call.status = "parked"
        call.answered_by = None
        self._hangup_leg(call, parker_leg)

    def pickup(self, slot: str, by: str | User) -> Call:
        """Pick up the call parked in `slot`: a new answered leg of `by` is bridged to it."""
        if slot not in self.parked_slots:
            raise CallStateError(f"nothing parked in slot {slot}")
        anchor = self.parked_slots[slot]
        call = next(c for c in self.calls.values() if c.anchor == anchor)
        user = self.user(by)
        now = self.clock()
        leg = self._new_leg(
            direction="inbound",
            peer_location="internal",
            calling_name=user.label,
            calling_number=user.extension,
            called_number=slot,
            state=(now, Atom("system_operation"), "park_retrieve"),
            target=self.channels[anchor]["target"],
            end_user=self.channels[anchor]["end_user"],
            origination=_origination("user", user.id, user.label),
            user=user,
            other_uuid=anchor,
            now=now,
        )
        leg["other_info"] = self._describe(self.channels[anchor])
        self._add_leg(call, leg)
        self._set(leg["uuid"], "CHANNEL_ANSWER", answer_timestamp=now)
        self._unpark(call)
        call.active = leg["uuid"]
        self._set(
            anchor,
            "CHANNEL_BRIDGE",
            state=(now, Atom("bridged")),
            other_uuid=leg["uuid"],
            other_info=self._describe(self.channels[leg["uuid"]]),
        )
        self._set(leg["uuid"], "CHANNEL_BRIDGE", state=(now, Atom("bridged")))
        call.status = "talking"
        call.answered_by = user.id
        return call

    def to_voicemail(self, call: Call, leave_message: bool = True, *, hang_up: bool = True) -> None:
        """Nobody answers: the rung legs hang up, the caller's leg goes to the target's voicemail.

        With `hang_up` (default) the caller's leg then hangs up at once, and with `leave_message`
        the user's mailbox gets one more new message (event MWI). With `hang_up=False` the leg
        stays in state `voicemail` until `hangup(call)`, which then updates the mailbox.
        A group's voicemail has no mailbox here: no MWI change.
        """
        self._check(call)
        if not call.pending or (call.kind == "outgoing" and call.anchor is None):
            raise CallStateError(f"call {call.uuid} is not ringing a user")
        target = call.target
        for leg in list(call.pending):
            self._hangup_leg(call, leg)
        call.pending.clear()
        self._dequeue(call)
        leg = call.anchor or call.uuid
        now = self.clock()
        if isinstance(target, User):
            state = (now, Atom("voicemail"), Atom("user"), target.id, target.label)
            call.voicemail_user = target
        else:
            assert target is not None
            state = (now, Atom("voicemail"), Atom("group"), target.id, target.label)
        answered = self.channels[leg]["answer_timestamp"]
        self._set(
            leg,
            "CHANNEL_APPLICATION" if answered else "CHANNEL_ANSWER",
            answer_timestamp=answered or now,
            state=state,
            other_uuid=None,
            other_info=None,
        )
        call.status = "voicemail"
        call.voicemail_message = leave_message
        if hang_up:
            self.hangup(call)

    def caller_hangs_up(self, call: Call) -> None:
        """Hang up from the calling side (while ringing: a missed call): its leg first."""
        self._check(call)
        first = call.uuid if call.uuid in self.channels else self._party_leg(call)
        self._end(call, first_legs=[first] if first else [])

    def hangup(self, call: Call) -> None:
        """End every leg of the call: the users' legs first, then the staying party's."""
        self._check(call)
        party = self._party_leg(call)
        self._end(call, first_legs=[leg for leg in self._live(call) if leg != party])

    # ------------------------------------------------------------------ internals

    def _end(self, call: Call, first_legs: list[str]) -> None:
        self._unpark(call)
        self._dequeue(call)
        order = [leg for leg in first_legs if leg in self.channels]
        order += [leg for leg in self._live(call) if leg not in order]
        for leg in order:
            self._hangup_leg(call, leg)
        call.pending.clear()
        call.active = None
        call.status = "ended"
        self.calls.pop(call.uuid, None)
        if call.voicemail_user is not None and call.voicemail_message:
            uid = call.voicemail_user.id
            if uid in self.users:
                new, old = self.mwi.get(uid, (0, 0))
                self.set_mwi(uid, new + 1, old)
            call.voicemail_message = False

    def _party_leg(self, call: Call) -> str | None:
        """Return the leg of the party that is not a rung user: the caller, or the network."""
        if call.anchor is not None:
            return call.anchor
        if call.kind == "outgoing":
            return next((leg for leg, u in call.pending.items() if u is None), None)
        return call.uuid

    def live_legs(self, call: Call) -> list[str]:
        """Return the call's legs that have not hung up, in creation order."""
        return self._live(call)

    def _check(self, call: Call) -> None:
        if call.ended or call.uuid not in self.calls:
            raise CallStateError(f"call {call.uuid} has ended")

    def _live(self, call: Call) -> list[str]:
        return [leg for leg in call.legs if leg in self.channels]

    def _leg_user(self, leg: str) -> str | None:
        record = self.channels.get(leg)
        return record.get("user_id") if record else None

    def _unpark(self, call: Call) -> None:
        if call.park_slot is None:
            return
        slot, call.park_slot = call.park_slot, None
        uuid = self.parked_slots.pop(slot, None)
        if uuid is not None and uuid in self.parked:
            record = self.parked.pop(uuid)
            self._emit(PARKED_CHANNEL, record, "UNPARK")

    def _dequeue(self, call: Call) -> None:
        record = self.queued.pop(call.uuid, None)
        if record is not None:
            self._emit(QUEUED_CHANNEL, record, "QUEUE_REMOVE")

    def _start(self, call: Call, a: Record) -> None:
        self.calls[call.uuid] = call
        self._add_leg(call, a)

    def _add_leg(self, call: Call, record: Record) -> None:
        self.channels[record["uuid"]] = record
        call.legs.append(record["uuid"])
        self._emit(CHANNEL, record, "CHANNEL_CREATE")

    def _ring(
        self, call: Call, from_leg: str, target: User | Group, *, transfer: bool = False
    ) -> list[str]:
        """Place one B-leg per phone of `target`, each to be bridged with `from_leg`."""
        origin = self.channels[from_leg]
        group = target if isinstance(target, Group) else None
        users = (
            [target]
            if isinstance(target, User)
            else [self.users[m] for m in target.members if m in self.users]
        )
        if origin["direction"] == "inbound":
            name, number = origin["calling_name"], origin["calling_number"]
        else:  # the network's leg of an outgoing call, transferred
            number = origin["called_number"]
            contact = self.contacts.get(number or "")
            name = contact.name if contact else None
        call_target = origin["target"]
        if transfer:
            address = origin["target"][3] if origin["target"] else None
            if not origin["target"] or origin["target"][0] not in ("user", "group"):
                address = target.extension
            call_target = (
                Atom("user" if group is None else "group"),
                target.id,
                target.label,
                address,
            )
        now = self.clock()
        legs = []
        for user in users:
            b = self._new_leg(
                direction="outbound",
                peer_location="internal",
                calling_name=name,
                calling_number=number,
                called_number=user.extension,
                state=(now, Atom("calling"), Atom("internal"), Atom("user"), (user.id,)),
                target=call_target,
                end_user=origin["end_user"],
                origination=origin["origination"],
                user=user,
                group=group,
                other_uuid=from_leg,
                now=now,
            )
            b["other_info"] = self._describe(origin)
            self._add_leg(call, b)
            call.pending[b["uuid"]] = user.id
            legs.append(b["uuid"])
        if transfer:
            self.channels[from_leg]["target"] = call_target
        elif len(legs) == 1:
            self._set(from_leg, None, other_info=self._describe(self.channels[legs[0]]))
        return legs

    def _calling_state(self, target: User | Group, now: int) -> tuple[Any, ...]:
        if isinstance(target, User):
            return (now, Atom("calling"), Atom("internal"), Atom("user"), (target.id,))
        queue_id = target.id if target.type == "ring" else None
        return (
            now,
            Atom("calling"),
            Atom("internal"),
            Atom("group"),
            (Atom(target.type), target.id, None, None, queue_id),
        )

    def _describe(self, record: Record) -> tuple[Any, ...]:
        """Return the `other_info` value of a leg bridged with `record`'s leg."""
        group_id = record.get("group_id")
        user_id = record.get("user_id")
        if user_id is not None:
            user = self.users.get(user_id)
            return (
                Atom("user"),
                user_id,
                record["direction"],
                Atom("internal"),
                user.extension if user else None,
                record["offer_timestamp"],
                group_id,
            )
        number = (
            record["calling_number"]
            if record["direction"] == "inbound"
            else record["called_number"]
        )
        return (
            Atom("pstn"),
            record["end_user"] or NO_END_USER,
            record["direction"],
            Atom("external"),
            number,
            record["offer_timestamp"],
            group_id,
        )

    def _new_leg(
        self,
        *,
        direction: str,
        peer_location: str,
        calling_name: str | None,
        calling_number: str | None,
        called_number: str | None,
        state: tuple[Any, ...],
        target: tuple[Any, ...] | None,
        end_user: str,
        origination: str,
        now: int,
        user: User | None = None,
        group: Group | None = None,
        other_uuid: str | None = None,
    ) -> Record:
        return {
            "uuid": self._new_uuid(),
            "direction": Atom(direction),
            "peer_location": Atom(peer_location),
            "calling_name": calling_name,
            "calling_number": calling_number,
            "called_number": called_number,
            "offer_timestamp": now,
            "answer_timestamp": None,
            "hangup_timestamp": None,
            "other_uuid": other_uuid,
            "user_name": user.name if user else None,
            "user_id": user.id if user else None,
            "state": state,
            "group_id": group.id if group else None,
            "group_name": group.name if group else None,
            "target": target,
            "last_event": Atom("CHANNEL_CREATE"),
            "end_user": end_user,
            "origination": origination,
            "other_info": None,
        }

    def _set(self, leg: str, event: str | None, **changes: Any) -> None:
        """Change a live leg; with an event name, record it in `last_event` and announce it."""
        record = self.channels[leg]
        record.update(changes)
        if event is not None:
            record["last_event"] = Atom(event)
            self._emit(CHANNEL, record, event)

    def _hangup_leg(self, call: Call, leg: str) -> None:
        if leg not in self.channels:
            return
        call.pending.pop(leg, None)
        record = self.channels[leg]
        record["hangup_timestamp"] = self.clock()
        record["last_event"] = Atom("CHANNEL_HANGUP")
        del self.channels[leg]
        self._emit(CHANNEL, record, "CHANNEL_HANGUP")

    def _contact(self, number: str, name: str | None, organization: str | None) -> Contact | None:
        if name is None and organization is None:
            return self.contacts.get(number)
        known = self.contacts.get(number)
        contact = Contact(
            id=known.id if known else f"c{self._next_contact:05d}",
            name=name,
            organization=organization,
            avatar=known.avatar if known else None,
        )
        if known is None:
            self._next_contact += 1
        self.contacts[number] = contact
        return contact

    def _new_uuid(self) -> str:
        return str(uuid_module.UUID(int=self.random.getrandbits(128), version=4))

    def _new_user_id(self) -> str:
        while str(self._next_user) in self.users:
            self._next_user += 1
        self._next_user += 1
        return str(self._next_user - 1)

    def _new_group_id(self) -> str:
        while str(self._next_group) in self.groups:
            self._next_group += 1
        self._next_group += 1
        return str(self._next_group - 1)

    def _free_extension(self, start: int = 201) -> str:
        taken = {u.extension for u in self.users.values()} | {
            g.extension for g in self.groups.values()
        }
        n = start
        while str(n) in taken:
            n += 1
        return str(n)


def _origination(kind: str, number: str | None, name: str | None) -> str:
    return "*".join(quote_plus(p or "") for p in (kind, number, name))


_FAMILY = [
    ("佐藤", "sato"),
    ("鈴木", "suzuki"),
    ("高橋", "takahashi"),
    ("田中", "tanaka"),
    ("伊藤", "ito"),
    ("渡辺", "watanabe"),
    ("中村", "nakamura"),
    ("小林", "kobayashi"),
    ("加藤", "kato"),
    ("吉田", "yoshida"),
    ("山本", "yamamoto"),
    ("松本", "matsumoto"),
    ("井上", "inoue"),
    ("木村", "kimura"),
    ("林", "hayashi"),
    ("斎藤", "saito"),
    ("清水", "shimizu"),
    ("山口", "yamaguchi"),
    ("森", "mori"),
    ("山田", "yamada"),
]
_GIVEN = [
    ("太郎", "taro"),
    ("花子", "hanako"),
    ("一郎", "ichiro"),
    ("美咲", "misaki"),
    ("健太", "kenta"),
    ("陽子", "yoko"),
    ("大輔", "daisuke"),
    ("真由美", "mayumi"),
    ("翔", "sho"),
    ("さくら", "sakura"),
    ("拓也", "takuya"),
    ("恵", "megumi"),
    ("直樹", "naoki"),
    ("愛", "ai"),
    ("誠", "makoto"),
    ("由美", "yumi"),
    ("隆", "takashi"),
    ("結衣", "yui"),
    ("浩", "hiroshi"),
    ("彩", "aya"),
]
_GROUPS = [
    ("sales", "営業部"),
    ("support", "サポート"),
    ("general", "総務部"),
    ("accounting", "経理部"),
    ("reception", "受付"),
]
