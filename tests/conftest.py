"""Fixtures shared by every test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load integrations from custom_components/."""


@pytest.fixture(autouse=True)
def loopback_sockets(socket_enabled: None) -> None:
    """Let tests open sockets: they talk to a real simulator over a real WebSocket.

    The test plugin's host allow-list stays in force, so connections still reach 127.0.0.1 only.
    """
