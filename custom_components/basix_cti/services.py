"""The actions of the Basix PBX integration: start a call, hang up, park and transfer calls.

`basix_cti.call` goes through the Basix REST API (`cti/api.py`); the other three are commands on
the entry's live WebSocket (`cti/commands.py`), which count as done only once the PBX's own
channel events show them. Everything that can be checked here is checked before anything is
sent: a device that is no extension of a loaded entry, an extension with no call, an empty
destination are `ServiceValidationError`s. What the PBX answers becomes a `HomeAssistantError` a
user can act on; a refused token also starts the entry's re-authentication.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_DEVICE_ID
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
import probatio

from .const import DOMAIN
from .cti.api import call_user
from .cti.calls import CallPhase
from .cti.commands import Command
from .cti.errors import (
    AuthenticationError,
    CallRejectedError,
    CommandNotConfirmedError,
    CtiError,
    NoSuchUserError,
    NotConnectedError,
    UnknownDestinationError,
)
from .cti.models import Channel, Group

if TYPE_CHECKING:
    from .coordinator import BasixCoordinator

SERVICE_CALL: Final = "call"
SERVICE_HANGUP: Final = "hangup"
SERVICE_PARK: Final = "park"
SERVICE_TRANSFER: Final = "transfer"

ATTR_DESTINATION: Final = "destination"
ATTR_AS_GROUP: Final = "as_group"
ATTR_CHANNEL_UUID: Final = "channel_uuid"
ATTR_TIMEOUT: Final = "timeout"

# How long a command may take to show in the PBX's channel events before the action fails.
COMMAND_TIMEOUT = 5.0
# How long the REST API may take to answer a call request.
CALL_TIMEOUT = 10.0

# Text fields are checked by the handlers, not the schema, so that a blank one gets a
# translated error instead of voluptuous's wording.
CALL_SCHEMA: Final = probatio.Schema(
    {
        probatio.Required(ATTR_DEVICE_ID): cv.string,
        probatio.Required(ATTR_DESTINATION): cv.string,
        probatio.Optional(ATTR_AS_GROUP): cv.string,
    }
)
_TARGET: Final[dict[Any, Any]] = {
    probatio.Exclusive(ATTR_DEVICE_ID, "target"): cv.string,
    probatio.Exclusive(ATTR_CHANNEL_UUID, "target"): cv.string,
}
HANGUP_SCHEMA: Final = probatio.Schema(_TARGET)
PARK_SCHEMA: Final = probatio.Schema(
    {
        **_TARGET,
        probatio.Optional(ATTR_TIMEOUT): probatio.All(
            probatio.Coerce(int), probatio.Range(min=1, max=86400)
        ),
    }
)
TRANSFER_SCHEMA: Final = probatio.Schema(
    {**_TARGET, probatio.Required(ATTR_DESTINATION): cv.string}
)


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions (once, for every entry)."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_CALL,
        _async_call,
        schema=CALL_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
    hass.services.async_register(DOMAIN, SERVICE_HANGUP, _async_hangup, schema=HANGUP_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_PARK, _async_park, schema=PARK_SCHEMA)
    hass.services.async_register(DOMAIN, SERVICE_TRANSFER, _async_transfer, schema=TRANSFER_SCHEMA)


async def _async_call(call: ServiceCall) -> ServiceResponse:
    """Ring the extension's phone; once it is answered, the PBX calls the destination."""
    coordinator, user_id = _extension(call.hass, call.data[ATTR_DEVICE_ID])
    destination = _destination(call.data[ATTR_DESTINATION])
    group_name = _group_name(call.hass, coordinator, call.data.get(ATTR_AS_GROUP))
    config = coordinator.config
    try:
        result = await call_user(
            async_get_clientsession(call.hass, verify_ssl=config.verify_tls),
            config,
            destination,
            user_id=user_id,
            group_name=group_name,
            timeout=CALL_TIMEOUT,
        )
    except AuthenticationError as err:
        coordinator.entry.async_start_reauth(call.hass)
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="call_auth_failed",
            translation_placeholders={"domain": config.domain},
        ) from err
    except UnknownDestinationError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="unknown_destination",
            translation_placeholders={"destination": destination},
        ) from err
    except NoSuchUserError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="no_such_user",
            translation_placeholders={"error_id": err.error_id or "-"},
        ) from err
    except CallRejectedError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="call_rejected",
            translation_placeholders={"error_id": err.error_id or "-"},
        ) from err
    except CtiError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="api_unreachable",
            translation_placeholders={"error": str(err)},
        ) from err
    if not call.return_response:
        return None
    return {"uuids": list(result.uuids)}


async def _async_hangup(call: ServiceCall) -> None:
    """End a call: the extension's current one, or the channel named."""
    coordinator, leg = _leg(call)
    await _send(coordinator, Command.hangup(leg))


async def _async_park(call: ServiceCall) -> None:
    """Park a call, to be picked up from its park slot."""
    coordinator, leg = _leg(call)
    if leg.state is not None and leg.state.name == "park":
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="already_parked")
    await _send(coordinator, Command.park(leg, call.data.get(ATTR_TIMEOUT)))


async def _async_transfer(call: ServiceCall) -> None:
    """Hand a call over to another number, extension or user."""
    destination = _destination(call.data[ATTR_DESTINATION])
    coordinator, leg = _leg(call)
    await _send(coordinator, Command.transfer(leg, destination))


async def _send(coordinator: BasixCoordinator, command: Command) -> None:
    try:
        await coordinator.client.send_command(command, confirm_within=COMMAND_TIMEOUT)
    except NotConnectedError as err:
        raise _not_connected(coordinator) from err
    except CommandNotConfirmedError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="command_not_confirmed",
            translation_placeholders={
                "command": err.command,
                "seconds": f"{err.seconds:g}",
            },
        ) from err


def _not_connected(coordinator: BasixCoordinator) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="not_connected",
        translation_placeholders={"pbx": coordinator.hub_name},
    )


def _destination(text: str) -> str:
    destination = text.strip()
    if not destination:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="empty_destination")
    return destination


def _our_device(hass: HomeAssistant, device_id: str) -> tuple[BasixCoordinator, str | None]:
    """The coordinator a device belongs to, and the device's key (None: the PBX's own device)."""
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_device",
            translation_placeholders={"device_id": device_id},
        )
    # A device belongs to one config entry (`config_entries` is deprecated for 2027.10).
    entry = hass.config_entries.async_get_entry(device.config_entry_id)
    if entry is not None and entry.domain == DOMAIN:
        if entry.state is not ConfigEntryState.LOADED:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="entry_not_loaded",
                translation_placeholders={"entry": entry.title},
            )
        coordinator: BasixCoordinator = entry.runtime_data
        base = coordinator.device_identifier()[1]
        for domain, identifier in device.identifiers:
            if domain != DOMAIN:
                continue
            if identifier == base:
                return coordinator, None
            if identifier.startswith(f"{base}:"):
                return coordinator, identifier.removeprefix(f"{base}:")
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="not_basix_device",
        translation_placeholders={"device": device.name_by_user or device.name or device_id},
    )


def _extension(hass: HomeAssistant, device_id: str) -> tuple[BasixCoordinator, str]:
    """The coordinator and user id of an extension's device."""
    coordinator, key = _our_device(hass, device_id)
    if key is None or key not in coordinator.extensions:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_an_extension")
    return coordinator, key


def _group_name(
    hass: HomeAssistant, coordinator: BasixCoordinator, value: str | None
) -> str | None:
    """The `group_name` the API wants, from a group's device or any name of the group.

    Without group records from the PBX (the older generation sends none), the text goes to the
    PBX as it is, and the PBX decides.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    groups = coordinator.state.groups
    if (device := dr.async_get(hass).async_get(text)) is not None:
        owner, key = _our_device(hass, device.id)
        group = _group_by_key(owner.state.groups, key) if owner is coordinator else None
        if group is None:
            raise ServiceValidationError(translation_domain=DOMAIN, translation_key="not_a_group")
        return group.name or group.id
    if not groups:
        return text
    for group in groups.values():
        if text in (group.name, group.label, group.extension, group.id):
            return group.name or group.id
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="unknown_group",
        translation_placeholders={"group": text},
    )


def _group_by_key(groups: Mapping[str, Group], key: str | None) -> Group | None:
    # A group's device is keyed `group:<id>` (a colon no user id has); a bare id is taken too.
    if key is None:
        return None
    for candidate in (key.removeprefix("group:"), key):
        if (group := groups.get(candidate)) is not None:
            return group
    return None


def _leg(call: ServiceCall) -> tuple[BasixCoordinator, Channel]:
    """The leg a command is about: the channel named, or the call the extension's state shows."""
    hass = call.hass
    if uuid := (call.data.get(ATTR_CHANNEL_UUID) or "").strip():
        for entry in hass.config_entries.async_loaded_entries(DOMAIN):
            coordinator = entry.runtime_data
            state = coordinator.state
            leg = state.channels.get(uuid) or state.parked_channels.get(uuid)
            if leg is not None:
                if not coordinator.connected:
                    raise _not_connected(coordinator)
                return coordinator, leg
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unknown_channel",
            translation_placeholders={"channel_uuid": uuid},
        )
    if ATTR_DEVICE_ID not in call.data:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_target")
    coordinator, user_id = _extension(hass, call.data[ATTR_DEVICE_ID])
    if not coordinator.connected:
        # The calls last seen may be over: "no call" or a stale leg would mislead.
        raise _not_connected(coordinator)
    calls = coordinator.tracker.calls_of(user_id)
    if not calls:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_call",
            translation_placeholders={"extension": coordinator.extensions[user_id].name},
        )
    # The first is the call the extension's call state shows.
    current = calls[0]
    leg = coordinator.state.channels.get(current.uuid) or current.channel
    if current.phase is CallPhase.PARKED and call.service == SERVICE_PARK:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="already_parked")
    return coordinator, leg
