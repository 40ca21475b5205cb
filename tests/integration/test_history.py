"""After the call: the last missed call, the last call and the missed-call count per extension."""

from __future__ import annotations

from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache_with_extra_data,
)

from basix_simulator.pbx import Pbx
from custom_components.basix_cti.const import DOMAIN

from .conftest import UNIQUE_ID, entity_id, wait_for

YAMADA = "1001"  # extension 201


def _state(hass: HomeAssistant, key: str, user_id: str = YAMADA) -> State:
    state = hass.states.get(entity_id(hass, "sensor", key, user_id))
    assert state is not None
    return state


async def _enable_last_call(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    er.async_get(hass).async_update_entity(
        entity_id(hass, "sensor", "last_call", YAMADA), disabled_by=None
    )
    assert await hass.config_entries.async_reload(entry.entry_id)
    await wait_for(hass, lambda: _state(hass, "last_call"))


async def test_missed_call_is_kept_with_the_caller(
    hass: HomeAssistant, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """A missed call fills Last missed call and counts; both outlive a reload."""
    assert _state(hass, "last_missed_call").state == "unknown"
    assert _state(hass, "missed_calls").state == "0"
    assert _state(hass, "missed_calls").attributes["state_class"] == "total_increasing"

    call = pbx.incoming_call(
        to="201", caller="0312345678", caller_name="山田 花子", organization="Acme"
    )
    await wait_for(hass, lambda: _state(hass, "call_state").state == "ringing")
    pbx.caller_hangs_up(call)
    await wait_for(hass, lambda: _state(hass, "missed_calls").state == "1")

    missed = _state(hass, "last_missed_call")
    assert dt_util.parse_datetime(missed.state) is not None
    assert missed.attributes["caller_number"] == "0312345678"
    assert missed.attributes["caller_name"] == "山田 花子"
    assert missed.attributes["caller_organization"] == "Acme"
    assert missed.attributes["our_number"] == pbx.user("201").did
    assert missed.attributes["reason"] == "caller_hung_up"

    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await wait_for(hass, lambda: _state(hass, "last_missed_call").state == missed.state)
    assert _state(hass, "last_missed_call").attributes["caller_name"] == "山田 花子"
    assert _state(hass, "missed_calls").state == "1"

    second = pbx.incoming_call(to="201", caller="0398765432", caller_name=None)
    await wait_for(hass, lambda: _state(hass, "call_state").state == "ringing")
    pbx.to_voicemail(second)
    await wait_for(hass, lambda: _state(hass, "missed_calls").state == "2")
    missed = _state(hass, "last_missed_call")
    assert missed.attributes["caller_number"] == "0398765432"
    assert missed.attributes["reason"] == "voicemail"
    # What the PBX did not say is left out, not shown as "Unknown".
    assert "caller_name" not in missed.attributes
    assert "caller_organization" not in missed.attributes


async def test_history_stays_while_disconnected(
    hass: HomeAssistant, pbx: Pbx, simulator, init_integration: MockConfigEntry
) -> None:
    """A missed call stays missed while the connection is down."""
    call = pbx.incoming_call(to="201", caller="0312345678")
    await wait_for(hass, lambda: _state(hass, "call_state").state == "ringing")
    pbx.caller_hangs_up(call)
    await wait_for(hass, lambda: _state(hass, "missed_calls").state == "1")
    simulator.stall()
    await simulator.drop_connections()
    await wait_for(hass, lambda: _state(hass, "call_state").state == "unavailable")
    assert _state(hass, "missed_calls").state == "1"
    assert _state(hass, "last_missed_call").attributes["caller_number"] == "0312345678"
    simulator.stall(False)


async def test_last_call_with_its_duration(
    hass: HomeAssistant, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """Last call (disabled by default) shows the call that ended last, either direction."""
    last_call = entity_id(hass, "sensor", "last_call", YAMADA)
    entry = er.async_get(hass).async_get(last_call)
    assert entry is not None
    assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    await _enable_last_call(hass, init_integration)

    call = pbx.incoming_call(to="201", caller="0311112222", caller_name="田中 一郎")
    pbx.answer(call)
    await wait_for(hass, lambda: _state(hass, "call_state").state == "talking")
    pbx.hangup(call)
    await wait_for(hass, lambda: _state(hass, "last_call").state != "unknown")
    state = _state(hass, "last_call")
    assert state.attributes["direction"] == "incoming"
    assert state.attributes["remote_number"] == "0311112222"
    assert state.attributes["remote_name"] == "田中 一郎"
    assert isinstance(state.attributes["duration"], int)
    assert "reason" not in state.attributes

    outgoing = pbx.outgoing_call("201", "0120444444")
    await wait_for(hass, lambda: _state(hass, "call_state").state == "dialing")
    pbx.hangup(outgoing)
    await wait_for(
        hass, lambda: _state(hass, "last_call").attributes.get("direction") == "outgoing"
    )
    state = _state(hass, "last_call")
    assert state.attributes["remote_number"] == "0120444444"
    # Why, as the PBX's disposition tells (the caller cancelling) or the legs (no answer).
    assert state.attributes["reason"] in ("no_answer", "caller_hung_up")
    assert "duration" not in state.attributes
    assert "our_number" not in state.attributes
    # Missed calls are not counted for a call that was only not answered outward.
    assert _state(hass, "missed_calls").state == "0"


async def test_restored_after_a_restart(
    hass: HomeAssistant, pbx: Pbx, config_entry: MockConfigEntry
) -> None:
    """What the last run saved comes back: the PBX cannot tell it again."""
    registry = er.async_get(hass)
    missed = registry.async_get_or_create(
        "sensor", DOMAIN, f"{UNIQUE_ID}:{YAMADA}_last_missed_call", suggested_object_id="missed"
    ).entity_id
    count = registry.async_get_or_create(
        "sensor", DOMAIN, f"{UNIQUE_ID}:{YAMADA}_missed_calls", suggested_object_id="count"
    ).entity_id
    broken = registry.async_get_or_create(
        "sensor", DOMAIN, f"{UNIQUE_ID}:1002_missed_calls", suggested_object_id="broken"
    ).entity_id
    garbled = registry.async_get_or_create(
        "sensor", DOMAIN, f"{UNIQUE_ID}:1003_last_missed_call", suggested_object_id="garbled"
    ).entity_id
    when = "2026-11-30T09:15:00+00:00"
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(missed, when),
                {"value": when, "attributes": {"caller_number": "0312345678"}},
            ),
            (State(count, "7"), {"value": 7, "attributes": {}}),
            (State(broken, "x"), {"value": "x", "attributes": {}}),
            (State(garbled, when), {"value": when, "attributes": "?"}),
        ],
    )
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await wait_for(hass, lambda: hass.states.get(missed) and hass.states.get(broken))
    assert hass.states.get(missed).state == when
    assert hass.states.get(missed).attributes["caller_number"] == "0312345678"
    assert hass.states.get(count).state == "7"
    assert hass.states.get(broken).state == "0"
    assert hass.states.get(garbled).state == "unknown"

    call = pbx.incoming_call(to="201")
    await wait_for(hass, lambda: _state(hass, "call_state").state == "ringing")
    pbx.caller_hangs_up(call)
    await wait_for(hass, lambda: hass.states.get(count).state == "8")
