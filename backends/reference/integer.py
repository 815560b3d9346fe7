"""Integer mode of the reference executor: the YOSO chip's arithmetic on a quantized graph.

After the ``quantize`` pass every layer that runs on a processing element (a ``snn.dense`` or
``snn.conv2d`` synapse feeding a ``snn.relpsp`` or ``snn.if`` neuron) has integer weights, an integer
bias, an integer threshold and, in the ops' ``meta['quant']``, the widths of the neuron state. This
module runs those layers exactly as ``docs/yoso.md`` ("Integer semantics", ``yoso-int-1``) defines
them, with ``sat_b(x) = min(max(x, -2**(b-1)), 2**(b-1) - 1)``, ``P`` the potential width and ``A`` the
accumulated-weight width, all state zero before step 0:

* synapse: ``I[t][j] = b_q[j] + sum_i w_q[j, i] * s_i[t]``, exact (conv: ONNX Conv, zero padding);
* ``snn.relpsp``: ``V[t] = sat_P(V[t-1] + K[t-1])``, ``K[t] = K[t-1] + I[t]``, ``S[t] = 1`` at the first
  step with ``V[t] >= theta_q``, never again;
* ``snn.if``: subtract ``V[t] = sat_P(V[t-1] - theta_q * S[t-1] + I[t])``, zero
  ``V[t] = sat_P(V[t-1] * (1 - S[t-1]) + I[t])``, ``S[t] = V[t] >= theta_q``;
* ``snn.lif`` / ``snn.cuba_lif`` (the leak option): as ``snn.if`` with the fixed-point decay :func:`decay`
  of ``beta_q / 2**F`` (and ``alpha_q / 2**F``) in the float equations' order (:func:`integer_lif`); the
  factors come from :func:`quantize_leak`; a recurrent weight is an integer matrix at the scale of the
  layer's input weights, its term ``S[t-1] @ W_q.T`` exact.

``snn.li`` (a readout emitting a potential trace) runs on the host in float32, fed by a float synapse.

The accumulated weight (``K`` of ReL-PSP, the step's ``I`` of IF; ``A`` bits) is summed on the chip one
spike at a time with a saturating adder, in the order the spikes arrive. Its result is independent of
that order only while no partial sum can leave the ``A``-bit range, so the integer mode *checks* this
(every order of a step's additions, the bias included) and raises a :class:`BackendError` naming the
neuron op where it could: such a layer has no single hardware result (``partition`` rejects it by a
static bound; the check here is the exact per-input condition). Within range ``sat_A`` is the identity.

Host ops (encoders, decoders, ``snn.time_flatten``, a float decoder ``snn.dense``) keep their float32
SPEC kernels: the spike trains they exchange with the layers are binary either way.

Sums are formed exactly: a quantized synapse runs the float kernel on the integer weights in float32
where every partial sum of a neuron's terms is an integer of magnitude below ``2**24`` (exactly
representable, so the sum is exact in any order, BLAS or scatter) and in float64 below ``2**53``; the
result is converted to ``int32`` (or ``int64``). Neuron state is ``int32`` where the widths allow, else ``int64``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from snnc.backends.reference.kernels import (
    KERNELS,
    Kernel,
    KernelContext,
    SpikeTrain,
    _integrate_and_fire,
    conv2d,
    dense,
    leaky_dynamics,
    relpsp_dynamics,
)
from snnc.errors import BackendError
from snnc.ir import Graph, Operation, Refusal, is_neuron, neuron_traits

#: version tag of the integer semantics (docs/yoso.md, "Integer semantics") this module implements, which quantized
#: ops name in ``meta['quant']['semantics']`` and the YOSO simulator implements too.
SEMANTICS = "yoso-int-1"
#: integer semantics (``meta['quant']['semantics']``) this module runs.
SUPPORTED_SEMANTICS = (SEMANTICS,)
#: synapse ops a quantized layer may have (the neuron ops are those of :data:`INTEGER_NEURONS`).
SYNAPSES = ("snn.dense", "snn.conv2d")
#: largest |partial sum| a float dtype holds exactly for every integer up to it.
EXACT_LIMIT = {np.float32: 2**24, np.float64: 2**53}


def sat_range(bits: int) -> tuple[int, int]:
    """``(lo, hi)`` of a ``bits``-bit two's-complement word: ``(-2**(bits-1), 2**(bits-1) - 1)``."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def where(op: Operation) -> str:
    """How errors name an op: ``%h1 = snn.relpsp``."""
    return f"%{op.result.name} = {op.opname}"


def integer_params(op: Operation) -> list[str]:
    """Names of the op's array attributes with an integer dtype."""
    return [k for k, v in op.attrs.items() if isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.integer)]


def is_quantized(graph: Graph) -> bool:
    """Whether any op of ``graph`` has integer array parameters (the output of the ``quantize`` pass)."""
    return any(integer_params(op) for op in graph.ops)


def _is_integer_synapse(op: Operation) -> bool:
    return op.opname in SYNAPSES and np.issubdtype(np.asarray(op.attrs["weight"]).dtype, np.integer)


# ------------------------------------------------------------------------------------------ context
class ExactContext(KernelContext):
    """A float kernel context that accepts integer parameters (cast to ``dtype``, exact below
    :data:`EXACT_LIMIT`): the float synapse kernels then compute exact integer sums."""

    exact_sums: ClassVar[bool] = True

    def param(self, op: Operation, key: str, prepare: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        cache_key = (id(op), key)
        cached = self._params.get(cache_key)
        if cached is None:
            arr = np.asarray(op.attrs[key]).astype(self.dtype)
            cached = self._params[cache_key] = prepare(arr) if prepare else arr
        return cached


@dataclass
class Layer:
    """What the integer kernels know of one quantized synapse, prepared once per executor.

    Attributes:
        synapse: the ``snn.dense`` / ``snn.conv2d`` op with integer weights.
        neurons: the quantized neuron ops reading its result (normally one).
        row_abs: per output channel, ``sum |w_q|`` over the channel's weights (int64).
        bias_abs: per output channel ``|b_q|`` (zeros without bias).
        exact: the float context whose sums are exact for this synapse.
        out_dtype: the integer dtype of the synaptic input ``I``.
        positive: a copy of the synapse with ``max(w_q, 0)`` and ``max(b_q, 0)`` (the headroom check).
    """

    synapse: Operation
    neurons: list[Operation]
    row_abs: np.ndarray
    bias_abs: np.ndarray
    exact: ExactContext
    out_dtype: type[np.integer]
    positive: Operation


@dataclass
class IntegerContext(KernelContext):
    """The kernel context of the integer mode: the float context (host ops) plus the quantized layers.

    Attributes:
        layers: synapse result name -> :class:`Layer` (every synapse with integer weights).
        merges: ``snn.add`` result name -> :class:`Merge` (every merge of integer currents).
    """

    layers: dict[str, Layer] = field(default_factory=dict)
    merges: dict[str, Merge] = field(default_factory=dict)


def prepare_integer(graph: Graph, *, sparse: Any = "auto") -> IntegerContext:
    """Check that ``graph`` is a quantized graph the integer mode can run, and prepare its layers.

    Rules (each failure is a :class:`BackendError` naming the op): every synapse with integer weights
    carries ``meta['quant']`` of a supported semantics and feeds only quantized neurons (or graph
    outputs), directly or through merges (``snn.add`` of integer currents); every neuron op that emits
    spikes is quantized (``meta['quant']`` with its state widths) and fed by such a synapse or merge; a
    ReL-PSP threshold holds an integer. A neuron fed by a merge sums the terms of every merged synapse in
    its accumulator: the static bound of them all must fit the accumulator (no exact per-input check).

    Args:
        graph: a verified graph.
        sparse: the executor's sparse mode (passed to the synapse kernels).
    """
    ctx = IntegerContext(graph.time_steps, sparse=sparse)
    readers: dict[str, list[Operation]] = {}
    for op in graph.ops:
        for v in op.operands:
            readers.setdefault(v.name, []).append(op)
    producers = {op.result.name: op for op in graph.ops}
    hint = "quantize the float graph with the quantize pass: PassManager(['canonicalize', 'dce', 'quantize'])"
    for op in graph.ops:
        ints = integer_params(op)
        if chip_neuron(op.opname):
            _check_neuron(op, producers.get(op.operands[0].name), ctx, hint)
        elif is_neuron(op.opname) and ints:  # a host neuron (snn.li) runs in float32
            raise BackendError(f"parameter {ints[0]!r} has integer dtype {op.attrs[ints[0]].dtype}, but "
                               f"{op.opname} runs on the host in float32", where=where(op), hint=hint)
        elif ints and not _is_integer_synapse(op):
            raise BackendError(f"parameter {ints[0]!r} has integer dtype {op.attrs[ints[0]].dtype}, but only the "
                               "synapses of quantized layers (snn.dense, snn.conv2d feeding a neuron) are integer",
                               where=where(op), hint=hint)
        if _is_merge(op):
            merged = [ctx.merges.get(v.name) or ctx.layers.get(v.name) for v in op.operands]
            if all(m is None for m in merged):
                continue  # a float merge on the host
            if any(m is None for m in merged):
                fed = next(v for v, m in zip(op.operands, merged, strict=True) if m is None)
                raise BackendError(f"the merge adds an integer current and the float value %{fed.name}: a layer's "
                                   "synapses are all quantized or none", where=where(op), hint=hint)
            _check_integer_readers(op, readers, hint)
            ctx.merges[op.result.name] = Merge([layer for m in merged for layer in _layers_of(m)])
            continue
        if not _is_integer_synapse(op):
            continue
        weight = op.attrs["weight"]
        quant = op.meta.get("quant")
        if not isinstance(quant, Mapping):
            raise BackendError(f"parameter 'weight' has integer dtype {weight.dtype} but the op has no meta['quant']: "
                               "the integer mode runs graphs made by the quantize pass", where=where(op), hint=hint)
        _check_semantics(op, quant)
        _check_integer_readers(op, readers, hint)
        neurons = [r for r in readers.get(op.result.name, []) if chip_neuron(r.opname)]
        ctx.layers[op.result.name] = _layer(op, neurons, sparse, graph.time_steps)
    for op in graph.ops:
        merge = ctx.merges.get(op.operands[0].name) if op.operands else None
        if chip_neuron(op.opname) and merge is not None:
            _check_merged_headroom(ctx, op, merge)
    return ctx


@dataclass
class Merge:
    """An integer merge (``snn.add`` of integer currents): the synapse layers whose terms it sums."""

    layers: list[Layer]

    @property
    def row_abs(self) -> np.ndarray:
        return np.sum([layer.row_abs for layer in self.layers], axis=0)

    @property
    def bias_abs(self) -> np.ndarray:
        return np.sum([layer.bias_abs for layer in self.layers], axis=0)


def _layers_of(m: Layer | Merge) -> list[Layer]:
    return m.layers if isinstance(m, Merge) else [m]


def _is_merge(op: Operation) -> bool:
    return op.definition.category == "merge"


def _check_integer_readers(op: Operation, readers: dict[str, list[Operation]], hint: str) -> None:
    others = [r for r in readers.get(op.result.name, []) if not chip_neuron(r.opname) and not _is_merge(r)]
    if others:
        raise BackendError(f"the integer synaptic input is read by {where(others[0])}; on the chip only the "
                           "layer's neurons read it", where=where(op), hint=hint)


def _input_bounds(ctx: IntegerContext, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(row_abs, bias_abs)`` of the integer current ``name`` (a synapse or a merge), None if it is not one."""
    m = ctx.merges.get(name) or ctx.layers.get(name)
    return None if m is None else (m.row_abs, m.bias_abs)


def _check_merged_headroom(ctx: IntegerContext, neuron: Operation, merge: Merge) -> None:
    """A neuron fed by a merge: the static accumulator bound of every merged synapse together must fit."""
    traits = neuron_traits(neuron.opname)
    bits = int(neuron.meta["quant"][integer_neuron(neuron.opname).acc_key])
    lo, hi = sat_range(bits)
    bound = accumulator_bound(traits.accumulator_persists, merge.row_abs, merge.bias_abs, False, ctx.time_steps)
    if bound.size and int(bound.max()) > hi:
        raise BackendError(f"the accumulated weight ({traits.accumulator_name}, {bits} bits, {lo} .. {hi}) of the "
                           f"neuron fed by a merge of {len(merge.layers)} synapses can reach {int(bound.max())} (the "
                           "static bound of their weights together): on the chip its result could depend on the "
                           "arrival order", where=where(neuron),
                           hint="widen [sram.acc_weight] bits, or quantize with fewer weight bits")


def chip_neuron(opname: str) -> bool:
    """Whether ``opname`` is a neuron op the integer mode runs with the chip's arithmetic: a neuron that emits
    spikes (a readout emitting a potential trace, ``snn.li``, runs on the host in float32)."""
    return is_neuron(opname) and neuron_traits(opname).emits == "spikes"


def _check_semantics(op: Operation, quant: Mapping[str, Any]) -> None:
    semantics = quant.get("semantics")
    if semantics not in SUPPORTED_SEMANTICS:
        raise BackendError(f"meta['quant'] names the integer semantics {semantics!r}; this executor implements "
                           f"{', '.join(SUPPORTED_SEMANTICS)}", where=where(op),
                           hint="re-run the quantize pass of this snnc version")


def _check_neuron(op: Operation, producer: Operation | None, ctx: IntegerContext, hint: str) -> None:
    entry = integer_neuron(op.opname)
    quant = op.meta.get("quant")
    if not isinstance(quant, Mapping):
        raise BackendError("the neuron is not quantized (no meta['quant']): in integer mode every neuron runs with "
                           "the chip's arithmetic", where=where(op), hint=hint)
    _check_semantics(op, quant)
    for key in ("potential_bits", entry.acc_key):
        bits = quant.get(key)
        if isinstance(bits, bool) or not isinstance(bits, int | np.integer) or not 2 <= bits <= 63:
            raise BackendError(f"meta['quant'] {key} must be an integer width in 2 .. 63, got {bits!r}",
                               where=where(op), hint=hint)
    if producer is None or not (_is_integer_synapse(producer) or producer.result.name in ctx.merges):
        fed = "a graph input" if producer is None else where(producer)
        raise BackendError(f"the quantized neuron is fed by {fed}, not by a synapse with integer weights (or a "
                           "merge of such synapses)", where=where(op), hint=hint)
    theta = np.asarray(op.attrs["threshold"])
    if not np.issubdtype(theta.dtype, np.integer) and not np.all(theta == np.round(theta)):
        raise BackendError(f"the threshold {op.attrs['threshold']!r} is not an integer", where=where(op), hint=hint)


def _layer(op: Operation, neurons: list[Operation], sparse: Any, time_steps: int) -> Layer:
    w = np.asarray(op.attrs["weight"]).astype(np.int64)
    row_abs = np.abs(w).reshape(w.shape[0], -1).sum(axis=1)
    bias = op.attrs.get("bias")
    bias_abs = np.zeros_like(row_abs) if bias is None else np.abs(np.asarray(bias).astype(np.int64))
    largest = int((row_abs + bias_abs).max()) if row_abs.size else 0
    for dtype, limit in EXACT_LIMIT.items():
        if largest <= limit:
            exact = ExactContext(time_steps, sparse=sparse, dtype=dtype)
            break
    else:
        raise BackendError(f"a neuron's synaptic input can reach {largest}, beyond the 2**53 this executor sums "
                           "exactly", where=where(op), hint="quantize with fewer bits")
    out_dtype = np.int32 if largest <= np.iinfo(np.int32).max else np.int64
    attrs = {**op.attrs, "weight": np.maximum(w, 0)}
    if bias is not None:
        attrs["bias"] = np.maximum(np.asarray(bias).astype(np.int64), 0)
    positive = Operation(op.opname, list(op.operands), op.result, attrs, {})
    return Layer(op, neurons, row_abs, bias_abs, exact, out_dtype, positive)


# ----------------------------------------------------------------------------------------- synapses
def _synapse(float_kernel: Kernel) -> Kernel:
    def kernel(ctx: IntegerContext, op: Operation, x: Any) -> Any:
        layer = ctx.layers.get(op.result.name)
        if layer is None:  # a float synapse on the host (e.g. a spatio-temporal decoder's dense)
            return float_kernel(ctx, op, x)
        if not isinstance(x, SpikeTrain):
            raise BackendError(f"a quantized synapse takes a spike train (the chip's layers exchange spikes), got a "
                               f"{op.operands[0].type.kind.value}", hint="feed the layer from an encoder or a neuron")
        current = float_kernel(layer.exact, op, x).astype(layer.out_dtype)
        for neuron in layer.neurons:
            _check_headroom(ctx, layer, neuron, x, current, float_kernel)
        return current

    kernel.__name__ = f"integer_{float_kernel.__name__}"
    kernel.__doc__ = (f"Quantized ``{float_kernel.__name__}``: the exact integer sum ``I = b_q + sum w_q * s`` "
                      "(int32), with the accumulator-headroom check of every neuron op it feeds; float weights "
                      "(a host synapse) run the float kernel.")
    return kernel


integer_dense = _synapse(dense)
integer_conv2d = _synapse(conv2d)


def integer_add(ctx: IntegerContext, op: Operation, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``snn.add``: an integer merge sums its currents exactly (int64, then int32 where it fits; on the chip the
    merged synapses' terms all reach the neuron's accumulator); a float merge on the host adds in float32."""
    if op.result.name not in ctx.merges:
        return a + b
    total = np.add(a, b, dtype=np.int64)
    small = total.size == 0 or int(np.abs(total).max()) <= np.iinfo(np.int32).max
    return total.astype(np.int32) if small else total


def accumulator_bound(persists: bool, row_abs: np.ndarray, bias_abs: np.ndarray, single_spike_input: bool,
                      time_steps: int) -> np.ndarray:
    """Per neuron, the worst-case ``|accumulated weight|`` (docs/yoso.md, "Integer semantics"), from the
    neuron's :attr:`~snnc.ir.NeuronTraits.accumulator_persists`: cleared every step (IF's ``I``)
    ``sum_i |w_ji| + |b_j|``; persisting (ReL-PSP's slope ``K``) ``c * sum_i |w_ji| + T |b_j|`` with ``c = 1``
    when every input neuron spikes at most once, else ``T``. ``row_abs`` / ``bias_abs`` are int64."""
    if not persists:
        return row_abs + bias_abs
    c = 1 if single_spike_input else time_steps
    return c * row_abs + time_steps * bias_abs


def _check_headroom(ctx: IntegerContext, layer: Layer, neuron: Operation, x: SpikeTrain, current: np.ndarray,
                    float_kernel: Kernel) -> None:
    """Raise if some order of a step's additions could saturate the neuron's accumulated weight.

    The order-independent condition: IF (``I`` cleared every step) ``I+[t] <= hi`` and ``I-[t] >= lo``;
    ReL-PSP ``K[t-1] + I+[t] <= hi`` and ``K[t-1] + I-[t] >= lo``, where ``I+`` / ``I-`` are the sums of
    the step's positive / negative terms (bias included). A static bound (``partition``'s, with
    ``c = 1`` when the input train has at most one spike per neuron) skips the exact check.
    """
    traits = neuron_traits(neuron.opname)
    bits = int(neuron.meta["quant"][integer_neuron(neuron.opname).acc_key])
    lo, hi = sat_range(bits)
    bound = accumulator_bound(traits.accumulator_persists, layer.row_abs, layer.bias_abs, x.times is not None,
                              ctx.time_steps)
    if bound.size == 0 or int(bound.max()) <= hi:
        return
    plus = float_kernel(layer.exact, layer.positive, x).astype(np.int64)
    minus = current.astype(np.int64) - plus
    if traits.accumulator_persists:
        acc_before = integer_neuron(neuron.opname).acc_before
        if acc_before is not None:
            before = acc_before(neuron, current.astype(np.int64))
        else:
            before = np.cumsum(current, axis=0, dtype=np.int64)
            before -= current  # K[t-1], the slope before step t's additions
        plus += before
        minus += before
    bad = (plus > hi) | (minus < lo)
    if not bad.any():
        return
    t, b, *j = (int(i) for i in np.argwhere(bad)[0])
    reach = int(plus[(t, b, *j)]) if plus[(t, b, *j)] > hi else int(minus[(t, b, *j)])
    raise BackendError(
        f"the accumulated weight ({traits.accumulator_name}, {bits} bits, {lo} .. {hi}) of {where(neuron)} can "
        f"reach {reach} at step {t} (sample {b}, neuron {j if len(j) > 1 else j[0]}) when that step's spikes "
        "arrive in the worst order: "
        "on the chip its result would depend on the arrival order (docs/yoso.md, accumulator headroom)",
        hint="widen [sram.acc_weight] bits (and [core] adder_bits), or quantize with fewer weight bits")


# ------------------------------------------------------------------------------------------ neurons
def state_range(op: Operation) -> tuple[int, int, type[np.integer]]:
    """``(lo, hi)`` of a quantized neuron's potential and the dtype of its state: int32 where ``V + K`` (``V + I``)
    always fits, i.e. both widths <= 30 bits (the accumulated weight is kept in range by the headroom check),
    else int64. For the integer kernels of neuron ops (plugins too)."""
    quant = op.meta["quant"]
    bits = int(quant["potential_bits"])
    widest = max(bits, int(quant[integer_neuron(op.opname).acc_key]))
    return (*sat_range(bits), np.int32 if widest <= 30 else np.int64)


def integer_relpsp(ctx: IntegerContext, op: Operation, current: np.ndarray) -> SpikeTrain:
    """Quantized ReL-PSP (yoso-int-1), state zero before step 0:
    ``V[t] = sat_P(V[t-1] + K[t-1])``, ``K[t] = K[t-1] + I[t]`` (kept in range by the headroom check),
    ``S[t] = 1`` at the first ``t`` with ``V[t] >= theta_q``, never again. Returns first-spike times."""
    lo, hi, dtype = state_range(op)
    theta = min(int(op.attrs["threshold"]), hi + 1)  # above the potential's range: never reached either way
    return relpsp_dynamics(current, theta, ctx.time_steps, dtype, clip=(lo, hi))


def integer_if(ctx: IntegerContext, op: Operation, current: np.ndarray) -> SpikeTrain:
    """Quantized integrate-and-fire (yoso-int-1), state zero before step 0, ``S[t] = V[t] >= theta_q``;
    subtract: ``V[t] = sat_P(V[t-1] - theta_q*S[t-1] + I[t])``; zero: ``V[t] = sat_P(V[t-1]*(1 - S[t-1]) + I[t])``.

    The reset cannot leave the range (a neuron that fired has ``V >= theta_q > 0``), so subtracting first
    and saturating once after adding ``I`` is the doc's single saturation of the exact sum.
    """
    lo, hi, dtype = state_range(op)
    shape = current.shape[1:]
    theta = _integer_theta(op, shape, hi, dtype)
    if "recurrent_weight" in op.attrs:  # I'[t] = I[t] + S[t-1] @ W_q.T, exact
        acc_bits = int(op.meta["quant"][integer_neuron(op.opname).acc_key])
        return leaky_dynamics(current, theta, reset=op.attrs["reset"], delayed=False, decay_v=None,
                              recurrent=_integer_recurrence(ctx, op, acc_bits), dtype=dtype, clip=(lo, hi))
    return _integrate_and_fire(current.__getitem__, shape, theta, op.attrs["reset"], ctx.time_steps, dtype,
                               clip=(lo, hi))


# ------------------------------------------------------------------------------------------ leak
#: rounding rules of the fixed-point decay (``meta['quant']['leak_rounding']``).
LEAK_ROUNDINGS = ("floor", "nearest")
#: the most fraction bits a leak factor may have (``beta_q <= 2**F`` and ``beta_q * v`` stay far inside int64).
MAX_FRAC_BITS = 24


def decay(v: Any, factor_q: Any, frac_bits: int, rounding: str = "nearest", bits: int | None = None) -> np.ndarray:
    """The fixed-point decay of the integer mode (and of the YOSO PE's leak option), elementwise:
    ``sat_bits((factor_q * v + r) >> frac_bits)`` in int64, where ``r = 0`` for ``rounding = "floor"`` and
    ``r = 2**(frac_bits - 1)`` for ``"nearest"`` (round half up; ``r = 0`` when ``frac_bits = 0``).

    ``>>`` is the arithmetic shift: it rounds toward minus infinity, so for a negative ``v`` "floor" moves
    away from zero (``-3 * 0.5 -> -2``) and "nearest" rounds halves up (``-1.5 -> -1``, ``1.5 -> 2``).
    With ``0 <= factor_q <= 2**frac_bits`` (a factor in [0, 1]) the result never has a larger magnitude
    than ``v`` nor the opposite sign, so the saturation to ``bits`` (the potential width) only matters
    for a ``v`` already outside that range; ``bits=None`` skips it.

    Args:
        v: integer state (any shape; int32 or int64).
        factor_q: the integer factor ``beta_q`` / ``alpha_q`` (broadcast against ``v``).
        frac_bits: F, the factor's fraction bits (``factor = factor_q / 2**F``).
        rounding: ``"floor"`` or ``"nearest"``.
        bits: saturate the result to a ``bits``-bit two's-complement word, or None.

    Returns:
        int64 array.

    >>> decay(np.array([7, -7, 3, -3]), 2, 2, "floor").tolist()      # * 0.5, floor
    [3, -4, 1, -2]
    >>> decay(np.array([7, -7, 3, -3]), 2, 2, "nearest").tolist()    # * 0.5, half up
    [4, -3, 2, -1]
    """
    if rounding not in LEAK_ROUNDINGS:
        raise ValueError(f"rounding must be one of {LEAK_ROUNDINGS}, got {rounding!r}")
    r = (1 << (frac_bits - 1)) if rounding == "nearest" and frac_bits > 0 else 0
    out = (np.asarray(factor_q, np.int64) * np.asarray(v, np.int64) + r) >> frac_bits
    if bits is not None:
        lo, hi = sat_range(bits)
        out = np.clip(out, lo, hi)
    return out


def quantize_leak(factor: Any, frac_bits: int, rounding: str = "nearest", *, name: str = "beta") -> dict[str, Any]:
    """The ``meta['quant']`` entries of a fixed-point leak factor (``beta`` or ``alpha``), for the quantize
    rule of every target that runs leaky neurons with :func:`decay`:

    * ``<name>_float``: the float factor, float32 array, as the op held it;
    * ``<name>_q``: ``floor(factor * 2**F + 0.5)`` (round half up), int32 array in ``0 .. 2**F``;
    * ``beta_frac_bits``: F (one F for every factor of the neuron: ``alpha`` uses the same key);
    * ``leak_rounding``: ``rounding``, the rule of the products in :func:`decay`.

    Raises:
        ValueError: a factor outside [0, 1] (or not finite), F outside 0 .. :data:`MAX_FRAC_BITS`, an unknown
            rounding.

    >>> q = quantize_leak(np.array([0.9, 0.5], np.float32), 4)
    >>> q["beta_q"].tolist(), q["beta_frac_bits"], q["leak_rounding"]
    ([14, 8], 4, 'nearest')
    """
    if isinstance(frac_bits, bool) or not isinstance(frac_bits, int | np.integer) or \
            not 0 <= frac_bits <= MAX_FRAC_BITS:
        raise ValueError(f"frac_bits must be an int in 0 .. {MAX_FRAC_BITS}, got {frac_bits!r}")
    if rounding not in LEAK_ROUNDINGS:
        raise ValueError(f"leak rounding must be one of {LEAK_ROUNDINGS}, got {rounding!r}")
    f = np.asarray(factor, np.float32)
    if not np.all(np.isfinite(f)) or np.any(f < 0) or np.any(f > 1):
        raise ValueError(f"{name} must lie in [0, 1], got {f.tolist()}")
    q = np.floor(f.astype(np.float64) * float(1 << int(frac_bits)) + 0.5).astype(np.int32)
    return {f"{name}_float": f.copy(), f"{name}_q": q, "beta_frac_bits": int(frac_bits), "leak_rounding": rounding}


def leak_factor(op: Operation, name: str = "beta") -> tuple[np.ndarray, int, str]:
    """``(factor_q, F, rounding)`` of a quantized leaky neuron from its ``meta['quant']`` (``name``: ``beta`` or
    ``alpha``), checked.

    Raises:
        BackendError: a key missing or out of range, naming the op.
    """
    quant = op.meta.get("quant") or {}
    hint = "the quantize rule of a leaky neuron writes <factor>_q, beta_frac_bits and leak_rounding (quantize_leak)"
    frac_bits, rounding, q = quant.get("beta_frac_bits"), quant.get("leak_rounding"), quant.get(f"{name}_q")
    if isinstance(frac_bits, bool) or not isinstance(frac_bits, int | np.integer) or \
            not 0 <= frac_bits <= MAX_FRAC_BITS:
        raise BackendError(f"meta['quant'] beta_frac_bits must be an int in 0 .. {MAX_FRAC_BITS}, got {frac_bits!r}",
                           where=where(op), hint=hint)
    if rounding not in LEAK_ROUNDINGS:
        raise BackendError(f"meta['quant'] leak_rounding must be one of {LEAK_ROUNDINGS}, got {rounding!r}",
                           where=where(op), hint=hint)
    arr = np.asarray(q) if q is not None else None
    if arr is None or not np.issubdtype(arr.dtype, np.integer) or np.any(arr < 0) or \
            np.any(arr > (1 << int(frac_bits))):
        raise BackendError(f"meta['quant'] {name}_q must be integers in 0 .. 2**beta_frac_bits = {1 << int(frac_bits)}"
                           f", got {q!r}", where=where(op), hint=hint)
    return arr.astype(np.int64), int(frac_bits), str(rounding)


def _integer_recurrence(ctx: IntegerContext, op: Operation, acc_bits: int) -> Callable[[np.ndarray], np.ndarray] | None:
    """``S[t-1] @ W_q.T`` exactly (int64) for a quantized recurrent neuron, after checking that the accumulator
    can hold every partial sum: the static bound of the layer's synapse plus ``sum_j |W_q[i, j]|``."""
    w = op.attrs.get("recurrent_weight")
    if w is None:
        return None
    if not np.issubdtype(np.asarray(w).dtype, np.integer):
        raise BackendError("the recurrent_weight is float in a quantized neuron: the integer mode needs it quantized "
                           "with the scale of the layer's input weights", where=where(op),
                           hint="quantize the graph with a quantize pass that handles recurrent layers")
    w64 = np.asarray(w).astype(np.int64)
    traits = neuron_traits(op.opname)
    rec_abs = np.abs(w64).sum(axis=1)
    bounds = _input_bounds(ctx, op.operands[0].name)
    row_abs = rec_abs if bounds is None else bounds[0] + rec_abs
    bias_abs = np.zeros_like(rec_abs) if bounds is None else bounds[1]
    bound = accumulator_bound(traits.accumulator_persists, row_abs, bias_abs, False, ctx.time_steps)
    lo, hi = sat_range(acc_bits)
    if bound.size and int(bound.max()) > hi:
        raise BackendError(f"the accumulated weight ({traits.accumulator_name}, {acc_bits} bits, {lo} .. {hi}) of the "
                           f"recurrent layer can reach {int(bound.max())} (input and recurrent weights together): on "
                           "the chip its result could depend on the arrival order", where=where(op),
                           hint="widen [sram.acc_weight] bits, or quantize with fewer weight bits")
    wt = np.ascontiguousarray(w64.T)
    return lambda s: s.astype(np.int64) @ wt


def _integer_theta(op: Operation, shape: tuple[int, ...], hi: int, dtype: type) -> np.ndarray:
    theta = np.broadcast_to(np.asarray(op.attrs["threshold"]).astype(np.int64), shape)
    if dtype is np.int32:  # a threshold above the potential's range is never reached: clamp it to hi + 1
        theta = np.minimum(theta, hi + 1).astype(np.int32)
    return theta


def integer_lif(ctx: IntegerContext, op: Operation, current: np.ndarray) -> SpikeTrain:
    """Quantized LIF (``yoso-int-1`` with the leak option), state zero before step 0, ``S[t] = V[t] >= theta_q``,
    ``d(v) = decay(v, beta_q, F, leak_rounding, P)`` (:func:`decay`), ``I'[t] = I[t] (+ S[t-1] @ W_q.T)``:

    * reset first: ``Vr = V[t-1] - theta_q*S[t-1]`` (subtract) or ``V[t-1]*(1 - S[t-1])`` (zero), then
      ``V[t] = sat_P(d(Vr) + I'[t])``: the reset of step t-1 happens before step t's decay, as in float;
    * delayed reset: ``V[t] = sat_P(d(V[t-1]) + I'[t] - theta_q*S[t-1])`` (subtract) or
      ``sat_P(d(V[t-1]) + I'[t]) * (1 - S[t-1])`` (zero): the reset after the decay and the input.
    """
    return _integer_leaky(ctx, op, current, synaptic=False)


def integer_cuba_lif(ctx: IntegerContext, op: Operation, current: np.ndarray) -> SpikeTrain:
    """Quantized CubaLIF: ``J[t] = sat_A(decay(J[t-1], alpha_q) + I'[t])`` (``A`` = ``current_bits``; within
    range by the headroom check, so ``sat_A`` is the identity), then the :func:`integer_lif` update with
    ``J[t]`` in place of ``I'[t]``; one F and one rounding for ``alpha_q`` and ``beta_q``."""
    return _integer_leaky(ctx, op, current, synaptic=True)


def _integer_leaky(ctx: IntegerContext, op: Operation, current: np.ndarray, *, synaptic: bool) -> SpikeTrain:
    """The integer LIF update (:func:`integer_lif`), with CubaLIF's decaying synaptic current ``J`` when
    ``synaptic`` (:func:`integer_cuba_lif`)."""
    lo, hi, dtype = state_range(op)
    beta_q, frac_bits, rounding = leak_factor(op, "beta")
    acc_bits = int(op.meta["quant"][integer_neuron(op.opname).acc_key])
    bits = int(op.meta["quant"]["potential_bits"])
    current_options: dict[str, Any] = {}
    if synaptic:
        alpha_q, frac_bits_a, _ = leak_factor(op, "alpha")
        current_options = {"decay_j": lambda j: decay(j, alpha_q, frac_bits_a, rounding, acc_bits),
                           "clip_acc": sat_range(acc_bits)}
    return leaky_dynamics(current, _integer_theta(op, current.shape[1:], hi, dtype), reset=op.attrs["reset"],
                          delayed=bool(op.attrs["delayed_reset"]),
                          decay_v=lambda v: decay(v, beta_q, frac_bits, rounding, bits),
                          recurrent=_integer_recurrence(ctx, op, acc_bits), dtype=dtype, clip=(lo, hi),
                          **current_options)


def cuba_acc_before(op: Operation, current: np.ndarray) -> np.ndarray:
    """For the headroom check: CubaLIF's ``J`` before step t's additions, ``decay(J[t-1], alpha_q)`` (int64
    ``[T, ...]``), from the synapse's current (the recurrent part has its own static check)."""
    alpha_q, frac_bits, rounding = leak_factor(op, "alpha")
    before = np.zeros(current.shape, np.int64)
    j = np.zeros(current.shape[1:], np.int64)
    for t in range(current.shape[0]):
        before[t] = decay(j, alpha_q, frac_bits, rounding)
        j = before[t] + current[t]
    return before


# ------------------------------------------------------------------------------------------ tables
@dataclass(frozen=True)
class IntegerNeuron:
    """How the integer mode runs one neuron op.

    Attributes:
        kernel: the integer kernel ``(ctx, op, current) -> SpikeTrain``.
        acc_key: the key of the accumulated weight's width in the op's ``meta['quant']`` (the quantization
            rule writes it; ``potential_bits`` is common to every neuron).
        acc_before: for a persisting accumulator that is not a plain running sum (CubaLIF's decaying ``J``):
            ``(op, current) -> [T, ...]`` int64, its value before each step's additions, for the exact
            headroom check (None: the running sum ``K[t-1]``, ReL-PSP's slope).
    """

    kernel: Kernel
    acc_key: str
    acc_before: Callable[[Operation, np.ndarray], np.ndarray] | None = None


#: why the integer mode runs ``snn.li`` as a host op (its float kernel) rather than with chip arithmetic.
LI_ON_HOST = ("snn.li is a readout that emits a potential trace, not spikes: it runs on the host in float32 (like "
              "the spatio-temporal decoder's dense), fed by a float synapse, in the integer mode too")

#: neuron op name -> its integer-mode entry (a plugin adds one with :func:`register_kernels`), or a
#: :class:`~snnc.ir.Refusal` for a neuron that never runs with the chip's arithmetic (a host readout).
INTEGER_NEURONS: dict[str, IntegerNeuron | Refusal] = {
    "snn.relpsp": IntegerNeuron(integer_relpsp, "slope_bits"),
    "snn.if": IntegerNeuron(integer_if, "input_bits"),
    "snn.lif": IntegerNeuron(integer_lif, "input_bits"),
    "snn.cuba_lif": IntegerNeuron(integer_cuba_lif, "current_bits", acc_before=cuba_acc_before),
    "snn.li": Refusal(LI_ON_HOST),
}

#: op name -> kernel in integer mode: the float table with the quantized layers' kernels replaced (host
#: ops, ``snn.li`` included, keep their float kernels).
INTEGER_KERNELS: dict[str, Kernel] = {
    **KERNELS,
    "snn.dense": integer_dense,
    "snn.conv2d": integer_conv2d,
    "snn.add": integer_add,
    **{name: entry.kernel for name, entry in INTEGER_NEURONS.items() if isinstance(entry, IntegerNeuron)},
}


def integer_neuron(opname: str) -> IntegerNeuron:
    """The integer-mode entry of a neuron op (BackendError if the integer mode has none, or refuses it)."""
    entry = INTEGER_NEURONS.get(opname)
    if entry is None:
        raise BackendError(f"the integer mode has no kernel for the neuron op {opname}", where=opname,
                           hint="its package registers one with snnc.backends.reference.register_kernels")
    if isinstance(entry, Refusal):
        raise BackendError(f"the integer mode does not run the neuron op {opname} with the chip's arithmetic: "
                           f"{entry.reason}", where=opname)
    return entry


def register_kernels(opname: str, kernel: Kernel, integer_kernel: Kernel | None = None, *,
                     acc_key: str | None = None) -> None:
    """Add an op's kernels to the reference executor: ``kernel`` to the float table :data:`KERNELS`, and
    ``integer_kernel`` (default: the float one, fine for host ops) to :data:`INTEGER_KERNELS`. A neuron op
    that runs quantized names ``acc_key``, its accumulator width in ``meta['quant']`` (see
    :class:`IntegerNeuron`). Registering the same kernels again is a no-op."""
    KERNELS[opname] = kernel
    INTEGER_KERNELS[opname] = integer_kernel or kernel
    if acc_key is not None:
        INTEGER_NEURONS[opname] = IntegerNeuron(integer_kernel or kernel, acc_key)


__all__ = ["INTEGER_KERNELS", "INTEGER_NEURONS", "LEAK_ROUNDINGS", "ExactContext", "IntegerContext", "IntegerNeuron",
           "Layer", "accumulator_bound", "decay", "integer_conv2d", "integer_cuba_lif", "integer_dense", "integer_if",
           "integer_lif", "integer_neuron", "integer_relpsp", "is_quantized", "leak_factor", "prepare_integer",
           "quantize_leak", "register_kernels", "sat_range", "state_range"]
