"""A replay server: a ws_cti endpoint on 127.0.0.1 that sends pre-encoded frames, nothing more.

It runs its own event loop in its own thread, so that copying a 5 MB snapshot onto the socket
is not counted as a callback of Home Assistant's loop. It knows nothing of the PBX model: each
new connection gets the frames of `on_connect`, then whatever `send` hands it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
import threading
import time

from aiohttp import WSMsgType, web

WS_PATH = "/basix/api/ws_cti"


class ReplayServer:
    """Serve WS_PATH on an ephemeral port of 127.0.0.1 from a thread of its own."""

    def __init__(self) -> None:
        self.on_connect: list[bytes] = []
        self.connections = 0
        self.accepting = True  # False: refuse upgrades (503), as a PBX that is down
        self.first_sent: float | None = None  # time.perf_counter() of the last connect's 1st
        self.last_sent: float | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="replay-server")
        self._ws: web.WebSocketResponse | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{WS_PATH}"

    def start(self) -> None:
        self._thread.start()
        self._call(self._start())

    def stop(self) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    async def asend(self, frames: Sequence[bytes]) -> float:
        """Write frames back-to-back to the open connection; return when the first went out."""
        return await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(self._send(frames), self._loop)
        )

    async def adrop(self) -> None:
        """Close the open connection, as a PBX restart would (awaited: the client must answer)."""
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._drop(), self._loop))

    def _call(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get(WS_PATH, self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        await self._drop()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _send(self, frames: Sequence[bytes]) -> float:
        ws = self._ws
        if ws is None:
            raise RuntimeError("no connection open")
        first = time.perf_counter()
        for frame in frames:
            await ws.send_bytes(frame)
        self.last_sent = time.perf_counter()
        return first

    async def _drop(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not self.accepting:
            return web.Response(status=503)
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self.connections += 1
        self._ws = ws
        self.first_sent = time.perf_counter()
        for frame in self.on_connect:
            await ws.send_bytes(frame)
        self.last_sent = time.perf_counter()
        async for msg in ws:
            if msg.type is WSMsgType.ERROR:
                break
        if self._ws is ws:
            self._ws = None
        return ws
