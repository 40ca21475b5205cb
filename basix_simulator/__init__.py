"""A runnable fake Basix PBX: a call model (`pbx`), its frames (`frames`), a WebSocket server.

`python -m basix_simulator` serves a demo PBX with random traffic; tests use the pieces:

    pbx = Pbx.demo(users=5, groups=1, seed=1, clock=ManualClock())
    async with SimulatorServer(pbx) as server:   # ws://127.0.0.1:PORT, domain/token defaults
        call = pbx.incoming_call("201")
        pbx.answer(call)

It is written against `../shared/docs/protocol.md` and `docs/calls.md` only: it imports the ETF
encoder and term types of the integration, never its parser.
"""

from .pbx import Call, CallStateError, Contact, Group, ManualClock, Pbx, User
from .server import Connection, Scope, SimulatorServer

__all__ = [
    "Call",
    "CallStateError",
    "Connection",
    "Contact",
    "Group",
    "ManualClock",
    "Pbx",
    "Scope",
    "SimulatorServer",
    "User",
]
