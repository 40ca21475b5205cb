"""Property tests for the ETF codec: round trips, and fuzzing `decode` with hostile bytes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings, strategies as st

from custom_components.basix_cti.cti.etf import (
    Atom,
    BitBinary,
    EtfDecodeError,
    ImproperList,
    decode,
    encode,
)
from tests.cti.same_terms import same

# Hostile input must fail fast; generous, because this machine is shared and slow at times.
DEADLINE = timedelta(milliseconds=500)
FUZZ = settings(max_examples=400, deadline=DEADLINE, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(
    max_examples=200, deadline=DEADLINE, suppress_health_check=[HealthCheck.too_slow]
)


def _atom_names(latin1: bool) -> st.SearchStrategy[str]:
    # Lone surrogates are not text: no atom can hold one.
    alphabet = st.characters(max_codepoint=255 if latin1 else None, exclude_categories=["Cs"])
    # `true` and `false` come back as bools, by design.
    return st.text(alphabet, max_size=90).map(lambda s: s + "!" if s in {"true", "false"} else s)


def _bit_binary(data: bytes, bits: int) -> BitBinary:
    mask = (0xFF00 >> bits) & 0xFF
    return BitBinary(data[:-1] + bytes((data[-1] & mask,)), bits)


def _scalars(latin1: bool) -> st.SearchStrategy[Any]:
    """The leaf values `decode` produces (STRING_EXT's `str` aside: encode writes binaries)."""
    return st.one_of(
        st.integers(min_value=-300, max_value=300),
        st.integers(min_value=-(2**31) - 2, max_value=2**31 + 1),
        st.integers(),
        st.integers(min_value=1, max_value=2**40).map(lambda n: n << 2100),  # LARGE_BIG
        st.floats(allow_nan=False, allow_infinity=False),
        _atom_names(latin1).map(Atom),
        st.booleans(),
        st.binary(max_size=40),
        st.builds(_bit_binary, st.binary(min_size=1, max_size=6), st.integers(1, 7)),
    )


def _keys(latin1: bool) -> st.SearchStrategy[Any]:
    return st.recursive(
        _scalars(latin1),
        lambda inner: st.lists(inner, max_size=3).map(tuple),
        max_leaves=6,
    )


def _improper(
    children: st.SearchStrategy[Any], scalars: st.SearchStrategy[Any], keys: st.SearchStrategy[Any]
) -> st.SearchStrategy[ImproperList]:
    # A tail that is a list would make the list proper: tails are built, not filtered, as
    # filters inside recursive strategies make Hypothesis slow and chatty.
    tails = st.one_of(
        scalars,
        st.lists(children, max_size=3).map(tuple),
        st.dictionaries(keys, children, max_size=3),
    )
    return st.builds(
        lambda elements, tail: ImproperList(tuple(elements), tail),
        st.lists(children, min_size=1, max_size=4),
        tails,
    )


def terms(latin1: bool) -> st.SearchStrategy[Any]:
    """Any value `decode` can produce, nested."""
    # Deferred parts keep the strategy's repr short (Hypothesis warns about huge ones).
    scalars = st.deferred(lambda: _scalars(latin1))
    keys = st.deferred(lambda: _keys(latin1))
    return st.recursive(
        st.one_of(scalars, st.just([])),
        lambda children: st.one_of(
            st.lists(children, max_size=6),
            st.lists(children, max_size=6).map(tuple),
            _improper(children, scalars, keys),
            st.dictionaries(keys, children, max_size=4),
        ),
        max_leaves=40,
    )


# Built once: building recursive strategies per example would dominate the run time.
# Deferred, too: the full repr of these strategies runs to 50 kB, and Hypothesis would print it.
TERMS = {
    "utf8": st.deferred(lambda: terms(latin1=False)),
    "latin1": st.deferred(lambda: terms(latin1=True)),
}
# An atom mode and a term that mode can write.
MODE_AND_TERM = st.one_of(
    TERMS["utf8"].map(lambda term: ("utf8", term)),
    TERMS["latin1"].map(lambda term: ("latin1", term)),
)


@ROUND_TRIP
@given(MODE_AND_TERM, st.booleans())
def test_round_trip(mode_and_term: tuple[str, Any], compressed: bool) -> None:
    atoms, term = mode_and_term
    frame = encode(term, compressed=compressed, atoms=atoms)  # type: ignore[arg-type]
    assert same(decode(frame), term)
    # Encoding is canonical: what decode gives back encodes to the same bytes.
    assert encode(decode(frame), compressed=compressed, atoms=atoms) == frame  # type: ignore[arg-type]


@settings(ROUND_TRIP, max_examples=20)
@given(st.lists(st.integers(), min_size=256, max_size=300).map(tuple))
def test_round_trip_large_tuples(term: tuple[int, ...]) -> None:
    assert decode(encode(term)) == term


@ROUND_TRIP
@given(st.text(st.characters(exclude_categories=["Cs"])), st.none())
def test_text_and_none_come_back_as_bert_has_them(text: str, nothing: None) -> None:
    assert same(decode(encode(text)), text.encode())
    assert same(decode(encode([nothing])), [Atom("undefined")])


def decodes_or_refuses(frame: bytes, **kwargs: Any) -> None:
    """Decode `frame`: a value or EtfDecodeError, and nothing else, may come out."""
    error: EtfDecodeError | None = None
    try:
        decode(frame, **kwargs)
    except EtfDecodeError as err:
        error = err
    if error is not None:
        assert 0 <= error.offset <= len(frame)
        assert error.reason


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(frame: bytes) -> None:
    decodes_or_refuses(frame)


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_terms(body: bytes) -> None:
    decodes_or_refuses(b"\x83" + body)
    decodes_or_refuses(b"\x83P" + body, max_inflated=1 << 20)


_MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["set", "insert", "delete", "u32", "u16", "truncate"]),
        st.integers(min_value=0),
        st.integers(min_value=0, max_value=255),
        st.sampled_from([0, 1, 255, 256, 0x7FFFFFFF, 0xFFFFFFFF, 65535]),
    ),
    min_size=1,
    max_size=4,
)


def mutate(frame: bytes, mutations: list[tuple[str, int, int, int]]) -> bytes:
    """Apply byte-level damage: flips, insertions, deletions, huge lengths, cuts."""
    out = bytearray(frame)
    for kind, where, byte, length in mutations:
        at = where % (len(out) + 1)
        if kind == "set" and at < len(out):
            out[at] = byte
        elif kind == "insert":
            out[at:at] = bytes((byte,))
        elif kind == "delete":
            del out[at : at + 1 + byte % 4]
        elif kind == "u32":
            out[at : at + 4] = struct.pack(">I", length)
        elif kind == "u16":
            out[at : at + 2] = struct.pack(">H", length & 0xFFFF)
        else:
            del out[at:]
    return bytes(out)


@FUZZ
@given(MODE_AND_TERM, _MUTATIONS, st.booleans())
def test_fuzz_mutated_frames(
    mode_and_term: tuple[str, Any], mutations: list[tuple[str, int, int, int]], compressed: bool
) -> None:
    atoms, term = mode_and_term
    frame = encode(term, compressed=compressed, atoms=atoms)  # type: ignore[arg-type]
    decodes_or_refuses(mutate(frame, mutations))


@FUZZ
@given(_MUTATIONS)
def test_fuzz_mutated_protocol_frame(mutations: list[tuple[str, int, int, int]]) -> None:
    record = (
        b"c0ffee",
        (1700000000000000, Atom("calling"), Atom("user"), (b"201", Atom("undefined"))),
        1700000000000,
        "山田 太郎",
        {Atom("k"): [1, 2.5, -(2**40), BitBinary(b"\x80", 1), ImproperList((1,), Atom("t"))]},
    )
    frame = encode((Atom("info_event"), Atom("channel"), record, Atom("CHANNEL_CREATE")))
    decodes_or_refuses(mutate(frame, mutations))
    decodes_or_refuses(mutate(encode(record, atoms="latin1"), mutations))


ERLANG_FRAMES = sorted(
    path.read_bytes()
    for path in (Path(__file__).parent.parent / "fixtures" / "erlang").glob("*/*.bin")
)


@FUZZ
@given(st.sampled_from(ERLANG_FRAMES), _MUTATIONS)
def test_fuzz_mutated_erlang_frames(
    frame: bytes, mutations: list[tuple[str, int, int, int]]
) -> None:
    decodes_or_refuses(mutate(frame, mutations))
