"""The end-to-end benchmark still runs: its smallest configuration, with generous bounds only.

CI times nothing (see benchmarks/README.md); this only keeps the harness from rotting as the
integration changes under it. It runs in a subprocess: the benchmark starts its own Home
Assistant, outside this test session's patched one.
"""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

ROOT = Path(__file__).resolve().parent.parent


def test_smallest_configuration_runs(tmp_path: Path) -> None:
    """Ten users, 0 and 50 channels, one run: every row comes out, with sane values."""
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "e2e.py"),
            "--users=10",
            "--channels=0,50",
            "--runs=1",
            "--events=40",
            "--rounds=1",
            "--quiet=0.1",
            "--idle=0.1",
            f"--json={out}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(out.read_text())
    for key in ("10,0", "10,50"):
        row = figures["results"][key]
        assert row["entities"][0] >= 11  # at least one per user, the sentinel user included
        for name in ("setup", "reconnect", "setup_lag", "available_lag", "burst_lag"):
            assert 0 < row[name][0] < 60, name
        # Each event frame writes something (a call rings, ends), but not the whole PBX.
        assert 0 < row["changes"][0] <= row["writes"][0] < 10
    assert 0 < figures["results"]["10,50"]["snapshot_lag"][0] < 60
    offline = figures["offline"]["10,50"]
    assert offline["decode"][0] > 0
    assert offline["feed"][0] > 0
    assert 0 < offline["memory"][0] < 1_000_000
    assert figures["codec"]["cti.etf"] > 0
    assert "| Parser.feed" in result.stdout
