"""Per-event work is proportional to what changed, not to the size of the PBX."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED, STATE_UNAVAILABLE
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.dispatcher import async_dispatcher_send
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from basix_simulator.pbx import Pbx
from basix_simulator.server import SimulatorServer
from custom_components.basix_cti.const import DOMAIN, EVENT_CALL
from custom_components.basix_cti.coordinator import Extension
from custom_components.basix_cti.entity import BasixEntity

from .conftest import entity_id, wait_for


@pytest.fixture
def pbx() -> Pbx:
    """A PBX with 200 extensions (users 1001-1200 on 201-400)."""
    return Pbx.demo(users=200, groups=0, seed=2)


async def test_one_call_wakes_only_its_extension(
    hass: HomeAssistant, pbx: Pbx, config_entry: MockConfigEntry
) -> None:
    """A call on one extension writes that extension's entities whose state it changed only."""
    written: list[str] = []
    original = BasixEntity.async_write_ha_state

    def spy(entity: BasixEntity) -> None:
        written.append(entity.entity_id)
        original(entity)

    with patch.object(BasixEntity, "async_write_ha_state", spy):
        config_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        call_state = lambda: hass.states.get(entity_id(hass, "sensor", "call_state", "1050"))  # noqa: E731
        await wait_for(
            hass, lambda: hass.states.get(entity_id(hass, "sensor", "call_state", "1200"))
        )
        written.clear()

        pbx.incoming_call(to="250")
        await wait_for(hass, lambda: call_state().state == "ringing")

    # Its voicemail, do not disturb, phones... and the PBX's connection are woken too, but
    # show what they showed: they are not written again.
    assert sorted(written) == sorted(
        [
            entity_id(hass, "sensor", "call_state", "1050"),
            entity_id(hass, "event", "call", "1050"),
            entity_id(hass, "sensor", "active_calls"),
        ]
    )


async def test_no_write_that_changes_nothing(
    hass: HomeAssistant, simulator: SimulatorServer, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """Calls, voicemail and a reconnect write only states that change: none is reported."""
    await wait_for(hass, lambda: entity_id(hass, "sensor", "call_state", "1200"))
    call_state = entity_id(hass, "sensor", "call_state", "1050")
    voicemail = entity_id(hass, "binary_sensor", "voicemail", "1050")
    changed: list[str] = []
    reported: list[str] = []
    states: list[str] = []

    @callback
    def on_changed(event: Event[EventStateChangedData]) -> None:
        changed.append(event.data["entity_id"])
        if event.data["entity_id"] == call_state and (new := event.data["new_state"]):
            states.append(new.state)

    hass.bus.async_listen(EVENT_STATE_CHANGED, on_changed)
    hass.bus.async_listen(
        EVENT_STATE_REPORTED,
        lambda event: reported.append(event.data["entity_id"]),
        event_filter=callback(lambda data: True),
    )

    call = pbx.incoming_call(to="250")
    await wait_for(hass, lambda: hass.states.get(call_state).state == "ringing")
    pbx.answer(call)
    await wait_for(hass, lambda: hass.states.get(call_state).state == "talking")
    pbx.hangup(call)
    await wait_for(hass, lambda: hass.states.get(call_state).state == "idle")
    pbx.set_mwi("1050", 2)
    await wait_for(hass, lambda: hass.states.get(voicemail).state == "on")
    written = len(changed)
    pbx.set_mwi("1050", 3)  # still on: the binary sensor is not written again
    coordinator = init_integration.runtime_data
    await wait_for(hass, lambda: coordinator.state.users["1050"].mwi.new_messages == 3)
    assert len(changed) == written

    await simulator.drop_connections()
    await wait_for(hass, lambda: states[-2:] == [STATE_UNAVAILABLE, "idle"])
    await hass.async_block_till_done()

    assert reported == []
    assert changed.count(voicemail) == 3  # on, then unavailable and back


async def test_a_reconnect_writes_in_slices(
    hass: HomeAssistant, simulator: SimulatorServer, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """Every entity comes back available, over many turns of the loop rather than in one."""
    await wait_for(hass, lambda: entity_id(hass, "sensor", "call_state", "1200"))
    turn = 0
    ticking = True

    def tick() -> None:
        nonlocal turn
        turn += 1
        if ticking:
            hass.loop.call_soon(tick)

    back: dict[str, int] = {}

    @callback
    def on_changed(event: Event[EventStateChangedData]) -> None:
        old, new = event.data["old_state"], event.data["new_state"]
        if old and new and old.state == STATE_UNAVAILABLE != new.state:
            back[event.data["entity_id"]] = turn

    hass.bus.async_listen(EVENT_STATE_CHANGED, on_changed)
    call_states = {entity_id(hass, "sensor", "call_state", f"{1001 + i}") for i in range(200)}
    init_integration.runtime_data.writer.time_slice = 0  # a signal a turn
    simulator.refuse_with(503)
    await simulator.drop_connections()
    await wait_for(
        hass,
        lambda: {hass.states.get(entity).state for entity in call_states} == {STATE_UNAVAILABLE},
    )
    tick()
    simulator.refuse_with(None)
    await wait_for(hass, lambda: call_states <= set(back))
    ticking = False

    # A slice of no time writes one user's entities: 200 users, 200 turns or so.
    assert len(set(back.values())) >= 100
    assert {hass.states.get(call_state).state for call_state in call_states} == {"idle"}


async def test_queued_events_follow_their_writes(
    hass: HomeAssistant, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """Queued behind other writes, a call event still reads the state it brought."""
    await wait_for(hass, lambda: entity_id(hass, "sensor", "call_state", "1200"))
    call_state = entity_id(hass, "sensor", "call_state", "1050")
    seen: list[tuple[str, str]] = []

    @callback
    def fired(event: Event[Any]) -> None:
        if event.data.get("user_id") == "1050":
            seen.append((event.data["type"], hass.states.get(call_state).state))

    hass.bus.async_listen(EVENT_CALL, fired)
    init_integration.runtime_data.writer.time_slice = 0  # a signal a turn
    with patch("custom_components.basix_cti.writer.WRITE_AT_ONCE", 0):
        call = pbx.incoming_call(to="250")
        await wait_for(hass, lambda: seen)
        pbx.answer(call)
        await wait_for(hass, lambda: len(seen) == 2)
        pbx.hangup(call)
        await wait_for(hass, lambda: len(seen) == 3)

    assert seen == [("incoming_call", "ringing"), ("answered", "talking"), ("ended", "idle")]


async def test_a_large_pbx_stays_under_the_entity_limit(
    hass: HomeAssistant, pbx: Pbx, config_entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    """Beyond Home Assistant's limit of enabled entities, the most useful kinds stay enabled.

    Home Assistant would refuse every entity past its limit, whichever platform came last:
    a PBX of 2,000 users could lose all its call states. 200 users against a limit of 700
    leave room for three kinds each.
    """
    # Home Assistant's own limit too: it is the one that would refuse entities.
    with (
        patch("homeassistant.helpers.entity_platform.MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY", 700),
        patch("custom_components.basix_cti.entity.MAX_ENABLED_ENTITIES_PER_CONFIG_ENTRY", 700),
    ):
        config_entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(config_entry.entry_id)
        await hass.async_block_till_done()

    registry = er.async_get(hass)
    entries = er.async_entries_for_config_entry(registry, config_entry.entry_id)
    assert sum(not entry.disabled for entry in entries) <= 700
    assert "Reached the maximum of" not in caplog.text
    for user in range(1001, 1201):  # no user lost their call state to the limit
        assert hass.states.get(entity_id(hass, "sensor", "call_state", str(user))).state == "idle"
    assert hass.states.get(entity_id(hass, "event", "call", "1200"))
    assert hass.states.get(entity_id(hass, "binary_sensor", "voicemail", "1200"))
    assert registry.async_get(entity_id(hass, "binary_sensor", "do_not_disturb", "1200")).disabled
    assert registry.async_get(entity_id(hass, "sensor", "missed_calls", "1200")).disabled
    told = [r for r in caplog.records if "are enabled by default" in r.getMessage()]
    assert len(told) == 1  # once for the entry, not once for each disabled entity
    assert "only their call_state, call, voicemail are enabled by default" in told[0].getMessage()


async def test_a_user_gone_before_their_turn_gets_no_entities(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Adding waits its turn in a queue: a user the PBX removed meanwhile is not brought back."""
    await wait_for(hass, lambda: entity_id(hass, "sensor", "call_state", "1200"))
    coordinator = init_integration.runtime_data
    registry = er.async_get(hass)
    unique_id = f"{init_integration.unique_id}:9999_call_state"
    ghost = Extension("9999", "Ghost", "999")

    async_dispatcher_send(hass, coordinator.signal_new_extensions, [ghost])
    await hass.async_block_till_done()
    assert registry.async_get_entity_id("sensor", DOMAIN, unique_id) is None

    coordinator.extensions[ghost.user_id] = ghost  # still there at its turn: added
    async_dispatcher_send(hass, coordinator.signal_new_extensions, [ghost])
    await hass.async_block_till_done()
    assert registry.async_get_entity_id("sensor", DOMAIN, unique_id) is not None
