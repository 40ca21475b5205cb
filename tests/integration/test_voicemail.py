"""Voicemail: MWI only arrives on change, so the last state must survive a restart."""

from __future__ import annotations

from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache_with_extra_data,
)

from basix_simulator.pbx import Pbx
from basix_simulator.server import SimulatorServer
from custom_components.basix_cti.const import DOMAIN
from custom_components.basix_cti.cti import etf
from custom_components.basix_cti.cti.terms import Atom

from .conftest import UNIQUE_ID, entity_id, wait_for


def _register(hass: HomeAssistant, platform: str, user_id: str, key: str, object_id: str) -> str:
    """Pre-register an entity, as a previous run of Home Assistant would have."""
    return (
        er.async_get(hass)
        .async_get_or_create(
            platform, DOMAIN, f"{UNIQUE_ID}:{user_id}_{key}", suggested_object_id=object_id
        )
        .entity_id
    )


async def test_restored_until_the_pbx_says_otherwise(
    hass: HomeAssistant, pbx: Pbx, config_entry: MockConfigEntry
) -> None:
    """A box the PBX has not mentioned keeps its last state; one it mentions follows the PBX."""
    del pbx.mwi["1001"]  # a box the PBX has not mentioned since we connected
    assert pbx.mwi["1002"] == (2, 5)
    quiet = _register(hass, "binary_sensor", "1001", "voicemail", "yamada_voicemail")
    told = _register(hass, "binary_sensor", "1002", "voicemail", "suzuki_voicemail")
    count = _register(hass, "sensor", "1001", "voicemail_new_messages", "yamada_messages")
    mock_restore_cache_with_extra_data(
        hass,
        [
            (State(quiet, "on"), {}),
            (State(told, "off"), {}),
            (State(count, "3"), {"native_value": 3, "native_unit_of_measurement": None}),
        ],
    )

    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await wait_for(hass, lambda: hass.states.get(told) and hass.states.get(told).state == "on")
    assert hass.states.get(quiet).state == "on"
    assert hass.states.get(count).state == "3"

    pbx.set_mwi("201", new=0)
    await wait_for(hass, lambda: hass.states.get(quiet).state == "off")
    await wait_for(hass, lambda: hass.states.get(count).state == "0")


async def test_unavailable_is_not_restored_as_off(
    hass: HomeAssistant, pbx: Pbx, config_entry: MockConfigEntry
) -> None:
    """A state saved while unavailable says nothing: it comes back unknown, not off."""
    del pbx.mwi["1001"]
    quiet = _register(hass, "binary_sensor", "1001", "voicemail", "yamada_voicemail")
    count = _register(hass, "sensor", "1001", "voicemail_new_messages", "yamada_messages")
    mock_restore_cache_with_extra_data(
        hass,
        [
            (State(quiet, "unavailable"), {}),
            (State(count, "unavailable"), {"native_value": 3, "native_unit_of_measurement": None}),
        ],
    )
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await wait_for(hass, lambda: hass.states.get(quiet) and hass.states.get(count))
    assert hass.states.get(quiet).state == "unknown"
    assert hass.states.get(count).state == "unknown"


async def test_count_is_disabled_by_default(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Most people need the on/off sensor, not the count."""
    entry = er.async_get(hass).async_get(
        entity_id(hass, "sensor", "voicemail_new_messages", "1002")
    )
    assert entry is not None
    assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION


async def test_the_users_own_mwi_field_drives_voicemail(
    hass: HomeAssistant, simulator: SimulatorServer, init_integration: MockConfigEntry
) -> None:
    """Today's PBX reports a box in its owner's user record: the entities follow that."""
    registry = er.async_get(hass)
    waiting = registry.async_get_entity_id("binary_sensor", DOMAIN, f"{UNIQUE_ID}:1001_voicemail")
    fields = ["id", "name", "main_extension", "label", "mwi"]
    await simulator.send_raw(
        etf.encode((Atom("field_spec"), Atom("user"), [Atom(f) for f in fields]), atoms="latin1")
    )
    for mwi, state, new in ((b"4/1 (0/0)", "on", 4), (b"", "off", 0)):
        record = (1001, b"yamada", b"201", "山田 太郎".encode(), mwi)
        await simulator.send_raw(
            etf.encode((Atom("info_event"), Atom("user"), record, Atom("updated")), atoms="latin1")
        )
        await wait_for(hass, lambda s=state: hass.states.get(waiting).state == s)  # type: ignore[union-attr]
        coordinator = init_integration.runtime_data
        box = coordinator.mwi_of(coordinator.extensions["1001"])
        assert box is not None
        assert box.new_messages == new
