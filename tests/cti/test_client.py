"""CtiClient, CtiConfig, check_connection: against real servers on 127.0.0.1, never mocks.

Two kinds of server: a tiny aiohttp app (`Endpoint`) when a test needs exact control of one
upgrade or close, and the PBX simulator for whole-PBX behaviour (snapshots, reconnects, truth).
Every test runs with the log captured at DEBUG and fails if the token shows up in any record.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
import contextlib
from datetime import UTC, datetime, timedelta
import ipaddress
import logging
from pathlib import Path
import socket
import ssl
import threading
import traceback
from typing import Any, Self

import aiohttp
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
import pytest

from basix_simulator.pbx import Pbx
from basix_simulator.server import SimulatorServer
from custom_components.basix_cti.cti import client as client_module, etf
from custom_components.basix_cti.cti.client import (
    REDACTED,
    CtiClient,
    CtiConfig,
    Scope,
    ScopeKind,
    check_connection,
)
from custom_components.basix_cti.cti.errors import (
    AuthenticationError,
    CannotConnectError,
    ConnectionLimitError,
    ConnectionTakenOverError,
    ConnectTimeoutError,
    CtiError,
    ProtocolError,
)
from custom_components.basix_cti.cti.models import FieldSpec, Message, Notice, Snapshot
from custom_components.basix_cti.cti.problems import ProblemReporter
from custom_components.basix_cti.cti.store import PbxState
from custom_components.basix_cti.cti.terms import Atom

# The servers listen on 127.0.0.1; the test plugin blocks sockets unless a test asks for them.
pytestmark = pytest.mark.usefixtures("socket_enabled")

# Characters that URL-encoding and base64 change, so every form of the token is checked.
TOKEN = "s3cr3t+T0k/en=42"
SECRETS = (
    TOKEN,
    "s3cr3t%2BT0k%2Fen%3D42",
    base64.b64encode(f"example.com:{TOKEN}".encode()).decode(),
)

FIELD_SPEC = (Atom("field_spec"), Atom("channel"), [Atom("uuid"), Atom("state")])
SNAPSHOT = (
    Atom("initial_info"),
    Atom("channel"),
    [("u1", (1_700_000_000_000_000, Atom("bridged")))],
)
CHANGE = (
    Atom("info_event"),
    Atom("channel"),
    ("u2", (1_700_000_000_000_000, Atom("bridged"))),
    Atom("CHANNEL_CREATE"),
)


SERVER_SIDE_LOGGERS = ("aiohttp.access", "aiohttp.server", "aiohttp.web", "basix_simulator")


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"token leaked into: {text!r}"


def assert_clean_error(err: BaseException) -> None:
    """The error, its repr and its whole printed traceback (causes included) hold no token."""
    assert_no_secret(str(err))
    assert_no_secret(repr(err))
    assert_no_secret("".join(traceback.format_exception(err)))


@pytest.fixture(autouse=True)
def no_token_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        if record.name.startswith(SERVER_SIDE_LOGGERS):
            continue  # what the fake PBX logs of the requests it received is not ours
        assert_no_secret(record.getMessage())
        if record.exc_info:
            assert_no_secret("".join(traceback.format_exception(*record.exc_info)))


def make_config(server: str = "bcs.brastel.com", **changes: Any) -> CtiConfig:
    values: dict[str, Any] = {"server": server, "domain": "example.com", "token": TOKEN}
    values.update(changes)
    return CtiConfig(**values)


# --- Scope and CtiConfig -------------------------------------------------------------------------


def test_scope_pbx_and_user() -> None:
    assert Scope.pbx() == Scope(ScopeKind.PBX)
    assert Scope.pbx().query() == [("full_events", "true")]
    assert Scope(ScopeKind.USER_EXTENSION, "201").query() == [("user_extension", "201")]
    assert Scope("user_email", " a@b.jp ").value == "a@b.jp"  # type: ignore[arg-type]
    assert Scope(ScopeKind.PBX, "ignored").value is None


def test_scope_parse_and_str_round_trip() -> None:
    for text in ("pbx", "user_extension=201", "user_email=xavier@somewhere.com", "user_label=a=b"):
        assert str(Scope.parse(text)) == text
    assert Scope.parse(" user_id = 17 ") == Scope(ScopeKind.USER_ID, "17")


@pytest.mark.parametrize("text", ["user_extension", "user_extension=", "nobody=1", "full_events"])
def test_scope_rejects_incomplete(text: str) -> None:
    with pytest.raises(ValueError, match="scope"):
        Scope.parse(text)


@pytest.mark.parametrize(
    ("server", "url"),
    [
        ("bcs.brastel.com", "wss://bcs.brastel.com/basix/api/ws_cti"),
        (" bcs.brastel.com:8443 ", "wss://bcs.brastel.com:8443/basix/api/ws_cti"),
        ("wss://bcs.brastel.com/", "wss://bcs.brastel.com/basix/api/ws_cti"),
        ("https://bcs.brastel.com", "wss://bcs.brastel.com/basix/api/ws_cti"),
        ("ws://127.0.0.1:8080", "ws://127.0.0.1:8080/basix/api/ws_cti"),
        ("http://127.0.0.1:8080/proxy/ws_cti/", "ws://127.0.0.1:8080/proxy/ws_cti"),
        ("WSS://[::1]:9000", "wss://[::1]:9000/basix/api/ws_cti"),
    ],
)
def test_server_forms(server: str, url: str) -> None:
    config = make_config(server)
    assert config.url() == f"{url}?app_name=home_assistant&full_events=true"


@pytest.mark.parametrize(
    ("scope", "forced", "query"),
    [
        (Scope.pbx(), False, "app_name=home_assistant&full_events=true"),
        (Scope.pbx(), True, "app_name=home_assistant&full_events=true&force=true&forced=true"),
        (
            Scope(ScopeKind.USER_NAME, "profxavier"),
            True,
            "app_name=home_assistant&user_name=profxavier&force=true&forced=true",
        ),
        (
            Scope(ScopeKind.USER_EMAIL, "xavier@somewhere.com"),
            False,
            "app_name=home_assistant&user_email=xavier@somewhere.com",
        ),
        (
            Scope(ScopeKind.USER_EXTENSION, "201"),
            False,
            "app_name=home_assistant&user_extension=201",
        ),
        (Scope(ScopeKind.USER_ID, "17"), False, "app_name=home_assistant&user_id=17"),
        (
            Scope(ScopeKind.USER_DID, "+81312345678"),
            False,
            "app_name=home_assistant&user_did=%2B81312345678",
        ),
        (
            Scope(ScopeKind.USER_LABEL, "山田 太郎"),
            False,
            "app_name=home_assistant&user_label=%E5%B1%B1%E7%94%B0%20%E5%A4%AA%E9%83%8E",
        ),
    ],
)
def test_query_as_the_method_page_writes_it(scope: Scope, forced: bool, query: str) -> None:
    config = make_config("bcs.brastel.com", scope=scope, forced=forced)
    assert config.url() == f"wss://bcs.brastel.com/basix/api/ws_cti?{query}"
    assert config.redacted_url() == config.url()  # no token in the URL without an API user


def test_api_user_adds_the_older_query_credentials_and_redacts_them() -> None:
    config = make_config("bcs.brastel.com", api_user="admin", app_name="my app")
    base = "wss://bcs.brastel.com/basix/api/ws_cti?app_name=my%20app&full_events=true"
    assert (
        config.url() == f"{base}&domain=example.com&api_user=admin&api_token=s3cr3t%2BT0k%2Fen%3D42"
    )
    assert config.redacted_url() == f"{base}&domain=example.com&api_user=admin&api_token={REDACTED}"
    assert_no_secret(config.redacted_url())


def test_basic_header_always_carries_domain_and_token() -> None:
    for api_user in (None, "admin"):
        header = make_config("h", api_user=api_user).headers()["Authorization"]
        scheme, _, encoded = header.partition(" ")
        assert scheme == "Basic"
        assert base64.b64decode(encoded).decode() == f"example.com:{TOKEN}"


def test_token_stays_out_of_repr_and_str() -> None:
    config = make_config("bcs.brastel.com", api_user="admin")
    assert_no_secret(repr(config))
    assert_no_secret(str(config))
    assert "token" not in repr(config).replace("api_token", "")


def test_redact_scrubs_every_form_of_the_token() -> None:
    config = make_config("h")
    text = " | ".join(SECRETS)
    assert config.redact(text) == " | ".join([REDACTED] * len(SECRETS))


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"server": ""}, "server is empty"),
        ({"server": "ftp://host"}, "ws:// or wss://"),
        ({"server": "wss://example.com:s3cr3t+T0k@host"}, "credentials"),
        ({"server": "example.com:s3cr3t+T0k@host"}, "credentials"),
        ({"server": f"wss://host/basix/api/ws_cti?api_token={TOKEN}"}, "query"),
        ({"server": "wss://host:99999"}, "port"),
        ({"server": "wss://:80"}, "host"),
        ({"domain": " "}, "domain"),
        ({"token": ""}, "token"),
        ({"app_name": ""}, "app name"),
    ],
)
def test_config_rejects_what_cannot_work(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        make_config(**{"server": "bcs.brastel.com", **changes})
    assert_clean_error(info.value)


def test_blank_api_user_means_none() -> None:
    assert make_config("h", api_user=" ").api_user is None


# --- A tiny endpoint for exact control -----------------------------------------------------------

Behaviour = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Endpoint:
    """An aiohttp server on 127.0.0.1 that records each request and answers with `behaviour`."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.sockets: list[web.WebSocketResponse] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for ws in self.sockets:
            await ws.close()
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path_qs, dict(request.headers)))
        return await self.behaviour(request)

    async def accept(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        self.sockets.append(ws)
        return ws


@pytest.fixture
async def endpoint() -> AsyncIterator[Callable[[Behaviour], Awaitable[Endpoint]]]:
    started: list[Endpoint] = []

    async def start(behaviour: Behaviour) -> Endpoint:
        server = Endpoint(behaviour)
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def frames_then_close(
    endpoint_ref: list[Endpoint],
    terms: list[Any],
    *,
    raw: list[bytes | str] = (),  # type: ignore[assignment]
    code: int | None = None,
    message: bytes = b"",
    linger: float = 0.0,
) -> Behaviour:
    """Accept, send `raw` frames then each term, optionally close with `code`, else stay open."""

    async def behave(request: web.Request) -> web.StreamResponse:
        ws = await endpoint_ref[0].accept(request)
        for frame in raw:
            if isinstance(frame, str):
                await ws.send_str(frame)
            else:
                await ws.send_bytes(frame)
        for term in terms:
            await ws.send_bytes(etf.encode(term))
        if linger:
            await asyncio.sleep(linger)
        if code is not None:
            await ws.close(code=code, message=message)
        else:
            async for _ in ws:
                pass
        return ws

    return behave


async def serve(
    endpoint: Callable[[Behaviour], Awaitable[Endpoint]],
    make: Callable[[list[Endpoint]], Behaviour],
) -> Endpoint:
    ref: list[Endpoint] = []
    server = await endpoint(make(ref))
    ref.append(server)
    return server


# --- check_connection against the tiny endpoint --------------------------------------------------


async def test_request_carries_path_query_and_basic_header(
    endpoint: Any, session: aiohttp.ClientSession
) -> None:
    server = await serve(endpoint, lambda ref: frames_then_close(ref, [FIELD_SPEC, SNAPSHOT]))
    config = make_config(
        server.url, api_user="admin", scope=Scope(ScopeKind.USER_EMAIL, "x@y.jp"), forced=True
    )
    messages = await check_connection(session, config)
    assert [type(m) for m in messages] == [FieldSpec, Snapshot]
    path_qs, headers = server.requests[0]
    assert path_qs == (
        "/basix/api/ws_cti?app_name=home_assistant&user_email=x@y.jp&force=true&forced=true"
        "&domain=example.com&api_user=admin&api_token=s3cr3t%2BT0k%2Fen%3D42"
    )
    assert (
        headers["Authorization"]
        == "Basic " + base64.b64encode(f"example.com:{TOKEN}".encode()).decode()
    )
    # Per-message deflate off: no extension offered.
    assert "Sec-WebSocket-Extensions" not in headers


async def test_check_connection_stops_at_the_first_snapshot(
    endpoint: Any, session: aiohttp.ClientSession
) -> None:
    server = await serve(
        endpoint,
        lambda ref: frames_then_close(
            ref,
            [(Atom("system_msg"), "hello"), FIELD_SPEC, [SNAPSHOT, CHANGE]],
            raw=[b"\x83\x00junk"],
        ),
    )
    messages = await check_connection(session, make_config(server.url))
    assert [type(m) for m in messages] == [Notice, FieldSpec, Snapshot]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AuthenticationError),
        (403, AuthenticationError),
        (429, ConnectionLimitError),
        (404, CannotConnectError),
        (400, CannotConnectError),
        (503, CannotConnectError),
        (200, CannotConnectError),
    ],
)
async def test_upgrade_status_maps_to_a_typed_error(
    endpoint: Any, session: aiohttp.ClientSession, status: int, error: type[CtiError]
) -> None:
    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, text="no")

    server = await endpoint(refuse)
    with pytest.raises(error) as info:
        await check_connection(session, make_config(server.url, api_user="admin"))
    assert type(info.value) is error
    assert info.value.status == status
    assert f"HTTP {status}" in str(info.value)
    assert_clean_error(info.value)


async def test_auth_message_says_what_to_do(endpoint: Any, session: aiohttp.ClientSession) -> None:
    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.Response(status=401)

    server = await endpoint(refuse)
    with pytest.raises(
        AuthenticationError,
        match=r"refused the API token for domain 'example.com' \(HTTP 401\): check",
    ):
        await check_connection(session, make_config(server.url))


async def test_connection_refused_is_cannot_connect(session: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(CannotConnectError) as info:
        await check_connection(session, make_config(f"ws://127.0.0.1:{port}", api_user="u"))
    assert type(info.value) is CannotConnectError
    assert f"127.0.0.1:{port}" in str(info.value)
    assert_clean_error(info.value)


async def test_tls_against_a_plain_server_is_cannot_connect(
    endpoint: Any, session: aiohttp.ClientSession
) -> None:
    server = await serve(endpoint, lambda ref: frames_then_close(ref, [SNAPSHOT]))
    with pytest.raises(CannotConnectError) as info:
        await check_connection(
            session, make_config(f"127.0.0.1:{server.port}", api_user="u"), timeout=5
        )
    assert_clean_error(info.value)


async def test_silent_server_is_a_timeout(session: aiohttp.ClientSession) -> None:
    # Accepts TCP, never answers the upgrade.
    held: list[asyncio.StreamWriter] = []
    server = await asyncio.start_server(lambda r, w: held.append(w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(ConnectTimeoutError) as info:
            await check_connection(session, make_config(f"ws://127.0.0.1:{port}"), timeout=0.3)
        assert_clean_error(info.value)
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_no_snapshot_in_time_is_a_timeout(
    endpoint: Any, session: aiohttp.ClientSession
) -> None:
    server = await serve(endpoint, lambda ref: frames_then_close(ref, [FIELD_SPEC]))
    with pytest.raises(ConnectTimeoutError, match="snapshot"):
        await check_connection(session, make_config(server.url), timeout=0.3)


@pytest.mark.parametrize("linger", [0.0, 1.0])
async def test_only_garbage_is_a_protocol_error(
    endpoint: Any, session: aiohttp.ClientSession, linger: float
) -> None:
    server = await serve(
        endpoint,
        lambda ref: frames_then_close(
            ref, [], raw=["hello", b"GET /", b"\x83"], code=None if linger else 1000
        ),
    )
    with pytest.raises(ProtocolError, match="not ws_cti"):
        await check_connection(session, make_config(server.url), timeout=0.3)


@pytest.mark.parametrize(
    ("code", "reason", "notice", "error"),
    [
        (4001, b"", None, AuthenticationError),
        (4003, b"", None, AuthenticationError),
        (1008, b"Unauthorized", None, AuthenticationError),
        (4029, b"", None, ConnectionLimitError),
        (1008, b"Connection LIMIT reached", None, ConnectionLimitError),
        (4000, b"replaced", None, ConnectionTakenOverError),
        (1000, b"", "Too many connections for this user", ConnectionLimitError),
        # The current generation's notices (2023 README), then a plain close.
        (1000, b"", "connection_limit_reached", ConnectionLimitError),
        (1000, b"", "connection_replaced", ConnectionTakenOverError),
        (1000, b"", "unauthorized: bad api token", AuthenticationError),
        (1000, b"", "welcome", CannotConnectError),
        (1011, b"internal error", None, CannotConnectError),
    ],
)
async def test_close_before_snapshot_is_classified(
    *,
    endpoint: Any,
    session: aiohttp.ClientSession,
    code: int,
    reason: bytes,
    notice: str | None,
    error: type[CtiError],
) -> None:
    terms = [(Atom("system_msg"), notice)] if notice else []
    server = await serve(
        endpoint, lambda ref: frames_then_close(ref, terms, code=code, message=reason)
    )
    with pytest.raises(error) as info:
        await check_connection(session, make_config(server.url))
    assert type(info.value) is error
    assert info.value.close_code == code
    assert_clean_error(info.value)


# --- CtiClient against the tiny endpoint ---------------------------------------------------------


class Recorder:
    """Collects what a client hands its owner."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.transitions: list[tuple[bool, str | None]] = []
        self.changed = asyncio.Event()

    def on_message(self, message: Message) -> None:
        self.messages.append(message)
        self.changed.set()

    def on_connection(self, connected: bool, reason: str | None) -> None:
        self.transitions.append((connected, reason))
        self.changed.set()

    async def until(self, predicate: Callable[[], bool], seconds: float = 5.0) -> None:
        async with asyncio.timeout(seconds):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    def snapshots(self) -> int:
        return sum(isinstance(m, Snapshot) for m in self.messages)


def make_client(
    session: aiohttp.ClientSession, config: CtiConfig, recorder: Recorder, **kwargs: Any
) -> CtiClient:
    kwargs.setdefault("backoff_min", 0.01)
    kwargs.setdefault("backoff_max", 0.05)
    return CtiClient(session, config, recorder.on_message, recorder.on_connection, **kwargs)


async def test_close_code_4001_mid_session_ends_run(
    endpoint: Any, session: aiohttp.ClientSession
) -> None:
    server = await serve(
        endpoint, lambda ref: frames_then_close(ref, [FIELD_SPEC, SNAPSHOT], code=4001, linger=0.05)
    )
    recorder = Recorder()
    client = make_client(session, make_config(server.url, api_user="admin"), recorder)
    with pytest.raises(AuthenticationError) as info:
        await asyncio.wait_for(client.run(), 5)
    assert_clean_error(info.value)
    assert recorder.snapshots() == 1
    assert recorder.transitions == [(True, None), (False, str(info.value))]
    assert client.stats.last_close_code == 4001
    assert not client.connected


@pytest.mark.parametrize(
    ("terms", "code", "reason", "expect"),
    [
        ([], 4029, b"", "allows 2 connections"),
        ([(Atom("system_msg"), "connection limit reached")], 1000, b"", "limit reached"),
        ([(Atom("system_msg"), Atom("connection_limit_reached"))], 1000, b"", "allows 2"),
        ([(Atom("system_msg"), Atom("connection_replaced"))], 1000, b"", "took this connection"),
        ([], 4000, b"replaced", "took this connection over"),
    ],
)
async def test_limit_closes_are_retried_and_surfaced(
    *,
    endpoint: Any,
    session: aiohttp.ClientSession,
    terms: list[Any],
    code: int,
    reason: bytes,
    expect: str,
) -> None:
    server = await serve(
        endpoint,
        lambda ref: frames_then_close(
            ref, [FIELD_SPEC, SNAPSHOT, *terms], code=code, message=reason
        ),
    )
    recorder = Recorder()
    client = make_client(session, make_config(server.url), recorder)
    task = asyncio.create_task(client.run())
    await recorder.until(lambda: len(server.requests) >= 3)
    await client.close()
    await task  # returns cleanly after close()
    assert client.stats.last_error is not None
    assert expect in client.stats.last_error
    assert client.stats.last_close_code == code
    reasons = [reason for up, reason in recorder.transitions if not up]
    assert reasons[0] == client.stats.last_error
    assert recorder.transitions[0] == (True, None)
    # Every reconnect happens after a down with the limit reason, in order.
    assert [up for up, _ in recorder.transitions][:4] == [True, False, True, False]


async def test_upgrade_429_is_retried_with_its_reason_reported_once(
    endpoint: Any, session: aiohttp.ClientSession
) -> None:
    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.Response(status=429)

    server = await endpoint(refuse)
    recorder = Recorder()
    client = make_client(session, make_config(server.url), recorder)
    task = asyncio.create_task(client.run())
    async with asyncio.timeout(5):
        while len(server.requests) < 4:  # noqa: ASYNC110 - counted by the server
            await asyncio.sleep(0.01)
    await client.close()
    await task
    assert len(recorder.transitions) == 1  # the same failure is announced once
    connected, reason = recorder.transitions[0]
    assert not connected
    assert reason is not None
    assert "HTTP 429" in reason
    assert client.stats.reconnects == 0


async def test_upgrade_401_ends_run_on_first_connect(
    endpoint: Any, session: aiohttp.ClientSession
) -> None:
    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.Response(status=401)

    server = await endpoint(refuse)
    recorder = Recorder()
    client = make_client(session, make_config(server.url, api_user="admin"), recorder)
    with pytest.raises(AuthenticationError) as info:
        await client.run()
    assert_clean_error(info.value)
    assert len(server.requests) == 1  # a refused token is not retried
    assert recorder.transitions == [(False, str(info.value))]


async def test_retry_after_is_honoured(endpoint: Any, session: aiohttp.ClientSession) -> None:
    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.Response(status=503, headers={"Retry-After": "0.3"})

    server = await endpoint(refuse)
    client = make_client(session, make_config(server.url), Recorder(), backoff_max=5)
    task = asyncio.create_task(client.run())
    await asyncio.sleep(0.2)
    assert len(server.requests) == 1
    await client.close()
    await task


async def test_garbage_and_text_frames_are_skipped_and_reported_once(
    endpoint: Any, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    truncated = etf.encode(SNAPSHOT)[:-3]
    raw: list[bytes | str] = [
        b"\x83\x00junk",
        truncated,
        b"",
        "text frame",
        "another",
        b"\x00" * 10,
    ]
    server = await serve(
        endpoint, lambda ref: frames_then_close(ref, [FIELD_SPEC, SNAPSHOT, CHANGE], raw=raw)
    )
    recorder = Recorder()
    client = make_client(
        session,
        make_config(server.url),
        recorder,
        reporter=ProblemReporter(logging.getLogger("test.cti")),
    )
    task = asyncio.create_task(client.run())
    await recorder.until(lambda: len(recorder.messages) == 3)
    await client.close()
    await task
    assert [type(m).__name__ for m in recorder.messages] == ["FieldSpec", "Snapshot", "Change"]
    assert client.stats.decode_errors == 4
    assert client.stats.frames == 9
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([r for r in warnings if "not valid ETF" in r.getMessage()]) == 1
    assert len([r for r in warnings if "text frame" in r.getMessage()]) == 1
    decode_warning = next(r for r in warnings if "not valid ETF" in r.getMessage())
    assert "byte" in decode_warning.getMessage()
    assert "6a756e6b" not in decode_warning.getMessage()  # the frame's bytes only at DEBUG


async def test_callback_errors_do_not_end_the_connection(
    endpoint: Any, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    server = await serve(
        endpoint, lambda ref: frames_then_close(ref, [FIELD_SPEC, SNAPSHOT, CHANGE])
    )
    seen: list[Message] = []
    done = asyncio.Event()

    def on_message(message: Message) -> None:
        seen.append(message)
        if len(seen) == 3:
            done.set()
        raise RuntimeError("owner bug")

    def on_connection(connected: bool, reason: str | None) -> None:
        raise RuntimeError("owner bug too")

    client = CtiClient(session, make_config(server.url), on_message, on_connection)
    task = asyncio.create_task(client.run())
    async with asyncio.timeout(5):
        await done.wait()
    await client.close()
    await task
    assert len(seen) == 3
    assert sum("message callback" in r.getMessage() for r in caplog.records) == 3


async def test_close_is_idempotent_and_final(session: aiohttp.ClientSession) -> None:
    client = make_client(session, make_config("ws://127.0.0.1:9"), Recorder())
    await client.close()
    await client.close()
    await client.run()  # returns at once: a closed client does not connect
    assert client.closed
    assert not client.connected
    assert "127.0.0.1:9" in repr(client)


async def test_outside_cancel_propagates_and_cleans_up(
    endpoint: Any, session: aiohttp.ClientSession
) -> None:
    server = await serve(endpoint, lambda ref: frames_then_close(ref, [FIELD_SPEC, SNAPSHOT]))
    recorder = Recorder()
    client = make_client(session, make_config(server.url), recorder)
    task = asyncio.create_task(client.run())
    await recorder.until(lambda: recorder.snapshots() == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert recorder.transitions == [(True, None), (False, "cancelled")]
    assert not client.connected
    await client.close()


async def test_run_twice_at_once_is_refused(endpoint: Any, session: aiohttp.ClientSession) -> None:
    server = await serve(endpoint, lambda ref: frames_then_close(ref, [FIELD_SPEC, SNAPSHOT]))
    recorder = Recorder()
    client = make_client(session, make_config(server.url), recorder)
    task = asyncio.create_task(client.run())
    await recorder.until(lambda: recorder.snapshots() == 1)
    with pytest.raises(RuntimeError, match="already running"):
        await client.run()
    await client.close()
    await task
    assert recorder.transitions[-1] == (False, "closed")


def by_attempt(endpoint_ref: list[Endpoint], *behaviours: Behaviour) -> Behaviour:
    """The n-th request is answered by the n-th behaviour; the last one answers the rest."""

    async def behave(request: web.Request) -> web.StreamResponse:
        attempt = len(endpoint_ref[0].requests)
        return await behaviours[min(attempt, len(behaviours)) - 1](request)

    return behave


AUTH_WORDS_CLOSE = {"code": 1008, "message": b"Unauthorized"}


async def test_auth_words_once_are_retried_not_final(
    endpoint: Any, session: aiohttp.ClientSession
) -> None:
    notice = (Atom("system_msg"), "Authentication service maintenance")
    server = await serve(
        endpoint,
        lambda ref: by_attempt(
            ref,
            frames_then_close(ref, [notice], code=1000),
            frames_then_close(ref, [FIELD_SPEC, SNAPSHOT]),
        ),
    )
    recorder = Recorder()
    client = make_client(session, make_config(server.url), recorder)
    task = asyncio.create_task(client.run())
    await recorder.until(lambda: client.connected or task.done())
    assert not task.done()  # a notice that only sounds like a refusal is not the end
    down, up = recorder.transitions
    assert not down[0]
    assert "retrying" in (down[1] or "")
    assert up == (True, None)
    await client.close()
    await task


@pytest.mark.parametrize(
    ("with_data", "requests"),
    [
        ([False], 3),  # refused in words three times in a row: believed
        ([True, False], 3),  # revoked mid-session, then refused twice more on reconnect
        ([False, True, False], 4),  # data in between: the count starts over
    ],
)
async def test_auth_words_end_run_when_they_repeat_without_data(
    endpoint: Any, session: aiohttp.ClientSession, with_data: list[bool], requests: int
) -> None:
    server = await serve(
        endpoint,
        lambda ref: by_attempt(
            ref,
            *(
                frames_then_close(ref, [FIELD_SPEC, SNAPSHOT] if data else [], **AUTH_WORDS_CLOSE)
                for data in with_data
            ),
        ),
    )
    recorder = Recorder()
    client = make_client(session, make_config(server.url), recorder)
    with pytest.raises(AuthenticationError) as info:
        await asyncio.wait_for(client.run(), 5)
    assert_clean_error(info.value)
    assert len(server.requests) == requests
    assert info.value.close_code == 1008
    assert recorder.transitions[-1] == (False, str(info.value))
    assert client.last_error is info.value


@pytest.mark.parametrize(
    ("code", "reason", "notice", "error"),
    [
        (1008, "connection limit: not allowed", None, ConnectionLimitError),
        (1008, "Unauthorized", "connection limit reached", ConnectionLimitError),
        (1000, "", "Too many connections: access denied", ConnectionLimitError),
        (4000, "unauthorized", None, ConnectionTakenOverError),
        (1001, "restart: maximum uptime reached", None, CannotConnectError),
        (1000, "", "quota exceeded, not allowed", CannotConnectError),
        (4003, "connection limit", None, AuthenticationError),
    ],
)
def test_limit_words_before_auth_words_and_no_over_broad_words(
    code: int, reason: str, notice: str | None, error: type[CtiError]
) -> None:
    classified = client_module._classify_close(make_config(), code, reason, notice)
    assert type(classified) is error


async def test_last_error_is_cleared_once_connected(
    endpoint: Any, session: aiohttp.ClientSession
) -> None:
    server = await serve(
        endpoint,
        lambda ref: by_attempt(
            ref,
            frames_then_close(ref, [], code=4029),
            frames_then_close(ref, [FIELD_SPEC, SNAPSHOT]),
        ),
    )
    recorder = Recorder()
    seen: list[CtiError | None] = []

    def on_connection(connected: bool, reason: str | None) -> None:
        seen.append(client.last_error)
        recorder.on_connection(connected, reason)

    client = CtiClient(
        session,
        make_config(server.url),
        recorder.on_message,
        on_connection,
        backoff_min=0.01,
        backoff_max=0.05,
    )
    task = asyncio.create_task(client.run())
    await recorder.until(lambda: client.connected)
    await client.close()
    await task
    assert [up for up, _ in recorder.transitions] == [False, True, False]
    assert isinstance(seen[0], ConnectionLimitError)
    assert seen[1:] == [None, None]  # the closed connection is not blamed on the old limit


@pytest.mark.parametrize(("healthy_after", "expected"), [(60.0, [1, 2, 3, 4]), (0.0, [1, 1, 1, 1])])
async def test_backoff_resets_only_after_a_long_connection(
    *,
    endpoint: Any,
    session: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
    healthy_after: float,
    expected: list[int],
) -> None:
    monkeypatch.setattr(client_module, "HEALTHY_AFTER", healthy_after)
    server = await serve(
        endpoint, lambda ref: frames_then_close(ref, [FIELD_SPEC, SNAPSHOT], code=1000)
    )
    recorder = Recorder()
    client = make_client(session, make_config(server.url), recorder)
    failures: list[int] = []
    backoff_delay = client._backoff_delay

    def spy(count: int, retry_after: float | None) -> float:
        failures.append(count)
        return backoff_delay(count, retry_after)

    monkeypatch.setattr(client, "_backoff_delay", spy)
    task = asyncio.create_task(client.run())
    await eventually(lambda: len(failures) >= 4)
    await client.close()
    await task
    # A snapshot then an immediate close is no healthy connection: the backoff keeps growing.
    assert failures[:4] == expected
    assert recorder.snapshots() >= 4


async def test_connection_changes_are_logged_at_debug_only(
    endpoint: Any, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    server = await serve(
        endpoint,
        lambda ref: by_attempt(
            ref,
            frames_then_close(ref, [FIELD_SPEC, SNAPSHOT], code=1011),
            frames_then_close(ref, [FIELD_SPEC, SNAPSHOT], code=4001),
        ),
    )
    client = make_client(session, make_config(server.url, api_user="admin"), Recorder())
    with pytest.raises(AuthenticationError):
        await asyncio.wait_for(client.run(), 5)
    ours = [r for r in caplog.records if r.name == client_module.__name__]
    # Home Assistant's layer tells the user; the library must not say it twice.
    assert not [r.getMessage() for r in ours if r.levelno == logging.INFO]
    debug = " | ".join(r.getMessage() for r in ours if r.levelno == logging.DEBUG)
    for said in ("Connected to", "reconnecting in", "Reconnected to", "Giving up on"):
        assert said in debug


def test_backoff_grows_with_full_jitter_and_caps() -> None:
    client = CtiClient(None, make_config("h"), lambda m: None, backoff_min=1.0, backoff_max=30.0)  # type: ignore[arg-type]
    client._random.seed(7)
    for failures, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (500, 30.0)]:
        delays = [client._backoff_delay(failures, None) for _ in range(200)]
        assert min(delays) >= 0
        assert max(delays) <= ceiling
        assert max(delays) > ceiling * 0.8  # spread over the whole range: full jitter
    assert client._backoff_delay(1, 12.0) == 12.0
    assert client._backoff_delay(1, 1e9) == 30.0
    with pytest.raises(ValueError, match="backoff"):
        CtiClient(None, make_config("h"), lambda m: None, backoff_min=0)  # type: ignore[arg-type]


# --- Against the PBX simulator -------------------------------------------------------------------

SIM_DOMAIN = "example.basix"
SIM_TOKEN = TOKEN  # '+', '/' and '=' in the token go through the Basic header and the query intact


@pytest.fixture
def pbx() -> Pbx:
    return Pbx.demo(users=6, groups=1, seed=1, domain=SIM_DOMAIN)


@pytest.fixture
async def simulator(pbx: Pbx) -> AsyncIterator[SimulatorServer]:
    # The refusal forms these tests were written for: HTTP 429 and close code 4000 (the
    # simulator's default is now the README's system_msg notice, then a close).
    server = SimulatorServer(
        pbx, domain=SIM_DOMAIN, token=SIM_TOKEN, limit_mode="http", replace_mode="close"
    )
    await server.start()
    yield server
    await server.stop()


def sim_config(server: SimulatorServer, **changes: Any) -> CtiConfig:
    values: dict[str, Any] = {"server": server.url, "domain": SIM_DOMAIN, "token": SIM_TOKEN}
    values.update(changes)
    return CtiConfig(**values)


async def eventually(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    """Wait until `predicate()` holds: frames arrive over a real socket, in their own time."""
    async with asyncio.timeout(seconds):
        while not predicate():  # noqa: ASYNC110 - the condition is set by network I/O
            await asyncio.sleep(0.01)


def differences(state: PbxState, pbx: Pbx) -> list[str]:
    """What a client's store gets wrong about the simulator's truth (empty: nothing)."""
    problems = []
    if set(state.channels) != set(pbx.channels):
        problems.append(f"channels {sorted(state.channels)} != {sorted(pbx.channels)}")
    for uuid in set(state.channels) & set(pbx.channels):
        channel, truth = state.channels[uuid], pbx.channels[uuid]
        seen = (
            channel.user_id,
            channel.other_uuid,
            channel.state.name if channel.state else None,
            channel.answered_at is not None,
            channel.last_event,
            channel.calling_number,
        )
        expected = (
            truth["user_id"],
            truth["other_uuid"],
            truth["state"][1],
            truth["answer_timestamp"] is not None,
            truth["last_event"],
            truth["calling_number"],
        )
        if seen != expected:
            problems.append(f"channel {uuid}: {seen} != {expected}")
    if set(state.users) != set(pbx.users):
        problems.append("users differ")
    return problems


class Follower:
    """A CtiClient whose messages feed a PbxState, as the coordinator's do."""

    def __init__(self, session: aiohttp.ClientSession, config: CtiConfig, **kwargs: Any) -> None:
        self.state = PbxState()
        self.recorder = Recorder()
        kwargs.setdefault("backoff_min", 0.01)
        kwargs.setdefault("backoff_max", 0.05)
        self.client = CtiClient(
            session, config, self._on_message, self.recorder.on_connection, **kwargs
        )
        self.task: asyncio.Task[None] | None = None

    def _on_message(self, message: Message) -> None:
        self.recorder.on_message(message)
        self.state.apply(message)

    def start(self) -> None:
        self.task = asyncio.create_task(self.client.run())

    async def stop(self) -> None:
        await self.client.close()
        assert self.task is not None
        await self.task

    async def follows(self, pbx: Pbx, seconds: float = 5.0) -> None:
        await eventually(
            lambda: self.client.connected and not differences(self.state, pbx), seconds
        )

    def ups_and_downs(self) -> list[bool]:
        """The connected flags of the transitions, repeats (a retry failing anew) folded."""
        flags: list[bool] = []
        for connected, _ in self.recorder.transitions:
            if not flags or flags[-1] != connected:
                flags.append(connected)
        return flags


@pytest.fixture
async def followers(session: aiohttp.ClientSession) -> AsyncIterator[Callable[..., Follower]]:
    made: list[Follower] = []

    def make(config: CtiConfig, *, start: bool = True, **kwargs: Any) -> Follower:
        follower = Follower(session, config, **kwargs)
        made.append(follower)
        if start:
            follower.start()
        return follower

    yield make
    for follower in made:
        if follower.task is not None:
            await follower.client.close()
            with contextlib.suppress(CtiError):
                await follower.task


SCOPE_ATTRIBUTES = {
    ScopeKind.USER_ID: "id",
    ScopeKind.USER_NAME: "name",
    ScopeKind.USER_LABEL: "label",
    ScopeKind.USER_EXTENSION: "extension",
    ScopeKind.USER_DID: "did",
    ScopeKind.USER_EMAIL: "email",
}


@pytest.mark.parametrize("kind", list(ScopeKind))
async def test_snapshot_in_every_scope(
    simulator: SimulatorServer,
    pbx: Pbx,
    session: aiohttp.ClientSession,
    followers: Any,
    kind: ScopeKind,
) -> None:
    user = pbx.user("201")
    scope = (
        Scope.pbx() if kind is ScopeKind.PBX else Scope(kind, getattr(user, SCOPE_ATTRIBUTES[kind]))
    )
    mine = pbx.incoming_call("201")
    other = pbx.incoming_call("202")
    messages = await check_connection(session, sim_config(simulator, scope=scope))
    assert isinstance(messages[-1], Snapshot)
    assert sum(isinstance(m, Snapshot) for m in messages) == 1

    follower = followers(sim_config(simulator, scope=scope))
    await eventually(lambda: follower.recorder.snapshots() >= 6)
    (connection,) = simulator.connections
    expected = "full_events=true" if kind is ScopeKind.PBX else f"{kind.value}="
    assert expected in connection.request.query_string or kind is ScopeKind.USER_LABEL
    assert str(connection.scope) == (
        "full_events" if kind is ScopeKind.PBX else f"{kind.value}={scope.value}"
    )
    channels = set(follower.state.channels)
    assert set(mine.legs) <= channels
    if kind is ScopeKind.PBX:
        await follower.follows(pbx)
    else:
        assert not set(other.legs) & channels  # the other user's call is not in this scope
        assert set(follower.state.users) == {user.id}


async def test_simulator_sees_the_exact_request(simulator: SimulatorServer, followers: Any) -> None:
    follower = followers(
        sim_config(
            simulator, app_name="ha test", forced=True, scope=Scope(ScopeKind.USER_EXTENSION, "203")
        )
    )
    await eventually(lambda: follower.client.connected)
    (connection,) = simulator.connections
    assert (
        connection.request.path_qs
        == "/basix/api/ws_cti?app_name=ha%20test&user_extension=203&force=true&forced=true"
    )
    expected = base64.b64encode(f"{SIM_DOMAIN}:{SIM_TOKEN}".encode()).decode()
    assert connection.headers["Authorization"] == f"Basic {expected}"
    assert connection.app_name == "ha test"
    assert connection.forced


async def test_wrong_token_is_refused_at_upgrade(
    simulator: SimulatorServer, session: aiohttp.ClientSession, followers: Any
) -> None:
    config = sim_config(simulator, token="wrong-token")
    with pytest.raises(AuthenticationError) as info:
        await check_connection(session, config)
    assert info.value.status == 401
    assert_clean_error(info.value)
    follower = followers(config)
    assert follower.task is not None
    with pytest.raises(AuthenticationError):
        await asyncio.wait_for(follower.task, 5)
    assert simulator.rejected == [401, 401]


async def test_token_revoked_mid_session_ends_run(
    simulator: SimulatorServer, pbx: Pbx, followers: Any
) -> None:
    follower = followers(sim_config(simulator))
    await follower.follows(pbx)
    await simulator.revoke_token("new-token")
    assert follower.task is not None
    with pytest.raises(AuthenticationError) as info:
        await asyncio.wait_for(follower.task, 5)
    assert_clean_error(info.value)
    assert info.value.close_code == 4001
    assert follower.recorder.transitions == [(True, None), (False, str(info.value))]
    assert not follower.client.connected


@pytest.mark.parametrize(("mode", "status", "code"), [("http", 429, None), ("close", None, 4029)])
async def test_third_connection_hits_the_limit(
    *,
    pbx: Pbx,
    session: aiohttp.ClientSession,
    followers: Any,
    mode: Any,
    status: int | None,
    code: int | None,
) -> None:
    async with SimulatorServer(
        pbx, domain=SIM_DOMAIN, token=SIM_TOKEN, limit_mode=mode
    ) as simulator:
        first = followers(sim_config(simulator))
        second = followers(sim_config(simulator))
        await first.follows(pbx)
        await second.follows(pbx)
        with pytest.raises(ConnectionLimitError) as info:
            await check_connection(session, sim_config(simulator))
        assert (info.value.status, info.value.close_code) == (status, code)
        assert "app name 'home_assistant'" in str(info.value)
        # A client kept out retries, telling its owner why; once a place frees up, it gets in.
        third = followers(sim_config(simulator))
        await eventually(lambda: third.client.stats.last_error is not None)
        assert third.recorder.transitions[0][0] is False
        assert "allows 2 connections" in (third.recorder.transitions[0][1] or "")
        assert "allows 2 connections" in (third.client.stats.last_error or "")
        await first.stop()
        await third.follows(pbx)
        # another app name has its own two places
        await check_connection(session, sim_config(simulator, app_name="other"))
        # Clients first, then the server: a reconnect racing the server's shutdown is asyncio's
        # own trouble (an accept after close), not what this test is about.
        for follower in (second, third):
            await follower.stop()


async def test_forced_connection_replaces_the_oldest(
    simulator: SimulatorServer, pbx: Pbx, followers: Any
) -> None:
    oldest = followers(sim_config(simulator))
    await oldest.follows(pbx)
    newer = followers(sim_config(simulator))
    await newer.follows(pbx)
    forced = followers(sim_config(simulator, forced=True))
    await forced.follows(pbx)
    await eventually(lambda: oldest.client.stats.last_close_code == 4000)
    assert oldest.recorder.transitions[:2] == [
        (True, None),
        (False, oldest.recorder.transitions[1][1]),
    ]
    assert "took this connection over" in (oldest.recorder.transitions[1][1] or "")
    # The replaced client keeps trying (its owner decides what to do) and is kept out: 429.
    await eventually(lambda: "HTTP 429" in (oldest.client.stats.last_error or ""))
    assert newer.client.connected
    assert forced.client.connected


async def _fault_drop(
    simulator: SimulatorServer, follower: Follower, change: Callable[[], None]
) -> None:
    simulator.refuse_with(503)  # keep the client out while the PBX moves on
    await simulator.drop_connections()
    await eventually_down(follower)
    change()
    simulator.refuse_with(None)


async def _fault_restart(
    simulator: SimulatorServer, follower: Follower, change: Callable[[], None]
) -> None:
    await simulator.stop()
    await eventually_down(follower)
    change()
    await simulator.start(port=simulator.port)


async def _fault_stall(
    simulator: SimulatorServer, follower: Follower, change: Callable[[], None]
) -> None:
    simulator.stall(True)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await eventually_down(follower)
    # heartbeat 0.2 s: the missing pong is noticed within about two heartbeats
    assert loop.time() - started < 1.0
    assert "stopped answering" in (follower.client.stats.last_error or "")
    change()
    simulator.stall(False)


async def _fault_close_going_away(
    simulator: SimulatorServer, follower: Follower, change: Callable[[], None]
) -> None:
    simulator.refuse_with(502)
    await simulator.close_connections(1001, "maintenance")
    await eventually_down(follower)
    change()
    simulator.refuse_with(None)


async def eventually_down(follower: Follower) -> None:
    await eventually(lambda: not follower.client.connected)


FAULTS = {
    "drop": _fault_drop,
    "restart": _fault_restart,
    "stall": _fault_stall,
    "close": _fault_close_going_away,
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_client_survives_and_resyncs(
    simulator: SimulatorServer, pbx: Pbx, followers: Any, fault: str
) -> None:
    talking = pbx.incoming_call("201")
    pbx.answer(talking)
    ringing = pbx.incoming_call("202")
    follower = followers(sim_config(simulator), heartbeat=0.2, backoff_min=0.25, backoff_max=0.5)
    # The first retry comes 0.24 s after the loss (seeded jitter), well after a restarting server
    # stopped accepting: a connect racing asyncio's server close is not what this is about.
    follower.client._random.seed(2)
    await follower.follows(pbx)
    assert set(ringing.legs) <= set(follower.state.channels)

    def while_away() -> None:
        pbx.caller_hangs_up(ringing)  # ends while the client is away: must be gone afterwards
        pbx.incoming_call("203")

    await FAULTS[fault](simulator, follower, while_away)
    await follower.follows(pbx)
    assert not set(ringing.legs) & set(follower.state.channels)
    # and it keeps following live changes on the new connection
    pbx.hangup(talking)
    await follower.follows(pbx)
    assert follower.ups_and_downs() == [True, False, True]
    assert follower.client.stats.reconnects == 1
    assert follower.client.stats.connected_since is not None


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
async def test_bad_frames_are_skipped_without_reconnecting(
    simulator: SimulatorServer,
    pbx: Pbx,
    followers: Any,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    follower = followers(sim_config(simulator))
    await follower.follows(pbx)
    call = pbx.incoming_call("201")
    good = etf.encode((Atom("info_event"), Atom("channel"), ("x",), Atom("CHANNEL_CREATE")))
    bad = b"\x83\x68\x05garbage" if kind == "garbage" else good[:-4]
    for _ in range(20):
        await simulator.send_raw(bad)
    pbx.answer(call)
    await follower.follows(pbx)
    assert follower.client.stats.decode_errors == 20
    assert follower.client.stats.reconnects == 0
    assert follower.recorder.transitions == [(True, None)]
    decode_warnings = [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and "not valid ETF" in r.getMessage()
    ]
    assert len(decode_warnings) == 1  # rate limited: once, not per frame


# --- Edges: TLS, broken servers, callbacks, the package --------------------------------------


def self_signed_context(tmp_path: Path) -> ssl.SSLContext:
    """A TLS server context with a certificate for 127.0.0.1 that nobody trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-hosted pbx")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


class TlsEndpoint:
    """A wss:// endpoint on its own thread and event loop, serving a snapshot.

    Its own loop because a client that refuses the certificate resets the TLS handshake, and the
    server side reports that to its loop's exception handler: the test's loop would count it as
    an error of the test.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.port = 0
        self.requests = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="tls-endpoint")

    def __enter__(self) -> Self:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        assert self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(lambda _loop, _context: None)
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        async def handle(request: web.Request) -> web.StreamResponse:
            self.requests += 1
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.send_bytes(etf.encode(FIELD_SPEC))
            await ws.send_bytes(etf.encode(SNAPSHOT))
            async for _ in ws:
                pass
            return ws

        app = web.Application()
        app.router.add_get("/basix/api/ws_cti", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=self.context).start()
        self.port = runner.addresses[0][1]
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()


async def test_tls_is_verified_unless_turned_off(
    session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    with TlsEndpoint(self_signed_context(tmp_path)) as server:
        config = make_config(f"127.0.0.1:{server.port}", api_user="u")  # host:port means wss://
        with pytest.raises(
            CannotConnectError, match=r"certificate of 127\.0\.0\.1:\d+ could not"
        ) as info:
            await check_connection(session, config)
        assert "turn off certificate verification" in str(info.value)
        assert_clean_error(info.value)
        assert server.requests == 0  # nothing was sent to a server we could not verify
        insecure = make_config(f"127.0.0.1:{server.port}", api_user="u", verify_tls=False)
        messages = await check_connection(session, insecure)
        assert isinstance(messages[-1], Snapshot)
        assert server.requests == 1


async def raw_server(answer: bytes | None) -> asyncio.Server:
    """A TCP server that reads the request, then writes `answer` (None: closes at once)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if answer is not None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
            await asyncio.sleep(0.5)
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.mark.parametrize(
    ("answer", "error", "text"),
    [
        (None, CannotConnectError, "Cannot connect to 127.0.0.1"),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: wrong\r\n\r\n",
            ProtocolError,
            "is a proxy in the way",
        ),
    ],
)
async def test_broken_servers_are_typed_errors(
    session: aiohttp.ClientSession, answer: bytes | None, error: type[CtiError], text: str
) -> None:
    server = await raw_server(answer)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(error, match=text) as info:
            await check_connection(session, make_config(f"ws://127.0.0.1:{port}", api_user="u"))
        assert type(info.value) is error
        assert_clean_error(info.value)
    finally:
        server.close()
        await server.wait_closed()


async def test_session_timeout_is_a_connect_timeout(endpoint: Any) -> None:
    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(2)
        return web.Response(status=500)

    server = await endpoint(slow)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.2)) as short:
        with pytest.raises(ConnectTimeoutError, match="did not answer in time"):
            await check_connection(short, make_config(server.url), timeout=5)


async def test_client_connect_timeout_is_retried(session: aiohttp.ClientSession) -> None:
    held: list[asyncio.StreamWriter] = []
    server = await asyncio.start_server(lambda r, w: held.append(w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    recorder = Recorder()
    client = make_client(
        session, make_config(f"ws://127.0.0.1:{port}"), recorder, connect_timeout=0.1
    )
    task = asyncio.create_task(client.run())
    try:
        await recorder.until(lambda: bool(recorder.transitions))
        assert recorder.transitions == [
            (False, f"The PBX at 127.0.0.1:{port} did not answer in time")
        ]
        await eventually(lambda: len(held) >= 2)  # and it tries again
    finally:
        await client.close()
        await task
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("mode", ["abort", "bad_frame"])
async def test_connection_broken_below_websocket(
    endpoint: Any, session: aiohttp.ClientSession, mode: str
) -> None:
    async def behave(request: web.Request) -> web.StreamResponse:
        ws = await endpoint_ref[0].accept(request)
        await ws.send_bytes(etf.encode(FIELD_SPEC))
        await ws.send_bytes(etf.encode(SNAPSHOT))
        await asyncio.sleep(0.1)
        transport = request.transport
        assert transport is not None
        if mode == "abort":
            transport.abort()
        else:
            transport.write(b"\x8f\x05hello")  # reserved opcode 0xF: a WebSocket protocol error
        await asyncio.sleep(0.5)
        return ws

    endpoint_ref: list[Endpoint] = []
    server = await endpoint(behave)
    endpoint_ref.append(server)
    recorder = Recorder()
    client = make_client(session, make_config(server.url), recorder)
    task = asyncio.create_task(client.run())
    await recorder.until(lambda: len(recorder.transitions) >= 3)
    await client.close()
    await task
    assert recorder.transitions[0] == (True, None)
    connected, reason = recorder.transitions[1]
    assert not connected
    assert reason is not None
    assert ("failed" in reason) if mode == "bad_frame" else ("closed the connection" in reason)
    assert recorder.transitions[2] == (True, None)


async def test_check_connection_when_the_connection_drops_before_the_snapshot(
    endpoint: Any, session: aiohttp.ClientSession
) -> None:
    async def behave(request: web.Request) -> web.StreamResponse:
        ws = await endpoint_ref[0].accept(request)
        await ws.send_bytes(etf.encode(FIELD_SPEC))
        transport = request.transport
        assert transport is not None
        transport.abort()
        return ws

    endpoint_ref: list[Endpoint] = []
    server = await endpoint(behave)
    endpoint_ref.append(server)
    with pytest.raises(CannotConnectError, match="ended before the PBX sent its snapshot"):
        await check_connection(session, make_config(server.url))


async def test_term_callback_and_no_connection_callback(
    endpoint: Any, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    server = await serve(endpoint, lambda ref: frames_then_close(ref, [FIELD_SPEC, SNAPSHOT]))
    seen: list[Message] = []
    terms: list[Any] = []

    def on_term(term: Any) -> None:
        terms.append(term)
        raise RuntimeError("owner bug")

    client = CtiClient(session, make_config(server.url), seen.append, on_term=on_term)
    assert client.config.host == f"127.0.0.1:{server.port}"
    task = asyncio.create_task(client.run())
    await eventually(lambda: len(seen) == 2)
    await client.close()
    await task
    assert [term[0] for term in terms] == ["field_spec", "initial_info"]
    assert sum("term callback" in r.getMessage() for r in caplog.records) == 2


def test_retry_after_forms() -> None:
    assert client_module._retry_after({"Retry-After": "30"}) == 30.0
    assert client_module._retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert client_module._retry_after({}) is None


def test_notice_naming_a_takeover_is_a_limit() -> None:
    error = client_module._classify_close(make_config(), 1000, "", "replaced by a newer connection")
    assert isinstance(error, ConnectionLimitError)
    assert "took this connection over" in str(error)


def test_error_repr_names_the_facts() -> None:
    error = AuthenticationError("refused", status=401)
    assert repr(error) == "AuthenticationError('refused', status=401)"
    assert repr(CtiError("plain")) == "CtiError('plain')"
    assert issubclass(ConnectTimeoutError, CannotConnectError)


def test_package_exports_lazily() -> None:
    from custom_components.basix_cti import cti

    assert cti.CtiClient is CtiClient
    assert cti.decode is etf.decode
    assert cti.PbxState is PbxState
    assert set(cti.__all__) <= set(dir(cti))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = cti.nothing


async def test_unknown_host_is_cannot_connect(session: aiohttp.ClientSession) -> None:
    # .invalid never resolves (RFC 6761); the test plugin refuses DNS lookups anyway.
    with pytest.raises(CannotConnectError, match=r"nonexistent\.invalid could not be resolved"):
        await check_connection(session, make_config("nonexistent.invalid"))
