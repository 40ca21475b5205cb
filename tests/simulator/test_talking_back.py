"""The simulator's call_user REST endpoint and WebSocket commands, seen from the wire."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import pytest

from basix_simulator.pbx import ENTITIES, Pbx
from basix_simulator.server import SimulatorServer
from custom_components.basix_cti.cti import etf
from tests.simulator_fixtures import (  # noqa: F401 - fixtures
    DOMAIN,
    TOKEN,
    fixture_sim_clock,
    fixture_sim_pbx,
    fixture_simulator,
    fixture_simulator_factory,
    ws_url,
)


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{DOMAIN}:{token}".encode()).decode()}


async def _call_user(
    server: SimulatorServer, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{server.http_url}/basix/api/call_user",
            data=body if isinstance(body, str) else json.dumps(body),
            headers=_auth() if headers is None else headers,
        ) as response,
    ):
        return response.status, await response.json()


def _events(pbx: Pbx) -> list[tuple[str, str, str | None, str | None]]:
    seen: list[tuple[str, str, str | None, str | None]] = []
    pbx.subscribe(
        lambda entity, record, event: seen.append(
            (entity, event, record.get("uuid"), record.get("user_id"))
        )
    )
    return seen


async def test_call_user_rings_the_user_then_the_destination(
    simulator: SimulatorServer, sim_pbx: Pbx
) -> None:
    events = _events(sim_pbx)
    status, answer = await _call_user(simulator, {"destination": "202", "user_id": "1001"})
    assert status == 200
    assert answer["result_code"] == 0
    [leg] = answer["uuids"]
    record = sim_pbx.channels[leg]
    # The PBX places the leg to the user's phone (outbound), which shows whom it will call.
    assert record["direction"] == "outbound"
    assert record["user_id"] == "1001"
    assert record["called_number"] == "201"
    assert record["calling_number"] == "202"
    assert record["origination"].startswith("call_user*202*")
    assert events == [("channel", "added", leg, "1001")]
    # Nothing rings the destination before the user answers.
    assert not [c for c in sim_pbx.channels.values() if c["user_id"] == "1002"]

    [call] = sim_pbx.calls_of("201")
    sim_pbx.answer(call, by="201")
    assert sim_pbx.channels[leg]["answer_timestamp"] is not None
    [b] = [c for c in sim_pbx.channels.values() if c["user_id"] == "1002"]
    assert b["direction"] == "outbound"
    assert b["other_uuid"] == leg
    assert b["calling_number"] == "201"
    assert b["origination"] == record["origination"]
    assert sim_pbx.channels[leg]["other_uuid"] == b["uuid"]

    sim_pbx.answer(call, by="202")
    assert sim_pbx.channels[leg]["state"][1] == "bridged"
    assert sim_pbx.channels[b["uuid"]]["other_uuid"] == leg
    sim_pbx.hangup(call)
    assert not sim_pbx.channels


async def test_call_user_to_a_number_as_a_group(simulator: SimulatorServer, sim_pbx: Pbx) -> None:
    status, answer = await _call_user(
        simulator, {"destination": "0312345678", "user_name": "sato.taro", "group_name": "sales"}
    )
    assert (status, answer["result_code"]) == (200, 0)
    [leg] = answer["uuids"]
    assert sim_pbx.channels[leg]["group_name"] == "sales"
    [call] = sim_pbx.calls_of("201")
    sim_pbx.answer(call)
    [far] = [c for c in sim_pbx.channels.values() if c["uuid"] != leg]
    assert far["called_number"] == "0312345678"
    assert far["peer_location"] == "external"
    assert far["user_id"] is None
    assert far["group_name"] == "sales"
    sim_pbx.answer(call)  # the network answers
    assert sim_pbx.channels[leg]["state"][1] == "bridged"
    assert call.answered_by == "1001"


def _dispositions(pbx: Pbx, call: Any) -> dict[str, str]:
    """The dispositions of a call's legs, by whose leg it was: the user, or the destination."""
    return {
        "user" if leg == call.uuid else "destination": disposition
        for leg, disposition in call.dispositions.items()
    }


@pytest.mark.parametrize(
    ("destination", "ending", "expected"),
    [
        # The first stage: the PBX calls the user, no destination leg yet.
        ("202", "hangup", {"user": "recv_refuse,CALL_REJECTED"}),
        ("202", "busy", {"user": "recv_refuse,USER_BUSY"}),
        ("202", "ring_timeout", {"user": "send_cancel,NO_ANSWER"}),
        ("202", "caller_hangs_up", {"user": "send_cancel,ORIGINATOR_CANCEL"}),
        ("0312345678", "hangup", {"user": "recv_refuse,CALL_REJECTED"}),
    ],
)
def test_call_user_first_stage_endings(
    sim_pbx: Pbx, destination: str, ending: str, expected: dict[str, str]
) -> None:
    call = sim_pbx.call_user("201", destination)
    getattr(sim_pbx, ending)(call)
    assert _dispositions(sim_pbx, call) == expected
    assert not sim_pbx.channels
    assert not sim_pbx.originating


@pytest.mark.parametrize(
    ("destination", "ending", "expected"),
    [
        # The user answered; the destination rings.
        (
            "202",
            "caller_hangs_up",
            {"user": "recv_bye,NORMAL_CLEARING", "destination": "send_cancel,ORIGINATOR_CANCEL"},
        ),
        (
            "0312345678",
            "hangup",
            {"user": "recv_bye,NORMAL_CLEARING", "destination": "send_cancel,ORIGINATOR_CANCEL"},
        ),
        (
            "202",
            "busy",
            {"user": "send_bye,USER_BUSY", "destination": "recv_refuse,USER_BUSY"},
        ),
        (
            "202",
            "hangup",
            {"user": "send_bye,CALL_REJECTED", "destination": "recv_refuse,CALL_REJECTED"},
        ),
        (
            "0312345678",
            "ring_timeout",
            {"user": "send_bye,NO_ANSWER", "destination": "send_cancel,NO_ANSWER"},
        ),
        # Both answered: as any call.
        (
            "talking",
            "far_end_hangs_up",
            {"user": "send_bye,NORMAL_CLEARING", "destination": "recv_bye,NORMAL_CLEARING"},
        ),
    ],
)
def test_call_user_second_stage_endings(
    sim_pbx: Pbx, destination: str, ending: str, expected: dict[str, str]
) -> None:
    call = sim_pbx.call_user("201", "0312345678" if destination == "talking" else destination)
    sim_pbx.answer(call, by="201")
    if destination == "talking":
        sim_pbx.answer(call)
    getattr(sim_pbx, ending)(call)
    assert _dispositions(sim_pbx, call) == expected
    assert not sim_pbx.channels


@pytest.mark.parametrize(
    ("body", "headers", "error_id"),
    [
        ({"destination": "202", "user_id": "1001"}, {}, "authentication_required"),
        ({"destination": "202", "user_id": "1001"}, _auth("wrong"), "authentication_required"),
        ("not json", None, "invalid_request"),
        ({"destination": " ", "user_id": "1001"}, None, "invalid_request"),
        ({"destination": "202", "user_id": "1001", "user_name": "x"}, None, "invalid_request"),
        ({"destination": "202", "user_id": "9999"}, None, "user_not_found"),
        ({"destination": "202", "user_email": "nobody@x"}, None, "user_not_found"),
        ({"destination": "202", "user_id": "1001", "group_name": "nope"}, None, "group_not_found"),
        ({"destination": "nobody-here", "user_id": "1001"}, None, "destination_not_found"),
    ],
)
async def test_call_user_refusals(
    simulator: SimulatorServer,
    sim_pbx: Pbx,
    body: Any,
    headers: dict[str, str] | None,
    error_id: str,
) -> None:
    status, answer = await _call_user(simulator, body, headers)
    assert status == 200
    assert answer["result_code"] != 0
    assert answer["error"]["id"] == error_id
    assert not sim_pbx.channels


async def test_call_user_refused_with_a_status(simulator: SimulatorServer) -> None:
    simulator.refuse_with(503)
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{simulator.http_url}/basix/api/call_user", json={}) as response,
    ):
        assert response.status == 503


async def _talking(pbx: Pbx) -> tuple[str, str]:
    call = pbx.incoming_call("201")
    pbx.answer(call, by="201")
    assert call.active is not None
    return call.uuid, call.active


async def _send(server: SimulatorServer, *frames: str) -> list[Any]:
    """Send text frames on a real connection; return the terms received after the snapshot."""
    terms: list[Any] = []
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(ws_url(server)) as ws,
    ):
        while True:  # the field specs and snapshots, up to the last snapshot
            msg = await ws.receive(timeout=5)
            term = etf.decode(msg.data)
            if term[0] == "initial_info" and term[1] == ENTITIES[-1]:
                break
        for frame in frames:
            await ws.send_str(frame)
        while True:
            try:
                msg = await ws.receive(timeout=0.3)
            except TimeoutError:
                return terms
            terms.append(etf.decode(msg.data))


async def test_hangup_command(simulator: SimulatorServer, sim_pbx: Pbx) -> None:
    _, leg = await _talking(sim_pbx)
    terms = await _send(simulator, json.dumps({"cmd": "hangup", "uuid": leg}))
    assert not sim_pbx.calls
    assert [t[3] for t in terms] == ["removed", "removed"]
    assert simulator.commands.acted == [{"cmd": "hangup", "uuid": leg}]


async def test_park_command(simulator: SimulatorServer, sim_pbx: Pbx) -> None:
    caller, leg = await _talking(sim_pbx)
    await _send(simulator, json.dumps({"cmd": "park", "uuid": leg, "timeout": 60}))
    assert sim_pbx.parked_slots == {"901": caller}
    assert leg not in sim_pbx.channels
    state = sim_pbx.channels[caller]["state"]
    assert (state[1], str(state[2]), state[4]) == ("park", "901", "1001")


async def test_transfer_command(simulator: SimulatorServer, sim_pbx: Pbx) -> None:
    caller, leg = await _talking(sim_pbx)
    await _send(simulator, json.dumps({"cmd": "transfer", "uuid": leg, "destination": "203"}))
    assert leg not in sim_pbx.channels
    [new] = [c for c in sim_pbx.channels.values() if c["user_id"] == "1003"]
    assert new["other_uuid"] == caller


async def test_commands_that_cannot_be_carried_out_change_nothing(
    simulator: SimulatorServer, sim_pbx: Pbx
) -> None:
    _, leg = await _talking(sim_pbx)
    before = {uuid: dict(record) for uuid, record in sim_pbx.channels.items()}
    terms = await _send(
        simulator,
        "not json",
        json.dumps(["hangup", leg]),
        json.dumps({"cmd": "explode", "uuid": leg}),
        json.dumps({"cmd": "hangup"}),
        json.dumps({"cmd": "hangup", "uuid": "no-such-leg"}),
        json.dumps({"cmd": "transfer", "uuid": leg}),
        json.dumps({"cmd": "transfer", "uuid": leg, "destination": "nobody"}),
    )
    assert terms == []
    assert sim_pbx.channels == before
    assert len(simulator.commands.received) == 7
    assert simulator.commands.acted == []


async def test_ignoring_commands(
    simulator_factory: Any, sim_pbx: Pbx, simulator: SimulatorServer
) -> None:
    ignoring = await simulator_factory(ignore_commands=True)
    _, leg = await _talking(sim_pbx)
    assert await _send(ignoring, json.dumps({"cmd": "hangup", "uuid": leg})) == []
    assert sim_pbx.calls
    # The control endpoint turns it off and on again.
    async with aiohttp.ClientSession() as session:
        url = f"{simulator.http_url}/simulator/commands"
        async with session.post(url, params={"ignore": "true"}) as response:
            assert await response.json() == {"ignore": True, "received": 0}
        await _send(simulator, json.dumps({"cmd": "hangup", "uuid": leg}))
        assert sim_pbx.calls
        async with session.post(url, params={"ignore": "false"}) as response:
            assert (await response.json())["ignore"] is False
    await _send(simulator, json.dumps({"cmd": "hangup", "uuid": leg}))
    assert not sim_pbx.calls


def test_cli_flag() -> None:
    from basix_simulator.__main__ import _parser

    assert _parser().parse_args(["--ignore-commands"]).ignore_commands is True
    assert _parser().parse_args([]).ignore_commands is False
