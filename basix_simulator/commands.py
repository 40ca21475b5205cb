"""The commands Brastel's web app sends as JSON text frames on the ws_cti WebSocket.

`{"cmd": "hangup", "uuid": U}`, `{"cmd": "park", "uuid": U, "timeout": T}` and
`{"cmd": "transfer", "uuid": U, "destination": D}` (Brastel's app also sends `user_id` and
`user_name`; used here as the transfer's target only when there is no `destination`). Each acts
on the call that has a live leg U, through the `Pbx`'s own operations, so its effects reach
every connection as the channel events a real PBX would send:

- `hangup`: the whole call ends (`Pbx.hangup`), the users' legs first;
- `park`: the call is parked (`Pbx.park`) in a free slot of the parker's park group, by the
  user talking on it; the `timeout` is accepted and kept in `received`, its expiry (the call
  ringing back) is not modelled;
- `transfer`: a blind transfer to a user or group (`Pbx.transfer`): a new leg rings it, the
  transferring user's leg hangs up.

What the real server answers is unknown (protocol.md, "Talking back"), so the simulator answers
nothing: a command that cannot be carried out (no such leg, a call in the wrong state, a
destination that is no user or group, a malformed frame) is logged at DEBUG and dropped, and a
client sees no channel event, as it would if the PBX ignored it. With `ignore` on, every command
is dropped that way: the "PBX did not act" case.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from .pbx import Call, CallStateError, Pbx

_LOGGER = logging.getLogger(__name__)

COMMANDS = ("hangup", "park", "transfer")


class CommandHandler:
    """Carries out the commands received on any connection, unless told to ignore them.

    `received` lists every command frame (decoded, or the raw text when it is no JSON object),
    in order; `acted` only those the PBX acted on.
    """

    def __init__(self, pbx: Pbx, *, ignore: bool = False) -> None:
        """Act on `pbx`; `ignore` drops every command (settable later: `handler.ignore`)."""
        self.pbx = pbx
        self.ignore = ignore
        self.received: list[dict[str, Any] | str] = []
        self.acted: list[dict[str, Any]] = []

    def handle(self, text: str) -> None:
        """Carry out one text frame's command, or drop it (see the module docstring)."""
        try:
            command = json.loads(text)
        except ValueError:
            command = None
        if not isinstance(command, dict):
            self.received.append(text[:1000])
            _LOGGER.debug("simulator: dropped a text frame that is no JSON object")
            return
        self.received.append(command)
        if self.ignore:
            _LOGGER.debug("simulator: ignoring command %s", command.get("cmd"))
            return
        try:
            self._act(command)
        except (CallStateError, KeyError, ValueError) as err:
            _LOGGER.debug("simulator: command %s not carried out: %s", command.get("cmd"), err)
            return
        self.acted.append(command)

    def _act(self, command: dict[str, Any]) -> None:
        name = command.get("cmd")
        if name not in COMMANDS:
            raise ValueError(f"unknown command {name!r}")
        uuid = command.get("uuid")
        if not isinstance(uuid, str) or not uuid:
            raise ValueError("no uuid")
        call = self._call_of(uuid)
        pbx = self.pbx
        match name:
            case "hangup":
                pbx.hangup(call)
            case "park":
                pbx.park(call)
            case _:
                target = command.get("destination") or command.get("user_id")
                target = target or command.get("user_name")
                if not isinstance(target, str | int) or not str(target).strip():
                    raise ValueError("no destination")
                pbx.transfer(call, pbx.resolve(str(target).strip()))

    def _call_of(self, uuid: str) -> Call:
        pbx = self.pbx
        for call in pbx.calls.values():
            if uuid in pbx.live_legs(call):
                return call
        raise KeyError(f"no live leg {uuid}")


__all__ = ["COMMANDS", "CommandHandler"]
