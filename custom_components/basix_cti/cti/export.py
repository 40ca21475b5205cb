"""Plain JSON values from anything the protocol layer produces.

Used wherever decoded data leaves the process: the monitor's JSON lines, Home Assistant's bus
events and diagnostics. Atoms become text, tuples lists, datetimes ISO 8601 text, dataclasses
objects.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from datetime import date, datetime, time
from enum import Enum
import json
from typing import Any

from .terms import DECIMAL_BITS, int_text


def to_json(value: Any) -> Any:
    """Turn a message (or any part of one) into plain JSON values.

    Dataclasses become objects, datetimes ISO 8601 text, bytes their Python repr (they are what
    could not be read as text, so the exact bytes matter in a bug report), anything unknown its
    repr.
    """
    match value:
        case None | bool() | float():
            return value
        case int():
            # Python cannot write a huge integer as a JSON number (ValueError): it becomes text.
            return value if value.bit_length() <= DECIMAL_BITS else int_text(value)
        case Enum():
            return to_json(value.value)
        case str():
            return str(value)  # an Atom is a str: plain text in JSON
        case datetime() | date() | time():
            return value.isoformat()
        case bytes() | bytearray() | memoryview():
            return repr(bytes(value))
        case _ if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {
                item.name: to_json(getattr(value, item.name)) for item in dataclasses.fields(value)
            }
        case Mapping():
            return {_key(key): to_json(item) for key, item in value.items()}
        case list() | tuple() | set() | frozenset():
            return [to_json(item) for item in value]
        case _:
            return repr(value)


def _key(key: Any) -> str:
    return key if isinstance(key, str) else json.dumps(to_json(key), ensure_ascii=False)
