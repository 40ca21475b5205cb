"""Sensors: each extension's call state, voicemail and call history; the PBX's active calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self, override

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, State, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import ExtraStoredData, RestoreEntity
from homeassistant.helpers.typing import StateType
from homeassistant.util import dt as dt_util

from .coordinator import BasixConfigEntry, BasixCoordinator, Extension
from .cti.calls import CallEvent, CallPhase
from .cti.models import USER
from .entity import (
    BasixEntity,
    BasixExtensionEntity,
    BasixExtensionEntityDescription,
    BasixGroupEntity,
    BasixRestoringEntity,
    async_add_extension_entities,
    async_add_group_entities,
    has_field,
)
from .groups import GROUP_PHASES, members_attribute
from .history import (
    ended_at,
    is_finished,
    is_missed,
    last_call_attributes,
    missed_call_attributes,
    present,
)

# Entities only write state on push; nothing here does I/O.
PARALLEL_UPDATES = 0

# The call state's attributes: those of the call that matters most, then every call.
CALL_ATTRIBUTES = (
    "direction",
    "caller_number",
    "caller_name",
    "called_number",
    "remote_number",
    "remote_name",
    "remote_organization",
    "our_number",
    "started_at",
    "answered_at",
)


@dataclass(frozen=True, kw_only=True)
class BasixPbxSensorEntityDescription(SensorEntityDescription):
    """A sensor of the whole PBX."""

    value_fn: Callable[[BasixCoordinator], StateType]


@dataclass(frozen=True, kw_only=True)
class BasixExtensionSensorEntityDescription(
    SensorEntityDescription, BasixExtensionEntityDescription
):
    """A sensor of one extension."""

    value_fn: Callable[[BasixCoordinator, Extension], StateType]


@dataclass(frozen=True, kw_only=True)
class BasixGroupSensorEntityDescription(SensorEntityDescription):
    """A sensor of one ring or hunt group."""

    value_fn: Callable[[BasixCoordinator, str], StateType]
    attributes_fn: Callable[[BasixCoordinator, str], dict[str, Any]] | None = None


type HistoryValue = StateType | datetime


@dataclass(frozen=True, kw_only=True)
class BasixCallHistorySensorEntityDescription(SensorEntityDescription):
    """A sensor of what an extension's finished calls left behind, kept across restarts.

    `records_fn` picks the call events the sensor follows; `value_fn` makes the new value from
    such an event and the value before it.
    """

    records_fn: Callable[[CallEvent], bool]
    value_fn: Callable[[CallEvent, HistoryValue], HistoryValue]
    attributes_fn: Callable[[CallEvent], dict[str, Any]] | None = None
    initial: HistoryValue = None


def _call_attributes(coordinator: BasixCoordinator, extension: Extension) -> dict[str, Any]:
    calls = [call.as_dict() for call in coordinator.tracker.calls_of(extension.user_id)]
    top = calls[0] if calls else {}
    # Only what the PBX said: a ringing call shows no "Answered: unknown" row.
    return present({key: top.get(key) for key in CALL_ATTRIBUTES}) | {"calls": calls}


def _new_messages(coordinator: BasixCoordinator, extension: Extension) -> StateType:
    mwi = coordinator.mwi_of(extension)
    return mwi.new_messages if mwi else None


def _presence(coordinator: BasixCoordinator, extension: Extension) -> StateType:
    user = coordinator.state.users.get(extension.user_id)
    return user.presence if user else None


def _group_call_attributes(coordinator: BasixCoordinator, group_id: str) -> dict[str, Any]:
    groups = coordinator.group_calls
    calls = [present(call.as_dict()) for call in groups.calls_of(group_id)]
    top = calls[0] if calls else {}
    waiting = [
        present(
            {
                "caller_number": channel.calling_number,
                "caller_name": channel.calling_name,
                "since": channel.offered_at.isoformat() if channel.offered_at else None,
            }
        )
        for channel in groups.waiting_of(group_id)
    ]
    return present({key: top.get(key) for key in CALL_ATTRIBUTES}) | {
        "calls": calls,
        "waiting_calls": waiting,
        "members": members_attribute(groups.members_of(group_id), coordinator.extension_name),
    }


GROUP_SENSORS: tuple[BasixGroupSensorEntityDescription, ...] = (
    BasixGroupSensorEntityDescription(
        key="call_state",
        translation_key="group_call_state",
        device_class=SensorDeviceClass.ENUM,
        options=[phase.value for phase in GROUP_PHASES],
        value_fn=lambda coordinator, group_id: coordinator.group_calls.phase_of(group_id).value,
        attributes_fn=_group_call_attributes,
    ),
    BasixGroupSensorEntityDescription(
        key="waiting_calls",
        translation_key="waiting_calls",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda coordinator, group_id: len(coordinator.group_calls.waiting_of(group_id)),
    ),
)

PBX_SENSORS: tuple[BasixPbxSensorEntityDescription, ...] = (
    BasixPbxSensorEntityDescription(
        key="active_calls",
        translation_key="active_calls",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda coordinator: coordinator.tracker.active_calls,
    ),
)

EXTENSION_SENSORS: tuple[BasixExtensionSensorEntityDescription, ...] = (
    BasixExtensionSensorEntityDescription(
        key="call_state",
        translation_key="call_state",
        device_class=SensorDeviceClass.ENUM,
        options=[phase.value for phase in CallPhase],
        value_fn=lambda coordinator, extension: (
            coordinator.tracker.phase_of(extension.user_id).value
        ),
        attributes_fn=_call_attributes,
    ),
    BasixExtensionSensorEntityDescription(
        key="voicemail_new_messages",
        translation_key="voicemail_new_messages",
        state_class=SensorStateClass.MEASUREMENT,
        # The voicemail binary sensor is what most automations need; the count is for some.
        entity_registry_enabled_default=False,
        value_fn=_new_messages,
    ),
    BasixExtensionSensorEntityDescription(
        key="presence",
        translation_key="presence",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_presence,
        exists_fn=has_field(USER, "presence"),
    ),
)


def _one_more(_: CallEvent, count: HistoryValue) -> HistoryValue:
    return (count if isinstance(count, int) else 0) + 1


HISTORY_SENSORS: tuple[BasixCallHistorySensorEntityDescription, ...] = (
    BasixCallHistorySensorEntityDescription(
        key="last_missed_call",
        translation_key="last_missed_call",
        device_class=SensorDeviceClass.TIMESTAMP,
        records_fn=is_missed,
        value_fn=lambda event, _: ended_at(event),
        attributes_fn=missed_call_attributes,
    ),
    BasixCallHistorySensorEntityDescription(
        key="last_call",
        translation_key="last_call",
        device_class=SensorDeviceClass.TIMESTAMP,
        # Last missed call and the Call events answer what most people ask; this is for some.
        entity_registry_enabled_default=False,
        records_fn=is_finished,
        value_fn=lambda event, _: ended_at(event),
        attributes_fn=last_call_attributes,
    ),
    BasixCallHistorySensorEntityDescription(
        key="missed_calls",
        translation_key="missed_calls",
        # Only ever counts up: a utility meter or statistics card makes "missed today" of it.
        state_class=SensorStateClass.TOTAL_INCREASING,
        records_fn=is_missed,
        value_fn=_one_more,
        initial=0,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BasixConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the PBX's sensors now, and each extension's as the extension appears."""
    coordinator = entry.runtime_data
    async_add_entities(BasixPbxSensor(coordinator, description) for description in PBX_SENSORS)
    async_add_extension_entities(
        entry,
        async_add_entities,
        lambda extension: (
            *(
                BasixExtensionSensor(coordinator, description, extension)
                for description in EXTENSION_SENSORS
                if description.exists_fn(coordinator)
            ),
            *(
                BasixCallHistorySensor(coordinator, description, extension)
                for description in HISTORY_SENSORS
            ),
        ),
    )
    async_add_group_entities(
        entry,
        async_add_entities,
        lambda group: (
            BasixGroupSensor(coordinator, description, group) for description in GROUP_SENSORS
        ),
    )


class BasixPbxSensor(BasixEntity, SensorEntity):
    """A sensor of the whole PBX."""

    entity_description: BasixPbxSensorEntityDescription

    @property
    @override
    def native_value(self) -> StateType:
        """Read the value from the coordinator."""
        return self.entity_description.value_fn(self.coordinator)


class BasixExtensionSensor(BasixRestoringEntity[StateType], RestoreSensor):
    """A sensor of one extension; what the PBX has not told since a restart is restored."""

    entity_description: BasixExtensionSensorEntityDescription
    # Every call with its details: useful in templates, too bulky for the recorder.
    _unrecorded_attributes = frozenset({"calls"})

    @override
    def _pbx_value(self) -> StateType:
        return self.entity_description.value_fn(self.coordinator, self.extension)

    @override
    async def _async_restored_value(self, last: State) -> StateType:
        data = await self.async_get_last_sensor_data()
        value = data.native_value if data is not None else None
        return value if isinstance(value, int | float | str) else None

    @property
    @override
    def native_value(self) -> StateType:
        """The PBX's value, or the restored one until the PBX says otherwise."""
        return self._value()


@dataclass(frozen=True, slots=True)
class CallHistoryStoredData(ExtraStoredData):
    """A history sensor's value and attributes, as saved for the next start."""

    value: HistoryValue
    attributes: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON: a time is saved in ISO form."""
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        return {"value": value, "attributes": self.attributes}

    @classmethod
    def from_dict(cls, data: dict[str, Any], timestamp: bool) -> Self | None:
        """Read what `as_dict` saved; None for anything else."""
        value, attributes = data.get("value"), data.get("attributes")
        if not isinstance(attributes, dict):
            return None
        if timestamp:
            parsed = dt_util.parse_datetime(value) if isinstance(value, str) else None
            return None if parsed is None else cls(parsed, attributes)
        return cls(value, attributes) if isinstance(value, int | float) else None


class BasixCallHistorySensor(BasixExtensionEntity, SensorEntity, RestoreEntity):
    """A sensor of an extension's past calls, from its call events; restored after a restart.

    What it shows happened already: it stays true while the connection is down, so it stays
    available then.
    """

    entity_description: BasixCallHistorySensorEntityDescription

    def __init__(
        self,
        coordinator: BasixCoordinator,
        description: BasixCallHistorySensorEntityDescription,
        extension: Extension,
    ) -> None:
        """Start from nothing known (a counter from zero) until restored or told."""
        super().__init__(coordinator, description, extension)
        self._history: HistoryValue = description.initial
        self._attr_extra_state_attributes = {}

    @property
    @override
    def available(self) -> bool:
        """Always: a call that was missed stays missed while the connection is down."""
        return True

    @override
    async def async_added_to_hass(self) -> None:
        """Restore the last value, then follow the extension's call events."""
        await super().async_added_to_hass()
        timestamp = self.entity_description.device_class is SensorDeviceClass.TIMESTAMP
        if (last := await self.async_get_last_extra_data()) is not None and (
            stored := CallHistoryStoredData.from_dict(last.as_dict(), timestamp)
        ):
            self._history = stored.value
            self._attr_extra_state_attributes = stored.attributes
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass, self.coordinator.signal_call(self.extension.user_id), self._on_call
            )
        )

    @callback
    @override
    def _async_handle_update(self) -> None:
        """Nothing: neither the connection nor the calls in progress change the past."""

    @callback
    def _on_call(self, event: CallEvent) -> None:
        description = self.entity_description
        if not description.records_fn(event):
            return
        self._history = description.value_fn(event, self._history)
        if description.attributes_fn is not None:
            self._attr_extra_state_attributes = description.attributes_fn(event)
        self.async_write_ha_state()

    @property
    @override
    def extra_restore_state_data(self) -> CallHistoryStoredData:
        """The value and its attributes, for the next start."""
        return CallHistoryStoredData(self._history, dict(self._attr_extra_state_attributes))

    @property
    @override
    def native_value(self) -> HistoryValue:
        """The last call's time, or the count."""
        return self._history


class BasixGroupSensor(BasixGroupEntity, SensorEntity):
    """A sensor of one ring or hunt group."""

    entity_description: BasixGroupSensorEntityDescription
    _unrecorded_attributes = frozenset({"calls", "waiting_calls", "members"})

    @property
    @override
    def native_value(self) -> StateType:
        """Read the value from the coordinator."""
        return self.entity_description.value_fn(self.coordinator, self.group_id)

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The group's calls, waiting calls and members, for descriptions that have them."""
        if self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(self.coordinator, self.group_id)
