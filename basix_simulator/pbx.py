"""A model of a Basix PBX: users, groups, mailboxes, and calls as FreeSWITCH-style legs.

Written against `../shared/docs/protocol.md` (the current generation, 2023-2026, from Brastel's
`basix_ws_cti.js` README, `lib/utils.js`, `lib/cti.js` and `basix_webphone.js`). `pbx.channels`
(uuid -> record dict) is the truth a client's store is compared with: its keys are
`CHANNEL_FIELDS` in order, then `user_name` and `group_name`, which only the older generation
sends. Every change is announced to the subscribers as `callback(entity, record, event)`:
`entity` one of `ENTITIES` (or `MAILBOX`, an internal entity only the older generation's
`mwi_info` is made from), `record` a copy taken at that moment, `event` `added`, `updated` or
`removed`. Values are what the server puts on the wire: `Atom` for Erlang atoms, `str` for
binaries (text, ids), `int` microseconds since the epoch for timestamps, `None` for `undefined`;
the one exception is the `mwi` field of users and groups, kept as the counts `(new, saved)`,
which the server writes in the form it is told to (`frames.MWI_FORMATS`), or None for a box the
PBX has no counts for (not in `pbx.mwi`), written `undefined`.

What each call sequence emits, in order (`A` is the leg that called into the PBX, `B` a leg the
PBX placed; `[added]`/`[removed]` is the event name, the rest the channel's `last_event`; every
leg that ends is `removed` with `last_event` `CHANNEL_HANGUP` and its disposition in
`last_event_data`, `SIDE_ACTION,CAUSE`, `recv_*` when the far end of that leg did it, `send_*`
when the PBX did):

- `incoming_call(to)`: A `[added] CHANNEL_CREATE` (inbound, external, state `calling` the user or
  group, `target` {Type, Id, Label, DID}); a group with a queue also puts A into `channel_waiting`
  `[added]`; then per rung phone a B `[added] CHANNEL_CREATE` (outbound, `user_id`, `other_uuid`
  = A, state `calling` the user).
- `answer(call, by)`: B `CHANNEL_ANSWER`; the other rung B-legs `send_cancel,LOSE_RACE`;
  `channel_waiting` `[removed]`; A `CHANNEL_BRIDGE` (answered, `other_uuid` = B,
  `last_bridged_user_id` = the user); B `CHANNEL_BRIDGE`. For an outgoing call the network's leg
  answers and bridges the same way.
- `call_pickup(call, by)`: a colleague picks the ringing call up: the picker's leg
  `[added] CHANNEL_CREATE` (inbound, internal, `called_number` `pickup_uuid.<A>`),
  `CHANNEL_ANSWER`; every rung B-leg `send_cancel,PICKED_OFF`; A `CHANNEL_BRIDGE`; the picker's
  leg `CHANNEL_BRIDGE`.
- `caller_hangs_up(call)`: ringing: A `recv_cancel,ORIGINATOR_CANCEL`, then every rung B-leg
  `send_cancel,ORIGINATOR_CANCEL`; answered: A `recv_bye,NORMAL_CLEARING`, the user's leg
  `send_bye,NORMAL_CLEARING`. (For an outgoing call the caller is the user.)
- `hangup(call)`: the users' side ends it: an answered user's leg `recv_bye,NORMAL_CLEARING`, the
  other party `send_bye,NORMAL_CLEARING`; a user calling out who gives up `recv_cancel,
  ORIGINATOR_CANCEL` (network leg `send_cancel,ORIGINATOR_CANCEL`); rung phones that decline
  `recv_refuse,CALL_REJECTED` (caller `send_refuse,CALL_REJECTED`).
- `far_end_hangs_up(call)`: the party that is not a user (the network, or the caller of an
  internal call) hangs up first: its leg `recv_bye,NORMAL_CLEARING`, the rest `send_bye`.
- `busy(call)`: the called phones (or the network) refuse: B `recv_refuse,USER_BUSY`, then A
  `send_refuse,USER_BUSY`.
- `ring_timeout(call)`: nobody answered in time: rung B-legs `send_cancel,NO_ANSWER`, A
  `send_refuse,NO_ANSWER`.
- `max_duration(call)`: the maximum call duration: every leg `send_bye,ALLOTTED_TIMEOUT`.
- `to_voicemail(call)`: rung B-legs `send_cancel,NO_ANSWER`, `channel_waiting` `[removed]`, A
  `CHANNEL_ANSWER` (or `STATE_CHANGE` if answered) in state `voicemail`; by default A then hangs up
  at once, `recv_bye,NORMAL_CLEARING`, and the user's (or group's) record is `updated` with one
  more new message in `mwi`. A voicemail takes the caller: no user answered anything.
- `hold` / `unhold`: `CHANNEL_HOLD` / `CHANNEL_UNHOLD` on the user's leg.
- `transfer(call, to)`: new B-legs `[added] CHANNEL_CREATE` ringing the new target, the
  transferring user's leg `recv_bye,NORMAL_CLEARING`, the staying leg `STATE_CHANGE` (state
  `calling` the new target); then `answer` as above.
- `park(call, slot)`: the staying leg `STATE_CHANGE` to state `{Ts, park, Slot, undefined,
  ParkerId, ParkerLabel}`, `channel_waiting` `[added]` (the same leg, state `park`), the parker's
  leg `recv_bye,NORMAL_CLEARING`. Slots are 901-999: three per `park_group` from 901, 997-999
  shared (as in Brastel's web phone). `pickup(slot, by)` (a park retrieve): the picker's leg
  `[added] CHANNEL_CREATE` + `CHANNEL_ANSWER`, `channel_waiting` `[removed]`, both legs
  `CHANNEL_BRIDGE`.
- `call_user(user, destination)` (the REST API): the user's leg `[added] CHANNEL_CREATE`
  (outbound: the PBX places it, `origination` set, `calling_number` the destination, state
  `calling` the user); `answer(call)` on it: `CHANNEL_ANSWER`, then the destination's legs
  `[added] CHANNEL_CREATE` (as an internal or outgoing call's B-legs, `other_uuid` = the user's
  leg, same `origination`) and the user's leg `STATE_CHANGE` (state `calling` the destination);
  from there on as the user's internal or outgoing call. In the first stage the PBX is the caller:
  the user declines `recv_refuse,CALL_REJECTED` (`hangup`), is busy `recv_refuse,USER_BUSY`,
  does not answer `send_cancel,NO_ANSWER`; the PBX giving up (`caller_hangs_up`) is
  `send_cancel,ORIGINATOR_CANCEL`. Once the user answered, the user hanging up while the
  destination rings is `recv_bye,NORMAL_CLEARING` on the user's leg.
- users, groups: `add_user` emits `user` and `terminal` `[added]`; `add_group` the `group` and
  one `group_member` per member `[added]`; `update_user` / `set_mwi` a `[updated]` record;
  `remove_user` hangs the user's calls up (`send_bye` / `send_cancel`, `NORMAL_CLEARING`), then
  `group_member`, `terminal` and `user` `[removed]`.

A leg that hangs up carries `hangup_timestamp` and leaves `pbx.channels` after its event.
"""

from __future__ import annotations

from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field, replace
import json
import logging
import random
import re
import time
from typing import Any, Literal
from urllib.parse import quote, quote_plus
import uuid as uuid_module

from custom_components.basix_cti.cti.terms import Atom

_LOGGER = logging.getLogger(__name__)

CHANNEL = "channel"
CHANNEL_WAITING = "channel_waiting"
USER = "user"
GROUP = "group"
GROUP_MEMBER = "group_member"
TERMINAL = "terminal"
DOMAIN = "domain"
MAILBOX = "mwi"
"""Internal: a user's mailbox changed (only the older generation sends it, as `mwi_info`)."""
ENTITIES = (DOMAIN, USER, GROUP, GROUP_MEMBER, TERMINAL, CHANNEL, CHANNEL_WAITING)
"""Every element of the current generation, in the order their specs and snapshots are sent."""

ADDED, UPDATED, REMOVED = "added", "updated", "removed"

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
    "user_id",
    "state",
    "group_id",
    "target",
    "origination",
    "end_user",
    "tags",
    "last_bridged_user_id",
    "last_event",
    "last_event_data",
    "other_info",
    "call_id",
)
"""The 22 fields of `channel`, in protocol.md's order (the README's 20 + disposition, call_id)."""
CHANNEL_WAITING_FIELDS = (*CHANNEL_FIELDS, "whoscall")
"""`channel_waiting`: a channel's fields and, as Brastel's web phone reads it, `whoscall`."""
USER_FIELDS = (
    "id",
    "name",
    "fwd_always_status",
    "do_not_disturb_status",
    "language",
    "main_extension",
    "presence",
    "role",
    "park_group",
    "mwi_target",
    "flags",
    "followme",
    "email",
    "avatar",
    "label",
    "mwi",
)
"""The README's 16 fields of `user`."""
GROUP_FIELDS = (
    "id",
    "name",
    "type",
    "language",
    "main_extension",
    "queue",
    "label",
    "flags",
    "check_login_status",
    "mwi",
)
"""The README's 10 fields of `group` (`type` 0 ring, 1 hunt)."""
GROUP_MEMBER_FIELDS = ("id", "group_id", "user_id", "priority", "login_status", "role")
TERMINAL_FIELDS = ("id", "name", "assoc_user_id", "type", "user_agent", "registered")
DOMAIN_FIELDS = ("id", "name", "label")
"""`domain`: its fields are not documented; these are our guess."""
MWI_FIELDS = ("user_id", "mailbox", "new_messages", "old_messages")
"""The internal `MAILBOX` record (the older generation's `mwi_info`)."""

FIELDS: dict[str, tuple[str, ...]] = {
    DOMAIN: DOMAIN_FIELDS,
    USER: USER_FIELDS,
    GROUP: GROUP_FIELDS,
    GROUP_MEMBER: GROUP_MEMBER_FIELDS,
    TERMINAL: TERMINAL_FIELDS,
    CHANNEL: CHANNEL_FIELDS,
    CHANNEL_WAITING: CHANNEL_WAITING_FIELDS,
}
"""The field spec of each element of the current generation."""

NO_END_USER = "****"
"""The `end_user` value when nothing is known of the external party (five empty parts)."""
PARK_SLOTS = range(901, 1000)
SHARED_PARK_SLOTS = ("997", "998", "999")

RECV_BYE = "recv_bye"
SEND_BYE = "send_bye"
RECV_CANCEL = "recv_cancel"
SEND_CANCEL = "send_cancel"
RECV_REFUSE = "recv_refuse"
SEND_REFUSE = "send_refuse"

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
    """A PBX user (a person with a phone); `avatar` empty means the default icon.

    `did` and `extension` are what the PBX routes by (`extension` is `main_extension` on the
    wire; the current `user` record has no DID). `flags` bit 1024 shows `whoscall` data.
    """

    id: str
    name: str
    label: str
    extension: str
    did: str | None = None
    email: str | None = None
    avatar: str = ""
    role: int = 0
    park_group: int = 0
    flags: int = 0
    presence: int = 0
    do_not_disturb: int = 0
    forward_always: int = 0
    registered: bool = True
    user_agent: str = "Yealink SIP-T54W 96.86.0.70"

    def record(self, mwi: tuple[int, int] | None = (0, 0)) -> Record:
        """Return the `user` record, keys in `USER_FIELDS` order (`mwi` None: no box known)."""
        return {
            "id": self.id,
            "name": self.name,
            "fwd_always_status": self.forward_always,
            "do_not_disturb_status": self.do_not_disturb,
            "language": 0,
            "main_extension": self.extension,
            "presence": self.presence,
            "role": self.role,
            "park_group": self.park_group,
            "mwi_target": None,
            "flags": self.flags,
            "followme": None,
            "email": self.email,
            "avatar": self.avatar,
            "label": self.label,
            "mwi": mwi,
        }

    def terminal(self) -> Record:
        """Return the `terminal` record of the user's phone."""
        return {
            "id": f"t{self.id}",
            "name": f"{self.extension}-1",
            "assoc_user_id": self.id,
            "type": "sip",
            "user_agent": self.user_agent,
            "registered": self.registered,
        }


@dataclass(frozen=True, slots=True)
class Group:
    """A ring group (every member's phone rings) or hunt group, with or without a queue.

    `type` is "ring" or "hunt" ("queue", the older name, is a ring group with `queue=True`).
    A call to a group with a queue waits in `channel_waiting` until a member answers.
    """

    id: str
    name: str
    label: str
    extension: str
    type: str = "ring"
    members: tuple[str, ...] = ()
    avatar: str = ""
    queue: bool = False

    def record(self, mwi: tuple[int, int] | None = (0, 0)) -> Record:
        """Return the `group` record, keys in `GROUP_FIELDS` order (`mwi` None: no box known)."""
        return {
            "id": self.id,
            "name": self.name,
            "type": 1 if self.type == "hunt" else 0,
            "language": 0,
            "main_extension": self.extension,
            "queue": 1 if self.queue else 0,
            "label": self.label,
            "flags": 4,
            "check_login_status": 0,
            "mwi": mwi,
        }

    def member_records(self) -> list[Record]:
        """Return one `group_member` record per member."""
        return [self.member_record(uid, i) for i, uid in enumerate(self.members)]

    def member_record(self, user_id: str, priority: int = 0) -> Record:
        """Return the `group_member` record of one member."""
        return {
            "id": f"{self.id}{user_id}",
            "group_id": self.id,
            "user_id": user_id,
            "priority": priority,
            "login_status": 0,
            "role": 0,
        }


@dataclass(frozen=True, slots=True)
class Contact:
    """An external party as the PBX's address book (a helpdesk / CRM integration) knows it."""

    id: str
    name: str | None
    organization: str | None = None
    avatar: str | None = None
    prefecture: str | None = None
    whoscall: dict[str, Any] | None = None
    """What a caller-ID service says about the number (sent URL-encoded JSON as `whoscall`)."""

    def end_user(self) -> str:
        """Return the `end_user` binary: `id*name*organization*avatar*prefecture`, form-encoded."""
        parts = (self.id, self.name, self.organization, self.avatar, self.prefecture)
        return "*".join(quote_plus(p or "") for p in parts)

    def whoscall_text(self) -> str | None:
        """Return the `whoscall` value: URL-encoded JSON, or None."""
        if self.whoscall is None:
            return None
        return quote(json.dumps(self.whoscall, ensure_ascii=False, separators=(",", ":")))


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
    voicemail_group: Group | None = None
    voicemail_message: bool = False
    answered_by: str | None = None
    """The user talking with the staying party (after `answer` / `pickup`), else None."""
    legs: list[str] = field(default_factory=list)
    """Every leg this call ever had, in creation order (`Pbx.live_legs` for those still up)."""
    dispositions: dict[str, str] = field(default_factory=dict)
    """leg uuid -> its `last_event_data` when it hung up, for every leg that ended."""

    @property
    def ended(self) -> bool:
        """True once every leg has hung up."""
        return self.status == "ended"


@dataclass(frozen=True, slots=True)
class Originating:
    """A `call_user` call in its first stage: what to call once the user answers."""

    destination: User | Group | str
    group: Group | None = None


# A destination that names no user or group is dialled out when it looks like a number.
_PHONE_NUMBER = re.compile(r"\+?[0-9*#]{2,32}")


def _api_origination(destination: str, caller: str) -> str:
    """The `origination` of the legs a `call_user` request made: `*`-separated, form-encoded.

    Its parts are undocumented (protocol.md); the simulator names the request and its user.
    """
    return "*".join(quote_plus(part) for part in ("call_user", destination, caller))


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
        self.waiting: dict[str, Record] = {}
        """`channel_waiting` by uuid: calls queued on a group, and parked calls (state `park`)."""
        self.parked_slots: dict[str, str] = {}
        """Park slot -> uuid of the parked leg."""
        self.mwi: dict[str, tuple[int, int]] = {}
        """User id -> (new, saved) messages in the user's voicemail box."""
        self.group_mwi: dict[str, tuple[int, int]] = {}
        """Group id -> (new, saved) messages in the group's voicemail box."""
        self.contacts: dict[str, Contact] = {}
        """The address book: external number -> contact (filled by `incoming_call`)."""
        self.calls: dict[str, Call] = {}
        """Calls not ended yet, by the uuid of their A-leg."""
        self._listeners: list[Listener] = []
        self._next_user = 1001
        self._next_group = 5001
        self._next_contact = 1

    @property
    def queued(self) -> dict[str, Record]:
        """The `channel_waiting` elements that wait in a group's queue."""
        return {u: r for u, r in self.waiting.items() if r["state"][1] != "park"}

    @property
    def parked(self) -> dict[str, Record]:
        """The `channel_waiting` elements that are parked calls."""
        return {u: r for u, r in self.waiting.items() if r["state"][1] == "park"}

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

        Every fifth user has no DID, every sixth phone is not registered; avatars are mostly
        plain file names (resolved by clients under `basix/avatars/users/`) or empty, with an
        absolute and a `//` URL among them. Groups alternate ring / ring with a queue / hunt,
        members spread round-robin. Two mailboxes hold messages.
        """
        pbx = cls(domain, seed, clock=clock)
        for i in range(users):
            family, family_r = _FAMILY[i % len(_FAMILY)]
            given, given_r = _GIVEN[(i * 3 + i // len(_FAMILY)) % len(_GIVEN)]
            name = f"{family_r}.{given_r}"
            if any(u.name == name for u in pbx.users.values()):
                name = f"{name}{i + 1}"
            user_id = str(1001 + i)
            avatar = ("", f"{name}.png", f"{user_id}.jpg", "")[i % 4]
            if i % 7 == 6:
                avatar = f"https://cdn.{domain}/avatars/{user_id}.jpg"
            if i % 11 == 10:
                avatar = f"//cdn.{domain}/avatars/{user_id}.png"
            pbx.add_user(
                id=user_id,
                name=name,
                label=f"{family} {given}",
                extension=str(201 + i),
                did=None if i % 5 == 4 else f"03{12345601 + i:08d}",
                email=None if i % 9 == 8 else f"{name}@{domain}",
                avatar=avatar,
                role=100 if i == 0 else 0,
                park_group=i % 4,
                flags=1024 if i % 2 == 0 else 0,
                registered=i % 6 != 5,
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
                type="hunt" if g % 3 == 2 else "ring",
                queue=g % 3 == 1,
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
        **options: Any,
    ) -> User:
        """Create a user (missing fields get defaults) and its phone; `user`, `terminal` added.

        `options` are further `User` fields (role, park_group, flags, registered...).
        """
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
            **options,
        )
        self.users[user.id] = user
        self.mwi[user.id] = (0, 0)
        self._emit(USER, self.user_record(user.id), ADDED)
        self._emit(TERMINAL, user.terminal(), ADDED)
        self._emit(MAILBOX, self.mwi_record(user.id), ADDED)
        return user

    def update_user(self, user: str | User, **changes: Any) -> User:
        """Change fields of a user (not its id); `user` updated (and `terminal`, if it changed)."""
        old = self.user(user)
        changes.pop("id", None)
        new = replace(old, **changes)
        self.users[new.id] = new
        self._emit(USER, self.user_record(new.id), UPDATED)
        if new.terminal() != old.terminal():
            self._emit(TERMINAL, new.terminal(), UPDATED)
        return new

    def remove_user(self, user: str | User) -> None:
        """Hang up the user's calls, take it out of its groups, delete it, its phone and box."""
        u = self.user(user)
        for call in self.calls_of(u):
            self._end(call, by=[], cause="NORMAL_CLEARING")
        for group in list(self.groups.values()):
            if u.id in group.members:
                member = group.member_record(u.id, group.members.index(u.id))
                g = replace(group, members=tuple(m for m in group.members if m != u.id))
                self.groups[g.id] = g
                self._emit(GROUP_MEMBER, member, REMOVED)
        record = self.user_record(u.id)
        mailbox = self.mwi_record(u.id)
        self._emit(TERMINAL, u.terminal(), REMOVED)
        del self.users[u.id]
        self.mwi.pop(u.id, None)
        self._emit(USER, record, REMOVED)
        self._emit(MAILBOX, mailbox, REMOVED)

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
        queue: bool | None = None,
    ) -> Group:
        """Create a group of the given members (ids or extensions); `group`, `group_member`s added.

        `type` "ring" (default) or "hunt"; "queue" is a ring group with a queue.
        """
        if type == "queue":
            type, queue = "ring", True  # noqa: A001
        if type not in ("ring", "hunt"):
            raise ValueError(f"unknown group type {type!r}")
        group_id = id or self._new_group_id()
        group = Group(
            id=group_id,
            name=name,
            label=label or name,
            extension=extension or self._free_extension(600),
            type=type,
            members=tuple(self.user(m).id for m in members),
            avatar=avatar,
            queue=bool(queue),
        )
        self.groups[group.id] = group
        self.group_mwi[group.id] = (0, 0)
        self._emit(GROUP, self.group_record(group.id), ADDED)
        for member in group.member_records():
            self._emit(GROUP_MEMBER, member, ADDED)
        return group

    def set_mwi(self, user: str | User | Group, new: int, old: int = 0) -> None:
        """Set the counts of new and saved messages of a user's (or group's) voicemail box.

        The user's (group's) record is `updated` with its new `mwi`.
        """
        target = self.resolve(user)
        if isinstance(target, Group):
            self.group_mwi[target.id] = (new, old)
            self._emit(GROUP, self.group_record(target.id), UPDATED)
            return
        self.mwi[target.id] = (new, old)
        self._emit(USER, self.user_record(target.id), UPDATED)
        self._emit(MAILBOX, self.mwi_record(target.id), UPDATED)

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

    def ringing_calls(self, user: str | User) -> list[Call]:
        """Return the calls that ring the user's phone right now."""
        uid = self.user(user).id
        return [c for c in self.calls.values() if uid in c.pending.values()]

    def user_record(self, user_id: str) -> Record:
        """Return the `user` record of a user (its `mwi` as counts, None: no box known)."""
        return self.users[user_id].record(self.mwi.get(user_id))

    def group_record(self, group_id: str) -> Record:
        """Return the `group` record of a group (its `mwi` as counts, None: no box known)."""
        return self.groups[group_id].record(self.group_mwi.get(group_id))

    def domain_record(self) -> Record:
        """Return the `domain` record."""
        return {"id": self.domain, "name": self.domain, "label": self.domain}

    def mwi_record(self, user_id: str) -> Record:
        """Return the internal mailbox record of a user (the older generation's `mwi_info`)."""
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
            case "channel_waiting":
                return [dict(r) for r in self.waiting.values()]
            case "user":
                return [self.user_record(uid) for uid in self.users]
            case "group":
                return [self.group_record(gid) for gid in self.groups]
            case "group_member":
                return [m for g in self.groups.values() for m in g.member_records()]
            case "terminal":
                return [u.terminal() for u in self.users.values()]
            case "domain":
                return [self.domain_record()]
            case "mwi":
                return [self.mwi_record(uid) for uid in self.mwi]
            case "queued_channel":  # the newer generation's names for channel_waiting
                return [dict(r) for r in self.queued.values()]
            case "parked_channel":
                return [dict(r) for r in self.parked.values()]
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
        *,
        prefecture: str | None = None,
        whoscall: dict[str, Any] | None = None,
    ) -> Call:
        """Call a user or group from the network: the A-leg, then a ringing B-leg per phone."""
        target = self.resolve(to)
        if isinstance(target, User):
            did = did or target.did or self.main_number
        else:
            did = did or self.main_number
        contact = self._contact(caller, caller_name, organization, prefecture, whoscall)
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
            end_user=contact.end_user() if contact else NO_END_USER,
            origination=None,
            group=target if isinstance(target, Group) else None,
            tags="monitoring_required" if isinstance(target, Group) and target.queue else None,
            now=now,
        )
        call = Call(uuid=a["uuid"], kind="incoming", target=target)
        self._start(call, a)
        if isinstance(target, Group) and target.queue:
            self._wait(a["uuid"])
        self._ring(call, a["uuid"], target)
        return call

    def outgoing_call(self, from_: str | User, number: str) -> Call:
        """Call out to the network from a user: the user's A-leg, then the B-leg to the network."""
        user = self.user(from_)
        contact = self.contacts.get(number)
        end_user = contact.end_user() if contact else NO_END_USER
        now = self.clock()
        state = (now, Atom("calling"), Atom("ext"), Atom("pstn"), (number,))
        a = self._new_leg(
            direction="inbound",
            peer_location="internal",
            calling_name=user.label,
            calling_number=user.extension,
            called_number=number,
            state=state,
            target=None,
            end_user=None,
            origination=None,
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
            state=(now, Atom("calling"), Atom("ext"), Atom("pstn"), (number,)),
            target=None,
            end_user=end_user,
            origination=None,
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
            end_user=None,
            origination=None,
            user=user,
            group=target if isinstance(target, Group) else None,
            now=now,
        )
        call = Call(uuid=a["uuid"], kind="internal", target=target, caller=user)
        self._start(call, a)
        if isinstance(target, Group) and target.queue:
            self._wait(a["uuid"])
        self._ring(call, a["uuid"], target)
        return call

    def answer(self, call: Call, by: str | User | None = None) -> None:
        """Answer on a rung phone (`by` picks which, for groups; the others lose the race).

        For an outgoing call, the network answers. Raises CallStateError when nothing rings.
        """
        self._check(call)
        if not call.pending:
            raise CallStateError(f"call {call.uuid} has no ringing leg")
        if call.uuid in self.originating:  # call_user: the user answered the first stage
            self._answer_originated(call)
            return
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
            self._hangup_leg(call, other, SEND_CANCEL, "LOSE_RACE")
        call.pending.clear()
        if call.kind == "outgoing" and call.anchor is None:
            # The network answered: the remote leg stays on transfers, the user's leg is active.
            call.anchor, call.active = leg, call.uuid
        else:
            call.anchor = call.anchor or call.uuid
            call.active = leg
        self._bridge(call)

    def call_pickup(self, call: Call, by: str | User) -> Call:
        """Another user picks the ringing call up: the rung phones stop (`PICKED_OFF`).

        The picker's phone dials `pickup_uuid.<A-leg>` (as Brastel's web phone does) and is
        bridged with the caller's leg.
        """
        self._check(call)
        picker = self.user(by)
        if not call.pending or (call.kind == "outgoing" and call.anchor is None):
            raise CallStateError(f"call {call.uuid} is not ringing a user")
        if picker.id in call.pending.values():
            raise CallStateError(f"user {picker.id} is rung by call {call.uuid}: answer it")
        anchor = call.anchor or call.uuid
        origin = self.channels[anchor]
        now = self.clock()
        leg = self._new_leg(
            direction="inbound",
            peer_location="internal",
            calling_name=picker.label,
            calling_number=picker.extension,
            called_number=f"pickup_uuid.{anchor}",
            state=(now, Atom("system_operation"), "pickup"),
            target=None,
            end_user=None,
            origination=None,
            user=picker,
            other_uuid=anchor,
            now=now,
        )
        leg["other_info"] = self._describe(origin)
        self._add_leg(call, leg)
        self._set(leg["uuid"], "CHANNEL_ANSWER", answer_timestamp=now)
        for rung in list(call.pending):
            self._hangup_leg(call, rung, SEND_CANCEL, "PICKED_OFF")
        call.pending.clear()
        call.anchor, call.active = anchor, leg["uuid"]
        self._bridge(call)
        return call

    def _bridge(self, call: Call) -> None:
        """Bridge the staying leg with the active one: both `CHANNEL_BRIDGE`, the staying first."""
        assert call.anchor is not None
        assert call.active is not None
        self._unwait(call)
        now = self.clock()
        anchor, active = call.anchor, call.active
        anchor_rec, active_rec = self.channels[anchor], self.channels[active]
        user_id = active_rec.get("user_id") or anchor_rec.get("user_id")
        self._set(
            anchor,
            "CHANNEL_BRIDGE",
            answer_timestamp=anchor_rec["answer_timestamp"] or now,
            state=(now, Atom("bridged")),
            other_uuid=active,
            other_info=self._describe(active_rec),
            last_bridged_user_id=(
                active_rec.get("user_id") if anchor_rec.get("user_id") is None else None
            )
            or anchor_rec.get("last_bridged_user_id"),
        )
        self._set(
            active,
            "CHANNEL_BRIDGE",
            answer_timestamp=active_rec["answer_timestamp"] or now,
            state=(now, Atom("bridged")),
            other_uuid=anchor,
            other_info=self._describe(self.channels[anchor]),
            last_bridged_user_id=(
                anchor_rec.get("user_id") if active_rec.get("user_id") is None else None
            )
            or active_rec.get("last_bridged_user_id"),
        )
        call.status = "talking"
        call.answered_by = user_id

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
        self._hangup_leg(call, old, RECV_BYE, "NORMAL_CLEARING")
        now = self.clock()
        changes: dict[str, Any] = {
            "state": self._calling_state(target, now),
            "other_uuid": new_legs[0] if len(new_legs) == 1 else None,
            "other_info": (
                self._describe(self.channels[new_legs[0]]) if len(new_legs) == 1 else None
            ),
        }
        self._set(anchor, "STATE_CHANGE", **changes)
        call.status = "ringing"
        call.answered_by = None

    def free_park_slot(self, user: str | User | None = None) -> str:
        """Return the first free park slot of the user's park group (else a shared one)."""
        slots: list[str] = []
        if user is not None:
            base = 901 + self.user(user).park_group * 3
            slots = [str(s) for s in range(base, base + 3) if s < 997]
        for slot in [*slots, *SHARED_PARK_SLOTS]:
            if slot not in self.parked_slots:
                return slot
        for s in PARK_SLOTS:
            if str(s) not in self.parked_slots:
                return str(s)
        raise CallStateError("every park slot is taken")

    def park(self, call: Call, slot: str | None = None) -> str:
        """Park the call in `slot` (default: a free slot of the parker); return the slot.

        The staying leg gets state park and appears in `channel_waiting`; the parker hangs up.
        """
        self._check(call)
        if call.status not in ("talking", "held") or call.anchor is None or call.active is None:
            raise CallStateError(f"call {call.uuid} is not answered")
        parker_leg = call.active
        parker = self.users.get(self.channels[parker_leg].get("user_id") or "")
        slot = slot or self.free_park_slot(parker)
        if slot in self.parked_slots:
            raise CallStateError(f"park slot {slot} is taken")
        now = self.clock()
        anchor = call.anchor
        self._set(
            anchor,
            "STATE_CHANGE",
            state=(
                now,
                Atom("park"),
                int(slot) if slot.isdigit() else slot,
                None,
                parker.id if parker else None,
                parker.label if parker else None,
            ),
            other_uuid=None,
            other_info=None,
        )
        self.parked_slots[slot] = anchor
        self._wait(anchor)
        call.active = None
        call.held_leg = None
        call.park_slot = slot
        call.status = "parked"
        call.answered_by = None
        self._hangup_leg(call, parker_leg, RECV_BYE, "NORMAL_CLEARING")
        return slot

    def pickup(self, slot: str, by: str | User) -> Call:
        """Take the call parked in `slot` back: a new answered leg of `by` is bridged to it."""
        slot = str(slot)
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
            target=None,
            end_user=None,
            origination=None,
            user=user,
            other_uuid=anchor,
            now=now,
        )
        leg["other_info"] = self._describe(self.channels[anchor])
        self._add_leg(call, leg)
        self._set(leg["uuid"], "CHANNEL_ANSWER", answer_timestamp=now)
        self._unpark(call)
        call.active = leg["uuid"]
        self._bridge(call)
        return call

    def to_voicemail(self, call: Call, leave_message: bool = True, *, hang_up: bool = True) -> None:
        """Nobody answers: the rung legs stop (`NO_ANSWER`), the caller goes to voicemail.

        With `hang_up` (default) the caller then hangs up at once, and with `leave_message`
        the user's (or group's) box gets one more new message (its record `updated`). With
        `hang_up=False` the leg stays in state `voicemail` until `hangup(call)` (or
        `caller_hangs_up`), which then updates the box.
        """
        self._check(call)
        if not call.pending or (call.kind == "outgoing" and call.anchor is None):
            raise CallStateError(f"call {call.uuid} is not ringing a user")
        target = call.target
        for leg in list(call.pending):
            self._hangup_leg(call, leg, SEND_CANCEL, "NO_ANSWER")
        call.pending.clear()
        self._unwait(call)
        leg = call.anchor or call.uuid
        now = self.clock()
        if isinstance(target, User):
            state = (now, Atom("voicemail"), Atom("user"), target.id, target.label)
            call.voicemail_user = target
        else:
            assert target is not None
            state = (now, Atom("voicemail"), Atom("group"), target.id, target.label)
            call.voicemail_group = target
        answered = self.channels[leg]["answer_timestamp"]
        self._set(
            leg,
            "STATE_CHANGE" if answered else "CHANNEL_ANSWER",
            answer_timestamp=answered or now,
            state=state,
            other_uuid=None,
            other_info=None,
        )
        call.anchor = leg
        call.active = None
        call.status = "voicemail"
        call.voicemail_message = leave_message
        if hang_up:
            self.caller_hangs_up(call)

    def caller_hangs_up(self, call: Call) -> None:
        """The calling side hangs up (while ringing: it gives up, a missed call): its leg first."""
        self._check(call)
        if call.uuid in self.originating:
            # call_user's first stage: the calling side is the PBX, which cancels the user's leg.
            self._end(call, by=[])
            return
        first = call.uuid if call.uuid in self.channels else self._party_leg(call)
        self._end(call, by=[first] if first else [])

    def far_end_hangs_up(self, call: Call) -> None:
        """The party that is not a user hangs up first (the network; an internal call's caller)."""
        self._check(call)
        party = self._party_leg(call)
        self._end(call, by=[party] if party else [])

    def hangup(self, call: Call) -> None:
        """The users' side ends the call: the users' legs first, then the staying party's.

        A user in a call hangs up; a user calling out gives up; rung phones decline.
        """
        self._check(call)
        if call.status == "voicemail":
            self.caller_hangs_up(call)
            return
        party = self._party_leg(call)
        self._end(
            call,
            by=[leg for leg in self._live(call) if leg != party],
            refusal="CALL_REJECTED",
        )

    def busy(self, call: Call) -> None:
        """The called phones (or the called number) are busy: they refuse, `USER_BUSY`."""
        self._check(call)
        if not call.pending:
            raise CallStateError(f"call {call.uuid} has no ringing leg")
        self._end(call, by=list(call.pending), refusal="USER_BUSY")

    def ring_timeout(self, call: Call) -> None:
        """Nobody answered in time: the PBX cancels the rung legs and refuses the caller."""
        self._check(call)
        if not call.pending:
            raise CallStateError(f"call {call.uuid} has no ringing leg")
        self._end(call, by=[], cause="NO_ANSWER")

    def max_duration(self, call: Call) -> None:
        """The call reached the PBX's maximum duration: every leg `send_bye,ALLOTTED_TIMEOUT`."""
        self._check(call)
        self._end(call, by=[], cause="ALLOTTED_TIMEOUT")

    # ------------------------------------------------------------------ internals

    def _end(
        self,
        call: Call,
        *,
        by: list[str],
        cause: str | None = None,
        refusal: str = "CALL_REJECTED",
    ) -> None:
        """End every leg: those in `by` did it (`recv_*`), the PBX ends the others (`send_*`).

        `cause` is the cause of the legs the PBX ends (default: that of the first leg in `by`,
        ORIGINATOR_CANCEL for ringing legs left by an answered caller); `refusal` the cause
        of a ringing phone in `by` that refuses.
        """
        self._unpark(call)
        self._unwait(call)
        first = [leg for leg in by if leg in self.channels]
        initiator_cause: str | None = None
        for leg in first:
            record = self.channels[leg]
            if record["answer_timestamp"] is not None:
                side, why = RECV_BYE, "NORMAL_CLEARING"
            elif record["direction"] == "inbound":
                side, why = RECV_CANCEL, "ORIGINATOR_CANCEL"
            else:
                side, why = RECV_REFUSE, refusal
            initiator_cause = initiator_cause or why
            self._hangup_leg(call, leg, side, why)
        # The phones still ringing stop before the caller's leg is refused.
        rest = sorted(self._live(call), key=lambda leg: leg not in call.pending)
        for leg in rest:
            record = self.channels[leg]
            if record["answer_timestamp"] is not None:
                side, why = SEND_BYE, cause or "NORMAL_CLEARING"
                if record["origination"] and call.status == "ringing" and initiator_cause:
                    # call_user's user, answered, waiting for the destination: its refusal ends
                    # the user's leg with the destination's cause (busy, declined).
                    why = cause or initiator_cause
            else:
                side = SEND_REFUSE if record["direction"] == "inbound" else SEND_CANCEL
                why = cause or (
                    "ORIGINATOR_CANCEL"
                    if initiator_cause in (None, "NORMAL_CLEARING")
                    else initiator_cause
                )
            self._hangup_leg(call, leg, side, why)
        call.pending.clear()
        call.active = None
        call.status = "ended"
        self.calls.pop(call.uuid, None)
        if call.voicemail_message:
            call.voicemail_message = False
            if call.voicemail_user is not None and call.voicemail_user.id in self.users:
                new, old = self.mwi.get(call.voicemail_user.id, (0, 0))
                self.set_mwi(call.voicemail_user.id, new + 1, old)
            elif call.voicemail_group is not None and call.voicemail_group.id in self.groups:
                new, old = self.group_mwi.get(call.voicemail_group.id, (0, 0))
                self.set_mwi(call.voicemail_group, new + 1, old)

    def _party_leg(self, call: Call) -> str | None:
        """Return the leg of the party that is not a rung user: the caller, or the network."""
        if call.anchor is not None:
            return call.anchor
        if call.uuid in self.originating:
            # call_user's first stage: the PBX itself calls, its only leg rings the user.
            return None
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

    def _wait(self, uuid: str) -> None:
        """Put a leg into `channel_waiting` (a group's queue, or a park slot)."""
        record = dict(self.channels[uuid])
        number = record["calling_number" if record["direction"] == "inbound" else "called_number"]
        contact = self.contacts.get(number or "") if record["user_id"] is None else None
        record["whoscall"] = contact.whoscall_text() if contact else None
        self.waiting[uuid] = record
        self._emit(CHANNEL_WAITING, record, ADDED)

    def _unwait(self, call: Call) -> None:
        for leg in call.legs:
            if leg in self.waiting and (
                call.park_slot is None or self.parked_slots.get(call.park_slot) != leg
            ):
                self._emit(CHANNEL_WAITING, self.waiting.pop(leg), REMOVED)

    def _unpark(self, call: Call) -> None:
        if call.park_slot is None:
            return
        slot, call.park_slot = call.park_slot, None
        uuid = self.parked_slots.pop(slot, None)
        if uuid is not None and uuid in self.waiting:
            self._emit(CHANNEL_WAITING, self.waiting.pop(uuid), REMOVED)

    def _start(self, call: Call, a: Record) -> None:
        self.calls[call.uuid] = call
        self._add_leg(call, a)

    def _add_leg(self, call: Call, record: Record) -> None:
        self.channels[record["uuid"]] = record
        call.legs.append(record["uuid"])
        self._emit(CHANNEL, record, ADDED)

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
                state=(now, Atom("calling"), Atom("int"), Atom("user"), (user.id,)),
                target=call_target,
                end_user=origin["end_user"],
                origination=origin["origination"],
                user=user,
                group=group,
                other_uuid=from_leg,
                tags=origin["tags"],
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
            return (now, Atom("calling"), Atom("int"), Atom("user"), (target.id,))
        # Brastel's README example: the queue id of a ring group is the group's name.
        queue_id = target.name if target.type == "ring" else None
        return (
            now,
            Atom("calling"),
            Atom("int"),
            Atom("group"),
            (Atom(target.type), target.id, None, None, queue_id),
        )

    def _describe(self, record: Record) -> tuple[Any, ...]:
        """Return the `other_info` of a leg related to `record`'s leg (8 elements)."""
        group_id = record.get("group_id")
        user_id = record.get("user_id")
        if user_id is not None:
            user = self.users.get(user_id)
            return (
                Atom("user"),
                user_id,
                record["direction"],
                record["peer_location"],
                user.extension if user else None,
                record["offer_timestamp"],
                group_id,
                None,
            )
        number = (
            record["calling_number"]
            if record["direction"] == "inbound"
            else record["called_number"]
        )
        contact = self.contacts.get(number or "")
        return (
            Atom("end_user"),
            record["end_user"] or NO_END_USER,
            record["direction"],
            record["peer_location"],
            number,
            record["offer_timestamp"],
            group_id,
            contact.whoscall_text() if contact else None,
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
        end_user: str | None,
        origination: str | None,
        now: int,
        user: User | None = None,
        group: Group | None = None,
        other_uuid: str | None = None,
        tags: str | None = None,
    ) -> Record:
        uuid = self._new_uuid()
        # The SIP Call-ID: the uuid itself for calls the PBX places, the phone's own otherwise.
        call_id = uuid if direction == "outbound" else f"{uuid.split('-')[0]}@{self.domain}"
        return {
            "uuid": uuid,
            "direction": Atom(direction),
            "peer_location": Atom(peer_location),
            "calling_name": calling_name,
            "calling_number": calling_number,
            "called_number": called_number,
            "offer_timestamp": now,
            "answer_timestamp": None,
            "hangup_timestamp": None,
            "other_uuid": other_uuid,
            "user_id": user.id if user else None,
            "state": state,
            "group_id": group.id if group else None,
            "target": target,
            "origination": origination,
            "end_user": end_user,
            "tags": tags,
            "last_bridged_user_id": None,
            "last_event": Atom("CHANNEL_CREATE"),
            "last_event_data": None,
            "other_info": None,
            "call_id": call_id,
            "user_name": user.name if user else None,
            "group_name": group.name if group else None,
        }

    def _set(self, leg: str, event: str | None, **changes: Any) -> None:
        """Change a live leg; with an event name, record it in `last_event` and announce it."""
        record = self.channels[leg]
        record.update(changes)
        if event is not None:
            record["last_event"] = Atom(event)
            record["last_event_data"] = None
            self._emit(CHANNEL, record, UPDATED)

    def _hangup_leg(self, call: Call, leg: str, side: str, cause: str) -> None:
        if leg not in self.channels:
            return
        call.pending.pop(leg, None)
        record = self.channels[leg]
        record["hangup_timestamp"] = self.clock()
        record["last_event"] = Atom("CHANNEL_HANGUP")
        record["last_event_data"] = f"{side},{cause}"
        call.dispositions[leg] = record["last_event_data"]
        del self.channels[leg]
        self._emit(CHANNEL, record, REMOVED)

    def _contact(
        self,
        number: str,
        name: str | None,
        organization: str | None,
        prefecture: str | None = None,
        whoscall: dict[str, Any] | None = None,
    ) -> Contact | None:
        known = self.contacts.get(number)
        if name is None and organization is None and whoscall is None:
            return known
        contact = Contact(
            id=known.id if known else f"c{self._next_contact:05d}",
            name=name,
            organization=organization,
            avatar=known.avatar if known else f"c{self._next_contact:05d}.png",
            prefecture=prefecture or (known.prefecture if known else None),
            whoscall=whoscall or (known.whoscall if known else None),
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

    # ------------------------------------------------------------------ call_user (REST API)
    # The leg sequence of the Basix API's `call_user` (served by basix_simulator/api.py), kept
    # apart from the calls above: `answer` hands a call in its first stage over to
    # `_answer_originated`, and nothing else here knows about it.

    @property
    def originating(self) -> dict[str, Originating]:
        """`call_user` calls whose user has not answered yet, by the uuid of the user's leg."""
        pending: dict[str, Originating] = self.__dict__.setdefault("_originating", {})
        for uuid in [uuid for uuid in pending if uuid not in self.calls]:
            del pending[uuid]  # hung up before the user answered
        return pending

    def destination(self, destination: str) -> User | Group | str:
        """What `call_user` dials: a user or group (any of their keys), else a phone number.

        Raises KeyError for a text that is neither (the API's `destination_not_found`).
        """
        with contextlib.suppress(KeyError):
            return self.resolve(destination)
        number = destination.strip()
        if _PHONE_NUMBER.fullmatch(number):
            return number
        raise KeyError(f"no destination {destination!r}")

    def call_user(
        self, user: str | User, destination: str, *, group: str | Group | None = None
    ) -> Call:
        """What `POST /basix/api/call_user` does: ring the user's phone, then the destination.

        First stage: one leg, `direction=outbound` (the PBX places it, as FreeSWITCH's originate
        does) to the user's phone, `called_number` = the user's extension, `calling_number` /
        `calling_name` = the destination (what the phone shows), `origination` set. When the user
        answers (`answer(call)`), the second stage calls the destination from that leg, exactly as
        an internal or outgoing call of the user would (`docs/calls.md`); `group` (as_group)
        puts the group on both legs and presents its number. Raises KeyError for an unknown user,
        group or destination.
        """
        u = self.user(user)
        as_group = self.group(group) if group is not None else None
        target = self.destination(destination)
        now = self.clock()
        if isinstance(target, str):
            contact = self.contacts.get(target)
            shown_name, shown_number = (contact.name if contact else None), target
            end_user = contact.end_user() if contact else NO_END_USER
        else:
            shown_name, shown_number, end_user = target.label, target.extension, None
        origination = _api_origination(
            destination, as_group.name if as_group is not None else u.name
        )
        leg = self._new_leg(
            direction="outbound",
            peer_location="internal",
            calling_name=shown_name,
            calling_number=shown_number,
            called_number=u.extension,
            state=self._calling_state(u, now),
            target=None,
            end_user=end_user,
            origination=origination,
            user=u,
            group=as_group,
            now=now,
        )
        call = Call(
            uuid=leg["uuid"],
            kind="outgoing" if isinstance(target, str) else "internal",
            target=None if isinstance(target, str) else target,
            caller=u,
        )
        self._start(call, leg)
        call.pending[leg["uuid"]] = u.id
        self.originating[leg["uuid"]] = Originating(target, as_group)
        return call

    def _answer_originated(self, call: Call) -> None:
        """The user answered a `call_user` call: now the PBX calls the destination."""
        spec = self.originating.pop(call.uuid)
        user = call.caller
        assert user is not None
        leg = call.uuid
        call.pending.clear()
        now = self.clock()
        self._set(leg, "CHANNEL_ANSWER", answer_timestamp=now)
        record = self.channels[leg]
        group = spec.group
        shown_name = group.label if group is not None else user.label
        target = spec.destination
        if isinstance(target, str):
            contact = self.contacts.get(target)
            state: tuple[Any, ...] = (now, Atom("calling"), Atom("ext"), Atom("pstn"), (target,))
            far = self._new_leg(
                direction="outbound",
                peer_location="external",
                calling_name=shown_name,
                calling_number=user.did or self.main_number,
                called_number=target,
                state=state,
                target=(
                    Atom("pstn"),
                    contact.id if contact else None,
                    contact.name if contact else None,
                    target,
                ),
                end_user=record["end_user"],
                origination=record["origination"],
                group=group,
                other_uuid=leg,
                now=now,
            )
            far["other_info"] = self._describe(record)
            self._add_leg(call, far)
            call.pending[far["uuid"]] = None
            self._set(
                leg,
                "STATE_CHANGE",
                state=state,
                other_uuid=far["uuid"],
                other_info=self._describe(far),
            )
            return
        users = (
            [target]
            if isinstance(target, User)
            else [self.users[m] for m in target.members if m in self.users]
        )
        placed: list[str] = []
        for callee in users:
            b = self._new_leg(
                direction="outbound",
                peer_location="internal",
                calling_name=shown_name,
                calling_number=group.extension if group is not None else user.extension,
                called_number=callee.extension,
                state=self._calling_state(callee, now),
                target=(
                    Atom("user" if isinstance(target, User) else "group"),
                    target.id,
                    target.label,
                    target.extension,
                ),
                end_user=None,
                origination=record["origination"],
                user=callee,
                group=target if isinstance(target, Group) else group,
                other_uuid=leg,
                now=now,
            )
            b["other_info"] = self._describe(record)
            self._add_leg(call, b)
            call.pending[b["uuid"]] = callee.id
            placed.append(b["uuid"])
        single = placed[0] if len(placed) == 1 else None
        self._set(
            leg,
            "STATE_CHANGE",
            state=self._calling_state(target, now),
            other_uuid=single,
            other_info=self._describe(self.channels[single]) if single else None,
        )


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
