"""The Basix PBX integration: call states, call events and voicemail from a Basix cloud PBX."""

from __future__ import annotations

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.device_registry import DeviceEntry

from .const import DOMAIN, MANUFACTURER
from .coordinator import BasixConfigEntry, BasixCoordinator
from .cti.client import check_connection
from .cti.errors import AuthenticationError, ConnectionLimitError, CtiError

PLATFORMS = [Platform.BINARY_SENSOR, Platform.EVENT, Platform.SENSOR]


async def async_setup_entry(hass: HomeAssistant, entry: BasixConfigEntry) -> bool:
    """Check that the PBX answers, then keep a live connection to it."""
    coordinator = BasixCoordinator(hass, entry)
    session = async_get_clientsession(hass, verify_ssl=coordinator.config.verify_tls)
    try:
        await check_connection(session, coordinator.config)
    except AuthenticationError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key="invalid_auth",
            translation_placeholders={"domain": coordinator.config.domain},
        ) from err
    except ConnectionLimitError as err:
        coordinator.connection_limited(err)
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
    coordinator.async_start()

    async def close(_: Event) -> None:
        await coordinator.client.close()

    entry.async_on_unload(hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, close))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: BasixConfigEntry) -> bool:
    """Close the connection (through the entry's unload callbacks) and drop the entities."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: BasixConfigEntry, device: DeviceEntry
) -> bool:
    """Let a user remove the device of a user the PBX no longer reports, never a current one."""
    coordinator = entry.runtime_data
    current = {coordinator.device_identifier()} | {
        coordinator.device_identifier(user_id) for user_id in coordinator.extensions
    }
    return not device.identifiers & current
