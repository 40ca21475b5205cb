"""The connection to one PBX, and the state every entity of a config entry reads.

Not a DataUpdateCoordinator: that one wakes every listener on every update, and a PBX with
2,000 extensions must not wake 2,000 entities for one call. Changes go out as dispatcher
signals per user instead, and a delta reaches only the users it names.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
import logging
from typing import Any
from urllib.parse import urlsplit

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_VERIFY_SSL, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryNotReady
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_call_later
from homeassistant.util.signal_type import SignalType

from .bus_event import call_event_data
from .const import (
    CONF_API_TOKEN,
    CONF_API_USER,
    CONF_APP_NAME,
    CONF_DOMAIN,
    CONF_FORCED,
    CONF_SCOPE,
    CONF_SCOPE_VALUE,
    CONF_SERVER,
    DEFAULT_APP_NAME,
    DOMAIN,
    EVENT_CALL,
)
from .cti.calls import CallEvent, CallTracker, apply_message
from .cti.client import MAX_BACKOFF, CtiClient, CtiConfig, Scope, ScopeKind
from .cti.errors import (
    AuthenticationError,
    ConnectionLimitError,
    ConnectionTakenOverError,
    CtiError,
)
from .cti.models import GROUP, USER, Channel, Group, Message, Mwi, User
from .cti.problems import ProblemReporter
from .cti.store import Delta, PbxState
from .groups import GROUP_PREFIX, GroupCalls, GroupInfo, group_info, group_key
from .writer import SlicedQueue, StateWriter

_LOGGER = logging.getLogger(__package__)

type BasixConfigEntry = ConfigEntry[BasixCoordinator]

# Reconnect delays (seconds): quick for a blip; at most MAX_BACKOFF, so that a PBX that is
# back after a long outage is found again within a minute.
BACKOFF_MIN = 1.0
BACKOFF_MAX = MAX_BACKOFF
# How long set-up waits for the PBX's snapshots before trying again later; one attempt may take
# CLIENT_CONNECT_TIMEOUT, and a refusal said only in words is retried inside it.
CONNECT_TIMEOUT = 20.0
CLIENT_CONNECT_TIMEOUT = 10.0
# An outage this long is worth a repair issue: a blip or a PBX restart is over well before.
OUTAGE_ISSUE_AFTER = 15 * 60.0
# How long adding entities may hold the loop before it yields (seconds).
ADD_SLICE = 0.02
MESSAGE_LOG_SIZE = 50
CONNECTION_LOG_SIZE = 20


class Issue(StrEnum):
    """The repair issues an entry may raise; each value is also its translation key."""

    CONNECTION_LIMIT = "connection_limit"
    CONNECTION_TAKEN_OVER = "connection_taken_over"
    PBX_UNREACHABLE = "pbx_unreachable"


@dataclass(frozen=True, slots=True)
class Extension:
    """A PBX user as Home Assistant shows it: one device with its call entities."""

    user_id: str
    name: str
    extension: str | None


def cti_config(data: dict[str, Any], options: dict[str, Any] | None = None) -> CtiConfig:
    """Build the client's configuration from a config entry's data and options."""
    scope_kind = ScopeKind(data.get(CONF_SCOPE, ScopeKind.PBX))
    return CtiConfig(
        server=data[CONF_SERVER],
        domain=data[CONF_DOMAIN],
        token=data[CONF_API_TOKEN],
        api_user=data.get(CONF_API_USER) or None,
        app_name=data.get(CONF_APP_NAME) or DEFAULT_APP_NAME,
        scope=Scope(scope_kind, data.get(CONF_SCOPE_VALUE) or None),
        forced=bool((options or {}).get(CONF_FORCED, False)),
        verify_tls=data.get(CONF_VERIFY_SSL, True),
    )


class BasixCoordinator:
    """Owns the ws_cti connection of one config entry and fans its changes out per user."""

    def __init__(self, hass: HomeAssistant, entry: BasixConfigEntry) -> None:
        """Prepare the state; `async_setup` opens the connection."""
        self.hass = hass
        self.entry = entry
        self.config = cti_config(dict(entry.data), dict(entry.options))
        self.state = PbxState()
        self.tracker = CallTracker(self.state)
        self.extensions: dict[str, Extension] = {}
        self.connected = False
        self.messages: deque[tuple[datetime, Message]] = deque(maxlen=MESSAGE_LOG_SIZE)
        self.connection_log: deque[tuple[datetime, bool, str | None]] = deque(
            maxlen=CONNECTION_LOG_SIZE
        )
        self.reporter = ProblemReporter(_LOGGER)
        self.client = CtiClient(
            async_get_clientsession(hass, verify_ssl=self.config.verify_tls),
            self.config,
            self._handle_message,
            self._handle_connection,
            backoff_min=BACKOFF_MIN,
            backoff_max=BACKOFF_MAX,
            connect_timeout=CLIENT_CONNECT_TIMEOUT,
            reporter=self.reporter,
        )
        self._was_connected = False
        # Users the last complete user snapshot lacked: a second one in a row removes them.
        self._missing: set[str] = set()
        self._outage: CALLBACK_TYPE | None = None
        self._unsub_stop: CALLBACK_TYPE | None = None
        prefix = f"{DOMAIN}_{entry.entry_id}"
        # Every entity follows its own user, or the PBX; availability comes the same way.
        self.signal_pbx = SignalType[()](f"{prefix}_pbx")
        self.signal_new_extensions = SignalType[list[Extension]](f"{prefix}_new_extensions")
        # Ring and hunt groups: a device each, with signals under their key (groups.group_key).
        self.groups: dict[str, GroupInfo] = {}
        # Groups with a device from the last run, and those the last group snapshot lacked:
        # as for users, a second complete snapshot in a row without them removes them.
        self._group_devices: set[str] = set()
        self._groups_missing: set[str] = set()
        self.group_calls = GroupCalls(self.state)
        self.signal_new_groups = SignalType[list[GroupInfo]](f"{prefix}_new_groups")
        self._signal_prefix = prefix
        self.writer = StateWriter(hass, entry)
        # Adding an entity costs Home Assistant about half a millisecond on a small machine,
        # and a PBX of 2,000 users has 16,000: every platform's adds share this queue.
        self.entity_adds = SlicedQueue(hass, entry, "basix_cti add entities", ADD_SLICE)
        # Looked up once: 16,000 entities link their devices to it (the PBX's stays).
        self._hub_device_id: str | None = None
        # Whether the log said that a large PBX starts with fewer entities enabled.
        self.told_entity_budget = False

    @property
    def hub_name(self) -> str:
        """The name of the PBX device, and of its entry: one per entry, none alike."""
        return pbx_name(self.entry.data)

    @property
    def hub_device_id(self) -> str:
        """The PBX device's id, which every user's and group's device links to."""
        if self._hub_device_id is None:
            self._hub_device_id = dr.async_get_device_id_by_identifier(
                self.hass, self.device_identifier(), config_entry_id=self.entry.entry_id
            )
        return self._hub_device_id

    @property
    def portal_url(self) -> str | None:
        """The PBX's web portal; none for a local ws:// server such as the simulator."""
        if urlsplit(self.config.redacted_url()).scheme != "wss":
            return None
        return f"https://{self.config.host}/basix/"

    async def async_setup(self) -> None:
        """Connect, and return once the PBX's snapshots are applied; else raise for set-up.

        The one connection then stays open in the background for as long as the entry is
        loaded. A refused token raises ConfigEntryAuthFailed (reauth); a PBX out of reach or
        at its connection limit ConfigEntryNotReady (retry later, with a repair issue for the
        limit).
        """
        self._seed_extensions()
        self._unsub_stop = self.hass.bus.async_listen_once(
            EVENT_HOMEASSISTANT_STOP, self._async_stop
        )
        self.entry.async_on_unload(self._async_unsub_stop)
        try:
            await self.client.connect(timeout=CONNECT_TIMEOUT)
        except AuthenticationError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key="invalid_auth",
                translation_placeholders={"domain": self.config.domain},
            ) from err
        except ConnectionLimitError as err:
            self._raise_limit_issue(err)
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key="connection_limit",
                translation_placeholders={"app_name": self.config.app_name},
            ) from err
        except CtiError as err:
            raise ConfigEntryNotReady(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders={"error": str(err)},
            ) from err
        self.entry.async_create_background_task(
            self.hass, self._async_watch(), f"{DOMAIN} {self.config.domain}"
        )

    async def _async_watch(self) -> None:
        """Act on how the connection ended: a refused token asks for a new one."""
        try:
            await self.client.wait_closed()
        except AuthenticationError as err:
            if not self.hass.is_stopping:
                _LOGGER.warning("%s refused the API token: %s", self.hub_name, err)
                self.entry.async_start_reauth(self.hass)
        except Exception:
            # The client recovers from failures of a connection; this is a bug in the client
            # itself. A reload starts over rather than leaving a dead connection loaded.
            _LOGGER.exception("The connection to %s ended unexpectedly; reloading", self.hub_name)
            self.hass.config_entries.async_schedule_reload(self.entry.entry_id)

    async def _async_stop(self, _event: Event) -> None:
        """Home Assistant stops: close now, keeping the states as they are (they are saved)."""
        self._unsub_stop = None  # fired: removing it now would log an error
        await self.client.close()

    @callback
    def _async_unsub_stop(self) -> None:
        if self._unsub_stop is not None:
            self._unsub_stop()
            self._unsub_stop = None

    async def async_shutdown(self) -> None:
        """Close the connection for good, and drop the issues that were about it."""
        await self.client.close()
        self.writer.close()
        self._end_outage()
        for issue in Issue:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id(self.entry, issue))

    def signal_user(self, user_id: str) -> SignalType[()]:
        """The signal of changes to one user's calls or voicemail."""
        return SignalType[()](f"{self._signal_prefix}_user_{user_id}")

    def signal_call(self, user_id: str) -> SignalType[CallEvent]:
        """The signal of one user's call events."""
        return SignalType[CallEvent](f"{self._signal_prefix}_call_{user_id}")

    def extension_name(self, user_id: str) -> str | None:
        """The name of a user's device; None for a user Home Assistant does not show."""
        extension = self.extensions.get(user_id)
        return extension.name if extension else None

    def mwi_of(self, extension: Extension) -> Mwi | None:
        """The voicemail box of a user: their record's own `mwi`, else an older MWI box.

        An older box is keyed by user id, or by a mailbox named as the extension.
        """
        user = self.state.users.get(extension.user_id)
        if user is not None and user.mwi is not None:
            return user.mwi
        mwi = self.state.mwi
        return mwi.get(extension.user_id) or (
            mwi.get(extension.extension) if extension.extension else None
        )

    # --- the connection -------------------------------------------------------------------------

    @callback
    def _handle_connection(self, connected: bool, reason: str | None) -> None:
        if self.client.closed or self.hass.is_stopping:
            # Unloading or shutting down: the states stay as they were (and are restored so).
            return
        self._set_connected(connected, reason)
        if not connected and (error := self.client.last_error) is not None:
            self._raise_limit_issue(error)

    @callback
    def _set_connected(self, connected: bool, reason: str | None) -> None:
        self.connection_log.append((datetime.now(UTC), connected, reason))
        if connected == self.connected:
            return
        self.connected = connected
        if connected:
            if self._was_connected:
                _LOGGER.info("Connection to %s restored", self.hub_name)
            self._was_connected = True
            self._end_outage()
            for issue in Issue:
                ir.async_delete_issue(self.hass, DOMAIN, issue_id(self.entry, issue))
        else:
            _LOGGER.info("Lost connection to %s (%s); reconnecting", self.hub_name, reason)
            self._outage = async_call_later(self.hass, OUTAGE_ISSUE_AFTER, self._raise_outage_issue)
        # Every entity follows the connection: each through its own signal, in the writer's
        # slices, since 16,000 writes in one callback would hold the loop for a second.
        self.writer.publish(
            [
                self.signal_pbx,
                *(self.signal_user(user_id) for user_id in self.extensions),
                *(self.signal_user(group.key) for group in self.groups.values()),
            ],
            None,
        )

    @callback
    def _raise_outage_issue(self, _now: datetime) -> None:
        """Still unreachable after a long time: the log said so at INFO, now say it visibly."""
        self._outage = None
        self._create_issue(
            Issue.PBX_UNREACHABLE,
            ir.IssueSeverity.WARNING,
            {
                "pbx": self.hub_name,
                "minutes": f"{OUTAGE_ISSUE_AFTER / 60:.0f}",
                "error": self.client.stats.last_error or "",
            },
        )

    def _end_outage(self) -> None:
        if self._outage is not None:
            self._outage()
            self._outage = None

    @callback
    def _raise_limit_issue(self, error: CtiError) -> None:
        """Tell the user when the PBX's connection limit keeps Home Assistant out.

        Pushed out by another application that takes over with `forced`: only a unique
        application name helps (turning takeover on here too would have the two push each
        other out in turn). Refused at the limit with takeover off: offer to turn it on.
        """
        placeholders = {"app_name": self.config.app_name, "pbx": self.hub_name}
        if isinstance(error, ConnectionTakenOverError):
            self._create_issue(Issue.CONNECTION_TAKEN_OVER, ir.IssueSeverity.ERROR, placeholders)
        elif isinstance(error, ConnectionLimitError) and not self.config.forced:
            self._create_issue(
                Issue.CONNECTION_LIMIT, ir.IssueSeverity.ERROR, placeholders, fixable=True
            )

    def _create_issue(
        self,
        issue: Issue,
        severity: ir.IssueSeverity,
        placeholders: dict[str, str],
        *,
        fixable: bool = False,
    ) -> None:
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id(self.entry, issue),
            is_fixable=fixable,
            severity=severity,
            translation_key=issue,
            translation_placeholders=placeholders,
            # The repair flow of a fixable issue needs to know which entry to mend.
            data={"entry_id": self.entry.entry_id} if fixable else None,
        )

    # --- what the PBX says ----------------------------------------------------------------------

    async def _handle_message(self, message: Message) -> None:
        self.messages.append((datetime.now(UTC), message))
        active_calls = self.tracker.active_calls
        # A large snapshot is applied in steps, the loop free between them; store and tracker
        # take it at once when this returns, and nothing below awaits: no one reads half of it.
        applied = await apply_message(self.state, self.tracker, message)
        if applied is None:
            return
        delta, events, users = applied
        self._reconcile_devices(delta)
        group_events = self._follow_groups(delta)
        self._publish(
            users | delta.users, self.tracker.active_calls != active_calls, events, group_events
        )

    def _publish(
        self,
        users: set[str] | frozenset[str],
        pbx_changed: bool,
        events: list[CallEvent],
        group_events: list[CallEvent],
    ) -> None:
        """Tell the changed users' entities, then fire the events those changes caused.

        Only after the writes: an automation on an event reads the states the event changed.
        """
        signals = [self.signal_user(user_id) for user_id in users]
        if pbx_changed:
            signals.append(self.signal_pbx)
        self.writer.publish(
            signals,
            partial(self._fire_all, events, group_events) if events or group_events else None,
        )

    def _fire_all(self, events: list[CallEvent], group_events: list[CallEvent]) -> None:
        for event in events:
            self._fire(event)
        for event in group_events:
            self._fire_group(event)

    def _fire(self, event: CallEvent) -> None:
        extension = self.extensions.get(event.user_id)
        data = call_event_data(
            self.hass,
            self.entry.entry_id,
            event,
            device_identifier=self.device_identifier(event.user_id),
            extension=extension.extension if extension else None,
            options=self.entry.options,
        )
        self.hass.bus.async_fire(EVENT_CALL, data)
        async_dispatcher_send(self.hass, self.signal_call(event.user_id), event)

    # --- devices --------------------------------------------------------------------------------

    def _seed_extensions(self) -> None:
        """Start from the users of the last run, as their devices remember them.

        The older generation sends no users: without this, a user's entities (and the
        voicemail they restore) would wait for that user's next call. Users the PBX no longer
        has go as `_reconcile_devices` decides.
        """
        prefix = f"{self.device_identifier()[1]}:"
        registry = dr.async_get(self.hass)
        for device in dr.async_entries_for_config_entry(registry, self.entry.entry_id):
            for domain, identifier in device.identifiers:
                if domain == DOMAIN and identifier.startswith(prefix):
                    user_id = identifier.removeprefix(prefix)
                    if user_id.startswith(GROUP_PREFIX):
                        # A group's device: its entities come with the group's record.
                        self._group_devices.add(user_id.removeprefix(GROUP_PREFIX))
                        continue
                    name = device.name or _display_name(None, None, user_id)
                    self.extensions[user_id] = Extension(user_id, name, None)

    def _reconcile_devices(self, delta: Delta) -> None:
        """Keep one device per user: added, renamed and removed as the PBX tells.

        A user goes on an explicit removal, or when two complete user snapshots in a row
        (two connections) lack them; never on an empty snapshot, which may be a PBX that is
        not ready, nor on a first partial one. Without user records (older generation), users
        are learnt from the legs and boxes naming them, and never removed by the integration.
        """
        found: list[Extension] = []
        gone: set[str] = set()
        if delta.entity == USER:
            found = [_extension_of(user) for user in delta.upserted if isinstance(user, User)]
            if not delta.snapshot:
                gone = {user.key for user in delta.removed}
            elif found:
                lacking = set(self.extensions) - {extension.user_id for extension in found}
                gone = lacking & self._missing
                self._missing = lacking - gone
            self._missing -= {extension.user_id for extension in found}
        elif USER not in self.state.field_specs:
            for record in delta.upserted:
                if not isinstance(record, Channel | Mwi) or not (user_id := record.user_id):
                    continue
                if user_id not in self.extensions:
                    name = record.user_name if isinstance(record, Channel) else None
                    found.append(Extension(user_id, _display_name(name, None, user_id), None))
        if not found and not gone:
            return  # most messages: a call, a box, a phone; no user came or went
        registry = dr.async_get(self.hass)
        new: list[Extension] = []
        for extension in found:
            old = self.extensions.get(extension.user_id)
            if old == extension:
                continue
            self.extensions[extension.user_id] = extension
            if old is None:
                new.append(extension)
            elif device := self._device(registry, extension.user_id):
                # A renamed user keeps their device; only its name follows the PBX.
                registry.async_update_device(device.id, name=extension.name)
        for user_id in gone & set(self.extensions):
            del self.extensions[user_id]
            if device := self._device(registry, user_id):
                registry.async_update_device(device.id, remove_config_entry_id=self.entry.entry_id)
        if new:
            async_dispatcher_send(self.hass, self.signal_new_extensions, new)

    @callback
    def async_release_device(self, device: dr.DeviceEntry) -> bool:
        """Whether a user may delete a user's device by hand: not while the PBX reports them.

        The PBX reports users by their records; the older generation, which sends none, only
        by their calls, so there a device kept from the last run can go while its user is idle.
        """
        user_ids = {
            user_id
            for user_id in self.extensions
            if self.device_identifier(user_id) in device.identifiers
        }
        if USER in self.state.field_specs:
            reported = user_ids & set(self.state.users)
        else:
            reported = {user_id for user_id in user_ids if self.tracker.calls_of(user_id)}
        if reported:
            return False
        for user_id in user_ids:
            del self.extensions[user_id]
            self._missing.discard(user_id)
        return True

    def _device(self, registry: dr.DeviceRegistry, user_id: str) -> dr.DeviceEntry | None:
        return registry.async_get_device_by_identifier(
            self.device_identifier(user_id), self.entry.entry_id
        )

    # --- ring and hunt groups -----------------------------------------------------------------

    def _follow_groups(self, delta: Delta) -> list[CallEvent]:
        """Keep a device per group, tell each group's entities what changed; its call events."""
        if delta.entity == GROUP:
            self._update_groups(delta)
        events, changed = self.group_calls.apply(delta)
        if delta.entity == GROUP:
            changed |= {record.key for record in (*delta.upserted, *delta.removed)}
        # Queued like the users' writes, ahead of the events of the same change.
        self.writer.publish([self.signal_user(group_key(group_id)) for group_id in changed], None)
        return events

    def _fire_group(self, event: CallEvent) -> None:
        group_id = event.user_id.removeprefix(GROUP_PREFIX)
        if (info := self.groups.get(group_id)) is not None:
            self.hass.bus.async_fire(
                EVENT_CALL,
                call_event_data(
                    self.hass,
                    self.entry.entry_id,
                    event,
                    device_identifier=self.device_identifier(info.key),
                    extension=info.extension,
                    options=self.entry.options,
                    group_id=group_id,
                ),
            )
            async_dispatcher_send(self.hass, self.signal_call(info.key), event)

    def _update_groups(self, delta: Delta) -> None:
        """Keep one device per group: added, renamed and removed as the PBX tells.

        The rule for removal is the users' (`_reconcile_devices`): an explicit removal, or two
        complete group snapshots in a row without the group, never an empty snapshot.
        """
        device_registry = dr.async_get(self.hass)
        known = set(self.groups) | self._group_devices
        if not delta.snapshot:
            gone = {record.key for record in delta.removed} & known
        elif delta.upserted:
            lacking = known - {record.key for record in delta.upserted}
            gone = lacking & self._groups_missing
            self._groups_missing = lacking - gone
        else:
            gone = set()
        self._groups_missing -= {record.key for record in delta.upserted}
        self._group_devices -= gone | {record.key for record in delta.upserted}
        for group_id in gone:
            self.groups.pop(group_id, None)
            if device := device_registry.async_get_device_by_identifier(
                self.device_identifier(group_key(group_id)), self.entry.entry_id
            ):
                device_registry.async_update_device(
                    device.id, remove_config_entry_id=self.entry.entry_id
                )
        new: list[GroupInfo] = []
        for record in delta.upserted:
            if not isinstance(record, Group):
                continue
            info = group_info(record)
            old = self.groups.get(record.id)
            self.groups[record.id] = info
            if old is None:
                new.append(info)
            elif old != info and (
                device := device_registry.async_get_device_by_identifier(
                    self.device_identifier(info.key), self.entry.entry_id
                )
            ):
                device_registry.async_update_device(device.id, name=info.name)
        if new:
            async_dispatcher_send(self.hass, self.signal_new_groups, new)

    def device_identifier(self, user_id: str | None = None) -> tuple[str, str]:
        """The device registry identifier of the PBX (None) or of one of its users."""
        return device_identifier(self.entry, user_id)


def pbx_name(data: Mapping[str, Any]) -> str:
    """What an entry and its PBX device are called.

    An entry that follows one user has a PBX device too (its connection and call count): its
    name says whom it follows, so that two entries of one PBX never look alike.
    """
    if data.get(CONF_SCOPE, ScopeKind.PBX) == ScopeKind.PBX:
        return f"Basix PBX ({data[CONF_DOMAIN]})"
    return f"Basix PBX ({data[CONF_DOMAIN]}, {data[CONF_SCOPE_VALUE]})"


def issue_id(entry: ConfigEntry, issue: Issue) -> str:
    """The id of one of an entry's repair issues."""
    return f"{issue}_{entry.entry_id}"


def device_identifier(entry: ConfigEntry, user_id: str | None = None) -> tuple[str, str]:
    """The device registry identifier of an entry's PBX (None) or of one of its users."""
    base = entry.unique_id or entry.entry_id
    return (DOMAIN, base if user_id is None else f"{base}:{user_id}")


def _extension_of(user: User) -> Extension:
    return Extension(
        user.id, _display_name(user.label or user.name, user.extension, user.id), user.extension
    )


def _display_name(name: str | None, extension: str | None, user_id: str) -> str:
    if name and extension:
        return f"{name} ({extension})"
    return name or (f"Extension {extension}" if extension else f"User {user_id}")
