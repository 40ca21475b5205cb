"""CtiClient's life: in sync before connected, connect() as one call, crashes, the backoff cap.

Against the PBX simulator, or a tiny aiohttp endpoint where a test needs a server that sends
exactly some frames, on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
import logging
import time
from typing import Any
from unittest.mock import patch

import aiohttp
from aiohttp import web
import pytest

from basix_simulator.pbx import Pbx
from basix_simulator.server import SimulatorServer
from custom_components.basix_cti.cti import client as client_module, etf, sync
from custom_components.basix_cti.cti.client import MAX_BACKOFF, CtiClient, CtiConfig
from custom_components.basix_cti.cti.errors import (
    AuthenticationError,
    ConnectionLimitError,
    ConnectTimeoutError,
)
from custom_components.basix_cti.cti.models import Message, Snapshot
from custom_components.basix_cti.cti.terms import Atom

pytestmark = pytest.mark.usefixtures("socket_enabled")

DOMAIN = "example.basix"
TOKEN = "lifecycle-token"


class Owner:
    """What a client hands its owner, and what the owner had applied at each connection change."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.transitions: list[tuple[bool, int]] = []

    def on_message(self, message: Message) -> None:
        self.messages.append(message)

    def on_connection(self, connected: bool, reason: str | None) -> None:
        snapshots = sum(isinstance(m, Snapshot) for m in self.messages)
        self.transitions.append((connected, snapshots))


@pytest.fixture
def pbx() -> Pbx:
    return Pbx.demo(users=3, groups=1, seed=2, domain=DOMAIN)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def make_client(
    session: aiohttp.ClientSession, server: str, owner: Owner, **kwargs: Any
) -> CtiClient:
    config = CtiConfig(server=server, domain=DOMAIN, token=kwargs.pop("token", TOKEN))
    kwargs.setdefault("backoff_min", 0.01)
    kwargs.setdefault("backoff_max", 0.05)
    return CtiClient(session, config, owner.on_message, owner.on_connection, **kwargs)


@pytest.mark.parametrize(
    ("wire", "snapshots"),
    [
        ({"generation": "current"}, 7),
        ({"generation": "newer"}, 7),
        ({"generation": "older", "wrap": True}, 1),
    ],
)
async def test_connected_once_every_snapshot_is_in(
    session: aiohttp.ClientSession, pbx: Pbx, wire: dict[str, Any], snapshots: int
) -> None:
    """Connected comes after the last snapshot of either generation, not at the first frame."""
    async with SimulatorServer(pbx, domain=DOMAIN, token=TOKEN, **wire) as server:
        owner = Owner()
        client = make_client(session, server.url, owner)
        started = time.monotonic()
        await client.connect(timeout=5)
        # The older generation's lone snapshot is complete: no waiting for the settle time.
        assert time.monotonic() - started < sync.SYNC_SETTLE
        assert owner.transitions == [(True, snapshots)]
        assert client.connected
        await client.close()
        await client.wait_closed()


async def test_an_announced_snapshot_that_never_comes_settles(
    session: aiohttp.ClientSession,
) -> None:
    """A layout without its snapshot does not keep the connection out of sync for ever."""

    async def behave(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for term in (
            (Atom("field_spec"), Atom("channel"), [Atom("uuid")]),
            (Atom("field_spec"), Atom("terminal"), [Atom("id")]),
            (Atom("initial_info"), Atom("channel"), [("u1",)]),
        ):
            await ws.send_bytes(etf.encode(term))
        async for _ in ws:
            pass
        return ws

    async with _endpoint(behave) as url:
        owner = Owner()
        client = make_client(session, url, owner)
        with patch.object(client_module, "SYNC_SETTLE", 0.2):
            started = time.monotonic()
            await client.connect(timeout=5)
        assert time.monotonic() - started >= 0.2
        assert owner.transitions == [(True, 1)]
        await client.close()


async def test_connect_raises_the_typed_error_and_closes(
    session: aiohttp.ClientSession, pbx: Pbx
) -> None:
    """A refused token, a full limit, a silent PBX: each is its own error, nothing left open."""
    async with SimulatorServer(pbx, domain=DOMAIN, token=TOKEN, connection_limit=0) as server:
        with pytest.raises(ConnectionLimitError):
            await make_client(session, server.url, Owner()).connect(timeout=5)
        server.connection_limit = 2
        with pytest.raises(AuthenticationError):
            await make_client(session, server.url, Owner(), token="wrong").connect(timeout=5)
        server.stall(True)
        client = make_client(session, server.url, Owner())
        with pytest.raises(ConnectTimeoutError):
            await client.connect(timeout=0.3)
        assert client.closed
        await server.wait_for_connections(0)


async def test_an_unexpected_exception_reconnects_and_is_logged_once(
    session: aiohttp.ClientSession, pbx: Pbx, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug in one connection's life does not leave the client dead."""
    real_open = client_module._open
    failures = 0

    async def flaky_open(*args: Any, **kwargs: Any) -> aiohttp.ClientWebSocketResponse:
        nonlocal failures
        if 0 < failures < 3:
            failures += 1
            raise RuntimeError("boom")
        return await real_open(*args, **kwargs)

    async with SimulatorServer(pbx, domain=DOMAIN, token=TOKEN) as server:
        owner = Owner()
        client = make_client(session, server.url, owner)
        with patch.object(client_module, "_open", flaky_open):
            await client.connect(timeout=5)
            failures = 1
            await server.drop_connections()
            await _until(lambda: client.connected and failures == 3)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1
        assert "failed unexpectedly" in errors[0].getMessage()
        await client.close()


def test_backoff_finds_a_returning_pbx_within_a_minute() -> None:
    """After a long outage the wait is at most the cap, jittered, whatever Retry-After says."""
    config = CtiConfig(server="bcs.brastel.com", domain=DOMAIN, token=TOKEN)
    client = CtiClient(None, config, lambda message: None)  # type: ignore[arg-type]
    delays = [client._backoff_delay(40, None) for _ in range(2000)]
    assert MAX_BACKOFF < 60
    assert max(delays) <= MAX_BACKOFF
    assert min(delays) < MAX_BACKOFF / 4 < MAX_BACKOFF * 3 / 4 < max(delays)
    assert client._backoff_delay(40, 300.0) <= MAX_BACKOFF


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Poll: the client runs in its own task, with no event of its own to wait on."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


class _endpoint:
    def __init__(self, behave: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
        self._behave = behave
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> str:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._behave)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return f"ws://127.0.0.1:{self._runner.addresses[0][1]}"

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
