"""A large PBX's snapshot is read without stalling the event loop the client shares.

The simulator runs in a process of its own here, so that only the client's work lands on the
event loop being watched.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import contextlib
import socket
import sys
import time
from typing import Any

import aiohttp

from custom_components.basix_cti.cti import etf
from custom_components.basix_cti.cti.client import CtiClient, CtiConfig
from custom_components.basix_cti.cti.models import Message, Snapshot
from custom_components.basix_cti.cti.protocol import Parser

# As large as one frame may be: the current generation's 16-field user records, 50,000 of them,
# stay under the codec's bound on terms per frame (etf.MAX_TERMS, a million).
USERS = 50_000


@contextlib.asynccontextmanager
async def simulator_process(users: int) -> AsyncIterator[str]:
    """`python -m basix_simulator` with `users` users on a free port; yields its server URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Its banner lists every extension: not read, so not piped (a full pipe would stall it).
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "basix_simulator",
        f"--port={port}",
        f"--users={users}",
        "--groups=0",
        "--calls-per-minute=0",
        stdout=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(60):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.1)
                    continue
                writer.close()
                await writer.wait_closed()
                break
        yield f"ws://127.0.0.1:{port}"
    finally:
        process.terminate()
        await process.wait()


def _reading_time(terms: list[Any]) -> float:
    """How long the longest frame among `terms` takes to decode and parse, on this machine."""
    parser = Parser()
    longest = 0.0
    for term in terms:
        frame = etf.encode(term)
        started = time.perf_counter()
        parser.feed(etf.decode(frame))
        longest = max(longest, time.perf_counter() - started)
    return longest


async def test_large_snapshot_leaves_the_loop_responsive(socket_enabled: None) -> None:
    """The event loop is never held for as long as reading the largest frame takes."""
    stalls: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            stalls.append(now - last)
            last = now

    terms: list[Any] = []
    users: list[Snapshot] = []
    done = asyncio.Event()

    def on_message(message: Message) -> None:
        if isinstance(message, Snapshot) and message.entity == "user":
            users.append(message)
        # The last snapshot: close only once the PBX has said everything (aiohttp re-arms its
        # heartbeat timer for data that arrives while a WebSocket closes).
        if isinstance(message, Snapshot) and message.entity in ("mwi", "channel_waiting"):
            done.set()

    async with simulator_process(USERS) as url, aiohttp.ClientSession() as session:
        config = CtiConfig(server=url, domain="example.basix", token="secret-token")
        client = CtiClient(session, config, on_message, on_term=terms.append)
        run = asyncio.create_task(client.run())
        tick = asyncio.create_task(ticker())
        async with asyncio.timeout(60):
            await done.wait()
        tick.cancel()
        await client.close()
        await run

    assert len(users[0].items) == USERS
    reading = _reading_time(terms)
    # On the loop, the largest frame would hold it for the whole time it takes to read.
    assert reading > 0.1, f"the largest frame reads in {reading:.2f} s: too little to tell"
    assert max(stalls) < reading / 2, (
        f"the loop stalled {max(stalls):.2f} s; reading takes {reading:.2f} s"
    )
