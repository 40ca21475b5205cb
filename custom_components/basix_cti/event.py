"""Call events of each extension: incoming, outgoing, answered, missed, ended."""

from __future__ import annotations

from typing import override

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .bus_event import CALL_ENTITY_KEY
from .coordinator import BasixConfigEntry
from .cti.calls import CallEvent, CallEventType
from .entity import (
    BasixEntity,
    BasixExtensionEntity,
    BasixGroupEntity,
    async_add_extension_entities,
    async_add_group_entities,
)
from .history import present
from .logbook import async_load_logbook_texts

PARALLEL_UPDATES = 0

CALL = EventEntityDescription(
    key=CALL_ENTITY_KEY,
    translation_key="call",
    event_types=[event_type.value for event_type in CallEventType],
)
# A group only takes calls: nobody calls out "as" a ring group.
GROUP_CALL = EventEntityDescription(
    key=CALL_ENTITY_KEY,
    translation_key="call",
    event_types=[
        event_type.value
        for event_type in CallEventType
        if event_type is not CallEventType.OUTGOING_CALL
    ],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BasixConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add each extension's call event entity as the extension appears."""
    coordinator = entry.runtime_data
    # The logbook describes call events without awaiting: its words must be loaded already.
    await async_load_logbook_texts(hass, entry)
    async_add_extension_entities(
        entry,
        async_add_entities,
        lambda extension: [BasixCallEventEntity(coordinator, CALL, extension)],
    )
    async_add_group_entities(
        entry,
        async_add_entities,
        lambda group: [BasixGroupCallEventEntity(coordinator, GROUP_CALL, group)],
    )


class BasixCallEvents(BasixEntity, EventEntity):
    """Fires on each transition of the calls of a user or group.

    Its state is the time of the last event, which the logbook lists as a call event each time
    the state changes. So it never goes unavailable and back (a reconnect would list the last
    event again), and it does not come back from the placeholder Home Assistant shows while it
    is not loaded (a reload or a late start would).
    """

    @property
    @override
    def available(self) -> bool:
        """Always: an event that happened stays true while the connection is down."""
        return True

    @override
    async def async_added_to_hass(self) -> None:
        """Listen for this extension's call events."""
        await super().async_added_to_hass()
        placeholder = self.hass.states.get(self.entity_id)
        if placeholder is not None and placeholder.state == STATE_UNAVAILABLE:
            # Removed, the restored event is written as new, not as a change from unavailable.
            self.hass.states.async_remove(self.entity_id)
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, self.coordinator.signal_call(self._user_id or ""), self._on_call_event
            )
        )

    @callback
    @override
    def _async_handle_update(self) -> None:
        """Nothing: only a call event changes this entity."""

    @callback
    def _on_call_event(self, event: CallEvent) -> None:
        self._trigger_event(event.type.value, present(event.as_dict()))
        self.async_write_ha_state()


class BasixCallEventEntity(BasixExtensionEntity, BasixCallEvents):
    """Fires on each transition of the extension's calls."""


class BasixGroupCallEventEntity(BasixGroupEntity, BasixCallEvents):
    """Fires on each transition of the calls to a ring or hunt group."""
