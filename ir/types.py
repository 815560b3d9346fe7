"""Value types of the spiking IR.

Every SSA value has a :class:`ValueType`: a *kind*, the per-sample *feature* shape and a dtype.
The leading axes are implied by the kind, so the feature shape is all a type stores:

========  ======================  ==========================================================
kind      full shape              meaning
========  ======================  ==========================================================
spikes    ``[T, B, *features]``   binary spike train on the time grid (printed without dtype)
current   ``[T, B, *features]``   time-major real or integer values (synaptic input ``I``)
potential ``[T, B, *features]``   a neuron's potential trace ``V[t]`` (``snn.li``): decoded, never a synapse input
tensor    ``[B, *features]``      dense per-sample tensor (encoder input, decoder scores)
========  ======================  ==========================================================

``T`` is the graph's ``time_steps``; ``B`` is the batch, always symbolic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """What a value is: a spike train, a time-major current, a time-major potential trace, or a dense
    per-sample tensor."""

    SPIKES = "spikes"
    CURRENT = "current"
    POTENTIAL = "potential"
    TENSOR = "tensor"

    @property
    def time_major(self) -> bool:
        """True for kinds whose full shape starts with ``[T, B]``."""
        return self is not Kind.TENSOR


#: dtypes a value or a parameter may have, by their IR spelling.
DTYPES: dict[str, str] = {
    "i1": "bool",
    "i8": "int8",
    "i16": "int16",
    "i32": "int32",
    "i64": "int64",
    "f32": "float32",
    "f64": "float64",
}
#: numpy dtype name -> IR spelling.
NUMPY_TO_DTYPE: dict[str, str] = {v: k for k, v in DTYPES.items()}


@dataclass(frozen=True)
class ValueType:
    """The type of an SSA value: kind, feature shape and dtype (``i1`` for spikes)."""

    kind: Kind
    features: tuple[int, ...]
    dtype: str = "f32"

    def __post_init__(self) -> None:
        if self.kind is Kind.SPIKES and self.dtype != "i1":
            object.__setattr__(self, "dtype", "i1")

    @staticmethod
    def spikes(*features: int) -> ValueType:
        return ValueType(Kind.SPIKES, tuple(features), "i1")

    @staticmethod
    def current(*features: int, dtype: str = "f32") -> ValueType:
        return ValueType(Kind.CURRENT, tuple(features), dtype)

    @staticmethod
    def potential(*features: int, dtype: str = "f32") -> ValueType:
        return ValueType(Kind.POTENTIAL, tuple(features), dtype)

    @staticmethod
    def tensor(*features: int, dtype: str = "f32") -> ValueType:
        return ValueType(Kind.TENSOR, tuple(features), dtype)

    @property
    def size(self) -> int:
        """Number of features per sample (and per step for time-major kinds)."""
        return math.prod(self.features)

    def full_shape(self, time_steps: int | str = "T", batch: int | str = "B") -> tuple[int | str, ...]:
        """The full array shape, with ``T`` and ``B`` filled in where given."""
        lead = (time_steps, batch) if self.kind.time_major else (batch,)
        return (*lead, *self.features)

    def __str__(self) -> str:
        dims = "x".join(str(d) for d in self.full_shape())
        if self.kind is Kind.SPIKES:
            return f"spikes<{dims}>"
        return f"{self.kind.value}<{dims}x{self.dtype}>"
