"""Per-event work is proportional to what changed, not to the size of the PBX."""

from __future__ import annotations

from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from basix_simulator.pbx import Pbx
from custom_components.basix_cti.entity import BasixEntity

from .conftest import UNIQUE_ID, entity_id, wait_for


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


async def test_a_large_pbx_stays_within_the_entity_limit(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """Past LARGE_PBX_USERS users, only the entities most automations need start enabled.

    Home Assistant enables at most 10,000 entities of a config entry and drops the rest: at
    nine a user, a PBX of 2,000 would lose whole users' call states.
    """
    with patch("custom_components.basix_cti.entity.LARGE_PBX_USERS", 150):
        config_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await wait_for(
            hass, lambda: hass.states.get(entity_id(hass, "sensor", "call_state", "1200"))
        )
    registry = er.async_get(hass)
    enabled = {
        entry.unique_id.removeprefix(f"{UNIQUE_ID}:1050_")
        for entry in er.async_entries_for_config_entry(registry, config_entry.entry_id)
        if entry.unique_id.startswith(f"{UNIQUE_ID}:1050_") and entry.disabled_by is None
    }
    assert enabled == {"call_state", "call", "voicemail", "last_missed_call"}
    dnd = registry.async_get(entity_id(hass, "binary_sensor", "do_not_disturb", "1050"))
    assert dnd is not None
    assert dnd.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert hass.states.get(dnd.entity_id) is None
    # the PBX's own entities are not a user's, and stay enabled
    assert hass.states.get(entity_id(hass, "sensor", "active_calls")) is not None
