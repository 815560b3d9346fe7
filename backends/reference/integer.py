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
  ``V[t] = sat_P(V[t-1] * (1 - S[t-1]) + I[t])``, ``S[t] = V[t] >= theta_q``.

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
from typing import Any

import numpy as np

from snnc.backends.reference.kernels import (
    KERNELS,
    Kernel,
    KernelContext,
    SpikeTrain,
    _integrate_and_fire,
    conv2d,
    dense,
    relpsp_dynamics,
)
from snnc.errors import BackendError
from snnc.ir import Graph, Operation, is_neuron, neuron_traits

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
    """

    layers: dict[str, Layer] = field(default_factory=dict)


def prepare_integer(graph: Graph, *, sparse: Any = "auto") -> IntegerContext:
    """Check that ``graph`` is a quantized graph the integer mode can run, and prepare its layers.

    Rules (each failure is a :class:`BackendError` naming the op): every synapse with integer weights
    carries ``meta['quant']`` of a supported semantics and feeds only quantized neurons (or graph
    outputs); every neuron op is quantized (``meta['quant']`` with its state widths) and fed by such a
    synapse; a ReL-PSP threshold holds an integer.

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
        if is_neuron(op.opname):
            _check_neuron(op, producers.get(op.operands[0].name), hint)
        elif ints and not _is_integer_synapse(op):
            raise BackendError(f"parameter {ints[0]!r} has integer dtype {op.attrs[ints[0]].dtype}, but only the "
                               "synapses of quantized layers (snn.dense, snn.conv2d feeding a neuron) are integer",
                               where=where(op), hint=hint)
        if not _is_integer_synapse(op):
            continue
        weight = op.attrs["weight"]
        quant = op.meta.get("quant")
        if not isinstance(quant, Mapping):
            raise BackendError(f"parameter 'weight' has integer dtype {weight.dtype} but the op has no meta['quant']: "
                               "the integer mode runs graphs made by the quantize pass", where=where(op), hint=hint)
        _check_semantics(op, quant)
        neurons = [r for r in readers.get(op.result.name, []) if is_neuron(r.opname)]
        others = [r for r in readers.get(op.result.name, []) if not is_neuron(r.opname)]
        if others:
            raise BackendError(f"the integer synaptic input is read by {where(others[0])}; on the chip only the "
                               "layer's neurons read it", where=where(op), hint=hint)
        ctx.layers[op.result.name] = _layer(op, neurons, sparse, graph.time_steps)
    return ctx


def _check_semantics(op: Operation, quant: Mapping[str, Any]) -> None:
    semantics = quant.get("semantics")
    if semantics not in SUPPORTED_SEMANTICS:
        raise BackendError(f"meta['quant'] names the integer semantics {semantics!r}; this executor implements "
                           f"{', '.join(SUPPORTED_SEMANTICS)}", where=where(op),
                           hint="re-run the quantize pass of this snnc version")


def _check_neuron(op: Operation, producer: Operation | None, hint: str) -> None:
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
    if producer is None or not _is_integer_synapse(producer):
        fed = "a graph input" if producer is None else where(producer)
        raise BackendError(f"the quantized neuron is fed by {fed}, not by a synapse with integer weights",
                           where=where(op), hint=hint)
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
    theta = np.broadcast_to(np.asarray(op.attrs["threshold"]).astype(np.int64), shape)
    if dtype is np.int32:  # a threshold above the potential's range is never reached: clamp it to hi + 1
        theta = np.minimum(theta, hi + 1).astype(np.int32)
    return _integrate_and_fire(current.__getitem__, shape, theta, op.attrs["reset"], ctx.time_steps, dtype,
                               clip=(lo, hi))


# ------------------------------------------------------------------------------------------ tables
@dataclass(frozen=True)
class IntegerNeuron:
    """How the integer mode runs one neuron op.

    Attributes:
        kernel: the integer kernel ``(ctx, op, current) -> SpikeTrain``.
        acc_key: the key of the accumulated weight's width in the op's ``meta['quant']`` (the quantization
            rule writes it; ``potential_bits`` is common to every neuron).
    """

    kernel: Kernel
    acc_key: str


#: neuron op name -> its integer-mode entry (a plugin adds one with :func:`register_kernels`).
INTEGER_NEURONS: dict[str, IntegerNeuron] = {
    "snn.relpsp": IntegerNeuron(integer_relpsp, "slope_bits"),
    "snn.if": IntegerNeuron(integer_if, "input_bits"),
}

#: op name -> kernel in integer mode: the float table with the quantized layers' kernels replaced.
INTEGER_KERNELS: dict[str, Kernel] = {
    **KERNELS,
    "snn.dense": integer_dense,
    "snn.conv2d": integer_conv2d,
    **{name: entry.kernel for name, entry in INTEGER_NEURONS.items()},
}


def integer_neuron(opname: str) -> IntegerNeuron:
    """The integer-mode entry of a neuron op (BackendError if the integer mode has none)."""
    entry = INTEGER_NEURONS.get(opname)
    if entry is None:
        raise BackendError(f"the integer mode has no kernel for the neuron op {opname}", where=opname,
                           hint="its package registers one with snnc.backends.reference.register_kernels")
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


__all__ = ["INTEGER_KERNELS", "INTEGER_NEURONS", "ExactContext", "IntegerContext", "IntegerNeuron", "Layer",
           "accumulator_bound", "integer_conv2d", "integer_dense", "integer_if", "integer_neuron", "integer_relpsp",
           "is_quantized", "prepare_integer", "register_kernels", "sat_range", "state_range"]
