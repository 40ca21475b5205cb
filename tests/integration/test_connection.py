"""The connection's life as a user sees it: reconnects, restarts, outages, crashes, unloads."""

from __future__ import annotations

import logging
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE
from homeassistant.core import Event, HomeAssistant, State, callback
from homeassistant.helpers import device_registry as dr, entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache_with_extra_data,
)

from basix_simulator.pbx import Pbx
from basix_simulator.server import SimulatorServer
from custom_components.basix_cti import async_remove_config_entry_device
from custom_components.basix_cti.const import DOMAIN, EVENT_CALL
from custom_components.basix_cti.cti import client as client_module, etf
from custom_components.basix_cti.cti.client import CtiClient
from custom_components.basix_cti.cti.terms import Atom

from .conftest import PBX_DOMAIN, TOKEN, UNIQUE_ID, entity_id, wait_for


def _follow(hass: HomeAssistant, entity: str) -> list[str]:
    """Every state `entity` takes from now on."""
    states: list[str] = []

    @callback
    def changed(event: Event[Any]) -> None:
        if event.data["entity_id"] == entity and event.data["new_state"] is not None:
            states.append(event.data["new_state"].state)

    hass.bus.async_listen(EVENT_STATE_CHANGED, changed)
    return states


async def test_reconnect_shows_no_stale_call(
    hass: HomeAssistant, simulator: SimulatorServer, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """A call that ended during an outage does not ring again when the connection returns."""
    call_state = entity_id(hass, "sensor", "call_state", "1001")
    states = _follow(hass, call_state)
    call = pbx.incoming_call(to="201")
    await wait_for(hass, lambda: states == ["ringing"])

    simulator.refuse_with(503)
    await simulator.drop_connections()
    await wait_for(hass, lambda: states[-1] == STATE_UNAVAILABLE)
    pbx.caller_hangs_up(call)
    simulator.refuse_with(None)
    await wait_for(hass, lambda: states[-1] == "idle", within=15)

    assert states == ["ringing", STATE_UNAVAILABLE, "idle"]


async def test_events_fire_after_the_states_they_change(
    hass: HomeAssistant, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """An automation on a call event reads the call state the event brought."""
    call_state = entity_id(hass, "sensor", "call_state", "1001")
    seen: list[tuple[str, str]] = []

    @callback
    def fired(event: Event[Any]) -> None:
        if event.data.get("user_id") == "1001":
            seen.append((event.data["type"], hass.states.get(call_state).state))

    hass.bus.async_listen(EVENT_CALL, fired)
    call = pbx.incoming_call(to="201")
    await wait_for(hass, lambda: seen)
    pbx.caller_hangs_up(call)
    await wait_for(hass, lambda: len(seen) == 2)

    assert seen == [("incoming_call", "ringing"), ("missed", "idle")]


async def test_older_generation_restores_voicemail_at_start(
    hass: HomeAssistant, pbx: Pbx, config_entry: MockConfigEntry
) -> None:
    """Without user records, the users of the last run are there at once, voicemail restored."""
    registry = dr.async_get(hass)
    config_entry.add_to_hass(hass)
    registry.async_get_or_create(
        config_entry_id=config_entry.entry_id,
        identifiers={(DOMAIN, f"{UNIQUE_ID}:1001")},
        name="Extension 201",
    )
    voicemail = (
        er.async_get(hass)
        .async_get_or_create(
            "binary_sensor",
            DOMAIN,
            f"{UNIQUE_ID}:1001_voicemail",
            suggested_object_id="extension_201_voicemail",
            config_entry=config_entry,
        )
        .entity_id
    )
    mock_restore_cache_with_extra_data(hass, [(State(voicemail, "on"), {})])
    server = SimulatorServer(pbx, domain=PBX_DOMAIN, token=TOKEN, generation="old")
    await server.start()
    try:
        hass.config_entries.async_update_entry(
            config_entry, data={**config_entry.data, "server": server.url}
        )
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()
        assert hass.states.get(voicemail).state == "on"
        assert hass.states.get(entity_id(hass, "sensor", "call_state", "1001")).state == "idle"
        # The PBX names no users, so a device kept from the last run can go by hand while idle.
        device = registry.async_get_device_by_identifier(
            (DOMAIN, f"{UNIQUE_ID}:1001"), config_entry.entry_id
        )
        assert device is not None
        call = pbx.incoming_call(to="201")
        await wait_for(
            hass,
            lambda: (
                hass.states.get(entity_id(hass, "sensor", "call_state", "1001")).state == "ringing"
            ),
        )
        assert not await async_remove_config_entry_device(hass, config_entry, device)
        pbx.caller_hangs_up(call)
        await wait_for(
            hass,
            lambda: (
                hass.states.get(entity_id(hass, "sensor", "call_state", "1001")).state == "idle"
            ),
        )
        assert await async_remove_config_entry_device(hass, config_entry, device)
        assert "1001" not in config_entry.runtime_data.extensions
        assert await hass.config_entries.async_unload(config_entry.entry_id)
    finally:
        await server.stop()


@pytest.mark.parametrize("name", [Atom("removed"), "removed"])
async def test_user_removed_by_the_pbx_loses_the_device_at_once(
    hass: HomeAssistant,
    simulator: SimulatorServer,
    pbx: Pbx,
    init_integration: MockConfigEntry,
    name: object,
) -> None:
    """An `info_event` naming a user `removed` (as atom or text) removes their device."""
    registry = dr.async_get(hass)
    record = simulator.builder.record("user", pbx.users["1003"].record())
    await simulator.send_raw(etf.encode((Atom("info_event"), Atom("user"), record, name)))
    await wait_for(
        hass,
        lambda: (
            not registry.async_get_device_by_identifier(
                (DOMAIN, f"{UNIQUE_ID}:1003"), init_integration.entry_id
            )
        ),
    )
    assert "1003" not in init_integration.runtime_data.extensions
    assert registry.async_get_device_by_identifier(
        (DOMAIN, f"{UNIQUE_ID}:1004"), init_integration.entry_id
    )


async def test_a_bug_in_one_connection_recovers(
    hass: HomeAssistant,
    simulator: SimulatorServer,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unexpected exception while reconnecting is logged once, and the connection returns."""
    coordinator = init_integration.runtime_data
    real_open = client_module._open
    failures = 0

    async def broken_open(*args: Any, **kwargs: Any) -> Any:
        nonlocal failures
        if failures < 3:
            failures += 1
            raise RuntimeError("a bug")
        return await real_open(*args, **kwargs)

    with patch.object(client_module, "_open", broken_open):
        await simulator.drop_connections()
        await wait_for(hass, lambda: failures == 3 and coordinator.connected, within=10)
    assert hass.states.get(entity_id(hass, "sensor", "call_state", "1001")).state == "idle"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "failed unexpectedly" in errors[0].getMessage()


async def test_a_dead_client_reloads_the_entry(
    hass: HomeAssistant,
    simulator: SimulatorServer,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Should the client itself end on a bug, the entry is reloaded rather than left dead."""
    old = init_integration.runtime_data
    real_delay = CtiClient._backoff_delay
    calls = 0

    def broken_delay(self: CtiClient, failures: int, retry_after: float | None) -> float:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug outside one connection")
        return real_delay(self, failures, retry_after)

    with patch.object(CtiClient, "_backoff_delay", broken_delay):
        await simulator.drop_connections()
        await wait_for(
            hass,
            lambda: (
                init_integration.state is ConfigEntryState.LOADED
                and init_integration.runtime_data is not old
                and init_integration.runtime_data.connected
            ),
            within=10,
        )
    assert caplog.text.count("ended unexpectedly; reloading") == 1
    await wait_for(hass, lambda: len(simulator.connections) == 1)


async def test_long_outage_raises_an_issue_until_the_pbx_returns(
    hass: HomeAssistant, simulator: SimulatorServer, init_integration: MockConfigEntry
) -> None:
    """Unreachable for long: a repair issue says so (the log stays at one INFO line)."""
    issue_id = f"pbx_unreachable_{init_integration.entry_id}"
    with patch("custom_components.basix_cti.coordinator.OUTAGE_ISSUE_AFTER", 0.3):
        simulator.refuse_with(503)
        await simulator.drop_connections()
        await wait_for(hass, lambda: ir.async_get(hass).async_get_issue(DOMAIN, issue_id))
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert not issue.is_fixable
    assert "503" in issue.translation_placeholders["error"]
    simulator.refuse_with(None)
    await wait_for(hass, lambda: init_integration.runtime_data.connected, within=10)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_short_outage_raises_no_issue(
    hass: HomeAssistant, simulator: SimulatorServer, init_integration: MockConfigEntry
) -> None:
    """A blip is back before the threshold: no issue, then or later."""
    coordinator = init_integration.runtime_data
    with patch("custom_components.basix_cti.coordinator.OUTAGE_ISSUE_AFTER", 0.5):
        await simulator.drop_connections()
        await wait_for(hass, lambda: coordinator.connected and coordinator.client.stats.reconnects)
    await hass.async_block_till_done()
    assert not ir.async_get(hass).issues


async def test_failed_unload_keeps_the_connection(
    hass: HomeAssistant, simulator: SimulatorServer, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """Platforms first, as core does: if they stay, the connection they read stays too."""
    with patch.object(hass.config_entries, "async_unload_platforms", return_value=False):
        assert not await hass.config_entries.async_unload(init_integration.entry_id)
    assert len(simulator.connections) == 1
    call_state = entity_id(hass, "sensor", "call_state", "1001")
    pbx.incoming_call(to="201")
    await wait_for(hass, lambda: hass.states.get(call_state).state == "ringing")
    await init_integration.runtime_data.async_shutdown()
