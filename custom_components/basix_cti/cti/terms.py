"""Python types for the Erlang terms that have no natural Python equivalent."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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


# Decimal text of an integer costs time quadratic in its length, and Python refuses it past
# `sys.get_int_max_str_digits()` (4,300 by default). Below this many bits (about 4,200 digits)
# every interpreter writes it; past them `int_text` writes hexadecimal, which costs linear time
# and has no limit.
DECIMAL_BITS: Final = 14_000


def int_text(value: int) -> str:
    """Return an integer as text: decimal, or hexadecimal (`0x...`) when too long for decimal.

    A frame may carry an integer of millions of digits; `str()` of it raises `ValueError`, and
    wherever a value from the wire becomes text (an id, a cause, a JSON line, a field name) that
    must not happen. The hexadecimal form is exact, so two different integers stay different.
    """
    if value.bit_length() <= DECIMAL_BITS:
        return str(int(value))
    return f"{int(value):#x}"


def as_text(value: object) -> str:
    """Return `str(value)` for any decoded term, never raising.

    Integers go through `int_text`; a container whose text would hold a huge integer, or any
    other value whose `str()` fails, gives a short placeholder naming its type.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return int_text(value)
    try:
        return str(value)
    except ValueError:
        return f"<{type(value).__name__} too large to show>"


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


def exact_identity(term: Any) -> Any:
    """A hashable value equal for two decoded terms exactly when they are the same Erlang term.

    Python's equality is looser than Erlang's exact equality (`=:=`, which map keys use): `1`,
    `1.0` and `true` are equal in Python, so are an atom and STRING_EXT text of the same
    letters, and a list key (made a tuple to be hashable) and a tuple. The identity tags each
    term with its Erlang type. STRING_EXT text is a list of bytes, as in Erlang, so `"ab"` and
    `[97, 98]` are one term. Floats keep their sign: `0.0` and `-0.0` are two keys, as in
    Erlang/OTP 27 and later.

    A tuple inside a map that is itself a key cannot be told from a list there (both are
    tuples by then); everywhere else the identity is exact.
    """
    kind = type(term)
    if kind is Atom:
        return ("atom", str(term))
    if kind is bool:
        return ("atom", "true" if term else "false")
    if kind is int:
        return ("int", term)
    if kind is bytes:
        return ("binary", term)
    if kind is str:  # STRING_EXT: a list of small integers
        return ("list", tuple(("int", ord(char)) for char in term))
    if kind is float:
        return ("float", term.hex())
    if kind is list:
        return ("list", tuple(exact_identity(item) for item in term))
    if kind is tuple:
        return ("tuple", tuple(exact_identity(item) for item in term))
    if kind is ExactKey:
        return term.identity
    if isinstance(term, Mapping):
        return (
            "map",
            frozenset((exact_identity(k), exact_identity(v)) for k, v in term.items()),
        )
    if kind is ImproperList:
        return (
            "improper",
            tuple(exact_identity(item) for item in term.elements),
            exact_identity(term.tail),
        )
    if kind is BitBinary:
        return ("bits", term.data, term.bits)
    return (kind.__name__, term)


@dataclass(frozen=True, slots=True, eq=False)
class ExactKey:
    """A map key that Python would take for another key of the same map.

    `#{1 => a, 1.0 => b}`, `#{[] => a, {} => b}` and `#{x => a, "x" => b}` hold two keys each in
    Erlang, one in a Python dict. The decoder wraps every key of such a clash in an ExactKey,
    which compares by the Erlang term (`exact_identity`), so no pair is lost; keys that clash
    with nothing stay plain. `term` is the key as decoded (a list stays a list); the encoder
    writes it back as it came.
    """

    term: Any
    identity: Any = field(repr=False)

    @classmethod
    def of(cls, term: Any) -> ExactKey:
        """Wrap `term`, computing its identity."""
        return cls(term, exact_identity(term))

    def __eq__(self, other: object) -> bool:
        """Equal to another ExactKey of the same Erlang term, and to nothing else."""
        if isinstance(other, ExactKey):
            return bool(self.identity == other.identity)
        return NotImplemented

    def __hash__(self) -> int:
        """Hash the Erlang identity, so that clashing keys hash apart too."""
        return hash(self.identity)
