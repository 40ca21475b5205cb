"""The bases of every Basix entity: its device, and availability that follows the connection."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
import logging
from typing import Any, override

from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import State, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity import Entity, EntityDescription
from homeassistant.helpers.entity_platform import (
    MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY,
    AddConfigEntryEntitiesCallback,
)
from homeassistant.helpers.restore_state import RestoreEntity
from homeassistant.util.signal_type import SignalType

from .const import MANUFACTURER
from .coordinator import BasixConfigEntry, BasixCoordinator, Extension
from .groups import GroupInfo

_LOGGER = logging.getLogger(__package__)


def has_field(entity: str, field: str) -> Callable[[BasixCoordinator], bool]:
    """Whether the PBX's field spec has `field` of `entity`: not every generation sends it."""
    return lambda coordinator: field in coordinator.state.field_specs.get(entity, ())


@dataclass(frozen=True, kw_only=True)
class BasixExtensionEntityDescription(EntityDescription):
    """What an extension's sensor of any platform may show besides its state."""

    attributes_fn: Callable[[BasixCoordinator, Extension], dict[str, Any]] | None = None
    # Data-driven: only when the PBX's field spec has what the sensor reads.
    exists_fn: Callable[[BasixCoordinator], bool] = lambda _: True


# Home Assistant refuses the enabled entities of a config entry beyond a limit (10,000): a
# large PBX gets its users' entities enabled by default in this order, as many kinds as fit,
# and the rest disabled by default (each can be enabled by hand). Room is kept for the PBX's
# and groups' entities, and for users the PBX adds later.
ENABLED_FIRST = (
    "call_state",
    "call",
    "voicemail",
    "last_missed_call",
    "missed_calls",
    "do_not_disturb",
    "call_forwarding",
    "presence",
    "phone_registered",
)
GROUP_ENTITIES = 4
ENABLED_ROOM = 0.9


def enabled_kinds(coordinator: BasixCoordinator) -> int:
    """How many of `ENABLED_FIRST` each user may have enabled by default."""
    room = int(MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY * ENABLED_ROOM)
    room -= GROUP_ENTITIES * len(coordinator.groups) + 2  # and the PBX's own two
    return max(1, room // max(1, len(coordinator.extensions)))


@callback
def _async_add_as_they_come[T](
    entry: BasixConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    entities_of: Callable[[T], Iterable[Entity]],
    *,
    known: Mapping[str, T],
    key: Callable[[T], str],
    signal: SignalType[list[T]],
) -> None:
    """Add the entities of each of `known` now, and of those `signal` announces later.

    Added a slice at a time in the coordinator's queue, never in the caller's callback: new
    users arrive in the client's read task, and a snapshot of 2,000 users would add their
    16,000 entities there in one go. (The platform adds them in a task that starts at once,
    so each job's time is what adding its entities costs.) The queue may take seconds: each
    job adds the user as `known` has them then, and none that the PBX removed meanwhile
    (their entities would bring their device back).
    """
    coordinator = entry.runtime_data

    def add_one(item: T) -> None:
        if (now := known.get(key(item))) is not None:
            async_add_entities(list(entities_of(now)))

    @callback
    def add(items: Iterable[T]) -> None:
        coordinator.entity_adds.extend(partial(add_one, item) for item in items)

    add(list(known.values()))
    entry.async_on_unload(async_dispatcher_connect(coordinator.hass, signal, add))


@callback
def async_add_extension_entities(
    entry: BasixConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    entities_of: Callable[[Extension], Iterable[Entity]],
) -> None:
    """Add each extension's entities, and those of extensions that appear later."""
    coordinator = entry.runtime_data
    _async_add_as_they_come(
        entry,
        async_add_entities,
        entities_of,
        known=coordinator.extensions,
        key=lambda extension: extension.user_id,
        signal=coordinator.signal_new_extensions,
    )


@callback
def async_add_group_entities(
    entry: BasixConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    entities_of: Callable[[GroupInfo], Iterable[Entity]],
) -> None:
    """Add each ring or hunt group's entities, and those of groups that appear later."""
    coordinator = entry.runtime_data
    _async_add_as_they_come(
        entry,
        async_add_entities,
        entities_of,
        known=coordinator.groups,
        key=lambda group: group.group_id,
        signal=coordinator.signal_new_groups,
    )


def _device_under_pbx(coordinator: BasixCoordinator, key: str, name: str) -> DeviceInfo:
    """A user's or group's device, linked to the PBX's."""
    return DeviceInfo(
        identifiers={coordinator.device_identifier(key)},
        name=name,
        manufacturer=MANUFACTURER,
        via_device_id=coordinator.hub_device_id,
    )


class BasixEntity(Entity):
    """An entity of the PBX itself, on the PBX's device."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    _user_id: str | None = None
    # What the last state write showed (see `_async_handle_update`).
    _shown: tuple[object, ...] | None = None

    def __init__(self, coordinator: BasixCoordinator, description: EntityDescription) -> None:
        """Attach the entity to the PBX's device."""
        self.coordinator = coordinator
        self.entity_description = description
        identifier = coordinator.device_identifier(self._user_id)
        self._attr_unique_id = f"{identifier[1]}_{description.key}"
        # The PBX's device is registered at set-up, before any entity: its users link to it.
        self._attr_device_info = DeviceInfo(identifiers={identifier})

    @property
    @override
    def available(self) -> bool:
        """What the PBX says is only known while the connection is up."""
        return self.coordinator.connected

    @override
    async def async_added_to_hass(self) -> None:
        """Follow the changes of this entity's user, or of the PBX.

        Pushed, and per user: a call on one extension does not wake the entities of every other.
        """
        await super().async_added_to_hass()
        coordinator = self.coordinator
        own = coordinator.signal_user(self._user_id) if self._user_id else coordinator.signal_pbx
        self.async_on_remove(async_dispatcher_connect(self.hass, own, self._async_handle_update))
        self._shown = self._showing()  # what the first write, right after this, shows

    def _showing(self) -> tuple[object, ...]:
        """What a state write would show now: availability, state and attributes."""
        return (self.available, self.state, self.extra_state_attributes)

    @callback
    def _async_handle_update(self) -> None:
        """Write the new state, unless it shows nothing new.

        A user's signal wakes every entity of that user (and the connection every entity);
        most show the same as before. Writing those anyway would cost a state write each
        and fire `state_reported` for nothing.
        """
        shown = self._showing()
        if shown == self._shown:
            return
        self._shown = shown
        self.async_write_ha_state()


class BasixExtensionEntity(BasixEntity):
    """An entity of one PBX user, on that user's device (linked to the PBX's)."""

    def __init__(
        self,
        coordinator: BasixCoordinator,
        description: EntityDescription,
        extension: Extension,
    ) -> None:
        """Attach the entity to the device of `extension`."""
        self._user_id = extension.user_id
        super().__init__(coordinator, description)
        # No model: Home Assistant translates device names, never models, and a word such as
        # "Extension" would stay English on a Japanese system.
        self._attr_device_info = _device_under_pbx(coordinator, extension.user_id, extension.name)
        self._extension = extension
        key = description.key
        kinds = enabled_kinds(coordinator)
        if key in ENABLED_FIRST and ENABLED_FIRST.index(key) >= kinds:
            self._attr_entity_registry_enabled_default = False
            if not coordinator.told_entity_budget:
                coordinator.told_entity_budget = True  # once an entry, not once an entity
                _LOGGER.warning(
                    "%s has %d users: only their %s are enabled by default, to stay under "
                    "Home Assistant's limit of %d enabled entities per entry; the others can "
                    "be enabled by hand",
                    coordinator.hub_name,
                    len(coordinator.extensions),
                    ", ".join(ENABLED_FIRST[:kinds]),
                    MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY,
                )

    @property
    def extension(self) -> Extension:
        """The user as the PBX describes them now (an extension number may change)."""
        return self.coordinator.extensions.get(self._extension.user_id, self._extension)


class BasixGroupEntity(BasixEntity):
    """An entity of one ring or hunt group, on that group's device (linked to the PBX's)."""

    def __init__(
        self, coordinator: BasixCoordinator, description: EntityDescription, group: GroupInfo
    ) -> None:
        """Attach the entity to the device of `group`."""
        # The group's key stands where a user's id does: device identifier and signals.
        self._user_id = group.key
        super().__init__(coordinator, description)
        device_info = _device_under_pbx(coordinator, group.key, group.name)
        device_info["model"] = "Group"
        self._attr_device_info = device_info
        self._group = group

    @property
    def group_id(self) -> str:
        """The group's id at the PBX."""
        return self._group.group_id


class BasixRestoringEntity[T](BasixExtensionEntity, RestoreEntity):
    """An extension entity that shows its last state until the PBX tells the current one.

    MWI only arrives when a box changes, so after a restart the PBX may not mention a box for
    days. The state from before stands until the PBX speaks, and never comes back after.
    """

    entity_description: BasixExtensionEntityDescription
    _restored: T | None = None

    def _pbx_value(self) -> T | None:
        """What the PBX says now; None while it has not said."""
        raise NotImplementedError

    async def _async_restored_value(self, last: State) -> T | None:
        """The value to restore from the last state saved (a real one, never unavailable)."""
        raise NotImplementedError

    def _value(self) -> T | None:
        """The PBX's value, or the restored one until the PBX has spoken."""
        value = self._pbx_value()
        return self._restored if value is None else value

    @override
    async def async_added_to_hass(self) -> None:
        """Restore the last real state, unless the PBX has spoken already."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if last is None or last.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            return
        restored = await self._async_restored_value(last)
        if self._pbx_value() is None:  # checked after the awaits: the PBX may have spoken
            self._restored = restored
            self._shown = self._showing()

    @callback
    @override
    def _async_handle_update(self) -> None:
        """Once the PBX has spoken, its word replaces the restored one for good."""
        if self._pbx_value() is not None:
            self._restored = None
        super()._async_handle_update()

    @property
    @override
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The details behind the state, for descriptions that have any."""
        if self.entity_description.attributes_fn is None:
            return None
        return self.entity_description.attributes_fn(self.coordinator, self.extension)
