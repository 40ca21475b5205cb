"""Call events of each extension: incoming, outgoing, answered, missed, ended."""

from __future__ import annotations

from typing import override

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BasixConfigEntry
from .cti.calls import CallEvent, CallEventType
from .entity import BasixExtensionEntity, async_add_extension_entities

PARALLEL_UPDATES = 0

CALL = EventEntityDescription(
    key="call",
    translation_key="call",
    event_types=[event_type.value for event_type in CallEventType],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BasixConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add each extension's call event entity as the extension appears."""
    coordinator = entry.runtime_data
    async_add_extension_entities(
        entry,
        async_add_entities,
        lambda extension: [BasixCallEventEntity(coordinator, CALL, extension)],
    )


class BasixCallEventEntity(BasixExtensionEntity, EventEntity):
    """Fires on each transition of the extension's calls."""

    @override
    async def async_added_to_hass(self) -> None:
        """Listen for this extension's call events."""
        await super().async_added_to_hass()
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, self.coordinator.signal_call(self.extension.user_id), self._on_call_event
            )
        )

    @callback
    def _on_call_event(self, event: CallEvent) -> None:
        self._trigger_event(event.type.value, event.as_dict())
        self.async_write_ha_state()
