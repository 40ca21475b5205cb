"""The PBX simulator for any test suite: a context helper, pytest fixtures, small client helpers.

Use the context helper anywhere (it starts on 127.0.0.1, a free port, and always stops):

    from tests.simulator_fixtures import start_simulator

    async with start_simulator(users=6, generation="older") as server:   # SimulatorServer
        call = server.pbx.incoming_call("201")

or import the fixtures into a test module or conftest (they need the `socket_enabled` fixture of
pytest-socket, which the test plugin provides). The functions are named `fixture_*` so that
importing them does not clash with the fixture names used as test parameters:

    from tests.simulator_fixtures import (  # noqa: F401 - fixtures
        fixture_sim_clock,  # -> sim_clock
        fixture_sim_pbx,  # -> sim_pbx
        fixture_simulator,  # -> simulator
        fixture_simulator_factory,  # -> simulator_factory
    )

`sim_pbx` is `Pbx.demo(users=6, groups=2, seed=1)` on a `ManualClock` (`sim_clock`), the PBX
`basix_simulator.office_day.OfficeDay` plays its office day on; `simulator`
serves it with the defaults (domain `example.basix`, token `secret-token`), `simulator_factory`
starts more servers with any `SimulatorServer` options and stops them all at teardown.
`ws_url()` builds a connect URL, `receive_terms()` reads and decodes frames.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
import contextlib
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import pytest

from basix_simulator.pbx import ManualClock, Pbx
from basix_simulator.server import WS_PATH, SimulatorServer
from custom_components.basix_cti.cti import etf

DOMAIN = "example.basix"
TOKEN = "secret-token"


@contextlib.asynccontextmanager
async def start_simulator(
    pbx: Pbx | None = None,
    *,
    users: int = 6,
    groups: int = 2,
    seed: int = 1,
    port: int = 0,
    **options: Any,
) -> AsyncIterator[SimulatorServer]:
    """Serve `pbx` (default: a demo PBX of `users` and `groups`) for the `async with` block.

    `options` go to `SimulatorServer` (domain, token, api_user, generation, wrap, atoms,
    compressed, names, mwi_format, hangup_event, connection_limit, limit_mode, replace_mode,
    greeting).
    """
    if pbx is None:
        pbx = Pbx.demo(users=users, groups=groups, seed=seed, domain=options.get("domain", DOMAIN))
    server = SimulatorServer(pbx, **options)
    await server.start(port=port)
    try:
        yield server
    finally:
        await server.stop()


def ws_url(
    server: SimulatorServer,
    *,
    app_name: str | None = "test",
    full_events: bool | None = True,
    auth: str = "basic",
    domain: str = DOMAIN,
    token: str = TOKEN,
    api_user: str = "api",
    **params: str,
) -> str:
    """Build a connect URL: `auth="basic"` puts `domain:token@` in it, `"query"` the query form.

    `params` are added to the query (e.g. `user_extension="201"`, `forced="true"`); pass
    `full_events=None` to leave it out, `app_name=None` to leave that out.
    """
    query: dict[str, str] = {}
    if app_name is not None:
        query["app_name"] = app_name
    if full_events is not None:
        query["full_events"] = "true" if full_events else "false"
    query.update(params)
    netloc = f"{server.host}:{server.port}"
    if auth == "basic":
        netloc = f"{quote(domain, safe='')}:{quote(token, safe='')}@{netloc}"
    elif auth == "query":
        query.update({"domain": domain, "api_user": api_user, "api_token": token})
    return f"ws://{netloc}{WS_PATH}?{urlencode(query)}"


async def receive_terms(
    ws: aiohttp.ClientWebSocketResponse, count: int, seconds: float = 5.0
) -> list[Any]:
    """Read `count` binary frames and decode each; fail on anything else."""
    terms = []
    for _ in range(count):
        msg = await ws.receive(timeout=seconds)
        assert msg.type is aiohttp.WSMsgType.BINARY, msg
        terms.append(etf.decode(msg.data))
    return terms


@pytest.fixture(name="sim_clock")
def fixture_sim_clock() -> ManualClock:
    """A clock the test moves by hand (`sim_clock.advance(3)`), for the simulated PBX."""
    return ManualClock()


@pytest.fixture(name="sim_pbx")
def fixture_sim_pbx(sim_clock: ManualClock) -> Pbx:
    """A demo PBX: users 201-206 (ids 1001-1006), groups 601 (ring) and 602 (ring, queue)."""
    return Pbx.demo(users=6, groups=2, seed=1, clock=sim_clock)


@pytest.fixture(name="simulator")
async def fixture_simulator(sim_pbx: Pbx, socket_enabled: None) -> AsyncIterator[SimulatorServer]:
    """The simulator serving `sim_pbx` with the default options, stopped after the test."""
    async with start_simulator(sim_pbx) as server:
        yield server


@pytest.fixture(name="simulator_factory")
async def fixture_simulator_factory(
    sim_pbx: Pbx, socket_enabled: None
) -> AsyncIterator[Callable[..., Awaitable[SimulatorServer]]]:
    """Start servers with any options (`await simulator_factory(generation="older")`).

    They serve `sim_pbx` unless given `pbx=`; all are stopped after the test.
    """
    servers: list[SimulatorServer] = []

    async def make(pbx: Pbx | None = None, *, port: int = 0, **options: Any) -> SimulatorServer:
        server = SimulatorServer(pbx or sim_pbx, **options)
        await server.start(port=port)
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.stop()
