"""Config flow: credentials, then which events to follow; reauth, reconfigure and options."""

from __future__ import annotations

from collections.abc import Mapping
import logging
from typing import Any, override

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import CONF_VERIFY_SSL
from homeassistant.core import callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
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
    CONF_SCOPE,
    CONF_SCOPE_VALUE,
    CONF_SERVER,
    DEFAULT_APP_NAME,
    DEFAULT_SERVER,
    DOMAIN,
)
from .coordinator import cti_config
from .cti.client import ScopeKind, check_connection
from .cti.errors import (
    AuthenticationError,
    ConnectionLimitError,
    ConnectTimeoutError,
    CtiError,
)

_LOGGER = logging.getLogger(__name__)

# How long the PBX gets to answer with its first snapshot while the user waits on the form.
CONNECT_TIMEOUT = 10.0

PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))


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

SCOPE_SCHEMA = probatio.Schema(
    {
        probatio.Required(CONF_SCOPE, default=ScopeKind.PBX.value): SelectSelector(
            SelectSelectorConfig(
                options=[kind.value for kind in ScopeKind],
                translation_key=CONF_SCOPE,
                mode=SelectSelectorMode.DROPDOWN,
            )
        ),
        probatio.Optional(CONF_SCOPE_VALUE): str,
    }
)

REAUTH_SCHEMA = probatio.Schema({probatio.Required(CONF_API_TOKEN): PASSWORD})

OPTIONS_SCHEMA = probatio.Schema({probatio.Required(CONF_FORCED, default=False): bool})


def unique_id(data: Mapping[str, Any]) -> str:
    """A PBX is its domain; an entry is one domain and one scope.

    The server is left out on purpose: it is only where the PBX is reached, and a host that
    moves must not turn into a new PBX with new devices.
    """
    scope = data.get(CONF_SCOPE, ScopeKind.PBX)
    if scope != ScopeKind.PBX:
        scope = f"{scope}={data.get(CONF_SCOPE_VALUE, '')}"
    return f"{data[CONF_DOMAIN]}|{scope}".lower()


def _title(data: Mapping[str, Any]) -> str:
    if data.get(CONF_SCOPE, ScopeKind.PBX) == ScopeKind.PBX:
        return str(data[CONF_DOMAIN])
    return f"{data[CONF_DOMAIN]} ({data[CONF_SCOPE_VALUE]})"


class BasixConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up a connection to a Basix PBX."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with nothing entered."""
        self._data: dict[str, Any] = {}

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
        if user_input is not None:
            data = {**self._data, CONF_SCOPE_VALUE: "", **_cleaned(user_input)}
            scoped = data[CONF_SCOPE] != ScopeKind.PBX
            if scoped and not data.get(CONF_SCOPE_VALUE):
                errors[CONF_SCOPE_VALUE] = "scope_value_required"
            else:
                if not scoped:
                    data.pop(CONF_SCOPE_VALUE, None)
                await self.async_set_unique_id(unique_id(data))
                self._abort_if_unique_id_configured()
                # The credentials were tried on the whole PBX; a user scope is tried on its own.
                if not scoped or not (errors := await self._async_try(data)):
                    return self.async_create_entry(title=_title(data), data=data)
        return self.async_show_form(
            step_id="scope",
            data_schema=self.add_suggested_values_to_schema(SCOPE_SCHEMA, user_input),
            errors=errors,
        )

    async def async_step_reauth(self, entry_data: Mapping[str, Any]) -> ConfigFlowResult:
        """The PBX refused the token: ask for a new one."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Try the new token on the entry's own scope, and reload with it."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            user_input = _cleaned(user_input)
            if not (errors := await self._async_try({**entry.data, **user_input})):
                return self.async_update_reload_and_abort(entry, data_updates=user_input)
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=REAUTH_SCHEMA,
            description_placeholders={"domain": entry.data[CONF_DOMAIN]},
            errors=errors,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change how the PBX is reached (server, token, app name...) without re-adding it."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            user_input = _cleaned(user_input)
            # An emptied optional field is left out of the input: start without the API user,
            # and keep the current token unless a new one was typed.
            data = {k: v for k, v in entry.data.items() if k != CONF_API_USER} | user_input
            data[CONF_API_TOKEN] = user_input.get(CONF_API_TOKEN) or entry.data[CONF_API_TOKEN]
            await self.async_set_unique_id(unique_id(data))
            self._abort_if_unique_id_mismatch(reason="wrong_pbx")
            if not (errors := await self._async_try(data)):
                return self.async_update_reload_and_abort(entry, data=data)
        suggested = {key: value for key, value in entry.data.items() if key != CONF_API_TOKEN}
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                RECONFIGURE_SCHEMA, {**suggested, **(user_input or {})}
            ),
            errors=errors,
        )

    async def _async_try(self, data: dict[str, Any]) -> dict[str, str]:
        """Connect as the entry would, up to the first snapshot; the form's errors, if any."""
        required = (CONF_SERVER, CONF_DOMAIN, CONF_API_TOKEN, CONF_APP_NAME)
        if blank := [key for key in required if not data[key]]:
            return dict.fromkeys(blank, "required")
        try:
            config = cti_config(data)
        except ValueError:
            # Everything else was checked above: what is left is the server's form.
            return {CONF_SERVER: "invalid_server"}
        session = async_get_clientsession(self.hass, verify_ssl=config.verify_tls)
        try:
            await check_connection(session, config, timeout=CONNECT_TIMEOUT)
        except AuthenticationError:
            return {"base": "invalid_auth"}
        except ConnectionLimitError:
            return {"base": "connection_limit"}
        except ConnectTimeoutError:
            return {"base": "timeout"}
        except CtiError as err:
            _LOGGER.debug("Cannot connect to %s: %s", config.domain, err)
            return {"base": "cannot_connect"}
        except Exception:
            _LOGGER.exception("Unexpected error while connecting to %s", config.domain)
            return {"base": "unknown"}
        return {}


def _cleaned(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """The form's text as meant: without the spaces a paste brings along."""
    return {key: v.strip() if isinstance(v, str) else v for key, v in user_input.items()}


class BasixOptionsFlow(OptionsFlowWithReload):
    """Settings that change how the connection behaves, applied by a reload."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Whether to take over a connection slot when the PBX's limit is reached."""
        if user_input is not None:
            return self.async_create_entry(data=user_input)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                OPTIONS_SCHEMA, self.config_entry.options
            ),
        )
