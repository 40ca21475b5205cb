"""Ring and hunt groups as Home Assistant shows them: their calls, waiting calls and members.

A call to a group is the caller's leg that called in with the group's id (`group_id`); the
members' phones ring on legs of their own, which the CallTracker reads for each member. The
group's own story is told by the caller's leg: it rings the group, is answered by a member,
goes to the group's voicemail, or ends unanswered; that last one is a call missed **for the
group** (a member whose phone never rang missed nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from .cti.calls import Call, CallDirection, CallEvent, CallEventType, CallPhase, EndReason
from .cti.models import CHANNEL, CHANNEL_WAITING, GROUP_MEMBER, Channel, Group, GroupMember
from .cti.store import Delta, PbxState
from .history import present

GROUP_PREFIX = "group:"

# What a group's call can be: ringing the members, or answered by one of them.
GROUP_PHASES = (CallPhase.IDLE, CallPhase.RINGING, CallPhase.TALKING)


def group_key(group_id: str) -> str:
    """The key a group's device and signals share with users' (never a user id: it has a colon)."""
    return f"{GROUP_PREFIX}{group_id}"


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A group as Home Assistant shows it: one device with its call entities."""

    group_id: str
    name: str
    extension: str | None

    @property
    def key(self) -> str:
        """The key of the group's device and signals."""
        return group_key(self.group_id)


def group_info(group: Group) -> GroupInfo:
    """Name a group after its label (or name) and extension, as users are."""
    name = group.label or group.name or f"Group {group.id}"
    return GroupInfo(
        group.id, f"{name} ({group.extension})" if group.extension else name, group.extension
    )


def _called_group(channel: Channel) -> str | None:
    """The group a caller's leg calls, or None for any other leg."""
    if channel.direction != "inbound" or not channel.group_id:
        return None
    return channel.group_id


def _waiting_group(channel: Channel) -> str | None:
    """The group a waiting call waits for (a parked call waits for nobody's group)."""
    state = channel.state
    if state is None or state.name != "calling":
        return None
    details = state.details
    if details.get("target_type") == "group" and details.get("target_id"):
        return str(details["target_id"])
    return channel.group_id


class GroupCalls:
    """Follows the calls to each group, and says what happened to them."""

    def __init__(self, state: PbxState) -> None:
        """Read legs from `state`, updated before each delta is handed over."""
        self._state = state
        self._calls: dict[str, Call] = {}
        self._by_group: dict[str, dict[str, Call]] = {}

    def calls_of(self, group_id: str) -> list[Call]:
        """The group's calls, ringing ones first."""
        calls = self._by_group.get(group_id, {})
        return sorted(calls.values(), key=lambda call: call.phase is not CallPhase.RINGING)

    def phase_of(self, group_id: str) -> CallPhase:
        """Ringing while a call rings the group, talking while one is answered, else idle."""
        phases = {call.phase for call in self._by_group.get(group_id, {}).values()}
        for phase in (CallPhase.RINGING, CallPhase.TALKING):
            if phase in phases:
                return phase
        return CallPhase.IDLE

    def waiting_of(self, group_id: str) -> list[Channel]:
        """The calls waiting for the group's members (`channel_waiting`)."""
        return [
            channel
            for channel in self._state.waiting_channels.values()
            if _waiting_group(channel) == group_id
        ]

    def members_of(self, group_id: str) -> list[GroupMember]:
        """The group's memberships, by priority."""
        return sorted(self._state.members_of(group_id), key=lambda member: member.priority or 0)

    def apply(self, delta: Delta) -> tuple[list[CallEvent], set[str]]:
        """Follow one delta: the group call events it causes, and the groups it changed."""
        groups: set[str] = set()
        if delta.entity == CHANNEL_WAITING:
            for record in (*delta.upserted, *delta.removed):
                if isinstance(record, Channel) and (group_id := _waiting_group(record)):
                    groups.add(group_id)
            return [], groups
        if delta.entity == GROUP_MEMBER:
            for record in (*delta.upserted, *delta.removed):
                if isinstance(record, GroupMember) and record.group_id:
                    groups.add(record.group_id)
            return [], groups
        if delta.entity != CHANNEL:
            return [], groups
        uuids = {item.key for item in (*delta.upserted, *delta.removed)}
        if delta.snapshot:
            uuids.update(self._calls)
        events: list[CallEvent] = []
        # By key, once: a snapshot that ends 10,000 calls must not scan them for each.
        removed = {r.key: r for r in reversed(delta.removed) if isinstance(r, Channel)}
        for uuid in uuids:
            old = self._calls.get(uuid)
            live = self._state.channels.get(uuid)
            final = removed.get(uuid)
            group_id = _called_group(live) if live is not None else None
            new = _group_call(live, group_id, old) if live and group_id else None
            if old is not None:
                self._drop(old)
                groups.add(_group_of(old))
            if new is not None:
                self._keep(new)
                groups.add(_group_of(new))
            if not delta.snapshot:
                events.extend(_transitions(old, new, live, final))
        return events, groups

    def _keep(self, call: Call) -> None:
        self._calls[call.uuid] = call
        self._by_group.setdefault(_group_of(call), {})[call.uuid] = call

    def _drop(self, call: Call) -> None:
        del self._calls[call.uuid]
        group_id = _group_of(call)
        calls = self._by_group[group_id]
        del calls[call.uuid]
        if not calls:
            del self._by_group[group_id]


def _group_of(call: Call) -> str:
    return call.user_id.removeprefix(GROUP_PREFIX)


def _group_call(channel: Channel, group_id: str, old: Call | None) -> Call | None:
    """The caller's leg read as a call of the group; None once it is in the voicemail."""
    state = channel.state.name if channel.state else None
    if state == "voicemail":
        return None
    answered_at = channel.answered_at or (old.answered_at if old else None)
    if answered_at is None and state == "bridged":
        answered_at = (channel.state.since if channel.state else None) or datetime.now(UTC)
    party = channel.end_user.party if channel.end_user else None
    return Call(
        uuid=channel.uuid,
        user_id=group_key(group_id),
        phase=CallPhase.RINGING if answered_at is None else CallPhase.TALKING,
        direction=CallDirection.INCOMING,
        caller_number=channel.calling_number,
        caller_name=channel.calling_name,
        called_number=channel.called_number,
        remote_number=channel.calling_number,
        remote_name=(party.name if party else None) or channel.calling_name,
        remote_organization=party.organization if party else None,
        our_number=channel.target.address if channel.target else None,
        started_at=channel.offered_at,
        answered_at=answered_at,
        held=False,
        channel=channel,
    )


def _transitions(
    old: Call | None, new: Call | None, live: Channel | None, final: Channel | None
) -> Iterable[CallEvent]:
    """Events of a group's call; `live` is its leg now, `final` its last record once gone."""
    if old is None and new is not None:
        yield CallEvent(CallEventType.INCOMING_CALL, new)
        if new.answered_at is not None:
            yield CallEvent(CallEventType.ANSWERED, new)
        return
    if old is None:
        return
    if new is not None:
        if old.answered_at is None and new.answered_at is not None:
            yield CallEvent(CallEventType.ANSWERED, new)
        return
    # The call left the group: hung up, into the group's voicemail, or on elsewhere.
    last = live or final
    call = old if last is None else replace(old, channel=last)
    if old.answered_at is not None:
        end = call.channel.hungup_at or datetime.now(UTC)
        duration = max(0.0, (end - old.answered_at).total_seconds())
        yield CallEvent(CallEventType.ENDED, call, duration=duration)
        return
    state = live.state.name if live is not None and live.state else None
    if live is None:
        # The caller's leg ended: by the caller (its far end), or by the PBX once nobody
        # answered in time (`send_refuse,NO_ANSWER`).
        disposition = final.disposition if final is not None else None
        ended_by_pbx = disposition is not None and disposition.side == "send"
        reason = EndReason.NO_ANSWER if ended_by_pbx else EndReason.CALLER_HUNG_UP
    elif state == "voicemail":
        reason = EndReason.VOICEMAIL
    else:
        reason = EndReason.NO_ANSWER
    yield CallEvent(CallEventType.MISSED, call, reason=reason)


def members_attribute(
    members: list[GroupMember], name_of: Callable[[str], str | None]
) -> list[dict[str, Any]]:
    """The members as an attribute: who, and their login state as the PBX sent it."""
    return [
        present(
            {
                "user_id": member.user_id,
                "name": name_of(member.user_id) if member.user_id else None,
                "login_status": member.login_status,
            }
        )
        for member in members
    ]
