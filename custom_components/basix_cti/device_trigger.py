"""Device triggers: each call event of an extension, offered in the automation editor.

They match the `basix_cti_call` bus event by its `device_id` and `type`, so a trigger made in
the editor works the same as the event trigger written by hand.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.device_automation import DEVICE_TRIGGER_BASE_SCHEMA
from homeassistant.components.homeassistant.triggers import event as event_trigger
from homeassistant.const import CONF_DEVICE_ID, CONF_DOMAIN, CONF_PLATFORM, CONF_TYPE
from homeassistant.core import CALLBACK_TYPE, HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.trigger import TriggerActionType, TriggerInfo
from homeassistant.helpers.typing import ConfigType
import voluptuous as vol

from .const import DOMAIN, EVENT_CALL
from .coordinator import device_identifier
from .cti.calls import CallEventType
from .groups import GROUP_PREFIX

TRIGGER_TYPES = tuple(event_type.value for event_type in CallEventType)

TRIGGER_SCHEMA = DEVICE_TRIGGER_BASE_SCHEMA.extend({vol.Required(CONF_TYPE): vol.In(TRIGGER_TYPES)})


async def async_get_triggers(hass: HomeAssistant, device_id: str) -> list[dict[str, Any]]:
    """Every call event type, for a device that has calls (not the PBX's own)."""
    device = dr.async_get(hass).async_get(device_id)
    # A device belongs to one config entry (`config_entries` is deprecated for 2027.10).
    entry = hass.config_entries.async_get_entry(device.config_entry_id) if device else None
    if (
        device is None
        or entry is None
        or entry.domain != DOMAIN
        or device_identifier(entry) in device.identifiers
    ):
        return []
    # Nobody calls out as a ring group: its device has no outgoing calls.
    is_group = any(f":{GROUP_PREFIX}" in value for _, value in device.identifiers)
    return [
        {CONF_PLATFORM: "device", CONF_DOMAIN: DOMAIN, CONF_DEVICE_ID: device_id, CONF_TYPE: kind}
        for kind in TRIGGER_TYPES
        if not (is_group and kind == CallEventType.OUTGOING_CALL)
    ]


async def async_attach_trigger(
    hass: HomeAssistant,
    config: ConfigType,
    action: TriggerActionType,
    trigger_info: TriggerInfo,
) -> CALLBACK_TYPE:
    """Listen for the device's call events of the trigger's type."""
    event_config = event_trigger.TRIGGER_SCHEMA(
        {
            event_trigger.CONF_PLATFORM: "event",
            event_trigger.CONF_EVENT_TYPE: EVENT_CALL,
            event_trigger.CONF_EVENT_DATA: {
                CONF_DEVICE_ID: config[CONF_DEVICE_ID],
                CONF_TYPE: config[CONF_TYPE],
            },
        }
    )
    return await event_trigger.async_attach_trigger(
        hass, event_config, action, trigger_info, platform_type="device"
    )
