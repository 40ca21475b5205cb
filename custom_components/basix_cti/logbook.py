"""Call events in the logbook, as words with the caller: "Missed call from 山田 花子 (0312345678)".

The logbook has no translations of its own for an integration's events, and describes them
without awaiting (possibly in the recorder's thread). So the words come from this integration's
translations (`common`, keys `logbook_*`), loaded in the configured language when the entry is
set up and again when the language changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from homeassistant.components.logbook import (
    LOGBOOK_ENTRY_ENTITY_ID,
    LOGBOOK_ENTRY_MESSAGE,
    LOGBOOK_ENTRY_NAME,
)
from homeassistant.const import EVENT_CORE_CONFIG_UPDATE
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.translation import (
    async_get_cached_translations,
    async_get_translations,
)

from .const import DOMAIN, EVENT_CALL
from .coordinator import BasixConfigEntry

_CATEGORY = "common"
_PREFIX = f"component.{DOMAIN}.{_CATEGORY}.logbook_"
# Used when neither the configured language nor English is loaded (never after a set-up).
_FALLBACK = {
    "party_unknown": "an unknown number",
    "incoming_call": "Incoming call from {party}",
    "outgoing_call": "Calling {party}",
    "answered_incoming": "Answered call from {party}",
    "answered_outgoing": "{party} answered",
    "missed": "Missed call from {party}",
    "missed_voicemail": "Missed call from {party}, sent to voicemail",
    "ended_incoming": "Call from {party} ended after {duration}",
    "ended_outgoing": "Call to {party} ended after {duration}",
    "not_answered": "Call to {party} was not answered",
    "answered_elsewhere": "Call from {party} was answered on another phone",
    "picked_up": "Call from {party} was picked up by a colleague",
    "busy": "{party} was busy",
    "refused": "Call to {party} was refused",
    "seconds": "{seconds} s",
    "minutes": "{minutes} min",
    "hours": "{hours} h {minutes} min",
}


async def async_load_logbook_texts(hass: HomeAssistant, entry: BasixConfigEntry) -> None:
    """Load the logbook's words in the configured language (and English), now and on change."""

    async def load() -> None:
        for language in {hass.config.language, "en"}:
            await async_get_translations(hass, language, _CATEGORY, [DOMAIN])

    async def reload(_: Event) -> None:
        await load()

    await load()
    entry.async_on_unload(hass.bus.async_listen(EVENT_CORE_CONFIG_UPDATE, reload))


def _texts(hass: HomeAssistant) -> Callable[[str], str]:
    cached = async_get_cached_translations(hass, hass.config.language, _CATEGORY, DOMAIN)
    english = async_get_cached_translations(hass, "en", _CATEGORY, DOMAIN)

    def text(key: str) -> str:
        full = f"{_PREFIX}{key}"
        return cached.get(full) or english.get(full) or _FALLBACK[key]

    return text


def _duration(text: Callable[[str], str], seconds: float) -> str:
    """Seconds under a minute, minutes under an hour, then hours and minutes."""
    if seconds < 60:
        return text("seconds").format(seconds=round(seconds))
    minutes = round(seconds / 60)
    if minutes < 60:
        return text("minutes").format(minutes=minutes)
    return text("hours").format(hours=minutes // 60, minutes=minutes % 60)


def _party(data: Mapping[str, Any], text: Callable[[str], str]) -> str:
    """The other party as "name (number)", or whichever of the two the PBX knows."""
    if data.get("direction") == "outgoing":
        name = data.get("remote_name")
        number = data.get("remote_number") or data.get("called_number")
    else:
        name = data.get("remote_name") or data.get("caller_name")
        number = data.get("caller_number") or data.get("remote_number")
    if name and number and name != number:
        return f"{name} ({number})"
    return str(name or number or text("party_unknown"))


def describe_call(data: Mapping[str, Any], text: Callable[[str], str]) -> str:
    """One call event in words."""
    kind = data.get("type")
    outgoing = data.get("direction") == "outgoing"
    reason = data.get("reason")
    if kind == "missed":
        key = "missed_voicemail" if reason == "voicemail" else "missed"
    elif kind == "answered":
        key = "answered_outgoing" if outgoing else "answered_incoming"
    elif kind == "ended" and reason in ("answered_elsewhere", "picked_up", "busy", "refused"):
        key = str(reason)
    elif kind == "ended" and reason is not None:
        key = "not_answered"
    elif kind == "ended":
        key = "ended_outgoing" if outgoing else "ended_incoming"
    else:
        key = "outgoing_call" if kind == "outgoing_call" else "incoming_call"
    duration = _duration(text, float(data.get("duration") or 0))
    return text(key).format(party=_party(data, text), duration=duration)


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, Callable[[Event], dict[str, str]]], None],
) -> None:
    """Describe `basix_cti_call` events: the extension's name, and the call in words."""

    @callback
    def async_describe_call(event: Event) -> dict[str, str]:
        data = event.data
        entry = {LOGBOOK_ENTRY_MESSAGE: describe_call(data, _texts(hass))}
        device = dr.async_get(hass).async_get(data.get("device_id") or "")
        name = (device.name_by_user or device.name) if device else None
        entry[LOGBOOK_ENTRY_NAME] = name or str(data.get("extension") or data.get("user_id"))
        if entity_id := data.get("entity_id"):
            entry[LOGBOOK_ENTRY_ENTITY_ID] = entity_id
        return entry

    async_describe_event(DOMAIN, EVENT_CALL, async_describe_call)
