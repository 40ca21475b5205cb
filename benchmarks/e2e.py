"""End-to-end cost of the integration in a real Home Assistant, for issue #12's table.

A real `HomeAssistant` core (registries, config entries, entity platforms, the state machine;
a throwaway config dir) loads this integration, which connects to a replay server on 127.0.0.1
sending pre-encoded current-generation frames (`pbx_frames.py`, `replay.py`). Each figure is
printed next to a baseline measured in the same run:

- decode alone (`etf.decode` on the same bytes) for the parser;
- Home Assistant adding the same number of plain entities, for set-up;
- the longest gap of an idle loop, for every "longest callback" row;
- Brastel's own JS decoder in node and the pure-Python peers, for the codec.

The longest callback is the longest gap between the ticks of a 5 ms `call_later` loop.

    .venv/bin/python benchmarks/e2e.py            # N = 100, 500, 2000; C = 0, 1000, 10000; 3 runs
    .venv/bin/python benchmarks/e2e.py --quick    # N = 100, 500; C = 0, 1000; 1 run
    .venv/bin/python benchmarks/e2e.py --users 2000 --channels 10000 --runs 1 --profile
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
import contextlib
import cProfile
import gc
import importlib
import io
import json
import logging
import os
from pathlib import Path
import pstats
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
from types import MappingProxyType
from typing import Any, Self
from unittest.mock import patch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from aiohttp import ThreadedResolver  # noqa: E402
from homeassistant import bootstrap, loader  # noqa: E402
from homeassistant.config_entries import ConfigEntries, ConfigEntry  # noqa: E402
from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED  # noqa: E402
from homeassistant.core import Event, HomeAssistant, callback  # noqa: E402
from homeassistant.helpers import (  # noqa: E402
    aiohttp_client,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.helpers.entity import Entity  # noqa: E402
from homeassistant.helpers.entity_component import EntityComponent  # noqa: E402
from homeassistant.setup import async_setup_component  # noqa: E402
import pbx_frames  # noqa: E402
from replay import ReplayServer  # noqa: E402

from custom_components.basix_cti.cti import etf  # noqa: E402
from custom_components.basix_cti.cti.etf import Atom  # noqa: E402
from custom_components.basix_cti.cti.protocol import Parser  # noqa: E402
from custom_components.basix_cti.cti.store import PbxState  # noqa: E402

DOMAIN = "basix_cti"
PBX_DOMAIN = "bench.example"
TICK = 0.005
# How long no state must be written before a step counts as done; how long idle is measured.
TIMING = {"quiet": 0.3, "idle": 0.5}
SENTINEL_UUID = "00000000-5e47-1e00-0000-{:012d}"

ROWS = {
    "reconnect": "snapshot on reconnect, entities in place: first frame to last state (ms)",
    "feed": "Parser.feed on the channel snapshot, per C (ms; x = etf.decode on the same bytes)",
    "feed_us": "Parser.feed per channel record, per C (us)",
    "setup": "set-up, first frame to last entity state (ms; x = plain entities)",
    "setup_lag": "longest loop callback at set-up (ms; x = idle loop)",
    "snapshot_lag": "longest callback applying the channel snapshot (ms; x = idle loop)",
    "available_lag": "longest callback when entities come back available (ms; x = idle loop)",
    "reconnect_lag": "longest callback in the whole back-to-back reconnect (ms; x = idle loop)",
    "burst_lag": "longest callback in a burst of back-to-back event frames (ms; x = idle)",
    "event_us": "per event frame, first frame sent to last state (us; x = etf.decode)",
    "writes": "state writes per event frame",
    "changes": "real state changes per event frame",
    "memory": "memory per channel in the store, per C (bytes, tracemalloc)",
}


class LoopLag:
    """Ticks every 5 ms; remembers each gap that was longer than a tick by a millisecond."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._last = time.perf_counter()
        self.gaps: list[tuple[float, float]] = []  # (end, length)
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._last = time.perf_counter()
        self._handle = self._loop.call_later(TICK, self._tick)

    def stop(self) -> None:
        if self._handle:
            self._handle.cancel()

    def _tick(self) -> None:
        now = time.perf_counter()
        gap = now - self._last
        if gap > TICK + 0.001:
            self.gaps.append((now, gap))
        self._last = now
        self._handle = self._loop.call_later(TICK, self._tick)

    def longest(self, start: float, end: float) -> float:
        """The longest gap overlapping [start, end]; a tick when there was none."""
        found = [gap for stop, gap in self.gaps if stop >= start and stop - gap <= end]
        return max(found, default=TICK)


class GcPauses:
    """Every garbage collection of the process: a full one stops the loop for as long as the
    whole heap takes to walk, wherever it lands, and is nobody's callback."""

    def __init__(self) -> None:
        self.pauses: list[tuple[float, float]] = []  # (end, length)
        self._start = 0.0
        gc.callbacks.append(self._note)

    def _note(self, phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._start = now
        else:
            self.pauses.append((now, now - self._start))

    def close(self) -> None:
        gc.callbacks.remove(self._note)

    def longest(self, start: float, end: float) -> float:
        found = [pause for stop, pause in self.pauses if start <= stop <= end]
        return max(found, default=0.0)


class Writes:
    """Every state write (changed or only reported) of our entities, with when it happened."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.changed = 0
        self.reported = 0
        self.by_domain: Counter[str] = Counter()
        self.last = 0.0
        self.sentinel_at: float | None = None
        # What the sentinel's call state must show: its newest call in progress, or idle.
        self.expect: tuple[str, str | None] = ("in progress", None)
        hass.bus.async_listen(EVENT_STATE_CHANGED, self._changed)
        hass.bus.async_listen(EVENT_STATE_REPORTED, self._reported, event_filter=_ours)

    @callback
    def _changed(self, event: Event) -> None:
        entity_id = event.data["entity_id"]
        if entity_id.startswith("bench_plain."):
            return
        self.last = time.perf_counter()
        self.changed += 1
        self.by_domain[entity_id.split(".")[0]] += 1
        if (
            "sentinel" in entity_id
            and entity_id.startswith("sensor.")
            and _moved(event, self.expect)
        ):
            self.sentinel_at = self.last

    @callback
    def _reported(self, event: Event) -> None:
        self.last = time.perf_counter()
        self.reported += 1
        self.by_domain[event.data["entity_id"].split(".")[0] + " (unchanged)"] += 1

    def mark(self) -> tuple[int, int, Counter[str]]:
        self.sentinel_at = None
        return self.changed, self.reported, Counter(self.by_domain)


def _moved(event: Event, expect: tuple[str, str | None]) -> bool:
    """The sentinel's sensor shows its newest call (in progress), or idle once it ended.

    Each ring is a new call (its own uuid): the integration may write a user's entities once
    for several changes, so the step from unavailable straight to the new call counts, and
    a call that ended and a new one ringing at once still show as a change.
    """
    old, new = event.data["old_state"], event.data["new_state"]
    if new is None or new.state in ("unavailable", "unknown"):
        return False
    state, uuid = expect
    if uuid is None:
        return new.state == state and (old is None or old.state != state)
    calls = new.attributes.get("calls") or [{}]
    return new.state != "idle" and calls[0].get("channel_uuid") == uuid


@callback
def _ours(data: Any) -> bool:
    return not data["entity_id"].startswith("bench_plain.")


class _PlainResolver(ThreadedResolver):
    async def real_close(self) -> None:
        await self.close()


class Plain(Entity):
    """The plainest entity Home Assistant has: for its own cost of adding entities."""

    _attr_should_poll = False

    def __init__(self, i: int) -> None:
        self._attr_unique_id = f"plain_{i}"
        self._attr_name = f"Plain {i}"


def sentinel_user(users: int) -> Any:
    """A user after all others, whose one call tells when everything before it was applied."""
    record = list(pbx_frames.user_record(users))
    record[pbx_frames.USER_FIELDS.index("label")] = b"Sentinel"
    return tuple(record)


def sentinel_frame(users: int, ringing: bool, uuid: str) -> bytes:
    """A call that rings at (or leaves) the sentinel user: its state write ends a measurement.

    Frames are handled in arrival order, so when the sentinel's entity changes, every frame
    sent before it has been applied.
    """
    record = pbx_frames.channel_record(
        random.Random(0),
        uuid.encode(),
        users,
        state="calling" if ringing else "bridged",
        last_event="CHANNEL_CREATE" if ringing else "CHANNEL_HANGUP",
        offer_us=pbx_frames.T0_US,
        answered=not ringing,
        hangup=not ringing,
    )
    event = Atom("added" if ringing else "removed")
    return etf.encode((Atom("info_event"), Atom("channel"), record, event), atoms="latin1")


def users_snapshot_with_sentinel(users: int) -> bytes:
    records = [pbx_frames.user_record(i) for i in range(users)] + [sentinel_user(users)]
    return etf.encode((Atom("initial_info"), Atom("user"), records), atoms="latin1")


async def start_hass(config_dir: str) -> HomeAssistant:
    """A real core as bootstrap builds it, without the default integrations (no frontend)."""
    hass = HomeAssistant(config_dir)
    loader.async_setup(hass)
    hass.config.skip_pip = True
    hass.config_entries = ConfigEntries(hass, {})
    await loader.async_get_custom_components(hass)
    await bootstrap.async_load_base_functionality(hass)
    assert await async_setup_component(hass, "homeassistant", {})
    # Home Assistant resolves names through zeroconf (mDNS sockets); the replay server is an IP
    # literal, so a plain resolver spares the shared machine the multicast traffic.
    hass.data[aiohttp_client.DATA_RESOLVER] = _PlainResolver()
    await hass.async_start()
    return hass


async def until(condition: Callable[[], bool], within: float = 60.0, what: str = "") -> None:
    deadline = time.perf_counter() + within
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"not within {within} s: {what}")
        await asyncio.sleep(0.02)


async def flush_registries(hass: HomeAssistant) -> None:
    """Write the registries' pending saves now rather than in the middle of a later figure.

    Home Assistant saves a registry 10 s after it changes, on the event loop (at N=2,000 the
    entity registry's save is 24,000 fragments); it is Home Assistant's own cost, not the
    integration's, and would land in whichever step runs 10 s after set-up. It uses the same
    private calls as the `flush_store` of Home Assistant's test helpers.
    """
    for registry in (er.async_get(hass), dr.async_get(hass)):
        store = registry._store
        if store._data is None:
            continue
        store._async_cleanup_final_write_listener()
        store._async_cleanup_delay_listener()
        await store._async_handle_write_data()


async def settle(writes: Writes, quiet: float | None = None) -> None:
    """Wait until no state has been written for `quiet` seconds."""
    quiet = quiet or TIMING["quiet"]
    start = time.perf_counter()
    await until(lambda: time.perf_counter() - max(writes.last, start) > quiet, what="settle")


class Session:
    """One Home Assistant with the integration loaded for N users; measures one (N, C) at a time."""

    def __init__(self, users: int, events: int) -> None:
        self.users = users
        self.events = events
        self.server = ReplayServer()
        self.hass: HomeAssistant
        self.writes: Writes
        self.lag: LoopLag
        self.ringing = False
        self.rings = 0
        self.users_frame = users_snapshot_with_sentinel(users)

    def connect_frames(self, frames: pbx_frames.Frames, with_channels: bool) -> list[bytes]:
        out = frames.connect(with_channels=with_channels)
        out[out.index(frames.users_snapshot)] = self.users_frame
        return out

    def sentinel(self) -> bytes:
        """The next sentinel: it rings after each snapshot (which ends the call it had)."""
        self.ringing = not self.ringing
        if self.ringing:
            self.rings += 1
        uuid = SENTINEL_UUID.format(self.rings)
        self.writes.expect = ("in progress", uuid) if self.ringing else ("idle", None)
        return sentinel_frame(self.users, self.ringing, uuid)

    async def __aenter__(self) -> Self:
        self._dir = tempfile.mkdtemp(prefix="basix-bench-")
        self.server.start()
        self.hass = await start_hass(self._dir)
        self.writes = Writes(self.hass)
        self.lag = LoopLag(self.hass.loop)
        self.gc = GcPauses()
        self.lag.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.lag.stop()
        self.gc.close()
        await self.hass.async_stop(force=True)
        self.server.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    async def idle(self) -> float:
        start = time.perf_counter()
        await asyncio.sleep(TIMING["idle"])
        return self.lag.longest(start, time.perf_counter())

    async def plain_entities(self, count: int) -> tuple[float, float]:
        """Home Assistant's own cost of adding `count` entities with unique ids, and its lag."""
        component: EntityComponent[Plain] = EntityComponent(
            logging.getLogger("bench_plain"), "bench_plain", self.hass
        )
        start = time.perf_counter()
        await component.async_add_entities([Plain(i) for i in range(count)])
        await self.hass.async_block_till_done()
        end = time.perf_counter()
        longest = self.lag.longest(start, end)
        for entity in list(component.entities):
            await entity.async_remove()
        return end - start, longest

    async def set_up(self, frames: pbx_frames.Frames) -> dict[str, float]:
        """Add the config entry: the PBX sends an empty channel snapshot, then the users."""
        self.ringing = False
        self.server.on_connect = [*self.connect_frames(frames, False), self.sentinel()]
        entry = ConfigEntry(
            data={
                "server": self.server.url,
                "domain": PBX_DOMAIN,
                "api_token": "bench-token",
                "app_name": "bench",
                "verify_ssl": True,
                "scope": "pbx",
            },
            discovery_keys=MappingProxyType({}),
            domain=DOMAIN,
            minor_version=1,
            options={},
            source="user",
            subentries_data=None,
            title=PBX_DOMAIN,
            unique_id=f"{PBX_DOMAIN}|pbx",
            version=1,
        )
        start = time.perf_counter()
        await self.hass.config_entries.async_add(entry)
        # Generous: at N=2,000 set-up has taken far longer than any other step.
        await until(lambda: self.writes.sentinel_at is not None, within=300, what="set-up sentinel")
        registry = er.async_get(self.hass)

        def count() -> int:
            return sum(
                1
                for e in er.async_entries_for_config_entry(registry, entry.entry_id)
                if self.hass.states.get(e.entity_id) is not None
            )

        seen = -1
        while (now := count()) != seen:
            seen = now
            await settle(self.writes)
        end = self.writes.last
        self.entry = entry
        return {
            "setup": end - (self.server.first_sent or start),
            "setup_lag": self.lag.longest(start, end),
            "setup_gc": self.gc.longest(start, end),
            "entities": float(seen),
        }

    async def _reconnect(self, frames: list[bytes], what: str) -> float:
        """Drop the connection; once every entity shows unavailable, let the client back in.

        The PBX refuses upgrades (503) until then, so that the writes of going unavailable are
        not counted in the reconnect. Returns when the new connection's first frame went out.
        """
        self.server.accepting = False
        await self.server.adrop()
        await settle(self.writes)
        self.ringing = False
        # Set before accepting again: the server thread may be holding a retry already.
        self.server.on_connect = [*frames, self.sentinel()]
        self.writes.mark()
        connections = self.server.connections
        self.server.accepting = True
        await until(
            lambda: self.server.connections > connections and self.writes.sentinel_at is not None,
            what=what,
        )
        await settle(self.writes)
        return self.server.first_sent or 0.0

    async def reconnect(self, frames: pbx_frames.Frames) -> dict[str, float]:
        """A reconnect whose snapshots (the channels' included) arrive back-to-back."""
        first = await self._reconnect(self.connect_frames(frames, True), "reconnect sentinel")
        return {
            "reconnect": self.writes.last - first,
            "reconnect_lag": self.lag.longest(first, self.writes.last),
            "reconnect_gc": self.gc.longest(first, self.writes.last),
        }

    async def reconnect_in_two_steps(self, frames: pbx_frames.Frames) -> dict[str, float]:
        """Entities come back (empty channel snapshot); then the channel snapshot alone."""
        first = await self._reconnect(self.connect_frames(frames, False), "availability")
        out = {
            "available_lag": self.lag.longest(first, self.writes.last),
            "available_gc": self.gc.longest(first, self.writes.last),
        }
        if frames.channels:
            # A second snapshot on the same connection replaces the first, as after a reconnect.
            self.writes.mark()
            self.ringing = False  # the snapshot ends the sentinel's call; it rings again
            first = await self.server.asend([frames.channel_snapshot, self.sentinel()])
            await until(lambda: self.writes.sentinel_at is not None, what="snapshot sentinel")
            await settle(self.writes)
            out["snapshot_lag"] = self.lag.longest(first, self.writes.last)
        return out

    async def burst(self, frames: pbx_frames.Frames) -> dict[str, Any]:
        """Every event frame back-to-back, then the sentinel."""
        changed, reported, domains = self.writes.mark()
        first = await self.server.asend([*frames.events, self.sentinel()])
        await until(lambda: self.writes.sentinel_at is not None, what="burst sentinel")
        end = self.writes.sentinel_at or 0.0
        await settle(self.writes)
        count = len(frames.events)
        # The sentinel's own writes (about one) are not the burst's.
        writes = self.writes.changed + self.writes.reported - changed - reported - 1
        return {
            "burst_lag": self.lag.longest(first, end),
            "event_us": (end - first) / count * 1e6,
            "writes": writes / count,
            "changes": (self.writes.changed - changed - 1) / count,
            "by_domain": {k: v - domains.get(k, 0) for k, v in self.writes.by_domain.items()},
        }


def _median_time(fn: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def parser_with_specs(frames: pbx_frames.Frames) -> Parser:
    parser = Parser()
    for spec in frames.field_specs:
        parser.feed(etf.decode(spec))
    return parser


def parse_cost(frames: pbx_frames.Frames, rounds: int) -> dict[str, float]:
    """Parser.feed against etf.decode on the same snapshot bytes (C > 0)."""
    data = frames.channel_snapshot
    term = etf.decode(data)
    decode = _median_time(lambda: etf.decode(data), rounds)
    feed = _median_time(lambda: parser_with_specs(frames).feed(term), rounds)
    return {"decode": decode, "feed": feed, "feed_us": feed / frames.channels * 1e6}


def store_memory(frames: pbx_frames.Frames) -> float:
    """Bytes the store keeps per channel after applying the snapshot (tracemalloc)."""
    parser = parser_with_specs(frames)
    term = etf.decode(frames.channel_snapshot)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        state = PbxState()
        for message in parser.feed(term):
            state.apply(message)
        message = None  # drop the loop's last reference before measuring
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    del state
    return kept / frames.channels


def codec(events: list[bytes], rounds: int) -> dict[str, float]:
    """1,000 single info_event frames: cti.etf, the pure-Python peers, Brastel's JS in node."""
    decoders: dict[str, Callable[[bytes], Any]] = {"cti.etf": etf.decode}
    for label, module, function in (
        ("erlang-py", "erlang", "binary_to_term"),
        ("pure-py-erlpack", "erlpack", "unpack"),
    ):
        try:
            decoders[label] = getattr(importlib.import_module(module), function)
        except ImportError:
            print(f"  ({label} not installed: pip install -r requirements_bench.txt)")
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        for name, fn in decoders.items():
            gc.collect()
            start = time.perf_counter()
            for frame in events:
                fn(frame)
            times[name].append(time.perf_counter() - start)
    out = {name: statistics.median(t) for name, t in times.items()}
    node = shutil.which("node")
    if node:
        with tempfile.NamedTemporaryFile(suffix=".frames", delete=False) as f:
            for frame in events:
                f.write(struct.pack(">I", len(frame)) + frame)
        try:
            result = subprocess.run(
                [node, str(ROOT / "benchmarks" / "brastel_decode.js"), f.name, str(rounds)],
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            )
            reply = json.loads(result.stdout)
            out[f"Brastel JS (node {reply['node']})"] = statistics.median(reply["seconds"])
        finally:
            os.unlink(f.name)
    else:
        print("  (node not installed: apt-get install -y nodejs)")
    return out


@contextlib.contextmanager
def profiled(label: str, sink: list[str], top: int) -> Iterator[None]:
    profile = cProfile.Profile()
    profile.enable()
    try:
        yield
    finally:
        profile.disable()
        text = io.StringIO()
        stats = pstats.Stats(profile, stream=text)
        stats.sort_stats("tottime").print_stats(top)
        sink.append(f"== profile: {label}, by own time\n" + _trim(text.getvalue()))
        text = io.StringIO()
        stats = pstats.Stats(profile, stream=text)
        stats.sort_stats("cumulative").print_stats(top)
        sink.append(f"== profile: {label}, cumulative\n" + _trim(text.getvalue()))


def _trim(text: str) -> str:
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    root = str(ROOT) + "/"
    site = next((p for p in sys.path if p.endswith("site-packages")), "@@")
    return "\n".join(line.replace(root, "").replace(site + "/", "") for line in lines[start:])


def offline_snapshot_profile(frames: pbx_frames.Frames, sink: list[str], top: int) -> None:
    """The snapshot path as the client runs it off the loop: decode, parse, apply to the store."""
    with profiled(f"snapshot of {frames.channels} channels, decode + parse + store", sink, top):
        parser = parser_with_specs(frames)
        state = PbxState()
        for message in parser.feed(etf.decode(frames.channel_snapshot)):
            state.apply(message)


async def run_session(
    users: int, channels: list[int], args: argparse.Namespace, results: dict, sink: list[str]
) -> None:
    frames = {c: pbx_frames.build(users, c, args.events) for c in channels}
    # Building them left garbage a collection would otherwise sweep in the middle of a figure.
    gc.collect()
    async with Session(users, args.events) as session:
        # The idle loop, three times: before set-up, after it, after the plain entities left.
        idles = [await session.idle()]
        first = frames[channels[0]]
        setup = await session.set_up(first)
        await flush_registries(session.hass)
        idles.append(await session.idle())
        plain_time, plain_lag = await session.plain_entities(int(setup["entities"]))
        await flush_registries(session.hass)
        await settle(session.writes)
        idles.append(await session.idle())
        idle = statistics.median(idles)
        for c in channels:
            key = (users, c)
            add = results[key]
            add["idle"].append(idle)
            add["setup"].append(setup["setup"])
            add["setup_base"].append(plain_time)
            add["setup_lag"].append(setup["setup_lag"])
            add["setup_gc"].append(setup["setup_gc"])
            add["setup_base_lag"].append(plain_lag)
            add["entities"].append(setup["entities"])
            f = frames[c]
            profile = args.profile and users == max(args.users) and c == max(channels)
            with profiled(f"reconnect, N={users} C={c}", sink, args.top) if profile else _null():
                for name, value in (await session.reconnect(f)).items():
                    add[name].append(value)
            for name, value in (await session.reconnect_in_two_steps(f)).items():
                add[name].append(value)
            with (
                profiled(f"burst of {len(f.events)} events, N={users} C={c}", sink, args.top)
                if (profile)
                else _null()
            ):
                burst = await session.burst(f)
            for name in ("burst_lag", "event_us", "writes", "changes"):
                add[name].append(burst[name])
            add["by_domain"].append(burst["by_domain"])


@contextlib.contextmanager
def _null() -> Iterator[None]:
    yield


def spread(values: list[float], scale: float = 1.0, digits: int = 0) -> str:
    if not values:
        return "-"
    med = statistics.median(values) * scale
    if len(values) == 1:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} [{min(values) * scale:.{digits}f}-{max(values) * scale:.{digits}f}]"


def ratio(values: list[float], bases: list[float]) -> str:
    if not values or not bases:
        return ""
    return f" {statistics.median(values) / statistics.median(bases):.1f}x"


def report(results: dict, offline: dict, codec_times: dict, args: argparse.Namespace) -> str:
    lines = []
    keys = sorted(results)
    head = "| what | " + " | ".join(f"N={n} C={c}" for n, c in keys) + " |"
    lines += [head, "|---" * (len(keys) + 1) + "|"]

    def row(label: str, cells: list[str]) -> None:
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    r = results
    row(ROWS["reconnect"], [spread(r[k]["reconnect"], 1e3) for k in keys])
    row(
        ROWS["feed"],
        [
            spread(offline[k]["feed"], 1e3, 1) + ratio(offline[k]["feed"], offline[k]["decode"])
            if k[1]
            else "-"
            for k in keys
        ],
    )
    row(ROWS["feed_us"], [spread(offline[k]["feed_us"]) if k[1] else "-" for k in keys])
    row(
        ROWS["setup"],
        [spread(r[k]["setup"], 1e3) + ratio(r[k]["setup"], r[k]["setup_base"]) for k in keys],
    )
    row("  baseline: plain entities added (ms)", [spread(r[k]["setup_base"], 1e3) for k in keys])
    row("  entities", [spread(r[k]["entities"]) for k in keys])
    for name in ("setup_lag", "snapshot_lag", "available_lag", "reconnect_lag", "burst_lag"):
        row(ROWS[name], [spread(r[k][name], 1e3) + ratio(r[k][name], r[k]["idle"]) for k in keys])
        if name == "setup_lag":
            row(
                "  baseline: longest callback adding the plain entities (ms)",
                [spread(r[k]["setup_base_lag"], 1e3) for k in keys],
            )
        if name in ("setup_lag", "available_lag", "reconnect_lag"):
            row(
                "  of which may be: longest garbage collection in that step (ms)",
                [spread(r[k][name.replace("_lag", "_gc")], 1e3) for k in keys],
            )
    row("  baseline: idle loop, longest gap (ms)", [spread(r[k]["idle"], 1e3, 1) for k in keys])
    row(
        ROWS["event_us"],
        [
            spread(r[k]["event_us"])
            + ratio(r[k]["event_us"], [codec_times["cti.etf"] / args.events * 1e6])
            if codec_times
            else spread(r[k]["event_us"])
            for k in keys
        ],
    )
    row(ROWS["writes"], [spread(r[k]["writes"], 1, 2) for k in keys])
    row(ROWS["changes"], [spread(r[k]["changes"], 1, 2) for k in keys])
    row(ROWS["memory"], [spread(offline[k]["memory"]) if k[1] else "-" for k in keys])
    if codec_times:
        ours = codec_times["cti.etf"]
        lines.append("")
        lines.append(f"codec, {args.events} single info_event frames (median of {args.rounds}):")
        for name, seconds in codec_times.items():
            note = "" if name == "cti.etf" else f"  cti.etf is {seconds / ours:.2f}x as fast"
            lines.append(f"  {name:32} {seconds * 1e3:7.2f} ms{note}")
    domains: Counter[str] = Counter()
    for k in keys:
        for d in r[k]["by_domain"]:
            domains.update(d)
    if domains:
        total = sum(len(r[k]["by_domain"]) for k in keys) * args.events
        lines.append("")
        lines.append("state writes per event frame, by domain (all configurations):")
        for name, n in domains.most_common():
            lines.append(f"  {name:32} {n / total:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", default="100,500,2000", help="N values, comma-separated")
    parser.add_argument("--channels", default="0,1000,10000", help="C values, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=1000, help="frames in the burst and codec")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the offline timings")
    parser.add_argument("--quick", action="store_true", help="N=100,500 C=0,1000, one run")
    parser.add_argument("--profile", action="store_true", help="cProfile the largest N and C")
    parser.add_argument("--top", type=int, default=15, help="profile lines to show")
    parser.add_argument("--no-codec", action="store_true", help="skip the codec comparison")
    parser.add_argument("--json", help="also write the raw figures to this file")
    parser.add_argument("--quiet", type=float, default=0.3, help="s without writes = done")
    parser.add_argument("--idle", type=float, default=0.5, help="s of idle loop measured")
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.channels, args.runs, args.rounds = "100,500", "0,1000", 1, 3
    TIMING.update(quiet=args.quiet, idle=args.idle)
    args.users = [int(x) for x in str(args.users).split(",")]
    channels = [int(x) for x in str(args.channels).split(",")]
    logging.basicConfig(level=logging.ERROR)
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, load "
        f"{os.getloadavg()[0]:.2f}; N={args.users} C={channels}, {args.runs} run(s)",
        flush=True,
    )
    results: dict[tuple[int, int], dict[str, list]] = defaultdict(lambda: defaultdict(list))
    sink: list[str] = []
    started = time.perf_counter()
    # Reconnects in a second, not after Home Assistant's minimum backoff of one.
    with (
        patch("custom_components.basix_cti.coordinator.BACKOFF_MIN", 0.05),
        patch("custom_components.basix_cti.coordinator.BACKOFF_MAX", 0.2),
    ):
        for run in range(args.runs):
            for users in args.users:
                asyncio.run(run_session(users, channels, args, results, sink))
                print(
                    f"  run {run + 1}, N={users}: {time.perf_counter() - started:.0f} s", flush=True
                )
    offline: dict[tuple[int, int], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    # Parsing and storing channels does not depend on N: measured once per C (at the largest N),
    # shown in every column of that C.
    for c in channels:
        if not c:
            continue
        frames = pbx_frames.build(max(args.users), c, args.events)
        figures: dict[str, list[float]] = defaultdict(list)
        for _ in range(args.runs):
            for name, value in parse_cost(frames, args.rounds).items():
                figures[name].append(value)
        # tracemalloc counts bytes, not time: once is enough (and it is slow).
        figures["memory"].append(store_memory(frames))
        for users in args.users:
            offline[(users, c)] = figures
    if args.profile:
        offline_snapshot_profile(pbx_frames.build(max(args.users), max(channels)), sink, args.top)
    codec_times = (
        {}
        if args.no_codec
        else codec(pbx_frames.build(max(args.users), 0, args.events).events, args.rounds)
    )
    text = report(results, offline, codec_times, args)
    print()
    print(text)
    for block in sink:
        print()
        print(block)
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    out = {
        "results": {f"{n},{c}": dict(v) for (n, c), v in results.items()},
        "offline": {f"{n},{c}": dict(v) for (n, c), v in offline.items()},
        "codec": codec_times,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    return out


if __name__ == "__main__":
    main()
