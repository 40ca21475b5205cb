"""A whole office day, replayed through the simulator and Home Assistant.

`basix_simulator.office_day` plays every kind of call once, in a fixed order, on the demo PBX
of six users (201-206, ids 1001-1006) and two ring groups (601: 201, 203, 205; 602 with a
queue: 202, 204, 206): a ring group answered by one member, an abandoned call, a voicemail,
an outgoing call, a busy callee, a pickup, a park and unpark, a transfer, a group voicemail.
After each step the test waits until Home Assistant has read every frame the step produced,
then the whole day is compared with what docs/calls.md says each person should see: their
call state sensor's states in order, and their call events (the `basix_cti_call` bus event
and the extension's event entity) with the reasons and causes an automation reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, HomeAssistant, callback
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from basix_simulator.office_day import STEPS, OfficeDay
from basix_simulator.pbx import ManualClock, Pbx
from basix_simulator.server import SimulatorServer
from custom_components.basix_cti.const import EVENT_CALL

from .conftest import PBX_DOMAIN, entity_id, wait_for

USERS = {"201": "1001", "202": "1002", "203": "1003", "204": "1004", "205": "1005", "206": "1006"}
SUPPORT = "5002"  # ring group 602, with a queue

# Each extension's call state through the day: (step, state) for every change of state.
STATES: dict[str, list[tuple[str, str]]] = {
    "201": [
        ("sales_call_rings", "ringing"),
        ("sales_call_answered", "idle"),  # 203 answered
        ("busy_call_dials", "dialing"),
        ("busy_call_refused", "idle"),
        ("park_call_rings", "ringing"),
        ("park_call_answered", "talking"),
        ("park_call_parked", "parked"),  # the parked call stays 201's until someone takes it
        ("park_call_unparked", "idle"),
    ],
    "202": [
        ("abandoned_call_rings", "ringing"),
        ("abandoned_call_ends", "idle"),
        ("pickup_call_rings", "ringing"),
        ("pickup_call_picked_up", "idle"),  # 204 picked it up
        ("support_call_rings", "ringing"),
        ("support_voicemail_taken", "idle"),
    ],
    "203": [
        ("sales_call_rings", "ringing"),
        ("sales_call_answered", "talking"),
        ("sales_call_ends", "idle"),
        ("park_call_unparked", "talking"),  # dialling the park slot never rings
        ("park_call_ends", "idle"),
    ],
    "204": [
        ("voicemail_call_rings", "ringing"),
        # The phone stops ringing before the caller's leg reaches the box: two frames, and
        # for that moment nothing rings (docs/calls.md, "Endings").
        ("voicemail_taken", "idle"),
        ("voicemail_taken", "voicemail"),
        ("voicemail_left", "idle"),
        ("pickup_call_picked_up", "talking"),  # picking a call up never rings
        ("pickup_call_ends", "idle"),
        ("support_call_rings", "ringing"),
        ("support_voicemail_taken", "idle"),
    ],
    "205": [
        ("sales_call_rings", "ringing"),
        ("sales_call_answered", "idle"),
        ("outgoing_call_dials", "dialing"),
        ("outgoing_call_answered", "talking"),
        ("outgoing_call_ends", "idle"),
        ("transfer_call_rings", "ringing"),
        ("transfer_call_answered", "talking"),
        ("transfer_call_transferred", "idle"),
    ],
    "206": [
        ("busy_call_dials", "ringing"),
        ("busy_call_refused", "idle"),
        ("transfer_call_transferred", "ringing"),
        ("transfer_call_answered_by_206", "talking"),
        ("transfer_call_ends", "idle"),
        ("support_call_rings", "ringing"),
        ("support_voicemail_taken", "idle"),
    ],
}

# Each extension's call events: (step, type, reason, hangup_cause, hangup_side).
EVENTS: dict[str, list[tuple[str, str, str | None, str | None, str | None]]] = {
    "201": [
        ("sales_call_rings", "incoming_call", None, None, None),
        # Another member took it: an ending, not a missed call.
        ("sales_call_answered", "ended", "answered_elsewhere", "LOSE_RACE", "pbx"),
        ("busy_call_dials", "outgoing_call", None, None, None),
        ("busy_call_refused", "ended", "busy", "USER_BUSY", "pbx"),
        ("park_call_rings", "incoming_call", None, None, None),
        ("park_call_answered", "answered", None, None, None),
        # 201's own leg hangs up on parking; the parked call then ends silently.
        ("park_call_parked", "ended", None, "NORMAL_CLEARING", "far_end"),
    ],
    "202": [
        ("abandoned_call_rings", "incoming_call", None, None, None),
        ("abandoned_call_ends", "missed", "caller_hung_up", "ORIGINATOR_CANCEL", "pbx"),
        ("pickup_call_rings", "incoming_call", None, None, None),
        ("pickup_call_picked_up", "ended", "picked_up", "PICKED_OFF", "pbx"),
        ("support_call_rings", "incoming_call", None, None, None),
        ("support_voicemail_taken", "missed", "voicemail", "NO_ANSWER", "pbx"),
    ],
    "203": [
        ("sales_call_rings", "incoming_call", None, None, None),
        ("sales_call_answered", "answered", None, None, None),
        ("sales_call_ends", "ended", None, "NORMAL_CLEARING", "pbx"),  # the customer hung up
        ("park_call_unparked", "incoming_call", None, None, None),
        ("park_call_unparked", "answered", None, None, None),
        ("park_call_ends", "ended", None, "NORMAL_CLEARING", "pbx"),
    ],
    "204": [
        ("voicemail_call_rings", "incoming_call", None, None, None),
        # The voicemail taking the caller is not an `answered` for anyone.
        ("voicemail_taken", "missed", "voicemail", "NO_ANSWER", "pbx"),
        ("pickup_call_picked_up", "incoming_call", None, None, None),
        ("pickup_call_picked_up", "answered", None, None, None),
        ("pickup_call_ends", "ended", None, "NORMAL_CLEARING", "far_end"),  # 204 hung up
        ("support_call_rings", "incoming_call", None, None, None),
        ("support_voicemail_taken", "missed", "voicemail", "NO_ANSWER", "pbx"),
    ],
    "205": [
        ("sales_call_rings", "incoming_call", None, None, None),
        ("sales_call_answered", "ended", "answered_elsewhere", "LOSE_RACE", "pbx"),
        ("outgoing_call_dials", "outgoing_call", None, None, None),
        ("outgoing_call_answered", "answered", None, None, None),
        ("outgoing_call_ends", "ended", None, "NORMAL_CLEARING", "far_end"),
        ("transfer_call_rings", "incoming_call", None, None, None),
        ("transfer_call_answered", "answered", None, None, None),
        ("transfer_call_transferred", "ended", None, "NORMAL_CLEARING", "far_end"),
    ],
    "206": [
        ("busy_call_dials", "incoming_call", None, None, None),
        ("busy_call_refused", "missed", "busy", "USER_BUSY", "far_end"),
        ("transfer_call_transferred", "incoming_call", None, None, None),
        ("transfer_call_answered_by_206", "answered", None, None, None),
        ("transfer_call_ends", "ended", None, "NORMAL_CLEARING", "far_end"),
        ("support_call_rings", "incoming_call", None, None, None),
        ("support_voicemail_taken", "missed", "voicemail", "NO_ANSWER", "pbx"),
    ],
}


@pytest.fixture
def pbx() -> Pbx:
    """The office: the demo PBX `OfficeDay` is written for, on a clock the day moves."""
    return Pbx.demo(users=6, groups=2, seed=1, domain=PBX_DOMAIN, clock=ManualClock())


@dataclass
class Recorder:
    """What Home Assistant showed, tagged with the step of the day that caused it."""

    sensors: dict[str, str]
    event_entities: dict[str, str]
    others: dict[str, str]
    step: str = "start"
    states: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    events: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    entity_events: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    other_states: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    @classmethod
    def start(cls, hass: HomeAssistant) -> Recorder:
        """Listen to the call state sensors, event entities, voicemail and active calls."""
        recorder = cls(
            sensors={entity_id(hass, "sensor", "call_state", u): ext for ext, u in USERS.items()},
            event_entities={entity_id(hass, "event", "call", u): ext for ext, u in USERS.items()},
            others={
                entity_id(hass, "sensor", "active_calls"): "active_calls",
                **{
                    entity_id(hass, "binary_sensor", "voicemail", u): f"voicemail_{ext}"
                    for ext, u in USERS.items()
                },
            },
        )
        hass.bus.async_listen(EVENT_STATE_CHANGED, recorder.state_changed)
        hass.bus.async_listen(EVENT_CALL, recorder.call_event)
        return recorder

    @callback
    def state_changed(self, event: Event) -> None:
        """Record a state change of one of the entities listened to."""
        entity, new, old = event.data["entity_id"], event.data["new_state"], event.data["old_state"]
        if new is None or (old is not None and old.state == new.state):
            return
        if (extension := self.sensors.get(entity)) is not None:
            self.states.setdefault(extension, []).append((self.step, new.state))
        elif (extension := self.event_entities.get(entity)) is not None:
            event_type = new.attributes["event_type"]
            self.entity_events.setdefault(extension, []).append((self.step, event_type))
        elif (name := self.others.get(entity)) is not None:
            self.other_states.setdefault(name, []).append((self.step, new.state))

    @callback
    def call_event(self, event: Event) -> None:
        """Record a call event on the bus."""
        self.events.setdefault(event.data["extension"], []).append((self.step, dict(event.data)))

    def data(self, extension: str, step: str, event_type: str) -> dict[str, Any]:
        """The data of the one event of that type the extension got in that step."""
        (data,) = [d for s, d in self.events[extension] if s == step and d["type"] == event_type]
        return data


async def _caught_up(
    hass: HomeAssistant, simulator: SimulatorServer, entry: MockConfigEntry
) -> None:
    """Wait until the client has read every frame the simulator queued, and HA handled them.

    A step queues its frames synchronously, so right after it the connection's queue holds
    exactly the frames still to come.
    """
    (connection,) = simulator.connections
    expected = simulator.frames_sent + connection.queue.qsize()
    client = entry.runtime_data.client
    await wait_for(hass, lambda: client.stats.frames >= expected)
    await hass.async_block_till_done()


async def test_office_day(
    hass: HomeAssistant,
    pbx: Pbx,
    simulator: SimulatorServer,
    init_integration: MockConfigEntry,
) -> None:
    """Every extension's call states and call events through a whole office day."""
    await _caught_up(hass, simulator, init_integration)
    recorder = Recorder.start(hass)
    day = OfficeDay(pbx)
    while not day.done:
        recorder.step = day.step().name
        await _caught_up(hass, simulator, init_integration)
    assert [result.name for result in day.results] == [step.name for step in STEPS]

    for extension in USERS:
        assert recorder.states.get(extension) == STATES[extension], extension
        got = [
            (step, d["type"], d.get("reason"), d.get("hangup_cause"), d.get("hangup_side"))
            for step, d in recorder.events.get(extension, [])
        ]
        assert got == EVENTS[extension], extension
        # The event entity shows the same story as the bus.
        assert recorder.entity_events.get(extension) == [
            (step, kind) for step, kind, *_ in EVENTS[extension]
        ], extension

    # Who picked the call up, and what the picker and the unparker took: the caller's call.
    assert recorder.data("202", "pickup_call_picked_up", "ended")["picked_up_by"] == "1004"
    picked = recorder.data("204", "pickup_call_picked_up", "answered")
    assert (picked["direction"], picked["remote_number"]) == ("incoming", "0612340000")
    unparked = recorder.data("203", "park_call_unparked", "answered")
    assert (unparked["direction"], unparked["remote_number"]) == ("incoming", "08011112222")
    transferred = recorder.data("206", "transfer_call_transferred", "incoming_call")
    assert transferred["remote_number"] == "09055556666"
    busy = recorder.data("201", "busy_call_refused", "ended")
    assert (busy["direction"], busy["remote_number"]) == ("outgoing", "206")
    # Durations follow the simulated clock: from the answer to the hang-up.
    assert recorder.data("203", "sales_call_ends", "ended")["duration"] == 95
    assert recorder.data("205", "outgoing_call_ends", "ended")["duration"] == 180
    assert recorder.data("201", "park_call_parked", "ended")["duration"] == 40
    assert recorder.data("205", "transfer_call_transferred", "ended")["duration"] == 30
    assert recorder.data("206", "transfer_call_ends", "ended")["duration"] == 150
    assert recorder.data("201", "sales_call_answered", "ended")["duration"] == 0

    # The message left for 204 turns 204's voicemail on; no other box changed. The group's
    # message is in the group's own box, which the PBX reports in the group's record.
    assert {
        name: states for name, states in recorder.other_states.items() if name != "active_calls"
    } == {"voicemail_204": [("voicemail_left", "on")]}
    group = init_integration.runtime_data.state.groups[SUPPORT]
    assert group.mwi is not None
    assert (group.mwi.new_messages, group.mwi.old_messages) == (1, 0)
    # One call at a time all day: a pickup's or an unpark's second leg is no second call.
    active = recorder.other_states["active_calls"]
    assert {state for _, state in active} == {"0", "1"}
    assert active[-1] == ("support_voicemail_left", "0")
