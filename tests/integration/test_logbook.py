"""Call events in the logbook: in words, with the caller, once, and never from a restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from basix_simulator.pbx import Pbx
from basix_simulator.server import SimulatorServer
from custom_components.basix_cti import logbook
from custom_components.basix_cti.const import CONF_RAW_RECORD, DOMAIN, EVENT_CALL

from .conftest import entity_id, wait_for

YAMADA = "1001"  # extension 201


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(recorder_mock: Any, enable_custom_integrations: None) -> None:
    """The recorder first (the logbook reads it), before Home Assistant starts."""


TRANSLATIONS = Path(logbook.__file__).parent / "translations"


async def _setup_logbook(hass: HomeAssistant) -> None:
    # The logbook's panel needs the frontend, whose files are not installed for tests; the
    # panel is not what is tested here.
    hass.config.components.add("frontend")
    assert await async_setup_component(hass, "logbook", {})


async def _logbook(
    hass: HomeAssistant, hass_ws_client: WebSocketGenerator, since: str
) -> list[dict[str, Any]]:
    await async_wait_recording_done(hass)
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "logbook/get_events", "start_time": since})
    response = await client.receive_json()
    assert response["success"], response
    return response["result"]


def _call_lines(entries: list[dict[str, Any]], event_entity: str) -> list[dict[str, Any]]:
    """Lines of call events: ours, and the Call entity's own (an event it lists)."""
    return [
        entry
        for entry in entries
        if entry.get("domain") == DOMAIN
        or (entry.get("entity_id") == event_entity and entry.get("state") != "unavailable")
    ]


async def _miss_a_call(hass: HomeAssistant, pbx: Pbx) -> None:
    call_state = entity_id(hass, "sensor", "call_state", YAMADA)
    call = pbx.incoming_call(to="201", caller="0312345678", caller_name="山田 花子")
    await wait_for(hass, lambda: hass.states.get(call_state).state == "ringing")
    pbx.caller_hangs_up(call)
    await wait_for(hass, lambda: hass.states.get(call_state).state == "idle")


async def test_missed_call_in_words_once(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    pbx: Pbx,
    simulator: SimulatorServer,
    init_integration: MockConfigEntry,
) -> None:
    """A missed call is one line with the caller; reload and reconnect add no call line."""
    await _setup_logbook(hass)
    since = dt_util.utcnow().isoformat()
    event_entity = entity_id(hass, "event", "call", YAMADA)
    fired = async_capture_events(hass, EVENT_CALL)
    await _miss_a_call(hass, pbx)

    entries = await _logbook(hass, hass_ws_client, since)
    ours = [entry for entry in entries if entry.get("domain") == DOMAIN]
    assert [entry["message"] for entry in ours] == [
        "Incoming call from 山田 花子 (0312345678)",
        "Missed call from 山田 花子 (0312345678)",
    ]
    assert ours[-1]["name"].endswith("(201)")  # the extension's device
    assert ours[-1]["entity_id"] == event_entity
    assert sum("山田 花子" in str(entry.get("message")) for entry in entries) == 2
    before = len(_call_lines(entries, event_entity))

    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await wait_for(hass, lambda: hass.states.get(event_entity))
    await simulator.drop_connections()
    await wait_for(hass, lambda: init_integration.runtime_data.connected is False)
    await wait_for(hass, lambda: init_integration.runtime_data.connected)
    await hass.async_block_till_done()

    entries = await _logbook(hass, hass_ws_client, since)
    assert len(_call_lines(entries, event_entity)) == before
    assert len(fired) == 2
    # The Call entity still shows the last event, restored.
    assert hass.states.get(event_entity).attributes["event_type"] == "missed"


async def test_in_the_configured_language(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    pbx: Pbx,
    init_integration: MockConfigEntry,
) -> None:
    """Japanese users read Japanese, also after the language is changed."""
    await _setup_logbook(hass)
    await hass.config.async_update(language="ja")
    await hass.async_block_till_done()
    since = dt_util.utcnow().isoformat()
    await _miss_a_call(hass, pbx)
    entries = await _logbook(hass, hass_ws_client, since)
    assert [entry["message"] for entry in entries if entry.get("domain") == DOMAIN] == [
        "山田 花子 (0312345678) から着信",
        "山田 花子 (0312345678) からの不在着信",
    ]


async def test_raw_record_only_when_asked(
    hass: HomeAssistant, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """The option adds the PBX's leg, as plain JSON, to every bus event."""
    hass.config_entries.async_update_entry(init_integration, options={CONF_RAW_RECORD: True})
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await wait_for(hass, lambda: init_integration.runtime_data.connected)
    fired = async_capture_events(hass, EVENT_CALL)
    pbx.incoming_call(to="201")
    await wait_for(hass, lambda: fired)
    assert fired[0].data["record"]["state"][1] == "calling"


def _english(key: str) -> str:
    return logbook._FALLBACK[key]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"type": "incoming_call"}, "Incoming call from an unknown number"),
        (
            {"type": "outgoing_call", "direction": "outgoing", "called_number": "0120"},
            "Calling 0120",
        ),
        (
            {"type": "answered", "direction": "outgoing", "remote_number": "0120"},
            "0120 answered",
        ),
        ({"type": "answered", "caller_name": "Tanaka"}, "Answered call from Tanaka"),
        (
            {"type": "missed", "caller_number": "03", "reason": "voicemail"},
            "Missed call from 03, sent to voicemail",
        ),
        (
            {"type": "ended", "direction": "outgoing", "remote_number": "03", "duration": 185},
            "Call to 03 ended after 3 min",
        ),
        (
            {"type": "ended", "direction": "incoming", "caller_number": "03", "duration": 42.4},
            "Call from 03 ended after 42 s",
        ),
        (
            {"type": "ended", "caller_number": "03", "duration": 3900},
            "Call from 03 ended after 1 h 5 min",
        ),
        (
            {
                "type": "ended",
                "direction": "outgoing",
                "remote_number": "03",
                "reason": "no_answer",
            },
            "Call to 03 was not answered",
        ),
        (
            {"type": "ended", "caller_number": "03", "reason": "answered_elsewhere"},
            "Call from 03 was answered on another phone",
        ),
        ({"type": "missed", "caller_name": "03", "caller_number": "03"}, "Missed call from 03"),
        (
            {"type": "ended", "caller_number": "03", "reason": "picked_up"},
            "Call from 03 was picked up by a colleague",
        ),
        (
            {"type": "ended", "direction": "outgoing", "remote_number": "03", "reason": "busy"},
            "03 was busy",
        ),
    ],
)
def test_every_event_in_words(data: dict[str, Any], message: str) -> None:
    """Each kind of call event reads as a sentence, whatever the PBX did not say."""
    assert logbook.describe_call(data, _english) == message


def test_fallback_is_the_english_translation() -> None:
    """The words used before any translation is loaded are the English ones."""
    english = json.loads((TRANSLATIONS / "en.json").read_text(encoding="utf-8"))["common"]
    assert {f"logbook_{key}": text for key, text in logbook._FALLBACK.items()} == {
        key: text for key, text in english.items() if key.startswith("logbook_")
    }
    japanese = json.loads((TRANSLATIONS / "ja.json").read_text(encoding="utf-8"))["common"]
    assert japanese.keys() == english.keys()


async def test_group_missed_call_under_the_group(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    pbx: Pbx,
    init_integration: MockConfigEntry,
) -> None:
    """A call to a ring group nobody answered is a line of the group's own, with the caller."""
    await _setup_logbook(hass)
    since = dt_util.utcnow().isoformat()
    group = next(iter(pbx.groups.values()))
    key = f"group:{group.id}"
    group_entity = entity_id(hass, "event", "call", key)
    call_state = entity_id(hass, "sensor", "call_state", key)
    call = pbx.incoming_call(to=group.extension, caller="0312345678", caller_name="山田 花子")
    await wait_for(hass, lambda: hass.states.get(call_state).state == "ringing")
    pbx.ring_timeout(call)
    await wait_for(hass, lambda: hass.states.get(call_state).state == "idle")

    entries = await _logbook(hass, hass_ws_client, since)
    ours = [e for e in entries if e.get("domain") == DOMAIN and e["entity_id"] == group_entity]
    assert [entry["message"] for entry in ours] == [
        "Incoming call from 山田 花子 (0312345678)",
        "Missed call from 山田 花子 (0312345678)",
    ]
    assert ours[-1]["name"] == f"{group.label} ({group.extension})"  # the group's device
