"""Ring and hunt groups, and people's status: data-driven from what the PBX sends."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_capture_events

from basix_simulator.pbx import Pbx
from basix_simulator.server import SimulatorServer
from custom_components.basix_cti.const import DOMAIN, EVENT_CALL
from custom_components.basix_cti.coordinator import device_identifier

from .conftest import PBX_DOMAIN, TOKEN, UNIQUE_ID, entity_id, wait_for

YAMADA = "1001"  # extension 201


def _group(pbx: Pbx):
    return next(iter(pbx.groups.values()))


def _state(hass: HomeAssistant, platform: str, key: str, owner: str):
    state = hass.states.get(entity_id(hass, platform, key, owner))
    assert state is not None
    return state


async def test_group_device(
    hass: HomeAssistant, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """A device per group, under the PBX's, named from its label and extension, with members."""
    group = _group(pbx)
    registry = dr.async_get(hass)
    device = registry.async_get_device_by_identifier(
        device_identifier(init_integration, f"group:{group.id}"), init_integration.entry_id
    )
    assert device is not None
    assert device.name == f"{group.label} ({group.extension})"
    hub = registry.async_get_device_by_identifier(
        device_identifier(init_integration), init_integration.entry_id
    )
    assert device.via_device_id == hub.id
    state = _state(hass, "sensor", "call_state", f"group:{group.id}")
    assert state.state == "idle"
    assert [m["user_id"] for m in state.attributes["members"]] == list(group.members)
    assert all("login_status" in m for m in state.attributes["members"])
    assert _state(hass, "sensor", "waiting_calls", f"group:{group.id}").state == "0"


async def test_unanswered_group_call_is_missed_for_the_group(
    hass: HomeAssistant, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """Nobody answers: missed for the group, and for no user whose phone did not ring."""
    events = async_capture_events(hass, EVENT_CALL)
    group = _group(pbx)
    key = f"group:{group.id}"
    call = pbx.incoming_call(to=group.extension, caller="0312345678", caller_name="山田 花子")
    await wait_for(hass, lambda: _state(hass, "sensor", "call_state", key).state == "ringing")
    state = _state(hass, "sensor", "call_state", key)
    assert state.attributes["caller_number"] == "0312345678"
    pbx.caller_hangs_up(call)
    await wait_for(hass, lambda: _state(hass, "sensor", "call_state", key).state == "idle")
    await wait_for(hass, lambda: any(e.data.get("group_id") == group.id for e in events[1:]))
    await hass.async_block_till_done()

    ours = [e.data for e in events if e.data.get("group_id") == group.id]
    assert [e["type"] for e in ours] == ["incoming_call", "missed"]
    assert ours[-1]["caller_name"] == "山田 花子"
    assert "user_id" not in ours[-1]
    assert ours[-1]["entity_id"] == entity_id(hass, "event", "call", key)
    assert _state(hass, "event", "call", key).attributes["event_type"] == "missed"
    users_missed = {e.data.get("user_id") for e in events if e.data["type"] == "missed"} - {None}
    # Only members rang; nobody else missed the group's call.
    assert users_missed <= set(group.members)
    assert users_missed.isdisjoint(set(pbx.users) - set(group.members))


async def test_group_call_nobody_answers_in_time(
    hass: HomeAssistant, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """The PBX gives up ringing: missed (no answer) for the group and the members it rang only."""
    registry = dr.async_get(hass)
    group = pbx.add_group("support", label="サポート", members=["201", "202"])
    key = f"group:{group.id}"
    await wait_for(
        hass,
        lambda: registry.async_get_device_by_identifier(
            device_identifier(init_integration, key), init_integration.entry_id
        ),
    )
    await hass.async_block_till_done()
    events = async_capture_events(hass, EVENT_CALL)
    call = pbx.incoming_call(to=group.extension, caller="0312345678", caller_name="山田 花子")
    await wait_for(hass, lambda: _state(hass, "sensor", "call_state", key).state == "ringing")
    pbx.ring_timeout(call)
    await wait_for(hass, lambda: any(e.data.get("group_id") == group.id for e in events[1:]))
    await wait_for(hass, lambda: _state(hass, "sensor", "call_state", key).state == "idle")
    await hass.async_block_till_done()

    ours = [e.data for e in events if e.data.get("group_id") == group.id]
    assert [(e["type"], e.get("reason")) for e in ours] == [
        ("incoming_call", None),
        ("missed", "no_answer"),
    ]
    rang = {e.data.get("user_id") for e in events if e.data["type"] == "incoming_call"} - {None}
    missed = {e.data.get("user_id") for e in events if e.data["type"] == "missed"} - {None}
    assert rang == set(group.members)
    assert missed == rang  # both members' phones rang, and nobody else's
    assert _state(hass, "sensor", "missed_calls", "1003").state == "0"


async def test_group_call_answered_by_a_member(
    hass: HomeAssistant, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """Answered by one member: answered and ended for the group; missed by nobody."""
    events = async_capture_events(hass, EVENT_CALL)
    group = _group(pbx)
    key = f"group:{group.id}"
    call = pbx.incoming_call(to=group.extension, caller="0312345678")
    await wait_for(hass, lambda: _state(hass, "sensor", "call_state", key).state == "ringing")
    pbx.answer(call, by=group.members[0])
    await wait_for(hass, lambda: _state(hass, "sensor", "call_state", key).state == "talking")
    pbx.hangup(call)
    await wait_for(hass, lambda: _state(hass, "sensor", "call_state", key).state == "idle")
    await wait_for(hass, lambda: any(e.data["type"] == "ended" for e in events))
    await hass.async_block_till_done()

    ours = [e.data for e in events if e.data.get("group_id") == group.id]
    assert [e["type"] for e in ours] == ["incoming_call", "answered", "ended"]
    assert ours[-1]["duration"] >= 0
    assert not [e for e in events if e.data["type"] == "missed"]


async def test_group_call_to_the_group_voicemail(
    hass: HomeAssistant, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """Nobody answers and the caller leaves a message: missed for the group, for voicemail."""
    events = async_capture_events(hass, EVENT_CALL)
    group = _group(pbx)
    key = f"group:{group.id}"
    call = pbx.incoming_call(to=group.extension, caller="0312345678")
    await wait_for(hass, lambda: _state(hass, "sensor", "call_state", key).state == "ringing")
    pbx.to_voicemail(call)
    await wait_for(hass, lambda: any(e.data.get("group_id") == group.id for e in events[1:]))
    await hass.async_block_till_done()

    ours = [e.data for e in events if e.data.get("group_id") == group.id]
    assert [(e["type"], e.get("reason")) for e in ours] == [
        ("incoming_call", None),
        ("missed", "voicemail"),
    ]
    assert _state(hass, "sensor", "call_state", key).state == "idle"


async def test_group_voicemail(
    hass: HomeAssistant, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """The group's own box: on while messages wait, off once heard."""
    group = _group(pbx)
    voicemail = entity_id(hass, "binary_sensor", "voicemail", f"group:{group.id}")
    assert hass.states.get(voicemail).state == "off"
    pbx.set_mwi(group, new=1)
    await wait_for(hass, lambda: hass.states.get(voicemail).state == "on")
    pbx.set_mwi(group, new=0, old=1)
    await wait_for(hass, lambda: hass.states.get(voicemail).state == "off")


async def test_people_status(
    hass: HomeAssistant, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """Do not disturb, forwarding and presence read the PBX's integers; phones their terminals."""
    dnd = _state(hass, "binary_sensor", "do_not_disturb", YAMADA)
    assert dnd.state == "off"
    assert dnd.attributes["raw_value"] == 0
    pbx.update_user("201", do_not_disturb=2, forward_always=1, presence=3)
    await wait_for(
        hass, lambda: _state(hass, "binary_sensor", "do_not_disturb", YAMADA).state == "on"
    )
    assert _state(hass, "binary_sensor", "do_not_disturb", YAMADA).attributes["raw_value"] == 2
    assert _state(hass, "binary_sensor", "call_forwarding", YAMADA).state == "on"
    registry = er.async_get(hass)
    presence = entity_id(hass, "sensor", "presence", YAMADA)
    assert registry.async_get(presence).entity_category == "diagnostic"
    await wait_for(hass, lambda: hass.states.get(presence).state == "3")

    phone = _state(hass, "binary_sensor", "phone_registered", YAMADA)
    assert phone.state == "on"
    assert phone.attributes["phones"][0]["registered"] is True
    pbx.update_user("201", registered=False)
    await wait_for(
        hass, lambda: _state(hass, "binary_sensor", "phone_registered", YAMADA).state == "off"
    )


@pytest.fixture
async def older_simulator(pbx: Pbx) -> AsyncGenerator[SimulatorServer]:
    """The same PBX, speaking the older generation (no user list, no terminals, no groups)."""
    server = SimulatorServer(pbx, domain=PBX_DOMAIN, token=TOKEN, generation="older")
    await server.start()
    yield server
    await server.stop()


async def test_status_entities_only_when_the_pbx_sends_the_fields(
    hass: HomeAssistant, pbx: Pbx, older_simulator: SimulatorServer, config_entry: MockConfigEntry
) -> None:
    """A PBX without those fields gets no DND, forwarding, phone or presence entity."""
    config_entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=UNIQUE_ID,
        data={**config_entry.data, "server": older_simulator.url},
    )
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    registry = er.async_get(hass)
    # That generation names no users: a call reveals one.
    pbx.incoming_call(to="201")
    await wait_for(
        hass,
        lambda: registry.async_get_entity_id("sensor", DOMAIN, f"{UNIQUE_ID}:{YAMADA}_call_state"),
    )
    await hass.async_block_till_done()
    ours = {entry.unique_id for entry in registry.entities.values()}
    assert f"{UNIQUE_ID}:{YAMADA}_voicemail" in ours
    for key in ("do_not_disturb", "call_forwarding", "phone_registered", "presence"):
        assert not any(unique.endswith(f"_{key}") for unique in ours)


async def test_groups_deleted_while_away_lose_their_devices(
    hass: HomeAssistant, simulator: SimulatorServer, pbx: Pbx, config_entry: MockConfigEntry
) -> None:
    """As for users: a group two group snapshots in a row lack loses its device, not before."""
    from custom_components.basix_cti import async_remove_config_entry_device

    group = _group(pbx)
    pbx.add_group("support", label="サポート", members=["201"])  # stays
    config_entry.add_to_hass(hass)
    registry = dr.async_get(hass)
    stale = device_identifier(config_entry, "group:9999")
    registry.async_get_or_create(config_entry_id=config_entry.entry_id, identifiers={stale})
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    coordinator = config_entry.runtime_data
    # A group's device from the last run is no extension.
    assert "group:9999" not in coordinator.extensions
    assert registry.async_get_device_by_identifier(stale, config_entry.entry_id)
    current = device_identifier(config_entry, f"group:{group.id}")
    device = registry.async_get_device_by_identifier(current, config_entry.entry_id)
    assert not await async_remove_config_entry_device(hass, config_entry, device)

    del pbx.groups[group.id]  # deleted at the PBX while we were away
    await simulator.close_connections()
    await wait_for(
        hass, lambda: not registry.async_get_device_by_identifier(stale, config_entry.entry_id)
    )
    # One snapshot without the group may be partial: its device stays.
    assert registry.async_get_device_by_identifier(current, config_entry.entry_id)
    await simulator.close_connections()
    await wait_for(
        hass, lambda: not registry.async_get_device_by_identifier(current, config_entry.entry_id)
    )
    assert registry.async_get_device_by_identifier(
        device_identifier(config_entry, YAMADA), config_entry.entry_id
    )
