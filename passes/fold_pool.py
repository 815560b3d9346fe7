"""Fold an average pool into the synapse that reads it (``docs/yoso.md``, "Folding average pools").

A spiking CNN pools a layer's spikes before the next synapse (the STDBP trainer writes
``S -> snn.avgpool2d -> snn.conv2d`` and ``S -> snn.avgpool2d -> snn.flatten -> snn.dense``). The pool's
output is a fractional current, not spikes, so a mesh that runs one synapse per layer on spikes cannot
map the pair as it stands. Both are linear, so the pass replaces them by one synapse on the unpooled
spikes that computes the same sums. For a pool of ``k x k`` with stride ``k`` (``kh x kw`` in general):

* conv (kernel ``K``, stride ``s``, pads ``p``, dilation 1) -> conv with kernel ``k*K``, stride ``k*s``,
  pads ``k*p`` and ``w'[o, i, k*y + a, k*x + b] = w[o, i, y, x] / k^2`` (``0 <= a, b < k``);
* dense on the flattened pool ``C x Hp x Wp`` -> dense on the flattened ``C x H x W`` input with
  ``w'[j, (c, y, x)] = w[j, (c, y // k, x // k)] / k^2``, and 0 for rows and columns the pool drops.

Exact in real arithmetic; in float32 the sums are taken in another order (bit-exact where the weights
are dyadic and ``k^2`` is a power of two, SPEC section 1). The folded synapse stores each weight
``kh * kw`` times, which the partition pass counts. Pools that are not folded (overlapping windows,
padding, a dilated conv, a pool read by a non-synapse op, a remainder row the conv's padding would
read) are left as they are; the YOSO design rules then name them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.ir import Graph, Operation, ValueType
from snnc.passes.base import Pass
from snnc.passes.canonicalize import SHAPE_OPS
from snnc.passes.registry import register_pass


@register_pass
@dataclass
class FoldPool(Pass):
    """Merge each non-overlapping ``snn.avgpool2d`` into the ``snn.conv2d`` or (flattened) ``snn.dense``
    that reads it."""

    name = "fold-pool"
    summary = "fold average pools into the conv or dense synapse that reads them"

    def apply(self, graph: Graph) -> None:
        for pool in [op for op in graph.ops if op.opname == "snn.avgpool2d"]:
            if not _foldable_pool(pool):
                continue
            for user in graph.users(pool.result):
                if user.opname == "snn.conv2d" and _float_weights(user):
                    _fold_into_conv(pool, user)
                elif user.opname in SHAPE_OPS and user.result not in graph.outputs:
                    readers = graph.users(user.result)
                    if (len(readers) == 1 and readers[0].opname == "snn.dense" and _float_weights(readers[0])
                            and len(user.result.type.features) == 1):
                        _fold_into_dense(pool, user, readers[0])
        from snnc.passes.dce import DeadCodeElimination

        DeadCodeElimination().apply(graph)  # the pools folded away


def _float_weights(synapse: Operation) -> bool:
    """Not yet quantized: integer weights cannot take the ``1 / k^2`` (fold before ``quantize``)."""
    return bool(np.issubdtype(synapse.attrs["weight"].dtype, np.floating))


def _foldable_pool(pool: Operation) -> bool:
    """A pool of non-overlapping windows without padding (what a weight copy can express)."""
    a = pool.attrs
    return list(a["kernel"]) == list(a["strides"]) and not any(a["pads"])


def _fold_into_conv(pool: Operation, conv: Operation) -> None:
    a, (kh, kw) = conv.attrs, pool.attrs["kernel"]
    _, h, w = pool.operands[0].type.features
    pt, pl, pb, pr = a["pads"]
    if list(a["dilations"]) != [1, 1] or (h % kh and pb) or (w % kw and pr):
        return  # a dilated kernel skips pooled rows; bottom/right padding would read the rows the pool drops
    weight = a["weight"]
    folded = np.repeat(np.repeat(weight, kh, axis=2), kw, axis=3) / np.asarray(kh * kw, weight.dtype)
    conv.attrs = {**a, "weight": folded.astype(weight.dtype), "strides": [a["strides"][0] * kh, a["strides"][1] * kw],
                  "pads": [pt * kh, pl * kw, pb * kh, pr * kw]}
    conv.operands = [pool.operands[0]]
    conv.meta = {**conv.meta, "folded_pool": [kh, kw]}


def _fold_into_dense(pool: Operation, shape_op: Operation, dense: Operation) -> None:
    (kh, kw), src = pool.attrs["kernel"], pool.operands[0]
    c, h, w = src.type.features
    _, hp, wp = pool.result.type.features
    weight = dense.attrs["weight"]
    pooled = weight.reshape(weight.shape[0], c, hp, wp)
    folded = np.zeros((weight.shape[0], c, h, w), weight.dtype)
    spread = np.repeat(np.repeat(pooled, kh, axis=2), kw, axis=3) / np.asarray(kh * kw, weight.dtype)
    folded[:, :, : hp * kh, : wp * kw] = spread
    dense.attrs = {**dense.attrs, "weight": folded.reshape(weight.shape[0], c * h * w)}
    dense.meta = {**dense.meta, "folded_pool": [kh, kw]}
    shape_op.opname, shape_op.attrs, shape_op.operands = "snn.flatten", {}, [src]
    shape_op.result.type = ValueType(src.type.kind, (c * h * w,), src.type.dtype)
