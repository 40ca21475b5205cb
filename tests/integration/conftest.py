"""A running simulator, and the config entry that connects Home Assistant to it."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator, Callable, Generator
import time
from unittest.mock import patch

from homeassistant.const import CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from basix_simulator.pbx import Pbx
from basix_simulator.server import SimulatorServer
from custom_components.basix_cti.const import (
    CONF_API_TOKEN,
    CONF_APP_NAME,
    CONF_DOMAIN,
    CONF_SCOPE,
    CONF_SERVER,
    DOMAIN,
)

PBX_DOMAIN = "example.basix"
TOKEN = "s3cr3t-t0ken-value"
UNIQUE_ID = f"{PBX_DOMAIN}|pbx"


@pytest.fixture(autouse=True)
def quick_reconnects() -> Generator[None]:
    """Reconnect within a fraction of a second, so outages fit in a test."""
    with (
        patch("custom_components.basix_cti.coordinator.BACKOFF_MIN", 0.05),
        patch("custom_components.basix_cti.coordinator.BACKOFF_MAX", 0.2),
    ):
        yield


@pytest.fixture
def pbx() -> Pbx:
    """A small PBX: users 1001-1004 on extensions 201-204, one ring group."""
    return Pbx.demo(users=4, groups=1, seed=1, domain=PBX_DOMAIN)


@pytest.fixture
async def simulator(pbx: Pbx) -> AsyncGenerator[SimulatorServer]:
    """The PBX served on 127.0.0.1."""
    server = SimulatorServer(pbx, domain=PBX_DOMAIN, token=TOKEN)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def config_entry(simulator: SimulatorServer) -> MockConfigEntry:
    """A config entry for the whole PBX."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=PBX_DOMAIN,
        unique_id=UNIQUE_ID,
        data={
            CONF_SERVER: simulator.url,
            CONF_DOMAIN: PBX_DOMAIN,
            CONF_API_TOKEN: TOKEN,
            CONF_APP_NAME: "home_assistant",
            CONF_VERIFY_SSL: True,
            CONF_SCOPE: "pbx",
        },
    )


async def wait_for(
    hass: HomeAssistant, condition: Callable[[], object], within: float = 5.0
) -> None:
    """Let the event loop run until `condition()` holds: frames arrive over a real socket.

    A condition that fails an assertion (an entity not created yet) counts as not holding yet.
    """
    deadline = time.monotonic() + within
    while not _holds(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.01)
        await hass.async_block_till_done()


def basic_auth() -> dict[str, str]:
    """The Authorization header another application on the same domain would send."""
    credentials = base64.b64encode(f"{PBX_DOMAIN}:{TOKEN}".encode()).decode()
    return {"Authorization": f"Basic {credentials}"}


def _holds(condition: Callable[[], object]) -> bool:
    try:
        return bool(condition())
    except AssertionError:
        return False


def entity_id(hass: HomeAssistant, platform: str, key: str, user_id: str | None = None) -> str:
    """The entity id of one of our entities, found by its unique id."""
    unique = UNIQUE_ID if user_id is None else f"{UNIQUE_ID}:{user_id}"
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"{unique}_{key}")
    assert found is not None, f"no {platform} entity {unique}_{key}"
    return found


@pytest.fixture
async def init_integration(hass: HomeAssistant, config_entry: MockConfigEntry) -> MockConfigEntry:
    """The entry set up, with every user's entities created from the PBX's snapshot."""
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await wait_for(
        hass,
        lambda: er.async_get(hass).async_get_entity_id(
            "sensor", DOMAIN, f"{UNIQUE_ID}:1004_call_state"
        ),
    )
    return config_entry
