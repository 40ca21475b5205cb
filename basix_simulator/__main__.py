"""Run a fake Basix PBX: `python -m basix_simulator --port 8765 --users 20 --calls-per-minute 30`.

Prints what to enter in Home Assistant (server URL, domain, token, a scope), then serves random
traffic until Ctrl-C / SIGTERM. Make an extension ring by hand with
`curl -X POST 'http://127.0.0.1:8765/simulator/ring?to=201'` (also `answer`, `hangup`,
`call_pickup`, `busy`, `park`...: see `server.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from .frames import MWI_FORMATS
from .pbx import Pbx
from .server import SimulatorServer
from .traffic import RandomTraffic


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m basix_simulator", description="Serve a fake Basix PBX (ws_cti)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765, 0: any)")
    parser.add_argument("--users", type=int, default=20, help="number of users (default 20)")
    parser.add_argument("--groups", type=int, default=3, help="number of groups (default 3)")
    parser.add_argument(
        "--calls-per-minute", type=float, default=30, help="random calls per minute (0: none)"
    )
    parser.add_argument(
        "--generation",
        choices=("current", "newer", "older", "new", "old"),
        default="current",
        help="protocol generation: current (2023-2026, default), newer (2019-2022), older "
        "(2016-2018); new/old are the former names of newer/older",
    )
    parser.add_argument("--wrap", action="store_true", help="wrap messages as [Msg] (pre-2018)")
    parser.add_argument(
        "--utf8-atoms", action="store_true", help="write atoms as UTF-8 (Erlang/OTP 26 and later)"
    )
    # Latin-1 atoms are the default now; the flag stays so that older command lines still run.
    parser.add_argument("--latin1-atoms", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--compressed",
        action="store_true",
        help="Erlang's [compressed]: zlib-compress the frames that compression makes smaller",
    )
    parser.add_argument(
        "--names",
        choices=("atom", "binary", "charlist"),
        default="atom",
        help="send entity, field and event names as atoms (default), binaries or strings",
    )
    parser.add_argument(
        "--mwi-format",
        choices=MWI_FORMATS,
        default="text",
        help="how voicemail counts are written in users' and groups' mwi field",
    )
    parser.add_argument(
        "--limit-mode",
        choices=("message", "http", "close"),
        default="message",
        help="how the connection limit refuses: system_msg then close (default), HTTP 429, 4029",
    )
    parser.add_argument(
        "--replace-mode",
        choices=("message", "close"),
        default="message",
        help="how a forced takeover closes the old connection: system_msg then close, or 4000",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for reproducible traffic")
    parser.add_argument("--domain", default="example.basix")
    parser.add_argument("--token", default="secret-token")
    parser.add_argument("--connection-limit", type=int, default=2)
    parser.add_argument(
        "--ignore-commands",
        action="store_true",
        help="ignore hangup/park/transfer commands (test a PBX that does not act on them)",
    )
    parser.add_argument(
        "--ring", metavar="EXT", action="append", default=[], help="ring EXT at start (repeatable)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log every change")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    pbx = Pbx.demo(users=args.users, groups=args.groups, seed=args.seed, domain=args.domain)
    server = SimulatorServer(
        pbx,
        domain=args.domain,
        token=args.token,
        generation=args.generation,
        wrap=args.wrap,
        atoms="utf8" if args.utf8_atoms else "latin1",
        compressed=args.compressed,
        names=args.names,
        mwi_format=args.mwi_format,
        connection_limit=args.connection_limit,
        limit_mode=args.limit_mode,
        replace_mode=args.replace_mode,
        ignore_commands=args.ignore_commands,
    )
    if args.verbose:
        pbx.subscribe(
            lambda entity, record, event: print(
                f"{event:<16} {entity:<15} {record.get('uuid') or record.get('id') or record.get('user_id')}"
            )
        )
    await server.start(args.host, args.port)
    first = next(iter(pbx.users.values()), None)
    print(f"Basix simulator ({server.generation} generation) listening")
    print(f"  server:  {server.url}")
    print(f"  domain:  {args.domain}")
    print(f"  token:   {args.token}")
    if first is not None:
        print(f"  scope:   whole PBX (full_events), or e.g. user extension {first.extension}")
    print(f"  users:   {', '.join(u.extension for u in pbx.users.values())}")
    print(f"  ring:    curl -X POST '{server.http_url}/simulator/ring?to=201'")
    print("Ctrl-C to stop.", flush=True)
    for ext in args.ring:
        pbx.incoming_call(ext)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    traffic = None
    if args.calls_per_minute > 0:
        traffic = asyncio.create_task(
            RandomTraffic(pbx, args.calls_per_minute, seed=args.seed).run()
        )
    try:
        await stop.wait()
    finally:
        if traffic is not None:
            traffic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await traffic
        await server.stop()
        print("Basix simulator stopped.", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
