"""The Basix PBX integration: call states, call events and voicemail from a Basix cloud PBX."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    issue_registry as ir,
)
from homeassistant.helpers.device_registry import DeviceEntry
from homeassistant.helpers.typing import ConfigType

from .const import DOMAIN, MANUFACTURER
from .coordinator import BasixConfigEntry, BasixCoordinator, Issue, device_identifier, issue_id
from .services import async_setup_services

PLATFORMS = [Platform.BINARY_SENSOR, Platform.EVENT, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions once, whether or not an entry loads: they explain when none is."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: BasixConfigEntry) -> bool:
    """Connect to the PBX, wait until its snapshots are in, then create the entities."""
    coordinator = BasixCoordinator(hass, entry)
    await coordinator.async_setup()
    entry.runtime_data = coordinator
    dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={coordinator.device_identifier()},
        name=coordinator.hub_name,
        manufacturer=MANUFACTURER,
        model="Basix PBX",
        entry_type=dr.DeviceEntryType.SERVICE,
        configuration_url=coordinator.portal_url,
    )
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: BasixConfigEntry) -> bool:
    """Remove the entities, then close the connection (kept if the platforms stay)."""
    entry.runtime_data.entity_adds.close()  # none may be added to a platform going away
    if unload_ok := await hass.config_entries.async_unload_platforms(entry, PLATFORMS):
        await entry.runtime_data.async_shutdown()
    return unload_ok


async def async_remove_entry(hass: HomeAssistant, entry: BasixConfigEntry) -> None:
    """A removed entry takes its repair issues with it, even one never loaded."""
    for issue in Issue:
        ir.async_delete_issue(hass, DOMAIN, issue_id(entry, issue))


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: BasixConfigEntry, device: DeviceEntry
) -> bool:
    """Let a user remove the device of a user the PBX no longer reports, never a current one."""
    if device_identifier(entry) in device.identifiers:
        return False
    if entry.state is not ConfigEntryState.LOADED:
        return True
    coordinator = entry.runtime_data
    if any(
        coordinator.device_identifier(group.key) in device.identifiers
        for group in coordinator.groups.values()
    ):
        return False  # a group the PBX reports
    return coordinator.async_release_device(device)
