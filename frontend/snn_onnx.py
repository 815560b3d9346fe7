"""Write SPEC-conformant ONNX models of spiking networks, and run them with onnxruntime.

:class:`SnnModelBuilder` is what trainers and tests use to export a network: it emits the ``snn``
operators (domain ``snn``, version 1) with their model-local function definitions
(:mod:`snnc.frontend.snn_functions`), synapses as standard ONNX ops on time-major ``[T, B, ...]``
values, and float32 initializers. :func:`run_onnxruntime` runs such a file with onnxruntime, the
independent oracle every backend is compared with. ``docs/onnx-format.md`` describes the format.

Example:
    >>> import numpy as np
    >>> b = SnnModelBuilder(input_features=(4,), time_steps=8, name="tiny")
    >>> s = b.ttfs_encode(b.input)
    >>> o = b.relpsp(b.dense(s, np.full((3, 4), 0.25, np.float32)), threshold=1.0)
    >>> model = b.build(output=b.first_spike_decode(o), metadata={"snn.algorithm": "stdbp"})
    >>> run_onnxruntime(model, np.ones((2, 4), np.float32)).shape
    (2, 3)
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from snnc.errors import FrontendError
from snnc.frontend.snn_functions import ALL_SNN_FUNCTIONS, ONNX_OPSET, SNN_DOMAIN, SNN_VERSION
from snnc.ir.types import Kind

#: ONNX IR version of the files written (onnx >= 1.16, onnxruntime >= 1.18 read it).
IR_VERSION = 10
#: Name of the graph output (float32 ``[B, N]``).
OUTPUT_NAME = "scores"
#: Prefix every metadata key must carry.
METADATA_PREFIX = "snn."
#: onnx elem type of every value the builder writes.
_F = TensorProto.FLOAT


@dataclass(frozen=True)
class SnnValue:
    """A value of the model under construction: its ONNX name, kind and per-sample feature shape.

    Full shapes follow the IR: ``[T, B, *features]`` for spikes and currents, ``[B, *features]``
    for tensors.
    """

    name: str
    kind: Kind
    features: tuple[int, ...]

    @property
    def size(self) -> int:
        """Number of features per sample (and per step)."""
        return math.prod(self.features)


def _error(message: str, where: str, hint: str | None = None) -> FrontendError:
    return FrontendError(message, where=where, hint=hint)


def _ints(value: int | Sequence[int], n: int, what: str, where: str) -> tuple[int, ...]:
    """``value`` as a tuple of ``n`` ints (an int is repeated)."""
    if isinstance(value, int | np.integer):
        return (int(value),) * n
    out = tuple(int(v) for v in value)
    if len(out) != n:
        raise _error(f"{what} must have {n} values, got {list(out)}", where)
    return out


def _float_array(value: object, what: str, where: str, ndim: int | None = None) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise _error(f"{what} must be numeric, got dtype {arr.dtype}", where)
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if ndim is not None and arr.ndim != ndim:
        raise _error(f"{what} must be {ndim}-D, got shape {list(arr.shape)}", where)
    if not np.all(np.isfinite(arr)):
        raise _error(f"{what} contains NaN or infinity", where)
    return arr


def _conv_size(size: int, kernel: int, stride: int, pad_begin: int, pad_end: int, dilation: int = 1) -> int:
    return (size + pad_begin + pad_end - dilation * (kernel - 1) - 1) // stride + 1


class SnnModelBuilder:
    """Build a SPEC-conformant ONNX model of a spiking network, op by op.

    The input is ``x: float32 [B, *input_features]`` (``B`` symbolic); every method takes and returns
    :class:`SnnValue` handles and checks kinds and shapes as it goes, raising
    :class:`~snnc.errors.FrontendError` with the offending op and a hint. :meth:`build` returns the
    ``onnx.ModelProto`` with the output renamed ``scores``, the ``snn`` functions the graph uses, the
    given ``snn.*`` metadata, and passes ``onnx.checker.check_model(full_check=True)``.

    What each method emits (``T`` is ``time_steps``):

    ==========================  ==============================================================
    method                      ONNX
    ==========================  ==============================================================
    ttfs_encode / rate_encode   ``snn.TTFSEncode`` / ``snn.RateEncode`` (x: ``[B, *f]``)
    dense, style="matmul"       ``MatMul(x, W.T)`` (+ ``Add(bias)``); W.T is a ``[n_in, n_out]`` initializer
    dense, style="gemm"         ``Gemm(x, W, bias, transB=1)``, only on 2-D ``[B, n_in]`` tensors
    conv2d                      ``Reshape[-1,C,H,W]`` -> ``Conv`` -> ``Reshape[T,-1,Co,Ho,Wo]``
    avgpool2d                   ``Reshape[-1,C,H,W]`` -> ``AveragePool`` -> ``Reshape[T,-1,C,Ho,Wo]``
    flatten / reshape           one ``Reshape`` to ``[T, -1, *new]`` (time-major) or ``[-1, *new]``
    time_flatten                ``Transpose[1,0,2,..]`` -> ``Reshape[-1, T*size]``
    relpsp / if_neuron          ``snn.ReLPSP`` / ``snn.IF`` (threshold: a float32 initializer input)
    lif / cuba_lif              ``snn.LIF`` / ``snn.CubaLIF`` (threshold, alpha, beta: float32 initializers)
    recurrent_weight=W          a last input ``W [n, n]`` of ``snn.IF`` / ``LIF`` / ``CubaLIF``
    li                          ``snn.LI`` (beta: a float32 initializer); the trace is a current
    add                         ``Add(a, b)`` of two currents of the same shape (skip / residual)
    *_decode                    ``snn.FirstSpikeDecode`` / ``LastStepDecode`` / ``SpikeCountDecode`` /
                                ``MaxOverTimeDecode``
    spatiotemporal_decode       time_flatten then dense(style="gemm")
    ==========================  ==============================================================

    Args:
        input_features: per-sample shape of the input ``x``, e.g. ``(784,)`` or ``(1, 28, 28)``.
        time_steps: the simulation length ``T`` (>= 1).
        name: the graph name.
        input_name: the name of the graph input (``"x"`` by the SPEC).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> b = SnnModelBuilder(input_features=(784,), time_steps=16, name="mlp")
        >>> s = b.ttfs_encode(b.input)
        >>> h = b.relpsp(b.dense(s, rng.normal(size=(800, 784)) * 0.1), threshold=1.0)
        >>> o = b.relpsp(b.dense(h, rng.normal(size=(10, 800)) * 0.1), threshold=1.0)
        >>> model = b.build(output=b.first_spike_decode(o), metadata={"snn.algorithm": "stdbp"})
        >>> [o.name for o in model.graph.output]
        ['scores']
    """

    def __init__(self, input_features: Sequence[int], time_steps: int, name: str = "snn",
                 input_name: str = "x") -> None:
        features = tuple(int(f) for f in input_features)
        if not features or min(features) < 1:
            raise _error(f"input_features must be a non-empty shape of positive sizes, got {list(input_features)}",
                         "SnnModelBuilder")
        if not isinstance(time_steps, int | np.integer) or time_steps < 1:
            raise _error(f"time_steps must be an int >= 1, got {time_steps!r}", "SnnModelBuilder")
        self.name = name
        self.time_steps = int(time_steps)
        self.input = SnnValue(input_name, Kind.TENSOR, features)
        self._nodes: list[onnx.NodeProto] = []
        self._initializers: list[TensorProto] = []
        self._values: dict[str, SnnValue] = {input_name: self.input}
        self._names: set[str] = {input_name, OUTPUT_NAME}
        self._functions: set[str] = set()
        self._traces: set[str] = set()  # names of LI potential traces (kind current) and their reshapes
        self._counter = 0

    # ------------------------------------------------------------------------------------ plumbing
    @property
    def values(self) -> dict[str, SnnValue]:
        """Every value made so far, by name (the input included)."""
        return dict(self._values)

    def _fresh(self, base: str, name: str | None) -> str:
        if name is not None:
            if name in self._names:
                raise _error(f"the name {name!r} is already used", base, hint="pick a unique name")
            self._names.add(name)
            return name
        while True:
            candidate = f"{base}_{self._counter}"
            self._counter += 1
            if candidate not in self._names:
                self._names.add(candidate)
                return candidate

    def _sub(self, base: str, suffix: str) -> str:
        """A derived unique name (intermediate value or initializer) ``<base>.<suffix>`` of the op ``base``."""
        candidate = f"{base}.{suffix}"
        if candidate in self._names:
            return self._fresh(candidate, None)
        self._names.add(candidate)
        return candidate

    def _initializer(self, base: str, suffix: str, array: np.ndarray) -> str:
        name = self._sub(base, suffix)
        self._initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def _shape_initializer(self, base: str, suffix: str, shape: Sequence[int]) -> str:
        return self._initializer(base, suffix, np.array(list(shape), dtype=np.int64))

    def _node(self, op_type: str, inputs: list[str], outputs: list[str], *, name: str, domain: str = "",
              **attrs: object) -> None:
        self._nodes.append(helper.make_node(op_type, inputs, outputs, name=name, domain=domain, **attrs))

    def _value(self, name: str, kind: Kind, features: Sequence[int]) -> SnnValue:
        v = SnnValue(name, kind, tuple(int(f) for f in features))
        self._values[name] = v
        return v

    def _check_value(self, x: object, where: str) -> SnnValue:
        if not isinstance(x, SnnValue) or self._values.get(x.name) is not x:
            raise _error("operand is not a value of this builder", where,
                         hint="pass the SnnValue returned by an earlier call on the same builder")
        return x

    def _expect(self, x: object, kinds: set[Kind], where: str, hint: str | None = None) -> SnnValue:
        v = self._check_value(x, where)
        if v.kind not in kinds:
            wanted = " or ".join(sorted(k.value for k in kinds))
            raise _error(f"operand {v.name!r} is {v.kind.value}, expected {wanted}", where, hint=hint)
        return v

    def _snn(self, op_type: str, inputs: list[str], base: str, name: str | None, kind: Kind,
             features: Sequence[int], **attrs: object) -> SnnValue:
        out = self._fresh(base, name)
        self._node(op_type, inputs, [out], name=out, domain=SNN_DOMAIN, **attrs)
        self._functions.add(op_type)
        return self._value(out, kind, features)

    # ------------------------------------------------------------------------------------ encoders
    def ttfs_encode(self, x: SnnValue, window: int | None = None, *, name: str | None = None) -> SnnValue:
        """Time-to-first-spike encoder ``snn.TTFSEncode``: one spike at
        ``floor((1 - x) * (window - 1) + 0.5)`` for ``x > 0``, none for ``x <= 0``.

        Args:
            x: a tensor ``[B, *f]`` (normally :attr:`input`), values in [0, 1] (clamped).
            window: spikes fall in steps ``0 .. window-1``; ``1 <= window <= T``, default ``T``.
                Always written explicitly.
            name: the output value's name (default ``ttfs_encode_<k>``).

        Returns:
            spikes ``[T, B, *f]``.
        """
        where = "ttfs_encode"
        v = self._expect(x, {Kind.TENSOR}, where)
        w = self.time_steps if window is None else window
        if not isinstance(w, int | np.integer) or not 1 <= w <= self.time_steps:
            raise _error(f"window must be an int in 1 .. time_steps ({self.time_steps}), got {window!r}", where)
        return self._snn("TTFSEncode", [v.name], where, name, Kind.SPIKES, v.features,
                         time_steps=self.time_steps, window=int(w))

    def rate_encode(self, x: SnnValue, threshold: float = 0.5, *, name: str | None = None) -> SnnValue:
        """Rate encoder ``snn.RateEncode``: an IF neuron (reset by subtraction) fed ``x`` every step.

        Args:
            x: a tensor ``[B, *f]``, values in [0, 1] (clamped).
            threshold: firing threshold (> 0), default 0.5; always written explicitly.
            name: the output value's name.

        Returns:
            spikes ``[T, B, *f]``.
        """
        where = "rate_encode"
        v = self._expect(x, {Kind.TENSOR}, where)
        theta = float(threshold)
        if not math.isfinite(theta) or theta <= 0:
            raise _error(f"threshold must be a finite float > 0, got {threshold!r}", where)
        return self._snn("RateEncode", [v.name], where, name, Kind.SPIKES, v.features,
                         time_steps=self.time_steps, threshold=theta)

    # ------------------------------------------------------------------------------------ synapses
    def dense(self, x: SnnValue, weight: np.ndarray, bias: np.ndarray | None = None, *,
              style: Literal["matmul", "gemm"] = "matmul", name: str | None = None) -> SnnValue:
        """Fully connected synapse on the last axis, every step: ``y = x @ weight.T (+ bias)``.

        ``style="matmul"`` writes ``MatMul(x, Wt)`` with the initializer ``Wt = weight.T`` (``[n_in, n_out]``)
        and, with a bias, ``Add(y, bias)``; it broadcasts over ``[T, B]``. ``style="gemm"`` writes
        ``Gemm(x, weight, bias, transB=1)`` and needs a 2-D tensor input ``[B, n_in]``.

        Args:
            x: spikes or currents ``[T, B, ..., n_in]``, or a tensor ``[B, ..., n_in]``.
            weight: ``[n_out, n_in]``.
            bias: ``[n_out]`` or None.
            style: ``"matmul"`` or ``"gemm"``.
            name: the output value's name.

        Returns:
            a current ``[T, B, ..., n_out]`` for a time-major input, else a tensor ``[B, ..., n_out]``.
        """
        where = "dense"
        v = self._check_value(x, where)
        w = _float_array(weight, "weight", where, ndim=2)
        if v.features[-1] != w.shape[1]:
            raise _error(f"weight {list(w.shape)} expects {w.shape[1]} input features, operand {v.name!r} has "
                         f"{list(v.features)}", where, hint="weight is [n_out, n_in]")
        b = None if bias is None else _float_array(bias, "bias", where, ndim=1)
        if b is not None and b.shape != (w.shape[0],):
            raise _error(f"bias {list(b.shape)} does not match weight {list(w.shape)}: expected [{w.shape[0]}]", where)
        kind = Kind.TENSOR if v.kind is Kind.TENSOR else Kind.CURRENT
        features = (*v.features[:-1], w.shape[0])
        out = self._fresh(where, name)
        if style == "gemm":
            if v.kind is not Kind.TENSOR or len(v.features) != 1:
                raise _error(f"style='gemm' needs a 2-D tensor [B, n_in], operand {v.name!r} is {v.kind.value} "
                             f"with features {list(v.features)}", where, hint="use style='matmul'")
            inputs = [v.name, self._initializer(out, "weight", w)]
            if b is not None:
                inputs.append(self._initializer(out, "bias", b))
            self._node("Gemm", inputs, [out], name=out, transB=1)
        elif style == "matmul":
            wt = self._initializer(out, "weight_t", np.ascontiguousarray(w.T))
            if b is None:
                self._node("MatMul", [v.name, wt], [out], name=out)
            else:
                mm = self._sub(out, "matmul")
                self._node("MatMul", [v.name, wt], [mm], name=mm)
                self._node("Add", [mm, self._initializer(out, "bias", b)], [out], name=out)
        else:
            raise _error(f"style must be 'matmul' or 'gemm', got {style!r}", where)
        return self._value(out, kind, features)

    def _spatial(self, x: SnnValue, where: str) -> SnnValue:
        v = self._expect(x, {Kind.SPIKES, Kind.CURRENT}, where,
                         hint="convolutions and pooling act on time-major values [T, B, C, H, W]")
        if len(v.features) != 3:
            raise _error(f"operand {v.name!r} must have features [C, H, W], has {list(v.features)}", where)
        return v

    def _merged_op(self, v: SnnValue, out: str, op_type: str, extra_inputs: list[str],
                   out_features: tuple[int, ...], **attrs: object) -> SnnValue:
        """Reshape ``[T,B,C,H,W] -> [-1,C,H,W]``, apply ``op_type``, reshape back to ``[T,-1,*out]``."""
        merged = self._sub(out, "merged")
        self._node("Reshape", [v.name, self._shape_initializer(out, "shape_in", (-1, *v.features))], [merged],
                   name=merged)
        inner = self._sub(out, op_type.lower())
        self._node(op_type, [merged, *extra_inputs], [inner], name=inner, **attrs)
        self._node("Reshape", [inner, self._shape_initializer(out, "shape_out", (self.time_steps, -1, *out_features))],
                   [out], name=out)
        return self._value(out, Kind.CURRENT, out_features)

    def conv2d(self, x: SnnValue, weight: np.ndarray, bias: np.ndarray | None = None, *,
               strides: int | Sequence[int] = (1, 1), pads: int | Sequence[int] = (0, 0, 0, 0),
               dilations: int | Sequence[int] = (1, 1), group: int = 1, name: str | None = None) -> SnnValue:
        """2-D convolution at every step (ONNX ``Conv`` on the ``[T*B, C, H, W]`` view).

        Emits ``Reshape(x, [-1, C, H, W])``, ``Conv``, ``Reshape(., [T, -1, Co, Ho, Wo])``.

        Args:
            x: spikes or currents ``[T, B, C, H, W]``.
            weight: ``[Co, C/group, kh, kw]``.
            bias: ``[Co]`` or None.
            strides: ``(sh, sw)`` (an int for both).
            pads: ``(top, left, bottom, right)`` (an int for all).
            dilations: ``(dh, dw)``.
            group: channel groups.
            name: the output value's name.

        Returns:
            a current ``[T, B, Co, Ho, Wo]``.
        """
        where = "conv2d"
        v = self._spatial(x, where)
        w = _float_array(weight, "weight", where, ndim=4)
        s, p, d = _ints(strides, 2, "strides", where), _ints(pads, 4, "pads", where), _ints(dilations, 2,
                                                                                          "dilations", where)
        if min(s) < 1 or min(d) < 1 or min(p) < 0:
            raise _error(f"strides {list(s)} and dilations {list(d)} must be >= 1, pads {list(p)} >= 0", where)
        c, h, wd = v.features
        if group < 1 or c != w.shape[1] * group or w.shape[0] % group:
            raise _error(f"weight {list(w.shape)} with group={group} does not fit {c} input channels", where,
                         hint="weight is [C_out, C_in/group, kh, kw]")
        b = None if bias is None else _float_array(bias, "bias", where, ndim=1)
        if b is not None and b.shape != (w.shape[0],):
            raise _error(f"bias {list(b.shape)} does not match {w.shape[0]} output channels", where)
        ho = _conv_size(h, w.shape[2], s[0], p[0], p[2], d[0])
        wo = _conv_size(wd, w.shape[3], s[1], p[1], p[3], d[1])
        if ho < 1 or wo < 1:
            raise _error(f"kernel {list(w.shape[2:])} does not fit input {h}x{wd} with pads {list(p)}", where)
        out = self._fresh(where, name)
        extra = [self._initializer(out, "weight", w)]
        if b is not None:
            extra.append(self._initializer(out, "bias", b))
        return self._merged_op(v, out, "Conv", extra, (w.shape[0], ho, wo), kernel_shape=list(w.shape[2:]),
                               strides=list(s), pads=list(p), dilations=list(d), group=int(group))

    def avgpool2d(self, x: SnnValue, kernel: int | Sequence[int], strides: int | Sequence[int] | None = None,
                  pads: int | Sequence[int] = (0, 0, 0, 0), *, count_include_pad: int = 0,
                  name: str | None = None) -> SnnValue:
        """Average pooling at every step (ONNX ``AveragePool`` on the ``[T*B, C, H, W]`` view).

        Emits ``Reshape(x, [-1, C, H, W])``, ``AveragePool``, ``Reshape(., [T, -1, C, Ho, Wo])``; the
        ``AveragePool`` always carries ``kernel_shape``, ``strides``, ``pads`` and ``count_include_pad``
        (``ceil_mode`` is never written: output sizes round down).

        Args:
            x: spikes or currents ``[T, B, C, H, W]``.
            kernel: ``(kh, kw)`` (an int for both).
            strides: ``(sh, sw)``, default the kernel.
            pads: ``(top, left, bottom, right)``.
            count_include_pad: 1 if padded zeros count in the average (ONNX default 0).
            name: the output value's name.

        Returns:
            a current ``[T, B, C, Ho, Wo]``.
        """
        where = "avgpool2d"
        v = self._spatial(x, where)
        k = _ints(kernel, 2, "kernel", where)
        s = k if strides is None else _ints(strides, 2, "strides", where)
        p = _ints(pads, 4, "pads", where)
        if min(k) < 1 or min(s) < 1 or min(p) < 0:
            raise _error(f"kernel {list(k)} and strides {list(s)} must be >= 1, pads {list(p)} >= 0", where)
        if count_include_pad not in (0, 1):
            raise _error(f"count_include_pad must be 0 or 1, got {count_include_pad!r}", where)
        c, h, w = v.features
        ho, wo = _conv_size(h, k[0], s[0], p[0], p[2]), _conv_size(w, k[1], s[1], p[1], p[3])
        if ho < 1 or wo < 1:
            raise _error(f"kernel {list(k)} does not fit input {h}x{w}", where)
        out = self._fresh(where, name)
        return self._merged_op(v, out, "AveragePool", [], (c, ho, wo), kernel_shape=list(k), strides=list(s),
                               pads=list(p), count_include_pad=int(count_include_pad))

    # ------------------------------------------------------------------------------------ shapes
    def reshape(self, x: SnnValue, shape: Sequence[int], *, name: str | None = None) -> SnnValue:
        """Reshape the features of each sample (and step) to ``shape``; the kind is kept.

        Emits one ``Reshape`` to ``[T, -1, *shape]`` (time-major) or ``[-1, *shape]`` (tensor).
        """
        return self._reshape(x, shape, "reshape", name)

    def flatten(self, x: SnnValue, *, name: str | None = None) -> SnnValue:
        """Flatten the features to one axis: ``[T, B, C, H, W] -> [T, B, C*H*W]`` (or ``[B, *f] -> [B, size]``).

        Emits one ``Reshape`` to ``[T, -1, size]`` (time-major) or ``[-1, size]`` (tensor).
        """
        v = self._check_value(x, "flatten")
        return self._reshape(v, (v.size,), "flatten", name)

    def _reshape(self, x: SnnValue, shape: Sequence[int], where: str, name: str | None) -> SnnValue:
        v = self._check_value(x, where)
        new = tuple(int(d) for d in shape)
        if not new or min(new) < 1 or math.prod(new) != v.size:
            raise _error(f"cannot reshape features {list(v.features)} ({v.size} values) to {list(new)}", where,
                         hint="give every dimension explicitly (no -1)")
        out = self._fresh(where, name)
        lead = (self.time_steps, -1) if v.kind.time_major else (-1,)
        self._node("Reshape", [v.name, self._shape_initializer(out, "shape", (*lead, *new))], [out], name=out)
        if v.name in self._traces:
            self._traces.add(out)
        return self._value(out, v.kind, new)

    def time_flatten(self, x: SnnValue, *, name: str | None = None) -> SnnValue:
        """Spatio-temporal flattening ``[T, B, *f] -> [B, T*size]``, step-major (index ``t*size + i``).

        Emits ``Transpose(perm=[1, 0, 2, ...])`` then ``Reshape(., [-1, T*size])``.
        """
        where = "time_flatten"
        v = self._expect(x, {Kind.SPIKES, Kind.CURRENT}, where)
        out = self._fresh(where, name)
        tr = self._sub(out, "transposed")
        self._node("Transpose", [v.name], [tr], name=tr, perm=[1, 0, *range(2, 2 + len(v.features))])
        self._node("Reshape", [tr, self._shape_initializer(out, "shape", (-1, self.time_steps * v.size))], [out],
                   name=out)
        return self._value(out, Kind.TENSOR, (self.time_steps * v.size,))

    # ------------------------------------------------------------------------------------ neurons
    def relpsp(self, x: SnnValue, threshold: float = 1.0, *, name: str | None = None) -> SnnValue:
        """Single-spike ReL-PSP neuron ``snn.ReLPSP`` (STDBP): ``K[t] = K[t-1] + I[t]``,
        ``V[t] = V[t-1] + K[t-1]``, one spike at the first step where ``V[t] >= threshold``.

        Args:
            x: a current ``[T, B, *f]``.
            threshold: theta > 0.
            name: the output value's name.

        Returns:
            spikes ``[T, B, *f]``.
        """
        where = "relpsp"
        v = self._expect(x, {Kind.CURRENT}, where, hint="neurons take a synaptic current, e.g. from dense()")
        theta = float(threshold)
        if not math.isfinite(theta) or theta <= 0:
            raise _error(f"threshold must be a finite float > 0, got {threshold!r}", where)
        return self._snn("ReLPSP", [v.name], where, name, Kind.SPIKES, v.features, threshold=theta)

    def _param(self, value: object, what: str, v: SnnValue, where: str, *, low: float, high: float | None,
               low_open: bool) -> np.ndarray:
        """A neuron parameter (threshold, alpha, beta): a float32 array broadcastable to ``v``'s features,
        inside ``(low, high]`` / ``[low, high]`` (``low_open``), finite."""
        arr = _float_array(value, what, where)
        try:
            shape = np.broadcast_shapes(arr.shape, v.features)
        except ValueError:
            shape = None
        if shape != v.features:
            raise _error(f"{what} {list(arr.shape)} does not broadcast to the features {list(v.features)} of "
                         f"{v.name!r}", where, hint="use a scalar, [*features] or per-channel [C, 1, 1]")
        bad = (arr <= low) if low_open else (arr < low)
        if high is not None:
            bad = bad | (arr > high)
        if np.any(bad):
            first = float(arr.reshape(-1)[int(np.argmax(bad.reshape(-1)))])
            if high is None:
                raise _error(f"{what} must be > {low:g} everywhere, got {first!r}", where,
                             hint=f"a {what} <= 0 makes every step fire")
            raise _error(f"{what} must lie in [{low:g}, {high:g}] everywhere, got {first!r}", where,
                         hint=f"{what} is the per-step decay factor (1 = no leak, 0 = no memory); "
                              f"from a time constant tau and step dt: exp(-dt / tau)")
        return arr

    @staticmethod
    def _reset(reset: object, where: str) -> str:
        if reset not in ("subtract", "zero"):
            raise _error(f"reset must be 'subtract' or 'zero', got {reset!r}", where)
        return str(reset)

    @staticmethod
    def _delayed(delayed_reset: object, where: str) -> int:
        if isinstance(delayed_reset, bool | np.bool_) or delayed_reset in (0, 1):
            return int(bool(delayed_reset))
        raise _error(f"delayed_reset must be a bool (or 0/1), got {delayed_reset!r}", where)

    def _recurrent(self, weight: object, v: SnnValue, where: str) -> np.ndarray:
        """The recurrent weight ``[n, n]`` of a neuron layer with features ``[n]``."""
        w = _float_array(weight, "recurrent_weight", where)
        if len(v.features) != 1:
            raise _error(f"a recurrent layer needs features [n], operand {v.name!r} has {list(v.features)}", where,
                         hint="flatten() the current first")
        n = v.features[0]
        if w.shape != (n, n):
            raise _error(f"recurrent_weight must be [{n}, {n}] for the {n} neurons of {v.name!r}, got "
                         f"{list(w.shape)}", where, hint="recurrent_weight[i, j] is the weight from neuron j's "
                                                          "spike at step t-1 to neuron i at step t")
        return w

    def _neuron(self, op_type: str, where: str, v: SnnValue, params: list[tuple[str, np.ndarray]],
                recurrent_weight: object, name: str | None, **attrs: object) -> SnnValue:
        rec = None if recurrent_weight is None else self._recurrent(recurrent_weight, v, where)
        out = self._fresh(where, name)
        inputs = [v.name] + [self._initializer(out, suffix, arr) for suffix, arr in params]
        if rec is not None:
            inputs.append(self._initializer(out, "recurrent_weight", rec))
        self._node(op_type, inputs, [out], name=out, domain=SNN_DOMAIN, **attrs)
        self._functions.add(op_type)
        return self._value(out, Kind.SPIKES, v.features)

    def _current(self, x: object, where: str) -> SnnValue:
        return self._expect(x, {Kind.CURRENT}, where, hint="neurons take a synaptic current, e.g. from dense()")

    def if_neuron(self, x: SnnValue, threshold: float | np.ndarray = 1.0, reset: str = "subtract",
                  recurrent_weight: np.ndarray | None = None, *, name: str | None = None) -> SnnValue:
        """Integrate-and-fire neuron ``snn.IF``. subtract: ``V[t] = V[t-1] - theta*S[t-1] + I[t]``;
        zero: ``V[t] = V[t-1]*(1 - S[t-1]) + I[t]``; ``S[t] = V[t] >= theta``.

        Args:
            x: a current ``[T, B, *f]``.
            threshold: theta > 0, a float or an array broadcastable to the features (e.g. ``[C, 1, 1]``
                per channel); written as a float32 initializer, the op's second input.
            reset: ``"subtract"`` or ``"zero"`` (always written explicitly).
            recurrent_weight: ``W [n, n]`` (features ``[n]``): ``I[t]`` becomes ``I[t] + S[t-1] @ W.T``;
                written as the op's third input (omitted when None).
            name: the output value's name.

        Returns:
            spikes ``[T, B, *f]``.
        """
        where = "if_neuron"
        v = self._current(x, where)
        theta = self._param(threshold, "threshold", v, where, low=0.0, high=None, low_open=True)
        return self._neuron("IF", where, v, [("threshold", theta)], recurrent_weight, name,
                            reset=self._reset(reset, where))

    def lif(self, x: SnnValue, threshold: float | np.ndarray, beta: float | np.ndarray, reset: str = "subtract",
            delayed_reset: bool = False, recurrent_weight: np.ndarray | None = None, *,
            name: str | None = None) -> SnnValue:
        """Leaky integrate-and-fire neuron ``snn.LIF``: ``V[t] = beta * Vr[t-1] + I[t]``,
        ``S[t] = V[t] >= theta``, with ``Vr = V - theta*S`` (subtract) or ``V*(1 - S)`` (zero).

        With ``delayed_reset`` (snnTorch's ``reset_delay``) the reset of step t-1 comes after step t's
        decay and input: subtract ``V[t] = beta*V[t-1] + I[t] - theta*S[t-1]``, zero
        ``V[t] = (beta*V[t-1] + I[t]) * (1 - S[t-1])``.

        Args:
            x: a current ``[T, B, *f]``.
            threshold: theta > 0, scalar or broadcastable to the features (a float32 initializer).
            beta: the decay, 0 <= beta <= 1 (1: IF), scalar or broadcastable to the features.
            reset: ``"subtract"`` or ``"zero"``.
            delayed_reset: the attribute ``delayed_reset`` (0/1, always written).
            recurrent_weight: ``W [n, n]`` (features ``[n]``): ``I[t]`` becomes ``I[t] + S[t-1] @ W.T``.
            name: the output value's name.

        Returns:
            spikes ``[T, B, *f]``.
        """
        where = "lif"
        v = self._current(x, where)
        theta = self._param(threshold, "threshold", v, where, low=0.0, high=None, low_open=True)
        b = self._param(beta, "beta", v, where, low=0.0, high=1.0, low_open=False)
        return self._neuron("LIF", where, v, [("threshold", theta), ("beta", b)], recurrent_weight, name,
                            reset=self._reset(reset, where), delayed_reset=self._delayed(delayed_reset, where))

    def cuba_lif(self, x: SnnValue, threshold: float | np.ndarray, alpha: float | np.ndarray,
                 beta: float | np.ndarray, reset: str = "subtract", delayed_reset: bool = False,
                 recurrent_weight: np.ndarray | None = None, *, name: str | None = None) -> SnnValue:
        """Current-based LIF neuron ``snn.CubaLIF``: ``J[t] = alpha * J[t-1] + I[t]``,
        ``V[t] = beta * Vr[t-1] + J[t]``; spikes, reset and ``delayed_reset`` as :meth:`lif`
        (with ``J[t]`` in place of ``I[t]``).

        Args:
            x: a current ``[T, B, *f]``.
            threshold: theta > 0.
            alpha: the synaptic current's decay, 0 <= alpha <= 1.
            beta: the potential's decay, 0 <= beta <= 1.
            reset, delayed_reset, recurrent_weight, name: as :meth:`lif` (the recurrent term joins ``I[t]``
                before the synaptic decay: ``J[t] = alpha*J[t-1] + (I[t] + S[t-1] @ W.T)``).

        Returns:
            spikes ``[T, B, *f]``.
        """
        where = "cuba_lif"
        v = self._current(x, where)
        theta = self._param(threshold, "threshold", v, where, low=0.0, high=None, low_open=True)
        a = self._param(alpha, "alpha", v, where, low=0.0, high=1.0, low_open=False)
        b = self._param(beta, "beta", v, where, low=0.0, high=1.0, low_open=False)
        return self._neuron("CubaLIF", where, v, [("threshold", theta), ("alpha", a), ("beta", b)],
                            recurrent_weight, name, reset=self._reset(reset, where),
                            delayed_reset=self._delayed(delayed_reset, where))

    def li(self, x: SnnValue, beta: float | np.ndarray, *, name: str | None = None) -> SnnValue:
        """Leaky integrator ``snn.LI`` (the usual readout): ``V[t] = beta * V[t-1] + I[t]``, no threshold.

        Args:
            x: a current ``[T, B, *f]``.
            beta: the decay, 0 <= beta <= 1, scalar or broadcastable to the features.
            name: the output value's name.

        Returns:
            the potential trace ``[T, B, *f]`` (float), of kind current: it may be decoded with
            :meth:`last_step_decode` (``V[T-1]``), :meth:`spike_count_decode` (mean over the steps) or
            :meth:`max_over_time_decode` (maximum over the steps).
        """
        where = "li"
        v = self._current(x, where)
        b = self._param(beta, "beta", v, where, low=0.0, high=1.0, low_open=False)
        out = self._fresh(where, name)
        self._node("LI", [v.name, self._initializer(out, "beta", b)], [out], name=out, domain=SNN_DOMAIN)
        self._functions.add("LI")
        self._traces.add(out)
        return self._value(out, Kind.CURRENT, v.features)

    # ------------------------------------------------------------------------------------ merges
    def add(self, a: SnnValue, b: SnnValue, *, name: str | None = None) -> SnnValue:
        """Sum two currents of the same shape with ONNX ``Add`` (skip and residual connections).

        A spike train may feed several synapses (use the same value twice); their currents merge here
        before a neuron.

        Args:
            a, b: currents ``[T, B, *f]`` with equal features (no broadcasting).
            name: the output value's name.

        Returns:
            a current ``[T, B, *f]``.
        """
        where = "add"
        hint = "add() merges synaptic currents: pass spike trains through dense() or conv2d() first"
        va = self._expect(a, {Kind.CURRENT}, where, hint=hint)
        vb = self._expect(b, {Kind.CURRENT}, where, hint=hint)
        if va.features != vb.features:
            raise _error(f"cannot add {va.name!r} with features {list(va.features)} and {vb.name!r} with features "
                         f"{list(vb.features)}: the shapes differ", where,
                         hint="merged currents must have the same shape; project one with dense() or conv2d()")
        out = self._fresh(where, name)
        self._node("Add", [va.name, vb.name], [out], name=out)
        return self._value(out, Kind.CURRENT, va.features)

    # ------------------------------------------------------------------------------------ decoders
    def _decode(self, op_type: str, x: SnnValue, where: str, name: str | None, *, spikes: bool = True,
                traces: bool = False) -> SnnValue:
        v = self._check_value(x, where)
        ok = (spikes and v.kind is Kind.SPIKES) or (traces and v.name in self._traces)
        if not ok:
            wanted = " or ".join(w for w, on in (("spikes", spikes), ("an LI potential trace", traces)) if on)
            what = "an LI potential trace" if v.name in self._traces else v.kind.value
            hint = "decoders take the output spike train [T, B, N]" + (
                " or the potential trace of li()" if traces else "")
            raise _error(f"operand {v.name!r} is {what}, expected {wanted}", where, hint=hint)
        return self._snn(op_type, [v.name], where, name, Kind.TENSOR, v.features)

    def first_spike_decode(self, x: SnnValue, *, name: str | None = None) -> SnnValue:
        """``snn.FirstSpikeDecode``: score ``T - t_first`` (0 if no spike). Spikes ``[T,B,*f]`` -> ``[B,*f]``."""
        return self._decode("FirstSpikeDecode", x, "first_spike_decode", name)

    def last_step_decode(self, x: SnnValue, *, name: str | None = None) -> SnnValue:
        """``snn.LastStepDecode``: score ``S[T-1]`` (on an LI trace ``V[T-1]``). ``[T,B,*f]`` -> ``[B,*f]``."""
        return self._decode("LastStepDecode", x, "last_step_decode", name, traces=True)

    def spike_count_decode(self, x: SnnValue, *, name: str | None = None) -> SnnValue:
        """``snn.SpikeCountDecode``: spike count / T (on an LI trace the mean potential over the steps).
        ``[T,B,*f]`` -> ``[B,*f]``."""
        return self._decode("SpikeCountDecode", x, "spike_count_decode", name, traces=True)

    def max_over_time_decode(self, x: SnnValue, *, name: str | None = None) -> SnnValue:
        """``snn.MaxOverTimeDecode``: the maximum over the steps of an LI potential trace.
        ``[T,B,*f]`` -> ``[B,*f]``."""
        return self._decode("MaxOverTimeDecode", x, "max_over_time_decode", name, spikes=False, traces=True)

    def spatiotemporal_decode(self, x: SnnValue, weight: np.ndarray, bias: np.ndarray | None = None, *,
                              name: str | None = None) -> SnnValue:
        """The improved STBP's trainable spatio-temporal decoder (plain ONNX):
        ``[T, B, N] -> [B, T*N]`` (:meth:`time_flatten`) then ``Gemm`` with ``weight [N_out, T*N]``.

        Returns:
            a tensor ``[B, N_out]``.
        """
        v = self._expect(x, {Kind.SPIKES}, "spatiotemporal_decode", hint="decoders take the output spike train")
        flat = self.time_flatten(v)
        return self.dense(flat, weight, bias, style="gemm", name=name)

    # ------------------------------------------------------------------------------------ model
    def build(self, output: SnnValue, metadata: Mapping[str, str] | None = None, *,
              doc_string: str = "", check: bool = True) -> onnx.ModelProto:
        """The finished model: input ``x [B, *f]``, output ``scores [B, N]`` (the value ``output``, renamed).

        Args:
            output: a tensor ``[B, N]`` (a decoder's result, or a Gemm/dense on a tensor).
            metadata: ``metadata_props``; every key must start with ``snn.`` (e.g. ``snn.algorithm``,
                ``snn.dataset``, ``snn.accuracy``); values are converted with ``str``.
            doc_string: the model's doc string.
            check: run ``onnx.checker.check_model(full_check=True)`` (raise FrontendError on failure).

        Returns:
            the ``onnx.ModelProto``; the builder stays usable (each call returns a fresh model).
        """
        where = "build"
        v = self._check_value(output, where)
        if v.kind is not Kind.TENSOR or len(v.features) != 1:
            raise _error(f"the output must be a tensor [B, N], {v.name!r} is {v.kind.value} with features "
                         f"{list(v.features)}", where, hint="decode the spikes (and flatten first) to get [B, N]")
        if v.name == self.input.name:
            raise _error("the output cannot be the input", where)
        meta = {}
        for key, val in (metadata or {}).items():
            if not isinstance(key, str) or not key.startswith(METADATA_PREFIX):
                raise _error(f"metadata key {key!r} must start with {METADATA_PREFIX!r}", where)
            meta[key] = str(val)

        nodes = []
        for node in self._nodes:
            n = onnx.NodeProto()
            n.CopyFrom(node)
            n.input[:] = [OUTPUT_NAME if i == v.name else i for i in n.input]
            n.output[:] = [OUTPUT_NAME if o == v.name else o for o in n.output]
            nodes.append(n)
        value_info = [_value_info(val, self.time_steps) for name, val in self._values.items()
                      if name not in (v.name, self.input.name)]
        graph = helper.make_graph(
            nodes, self.name,
            [_value_info(self.input, self.time_steps)],
            [_value_info(SnnValue(OUTPUT_NAME, v.kind, v.features), self.time_steps)],
            initializer=list(self._initializers), value_info=value_info,
        )
        functions = [ALL_SNN_FUNCTIONS[op]() for op in ALL_SNN_FUNCTIONS if op in self._functions]
        model = helper.make_model(
            graph, ir_version=IR_VERSION, functions=functions, producer_name="snnc", doc_string=doc_string,
            opset_imports=[helper.make_opsetid("", ONNX_OPSET), helper.make_opsetid(SNN_DOMAIN, SNN_VERSION)],
        )
        helper.set_model_props(model, meta)
        if check:
            try:
                onnx.checker.check_model(model, full_check=True)
            except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
                raise _error(f"the ONNX checker rejects the model: {exc}", where) from exc
        return model


def _value_info(v: SnnValue, time_steps: int) -> onnx.ValueInfoProto:
    lead: tuple[int | str, ...] = (time_steps, "B") if v.kind.time_major else ("B",)
    return helper.make_tensor_value_info(v.name, _F, [*lead, *v.features])


# ---------------------------------------------------------------------------------------- runtime
def _load(model: onnx.ModelProto | str | os.PathLike[str]) -> onnx.ModelProto:
    if isinstance(model, onnx.ModelProto):
        return model
    return onnx.load(os.fspath(model))


def ort_session(model: onnx.ModelProto | str | os.PathLike[str], extra_outputs: Sequence[str] = (), *,
                threads: int | None = None, optimize: bool = True):  # -> onnxruntime.InferenceSession
    """An onnxruntime CPU session of ``model`` whose outputs also include the values ``extra_outputs``.

    Args:
        model: a ModelProto or a path to an ``.onnx`` file.
        extra_outputs: names of intermediate values (e.g. spike trains) to expose as graph outputs.
        threads: intra-op threads (None: onnxruntime's default).
        optimize: False disables onnxruntime's graph optimizations.
    """
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(_load(model))
    present = {o.name for o in m.graph.output}
    produced = {o for n in m.graph.node for o in n.output}
    infos = {vi.name: vi for vi in m.graph.value_info}
    for name in extra_outputs:
        if name in present:
            continue
        if name not in produced:
            raise FrontendError(f"no node of the model produces {name!r}", where="run_onnxruntime",
                                hint="extra_outputs names values of the graph (the builder's SnnValue.name)")
        m.graph.output.append(infos.get(name) or helper.make_tensor_value_info(name, _F, None))
        present.add(name)
    opts = ort.SessionOptions()
    if threads is not None:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(m.SerializeToString(), opts, providers=["CPUExecutionProvider"])


@overload
def run_onnxruntime(model: onnx.ModelProto | str | os.PathLike[str], x: np.ndarray, *,
                    extra_outputs: None = None, threads: int | None = None, optimize: bool = True) -> np.ndarray: ...


@overload
def run_onnxruntime(model: onnx.ModelProto | str | os.PathLike[str], x: np.ndarray, *,
                    extra_outputs: Sequence[str], threads: int | None = None,
                    optimize: bool = True) -> tuple[np.ndarray, dict[str, np.ndarray]]: ...


def run_onnxruntime(model: onnx.ModelProto | str | os.PathLike[str], x: np.ndarray, *,
                    extra_outputs: Sequence[str] | None = None, threads: int | None = None,
                    optimize: bool = True) -> np.ndarray | tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run a SPEC model with onnxruntime (CPU) on the batch ``x``.

    Args:
        model: a ModelProto or a path to an ``.onnx`` file.
        x: float32 ``[B, *features]`` (converted to float32).
        extra_outputs: names of intermediate values to return as well (e.g. spike trains ``[T, B, *f]``).
        threads: intra-op threads (None: onnxruntime's default).
        optimize: False disables onnxruntime's graph optimizations.

    Returns:
        the scores ``[B, N]``; with ``extra_outputs``, ``(scores, {name: array})``.

    Example:
        >>> scores, spikes = run_onnxruntime(model, x, extra_outputs=["relpsp_3"])  # doctest: +SKIP
    """
    m = _load(model)
    sess = ort_session(m, extra_outputs or (), threads=threads, optimize=optimize)
    input_name = sess.get_inputs()[0].name
    output_name = m.graph.output[0].name
    names = [output_name, *[n for n in (extra_outputs or ()) if n != output_name]]
    results = sess.run(names, {input_name: np.ascontiguousarray(x, dtype=np.float32)})
    scores = results[0]
    if extra_outputs is None:
        return scores
    by_name = dict(zip(names, results, strict=True))
    return scores, {n: by_name[n] for n in extra_outputs}
