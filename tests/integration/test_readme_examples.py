"""The README's automation examples, run: pasted as they are, they do what the README says.

Each README's examples are loaded into Home Assistant (entity IDs changed to the test PBX's, as
a reader changes them to theirs), the simulator makes the call, and the actions they call are
checked, down to the text a person reads on their phone.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
import re
from typing import Any

from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from homeassistant.util.yaml import parse_yaml
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_mock_service

from basix_simulator.server import SimulatorServer

from .conftest import entity_id, wait_for

ROOT = Path(__file__).resolve().parents[2]
README_PREFIX = "shan_tian_tai_lang_201"  # the README's 山田 太郎 (201)


def _automations(readme: str) -> list[dict[str, Any]]:
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / readme).read_text("utf-8"), re.DOTALL)
    return [
        config
        for config in map(parse_yaml, blocks)
        if isinstance(config, dict) and "triggers" in config
    ]


@pytest.mark.parametrize("readme", ["README.md", "README.ja.md"])
async def test_readme_examples_do_what_they_say(
    hass: HomeAssistant,
    simulator: SimulatorServer,
    init_integration: MockConfigEntry,
    readme: str,
) -> None:
    await hass.config.async_set_time_zone("Asia/Tokyo")
    ours = entity_id(hass, "sensor", "call_state", "1001").removeprefix("sensor.")
    ours = ours.removesuffix("_call_state")
    text = (ROOT / readme).read_text("utf-8").replace(README_PREFIX, ours)
    configs = [
        config
        for config in map(parse_yaml, re.findall(r"```yaml\n(.*?)```", text, re.DOTALL))
        if isinstance(config, dict) and "triggers" in config
    ]
    assert len(configs) == len(_automations(readme)) == 4
    pause = async_mock_service(hass, "media_player", "media_pause")
    notify = async_mock_service(hass, "notify", "mobile_app_my_phone")
    lamp_on = async_mock_service(hass, "light", "turn_on")
    lamp_off = async_mock_service(hass, "light", "turn_off")
    assert await async_setup_component(hass, "automation", {"automation": configs})
    await hass.async_block_till_done()
    pbx = simulator.pbx

    # Pause the TV when 201 rings.
    call = pbx.incoming_call("201", caller="0399999999", caller_name="山田 花子")
    await wait_for(hass, lambda: pause)
    assert pause[0].data["entity_id"] == ["media_player.living_room_tv"]

    # A missed call, told on the phone in one line, as the README quotes it.
    events: list[Any] = []
    hass.bus.async_listen("basix_cti_call", events.append)
    pbx.hangup(call)
    await wait_for(hass, lambda: notify)
    missed = next(event.data for event in events if event.data["type"] == "missed")
    message = _message(notify[0])
    started = dt_util.as_local(datetime.fromisoformat(missed["started_at"]))
    assert "\n" not in message
    assert f"{started:%H:%M}" in message
    assert "山田 花子" in message
    assert missed["called_number"] in message
    # The README's own promise, with its example time and number.
    quoted = message.replace(f"{started:%H:%M}", "18:03").replace(
        missed["called_number"], "0312345601"
    )
    assert quoted in text, f"{readme} should quote what the phone shows: {quoted!r}"

    # The voicemail lamp.
    pbx.set_mwi("201", 2, 0)
    await wait_for(hass, lambda: lamp_on)
    pbx.set_mwi("201", 0, 2)
    await wait_for(hass, lambda: lamp_off)
    assert lamp_on[0].data["entity_id"] == lamp_off[0].data["entity_id"] == ["light.desk_lamp"]

    # A call to the sales group (601) that nobody answers, told with the caller's name.
    told = len(notify)
    sales = next(group for group in pbx.groups.values() if group.extension == "601")
    pbx.ring_timeout(pbx.incoming_call(sales, caller="0311112222", caller_name="佐藤 一郎"))

    def told_of_group() -> list[ServiceCall]:
        return [c for c in notify[told:] if "601" in c.data["title"] and "佐藤 一郎" in _message(c)]

    await wait_for(hass, told_of_group)
    assert told_of_group()[0].data["title"] in text


def _message(call: ServiceCall) -> str:
    return str(call.data["message"])
