"""Symbolic shape arithmetic: the ``Shape -> Gather -> Unsqueeze -> Concat -> Reshape`` chains exporters write.

``x.view(x.size(0), -1)`` exports from torch as a Reshape whose target is computed from ``Shape(x)``.
Such a target holds the symbolic batch, so it is no constant. A :class:`ShapeValue` is an int64
vector (or scalar) of :class:`~snnc.frontend.layout.Dim` entries, and the functions here are the
few ONNX ops such chains use, evaluated on it. A result without a batch entry becomes a plain
NumPy array again, so constant code paths take over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from snnc.frontend.layout import Dim, LayoutError


@dataclass(frozen=True)
class ShapeValue:
    """An int64 tensor of rank 0 (``scalar``) or 1 whose entries may be symbolic (contain ``B``)."""

    dims: tuple[Dim, ...]
    scalar: bool = False

    def __str__(self) -> str:
        text = ", ".join(map(str, self.dims))
        return text if self.scalar else f"[{text}]"


IntVector = ShapeValue | np.ndarray


def make(dims: Sequence[Dim], scalar: bool = False) -> IntVector:
    """A ShapeValue, or an int64 array when no entry is symbolic."""
    if any(d.batch for d in dims):
        return ShapeValue(tuple(dims), scalar)
    array = np.array([d.coeff for d in dims], dtype=np.int64)
    return array.reshape(()) if scalar else array


def as_dims(value: IntVector) -> tuple[list[Dim], bool]:
    """Entries and scalar flag of a ShapeValue or an integer array of rank 0 or 1."""
    if isinstance(value, ShapeValue):
        return list(value.dims), value.scalar
    if value.ndim > 1 or not np.issubdtype(value.dtype, np.integer):
        raise LayoutError(f"expected an integer scalar or vector, got {value.dtype} of shape {list(value.shape)}")
    return [Dim(int(v)) for v in value.reshape(-1)], value.ndim == 0


def as_ints(value: np.ndarray) -> list[int]:
    """A constant integer index list."""
    dims, _ = as_dims(value)
    return [d.coeff for d in dims]


def shape_of(dims: Sequence[Dim], start: int = 0, end: int | None = None) -> IntVector:
    """ONNX Shape with its ``start`` / ``end`` attributes (opset 15)."""
    return make(list(dims)[slice(start, end)])


def gather(data: IntVector, indices: np.ndarray) -> IntVector:
    """ONNX Gather on axis 0 with constant indices."""
    dims, scalar = as_dims(data)
    if scalar:
        raise LayoutError("cannot Gather from a scalar")
    idx = np.asarray(indices)
    picked = []
    for i in idx.reshape(-1):
        if not -len(dims) <= int(i) < len(dims):
            raise LayoutError(f"index {int(i)} is out of range for {len(dims)} entries")
        picked.append(dims[int(i)])
    if idx.ndim > 1:
        raise LayoutError("Gather with indices of rank > 1 on a shape is not supported")
    return make(picked, scalar=idx.ndim == 0)


def unsqueeze(data: IntVector, axes: Sequence[int]) -> IntVector:
    """ONNX Unsqueeze of a scalar to a vector of one entry (the only form shapes need)."""
    dims, scalar = as_dims(data)
    if not scalar or list(axes) not in ([0], [-1]):
        raise LayoutError("only Unsqueeze of a scalar on axis 0 is supported for shape values")
    return make(dims)


def squeeze(data: IntVector, axes: Sequence[int] | None) -> IntVector:
    """ONNX Squeeze of a one-entry vector to a scalar."""
    dims, scalar = as_dims(data)
    if scalar or len(dims) != 1 or (axes is not None and list(axes) not in ([0], [-1])):
        raise LayoutError("only Squeeze of a one-entry vector on axis 0 is supported for shape values")
    return make(dims, scalar=True)


def concat(parts: Sequence[IntVector], axis: int) -> IntVector:
    """ONNX Concat of vectors on axis 0."""
    if axis not in (0, -1):
        raise LayoutError(f"Concat of shape vectors needs axis 0, got {axis}")
    out: list[Dim] = []
    for part in parts:
        dims, scalar = as_dims(part)
        if scalar:
            raise LayoutError("Concat needs vectors, got a scalar")
        out.extend(dims)
    return make(out)


def slice_(data: IntVector, starts: Sequence[int], ends: Sequence[int], axes: Sequence[int] | None,
           steps: Sequence[int] | None) -> IntVector:
    """ONNX Slice of a vector on axis 0 with constant bounds."""
    dims, scalar = as_dims(data)
    if scalar or len(starts) != 1 or (axes is not None and list(axes) not in ([0], [-1])):
        raise LayoutError("only a one-axis Slice of a vector is supported for shape values")
    step = steps[0] if steps else 1
    return make(dims[slice(int(starts[0]), int(ends[0]), int(step))])


def multiply(a: IntVector, b: IntVector) -> IntVector:
    """ONNX Mul of two shape values of the same rank (or a scalar and a vector)."""
    da, sa = as_dims(a)
    db, sb = as_dims(b)
    if sa and not sb:
        da = da * len(db)
    elif sb and not sa:
        db = db * len(da)
    if len(da) != len(db):
        raise LayoutError("Mul of shape vectors of different lengths")
    return make([x * y for x, y in zip(da, db, strict=True)], scalar=sa and sb)
