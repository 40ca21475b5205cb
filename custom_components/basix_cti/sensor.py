"""Sensors: each extension's call state and waiting voicemail, and the PBX's active calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, override

from homeassistant.components.sensor import (
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .coordinator import BasixConfigEntry, BasixCoordinator, Extension
from .cti.calls import CallPhase
from .entity import BasixEntity, BasixRestoringEntity, async_add_extension_entities

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
class BasixExtensionSensorEntityDescription(SensorEntityDescription):
    """A sensor of one extension."""

    value_fn: Callable[[BasixCoordinator, Extension], StateType]
    attributes_fn: Callable[[BasixCoordinator, Extension], dict[str, Any]] | None = None


def _call_attributes(coordinator: BasixCoordinator, extension: Extension) -> dict[str, Any]:
    calls = [call.as_dict() for call in coordinator.tracker.calls_of(extension.user_id)]
    top = calls[0] if calls else {}
    return {key: top.get(key) for key in CALL_ATTRIBUTES} | {"calls": calls}


def _new_messages(coordinator: BasixCoordinator, extension: Extension) -> StateType:
    mwi = coordinator.mwi_of(extension)
    return mwi.new_messages if mwi else None


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
            BasixExtensionSensor(coordinator, description, extension)
            for description in EXTENSION_SENSORS
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

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The details a user templates on, for descriptions that have any."""
        if self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(self.coordinator, self.extension)
