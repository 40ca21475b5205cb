"""The Basix ws_cti protocol in plain Python: codec, parser, state, and the WebSocket client.

Nothing in this package imports Home Assistant. Names are loaded on first use, so that
`import custom_components.basix_cti.cti.etf` (as the simulator does) pulls in neither aiohttp
nor the rest of the package:

    from custom_components.basix_cti.cti import CtiClient, CtiConfig, Scope, PbxState
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import CallResult, call_user
    from .calls import CallEvent, CallPhase, CallTracker
    from .client import CtiClient, CtiConfig, CtiStats, Scope, ScopeKind, check_connection
    from .commands import Command, CommandName
    from .errors import (
        AuthenticationError,
        CallRejectedError,
        CannotConnectError,
        CommandNotConfirmedError,
        ConnectionLimitError,
        ConnectTimeoutError,
        CtiError,
        NoSuchUserError,
        NotConnectedError,
        ProtocolError,
        UnknownDestinationError,
    )
    from .etf import decode, encode
    from .models import (
        Change,
        Channel,
        ChannelState,
        EndUser,
        FieldSpec,
        Group,
        Item,
        Message,
        Mwi,
        Notice,
        OtherInfo,
        Party,
        Record,
        Snapshot,
        Target,
        UnknownMessage,
        User,
    )
    from .problems import ProblemReporter
    from .protocol import Parser
    from .store import Delta, PbxState
    from .terms import Atom, BitBinary, EtfDecodeError, ImproperList

# Public name -> the submodule that defines it.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("decode", "encode"), "etf"),
    **dict.fromkeys(("Atom", "BitBinary", "EtfDecodeError", "ImproperList"), "terms"),
    **dict.fromkeys(
        (
            "Change",
            "Channel",
            "ChannelState",
            "EndUser",
            "FieldSpec",
            "Group",
            "Item",
            "Message",
            "Mwi",
            "Notice",
            "OtherInfo",
            "Party",
            "Record",
            "Snapshot",
            "Target",
            "UnknownMessage",
            "User",
        ),
        "models",
    ),
    "Parser": "protocol",
    "ProblemReporter": "problems",
    **dict.fromkeys(("Delta", "PbxState"), "store"),
    **dict.fromkeys(("CallEvent", "CallPhase", "CallTracker"), "calls"),
    **dict.fromkeys(("CallResult", "call_user"), "api"),
    **dict.fromkeys(("Command", "CommandName"), "commands"),
    **dict.fromkeys(
        ("CtiClient", "CtiConfig", "CtiStats", "Scope", "ScopeKind", "check_connection"), "client"
    ),
    **dict.fromkeys(
        (
            "AuthenticationError",
            "CallRejectedError",
            "CannotConnectError",
            "CommandNotConfirmedError",
            "ConnectTimeoutError",
            "ConnectionLimitError",
            "CtiError",
            "NoSuchUserError",
            "NotConnectedError",
            "ProtocolError",
            "UnknownDestinationError",
        ),
        "errors",
    ),
}

__all__ = [
    "Atom",
    "AuthenticationError",
    "BitBinary",
    "CallEvent",
    "CallPhase",
    "CallRejectedError",
    "CallResult",
    "CallTracker",
    "CannotConnectError",
    "Change",
    "Channel",
    "ChannelState",
    "Command",
    "CommandName",
    "CommandNotConfirmedError",
    "ConnectTimeoutError",
    "ConnectionLimitError",
    "CtiClient",
    "CtiConfig",
    "CtiError",
    "CtiStats",
    "Delta",
    "EndUser",
    "EtfDecodeError",
    "FieldSpec",
    "Group",
    "ImproperList",
    "Item",
    "Message",
    "Mwi",
    "NoSuchUserError",
    "NotConnectedError",
    "Notice",
    "OtherInfo",
    "Parser",
    "Party",
    "PbxState",
    "ProblemReporter",
    "ProtocolError",
    "Record",
    "Scope",
    "ScopeKind",
    "Snapshot",
    "Target",
    "UnknownDestinationError",
    "UnknownMessage",
    "User",
    "call_user",
    "check_connection",
    "decode",
    "encode",
]


def __getattr__(name: str) -> Any:
    """Import the submodule defining `name` on first use, and remember the name."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """List the public names alongside the module's own."""
    return sorted({*globals(), *__all__})
