"""Watch a Basix PBX from a terminal: `python -m custom_components.basix_cti.cti monitor ...`.

The first thing to try against a real PBX, and what to paste into a bug report: every message
the integration would receive, one JSON object per line on stdout; connection changes and
problems on stderr. The API token is read from `BASIX_TOKEN` (keeps it out of shell history) or
`--token`, and never printed: every line written is scrubbed of it.

    BASIX_TOKEN=... python -m custom_components.basix_cti.cti monitor
        --server bcs.brastel.com --domain example.basix --scope user_extension=201

The exit status says how it went, for scripts: 0 connected to the end, 3 the token was refused,
4 the PBX refused the connection (its connection limit, or another client took over), 5 the
PBX could not be reached (at the start, or when the run ended).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
import getpass
import json
import logging
import os
import sys
from typing import Any, TextIO

import aiohttp

from .calls import CallTracker
from .client import CtiClient, CtiConfig, Scope
from .errors import AuthenticationError, ConnectionLimitError, CtiError
from .export import to_json
from .models import Message
from .store import PbxState

TOKEN_ENV = "BASIX_TOKEN"
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_REFUSED = 4
EXIT_UNREACHABLE = 5
# How long the first connection may take to be in sync before the monitor gives up.
CONNECT_TIMEOUT = 30.0
EXIT_INTERRUPTED = 130


def message_line(message: Any, kind: str | None = None) -> str:
    """One JSON line for a message: `{"type": ClassName, ...its fields}`."""
    body = to_json(message)
    data = {"type": kind or type(message).__name__}
    data.update(body if isinstance(body, dict) else {"value": body})
    return json.dumps(data, ensure_ascii=False)


class _RedactingFormatter(logging.Formatter):
    """A log formatter that scrubs the token from every line, whoever wrote it."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        """Format as usual, then replace any trace of the token."""
        return self._redact(super().format(record))


def build_parser() -> argparse.ArgumentParser:
    """Return the command line parser."""
    parser = argparse.ArgumentParser(
        prog="python -m custom_components.basix_cti.cti",
        description="Tools for the Basix ws_cti event stream.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    monitor = commands.add_parser(
        "monitor",
        help="print every message of a PBX as JSON lines",
        description=(
            "Connect to a Basix PBX and print each message as one JSON line on stdout; "
            "connection changes go to stderr. The API token comes from --token or, better "
            f"(it stays out of shell history), the environment variable {TOKEN_ENV}."
        ),
    )
    monitor.add_argument(
        "--server", required=True, help="HOST[:PORT] (wss) or a ws:// or wss:// URL"
    )
    monitor.add_argument("--domain", required=True, help="the PBX domain, e.g. example.basix")
    monitor.add_argument("--token", help=f"the API token (default: ${TOKEN_ENV})")
    monitor.add_argument("--api-user", help="API user, for the older query-parameter credentials")
    monitor.add_argument(
        "--app-name",
        default="home_assistant_monitor",
        help="connection limits count per app name (default: %(default)s)",
    )
    monitor.add_argument(
        "--scope",
        default="pbx",
        help="pbx (every event, default) or KIND=VALUE with KIND one of user_id, user_name, "
        "user_label, user_extension, user_did, user_email",
    )
    monitor.add_argument(
        "--forced",
        action="store_true",
        help="take over the oldest connection when the limit is reached",
    )
    monitor.add_argument(
        "--insecure",
        action="store_true",
        help="do not verify the TLS certificate (self-hosted PBX)",
    )
    monitor.add_argument(
        "--raw", action="store_true", help="also print each decoded Erlang term before its messages"
    )
    monitor.add_argument(
        "--no-calls",
        action="store_true",
        help="do not print the call events derived from the channels",
    )
    monitor.add_argument(
        "--duration", type=float, help="stop after this many seconds (default: run until Ctrl-C)"
    )
    monitor.add_argument(
        "--heartbeat",
        type=float,
        default=30.0,
        help="WebSocket ping interval in seconds (default: %(default)s)",
    )
    monitor.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    return parser


class Monitor:
    """Print what one client receives; keeps a PbxState to derive call events like Home Assistant."""

    def __init__(self, config: CtiConfig, out: TextIO, err: TextIO, *, calls: bool) -> None:
        """Write messages to `out`, connection changes to `err`."""
        self._config = config
        self._out = out
        self._err = err
        self._state = PbxState()
        self._calls = CallTracker(self._state) if calls else None

    def _write(self, line: str) -> None:
        self._out.write(self._config.redact(line) + "\n")
        self._out.flush()

    def on_term(self, term: Any) -> None:
        """Print a raw decoded term (--raw)."""
        self._write(json.dumps({"type": "raw", "term": to_json(term)}, ensure_ascii=False))

    def on_message(self, message: Message) -> None:
        """Print a message, then the call events it caused."""
        self._write(message_line(message))
        delta = self._state.apply(message)
        if delta is None or self._calls is None:
            return
        events, _users = self._calls.apply(delta)
        for event in events:
            self._write(
                json.dumps(
                    {
                        "type": "CallEvent",
                        "event": event.type.value,
                        "user_id": event.user_id,
                        **to_json(event.as_dict()),
                    },
                    ensure_ascii=False,
                )
            )

    def on_connection(self, connected: bool, reason: str | None) -> None:
        """Tell stderr about a connection change."""
        when = datetime.now(UTC).isoformat(timespec="seconds")
        if connected:
            text = f"{when} connected to {self._config.redacted_url()}"
        else:
            text = f"{when} disconnected: {reason}"
        self._err.write(self._config.redact(text) + "\n")
        self._err.flush()


async def monitor(
    args: argparse.Namespace,
    token: str,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run the monitor until `args.duration` passes (or forever); return the exit status.

    `out` and `err` default to the standard streams of the moment of the call.
    """
    out = out if out is not None else sys.stdout
    err = err if err is not None else sys.stderr
    try:
        config = CtiConfig(
            server=args.server,
            domain=args.domain,
            token=token,
            api_user=args.api_user,
            app_name=args.app_name,
            scope=Scope.parse(args.scope),
            forced=args.forced,
            verify_tls=not args.insecure,
        )
    except ValueError as error:
        err.write(f"error: {error}\n")
        return EXIT_USAGE
    handler = logging.StreamHandler(err)
    handler.setFormatter(_RedactingFormatter(config.redact))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    if args.verbose:
        logging.getLogger("custom_components.basix_cti").setLevel(logging.DEBUG)
    printer = Monitor(config, out, err, calls=not args.no_calls)
    async with aiohttp.ClientSession() as session:
        client = CtiClient(
            session,
            config,
            printer.on_message,
            printer.on_connection,
            heartbeat=args.heartbeat,
            on_term=printer.on_term if args.raw else None,
        )
        try:
            await client.connect(timeout=CONNECT_TIMEOUT)
            run = asyncio.create_task(client.wait_closed())
            # At the end of --duration the client is closed, not cancelled: a normal end.
            await asyncio.wait([run], timeout=args.duration)
            await client.close()
            await run
            # Closed while disconnected: why the last attempt failed is how the run ended.
            if (ended := client.last_error) is not None:
                err.write(f"error: {ended}\n")
                return _status(ended)
        except CtiError as error:
            err.write(f"error: {error}\n")
            return _status(error)
        finally:
            await client.close()  # also ends `run` when we were cancelled (Ctrl-C)
            stats = client.stats
            err.write(
                f"frames={stats.frames} bytes={stats.bytes} messages={stats.messages} "
                f"decode_errors={stats.decode_errors} reconnects={stats.reconnects}\n"
            )
    return EXIT_OK


def _status(error: CtiError) -> int:
    if isinstance(error, AuthenticationError):
        return EXIT_AUTH
    if isinstance(error, ConnectionLimitError):
        return EXIT_REFUSED
    return EXIT_UNREACHABLE


def _token(args: argparse.Namespace) -> str | None:
    if args.token:
        return str(args.token)
    if token := os.environ.get(TOKEN_ENV):
        return token
    if sys.stdin.isatty():
        return getpass.getpass("API token: ") or None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    token = _token(args)
    if not token:
        sys.stderr.write(f"error: no API token: set {TOKEN_ENV} or pass --token\n")
        return EXIT_USAGE
    try:
        return asyncio.run(monitor(args, token))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
