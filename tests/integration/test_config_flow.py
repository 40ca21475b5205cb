"""The config, reauth, reconfigure and options flows, against the simulator."""

from __future__ import annotations

from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from basix_simulator.server import SimulatorServer
from custom_components.basix_cti.const import (
    CONF_API_TOKEN,
    CONF_API_USER,
    CONF_APP_NAME,
    CONF_DOMAIN,
    CONF_FORCED,
    CONF_SCOPE,
    CONF_SCOPE_VALUE,
    CONF_SERVER,
    DOMAIN,
)

from .conftest import PBX_DOMAIN, TOKEN, UNIQUE_ID


def _user_input(simulator: SimulatorServer, token: str = TOKEN) -> dict[str, object]:
    return {
        CONF_SERVER: simulator.url,
        CONF_DOMAIN: PBX_DOMAIN,
        CONF_API_TOKEN: token,
        CONF_APP_NAME: "home_assistant",
        CONF_VERIFY_SSL: True,
    }


async def _start(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    return result["flow_id"]


async def test_whole_pbx(hass: HomeAssistant, simulator: SimulatorServer) -> None:
    """A right token and the whole PBX make an entry named after the domain."""
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, _user_input(simulator))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "scope"

    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_SCOPE: "pbx"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == PBX_DOMAIN
    assert result["data"] == {**_user_input(simulator), CONF_SCOPE: "pbx"}
    assert result["result"].unique_id == UNIQUE_ID
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED


async def test_one_user(hass: HomeAssistant, simulator: SimulatorServer) -> None:
    """Following one user asks who, tries that scope, and names the entry after the user."""
    flow_id = await _start(hass)
    await hass.config_entries.flow.async_configure(flow_id, _user_input(simulator))

    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_SCOPE: "user_extension"})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_SCOPE_VALUE: "scope_value_required"}

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SCOPE: "user_extension", CONF_SCOPE_VALUE: "999"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SCOPE: "user_extension", CONF_SCOPE_VALUE: "202"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"{PBX_DOMAIN} (202)"
    assert result["data"][CONF_SCOPE_VALUE] == "202"
    assert result["result"].unique_id == f"{PBX_DOMAIN}|user_extension=202"
    await hass.async_block_till_done()


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("wrong_token", "invalid_auth"),
        ("refused_403", "invalid_auth"),
        ("unreachable", "cannot_connect"),
        ("server_error", "cannot_connect"),
        ("limit", "connection_limit"),
        ("silent", "timeout"),
    ],
)
async def test_errors_then_recovery(
    hass: HomeAssistant, simulator: SimulatorServer, fault: str, error: str
) -> None:
    """Each failure shows its own error on the form; fixing it carries on to the scope step."""
    flow_id = await _start(hass)
    user_input = _user_input(simulator)
    with patch("custom_components.basix_cti.config_flow.CONNECT_TIMEOUT", 0.5):
        if fault == "wrong_token":
            user_input[CONF_API_TOKEN] = "wrong"
        elif fault == "refused_403":
            simulator.refuse_with(403)
        elif fault == "unreachable":
            user_input[CONF_SERVER] = "ws://127.0.0.1:9"
        elif fault == "server_error":
            simulator.refuse_with(500)
        elif fault == "limit":
            simulator.refuse_with(429)
        elif fault == "silent":
            simulator.stall(True)
        result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": error}

    simulator.refuse_with(None)
    simulator.stall(False)
    result = await hass.config_entries.flow.async_configure(flow_id, _user_input(simulator))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "scope"


@pytest.mark.parametrize(
    "server", ["ftp://pbx.example.com", "user:pass@pbx.example.com", "pbx.example.com/?a=b"]
)
async def test_invalid_server(hass: HomeAssistant, simulator: SimulatorServer, server: str) -> None:
    """A server field the client cannot use says so, instead of failing the form."""
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**_user_input(simulator), CONF_SERVER: server}
    )
    assert result["errors"] == {CONF_SERVER: "invalid_server"}


async def test_blank_and_padded_fields(hass: HomeAssistant, simulator: SimulatorServer) -> None:
    """Blank text is "required"; spaces a paste brings along are not part of the value."""
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {**_user_input(simulator), CONF_DOMAIN: "  ", CONF_API_TOKEN: " ", CONF_APP_NAME: ""},
    )
    assert result["errors"] == {
        CONF_DOMAIN: "required",
        CONF_API_TOKEN: "required",
        CONF_APP_NAME: "required",
    }
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**_user_input(simulator), CONF_API_TOKEN: f" {TOKEN}\n"}
    )
    assert result["step_id"] == "scope"
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_SCOPE: "pbx"})
    assert result["data"][CONF_API_TOKEN] == TOKEN


async def test_unexpected_error(hass: HomeAssistant, simulator: SimulatorServer) -> None:
    """A bug of ours shows "unknown" rather than a broken form, and logs the traceback."""
    flow_id = await _start(hass)
    with patch(
        "custom_components.basix_cti.config_flow.check_connection",
        side_effect=RuntimeError("boom"),
    ):
        result = await hass.config_entries.flow.async_configure(flow_id, _user_input(simulator))
    assert result["errors"] == {"base": "unknown"}


async def test_already_configured(
    hass: HomeAssistant, simulator: SimulatorServer, config_entry: MockConfigEntry
) -> None:
    """The same domain and scope cannot be added twice."""
    config_entry.add_to_hass(hass)
    flow_id = await _start(hass)
    await hass.config_entries.flow.async_configure(flow_id, _user_input(simulator))
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_SCOPE: "pbx"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_reauth(
    hass: HomeAssistant, simulator: SimulatorServer, init_integration: MockConfigEntry
) -> None:
    """A new token is tried, refused while wrong, then stored and the entry reloaded."""
    simulator.revoke_token("n3w-t0ken")
    result = await init_integration.start_reauth_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"]["domain"] == PBX_DOMAIN

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_TOKEN: TOKEN}
    )
    assert result["errors"] == {"base": "invalid_auth"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_TOKEN: "n3w-t0ken"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert init_integration.data[CONF_API_TOKEN] == "n3w-t0ken"
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED


async def test_reconfigure(
    hass: HomeAssistant, simulator: SimulatorServer, init_integration: MockConfigEntry
) -> None:
    """The connection can change, the token stays when left empty, the PBX cannot change."""
    result = await init_integration.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"

    hass.config_entries.async_update_entry(
        init_integration, data={**init_integration.data, CONF_API_USER: "old_api_user"}
    )
    changed = {**_user_input(simulator), CONF_API_TOKEN: "", CONF_APP_NAME: "ha_office"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**changed, CONF_SERVER: "ws://127.0.0.1:9"}
    )
    assert result["errors"] == {"base": "cannot_connect"}

    result = await hass.config_entries.flow.async_configure(result["flow_id"], changed)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.data[CONF_APP_NAME] == "ha_office"
    assert init_integration.data[CONF_API_TOKEN] == TOKEN
    assert CONF_API_USER not in init_integration.data  # an emptied field is cleared
    await hass.async_block_till_done()

    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**_user_input(simulator), CONF_DOMAIN: "other.basix"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_pbx"


async def test_options(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """Takeover is an option, saved and applied by a reload."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_FORCED: True}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert init_integration.options == {CONF_FORCED: True}
    assert init_integration.runtime_data.config.forced is True
