"""Diagnostics: enough to debug a surprising PBX, nothing that identifies anyone."""

from __future__ import annotations

from datetime import datetime
import json

from homeassistant.components.diagnostics import REDACTED
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from basix_simulator.pbx import Pbx
from basix_simulator.server import SimulatorServer
from custom_components.basix_cti.cti import etf
from custom_components.basix_cti.cti.models import UnknownMessage
from custom_components.basix_cti.cti.terms import Atom

from .conftest import PBX_DOMAIN, TOKEN, entity_id, wait_for


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    pbx: Pbx,
    simulator: SimulatorServer,
    init_integration: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """The shape of what the PBX sent is there; tokens, numbers, names and e-mails are not."""
    call = pbx.incoming_call(to="201", caller="09087654321", caller_name="田中 一郎")
    state = entity_id(hass, "sensor", "call_state", "1001")
    await wait_for(hass, lambda: hass.states.get(state).state == "ringing")
    pbx.answer(call)
    await wait_for(hass, lambda: hass.states.get(state).state == "talking")

    # An element this version does not model, with a field it does not know by name.
    await simulator.send_raw(
        etf.encode((Atom("field_spec"), Atom("terminal"), [Atom("id"), Atom("caller_id_name")]))
    )
    await simulator.send_raw(
        etf.encode((Atom("info_event"), Atom("terminal"), ("t1", "山田 花子"), Atom("added")))
    )
    await simulator.send_raw(etf.encode((Atom("system_msg"), "call 0312345678 for maintenance")))
    surprise = {Atom("kind"): "x", "a": 1, "b": (1, None)}
    await simulator.send_raw(
        etf.encode((Atom("surprise"), [Atom("new"), "taro@example.jp"], surprise))
    )
    await wait_for(
        hass, lambda: isinstance(init_integration.runtime_data.messages[-1][1], UnknownMessage)
    )

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)

    text = json.dumps(diagnostics, ensure_ascii=False)
    for secret in (TOKEN, PBX_DOMAIN, "09087654321", "田中", "山田", "@", pbx.user("201").label):
        assert secret not in text, secret
    for identifier in (*call.legs, "1001", "201"):
        assert f'"{identifier}"' not in text, identifier
    assert datetime.fromisoformat(diagnostics["connection"]["stats"]["connected_since"])

    # Pseudonyms link what the PBX linked: a leg to its other leg, a leg to its user.
    messages = diagnostics["messages"]
    users = next(m for m in messages if m["type"] == "Snapshot" and m["entity"] == "user")
    user_keys = {item["key"] for item in users["items"]}
    # Every change comes as `updated`; what happened is the leg's own last_event.
    answered = [
        m["item"]
        for m in messages
        if m["type"] == "Change" and m["item"]["fields"].get("last_event") == "CHANNEL_ANSWER"
    ]
    assert answered
    for leg in answered:
        assert leg["key"] == leg["fields"]["uuid"]
        assert leg["fields"]["state"][1] in {"calling", "bridged"}  # readable
    legs = [m["item"] for m in messages if m["type"] == "Change" and m["entity"] == "channel"]
    keys = {leg["key"] for leg in legs}
    linked = {leg["fields"]["other_uuid"] for leg in legs} - {None}
    assert linked
    assert linked <= keys
    assert {leg["fields"]["user_id"] for leg in legs} & user_keys
    terminal = next(m for m in messages if m["type"] == "Change" and m["entity"] == "terminal")
    assert terminal["item"]["fields"] == {"id": terminal["item"]["key"], "caller_id_name": REDACTED}

    assert diagnostics["field_specs"]["channel"][0] == "uuid"
    assert diagnostics["counts"]["extensions"] == 4
    notice, unknown = diagnostics["messages"][-2:]
    assert notice == {
        "at": notice["at"],
        "type": "Notice",
        "kind": "system_msg",
        "text": REDACTED,
    }
    assert unknown["term"][:2] == ["surprise", ["new", REDACTED]]
    # Map keys that are not atoms become tokens: still three keys, none of them readable.
    assert sorted(unknown["term"][2].values(), key=str) == [
        REDACTED,
        REDACTED,
        [REDACTED, "undefined"],
    ]
    assert "kind" in unknown["term"][2]
    assert "Change" in {message["type"] for message in diagnostics["messages"]}
    assert diagnostics == snapshot(
        exclude=props("at", "connected_since", "bytes", "frames", "messages", "server", "key")
    )


async def test_diagnostics_after_refused_token(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    simulator: SimulatorServer,
    init_integration: MockConfigEntry,
) -> None:
    """Error texts name the domain for the user; diagnostics still do not."""
    simulator.revoke_token("other")
    await wait_for(hass, lambda: not init_integration.runtime_data.connected, within=10)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    history = diagnostics["connection"]["history"]
    assert history[-1]["connected"] is False
    assert "refused" in history[-1]["reason"]
    assert PBX_DOMAIN not in json.dumps(diagnostics, ensure_ascii=False)
