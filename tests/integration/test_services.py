"""The actions, through Home Assistant, against the simulator: what a user sees when they act."""

from __future__ import annotations

from collections.abc import Iterator
import logging
import time
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from basix_simulator.pbx import Pbx
from basix_simulator.server import SimulatorServer
from custom_components.basix_cti.const import DOMAIN

from .conftest import TOKEN, UNIQUE_ID, entity_id, wait_for

YAMADA = "1001"  # extension 201
SUZUKI = "1002"  # extension 202
TAKAHASHI = "1003"  # extension 203

pytestmark = pytest.mark.usefixtures("init_integration")


@pytest.fixture(autouse=True)
def no_token_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The whole test, set-up included, logs at DEBUG without the token."""
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        assert TOKEN not in record.getMessage(), record.getMessage()


@pytest.fixture(autouse=True)
def quick_commands() -> Iterator[None]:
    """A PBX that does not act is given up on in half a second instead of five."""
    with patch("custom_components.basix_cti.services.COMMAND_TIMEOUT", 0.5):
        yield


def device_of(hass: HomeAssistant, user_id: str | None = None) -> str:
    identifier = UNIQUE_ID if user_id is None else f"{UNIQUE_ID}:{user_id}"
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, identifier), entry.entry_id)
    assert device is not None
    return device.id


def call_state(hass: HomeAssistant, user_id: str) -> str:
    state = hass.states.get(entity_id(hass, "sensor", "call_state", user_id))
    assert state is not None
    return state.state


async def until(hass: HomeAssistant, user_id: str, expected: str) -> None:
    await wait_for(hass, lambda: call_state(hass, user_id) == expected)


async def act(hass: HomeAssistant, service: str, data: dict[str, Any], **kwargs: Any) -> Any:
    return await hass.services.async_call(DOMAIN, service, data, blocking=True, **kwargs)


async def talking(hass: HomeAssistant, pbx: Pbx, to: str = "201") -> str:
    """A call from the network answered on `to`; returns the uuid of the user's leg."""
    call = pbx.incoming_call(to)
    pbx.answer(call, by=to)
    user_id = pbx.user(to).id
    await until(hass, user_id, "talking")
    assert call.active is not None
    return call.active


def nothing_sent(simulator: SimulatorServer) -> bool:
    return simulator.commands.received == [] and simulator.api.requests == []


# --- basix_cti.call ----------------------------------------------------------------------------


async def test_call_rings_the_extension_then_the_destination(
    hass: HomeAssistant, pbx: Pbx, simulator: SimulatorServer
) -> None:
    response = await act(
        hass,
        "call",
        {"device_id": device_of(hass, YAMADA), "destination": "202"},
        return_response=True,
    )
    [uuid] = response["uuids"]
    assert simulator.api.requests == [{"destination": "202", "user_id": YAMADA}]
    # 201's phone rings first, to place 201's call to 202 (dialing, not an incoming call from
    # 202); 202 hears nothing yet.
    await until(hass, YAMADA, "dialing")
    assert call_state(hass, SUZUKI) == "idle"
    state = hass.states.get(entity_id(hass, "sensor", "call_state", YAMADA))
    assert state is not None
    [placed] = state.attributes["calls"]
    assert placed["channel_uuid"] == uuid
    assert (placed["direction"], placed["remote_number"]) == ("outgoing", "202")

    [call] = pbx.calls_of("201")
    pbx.answer(call, by="201")
    await until(hass, SUZUKI, "ringing")
    assert call_state(hass, YAMADA) == "dialing"  # until 202 answers
    pbx.answer(call, by="202")
    await until(hass, SUZUKI, "talking")
    assert call_state(hass, YAMADA) == "talking"
    pbx.hangup(call)
    await until(hass, YAMADA, "idle")


async def test_call_as_a_group_without_a_response(
    hass: HomeAssistant, simulator: SimulatorServer, pbx: Pbx
) -> None:
    group = next(iter(pbx.groups.values()))
    assert (
        await act(
            hass,
            "call",
            {
                "device_id": device_of(hass, YAMADA),
                "destination": " 0312345678 ",
                "as_group": group.label,
            },
        )
        is None
    )
    assert simulator.api.requests == [
        {"destination": "0312345678", "user_id": YAMADA, "group_name": group.name}
    ]
    await until(hass, YAMADA, "dialing")


async def test_call_refused_token_starts_reauth(
    hass: HomeAssistant, simulator: SimulatorServer, init_integration: MockConfigEntry
) -> None:
    simulator.token = "a-newer-token"  # revoked at the PBX; the open WebSocket goes on
    with pytest.raises(HomeAssistantError) as raised:
        await act(hass, "call", {"device_id": device_of(hass, YAMADA), "destination": "202"})
    assert raised.value.translation_key == "call_auth_failed"
    assert "API token" in str(raised.value)
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    assert flows[0]["context"]["entry_id"] == init_integration.entry_id


@pytest.mark.parametrize(
    ("destination", "key", "words"),
    [("nobody-at-all", "unknown_destination", "cannot call nobody-at-all")],
)
async def test_call_unknown_destination(
    hass: HomeAssistant, pbx: Pbx, destination: str, key: str, words: str
) -> None:
    with pytest.raises(HomeAssistantError) as raised:
        await act(hass, "call", {"device_id": device_of(hass, YAMADA), "destination": destination})
    assert raised.value.translation_key == key
    assert words in str(raised.value)
    assert not pbx.channels


async def test_call_for_a_user_the_pbx_no_longer_has(hass: HomeAssistant, pbx: Pbx) -> None:
    del pbx.users["1004"]  # deleted at the PBX, and Home Assistant not told yet
    with pytest.raises(HomeAssistantError) as raised:
        await act(hass, "call", {"device_id": device_of(hass, "1004"), "destination": "202"})
    assert raised.value.translation_key == "no_such_user"
    assert "user_not_found" in str(raised.value)


async def test_call_when_the_api_is_down(hass: HomeAssistant, simulator: SimulatorServer) -> None:
    simulator.refuse_with(503)
    with pytest.raises(HomeAssistantError) as raised:
        await act(hass, "call", {"device_id": device_of(hass, YAMADA), "destination": "202"})
    assert raised.value.translation_key == "api_unreachable"
    assert "HTTP 503" in str(raised.value)


# --- hang up, park, transfer -------------------------------------------------------------------


async def test_hangup_the_extensions_call(
    hass: HomeAssistant, pbx: Pbx, simulator: SimulatorServer
) -> None:
    leg = await talking(hass, pbx)
    await act(hass, "hangup", {"device_id": device_of(hass, YAMADA)})
    # The action returns once the PBX's events have shown the call ended.
    assert call_state(hass, YAMADA) == "idle"
    assert not pbx.calls
    assert simulator.commands.acted == [{"cmd": "hangup", "uuid": leg}]


async def test_hangup_by_channel(hass: HomeAssistant, pbx: Pbx) -> None:
    call = pbx.incoming_call("202")
    await until(hass, SUZUKI, "ringing")
    await act(hass, "hangup", {"channel_uuid": call.uuid})
    assert call_state(hass, SUZUKI) == "idle"


async def test_park_the_extensions_call(
    hass: HomeAssistant, pbx: Pbx, simulator: SimulatorServer
) -> None:
    leg = await talking(hass, pbx)
    await act(hass, "park", {"device_id": device_of(hass, YAMADA), "timeout": 90})
    assert call_state(hass, YAMADA) == "parked"
    assert simulator.commands.acted == [{"cmd": "park", "uuid": leg, "timeout": 90}]
    assert list(pbx.parked_slots) == ["901"]
    # Parking a parked call again is refused before anything is sent.
    with pytest.raises(ServiceValidationError) as raised:
        await act(hass, "park", {"device_id": device_of(hass, YAMADA)})
    assert raised.value.translation_key == "already_parked"
    [parked] = pbx.parked.values()
    with pytest.raises(ServiceValidationError) as raised:
        await act(hass, "park", {"channel_uuid": parked["uuid"]})
    assert raised.value.translation_key == "already_parked"
    assert len(simulator.commands.received) == 1


async def test_transfer_by_channel(hass: HomeAssistant, pbx: Pbx) -> None:
    leg = await talking(hass, pbx)
    await act(hass, "transfer", {"channel_uuid": leg, "destination": "203"})
    await until(hass, YAMADA, "idle")
    assert call_state(hass, TAKAHASHI) == "ringing"


async def test_a_pbx_that_does_not_act(
    hass: HomeAssistant,
    pbx: Pbx,
    simulator: SimulatorServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator.commands.ignore = True
    await talking(hass, pbx)
    started = time.monotonic()
    with pytest.raises(HomeAssistantError) as raised:
        await act(hass, "transfer", {"device_id": device_of(hass, YAMADA), "destination": "203"})
    assert time.monotonic() - started < 3
    assert raised.value.translation_key == "command_not_confirmed"
    assert "did not act on the transfer" in str(raised.value)
    assert call_state(hass, YAMADA) == "talking"
    [line] = [r for r in caplog.records if "did not act" in r.getMessage()]
    assert '"cmd":"transfer"' in line.getMessage()
    assert '"destination":"**REDACTED**"' in line.getMessage()


async def test_not_connected(hass: HomeAssistant, pbx: Pbx, simulator: SimulatorServer) -> None:
    leg = await talking(hass, pbx)
    simulator.refuse_with(503)
    await simulator.drop_connections()
    coordinator = hass.config_entries.async_entries(DOMAIN)[0].runtime_data
    await wait_for(hass, lambda: not coordinator.connected)
    # Whatever the last known state says, nothing can be sent now.
    with pytest.raises(HomeAssistantError) as raised:
        await act(hass, "hangup", {"device_id": device_of(hass, YAMADA)})
    assert raised.value.translation_key == "not_connected"
    assert "not connected" in str(raised.value)
    if leg in coordinator.state.channels:  # the last known legs, until the next snapshot
        with pytest.raises(HomeAssistantError) as raised:
            await act(hass, "park", {"channel_uuid": leg})
        assert raised.value.translation_key == "not_connected"
    assert simulator.commands.received == []


# --- nothing is sent for invalid input ---------------------------------------------------------


async def test_invalid_input_sends_nothing(
    hass: HomeAssistant, pbx: Pbx, simulator: SimulatorServer
) -> None:
    other = MockConfigEntry(domain="other_integration")
    other.add_to_hass(hass)
    foreign = dr.async_get(hass).async_get_or_create(
        config_entry_id=other.entry_id, identifiers={("other_integration", "x")}, name="Lamp"
    )
    extension = device_of(hass, YAMADA)
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("hangup", {"device_id": extension}, "no_call"),
        ("park", {"device_id": extension}, "no_call"),
        ("transfer", {"device_id": extension, "destination": "203"}, "no_call"),
        ("transfer", {"device_id": extension, "destination": "  "}, "empty_destination"),
        ("call", {"device_id": extension, "destination": " "}, "empty_destination"),
        ("call", {"device_id": foreign.id, "destination": "202"}, "not_basix_device"),
        ("hangup", {"device_id": foreign.id}, "not_basix_device"),
        ("call", {"device_id": device_of(hass), "destination": "202"}, "not_an_extension"),
        ("call", {"device_id": "no-such-device", "destination": "202"}, "unknown_device"),
        (
            "call",
            {"device_id": extension, "destination": "202", "as_group": "nope"},
            "unknown_group",
        ),
        (
            "call",
            {"device_id": extension, "destination": "202", "as_group": device_of(hass)},
            "not_a_group",
        ),
        (
            "call",
            {"device_id": extension, "destination": "202", "as_group": device_of(hass, SUZUKI)},
            "not_a_group",
        ),
        ("hangup", {"channel_uuid": "no-such-channel"}, "unknown_channel"),
        ("hangup", {}, "no_target"),
    ]
    for service, data, key in cases:
        with pytest.raises(ServiceValidationError) as raised:
            await act(hass, service, data)
        assert raised.value.translation_key == key, (service, data)
        assert str(raised.value), key  # translated: a sentence, not the key
    assert nothing_sent(simulator)


async def test_actions_of_an_unloaded_entry(
    hass: HomeAssistant, simulator: SimulatorServer, init_integration: MockConfigEntry
) -> None:
    extension = device_of(hass, YAMADA)
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    with pytest.raises(ServiceValidationError) as raised:
        await act(hass, "call", {"device_id": extension, "destination": "202"})
    assert raised.value.translation_key == "entry_not_loaded"
    with pytest.raises(ServiceValidationError) as raised:
        await act(hass, "hangup", {"channel_uuid": "any"})
    assert raised.value.translation_key == "unknown_channel"
    assert nothing_sent(simulator)
