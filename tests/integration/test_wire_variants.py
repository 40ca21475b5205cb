"""Whatever the PBX speaks (either generation, wrapped, Latin-1 atoms, compressed) just works."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from basix_simulator.pbx import Pbx
from basix_simulator.server import SimulatorServer
from custom_components.basix_cti.const import DOMAIN

from .conftest import PBX_DOMAIN, TOKEN, UNIQUE_ID, entity_id, wait_for


@pytest.mark.parametrize(
    "wire",
    [
        {"generation": "old", "wrap": True, "atoms": "latin1"},
        {"generation": "old", "wrap": False, "compressed": True},
        {"generation": "new", "atoms": "latin1", "compressed": True},
    ],
)
async def test_older_servers(
    hass: HomeAssistant, pbx: Pbx, config_entry: MockConfigEntry, wire: dict[str, object]
) -> None:
    """A call rings and is answered whatever the wire; without user records, legs reveal users."""
    server = SimulatorServer(pbx, domain=PBX_DOMAIN, token=TOKEN, **wire)  # type: ignore[arg-type]
    await server.start()
    try:
        config_entry.add_to_hass(hass)
        hass.config_entries.async_update_entry(
            config_entry, data={**config_entry.data, "server": server.url}
        )
        assert await hass.config_entries.async_setup(config_entry.entry_id)

        call = pbx.incoming_call(to="202", caller="0612345678")
        registry = dr.async_get(hass)
        await wait_for(
            hass,
            lambda: registry.async_get_device_by_identifier(
                (DOMAIN, f"{UNIQUE_ID}:1002"), config_entry.entry_id
            ),
        )
        # The user's entities follow their device a platform at a time.
        await wait_for(hass, lambda: entity_id(hass, "sensor", "call_state", "1002"))
        state_id = entity_id(hass, "sensor", "call_state", "1002")
        await wait_for(hass, lambda: hass.states.get(state_id).state == "ringing")
        assert hass.states.get(state_id).attributes["caller_number"] == "0612345678"
        pbx.answer(call)
        await wait_for(hass, lambda: hass.states.get(state_id).state == "talking")
        pbx.hangup(call)
        await wait_for(hass, lambda: hass.states.get(state_id).state == "idle")
        assert await hass.config_entries.async_unload(config_entry.entry_id)
    finally:
        await server.stop()


async def test_malformed_frames_are_skipped(
    hass: HomeAssistant,
    simulator: SimulatorServer,
    pbx: Pbx,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Garbage is logged once and skipped; the connection and every entity go on."""
    state_id = entity_id(hass, "sensor", "call_state", "1001")
    for frame in (b"\x83l\xff\xff\xff\xff", b"\x83h\x02d", b"not etf at all"):
        await simulator.send_raw(frame)
    await simulator.send_raw(b"\x83l\xff\xff\xff\xff")
    pbx.incoming_call(to="201")
    await wait_for(hass, lambda: hass.states.get(state_id).state == "ringing")

    assert len(simulator.connections) == 1
    assert init_integration.runtime_data.connected
    assert init_integration.runtime_data.client.stats.decode_errors == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len([w for w in warnings if "not valid ETF" in w]) == 1
