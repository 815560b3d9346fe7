"""Compiled and event-driven float kernels of the reference executor, bit-identical to :mod:`.kernels`.

The NumPy kernels of :data:`.kernels.KERNELS` stay the specification (and the oracle of the tests); the
executor's float mode runs the kernels of :data:`FAST_KERNELS` in their place (``engine="numba"``, the
default), which compute the same float32 values by a cheaper route:

* ``snn.dense`` where :func:`.kernels._use_sparse` picks the scatter (the same decision, so the same path):
  a numba loop that adds the weight rows of the inputs that fired (times the value, for a sparse current
  such as a pooled single-spike train), per ``(t, row)`` in increasing input order, exactly the order of
  ``kernels._scatter_rows``. Where the matmul is picked (dense trains, e.g. rate-coded inputs at 40 %
  density, dense currents), the same BLAS call as the NumPy kernel.
* ``snn.avgpool2d`` on a single-spike train: spikes counted per window (exact small integers, as the float32
  window sum of 0/1 values is), then the kernel's division.
* ``snn.relpsp``, ``snn.if`` / ``snn.lif`` / ``snn.cuba_lif`` (without a recurrent weight) and
  ``snn.rate_encode``: the step loops compiled, with the same float32 operations per element in the same order.

Every value these kernels produce (currents, spike trains, hence every decoded output) is bit-identical to the
NumPy kernels' (tests/test_reference_fast.py: random graphs and inputs, ties at threshold, every shipped model).

* ``snn.conv2d`` (any groups): event-driven (:func:`conv2d_events`): each non-zero input adds its weighted kernel
  to the outputs it reaches, visiting inputs in ``(c, y, x)`` order, which is the ``(c, p, q)`` order in which
  :func:`.kernels.conv2d` sums every output. A convolution read only by a ReL-PSP is computed together with it,
  one sample at a time (:attr:`FastContext.fuse`).

numba is imported on the first call of a compiled kernel (:mod:`.fast_jit`), never at package import time;
the compiled code is cached on disk (``NUMBA_CACHE_DIR``, else ``__pycache__`` beside the module).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from snnc.backends.reference import kernels as K
from snnc.backends.reference.kernels import Kernel, KernelContext, SpikeTrain, _time_dtype
from snnc.ir import Operation

_jit: ModuleType | None = None


def jit() -> ModuleType:
    """The compiled loops (:mod:`.fast_jit`), imported (and numba with them) on first use."""
    global _jit
    if _jit is None:
        from snnc.backends.reference import fast_jit

        _jit = fast_jit
    return _jit


# ------------------------------------------------------------------------------------------ synapses
def dense(ctx: KernelContext, op: Operation, x: Any) -> np.ndarray:
    """:func:`.kernels.dense`, event-driven on the inputs the NumPy kernel scatters (compiled, the same
    order), else the NumPy kernel's matmul."""
    wt = ctx.param(op, "weight", lambda w: np.ascontiguousarray(w.T))
    if wt.dtype != np.float32:
        return K.dense(ctx, op, x)
    bias = ctx.param(op, "bias") if "bias" in op.attrs else None
    m, n = wt.shape
    lead = x.shape[:-1]
    if isinstance(x, SpikeTrain):
        if K._use_sparse(ctx, x, n):
            rows = math.prod(lead[1:])
            if x.times is not None:
                y = jit().scatter_times(np.ascontiguousarray(x.times.reshape(rows, m)), wt, x.time_steps)
            else:
                y = jit().scatter_dense(np.ascontiguousarray(x.dense().reshape(x.time_steps, rows, m)), wt)
        else:  # the NumPy kernel's matmul, unchanged: BLAS sums in its own order
            y = x.astype(np.float32).reshape(-1, m) @ wt
    else:
        a = np.asarray(x, np.float32).reshape(-1, m)
        y = jit().scatter_values(np.ascontiguousarray(a), wt) if K._use_sparse(ctx, a, n) else a @ wt
    y = y.reshape(*lead, n)
    if bias is not None:
        y += bias
    return y


@dataclass
class FastContext(KernelContext):
    """The kernel context of the numba engine.

    Attributes:
        fuse: names of ``snn.conv2d`` results whose only reader is a ``snn.relpsp``: the
            convolution hands that reader a :class:`PendingConv`, and the neuron computes both one sample
            at a time (the same values; the ``[T, B, C, H, W]`` current is never stored).
    """

    fuse: frozenset[str] = frozenset()


class PendingConv:
    """A convolution result not computed yet (see :attr:`FastContext.fuse`); :meth:`evaluate` computes it."""

    __slots__ = ("ctx", "op", "x")

    def __init__(self, ctx: KernelContext, op: Operation, x: Any) -> None:
        self.ctx, self.op, self.x = ctx, op, x

    def evaluate(self) -> np.ndarray:
        return _conv_events(self.ctx, self.op, self.x)


def _event_weights(ctx: KernelContext, op: Operation) -> np.ndarray:
    """The conv weight as ``[C_in, kh, kw, Co/groups]``: input channel ``c``'s weights to its group's outputs
    (cached)."""
    cache_key = (id(op), "weight#events")
    wt = ctx._params.get(cache_key)
    if wt is None:
        w = ctx.param(op, "weight")
        groups = op.attrs["group"]
        per_group = w.shape[0] // groups
        wt = ctx._params[cache_key] = np.ascontiguousarray(np.concatenate(
            [w[g * per_group:(g + 1) * per_group].transpose(1, 2, 3, 0) for g in range(groups)]))
    return wt


def conv2d_events(ctx: KernelContext, op: Operation, x: Any) -> np.ndarray | PendingConv:
    """:func:`.kernels.conv2d` driven by the input events (spikes, or the non-zero entries of a pooled
    current), each adding its weighted kernel to the outputs it reaches: the work is proportional to the
    events (~30x less than im2col on the shipped CNN). Inputs are visited in ``(c, y, x)`` order, so each
    output is the NumPy kernel's sequential sum in ``(c, p, q)`` order, bit for bit (a zero input's term
    would add 0). Groups: each input adds to its group's outputs only."""
    if ctx.dtype is not np.float32:
        return K.conv2d(ctx, op, x)
    if op.result.name in getattr(ctx, "fuse", ()):
        return PendingConv(ctx, op, x)
    return _conv_events(ctx, op, x)


def _conv_events(ctx: KernelContext, op: Operation, x: Any) -> np.ndarray:
    wt = _event_weights(ctx, op)
    (sh, sw), (dh, dw) = op.attrs["strides"], op.attrs["dilations"]
    top, left = op.attrs["pads"][:2]
    ho, wo = op.result.type.features[1:]
    if isinstance(x, SpikeTrain) and x.times is not None:
        lead = x.shape[:2]
        times = np.ascontiguousarray(x.times.reshape(x.times.shape[0], *x.shape[-3:]))
        out = jit().conv_events_times(times, x.time_steps, wt, op.attrs["group"], sh, sw, dh, dw, top, left, ho, wo)
    else:
        a, lead = K._spatial_view(x, ctx.dtype)
        out = jit().conv_events_dense(np.ascontiguousarray(a), wt, op.attrs["group"], sh, sw, dh, dw, top, left, ho,
                                      wo)
    if "bias" in op.attrs:
        out += ctx.param(op, "bias")
    # a channels-last array seen as [.., Co, Ho, Wo] (no copy; the compiled neurons run on its memory order)
    return out.reshape(*lead, ho, wo, out.shape[-1]).transpose(*range(len(lead)), -1, -3, -2)


def avgpool2d(ctx: KernelContext, op: Operation, x: Any) -> np.ndarray:
    """:func:`.kernels.avgpool2d`; on a single-spike train the window sums are counted per spike."""
    if not isinstance(x, SpikeTrain) or x.times is None or ctx.dtype is not np.float32:
        return K.avgpool2d(ctx, op, x)
    (kh, kw), (sh, sw), pads = op.attrs["kernel"], op.attrs["strides"], op.attrs["pads"]
    steps, batch, channels, height, width = x.shape
    ho, wo = op.result.type.features[1:]
    times = np.ascontiguousarray(x.times.reshape(batch, channels, height, width))
    total = jit().pool_counts_times(times, x.time_steps, kh, kw, sh, sw, pads[0], pads[1], ho, wo)
    total = total.reshape(steps * batch, channels, ho, wo)
    if op.attrs["count_include_pad"] or not any(pads):
        total /= ctx.scalar(kh * kw)
    else:
        inside = K._pad_hw(np.ones((1, 1, height, width), ctx.dtype), pads)
        counts = K.sliding_window_view(inside, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw].sum(axis=(-2, -1))
        total /= counts
    return total.reshape(steps, batch, channels, ho, wo)


# ------------------------------------------------------------------------------------------ neurons
def _flat_current(current: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(current.reshape(current.shape[0], -1))


def _per_element(param: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A parameter broadcast to the state ``shape`` and flattened (float32)."""
    return np.ascontiguousarray(np.broadcast_to(np.asarray(param, np.float32), shape)).reshape(-1)


def _flat_param(ctx: KernelContext, op: Operation, key: str, shape: tuple[int, ...]) -> np.ndarray:
    """:func:`_per_element` of ``op``'s parameter, cached per state shape (a batch-1 run would otherwise
    spend a tenth of its time broadcasting thresholds)."""
    cache_key = (id(op), f"{key}#flat{shape}")
    flat = ctx._params.get(cache_key)
    if flat is None:
        flat = ctx._params[cache_key] = _per_element(ctx.param(op, key), shape)
    return flat


def _memory_order(a: np.ndarray) -> tuple[int, ...] | None:
    """The axis order (step axis first) in which ``a`` is C-contiguous, or None."""
    order = (0, *sorted(range(1, a.ndim), key=lambda i: -a.strides[i]))
    return order if a.transpose(order).flags.c_contiguous else None


def _conv_relpsp(ctx: KernelContext, op: Operation, pending: PendingConv) -> SpikeTrain:
    """ReL-PSP ``op`` on the pending event-driven convolution, computed together one sample at a time."""
    conv, x = pending.op, pending.x
    wt = _event_weights(ctx, conv)
    (sh, sw), (dh, dw) = conv.attrs["strides"], conv.attrs["dilations"]
    top, left = conv.attrs["pads"][:2]
    ho, wo = conv.result.type.features[1:]
    bias = ctx.param(conv, "bias") if "bias" in conv.attrs else np.zeros(0, np.float32)
    if isinstance(x, SpikeTrain) and x.times is not None:
        batch = x.shape[1]
        times = np.ascontiguousarray(x.times.reshape(batch, *x.shape[-3:]))
        a = np.zeros((0, 1, 1, 1), np.float32)
    else:
        a, lead = K._spatial_view(x, ctx.dtype)
        batch = lead[1]
        times = np.zeros((0, 1, 1, 1), np.int16)
        a = np.ascontiguousarray(a)
    groups = conv.attrs["group"]
    first = jit().conv_relpsp(times, a, batch, ctx.time_steps, wt, groups, bias,
                              np.float32(ctx.scalar(op.attrs["threshold"])), sh, sw, dh, dw, top, left, ho, wo)
    first = first.reshape(batch, ho, wo, groups * wt.shape[3]).transpose(0, 3, 1, 2)
    return SpikeTrain.from_times(np.ascontiguousarray(first), ctx.time_steps)


def relpsp(ctx: KernelContext, op: Operation, current: np.ndarray | PendingConv) -> SpikeTrain:
    """:func:`.kernels.relpsp`, compiled (per neuron, so it runs on the current's memory order as it is)."""
    if isinstance(current, PendingConv):
        return _conv_relpsp(ctx, op, current)
    if current.dtype != np.float32:
        return K.relpsp(ctx, op, current)
    order = _memory_order(current)
    if order is None:
        order, current = tuple(range(current.ndim)), np.ascontiguousarray(current)
    physical = current.transpose(order)
    times = np.full(math.prod(physical.shape[1:]), ctx.time_steps, _time_dtype(ctx.time_steps))
    jit().relpsp_times(physical.reshape(physical.shape[0], -1), np.float32(ctx.scalar(op.attrs["threshold"])),
                       times)
    back = np.argsort(order[1:])
    return SpikeTrain.from_times(np.ascontiguousarray(times.reshape(physical.shape[1:]).transpose(back)),
                                 ctx.time_steps)


def _leaky(ctx: KernelContext, op: Operation, current: np.ndarray, *, leak: bool, synaptic: bool,
           fallback: Kernel) -> SpikeTrain:
    if current.dtype != np.float32 or "recurrent_weight" in op.attrs:
        return fallback(ctx, op, current)
    shape = current.shape[1:]
    theta = _flat_param(ctx, op, "threshold", shape)
    beta = _flat_param(ctx, op, "beta", shape) if leak else theta
    alpha = _flat_param(ctx, op, "alpha", shape) if synaptic else theta
    delayed = bool(op.attrs.get("delayed_reset", 0))
    out = jit().leaky_loop(_flat_current(current), theta, beta, alpha, op.attrs["reset"] == "subtract", delayed,
                           leak, synaptic)
    return SpikeTrain(current.shape[0], dense=out.reshape(current.shape))


def if_neuron(ctx: KernelContext, op: Operation, current: np.ndarray) -> SpikeTrain:
    """:func:`.kernels.if_neuron`, compiled (a recurrent one runs the NumPy kernel)."""
    return _leaky(ctx, op, current, leak=False, synaptic=False, fallback=K.if_neuron)


def lif(ctx: KernelContext, op: Operation, current: np.ndarray) -> SpikeTrain:
    """:func:`.kernels.lif`, compiled (a recurrent one runs the NumPy kernel)."""
    return _leaky(ctx, op, current, leak=True, synaptic=False, fallback=K.lif)


def cuba_lif(ctx: KernelContext, op: Operation, current: np.ndarray) -> SpikeTrain:
    """:func:`.kernels.cuba_lif`, compiled (a recurrent one runs the NumPy kernel)."""
    return _leaky(ctx, op, current, leak=True, synaptic=True, fallback=K.cuba_lif)


def rate_encode(ctx: KernelContext, op: Operation, x: np.ndarray) -> SpikeTrain:
    """:func:`.kernels.rate_encode`, compiled."""
    if ctx.dtype is not np.float32:
        return K.rate_encode(ctx, op, x)
    f = ctx.scalar
    xc = np.clip(x, f(0), f(1)).astype(ctx.dtype)
    out = jit().rate_loop(np.ascontiguousarray(xc).reshape(-1), np.float32(f(op.attrs["threshold"])),
                          ctx.time_steps)
    return SpikeTrain(ctx.time_steps, dense=out.reshape(ctx.time_steps, *xc.shape))


#: op name -> the NumPy kernel of :data:`.kernels.KERNELS` that the fast kernel replaces.
REPLACES: dict[str, Kernel] = {
    "snn.dense": K.dense, "snn.conv2d": K.conv2d, "snn.avgpool2d": K.avgpool2d, "snn.relpsp": K.relpsp,
    "snn.if": K.if_neuron, "snn.lif": K.lif, "snn.cuba_lif": K.cuba_lif, "snn.rate_encode": K.rate_encode,
}

#: op name -> fast kernel (same signature and results as the NumPy kernel it replaces).
FAST_KERNELS: dict[str, Kernel] = {
    "snn.dense": dense, "snn.conv2d": conv2d_events, "snn.avgpool2d": avgpool2d, "snn.relpsp": relpsp,
    "snn.if": if_neuron, "snn.lif": lif, "snn.cuba_lif": cuba_lif, "snn.rate_encode": rate_encode,
}


def fusable(graph: Any, table: dict[str, Kernel] | Any) -> frozenset[str]:
    """Names of the ``snn.conv2d`` results that :attr:`FastContext.fuse` may hold back: computed by
    :func:`conv2d_events`, read by one op only, a ``snn.relpsp`` run by :func:`relpsp`, and no graph output."""
    readers: dict[str, list[Operation]] = {}
    for op in graph.ops:
        for v in op.operands:
            readers.setdefault(v.name, []).append(op)
    outputs = {v.name for v in graph.outputs}
    names = set()
    for op in graph.ops:
        users = readers.get(op.result.name, [])
        if (table.get(op.opname) is conv2d_events and len(users) == 1 and table.get(users[0].opname) is relpsp
                and op.result.name not in outputs):
            names.add(op.result.name)
    return frozenset(names)


def with_fast_kernels(table: dict[str, Kernel] | Any) -> dict[str, Kernel]:
    """``table`` with every stock NumPy kernel replaced by its fast twin (entries a subclass or a plugin
    replaced are kept)."""
    merged = dict(table)
    for name, fast in FAST_KERNELS.items():
        if merged.get(name) is REPLACES[name]:
            merged[name] = fast
    return merged


__all__ = ["FAST_KERNELS", "REPLACES", "FastContext", "PendingConv", "conv2d_events", "fusable", "jit",
           "with_fast_kernels"]
