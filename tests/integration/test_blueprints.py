"""The shipped blueprints load, and automations made from them run on simulated calls."""

from __future__ import annotations

from pathlib import Path
import shutil
from typing import Any

from homeassistant.components import automation
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from basix_simulator.pbx import Pbx
from custom_components.basix_cti.coordinator import device_identifier

from .conftest import entity_id, wait_for

BLUEPRINTS = Path(__file__).parents[2] / "blueprints" / "automation" / "basix_cti"
YAMADA = "1001"  # extension 201


@pytest.fixture
def blueprint_config(hass: HomeAssistant, tmp_path: Path) -> None:
    """A configuration directory holding the blueprints, as an import puts them."""
    hass.config.config_dir = str(tmp_path)
    shutil.copytree(BLUEPRINTS, tmp_path / "blueprints" / "automation" / "basix_cti")


async def _automation(hass: HomeAssistant, name: str, inputs: dict[str, Any]) -> None:
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {automation.DOMAIN: {"use_blueprint": {"path": f"basix_cti/{name}.yaml", "input": inputs}}},
    )
    await hass.async_block_till_done()
    # Loaded and valid: an automation with a broken blueprint is not created at all.
    assert [state.state for state in hass.states.async_all(automation.DOMAIN)] == ["on"]


@pytest.mark.usefixtures("blueprint_config")
async def test_missed_call_notification(
    hass: HomeAssistant, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """A missed call sends one notification with the caller's name and number."""
    notifications = async_mock_service(hass, "notify", "my_phone")
    device = dr.async_get(hass).async_get_device_by_identifier(
        device_identifier(init_integration, YAMADA), init_integration.entry_id
    )
    assert device is not None
    await _automation(
        hass,
        "missed_call_notify",
        {"extension": device.id, "notify_action": "notify.my_phone"},
    )

    answered = pbx.incoming_call(to="201", caller="0311112222")
    pbx.answer(answered)
    pbx.hangup(answered)
    call = pbx.incoming_call(to="201", caller="0312345678", caller_name="山田 花子")
    call_state = entity_id(hass, "sensor", "call_state", YAMADA)
    await wait_for(hass, lambda: hass.states.get(call_state).state == "ringing")
    pbx.caller_hangs_up(call)
    await wait_for(hass, lambda: notifications)
    await hass.async_block_till_done()
    assert len(notifications) == 1
    assert notifications[0].data["title"] == "Missed call"
    message = notifications[0].data["message"]
    assert message.startswith("山田 花子 (0312345678) → ")
    assert pbx.user("201").did in message


@pytest.mark.usefixtures("blueprint_config")
async def test_voicemail_light(
    hass: HomeAssistant, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """The light goes on when a message is left, and off once it is heard."""
    on = async_mock_service(hass, "light", "turn_on")
    off = async_mock_service(hass, "light", "turn_off")
    voicemail = entity_id(hass, "binary_sensor", "voicemail", YAMADA)
    assert hass.states.get(voicemail).state == "off"
    await _automation(
        hass,
        "voicemail_light",
        {"voicemail": voicemail, "light": {"entity_id": "light.desk"}},
    )

    call = pbx.incoming_call(to="201")
    await wait_for(hass, lambda: hass.states.get(voicemail) is not None)
    pbx.to_voicemail(call)
    await wait_for(hass, lambda: on)
    assert on[0].data["entity_id"] == ["light.desk"]
    pbx.set_mwi("201", new=0, old=1)
    await wait_for(hass, lambda: off)
    assert off[0].data["entity_id"] == ["light.desk"]


@pytest.mark.usefixtures("blueprint_config")
async def test_pause_media_while_ringing(
    hass: HomeAssistant, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """The TV pauses when 201 rings; a call to another extension leaves it alone."""
    paused = async_mock_service(hass, "media_player", "media_pause")
    await _automation(
        hass,
        "pause_media_while_ringing",
        {
            "call_state": entity_id(hass, "sensor", "call_state", YAMADA),
            "media_players": {"entity_id": ["media_player.tv"]},
        },
    )
    other = pbx.incoming_call(to="202")
    suzuki = entity_id(hass, "sensor", "call_state", "1002")
    await wait_for(hass, lambda: hass.states.get(suzuki).state == "ringing")
    await hass.async_block_till_done()
    assert not paused
    pbx.caller_hangs_up(other)

    pbx.incoming_call(to="201")
    await wait_for(hass, lambda: paused)
    assert paused[0].data["entity_id"] == ["media_player.tv"]
