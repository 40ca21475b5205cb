"""Erlang External Term Format (ETF, "BERT") codec in pure Python: `decode` and `encode`.

Frames come from a network peer, so `decode` treats its input as hostile:

- every length and element count is checked against the bytes that remain before anything is
  built (each element needs at least one byte), so a short frame claiming 4 billion elements
  fails at once;
- nesting deeper than `max_depth` is an error (containers count a level each);
- a frame holding more than `max_terms` terms in its tuples, lists and maps is an error, found
  when a container declares its size, before its elements are built: one byte of input (`[]`,
  NIL) builds a Python object of some 60 bytes, so the bytes alone do not bound the memory;
- a compressed term (tag 80, only at the top, as Erlang writes it) declares its inflated size:
  more than `max_inflated` is refused before inflating, and inflation is bounded by that size, so
  a "zip bomb" costs at most `max_inflated` bytes; a size that lies either way is an error;
- a big integer is only as large as the frame that carries it; Python builds it in linear time
  (turning a huge one into text later is the caller's business: `sys.set_int_max_str_digits`);
- a large map whose keys were chosen to share one hash value (quadratic dict building) is
  refused;
- what Erlang's `binary_to_term/1` refuses is refused: an atom of more than 255 characters, a
  map holding one key twice, a compressed term whose declared size is wrong;
- whatever is wrong, `decode` raises `EtfDecodeError` (a `ValueError`) naming the byte offset.

`decode` refuses bytes after the term; `decode_frame` reads a frame as Erlang does, ignoring
them, and says how many there were (and how many terms the frame holds, which tells what
reading it further costs).

Decoded types: integers -> `int`; floats -> `float`; atoms -> `Atom` (a `str`), except `true` and
`false` -> `bool`; tuples -> `tuple`; proper lists -> `list`; improper lists -> `ImproperList`;
STRING_EXT (Erlang's compact form of a list of bytes) -> `str`, one character per byte; binaries
-> `bytes` (text decoding belongs to the protocol layer); bitstrings -> `BitBinary`; maps ->
`dict`, where a key Python cannot hash becomes hashable (lists -> tuples, maps -> `FrozenMap`).
Keys that Python's equality would merge though Erlang keeps them apart (`1`, `1.0` and `true`;
`[]` and `{}`) become `ExactKey`s, so that no pair is lost (see `terms.exact_identity`).
Pids, ports, references and funs have no meaning for this client and are rejected.

A list whose tail is another list (`[a | [b]]`, which Erlang does not write) is read into one
flat list, in a loop: its chain of tails costs neither copies nor nesting levels.

Speed, in pure Python: one pass over a `bytes` object with an offset (a `bytearray` or
`memoryview` is copied to `bytes` once), lengths read with `struct.unpack_from`, a list indexed by
tag for dispatch, the commonest leaves decoded inline in the container loop, and atoms reused
from a bounded cache. `benchmarks/etf.py` compares it with other pure-Python decoders.

`encode` is the inverse on those types, plus `None` -> atom `undefined` and `str` -> a UTF-8
binary, as BERT does. So a `str` comes back from a round trip as `bytes`: a round trip is exact
over the values `decode` produces except STRING_EXT's `str`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
import math
import re
import struct
from typing import Any, Final, Literal
import zlib

from .terms import (
    MAX_HASH_CLASHES,
    Atom,
    BitBinary,
    EtfDecodeError,
    ExactKey,
    FrozenMap,
    ImproperList,
    exact_identity,
    hash_flooding,
)

__all__ = [
    "Atom",
    "BitBinary",
    "EtfDecodeError",
    "ExactKey",
    "Frame",
    "FrozenMap",
    "ImproperList",
    "declared_size",
    "decode",
    "decode_frame",
    "encode",
]

VERSION: Final = 131

# Default bounds of `decode`. The reference frame, a snapshot of 10,000 channels, is 4.9 MB
# and 353,000 terms, 14 MiB once decoded: `MAX_TERMS` leaves it room nearly three times over
# (some 28,000 such channels, 14 MB of records). The costliest terms, empty lists, take 64
# bytes each with their place in the list that holds them; every other term is cheaper or paid
# for by its own bytes (a binary, a big integer), and an atom not taken from the cache is
# charged by its length. So no frame can make the decoder build much more than
# 64 B x MAX_TERMS + MAX_INFLATED: some 80 MiB (docs/architecture.md, "Hostile frames").
MAX_DEPTH: Final = 256
MAX_INFLATED: Final = 16 * 1024 * 1024
MAX_TERMS: Final = 1_000_000
# Erlang refuses longer atoms (a UTF-8 character takes up to 4 bytes).
MAX_ATOM_CHARS: Final = 255
_MAX_ATOM_BYTES: Final = 4 * MAX_ATOM_CHARS

_U16 = struct.Struct(">H").unpack_from
_U32 = struct.Struct(">I").unpack_from
_I32 = struct.Struct(">i").unpack_from
_F64 = struct.Struct(">d").unpack_from
_PACK_U16 = struct.Struct(">H").pack
_PACK_U32 = struct.Struct(">I").pack
_PACK_I32 = struct.Struct(">i").pack
_PACK_F64 = struct.Struct(">d").pack

# The tags this decoder refuses, by name, so that the error says what arrived.
_REFUSED_TAGS: Final = {
    88: "NEW_PID_EXT (a pid)",
    89: "NEW_PORT_EXT (a port)",
    90: "NEWER_REFERENCE_EXT (a reference)",
    101: "REFERENCE_EXT (a reference)",
    102: "PORT_EXT (a port)",
    103: "PID_EXT (a pid)",
    112: "NEW_FUN_EXT (a fun)",
    113: "EXPORT_EXT (a fun)",
    114: "NEW_REFERENCE_EXT (a reference)",
    117: "FUN_EXT (a fun)",
    120: "V4_PORT_EXT (a port)",
    121: "LOCAL_EXT (a node-local term)",
    82: "ATOM_CACHE_REF (only valid in the distribution protocol)",
    68: "DIST_HEADER (only valid in the distribution protocol)",
    80: "COMPRESSED (only valid right after the version byte)",
}

# Atoms repeat endlessly in this protocol (entity and state names, `undefined`), so a decoded
# Atom is reused instead of built again. The caches are bounded: a peer sending ever new atom
# names must not grow them without end; past the bound, new names are simply not cached.
# `true` and `false` are in them from the start (and never leave), so they come out as bools.
_ATOM_CACHE_MAX: Final = 4096
_UTF8_ATOMS: dict[bytes, Any] = {b"true": True, b"false": False}
_LATIN1_ATOMS: dict[bytes, Any] = {b"true": True, b"false": False}

# Old float format: sprintf("%.20e") text, NUL padded. Python's float() alone would also take
# "nan", "inf" and "1_0", which Erlang never writes.
_OLD_FLOAT: Final = re.compile(rb"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")

type _Handler = Callable[[bytes, int, int, list[int]], tuple[Any, int]]

# Indexed by tag; filled in below, once the handlers exist.
_DISPATCH: list[_Handler] = []


def _short(pos: int, what: str, need: int, have: int) -> EtfDecodeError:
    return EtfDecodeError(pos, f"{what} declares {need} bytes but only {max(have, 0)} remain")


def _new_atom(  # noqa: PLR0917 - the slow path of the hottest loop
    data: bytes, start: int, end: int, tag_pos: int, utf8: bool, budget: list[int]
) -> Any:
    """Build (and cache) the atom `data[start:end]` that was not in its cache."""
    if end > len(data):
        raise _short(tag_pos, "atom", end - start, len(data) - start)
    if end - start > _MAX_ATOM_BYTES:
        raise EtfDecodeError(
            tag_pos, f"atom of {end - start} bytes is longer than Erlang's {MAX_ATOM_CHARS}"
        )
    raw = data[start:end]
    try:
        name = raw.decode("utf-8") if utf8 else raw.decode("latin-1")
    except UnicodeDecodeError as err:
        raise EtfDecodeError(start + err.start, "atom name is not valid UTF-8") from None
    if len(name) > MAX_ATOM_CHARS:
        raise EtfDecodeError(
            tag_pos, f"atom of {len(name)} characters is longer than Erlang's {MAX_ATOM_CHARS}"
        )
    # One character outside Latin-1 makes Python store the whole name in 2 or 4 bytes a
    # character: an atom not taken from the cache is charged for what it really takes.
    left = budget[0] - (len(name) >> 4)
    if left < 0:
        raise _too_many(tag_pos, budget)
    budget[0] = left
    atom = Atom(name)
    cache = _UTF8_ATOMS if utf8 else _LATIN1_ATOMS
    if len(cache) < _ATOM_CACHE_MAX:
        cache[raw] = atom
    return atom


# Handlers: called with `pos` just past the tag byte, return (value, position after the term).
# `depth` is how many more container levels may be opened; `budget` is shared by the whole
# decode: [how many more terms containers may hold, max_terms].


def _small_integer(data: bytes, pos: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    return data[pos], pos + 1


def _integer(data: bytes, pos: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    return _I32(data, pos)[0], pos + 4


def _small_big(data: bytes, pos: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    start = pos + 2
    end = start + data[pos]
    if end > len(data):
        raise _short(pos - 1, "big integer", end - start, len(data) - start)
    return _big(data, pos + 1, end)


def _large_big(data: bytes, pos: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    start = pos + 5
    end = start + _U32(data, pos)[0]
    if end > len(data):
        raise _short(pos - 1, "big integer", end - start, len(data) - start)
    return _big(data, pos + 4, end)


def _big(data: bytes, sign_pos: int, end: int) -> tuple[Any, int]:
    sign = data[sign_pos]
    value = int.from_bytes(data[sign_pos + 1 : end], "little")
    if sign == 0:
        return value, end
    if sign == 1:
        return -value, end
    raise EtfDecodeError(sign_pos, f"big integer sign byte is {sign}, not 0 or 1")


def _new_float(data: bytes, pos: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    value = _F64(data, pos)[0]
    if value - value != 0.0:  # NaN and infinities: Erlang has no such floats
        raise EtfDecodeError(pos, "float is NaN or infinite, which Erlang cannot write")
    return value, pos + 8


def _old_float(data: bytes, pos: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    end = pos + 31
    if end > len(data):
        raise _short(pos - 1, "old float", 31, len(data) - pos)
    text = data[pos:end].rstrip(b"\0")
    if not _OLD_FLOAT.fullmatch(text):
        raise EtfDecodeError(pos, f"old float text {text[:31]!r} is not a number")
    value = float(text)
    if value - value != 0.0:  # a huge exponent overflows to infinity
        raise EtfDecodeError(pos, f"old float text {text!r} is out of range")
    return value, end


def _atom_utf8(data: bytes, pos: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    end = pos + 2 + _U16(data, pos)[0]
    atom = _UTF8_ATOMS.get(data[pos + 2 : end])
    if atom is None or end > len(data):
        atom = _new_atom(data, pos + 2, end, pos - 1, True, budget)
    return atom, end


def _small_atom_utf8(data: bytes, pos: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    end = pos + 1 + data[pos]
    atom = _UTF8_ATOMS.get(data[pos + 1 : end])
    if atom is None or end > len(data):
        atom = _new_atom(data, pos + 1, end, pos - 1, True, budget)
    return atom, end


def _atom_latin1(data: bytes, pos: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    end = pos + 2 + _U16(data, pos)[0]
    atom = _LATIN1_ATOMS.get(data[pos + 2 : end])
    if atom is None or end > len(data):
        atom = _new_atom(data, pos + 2, end, pos - 1, False, budget)
    return atom, end


def _small_atom_latin1(data: bytes, pos: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    end = pos + 1 + data[pos]
    atom = _LATIN1_ATOMS.get(data[pos + 1 : end])
    if atom is None or end > len(data):
        atom = _new_atom(data, pos + 1, end, pos - 1, False, budget)
    return atom, end


def _nil(data: bytes, pos: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    return [], pos


def _string(data: bytes, pos: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    start = pos + 2
    end = start + _U16(data, pos)[0]
    if end > len(data):
        raise _short(pos - 1, "string", end - start, len(data) - start)
    return data[start:end].decode("latin-1"), end


def _binary(data: bytes, pos: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    start = pos + 4
    end = start + _U32(data, pos)[0]
    if end > len(data):
        raise _short(pos - 1, "binary", end - start, len(data) - start)
    return data[start:end], end


def _bit_binary(data: bytes, pos: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    n = _U32(data, pos)[0]
    bits = data[pos + 4]
    start = pos + 5
    end = start + n
    if end > len(data):
        raise _short(pos - 1, "bit binary", n, len(data) - start)
    if (n == 0) != (bits == 0) or bits > 8:
        raise EtfDecodeError(pos + 4, f"bit binary of {n} bytes says {bits} bits of its last byte")
    raw = data[start:end]
    if not n:
        return raw, end  # the empty bitstring is the empty binary, as erts reads it
    if bits == 8:
        return raw, end  # all bits of the last byte used: a plain binary, as in Erlang
    mask = (0xFF00 >> bits) & 0xFF
    last = raw[-1]
    if last & ~mask:
        # The unused low bits carry no value; zero them so equal bitstrings compare equal.
        raw = raw[:-1] + bytes((last & mask,))
    return BitBinary(raw, bits), end


def _too_deep(pos: int) -> EtfDecodeError:
    return EtfDecodeError(pos, "terms nest deeper than max_depth")


def _too_many(pos: int, budget: list[int]) -> EtfDecodeError:
    return EtfDecodeError(pos, f"frame holds more than max_terms={budget[1]} terms")


def _small_tuple(data: bytes, pos: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    return _sequence(data, pos + 1, depth, budget, data[pos], pos - 1, "tuple")


def _large_tuple(data: bytes, pos: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    return _sequence(data, pos + 4, depth, budget, _U32(data, pos)[0], pos - 1, "tuple")


def _list(data: bytes, pos: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    return _sequence(data, pos + 4, depth, budget, _U32(data, pos)[0], pos - 1, "list")


def _sequence(  # noqa: PLR0917 - positional arguments: this is the hottest call
    data: bytes,
    pos: int,
    depth: int,
    budget: list[int],
    count: int,
    tag_pos: int,
    kind: str,
    # Bound once, at definition: a default argument is read as fast as a local variable, and
    # a container's set-up cost is most of the cost of a small tuple.
    dispatch: list[_Handler] = _DISPATCH,
    utf8_atom: Callable[[bytes], Any] = _UTF8_ATOMS.get,
    latin1_atom: Callable[[bytes], Any] = _LATIN1_ATOMS.get,
    u32: Callable[[bytes, int], tuple[int]] = _U32,
    i32: Callable[[bytes, int], tuple[int]] = _I32,
    from_bytes: Callable[[bytes, Literal["little"]], int] = int.from_bytes,
) -> tuple[Any, int]:
    """Decode the `count` elements of a tuple or list (and a list's tail)."""
    if depth <= 0:
        raise _too_deep(tag_pos)
    depth -= 1
    ln = len(data)
    items: list[Any] = []
    append = items.append
    while True:  # once for a tuple; for a list, once per list in its chain of tails
        if count > ln - pos:
            raise EtfDecodeError(
                tag_pos,
                f"{kind} declares {count} elements but only {max(ln - pos, 0)} bytes remain",
            )
        # Charged before anything is built: a frame of one-byte terms (`[]`) would otherwise
        # build a Python object of fifty-odd bytes per byte of input.
        left = budget[0] - count
        if left < 0:
            raise _too_many(tag_pos, budget)
        budget[0] = left
        # The common leaves are decoded inline: a function call per element would cost more
        # than everything else the element needs. Tested in order of frequency in what the
        # production server sends: binaries and Latin-1 atoms (ATOM_EXT) about 14 each a
        # channel record, then tuples, big integers (microsecond timestamps), small integers.
        for _ in range(count):
            tag = data[pos]
            if tag == 109:  # BINARY_EXT
                start = pos + 5
                pos = start + u32(data, pos + 1)[0]
                if pos > ln:
                    raise _short(start - 5, "binary", pos - start, ln - start)
                append(data[start:pos])
            elif tag == 100:  # ATOM_EXT
                start = pos + 3
                end = start + ((data[pos + 1] << 8) | data[pos + 2])
                atom = latin1_atom(data[start:end])
                if atom is None or end > ln:
                    atom = _new_atom(data, start, end, pos, False, budget)
                append(atom)
                pos = end
            elif tag == 119:  # SMALL_ATOM_UTF8_EXT
                start = pos + 2
                end = start + data[pos + 1]
                atom = utf8_atom(data[start:end])
                if atom is None or end > ln:
                    atom = _new_atom(data, start, end, pos, True, budget)
                append(atom)
                pos = end
            elif tag == 104:  # SMALL_TUPLE_EXT
                value, pos = _sequence(data, pos + 2, depth, budget, data[pos + 1], pos, "tuple")
                append(value)
            elif tag == 110:  # SMALL_BIG_EXT
                start = pos + 3
                end = start + data[pos + 1]
                if end > ln:
                    raise _short(pos, "big integer", end - start, ln - start)
                sign = data[pos + 2]
                value = from_bytes(data[start:end], "little")
                if sign:
                    if sign != 1:
                        raise EtfDecodeError(
                            pos + 2, f"big integer sign byte is {sign}, not 0 or 1"
                        )
                    value = -value
                append(value)
                pos = end
            elif tag == 97:  # SMALL_INTEGER_EXT
                append(data[pos + 1])
                pos += 2
            elif tag == 98:  # INTEGER_EXT
                append(i32(data, pos + 1)[0])
                pos += 5
            else:
                value, pos = dispatch[tag](data, pos + 1, depth, budget)
                append(value)
        if kind == "tuple":
            return tuple(items), pos
        tag = data[pos]
        if tag == 106:
            return items, pos + 1
        if tag != 108:
            break
        # [a | [b ...]] is the list [a, b ...]: Erlang never writes it so, but it is valid.
        # The tail's elements go on into the same list, with no copy and no nesting level.
        tag_pos = pos
        count = u32(data, pos + 1)[0]
        pos += 5
    tail, pos = dispatch[tag](data, pos + 1, depth, budget)
    if not items:
        return tail, pos  # [ | T] is just T
    return ImproperList(tuple(items), tail), pos


def _map(data: bytes, pos: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    count = _U32(data, pos)[0]
    pos += 4
    ln = len(data)
    if 2 * count > ln - pos:
        raise EtfDecodeError(
            pos - 5, f"map declares {count} pairs but only {max(ln - pos, 0)} bytes remain"
        )
    if depth <= 0:
        raise _too_deep(pos - 5)
    depth -= 1
    # A pair is two terms; the dict itself costs some two terms more than a list would.
    left = budget[0] - 2 * count - 2
    if left < 0:
        raise _too_many(pos - 5, budget)
    budget[0] = left
    dispatch = _DISPATCH
    if count > MAX_HASH_CLASHES:
        return _large_map(data, pos, depth, budget, count)
    start = pos
    out: dict[Any, Any] = {}
    # A charlist key (STRING_EXT, a str) is the same Erlang term as a list key of its bytes,
    # which Python sees as a different tuple: maps with either are checked for duplicates.
    check = False
    for _ in range(count):
        key, pos = dispatch[data[pos]](data, pos + 1, depth, budget)
        value, pos = dispatch[data[pos]](data, pos + 1, depth, budget)
        try:
            out[key] = value
        except TypeError:
            out[_freeze(key)] = value
            check = True
        else:
            check = check or type(key) is str
    if check or len(out) != count:
        return _clashing_map(data, start, depth, budget, count, left)
    return out, pos


# A map with more keys than can clash harmlessly has its key hashes counted before its dict is
# built (terms.hash_flooding).


def _large_map(data: bytes, pos: int, depth: int, budget: list[int], count: int) -> tuple[Any, int]:
    dispatch = _DISPATCH
    start = pos
    left = budget[0]
    keys: list[Any] = []
    values: list[Any] = []
    check = False  # as in _map
    for _ in range(count):
        key, pos = dispatch[data[pos]](data, pos + 1, depth, budget)
        value, pos = dispatch[data[pos]](data, pos + 1, depth, budget)
        try:
            hash(key)
        except TypeError:
            key = _freeze(key)
            check = True
        else:
            check = check or type(key) is str
        keys.append(key)
        values.append(value)
    distinct = hash_flooding(keys)
    if distinct is not None:
        raise _flooding(start, count, distinct)
    out = dict(zip(keys, values, strict=True))
    if check or len(out) != count:
        return _clashing_map(data, start, depth, budget, count, left)
    return out, pos


def _flooding(start: int, count: int, distinct: int) -> EtfDecodeError:
    return EtfDecodeError(
        start - 5, f"map of {count} keys has only {distinct} distinct key hashes (hash flooding)"
    )


def _clashing_map(  # noqa: PLR0917 - same arguments as _large_map, plus the budget to restore
    data: bytes, start: int, depth: int, budget: list[int], count: int, left: int
) -> tuple[Any, int]:
    """Read again a map whose keys may clash (fewer dict keys than pairs, or a charlist key).

    Erlang refuses a map that holds one key twice, and so does this; keys that are distinct
    Erlang terms but equal in Python (`1` and `1.0`, `[]` and `{}` once the list is a tuple)
    are each wrapped in an `ExactKey`, so that every pair is kept. Rare, so read twice: the
    common path keeps no copy of the keys as they came.
    """
    budget[0] = left  # the first reading's terms are charged once
    dispatch = _DISPATCH
    pos = start
    keys: list[Any] = []
    values: list[Any] = []
    for _ in range(count):
        key, pos = dispatch[data[pos]](data, pos + 1, depth, budget)
        value, pos = dispatch[data[pos]](data, pos + 1, depth, budget)
        keys.append(key)
        values.append(value)
    exact = [exact_identity(key) for key in keys]
    distinct = hash_flooding(exact)
    if distinct is not None:
        raise _flooding(start, count, distinct)
    if len(set(exact)) != count:
        raise EtfDecodeError(start - 5, f"map of {count} pairs holds a key twice")
    plain = [_freeze(key) for key in keys]
    # Keys that clash with another key of this map are wrapped; the others stay plain.
    seen: dict[Any, int] = {}
    for key in plain:
        seen[key] = seen.get(key, 0) + 1
    out: dict[Any, Any] = {}
    for key, raw, identity, value in zip(plain, keys, exact, values, strict=True):
        out[ExactKey(raw, identity) if seen[key] > 1 else key] = value
    return out, pos


def _freeze(value: Any) -> Any:
    """Return `value` in a hashable form: lists become tuples, maps `FrozenMap`s."""
    kind = type(value)
    if kind is list or kind is tuple:
        return tuple(_freeze(v) for v in value)
    if kind is dict:
        return FrozenMap((_freeze(k), _freeze(v)) for k, v in value.items())
    if kind is ImproperList:
        return ImproperList(tuple(_freeze(v) for v in value.elements), _freeze(value.tail))
    return value


def _refused(data: bytes, pos: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    tag = data[pos - 1]
    name = _REFUSED_TAGS.get(tag)
    if name is None:
        raise EtfDecodeError(pos - 1, f"unknown tag {tag}")
    raise EtfDecodeError(pos - 1, f"tag {tag} {name} is not supported")


_DISPATCH.extend([_refused] * 256)
for _tag, _handler in {
    97: _small_integer,
    98: _integer,
    110: _small_big,
    111: _large_big,
    70: _new_float,
    99: _old_float,
    100: _atom_latin1,
    115: _small_atom_latin1,
    118: _atom_utf8,
    119: _small_atom_utf8,
    104: _small_tuple,
    105: _large_tuple,
    106: _nil,
    107: _string,
    108: _list,
    109: _binary,
    77: _bit_binary,
    116: _map,
}.items():
    _DISPATCH[_tag] = _handler
del _tag, _handler


@dataclass(frozen=True, slots=True)
class Frame:
    """What `decode_frame` read: the term, and what it cost."""

    term: Any
    # Bytes after the term, which Erlang's binary_to_term/1 ignores (after the term itself, or
    # after the zlib stream of a compressed one).
    trailing: int
    # Terms inside the frame's tuples, lists and maps: what reading it further will cost.
    terms: int
    # The size of the term: its inflated size when compressed.
    size: int


def decode(
    data: bytes | bytearray | memoryview,
    *,
    max_depth: int = MAX_DEPTH,
    max_inflated: int = MAX_INFLATED,
    max_terms: int = MAX_TERMS,
) -> Any:
    """Decode one ETF term: the version byte 131, then the term, and nothing after it.

    `max_depth` bounds the nesting of tuples, lists and maps; `max_inflated` the declared size of
    a compressed term; `max_terms` the number of terms inside tuples, lists and maps (a map's
    pair counts two), which bounds the Python objects built. Any malformed input raises
    `EtfDecodeError`, and nothing else.
    """
    return _decode(data, max_depth, max_inflated, max_terms, True)[0]


def decode_frame(
    data: bytes | bytearray | memoryview,
    *,
    max_depth: int = MAX_DEPTH,
    max_inflated: int = MAX_INFLATED,
    max_terms: int = MAX_TERMS,
) -> Frame:
    """Decode one frame as Erlang's `binary_to_term/1` reads it: bytes after the term are ignored.

    Erlang reads the first term and ignores what follows it, after the term or after the zlib
    stream of a compressed term; `Frame.trailing` counts those bytes, so that the caller can
    report them. Everything else is as strict as `decode`.
    """
    return Frame(*_decode(data, max_depth, max_inflated, max_terms, False))


def declared_size(data: bytes | bytearray | memoryview) -> int:
    """The size of the term a frame holds, known before decoding it: what decoding it can cost.

    A compressed frame declares its inflated size in its header (capped at `MAX_INFLATED`
    only by `decode`, which refuses more); any other frame is its own size.
    """
    if len(data) >= 6 and data[1] == 80:
        return int(_U32(data, 2)[0])
    return len(data)


def _decode(
    data: bytes | bytearray | memoryview,
    max_depth: int,
    max_inflated: int,
    max_terms: int,
    strict: bool,
) -> tuple[Any, int, int, int]:
    """The term, the bytes after it, the terms it holds and its size (see `Frame`)."""
    if type(data) is not bytes:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise EtfDecodeError(0, f"expected bytes, got {type(data).__name__}")
        data = bytes(data)  # one copy: indexing `bytes` is what makes the rest fast
    size = len(data)
    if size < 2:
        raise EtfDecodeError(size, "frame is too short to hold a term")
    if data[0] != VERSION:
        raise EtfDecodeError(0, f"version byte is {data[0]}, not 131")
    if data[1] == 80:
        inner, after = _inflate(data, max_inflated, strict)
        try:
            term, trailing, terms = _decode_all(inner, 0, max_depth, max_terms, strict)
        except EtfDecodeError as err:
            raise EtfDecodeError(
                1, f"in the inflated term at byte {err.offset}: {err.reason}"
            ) from None
        return term, trailing + after, terms, len(inner)
    term, trailing, terms = _decode_all(data, 1, max_depth, max_terms, strict)
    return term, trailing, terms, size


def _decode_all(
    data: bytes, pos: int, max_depth: int, max_terms: int, strict: bool
) -> tuple[Any, int, int]:
    size = len(data)
    budget = [max_terms, max_terms]  # terms that may still be built, and the limit
    try:
        value, pos = _DISPATCH[data[pos]](data, pos + 1, max_depth, budget)
    except IndexError, struct.error:
        # Only a read past the end raises these: every length read was bounded by a check, so
        # the frame stops in the middle of a fixed-size field.
        raise EtfDecodeError(size, "frame ends in the middle of a term") from None
    except RecursionError:
        raise EtfDecodeError(pos, "terms nest deeper than Python's stack allows") from None
    except MemoryError:
        raise EtfDecodeError(pos, "term is too large for the memory available") from None
    if strict and pos != size:
        # Never past the end: every length was checked against the bytes that remain.
        raise EtfDecodeError(pos, f"{size - pos} bytes follow the term")
    return value, size - pos, max_terms - budget[0]


def _inflate(data: bytes, max_inflated: int, strict: bool) -> tuple[bytes, int]:
    """Inflate the compressed term of `data` (version, 80, size, zlib stream), bounded.

    Returns the inflated term and how many bytes follow the zlib stream (an error if `strict`).
    """
    if len(data) < 6:
        raise EtfDecodeError(len(data), "compressed term header is cut short")
    declared = _U32(data, 2)[0]
    if declared == 0:
        raise EtfDecodeError(2, "compressed term declares an empty term")
    if declared > max_inflated:
        raise EtfDecodeError(
            2, f"compressed term declares {declared} bytes, more than max_inflated={max_inflated}"
        )
    inflater = zlib.decompressobj()
    try:
        inner = inflater.decompress(memoryview(data)[6:], declared)
        # When all the declared bytes came out, the stream must end here, with no more output.
        if (
            len(inner) == declared
            and not inflater.eof
            and inflater.decompress(inflater.unconsumed_tail, 1)
        ):
            raise EtfDecodeError(2, f"compressed term inflates to more than {declared} bytes")
    except zlib.error as err:
        raise EtfDecodeError(6, f"compressed term is not valid zlib data: {err}") from None
    except MemoryError:
        raise EtfDecodeError(2, "compressed term is too large for the memory available") from None
    if not inflater.eof:
        raise EtfDecodeError(len(data), "compressed data ends before its zlib stream does")
    if len(inner) != declared:
        raise EtfDecodeError(
            2, f"compressed term declares {declared} bytes but inflates to {len(inner)}"
        )
    after = len(inflater.unused_data)
    if strict and after:
        raise EtfDecodeError(len(data) - after, f"{after} bytes follow the compressed data")
    return inner, after


# ---------------------------------------------------------------------------------------------
# Encoding


def encode(
    term: Any, *, compressed: bool = False, atoms: Literal["utf8", "latin1"] = "utf8"
) -> bytes:
    """Encode `term` as one ETF frame, version byte first.

    Types: `int`, `float` (finite), `Atom`, `bool` and `None` (atoms true, false, undefined),
    `bytes`/`bytearray`/`memoryview` and `str` (a binary; `str` as UTF-8, as in BERT), `tuple`,
    `list`, `ImproperList`, `BitBinary`, `dict`/`FrozenMap`. Integers take the smallest tag.

    `atoms="utf8"` writes atoms as Erlang/OTP 26 and later do (SMALL_ATOM_UTF8_EXT);
    `atoms="latin1"` as older releases do (ATOM_EXT), and refuses atoms Latin-1 cannot spell.
    `compressed=True` wraps the term in a zlib-compressed term (tag 80), as Erlang's
    `term_to_binary(T, [compressed])`, except that this always compresses.

    Raises `TypeError` for a type with no Erlang form and `ValueError` for a value with none
    (NaN, infinities, an atom of more than 255 characters or not Latin-1, a cyclic or too deeply
    nested term).
    """
    if atoms not in {"utf8", "latin1"}:
        raise ValueError(f"atoms must be 'utf8' or 'latin1', not {atoms!r}")
    out = bytearray((VERSION,))
    encoder = _Encoder(out, atoms == "latin1")
    try:
        encoder.term(term)
    except RecursionError:
        raise ValueError("term nests too deeply to encode (or contains itself)") from None
    if compressed:
        body = memoryview(out)[1:]
        return bytes((VERSION, 80)) + _PACK_U32(len(body)) + zlib.compress(body)
    return bytes(out)


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} {text!r} has a lone surrogate, which UTF-8 cannot hold") from None


def _check_atom(name: str) -> None:
    if len(name) > MAX_ATOM_CHARS:
        raise ValueError(
            f"atom of {len(name)} characters is too long: Erlang allows {MAX_ATOM_CHARS}"
        )


class _Encoder:
    """Appends terms to one buffer; one instance per `encode` call."""

    __slots__ = ("atom", "out")

    def __init__(self, out: bytearray, latin1: bool) -> None:
        self.out = out
        self.atom = self._atom_latin1 if latin1 else self._atom_utf8

    def _atom_utf8(self, name: str) -> None:
        _check_atom(name)
        raw = _utf8(name, "atom")
        if len(raw) < 256:
            self.out += bytes((119, len(raw)))
        else:
            self.out += b"v" + _PACK_U16(len(raw))
        self.out += raw

    def _atom_latin1(self, name: str) -> None:
        try:
            raw = name.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(
                f"atom {name!r} cannot be written in Latin-1; use atoms='utf8'"
            ) from None
        _check_atom(name)
        self.out += b"d" + _PACK_U16(len(raw)) + raw

    def term(self, term: Any) -> None:
        out = self.out
        kind = type(term)
        if kind is bytes:
            out += b"m" + _PACK_U32(len(term)) + term
        elif kind is Atom:
            self.atom(term)
        elif kind is int:
            self.integer(term)
        elif kind is tuple:
            n = len(term)
            out += bytes((104, n)) if n < 256 else b"i" + _PACK_U32(n)
            for item in term:
                self.term(item)
        elif kind is list:
            if term:
                out += b"l" + _PACK_U32(len(term))
                for item in term:
                    self.term(item)
            out += b"j"
        elif kind is str:
            raw = _utf8(term, "text")
            out += b"m" + _PACK_U32(len(raw)) + raw
        elif term is None:
            self.atom("undefined")
        elif term is True:
            self.atom("true")
        elif term is False:
            self.atom("false")
        elif kind is float:
            self.float(term)
        elif kind is dict or kind is FrozenMap:
            out += b"t" + _PACK_U32(len(term))
            for key, value in term.items():
                self.term(key)
                self.term(value)
        elif kind is ImproperList:
            self.improper(term)
        elif kind is BitBinary:
            self.bit_binary(term)
        elif kind is ExactKey:
            self.term(term.term)
        else:
            self.subclass(term)

    def subclass(self, term: Any) -> None:
        """Encode instances of subclasses (IntEnum, StrEnum, OrderedDict...) by their base."""
        if isinstance(term, Atom):
            self.atom(str(term))
        elif isinstance(term, int):
            self.integer(int(term))
        elif isinstance(term, float):
            self.float(float(term))
        elif isinstance(term, str):
            self.term(str(term))
        elif isinstance(term, bytes | bytearray | memoryview):
            self.term(bytes(term))
        elif isinstance(term, tuple):
            self.term(tuple(term))
        elif isinstance(term, list):
            self.term(list(term))
        elif isinstance(term, dict):
            self.term(dict(term))
        else:
            raise TypeError(f"cannot encode {type(term).__name__} as an Erlang term")

    def integer(self, value: int) -> None:
        if 0 <= value < 256:
            self.out += bytes((97, value))
        elif -0x80000000 <= value < 0x80000000:
            self.out += b"b" + _PACK_I32(value)
        else:
            magnitude = -value if value < 0 else value
            raw = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "little")
            if len(raw) < 256:
                self.out += bytes((110, len(raw), value < 0))
            else:
                self.out += b"o" + _PACK_U32(len(raw)) + bytes((value < 0,))
            self.out += raw

    def float(self, value: float) -> None:
        if not math.isfinite(value):
            raise ValueError(f"{value} cannot be encoded: Erlang has no NaN or infinite floats")
        self.out += b"F" + _PACK_F64(value)

    def improper(self, term: ImproperList) -> None:
        tail = term.tail
        elements = list(term.elements)
        # Normalise the shapes that are not really improper, so the frame is canonical.
        while type(tail) is ImproperList:
            elements.extend(tail.elements)
            tail = tail.tail
        if isinstance(tail, list):
            self.term(elements + list(tail))
            return
        if not elements:
            self.term(tail)
            return
        self.out += b"l" + _PACK_U32(len(elements))
        for item in elements:
            self.term(item)
        self.term(tail)

    def bit_binary(self, term: BitBinary) -> None:
        data, bits = bytes(term.data), term.bits
        if not data or not 1 <= bits <= 8:
            raise ValueError(f"BitBinary of {len(data)} bytes cannot use {bits} bits of its last")
        if bits == 8:
            self.term(data)
            return
        mask = (0xFF00 >> bits) & 0xFF
        if data[-1] & ~mask:
            data = data[:-1] + bytes((data[-1] & mask,))
        self.out += b"M" + _PACK_U32(len(data)) + bytes((bits,)) + data
