"""Diagnostics: what a user with a real PBX sends us when the protocol surprises us.

Everything personal is redacted: the token and API user, the domain, and in records every
phone number, name, e-mail address and address-book entry. Fields this version does not know
are kept (they are why diagnostics exist) with any text that looks like a number or an address
blanked out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
import re
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_API_TOKEN, CONF_API_USER, CONF_DOMAIN, CONF_SCOPE_VALUE
from .coordinator import BasixConfigEntry
from .cti.export import to_json
from .cti.models import Change, Message, Notice, Record, Snapshot, UnknownMessage

TO_REDACT_CONFIG = {CONF_API_TOKEN, CONF_API_USER, CONF_DOMAIN, CONF_SCOPE_VALUE}

# Record fields that hold people: whole values go.
PERSONAL_FIELDS = {
    "address",
    "avatar",
    "called_number",
    "calling_name",
    "calling_number",
    "did",
    "email",
    "end_user",
    "label",
    "name",
    "origination",
    "other_info",
    "parker_name",
    "target",
    "target_name",
    "user_label",
    "user_name",
}
# In fields we do not know: anything with a run of digits (a phone number) or an @ (e-mail).
_LOOKS_PERSONAL = re.compile(r"\d{4,}|@")
SNAPSHOT_ITEMS_SHOWN = 5


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: BasixConfigEntry
) -> dict[str, Any]:
    """The connection, what the PBX told us, and the last messages, redacted."""
    coordinator = entry.runtime_data
    state = coordinator.state
    diagnostics: dict[str, Any] = {
        "config": async_redact_data(dict(entry.data), TO_REDACT_CONFIG),
        "options": dict(entry.options),
        "connection": {
            "connected": coordinator.connected,
            "stats": _scrub(asdict(coordinator.client.stats)),
            "history": [
                {"at": at.isoformat(), "connected": connected, "reason": reason}
                for at, connected, reason in coordinator.connection_log
            ],
        },
        "field_specs": {entity: list(spec) for entity, spec in state.field_specs.items()},
        "counts": {
            "channels": len(state.channels),
            "users": len(state.users),
            "groups": len(state.groups),
            "mwi": len(state.mwi),
            "extensions": len(coordinator.extensions),
            "active_calls": coordinator.tracker.active_calls,
        },
        "problems": dict(coordinator.reporter.counts),
        "messages": [
            {"at": at.isoformat(), **_message(message)} for at, message in coordinator.messages
        ],
    }
    # Error texts name the domain and API user (so that a user knows which entry is meant).
    secrets = [entry.data.get(key) for key in TO_REDACT_CONFIG]
    if named := [re.escape(secret) for secret in secrets if isinstance(secret, str) and secret]:
        pattern = re.compile("|".join(named))
        diagnostics = _map_text(diagnostics, lambda text: pattern.sub(REDACTED, text))
    return diagnostics


def _message(message: Message) -> dict[str, Any]:
    kind = type(message).__name__
    match message:
        case Snapshot(entity=entity, items=items):
            return {
                "type": kind,
                "entity": entity,
                "count": len(items),
                "items": [_record(item) for item in items[:SNAPSHOT_ITEMS_SHOWN]],
            }
        case Change(entity=entity, item=item, event=event):
            return {"type": kind, "entity": entity, "event": event, "item": _record(item)}
        case Notice(kind=notice, text=text):
            return {"type": kind, "kind": notice, "text": _scrub(text)}
        case UnknownMessage(term=term):
            return {"type": kind, "term": _scrub(term)}
    return {"type": kind, **_scrub(asdict(message))}


def _record(record: Record) -> dict[str, Any]:
    raw = {
        key: REDACTED if key in PERSONAL_FIELDS and value is not None else _scrub(value)
        for key, value in record.fields.items()
    }
    if (state := raw.get("state")) and isinstance(state, list | tuple) and len(state) > 1:
        # The state's name says where a call is; its details name people.
        raw["state"] = [state[0], state[1], REDACTED] if len(state) > 2 else list(state)
    return {"key": record.key, "fields": raw}


def _scrub(value: Any) -> Any:
    """Plain JSON, with any text that looks like a number or an address blanked out."""
    return _map_text(
        to_json(value), lambda text: REDACTED if _LOOKS_PERSONAL.search(text) else text
    )


def _map_text(value: Any, change: Callable[[str], str]) -> Any:
    """Apply `change` to every text of a JSON value."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {key: _map_text(item, change) for key, item in value.items()}
    if isinstance(value, list):
        return [_map_text(item, change) for item in value]
    return value
