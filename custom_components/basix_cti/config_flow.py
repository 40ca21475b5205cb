"""Config flow: credentials, then which events to follow; reauth, reconfigure and options.

One PBX is followed either by one entry for the whole PBX, or by entries that each follow a
different user: never both, so that no user has two devices with the same name, and no
entity id gets a `_2`. Entries of one PBX share its API token: a new one is asked once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import logging
import re
from typing import Any, override

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import CONF_VERIFY_SSL
from homeassistant.core import callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import probatio

from .const import (
    CONF_API_TOKEN,
    CONF_API_USER,
    CONF_APP_NAME,
    CONF_DOMAIN,
    CONF_FORCED,
    CONF_RAW_RECORD,
    CONF_SCOPE,
    CONF_SCOPE_VALUE,
    CONF_SERVER,
    DEFAULT_APP_NAME,
    DEFAULT_SERVER,
    DOMAIN,
)
from .coordinator import cti_config, pbx_name
from .cti.client import Scope, ScopeKind, check_connection
from .cti.errors import (
    AuthenticationError,
    CannotConnectError,
    ConnectionLimitError,
    ConnectTimeoutError,
    CtiError,
)
from .cti.models import USER, Snapshot, User

_LOGGER = logging.getLogger(__name__)

# How long the PBX gets to answer with its first snapshot while the user waits on the form.
CONNECT_TIMEOUT = 10.0

PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))

# The whole PBX first, then the way people name a colleague: by extension.
SCOPE_KINDS = (
    ScopeKind.PBX,
    ScopeKind.USER_EXTENSION,
    ScopeKind.USER_LABEL,
    ScopeKind.USER_NAME,
    ScopeKind.USER_ID,
    ScopeKind.USER_DID,
    ScopeKind.USER_EMAIL,
)
SCOPE_SELECTOR = SelectSelector(
    SelectSelectorConfig(
        options=[kind.value for kind in SCOPE_KINDS],
        translation_key=CONF_SCOPE,
        mode=SelectSelectorMode.DROPDOWN,
        sort=False,
    )
)


def _connection_schema(token: type[probatio.Marker]) -> probatio.Schema:
    return probatio.Schema(
        {
            probatio.Required(CONF_SERVER, default=DEFAULT_SERVER): str,
            probatio.Required(CONF_DOMAIN): str,
            token(CONF_API_TOKEN): PASSWORD,
            probatio.Optional(CONF_API_USER): str,
            probatio.Required(CONF_APP_NAME, default=DEFAULT_APP_NAME): str,
            probatio.Required(CONF_VERIFY_SSL, default=True): bool,
        }
    )


USER_SCHEMA = _connection_schema(probatio.Required)
# A token is never shown back; left empty, reconfiguring keeps the current one.
RECONFIGURE_SCHEMA = _connection_schema(probatio.Optional)

REAUTH_SCHEMA = probatio.Schema({probatio.Required(CONF_API_TOKEN): PASSWORD})

OPTIONS_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_FORCED, default=False): bool,
        probatio.Required(CONF_RAW_RECORD, default=False): bool,
    }
)


def _scope_schema(users: Sequence[User] | None) -> probatio.Schema:
    """Who to follow; the PBX's users to pick from by extension when it sent its user list.

    Typing stays possible (`custom_value`): for the other kinds (DID, e-mail...), and for a PBX
    of the older generation, which sends no user list.
    """
    value: Any = str
    if users:
        value = SelectSelector(
            SelectSelectorConfig(
                options=[
                    SelectOptionDict(value=extension, label=f"{_person(user)} ({extension})")
                    for user in sorted(users, key=_by_extension)
                    if (extension := user.extension)
                ],
                custom_value=True,
                mode=SelectSelectorMode.DROPDOWN,
                sort=False,
            )
        )
    return probatio.Schema(
        {
            probatio.Required(CONF_SCOPE, default=ScopeKind.PBX.value): SCOPE_SELECTOR,
            probatio.Optional(CONF_SCOPE_VALUE): value,
        }
    )


def _person(user: User) -> str:
    return user.label or user.name or user.id


def _by_extension(user: User) -> tuple[int, str]:
    """Extensions in the order of a phone list: 99 before 201, numbers before letters."""
    extension = user.extension or ""
    return (int(extension), "") if re.fullmatch(r"\d{1,18}", extension) else (1 << 62, extension)


def unique_id(data: Mapping[str, Any]) -> str:
    """A PBX is its domain; an entry is one domain and one scope.

    The server is left out on purpose: it is only where the PBX is reached, and a host that
    moves must not turn into a new PBX with new devices.
    """
    scope = data.get(CONF_SCOPE, ScopeKind.PBX)
    if scope != ScopeKind.PBX:
        scope = f"{scope}={data.get(CONF_SCOPE_VALUE, '')}"
    return f"{data[CONF_DOMAIN]}|{scope}".lower()


def _scope_of(data: Mapping[str, Any]) -> Scope:
    return Scope(data.get(CONF_SCOPE, ScopeKind.PBX), data.get(CONF_SCOPE_VALUE) or None)


def _same_pbx(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return str(a[CONF_DOMAIN]).casefold() == str(b[CONF_DOMAIN]).casefold()


class BasixConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up a connection to a Basix PBX."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with nothing entered."""
        self._data: dict[str, Any] = {}
        # The PBX's users, from the connection that tried the credentials; None if it sent none.
        self._users: tuple[User, ...] | None = None

    @staticmethod
    @callback
    @override
    def async_get_options_flow(config_entry: ConfigEntry) -> BasixOptionsFlow:
        """Options live in their own flow."""
        return BasixOptionsFlow()

    @override
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask for the PBX and the API credentials, and try them."""
        errors: dict[str, str] = {}
        if user_input is not None:
            user_input = _cleaned(user_input)
            errors = await self._async_try({**user_input, CONF_SCOPE: ScopeKind.PBX.value})
            if not errors:
                self._data = user_input
                return await self.async_step_scope()
        return self.async_show_form(
            step_id="user",
            data_schema=self.add_suggested_values_to_schema(USER_SCHEMA, user_input),
            errors=errors,
        )

    async def async_step_scope(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Ask whether to follow the whole PBX or one user, then create the entry."""
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            data = self._with_scope(self._data, user_input)
            await self.async_set_unique_id(unique_id(data))
            self._abort_if_unique_id_configured()
            errors, placeholders = await self._async_check_scope(data)
            if not errors:
                return self.async_create_entry(title=pbx_name(data), data=data)
        return self._show_scope_form("scope", user_input, errors, placeholders)

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The PBX refused the token: ask for a new one."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Try the new token on the entry's own scope, and give it to every entry of the PBX.

        A token belongs to the PBX domain, not to an entry: the other entries of the same PBX
        (same server and API user) get it too and are reloaded, which ends their own reauth
        flows, so that a person types the new token once.
        """
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            user_input = _cleaned(user_input)
            if not (errors := await self._async_try({**entry.data, **user_input})):
                for other in self._async_current_entries(include_ignore=False):
                    if other.entry_id != entry.entry_id and _shares_token(entry.data, other.data):
                        self.hass.config_entries.async_update_entry(
                            other, data={**other.data, **user_input}
                        )
                        self.hass.config_entries.async_schedule_reload(other.entry_id)
                # Our own reason: the frontend shows its generic text for the standard one.
                return self.async_update_reload_and_abort(
                    entry, data_updates=user_input, reason="token_updated"
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=REAUTH_SCHEMA,
            description_placeholders={"domain": entry.data[CONF_DOMAIN]},
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change how the PBX is reached (server, token, app name...), then what is followed."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            user_input = _cleaned(user_input)
            # An emptied optional field is left out of the input: start without the API user,
            # and keep the current token unless a new one was typed.
            data = {k: v for k, v in entry.data.items() if k != CONF_API_USER} | user_input
            data[CONF_API_TOKEN] = user_input.get(CONF_API_TOKEN) or entry.data[CONF_API_TOKEN]
            if data[CONF_DOMAIN] and not _same_pbx(data, entry.data):
                # Another PBX would be other devices: a field error, and the other edits stay.
                errors = {CONF_DOMAIN: "wrong_pbx"}
            elif not (errors := await self._async_try({**data, CONF_SCOPE: ScopeKind.PBX})):
                self._data = {k: v for k, v in data.items() if k not in _SCOPE_KEYS}
                return await self.async_step_reconfigure_scope()
        suggested = {key: value for key, value in entry.data.items() if key != CONF_API_TOKEN}
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                RECONFIGURE_SCHEMA, {**suggested, **(user_input or {})}
            ),
            description_placeholders={"domain": entry.data[CONF_DOMAIN]},
            errors=errors,
        )

    async def async_step_reconfigure_scope(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """What the entry follows; a new scope is a new unique id (and new devices)."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        placeholders: dict[str, str] = {}
        if user_input is not None:
            data = self._with_scope(self._data, user_input)
            errors, placeholders = await self._async_check_scope(data)
            if not errors:
                if unique_id(data) != entry.unique_id:
                    # Devices are named by the unique id: the old ones would stay forever.
                    device_registry = dr.async_get(self.hass)
                    for device in dr.async_entries_for_config_entry(
                        device_registry, entry.entry_id
                    ):
                        device_registry.async_update_device(
                            device.id, remove_config_entry_id=entry.entry_id
                        )
                return self.async_update_reload_and_abort(
                    entry,
                    unique_id=unique_id(data),
                    title=pbx_name(data),
                    data=data,
                    reason="entry_changed",
                )
        current = {key: entry.data[key] for key in _SCOPE_KEYS if key in entry.data}
        return self._show_scope_form(
            "reconfigure_scope", user_input or current, errors, placeholders
        )

    @staticmethod
    def _with_scope(data: Mapping[str, Any], user_input: Mapping[str, Any]) -> dict[str, Any]:
        scoped = {**data, CONF_SCOPE_VALUE: "", **_cleaned(user_input)}
        if scoped[CONF_SCOPE] == ScopeKind.PBX:
            scoped.pop(CONF_SCOPE_VALUE, None)
        return scoped

    def _show_scope_form(
        self,
        step_id: str,
        suggested: Mapping[str, Any] | None,
        errors: dict[str, str],
        placeholders: dict[str, str],
    ) -> ConfigFlowResult:
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(_scope_schema(self._users), suggested),
            description_placeholders={
                "domain": self._data[CONF_DOMAIN],
                "value": "",
                "entries": "",
                **placeholders,
            },
            errors=errors,
        )

    async def _async_check_scope(
        self, data: dict[str, Any]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """The form's errors and their placeholders for following `data`'s scope."""
        scope_kind = data[CONF_SCOPE]
        value = data.get(CONF_SCOPE_VALUE, "")
        if scope_kind != ScopeKind.PBX and not value:
            return {CONF_SCOPE_VALUE: "scope_value_required"}, {}
        scope = _scope_of(data)
        unknown = {CONF_SCOPE_VALUE: f"unknown_{scope_kind}"}, {"value": value}
        if self._users is not None and scope.kind is not ScopeKind.PBX:
            followed = [user for user in self._users if scope.matches(user)]
            if not followed:
                return unknown
        if conflict := self._conflict(data):
            return conflict
        if scope.kind is ScopeKind.PBX:
            return {}, {}  # tried in the first step already
        try:
            errors = await self._async_try(data, scoped=True)
        except CannotConnectError:
            # The whole PBX answered on this very address a moment ago: a refusal as "not
            # found" is about the user (the simulator does so; what a Basix PBX does is not
            # documented, hence the user list above).
            return unknown
        return errors, {}

    def _conflict(self, data: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]] | None:
        """Refuse a scope that would give a user of this PBX a second device."""
        own = self._reconfigure_entry_id if self.source == SOURCE_RECONFIGURE else None
        siblings = [
            entry
            for entry in self._async_current_entries(include_ignore=False)
            if entry.entry_id != own and _same_pbx(entry.data, data)
        ]
        whole = [entry for entry in siblings if _scope_of(entry.data).kind is ScopeKind.PBX]
        if whole:
            # Adding a user to the PBX followed as a whole (or a second whole PBX).
            return {CONF_SCOPE: "pbx_followed"}, {}
        if _scope_of(data).kind is ScopeKind.PBX and siblings:
            names = ", ".join(str(entry.data.get(CONF_SCOPE_VALUE)) for entry in siblings)
            return {CONF_SCOPE: "users_followed"}, {"entries": names}
        mine = self._followed(data)
        for entry in siblings:
            if unique_id(entry.data) == unique_id(data) or (
                mine is not None and self._followed(entry.data) == mine
            ):
                return {CONF_SCOPE_VALUE: "user_followed"}, {"value": data[CONF_SCOPE_VALUE]}
        return None

    def _followed(self, data: Mapping[str, Any]) -> str | None:
        """The id of the user an entry's scope names, if the user list tells."""
        scope = _scope_of(data)
        for user in self._users or ():
            if scope.matches(user):
                return user.id
        return None

    async def _async_try(self, data: dict[str, Any], *, scoped: bool = False) -> dict[str, str]:
        """Connect as the entry would, up to the first snapshot; the form's errors, if any.

        Connecting to the whole PBX also reads its user list for the scope step. With
        `scoped`, a refusal that is neither about the token nor the limit is raised (as
        `CannotConnectError`) for the caller to explain.
        """
        required = (CONF_SERVER, CONF_DOMAIN, CONF_API_TOKEN, CONF_APP_NAME)
        if blank := [key for key in required if not data[key]]:
            return dict.fromkeys(blank, "required")
        try:
            config = cti_config(data)
        except ValueError:
            # Everything else was checked above: what is left is the server's form.
            return {CONF_SERVER: "invalid_server"}
        session = async_get_clientsession(self.hass, verify_ssl=config.verify_tls)
        whole = config.scope.kind is ScopeKind.PBX
        try:
            messages = await check_connection(session, config, timeout=CONNECT_TIMEOUT, users=whole)
        except AuthenticationError:
            return {"base": "invalid_auth"}
        except ConnectionLimitError:
            return {"base": "connection_limit"}
        except ConnectTimeoutError:
            return {"base": "timeout"}
        except CannotConnectError as err:
            if scoped and err.status == 404:
                raise
            _LOGGER.debug("Cannot connect to %s: %s", config.domain, err)
            return {"base": "cannot_connect"}
        except CtiError as err:
            _LOGGER.debug("Cannot connect to %s: %s", config.domain, err)
            return {"base": "cannot_connect"}
        except Exception:
            _LOGGER.exception("Unexpected error while connecting to %s", config.domain)
            return {"base": "unknown"}
        if whole:
            snapshots = [m for m in messages if isinstance(m, Snapshot) and m.entity == USER]
            self._users = (
                tuple(u for u in snapshots[-1].items if isinstance(u, User)) if snapshots else None
            )
        return {}


_SCOPE_KEYS = (CONF_SCOPE, CONF_SCOPE_VALUE)


def _shares_token(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two entries sign in to the same PBX as the same (API) user."""
    return (
        _same_pbx(a, b)
        and a[CONF_SERVER] == b[CONF_SERVER]
        and (a.get(CONF_API_USER) or None) == (b.get(CONF_API_USER) or None)
    )


def _cleaned(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """The form's text as meant: without the spaces a paste brings along."""
    return {key: v.strip() if isinstance(v, str) else v for key, v in user_input.items()}


class BasixOptionsFlow(OptionsFlowWithReload):
    """Settings that change how the connection behaves, applied by a reload."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Whether to take over a connection slot at the PBX's limit; whether to add raw records."""
        if user_input is not None:
            return self.async_create_entry(data=user_input)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                OPTIONS_SCHEMA, self.config_entry.options
            ),
        )
