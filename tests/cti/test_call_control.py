"""Talking back, without Home Assistant: call_user over REST and commands on the WebSocket.

Against the simulator on 127.0.0.1 (and, where the server's answer must be exact, a tiny aiohttp
app). Every test fails if the token shows up in any log record.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
import contextlib
import logging
import time
from typing import Any

import aiohttp
from aiohttp import web
import pytest

from basix_simulator.pbx import Pbx
from basix_simulator.server import SimulatorServer
from custom_components.basix_cti.cti.api import api_url, call_user
from custom_components.basix_cti.cti.client import CtiClient, CtiConfig
from custom_components.basix_cti.cti.commands import Command, CommandName
from custom_components.basix_cti.cti.errors import (
    AuthenticationError,
    CallRejectedError,
    CannotConnectError,
    CommandNotConfirmedError,
    ConnectTimeoutError,
    NoSuchUserError,
    NotConnectedError,
    ProtocolError,
    UnknownDestinationError,
)
from custom_components.basix_cti.cti.models import Change, Channel, Message, Snapshot
from custom_components.basix_cti.cti.store import PbxState
from tests.simulator_fixtures import start_simulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

DOMAIN = "example.basix"
TOKEN = "s3cr3t+T0k/en=42"


@pytest.fixture(autouse=True)
def no_token_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        assert TOKEN not in record.getMessage(), record.getMessage()


@pytest.fixture
async def server() -> AsyncIterator[SimulatorServer]:
    async with start_simulator(users=4, groups=1, domain=DOMAIN, token=TOKEN) as started:
        yield started


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as opened:
        yield opened


def config(url: str, token: str = TOKEN, **kwargs: Any) -> CtiConfig:
    return CtiConfig(server=url, domain=DOMAIN, token=token, **kwargs)


# --- call_user ---------------------------------------------------------------------------------


def test_api_url() -> None:
    assert api_url(config("bcs.brastel.com")) == "https://bcs.brastel.com/basix/api/call_user"
    assert api_url(config("ws://127.0.0.1:8765/custom/ws")) == (
        "http://127.0.0.1:8765/basix/api/call_user"
    )


async def test_call_user_returns_the_uuids(
    server: SimulatorServer, session: aiohttp.ClientSession
) -> None:
    result = await call_user(session, config(server.url), "202", user_id="1001")
    [uuid] = result.uuids
    assert server.pbx.channels[uuid]["user_id"] == "1001"
    assert server.api.requests == [{"destination": "202", "user_id": "1001"}]


async def test_call_user_as_a_group_by_user_name(
    server: SimulatorServer, session: aiohttp.ClientSession
) -> None:
    group = next(iter(server.pbx.groups.values()))
    user = server.pbx.user("201")
    await call_user(
        session, config(server.url), " 0312345678 ", user_name=user.name, group_name=group.name
    )
    assert server.api.requests == [
        {"destination": "0312345678", "user_name": user.name, "group_name": group.name}
    ]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"destination": "nobody-here", "user_id": "1001"}, UnknownDestinationError),
        ({"destination": "202", "user_id": "9999"}, NoSuchUserError),
        ({"destination": "202", "user_id": "1001", "group_name": "nope"}, NoSuchUserError),
    ],
)
async def test_call_user_refusals(
    server: SimulatorServer,
    session: aiohttp.ClientSession,
    kwargs: dict[str, str],
    error: type[CallRejectedError],
) -> None:
    destination = kwargs.pop("destination")
    with pytest.raises(error) as raised:
        await call_user(session, config(server.url), destination, **kwargs)
    assert raised.value.error_id is not None
    assert raised.value.result_code == 1
    assert destination not in str(raised.value)  # numbers and names stay out of messages
    assert not server.pbx.channels


async def test_call_user_refused_token(
    server: SimulatorServer, session: aiohttp.ClientSession
) -> None:
    with pytest.raises(AuthenticationError, match="authentication_required"):
        await call_user(session, config(server.url, token="wrong"), "202", user_id="1001")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"destination": " "}, "destination is empty"),
        ({"destination": "202"}, "exactly one"),
        ({"destination": "202", "user_id": "1", "user_email": "a@b"}, "exactly one"),
    ],
)
async def test_call_user_bad_input_sends_nothing(
    server: SimulatorServer, session: aiohttp.ClientSession, kwargs: dict[str, str], message: str
) -> None:
    destination = kwargs.pop("destination")
    with pytest.raises(ValueError, match=message):
        await call_user(session, config(server.url), destination, **kwargs)
    assert server.api.requests == []


@contextlib.asynccontextmanager
async def _app(handler: Any) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/basix/api/call_user", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"ws://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def _answering(session: aiohttp.ClientSession, handler: Any, **kwargs: Any) -> Any:
    async with _app(handler) as url:
        return await call_user(session, config(url), "202", user_id="1001", **kwargs)


@pytest.mark.parametrize(
    ("status", "body", "error", "match"),
    [
        (401, "denied", AuthenticationError, "HTTP 401"),
        (403, {"result_code": 3, "error": {"id": "forbidden"}}, AuthenticationError, "forbidden"),
        (200, {"result_code": 7, "error": {"id": "busy_now"}}, CallRejectedError, "busy_now"),
        (200, {"result_code": 7, "error": "invalid_number"}, UnknownDestinationError, "number"),
        (200, {"result_code": 7}, CallRejectedError, "no error id"),
        (502, "<html>bad gateway</html>", ProtocolError, "HTTP 502"),
        (200, [1, 2], ProtocolError, "JSON"),
        (500, {"result_code": 0, "uuids": ["x"]}, CallRejectedError, "result_code 0"),
    ],
)
async def test_call_user_answers(
    session: aiohttp.ClientSession, status: int, body: Any, error: type[Exception], match: str
) -> None:
    async def handler(request: web.Request) -> web.Response:
        if isinstance(body, str):
            return web.Response(status=status, text=body)
        return web.json_response(body, status=status)

    with pytest.raises(error, match=match) as raised:
        await _answering(session, handler)
    if isinstance(raised.value, CallRejectedError):
        assert raised.value.status == status


@pytest.mark.parametrize(
    ("uuids", "expected"),
    [(["a", "b"], ("a", "b")), ("a", ("a",)), (None, ()), ([1, None, ""], ("1",))],
)
async def test_call_user_uuid_forms(
    session: aiohttp.ClientSession, uuids: Any, expected: tuple[str, ...]
) -> None:
    async def handler(request: web.Request) -> web.Response:
        assert request.headers["Authorization"].startswith("Basic ")
        return web.json_response({"result_code": "0", "uuids": uuids})

    assert (await _answering(session, handler)).uuids == expected


async def test_call_user_timeout(session: aiohttp.ClientSession) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(0.6)  # longer than the timeout, short enough for the clean-up
        return web.json_response({})

    started = time.monotonic()
    with pytest.raises(ConnectTimeoutError, match=r"0\.2 s"):
        await _answering(session, handler, timeout=0.2)
    assert time.monotonic() - started < 2


async def test_call_user_cannot_connect(session: aiohttp.ClientSession) -> None:
    with pytest.raises(CannotConnectError, match="Cannot reach"):
        await call_user(session, config("ws://127.0.0.1:1"), "202", user_id="1001")


# --- commands ----------------------------------------------------------------------------------


class Follower:
    """A client whose messages feed a store, as the coordinator's do."""

    def __init__(self, session: aiohttp.ClientSession, cfg: CtiConfig) -> None:
        self.state = PbxState()
        self.messages: list[Message] = []
        self.client = CtiClient(session, cfg, self._on_message, backoff_min=0.01, backoff_max=0.05)
        self.task = asyncio.create_task(self.client.run())

    def _on_message(self, message: Message) -> None:
        self.messages.append(message)
        self.state.apply(message)

    async def wait(self, condition: Any, seconds: float = 5.0) -> None:
        async with asyncio.timeout(seconds):
            while not condition():  # noqa: ASYNC110 - the condition is set by network I/O
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        await self.client.close()
        await self.task


@pytest.fixture
async def follower(
    server: SimulatorServer, session: aiohttp.ClientSession
) -> AsyncIterator[Follower]:
    made = Follower(session, config(server.url))
    await made.wait(
        lambda: any(isinstance(m, Snapshot) and m.entity == "channel" for m in made.messages)
    )
    yield made
    await made.stop()


async def _talking(pbx: Pbx, follower: Follower) -> tuple[Channel, Channel]:
    call = pbx.incoming_call("201")
    pbx.answer(call, by="201")
    assert call.active is not None
    active = call.active
    await follower.wait(
        lambda: (
            (leg := follower.state.channels.get(active)) is not None
            and leg.state is not None
            and leg.state.name == "bridged"
        )
    )
    return follower.state.channels[call.uuid], follower.state.channels[active]


async def test_hangup_is_confirmed_by_the_hangup_event(
    server: SimulatorServer, follower: Follower
) -> None:
    _, leg = await _talking(server.pbx, follower)
    await follower.client.send_command(Command.hangup(leg), confirm_within=5)
    # The owner has seen the confirming event by the time send_command returns.
    assert leg.uuid not in follower.state.channels
    assert server.commands.acted == [{"cmd": "hangup", "uuid": leg.uuid}]


async def test_park_is_confirmed_by_the_park_state(
    server: SimulatorServer, follower: Follower
) -> None:
    caller, leg = await _talking(server.pbx, follower)
    await follower.client.send_command(Command.park(leg, timeout=30))
    state = follower.state.channels[caller.uuid].state
    assert state is not None
    assert state.name == "park"
    assert server.commands.acted == [{"cmd": "park", "uuid": leg.uuid, "timeout": 30}]


async def test_transfer_is_confirmed_by_the_new_leg(
    server: SimulatorServer, follower: Follower
) -> None:
    caller, leg = await _talking(server.pbx, follower)
    await follower.client.send_command(Command.transfer(leg, "203"))
    assert any(
        channel.user_id == "1003" and channel.other_uuid == caller.uuid
        for channel in follower.state.channels.values()
    )


async def test_an_ignored_command_is_not_confirmed(
    server: SimulatorServer, follower: Follower, caplog: pytest.LogCaptureFixture
) -> None:
    server.commands.ignore = True
    _, leg = await _talking(server.pbx, follower)
    call = next(iter(server.pbx.calls.values()))
    # While the command waits, the call changes, but not as the command asked.
    asyncio.get_running_loop().call_later(0.1, server.pbx.hold, call)
    started = time.monotonic()
    with pytest.raises(CommandNotConfirmedError, match="did not act on the transfer") as raised:
        await follower.client.send_command(Command.transfer(leg, "0312345678"), confirm_within=0.3)
    assert 0.3 <= time.monotonic() - started < 2
    assert (raised.value.command, raised.value.seconds) == ("transfer", 0.3)
    [line] = [r for r in caplog.records if "did not act" in r.getMessage()]
    assert line.levelno == logging.WARNING
    text = line.getMessage()
    assert '"cmd":"transfer"' in text
    assert "no text answer" in text
    assert "events of the call: CHANNEL_HOLD" in text
    assert "0312345678" not in text  # the destination is a number: never in a log
    # A second failure of the same kind is counted, not logged again.
    with pytest.raises(CommandNotConfirmedError):
        await follower.client.send_command(Command.transfer(leg, "204"), confirm_within=0.1)
    assert len([r for r in caplog.records if "did not act" in r.getMessage()]) == 1


async def test_not_connected(server: SimulatorServer, session: aiohttp.ClientSession) -> None:
    client = CtiClient(session, config(server.url), lambda message: None)
    with pytest.raises(NotConnectedError):
        await client.send_command(Command.hangup("u1"))
    assert server.commands.received == []


async def test_text_answers_are_logged_scrubbed(session: aiohttp.ClientSession) -> None:
    """A server that answers commands in words: its words are in the log line, secrets not."""
    from custom_components.basix_cti.cti import etf
    from custom_components.basix_cti.cti.terms import Atom

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_bytes(etf.encode((Atom("initial_info"), Atom("channel"), [])))
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                await ws.send_str(f"refused {msg.data} for {TOKEN}")
        return ws

    app = web.Application()
    app.router.add_get("/basix/api/ws_cti", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"ws://127.0.0.1:{runner.addresses[0][1]}"
    seen: list[Message] = []
    client = CtiClient(session, config(url), seen.append)
    task = asyncio.create_task(client.run())
    try:
        async with asyncio.timeout(5):
            while not client.connected:  # noqa: ASYNC110 - set by network I/O
                await asyncio.sleep(0.01)
        reporter_log: list[str] = []
        handler = logging.Handler()
        handler.emit = lambda record: reporter_log.append(record.getMessage())  # type: ignore[method-assign]
        logging.getLogger("custom_components.basix_cti.cti").addHandler(handler)
        try:
            with pytest.raises(CommandNotConfirmedError):
                await client.send_command(Command.transfer("u1", "09011112222"), confirm_within=0.3)
        finally:
            logging.getLogger("custom_components.basix_cti.cti").removeHandler(handler)
        [line] = [text for text in reporter_log if "did not act" in text]
        assert "refused" in line
        assert "**REDACTED**" in line
        assert "09011112222" not in line
        assert TOKEN not in line
        # The answer was taken as an answer, not reported as a stray text frame.
        assert not [text for text in reporter_log if "Ignored a text frame" in text]
    finally:
        await client.close()
        await task
        await runner.cleanup()


# --- what confirms a command, message by message -----------------------------------------------


def _leg(uuid: str, other: str | None = None, state: str = "bridged", **fields: Any) -> Channel:
    from custom_components.basix_cti.cti.models import ChannelState

    values: dict[str, Any] = {
        "entity": "channel",
        "uuid": uuid,
        "direction": "outbound",
        "peer_location": None,
        "calling_name": None,
        "calling_number": None,
        "called_number": None,
        "offered_at": None,
        "answered_at": None,
        "hungup_at": None,
        "other_uuid": other,
        "user_id": None,
        "user_name": None,
        "group_id": None,
        "group_name": None,
        "state": ChannelState(state, None, {}, ()),
        "target": None,
        "end_user": None,
        "origination": None,
        "other_info": None,
        "last_event": None,
        "fields": {},
    }
    values.update(fields)
    return Channel(**values)


def test_commands_payloads() -> None:
    leg = _leg("U", "P")
    assert Command.hangup(leg).payload() == {"cmd": "hangup", "uuid": "U"}
    assert Command.hangup(leg).related == {"U", "P"}
    assert Command.park(" U ").payload() == {"cmd": "park", "uuid": "U", "timeout": None}
    transfer = Command.transfer(leg, " 203 ")
    assert transfer.payload() == {"cmd": "transfer", "uuid": "U", "destination": "203"}
    assert transfer.text() == '{"cmd":"transfer","uuid":"U","destination":"203"}'
    assert "203" not in transfer.describe()
    assert transfer.name is CommandName.TRANSFER
    for bad in (
        lambda: Command.park(leg, timeout=0),
        lambda: Command.transfer(leg, " "),
        lambda: Command.hangup(" "),
        lambda: Command.hangup(_leg("")),
    ):
        with pytest.raises(ValueError, match=r"empty|positive|uuid"):
            bad()


def test_what_confirms_each_command() -> None:
    leg = _leg("U", "P")
    hangup, park, transfer = Command.hangup(leg), Command.park(leg), Command.transfer(leg, "203")
    gone = Change("channel", _leg("U", "P", last_event="CHANNEL_HANGUP"), "CHANNEL_HANGUP")
    assert hangup.confirmed_by(gone)
    assert not hangup.confirmed_by(Change("channel", _leg("U", "P"), "CHANNEL_HOLD"))
    assert not hangup.confirmed_by(Change("parked_channel", _leg("U"), "UNPARK"))
    assert hangup.confirmed_by(Snapshot("channel", (_leg("X"),)))
    assert not hangup.confirmed_by(Snapshot("channel", (_leg("U"),)))
    assert not hangup.confirmed_by(Snapshot("user", ()))

    assert park.confirmed_by(Change("channel", _leg("P", state="park"), "CHANNEL_PARK"))
    assert park.confirmed_by(Change("channel_waiting", _leg("P", state="calling"), "added"))
    assert not park.confirmed_by(Change("channel", _leg("X", state="park"), "CHANNEL_PARK"))
    assert park.confirmed_by(Snapshot("parked_channel", (_leg("P"),)))
    assert not park.confirmed_by(Snapshot("channel", (_leg("P"),)))

    ringing = _leg("N", "P", state="calling")
    assert transfer.confirmed_by(Change("channel", ringing, "CHANNEL_CREATE"))
    assert not transfer.confirmed_by(Change("channel", _leg("P", "U"), "CHANNEL_APPLICATION"))
    assert not transfer.confirmed_by(Change("channel", _leg("N", "X"), "CHANNEL_CREATE"))
    assert transfer.confirmed_by(Snapshot("channel", (_leg("P"), ringing)))
    assert not transfer.confirmed_by(Snapshot("channel", (_leg("P"),)))
    assert not transfer.confirmed_by(Change("user", _leg("N", "P"), "updated"))
