"""The ws_cti WebSocket client: connect, keep the connection alive, hand every message upward.

`CtiClient.run()` owns one connection at a time to `wss://SERVER/basix/api/ws_cti`. Each binary
frame is decoded (`etf`), parsed (`protocol.Parser`) and handed to `on_message` in arrival order;
frames that do not decode are reported once per interval and skipped. When the connection ends
the client reconnects with exponential backoff and full jitter; every new connection starts with
a fresh snapshot, so its owner's state is whole again after each reconnect. A refused token ends
`run()` with `AuthenticationError`: retrying it would only hammer the PBX. Connection changes are
logged at DEBUG only: the owner tells the user (once down, once back).

`check_connection()` is the one-shot form the config flow uses to test credentials.

How the server reports a refused token or a full connection limit is not documented (see
protocol.md, "Connection"): an HTTP status on the upgrade, a close code with a reason, or a
`system_msg` right before the close are all understood, by code and by keyword. Only a status or
a close code proves a refused token; words alone must repeat before `run()` believes them.

The API token never leaves this module except in the `Authorization` header (and the documented
`api_token` query parameter when an API user is configured): URLs are logged redacted, and every
text that came from elsewhere (aiohttp errors, server reasons) is scrubbed before it is logged
or put into an exception.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
import logging
import random
from typing import Any, Self
from urllib.parse import quote, urlsplit

import aiohttp
from yarl import URL

from . import etf
from .commands import Command
from .errors import (
    AuthenticationError,
    CannotConnectError,
    CommandNotConfirmedError,
    ConnectionLimitError,
    ConnectionTakenOverError,
    ConnectTimeoutError,
    CtiError,
    NotConnectedError,
    PossibleAuthenticationError,
    ProtocolError,
)
from .models import USER, Message, Notice, Snapshot, User
from .offload import collection_paused, release_later
from .problems import ProblemReporter, clip
from .protocol import Parser
from .sync import SYNC_SETTLE, SnapshotSync
from .terms import EtfDecodeError

_LOGGER = logging.getLogger(__name__)

WS_PATH = "/basix/api/ws_cti"
REDACTED = "**REDACTED**"

# The longest wait between two attempts: a PBX that is back after a long outage is found again
# within a minute (full jitter spreads the attempts of many clients over it).
MAX_BACKOFF = 50.0
# A connection that lived this long was healthy: the next reconnect starts from backoff_min.
# A snapshot alone proves nothing: a server that sends one and closes at once would otherwise be
# reconnected to (and send its whole PBX) every second, forever.
HEALTHY_AFTER = 60.0
# Attempts in a row (no data in between) whose close only *sounds* like a refused token before
# run() gives up: server wording is unknown, and a one-off ("authentication service maintenance")
# must not end in a reauth flow, while a real revocation still does.
AUTH_WORDS_ATTEMPTS = 3
# The close handshake with a healthy server takes milliseconds; a stalled one must not hold a
# reconnect (or Home Assistant's shutdown) for aiohttp's default 10 s.
_WS_TIMEOUT = aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0)
# A snapshot of a large PBX (thousands of users) can exceed aiohttp's 4 MiB default.
_MAX_FRAME = 16 * 1024 * 1024
# Where a frame is read (see _read_frame): decoding builds at most one term per byte of the
# term (its inflated size for a compressed frame, which the header declares up front), so a
# frame declaring at most ON_LOOP_BYTES decodes on the loop in a few milliseconds. Parsing
# costs far more per term (a two-byte record becomes a whole channel), so a frame of more than
# ON_LOOP_TERMS terms is parsed in the worker thread, as is all of any larger frame.
ON_LOOP_BYTES = 64 * 1024
ON_LOOP_TERMS = 1_000
# How much the client does on the event loop before it gives the loop a turn, whichever comes
# first: messages handed to the owner (one frame may hold hundreds of thousands of them), or
# seconds. Frames already buffered come back from `ws.receive()` without suspending, so a
# burst of them would otherwise be one callback, however long.
TURN_MESSAGES = 200
TURN_SECONDS = 0.01
# A system_msg this recent before a close explains that close.
_NOTICE_EXPLAINS_CLOSE = 10.0
# How long `check_connection(users=True)` waits after the first snapshot for the user list.
USER_SNAPSHOT_WAIT = 3.0
# How long a command may take to show in the PBX's channel events: a hang-up or a park is one
# event away, a transfer's new leg two; a PBX that acts does so well within this.
COMMAND_CONFIRM_TIMEOUT = 5.0
# What of the server's text answers to a command a log line repeats.
_REPLY_LOG_CHARS = 200
_REPLIES_KEPT = 5

# How the server may word a refused token or a full limit, in a close reason or a system_msg.
# Matched case-insensitively as substrings; the server's wording is unknown, so this is data.
AUTH_KEYWORDS = (
    "unauthori",
    "forbidden",
    "authenticat",
    "invalid token",
    "bad token",
    "invalid api",
    "revoked",
    "credential",
    "access denied",
    "permission denied",
)
LIMIT_KEYWORDS = ("limit", "too many", "max connections")
REPLACED_KEYWORDS = ("replaced", "taken over", "another connection", "newer connection")
# Close codes: 4xxx mirrors HTTP (4001/4401 unauthorized, 4003/4403 forbidden, 4029/4429 too
# many); 4000 is the code a forced connection's victim is closed with.
AUTH_CLOSE_CODES = frozenset({4001, 4003, 4401, 4403})
LIMIT_CLOSE_CODES = frozenset({4029, 4429})
REPLACED_CLOSE_CODES = frozenset({4000})


class ScopeKind(StrEnum):
    """What the connection monitors: the whole PBX, or one user named by one of its attributes."""

    PBX = "pbx"
    USER_ID = "user_id"
    USER_NAME = "user_name"
    USER_LABEL = "user_label"
    USER_EXTENSION = "user_extension"
    USER_DID = "user_did"
    USER_EMAIL = "user_email"


def _scope_kind(text: str) -> ScopeKind:
    try:
        return ScopeKind(text)
    except ValueError:
        known = ", ".join(kind.value for kind in ScopeKind)
        raise ValueError(f"unknown scope {text!r}: use one of {known}") from None


@dataclass(frozen=True)
class Scope:
    """The events a connection receives: `Scope.pbx()` for all, else those of one user."""

    kind: ScopeKind
    value: str | None = None

    def __post_init__(self) -> None:
        """Accept the kind as text; require a value for a user scope and none for the PBX."""
        kind = _scope_kind(self.kind)
        object.__setattr__(self, "kind", kind)
        if kind is ScopeKind.PBX:
            object.__setattr__(self, "value", None)
        elif self.value is None or not str(self.value).strip():
            raise ValueError(f"scope {kind.value} needs a value, e.g. {kind.value}=201")
        else:
            object.__setattr__(self, "value", str(self.value).strip())

    @classmethod
    def pbx(cls) -> Self:
        """Every event of the PBX (`full_events=true`)."""
        return cls(ScopeKind.PBX)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Read `pbx` or `KIND=VALUE` (e.g. `user_extension=201`), the form `str()` gives."""
        kind, _, value = text.strip().partition("=")
        return cls(_scope_kind(kind.strip()), value or None)

    def matches(self, user: User) -> bool:
        """Whether this scope names `user` (the whole PBX names everyone).

        The PBX's own rule is not documented: values are compared exactly as written, the
        strictest reading (an e-mail address in another case may not name anyone there).
        """
        if self.kind is ScopeKind.PBX:
            return True
        return bool(getattr(user, self.kind.value.removeprefix("user_")) == self.value)

    def query(self) -> list[tuple[str, str]]:
        """Return the query parameters that select this scope on the ws_cti endpoint."""
        if self.kind is ScopeKind.PBX:
            return [("full_events", "true")]
        assert self.value is not None  # __post_init__ guarantees it
        return [(self.kind.value, self.value)]

    def __str__(self) -> str:
        """`pbx` or `KIND=VALUE`."""
        return self.kind.value if self.kind is ScopeKind.PBX else f"{self.kind.value}={self.value}"


def _quote(value: str) -> str:
    # Percent-encode a query value the way the method page writes them: `@` stays readable
    # (user_email=xavier@somewhere.com), everything outside the unreserved set is escaped.
    return quote(value, safe="@:")


@dataclass(frozen=True, kw_only=True)
class CtiConfig:
    """Where and as whom to connect; the token is left out of `repr`.

    `server` is `host[:port]` (meaning `wss://`) or a full `ws://` / `wss://` URL, optionally
    with a path (default `/basix/api/ws_cti`); `https://` and `http://` are read as `wss://`
    and `ws://`. Credentials go in the `Authorization: Basic DOMAIN:TOKEN` header (the current
    client library's form); with an `api_user` they are also sent as the older README's
    `domain` / `api_user` / `api_token` query parameters.
    """

    server: str
    domain: str
    token: str = field(repr=False)
    api_user: str | None = None
    app_name: str = "home_assistant"
    scope: Scope = field(default_factory=Scope.pbx)
    forced: bool = False
    verify_tls: bool = True

    def __post_init__(self) -> None:
        """Check what can be checked without the network (messages never repeat the token)."""
        if not self.domain.strip():
            raise ValueError("the domain is empty")
        if not self.token:
            raise ValueError("the API token is empty")
        if not self.app_name.strip():
            raise ValueError("the app name is empty")
        if self.api_user is not None and not self.api_user.strip():
            object.__setattr__(self, "api_user", None)
        self._endpoint()  # raises ValueError for a server that is no URL

    def _endpoint(self) -> tuple[str, str, str]:
        """Scheme, netloc and path of the endpoint, from `server`."""
        text = self.server.strip()
        if not text:
            raise ValueError("the server is empty")
        if "://" not in text:
            text = f"wss://{text}"
        parts = urlsplit(text)
        scheme = {"wss": "wss", "https": "wss", "ws": "ws", "http": "ws"}.get(parts.scheme.lower())
        if scheme is None:
            raise ValueError(
                f"the server must be HOST[:PORT] or a ws:// or wss:// URL, not {parts.scheme}://"
            )
        if "@" in parts.netloc:
            # wss://DOMAIN:TOKEN@HOST is the library's form; keep credentials out of `server`,
            # whose repr is not redacted.
            raise ValueError("the server must not contain credentials: use domain and token")
        if parts.query or parts.fragment:
            raise ValueError("the server must not contain a query: give HOST[:PORT] or a URL path")
        if not parts.hostname:
            raise ValueError("the server has no host name")
        try:
            _ = parts.port  # validates the port
        except ValueError:
            raise ValueError("the server's port is not a number from 0 to 65535") from None
        path = parts.path.rstrip("/") or WS_PATH
        return scheme, parts.netloc, path

    @property
    def host(self) -> str:
        """`host[:port]` of the PBX: names it in messages and resolves relative avatar paths."""
        return self._endpoint()[1]

    def query(self, *, redact: bool = False) -> list[tuple[str, str]]:
        """Return the query parameters, in the order of the ws_cti method page."""
        params = [("app_name", self.app_name), *self.scope.query()]
        if self.forced:
            # The method page spells it `forced`, the 2023 README `force`: which one the
            # server reads is unknown, and each ignores the other, so both are sent.
            params += [("force", "true"), ("forced", "true")]
        if self.api_user is not None:
            params += [
                ("domain", self.domain),
                ("api_user", self.api_user),
                ("api_token", REDACTED if redact else self.token),
            ]
        return params

    def _url(self, *, redact: bool) -> str:
        scheme, netloc, path = self._endpoint()
        query = "&".join(
            f"{name}={value if redact and name == 'api_token' else _quote(value)}"
            for name, value in self.query(redact=redact)
        )
        return f"{scheme}://{netloc}{path}?{query}"

    def url(self) -> str:
        """Return the endpoint URL (it holds the token when an API user is set: never log it)."""
        return self._url(redact=False)

    def redacted_url(self) -> str:
        """Return the endpoint URL with the token replaced by `**REDACTED**`, for logs."""
        return self._url(redact=True)

    def headers(self) -> dict[str, str]:
        """Return the upgrade request's headers: `Authorization: Basic base64(domain:token)`."""
        return {"Authorization": f"Basic {self._basic_credentials()}"}

    def _basic_credentials(self) -> str:
        return base64.b64encode(f"{self.domain}:{self.token}".encode()).decode("ascii")

    def redact(self, text: str) -> str:
        """`text` with the token (raw, URL-encoded or inside Basic credentials) replaced."""
        for secret in {
            self.token,
            _quote(self.token),
            quote(self.token, safe=""),
            self._basic_credentials(),
        }:
            text = text.replace(secret, REDACTED)
        return text


@dataclass(slots=True)
class CtiStats:
    """Counters of a client's life, for diagnostics."""

    frames: int = 0
    bytes: int = 0
    messages: int = 0
    decode_errors: int = 0
    reconnects: int = 0
    connected_since: datetime | None = None
    last_error: str | None = None
    last_close_code: int | None = None


@dataclass(slots=True)
class _Seen:
    """What one connection's messages said so far that explains how it ends."""

    snapshot: bool = False
    # The last notice with a text, and when it came.
    notice: tuple[float, str] | None = None


@dataclass(slots=True)
class _Ending:
    """Why and how one connection ended."""

    error: CtiError
    healthy: bool = False
    had_data: bool = False


def _auth_error(
    config: CtiConfig, how: str, *, status: int | None = None, close_code: int | None = None
) -> AuthenticationError:
    who = (
        f"API user {config.api_user!r} of domain {config.domain!r}"
        if config.api_user
        else f"domain {config.domain!r}"
    )
    return AuthenticationError(
        f"The PBX at {config.host} refused the API token for {who} ({how}): check the domain and "
        "the API token (Basix admin portal, API settings); the token may have been revoked",
        status=status,
        close_code=close_code,
    )


def _limit_error(
    config: CtiConfig, how: str, *, status: int | None = None, close_code: int | None = None
) -> ConnectionLimitError:
    return ConnectionLimitError(
        f"The PBX at {config.host} refused the connection: it allows 2 connections per user and "
        f"app name, and app name {config.app_name!r} has them already ({how}). Close another "
        "client using that app name, choose another app name, or turn on 'forced' to take over "
        "the oldest connection",
        status=status,
        close_code=close_code,
    )


def _replaced_error(
    config: CtiConfig, how: str, *, close_code: int | None = None
) -> ConnectionTakenOverError:
    return ConnectionTakenOverError(
        f"Another client using app name {config.app_name!r} took this connection over ({how}): "
        "the PBX allows 2 connections per user and app name and closes the oldest for a 'forced' "
        "newcomer. Give each client its own app name",
        close_code=close_code,
    )


def _matches(text: str | None, keywords: tuple[str, ...]) -> bool:
    if not text:
        return False
    folded = text.casefold()
    return any(keyword in folded for keyword in keywords)


def _classify_close(
    config: CtiConfig, code: int | None, reason: str | None, notice: str | None
) -> CtiError:
    """Name why the server closed the connection, from its close code, reason and last notice.

    Codes decide first. Then the words of the reason and of a recent notice: a takeover or a
    limit in either wins over a refused token, as the wrong guess there is the permanent one
    ("connection limit: unauthorized app" is a limit). An `AuthenticationError` from words alone
    carries no auth close code: see `_proves_auth`.
    """
    # Redacted before clipping: a token cut in two by the clip would not be found.
    reason = clip(config.redact(reason)) if reason else None
    notice = clip(config.redact(notice)) if notice else None
    said = f": {reason!r}" if reason else ""
    how = f"close code {code}{said}" if code is not None else f"connection closed{said}"
    if code in AUTH_CLOSE_CODES:
        return _auth_error(config, how, close_code=code)
    if code in REPLACED_CLOSE_CODES:
        return _replaced_error(config, how, close_code=code)
    if code in LIMIT_CLOSE_CODES:
        return _limit_error(config, how, close_code=code)
    texts = [(reason, how)]
    if notice is not None:
        how = f"{how} after the notice {notice!r}"
        texts.append((notice, how))
    makers: tuple[tuple[tuple[str, ...], Callable[..., CtiError]], ...] = (
        (REPLACED_KEYWORDS, _replaced_error),
        (LIMIT_KEYWORDS, _limit_error),
        (AUTH_KEYWORDS, _auth_error),
    )
    for keywords, make in makers:
        for text, told in texts:
            if _matches(text, keywords):
                return make(config, told, close_code=code)
    return CannotConnectError(
        f"The PBX at {config.host} closed the connection ({how})", close_code=code
    )


def _proves_auth(error: AuthenticationError) -> bool:
    """Whether a status or close code (not just words) says the token was refused."""
    return error.status in (401, 403) or error.close_code in AUTH_CLOSE_CODES


async def _read_frame(parser: Parser, data: bytes) -> tuple[etf.Frame, list[Message]]:
    """Decode and parse one frame, in order; raises EtfDecodeError for a malformed one.

    The snapshot of a large PBX takes a few hundred milliseconds to read (10,000 channels:
    about 0.8 s), too long to hold the caller's event loop: costly frames are read in a worker
    thread. What a frame costs is judged before it is read, by the size of the term it
    declares (a 2 KB compressed frame may inflate to 16 MiB), and again once it is decoded, by
    its terms. The next frame waits for this one, so the order is kept.
    """
    loop = asyncio.get_running_loop()
    if etf.declared_size(data) > ON_LOOP_BYTES:
        return await loop.run_in_executor(None, _decode_and_parse, parser, data)
    frame = etf.decode_frame(data)  # raises EtfDecodeError and nothing else
    if frame.terms > ON_LOOP_TERMS:
        return frame, await loop.run_in_executor(None, _parse, parser, frame.term)
    return frame, parser.feed(frame.term)  # never raises: a frame it cannot read is reported


class _Pacer:
    """Says when the client's task has held the event loop for long enough to yield.

    A turn the loop had for any reason (the socket had nothing buffered, the owner awaited
    something) starts the count again, from the first work counted after it: a callback
    queued with `call_soon` runs only on such a turn.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._work = 0
        self._since = loop.time()
        self._turned = False
        loop.call_soon(self._turn)

    def _turn(self) -> None:
        self._turned = True

    def due(self, work: int = 1) -> bool:
        """Count `work` (a message, a frame); whether the loop should get a turn now."""
        if self._turned:
            self._work, self._since, self._turned = 0, self._loop.time(), False
            self._loop.call_soon(self._turn)
        self._work += work
        return self._work >= TURN_MESSAGES or self._loop.time() - self._since >= TURN_SECONDS

    async def turn(self) -> None:
        """Give the loop its turn."""
        await asyncio.sleep(0)


def _decode_and_parse(parser: Parser, data: bytes) -> tuple[etf.Frame, list[Message]]:
    with collection_paused():
        frame = etf.decode_frame(data)
        return frame, parser.feed(frame.term)


def _parse(parser: Parser, term: Any) -> list[Message]:
    with collection_paused():
        return parser.feed(term)


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare enough to fall back to plain backoff


def _handshake_error(config: CtiConfig, err: aiohttp.WSServerHandshakeError) -> CtiError:
    status = err.status
    how = f"HTTP {status}"
    if status in (401, 403):
        return _auth_error(config, how, status=status)
    if status == 429:
        return _limit_error(config, how, status=status)
    if status == 101:
        return ProtocolError(
            f"The server at {config.host} accepted the WebSocket upgrade but answered it wrongly "
            f"({config.redact(str(err.message))}): is a proxy in the way?",
            status=status,
        )
    if status == 404:
        return CannotConnectError(
            f"The server at {config.host} has no ws_cti endpoint at {config.redacted_url()} "
            "(HTTP 404): check the server name (e.g. bcs.brastel.com) and the URL path",
            status=status,
        )
    if status >= 500:
        return CannotConnectError(
            f"The PBX at {config.host} could not take the connection (HTTP {status}): "
            "the server has a problem; it will be retried",
            status=status,
        )
    return CannotConnectError(
        f"The server at {config.host} did not accept the WebSocket connection (HTTP {status}): "
        "check that the server is a Basix PBX",
        status=status,
    )


async def _open(
    session: aiohttp.ClientSession, config: CtiConfig, *, heartbeat: float | None
) -> aiohttp.ClientWebSocketResponse:
    """Open one WebSocket connection; every failure becomes a typed, token-free `CtiError`.

    Exceptions are raised `from None`: aiohttp's texts include the request URL, which holds the
    token in the older credential form, and a chained cause would print it in tracebacks.
    """
    host = config.host
    try:
        return await session.ws_connect(
            # encoded=True: send the query exactly as built, not re-quoted by yarl.
            URL(config.url(), encoded=True),
            headers=config.headers(),
            heartbeat=heartbeat,
            compress=0,
            ssl=config.verify_tls,  # False only when the user opted out (self-hosted PBX)
            timeout=_WS_TIMEOUT,
            max_msg_size=_MAX_FRAME,
        )
    except aiohttp.WSServerHandshakeError as err:
        error = _handshake_error(config, err)
        error.retry_after = _retry_after(err.headers)
        raise error from None
    except aiohttp.ClientConnectorCertificateError as err:
        raise CannotConnectError(
            f"The TLS certificate of {host} could not be verified "
            f"({config.redact(str(err.certificate_error))}): if the PBX is self-hosted with its "
            "own certificate, turn off certificate verification"
        ) from None
    except aiohttp.ClientSSLError as err:
        raise CannotConnectError(
            f"TLS with {host} failed ({config.redact(str(err))}): check the server name and "
            "port, and whether the server speaks wss:// (TLS) or ws://"
        ) from None
    except aiohttp.ClientConnectorDNSError:
        raise CannotConnectError(
            f"The server name {host} could not be resolved: check its spelling and the network"
        ) from None
    except aiohttp.ClientConnectorError as err:
        raise CannotConnectError(
            f"Cannot connect to {host} ({config.redact(str(err.os_error.strerror or err))}): "
            "check the server name and port, and the network"
        ) from None
    except TimeoutError:
        # aiohttp's own timeouts (ServerTimeoutError, ConnectionTimeoutError) are TimeoutErrors.
        raise ConnectTimeoutError(f"The PBX at {host} did not answer in time") from None
    except (aiohttp.ClientError, OSError) as err:
        raise CannotConnectError(
            f"Cannot connect to {host} ({type(err).__name__}: {config.redact(str(err))})"
        ) from None


class CtiClient:
    """One ws_cti connection kept alive for its owner, who receives each message in order.

    `on_message(message)` is called for every parsed message, strictly in arrival order, from
    the task running `run()`; when it returns an awaitable (a coroutine applying a large
    snapshot in steps, say), the next message waits for it. `on_connection(connected,
    reason)` is called on each change of the connection: `(True, None)` once the PBX sends its data (the first message that is not a
    notice, before that message is handed over), `(False, reason)` when it ends or an attempt
    fails with a reason different from the last one reported (so a limit or a refused token is
    surfaced even when no connection was ever up). Both callbacks must not block; an exception
    in one is logged and does not end the connection.

    A refused token ends `run()` with `AuthenticationError` only when it is certain: HTTP 401 or
    403 on the upgrade, or a close code in `AUTH_CLOSE_CODES`. A close whose reason or preceding
    notice merely sounds like one is retried like any failure, and believed only after
    `AUTH_WORDS_ATTEMPTS` such closes in a row with no data in between.

    Reconnects back off exponentially with full jitter. The backoff starts again from
    `backoff_min` only after a connection that lived `HEALTHY_AFTER` seconds and was not ended
    by the connection limit or a takeover (two forced clients would take turns evicting each
    other): a server that sends its snapshot and closes at once is not retried every second.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        config: CtiConfig,
        on_message: Callable[[Message], Awaitable[None] | None],
        on_connection: Callable[[bool, str | None], None] | None = None,
        *,
        heartbeat: float | None = 30.0,
        backoff_min: float = 1.0,
        backoff_max: float = MAX_BACKOFF,
        reporter: ProblemReporter | None = None,
        connect_timeout: float = 30.0,
        on_term: Callable[[Any], None] | None = None,
    ) -> None:
        """Prepare a client; nothing connects until `run()`.

        `session` is the caller's (Home Assistant's shared one): the client never creates or
        closes a session. `heartbeat` is the WebSocket ping interval: a connection whose server
        stops answering is noticed within about 1.5 times it. `on_term` (for the monitor's raw
        mode) receives each decoded term before it is parsed.
        """
        if backoff_min <= 0 or backoff_max < backoff_min:
            raise ValueError("backoff needs 0 < backoff_min <= backoff_max")
        self._session = session
        self._config = config
        self._on_message = on_message
        self._on_connection = on_connection
        self._on_term = on_term
        self._heartbeat = heartbeat if heartbeat and heartbeat > 0 else None
        self._backoff_min = backoff_min
        self._backoff_max = backoff_max
        self._connect_timeout = connect_timeout
        self._reporter = reporter if reporter is not None else ProblemReporter(_LOGGER)
        self._parser = Parser(reporter=self._reporter, server=config.host)
        self._random = random.Random()
        self.stats = CtiStats()
        self._connected = False
        self._reported: tuple[bool, str | None] | None = None
        self._closed = False
        self._run_task: asyncio.Task[Any] | None = None
        self._close_cancels = 0
        self._ever_connected = False
        self._last_error: CtiError | None = None
        # connect(): the task it started, and how its first connection went.
        self._task: asyncio.Task[None] | None = None
        self._first: asyncio.Future[None] | None = None
        self._crashes_logged: set[str] = set()
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._commands: list[_PendingCommand] = []

    def __repr__(self) -> str:
        """Where the client connects (redacted) and whether it is connected."""
        return f"<CtiClient {self._config.redacted_url()} connected={self._connected}>"

    @property
    def config(self) -> CtiConfig:
        """The configuration this client connects with."""
        return self._config

    @property
    def connected(self) -> bool:
        """Whether a connection is up right now."""
        return self._connected

    @property
    def last_error(self) -> CtiError | None:
        """Why the last connection or attempt ended, as the typed error; None before any."""
        return self._last_error

    @property
    def closed(self) -> bool:
        """Whether `close()` was called: the client will not connect again."""
        return self._closed

    async def close(self) -> None:
        """Stop for good: end the connection and make `run()` return. Safe to call again."""
        self._closed = True
        task = self._run_task
        if task is None or task.done() or task is asyncio.current_task():
            return
        # Cancelling is the one way to interrupt every await of run() (connecting, reading,
        # waiting to retry) at once; run() recognizes this cancel as its own and returns.
        self._close_cancels += 1
        task.cancel("CtiClient closed")
        await asyncio.wait([task])

    async def connect(self, *, timeout: float = 30.0) -> None:  # noqa: ASYNC109 - API
        """Connect, and return once this connection is in sync with the PBX.

        In sync means every snapshot the PBX announced has been handed to `on_message` (see
        `sync.py`), and `on_connection(True, None)` has been called. The connection then lives
        on in a task of the client's own, reconnecting as `run()` does, until `close()`;
        `wait_closed()` says how it ended.

        Raises the typed error of the first connection: `AuthenticationError` (a refusal said
        only in words is retried first, as `run()` does), `ConnectionLimitError`,
        `CannotConnectError`, or `ConnectTimeoutError` when the PBX is not in sync within
        `timeout` seconds. The client is closed then.
        """
        if self._task is not None or self._run_task is not None:
            raise RuntimeError("CtiClient is already running")
        first = self._first = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self.run(), name=f"ws_cti {self._config.host}")
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(first)
        except TimeoutError:
            await self._abandon()
            raise ConnectTimeoutError(
                f"The PBX at {self._config.host} did not send its snapshots within {timeout:g} s"
            ) from None
        except BaseException:
            await self._abandon()
            raise

    async def _abandon(self) -> None:
        """Close after a failed `connect()`; what the task and the future held was told."""
        await self.close()
        for done in (self._first, self._task):
            if done is not None and done.done() and not done.cancelled():
                done.exception()  # retrieved: raised by connect() already, or moot
            elif done is not None:
                done.cancel()

    async def wait_closed(self) -> None:
        """Wait until the connection `connect()` opened ends for good.

        Returns after `close()`; raises `AuthenticationError` when the PBX refused the token
        (the client stops then: retrying a revoked token would only hammer the PBX). Cancelling
        the wait leaves the connection alone.
        """
        if self._task is None:
            raise RuntimeError("CtiClient.connect() was not called")
        await asyncio.shield(self._task)

    def _first_ended(self, error: CtiError | None) -> None:
        """Tell `connect()` how the first connection went (None: in sync)."""
        first = self._first
        if first is None or first.done():
            return
        if error is None:
            first.set_result(None)
        else:
            first.set_exception(error)

    async def run(self) -> None:
        """Connect and keep connecting until closed or cancelled.

        Returns when `close()` is called; re-raises an outside cancellation after cleaning up.
        Raises `AuthenticationError` when the PBX refuses the credentials (first connect or
        reconnect; see the class docstring for when a refusal counts). Every other failure is
        retried with backoff and reported via `on_connection` and `stats.last_error`.
        """
        if self._run_task is not None:
            raise RuntimeError("CtiClient.run() is already running")
        task = asyncio.current_task()
        assert task is not None  # run() is always awaited inside a task
        self._run_task = task
        failures = 0
        auth_words = 0  # closes in a row that only sounded like a refused token
        try:
            while not self._closed:
                try:
                    ending = await self._connection()
                except Exception as err:  # noqa: BLE001 - a bug must not end it for good
                    ending = self._crashed(err)
                error = ending.error
                if isinstance(error, AuthenticationError) and not _proves_auth(error):
                    auth_words = 1 if ending.had_data else auth_words + 1
                    if auth_words < AUTH_WORDS_ATTEMPTS:
                        ending.error = PossibleAuthenticationError(
                            f"{error} (said in words only: retrying in case it was temporary)",
                            close_code=error.close_code,
                        )
                else:
                    auth_words = 0
                self._note_ending(ending)
                if not isinstance(ending.error, PossibleAuthenticationError):
                    self._first_ended(ending.error)
                if isinstance(ending.error, AuthenticationError):
                    _LOGGER.debug("Giving up on %s: %s", self._config.redacted_url(), ending.error)
                    raise ending.error
                failures = 1 if ending.healthy else failures + 1
                delay = self._backoff_delay(failures, ending.error.retry_after)
                self._log_retry(ending, delay)
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            if self._closed and task.cancelling() <= self._close_cancels:
                # Our own close(): a clean end, not an error for whoever awaits run().
                while task.cancelling():
                    task.uncancel()
                return
            raise
        finally:
            self._run_task = None
            if self._connected:
                self._set_connected(False, "closed" if self._closed else "cancelled")
            self._first_ended(
                CannotConnectError(f"The connection to {self._config.host} was closed")
            )

    def _crashed(self, err: Exception) -> _Ending:
        """A connection ended on an unexpected exception: say why once, then reconnect."""
        kind = type(err).__name__
        if kind not in self._crashes_logged:
            self._crashes_logged.add(kind)
            _LOGGER.error(
                "The connection to %s failed unexpectedly (a bug: please report it); reconnecting",
                self._config.host,
                exc_info=(type(err), err, err.__traceback__),
            )
        else:
            _LOGGER.debug("The connection to %s failed again on %s", self._config.host, kind)
        return _Ending(CannotConnectError(f"The connection to {self._config.host} failed ({kind})"))

    def _backoff_delay(self, failures: int, retry_after: float | None) -> float:
        # Full jitter (AWS architecture blog): uniform over [0, min(cap, base * 2^n)], so that
        # many clients cut off by one server restart do not come back in lockstep.
        ceiling = min(self._backoff_max, self._backoff_min * 2 ** min(failures - 1, 32))
        delay = self._random.uniform(0, ceiling)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self._backoff_max))
        return delay

    def _log_retry(self, ending: _Ending, delay: float) -> None:
        _LOGGER.debug(
            "Connection to %s ended (%s); reconnecting in %.1f s",
            self._config.redacted_url(),
            ending.error,
            delay,
        )

    def _note_ending(self, ending: _Ending) -> None:
        self._last_error = ending.error
        reason = str(ending.error)
        self.stats.last_error = reason
        if ending.error.close_code is not None:
            self.stats.last_close_code = ending.error.close_code
        self._set_connected(False, reason)

    def _set_connected(self, connected: bool, reason: str | None) -> None:
        """Record and announce a connection change (repeats of one failure are announced once)."""
        was = self._connected
        self._connected = connected
        if connected:
            self.stats.connected_since = datetime.now(UTC)
        elif was:
            self.stats.connected_since = None
        state = (connected, reason)
        if state == self._reported:
            return
        self._reported = state
        if self._on_connection is not None:
            try:
                self._on_connection(connected, reason)
            except Exception:
                _LOGGER.exception("Error in the connection callback of %s", self._config.host)

    async def _connection(self) -> _Ending:
        """Open one connection, read it to its end, and say why it ended."""
        config = self._config
        try:
            async with asyncio.timeout(self._connect_timeout):
                ws = await _open(self._session, config, heartbeat=self._heartbeat)
        except TimeoutError:
            return _Ending(ConnectTimeoutError(f"The PBX at {config.host} did not answer in time"))
        except CtiError as err:
            return _Ending(err)
        loop = asyncio.get_running_loop()
        started = loop.time()
        # Each connection starts with its own field_specs and snapshots.
        self._parser.reset()
        self._ws = ws
        _LOGGER.debug("WebSocket to %s open", config.redacted_url())
        seen = _Seen()
        close_code: int | None = None
        close_reason: str | None = None
        error: BaseException | None = None
        sync = SnapshotSync()
        settle: asyncio.TimerHandle | None = None
        pacer = _Pacer(loop)

        def settled() -> None:
            if sync.settle():
                self._announce_connected()

        try:
            while True:
                if pacer.due():
                    await pacer.turn()
                msg = await ws.receive()
                if msg.type is aiohttp.WSMsgType.BINARY:
                    if await self._handle_frame(msg.data, seen, sync, pacer):
                        # After the frame's messages: the owner has applied every snapshot.
                        self._announce_connected()
                    elif sync.started and not sync.in_sync:
                        if settle is not None:
                            settle.cancel()
                        settle = loop.call_later(SYNC_SETTLE, settled)
                elif msg.type is aiohttp.WSMsgType.TEXT and self._note_reply(msg.data):
                    self.stats.frames += 1
                elif msg.type is aiohttp.WSMsgType.TEXT:
                    self.stats.frames += 1
                    self._reporter.report(
                        "text_frame",
                        "Ignored a text frame from %s: ws_cti sends binary ETF frames only",
                        config.host,
                    )
                elif msg.type is aiohttp.WSMsgType.CLOSE:
                    close_code, close_reason = msg.data, msg.extra
                    break
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    error = msg.data
                    break
                else:  # CLOSING, CLOSED
                    break
        finally:
            if settle is not None:
                settle.cancel()
            self._ws = None
            await ws.close()
        if close_code is None:
            close_code = ws.close_code
        lived = loop.time() - started
        notice = seen.notice
        recent_notice = (
            notice[1] if notice and loop.time() - notice[0] <= _NOTICE_EXPLAINS_CLOSE else None
        )
        if error is not None:
            if isinstance(error, TimeoutError):
                ending_error: CtiError = ConnectTimeoutError(
                    f"The PBX at {config.host} stopped answering (no pong within "
                    f"{(self._heartbeat or 0) * 1.5:.1f} s)",
                    close_code=close_code,
                )
            else:
                ending_error = CannotConnectError(
                    f"The connection to {config.host} failed "
                    f"({type(error).__name__}: {config.redact(str(error))})",
                    close_code=close_code,
                )
        else:
            ending_error = _classify_close(config, close_code, close_reason, recent_notice)
        _LOGGER.debug(
            "Connection to %s lived %.1f s, %s snapshot, close code %s",
            config.host,
            lived,
            "with" if seen.snapshot else "without",
            close_code,
        )
        # A takeover by another client ends a connection that was fine until then; resetting
        # the backoff after it would let two forced clients kick each other out every second.
        healthy = lived >= HEALTHY_AFTER and not isinstance(ending_error, ConnectionLimitError)
        # Connected means the PBX sent data (see _announce_connected), not just a notice.
        return _Ending(ending_error, healthy=healthy, had_data=self._connected)

    async def _handle_frame(
        self, data: bytes, seen: _Seen, sync: SnapshotSync, pacer: _Pacer
    ) -> bool:
        """Decode and parse one binary frame; hand its messages to the owner, in order.

        Returns whether its messages brought the connection in sync. The loop gets a turn
        after at most `TURN_MESSAGES` messages: what one turn costs is bounded by the
        messages, whatever the frame holds.
        """
        self.stats.frames += 1
        self.stats.bytes += len(data)
        try:
            frame, messages = await _read_frame(self._parser, data)
        except EtfDecodeError as err:
            self._decode_failed(data, err.reason, err.offset)
            return False
        if frame.trailing:
            self._reporter.report(
                "trailing_bytes",
                "Read a frame from %s with %d bytes after its term, which Erlang ignores too",
                self._config.host,
                frame.trailing,
            )
        if self._on_term is not None:
            try:
                self._on_term(frame.term)
            except Exception:
                _LOGGER.exception("Error in the term callback of %s", self._config.host)
        in_sync = await self._deliver(messages, seen, sync, pacer)
        if frame.terms > ON_LOOP_TERMS:
            # Freeing a million terms takes as long as building them: let the worker do it,
            # without waiting for it (nothing depends on it; what the owner kept of the
            # messages stays alive, of course).
            held = [frame.term, messages]
            del frame, messages
            release_later(held)
        return in_sync

    async def _deliver(
        self, messages: list[Message], seen: _Seen, sync: SnapshotSync, pacer: _Pacer
    ) -> bool:
        """Hand `messages` to the owner, yielding when a turn is due; say if they brought sync.

        An owner that returns an awaitable (a large snapshot applied in steps) is awaited
        before the next message is handed over: the order stays the PBX's.
        """
        loop = asyncio.get_running_loop()
        in_sync = False
        for message in messages:
            self.stats.messages += 1
            if isinstance(message, Notice):
                if message.text:
                    seen.notice = (loop.time(), message.text)
            elif isinstance(message, Snapshot):
                seen.snapshot = True
            try:
                if (pending := self._on_message(message)) is not None:
                    await pending
            except Exception:
                _LOGGER.exception("Error in the message callback of %s", self._config.host)
            if self._commands:
                self._confirm_commands(message)
            in_sync |= sync.note(message, self._parser.field_specs)
            if pacer.due():
                await pacer.turn()
        return in_sync

    async def send_command(
        self,
        command: Command,
        *,
        confirm_within: float = COMMAND_CONFIRM_TIMEOUT,
    ) -> None:
        """Send `command` on the live connection; return once the PBX's events show it done.

        Raises `NotConnectedError` when there is no connection to send it on (or it breaks while
        sending), and `CommandNotConfirmedError` when no channel event shows the command carried
        out within `confirm_within` seconds (the PBX ignored or refused it; a log line, once per
        interval, says what was sent and what came back). The owner's `on_message` has seen the
        confirming message by the time this returns.
        """
        ws = self._ws
        host = self._config.host
        if ws is None or ws.closed or not self._connected:
            raise NotConnectedError(
                f"Not connected to the PBX at {host} right now: the command was not sent"
            )
        pending = _PendingCommand(command, asyncio.get_running_loop().create_future())
        self._commands.append(pending)
        try:
            try:
                await ws.send_str(command.text())
            except (ConnectionError, RuntimeError, aiohttp.ClientError) as err:
                raise NotConnectedError(
                    f"The connection to the PBX at {host} broke while sending the command "
                    f"({type(err).__name__})"
                ) from None
            _LOGGER.debug("Sent %s to %s", command.describe(), host)
            try:
                async with asyncio.timeout(confirm_within):
                    await pending.done
            except TimeoutError:
                self._command_not_confirmed(pending, confirm_within)
                raise CommandNotConfirmedError(
                    f"The PBX at {host} did not act on the {command.name.value} command: no "
                    f"channel event showed it done within {confirm_within:g} s",
                    command=command.name.value,
                    seconds=confirm_within,
                ) from None
        finally:
            self._commands.remove(pending)

    def _confirm_commands(self, message: Message) -> None:
        for pending in self._commands:
            command = pending.command
            if pending.done.done():
                continue
            if command.confirmed_by(message):
                pending.done.set_result(None)
            elif (uuid := _channel_uuid(message)) and uuid in command.related:
                # The channel's own last_event says more than the current generation's
                # added/updated/removed.
                item = getattr(message, "item", None)
                said = getattr(item, "last_event", None) or getattr(message, "event", None)
                pending.events.append(str(said or "change"))

    def _note_reply(self, text: str) -> bool:
        """Keep a text frame as an answer to the commands waiting; False when none waits."""
        if not self._commands:
            return False
        for pending in self._commands:
            if len(pending.replies) < _REPLIES_KEPT:
                reply = pending.command.scrub(self._config.redact(text))
                pending.replies.append(reply[:_REPLY_LOG_CHARS])
        return True

    def _command_not_confirmed(self, pending: _PendingCommand, seconds: float) -> None:
        replies = "; ".join(repr(reply) for reply in pending.replies) or "no text answer"
        events = ", ".join(pending.events) or "none"
        self._reporter.report(
            f"command_{pending.command.name.value}",
            "The PBX at %s did not act on %s within %g s (answers: %s; events of the call: %s)",
            self._config.host,
            pending.command.describe(),
            seconds,
            replies,
            events,
        )

    def _announce_connected(self) -> None:
        # Announced once the connection is in sync (sync.py), not at the upgrade nor at the
        # first frame: until its snapshots are in, the owner's state is the one from before an
        # outage. And a server enforcing its limit may accept the upgrade only to send a notice
        # and close: its owner should see one refusal then, not a connection that flaps.
        if self._ever_connected:
            self.stats.reconnects += 1
            _LOGGER.debug("Reconnected to %s", self._config.redacted_url())
        else:
            _LOGGER.debug("Connected to %s", self._config.redacted_url())
        self._ever_connected = True
        # The error of an earlier ending no longer describes this connection: an owner looking
        # at last_error when it later ends with "closed" must not see a stale limit.
        self._last_error = None
        self._set_connected(True, None)
        self._first_ended(None)

    def _decode_failed(self, data: bytes, reason: str, offset: int) -> None:
        self.stats.decode_errors += 1
        self._reporter.report(
            "decode",
            "Skipped a frame from %s that is not valid ETF (%s at byte %d of %d)",
            self._config.host,
            reason,
            offset,
            len(data),
        )
        # The bytes themselves only at DEBUG: a WARNING must stay one readable line.
        _LOGGER.debug("Undecodable frame, first 64 bytes: %s", data[:64].hex())


@dataclass(slots=True)
class _PendingCommand:
    """A command sent and not yet seen done, with what the server said meanwhile."""

    command: Command
    done: asyncio.Future[None]
    replies: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)


def _channel_uuid(message: Message) -> str | None:
    item = getattr(message, "item", None)
    return getattr(item, "uuid", None) if item is not None else None


async def check_connection(
    session: aiohttp.ClientSession,
    config: CtiConfig,
    *,
    timeout: float = 10.0,  # noqa: ASYNC109 - the config flow API
    users: bool = False,
) -> list[Message]:
    """Connect once and return the messages up to and including the first snapshot.

    With `users`, reading goes on after the first snapshot until the user snapshot too (the
    config flow offers the PBX's users to pick from), for at most `USER_SNAPSHOT_WAIT` seconds
    more: a PBX of the older generation sends no user list at all.

    Raises `AuthenticationError`, `ConnectionLimitError`, `CannotConnectError`,
    `ConnectTimeoutError` (no snapshot within `timeout` seconds) or `ProtocolError` (the server
    sent only frames that are not ws_cti messages).
    """
    reporter = ProblemReporter(_LOGGER)
    parser = Parser(reporter=reporter, server=config.host)
    messages: list[Message] = []
    bad_frames = 0
    ws: aiohttp.ClientWebSocketResponse | None = None
    notice: str | None = None
    _LOGGER.debug("Checking the connection to %s", config.redacted_url())
    snapshot_seen = False
    try:
        async with asyncio.timeout(timeout) as deadline:
            ws = await _open(session, config, heartbeat=None)
            while True:
                msg = await ws.receive()
                if msg.type is aiohttp.WSMsgType.BINARY:
                    try:
                        _, read = await _read_frame(parser, msg.data)
                    except EtfDecodeError as err:
                        bad_frames += 1
                        reporter.report(
                            "decode",
                            "Skipped a frame from %s that is not valid ETF (%s at byte %d)",
                            config.host,
                            err.reason,
                            err.offset,
                        )
                        continue
                    for message in read:
                        messages.append(message)
                        if isinstance(message, Snapshot):
                            if not users or message.entity == USER:
                                return messages
                            if not snapshot_seen:
                                snapshot_seen = True
                                wait_until = asyncio.get_running_loop().time() + USER_SNAPSHOT_WAIT
                                if wait_until < (deadline.when() or wait_until):
                                    deadline.reschedule(wait_until)
                        if isinstance(message, Notice) and message.text:
                            notice = message.text
                elif msg.type is aiohttp.WSMsgType.TEXT:
                    bad_frames += 1
                elif snapshot_seen:
                    return messages  # closed after its snapshots: still a working connection
                elif msg.type is aiohttp.WSMsgType.CLOSE:
                    error = _classify_close(config, msg.data, msg.extra, notice)
                    if type(error) is CannotConnectError and bad_frames and not messages:
                        raise _not_ws_cti(config, bad_frames)
                    raise error
                else:
                    raise CannotConnectError(
                        f"The connection to {config.host} ended before the PBX sent its snapshot",
                        close_code=ws.close_code,
                    )
    except TimeoutError:
        if snapshot_seen:
            return messages  # no user list: an older PBX
        if bad_frames and not messages:
            raise _not_ws_cti(config, bad_frames) from None
        raise ConnectTimeoutError(
            f"The PBX at {config.host} did not send its snapshot within {timeout:g} s"
        ) from None
    finally:
        if ws is not None:
            await ws.close()


def _not_ws_cti(config: CtiConfig, bad_frames: int) -> ProtocolError:
    return ProtocolError(
        f"The server at {config.host} sent {bad_frames} frame(s) that are not ws_cti messages: "
        "check that the server is a Basix PBX"
    )
