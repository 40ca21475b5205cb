"""Binary sensors: the PBX connection, and voicemail waiting on each extension."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import override

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import STATE_ON, EntityCategory
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BasixConfigEntry, BasixCoordinator, Extension
from .entity import BasixEntity, BasixRestoringEntity, async_add_extension_entities

PARALLEL_UPDATES = 0

CONNECTION = BinarySensorEntityDescription(
    key="connection",
    translation_key="connection",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)


@dataclass(frozen=True, kw_only=True)
class BasixExtensionBinarySensorEntityDescription(BinarySensorEntityDescription):
    """A binary sensor of one extension; None from `is_on_fn` means the PBX has not said."""

    is_on_fn: Callable[[BasixCoordinator, Extension], bool | None]


def _voicemail_waiting(coordinator: BasixCoordinator, extension: Extension) -> bool | None:
    mwi = coordinator.mwi_of(extension)
    if mwi is None or mwi.new_messages is None:
        return None
    return mwi.new_messages > 0


EXTENSION_BINARY_SENSORS: tuple[BasixExtensionBinarySensorEntityDescription, ...] = (
    BasixExtensionBinarySensorEntityDescription(
        key="voicemail",
        translation_key="voicemail",
        is_on_fn=_voicemail_waiting,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: BasixConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the connection sensor now, and each extension's as the extension appears."""
    coordinator = entry.runtime_data
    async_add_entities([BasixConnectionBinarySensor(coordinator, CONNECTION)])
    async_add_extension_entities(
        entry,
        async_add_entities,
        lambda extension: (
            BasixExtensionBinarySensor(coordinator, description, extension)
            for description in EXTENSION_BINARY_SENSORS
        ),
    )


class BasixConnectionBinarySensor(BasixEntity, BinarySensorEntity):
    """Whether the live connection to the PBX is up."""

    @property
    @override
    def available(self) -> bool:
        """Always: a connection that is down is exactly what this sensor reports."""
        return True

    @property
    @override
    def is_on(self) -> bool:
        """On while connected."""
        return self.coordinator.connected


class BasixExtensionBinarySensor(BasixRestoringEntity[bool], BinarySensorEntity):
    """A binary sensor of one extension, restored while the PBX has not said otherwise."""

    entity_description: BasixExtensionBinarySensorEntityDescription

    @override
    def _pbx_value(self) -> bool | None:
        return self.entity_description.is_on_fn(self.coordinator, self.extension)

    @override
    async def _async_restored_value(self, last: State) -> bool | None:
        return last.state == STATE_ON

    @property
    @override
    def is_on(self) -> bool | None:
        """The PBX's word, or the restored state until it has one."""
        return self._value()
