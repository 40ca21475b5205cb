"""What a finished call leaves behind: the values the history sensors and the logbook show.

A call event only holds what the PBX said; a missed call never had an answer time, and an
outgoing call has no "number of ours that was called". Whatever is unknown is left out, so that
no card or template shows an "Unknown" row for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from homeassistant.util import dt as dt_util

from .cti.calls import CallEvent, CallEventType


def present(values: dict[str, Any]) -> dict[str, Any]:
    """The values that exist: None means the PBX did not say."""
    return {key: value for key, value in values.items() if value is not None}


def ended_at(event: CallEvent) -> datetime:
    """When the call ended: the PBX's hang-up time, else the moment we learnt it."""
    return event.call.channel.hungup_at or dt_util.utcnow()


def is_missed(event: CallEvent) -> bool:
    """Whether the event ends a call nobody answered."""
    return event.type is CallEventType.MISSED


def is_finished(event: CallEvent) -> bool:
    """Whether the event ends a call (answered or not)."""
    return event.type in (CallEventType.MISSED, CallEventType.ENDED)


def missed_call_attributes(event: CallEvent) -> dict[str, Any]:
    """Who called, which of our numbers they called, and why nobody answered."""
    call = event.call
    return present(
        {
            "caller_number": call.caller_number,
            "caller_name": call.remote_name or call.caller_name,
            "caller_organization": call.remote_organization,
            "our_number": call.our_number,
            "reason": event.reason.value if event.reason else None,
            "started_at": _iso(call.started_at),
        }
    )


def last_call_attributes(event: CallEvent) -> dict[str, Any]:
    """The other party, the direction, and how long the call lasted (seconds) or why it did not."""
    call = event.call
    return present(
        {
            "direction": call.direction.value if call.direction else None,
            "remote_number": call.remote_number,
            "remote_name": call.remote_name,
            "remote_organization": call.remote_organization,
            "our_number": call.our_number,
            "started_at": _iso(call.started_at),
            "answered_at": _iso(call.answered_at),
            "duration": (
                round(event.duration)
                if event.duration is not None and call.answered_at is not None
                else None
            ),
            "reason": event.reason.value if event.reason else None,
        }
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
