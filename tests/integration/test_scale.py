"""Per-event work is proportional to what changed, not to the size of the PBX."""

from __future__ import annotations

from unittest.mock import patch

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from basix_simulator.pbx import Pbx
from custom_components.basix_cti.entity import BasixEntity

from .conftest import entity_id, wait_for


@pytest.fixture
def pbx() -> Pbx:
    """A PBX with 200 extensions (users 1001-1200 on 201-400)."""
    return Pbx.demo(users=200, groups=0, seed=2)


async def test_one_call_wakes_only_its_extension(
    hass: HomeAssistant, pbx: Pbx, config_entry: MockConfigEntry
) -> None:
    """A call on one extension writes the state of that extension's entities only."""
    written: list[str] = []
    original = BasixEntity.async_write_ha_state

    def spy(entity: BasixEntity) -> None:
        written.append(entity.entity_id)
        original(entity)

    with patch.object(BasixEntity, "async_write_ha_state", spy):
        config_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        call_state = lambda: hass.states.get(entity_id(hass, "sensor", "call_state", "1050"))  # noqa: E731
        await wait_for(
            hass, lambda: hass.states.get(entity_id(hass, "sensor", "call_state", "1200"))
        )
        written.clear()

        pbx.incoming_call(to="250")
        await wait_for(hass, lambda: call_state().state == "ringing")

    assert set(written) == {
        entity_id(hass, "sensor", "call_state", "1050"),
        entity_id(hass, "event", "call", "1050"),
        entity_id(hass, "binary_sensor", "voicemail", "1050"),
        entity_id(hass, "binary_sensor", "do_not_disturb", "1050"),
        entity_id(hass, "binary_sensor", "call_forwarding", "1050"),
        entity_id(hass, "binary_sensor", "phone_registered", "1050"),
        entity_id(hass, "sensor", "presence", "1050"),
        # and the PBX's own, whatever its size
        entity_id(hass, "sensor", "active_calls"),
        entity_id(hass, "binary_sensor", "connection"),
    }
