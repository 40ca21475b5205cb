"""A person's first hour, in a real browser: onboard, add Basix PBX, watch an extension ring.

Drives Home Assistant's own frontend (`scripts/develop` on a throwaway configuration) through
Playwright and Debian's Chromium. Texts the integration shows are read from its
translations/en.json, so rewording a message does not break the test; the frontend's own texts
are those of the pinned Home Assistant release. The screenshot of the ringing extension is the
README's `docs/images/call-state.png`.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import json
from pathlib import Path
import re
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Locator, Page, expect

if TYPE_CHECKING:
    from conftest import DevEnv

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
STRINGS = json.loads(
    (ROOT / "custom_components" / "basix_cti" / "translations" / "en.json").read_text("utf-8")
)
SCREENSHOT = ROOT / "docs" / "images" / "call-state.png"
USER = {"name": "Basix Tester", "username": "tester", "password": "e2e-password-not-secret"}
CALLER = {"caller": "0312345678", "caller_name": "山田 花子"}


@contextlib.contextmanager
def step(page: Page, name: str) -> Iterator[None]:
    """Name a step: if it fails, the error says which, and a screenshot shows where."""
    try:
        yield
    except Exception as err:
        slug = re.sub(r"\W+", "-", name).strip("-").lower()
        with contextlib.suppress(Exception):
            page.screenshot(path=ARTIFACTS / f"step-{slug}.png", full_page=True)
        raise AssertionError(f"step '{name}' failed at {page.url}: {err}") from err


def text(*path: str) -> str:
    """A string of the integration's English translation."""
    node: Any = STRINGS
    for key in path:
        node = node[key]
    return str(node)


def onboard(page: Page, url: str) -> None:
    """Create the owner account and take every onboarding step's default."""
    page.goto(url)
    page.get_by_role("button", name="Create my smart home").click()
    for field, value in (
        ("name", USER["name"]),
        ("username", USER["username"]),
        ("password", USER["password"]),
        ("password_confirm", USER["password"]),
    ):
        page.locator(f"input[name={field}]").fill(value)
    page.get_by_role("button", name="Create account").click()
    # Home location, country, analytics: the defaults will do.
    for heading in ("Home location", "the country your home is in", "Help us help you"):
        expect(page.get_by_text(heading).first).to_be_visible()
        page.get_by_role("button", name="Next", exact=True).click()
    expect(page.get_by_text("All set!")).to_be_visible()
    page.get_by_role("button", name="Finish", exact=True).click()
    page.wait_for_url(re.compile(r"/(home|lovelace)/"))


def add_integration(page: Page, develop: DevEnv) -> None:
    """Settings > Devices & services > Add integration > Basix PBX: a wrong token, then the right."""
    page.goto(f"{develop.url}/config/integrations/dashboard")
    page.get_by_role("button", name="Add integration").click()
    expect(page.get_by_text("Select brand")).to_be_visible()
    page.keyboard.type("Basix")
    page.get_by_text("Basix PBX", exact=True).click()

    expect(page.get_by_text(text("config", "step", "user", "title"))).to_be_visible()
    expect(page.locator("input[name=server]")).to_have_value("bcs.brastel.com")
    page.locator("input[name=server]").fill(develop.simulator["server"])
    page.locator("input[name=domain]").fill(develop.simulator["domain"])
    page.locator("input[name=api_token]").fill("not-the-token")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text(text("config", "error", "invalid_auth"))).to_be_visible()

    page.locator("input[name=api_token]").fill(develop.simulator["token"])
    page.get_by_role("button", name="Submit").click()

    expect(page.get_by_text(text("config", "step", "scope", "title"))).to_be_visible()
    page.locator("ha-select").click()
    whole_pbx = text("selector", "scope", "options", "pbx")
    page.get_by_role("menuitem", name=whole_pbx, exact=True).click()
    expect(page.locator("ha-select")).to_contain_text(whole_pbx)
    page.get_by_role("button", name="Submit").click()

    # The devices found: the PBX and its extensions, to name and place; the defaults will do.
    pbx_device = page.get_by_role("textbox", name="Device name").first
    expect(pbx_device).to_have_value(f"Basix PBX ({develop.simulator['domain']})")
    page.get_by_role("button", name=re.compile(r"^(Skip and finish|Finish)$")).click()


def idle_extension(develop: DevEnv) -> dict[str, str]:
    """An extension the random traffic is not calling right now."""
    state = develop.state()
    busy = {user for call in state["calls"] for user in (call["target"], call["answered_by"])}
    users = [user for user in state["users"] if user["id"] not in busy]
    assert users, "every extension of the simulator is in a call"
    return users[0]


def open_device(page: Page, develop: DevEnv, user: dict[str, str]) -> None:
    """Settings > Devices: find the extension's device by its number and open it."""
    page.goto(f"{develop.url}/config/devices/dashboard")
    page.get_by_placeholder(re.compile(r"^Search \d+ devices")).fill(f"({user['extension']})")
    name = f"{user['label']} ({user['extension']})"
    page.get_by_text(name, exact=True).click()
    page.wait_for_url(re.compile(r"/config/devices/device/"))
    expect(page.get_by_text(name, exact=True).first).to_be_visible()


def call_state_row(page: Page) -> Locator:
    return page.locator("hui-generic-entity-row").filter(
        has_text=text("entity", "sensor", "call_state", "name")
    )


def test_add_basix_and_see_an_extension_ring(page: Page, develop: DevEnv) -> None:
    states = STRINGS["entity"]["sensor"]["call_state"]["state"]

    with step(page, "onboard Home Assistant"):
        onboard(page, develop.url)

    with step(page, "add Basix PBX through the UI"):
        add_integration(page, develop)

    with step(page, "open the device of an idle extension"):
        user = idle_extension(develop)
        open_device(page, develop, user)
        # A random call may have just reached it: wait for it to end.
        expect(call_state_row(page)).to_contain_text(states["idle"], timeout=90_000)

    with step(page, "ring the extension and see it ringing"):
        develop.control("ring", to=user["extension"], **CALLER)
        expect(call_state_row(page)).to_contain_text(states["ringing"], timeout=20_000)

    with step(page, "take the README screenshot"):
        # Nicer with the activity card showing the ring too; it may lag, and that is fine.
        with contextlib.suppress(AssertionError):
            expect(page.get_by_text(states["ringing"], exact=True)).to_have_count(2, timeout=5_000)
        page.mouse.move(0, 0)  # no hover highlight in the picture
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOT)
        assert SCREENSHOT.stat().st_size > 10_000

    with step(page, "answer and see talking"):
        develop.control("answer", to=user["extension"])
        expect(call_state_row(page)).to_contain_text(states["talking"], timeout=20_000)

    with step(page, "leave a voicemail and see it waiting"):
        develop.control("hangup", to=user["extension"])
        develop.control("mwi", to=user["extension"], new="2")
        voicemail = page.locator("hui-generic-entity-row").filter(
            has_text=text("entity", "binary_sensor", "voicemail", "name")
        )
        expect(voicemail).to_contain_text("On", timeout=20_000)
