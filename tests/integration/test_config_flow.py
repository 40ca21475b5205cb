"""The config, reauth, reconfigure and options flows, against the simulator."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from basix_simulator.pbx import Pbx
from basix_simulator.server import SimulatorServer
from custom_components.basix_cti.const import (
    CONF_API_TOKEN,
    CONF_API_USER,
    CONF_APP_NAME,
    CONF_DOMAIN,
    CONF_FORCED,
    CONF_RAW_RECORD,
    CONF_SCOPE,
    CONF_SCOPE_VALUE,
    CONF_SERVER,
    DOMAIN,
)
from custom_components.basix_cti.cti.errors import ProtocolError

from .conftest import PBX_DOMAIN, TOKEN, UNIQUE_ID

TITLE = f"Basix PBX ({PBX_DOMAIN})"


def _user_input(simulator: SimulatorServer, token: str = TOKEN) -> dict[str, object]:
    return {
        CONF_SERVER: simulator.url,
        CONF_DOMAIN: PBX_DOMAIN,
        CONF_API_TOKEN: token,
        CONF_APP_NAME: "home_assistant",
        CONF_VERIFY_SSL: True,
    }


def _entry(simulator: SimulatorServer, scope: str = "pbx", value: str | None = None) -> Any:
    """An entry of the simulator's PBX, added to nothing yet."""
    data: dict[str, object] = {**_user_input(simulator), CONF_SCOPE: scope}
    unique = UNIQUE_ID
    if value is not None:
        data[CONF_SCOPE_VALUE] = value
        unique = f"{PBX_DOMAIN}|{scope}={value}"
    return MockConfigEntry(domain=DOMAIN, title=TITLE, unique_id=unique, data=data)


async def _start(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == {}
    return result["flow_id"]


async def _to_scope(hass: HomeAssistant, simulator: SimulatorServer) -> tuple[str, Any]:
    flow_id = await _start(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, _user_input(simulator))
    assert result["step_id"] == "scope"
    return flow_id, result


def _value_options(result: Any) -> list[dict[str, str]] | None:
    """The users offered in the scope step's selector; None for a plain text field."""
    field = result["data_schema"].schema
    for key, value in field.items():
        if key == CONF_SCOPE_VALUE:
            config = getattr(value, "config", None)
            return None if config is None else list(config["options"])
    raise AssertionError("no scope_value field")


@pytest.fixture
async def older_simulator(hass: HomeAssistant, pbx: Pbx) -> AsyncGenerator[SimulatorServer]:
    """The PBX as a server of the older generation serves it: no user list at all."""
    try:
        server = SimulatorServer(pbx, domain=PBX_DOMAIN, token=TOKEN, generation="older")  # type: ignore[arg-type]
    except ValueError:  # the simulator's name before the generations were named alike
        server = SimulatorServer(pbx, domain=PBX_DOMAIN, token=TOKEN, generation="old")
    await server.start()
    yield server
    # The entries made stop first, rather than reconnect to a server going away.
    for entry in hass.config_entries.async_entries(DOMAIN):
        await hass.config_entries.async_unload(entry.entry_id)
    await server.stop()


async def test_whole_pbx(hass: HomeAssistant, simulator: SimulatorServer) -> None:
    """A right token and the whole PBX make an entry named after its PBX device."""
    flow_id, result = await _to_scope(hass, simulator)
    # The whole PBX first, and by extension second: what most people want, in that order.
    scope_options = result["data_schema"].schema[CONF_SCOPE].config["options"]
    assert scope_options[:2] == ["pbx", "user_extension"]
    assert result["description_placeholders"]["domain"] == PBX_DOMAIN

    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_SCOPE: "pbx"})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == TITLE
    assert result["data"] == {**_user_input(simulator), CONF_SCOPE: "pbx"}
    assert result["result"].unique_id == UNIQUE_ID
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED
    pbx_device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, UNIQUE_ID), result["result"].entry_id
    )
    assert pbx_device is not None
    assert pbx_device.name == TITLE


async def test_one_user_picked_from_the_list(
    hass: HomeAssistant, pbx: Pbx, simulator: SimulatorServer
) -> None:
    """The PBX's users are offered by label and extension; a wrong one is named as such."""
    pbx.add_user(name="reception", label="受付", extension="R1", id="1099")
    flow_id, result = await _to_scope(hass, simulator)
    options = _value_options(result)
    assert options is not None
    user_201 = pbx.user("201")
    assert options[0] == {"value": "201", "label": f"{user_201.label} (201)"}
    assert [option["value"] for option in options] == ["201", "202", "203", "204", "R1"]

    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_SCOPE: "user_extension"})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_SCOPE_VALUE: "scope_value_required"}

    # Typed, not picked: not a network problem, but this very extension.
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SCOPE: "user_extension", CONF_SCOPE_VALUE: "299"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_SCOPE_VALUE: "unknown_user_extension"}
    assert result["description_placeholders"]["value"] == "299"

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SCOPE: "user_extension", CONF_SCOPE_VALUE: "202"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Basix PBX ({PBX_DOMAIN}, 202)"
    assert result["data"][CONF_SCOPE_VALUE] == "202"
    assert result["result"].unique_id == f"{PBX_DOMAIN}|user_extension=202"
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED


async def test_one_user_by_other_kinds(
    hass: HomeAssistant, pbx: Pbx, simulator: SimulatorServer
) -> None:
    """Other kinds are typed; each unknown value has its own error."""
    flow_id, _ = await _to_scope(hass, simulator)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SCOPE: "user_label", CONF_SCOPE_VALUE: "201"}
    )
    assert result["errors"] == {CONF_SCOPE_VALUE: "unknown_user_label"}
    email = pbx.user("203").email
    assert email is not None
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SCOPE: "user_email", CONF_SCOPE_VALUE: f" {email} "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_SCOPE_VALUE] == email


async def test_one_user_without_a_user_list(
    hass: HomeAssistant, older_simulator: SimulatorServer
) -> None:
    """An older PBX sends no users: the value is typed, and the PBX's refusal names it."""
    simulator = older_simulator
    hass_entry = _entry(simulator, "user_extension", "201")
    hass_entry.add_to_hass(hass)  # another user of this PBX, followed already
    flow_id, result = await _to_scope(hass, simulator)
    assert _value_options(result) is None

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SCOPE: "user_extension", CONF_SCOPE_VALUE: "299"}
    )
    assert result["errors"] == {CONF_SCOPE_VALUE: "unknown_user_extension"}

    simulator.refuse_with(429)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SCOPE: "user_extension", CONF_SCOPE_VALUE: "202"}
    )
    assert result["errors"] == {"base": "connection_limit"}

    simulator.refuse_with(None)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SCOPE: "user_extension", CONF_SCOPE_VALUE: "202"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("wrong_token", "invalid_auth"),
        ("refused_403", "invalid_auth"),
        ("unreachable", "cannot_connect"),
        ("server_error", "cannot_connect"),
        ("not_found", "cannot_connect"),
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
        elif fault == "not_found":
            user_input[CONF_SERVER] = f"{simulator.url}/elsewhere"
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


async def test_protocol_error(hass: HomeAssistant, simulator: SimulatorServer) -> None:
    """A server that is not a Basix PBX is a "cannot connect" too."""
    flow_id = await _start(hass)
    with patch(
        "custom_components.basix_cti.config_flow.check_connection",
        side_effect=ProtocolError("not ws_cti"),
    ):
        result = await hass.config_entries.flow.async_configure(flow_id, _user_input(simulator))
    assert result["errors"] == {"base": "cannot_connect"}


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


async def test_already_configured(hass: HomeAssistant, simulator: SimulatorServer) -> None:
    """The same domain and scope cannot be added twice."""
    _entry(simulator).add_to_hass(hass)
    flow_id, _ = await _to_scope(hass, simulator)
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_SCOPE: "pbx"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_no_user_gets_two_devices(hass: HomeAssistant, simulator: SimulatorServer) -> None:
    """One PBX: the whole of it in one entry, or single users in several, never both."""
    whole = _entry(simulator)
    whole.add_to_hass(hass)
    flow_id, _ = await _to_scope(hass, simulator)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SCOPE: "user_extension", CONF_SCOPE_VALUE: "201"}
    )
    assert result["errors"] == {CONF_SCOPE: "pbx_followed"}

    await hass.config_entries.async_remove(whole.entry_id)
    _entry(simulator, "user_extension", "201").add_to_hass(hass)
    _entry(simulator, "user_extension", "202").add_to_hass(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, {CONF_SCOPE: "pbx"})
    assert result["errors"] == {CONF_SCOPE: "users_followed"}
    assert result["description_placeholders"]["entries"] == "201, 202"

    # The same person by another of their names is still the same person.
    label = simulator.pbx.user("201").label
    assert label is not None
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SCOPE: "user_label", CONF_SCOPE_VALUE: label}
    )
    assert result["errors"] == {CONF_SCOPE_VALUE: "user_followed"}

    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SCOPE: "user_extension", CONF_SCOPE_VALUE: "203"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Basix PBX ({PBX_DOMAIN}, 203)"
    await hass.async_block_till_done()
    names = [device.name for device in dr.async_get(hass).devices]
    assert len(names) == len(set(names)), names


async def test_same_user_entry_twice(hass: HomeAssistant, simulator: SimulatorServer) -> None:
    """A user entry with the very same scope is "already configured"."""
    _entry(simulator, "user_extension", "201").add_to_hass(hass)
    flow_id, _ = await _to_scope(hass, simulator)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_SCOPE: "user_extension", CONF_SCOPE_VALUE: "201"}
    )
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
    assert result["reason"] == "token_updated"
    assert init_integration.data[CONF_API_TOKEN] == "n3w-t0ken"
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED


async def test_reauth_once_for_every_entry_of_the_pbx(
    hass: HomeAssistant, simulator: SimulatorServer
) -> None:
    """A new token of a PBX is typed once: its other entries get it, their flows end."""
    first = _entry(simulator, "user_extension", "201")
    second = _entry(simulator, "user_extension", "202")
    for entry in (first, second):
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    # Added once the integration is set up: it stays unloaded, as a PBX elsewhere would matter.
    other_server = _entry(simulator, "user_extension", "203")
    other_server.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        other_server, data={**other_server.data, CONF_SERVER: "ws://127.0.0.1:9"}
    )
    simulator.revoke_token("n3w-t0ken")
    await first.start_reauth_flow(hass)
    await second.start_reauth_flow(hass)
    flows = hass.config_entries.flow.async_progress_by_handler(
        DOMAIN, match_context={"source": SOURCE_REAUTH}
    )
    assert len(flows) == 2

    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {CONF_API_TOKEN: "n3w-t0ken"}
    )
    assert result["reason"] == "token_updated"
    await hass.async_block_till_done()
    assert first.data[CONF_API_TOKEN] == second.data[CONF_API_TOKEN] == "n3w-t0ken"
    assert other_server.data[CONF_API_TOKEN] == TOKEN  # another server: another PBX's token
    assert not hass.config_entries.flow.async_progress_by_handler(
        DOMAIN, match_context={"source": SOURCE_REAUTH}
    )
    assert first.state is second.state is ConfigEntryState.LOADED
    for entry in (first, second):
        assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_reconfigure(
    hass: HomeAssistant, simulator: SimulatorServer, init_integration: MockConfigEntry
) -> None:
    """The connection can change; the token stays when left empty; a new domain is a typo."""
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

    # A mistyped domain is a field error, and the other edits are still on the form.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**changed, CONF_DOMAIN: "exmaple.basix"}
    )
    assert result["step_id"] == "reconfigure"
    assert result["errors"] == {CONF_DOMAIN: "wrong_pbx"}
    suggested = {
        str(key): key.description.get("suggested_value")
        for key in result["data_schema"].schema
        if key.description
    }
    assert suggested[CONF_APP_NAME] == "ha_office"
    assert suggested[CONF_DOMAIN] == "exmaple.basix"

    result = await hass.config_entries.flow.async_configure(result["flow_id"], changed)
    assert result["step_id"] == "reconfigure_scope"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_SCOPE: "pbx"})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "entry_changed"
    assert init_integration.data[CONF_APP_NAME] == "ha_office"
    assert init_integration.data[CONF_API_TOKEN] == TOKEN
    assert CONF_API_USER not in init_integration.data  # an emptied field is cleared
    assert init_integration.unique_id == UNIQUE_ID
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED


async def test_reconfigure_the_scope(
    hass: HomeAssistant, simulator: SimulatorServer, init_integration: MockConfigEntry
) -> None:
    """The scope can change too: the unique id, the title and the devices follow."""
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**_user_input(simulator), CONF_API_TOKEN: ""}
    )
    assert result["step_id"] == "reconfigure_scope"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SCOPE: "user_extension", CONF_SCOPE_VALUE: "299"}
    )
    assert result["errors"] == {CONF_SCOPE_VALUE: "unknown_user_extension"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SCOPE: "user_extension", CONF_SCOPE_VALUE: "202"}
    )
    assert result["reason"] == "entry_changed"
    assert init_integration.unique_id == f"{PBX_DOMAIN}|user_extension=202"
    assert init_integration.title == f"Basix PBX ({PBX_DOMAIN}, 202)"
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.LOADED
    registry = dr.async_get(hass)
    names = {
        device.name
        for device in dr.async_entries_for_config_entry(registry, init_integration.entry_id)
    }
    assert f"Basix PBX ({PBX_DOMAIN}, 202)" in names
    assert TITLE not in names


async def test_reconfigure_keeps_users_apart(
    hass: HomeAssistant, simulator: SimulatorServer
) -> None:
    """Reconfiguring to a user another entry follows, or to the whole PBX, is refused."""
    mine = _entry(simulator, "user_extension", "201")
    mine.add_to_hass(hass)
    _entry(simulator, "user_extension", "202").add_to_hass(hass)
    result = await mine.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**_user_input(simulator), CONF_API_TOKEN: ""}
    )
    assert result["step_id"] == "reconfigure_scope"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SCOPE: "user_extension", CONF_SCOPE_VALUE: "202"}
    )
    assert result["errors"] == {CONF_SCOPE_VALUE: "user_followed"}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_SCOPE: "pbx"})
    assert result["errors"] == {CONF_SCOPE: "users_followed"}
    assert result["description_placeholders"]["entries"] == "202"


async def test_options(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """Takeover is an option, saved and applied by a reload."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_FORCED: True}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    # The raw record stays off unless asked for.
    assert init_integration.options == {CONF_FORCED: True, CONF_RAW_RECORD: False}
    assert init_integration.runtime_data.config.forced is True
