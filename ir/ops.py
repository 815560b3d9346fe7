"""The spiking IR's operations: one small definition per op, each with its own verifier.

An op definition states the kinds of its operands, its attributes (:class:`~snnc.ir.attributes.Attr`)
and how its result type follows from its operand types (``infer``). Extra per-op rules go in
``check``. :func:`register_op` adds a definition to :data:`OPS`, the registry that the verifier,
the text format and every backend look ops up in: adding an op touches no other file. A neuron op also
states its :class:`~snnc.ir.neurons.NeuronTraits` (``neuron = ...``).

Ops from other packages: a package registers its ops through an entry point of the group
``snnc.ops`` (:data:`ENTRY_POINT_GROUP`), naming an ``OpDef`` subclass or a function without arguments
that registers them (and, typically, the op's backend table entries). :func:`lookup_op` loads those
entry points once, the first time a lookup misses (:func:`load_op_plugins`).

The equations each op computes are those of the snnc specification (``docs/ir.md`` lists them).
"""

from __future__ import annotations

import math
from importlib import metadata
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from snnc.errors import SnncError
from snnc.ir.attributes import Attr, all_of, finite, length, ndim, one_of, positive
from snnc.ir.neurons import NeuronTraits
from snnc.ir.types import Kind, ValueType

if TYPE_CHECKING:
    from snnc.ir.graph import Operation

TIME_MAJOR = frozenset({Kind.SPIKES, Kind.CURRENT})
ANY_KIND = frozenset(Kind)
#: what a synapse reads: anything but a potential trace (a trace is decoded, never weighted again).
SYNAPSE_INPUT = frozenset({Kind.SPIKES, Kind.CURRENT, Kind.TENSOR})


class OpError(Exception):
    """Raised inside an op definition; the graph verifier re-raises it naming the op."""


class OpDef:
    """Base of every op definition.

    Class attributes:
        name: the op's IR name, e.g. ``snn.dense``.
        operands: for each operand, the kinds it may have.
        attrs: the op's attributes by name.
        category: encoder, synapse, merge, neuron, decoder or shape (for docs and backends).
        neuron: for a neuron op, its :class:`~snnc.ir.neurons.NeuronTraits`; None otherwise.
        single_spike: an op other than a neuron (an encoder) whose spike values fire at most once per image
            (a neuron says it in its traits; :func:`~snnc.ir.neurons.emits_single_spikes` reads both).
    """

    name: ClassVar[str]
    operands: ClassVar[tuple[frozenset[Kind], ...]] = ()
    attrs: ClassVar[dict[str, Attr]] = {}
    category: ClassVar[str] = ""
    neuron: ClassVar[NeuronTraits | None] = None
    single_spike: ClassVar[bool] = False

    @classmethod
    def infer(cls, op: Operation, operand_types: list[ValueType], time_steps: int) -> ValueType:
        """The result type for these operands and attributes (raise OpError if there is none)."""
        raise NotImplementedError

    @classmethod
    def check(cls, op: Operation, operand_types: list[ValueType], time_steps: int) -> None:
        """Extra rules beyond operand kinds and attribute types (raise OpError)."""


OPS: dict[str, type[OpDef]] = {}


def register_op(cls: type[OpDef]) -> type[OpDef]:
    """Class decorator: add an op definition to :data:`OPS` under its ``name``."""
    if cls.name in OPS:
        raise ValueError(f"op {cls.name} is registered twice")
    if (cls.category == "neuron") != (cls.neuron is not None):
        raise ValueError(f"op {cls.name}: a neuron op (category 'neuron') states its NeuronTraits in 'neuron', "
                         "and only a neuron op does")
    OPS[cls.name] = cls
    return cls


#: entry-point group of op definitions from other packages.
ENTRY_POINT_GROUP = "snnc.ops"
_plugins_loaded = False


def load_op_plugins() -> None:
    """Load every ``snnc.ops`` entry point, once: an ``OpDef`` subclass is registered (if it is not yet),
    anything else is called without arguments (a function that registers ops and their table entries).

    Raises:
        SnncError: an entry point that cannot be loaded or whose registration fails, naming it.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            if isinstance(obj, type) and issubclass(obj, OpDef):
                if OPS.get(obj.name) is not obj:
                    register_op(obj)
            elif callable(obj):
                obj()
            else:
                raise TypeError(f"{obj!r} is neither an OpDef subclass nor a registration function")
        except Exception as e:  # a broken plugin must not look like a bug of snnc
            raise SnncError(f"the op plugin {ep.name!r} ({ENTRY_POINT_GROUP} entry point {ep.value!r}) failed to "
                            f"load: {type(e).__name__}: {e}", where=f"entry point {ep.name} = {ep.value}",
                            hint=f"fix or uninstall the package that provides it ({ep.value.split(':')[0]})") from e


def lookup_op(name: str) -> type[OpDef] | None:
    """The definition of op ``name``, loading the ``snnc.ops`` plugins if it is not registered yet; None if
    no one defines it."""
    d = OPS.get(name)
    if d is None and not _plugins_loaded:
        load_op_plugins()
        d = OPS.get(name)
    return d


def _result_dtype(*arrays: np.ndarray) -> str:
    """Integer parameters (after quantization) give integer results, else f32."""
    if arrays and all(np.issubdtype(a.dtype, np.integer) for a in arrays):
        return "i32"
    return "f32"


# ----------------------------------------------------------------------------------------- encoders
def _check_time_steps(op: Operation, time_steps: int) -> None:
    if op.attrs["time_steps"] != time_steps:
        raise OpError(f"time_steps = {op.attrs['time_steps']} differs from the graph's time_steps = {time_steps}")


@register_op
class TTFSEncode(OpDef):
    """Time-to-first-spike encoder. For ``x > 0`` one spike at
    ``s = floor((1 - x) * (window - 1) + 0.5)`` (float32), none for ``x <= 0``; x clamped to [0, 1]."""

    name = "snn.ttfs_encode"
    category = "encoder"
    single_spike = True
    operands = (frozenset({Kind.TENSOR}),)
    attrs = {
        "time_steps": Attr("int", check=positive, doc="T, the simulation length"),
        "window": Attr("int", check=positive, doc="spikes fall in steps 0 .. window-1 (1 <= window <= T)"),
    }

    @classmethod
    def check(cls, op: Operation, operand_types: list[ValueType], time_steps: int) -> None:
        _check_time_steps(op, time_steps)
        if not 1 <= op.attrs["window"] <= time_steps:
            raise OpError(f"window = {op.attrs['window']} must lie in 1 .. time_steps ({time_steps})")

    @classmethod
    def infer(cls, op: Operation, operand_types: list[ValueType], time_steps: int) -> ValueType:
        return ValueType.spikes(*operand_types[0].features)


@register_op
class RateEncode(OpDef):
    """Rate encoder: an IF neuron fed ``x`` every step, reset by subtraction:
    ``V[t] = V[t-1] - theta*S[t-1] + x``, ``S[t] = V[t] >= theta``; x clamped to [0, 1]."""

    name = "snn.rate_encode"
    category = "encoder"
    operands = (frozenset({Kind.TENSOR}),)
    attrs = {
        "time_steps": Attr("int", check=positive, doc="T, the simulation length"),
        "threshold": Attr("float", check=positive, doc="firing threshold theta (default 0.5)"),
    }

    @classmethod
    def check(cls, op: Operation, operand_types: list[ValueType], time_steps: int) -> None:
        _check_time_steps(op, time_steps)

    infer = TTFSEncode.infer


# ----------------------------------------------------------------------------------------- synapses
@register_op
class Dense(OpDef):
    """Fully connected synapse on the last axis, every step: ``y = x @ weight.T (+ bias)``.
    ``weight`` is ``[n_out, n_in]``. Spikes or currents in give a current; a tensor gives a tensor."""

    name = "snn.dense"
    category = "synapse"
    operands = (SYNAPSE_INPUT,)
    attrs = {
        "weight": Attr("array", check=all_of(ndim(2), finite), doc="[n_out, n_in]"),
        "bias": Attr("array", required=False, check=all_of(ndim(1), finite), doc="[n_out], added every step"),
    }

    @classmethod
    def infer(cls, op: Operation, operand_types: list[ValueType], time_steps: int) -> ValueType:
        (x,) = operand_types
        w = op.attrs["weight"]
        if not x.features or x.features[-1] != w.shape[1]:
            raise OpError(f"weight {list(w.shape)} expects {w.shape[1]} input features, operand has {list(x.features)}")
        bias = op.attrs.get("bias")
        if bias is not None and bias.shape != (w.shape[0],):
            raise OpError(f"bias {list(bias.shape)} does not match weight {list(w.shape)}: expected [{w.shape[0]}]")
        kind = Kind.TENSOR if x.kind is Kind.TENSOR else Kind.CURRENT
        params = [w] if bias is None else [w, bias]
        return ValueType(kind, (*x.features[:-1], w.shape[0]), _result_dtype(*params))


def conv_output_size(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int, dilation: int = 1) -> int:
    """Output length of a convolution or pooling along one spatial axis (ONNX floor rule)."""
    return (size + pad_begin + pad_end - dilation * (kernel - 1) - 1) // stride + 1


@register_op
class Conv2d(OpDef):
    """2-D convolution on ``[T*B, C, H, W]`` views of a time-major value (ONNX Conv semantics).
    ``weight`` is ``[C_out, C_in/group, kh, kw]``; ``pads`` is ``[top, left, bottom, right]``."""

    name = "snn.conv2d"
    category = "synapse"
    operands = (TIME_MAJOR,)
    attrs = {
        "weight": Attr("array", check=all_of(ndim(4), finite), doc="[C_out, C_in/group, kh, kw]"),
        "bias": Attr("array", required=False, check=all_of(ndim(1), finite), doc="[C_out]"),
        "strides": Attr("ints", check=length(2), doc="[sh, sw]"),
        "pads": Attr("ints", check=length(4), doc="[top, left, bottom, right]"),
        "dilations": Attr("ints", check=length(2), doc="[dh, dw]"),
        "group": Attr("int", check=positive, doc="channel groups"),
    }

    @classmethod
    def infer(cls, op: Operation, operand_types: list[ValueType], time_steps: int) -> ValueType:
        (x,) = operand_types
        w, a = op.attrs["weight"], op.attrs
        if len(x.features) != 3:
            raise OpError(f"operand must have features [C, H, W], has {list(x.features)}")
        c, h, wd = x.features
        if c != w.shape[1] * a["group"] or w.shape[0] % a["group"]:
            raise OpError(f"weight {list(w.shape)} with group={a['group']} does not fit {c} input channels")
        bias = a.get("bias")
        if bias is not None and bias.shape != (w.shape[0],):
            raise OpError(f"bias {list(bias.shape)} does not match {w.shape[0]} output channels")
        if min(a["strides"]) < 1 or min(a["dilations"]) < 1 or min(a["pads"]) < 0:
            raise OpError("strides and dilations must be >= 1 and pads >= 0")
        (sh, sw), (dh, dw), (pt, pl, pb, pr) = a["strides"], a["dilations"], a["pads"]
        ho = conv_output_size(h, w.shape[2], sh, pt, pb, dh)
        wo = conv_output_size(wd, w.shape[3], sw, pl, pr, dw)
        if ho < 1 or wo < 1:
            raise OpError(f"kernel {list(w.shape[2:])} does not fit input {h}x{wd} with these pads")
        params = [w] if bias is None else [w, bias]
        return ValueType(Kind.CURRENT, (w.shape[0], ho, wo), _result_dtype(*params))


@register_op
class AvgPool2d(OpDef):
    """Average pooling on ``[T*B, C, H, W]`` views (ONNX AveragePool, ``count_include_pad`` as given)."""

    name = "snn.avgpool2d"
    category = "synapse"
    operands = (TIME_MAJOR,)
    attrs = {
        "kernel": Attr("ints", check=length(2), doc="[kh, kw]"),
        "strides": Attr("ints", check=length(2), doc="[sh, sw]"),
        "pads": Attr("ints", check=length(4), doc="[top, left, bottom, right]"),
        "count_include_pad": Attr("int", doc="1: padded zeros count in the average; 0: they do not"),
    }

    @classmethod
    def infer(cls, op: Operation, operand_types: list[ValueType], time_steps: int) -> ValueType:
        (x,) = operand_types
        a = op.attrs
        if len(x.features) != 3:
            raise OpError(f"operand must have features [C, H, W], has {list(x.features)}")
        if a["count_include_pad"] not in (0, 1):
            raise OpError(f"count_include_pad must be 0 or 1, got {a['count_include_pad']}")
        if min(a["kernel"]) < 1 or min(a["strides"]) < 1 or min(a["pads"]) < 0:
            raise OpError("kernel and strides must be >= 1 and pads >= 0")
        c, h, w = x.features
        (kh, kw), (sh, sw), (pt, pl, pb, pr) = a["kernel"], a["strides"], a["pads"]
        ho, wo = conv_output_size(h, kh, sh, pt, pb), conv_output_size(w, kw, sw, pl, pr)
        if ho < 1 or wo < 1:
            raise OpError(f"kernel {[kh, kw]} does not fit input {h}x{w}")
        return ValueType(Kind.CURRENT, (c, ho, wo), "f32")


@register_op
class Flatten(OpDef):
    """Flatten the features of each sample (and step) to one axis; the kind is kept."""

    name = "snn.flatten"
    category = "shape"
    operands = (ANY_KIND,)

    @classmethod
    def infer(cls, op: Operation, operand_types: list[ValueType], time_steps: int) -> ValueType:
        (x,) = operand_types
        return ValueType(x.kind, (x.size,), x.dtype)


@register_op
class Reshape(OpDef):
    """Reshape the features of each sample (and step) to ``shape``; the kind is kept."""

    name = "snn.reshape"
    category = "shape"
    operands = (ANY_KIND,)
    attrs = {"shape": Attr("ints", doc="the new feature shape (no -1)")}

    @classmethod
    def infer(cls, op: Operation, operand_types: list[ValueType], time_steps: int) -> ValueType:
        (x,) = operand_types
        shape = op.attrs["shape"]
        if not shape or min(shape) < 1 or math.prod(shape) != x.size:
            raise OpError(f"cannot reshape features {list(x.features)} ({x.size} values) to {shape}")
        return ValueType(x.kind, tuple(shape), x.dtype)


@register_op
class TimeFlatten(OpDef):
    """Spatio-temporal flattening: ``[T, B, *f] -> [B, T*prod(f)]`` (step-major: index ``t*N + i``).
    Feeds the trainable spatio-temporal decoder of the improved STBP (a dense on the result)."""

    name = "snn.time_flatten"
    category = "shape"
    operands = (TIME_MAJOR,)

    @classmethod
    def infer(cls, op: Operation, operand_types: list[ValueType], time_steps: int) -> ValueType:
        (x,) = operand_types
        return ValueType(Kind.TENSOR, (time_steps * x.size,), "f32" if x.kind is Kind.SPIKES else x.dtype)


# ------------------------------------------------------------------------------------------ neurons
@register_op
class ReLPSP(OpDef):
    """Single-spike neuron with the rectified linear PSP (STDBP).

    ``K[t] = K[t-1] + I[t]`` (slope), ``V[t] = V[t-1] + K[t-1]`` (potential), state zero before step 0;
    ``S[t] = 1`` at the first step where ``V[t] >= threshold``, never again.
    """

    name = "snn.relpsp"
    category = "neuron"
    neuron = NeuronTraits(single_spike=True, state=("V", "K"), accumulator="K", accumulator_name="slope K",
                          accumulator_persists=True, reset="never")
    operands = (frozenset({Kind.CURRENT}),)
    attrs = {"threshold": Attr("float", check=positive, doc="theta > 0")}

    @classmethod
    def infer(cls, op: Operation, operand_types: list[ValueType], time_steps: int) -> ValueType:
        return ValueType.spikes(*operand_types[0].features)


def _check_broadcast(name: str, arr: np.ndarray, features: tuple[int, ...]) -> None:
    try:
        shape = np.broadcast_shapes(arr.shape, features)
    except ValueError:
        shape = None
    if shape != features:
        raise OpError(f"{name} {list(arr.shape)} does not broadcast to the features {list(features)}")


def _check_threshold(op: Operation, features: tuple[int, ...]) -> None:
    theta = op.attrs["threshold"]
    _check_broadcast("threshold", theta, features)
    if np.any(theta <= 0):
        raise OpError("threshold must be > 0 everywhere")


def _check_decay(op: Operation, name: str, features: tuple[int, ...]) -> None:
    """A decay factor (``beta``, ``alpha``): broadcast to the features, every entry in [0, 1]."""
    value = op.attrs[name]
    _check_broadcast(name, value, features)
    bad = (value < 0) | (value > 1)
    if np.any(bad):
        first = float(np.asarray(value).reshape(-1)[int(np.argmax(np.asarray(bad).reshape(-1)))])
        raise OpError(f"{name} must lie in [0, 1] everywhere (1 = no leak, 0 = no memory), got {first!r}")


def _check_recurrent(op: Operation, features: tuple[int, ...]) -> None:
    """The optional ``recurrent_weight [n, n]`` of a layer with features ``[n]``."""
    w = op.attrs.get("recurrent_weight")
    if w is None:
        return
    if len(features) != 1:
        raise OpError(f"recurrent_weight needs one feature axis [n]; the operand has features {list(features)}")
    n = features[0]
    if w.shape != (n, n):
        raise OpError(f"recurrent_weight {list(w.shape)} has the wrong shape: the {n} neurons need [{n}, {n}] "
                      "(recurrent_weight[i, j] weighs neuron j's spike at step t-1 into neuron i at step t)")


def _check_delayed(op: Operation) -> None:
    if op.attrs["delayed_reset"] not in (0, 1):
        raise OpError(f"delayed_reset must be 0 or 1, got {op.attrs['delayed_reset']}")


def _spikes_like(op: Operation, operand_types: list[ValueType]) -> ValueType:
    return ValueType.spikes(*operand_types[0].features)


_THRESHOLD = Attr("array", check=finite, doc="theta > 0, broadcastable to the features (per channel allowed)")
_RESET = Attr("str", check=one_of("subtract", "zero"), doc='"subtract" or "zero"')
_RECURRENT = Attr("array", required=False, check=all_of(ndim(2), finite),
                  doc="W [n, n] (features [n]): I[t] becomes I[t] + S[t-1] @ W.T")
_DELAYED = Attr("int", doc="0: the reset of step t-1 before step t's decay; 1: after decay and input (snnTorch)")


@register_op
class IF(OpDef):
    """Integrate-and-fire neuron, state zero before step 0.

    subtract: ``V[t] = V[t-1] - theta*S[t-1] + I[t]``; zero: ``V[t] = V[t-1]*(1 - S[t-1]) + I[t]``;
    ``S[t] = 1 if V[t] >= theta else 0``. ``threshold`` broadcasts to the features (per channel allowed).
    With the optional ``recurrent_weight`` W ``[n, n]`` (features ``[n]``), ``I[t]`` is replaced by
    ``I[t] + S[t-1] @ W.T`` (one step of delay), computed before the update.
    """

    name = "snn.if"
    category = "neuron"
    neuron = NeuronTraits(single_spike=False, state=("V", "I"), accumulator="I", accumulator_name="step input I",
                          accumulator_persists=False, reset="attr")
    operands = (frozenset({Kind.CURRENT}),)
    attrs = {"threshold": _THRESHOLD, "reset": _RESET, "recurrent_weight": _RECURRENT}

    @classmethod
    def infer(cls, op: Operation, operand_types: list[ValueType], time_steps: int) -> ValueType:
        features = operand_types[0].features
        _check_threshold(op, features)
        _check_recurrent(op, features)
        return _spikes_like(op, operand_types)


@register_op
class LIF(OpDef):
    """Leaky integrate-and-fire neuron (SPEC 2, ``snn.LIF``), state zero before step 0.

    ``I'[t] = I[t] (+ S[t-1] @ recurrent_weight.T)``. Reset first (``delayed_reset = 0``, the default of
    SpikingJelly, Sinabs, Norse): ``Vr = V[t-1] - theta*S[t-1]`` (subtract) or ``V[t-1]*(1 - S[t-1])`` (zero),
    ``V[t] = beta*Vr + I'[t]``. Delayed reset (``delayed_reset = 1``, snnTorch): ``U = beta*V[t-1] + I'[t]``,
    ``V[t] = U - theta*S[t-1]`` (subtract) or ``U*(1 - S[t-1])`` (zero). ``S[t] = 1 if V[t] >= theta``.
    ``threshold`` (> 0) and ``beta`` (in [0, 1]) broadcast to the features; ``beta = 1`` is ``snn.if``.
    """

    name = "snn.lif"
    category = "neuron"
    neuron = NeuronTraits(single_spike=False, state=("V", "I"), accumulator="I", accumulator_name="step input I",
                          accumulator_persists=False, reset="attr")
    operands = (frozenset({Kind.CURRENT}),)
    attrs = {
        "threshold": _THRESHOLD,
        "beta": Attr("array", check=finite, doc="the potential's decay per step, in [0, 1], broadcastable"),
        "reset": _RESET,
        "delayed_reset": _DELAYED,
        "recurrent_weight": _RECURRENT,
    }

    #: the decay factors the op carries, each in [0, 1] and broadcastable to the features
    decays: ClassVar[tuple[str, ...]] = ("beta",)

    @classmethod
    def infer(cls, op: Operation, operand_types: list[ValueType], time_steps: int) -> ValueType:
        features = operand_types[0].features
        _check_threshold(op, features)
        for name in cls.decays:
            _check_decay(op, name, features)
        _check_delayed(op)
        _check_recurrent(op, features)
        return _spikes_like(op, operand_types)


@register_op
class CubaLIF(LIF):
    """Current-based LIF neuron (SPEC 2, ``snn.CubaLIF``), state zero before step 0: a synaptic current
    that decays too, ``J[t] = alpha*J[t-1] + I'[t]``, then the ``snn.lif`` update with ``J[t]`` in place of
    ``I'[t]`` (both reset orders): reset first ``V[t] = beta*Vr[t-1] + J[t]``; delayed
    ``V[t] = (beta*V[t-1] + J[t]) - theta*S[t-1]`` / ``(beta*V[t-1] + J[t])*(1 - S[t-1])``.
    ``I'[t] = I[t] (+ S[t-1] @ recurrent_weight.T)``: the recurrent term joins the input before the decay.
    The accumulator is ``J``: it persists from step to step (decayed by ``alpha``).
    """

    name = "snn.cuba_lif"
    category = "neuron"
    neuron = NeuronTraits(single_spike=False, state=("V", "J"), accumulator="J",
                          accumulator_name="synaptic current J", accumulator_persists=True, reset="attr")
    operands = (frozenset({Kind.CURRENT}),)
    attrs = {
        "threshold": _THRESHOLD,
        "alpha": Attr("array", check=finite, doc="the synaptic current's decay per step, in [0, 1], broadcastable"),
        "beta": Attr("array", check=finite, doc="the potential's decay per step, in [0, 1], broadcastable"),
        "reset": _RESET,
        "delayed_reset": _DELAYED,
        "recurrent_weight": _RECURRENT,
    }

    decays = ("alpha", "beta")


@register_op
class LI(OpDef):
    """Leaky integrator (SPEC 2, ``snn.LI``), the usual readout: ``V[t] = beta*V[t-1] + I[t]``, state zero
    before step 0, no threshold, no spikes. The result is the potential trace ``V`` (kind ``potential``,
    ``[T, B, *f]``, float32), which only decoders (and flatten / reshape) read.
    """

    name = "snn.li"
    category = "neuron"
    neuron = NeuronTraits(single_spike=False, state=("V", "I"), accumulator="I", accumulator_name="step input I",
                          accumulator_persists=False, emits="potential", reset="none")
    operands = (frozenset({Kind.CURRENT}),)
    attrs = {"beta": Attr("array", check=finite, doc="the potential's decay per step, in [0, 1], broadcastable")}

    @classmethod
    def infer(cls, op: Operation, operand_types: list[ValueType], time_steps: int) -> ValueType:
        (x,) = operand_types
        _check_decay(op, "beta", x.features)
        return ValueType.potential(*x.features, dtype="f32")


# ------------------------------------------------------------------------------------------- merges
@register_op
class Add(OpDef):
    """Sum of two currents of the same type, at every step: ``y[t] = a[t] + b[t]`` (SPEC 2: currents of
    several synapses summed with ONNX ``Add`` before a neuron; skip and residual connections). No
    broadcasting: both operands have the same features and dtype."""

    name = "snn.add"
    category = "merge"
    operands = (frozenset({Kind.CURRENT}), frozenset({Kind.CURRENT}))

    @classmethod
    def infer(cls, op: Operation, operand_types: list[ValueType], time_steps: int) -> ValueType:
        a, b = operand_types
        if a.features != b.features:
            raise OpError(f"cannot add currents of different shapes: features {list(a.features)} and "
                          f"{list(b.features)}")
        if a.dtype != b.dtype:
            raise OpError(f"cannot add currents of different dtypes: {a.dtype} and {b.dtype}")
        return ValueType.current(*a.features, dtype=a.dtype)


# ----------------------------------------------------------------------------------------- decoders
class _Decoder(OpDef):
    category = "decoder"
    operands = (frozenset({Kind.SPIKES}),)

    @classmethod
    def infer(cls, op: Operation, operand_types: list[ValueType], time_steps: int) -> ValueType:
        return ValueType.tensor(*operand_types[0].features)


@register_op
class FirstSpikeDecode(_Decoder):
    """Score ``T - t_first``, where ``t_first`` is the first spike step (``T`` if none)."""

    name = "snn.first_spike_decode"


@register_op
class LastStepDecode(_Decoder):
    """Score ``S[T-1]``: only the last step's spikes count. On a potential trace: ``V[T-1]``."""

    name = "snn.last_step_decode"
    operands = (frozenset({Kind.SPIKES, Kind.POTENTIAL}),)


@register_op
class SpikeCountDecode(_Decoder):
    """Score = spike count over all steps divided by T. On a potential trace: the mean over the steps,
    ``(((V[0] + V[1]) + V[2]) + ...) / T`` in float32, summed in step order."""

    name = "snn.spike_count_decode"
    operands = (frozenset({Kind.SPIKES, Kind.POTENTIAL}),)


@register_op
class MaxOverTimeDecode(_Decoder):
    """Score = ``max_t V[t]``, the maximum of a potential trace over the steps."""

    name = "snn.max_over_time_decode"
    operands = (frozenset({Kind.POTENTIAL}),)
