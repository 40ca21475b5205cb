"""Binary sensors: the PBX connection; voicemail, do not disturb, forwarding, phones; groups.

Do not disturb, forwarding and presence are the PBX's integers, whose meanings are not
documented beyond their names: 0 reads as off and anything else as on, and the raw value is
an attribute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, override

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import STATE_ON, EntityCategory
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import BasixConfigEntry, BasixCoordinator, Extension
from .cti.models import TERMINAL, USER, Mwi, Terminal
from .entity import (
    BasixEntity,
    BasixExtensionEntityDescription,
    BasixGroupEntity,
    BasixRestoringEntity,
    async_add_extension_entities,
    async_add_group_entities,
    has_field,
)

PARALLEL_UPDATES = 0

CONNECTION = BinarySensorEntityDescription(
    key="connection",
    translation_key="connection",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)


@dataclass(frozen=True, kw_only=True)
class BasixExtensionBinarySensorEntityDescription(
    BinarySensorEntityDescription, BasixExtensionEntityDescription
):
    """A binary sensor of one extension; None from `is_on_fn` means the PBX has not said."""

    is_on_fn: Callable[[BasixCoordinator, Extension], bool | None]


@dataclass(frozen=True, kw_only=True)
class BasixGroupBinarySensorEntityDescription(BinarySensorEntityDescription):
    """A binary sensor of one group; None from `is_on_fn` means the PBX has not said."""

    is_on_fn: Callable[[BasixCoordinator, str], bool | None]


def _messages_waiting(mwi: Mwi | None) -> bool | None:
    if mwi is None or mwi.new_messages is None:
        return None
    return mwi.new_messages > 0


def _voicemail_waiting(coordinator: BasixCoordinator, extension: Extension) -> bool | None:
    return _messages_waiting(coordinator.mwi_of(extension))


def _status(field: str) -> Callable[[BasixCoordinator, Extension], int | None]:
    def value(coordinator: BasixCoordinator, extension: Extension) -> int | None:
        user = coordinator.state.users.get(extension.user_id)
        raw = user.fields.get(field) if user else None
        return raw if isinstance(raw, int) and not isinstance(raw, bool) else None

    return value


def _flag(field: str) -> Callable[[BasixCoordinator, Extension], bool | None]:
    status = _status(field)

    def is_on(coordinator: BasixCoordinator, extension: Extension) -> bool | None:
        value = status(coordinator, extension)
        return None if value is None else value != 0

    return is_on


def _raw(field: str) -> Callable[[BasixCoordinator, Extension], dict[str, Any]]:
    status = _status(field)
    return lambda coordinator, extension: {"raw_value": status(coordinator, extension)}


def _terminals(coordinator: BasixCoordinator, extension: Extension) -> list[Terminal]:
    return coordinator.state.terminals_of(extension.user_id)


def _registered(coordinator: BasixCoordinator, extension: Extension) -> bool | None:
    said = [t.registered for t in _terminals(coordinator, extension) if t.registered is not None]
    return any(said) if said else None


def _phones(coordinator: BasixCoordinator, extension: Extension) -> dict[str, Any]:
    return {
        "phones": [
            {
                key: value
                for key, value in {
                    "name": terminal.name,
                    "user_agent": terminal.user_agent,
                    "registered": terminal.registered,
                }.items()
                if value is not None
            }
            for terminal in _terminals(coordinator, extension)
        ]
    }


def _group_voicemail(coordinator: BasixCoordinator, group_id: str) -> bool | None:
    group = coordinator.state.groups.get(group_id)
    return _messages_waiting(group.mwi if group else None)


GROUP_BINARY_SENSORS: tuple[BasixGroupBinarySensorEntityDescription, ...] = (
    BasixGroupBinarySensorEntityDescription(
        key="voicemail",
        translation_key="voicemail",
        is_on_fn=_group_voicemail,
    ),
)

EXTENSION_BINARY_SENSORS: tuple[BasixExtensionBinarySensorEntityDescription, ...] = (
    BasixExtensionBinarySensorEntityDescription(
        key="voicemail",
        translation_key="voicemail",
        is_on_fn=_voicemail_waiting,
    ),
    BasixExtensionBinarySensorEntityDescription(
        key="do_not_disturb",
        translation_key="do_not_disturb",
        is_on_fn=_flag("do_not_disturb_status"),
        attributes_fn=_raw("do_not_disturb_status"),
        exists_fn=has_field(USER, "do_not_disturb_status"),
    ),
    BasixExtensionBinarySensorEntityDescription(
        key="call_forwarding",
        translation_key="call_forwarding",
        is_on_fn=_flag("fwd_always_status"),
        attributes_fn=_raw("fwd_always_status"),
        exists_fn=has_field(USER, "fwd_always_status"),
    ),
    BasixExtensionBinarySensorEntityDescription(
        key="phone_registered",
        translation_key="phone_registered",
        device_class=BinarySensorDeviceClass.CONNECTIVITY,
        entity_category=EntityCategory.DIAGNOSTIC,
        is_on_fn=_registered,
        attributes_fn=_phones,
        exists_fn=has_field(TERMINAL, "registered"),
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
            if description.exists_fn(coordinator)
        ),
    )
    async_add_group_entities(
        entry,
        async_add_entities,
        lambda group: (
            BasixGroupBinarySensor(coordinator, description, group)
            for description in GROUP_BINARY_SENSORS
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


class BasixGroupBinarySensor(BasixGroupEntity, BinarySensorEntity):
    """A binary sensor of one ring or hunt group."""

    entity_description: BasixGroupBinarySensorEntityDescription

    @property
    @override
    def is_on(self) -> bool | None:
        """The PBX's word; unknown until it has said."""
        return self.entity_description.is_on_fn(self.coordinator, self.group_id)
