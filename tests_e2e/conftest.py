"""Fixtures of the browser test: `scripts/develop` on a throwaway configuration, and Chromium.

Run by `scripts/e2e`. Everything binds 127.0.0.1 on free ports, so the test runs next to a
developer's own `scripts/develop`. Debian's Chromium is driven through Playwright's driver (no
browser download). On failure, a screenshot, the page's URL and the logs of Home Assistant and the
simulator are left in tests_e2e/artifacts/.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
import contextlib
import ctypes
from dataclasses import dataclass
import json
import os
from pathlib import Path
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

from playwright.sync_api import Page, expect, sync_playwright
import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 800}
# Home Assistant's frontend loads its panels lazily: give each expectation some patience.
expect.set_options(timeout=15_000)
# The first start of a fresh configuration installs the frontend and other runtime requirements.
START_TIMEOUT = 180.0
STOP_TIMEOUT = 90.0


@dataclass(frozen=True)
class DevEnv:
    """A running `scripts/develop`."""

    url: str  # Home Assistant
    simulator: dict[str, str]  # server, domain, token, control (the HTTP control endpoints)
    config_dir: Path

    def control(self, action: str, **params: str) -> Any:
        """POST a simulator control endpoint, e.g. `control("ring", to="201")`."""
        query = urllib.parse.urlencode(params)
        request = urllib.request.Request(
            f"{self.simulator['control']}/{action}?{query}", method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def state(self) -> Any:
        """The simulator's users, calls, connections and voicemail counts."""
        with urllib.request.urlopen(f"{self.simulator['control']}/state", timeout=10) as response:
            return json.load(response)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# prctl(PR_SET_PDEATHSIG): scripts/develop (and so Home Assistant) goes when pytest goes.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)


def _wait_until_up(url: str, info: Path, process: subprocess.Popen[bytes]) -> dict[str, str]:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"scripts/develop exited with {process.returncode}; see {ARTIFACTS}")
        with (
            contextlib.suppress(urllib.error.URLError, OSError, ValueError),
            urllib.request.urlopen(f"{url}/manifest.json", timeout=5) as response,
        ):
            if response.status == 200 and info.exists():
                return dict(json.loads(info.read_text(encoding="utf-8")))
        time.sleep(1)
    pytest.fail(f"Home Assistant did not answer on {url} within {START_TIMEOUT:.0f} s")


@pytest.fixture(scope="session")
def develop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevEnv]:
    """`scripts/develop` on a fresh configuration folder: never onboarded, nothing set up."""
    ARTIFACTS.mkdir(exist_ok=True)
    config_dir = tmp_path_factory.mktemp("ha-config")
    port, sim_port = _free_port(), _free_port()
    log = (ARTIFACTS / "develop.log").open("wb")
    process = subprocess.Popen(
        [
            str(ROOT / "scripts" / "develop"),
            "--config-dir",
            str(config_dir),
            "--port",
            str(port),
            "--sim-port",
            str(sim_port),
            # Steady traffic, as a person sees it, but sparse enough that the extension the
            # test rings is not busy with a random call at that very moment.
            "--calls-per-minute",
            "6",
            # Onboarding and adding Basix PBX are what the test does in the UI: leave them to it.
            "--fresh",
        ],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent,  # noqa: PLW1509 - only a libc call between fork and exec
    )
    url = f"http://127.0.0.1:{port}"
    try:
        simulator = _wait_until_up(url, config_dir / "basix_simulator.json", process)
        yield DevEnv(url=url, simulator=simulator, config_dir=config_dir)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        with contextlib.suppress(OSError):
            shutil.copyfile(config_dir / "home-assistant.log", ARTIFACTS / "home-assistant.log")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[Any]:
    """Remember each phase's report on the test, for the page fixture to see a failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    """A page of a fresh headless Chromium (new profile), screenshotted if the test fails."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/e2e installs Debian's chromium")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile",
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
            locale="en-US",
            timezone_id="Asia/Tokyo",
        )
        context.set_default_timeout(30_000)
        page = context.pages[0] if context.pages else context.new_page()
        try:
            yield page
        finally:
            report = getattr(request.node, "report_call", None)
            if report is None or report.failed:
                name = re.sub(r"\W+", "_", request.node.name)
                with contextlib.suppress(Exception):
                    page.screenshot(path=ARTIFACTS / f"failed-{name}.png", full_page=True)
                    (ARTIFACTS / f"failed-{name}.url").write_text(page.url + "\n")
            context.close()
