"""Fixed vectors for the ETF codec: frames Erlang wrote, every tag by hand, and hostile input."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
import enum
import math
from pathlib import Path
import struct
import time
import tracemalloc
from typing import Any, Literal
import zlib

import pytest

from custom_components.basix_cti.cti import etf
from custom_components.basix_cti.cti.etf import (
    Atom,
    BitBinary,
    EtfDecodeError,
    ExactKey,
    FrozenMap,
    ImproperList,
    declared_size,
    decode,
    decode_frame,
    encode,
)
from tests.cti.same_terms import same

FIXTURES = Path(__file__).parent.parent / "fixtures" / "erlang"
OPTIONS = ("default", "minor2", "minor0", "compressed")
OTP_RELEASE = int((FIXTURES / "OTP_RELEASE").read_text().strip())
# Erlang/OTP 26 made UTF-8 atoms (minor_version 2) the default; older releases write Latin-1.
DEFAULT_ATOMS: Literal["utf8", "latin1"] = "utf8" if OTP_RELEASE >= 26 else "latin1"


@contextmanager
def quickly(limit: float = 1.0) -> Iterator[None]:
    """Fail when the block takes `limit` seconds or more (hostile input must fail fast)."""
    start = time.perf_counter()
    yield
    elapsed = time.perf_counter() - start
    assert elapsed < limit, f"took {elapsed:.3f} s"


def rejects(frame: bytes | bytearray, match: str = "", **kwargs: Any) -> EtfDecodeError:
    """Assert that decoding `frame` fails with EtfDecodeError, in well under a second."""
    with quickly(), pytest.raises(EtfDecodeError, match=match) as info:
        decode(frame, **kwargs)
    assert isinstance(info.value, ValueError)
    return info.value


A = Atom

# The Python value of each term in generate.escript, written by hand from the Erlang source.
ERLANG_TERMS: dict[str, Any] = {
    "field_spec": (A("field_spec"), A("channel"), [A("uuid"), A("state")]),
    "info_event": (
        A("info_event"),
        A("channel"),
        (b"uuid", (1700000000000000, A("calling"), A("user"), b"201", "山田".encode())),
        A("CHANNEL_CREATE"),
    ),
    "initial_info_empty": (A("initial_info"), A("channel"), (A("bert"), A("nil"))),
    "bert_nil": (A("bert"), A("nil")),
    "bert_bools": ((A("bert"), True), (A("bert"), False), True, False),
    "undefined": A("undefined"),
    "small_ints": "\x00\x01\x7f\xff",  # a list of bytes: Erlang writes it as STRING_EXT
    "ints": [256, -1, 65536, 2147483647, -2147483648],
    "just_outside_int32": [2147483648, -2147483649],
    "timestamps": (1700000000000, 1700000000000000),
    "big_ints": [2**64, -(2**64), 18446744073709551615, 2**200],
    "large_big": [2**2100, -(2**2100 + 12345)],
    "floats": [0.0, 1.5, -2.25, 3.141592653589793, 1.0e300, -1.0e-300, 1.0e-320],
    "empty_things": ([], b"", (), {}, []),
    "string": "hello, world",
    "byte_list": "\x01\x02\x03\xff",
    "unicode_list": [26085, 26412],
    "binaries": [b"uuid", "山田 太郎".encode(), b"\x00\xff\x80"],
    "end_user": b"090-1234-5678*%E5%B1%B1%E7%94%B0+%E5%A4%AA%E9%83%8E*Acme*",
    "map": {A("a"): 1, b"b": "\x01\x02", 3: {}, 1.5: (A("x"),)},
    "map_list_key": {"\x01\x02": A("x"), (A("y"), (A("z"),)): {A("k"): A("v")}},
    "map_map_key": {FrozenMap({A("a"): 1}): A("b")},
    "map_clashing_keys": {
        ExactKey.of(1): A("int"),
        ExactKey.of(1.0): A("float"),
        ExactKey.of(True): A("atom"),
        ExactKey.of(()): A("tuple"),
        ExactKey.of([]): A("nil"),
    },
    "map_atom_and_charlist_keys": {ExactKey.of(A("x")): A("atom"), ExactKey.of("x"): A("charlist")},
    "map_big": {n: n * n for n in range(1, 41)},
    "improper": ImproperList((1, 2), 3),
    "improper_atoms": ImproperList((A("a"),), A("b")),
    "improper_nested": [ImproperList((A("x"),), A("y")), (ImproperList((1,), b"t"),)],
    "unicode_atoms": [A("日本"), A("ÿ"), A("é"), A("Ωmega"), A("")],
    "long_atom_latin1": A("a" * 255),
    "long_atom_utf8": A("日" * 100),
    "bitstrings": [
        BitBinary(b"\x20", 3),
        BitBinary(b"\xff\x38", 5),
        BitBinary(b"\x80", 1),
        BitBinary(b"ab\x00", 7),
    ],
    "large_tuple": tuple(range(1, 301)),
    "nested": A("leaf"),  # built below
    "mixed_list": [1, A("a"), b"b", 2.5, (A("c"),), [A("d")], "e", -7, 2**70],
    "long_string": "x" * 300,
    "long_binary": "山田 太郎 ".encode() * 2000,
    "snapshot": (
        A("initial_info"),
        A("user"),
        [
            (
                f"u{n}".encode(),
                f"山田 {n}".encode(),
                n,
                A("undefined"),
                [A("admin")] if n % 3 == 0 else [],
            )
            for n in range(1, 51)
        ],
    ),
    "old_generation": [(A("chan_info"), (b"uuid-1", (1500000000, A("bridged")), b"***"))],
}
for _n in range(1, 41):
    ERLANG_TERMS["nested"] = (_n, [ERLANG_TERMS["nested"]])

# Where our encoder cannot write Erlang's bytes again, and why.
HAS_CHARLIST = {  # STRING_EXT decodes to str, and str encodes as a binary (BERT)
    "small_ints",
    "string",
    "byte_list",
    "long_string",
    "map",
    "map_list_key",
    "map_atom_and_charlist_keys",
    "mixed_list",
}
HAS_OLD_FLOAT = {"floats", "mixed_list", "map", "map_clashing_keys"}  # we write NEW_FLOAT_EXT only
HAS_NON_LATIN1_ATOM = {"unicode_atoms", "long_atom_utf8"}  # latin1 mode refuses these


def test_every_escript_term_has_an_expected_value() -> None:
    for option in OPTIONS:
        assert {p.stem for p in (FIXTURES / option).glob("*.bin")} == set(ERLANG_TERMS)


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("name", sorted(ERLANG_TERMS))
def test_decodes_what_erlang_wrote(name: str, option: str) -> None:
    frame = (FIXTURES / option / f"{name}.bin").read_bytes()
    value = decode(frame)
    assert same(value, ERLANG_TERMS[name]), value


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize("name", sorted(ERLANG_TERMS))
def test_encodes_as_erlang_does(name: str, option: str) -> None:
    frame = (FIXTURES / option / f"{name}.bin").read_bytes()
    atoms: Literal["utf8", "latin1"] = "utf8" if option == "minor2" else DEFAULT_ATOMS
    if name in HAS_CHARLIST:
        pytest.skip("a charlist decodes to str, which encodes as a binary")
    if option == "minor0" and name in HAS_OLD_FLOAT:
        pytest.skip("old float text is read, never written")
    if atoms == "latin1" and name in HAS_NON_LATIN1_ATOM:
        pytest.skip("Erlang falls back to UTF-8 atoms; our latin1 mode refuses them")
    # Erlang compresses only when that makes the frame smaller; we do whatever we are told.
    compressed = frame[1] == 80
    # decode(frame), not ERLANG_TERMS[name]: maps of over 32 keys come in Erlang's hash order.
    assert encode(decode(frame), atoms=atoms, compressed=compressed) == frame


def test_minor_versions_use_the_tags_they_are_known_for() -> None:
    assert (FIXTURES / "minor0" / "floats.bin").read_bytes()[6] == 99  # FLOAT_EXT
    assert (FIXTURES / "minor2" / "floats.bin").read_bytes()[6] == 70  # NEW_FLOAT_EXT
    assert (FIXTURES / "minor2" / "undefined.bin").read_bytes()[1] == 119
    assert (FIXTURES / "minor2" / "long_atom_utf8.bin").read_bytes()[1] == 118
    assert (FIXTURES / "minor0" / "undefined.bin").read_bytes()[1] == 100
    assert (FIXTURES / "compressed" / "snapshot.bin").read_bytes()[1] == 80


# --- every tag, by hand -------------------------------------------------------------------------

VECTORS: list[tuple[str, bytes, Any]] = [
    ("SMALL_INTEGER_EXT", b"\x83a\x00", 0),
    ("SMALL_INTEGER_EXT max", b"\x83a\xff", 255),
    ("INTEGER_EXT", b"\x83b\x00\x00\x01\x00", 256),
    ("INTEGER_EXT min", b"\x83b\x80\x00\x00\x00", -(2**31)),
    ("INTEGER_EXT max", b"\x83b\x7f\xff\xff\xff", 2**31 - 1),
    ("SMALL_BIG_EXT", b"\x83n\x04\x00\x00\x00\x00\x80", 2**31),
    ("SMALL_BIG_EXT negative", b"\x83n\x04\x01\x01\x00\x00\x80", -(2**31) - 1),
    ("SMALL_BIG_EXT 255 digits", b"\x83n\xff\x00" + b"\x00" * 254 + b"\x01", 2 ** (8 * 254)),
    ("LARGE_BIG_EXT", b"\x83o\x00\x00\x01\x00\x00" + b"\x00" * 255 + b"\x01", 2 ** (8 * 255)),
    ("NEW_FLOAT_EXT", b"\x83F" + struct.pack(">d", -1.25), -1.25),
    ("FLOAT_EXT", b"\x83c" + b"1.50000000000000000000e+00".ljust(31, b"\0"), 1.5),
    ("ATOM_EXT", b"\x83d\x00\x03abc", A("abc")),
    ("ATOM_EXT latin1", b"\x83d\x00\x01\xe9", A("é")),
    ("SMALL_ATOM_EXT", b"\x83s\x03abc", A("abc")),
    ("SMALL_ATOM_EXT latin1", b"\x83s\x01\xff", A("ÿ")),
    ("ATOM_UTF8_EXT", b"\x83v\x00\x06" + "日本".encode(), A("日本")),
    ("SMALL_ATOM_UTF8_EXT", b"\x83w\x06" + "日本".encode(), A("日本")),
    ("atom true", b"\x83w\x04true", True),
    ("atom false", b"\x83s\x05false", False),
    ("atom undefined", b"\x83w\x09undefined", A("undefined")),
    ("empty atom", b"\x83w\x00", A("")),
    ("SMALL_TUPLE_EXT", b"\x83h\x02a\x01a\x02", (1, 2)),
    ("empty tuple", b"\x83h\x00", ()),
    ("LARGE_TUPLE_EXT", b"\x83i\x00\x00\x00\x01a\x07", (7,)),
    ("NIL_EXT", b"\x83j", []),
    ("STRING_EXT", b"\x83k\x00\x03a\xffc", "a\xffc"),
    ("LIST_EXT", b"\x83l\x00\x00\x00\x02a\x01w\x01xj", [1, A("x")]),
    ("LIST_EXT improper", b"\x83l\x00\x00\x00\x01a\x01a\x02", ImproperList((1,), 2)),
    ("LIST_EXT tail is a list", b"\x83l\x00\x00\x00\x01a\x01l\x00\x00\x00\x01a\x02j", [1, 2]),
    (
        "LIST_EXT tail is improper",
        b"\x83l\x00\x00\x00\x01a\x01l\x00\x00\x00\x01a\x02a\x03",
        ImproperList((1, 2), 3),
    ),
    ("LIST_EXT no elements", b"\x83l\x00\x00\x00\x00a\x05", 5),
    (
        "LIST_EXT chain of tails",
        b"\x83l\x00\x00\x00\x01a\x01l\x00\x00\x00\x00l\x00\x00\x00\x02a\x02a\x03a\x04",
        ImproperList((1, 2, 3), 4),
    ),
    ("BINARY_EXT", b"\x83m\x00\x00\x00\x03abc", b"abc"),
    ("BIT_BINARY_EXT", b"\x83M\x00\x00\x00\x01\x03\xe0", BitBinary(b"\xe0", 3)),
    ("BIT_BINARY_EXT stray low bits", b"\x83M\x00\x00\x00\x01\x03\xff", BitBinary(b"\xe0", 3)),
    ("BIT_BINARY_EXT 8 bits", b"\x83M\x00\x00\x00\x02\x08ab", b"ab"),
    ("BIT_BINARY_EXT empty", b"\x83M\x00\x00\x00\x00\x00", b""),  # as erts reads it
    ("MAP_EXT", b"\x83t\x00\x00\x00\x01w\x01ka\x01", {A("k"): 1}),
    ("MAP_EXT list key", b"\x83t\x00\x00\x00\x01l\x00\x00\x00\x01a\x01ja\x02", {(1,): 2}),
    (
        "MAP_EXT improper list key",
        b"\x83t\x00\x00\x00\x01l\x00\x00\x00\x01ja\x01a\x02",
        {ImproperList(((),), 1): 2},
    ),
    (
        "MAP_EXT map key",
        b"\x83t\x00\x00\x00\x01t\x00\x00\x00\x01a\x01ja\x02",
        {FrozenMap({1: ()}): 2},
    ),
    ("COMPRESSED", b"\x83P\x00\x00\x00\x02" + zlib.compress(b"a\x07"), 7),
]


@pytest.mark.parametrize(("frame", "value"), [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS])
def test_decodes_every_tag(frame: bytes, value: Any) -> None:
    assert same(decode(frame), value)
    assert same(decode(bytearray(frame)), value)
    assert same(decode(memoryview(frame)), value)


def test_map_key_made_hashable_keeps_its_content() -> None:
    # #{[[1]] => a, #{[2] => 3} => b}
    frame = (
        b"\x83t\x00\x00\x00\x02"
        b"l\x00\x00\x00\x01l\x00\x00\x00\x01a\x01jjw\x01a"
        b"t\x00\x00\x00\x01l\x00\x00\x00\x01a\x02ja\x03w\x01b"
    )
    value = decode(frame)
    assert value == {((1,),): A("a"), FrozenMap({(2,): 3}): A("b")}
    key = next(k for k in value if isinstance(k, FrozenMap))
    assert key == {(2,): 3}
    assert hash(key) == hash(FrozenMap([((2,), 3)]))
    assert len(key) == 1
    assert list(key) == [(2,)]
    assert repr(key) == "FrozenMap({(2,): 3})"
    assert key != 5
    assert encode(value) == encode({((1,),): A("a"), FrozenMap({(2,): 3}): A("b")})


def test_keys_equal_in_python_but_not_in_erlang_stay_apart() -> None:
    # #{1 => a, true => b, c => d}: distinct in Erlang, 1 == True in Python.
    frame = b"\x83t\x00\x00\x00\x03a\x01w\x01aw\x04truew\x01bw\x01cw\x01d"
    value = decode(frame)
    assert list(value.values()) == [A("a"), A("b"), A("d")]
    assert value[ExactKey.of(1)] == A("a")
    assert value[ExactKey.of(True)] == A("b")
    assert value[A("c")] == A("d")  # a key that clashes with nothing stays plain
    assert encode(value) == frame
    assert ExactKey.of(1) != 1
    assert ExactKey.of([1]) != ExactKey.of((1,))
    assert ExactKey.of(0.0) != ExactKey.of(-0.0)  # distinct keys since Erlang/OTP 27
    assert ExactKey.of("ab") == ExactKey.of([97, 98])  # a charlist is a list
    assert repr(ExactKey.of([])) == "ExactKey(term=[])"


def test_large_map_with_clashing_keys_keeps_every_pair() -> None:
    pairs = b"".join(b"a" + bytes((n,)) + b"a\x00" for n in range(1, 80))
    frame = b"\x83t\x00\x00\x00\x50" + pairs + b"F" + struct.pack(">d", 5.0) + b"a\x09"
    value = decode(frame)
    assert len(value) == 80
    assert value[ExactKey.of(5.0)] == 9
    assert value[ExactKey.of(5)] == 0
    assert value[6] == 0


@pytest.mark.parametrize(
    "frame",
    [
        b"\x83t\x00\x00\x00\x02a\x01a\x02a\x01a\x03",  # #{1 => 2, 1 => 3}
        # the charlist "ab" and the list [97, 98] are one term in Erlang
        b"\x83t\x00\x00\x00\x02k\x00\x02aba\x01l\x00\x00\x00\x02a\x61a\x62ja\x02",
        # the atom a, once in Latin-1 and once in UTF-8
        b"\x83t\x00\x00\x00\x02w\x01aa\x01d\x00\x01aa\x02",
        # a map of over 64 keys, one of them twice
        b"\x83t\x00\x00\x00\x50"
        + b"".join(b"a" + bytes((n,)) + b"a\x00" for n in range(1, 80))
        + b"a\x05a\x07",
    ],
)
def test_a_map_holding_a_key_twice_is_refused_as_erlang_does(frame: bytes) -> None:
    # Checked with binary_to_term/1 of Erlang/OTP 25: badarg for each of these.
    rejects(frame, "holds a key twice")


def test_atoms_longer_than_erlang_allows_are_refused() -> None:
    # Erlang: 255 characters at most, whatever their encoding (binary_to_term/1 -> badarg).
    assert decode(b"\x83d\x00\xff" + b"b" * 255) == "b" * 255
    emoji = "\U0001f600" * 255
    assert decode(b"\x83v\x03\xfc" + emoji.encode()) == emoji
    rejects(b"\x83d\x01\x00" + b"c" * 256, "atom of 256 characters is longer than Erlang.s 255")
    rejects(b"\x83v\x01\x00" + b"d" * 256, "atom of 256 characters is longer")
    rejects(b"\x83v\x02\x00" + "é".encode() * 256, "atom of 256 characters is longer")
    rejects(b"\x83h\x01d\x01\x00" + b"e" * 256, "longer than Erlang's 255")  # inline path
    rejects(b"\x83v\x04\x00" + b"f" * 1024, "atom of 1024 bytes")
    with pytest.raises(ValueError, match="256 characters is too long"):
        encode(A("g" * 256))


def test_new_atoms_are_charged_by_their_length() -> None:
    # An atom not in the cache costs its characters (up to 4 bytes each in Python), not a
    # term's share: 255 of them take 15 terms of budget.
    names = [("\U0001f600" + f"{n:04}" + "h" * 250) for n in range(3)]
    frame = encode([A(name) for name in names])
    with pytest.raises(EtfDecodeError, match="max_terms=40"):
        decode(frame, max_terms=40)
    assert decode(frame, max_terms=60) == names


def test_large_maps() -> None:
    value = {i: [i] for i in range(10_000)}
    assert decode(encode(value)) == value
    # One more pair, with a key Python cannot hash: [1, [2]].
    frame = (
        b"\x83t" + struct.pack(">I", 10_001) + encode(value)[6:] + encode([1, [2]])[1:] + b"a\x03"
    )
    assert decode(frame) == value | {(1, (2,)): 3}


def test_map_keys_chosen_to_share_one_hash_are_refused() -> None:
    modulus = (1 << 61) - 1  # hash(n) == n % modulus for Python ints
    pairs = b"".join(encode(k * modulus)[1:] + b"a\x00" for k in range(1, 20_001))
    frame = b"\x83t" + struct.pack(">I", 20_000) + pairs
    error = rejects(frame, "only 1 distinct key hashes")
    assert error.offset == 1
    # A few clashes, as Python's own equal hashes (-1 and -2) give, are fine.
    few = dict.fromkeys((k * modulus for k in range(1, 60)), 0) | dict.fromkeys(range(100), 1)
    assert decode(encode(few)) == few


def test_ever_new_atom_names_do_not_grow_memory_without_end() -> None:
    # A peer may send a new atom name in every frame; whatever the decoder keeps to go faster
    # on the names that repeat must stay bounded.
    frames = []
    for i in range(100_000):
        name = f"fresh_{i}".encode()
        frames += (b"\x83w" + bytes((len(name),)) + name, b"\x83s" + bytes((len(name),)) + name)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i, frame in enumerate(frames):
            atom = decode(frame)
            assert type(atom) is Atom
            assert atom == f"fresh_{i // 2}"
        del atom
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 4 << 20, f"{kept} bytes kept after decoding 200,000 new atoms"  # 30 MB unbounded


def test_repeated_atoms_decode_alike_and_true_false_are_bools() -> None:
    frame = encode([A("again"), A("again"), True, False, A("undefined")])
    for _ in range(3):
        assert same(decode(frame), [A("again"), A("again"), True, False, A("undefined")])
    latin1 = encode([A("again"), True, A("é")], atoms="latin1")
    assert same(decode(latin1), [A("again"), True, A("é")])
    assert same(decode(b"\x83l\x00\x00\x00\x02w\x04trues\x05falsej"), [True, False])


def test_max_depth_counts_containers() -> None:
    def nested(depth: int) -> bytes:
        return b"\x83" + b"h\x01" * depth + b"j"

    assert decode(nested(256)) is not None
    rejects(nested(257), "deeper than max_depth")
    assert decode(nested(3), max_depth=3) == ((([],),),)
    rejects(nested(4), "deeper than max_depth", max_depth=3)
    rejects(b"\x83t\x00\x00\x00\x01jt\x00\x00\x00\x00", "deeper", max_depth=1)
    rejects(b"\x83l\x00\x00\x00\x01jj", "deeper", max_depth=0)


# --- encoding -----------------------------------------------------------------------------------


class Colour(enum.IntEnum):
    RED = 300


class Mood(enum.StrEnum):
    HAPPY = "happy"


class MyAtom(Atom):
    __slots__ = ()


@pytest.mark.parametrize(
    ("term", "frame"),
    [
        (None, b"\x83w\x09undefined"),
        (True, b"\x83w\x04true"),
        (False, b"\x83w\x05false"),
        ("山", b"\x83m\x00\x00\x00\x03" + "山".encode()),
        (b"", b"\x83m\x00\x00\x00\x00"),
        (bytearray(b"ab"), b"\x83m\x00\x00\x00\x02ab"),
        (memoryview(b"ab"), b"\x83m\x00\x00\x00\x02ab"),
        (255, b"\x83a\xff"),
        (256, b"\x83b\x00\x00\x01\x00"),
        (-1, b"\x83b\xff\xff\xff\xff"),
        (2**31, b"\x83n\x04\x00\x00\x00\x00\x80"),
        (-(2**31) - 1, b"\x83n\x04\x01\x01\x00\x00\x80"),
        (2 ** (8 * 255) - 1, b"\x83n\xff\x00" + b"\xff" * 255),
        (2 ** (8 * 255), b"\x83o\x00\x00\x01\x00\x00" + b"\x00" * 255 + b"\x01"),
        (1.5, b"\x83F" + struct.pack(">d", 1.5)),
        (-0.0, b"\x83F" + struct.pack(">d", -0.0)),
        ([], b"\x83j"),
        ((), b"\x83h\x00"),
        (tuple(range(256)), b"\x83i\x00\x00\x01\x00" + encode(list(range(256)))[6:-1]),
        ({}, b"\x83t\x00\x00\x00\x00"),
        (FrozenMap({1: 2}), b"\x83t\x00\x00\x00\x01a\x01a\x02"),
        (ImproperList((1,), 2), b"\x83l\x00\x00\x00\x01a\x01a\x02"),
        (ImproperList((1,), [2]), b"\x83l\x00\x00\x00\x02a\x01a\x02j"),
        (ImproperList((1,), ImproperList((2,), 3)), b"\x83l\x00\x00\x00\x02a\x01a\x02a\x03"),
        (ImproperList((), 5), b"\x83a\x05"),
        (BitBinary(b"\xff", 3), b"\x83M\x00\x00\x00\x01\x03\xe0"),
        (BitBinary(b"ab", 8), b"\x83m\x00\x00\x00\x02ab"),
        (A("日" * 86), b"\x83v\x01\x02" + "日".encode() * 86),
        (Colour.RED, b"\x83b\x00\x00\x01\x2c"),
        (Mood.HAPPY, b"\x83m\x00\x00\x00\x05happy"),
        (MyAtom("x"), b"\x83w\x01x"),
    ],
)
def test_encodes(term: Any, frame: bytes) -> None:
    assert encode(term) == frame


def test_encodes_subclasses_of_containers() -> None:
    class Row(tuple[int, ...]):
        __slots__ = ()

    class Items(list[int]):
        pass

    class Table(dict[int, int]):
        pass

    class Blob(bytes):
        pass

    class Ratio(float):
        pass

    assert encode(Row((1,))) == encode((1,))
    assert encode(Items([1])) == encode([1])
    assert encode(Table({1: 2})) == encode({1: 2})
    assert encode(Blob(b"x")) == encode(b"x")
    assert encode(Ratio(0.5)) == encode(0.5)


def test_latin1_atoms() -> None:
    assert encode(A("é"), atoms="latin1") == b"\x83d\x00\x01\xe9"
    assert encode(True, atoms="latin1") == b"\x83d\x00\x04true"
    assert encode(None, atoms="latin1") == b"\x83d\x00\x09undefined"
    with pytest.raises(ValueError, match="cannot be written in Latin-1"):
        encode(A("日本"), atoms="latin1")


def test_compressed_frame_layout() -> None:
    frame = encode((A("a"), b"x" * 100), compressed=True)
    assert frame[:2] == b"\x83P"
    inner = zlib.decompress(frame[6:])
    assert struct.unpack(">I", frame[2:6])[0] == len(inner)
    assert b"\x83" + inner == encode((A("a"), b"x" * 100))


@pytest.mark.parametrize(
    ("term", "error", "match"),
    [
        (math.nan, ValueError, "NaN"),
        (math.inf, ValueError, "NaN or infinite"),
        (-math.inf, ValueError, "NaN or infinite"),
        (A("a" * 256), ValueError, "too long"),
        (object(), TypeError, "cannot encode object"),
        ({1, 2}, TypeError, "cannot encode set"),
        (BitBinary(b"", 3), ValueError, "BitBinary"),
        (BitBinary(b"a", 0), ValueError, "BitBinary"),
        (BitBinary(b"a", 9), ValueError, "BitBinary"),
        ([1, [2, math.nan]], ValueError, "NaN"),
        (A("\ud800"), ValueError, "lone surrogate"),
        ("a\udfff", ValueError, "lone surrogate"),
    ],
)
def test_encode_refuses(term: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        encode(term)


def test_encode_refuses_a_long_latin1_atom_and_a_bad_mode() -> None:
    with pytest.raises(ValueError, match="too long"):
        encode(A("a" * 256), atoms="latin1")
    with pytest.raises(ValueError, match="atoms must be"):
        encode(1, atoms="ascii")  # type: ignore[arg-type]


def test_encode_refuses_a_term_that_contains_itself() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="contains itself"):
        encode(loop)


# --- hostile and malformed frames ---------------------------------------------------------------

U32_MAX = b"\xff\xff\xff\xff"


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (b"\x83l" + U32_MAX + b"a\x01j", "list declares 4294967295 elements"),
        (b"\x83i" + U32_MAX + b"a\x01", "tuple declares 4294967295 elements"),
        (b"\x83t" + U32_MAX + b"a\x01a\x01", "map declares 4294967295 pairs"),
        (b"\x83m" + U32_MAX + b"abc", "binary declares 4294967295 bytes"),
        (b"\x83M" + U32_MAX + b"\x03abc", "bit binary declares 4294967295 bytes"),
        (b"\x83o" + U32_MAX + b"\x00abc", "big integer declares 4294967295 bytes"),
        (b"\x83k\xff\xffabc", "string declares 65535 bytes"),
        (b"\x83v\xff\xffabc", "atom declares 65535 bytes"),
        (b"\x83d\xff\xffabc", "atom declares 65535 bytes"),
        (b"\x83s\xffabc", "atom declares 255 bytes"),
        (b"\x83w\xffabc", "atom declares 255 bytes"),
        (b"\x83h\xffa\x01", "tuple declares 255 elements"),
        (b"\x83n\xff\x00abc", "big integer declares 255 bytes"),
        (b"\x83h\x02m" + U32_MAX + b"a", "binary declares 4294967295 bytes"),
        (b"\x83h\x02n\xff\x00abc", "big integer declares 255 bytes"),
        (b"\x83h\x02d\xff\xffabc", "atom declares 65535 bytes"),
        (b"\x83h\x02w\xffabc", "atom declares 255 bytes"),
        (b"\x83h\x02w\x04true", "ends in the middle"),
        (b"\x83h\x01h\x02a", "tuple declares 2 elements but only 1 bytes remain"),
    ],
)
def test_lengths_beyond_the_frame(frame: bytes, match: str) -> None:
    rejects(frame, match)


def test_four_billion_elements_in_twenty_bytes() -> None:
    frame = b"\x83l" + U32_MAX + b"a\x01" * 6 + b"jj"
    assert len(frame) == 20
    error = rejects(frame, "4294967295 elements")
    assert error.offset == 1


@pytest.mark.parametrize("opener", [b"l\x00\x00\x00\x01", b"h\x01", b"i\x00\x00\x00\x01"])
def test_hundred_thousand_deep(opener: bytes) -> None:
    depth = 100_000
    closer = b"j" if opener.startswith(b"l") else b""
    frame = b"\x83" + opener * depth + b"j" + closer * depth
    rejects(frame, "deeper than max_depth")


def test_hundred_thousand_deep_maps() -> None:
    frame = b"\x83" + b"t\x00\x00\x00\x01j" * 100_000 + b"j"
    rejects(frame, "deeper than max_depth")


def test_deeper_than_the_python_stack() -> None:
    frame = b"\x83" + b"h\x01" * 100_000 + b"j"
    rejects(frame, "deeper than Python's stack", max_depth=10**9)


def compressed(inner: bytes, declared: int | None = None) -> bytes:
    size = len(inner) if declared is None else declared
    return b"\x83P" + struct.pack(">I", size) + zlib.compress(inner)


def test_compressed_declaring_a_gibibyte() -> None:
    rejects(compressed(b"a\x01", declared=1 << 30), "declares 1073741824 bytes, more than")


def test_compressed_bomb_is_bounded_by_max_inflated() -> None:
    bomb = b"m" + struct.pack(">I", 64 << 20) + bytes(64 << 20)  # 64 MiB of zeros
    frame = b"\x83P" + struct.pack(">I", len(bomb)) + zlib.compress(bomb, 9)
    assert len(frame) < 1 << 20
    rejects(frame, "more than max_inflated")
    # Lying about the size does not help the bomb either: inflation stops at the declared size.
    lying = b"\x83P" + struct.pack(">I", 1000) + frame[6:]
    rejects(lying, "inflates to more than 1000 bytes")


def peak_memory(frame: bytes, **kwargs: Any) -> tuple[Any, int]:
    """Decode `frame`; return the value, or the error, and the peak of memory allocated."""
    tracemalloc.start()
    try:
        try:
            result: Any = decode(frame, **kwargs)
        except EtfDecodeError as err:
            result = err
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    ("element", "count"),
    [
        (b"j", 16_000_000),  # 16 million NILs: a 16 KB frame, once 1.3 GB of empty lists
        (b"t\x00\x00\x00\x00", 3_000_000),  # 15 MB of empty maps, once 436 MB of dicts
        (b"h\x01j", 5_000_000),  # ([]): two objects from three bytes
    ],
)
def test_terms_that_build_more_than_they_weigh_are_bounded(element: bytes, count: int) -> None:
    inner = b"l" + struct.pack(">I", count) + element * count + b"j"
    frame = compressed(inner)
    assert len(frame) < 1 << 20
    with quickly():
        error, peak = peak_memory(frame)
    assert isinstance(error, EtfDecodeError)
    assert f"more than max_terms={etf.MAX_TERMS} terms" in str(error)
    # The inflated frame (up to 16 MB) and zlib's buffers; nothing per element.
    assert peak < 3 * len(inner) + (4 << 20), f"{peak} bytes"


def test_max_terms_counts_the_terms_inside_containers() -> None:
    # 3 + 2 + 2 + 1 terms inside containers, and 2 for the map's dict
    frame = encode([(1, 2), {A("k"): [b"v"]}, []])
    assert decode(frame, max_terms=10) == [(1, 2), {"k": [b"v"]}, []]
    error = rejects(frame, "more than max_terms=9 terms", max_terms=9)
    assert error.offset == 20  # the list inside the map: the one that went over
    assert decode(encode(b"just a leaf"), max_terms=0) == b"just a leaf"
    assert decode(encode({1: 2, 3: 4}), max_terms=6) == {1: 2, 3: 4}
    rejects(encode({1: 2, 3: 4}), "more than max_terms=5", max_terms=5)
    rejects(encode([1]), "more than max_terms=0", max_terms=0)
    # A chain of tails is one list: its segments are charged as they come.
    chain = b"\x83l\x00\x00\x00\x02a\x01a\x02l\x00\x00\x00\x02a\x03a\x04j"
    assert decode(chain, max_terms=4) == [1, 2, 3, 4]
    error = rejects(chain, "more than max_terms=3", max_terms=3)
    assert error.offset == 10
    rejects(
        compressed(b"l\x00\x00\x00\x02jjj"),
        "inflated term at byte 0: frame holds more",
        max_terms=1,
    )


def test_the_largest_real_frame_is_well_within_max_terms() -> None:
    # A snapshot of 10,000 channels (about 5 MB; records shaped as in benchmarks/etf.py).
    record = (
        b"1f0e3a52-7b1c-4d2e-9a8b-0c1d2e3f4a5b",
        (1_700_000_000_000_000, A("calling"), A("local"), A("user"), (b"201", A("undefined"))),
        1_700_000_000_000,
        None,
        b"10001",
        "山田 太郎".encode(),
        b"090-1234-5678",
        "山田 太郎".encode(),
        b"201",
        A("inbound"),
        (A("user"), b"201", "山田 太郎".encode(), b"201@pbx"),
        b"090-1234-5678*%E5%B1%B1%E7%94%B0+%E5%A4%AA%E9%83%8E*Acme*",
        b"090-1234-5678*201",
        (A("end_user"), b"090-1234-5678*x*y*", A("inbound"), A("pstn"), b"0901", 17, 1001),
        1001,
        [A("recorded"), A("vip")],
    )
    body = encode(record)[1:]
    frame = b"\x83h\x03w\x0cinitial_infow\x07channell" + struct.pack(">I", 10_000)
    frame += body * 10_000 + b"j"
    assert len(frame) > 4_000_000
    terms = 3 + 10_000 * (1 + 16 + 5 + 2 + 4 + 7 + 2)  # the records' terms, nested ones too
    assert len(decode(frame)[2]) == 10_000
    assert decode(frame, max_terms=terms) == decode(frame)
    rejects(frame, "more than max_terms", max_terms=terms - 1)
    # Nearly three times the reference snapshot: some 28,000 channels (14 MB) of real records.
    headroom = etf.MAX_TERMS / terms
    assert headroom > 2.5


def test_a_long_chain_of_tails_is_one_flat_list_in_linear_time() -> None:
    # [a | [b | [c ...]]]: Erlang does not write it, but a peer may; it must neither nest nor
    # copy the list at every link.
    links, per_link = 250, 3_000  # within max_depth, which used to count the links
    link = b"l" + struct.pack(">I", per_link) + b"a\x07" * per_link
    chain = b"\x83" + link * links + b"j"
    flat = b"\x83l" + struct.pack(">I", links * per_link) + b"a\x07" * (links * per_link) + b"j"

    def best(frame: bytes) -> float:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            assert decode(frame) == [7] * (links * per_link)
            times.append(time.perf_counter() - start)
        return min(times)

    assert best(chain) < 2 * best(flat) + 0.02  # a copy at every link made it 4 to 10 times
    single = b"\x83" + b"l\x00\x00\x00\x01a\x01" * 100_000 + b"a\x02"  # far past max_depth
    with quickly():
        assert decode(single) == ImproperList((1,) * 100_000, 2)


def test_max_inflated_is_a_parameter() -> None:
    frame = compressed(b"m\x00\x00\x00\x10" + b"x" * 16)
    assert decode(frame) == b"x" * 16
    rejects(frame, "more than max_inflated=20", max_inflated=20)


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (compressed(b"h\x02a\x01a\x02", declared=5), "inflates to more than 5 bytes"),
        (compressed(b"h\x02a\x01a\x02", declared=7), "declares 7 bytes but inflates to 6"),
        (compressed(b"h\x02a\x01a\x02", declared=0), "declares an empty term"),
        (compressed(b"h\x02a\x01a\x02")[:-3], "ends before its zlib stream does"),
        (compressed(b"h\x02a\x01a\x02") + b"xx", "2 bytes follow the compressed data"),
        (b"\x83P\x00\x00\x00\x06garbage!", "not valid zlib data"),
        (b"\x83P\x00\x00\x00", "header is cut short"),
        (compressed(b"a\x01a\x02"), "inflated term at byte 2: 2 bytes follow the term"),
        (compressed(b"h\x02a\x01"), "inflated term at byte 4: frame ends in the middle"),
        (compressed(b"P\x00\x00\x00\x02x\x9c"), "tag 80 COMPRESSED"),
        (compressed(b"h\x01" + compressed(b"a\x01")[1:]), "tag 80 COMPRESSED"),
        (compressed(b"h\x01" * 300 + b"j"), "deeper than max_depth"),
    ],
)
def test_compressed_lies(frame: bytes, match: str) -> None:
    rejects(frame, match)


@pytest.mark.parametrize(
    ("frame", "term", "trailing"),
    [
        # What Erlang/OTP 25's binary_to_term/1 reads: the first term, ignoring what follows.
        (b"\x83a\x01\x00\x00", 1, 2),
        (compressed(b"h\x02a\x01a\x02") + b"\x01\x02\x03", (1, 2), 3),
        (compressed(b"a\x01a\x02"), 1, 2),  # the inflated bytes hold more than the term
        (compressed(b"a\x01a\x02") + b"\x09", 1, 3),
        (b"\x83j", [], 0),
    ],
)
def test_decode_frame_ignores_trailing_bytes_as_erlang_does(
    frame: bytes, term: Any, trailing: int
) -> None:
    read = decode_frame(frame)
    assert read.term == term
    assert read.trailing == trailing
    if trailing:
        with pytest.raises(EtfDecodeError, match="follow the"):
            decode(frame)


def test_decode_frame_tells_what_the_frame_costs() -> None:
    frame = encode([(1, 2), {A("a"): b"x"}], compressed=True)
    read = decode_frame(frame)
    assert read.terms == 2 + 2 + 4  # the list's two, the tuple's two, the map's pair and dict
    assert read.size == len(encode([(1, 2), {A("a"): b"x"}])) - 1
    assert declared_size(frame) == read.size
    assert declared_size(b"\x83j") == 2
    # Erlang's own declared size of a compressed frame, before anything is inflated.
    assert declared_size(b"\x83P\xff\xff\xff\xff") == 0xFFFFFFFF


def valid_frames() -> list[bytes]:
    return [
        (FIXTURES / "minor2" / "info_event.bin").read_bytes(),
        (FIXTURES / "minor0" / "mixed_list.bin").read_bytes(),
        (FIXTURES / "default" / "map.bin").read_bytes(),
        (FIXTURES / "minor2" / "bitstrings.bin").read_bytes(),
        (FIXTURES / "minor2" / "large_big.bin").read_bytes(),
        (FIXTURES / "compressed" / "snapshot.bin").read_bytes(),
        encode([ImproperList((1,), 2), A("日" * 90), {(1, 2): b"x"}, "s", 1.5, -(2**40)]),
        b"\x83s\x03abc",
        b"\x83k\x00\x02ab",
    ]


@pytest.mark.parametrize("frame", valid_frames())
def test_truncated_at_every_cut(frame: bytes) -> None:
    decode(frame)
    start = time.perf_counter()
    for cut in range(len(frame)):
        with pytest.raises(EtfDecodeError) as info:
            decode(frame[:cut])
        assert 0 <= info.value.offset <= cut
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("frame", "match", "offset"),
    [
        (b"", "too short", 0),
        (b"\x83", "too short", 1),
        (b"\x83a\x01\x00", "1 bytes follow the term", 3),
        (b"\x83j\x83j", "2 bytes follow the term", 2),
        (b"\x84a\x01", "version byte is 132, not 131", 0),
        (b"a\x01", "version byte is 97", 0),
        (b"\x83\x00", "unknown tag 0", 1),
        (b"\x83\xff", "unknown tag 255", 1),
        (b"\x83h\x01\x07", "unknown tag 7", 3),
        (b"\x83X" + b"w\x01n" + bytes(12), "tag 88 NEW_PID_EXT", 1),
        (b"\x83gw\x01n" + bytes(9), "tag 103 PID_EXT", 1),
        (b"\x83h\x01Y", "tag 89 NEW_PORT_EXT", 3),
        (b"\x83Z\x00\x01", "NEWER_REFERENCE_EXT", 1),
        (b"\x83e", "tag 101 REFERENCE_EXT", 1),
        (b"\x83f", "tag 102 PORT_EXT", 1),
        (b"\x83p", "tag 112 NEW_FUN_EXT", 1),
        (b"\x83q", "tag 113 EXPORT_EXT", 1),
        (b"\x83r", "tag 114 NEW_REFERENCE_EXT", 1),
        (b"\x83u", "tag 117 FUN_EXT", 1),
        (b"\x83x", "tag 120 V4_PORT_EXT", 1),
        (b"\x83y", "tag 121 LOCAL_EXT", 1),
        (b"\x83R\x00", "tag 82 ATOM_CACHE_REF", 1),
        (b"\x83D", "tag 68 DIST_HEADER", 1),
        (b"\x83h\x01P", "tag 80 COMPRESSED", 3),
        (b"\x83w\x02\xff\xfe", "atom name is not valid UTF-8", 3),
        (b"\x83v\x00\x03a\xe6\x97", "not valid UTF-8", 5),
        (b"\x83h\x01w\x01\x80", "not valid UTF-8", 5),
        (b"\x83n\x01\x02\x05", "sign byte is 2", 3),
        (b"\x83o\x00\x00\x00\x01\x07\x05", "sign byte is 7", 6),
        (b"\x83h\x01n\x01\x02\x05", "sign byte is 2", 5),
        (b"\x83F" + struct.pack(">d", math.nan), "NaN or infinite", 2),
        (b"\x83F" + struct.pack(">d", -math.inf), "NaN or infinite", 2),
        (b"\x83c" + b"nan".ljust(31, b"\0"), "is not a number", 2),
        (b"\x83c" + b"inf".ljust(31, b"\0"), "is not a number", 2),
        (b"\x83c" + b"1_0".ljust(31, b"\0"), "is not a number", 2),
        (b"\x83c" + b"1.0e999".ljust(31, b"\0"), "out of range", 2),
        (b"\x83c" + b"1.0", "old float declares 31 bytes", 1),
        (b"\x83M\x00\x00\x00\x01\x00\xff", "says 0 bits", 6),
        (b"\x83M\x00\x00\x00\x01\x09\xff", "says 9 bits", 6),
        (b"\x83M\x00\x00\x00\x00\x03", "bit binary of 0 bytes", 6),
        (b"\x83M\x00\x00\x00\x00\x09", "bit binary of 0 bytes says 9 bits", 6),
    ],
)
def test_malformed(frame: bytes, match: str, offset: int) -> None:
    error = rejects(frame, match)
    assert error.offset == offset
    assert f"at byte {offset}:" in str(error)


@pytest.mark.parametrize("data", ["\x83a\x01", 131, None, [131, 97, 1]])
def test_not_bytes(data: Any) -> None:
    with pytest.raises(EtfDecodeError, match="expected bytes"):
        decode(data)


def test_memory_error_is_reported_as_a_decode_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def exhausted(*_: Any) -> tuple[Any, int]:
        raise MemoryError

    dispatch = list(etf._DISPATCH)
    dispatch[109] = exhausted
    monkeypatch.setattr(etf, "_DISPATCH", dispatch)
    rejects(b"\x83m\x00\x00\x00\x01x", "too large for the memory")

    class Inflater:
        def decompress(self, *_: Any) -> bytes:
            raise MemoryError

    monkeypatch.setattr(zlib, "decompressobj", Inflater)
    rejects(compressed(b"a\x01"), "too large for the memory")


def test_decode_errors_are_value_errors_with_offset_and_reason() -> None:
    error = EtfDecodeError(7, "what went wrong")
    assert isinstance(error, ValueError)
    assert (error.offset, error.reason) == (7, "what went wrong")
    assert str(error) == "ETF decode error at byte 7: what went wrong"


def test_reexports() -> None:
    from custom_components.basix_cti.cti import terms

    assert etf.Atom is terms.Atom
    assert etf.ImproperList is terms.ImproperList
    assert etf.BitBinary is terms.BitBinary
    assert etf.EtfDecodeError is terms.EtfDecodeError
    assert repr(A("x")) == "Atom('x')"


def test_large_inputs_are_linear() -> None:
    # A 1 MB big integer and a 1 MB binary decode quickly (Python ints are built in linear time).
    big = b"\x83o" + struct.pack(">I", 1 << 20) + b"\x00" + b"\xff" * (1 << 20)
    with quickly():
        assert decode(big) == 2 ** (8 << 20) - 1
    many = encode([(A("k"), i, b"v") for i in range(100_000)])
    with quickly(2.0):
        assert len(decode(many)) == 100_000
