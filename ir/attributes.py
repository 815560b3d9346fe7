"""Attribute specifications: the typed, checked options of an op.

An op's attributes are plain Python values (``int``, ``float``, ``str``, ``list[int]``) or
NumPy arrays (parameters such as weights and thresholds). An :class:`Attr` states the type of
one attribute, whether it is required, and a check on its value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from snnc.ir.types import NUMPY_TO_DTYPE

#: attribute value types, by the name used in error messages.
ATTR_TYPES: dict[str, Callable[[Any], bool]] = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, float),
    "str": lambda v: isinstance(v, str),
    "ints": lambda v: isinstance(v, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in v),
    "array": lambda v: isinstance(v, np.ndarray) and v.dtype.name in NUMPY_TO_DTYPE,
}


@dataclass(frozen=True)
class Attr:
    """One attribute of an op.

    Args:
        type: a key of :data:`ATTR_TYPES`.
        required: whether the op must carry it.
        check: returns an error text for a bad value, or None when the value is fine.
        doc: one line for the IR reference.
    """

    type: str
    required: bool = True
    check: Callable[[Any], str | None] | None = None
    doc: str = ""

    def problem(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable for this attribute, or None."""
        if not ATTR_TYPES[self.type](value):
            return f"expected {self.type}, got {type(value).__name__} {_short(value)}"
        return self.check(value) if self.check else None


def _short(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array{list(value.shape)} of {value.dtype}"
    text = repr(value)
    return text if len(text) < 40 else text[:37] + "..."


def positive(v: Any) -> str | None:
    if isinstance(v, float) and not math.isfinite(v):
        return f"must be a finite number > 0, got {v}"
    return None if v > 0 else f"must be > 0, got {v}"


def length(n: int) -> Callable[[Any], str | None]:
    def check(v: list[int]) -> str | None:
        return None if len(v) == n else f"must have {n} entries, got {len(v)}"

    return check


def one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(v: str) -> str | None:
        return None if v in choices else f"must be one of {', '.join(map(repr, choices))}, got {v!r}"

    return check


def ndim(*allowed: int) -> Callable[[Any], str | None]:
    def check(v: np.ndarray) -> str | None:
        dims = " or ".join(map(str, allowed))
        return None if v.ndim in allowed else f"must have {dims} dims, got shape {list(v.shape)}"

    return check


def finite(v: np.ndarray) -> str | None:
    return None if np.all(np.isfinite(v)) else "contains NaN or infinite values"


def all_of(*checks: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        for c in checks:
            problem = c(v)
            if problem:
                return problem
        return None

    return check
