"""Brastel's own client library can read every frame the simulator sends by default.

`brastel_reader.js` reads frames with the limits of Brastel's decoder and message parser
(`brastelcloud/basix_ws_cti.js`, still used by Brastel's web app in 2026): the old subset of
ETF, Latin-1 atoms only, names compared with strings. A frame it cannot read is a frame no Basix
server sends. Without node, the tag check alone runs.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
import shutil
import subprocess
from typing import Any

import pytest

from basix_simulator.frames import FrameBuilder, encode_frame
from basix_simulator.office_day import OfficeDay
from basix_simulator.pbx import ManualClock, Pbx
from basix_simulator.wire import OLD_SUBSET_TAGS, tags

READER = Path(__file__).with_name("brastel_reader.js")


def office_day_frames(**options: Any) -> tuple[list[bytes], list[tuple[str, dict[str, Any], str]]]:
    """Every frame of a connection that sees the whole office day, and the changes behind them."""
    pbx = Pbx.demo(users=6, groups=2, seed=1, clock=ManualClock())
    builder = FrameBuilder(pbx, **options)
    terms = builder.field_specs()
    terms += builder.snapshots({e: pbx.snapshot(e) for e in builder.entities})
    changes: list[tuple[str, dict[str, Any], str]] = []

    def on_change(entity: str, record: dict[str, Any], event: str) -> None:
        term = builder.change(entity, record, event)
        if term is not None:
            terms.append(term)
            changes.append((entity, record, event))

    pbx.subscribe(on_change)
    day = OfficeDay(pbx)
    day.run_until("support_call_rings")  # a snapshot with a call waiting in a queue, a parked one
    terms += builder.snapshots({e: pbx.snapshot(e) for e in builder.entities})
    day.run()
    pbx.set_mwi("202", 3, 1)
    terms.append(builder.system_msg("connection_limit_reached"))
    terms.append(builder.system_msg("connection_replaced"))
    return [encode_frame(t) for t in terms], changes


def test_default_frames_use_only_the_old_etf_subset() -> None:
    frames, _ = office_day_frames()
    used: set[int] = set()
    for frame in frames:
        used |= tags(frame)
    assert used <= OLD_SUBSET_TAGS
    assert 100 in used  # atoms, as ATOM_EXT
    assert 105 not in used  # no tuple is that large


def test_utf8_atoms_are_the_opt_in_form() -> None:
    pbx = Pbx.demo(users=1, groups=0)
    frame = encode_frame(FrameBuilder(pbx).field_specs()[0], atoms="utf8")
    assert 119 in tags(frame)


def run_reader(frames: list[bytes]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the tag check above stands in")
    payload = json.dumps([base64.b64encode(f).decode() for f in frames])
    done = subprocess.run(
        [node, str(READER)], input=payload, capture_output=True, text=True, timeout=60, check=True
    )
    result: list[dict[str, Any]] = json.loads(done.stdout)
    return result


def test_brastels_reader_reads_every_default_frame() -> None:
    frames, changes = office_day_frames()
    results = run_reader(frames)
    assert [r for r in results if not r["ok"]] == []
    kinds = [r["kind"] for r in results]
    assert kinds[:7] == ["field_spec"] * 7
    assert kinds[-2:] == ["system_msg", "system_msg"]
    assert [r["text"] for r in results[-2:]] == ["connection_limit_reached", "connection_replaced"]
    events = [r for r in results if r["kind"] == "info_event"]
    assert len(events) == len(changes)
    for seen, (entity, record, event) in zip(events, changes, strict=True):
        assert (seen["entity"], seen["event"]) == (entity, event)
        (info,) = seen["records"]
        if entity == "channel":
            assert info["uuid"] == record["uuid"]
            assert info["last_event"] == record["last_event"]
            assert info.get("last_event_data") == record["last_event_data"]
            assert info["offer_timestamp"] == record["offer_timestamp"]  # microseconds, exact
    hangups = [
        r["records"][0]["last_event_data"]
        for r in events
        if r["entity"] == "channel" and r["records"][0]["last_event"] == "CHANNEL_HANGUP"
    ]
    assert {"send_cancel,PICKED_OFF", "send_cancel,LOSE_RACE", "recv_refuse,USER_BUSY"} <= set(
        hangups
    )
    users = next(r for r in results if r["kind"] == "initial_info" and r["entity"] == "user")
    assert [u["main_extension"] for u in users["records"]] == [str(201 + i) for i in range(6)]
    waiting = [
        r
        for r in results
        if r["kind"] == "initial_info" and r["entity"] == "channel_waiting" and r["records"]
    ]
    assert waiting  # the snapshot taken while a call waited in the support queue


def test_brastels_reader_refuses_utf8_atoms() -> None:
    pbx = Pbx.demo(users=1, groups=0)
    frame = encode_frame(FrameBuilder(pbx).field_specs()[0], atoms="utf8")
    (result,) = run_reader([frame])
    assert not result["ok"]
    assert "Unexpected BERT type: 119" in result["error"]


def test_brastels_reader_needs_atom_names() -> None:
    """Why names are atoms by default: Brastel's parser reads the others wrongly or not at all."""
    pbx = Pbx.demo(users=1, groups=0)
    frames = [
        encode_frame(FrameBuilder(pbx, names=names).field_specs()[0])
        for names in ("binary", "charlist")
    ]
    binary, charlist = run_reader(frames)
    assert "Unknown message type '<<\"field_spec\">>'" in binary["error"]
    assert "a field name without .value" in charlist["error"]
