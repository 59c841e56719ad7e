"""Exact quarter-length arithmetic at the music21 boundary."""

from __future__ import annotations

from fractions import Fraction
from typing import Final

# music21's opFrac keeps non-dyadic values (triplets, quintuplets) as Fractions and returns
# floats only for values that are exact binary fractions; this limit only guards against a
# float that music21 computed itself (e.g. after a float division) and is far above any
# real tuplet denominator.
_MAX_DENOMINATOR: Final = 1 << 16


def to_fraction(value: object) -> Fraction:
    """A music21 offset/quarterLength (int, float or Fraction) as an exact Fraction."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool):
        raise TypeError("a quarter length cannot be a boolean")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        exact = Fraction(value)
        if exact.denominator <= _MAX_DENOMINATOR:
            return exact
        return exact.limit_denominator(_MAX_DENOMINATOR)
    raise TypeError(f"not a quarter length: {value!r}")
