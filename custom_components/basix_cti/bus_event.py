"""The data of the `basix_cti_call` bus event.

Besides the call, it names the device and the Call entity the event belongs to: that is how the
logbook shows it in the device's Activity, how clicking it leads to the extension, and what the
device triggers match on. The PBX's raw record (up to kilobytes per leg, kept by the recorder for
every call) is only added when the entry's option asks for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er

from .const import CONF_RAW_RECORD, DOMAIN
from .cti.calls import CallEvent
from .cti.export import to_json
from .history import present

# The key of the Call event entity within its device's identifier (see BasixEntity).
CALL_ENTITY_KEY = "call"


def call_event_data(
    hass: HomeAssistant,
    entry_id: str,
    event: CallEvent,
    *,
    device_identifier: tuple[str, str],
    extension: str | None,
    options: Mapping[str, Any],
    group_id: str | None = None,
) -> dict[str, Any]:
    """The bus event's data for one call event of the device with `device_identifier`.

    A group's call has the group's `group_id` where a user's has their `user_id`.
    """
    device = dr.async_get(hass).async_get_device_by_identifier(device_identifier, entry_id)
    entity_id = er.async_get(hass).async_get_entity_id(
        "event", DOMAIN, f"{device_identifier[1]}_{CALL_ENTITY_KEY}"
    )
    data = present(
        {
            "type": event.type.value,
            "user_id": None if group_id else event.user_id,
            "group_id": group_id,
            "extension": extension,
            "device_id": device.id if device else None,
            "entity_id": entity_id,
            **event.as_dict(),
        }
    )
    if options.get(CONF_RAW_RECORD, False):
        # The leg as the PBX sent it, for what this integration does not model yet.
        data["record"] = to_json(event.call.channel.fields)
    return data
