"""Numbers from the wire as text: exact, and never the ValueError of a huge integer."""

from __future__ import annotations

from custom_components.basix_cti.cti.terms import Atom, as_text, int_text


def test_int_text_writes_any_integer_a_frame_can_carry() -> None:
    assert int_text(17) == "17"
    assert int_text(-(10**4000)) == "-1" + "0" * 4000
    huge = 1 << 100_000  # 30,103 digits: str() raises ValueError past 4,300 by default
    assert int_text(huge) == "0x1" + "0" * 25_000
    assert int_text(-huge) == "-0x1" + "0" * 25_000
    assert int_text(huge) != int_text(huge + 1)  # exact: different integers stay different
    assert int_text(True) == "1"


def test_as_text_never_raises() -> None:
    huge = 7**20_000
    assert as_text(huge) == int_text(huge)
    assert as_text((huge,)) == "<tuple too large to show>"
    assert as_text(Atom("a")) == "a"
    assert as_text(None) == "None"
    assert as_text(True) == "True"
