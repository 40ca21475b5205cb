"""A fake Basix `ws_cti` endpoint: an aiohttp WebSocket server serving a `Pbx`, with fault injection.

Path `/basix/api/ws_cti`. The upgrade is answered, in this order:

- `refuse_with(status)` set: that status, whatever the request;
- credentials: `Authorization: Basic base64(domain:token)`, or query `domain` + `api_token`
  (+ `api_user`, which must equal `api_user` when the server was given one); wrong or missing:
  401 (with `WWW-Authenticate: Basic`);
- `app_name` missing: 400; not `full_events=true` and none of `user_id`, `user_name`,
  `user_label`, `user_extension`, `user_did`, `user_email`: 400; the named user does not exist:
  404 (the first of these parameters present is used);
- connection limit, counted per (credential user, app_name), the credential user being the query's
  `api_user` or, for Basic credentials, the domain: over `connection_limit`, with `force=true`
  (the 2023 README's spelling) or `forced=true` (the method page's) the oldest connection is
  replaced and the new one admitted; else the new one is refused. How is unknown (protocol.md),
  so it is an option. `limit_mode="message"` (default, the README's notice): the upgrade is
  accepted, `{system_msg, connection_limit_reached}` sent, then a normal close (1000);
  `"http"`: HTTP 429 on the upgrade; `"close"`: accepted, then closed with code 4029 and no
  notice. A replaced connection gets, by `replace_mode`, `{system_msg, connection_replaced}` then
  a normal close (`"message"`, default), or a close with code 4000 and no notice (`"close"`).

An admitted connection receives the field specs, the snapshots, then every change in order. A
user-scoped connection gets only the channels whose `user_id`, `target`, `other_info` or `state`
names its user (and, once it has seen a channel, every later change of it until it ends), that
user's `mwi` and `user` records, and empty snapshots of the rest.

Control endpoints (unauthenticated, for demos and browser tests), all answering JSON, `to` an
extension (or any user key):
`POST /simulator/ring?to=EXT[&caller=NUM&caller_name=NAME]` (also a group), `answer?to=EXT`,
`hangup?to=EXT` (the user hangs up / declines), `caller_hangup?to=EXT` (the other party hangs up
or gives up), `voicemail?to=EXT[&message=false]`, `busy?to=EXT`, `timeout?to=EXT` (nobody
answers in time), `max_duration?to=EXT`, `hold?to=EXT`, `unhold?to=EXT`,
`transfer?to=EXT&target=EXT2`, `park?to=EXT[&slot=N]`, `unpark?to=EXT&slot=N` (take a parked
call back), `call_pickup?to=EXT[&ringing=EXT2]` (EXT picks up the call ringing EXT2, default the
first call ringing someone else), `mwi?to=EXT&new=N[&old=M]` (also a group), `GET /simulator/state`,
`POST /simulator/commands?ignore=true|false` (the PBX ignores WebSocket commands, or not).

Talking back: `POST /basix/api/call_user` (`api.py`) and the JSON text commands `hangup`,
`park`, `transfer` on the WebSocket (`commands.py`; `ignore_commands=True` drops them all).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Mapping
import contextlib
from dataclasses import dataclass
import logging
import secrets
import socket
import time
from types import TracebackType
from typing import Any, Literal, Self

from aiohttp import WSMsgType, web

from .api import CallUserApi
from .commands import CommandHandler
from .frames import FrameBuilder, MwiFormat, NameForm, encode_frame
from .pbx import Call, CallStateError, Group, Pbx, Record
from .wire import AtomMode

_LOGGER = logging.getLogger(__name__)

WS_PATH = "/basix/api/ws_cti"
SCOPE_PARAMS = ("user_id", "user_name", "user_label", "user_extension", "user_did", "user_email")
CLOSE_NORMAL = 1000
CLOSE_REPLACED = 4000
CLOSE_UNAUTHORIZED = 4001
CLOSE_LIMIT = 4029
CLOSE_GOING_AWAY = 1001
_ENDED_EVENTS = frozenset({"removed"})


@dataclass(frozen=True, slots=True)
class Scope:
    """What a connection monitors: `kind` "pbx" (full_events) or a `user_*` parameter name."""

    kind: str
    value: str | None = None
    user_id: str | None = None
    """The id of the monitored user (None for the whole PBX)."""

    @property
    def full_events(self) -> bool:
        """True when the connection receives every event of the PBX."""
        return self.kind == "pbx"

    def __str__(self) -> str:
        """Show the scope as its query parameter."""
        return "full_events" if self.full_events else f"{self.kind}={self.value}"


class Connection:
    """One admitted WebSocket connection."""

    def __init__(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        *,
        app_name: str,
        scope: Scope,
        forced: bool,
        credential_user: str,
    ) -> None:
        """Hold the connection's parameters and its outgoing queue."""
        self.request = request
        self.ws = ws
        self.app_name = app_name
        self.scope = scope
        self.forced = forced
        self.credential_user = credential_user
        self.opened_at = time.monotonic()
        self.frames_sent = 0
        self.queue: asyncio.Queue[bytes | tuple[int, str] | None] = asyncio.Queue()
        self.known: dict[str, set[str]] = {}
        self.pending_close: tuple[int, str] | None = None
        self.replaced = False
        """A forced connection took this one's place: it gets its notice and a close, no more."""
        self.wake = asyncio.Event()
        self.closed = asyncio.Event()

    @property
    def key(self) -> tuple[str, str]:
        """What the connection limit counts by: (credential user, app_name)."""
        return (self.credential_user, self.app_name)

    @property
    def query(self) -> Mapping[str, str]:
        """The query parameters of the upgrade request."""
        return self.request.query

    @property
    def headers(self) -> Mapping[str, str]:
        """The headers of the upgrade request."""
        return self.request.headers

    def __repr__(self) -> str:
        """Show the parameters, never the token."""
        return (
            f"Connection(app_name={self.app_name!r}, scope={self.scope}, forced={self.forced}, "
            f"user={self.credential_user!r})"
        )

    def in_scope(self, entity: str, record: Record, event: str | None = None) -> bool:
        """Tell whether the connection is sent this record (and remember channels it was sent)."""
        uid = self.scope.user_id
        if self.scope.full_events:
            return True
        match entity:
            case "user":
                return record.get("id") == uid
            case "mwi" | "group_member":
                return record.get("user_id") == uid
            case "terminal":
                return record.get("assoc_user_id") == uid
            case "domain":
                return True
            case "group":
                return False
        uuid = str(record.get("uuid"))
        known = self.known.setdefault(entity, set())
        if uuid in known:
            if event in _ENDED_EVENTS or record.get("hangup_timestamp") is not None:
                known.discard(uuid)
            return True
        if not _names_user(record, uid):
            return False
        if event not in _ENDED_EVENTS and record.get("hangup_timestamp") is None:
            known.add(uuid)
        return True

    def request_close(self, code: int, reason: str) -> None:
        """Have the writer send a close frame as soon as possible, ahead of queued frames."""
        if self.pending_close is None:
            self.pending_close = (code, reason)
        self.queue.put_nowait(None)
        self.wake.set()


def _names_user(record: Record, uid: str | None) -> bool:
    if uid is None:
        return False
    if record.get("user_id") == uid:
        return True
    target = record.get("target")
    if isinstance(target, tuple) and len(target) > 1 and target[0] == "user" and target[1] == uid:
        return True
    info = record.get("other_info")
    if isinstance(info, tuple) and len(info) > 1 and info[0] == "user" and info[1] == uid:
        return True
    state = record.get("state")
    if isinstance(state, tuple) and len(state) > 1:
        match state[1]:
            case "park":
                return len(state) > 4 and state[4] == uid
            case "voicemail":
                return len(state) > 3 and state[2] == "user" and state[3] == uid
            case "calling":
                return (
                    len(state) == 5
                    and state[3] == "user"
                    and isinstance(state[4], tuple)
                    and state[4][:1] == (uid,)
                )
    return False


class SimulatorServer:
    """Serve a `Pbx` over `/basix/api/ws_cti`; see the module docstring for the rules."""

    def __init__(
        self,
        pbx: Pbx,
        *,
        domain: str = "example.basix",
        token: str = "secret-token",
        api_user: str | None = None,
        generation: str = "current",
        wrap: bool = False,
        atoms: AtomMode = "latin1",
        compressed: bool = False,
        names: NameForm = "atom",
        mwi_format: MwiFormat = "text",
        hangup_event: Literal["removed", "updated"] = "removed",
        connection_limit: int = 2,
        limit_mode: Literal["message", "http", "close"] = "message",
        replace_mode: Literal["message", "close"] = "message",
        greeting: str | None = None,
        close_timeout: float = 2.0,
        ignore_commands: bool = False,
    ) -> None:
        """Configure the server; `greeting` (if given) is sent as a `system_msg` first.

        `generation` "current" (default), "newer" or "older" (see `frames`); `atoms` "latin1"
        (default, as every Basix server that Brastel's decoder can read) or "utf8" (OTP 26+);
        `compressed` Erlang's `[compressed]` (only frames it makes smaller); `names` how names
        are written; `mwi_format` how voicemail counts are written (`frames.MWI_FORMATS`).
        """
        self.pbx = pbx
        self.domain = domain
        self.token = token
        self.api_user = api_user
        self.wrap = wrap
        self.atoms: AtomMode = atoms
        self.compressed = compressed
        self.connection_limit = connection_limit
        if limit_mode not in ("message", "http", "close"):
            raise ValueError(f"unknown limit_mode {limit_mode!r}")
        if replace_mode not in ("message", "close"):
            raise ValueError(f"unknown replace_mode {replace_mode!r}")
        self.limit_mode = limit_mode
        self.replace_mode = replace_mode
        self.greeting = greeting
        self.close_timeout = close_timeout
        self.builder = FrameBuilder(
            pbx,
            generation,
            wrap=wrap,
            names=names,
            mwi_format=mwi_format,
            hangup_event=hangup_event,
        )
        self.generation = self.builder.generation
        self.frames_sent = 0
        """Binary frames sent to every connection since the server was created."""
        self.rejected: list[int] = []
        """The HTTP status of every refused upgrade, in order (tests assert on it)."""
        self.host = "127.0.0.1"
        self._port = 0
        self._runner: web.AppRunner | None = None
        self._site: web.SockSite | None = None
        self._listener: socket.socket | None = None
        self._stopping = False
        self._connections: list[Connection] = []
        self._stalled = False
        self._refuse_status: int | None = None
        self._unsubscribe: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Event()
        # Talking back (basix_simulator/api.py, commands.py): REST call_user, WebSocket commands.
        self.api = CallUserApi(self)
        self.commands = CommandHandler(pbx, ignore=ignore_commands)

    # ------------------------------------------------------------------ life cycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on host:port (0: any free port; `.port` tells which)."""
        if self._runner is not None:
            raise RuntimeError("simulator already started")
        app = web.Application()
        app.router.add_get(WS_PATH, self._handle_ws)
        self.api.add_routes(app)
        app.router.add_post("/simulator/commands", self._handle_commands)
        app.router.add_post("/simulator/{action}", self._handle_control)
        app.router.add_get("/simulator/state", self._handle_state)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        try:
            # Our own listening socket, so that stop() can stop accepting before it closes.
            sock = _listen(host, port)
            site = web.SockSite(runner, sock)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._site, self._listener = site, sock
        self.host = host
        self._port = runner.addresses[0][1]
        if self._unsubscribe is None:
            self._unsubscribe = self.pbx.subscribe(self._on_change)

    async def stop(self) -> None:
        """Stop listening, close every connection (code 1001), then shut the server down.

        Listening stops first: a client that reconnects on the 1001 is refused, instead of
        being accepted by a server that is going away.
        """
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        self._stopping = True
        try:
            await self._stop_accepting()
            await self._close_all(CLOSE_GOING_AWAY, "server shutting down")
            await runner.cleanup()
            await self._drain_tasks()
        finally:
            self._stopping = False

    async def _stop_accepting(self) -> None:
        """Close the listening socket without tripping asyncio on a connection it just took.

        asyncio attaches an accepted connection to its server one loop turn after accepting it
        and fails that step if the server was closed in between (CPython gh-109564): a client
        reconnecting at that moment logs "Error on transport creation for incoming
        connection". So no more accepts first, one turn for those already taken to attach
        (they are then closed with the others), then the close.
        """
        site, listener = self._site, self._listener
        self._site = self._listener = None
        if site is None or listener is None:
            return
        with contextlib.suppress(NotImplementedError):  # a proactor loop has no readers
            asyncio.get_running_loop().remove_reader(listener.fileno())
        await asyncio.sleep(0)
        await site.stop()

    async def restart(self) -> None:
        """Stop (dropping everyone) and listen again on the same port."""
        port = self._port
        await self.stop()
        await self.start(self.host, port)

    async def __aenter__(self) -> Self:
        """Start on 127.0.0.1, any free port, unless already started."""
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop."""
        await self.stop()

    @property
    def port(self) -> int:
        """The port listened on."""
        return self._port

    @property
    def url(self) -> str:
        """`ws://HOST:PORT`, what a client takes as its `server` setting."""
        return f"ws://{self.host}:{self._port}"

    @property
    def ws_url(self) -> str:
        """The full WebSocket URL without query: `ws://HOST:PORT/basix/api/ws_cti`."""
        return f"{self.url}{WS_PATH}"

    @property
    def http_url(self) -> str:
        """`http://HOST:PORT`, for the control endpoints."""
        return f"http://{self.host}:{self._port}"

    @property
    def connections(self) -> list[Connection]:
        """The live connections, oldest first."""
        return [c for c in self._connections if c.pending_close is None and not c.replaced]

    async def wait_for_connections(self, count: int = 1, seconds: float = 5.0) -> list[Connection]:
        """Wait until exactly `count` connections are live; TimeoutError after `seconds`."""
        async with asyncio.timeout(seconds):
            while len(self.connections) != count:
                self._changed.clear()
                await self._changed.wait()
        return self.connections

    # ------------------------------------------------------------------ fault injection

    async def drop_connections(self) -> None:
        """Cut every connection abruptly: the TCP connection closes with no close frame."""
        conns = list(self._connections)
        for conn in conns:
            transport = conn.request.transport
            if transport is not None:
                transport.abort()
        await self._wait_closed(conns)

    async def send_raw(self, data: bytes) -> None:
        """Send `data` as one binary frame to every connection, after what is queued already."""
        for conn in self.connections:
            conn.queue.put_nowait(bytes(data))
        await asyncio.sleep(0)

    def stall(self, on: bool = True) -> None:
        """Stop (or resume) sending frames and answering pings on every connection.

        While stalled, changes queue up and are sent on resume; pings are dropped unanswered,
        so a client's heartbeat sees no pong. New upgrades are still accepted (then stall).
        """
        self._stalled = on
        if not on:
            for conn in self._connections:
                conn.wake.set()

    @property
    def stalled(self) -> bool:
        """Whether `stall(True)` is in effect."""
        return self._stalled

    def refuse_with(self, status: int | None) -> None:
        """Answer every upgrade with this HTTP status from now on (None: back to normal)."""
        self._refuse_status = status

    def revoke_token(self, new_token: str | None = None) -> Awaitable[None]:
        """Replace the token; close every connection with code 4001 "unauthorized".

        Returns an awaitable (await it to wait for the closes); calling without awaiting is fine.
        """
        self.token = new_token if new_token is not None else secrets.token_urlsafe(16)
        conns = list(self._connections)
        for conn in conns:
            conn.request_close(CLOSE_UNAUTHORIZED, "unauthorized")
        return self._spawn(self._wait_closed(conns))

    async def close_connections(self, code: int = CLOSE_GOING_AWAY, reason: str = "") -> None:
        """Close every connection cleanly with this code and reason."""
        await self._close_all(code, reason)

    # ------------------------------------------------------------------ WebSocket endpoint

    def _reject(self, status: int, text: str, **headers: str) -> web.Response:
        self.rejected.append(status)
        return web.Response(status=status, text=text, headers=headers)

    def _credential_user(self, request: web.Request) -> str | None:
        """Check the credentials; return who they name (None: not authorized)."""
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "basic":
                return None
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except binascii.Error, UnicodeDecodeError:
                return None
            domain, sep, token = decoded.partition(":")
            if sep and domain == self.domain and _same(token, self.token):
                return domain
            return None
        query = request.query
        query_token = query.get("api_token")
        api_user = query.get("api_user")
        if query.get("domain") != self.domain or query_token is None:
            return None
        if not _same(query_token, self.token):
            return None
        if self.api_user is not None and api_user != self.api_user:
            return None
        return api_user or self.domain

    def _scope(self, query: Mapping[str, str]) -> Scope | web.Response:
        if _truthy(query.get("full_events")):
            return Scope("pbx")
        for kind in SCOPE_PARAMS:
            value = query.get(kind)
            if value:
                user = self.pbx.find_user(kind.removeprefix("user_"), value)
                if user is None:
                    return self._reject(404, f"no user with {kind}={value}")
                return Scope(kind, value, user.id)
        return self._reject(
            400, "full_events=true or one of " + ", ".join(SCOPE_PARAMS) + " is required"
        )

    async def _handle_ws(self, request: web.Request) -> web.StreamResponse:
        if self._stopping:  # a connection accepted just before stop(): it would be closed at once
            return self._reject(503, "server shutting down")
        if self._refuse_status is not None:
            return self._reject(self._refuse_status, f"refused ({self._refuse_status})")
        user = self._credential_user(request)
        if user is None:
            return self._reject(401, "unauthorized", **{"WWW-Authenticate": 'Basic realm="basix"'})
        app_name = request.query.get("app_name")
        if not app_name:
            return self._reject(400, "app_name is required")
        scope = self._scope(request.query)
        if isinstance(scope, web.Response):
            return scope
        forced = _truthy(request.query.get("force")) or _truthy(request.query.get("forced"))
        ws = web.WebSocketResponse(
            autoping=False, compress=False, timeout=self.close_timeout, max_msg_size=1 << 20
        )
        if not ws.can_prepare(request).ok:
            return self._reject(400, "not a WebSocket upgrade")
        same = [c for c in self.connections if c.key == (user, app_name)]
        if len(same) >= self.connection_limit:
            if forced:
                for old in same[: len(same) - self.connection_limit + 1]:
                    self._replace(old)
            elif self.limit_mode == "http":
                return self._reject(429, "connection limit reached", **{"Retry-After": "30"})
            else:
                return await self._refuse_after_upgrade(request, ws)
        conn = Connection(
            request, ws, app_name=app_name, scope=scope, forced=forced, credential_user=user
        )
        # Snapshot and subscription in one synchronous step: no change is lost or doubled.
        for frame in self._initial_frames(conn):
            conn.queue.put_nowait(frame)
        self._connections.append(conn)
        self._changed.set()
        writer: asyncio.Task[None] | None = None
        try:
            await ws.prepare(request)
            writer = asyncio.create_task(self._write(conn))
            await self._read(conn)
        finally:
            if writer is not None:
                if conn.pending_close is not None and not writer.done():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(writer), self.close_timeout + 1)
                if not writer.done():
                    writer.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await writer
            self._connections.remove(conn)
            conn.closed.set()
            self._changed.set()
        return ws

    async def _refuse_after_upgrade(
        self, request: web.Request, ws: web.WebSocketResponse
    ) -> web.WebSocketResponse:
        self.rejected.append(CLOSE_LIMIT if self.limit_mode == "close" else CLOSE_NORMAL)
        await ws.prepare(request)
        if self.limit_mode == "close":
            await ws.close(code=CLOSE_LIMIT, message=b"connection limit reached")
            return ws
        await ws.send_bytes(self._encode(self.builder.system_msg("connection_limit_reached")))
        self.frames_sent += 1
        await ws.close(code=CLOSE_NORMAL, message=b"")
        return ws

    def _replace(self, conn: Connection) -> None:
        """Close a connection a forced one replaces: the notice then a close, or a bare code."""
        if self.replace_mode == "close":
            conn.request_close(CLOSE_REPLACED, "replaced by a newer connection")
            return
        conn.queue.put_nowait(self._encode(self.builder.system_msg("connection_replaced")))
        conn.queue.put_nowait((CLOSE_NORMAL, ""))
        conn.pending_close = None
        conn.replaced = True

    def _initial_frames(self, conn: Connection) -> list[bytes]:
        terms = []
        if self.greeting is not None:
            terms.append(self.builder.system_msg(self.greeting))
        terms += self.builder.field_specs()
        records = {}
        for entity in self.builder.entities:
            records[entity] = [r for r in self.pbx.snapshot(entity) if conn.in_scope(entity, r)]
        terms += self.builder.snapshots(records)
        return [self._encode(t) for t in terms]

    async def _read(self, conn: Connection) -> None:
        ws = conn.ws
        while True:
            msg = await ws.receive()
            if msg.type is WSMsgType.PING:
                if not self._stalled:
                    await ws.pong(msg.data)
                continue
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return
            if msg.type is WSMsgType.TEXT:
                self.commands.handle(msg.data)
                continue
            # Binary and pong frames from clients are ignored, as a real PBX would.

    async def _write(self, conn: Connection) -> None:
        ws = conn.ws
        try:
            while True:
                item = await conn.queue.get()
                while self._stalled and conn.pending_close is None:
                    conn.wake.clear()
                    await conn.wake.wait()
                if conn.pending_close is not None:
                    code, reason = conn.pending_close
                    await ws.close(code=code, message=reason.encode())
                    return
                if item is None:
                    continue
                if isinstance(item, tuple):
                    conn.pending_close = item
                    await ws.close(code=item[0], message=item[1].encode())
                    return
                await ws.send_bytes(item)
                conn.frames_sent += 1
                self.frames_sent += 1
        except (ConnectionError, RuntimeError) as err:
            _LOGGER.debug("simulator: send to %r failed: %s", conn, err)

    def _encode(self, term: Any) -> bytes:
        return encode_frame(term, atoms=self.atoms, compressed=self.compressed)

    def _on_change(self, entity: str, record: Record, event: str) -> None:
        term = self.builder.change(entity, record, event)
        if term is None:
            return
        frame: bytes | None = None
        for conn in self.connections:
            if conn.in_scope(entity, record, event):
                frame = frame or self._encode(term)
                conn.queue.put_nowait(frame)

    async def _close_all(self, code: int, reason: str) -> None:
        conns = list(self._connections)
        for conn in conns:
            conn.request_close(code, reason)
        await self._wait_closed(conns)

    async def _wait_closed(self, conns: list[Connection]) -> None:
        if not conns:
            return
        waits = [c.closed.wait() for c in conns]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.close_timeout + 2):
                await asyncio.gather(*waits)
        self._changed.set()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _drain_tasks(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------------ control endpoints

    async def _handle_state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "users": [
                    {"id": u.id, "extension": u.extension, "label": u.label}
                    for u in self.pbx.users.values()
                ],
                "calls": [_call_json(c) for c in self.pbx.calls.values()],
                "connections": [
                    {"app_name": c.app_name, "scope": str(c.scope), "forced": c.forced}
                    for c in self.connections
                ],
                "mwi": {uid: list(counts) for uid, counts in self.pbx.mwi.items()},
                "group_mwi": {gid: list(c) for gid, c in self.pbx.group_mwi.items()},
                "parked": dict(self.pbx.parked_slots),
            }
        )

    async def _handle_commands(self, request: web.Request) -> web.Response:
        """`POST /simulator/commands?ignore=true|false`: have the PBX ignore commands, or not."""
        if "ignore" in request.query:
            self.commands.ignore = _truthy(request.query["ignore"])
        return web.json_response(
            {"ignore": self.commands.ignore, "received": len(self.commands.received)}
        )

    async def _handle_control(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        query = request.query
        to = query.get("to")
        if not to:
            return web.json_response({"error": "parameter 'to' is required"}, status=400)
        try:
            result = self._control(action, to, query)
        except KeyError as err:
            return web.json_response({"error": str(err.args[0])}, status=404)
        except (CallStateError, ValueError) as err:
            return web.json_response({"error": str(err)}, status=409)
        if isinstance(result, web.Response):
            return result
        return web.json_response(result)

    def _control(self, action: str, to: str, query: Mapping[str, str]) -> Any:
        pbx = self.pbx
        if action == "ring":
            call = pbx.incoming_call(
                to,
                caller=query.get("caller", "09012345678"),
                caller_name=query.get("caller_name", "山田 太郎") or None,
                organization=query.get("organization") or None,
            )
            return _call_json(call)
        if action == "mwi":
            target = pbx.resolve(to)
            pbx.set_mwi(target, int(query.get("new", "0")), int(query.get("old", "0")))
            if isinstance(target, Group):
                return {"group_id": target.id, "mwi": list(pbx.group_mwi[target.id])}
            return {"user_id": target.id, "mwi": list(pbx.mwi[target.id])}
        user = pbx.user(to)
        if action == "unpark":
            return _call_json(pbx.pickup(query.get("slot", ""), user))
        if action == "call_pickup":
            ringing_ext = query.get("ringing")
            candidates = (
                pbx.ringing_calls(ringing_ext)
                if ringing_ext
                else [
                    c
                    for c in pbx.calls.values()
                    if c.pending
                    and user.id not in c.pending.values()
                    and any(u is not None for u in c.pending.values())
                ]
            )
            if not candidates:
                raise CallStateError(f"no call ringing {ringing_ext or 'anyone'} to pick up")
            return _call_json(pbx.call_pickup(candidates[0], user))
        calls = pbx.calls_of(user)
        if not calls:
            raise KeyError(f"no call of {to}")
        ringing = [c for c in calls if user.id in c.pending.values()] or [
            c for c in calls if c.pending
        ]
        call = calls[0]
        match action:
            case "answer":
                if not ringing:
                    raise CallStateError(f"no call ringing {to}")
                call = ringing[0]
                pbx.answer(call, by=user if user.id in call.pending.values() else None)
            case "hangup":
                for each in calls:
                    pbx.hangup(each)
            case "caller_hangup":
                for each in calls:
                    if each.kind == "outgoing":
                        pbx.far_end_hangs_up(each)
                    else:
                        pbx.caller_hangs_up(each)
            case "voicemail":
                pbx.to_voicemail(call, _truthy(query.get("message", "true")))
            case "busy":
                if not ringing:
                    raise CallStateError(f"no call ringing {to}")
                pbx.busy(ringing[0])
            case "timeout":
                if not ringing:
                    raise CallStateError(f"no call ringing {to}")
                pbx.ring_timeout(ringing[0])
            case "max_duration":
                pbx.max_duration(call)
            case "hold":
                pbx.hold(call, by=user)
            case "unhold":
                pbx.unhold(call)
            case "transfer":
                pbx.transfer(call, query.get("target", ""))
            case "park":
                slot = pbx.park(call, query.get("slot") or None)
                return {"slot": slot, "calls": [_call_json(c) for c in calls]}
            case _:
                return web.json_response({"error": f"unknown action {action}"}, status=404)
        return {"calls": [_call_json(c) for c in calls]}


def _call_json(call: Call) -> dict[str, Any]:
    return {
        "uuid": call.uuid,
        "kind": call.kind,
        "status": call.status,
        "target": call.target.id if call.target else None,
        "answered_by": call.answered_by,
        "legs": list(call.legs),
        "dispositions": dict(call.dispositions),
    }


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (0: any free port), reusable at once after a stop."""
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    return socket.create_server(address, family=family, backlog=128)


def _same(given: str, expected: str) -> bool:
    """Compare secrets in constant time (as bytes: `compare_digest` refuses non-ASCII str)."""
    return secrets.compare_digest(given.encode(), expected.encode())


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("true", "1", "yes", "on")


__all__ = ["WS_PATH", "Connection", "Scope", "SimulatorServer"]
