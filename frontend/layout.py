"""Abstract layouts of ONNX tensors in an SNN graph, and how Reshape / Flatten / Transpose move between them.

An ONNX model written per the snnc specification stores one IR value in several array layouts:

============  ======================  ======================================================
layout        ONNX shape              where it appears
============  ======================  ======================================================
time          ``[T, B, *f]``          spike trains and currents (encoder out, neuron in/out)
merged        ``[T*B, *f]``           the view Conv / AveragePool / 2-D Gemm work on
batch         ``[B, *f]``             the input ``x``, decoder scores, spatio-temporal Gemm
batch_time    ``[B, T, *f]``          after ``Transpose(perm=[1, 0, ...])`` of a time value
============  ======================  ======================================================

``T`` is a known integer; the batch ``B`` is symbolic. A dimension is a :class:`Dim`:
``coeff * B`` when ``batch`` is set, else the integer ``coeff``. Reshape and Flatten targets are
resolved to dims (``0`` copies the input dim, ``-1`` takes the rest, possibly with ``B``), then
classified into a layout; a reshape that would move data between samples or steps is rejected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class LayoutError(Exception):
    """A shape transition that is not a per-sample (per-step) reshape; the caller adds the node."""


class Layout(StrEnum):
    """How an ONNX tensor lays out an IR value (see the module docstring)."""

    TIME = "time"
    MERGED = "merged"
    BATCH = "batch"
    BATCH_TIME = "batch_time"

    @property
    def time_major(self) -> bool:
        """True when the IR value behind this layout is a spike train or current."""
        return self is not Layout.BATCH

    def describe(self) -> str:
        return {"time": "[T, B, *f]", "merged": "[T*B, *f]", "batch": "[B, *f]", "batch_time": "[B, T, *f]"}[self]


@dataclass(frozen=True)
class Dim:
    """One dimension: ``coeff`` times the symbolic batch ``B`` if ``batch``, else the integer ``coeff``."""

    coeff: int
    batch: bool = False

    def __mul__(self, other: Dim) -> Dim:
        if self.batch and other.batch:
            raise LayoutError("the batch axis would appear twice")
        return Dim(self.coeff * other.coeff, self.batch or other.batch)

    def __str__(self) -> str:
        if not self.batch:
            return str(self.coeff)
        return "B" if self.coeff == 1 else f"{self.coeff}*B"


BATCH_DIM = Dim(1, True)


def product(dims: Sequence[Dim]) -> Dim:
    """The product of dims (at most one may carry the batch)."""
    out = Dim(1)
    for d in dims:
        out = out * d
    return out


def full_dims(layout: Layout, features: Sequence[int], time_steps: int) -> list[Dim]:
    """The ONNX shape of a value with these features in this layout."""
    feats = [Dim(f) for f in features]
    lead = {
        Layout.TIME: [Dim(time_steps), BATCH_DIM],
        Layout.MERGED: [Dim(time_steps, True)],
        Layout.BATCH: [BATCH_DIM],
        Layout.BATCH_TIME: [BATCH_DIM, Dim(time_steps)],
    }[layout]
    return lead + feats


def format_dims(dims: Sequence[Dim]) -> str:
    return "[" + ", ".join(map(str, dims)) + "]"


def resolve_reshape(source: Sequence[Dim], target: Sequence[int | Dim], allowzero: bool = False) -> list[Dim]:
    """Resolve an ONNX Reshape target (``0`` copies, ``-1`` infers) against the source dims.

    Raises:
        LayoutError: the target cannot hold the source's elements with one symbolic batch axis.
    """
    total = product(source)
    dims: list[Dim | None] = []
    for i, t in enumerate(target):
        if isinstance(t, Dim):
            dims.append(t)
        elif t == 0 and not allowzero:
            if i >= len(source):
                raise LayoutError(f"target entry {i} is 0 (copy) but the input has only {len(source)} dims")
            dims.append(source[i])
        elif t == -1:
            dims.append(None)
        elif t < 1:
            raise LayoutError(f"target entry {t} is not a valid dimension")
        else:
            dims.append(Dim(int(t)))
    unknown = [i for i, d in enumerate(dims) if d is None]
    if len(unknown) > 1:
        raise LayoutError("the target has more than one -1")
    known = [d for d in dims if d is not None]
    batch_count = sum(d.batch for d in known)
    if batch_count > 1:
        raise LayoutError("the target has more than one batch axis")
    coeff = math.prod(d.coeff for d in known)
    if unknown:
        if coeff == 0 or total.coeff % coeff:
            raise LayoutError(f"{total.coeff} values per sample do not divide into the known dims")
        dims[unknown[0]] = Dim(total.coeff // coeff, batch_count == 0)
    elif batch_count == 0:
        raise LayoutError("the target fixes the batch size (no -1 and no 0 copying the batch axis); "
                          "the batch must stay symbolic")
    resolved = [d for d in dims if d is not None]
    if product(resolved) != total:
        raise LayoutError(f"the target holds {product(resolved)} values, the input {total}")
    return resolved


def flatten_dims(source: Sequence[Dim], axis: int) -> list[Dim]:
    """ONNX Flatten: ``[prod(dims[:axis]), prod(dims[axis:])]`` (negative ``axis`` counts from the end)."""
    rank = len(source)
    if axis < 0:
        axis += rank
    if not 0 <= axis <= rank:
        raise LayoutError(f"axis {axis} is out of range for a rank-{rank} input")
    return [product(source[:axis]), product(source[axis:])]


def classify(source: Layout, features: Sequence[int], dims: Sequence[Dim],
             time_steps: int) -> tuple[Layout, tuple[int, ...]]:
    """The layout and features of ``dims`` reached by a row-major reshape from ``source``.

    Only reshapes that keep every sample (and step) a contiguous block of its own are accepted:
    time and merged views convert into each other, batch stays batch, and a batch_time value
    either keeps ``[B, T, ...]`` or becomes ``[B, T*N...]`` (the spatio-temporal flattening).

    Raises:
        LayoutError: the reshape would mix samples, steps and features.
    """
    batch_axes = [i for i, d in enumerate(dims) if d.batch]
    if len(batch_axes) != 1:
        raise LayoutError("the result needs exactly one batch axis")
    axis, lead = batch_axes[0], dims[batch_axes[0]]
    feats = tuple(d.coeff for d in dims[axis + 1:])
    t = time_steps
    if source in (Layout.TIME, Layout.MERGED):
        if axis == 0 and lead.coeff == t:
            return Layout.MERGED, feats
        if axis == 1 and lead.coeff == 1 and dims[0] == Dim(t):
            return Layout.TIME, feats
        raise LayoutError(f"a time-major value must stay [T, B, ...] or [T*B, ...] (T = {t}); "
                          f"this would mix the time and batch axes")
    if source is Layout.BATCH:
        if axis == 0 and lead.coeff == 1:
            return Layout.BATCH, feats
        raise LayoutError("a per-sample tensor [B, ...] must keep its leading batch axis")
    # batch_time [B, T, *f]
    if axis == 0 and lead.coeff == 1:
        # [B, T*N] with N = 1 is [B, T]: the spatio-temporal flattening, not a [B, T] view with no features
        if len(feats) > 1 and feats[0] == t and math.prod(feats[1:]) == math.prod(features):
            return Layout.BATCH_TIME, feats[1:]
        return Layout.BATCH, feats
    raise LayoutError("a [B, T, ...] value must keep its leading batch axis")


def transpose(source: Layout, perm: Sequence[int], rank: int) -> Layout:
    """The layout after ``Transpose(perm)``: identity, or swapping the two leading axes of time / batch_time.

    Raises:
        LayoutError: any other permutation (features cannot be permuted in the IR).
    """
    if sorted(perm) != list(range(rank)):
        raise LayoutError(f"perm {list(perm)} is not a permutation of {rank} axes")
    if list(perm) == list(range(rank)):
        return source
    swap = [1, 0, *range(2, rank)]
    if list(perm) == swap and source is Layout.TIME:
        return Layout.BATCH_TIME
    if list(perm) == swap and source is Layout.BATCH_TIME:
        return Layout.TIME
    raise LayoutError(f"perm {list(perm)} on a {source.describe()} value: only swapping the leading [T, B] "
                      "axes (perm [1, 0, 2, ...]) is supported")
