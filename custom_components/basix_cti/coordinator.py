"""The connection to one PBX, and the state every entity of a config entry reads.

Not a DataUpdateCoordinator: that one wakes every listener on every update, and a PBX with
2,000 extensions must not wake 2,000 entities for one call. Changes go out as dispatcher
signals per user instead, and a delta reaches only the users it names.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
import logging
from typing import Any
from urllib.parse import urlsplit

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util.signal_type import SignalType

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
from .cti.calls import CallEvent, CallTracker
from .cti.client import CtiClient, CtiConfig, Scope, ScopeKind
from .cti.errors import (
    AuthenticationError,
    CannotConnectError,
    ConnectionLimitError,
    ConnectionTakenOverError,
    ConnectTimeoutError,
    CtiError,
    PossibleAuthenticationError,
)
from .cti.export import to_json
from .cti.models import USER, Channel, Message, Mwi, Snapshot, User
from .cti.problems import ProblemReporter
from .cti.store import Delta, PbxState

_LOGGER = logging.getLogger(__package__)

type BasixConfigEntry = ConfigEntry[BasixCoordinator]

# Reconnect delays (seconds): from quick for a blip to five minutes for a PBX that is down.
BACKOFF_MIN = 1.0
BACKOFF_MAX = 300.0
# How long set-up waits for the PBX's first snapshot before trying again later; one attempt
# may take CLIENT_CONNECT_TIMEOUT, and a refusal said only in words is retried inside it.
CONNECT_TIMEOUT = 20.0
CLIENT_CONNECT_TIMEOUT = 10.0
MESSAGE_LOG_SIZE = 50
CONNECTION_LOG_SIZE = 20


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
        """Prepare the state; `async_connect` opens the connection."""
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
        self._users_from_server = False
        prefix = f"{DOMAIN}_{entry.entry_id}"
        # Every entity follows the connection (availability) and its own user, or the PBX.
        self.signal_connection = SignalType[()](f"{prefix}_connection")
        self.signal_pbx = SignalType[()](f"{prefix}_pbx")
        self.signal_new_extensions = SignalType[list[Extension]](f"{prefix}_new_extensions")
        self._signal_prefix = prefix
        self._ready: asyncio.Future[None] = hass.loop.create_future()

    @property
    def hub_name(self) -> str:
        """The name of the PBX device."""
        return f"Basix PBX ({self.config.domain})"

    @property
    def portal_url(self) -> str | None:
        """The PBX's web portal; none for a local ws:// server such as the simulator."""
        if urlsplit(self.config.redacted_url()).scheme != "wss":
            return None
        return f"https://{self.config.host}/basix/"

    async def async_connect(self) -> None:
        """Open the connection, and return once the PBX has sent its first snapshot.

        The one connection then stays open in the background for as long as the entry is
        loaded. If the first attempt fails, its error is raised (and the connection closed), so
        that set-up can tell a refused token (reauth) from a PBX out of reach (retry later).
        """
        self.entry.async_create_background_task(
            self.hass, self._async_run(), f"{DOMAIN} {self.config.domain}"
        )
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await self._ready
        except TimeoutError as err:
            await self.client.close()
            raise ConnectTimeoutError(
                f"{self.hub_name} sent no snapshot within {CONNECT_TIMEOUT:.0f} s"
            ) from err
        except BaseException:
            await self.client.close()
            raise

    async def _async_run(self) -> None:
        try:
            await self.client.run()
        except AuthenticationError as err:
            if not self._set_up:
                # Set-up fails on it (ConfigEntryAuthFailed starts the reauth).
                self._fail_set_up(err)
            elif not self.hass.is_stopping:
                _LOGGER.warning("%s refused the API token: %s", self.hub_name, err)
                self._set_connected(False, str(err))
                self.entry.async_start_reauth(self.hass)
        except Exception as err:
            # run() only ends on close or a refused token: anything else is a bug, and the
            # entities must not go on showing what was true before it.
            _LOGGER.exception("The connection to %s ended unexpectedly", self.hub_name)
            self._fail_set_up(CannotConnectError(f"{self.hub_name}: {err!r}"))
            self._set_connected(False, repr(err))
        finally:
            # Cancelled while set-up waits (Home Assistant stopping): set-up ends now too.
            self._fail_set_up(CannotConnectError(f"{self.hub_name}: connection closed"))

    def _fail_set_up(self, error: CtiError) -> None:
        if not self._ready.done():
            self._ready.set_exception(error)

    @property
    def _set_up(self) -> bool:
        """Whether the first snapshot arrived, so that set-up succeeded."""
        ready = self._ready
        return ready.done() and not ready.cancelled() and ready.exception() is None

    async def async_shutdown(self) -> None:
        """Close the connection for good, and drop the issues that were about it."""
        await self.client.close()
        for issue_id in self._issue_ids:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)

    def signal_user(self, user_id: str) -> SignalType[()]:
        """The signal of changes to one user's calls or voicemail."""
        return SignalType[()](f"{self._signal_prefix}_user_{user_id}")

    def signal_call(self, user_id: str) -> SignalType[CallEvent]:
        """The signal of one user's call events."""
        return SignalType[CallEvent](f"{self._signal_prefix}_call_{user_id}")

    def mwi_of(self, extension: Extension) -> Mwi | None:
        """The voicemail box of a user: keyed by user id, or by a mailbox named as the extension."""
        mwi = self.state.mwi
        return mwi.get(extension.user_id) or (
            mwi.get(extension.extension) if extension.extension else None
        )

    @callback
    def _handle_connection(self, connected: bool, reason: str | None) -> None:
        error = self.client.last_error
        if not connected and not self._ready.done():
            # A refusal said only in words is retried by the client; set-up waits for it.
            if error is not None and not isinstance(error, PossibleAuthenticationError):
                self._fail_set_up(error)
            return
        if self.client.closed or self.hass.is_stopping:
            # Unloading or shutting down: the states stay as they were (and are restored so).
            return
        self._set_connected(connected, reason)
        if error is not None and not connected:
            self.async_raise_limit_issue(error)

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
            for issue_id in self._issue_ids:
                ir.async_delete_issue(self.hass, DOMAIN, issue_id)
        else:
            _LOGGER.info("Lost connection to %s (%s); reconnecting", self.hub_name, reason)
        async_dispatcher_send(self.hass, self.signal_connection)

    @callback
    def async_raise_limit_issue(self, error: CtiError) -> None:
        """Tell the user when the PBX's connection limit keeps Home Assistant out.

        Pushed out by another application that takes over with `forced`: only a unique
        application name helps (turning takeover on here too would have the two push each
        other out in turn). Refused at the limit with takeover off: offer to turn it on.
        """
        placeholders = {"app_name": self.config.app_name, "pbx": self.hub_name}
        if isinstance(error, ConnectionTakenOverError):
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self._issue_ids[1],
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key="connection_taken_over",
                translation_placeholders=placeholders,
            )
        elif isinstance(error, ConnectionLimitError) and not self.config.forced:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self._issue_ids[0],
                is_fixable=True,
                severity=ir.IssueSeverity.ERROR,
                translation_key="connection_limit",
                translation_placeholders=placeholders,
                data={"entry_id": self.entry.entry_id},
            )

    @property
    def _issue_ids(self) -> tuple[str, str]:
        return issue_ids(self.entry)

    @callback
    def _handle_message(self, message: Message) -> None:
        self.messages.append((datetime.now(UTC), message))
        if isinstance(message, Snapshot):
            self._users_from_server |= message.entity == USER
            if not self._ready.done():
                self._ready.set_result(None)
        delta = self.state.apply(message)
        if delta is None:
            return
        active_calls = self.tracker.active_calls
        events, users = self.tracker.apply(delta)
        self._update_extensions(delta)
        for event in events:
            self._fire(event)
        for user_id in users | delta.users:
            async_dispatcher_send(self.hass, self.signal_user(user_id))
        if self.tracker.active_calls != active_calls:
            async_dispatcher_send(self.hass, self.signal_pbx)

    def _fire(self, event: CallEvent) -> None:
        extension = self.extensions.get(event.user_id)
        data = {
            "type": event.type.value,
            "user_id": event.user_id,
            "extension": extension.extension if extension else None,
            **event.as_dict(),
            # The leg as the PBX sent it, for what this integration does not model yet.
            "record": to_json(event.call.channel.fields),
        }
        self.hass.bus.async_fire(EVENT_CALL, data)
        async_dispatcher_send(self.hass, self.signal_call(event.user_id), event)

    def _update_extensions(self, delta: Delta) -> None:
        """Keep one device per user: from user records, or from what legs and MWI reveal."""
        if delta.entity == USER:
            if delta.snapshot:
                self._remove_stale_devices()
                gone = [user_id for user_id in self.extensions if user_id not in self.state.users]
            else:
                gone = [user.key for user in delta.removed if user.key in self.extensions]
            self._remove_extensions(gone)
            self._add_extensions(
                [_extension_of(user) for user in delta.upserted if isinstance(user, User)]
            )
            return
        if self._users_from_server:
            return
        # The older generation sends no users: a user is known by the legs and boxes naming them.
        found: dict[str, Extension] = {}
        for record in delta.upserted:
            if not isinstance(record, Channel | Mwi) or not (user_id := record.user_id):
                continue
            if user_id not in self.extensions:
                name = record.user_name if isinstance(record, Channel) else None
                found[user_id] = Extension(user_id, _display_name(name, None, user_id), None)
        self._add_extensions(list(found.values()))

    def _add_extensions(self, extensions: list[Extension]) -> None:
        device_registry = dr.async_get(self.hass)
        new: list[Extension] = []
        for extension in extensions:
            if extension.user_id not in self.extensions:
                new.append(extension)
            elif self.extensions[extension.user_id] == extension:
                continue
            elif device := device_registry.async_get_device_by_identifier(
                self.device_identifier(extension.user_id), self.entry.entry_id
            ):
                # A renamed user keeps their device; only its name follows the PBX.
                device_registry.async_update_device(device.id, name=extension.name)
            self.extensions[extension.user_id] = extension
        if new:
            async_dispatcher_send(self.hass, self.signal_new_extensions, new)

    def _remove_stale_devices(self) -> None:
        """Drop the devices of users deleted at the PBX while Home Assistant was not listening."""
        device_registry = dr.async_get(self.hass)
        current = {self.device_identifier()} | {
            self.device_identifier(user_id) for user_id in self.state.users
        }
        for device in dr.async_entries_for_config_entry(device_registry, self.entry.entry_id):
            if not device.identifiers & current:
                device_registry.async_update_device(
                    device.id, remove_config_entry_id=self.entry.entry_id
                )

    def _remove_extensions(self, user_ids: list[str]) -> None:
        device_registry = dr.async_get(self.hass)
        for user_id in user_ids:
            del self.extensions[user_id]
            device = device_registry.async_get_device_by_identifier(
                self.device_identifier(user_id), self.entry.entry_id
            )
            if device is not None:
                device_registry.async_update_device(
                    device.id, remove_config_entry_id=self.entry.entry_id
                )

    def device_identifier(self, user_id: str | None = None) -> tuple[str, str]:
        """The device registry identifier of the PBX (None) or of one of its users."""
        return device_identifier(self.entry, user_id)


def issue_ids(entry: ConfigEntry) -> tuple[str, str]:
    """The repair issues an entry may raise: refused at the limit, and taken over."""
    return (f"connection_limit_{entry.entry_id}", f"connection_taken_over_{entry.entry_id}")


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
