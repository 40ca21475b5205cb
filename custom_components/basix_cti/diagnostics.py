"""Diagnostics: what a user with a real PBX sends us when the protocol surprises us.

Redaction is by allow-list, because a PBX sends fields this version does not know (a real
frame's `caller_id_name`) and any of them may name a person:
- fields known to be harmless (directions, states, events, timestamps, counts, flags) stay;
- identifiers (uuids, user and group ids, extensions) become pseudonyms, the same token for
  the same value everywhere in the file (record keys included), so that one can still follow
  a leg to its other leg and a call to its user;
- every other value is redacted, except atoms: they are the protocol's own vocabulary (message
  tags, event and state names), which is exactly what a surprising frame needs to show.
The integration's own texts (connection errors) stay readable without the entry's domain, API
user and token, and without what a server put in quotes unless it reads like a plain reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import date, datetime, time
import re
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_API_TOKEN, CONF_API_USER, CONF_DOMAIN, CONF_SCOPE_VALUE
from .coordinator import BasixConfigEntry
from .cti.export import to_json
from .cti.models import Change, Message, Notice, Record, Snapshot, UnknownMessage
from .cti.terms import Atom

TO_REDACT_CONFIG = {CONF_API_TOKEN, CONF_API_USER, CONF_DOMAIN, CONF_SCOPE_VALUE}

# Record fields that never name anyone: kept as they come.
HARMLESS_FIELDS = frozenset(
    {
        "answer_timestamp",
        "answered_at",
        "check_login_status",
        "direction",
        "do_not_disturb_status",
        "flags",
        "fwd_always_status",
        "hangup_timestamp",
        "hungup_at",
        "language",
        "last_event",
        "last_event_data",
        "login_status",
        "mwi",
        "new_messages",
        "offer_timestamp",
        "offered_at",
        "old_messages",
        "peer_location",
        "presence",
        "priority",
        "registered",
        "role",
        "tags",
        "type",
    }
)
# Record fields that identify a leg, a user, a group or a box: pseudonyms.
IDENTIFIER_FIELDS = frozenset(
    {"extension", "id", "mailbox", "main_extension", "members", "park_group", "uuid"}
)
_IDENTIFIER_SUFFIXES = ("_id", "_uuid")
# Notices the PBX is known to send: their text is a code, not a message from a person.
KNOWN_NOTICES = frozenset({"connection_limit_reached", "connection_replaced", "logout"})
# What a server may say in a close reason and still be shown: lower-case words, no digits.
_PLAIN_REASON = re.compile(r"[a-z_ .,:;!-]*")
_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")
SNAPSHOT_ITEMS_SHOWN = 5


class Pseudonyms:
    """Stable stand-ins for identifiers: the same value gets the same token in one file."""

    def __init__(self) -> None:
        """Start a file: no value seen yet."""
        self._tokens: dict[str, str] = {}

    def __call__(self, value: Any) -> Any:
        """The token of an identifier; no value (None, empty) stays as it is."""
        if value is None or value == "" or isinstance(value, bool):
            return value
        text = str(value)
        token = self._tokens.get(text)
        if token is None:
            token = self._tokens[text] = f"#{len(self._tokens) + 1}"
        return token


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: BasixConfigEntry
) -> dict[str, Any]:
    """The connection, what the PBX told us, and the last messages, redacted."""
    coordinator = entry.runtime_data
    state = coordinator.state
    # Error texts name the domain and API user (so that a user knows which entry is meant).
    secrets = [entry.data.get(key) for key in TO_REDACT_CONFIG]
    secret_pattern = re.compile(
        "|".join(re.escape(secret) for secret in secrets if isinstance(secret, str) and secret)
    )

    def own_text(text: str | None) -> str | None:
        return None if text is None else _own_text(text, secret_pattern)

    reader = _Reader(Pseudonyms())
    stats = to_json(asdict(coordinator.client.stats))
    stats["last_error"] = own_text(stats["last_error"])
    return {
        "config": async_redact_data(dict(entry.data), TO_REDACT_CONFIG),
        "options": dict(entry.options),
        "connection": {
            "connected": coordinator.connected,
            "stats": stats,
            "history": [
                {"at": at.isoformat(), "connected": connected, "reason": own_text(reason)}
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
            {"at": at.isoformat(), **reader.message(message)}
            for at, message in coordinator.messages
        ],
    }


def _own_text(text: str, secrets: re.Pattern[str]) -> str:
    """One of the integration's texts: the entry's secrets out, and odd quoted server words."""
    text = secrets.sub(REDACTED, text)

    def quoted(match: re.Match[str]) -> str:
        said = match.group(1) if match.group(1) is not None else match.group(2)
        return match.group(0) if _PLAIN_REASON.fullmatch(said) else REDACTED

    return _QUOTED.sub(quoted, text)


class _Reader:
    """Messages as diagnostics show them, with one set of pseudonyms for the whole file."""

    def __init__(self, pseudonym: Pseudonyms) -> None:
        self._pseudonym = pseudonym

    def message(self, message: Message) -> dict[str, Any]:
        kind = type(message).__name__
        match message:
            case Snapshot(entity=entity, items=items):
                return {
                    "type": kind,
                    "entity": entity,
                    "count": len(items),
                    "items": [self.record(item) for item in items[:SNAPSHOT_ITEMS_SHOWN]],
                }
            case Change(entity=entity, item=item, event=event):
                return {"type": kind, "entity": entity, "event": event, "item": self.record(item)}
            case Notice(kind=notice, text=text):
                shown = text if text is None or text in KNOWN_NOTICES else REDACTED
                return {"type": kind, "kind": notice, "text": shown}
            case UnknownMessage(term=term):
                return {"type": kind, "term": to_json(self._unknown(term))}
        # A field spec: entity and field names are the protocol's vocabulary.
        return {"type": kind, **to_json(asdict(message))}

    def record(self, record: Record) -> dict[str, Any]:
        return {
            "key": self._pseudonym(record.key),
            "fields": {
                key: to_json(self._field(key, value)) for key, value in record.fields.items()
            },
        }

    def _field(self, name: str, value: Any) -> Any:
        if name in HARMLESS_FIELDS:
            return value
        if name in IDENTIFIER_FIELDS or name.endswith(_IDENTIFIER_SUFFIXES):
            return _map_leaves(value, self._pseudonym)
        if name == "state" and isinstance(value, tuple | list) and len(value) > 1:
            # When, and the state's name; its details are ids and names: tokens for both.
            ts, state, *details = value
            return [ts, state, *(_map_leaves(detail, self._keep_atom) for detail in details)]
        return self._unknown(value)

    def _keep_atom(self, value: Any) -> Any:
        return value if isinstance(value, Atom) else self._pseudonym(value)

    def _unknown(self, value: Any) -> Any:
        """A value not known to be harmless: only its shape, atoms and times stay."""
        match value:
            case None | bool() | Atom() | datetime() | date() | time():
                return value
            case Mapping():
                return {self._key(key): self._unknown(item) for key, item in value.items()}
            case list() | tuple():
                return [self._unknown(item) for item in value]
        return REDACTED

    def _key(self, key: Any) -> Any:
        # Distinct keys stay distinct: a redacted key would merge them.
        return key if isinstance(key, Atom) else self._pseudonym(key)


def _map_leaves(value: Any, change: Callable[[Any], Any]) -> Any:
    """Apply `change` to every value inside lists and tuples."""
    if isinstance(value, list | tuple):
        return [_map_leaves(item, change) for item in value]
    return change(value)
