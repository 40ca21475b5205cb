"""Python types for the Erlang terms that have no natural Python equivalent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class Atom(str):
    """An Erlang atom: a `str`, so it compares equal to its name, but still tells itself apart."""

    __slots__ = ()

    def __repr__(self) -> str:
        """Show that this is an atom, not a text value."""
        return f"Atom({str.__repr__(self)})"


@dataclass(frozen=True, slots=True)
class ImproperList:
    """A list whose last tail is not `[]`: `[1, 2 | tail]`."""

    elements: tuple[Any, ...]
    tail: Any


@dataclass(frozen=True, slots=True)
class BitBinary:
    """A bitstring whose last byte is only partly used (`bits` of its high bits, 1 to 8)."""

    data: bytes
    bits: int


class EtfDecodeError(ValueError):
    """A frame that is not a well-formed External Term Format term."""

    def __init__(self, offset: int, reason: str) -> None:
        """Name the byte offset where decoding stopped and what was wrong there."""
        super().__init__(f"ETF decode error at byte {offset}: {reason}")
        self.offset = offset
        self.reason = reason
