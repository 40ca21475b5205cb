"""A person's first hour, in a real browser: onboard, add Basix PBX twice, reconfigure, calls.

Drives Home Assistant's own frontend (`scripts/develop` on a throwaway configuration) through
Playwright and Debian's Chromium: the user picked from the PBX's list after an extension it does
not have, a second entry of the same PBX without look-alikes, a reconfigure through a mistyped
domain, an extension ringing, a missed call in the logbook, voicemail, and the system language
switched to Japanese with no English left in the integration's entity names. Texts the
integration shows are read from its translations, so rewording a message does not break the
test; the frontend's own texts are those of the pinned Home Assistant release. It takes the
README's screenshots (docs/images/): config-flow.png, call-state.png, logbook-missed-call.png.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import json
from pathlib import Path
import re
import time
from typing import TYPE_CHECKING, Any

from playwright.sync_api import Locator, Page, expect

if TYPE_CHECKING:
    from conftest import DevEnv

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
STRINGS = json.loads(
    (ROOT / "custom_components" / "basix_cti" / "translations" / "en.json").read_text("utf-8")
)
IMAGES = ROOT / "docs" / "images"
SCREENSHOT = IMAGES / "call-state.png"
JA_STRINGS = json.loads(
    (ROOT / "custom_components" / "basix_cti" / "translations" / "ja.json").read_text("utf-8")
)
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
    # On a fresh venv Home Assistant is still installing its first-start packages here, and the
    # analytics step keeps Next disabled until start-up has finished: give it time.
    for heading in ("Home location", "the country your home is in", "Help us help you"):
        expect(page.get_by_text(heading).first).to_be_visible()
        next_button = page.get_by_role("button", name="Next", exact=True)
        expect(next_button).to_be_enabled(timeout=150_000)
        next_button.click()
    expect(page.get_by_text("All set!")).to_be_visible()
    page.get_by_role("button", name="Finish", exact=True).click()
    page.wait_for_url(re.compile(r"/(home|lovelace)/"))


def pick_user(page: Page, typed: str, pick: str | None = None) -> None:
    """In the scope step's user picker: choose `pick` (text of a listed user) or add `typed`."""
    page.locator("ha-generic-picker").click()
    search = page.get_by_placeholder(re.compile(r"Add custom item"))
    expect(search).to_be_visible()
    search.fill(typed)
    if pick is None:
        page.get_by_text("Add custom item").click()
    else:
        page.get_by_text(pick, exact=True).click()


def choose(page: Page, select: Locator, label: str) -> None:
    """Pick `label` in a Home Assistant dropdown (ha-select)."""
    select.click()
    page.get_by_role("option", name=label, exact=True).or_(
        page.get_by_role("menuitem", name=label, exact=True)
    ).first.click()
    expect(select).to_contain_text(label)


def add_integration(page: Page, develop: DevEnv, user: dict[str, str], *, first: bool) -> None:
    """Settings > Devices & services > Add integration > Basix PBX, following one user.

    The first time: a wrong token, then the right one; an extension the PBX does not have,
    then the user picked from the list, as the README's screenshot shows.
    """
    page.goto(f"{develop.url}/config/integrations/dashboard")
    page.get_by_role("button", name="Add integration").click()
    expect(page.get_by_text("Select brand")).to_be_visible()
    # Typed into the search field: a key pressed on the page itself may open Assist.
    page.get_by_role("textbox").first.fill("Basix")
    page.get_by_text("Basix PBX", exact=True).last.click()  # the brand list, not a card

    expect(page.get_by_text(text("config", "step", "user", "title"))).to_be_visible()
    expect(page.locator("input[name=server]")).to_have_value("bcs.brastel.com")
    page.locator("input[name=server]").fill(develop.simulator["server"])
    page.locator("input[name=domain]").fill(develop.simulator["domain"])
    page.locator("input[name=app_name]").fill(f"home_assistant_{user['extension']}")
    if first:
        page.locator("input[name=api_token]").fill("not-the-token")
        page.get_by_role("button", name="Submit").click()
        expect(page.get_by_text(text("config", "error", "invalid_auth"))).to_be_visible()
    page.locator("input[name=api_token]").fill(develop.simulator["token"])
    page.get_by_role("button", name="Submit").click()

    expect(page.get_by_text(text("config", "step", "scope", "title"))).to_be_visible()
    options = STRINGS["selector"]["scope"]["options"]
    choose(page, page.locator("ha-select"), options["user_extension"])
    listed = f"{user['label']} ({user['extension']})"
    if first:
        pick_user(page, "299")
        page.get_by_role("button", name="Submit").click()
        unknown = text("config", "error", "unknown_user_extension").format(value="299")
        expect(page.get_by_text(unknown)).to_be_visible()
        # The README's picture: the PBX's users, searchable, in the scope step.
        page.locator("ha-generic-picker").click()
        expect(page.get_by_text(listed, exact=True)).to_be_visible()
        page.screenshot(path=IMAGES / "config-flow.png")
        page.keyboard.press("Escape")
    pick_user(page, user["extension"], listed)
    page.get_by_role("button", name="Submit").click()

    # The devices found: this entry's PBX device, named after whom it follows, and the user's.
    pbx_device = page.get_by_role("textbox", name="Device name").first
    expect(pbx_device).to_have_value(
        f"Basix PBX ({develop.simulator['domain']}, {user['extension']})"
    )
    page.get_by_role("button", name=re.compile(r"^(Skip and finish|Finish)$")).click()


def reconfigure_with_a_typo(page: Page, develop: DevEnv, user: dict[str, str]) -> None:
    """⋮ > Reconfigure: a mistyped domain is a field error, and the other edits stay."""
    page.goto(f"{develop.url}/config/integrations/integration/basix_cti")
    title = f"Basix PBX ({develop.simulator['domain']}, {user['extension']})"
    row = page.locator("ha-config-entry-row").filter(has_text=title)
    # The entry's own ⋮ comes first; each device of the entry has one below it.
    row.get_by_role("button", name=re.compile(r"menu|more", re.IGNORECASE)).first.click()
    page.get_by_role("menuitem", name="Reconfigure").click()
    expect(page.get_by_text(text("config", "step", "reconfigure", "title"))).to_be_visible()
    page.locator("input[name=domain]").fill("exmaple.basix")
    page.locator("input[name=app_name]").fill("ha_front_desk")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text(text("config", "error", "wrong_pbx"))).to_be_visible()
    expect(page.locator("input[name=app_name]")).to_have_value("ha_front_desk")
    page.locator("input[name=domain]").fill(develop.simulator["domain"])
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text(text("config", "step", "reconfigure_scope", "title"))).to_be_visible()
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text(text("config", "abort", "entry_changed"))).to_be_visible()
    page.keyboard.press("Escape")


def hass_call(page: Page, kind: str, *args: Any) -> Any:
    """Call the frontend's own connection: `ws` (callWS) or `api` (callApi)."""
    method = {"ws": "callWS", "api": "callApi"}[kind]
    return page.evaluate(
        f"args => document.querySelector('home-assistant').hass.{method}(...args)", list(args)
    )


def our_entities(page: Page) -> list[dict[str, Any]]:
    """The integration's entities with their current friendly names."""
    registry = hass_call(page, "ws", {"type": "config/entity_registry/list"})
    states = page.evaluate("() => document.querySelector('home-assistant').hass.states")
    return [
        {**entry, "friendly_name": states[entry["entity_id"]]["attributes"].get("friendly_name")}
        for entry in registry
        if entry["platform"] == "basix_cti" and entry["entity_id"] in states
    ]


def idle_extension(develop: DevEnv, *, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """An extension the random traffic is not calling right now."""
    state = develop.state()
    busy = {user for call in state["calls"] for user in (call["target"], call["answered_by"])}
    users = [
        user for user in state["users"] if user["id"] not in busy and user["extension"] not in skip
    ]
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


def test_first_hour(page: Page, develop: DevEnv) -> None:
    states = STRINGS["entity"]["sensor"]["call_state"]["state"]

    with step(page, "onboard Home Assistant"):
        onboard(page, develop.url)

    with step(page, "add Basix PBX for one user, picked from the list"):
        user = idle_extension(develop)
        add_integration(page, develop, user, first=True)

    with step(page, "add a second entry of the same PBX, for another user"):
        other = idle_extension(develop, skip=(user["extension"],))
        add_integration(page, develop, other, first=False)

    with step(page, "no look-alikes: every device and entity name once, no _2 ids"):
        entities = our_entities(page)
        assert entities
        names = [entity["friendly_name"] for entity in entities]
        assert len(names) == len(set(names)), names
        assert not [e["entity_id"] for e in entities if re.search(r"_\d+$", e["entity_id"])]

    with step(page, "reconfigure the second entry, with a typo on the way"):
        reconfigure_with_a_typo(page, develop, other)

    with step(page, "open the device of the first user"):
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

    with step(page, "a missed call, in the logbook"):
        develop.control("hangup", to=user["extension"])
        expect(call_state_row(page)).to_contain_text(states["idle"], timeout=20_000)
        develop.control("ring", to=user["extension"], caller="0399999999", caller_name="")
        expect(call_state_row(page)).to_contain_text(states["ringing"], timeout=20_000)
        develop.control("hangup", to=user["extension"])
        expect(call_state_row(page)).to_contain_text(states["idle"], timeout=20_000)
        call = next(
            e["entity_id"]
            for e in our_entities(page)
            if e["entity_id"].startswith("event.")
            and f"({user['extension']})" in e["friendly_name"]
        )
        page.goto(f"{develop.url}/logbook?entity_id={call}")
        expect(page.get_by_text(re.compile(f"\\({user['extension']}\\)")).first).to_be_visible()
        page.wait_for_timeout(1_000)  # the list settles
        page.mouse.move(0, 0)
        page.screenshot(path=IMAGES / "logbook-missed-call.png")

    with step(page, "leave a voicemail and see it waiting"):
        open_device(page, develop, user)
        develop.control("mwi", to=user["extension"], new="2")
        voicemail = page.locator("hui-generic-entity-row").filter(
            has_text=text("entity", "binary_sensor", "voicemail", "name")
        )
        expect(voicemail).to_contain_text("On", timeout=20_000)

    with step(page, "system language Japanese: no English left in our entity names"):
        hass_call(page, "ws", {"type": "config/core/update", "language": "ja"})
        # Entity names are made in the system language when the entities are set up.
        for entry in hass_call(page, "ws", {"type": "config_entries/get", "domain": "basix_cti"}):
            hass_call(
                page, "api", "POST", f"config/config_entries/entry/{entry['entry_id']}/reload"
            )
        english = {
            node["name"] for platform in STRINGS["entity"].values() for node in platform.values()
        }
        japanese = {
            node["name"] for platform in JA_STRINGS["entity"].values() for node in platform.values()
        }

        def names_in_japanese() -> bool:
            names = [str(e["friendly_name"]) for e in our_entities(page)]
            return bool(names) and all(
                not any(word in name for word in english)
                and any(name.endswith(word) for word in japanese)
                for name in names
            )

        deadline = time.monotonic() + 30
        while not names_in_japanese():
            assert time.monotonic() < deadline, [e["friendly_name"] for e in our_entities(page)]
            page.wait_for_timeout(500)
