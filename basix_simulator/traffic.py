"""Traffic for the simulated PBX: scripted call scenarios and a random steady mix of them.

Each scenario drives one call through the `Pbx` with realistic pauses (ringing 3-10 s, talking
10-60 s), scaled by `time_scale` (0 runs a scenario at once, for tests). A scenario whose call is
ended from outside (a control endpoint, a test) stops quietly; a cancelled one hangs its call up.

    await run_scenario(pbx, "park_pickup", time_scale=0)      # one scripted call
    traffic = RandomTraffic(pbx, calls_per_minute=30)
    task = asyncio.create_task(traffic.run())                  # until cancelled
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
import contextlib
import logging
import random

from .pbx import Call, CallStateError, Group, Pbx, User

_LOGGER = logging.getLogger(__name__)

RING = (3.0, 10.0)
TALK = (10.0, 60.0)
HOLD = (5.0, 20.0)
MESSAGE = (5.0, 20.0)

type Sleep = Callable[[float], Awaitable[None]]


class NoIdleUsersError(RuntimeError):
    """Not enough users are free for a scenario."""


class Scenarios:
    """The scripted calls; each method plays one, on users free at the time."""

    def __init__(
        self,
        pbx: Pbx,
        *,
        seed: int | None = None,
        time_scale: float = 1.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Play on `pbx`; pauses are drawn from `seed` and multiplied by `time_scale`."""
        self.pbx = pbx
        self.rng = random.Random(seed)
        self.time_scale = time_scale
        self.sleep = sleep
        self.busy: set[str] = set()
        self.names: dict[str, Callable[[], Awaitable[Call | None]]] = {
            "incoming_answered": self.incoming_answered,
            "incoming_missed": self.incoming_missed,
            "incoming_voicemail": self.incoming_voicemail,
            "group_call": self.group_call,
            "outgoing": self.outgoing,
            "internal": self.internal,
            "hold": self.hold,
            "transfer": self.transfer,
            "park_pickup": self.park_pickup,
            "call_pickup": self.call_pickup,
            "busy": self.busy_callee,
            "no_answer": self.no_answer,
            "group_voicemail": self.group_voicemail,
            "max_duration": self.max_duration,
        }

    async def play(self, name: str) -> Call | None:
        """Play the scenario of that name (see `SCENARIOS`); return its call."""
        return await self.names[name]()

    async def pause(self, span: tuple[float, float]) -> None:
        """Wait a random time within `span` seconds (scaled)."""
        if self.time_scale > 0:
            await self.sleep(self.rng.uniform(*span) * self.time_scale)
        else:
            await asyncio.sleep(0)

    def idle_users(self) -> list[User]:
        """Return the users with no call and not taken by a running scenario."""
        return [
            u for u in self.pbx.users.values() if u.id not in self.busy and not self.pbx.calls_of(u)
        ]

    @contextlib.contextmanager
    def _take(self, count: int) -> Iterator[list[User]]:
        idle = self.idle_users()
        if len(idle) < count:
            raise NoIdleUsersError(f"{count} idle users needed, {len(idle)} free")
        users = self.rng.sample(idle, count)
        self.busy.update(u.id for u in users)
        try:
            yield users
        finally:
            self.busy.difference_update(u.id for u in users)

    def _caller(self) -> tuple[str, str | None, str | None]:
        return self.rng.choice(_CALLERS)

    async def _talk_then_hang_up(self, call: Call) -> None:
        await self.pause(TALK)
        if not call.ended:
            if self.rng.random() < 0.5:
                self.pbx.caller_hangs_up(call)
            else:
                self.pbx.hangup(call)

    async def _guard(self, call: Call, steps: Callable[[], Awaitable[None]]) -> Call:
        try:
            await steps()
        except CallStateError:
            _LOGGER.debug("simulator: call %s changed under its scenario", call.uuid)
        finally:
            if not call.ended:
                with contextlib.suppress(CallStateError):
                    self.pbx.hangup(call)
        return call

    async def incoming_answered(self) -> Call:
        """Ring a user from the network; answered, talked, hung up."""
        with self._take(1) as (user,):
            number, name, org = self._caller()
            call = self.pbx.incoming_call(user, number, name, org)

            async def steps() -> None:
                await self.pause(RING)
                self.pbx.answer(call)
                await self._talk_then_hang_up(call)

            return await self._guard(call, steps)

    async def incoming_missed(self) -> Call:
        """Ring a user from the network; the caller gives up."""
        with self._take(1) as (user,):
            number, name, org = self._caller()
            call = self.pbx.incoming_call(user, number, name, org)

            async def steps() -> None:
                await self.pause(RING)
                self.pbx.caller_hangs_up(call)

            return await self._guard(call, steps)

    async def incoming_voicemail(self) -> Call:
        """Ring a user from the network; nobody answers, the caller leaves a message (or not)."""
        with self._take(1) as (user,):
            number, name, org = self._caller()
            call = self.pbx.incoming_call(user, number, name, org)

            async def steps() -> None:
                await self.pause(RING)
                leave = self.rng.random() < 0.8
                self.pbx.to_voicemail(call, leave, hang_up=False)
                await self.pause(MESSAGE)
                self.pbx.hangup(call)

            return await self._guard(call, steps)

    async def group_call(self) -> Call | None:
        """Ring a group whose members are all free; one of them answers."""
        group = self._free_group()
        if group is None:
            return await self.incoming_answered()
        self.busy.update(group.members)
        try:
            number, name, org = self._caller()
            call = self.pbx.incoming_call(group, number, name, org)

            async def steps() -> None:
                await self.pause(RING)
                self.pbx.answer(call, by=self.rng.choice(group.members))
                await self._talk_then_hang_up(call)

            return await self._guard(call, steps)
        finally:
            self.busy.difference_update(group.members)

    async def outgoing(self) -> Call:
        """A user calls a number outside; the far end answers (mostly)."""
        with self._take(1) as (user,):
            number = self.rng.choice(_OUTSIDE)
            call = self.pbx.outgoing_call(user, number)

            async def steps() -> None:
                await self.pause(RING)
                if self.rng.random() < 0.8:
                    self.pbx.answer(call)
                    await self.pause(TALK)
                self.pbx.hangup(call)

            return await self._guard(call, steps)

    async def internal(self) -> Call:
        """A user calls a colleague, who answers (mostly)."""
        with self._take(2) as (caller, callee):
            call = self.pbx.internal_call(caller, callee)

            async def steps() -> None:
                await self.pause(RING)
                if self.rng.random() < 0.8:
                    self.pbx.answer(call)
                    await self.pause(TALK)
                    self.pbx.hangup(call)
                else:
                    self.pbx.caller_hangs_up(call)

            return await self._guard(call, steps)

    async def hold(self) -> Call:
        """An answered incoming call, put on hold for a while and taken back."""
        with self._take(1) as (user,):
            number, name, org = self._caller()
            call = self.pbx.incoming_call(user, number, name, org)

            async def steps() -> None:
                await self.pause(RING)
                self.pbx.answer(call)
                await self.pause(TALK)
                self.pbx.hold(call)
                await self.pause(HOLD)
                self.pbx.unhold(call)
                await self._talk_then_hang_up(call)

            return await self._guard(call, steps)

    async def transfer(self) -> Call:
        """An answered incoming call, blind-transferred to a colleague who answers."""
        with self._take(2) as (user, colleague):
            number, name, org = self._caller()
            call = self.pbx.incoming_call(user, number, name, org)

            async def steps() -> None:
                await self.pause(RING)
                self.pbx.answer(call)
                await self.pause(TALK)
                self.pbx.transfer(call, colleague)
                await self.pause(RING)
                self.pbx.answer(call)
                await self._talk_then_hang_up(call)

            return await self._guard(call, steps)

    async def park_pickup(self) -> Call:
        """An answered incoming call, parked, picked up by a colleague."""
        with self._take(2) as (user, colleague):
            number, name, org = self._caller()
            call = self.pbx.incoming_call(user, number, name, org)

            async def steps() -> None:
                await self.pause(RING)
                self.pbx.answer(call)
                await self.pause(TALK)
                slot = self.pbx.park(call)
                await self.pause(RING)
                self.pbx.pickup(slot, colleague)
                await self._talk_then_hang_up(call)

            return await self._guard(call, steps)

    async def call_pickup(self) -> Call:
        """A colleague's phone rings; another user picks the call up (`PICKED_OFF`)."""
        with self._take(2) as (user, colleague):
            number, name, org = self._caller()
            call = self.pbx.incoming_call(user, number, name, org)

            async def steps() -> None:
                await self.pause(RING)
                self.pbx.call_pickup(call, colleague)
                await self._talk_then_hang_up(call)

            return await self._guard(call, steps)

    async def busy_callee(self) -> Call:
        """A user calls a colleague (or a number) that is busy."""
        with self._take(2) as (caller, callee):
            if self.rng.random() < 0.5:
                call = self.pbx.internal_call(caller, callee)
            else:
                call = self.pbx.outgoing_call(caller, self.rng.choice(_OUTSIDE))

            async def steps() -> None:
                await self.pause((1.0, 3.0))
                self.pbx.busy(call)

            return await self._guard(call, steps)

    async def no_answer(self) -> Call:
        """A user's phone rings until the PBX gives up (`NO_ANSWER`), no voicemail."""
        with self._take(1) as (user,):
            number, name, org = self._caller()
            call = self.pbx.incoming_call(user, number, name, org)

            async def steps() -> None:
                await self.pause((20.0, 30.0))
                self.pbx.ring_timeout(call)

            return await self._guard(call, steps)

    async def group_voicemail(self) -> Call | None:
        """Nobody in a group answers: the caller leaves a message in the group's box."""
        group = self._free_group()
        if group is None:
            return await self.incoming_voicemail()
        self.busy.update(group.members)
        try:
            number, name, org = self._caller()
            call = self.pbx.incoming_call(group, number, name, org)

            async def steps() -> None:
                await self.pause(RING)
                self.pbx.to_voicemail(call, hang_up=False)
                await self.pause(MESSAGE)
                self.pbx.hangup(call)

            return await self._guard(call, steps)
        finally:
            self.busy.difference_update(group.members)

    async def max_duration(self) -> Call:
        """An answered call the PBX cuts at its maximum duration (`ALLOTTED_TIMEOUT`)."""
        with self._take(1) as (user,):
            number, name, org = self._caller()
            call = self.pbx.incoming_call(user, number, name, org)

            async def steps() -> None:
                await self.pause(RING)
                self.pbx.answer(call)
                await self.pause(TALK)
                self.pbx.max_duration(call)

            return await self._guard(call, steps)

    def _free_group(self) -> Group | None:
        groups = [
            g
            for g in self.pbx.groups.values()
            if g.members
            and all(m in self.pbx.users and m not in self.busy for m in g.members)
            and not any(self.pbx.calls_of(m) for m in g.members if m in self.pbx.users)
        ]
        return self.rng.choice(groups) if groups else None


SCENARIOS: dict[str, int] = {
    "incoming_answered": 30,
    "incoming_missed": 10,
    "incoming_voicemail": 10,
    "group_call": 10,
    "outgoing": 15,
    "internal": 10,
    "hold": 5,
    "transfer": 5,
    "park_pickup": 5,
    "call_pickup": 5,
    "busy": 5,
    "no_answer": 3,
    "group_voicemail": 3,
    "max_duration": 1,
}
"""Scenario names and their weights in the random mix."""


async def run_scenario(
    pbx: Pbx, name: str, *, time_scale: float = 1.0, seed: int | None = None
) -> Call | None:
    """Play one scripted scenario (a name of `SCENARIOS`) to its end; return its call."""
    return await Scenarios(pbx, seed=seed, time_scale=time_scale).play(name)


class RandomTraffic:
    """A steady random mix of calls: Poisson arrivals at `calls_per_minute`, bounded in number."""

    def __init__(
        self,
        pbx: Pbx,
        calls_per_minute: float = 30,
        seed: int | None = None,
        *,
        time_scale: float = 1.0,
        max_calls: int | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """Drive `pbx`; at most `max_calls` calls at once (default: a third of the users, >= 1)."""
        self.pbx = pbx
        self.calls_per_minute = calls_per_minute
        self.rng = random.Random(seed)
        self.time_scale = time_scale
        self.max_calls = max_calls
        self.sleep = sleep
        self.scenarios = Scenarios(
            pbx, seed=self.rng.randrange(1 << 30), time_scale=time_scale, sleep=sleep
        )
        self.started = 0
        """Scenarios started so far."""
        self._tasks: set[asyncio.Task[Call | None]] = set()

    @property
    def running(self) -> int:
        """Scenarios playing right now."""
        return len(self._tasks)

    async def run(self) -> None:
        """Start scenarios until cancelled; on cancel, stop them all (their calls hang up)."""
        names = list(SCENARIOS)
        weights = list(SCENARIOS.values())
        limit = self.max_calls or max(1, len(self.pbx.users) // 3)
        try:
            while True:
                gap = self.rng.expovariate(self.calls_per_minute / 60.0) * self.time_scale
                await self.sleep(gap) if gap > 0 else await asyncio.sleep(0)
                if len(self._tasks) >= limit:
                    continue
                name = self.rng.choices(names, weights)[0]
                task = asyncio.create_task(self._play(name))
                self.started += 1
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        finally:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _play(self, name: str) -> Call | None:
        try:
            return await self.scenarios.play(name)
        except NoIdleUsersError:
            return None
        except Exception:
            _LOGGER.exception("simulator: scenario %s failed", name)
            return None


_CALLERS: list[tuple[str, str | None, str | None]] = [
    ("09012345678", "山田 太郎", None),
    ("08011112222", "高木 美穂", "株式会社サンプル"),
    ("0459876543", None, "横浜商事"),
    ("07033334444", None, None),
    ("0612340000", "Smith John", "ACME Corp."),
    ("09055556666", "小野 光", None),
    ("0120123456", None, None),
]
_OUTSIDE = ["0398765432", "0120444444", "09087654321", "0661234567", "117"]
