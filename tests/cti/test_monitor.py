"""The monitor command against the running simulator: JSON lines out, the token never."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
import dataclasses
from datetime import UTC, datetime
import io
import json
import logging
import os
from pathlib import Path
import sys
from typing import Any

import pytest

from basix_simulator.pbx import Pbx
from basix_simulator.server import SimulatorServer
from custom_components.basix_cti.cti import __main__ as cli
from custom_components.basix_cti.cti.calls import CallPhase
from custom_components.basix_cti.cti.models import Notice
from custom_components.basix_cti.cti.terms import Atom, BitBinary, ImproperList

pytestmark = pytest.mark.usefixtures("socket_enabled")

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "example.basix"
TOKEN = "m0n1t0r+t0k/en="


@pytest.fixture(autouse=True)
def no_token_in_logs(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        if not record.name.startswith(("aiohttp.access", "basix_simulator")):
            assert TOKEN not in record.getMessage()


@pytest.fixture
def pbx() -> Pbx:
    return Pbx.demo(users=4, groups=1, seed=1, domain=DOMAIN)


@pytest.fixture
async def simulator(pbx: Pbx) -> AsyncIterator[SimulatorServer]:
    server = SimulatorServer(pbx, domain=DOMAIN, token=TOKEN)
    await server.start()
    yield server
    await server.stop()


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def args(server: str, *extra: str) -> Any:
    return cli.build_parser().parse_args(
        ["monitor", "--server", server, "--domain", DOMAIN, *extra]
    )


async def test_monitor_subprocess_prints_json_lines(simulator: SimulatorServer, pbx: Pbx) -> None:
    pbx.incoming_call("201")
    env = {**os.environ, cli.TOKEN_ENV: TOKEN}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "custom_components.basix_cti.cti",
        "monitor",
        "--server",
        simulator.url,
        "--domain",
        DOMAIN,
        "--scope",
        "user_extension=201",
        "--duration",
        "3",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    out, err = stdout.decode(), stderr.decode()
    assert process.returncode == 0, err
    assert TOKEN not in out
    assert TOKEN not in err
    messages = lines(out)
    types = {m["type"] for m in messages}
    assert {"FieldSpec", "Snapshot"} <= types
    channels = next(m for m in messages if m["type"] == "Snapshot" and m["entity"] == "channel")
    assert len(channels["items"]) == 2  # the caller's leg and 201's ringing leg
    assert "connected to ws://127.0.0.1" in err
    assert "user_extension=201" in err
    assert "frames=" in err
    assert simulator.rejected == []
    assert "home_assistant_monitor" in err  # its own app name: it never takes HA's places


async def test_monitor_follows_changes_and_prints_call_events(
    simulator: SimulatorServer, pbx: Pbx
) -> None:
    out, err = io.StringIO(), io.StringIO()
    task = asyncio.create_task(cli.monitor(args(simulator.url, "--raw"), TOKEN, out=out, err=err))
    await simulator.wait_for_connections(1)
    async with asyncio.timeout(5):
        while "Snapshot" not in out.getvalue():  # noqa: ASYNC110 - filled by network I/O
            await asyncio.sleep(0.01)
    call = pbx.incoming_call("202")
    pbx.answer(call)
    pbx.hangup(call)
    async with asyncio.timeout(5):
        while '"ended"' not in out.getvalue():  # noqa: ASYNC110 - filled by network I/O
            await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    messages = lines(out.getvalue())
    kinds = [m["type"] for m in messages]
    assert "raw" in kinds
    assert "Change" in kinds
    events = [m for m in messages if m["type"] == "CallEvent"]
    assert [e["event"] for e in events][:1] == ["incoming_call"]
    assert events[-1]["event"] == "ended"
    assert all(e["user_id"] for e in events)
    change = next(m for m in messages if m["type"] == "Change")
    assert change["item"]["uuid"] in call.legs
    assert TOKEN not in out.getvalue() + err.getvalue()


async def test_monitor_duration_ends_cleanly(simulator: SimulatorServer) -> None:
    out, err = io.StringIO(), io.StringIO()
    status = await cli.monitor(
        args(simulator.url, "--duration", "0.5", "--no-calls", "-v"), TOKEN, out=out, err=err
    )
    assert status == cli.EXIT_OK
    assert "Snapshot" in out.getvalue()
    assert "CallEvent" not in out.getvalue()
    assert "disconnected: closed" in err.getvalue()


async def test_monitor_wrong_token_exits_with_auth_status(simulator: SimulatorServer) -> None:
    out, err = io.StringIO(), io.StringIO()
    status = await cli.monitor(args(simulator.url), "not-the-token", out=out, err=err)
    assert status == cli.EXIT_AUTH
    assert "refused the API token" in err.getvalue()
    assert "not-the-token" not in err.getvalue()
    assert out.getvalue() == ""


async def test_monitor_refused_at_the_limit_exits_with_refused_status(pbx: Pbx) -> None:
    """A PBX that refuses the connection (HTTP 429) is a failure, not a clean run."""
    server = SimulatorServer(pbx, domain=DOMAIN, token=TOKEN, connection_limit=0, limit_mode="http")
    await server.start()
    try:
        out, err = io.StringIO(), io.StringIO()
        status = await cli.monitor(args(server.url, "--duration", "0.5"), TOKEN, out=out, err=err)
    finally:
        await server.stop()
    assert status == cli.EXIT_REFUSED
    assert "allows 2 connections" in err.getvalue()
    assert out.getvalue() == ""


async def test_monitor_ending_disconnected_says_why(simulator: SimulatorServer) -> None:
    """Cut off for good during the run (taken over): the exit status says so."""
    connected = asyncio.Event()

    class Err(io.StringIO):
        def write(self, text: str) -> int:
            if "connected to" in text:
                connected.set()
            return super().write(text)

    out, err = io.StringIO(), Err()
    monitor = asyncio.create_task(
        cli.monitor(args(simulator.url, "--duration", "1.5"), TOKEN, out=out, err=err)
    )
    async with asyncio.timeout(5):
        await connected.wait()
    simulator.connection_limit = 0
    await simulator.close_connections(4000, "replaced by a newer connection")
    assert await monitor == cli.EXIT_REFUSED
    assert "took this connection over" in err.getvalue()


async def test_monitor_rejects_a_bad_scope() -> None:
    err = io.StringIO()
    status = await cli.monitor(args("127.0.0.1:1", "--scope", "user_floor=3"), TOKEN, err=err)
    assert status == cli.EXIT_USAGE
    assert "unknown scope" in err.getvalue()


def test_main_needs_a_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(cli.TOKEN_ENV, raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO())  # not a terminal: no prompt
    assert cli.main(["monitor", "--server", "h", "--domain", DOMAIN]) == cli.EXIT_USAGE
    assert cli.TOKEN_ENV in capsys.readouterr().err


def test_main_runs_the_monitor(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A closed port: main() wires arguments, token and exit status together.
    monkeypatch.setenv(cli.TOKEN_ENV, TOKEN)
    status = cli.main(
        ["monitor", "--server", "ws://127.0.0.1:9", "--domain", DOMAIN, "--duration", "0.3"]
    )
    assert status == cli.EXIT_UNREACHABLE
    captured = capsys.readouterr()
    assert "disconnected: Cannot connect to 127.0.0.1:9" in captured.err
    assert TOKEN not in captured.err + captured.out


def test_token_is_asked_for_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv(cli.TOKEN_ENV, raising=False)
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(cli.getpass, "getpass", lambda prompt: "typed")
    parsed = cli.build_parser().parse_args(["monitor", "--server", "h", "--domain", "d"])
    assert cli._token(parsed) == "typed"


def test_token_flag_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cli.TOKEN_ENV, "from-env")
    parsed = cli.build_parser().parse_args(
        ["monitor", "--server", "h", "--domain", "d", "--token", "flag"]
    )
    assert cli._token(parsed) == "flag"
    parsed = cli.build_parser().parse_args(["monitor", "--server", "h", "--domain", "d"])
    assert cli._token(parsed) == "from-env"


def test_to_json_turns_every_value_plain() -> None:
    @dataclasses.dataclass
    class Inner:
        when: datetime
        raw: bytes

    value = {
        "atom": Atom("bridged"),
        "when": datetime(2026, 1, 1, tzinfo=UTC),
        "raw": b"\xff\x00",
        "tuple": (1, 2.5, None, True),
        "set": frozenset({"x"}),
        "inner": Inner(datetime(2026, 1, 1, tzinfo=UTC), b"a"),
        "improper": ImproperList((1,), Atom("tail")),
        "bits": BitBinary(b"\x80", 1),
        (1, 2): "tuple key",
        "other": object,
        "phase": CallPhase.RINGING,
    }
    data = cli.to_json(value)
    json.dumps(data)  # plain JSON all the way down
    assert data["atom"] == "bridged"
    assert data["when"] == "2026-01-01T00:00:00+00:00"
    assert data["raw"] == repr(b"\xff\x00")
    assert data["tuple"] == [1, 2.5, None, True]
    assert data["inner"] == {"when": "2026-01-01T00:00:00+00:00", "raw": "b'a'"}
    assert data["improper"] == {"elements": [1], "tail": "tail"}
    assert data["[1, 2]"] == "tuple key"
    assert data["other"] == repr(object)
    assert data["phase"] == "ringing"
    line = json.loads(cli.message_line(Notice("system_msg", "hello", b"hello")))
    assert line == {"type": "Notice", "kind": "system_msg", "text": "hello", "term": "b'hello'"}
