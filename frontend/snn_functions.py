"""Model-local ONNX functions (domain ``snn``, version 1) for every operator of the snnc specification.

Each ``snn`` op a model uses is also defined inside the model as a :class:`onnx.FunctionProto` built
from standard ONNX ops (opset :data:`ONNX_OPSET`), so that onnxruntime runs the file unmodified. The
compiler recognises ``snn`` ops by domain, name and attributes only; these bodies exist for ONNX tools
and serve as an independent oracle. Every body reproduces the SPEC equations bit for bit in float32:

* ``TTFSEncode(x){time_steps, window}``: ``xc = clip(x, 0, 1)``,
  ``s = floor((1 - xc) * (window - 1) + 0.5)``, one spike at step ``s`` where ``x > 0``.
  ``window`` defaults to ``time_steps`` (stored default 0 means "absent": the body uses ``time_steps``).
* ``RateEncode(x){time_steps, threshold=0.5}``: the IF recurrence below, reset by subtraction,
  fed ``I[t] = clip(x, 0, 1)`` at every step.
* ``ReLPSP(I){threshold}``: ``V[t] = V[t-1] + K[t-1]``, ``K[t] = K[t-1] + I[t]``,
  ``S[t] = 1`` at the first step with ``V[t] >= threshold``, never again (a Scan over axis 0).
* ``IF(I, threshold){reset="subtract"}``: subtract ``V[t] = (V[t-1] - theta*S[t-1]) + I[t]``;
  zero ``V[t] = V[t-1]*(1 - S[t-1]) + I[t]``; ``S[t] = V[t] >= theta`` (a Scan over axis 0).
* ``FirstSpikeDecode(S)``: ``T - argmax_t S[t]`` where some step spikes, else 0 (= ``T - T``).
* ``LastStepDecode(S)``: ``S[T-1]``.
* ``SpikeCountDecode(S)``: ``sum_t S[t] / T``.

Spike trains are float32 0/1 tensors ``[T, B, *features]``; every body is rank-generic. Names inside
the Scan bodies never repeat a name of the enclosing function (ONNX forbids shadowing).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import AttributeProto, FunctionProto, GraphProto, NodeProto, TensorProto, helper, numpy_helper

#: The standard ONNX opset the functions (and the models around them) import.
ONNX_OPSET = 20
#: The custom domain of the spiking ops and its version.
SNN_DOMAIN = "snn"
SNN_VERSION = 1

_F = TensorProto.FLOAT


def _ref(name: str, attr: str, attr_type: int) -> AttributeProto:
    """An attribute of a body node that refers to the function's attribute ``attr``."""
    a = AttributeProto()
    a.name = name
    a.ref_attr_name = attr
    a.type = attr_type
    return a


def _const(out: str, value: float | int | bool | list[int], dtype: type = np.float32) -> NodeProto:
    """A Constant node holding ``value`` (a scalar, or a 1-D tensor for a list)."""
    arr = np.array(value, dtype=dtype)
    return helper.make_node("Constant", [], [out], value=numpy_helper.from_array(arr, out))


def _const_from_attr(out: str, attr: str, kind: str) -> NodeProto:
    """A Constant node whose value is the function attribute ``attr`` (kind: int, float or string)."""
    types = {"int": AttributeProto.INT, "float": AttributeProto.FLOAT, "string": AttributeProto.STRING}
    node = helper.make_node("Constant", [], [out])
    node.attribute.append(_ref(f"value_{kind}", attr, types[kind]))
    return node


def _untyped(name: str, elem_type: int = _F) -> onnx.ValueInfoProto:
    """A value info of element type only (any rank): the Scan bodies are rank-generic."""
    return helper.make_tensor_value_info(name, elem_type, None)


def _function(name: str, inputs: list[str], outputs: list[str], nodes: list[NodeProto], *,
              attributes: tuple[str, ...] = (), defaults: dict[str, object] | None = None,
              doc: str = "") -> FunctionProto:
    return helper.make_function(
        SNN_DOMAIN, name, inputs, outputs, nodes, [helper.make_opsetid("", ONNX_OPSET)],
        attributes=list(attributes),
        attribute_protos=[helper.make_attribute(k, v) for k, v in (defaults or {}).items()],
        doc_string=doc,
    )


# ---------------------------------------------------------------------------------- neuron Scan bodies
def _if_step_body() -> GraphProto:
    """One IF step: states (V, S, theta, is_zero), scan input I_t; scan output S_t.

    ``V = where(is_zero, V_prev * (1 - S_prev), V_prev - theta * S_prev) + I_t``; ``S = V >= theta``.
    """
    nodes = [
        _const("step_one", 1.0),
        helper.make_node("Mul", ["theta_in", "s_prev"], ["theta_s"]),
        helper.make_node("Sub", ["v_prev", "theta_s"], ["v_sub"]),
        helper.make_node("Sub", ["step_one", "s_prev"], ["keep"]),
        helper.make_node("Mul", ["v_prev", "keep"], ["v_zero"]),
        helper.make_node("Where", ["is_zero_in", "v_zero", "v_sub"], ["v_base"]),
        helper.make_node("Add", ["v_base", "i_t"], ["v"]),
        helper.make_node("GreaterOrEqual", ["v", "theta_in"], ["fire"]),
        helper.make_node("Cast", ["fire"], ["s"], to=_F),
        helper.make_node("Identity", ["theta_in"], ["theta_out"]),
        helper.make_node("Identity", ["is_zero_in"], ["is_zero_out"]),
        helper.make_node("Identity", ["s"], ["s_t"]),
    ]
    inputs = [_untyped("v_prev"), _untyped("s_prev"), _untyped("theta_in"),
              _untyped("is_zero_in", TensorProto.BOOL), _untyped("i_t")]
    outputs = [_untyped("v"), _untyped("s"), _untyped("theta_out"),
               _untyped("is_zero_out", TensorProto.BOOL), _untyped("s_t")]
    return helper.make_graph(nodes, "if_step", inputs, outputs)


def _if_scan(v0: str, theta: str, is_zero: str, current: str, out: str) -> NodeProto:
    """A Scan over axis 0 of ``current`` ([T, B, *f]) running the IF step; ``out`` is the spike train."""
    return helper.make_node(
        "Scan", [v0, v0, theta, is_zero, current], ["v_last", "s_last", "theta_last", "is_zero_last", out],
        num_scan_inputs=1, body=_if_step_body(),
    )


def _relpsp_step_body() -> GraphProto:
    """One ReLPSP step: states (K, V, fired, theta), scan input I_t; scan output S_t.

    ``V = V_prev + K_prev``; ``K = K_prev + I_t``; ``S = (V >= theta) * (1 - fired)``;
    ``fired = max(fired, V >= theta)``.
    """
    nodes = [
        _const("step_one", 1.0),
        helper.make_node("Add", ["v_prev", "k_prev"], ["v"]),
        helper.make_node("Add", ["k_prev", "i_t"], ["k"]),
        helper.make_node("GreaterOrEqual", ["v", "theta_in"], ["above"]),
        helper.make_node("Cast", ["above"], ["above_f"], to=_F),
        helper.make_node("Sub", ["step_one", "fired_prev"], ["armed"]),
        helper.make_node("Mul", ["above_f", "armed"], ["s"]),
        helper.make_node("Max", ["fired_prev", "above_f"], ["fired"]),
        helper.make_node("Identity", ["theta_in"], ["theta_out"]),
    ]
    inputs = [_untyped("k_prev"), _untyped("v_prev"), _untyped("fired_prev"), _untyped("theta_in"), _untyped("i_t")]
    outputs = [_untyped("k"), _untyped("v"), _untyped("fired"), _untyped("theta_out"), _untyped("s")]
    return helper.make_graph(nodes, "relpsp_step", inputs, outputs)


# ------------------------------------------------------------------------------------------ encoders
def ttfs_encode_function() -> FunctionProto:
    """``snn.TTFSEncode(x){time_steps, window}`` -> spikes ``[T, B, *f]``."""
    nodes = [
        _const("zero", 0.0), _const("one", 1.0), _const("half", 0.5),
        _const("axis0", [0], np.int64), _const("zero_i", 0, np.int64), _const("step_i", 1, np.int64),
        _const_from_attr("t_i", "time_steps", "int"),
        _const_from_attr("w_attr", "window", "int"),
        # window = time_steps where the attribute is absent (stored default 0)
        helper.make_node("Greater", ["w_attr", "zero_i"], ["has_w"]),
        helper.make_node("Where", ["has_w", "w_attr", "t_i"], ["w_i"]),
        helper.make_node("Cast", ["w_i"], ["w_f"], to=_F),
        helper.make_node("Sub", ["w_f", "one"], ["w_minus_1"]),
        # s = floor((1 - xc) * (window - 1) + 0.5), float32
        helper.make_node("Clip", ["x", "zero", "one"], ["xc"]),
        helper.make_node("Sub", ["one", "xc"], ["dark"]),
        helper.make_node("Mul", ["dark", "w_minus_1"], ["scaled"]),
        helper.make_node("Add", ["scaled", "half"], ["rounded"]),
        helper.make_node("Floor", ["rounded"], ["s"]),
        # steps 0..T-1 shaped [T, 1, ..., 1] (rank of x + 1)
        helper.make_node("Range", ["zero_i", "t_i", "step_i"], ["steps_i"]),
        helper.make_node("Cast", ["steps_i"], ["steps"], to=_F),
        helper.make_node("Shape", ["x"], ["x_shape"]),
        helper.make_node("Shape", ["x_shape"], ["x_rank"]),
        helper.make_node("ConstantOfShape", ["x_rank"], ["ones"],
                         value=numpy_helper.from_array(np.array([1], np.int64), "one_i")),
        helper.make_node("Unsqueeze", ["t_i", "axis0"], ["t_1d"]),
        helper.make_node("Concat", ["t_1d", "ones"], ["steps_shape"], axis=0),
        helper.make_node("Reshape", ["steps", "steps_shape"], ["steps_col"]),
        # spike where step == s and x > 0
        helper.make_node("Unsqueeze", ["s", "axis0"], ["s_u"]),
        helper.make_node("Equal", ["steps_col", "s_u"], ["at_s"]),
        helper.make_node("Greater", ["x", "zero"], ["pos"]),
        helper.make_node("Unsqueeze", ["pos", "axis0"], ["pos_u"]),
        helper.make_node("And", ["at_s", "pos_u"], ["fire"]),
        helper.make_node("Cast", ["fire"], ["spikes"], to=_F),
    ]
    return _function("TTFSEncode", ["x"], ["spikes"], nodes, attributes=("time_steps",),
                     defaults={"window": 0}, doc=ttfs_encode_function.__doc__ or "")


def rate_encode_function() -> FunctionProto:
    """``snn.RateEncode(x){time_steps, threshold=0.5}`` -> spikes ``[T, B, *f]`` (IF, subtract, ``I[t] = x``)."""
    nodes = [
        _const("zero", 0.0), _const("one", 1.0), _const("axis0", [0], np.int64),
        _const("is_zero", False, np.bool_),
        _const_from_attr("t_i", "time_steps", "int"),
        _const_from_attr("theta", "threshold", "float"),
        helper.make_node("Clip", ["x", "zero", "one"], ["xc"]),
        helper.make_node("Shape", ["xc"], ["x_shape"]),
        helper.make_node("Unsqueeze", ["t_i", "axis0"], ["t_1d"]),
        helper.make_node("Concat", ["t_1d", "x_shape"], ["full_shape"], axis=0),
        helper.make_node("Unsqueeze", ["xc", "axis0"], ["xc_u"]),
        helper.make_node("Expand", ["xc_u", "full_shape"], ["current"]),
        helper.make_node("ConstantOfShape", ["x_shape"], ["v0"]),
        _if_scan("v0", "theta", "is_zero", "current", "spikes"),
    ]
    return _function("RateEncode", ["x"], ["spikes"], nodes, attributes=("time_steps",),
                     defaults={"threshold": 0.5}, doc=rate_encode_function.__doc__ or "")


# ------------------------------------------------------------------------------------------- neurons
def relpsp_function() -> FunctionProto:
    """``snn.ReLPSP(I){threshold}`` -> spikes ``[T, B, *f]`` (at most one spike per neuron)."""
    nodes = [
        _const_from_attr("theta", "threshold", "float"),
        helper.make_node("Shape", ["I"], ["f_shape"], start=1),
        helper.make_node("ConstantOfShape", ["f_shape"], ["z"]),
        helper.make_node("Scan", ["z", "z", "z", "theta", "I"],
                         ["k_last", "v_last", "fired_last", "theta_last", "spikes"],
                         num_scan_inputs=1, body=_relpsp_step_body()),
    ]
    return _function("ReLPSP", ["I"], ["spikes"], nodes, attributes=("threshold",),
                     doc=relpsp_function.__doc__ or "")


def if_function() -> FunctionProto:
    """``snn.IF(I, threshold){reset="subtract"}`` -> spikes ``[T, B, *f]``."""
    nodes = [
        _const_from_attr("reset", "reset", "string"),
        helper.make_node("Constant", [], ["zero_name"],
                         value=helper.make_tensor("zero_name", TensorProto.STRING, [], [b"zero"])),
        helper.make_node("Equal", ["reset", "zero_name"], ["is_zero"]),
        helper.make_node("Shape", ["I"], ["f_shape"], start=1),
        helper.make_node("ConstantOfShape", ["f_shape"], ["v0"]),
        _if_scan("v0", "threshold", "is_zero", "I", "spikes"),
    ]
    return _function("IF", ["I", "threshold"], ["spikes"], nodes, defaults={"reset": "subtract"},
                     doc=if_function.__doc__ or "")


# ------------------------------------------------------------------------------------------ decoders
def first_spike_decode_function() -> FunctionProto:
    """``snn.FirstSpikeDecode(S)`` -> ``[B, *f]``: ``T - t_first``, 0 where no spike."""
    nodes = [
        helper.make_node("Shape", ["S"], ["t_1d"], start=0, end=1),
        helper.make_node("ArgMax", ["S"], ["t_first"], axis=0, keepdims=0, select_last_index=0),
        helper.make_node("Sub", ["t_1d", "t_first"], ["left"]),
        helper.make_node("Cast", ["left"], ["left_f"], to=_F),
        _const("axis0", [0], np.int64),
        helper.make_node("ReduceMax", ["S", "axis0"], ["any"], keepdims=0),
        helper.make_node("Mul", ["left_f", "any"], ["scores"]),
    ]
    return _function("FirstSpikeDecode", ["S"], ["scores"], nodes, doc=first_spike_decode_function.__doc__ or "")


def last_step_decode_function() -> FunctionProto:
    """``snn.LastStepDecode(S)`` -> ``[B, *f]``: ``S[T-1]``."""
    nodes = [
        _const("last", -1, np.int64),
        helper.make_node("Gather", ["S", "last"], ["scores"], axis=0),
    ]
    return _function("LastStepDecode", ["S"], ["scores"], nodes, doc=last_step_decode_function.__doc__ or "")


def spike_count_decode_function() -> FunctionProto:
    """``snn.SpikeCountDecode(S)`` -> ``[B, *f]``: spike count over the steps divided by T."""
    nodes = [
        _const("axis0", [0], np.int64),
        helper.make_node("ReduceSum", ["S", "axis0"], ["count"], keepdims=0),
        helper.make_node("Shape", ["S"], ["t_1d"], start=0, end=1),
        helper.make_node("Cast", ["t_1d"], ["t_f"], to=_F),
        helper.make_node("Div", ["count", "t_f"], ["scores"]),
    ]
    return _function("SpikeCountDecode", ["S"], ["scores"], nodes, doc=spike_count_decode_function.__doc__ or "")


#: ONNX op name (domain ``snn``) -> builder of its FunctionProto.
SNN_FUNCTIONS: dict[str, Callable[[], FunctionProto]] = {
    "TTFSEncode": ttfs_encode_function,
    "RateEncode": rate_encode_function,
    "ReLPSP": relpsp_function,
    "IF": if_function,
    "FirstSpikeDecode": first_spike_decode_function,
    "LastStepDecode": last_step_decode_function,
    "SpikeCountDecode": spike_count_decode_function,
}


def snn_function(op_type: str) -> FunctionProto:
    """The model-local FunctionProto of the ``snn`` op ``op_type`` (e.g. ``"IF"``).

    Raises:
        KeyError: ``op_type`` is not an op of the specification.
    """
    return SNN_FUNCTIONS[op_type]()
