"""The Basix PBX integration: call states, call events and voicemail from a Basix cloud PBX."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.device_registry import DeviceEntry

from .const import DOMAIN, MANUFACTURER
from .coordinator import BasixConfigEntry, BasixCoordinator, device_identifier, issue_ids
from .cti.errors import AuthenticationError, ConnectionLimitError, CtiError

PLATFORMS = [Platform.BINARY_SENSOR, Platform.EVENT, Platform.SENSOR]


async def async_setup_entry(hass: HomeAssistant, entry: BasixConfigEntry) -> bool:
    """Connect to the PBX, wait for its first snapshot, then create the entities."""
    coordinator = BasixCoordinator(hass, entry)
    try:
        await coordinator.async_connect()
    except AuthenticationError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key="invalid_auth",
            translation_placeholders={"domain": coordinator.config.domain},
        ) from err
    except ConnectionLimitError as err:
        coordinator.async_raise_limit_issue(err)
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="connection_limit",
            translation_placeholders={"app_name": coordinator.config.app_name},
        ) from err
    except CtiError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"error": str(err)},
        ) from err

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
    """Close the connection first, so that nothing reaches entities being removed."""
    await entry.runtime_data.async_shutdown()
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: BasixConfigEntry) -> None:
    """A removed entry takes its repair issues with it, even one never loaded."""
    for issue_id in issue_ids(entry):
        ir.async_delete_issue(hass, DOMAIN, issue_id)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: BasixConfigEntry, device: DeviceEntry
) -> bool:
    """Let a user remove the device of a user the PBX no longer reports, never a current one."""
    if device_identifier(entry) in device.identifiers:
        return False
    if entry.state is not ConfigEntryState.LOADED:
        return True
    coordinator = entry.runtime_data
    current = {coordinator.device_identifier(user_id) for user_id in coordinator.extensions}
    return not device.identifiers & current
