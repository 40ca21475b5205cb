"""An office day on the simulated PBX: every kind of call once, in a fixed order, step by step.

Deterministic (a `ManualClock` moves by fixed amounts, uuids come from the PBX's seed) and
steppable, so that a test can replay it through the simulator and check what a client shows
after each step:

    pbx = Pbx.demo(users=6, groups=2, seed=1, clock=ManualClock())
    day = OfficeDay(pbx)
    async with SimulatorServer(pbx) as server:
        while not day.done:
            result = day.step()        # one step: its name, its call, the changes it emitted
            ...                        # assert what the client shows now

It needs the PBX `Pbx.demo(users=6, groups=2)` builds (the `sim_pbx` fixture): users 201-206,
ring group 601 (201, 203, 205) and ring group 602 with a queue (202, 204, 206). `STEPS` lists
each step with what it does (and the dispositions its legs end with).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .pbx import Call, ManualClock, Pbx, Record

type Change = tuple[str, Record, str]


@dataclass(frozen=True, slots=True)
class Step:
    """One step of the day: `name`, what happens, and the seconds that pass before it."""

    name: str
    description: str
    run: Callable[[OfficeDay], Call | None]
    wait: float = 5.0


@dataclass(slots=True)
class StepResult:
    """What one step did: its call and every change the PBX announced meanwhile."""

    step: Step
    call: Call | None
    changes: list[Change] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The step's name."""
        return self.step.name

    def channel_events(self) -> list[tuple[str, str, str, Any]]:
        """(event, uuid, last_event, last_event_data) of each channel change, in order."""
        return [
            (event, r["uuid"], r["last_event"], r["last_event_data"])
            for entity, r, event in self.changes
            if entity == "channel"
        ]


class OfficeDay:
    """Play `STEPS` on a PBX, one `step()` at a time (or `run()` them all)."""

    def __init__(self, pbx: Pbx, steps: tuple[Step, ...] | None = None) -> None:
        """Play `steps` (default `STEPS`) on `pbx` (the demo PBX of 6 users and 2 groups).

        Its clock should be a `ManualClock`: each step moves it by the step's `wait`.
        """
        for ext in ("201", "202", "203", "204", "205", "206", "601", "602"):
            pbx.resolve(ext)  # KeyError early, not in the middle of the day
        self.pbx = pbx
        self.steps = STEPS if steps is None else steps
        self.position = 0
        self.calls: dict[str, Call] = {}
        """The day's calls by name (sales, abandoned, voicemail, outgoing, busy, pickup...)."""
        self.results: list[StepResult] = []

    @property
    def done(self) -> bool:
        """True once every step has run."""
        return self.position >= len(self.steps)

    @property
    def next_step(self) -> Step | None:
        """The step `step()` runs next."""
        return None if self.done else self.steps[self.position]

    def step(self) -> StepResult:
        """Run the next step (after moving a manual clock by its `wait`); return what it did."""
        if self.done:
            raise IndexError("the office day is over")
        step = self.steps[self.position]
        if isinstance(self.pbx.clock, ManualClock):
            self.pbx.clock.advance(step.wait)
        changes: list[Change] = []
        unsubscribe = self.pbx.subscribe(lambda e, r, n: changes.append((e, r, n)))
        try:
            call = step.run(self)
        finally:
            unsubscribe()
        self.position += 1
        result = StepResult(step, call, changes)
        self.results.append(result)
        return result

    def run(self) -> list[StepResult]:
        """Run every remaining step; return their results."""
        return [self.step() for _ in range(len(self.steps) - self.position)]

    def run_until(self, name: str) -> list[StepResult]:
        """Run the steps up to and including the one called `name`."""
        names = [s.name for s in self.steps]
        if name not in names[self.position :]:
            raise KeyError(f"no step {name!r} ahead")
        return [self.step() for _ in range(names.index(name) + 1 - self.position)]

    def start(self, name: str, call: Call) -> Call:
        """Remember a call the day starts (for the steps that follow)."""
        self.calls[name] = call
        return call

    def do(self, name: str, action: Callable[[Call], Any]) -> Call:
        """Apply `action` to the day's call called `name`; return the call."""
        call = self.calls[name]
        action(call)
        return call


STEPS: tuple[Step, ...] = (
    Step(
        "sales_call_rings",
        "a customer calls the sales ring group 601: 201, 203 and 205 ring",
        lambda d: d.start("sales", d.pbx.incoming_call("601", "0312340001", "鈴木 一郎")),
    ),
    Step(
        "sales_call_answered",
        "203 answers; 201 and 205 stop ringing (send_cancel,LOSE_RACE)",
        lambda d: d.do("sales", lambda c: d.pbx.answer(c, by="203")),
        wait=6,
    ),
    Step(
        "sales_call_ends",
        "the customer hangs up (recv_bye on their leg, send_bye on 203's)",
        lambda d: d.do("sales", d.pbx.caller_hangs_up),
        wait=95,
    ),
    Step(
        "abandoned_call_rings",
        "a caller rings 202",
        lambda d: d.start("abandoned", d.pbx.incoming_call("202", "09011112222", None)),
    ),
    Step(
        "abandoned_call_ends",
        "the caller gives up (recv_cancel / send_cancel,ORIGINATOR_CANCEL): 202 missed it",
        lambda d: d.do("abandoned", d.pbx.caller_hangs_up),
        wait=12,
    ),
    Step(
        "voicemail_call_rings",
        "a caller rings 204",
        lambda d: d.start("voicemail", d.pbx.incoming_call("204", "0459876543", "横浜商事")),
    ),
    Step(
        "voicemail_taken",
        "nobody answers: 204's phone stops (send_cancel,NO_ANSWER), the caller leaves a message",
        lambda d: d.do("voicemail", lambda c: d.pbx.to_voicemail(c, hang_up=False)),
        wait=20,
    ),
    Step(
        "voicemail_left",
        "the caller hangs up after the message: 204's box counts one more new message",
        lambda d: d.do("voicemail", d.pbx.caller_hangs_up),
        wait=30,
    ),
    Step(
        "outgoing_call_dials",
        "205 calls a customer",
        lambda d: d.start("outgoing", d.pbx.outgoing_call("205", "0398765432")),
    ),
    Step(
        "outgoing_call_answered",
        "the customer answers",
        lambda d: d.do("outgoing", d.pbx.answer),
        wait=8,
    ),
    Step(
        "outgoing_call_ends",
        "205 hangs up (recv_bye on 205's leg, send_bye on the network's)",
        lambda d: d.do("outgoing", d.pbx.hangup),
        wait=180,
    ),
    Step(
        "busy_call_dials",
        "201 calls 206",
        lambda d: d.start("busy", d.pbx.internal_call("201", "206")),
    ),
    Step(
        "busy_call_refused",
        "206 is busy (recv_refuse,USER_BUSY; 201's leg send_refuse,USER_BUSY)",
        lambda d: d.do("busy", d.pbx.busy),
        wait=2,
    ),
    Step(
        "pickup_call_rings",
        "a customer rings 202",
        lambda d: d.start("pickup", d.pbx.incoming_call("202", "0612340000", "Smith John")),
    ),
    Step(
        "pickup_call_picked_up",
        "204 picks the call up (202's phone: send_cancel,PICKED_OFF)",
        lambda d: d.do("pickup", lambda c: d.pbx.call_pickup(c, "204")),
        wait=7,
    ),
    Step(
        "pickup_call_ends",
        "204 hangs up",
        lambda d: d.do("pickup", d.pbx.hangup),
        wait=120,
    ),
    Step(
        "park_call_rings",
        "a customer rings 201",
        lambda d: d.start("park", d.pbx.incoming_call("201", "08011112222", "高木 美穂")),
    ),
    Step(
        "park_call_answered",
        "201 answers",
        lambda d: d.do("park", d.pbx.answer),
        wait=4,
    ),
    Step(
        "park_call_parked",
        "201 parks the call in slot 901 and hangs up (channel_waiting added, state park)",
        lambda d: d.do("park", lambda c: d.pbx.park(c, "901")),
        wait=40,
    ),
    Step(
        "park_call_unparked",
        "203 takes the call from slot 901 (channel_waiting removed)",
        lambda d: d.do("park", lambda c: d.pbx.pickup("901", "203")),
        wait=25,
    ),
    Step(
        "park_call_ends",
        "the customer hangs up",
        lambda d: d.do("park", d.pbx.caller_hangs_up),
        wait=90,
    ),
    Step(
        "transfer_call_rings",
        "a customer rings 205",
        lambda d: d.start("transfer", d.pbx.incoming_call("205", "09055556666", "小野 光")),
    ),
    Step(
        "transfer_call_answered",
        "205 answers",
        lambda d: d.do("transfer", d.pbx.answer),
        wait=5,
    ),
    Step(
        "transfer_call_transferred",
        "205 transfers the call to 206 (206 rings, 205's leg recv_bye)",
        lambda d: d.do("transfer", lambda c: d.pbx.transfer(c, "206")),
        wait=30,
    ),
    Step(
        "transfer_call_answered_by_206",
        "206 answers",
        lambda d: d.do("transfer", d.pbx.answer),
        wait=6,
    ),
    Step(
        "transfer_call_ends",
        "206 hangs up",
        lambda d: d.do("transfer", d.pbx.hangup),
        wait=150,
    ),
    Step(
        "support_call_rings",
        "a customer calls support, ring group 602 with a queue: 202, 204, 206 ring, the call "
        "waits in channel_waiting",
        lambda d: d.start("group_voicemail", d.pbx.incoming_call("602", "07033334444", None)),
    ),
    Step(
        "support_voicemail_taken",
        "nobody answers: the phones stop (NO_ANSWER), the call leaves the queue for voicemail",
        lambda d: d.do("group_voicemail", lambda c: d.pbx.to_voicemail(c, hang_up=False)),
        wait=25,
    ),
    Step(
        "support_voicemail_left",
        "the caller hangs up after the message: group 602's box counts one more new message",
        lambda d: d.do("group_voicemail", d.pbx.caller_hangs_up),
        wait=30,
    ),
)
"""The day, in order."""


__all__ = ["STEPS", "OfficeDay", "Step", "StepResult"]
