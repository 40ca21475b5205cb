"""Set-up, unload, failures at set-up, the connection's life, and the PBX's users as devices."""

from __future__ import annotations

import asyncio
import time
from unittest.mock import patch

import aiohttp
from aiohttp import web
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, STATE_UNAVAILABLE
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from basix_simulator.pbx import Pbx
from basix_simulator.server import SimulatorServer
from custom_components.basix_cti.const import CONF_FORCED, DOMAIN

from .conftest import PBX_DOMAIN, TOKEN, UNIQUE_ID, basic_auth, entity_id, wait_for


async def test_setup_and_unload(
    hass: HomeAssistant, simulator: SimulatorServer, init_integration: MockConfigEntry
) -> None:
    """Loaded: one connection, a device per user under the PBX's; unloaded: connection closed."""
    assert init_integration.state is ConfigEntryState.LOADED
    assert len(simulator.connections) == 1

    devices = dr.async_entries_for_config_entry(dr.async_get(hass), init_integration.entry_id)
    hub = next(d for d in devices if (DOMAIN, UNIQUE_ID) in d.identifiers)
    assert hub.name == f"Basix PBX ({PBX_DOMAIN})"
    users = [d for d in devices if d is not hub]
    # A device per user, and one per ring or hunt group.
    assert sorted(d.name for d in users) == sorted(
        f"{owner.label} ({owner.extension})"
        for owner in (*simulator.pbx.users.values(), *simulator.pbx.groups.values())
    )
    assert all(d.via_device_id == hub.id for d in users)

    assert hass.states.get(entity_id(hass, "binary_sensor", "connection")).state == "on"

    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.NOT_LOADED
    await wait_for(hass, lambda: not simulator.connections)


async def test_setup_refused_token_starts_reauth(
    hass: HomeAssistant,
    simulator: SimulatorServer,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A token the PBX refuses at start-up asks the user for a new one."""
    simulator.revoke_token("other")
    config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_ERROR
    # Said once, by Home Assistant's set-up error, not again by the connection task.
    assert f"Basix PBX ({PBX_DOMAIN}) refused the API token" not in caplog.text
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]


async def test_setup_refusal_in_words_ends_in_reauth(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """A PBX that says "unauthorized" only in its close reason is believed once it repeats."""

    async def refuse(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.close(code=1008, message=b"unauthorized: invalid token")
        return ws

    app = web.Application()
    app.router.add_get("/basix/api/ws_cti", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        config_entry.add_to_hass(hass)
        hass.config_entries.async_update_entry(
            config_entry, data={**config_entry.data, "server": f"ws://127.0.0.1:{port}"}
        )
        assert not await hass.config_entries.async_setup(config_entry.entry_id)
        assert config_entry.state is ConfigEntryState.SETUP_ERROR
        flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    finally:
        await runner.cleanup()


async def test_setup_ends_when_home_assistant_stops(
    hass: HomeAssistant,
    simulator: SimulatorServer,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stopping while set-up waits for a silent PBX ends set-up at once, not at its timeout."""
    simulator.stall(True)
    config_entry.add_to_hass(hass)
    setup = asyncio.create_task(hass.config_entries.async_setup(config_entry.entry_id))
    async with asyncio.timeout(5):  # (not wait_for: it would wait for set-up itself)
        await simulator.wait_for_connections(1)
    started = time.monotonic()
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    assert not await setup
    assert time.monotonic() - started < 5  # the set-up timeout is 20 s
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert "Unable to remove unknown job listener" not in caplog.text


async def test_setup_unreachable_retries(
    hass: HomeAssistant, simulator: SimulatorServer, config_entry: MockConfigEntry
) -> None:
    """A PBX that cannot be reached is retried later."""
    simulator.refuse_with(503)
    config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY


async def test_connection_limit_raises_fixable_issue(
    hass: HomeAssistant, simulator: SimulatorServer, config_entry: MockConfigEntry
) -> None:
    """Two other apps hold the slots: a repair issue offers takeover, and fixing it connects."""
    async with aiohttp.ClientSession() as session:
        url = f"{simulator.url}/basix/api/ws_cti?app_name=home_assistant&full_events=true"
        others = [await session.ws_connect(url, headers=basic_auth()) for _ in range(2)]

        config_entry.add_to_hass(hass)
        assert not await hass.config_entries.async_setup(config_entry.entry_id)
        assert config_entry.state is ConfigEntryState.SETUP_RETRY
        issue_id = f"connection_limit_{config_entry.entry_id}"
        issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
        assert issue is not None
        assert issue.is_fixable

        assert await async_setup_component(hass, "repairs", {})
        from homeassistant.components.repairs import repairs_flow_manager

        manager = repairs_flow_manager(hass)
        assert manager is not None
        result = await manager.async_init(DOMAIN, data={"issue_id": issue_id})
        assert result["step_id"] == "confirm"
        result = await manager.async_configure(result["flow_id"], {})
        assert result["type"] == "create_entry"
        await hass.async_block_till_done()

        assert config_entry.options[CONF_FORCED] is True
        await wait_for(hass, lambda: config_entry.state is ConfigEntryState.LOADED, within=10)
        assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
        for ws in others:
            await ws.close()


async def test_drop_and_recovery(
    hass: HomeAssistant,
    simulator: SimulatorServer,
    pbx: Pbx,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Unavailable only while down; back with what happened meanwhile; logged once each way."""
    call_state = entity_id(hass, "sensor", "call_state", "1001")
    connection = entity_id(hass, "binary_sensor", "connection")
    call = pbx.incoming_call(to="201")
    await wait_for(hass, lambda: hass.states.get(call_state).state == "ringing")

    simulator.refuse_with(503)
    await simulator.drop_connections()
    await wait_for(hass, lambda: hass.states.get(call_state).state == STATE_UNAVAILABLE)
    assert hass.states.get(connection).state == "off"

    pbx.caller_hangs_up(call)  # ends while we are away
    simulator.refuse_with(None)
    await wait_for(hass, lambda: hass.states.get(call_state).state == "idle", within=15)
    assert hass.states.get(connection).state == "on"
    assert caplog.text.count("Lost connection") == 1
    assert caplog.text.count("restored") == 1
    assert TOKEN not in caplog.text


async def test_token_revoked_while_connected(
    hass: HomeAssistant, simulator: SimulatorServer, init_integration: MockConfigEntry
) -> None:
    """A token revoked at the PBX opens a reauth flow; entities show the outage."""
    simulator.revoke_token("other")
    await wait_for(
        hass, lambda: bool(hass.config_entries.flow.async_progress_by_handler(DOMAIN)), within=10
    )
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flows[0]["context"]["source"] == SOURCE_REAUTH
    assert (
        hass.states.get(entity_id(hass, "sensor", "call_state", "1001")).state == STATE_UNAVAILABLE
    )


async def test_users_deleted_while_away_lose_their_devices(
    hass: HomeAssistant, simulator: SimulatorServer, config_entry: MockConfigEntry
) -> None:
    """A device from before a restart, of a user two snapshots in a row lack, is removed."""
    config_entry.add_to_hass(hass)
    registry = dr.async_get(hass)
    registry.async_get_or_create(
        config_entry_id=config_entry.entry_id, identifiers={(DOMAIN, f"{UNIQUE_ID}:9999")}
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    # One snapshot may be partial: the device stays (and its entities show).
    assert registry.async_get_device_by_identifier(
        (DOMAIN, f"{UNIQUE_ID}:9999"), config_entry.entry_id
    )
    await simulator.close_connections()
    await wait_for(
        hass,
        lambda: (
            not registry.async_get_device_by_identifier(
                (DOMAIN, f"{UNIQUE_ID}:9999"), config_entry.entry_id
            )
        ),
    )
    assert registry.async_get_device_by_identifier(
        (DOMAIN, f"{UNIQUE_ID}:1001"), config_entry.entry_id
    )


async def test_empty_user_snapshot_removes_no_device(
    hass: HomeAssistant,
    simulator: SimulatorServer,
    pbx: Pbx,
    init_integration: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A PBX that sends no users on a reconnect (not ready yet) does not remove everyone."""
    registry = dr.async_get(hass)
    snapshot = pbx.snapshot
    monkeypatch.setattr(
        pbx, "snapshot", lambda entity: [] if entity == "user" else snapshot(entity)
    )
    coordinator = init_integration.runtime_data
    for reconnects in (1, 2):
        await simulator.close_connections()
        await wait_for(
            hass,
            lambda n=reconnects: coordinator.connected and coordinator.client.stats.reconnects == n,
        )
    devices = dr.async_entries_for_config_entry(registry, init_integration.entry_id)
    assert len(devices) == 6  # the PBX, its four users and its ring group
    # A box is reported in its owner's user record: with no users, nothing is known of it,
    # and the entity says so instead of showing the old count; the user's next record tells.
    voicemail = entity_id(hass, "binary_sensor", "voicemail", "1002")
    assert hass.states.get(voicemail).state == "unknown"
    pbx.set_mwi("1002", new=1)
    await wait_for(hass, lambda: hass.states.get(voicemail).state == "on")


async def test_users_come_and_go(
    hass: HomeAssistant, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """A user added at the PBX gets a device without a reload; a removed one loses it."""
    registry = dr.async_get(hass)
    user = pbx.add_user(id="1100", name="new.user", label="新人 花子", extension="299")
    await wait_for(
        hass,
        lambda: registry.async_get_device_by_identifier(
            (DOMAIN, f"{UNIQUE_ID}:1100"), init_integration.entry_id
        ),
    )
    assert hass.states.get(entity_id(hass, "sensor", "call_state", "1100")).state == "idle"
    device = registry.async_get_device_by_identifier(
        (DOMAIN, f"{UNIQUE_ID}:1100"), init_integration.entry_id
    )
    assert device is not None
    assert device.name == "新人 花子 (299)"

    pbx.update_user(user, label="新人 花", extension="298")
    await wait_for(hass, lambda: registry.async_get(device.id).name == "新人 花 (298)")

    pbx.remove_user(user)
    await wait_for(
        hass,
        lambda: (
            not registry.async_get_device_by_identifier(
                (DOMAIN, f"{UNIQUE_ID}:1100"), init_integration.entry_id
            )
        ),
    )


async def test_remove_device_only_when_gone(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """A current user's device cannot be removed by hand; one the PBX no longer has can."""
    from custom_components.basix_cti import async_remove_config_entry_device

    registry = dr.async_get(hass)
    current = registry.async_get_device_by_identifier(
        (DOMAIN, f"{UNIQUE_ID}:1001"), init_integration.entry_id
    )
    assert current is not None
    assert not await async_remove_config_entry_device(hass, init_integration, current)
    stale = registry.async_get_or_create(
        config_entry_id=init_integration.entry_id, identifiers={(DOMAIN, f"{UNIQUE_ID}:9999")}
    )
    assert await async_remove_config_entry_device(hass, init_integration, stale)
    hub = registry.async_get_device_by_identifier((DOMAIN, UNIQUE_ID), init_integration.entry_id)
    assert hub is not None
    assert not await async_remove_config_entry_device(hass, init_integration, hub)

    await hass.config_entries.async_unload(init_integration.entry_id)
    assert await async_remove_config_entry_device(hass, init_integration, current)


async def test_setup_silent_pbx_retries(
    hass: HomeAssistant, simulator: SimulatorServer, config_entry: MockConfigEntry
) -> None:
    """A PBX that accepts the connection but sends nothing is retried, and not left connected."""
    simulator.stall(True)
    config_entry.add_to_hass(hass)
    with patch("custom_components.basix_cti.coordinator.CONNECT_TIMEOUT", 0.3):
        assert not await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    await wait_for(hass, lambda: not simulator.connections)


async def test_shutdown_keeps_states(
    hass: HomeAssistant, simulator: SimulatorServer, init_integration: MockConfigEntry
) -> None:
    """While Home Assistant stops, a closing connection does not make entities unavailable.

    Otherwise "unavailable" is what gets saved, and voicemail would come back unknown.
    """
    voicemail = entity_id(hass, "binary_sensor", "voicemail", "1002")
    assert hass.states.get(voicemail).state == "on"
    hass.set_state(CoreState.stopping)
    try:
        await simulator.drop_connections()
        await asyncio.sleep(0.2)
        await hass.async_block_till_done()
        assert hass.states.get(voicemail).state == "on"
    finally:
        hass.set_state(CoreState.running)


async def test_one_connection_through_reloads(
    hass: HomeAssistant, simulator: SimulatorServer, init_integration: MockConfigEntry
) -> None:
    """Set-up opens one connection (no separate probe), and a reload leaves exactly one."""
    assert len(simulator.connections) == 1
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    await wait_for(hass, lambda: len(simulator.connections) == 1)
    assert init_integration.runtime_data.connected


async def test_pushed_out_at_runtime_raises_issue(
    hass: HomeAssistant, simulator: SimulatorServer, init_integration: MockConfigEntry
) -> None:
    """Two other apps take over both slots: Home Assistant is out, and a repair issue says why."""
    async with aiohttp.ClientSession() as session:
        url = (
            f"{simulator.url}/basix/api/ws_cti?app_name=home_assistant&full_events=true&forced=true"
        )
        others = [await session.ws_connect(url, headers=basic_auth()) for _ in range(2)]
        issue_id = f"connection_taken_over_{init_integration.entry_id}"
        await wait_for(hass, lambda: ir.async_get(hass).async_get_issue(DOMAIN, issue_id))
        # Turning takeover on here too would only start a tug of war: nothing to "fix".
        assert not ir.async_get(hass).async_get_issue(DOMAIN, issue_id).is_fixable
        assert hass.states.get(entity_id(hass, "binary_sensor", "connection")).state == "off"
        for ws in others:
            await ws.close()
    await wait_for(hass, lambda: init_integration.runtime_data.connected, within=10)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_unload_leaves_no_issue(
    hass: HomeAssistant, simulator: SimulatorServer, config_entry: MockConfigEntry
) -> None:
    """An entry that is unloaded (or removed) takes its repair issue with it."""
    async with aiohttp.ClientSession() as session:
        url = f"{simulator.url}/basix/api/ws_cti?app_name=home_assistant&full_events=true"
        others = [await session.ws_connect(url, headers=basic_auth()) for _ in range(2)]
        config_entry.add_to_hass(hass)
        assert not await hass.config_entries.async_setup(config_entry.entry_id)
        assert ir.async_get(hass).issues
        assert await hass.config_entries.async_remove(config_entry.entry_id)
        await hass.async_block_till_done()
        assert not ir.async_get(hass).issues
        for ws in others:
            await ws.close()


@pytest.mark.parametrize(
    ("server", "portal"),
    [
        ("bcs.brastel.com", "https://bcs.brastel.com/basix/"),
        ("wss://pbx.example.com:8443", "https://pbx.example.com:8443/basix/"),
        ("https://pbx.example.com", "https://pbx.example.com/basix/"),
        ("ws://127.0.0.1:8765", None),
        ("http://127.0.0.1:8765", None),
    ],
)
async def test_pbx_device_links_to_its_portal(
    hass: HomeAssistant, config_entry: MockConfigEntry, server: str, portal: str | None
) -> None:
    """The PBX device's link opens the Basix portal; a local simulator has none."""
    from custom_components.basix_cti.coordinator import BasixCoordinator

    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, data={**config_entry.data, "server": server}
    )
    assert BasixCoordinator(hass, config_entry).portal_url == portal
