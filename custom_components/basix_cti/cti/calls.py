"""From call legs to what a person sees: each user's calls, their phase, and call events.

The PBX reports legs (channels); people think in calls ("201 is ringing", "I missed a call from
Tanaka"). `CallTracker` turns each channel `Delta` into that view, one leg at a time: a change
recomputes only the legs it names, so the cost of an event does not grow with the size of the
PBX. How legs are read is fixed in docs/calls.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from .models import (
    CHANNEL,
    CHANNEL_WAITING,
    PARKED_CHANNEL,
    USER,
    Channel,
    Disposition,
    Message,
    Snapshot,
)
from .offload import release_later
from .steps import STEP, Steps, finish, finish_stepwise
from .store import Delta, PbxState
from .terms import as_text

_HOLD_EVENTS = frozenset({"CHANNEL_HOLD"})
_UNHOLD_EVENTS = frozenset({"CHANNEL_UNHOLD"})
_ANSWER_EVENTS = frozenset({"CHANNEL_ANSWER", "CHANNEL_BRIDGE"})
_BRIDGE_EVENTS = frozenset({"CHANNEL_BRIDGE"})
# The channel tables whose legs are calls of users.
_CALL_ENTITIES = frozenset({CHANNEL, PARKED_CHANNEL, CHANNEL_WAITING})
# The current generation's element event names: they say nothing of what happened to a leg.
_ELEMENT_EVENTS = frozenset({"added", "updated", "removed"})
_HOLD_STATES = frozenset({"hold", "held", "on_hold"})
# States in which a leg that was never answered is calling outward, whatever its direction says.
_DIALING_STATES = frozenset({"calling_external", "calling_siptermination"})


class CallPhase(StrEnum):
    """Where one call of a user stands; also the user's call state (idle when no call)."""

    IDLE = "idle"
    RINGING = "ringing"
    DIALING = "dialing"
    TALKING = "talking"
    ON_HOLD = "on_hold"
    PARKED = "parked"
    VOICEMAIL = "voicemail"


# With several calls at once, the user's state is that of the call that matters most: a phone
# ringing is what an automation reacts to, a parked call is what one forgets.
_PRIORITY = {
    CallPhase.RINGING: 0,
    CallPhase.TALKING: 1,
    CallPhase.DIALING: 2,
    CallPhase.ON_HOLD: 3,
    CallPhase.VOICEMAIL: 4,
    CallPhase.PARKED: 5,
}


class CallDirection(StrEnum):
    """A call as the user sees it."""

    INCOMING = "incoming"
    OUTGOING = "outgoing"


class CallEventType(StrEnum):
    """What happened to a user's call."""

    INCOMING_CALL = "incoming_call"
    OUTGOING_CALL = "outgoing_call"
    ANSWERED = "answered"
    MISSED = "missed"
    ENDED = "ended"


class EndReason(StrEnum):
    """Why a call that was never answered here ended: from its disposition, else its legs."""

    CALLER_HUNG_UP = "caller_hung_up"
    VOICEMAIL = "voicemail"
    NO_ANSWER = "no_answer"
    ANSWERED_ELSEWHERE = "answered_elsewhere"
    PICKED_UP = "picked_up"
    BUSY = "busy"
    REFUSED = "refused"


# FreeSWITCH hangup causes (`last_event_data`, docs/calls.md) and what they tell a user whose
# phone rang or who called. A cause not listed is kept in the event data as it came; its
# reason is then read from the legs, as for a server that sends no disposition.
_CAUSE_REASONS: Mapping[str, EndReason] = {
    "LOSE_RACE": EndReason.ANSWERED_ELSEWHERE,
    "ANSWERED_ELSEWHERE": EndReason.ANSWERED_ELSEWHERE,
    "PICKED_OFF": EndReason.PICKED_UP,
    "ORIGINATOR_CANCEL": EndReason.CALLER_HUNG_UP,
    "NO_ANSWER": EndReason.NO_ANSWER,
    "NO_USER_RESPONSE": EndReason.NO_ANSWER,
    "USER_BUSY": EndReason.BUSY,
    "CALL_REJECTED": EndReason.REFUSED,
}
# Which side ended a leg, from the PBX's view of it: `recv` the far end of the leg (on a
# user's own leg, their phone), `send` the PBX.
_SIDES: Mapping[str, str] = {"recv": "far_end", "send": "pbx"}
# Reasons that another phone, not this user, took the call: an ending, not a missed call.
_TAKEN_ELSEWHERE = frozenset({EndReason.ANSWERED_ELSEWHERE, EndReason.PICKED_UP})


@dataclass(frozen=True, slots=True)
class Call:
    """One call of one user: the user's leg, read from the user's side."""

    uuid: str
    user_id: str
    phase: CallPhase
    direction: CallDirection | None
    caller_number: str | None
    caller_name: str | None
    called_number: str | None
    remote_number: str | None
    remote_name: str | None
    remote_organization: str | None
    our_number: str | None
    started_at: datetime | None
    answered_at: datetime | None
    held: bool
    channel: Channel

    def as_dict(self) -> dict[str, Any]:
        """The call as event data and entity attributes: plain values only."""
        return {
            "channel_uuid": self.uuid,
            "phase": self.phase.value,
            "direction": self.direction.value if self.direction else None,
            "caller_number": self.caller_number,
            "caller_name": self.caller_name,
            "called_number": self.called_number,
            "remote_number": self.remote_number,
            "remote_name": self.remote_name,
            "remote_organization": self.remote_organization,
            "our_number": self.our_number,
            "started_at": _iso(self.started_at),
            "answered_at": _iso(self.answered_at),
        }


@dataclass(frozen=True, slots=True)
class CallEvent:
    """A transition of one user's call: what automations trigger on."""

    type: CallEventType
    call: Call
    duration: float | None = None
    reason: EndReason | None = None
    picked_up_by: str | None = None

    @property
    def user_id(self) -> str:
        """The user whose call this is."""
        return self.call.user_id

    @property
    def hangup_cause(self) -> str | None:
        """The FreeSWITCH hangup cause of an ending, as the PBX sent it (`LOSE_RACE`...)."""
        if self.type not in (CallEventType.ENDED, CallEventType.MISSED):
            return None
        disposition = self.call.channel.disposition
        return disposition.cause if disposition else None

    @property
    def hangup_side(self) -> str | None:
        """Who ended the leg: `far_end` (on a user's own leg, their phone) or `pbx`."""
        if self.type not in (CallEventType.ENDED, CallEventType.MISSED):
            return None
        disposition = self.call.channel.disposition
        return _SIDES.get(disposition.side or "") if disposition else None

    def as_dict(self) -> dict[str, Any]:
        """The event's data: the call, plus the duration, reason and cause of an ending."""
        data = self.call.as_dict()
        data.pop("phase")
        data["duration"] = self.duration
        data["reason"] = self.reason.value if self.reason else None
        data["hangup_cause"] = self.hangup_cause
        data["hangup_side"] = self.hangup_side
        data["picked_up_by"] = self.picked_up_by
        return data


class CallTracker:
    """Keeps each user's calls up to date from channel deltas, and says what happened."""

    def __init__(self, state: PbxState) -> None:
        """Read legs from `state`, which the caller updates before handing over each delta."""
        self._state = state
        self._calls: dict[str, Call] = {}
        self._by_user: dict[str, dict[str, Call]] = {}
        self._inbound_legs: set[str] = set()
        # Legs by the caller's leg they were offered from: ring-group siblings share it.
        self._by_caller: dict[str, set[str]] = {}
        # Unanswered legs whose ending is told by the caller's leg's next move (see _ending),
        # with the reason their disposition gave, if any.
        self._awaiting: dict[str, list[tuple[Call, EndReason | None]]] = {}

    def staged(self, state: PbxState) -> CallTracker:
        """A copy reading `state` (a `PbxState.staged` one) to apply a delta to; `commit` it.

        The copy is of the indexes (dicts and sets), not of the calls they hold.
        """
        stage = CallTracker(state)
        stage._calls = dict(self._calls)
        stage._by_user = {user: dict(calls) for user, calls in self._by_user.items()}
        stage._inbound_legs = set(self._inbound_legs)
        stage._by_caller = {caller: set(legs) for caller, legs in self._by_caller.items()}
        stage._awaiting = {caller: list(legs) for caller, legs in self._awaiting.items()}
        return stage

    def commit(self, stage: CallTracker) -> list[object]:
        """Take over what `stage` (from `staged()`) changed, all at once; it keeps its state.

        Returns what it replaced, for the caller to free (see `PbxState.commit`).
        """
        replaced: list[object] = [
            self._calls,
            self._by_user,
            self._inbound_legs,
            self._by_caller,
            self._awaiting,
        ]
        self._calls = stage._calls
        self._by_user = stage._by_user
        self._inbound_legs = stage._inbound_legs
        self._by_caller = stage._by_caller
        self._awaiting = stage._awaiting
        return replaced

    @property
    def active_calls(self) -> int:
        """Calls in progress in the PBX: every call has exactly one leg that called in."""
        return len(self._inbound_legs)

    def calls_of(self, user_id: str) -> list[Call]:
        """The user's calls, the one that matters most first."""
        calls = self._by_user.get(user_id)
        if not calls:
            return []
        return sorted(calls.values(), key=lambda call: _PRIORITY[call.phase])

    def phase_of(self, user_id: str) -> CallPhase:
        """The user's call state: that of their most important call, or idle."""
        calls = self._by_user.get(user_id)
        if not calls:
            return CallPhase.IDLE
        return min((call.phase for call in calls.values()), key=_PRIORITY.__getitem__)

    def apply(self, delta: Delta) -> tuple[list[CallEvent], set[str]]:
        """Follow one delta; return the call events it causes and the users whose calls changed.

        A snapshot only resynchronises: a call that started or ended while we were not connected
        is shown or dropped, but no event is invented for it.
        """
        return finish(self.delta_steps(delta))

    def delta_steps(self, delta: Delta) -> Steps[tuple[list[CallEvent], set[str]]]:
        """`apply` in steps (`cti/steps.py`), for a snapshot's delta of thousands of legs.

        Readers see every step's change at once: to keep them from seeing half a snapshot,
        apply it to `staged()` and `commit` that.
        """
        if delta.entity not in _CALL_ENTITIES:
            return [], set()
        uuids = {item.key for item in (*delta.upserted, *delta.removed)}
        if delta.snapshot:
            uuids.update(
                uuid for uuid, call in self._calls.items() if call.channel.entity == delta.entity
            )
        events: list[CallEvent] = []
        users: set[str] = set()
        for index, uuid in enumerate(uuids, 1):
            self._follow(uuid, delta, events, users)
            if not index % STEP:
                yield
        # The ringing ended while we watched; even a resync tells where the caller went. Only
        # the caller's `channel` record says so: its `channel_waiting` twin leaving the queue
        # comes first, while the leg is still calling (on its way to voicemail, say).
        awaited = uuids & self._awaiting.keys() if delta.entity == CHANNEL else set()
        for uuid in awaited:
            for call, known in self._awaiting.pop(uuid):
                if known is EndReason.PICKED_UP:
                    events.append(_unanswered(call, known, self._picker(call)))
                else:
                    events.append(_unanswered(call, self._caller_moved_on(uuid, known)))
        return events, users

    def _leg(self, uuid: str) -> Channel | None:
        state = self._state
        return (
            state.channels.get(uuid)
            or state.waiting_channels.get(uuid)
            or state.parked_channels.get(uuid)
        )

    def _follow(self, uuid: str, delta: Delta, events: list[CallEvent], users: set[str]) -> None:
        channel = self._leg(uuid)
        partner = None
        if channel is not None and channel.other_uuid:
            partner = self._state.channels.get(channel.other_uuid)
        old = self._calls.get(uuid)
        placed = channel is not None and _placed_for_api(channel, old, partner)
        # A phone that takes over a call (a pickup, an unpark) calls in too, but the call is
        # the one its caller's leg came in on. A call_user call comes in on no leg: the PBX
        # placed the user's first.
        if channel is not None and (
            placed or (_called_in(channel) and not _took_a_call(channel, partner))
        ):
            self._inbound_legs.add(uuid)
        else:
            self._inbound_legs.discard(uuid)
        new = None
        if channel is not None:
            new = _read_call(channel, old, _leg_event(channel, delta.event), partner, placed=placed)
        if old is not None:
            self._drop(old)
        if new is not None:
            self._keep(new)
        # A leg that changes hands (a parked call picked up) leaves its old user quietly.
        moved = old is not None and new is not None and new.user_id != old.user_id
        if old is not None and (new is None or moved):
            users.add(old.user_id)
        if new is not None and new != old:
            users.add(new.user_id)
        if delta.snapshot:
            return
        if old is not None and new is None:
            final = next((r for r in delta.removed if r.key == uuid), None)
            events.extend(self._ending(old, final if isinstance(final, Channel) else None))
        if new is not None:
            events.extend(_transitions(None if moved else old, new))

    def _keep(self, call: Call) -> None:
        self._calls[call.uuid] = call
        self._by_user.setdefault(call.user_id, {})[call.uuid] = call
        if caller := call.channel.other_uuid:
            self._by_caller.setdefault(caller, set()).add(call.uuid)

    def _drop(self, call: Call) -> None:
        del self._calls[call.uuid]
        calls = self._by_user[call.user_id]
        del calls[call.uuid]
        if not calls:
            del self._by_user[call.user_id]
        if (caller := call.channel.other_uuid) and (siblings := self._by_caller.get(caller)):
            siblings.discard(call.uuid)
            if not siblings:
                del self._by_caller[caller]

    def _ending(self, call: Call, final: Channel | None) -> Iterable[CallEvent]:
        """What the end of a call means; `final` is the leg's last record, with its hang-up time."""
        if call.phase in (CallPhase.PARKED, CallPhase.VOICEMAIL):
            # A parked call that goes was picked up or abandoned; a voicemail leg is the
            # caller's, answered by the voicemail app: this user neither talked nor missed.
            return
        if final is not None:
            call = replace(call, channel=final)
        known = _disposition_reason(call.channel.disposition)
        if call.answered_at is not None:
            end = call.channel.hungup_at or datetime.now(UTC)
            duration = max(0.0, (end - call.answered_at).total_seconds())
            yield CallEvent(CallEventType.ENDED, call, duration=duration)
        elif call.direction is not CallDirection.INCOMING:
            # The user called and nobody answered: the disposition says why, when it does.
            reason = known if known not in (None, *_TAKEN_ELSEWHERE) else EndReason.NO_ANSWER
            yield CallEvent(CallEventType.ENDED, call, duration=0.0, reason=reason)
        elif known is EndReason.PICKED_UP:
            picker = self._picker(call)
            if picker is None and self._caller_waits(call):
                # The picker's leg may bridge after this one went: the caller's next move
                # names them.
                self._awaiting.setdefault(call.channel.other_uuid or "", []).append((call, known))
            else:
                yield _unanswered(call, known, picker)
        elif known is not None and known is not EndReason.NO_ANSWER:
            # Answered elsewhere, the caller gave up, busy, refused: the PBX said so.
            yield _unanswered(call, known)
        elif reason := self._unanswered_reason(call, known):
            yield _unanswered(call, reason)
        else:
            # The phones stop ringing before the caller's leg moves on (to voicemail, to
            # someone else, or away): its next change tells which.
            self._awaiting.setdefault(call.channel.other_uuid or "", []).append((call, known))

    def _caller_waits(self, call: Call) -> bool:
        caller_uuid = call.channel.other_uuid
        return caller_uuid is not None and caller_uuid in self._state.channels

    def _picker(self, call: Call) -> str | None:
        """The user who picked up a call that rang here, as far as the legs show them."""
        caller_uuid = call.channel.other_uuid
        caller = self._state.channels.get(caller_uuid) if caller_uuid else None
        if caller is None:
            return None
        found: list[str | None] = []
        if caller.other_uuid and (bridged := self._state.channels.get(caller.other_uuid)):
            found.append(bridged.user_id)
        for uuid, leg in self._calls.items():
            if uuid != call.uuid and leg.channel.other_uuid == caller_uuid and leg.answered_at:
                found.append(leg.user_id)
        info = caller.other_info
        found.append(info.user_id if info is not None and info.type == USER else None)
        found.append(caller.last_bridged_user_id)
        return next((user for user in found if user and user != call.user_id), None)

    def _unanswered_reason(self, call: Call, known: EndReason | None) -> EndReason | None:
        """Why a leg that rang here ended unanswered, or None while the caller's leg is calling.

        `known` is what its disposition said (no answer), if anything. Called after the leg
        left the tracker, so its ring-group siblings are the other legs still offered from
        the same caller's leg.
        """
        caller_uuid = call.channel.other_uuid
        if caller_uuid is None:
            return EndReason.NO_ANSWER
        siblings = self._by_caller.get(caller_uuid, ())
        if any(self._calls[uuid].answered_at is not None for uuid in siblings):
            return EndReason.ANSWERED_ELSEWHERE
        caller = self._state.channels.get(caller_uuid)
        if caller is not None and caller.state is not None and caller.state.name == "calling":
            # Still offered around: its next move (voicemail, another phone, gone) says why.
            return None
        return self._caller_moved_on(caller_uuid, known)

    def _caller_moved_on(self, caller_uuid: str, known: EndReason | None = None) -> EndReason:
        """Read an unanswered leg's ending from where its caller's leg went.

        A leg that timed out (`known` no answer) stays unanswered when the caller then hangs
        up: only voicemail or another phone say more.
        """
        caller = self._state.channels.get(caller_uuid)
        if caller is None:
            return known or EndReason.CALLER_HUNG_UP
        state = caller.state.name if caller.state else None
        if state == "voicemail":
            return EndReason.VOICEMAIL
        if state == "bridged":
            return EndReason.ANSWERED_ELSEWHERE
        return EndReason.NO_ANSWER


async def apply_message(
    state: PbxState, tracker: CallTracker, message: Message
) -> tuple[Delta, list[CallEvent], set[str]] | None:
    """Apply one message to the store and its tracker: its delta, call events, changed users.

    None for a message that holds no items. A snapshot that brings or replaces more than
    `STEP` items is applied to staged copies in steps, giving the event loop a turn between
    them, and committed to both at once in the step that returns: a reader never sees half a
    snapshot, nor a store the tracker has not caught up with. The caller must not apply
    another message meanwhile (the client hands them over one at a time).
    """
    # What a snapshot costs is what it brings and what it ends: an empty one after 10,000
    # calls ends them all.
    if (
        not isinstance(message, Snapshot)
        or len(message.items) + len(state.items(message.entity)) <= STEP
    ):
        delta = state.apply(message)
        if delta is None:
            return None
        events, users = tracker.apply(delta)
        return delta, events, users
    entity = message.entity
    staged_state = state.staged(entity)
    delta = await finish_stepwise(staged_state.snapshot_steps(message))
    staged_tracker = tracker.staged(staged_state)
    events, users = await finish_stepwise(staged_tracker.delta_steps(delta))
    replaced = state.commit(staged_state, entity) + tracker.commit(staged_tracker)
    # The legs and calls replaced are freed in a worker: thousands of them at once would
    # hold the loop as long as the steps above did.
    del staged_state, staged_tracker
    release_later(replaced)
    return delta, events, users


def _disposition_reason(disposition: Disposition | None) -> EndReason | None:
    """What a leg's hangup disposition says about its ending; None when it says nothing known."""
    if disposition is None:
        return None
    reason = _CAUSE_REASONS.get(disposition.cause or "")
    if reason is None and disposition.action == "refuse":
        return EndReason.REFUSED  # refused, for a cause this version does not know
    return reason


def _unanswered(call: Call, reason: EndReason, picked_up_by: str | None = None) -> CallEvent:
    # Another phone taking the call (a ring group's winner, a colleague's pickup) is not a
    # call this user missed: a ring group would tell every member otherwise.
    if reason in _TAKEN_ELSEWHERE:
        return CallEvent(
            CallEventType.ENDED, call, duration=0.0, reason=reason, picked_up_by=picked_up_by
        )
    return CallEvent(CallEventType.MISSED, call, reason=reason)


def _called_in(channel: Channel) -> bool:
    """Whether a leg is the one its call came in on: a call has exactly one."""
    if channel.direction is not None:
        return channel.direction == "inbound"
    return channel.user_id is None


def _transitions(old: Call | None, new: Call) -> Iterable[CallEvent]:
    if old is None:
        if new.phase is CallPhase.RINGING:
            yield CallEvent(CallEventType.INCOMING_CALL, new)
        elif new.phase is CallPhase.DIALING:
            yield CallEvent(CallEventType.OUTGOING_CALL, new)
        elif new.answered_at is not None and new.phase is CallPhase.TALKING:
            # A leg created already answered (a pick-up, a call that lands on us answered):
            # announce the call, then its answer, so automations see one consistent story.
            kind = (
                CallEventType.INCOMING_CALL
                if new.direction is CallDirection.INCOMING
                else CallEventType.OUTGOING_CALL
            )
            yield CallEvent(kind, new)
            yield CallEvent(CallEventType.ANSWERED, new)
        return
    # The voicemail app answering the caller, or a parked call's answer, is no one's answer.
    if (
        old.answered_at is None
        and new.answered_at is not None
        and new.phase not in (CallPhase.VOICEMAIL, CallPhase.PARKED)
    ):
        yield CallEvent(CallEventType.ANSWERED, new)


def _read_call(
    channel: Channel,
    old: Call | None,
    event: str | None,
    partner: Channel | None = None,
    *,
    placed: bool = False,
) -> Call | None:
    """Read one leg as a call of its user, or None when it belongs to no user.

    `partner` is the leg this one is bridged to (its `other_uuid`), when the store has it;
    `placed` says the leg is the one a `call_user` request rang the user on (`_placed_for_api`).
    """
    user_id = _owner(channel)
    if user_id is None:
        return None
    same_leg = old is not None and old.user_id == user_id
    state = channel.state.name if channel.state else None
    # A call_user call is answered when the destination is: the user picking up their phone
    # only lets the PBX dial.
    answered_at = None if placed else channel.answered_at
    answer_events = _BRIDGE_EVENTS if placed else _ANSWER_EVENTS
    if answered_at is None and (state == "bridged" or (event and event in answer_events)):
        answered_at = (old.answered_at if same_leg and old else None) or _event_time(channel)
    if answered_at is None and same_leg and old is not None:
        answered_at = old.answered_at
    held = old.held if same_leg and old is not None else False
    if event in _HOLD_EVENTS or state in _HOLD_STATES:
        held = True
    elif event in _UNHOLD_EVENTS or event in _ANSWER_EVENTS:
        held = False
    taken = _took_a_call(channel, partner)
    if taken and answered_at is None:
        # A phone dialling a pickup or a park slot does not ring, nor does its user call
        # anyone: the call becomes theirs when the PBX connects it.
        return None
    if placed:
        direction: CallDirection | None = CallDirection.OUTGOING
    else:
        direction = CallDirection.INCOMING if taken else _direction(channel, state)
    phase = _phase(state, answered_at is not None, held, direction)
    remote_number, remote_name, remote_org = _remote(
        partner if taken and partner else channel,
        # The PBX shows the destination to the user's phone as its caller.
        CallDirection.INCOMING if placed else direction,
    )
    if direction is CallDirection.OUTGOING:
        caller_number, caller_name = None, channel.user_name
        called_number = remote_number
    else:
        caller_number, caller_name = remote_number, remote_name
        called_number = channel.called_number
    # The number of ours that was dialled: only an incoming call has one.
    incoming = direction is CallDirection.INCOMING
    target = partner.target if taken and partner else channel.target
    our_number = target.address if incoming and target else None
    return Call(
        uuid=channel.uuid,
        user_id=user_id,
        phase=phase,
        direction=direction,
        caller_number=caller_number,
        caller_name=caller_name,
        called_number=called_number,
        remote_number=remote_number,
        remote_name=remote_name,
        remote_organization=remote_org,
        our_number=our_number,
        started_at=channel.offered_at or (old.started_at if same_leg and old else None),
        answered_at=answered_at,
        held=held,
        channel=channel,
    )


def _leg_event(channel: Channel, event: str | None) -> str | None:
    """What just happened to a leg, in FreeSWITCH's words (`CHANNEL_HOLD`...).

    The current generation's element events only say `added` / `updated` / `removed`: what
    happened is the leg's own `last_event`. Older servers name it in the event itself.
    """
    if event is not None and event.lower() not in _ELEMENT_EVENTS:
        return event.upper()
    return channel.last_event.upper() if channel.last_event else None


def _took_a_call(channel: Channel, partner: Channel | None) -> bool:
    """Whether a user's leg took over a call that came in: a pickup, or a parked call unparked.

    The user's phone called into the PBX (an inbound leg) and is bridged to another inbound
    leg, the caller's, which was there first. An ordinary call bridges an inbound leg to an
    outbound one.
    """
    if partner is None or channel.direction != "inbound" or partner.direction != "inbound":
        return False
    mine, theirs = channel.offered_at, partner.offered_at
    return mine is not None and theirs is not None and mine > theirs


def _placed_for_api(channel: Channel, old: Call | None, partner: Channel | None) -> bool:
    """Whether a leg is the one a Basix API `call_user` request rang its user's phone on.

    The PBX places it (outbound, `origination` set, no leg before it) and, once the user
    answers, calls the destination from it: for the user a call out, though their phone rang
    first. The destination's legs carry the same `origination` but name the user's leg, placed
    before theirs, in `other_uuid` (docs/calls.md, "Calls made through the API").
    """
    if not channel.origination or channel.direction != "outbound" or channel.user_id is None:
        return False
    if old is not None:  # a leg's reading does not turn round mid-call
        return old.direction is CallDirection.OUTGOING
    if not channel.other_uuid:
        return True
    if partner is None:
        return False  # first seen mid-call, its first leg unknown: read as the PBX offers it
    mine, theirs = channel.offered_at, partner.offered_at
    return partner.direction != "outbound" or (
        mine is not None and theirs is not None and theirs > mine
    )


def _owner(channel: Channel) -> str | None:
    """The user a leg counts for: its own user, or the parker / voicemail box owner."""
    state = channel.state
    if state is not None:
        details: Mapping[str, Any] = state.details
        if state.name == "park" and details.get("parker_id"):
            return as_text(details["parker_id"])
        if (
            state.name == "voicemail"
            and channel.user_id is None
            and details.get("target_type") == "user"
            and details.get("target_id")
        ):
            return as_text(details["target_id"])
    return channel.user_id


def _direction(channel: Channel, state: str | None) -> CallDirection | None:
    # The switch's view is the reverse of the user's: the PBX placing a leg to a phone is that
    # phone ringing. Without a direction, a leg being offered to a user is taken as incoming.
    if state in _DIALING_STATES or channel.direction == "inbound":
        return CallDirection.OUTGOING
    if channel.direction == "outbound" or state == "calling":
        return CallDirection.INCOMING
    return None


def _phase(
    state: str | None, answered: bool, held: bool, direction: CallDirection | None
) -> CallPhase:
    if state == "park":
        return CallPhase.PARKED
    if state == "voicemail":
        return CallPhase.VOICEMAIL
    if answered:
        return CallPhase.ON_HOLD if held else CallPhase.TALKING
    if direction is CallDirection.OUTGOING:
        return CallPhase.DIALING
    return CallPhase.RINGING


def _remote(
    channel: Channel, direction: CallDirection | None
) -> tuple[str | None, str | None, str | None]:
    """The other party's number, name and organisation, as well as the PBX resolved them."""
    party = channel.end_user.party if channel.end_user else None
    if party is None and channel.other_info and channel.other_info.end_user:
        party = channel.other_info.end_user.party
    if direction is CallDirection.OUTGOING:
        number = channel.called_number or (
            channel.other_info.address if channel.other_info else None
        )
        name = None
    else:
        number = channel.calling_number or (
            channel.other_info.address if channel.other_info else None
        )
        name = channel.calling_name
    if party is not None:
        name = party.name or name
        return number, name, party.organization
    return number, name, None


def _event_time(channel: Channel) -> datetime:
    state_since = channel.state.since if channel.state else None
    return state_since or datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


__all__ = [
    "Call",
    "CallDirection",
    "CallEvent",
    "CallEventType",
    "CallPhase",
    "CallTracker",
    "EndReason",
    "apply_message",
]
