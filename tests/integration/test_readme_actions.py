"""The README's action examples, run: the dashboard button calls, the script hangs up.

The device IDs in the README are placeholders a reader replaces with theirs; the test replaces
them with the test PBX's devices, as a reader would, and checks what the PBX then does.
"""

from __future__ import annotations

from pathlib import Path
import re
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import parse_yaml
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from basix_simulator.server import SimulatorServer
from custom_components.basix_cti.const import DOMAIN

from .conftest import UNIQUE_ID, entity_id, wait_for

ROOT = Path(__file__).resolve().parents[2]


def _blocks(readme: str) -> list[Any]:
    text = (ROOT / readme).read_text("utf-8")
    return [parse_yaml(block) for block in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)]


def _device(hass: HomeAssistant, entry: MockConfigEntry, user_id: str) -> str:
    device = dr.async_get(hass).async_get_device_by_identifier(
        (DOMAIN, f"{UNIQUE_ID}:{user_id}"), entry.entry_id
    )
    assert device is not None
    return device.id


def _state(hass: HomeAssistant, user_id: str) -> str:
    state = hass.states.get(entity_id(hass, "sensor", "call_state", user_id))
    assert state is not None
    return state.state


@pytest.mark.parametrize("readme", ["README.md", "README.ja.md"])
async def test_readme_button_and_script(
    hass: HomeAssistant,
    simulator: SimulatorServer,
    init_integration: MockConfigEntry,
    readme: str,
) -> None:
    blocks = _blocks(readme)
    [button] = [b for b in blocks if isinstance(b, dict) and b.get("type") == "button"]
    [script] = [b for b in blocks if isinstance(b, dict) and "sequence" in b]
    pbx = simulator.pbx

    # The button: tapped, it performs its action with its data (extension 201's device).
    tap = button["tap_action"]
    assert tap["action"] == "perform-action"
    domain, service = tap["perform_action"].split(".")
    data = {**tap["data"], "device_id": _device(hass, init_integration, "1001")}
    await hass.services.async_call(domain, service, data, blocking=True)
    assert simulator.api.requests == [
        {"destination": tap["data"]["destination"], "user_id": "1001"}
    ]
    await wait_for(hass, lambda: _state(hass, "1001") == "dialing")
    pbx.hangup(pbx.calls_of("201")[0])
    await wait_for(hass, lambda: _state(hass, "1001") == "idle")

    # The script: the door phone (here extension 204) has a call; running it ends the call.
    door = "1004"
    script["sequence"][0]["data"]["device_id"] = _device(hass, init_integration, door)
    assert await async_setup_component(hass, "script", {"script": {"door": script}})
    call = pbx.incoming_call("204")
    pbx.answer(call, by="204")
    await wait_for(hass, lambda: _state(hass, door) == "talking")
    await hass.services.async_call("script", "door", blocking=True)
    await wait_for(hass, lambda: _state(hass, door) == "idle")
    assert not pbx.calls
