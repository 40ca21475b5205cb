"""Commands to the PBX on the ws_cti WebSocket, and how to tell that the PBX carried one out.

Brastel's web app sends JSON text frames: `{"cmd": "hangup", "uuid": U}`,
`{"cmd": "park", "uuid": U, "timeout": T}`, `{"cmd": "transfer", "uuid": U, "destination": D}`
(protocol.md, "Talking back"). Whether the PBX takes them from an API-token connection, and what
it answers, is unknown: the only proof that one worked is the PBX's own channel events. So each
`Command` knows the legs it is about (the leg U, and the leg bridged with it when it was built)
and which message shows it done:

- `hangup`: leg U ends (a change that removes it, or a snapshot without it);
- `park`: leg U or its peer enters state `park`, or appears among the parked / waiting channels;
- `transfer`: a new leg (neither U nor its peer) appears, offered from U or its peer: the leg
  ringing the destination. What the new leg's numbers look like is the PBX's business (it may
  add a prefix, ring a group's phones...), so they are not compared with the destination.

`CtiClient.send_command` sends one and waits for that message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
import json
from typing import Any

from .models import CHANNEL, PARKED_CHANNEL, Change, Channel, Message, Snapshot
from .store import ends_item

REDACTED = "**REDACTED**"
# The current generation's parked and queued calls (protocol.md); older ones: parked_channel.
CHANNEL_WAITING = "channel_waiting"
_WAITING = frozenset({PARKED_CHANNEL, CHANNEL_WAITING})
_PARK_STATE = "park"


class CommandName(StrEnum):
    """The commands Brastel's web app sends."""

    HANGUP = "hangup"
    PARK = "park"
    TRANSFER = "transfer"


@dataclass(frozen=True, slots=True)
class Command:
    """One command about one leg; build it with `hangup`, `park` or `transfer`."""

    name: CommandName
    uuid: str
    destination: str | None = None
    timeout: int | None = None
    related: frozenset[str] = field(default_factory=frozenset)
    """The leg itself and the leg bridged with it when the command was made."""

    @classmethod
    def hangup(cls, leg: Channel | str) -> Command:
        """End the call on `leg`."""
        uuid, related = _leg(leg)
        return cls(CommandName.HANGUP, uuid, related=related)

    @classmethod
    def park(cls, leg: Channel | str, timeout: int | None = None) -> Command:
        """Park the call on `leg`; after `timeout` seconds the PBX's own rule applies."""
        if timeout is not None and timeout <= 0:
            raise ValueError("the park timeout must be a positive number of seconds")
        uuid, related = _leg(leg)
        return cls(CommandName.PARK, uuid, timeout=timeout, related=related)

    @classmethod
    def transfer(cls, leg: Channel | str, destination: str) -> Command:
        """Transfer the call on `leg` to `destination` (a number, an extension or a user name)."""
        destination = destination.strip()
        if not destination:
            raise ValueError("the destination is empty")
        uuid, related = _leg(leg)
        return cls(CommandName.TRANSFER, uuid, destination=destination, related=related)

    def payload(self) -> dict[str, Any]:
        """The JSON object sent, in the form of Brastel's web app."""
        body: dict[str, Any] = {"cmd": self.name.value, "uuid": self.uuid}
        if self.name is CommandName.PARK:
            body["timeout"] = self.timeout
        if self.destination is not None:
            body["destination"] = self.destination
        return body

    def text(self) -> str:
        """The text frame sent."""
        return json.dumps(self.payload(), ensure_ascii=False, separators=(",", ":"))

    def describe(self) -> str:
        """The frame as a log may show it: the destination (a number or a name) left out."""
        body = self.payload()
        if "destination" in body:
            body["destination"] = REDACTED
        return json.dumps(body, separators=(",", ":"))

    def scrub(self, text: str) -> str:
        """`text` (something the server said) without the destination in it."""
        if self.destination:
            text = text.replace(self.destination, REDACTED)
        return text

    def confirmed_by(self, message: Message) -> bool:
        """Whether `message` shows the PBX carried this command out."""
        if isinstance(message, Snapshot):
            return self._confirmed_by_snapshot(message)
        if not isinstance(message, Change) or not isinstance(message.item, Channel):
            return False
        leg, entity = message.item, message.entity
        ends = ends_item(leg, message.event, entity)
        match self.name:
            case CommandName.HANGUP:
                return leg.uuid == self.uuid and entity == CHANNEL and ends
            case CommandName.PARK:
                return leg.uuid in self.related and not ends and _parked(leg, entity)
            case CommandName.TRANSFER:
                return entity == CHANNEL and not ends and self._new_leg_of_call(leg)

    def _confirmed_by_snapshot(self, snapshot: Snapshot) -> bool:
        """After a reconnect the snapshot tells what happened meanwhile."""
        legs = [item for item in snapshot.items if isinstance(item, Channel)]
        match self.name:
            case CommandName.HANGUP:
                return snapshot.entity == CHANNEL and all(leg.uuid != self.uuid for leg in legs)
            case CommandName.PARK:
                return any(
                    leg.uuid in self.related and _parked(leg, snapshot.entity) for leg in legs
                )
            case CommandName.TRANSFER:
                return snapshot.entity == CHANNEL and any(
                    self._new_leg_of_call(leg) for leg in legs
                )

    def _new_leg_of_call(self, leg: Channel) -> bool:
        return leg.uuid not in self.related and leg.other_uuid in self.related


def _leg(leg: Channel | str) -> tuple[str, frozenset[str]]:
    if isinstance(leg, Channel):
        if not leg.uuid:
            raise ValueError("the channel has no uuid")
        return leg.uuid, frozenset(uuid for uuid in (leg.uuid, leg.other_uuid) if uuid)
    if not leg.strip():
        raise ValueError("the channel uuid is empty")
    return leg.strip(), frozenset((leg.strip(),))


def _parked(leg: Channel, entity: str) -> bool:
    return entity in _WAITING or (leg.state is not None and leg.state.name == _PARK_STATE)


__all__ = ["CHANNEL_WAITING", "Command", "CommandName"]
