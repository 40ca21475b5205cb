"""Erlang's `term_to_binary`, as far as a Basix server uses it: the simulator's own ETF writer.

It writes what an Erlang server writes, down to the choices a client could notice:

- atoms as `ATOM_EXT` (100) with Latin-1 names, as Erlang/OTP before 26 does (Brastel's own
  decoder reads nothing else), or with `atoms="utf8"` as `SMALL_ATOM_UTF8_EXT` (119) /
  `ATOM_UTF8_EXT` (118), as OTP 26 and later do;
- a `Charlist` (an Erlang string) as `STRING_EXT` (107) when every character is a byte and it is
  shorter than 65,536, else as a list of integers, as Erlang does;
- integers in the smallest of `SMALL_INTEGER_EXT`, `INTEGER_EXT`, `SMALL_BIG_EXT`, `LARGE_BIG_EXT`;
- with `compressed`, the zlib-compressed form (tag 80) only when it is smaller than the plain
  one, as `term_to_binary(T, [compressed])` does.

It is separate from the integration's codec on purpose: the client is tested against frames
it did not write itself.
"""

from __future__ import annotations

import struct
from typing import Any, Literal
import zlib

from custom_components.basix_cti.cti.terms import Atom

type AtomMode = Literal["latin1", "utf8"]

VERSION = 131
_U16 = struct.Struct(">H").pack
_U32 = struct.Struct(">I").pack
_I32 = struct.Struct(">i").pack
_F64 = struct.Struct(">d").pack


class Charlist(str):
    """Text to be sent as an Erlang string (a list of character codes), not as a binary."""

    __slots__ = ()

    def __repr__(self) -> str:
        """Show that this is a charlist."""
        return f"Charlist({str.__repr__(self)})"


def encode(term: Any, *, atoms: AtomMode = "latin1", compressed: bool = False) -> bytes:
    """Encode `term` as one ETF frame (version byte first).

    Types: `Atom`; `Charlist`; `str` (a UTF-8 binary) and `bytes`; `int`; `float` (NEW_FLOAT_EXT,
    which Brastel's decoder cannot read: the model sends none); `bool` and `None` (the atoms
    `true`, `false`, `undefined`); `tuple`; `list`.
    """
    if atoms not in ("latin1", "utf8"):
        raise ValueError(f"atoms must be 'latin1' or 'utf8', not {atoms!r}")
    body = bytearray()
    _term(body, term, atoms == "utf8")
    plain = bytes((VERSION,)) + body
    if compressed:
        packed = bytes((VERSION, 80)) + _U32(len(body)) + zlib.compress(bytes(body), 6)
        if len(packed) < len(plain):
            return packed
    return plain


def _term(out: bytearray, term: Any, utf8: bool) -> None:
    if isinstance(term, Atom):
        _atom(out, str(term), utf8)
    elif term is None:
        _atom(out, "undefined", utf8)
    elif term is True or term is False:
        _atom(out, "true" if term else "false", utf8)
    elif isinstance(term, Charlist):
        codes = [ord(c) for c in term]
        if not codes:
            out.append(106)
        elif len(codes) < 65536 and max(codes) < 256:
            out += b"k" + _U16(len(codes)) + bytes(codes)
        else:
            out += b"l" + _U32(len(codes))
            for code in codes:
                _integer(out, code)
            out.append(106)
    elif isinstance(term, str):
        raw = term.encode("utf-8")
        out += b"m" + _U32(len(raw)) + raw
    elif isinstance(term, bytes | bytearray):
        out += b"m" + _U32(len(term)) + bytes(term)
    elif isinstance(term, int):
        _integer(out, term)
    elif isinstance(term, float):
        out += b"F" + _F64(term)
    elif isinstance(term, tuple):
        n = len(term)
        out += bytes((104, n)) if n < 256 else b"i" + _U32(n)
        for item in term:
            _term(out, item, utf8)
    elif isinstance(term, list):
        if term:
            out += b"l" + _U32(len(term))
            for item in term:
                _term(out, item, utf8)
        out.append(106)
    else:
        raise TypeError(f"cannot encode {type(term).__name__} as an Erlang term")


def _atom(out: bytearray, name: str, utf8: bool) -> None:
    if utf8:
        raw = name.encode("utf-8")
        if len(raw) < 256:
            out += bytes((119, len(raw))) + raw
        else:
            out += b"v" + _U16(len(raw)) + raw
        return
    try:
        raw = name.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"atom {name!r} has no Latin-1 form: use atoms='utf8'") from None
    out += b"d" + _U16(len(raw)) + raw


def _integer(out: bytearray, value: int) -> None:
    if 0 <= value < 256:
        out += bytes((97, value))
    elif -(2**31) <= value < 2**31:
        out += b"b" + _I32(value)
    else:
        magnitude = abs(value)
        raw = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "little")
        head = bytes((110, len(raw))) if len(raw) < 256 else b"o" + _U32(len(raw))
        out += head + bytes((value < 0,)) + raw


OLD_SUBSET_TAGS = frozenset({97, 98, 99, 100, 104, 106, 107, 108, 109, 110, 111, 115})
"""The tags Brastel's decoder (2016-2026) reads (its LARGE_TUPLE_EXT, 105, is broken)."""


def tags(frame: bytes) -> set[int]:
    """Return every term tag a frame uses (for tests: what a decoder must understand)."""
    found: set[int] = set()
    if frame[:1] != bytes((VERSION,)):
        raise ValueError("not an ETF frame")
    if frame[1:2] == b"P":
        found.add(80)
        frame = bytes((VERSION,)) + zlib.decompress(frame[6:])
    end = _walk(frame, 1, found)
    if end != len(frame):
        raise ValueError(f"{len(frame) - end} bytes after the term")
    return found


def _walk(data: bytes, pos: int, found: set[int]) -> int:
    tag = data[pos]
    found.add(tag)
    pos += 1
    if tag == 97:
        return pos + 1
    if tag == 98:
        return pos + 4
    if tag in (100, 118):
        return pos + 2 + int.from_bytes(data[pos : pos + 2])
    if tag in (115, 119):
        return pos + 1 + data[pos]
    if tag == 109:
        return pos + 4 + int.from_bytes(data[pos : pos + 4])
    if tag == 107:
        return pos + 2 + int.from_bytes(data[pos : pos + 2])
    if tag == 106:
        return pos
    if tag == 110:
        return pos + 2 + data[pos]
    if tag == 111:
        return pos + 5 + int.from_bytes(data[pos : pos + 4])
    if tag == 70:
        return pos + 8
    if tag in (104, 105, 108):
        width = 1 if tag == 104 else 4
        count = int.from_bytes(data[pos : pos + width])
        pos += width
        for _ in range(count):
            pos = _walk(data, pos, found)
        return _walk(data, pos, found) if tag == 108 else pos
    raise ValueError(f"unexpected tag {tag} at {pos - 1}")
