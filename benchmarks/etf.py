"""Decode throughput of `cti.etf` against two pure-Python peers, on Basix-shaped frames.

Run from the repository root (the peers are not test requirements):

    .venv/bin/pip install -r requirements_bench.txt
    .venv/bin/python benchmarks/etf.py [--rounds 7]

Every decoder gets the same frames in the same process; rounds are interleaved (A, B, C, A, B,
C, ...) so that a slow moment of the machine hits everyone alike, and the medians are compared.
A peer that cannot decode a frame is reported as such and left out of that workload.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import gc
import importlib
from pathlib import Path
import random
import statistics
import sys
import time
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from custom_components.basix_cti.cti.etf import Atom, decode, encode

FIELDS = [
    "uuid",
    "state",
    "created_at",
    "answered_at",
    "user_id",
    "user_name",
    "caller_id_number",
    "caller_id_name",
    "destination_number",
    "direction",
    "target",
    "end_user",
    "origination",
    "other_info",
    "group_id",
    "tags",
]

SURNAMES = ["山田", "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "中村"]
GIVEN = ["太郎", "花子", "一郎", "美咲", "健太", "さくら"]
COMPANIES = ["Acme", "株式会社ブラステル", "Globex", "有限会社テスト"]
STATES = ["calling", "bridged", "ivr", "park", "voicemail"]
EVENTS = ["CHANNEL_CREATE", "CHANNEL_ANSWER", "CHANNEL_BRIDGE", "CHANNEL_HANGUP"]


def _urlencode(text: str) -> str:
    out = []
    for ch in text:
        if ch.isascii() and (ch.isalnum() or ch in "-_.~"):
            out.append(ch)
        elif ch == " ":
            out.append("+")
        else:
            out.extend(f"%{b:02X}" for b in ch.encode())
    return "".join(out)


def _uuid(rng: random.Random) -> bytes:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}".encode()


def channel_record(rng: random.Random, i: int) -> tuple[Any, ...]:
    """One channel record: 16 fields in the order of FIELDS."""
    now_us = 1_700_000_000_000_000 + i * 1_234_567
    surname, given = rng.choice(SURNAMES), rng.choice(GIVEN)
    name = f"{surname} {given}"
    phone = f"090-{rng.randrange(10000):04d}-{rng.randrange(10000):04d}"
    company = rng.choice(COMPANIES)
    ext = str(200 + i % 300)
    end_user = f"{phone}*{_urlencode(name)}*{_urlencode(company)}*"
    state_name = rng.choice(STATES)
    state = (
        now_us,
        Atom(state_name),
        Atom("local"),
        Atom("user"),
        (ext.encode(), Atom("undefined")),
    )
    target = (Atom("user"), ext.encode(), name.encode(), f"{ext}@pbx".encode())
    inbound = i % 2 == 1
    other_info = (
        Atom("end_user") if inbound else Atom("user"),
        end_user.encode() if inbound else str(10_000 + i % 500).encode(),
        Atom("inbound" if inbound else "outbound"),
        Atom("pstn"),
        phone.encode(),
        now_us // 1000,
        1000 + i % 50,
    )
    return (
        _uuid(rng),
        state,
        now_us // 1000,
        None if i % 3 else now_us // 1000 + 5000,
        str(10_000 + i % 500).encode(),
        name.encode(),
        phone.encode(),
        name.encode(),
        ext.encode(),
        Atom("inbound" if inbound else "outbound"),
        target,
        end_user.encode(),
        f"{phone}*{ext}".encode(),
        other_info,
        1000 + i % 50,
        [Atom("recorded"), Atom("vip")] if i % 7 == 0 else [],
    )


def workloads() -> dict[str, list[bytes]]:
    """Frames per workload name: one big snapshot, and a stream of 1,000 events; each 3 ways."""
    rng = random.Random(2026)
    snapshot = (
        Atom("initial_info"),
        Atom("channel"),
        [channel_record(rng, i) for i in range(10_000)],
    )
    events = [
        (Atom("info_event"), Atom("channel"), channel_record(rng, i), Atom(rng.choice(EVENTS)))
        for i in range(1_000)
    ]
    out: dict[str, list[bytes]] = {}
    for label, kwargs in (
        ("utf8 atoms", {}),
        ("latin1 atoms", {"atoms": "latin1"}),
        ("compressed", {"compressed": True}),
    ):
        out[f"snapshot 10k channels, {label}"] = [encode(snapshot, **kwargs)]
        out[f"1,000 info_event frames, {label}"] = [encode(e, **kwargs) for e in events]
    return out


def decoders() -> dict[str, Callable[[bytes], Any]]:
    """Our decoder and whichever peers are installed."""
    found: dict[str, Callable[[bytes], Any]] = {"cti.etf": decode}
    for label, module, function in (
        ("erlang-py 2.0.7", "erlang", "binary_to_term"),
        ("pure-py-erlpack 1.0.0", "erlpack", "unpack"),
    ):
        try:
            found[label] = getattr(importlib.import_module(module), function)
        except ImportError:
            print(f"{label} is not installed: pip install -r requirements_bench.txt")
    return found


FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "erlang"
# Frames written by Erlang itself (tests/fixtures/erlang), one per feature a peer may lack.
FEATURES = {
    "UTF-8 atoms (OTP 26+)": "minor2/unicode_atoms.bin",
    "Latin-1 atoms (OTP < 26)": "minor0/unicode_atoms.bin",
    "NEW_FLOAT_EXT": "minor2/floats.bin",
    "old FLOAT_EXT text": "minor0/floats.bin",
    "big integers": "minor2/large_big.bin",
    "STRING_EXT": "minor2/string.bin",
    "maps": "minor2/map.bin",
    "map with a map key": "minor2/map_map_key.bin",
    "improper lists": "minor2/improper.bin",
    "bitstrings": "minor2/bitstrings.bin",
    "compressed": "compressed/snapshot.bin",
}


def capabilities(decs: dict[str, Callable[[bytes], Any]]) -> None:
    """Print which decoder handles which feature, on frames Erlang wrote."""
    print("\n== what each decoder can decode (frames written by Erlang/OTP)")
    for feature, path in FEATURES.items():
        frame = (FIXTURES / path).read_bytes()
        cells = []
        for name, fn in decs.items():
            problem = _can_decode(fn, [frame])
            cells.append(
                f"{name.split()[0]}: {'ok' if problem is None else 'NO (' + problem + ')'}"
            )
        print(f"  {feature:26} " + "; ".join(cells))


def _can_decode(fn: Callable[[bytes], Any], frames: list[bytes]) -> str | None:
    try:
        for frame in frames:
            fn(frame)
    except Exception as err:  # noqa: BLE001 - a peer's failure is a result to report
        return f"{type(err).__name__}: {str(err)[:50]}"
    return None


def _time_once(fn: Callable[[bytes], Any], frames: list[bytes]) -> float:
    gc.collect()
    start = time.perf_counter()
    for frame in frames:
        fn(frame)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", default="", help="run workloads whose name contains this")
    args = parser.parse_args()
    decs = decoders()
    print(f"Python {sys.version.split()[0]}, {args.rounds} interleaved rounds, medians")
    capabilities(decs)
    for name, frames in workloads().items():
        if args.only not in name:
            continue
        size = sum(map(len, frames))
        print(f"\n== {name}: {len(frames)} frame(s), {size / 1e6:.2f} MB")
        able: dict[str, Callable[[bytes], Any]] = {}
        for dec_name, fn in decs.items():
            problem = _can_decode(fn, frames)
            if problem:
                print(f"  {dec_name:22} cannot decode: {problem}")
            else:
                able[dec_name] = fn
        times: dict[str, list[float]] = {n: [] for n in able}
        for _ in range(args.rounds):
            for dec_name, fn in able.items():
                times[dec_name].append(_time_once(fn, frames))
        medians = {n: statistics.median(t) for n, t in times.items()}
        ours = medians["cti.etf"]
        for dec_name, med in medians.items():
            ratio = "" if dec_name == "cti.etf" else f"  ours is {med / ours:.2f}x faster"
            print(f"  {dec_name:22} {med * 1e3:8.1f} ms  {size / med / 1e6:6.1f} MB/s{ratio}")


if __name__ == "__main__":
    main()
