"""Calls as a user sees them: call state, attributes, call events, on the bus and as entities."""

from __future__ import annotations

import json
from typing import Any

from homeassistant.core import Event, HomeAssistant, State
from homeassistant.helpers.json import json_dumps
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from basix_simulator.pbx import Pbx
from custom_components.basix_cti.const import EVENT_CALL

from .conftest import entity_id, wait_for

YAMADA = "1001"  # extension 201
SUZUKI = "1002"  # extension 202
TAKAHASHI = "1003"  # extension 203

pytestmark = pytest.mark.usefixtures("init_integration")


def _state(hass: HomeAssistant, user_id: str) -> State:
    state = hass.states.get(entity_id(hass, "sensor", "call_state", user_id))
    assert state is not None
    return state


async def _until_state(hass: HomeAssistant, user_id: str, expected: str) -> State:
    await wait_for(hass, lambda: _state(hass, user_id).state == expected)
    return _state(hass, user_id)


def _events(events: list[Event], user_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [(e.data["type"], e.data) for e in events if e.data.get("user_id") == user_id]


async def test_incoming_call_answered_and_ended(hass: HomeAssistant, pbx: Pbx) -> None:
    """Ringing, talking, idle; incoming_call, answered, ended with its duration."""
    events = async_capture_events(hass, EVENT_CALL)
    assert _state(hass, YAMADA).state == "idle"

    call = pbx.incoming_call(
        to="201", caller="09012345678", caller_name="田中 一郎", organization="Acme"
    )
    state = await _until_state(hass, YAMADA, "ringing")
    assert state.attributes["direction"] == "incoming"
    assert state.attributes["caller_number"] == "09012345678"
    assert state.attributes["caller_name"] == "田中 一郎"
    assert state.attributes["remote_organization"] == "Acme"
    assert state.attributes["our_number"] == pbx.user("201").did
    assert len(state.attributes["calls"]) == 1

    pbx.answer(call)
    state = await _until_state(hass, YAMADA, "talking")
    assert state.attributes["answered_at"] is not None

    pbx.hangup(call)
    state = await _until_state(hass, YAMADA, "idle")
    assert state.attributes["calls"] == []

    types = [kind for kind, _ in _events(events, YAMADA)]
    assert types == ["incoming_call", "answered", "ended"]
    ended = _events(events, YAMADA)[-1][1]
    assert ended["caller_number"] == "09012345678"
    assert ended["duration"] is not None
    assert ended["duration"] >= 0
    assert ended["channel_uuid"]
    assert ended["extension"] == "201"
    # Recorded and shown in the logbook, so plain JSON; the raw leg only when asked for.
    assert json.loads(json_dumps(ended)) == ended
    assert "record" not in ended
    assert ended["device_id"]
    assert ended["entity_id"] == entity_id(hass, "event", "call", YAMADA)

    event_state = hass.states.get(entity_id(hass, "event", "call", YAMADA))
    assert event_state is not None
    assert event_state.attributes["event_type"] == "ended"
    assert event_state.attributes["caller_name"] == "田中 一郎"


async def test_missed_call(hass: HomeAssistant, pbx: Pbx) -> None:
    """The caller gives up while it rings: a missed call, with who called."""
    events = async_capture_events(hass, EVENT_CALL)
    call = pbx.incoming_call(to="201", caller="0451112222", caller_name=None)
    await _until_state(hass, YAMADA, "ringing")
    pbx.caller_hangs_up(call)
    await _until_state(hass, YAMADA, "idle")

    assert [kind for kind, _ in _events(events, YAMADA)] == ["incoming_call", "missed"]
    missed = _events(events, YAMADA)[-1][1]
    assert missed["caller_number"] == "0451112222"
    assert missed["reason"] == "caller_hung_up"
    event_state = hass.states.get(entity_id(hass, "event", "call", YAMADA))
    assert event_state is not None
    assert event_state.attributes["event_type"] == "missed"


async def test_voicemail(hass: HomeAssistant, pbx: Pbx) -> None:
    """Unanswered to voicemail: missed, then the voicemail sensor turns on; off once heard."""
    events = async_capture_events(hass, EVENT_CALL)
    voicemail = entity_id(hass, "binary_sensor", "voicemail", YAMADA)
    assert hass.states.get(voicemail).state == "off"

    call = pbx.incoming_call(to="201")
    await _until_state(hass, YAMADA, "ringing")
    pbx.to_voicemail(call)
    await wait_for(hass, lambda: hass.states.get(voicemail).state == "on")
    await _until_state(hass, YAMADA, "idle")
    assert [kind for kind, _ in _events(events, YAMADA)] == ["incoming_call", "missed"]
    assert _events(events, YAMADA)[-1][1]["reason"] == "voicemail"

    pbx.set_mwi("201", new=0, old=1)
    await wait_for(hass, lambda: hass.states.get(voicemail).state == "off")


async def test_parallel_calls(hass: HomeAssistant, pbx: Pbx) -> None:
    """A second call rings over a talking one; ending either never hides the other."""
    first = pbx.incoming_call(to="201", caller="0311111111")
    pbx.answer(first)
    await _until_state(hass, YAMADA, "talking")

    second = pbx.incoming_call(to="201", caller="0322222222")
    state = await _until_state(hass, YAMADA, "ringing")
    assert state.attributes["caller_number"] == "0322222222"
    assert [c["phase"] for c in state.attributes["calls"]] == ["ringing", "talking"]

    pbx.caller_hangs_up(second)
    state = await _until_state(hass, YAMADA, "talking")
    assert state.attributes["caller_number"] == "0311111111"

    third = pbx.incoming_call(to="201", caller="0333333333")
    await _until_state(hass, YAMADA, "ringing")
    pbx.hangup(first)
    state = await _until_state(hass, YAMADA, "ringing")
    await wait_for(hass, lambda: len(_state(hass, YAMADA).attributes["calls"]) == 1)
    assert _state(hass, YAMADA).attributes["caller_number"] == "0333333333"
    pbx.caller_hangs_up(third)
    await _until_state(hass, YAMADA, "idle")


async def test_hold(hass: HomeAssistant, pbx: Pbx) -> None:
    """Hold and back."""
    call = pbx.incoming_call(to="201")
    pbx.answer(call)
    await _until_state(hass, YAMADA, "talking")
    pbx.hold(call)
    await _until_state(hass, YAMADA, "on_hold")
    pbx.unhold(call)
    await _until_state(hass, YAMADA, "talking")
    pbx.hangup(call)
    await _until_state(hass, YAMADA, "idle")


async def test_transfer(hass: HomeAssistant, pbx: Pbx) -> None:
    """201 transfers to 202: 201's call ends, 202's rings and is answered."""
    events = async_capture_events(hass, EVENT_CALL)
    call = pbx.incoming_call(to="201", caller="0399999999")
    pbx.answer(call)
    await _until_state(hass, YAMADA, "talking")

    pbx.transfer(call, to="202")
    state = await _until_state(hass, SUZUKI, "ringing")
    assert state.attributes["caller_number"] == "0399999999"
    await _until_state(hass, YAMADA, "idle")
    pbx.answer(call)
    await _until_state(hass, SUZUKI, "talking")

    assert [kind for kind, _ in _events(events, YAMADA)] == ["incoming_call", "answered", "ended"]
    assert [kind for kind, _ in _events(events, SUZUKI)] == ["incoming_call", "answered"]


async def test_park_and_pickup(hass: HomeAssistant, pbx: Pbx) -> None:
    """A parked call shows on the parker until someone picks it up."""
    events = async_capture_events(hass, EVENT_CALL)
    call = pbx.incoming_call(to="201")
    pbx.answer(call)
    await _until_state(hass, YAMADA, "talking")

    pbx.park(call, slot="901")  # slots are 901-999 (web phone)
    await _until_state(hass, YAMADA, "parked")
    pbx.pickup("901", by="203")
    await _until_state(hass, TAKAHASHI, "talking")
    await _until_state(hass, YAMADA, "idle")
    assert [kind for kind, _ in _events(events, YAMADA)] == ["incoming_call", "answered", "ended"]
    # What the picker took is a call that came in, though their phone dialled the slot.
    assert [kind for kind, _ in _events(events, TAKAHASHI)] == ["incoming_call", "answered"]


async def test_group_call_answered_elsewhere(hass: HomeAssistant, pbx: Pbx) -> None:
    """A ring group rings its members; the ones who did not answer did not miss it."""
    events = async_capture_events(hass, EVENT_CALL)
    group = next(iter(pbx.groups.values()))
    members = list(group.members)
    call = pbx.incoming_call(to=group.extension)
    for member in members:
        await _until_state(hass, member, "ringing")
    pbx.answer(call, by=members[0])
    await _until_state(hass, members[0], "talking")
    for member in members[1:]:
        await _until_state(hass, member, "idle")
        kinds = [kind for kind, _ in _events(events, member)]
        assert kinds == ["incoming_call", "ended"]
        assert _events(events, member)[-1][1]["reason"] == "answered_elsewhere"


async def test_outgoing_call(hass: HomeAssistant, pbx: Pbx) -> None:
    """Dialing out, then talking; the number dialled is the other party."""
    events = async_capture_events(hass, EVENT_CALL)
    call = pbx.outgoing_call("201", "0120444444")
    state = await _until_state(hass, YAMADA, "dialing")
    assert state.attributes["direction"] == "outgoing"
    assert state.attributes["remote_number"] == "0120444444"
    assert "our_number" not in state.attributes  # only an incoming call dials one of ours
    pbx.answer(call)
    await _until_state(hass, YAMADA, "talking")
    pbx.hangup(call)
    await _until_state(hass, YAMADA, "idle")
    assert [kind for kind, _ in _events(events, YAMADA)] == ["outgoing_call", "answered", "ended"]


async def test_active_calls(
    hass: HomeAssistant, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """The PBX's sensor counts calls, not legs."""
    active = entity_id(hass, "sensor", "active_calls")
    assert hass.states.get(active).state == "0"
    first = pbx.incoming_call(to="201")
    pbx.internal_call("202", "203")
    await wait_for(hass, lambda: hass.states.get(active).state == "2")
    pbx.hangup(first)
    await wait_for(hass, lambda: hass.states.get(active).state == "1")
