"""Device triggers: the automation editor offers each call event on the extension's device."""

from __future__ import annotations

from homeassistant.components import automation
from homeassistant.components.device_automation import DeviceAutomationType
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_get_device_automations,
)

from basix_simulator.pbx import Pbx
from custom_components.basix_cti.const import DOMAIN
from custom_components.basix_cti.coordinator import device_identifier

from .conftest import wait_for

TYPES = ("incoming_call", "outgoing_call", "answered", "missed", "ended")


def _device(hass: HomeAssistant, entry: MockConfigEntry, user_id: str | None) -> str:
    device = dr.async_get(hass).async_get_device_by_identifier(
        device_identifier(entry, user_id), entry.entry_id
    )
    assert device is not None
    return device.id


async def test_offered_on_extensions_only(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Every call event type on an extension; none on the PBX device."""
    extension = _device(hass, init_integration, "1001")
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, extension)
    ours = {t["type"] for t in triggers if t["domain"] == DOMAIN}
    assert ours == set(TYPES)
    # Next to the voicemail ones of the binary sensor, which stay.
    assert any(t["domain"] == "binary_sensor" for t in triggers)

    group = next(iter(init_integration.runtime_data.groups.values()))
    triggers = await async_get_device_automations(
        hass, DeviceAutomationType.TRIGGER, _device(hass, init_integration, group.key)
    )
    assert {t["type"] for t in triggers if t["domain"] == DOMAIN} == set(TYPES) - {"outgoing_call"}

    pbx_device = _device(hass, init_integration, None)
    triggers = await async_get_device_automations(hass, DeviceAutomationType.TRIGGER, pbx_device)
    assert not [t for t in triggers if t["domain"] == DOMAIN]


async def test_each_trigger_fires_on_its_event(
    hass: HomeAssistant, pbx: Pbx, init_integration: MockConfigEntry
) -> None:
    """An automation per type, on 201's device: each runs once on its event, with the caller."""
    device_id = _device(hass, init_integration, "1001")
    other = _device(hass, init_integration, "1002")
    runs: list[tuple[str, str | None]] = []

    async def record(call: ServiceCall) -> None:
        runs.append((call.data["type"], call.data.get("caller")))

    hass.services.async_register("test", "record", record)
    assert await async_setup_component(
        hass,
        automation.DOMAIN,
        {
            automation.DOMAIN: [
                {
                    "triggers": [
                        {
                            "trigger": "device",
                            "domain": DOMAIN,
                            "device_id": device,
                            "type": kind,
                        }
                    ],
                    "actions": [
                        {
                            "action": "test.record",
                            "data": {
                                "type": f"{'' if device == device_id else 'other:'}{kind}",
                                "caller": "{{ trigger.event.data.caller_number }}",
                            },
                        }
                    ],
                }
                for kind in TYPES
                for device in (device_id, other)
            ]
        },
    )

    call = pbx.incoming_call(to="201", caller="0312345678")
    pbx.answer(call)
    pbx.hangup(call)
    missed = pbx.incoming_call(to="201", caller="0399999999")
    await wait_for(hass, lambda: ("incoming_call", "0399999999") in runs)
    pbx.caller_hangs_up(missed)
    outgoing = pbx.outgoing_call("201", "0120444444")
    await wait_for(hass, lambda: ("missed", "0399999999") in runs)
    pbx.hangup(outgoing)
    await wait_for(hass, lambda: len(runs) == 7)
    await hass.async_block_till_done()
    assert sorted(kind for kind, _ in runs) == sorted(
        ["incoming_call", "answered", "ended", "incoming_call", "missed", "outgoing_call", "ended"]
    )
    assert ("answered", "0312345678") in runs
