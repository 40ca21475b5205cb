"""Python types for the Erlang terms that have no natural Python equivalent."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

# Integer, float and tuple hashes are not randomised: a peer can choose thousands of keys with
# one hash value, and building a dict of them then takes quadratic time (80,000 such keys fit
# in 1 MB and would take minutes). Up to this many clashes cost nothing worth guarding.
MAX_HASH_CLASHES: Final = 64


def hash_flooding(keys: Sequence[Any]) -> int | None:
    """Return the number of distinct hashes of `keys` if a dict of them would be too slow to build.

    None when the keys are fine: at most `MAX_HASH_CLASHES` of them share a hash value with
    another (equal keys count as sharing one). The keys must be hashable. Used by the decoder
    for maps and by the protocol layer for BERT dicts, so both refuse the same keys.
    """
    if len(keys) <= MAX_HASH_CLASHES:
        return None
    distinct = len({hash(key) for key in keys})
    return distinct if len(keys) - distinct > MAX_HASH_CLASHES else None


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
    """A bitstring whose last byte is only partly used (`bits` of its high bits, 1 to 8).

    The decoder gives `bytes` for 8 (a whole last byte is a plain binary, as in Erlang) and zeroes
    the unused low bits, so equal bitstrings compare equal.
    """

    data: bytes
    bits: int


class EtfDecodeError(ValueError):
    """A frame that is not a well-formed External Term Format term."""

    def __init__(self, offset: int, reason: str) -> None:
        """Name the byte offset where decoding stopped and what was wrong there."""
        super().__init__(f"ETF decode error at byte {offset}: {reason}")
        self.offset = offset
        self.reason = reason


class FrozenMap(Mapping[Any, Any]):
    """An immutable, hashable map: what a map becomes when it is itself a map key.

    Python dicts cannot be dict keys, Erlang maps can (`#{#{a => 1} => x}`); the decoder turns
    such a key into a FrozenMap, which compares equal to a dict with the same items.
    """

    __slots__ = ("_hash", "_items")

    def __init__(self, items: Mapping[Any, Any] | Iterable[tuple[Any, Any]] = ()) -> None:
        """Copy `items` (a mapping or key-value pairs); keys and values must be hashable."""
        self._items: dict[Any, Any] = dict(items)
        self._hash: int | None = None

    def __getitem__(self, key: Any) -> Any:
        """Return the value stored for `key`."""
        return self._items[key]

    def __iter__(self) -> Iterator[Any]:
        """Iterate over the keys, in the order they came."""
        return iter(self._items)

    def __len__(self) -> int:
        """Return the number of items."""
        return len(self._items)

    def __hash__(self) -> int:
        """Hash the items regardless of their order, as equality ignores order too."""
        if self._hash is None:
            self._hash = hash(frozenset(self._items.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        """Compare equal to any mapping with the same items."""
        if isinstance(other, FrozenMap):
            return self._items == other._items
        if isinstance(other, Mapping):
            return self._items == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        """Show the items like a dict literal."""
        return f"FrozenMap({self._items!r})"
