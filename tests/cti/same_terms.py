"""Strict equality of decoded terms, for the codec's tests."""

from __future__ import annotations

import math
from typing import Any

from custom_components.basix_cti.cti.terms import FrozenMap, ImproperList


def same(a: Any, b: Any) -> bool:
    """Equal and of exactly the same types all the way down (`==` says Atom('a') == 'a')."""
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict | FrozenMap):
        return len(a) == len(b) and all(k in b and same(v, b[k]) for k, v in a.items())
    if isinstance(a, ImproperList):
        return same(a.elements, b.elements) and same(a.tail, b.tail)
    if isinstance(a, float):
        return math.copysign(1, a) == math.copysign(1, b) and a == b
    return bool(a == b)
