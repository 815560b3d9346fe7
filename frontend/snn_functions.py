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
* ``IF(I, threshold[, recurrent_weight]){reset="subtract"}``: with ``recurrent_weight`` ``W`` ``[n, n]``
  the input is ``I'[t] = I[t] + S[t-1] @ W^T`` (one step of delay); without it, ``I'[t] = I[t]``.
* ``LIF(I, threshold, beta[, recurrent_weight]){reset="subtract", delayed_reset=0}``:
  ``Vr = V - theta*S`` (subtract) or ``V*(1 - S)`` (zero); ``V[t] = beta*Vr[t-1] + I'[t]``; with
  ``delayed_reset=1``: subtract ``V[t] = (beta*V[t-1] + I'[t]) - theta*S[t-1]``, zero
  ``V[t] = (beta*V[t-1] + I'[t])*(1 - S[t-1])``; ``S[t] = V[t] >= theta``.
* ``CubaLIF(I, threshold, alpha, beta[, recurrent_weight]){reset="subtract", delayed_reset=0}``:
  ``J[t] = alpha*J[t-1] + I'[t]``, then the LIF update with ``J[t]`` in place of ``I'[t]``.
* ``LI(I, beta)``: ``V[t] = beta*V[t-1] + I[t]``; the output is the potential trace ``[T, B, *f]``.
* ``FirstSpikeDecode(S)``: ``T - argmax_t S[t]`` where some step spikes, else 0 (= ``T - T``).
* ``LastStepDecode(S)``: ``S[T-1]`` (on an LI trace: ``V[T-1]``).
* ``SpikeCountDecode(S)``: ``sum_t S[t] / T`` (on an LI trace: the mean over the steps).
* ``MaxOverTimeDecode(S)``: ``max_t S[t]`` (on an LI trace: the maximum potential over the steps).

The optional last input ``recurrent_weight`` of IF, LIF and CubaLIF is one function with an optional
formal input, not a separate variant: the body tests ``OptionalHasElement(recurrent_weight)`` (false
when the node omits the input) and an ``If`` runs the Scan with or without the recurrent term. A body
node may not read an omitted input directly (type inference fails on it), so the weight reaches the
recurrent branch as ``W' = Gemm(zeros[n, 1], zeros[1, n], C=recurrent_weight)``: ``0 + W`` (exactly
``W``) when present, ``zeros[n, n]`` when omitted (Gemm's ``C`` is itself optional).

Spike trains are float32 0/1 tensors ``[T, B, *features]``; every body is rank-generic (a recurrent
neuron needs one feature axis ``[T, B, n]``). Names inside the Scan bodies never repeat a name of the
enclosing function (ONNX forbids shadowing). Float32 operations follow the SPEC equations left to right,
one ONNX op per arithmetic operation, so each result is the SPEC's float32 result bit for bit (only the
sums inside a MatMul have an implementation order, exact on dyadic weights).
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
def _neuron_step_body(graph_name: str, *, leaky: bool, cuba: bool, recurrent: bool) -> GraphProto:
    """One step of IF (``leaky=False``), LIF (``leaky=True``) or CubaLIF (``cuba=True``), optionally recurrent.

    Loop-carried states, in this order: ``v, s, [j], theta, [beta, is_delayed], [alpha], is_zero, [wt]``
    (``wt`` is the transposed recurrent weight ``[n, n]``); scan input ``i_t``; scan output ``s_t``.
    Every arithmetic operation of the SPEC is one node, in the SPEC's order:

    * input: ``i_in = i_t + s_prev @ wt`` (recurrent) or ``i_t``;
    * CubaLIF: ``j = alpha * j_prev + i_in``, the drive is ``j`` (else ``i_in``);
    * reset first (default): ``vr = where(is_zero, v_prev * (1 - s_prev), v_prev - theta * s_prev)``,
      ``v = beta * vr + drive`` (IF: ``v = vr + drive``);
    * delayed reset (LIF/CubaLIF with ``is_delayed``): ``u = beta * v_prev + drive``,
      ``v = where(is_zero, u * (1 - s_prev), u - theta * s_prev)``;
    * ``s = v >= theta`` (float 0/1).
    """
    states = ["v", "s"] + (["j"] if cuba else []) + ["theta"] + (["beta", "is_delayed"] if leaky else []) \
        + (["alpha"] if cuba else []) + ["is_zero"] + (["wt"] if recurrent else [])
    bools = {"is_zero", "is_delayed"}
    nodes = [_const("step_one", 1.0)]
    drive = "i_t"
    if recurrent:
        nodes += [helper.make_node("MatMul", ["s_prev", "wt_prev"], ["rec"]),
                  helper.make_node("Add", ["i_t", "rec"], ["i_in"])]
        drive = "i_in"
    if cuba:
        nodes += [helper.make_node("Mul", ["alpha_prev", "j_prev"], ["alpha_j"]),
                  helper.make_node("Add", ["alpha_j", drive], ["j"])]
        drive = "j"
    nodes += [
        helper.make_node("Mul", ["theta_prev", "s_prev"], ["theta_s"]),
        helper.make_node("Sub", ["step_one", "s_prev"], ["keep"]),
        helper.make_node("Sub", ["v_prev", "theta_s"], ["v_sub"]),
        helper.make_node("Mul", ["v_prev", "keep"], ["v_zero"]),
        helper.make_node("Where", ["is_zero_prev", "v_zero", "v_sub"], ["v_reset"]),
    ]
    if leaky:
        nodes += [
            helper.make_node("Mul", ["beta_prev", "v_reset"], ["beta_v_reset"]),
            helper.make_node("Add", ["beta_v_reset", drive], ["v_now"]),
            helper.make_node("Mul", ["beta_prev", "v_prev"], ["beta_v"]),
            helper.make_node("Add", ["beta_v", drive], ["u"]),
            helper.make_node("Sub", ["u", "theta_s"], ["u_sub"]),
            helper.make_node("Mul", ["u", "keep"], ["u_zero"]),
            helper.make_node("Where", ["is_zero_prev", "u_zero", "u_sub"], ["v_late"]),
            helper.make_node("Where", ["is_delayed_prev", "v_late", "v_now"], ["v"]),
        ]
    else:
        nodes.append(helper.make_node("Add", ["v_reset", drive], ["v"]))
    nodes += [
        helper.make_node("GreaterOrEqual", ["v", "theta_prev"], ["fire"]),
        helper.make_node("Cast", ["fire"], ["s"], to=_F),
        helper.make_node("Identity", ["s"], ["s_t"]),
    ]
    passthrough = [st for st in states if st not in ("v", "s", "j")]
    nodes += [helper.make_node("Identity", [f"{st}_prev"], [f"{st}_out"]) for st in passthrough]

    def typed(name: str, state: str) -> onnx.ValueInfoProto:
        return _untyped(name, TensorProto.BOOL if state in bools else _F)

    inputs = [typed(f"{st}_prev", st) for st in states] + [_untyped("i_t")]
    outputs = [typed(st if st in ("v", "s", "j") else f"{st}_out", st) for st in states] + [_untyped("s_t")]
    return helper.make_graph(nodes, graph_name, inputs, outputs)


def _if_step_body() -> GraphProto:
    """One IF step: states (V, S, theta, is_zero), scan input I_t; scan output S_t.

    ``V = where(is_zero, V_prev * (1 - S_prev), V_prev - theta * S_prev) + I_t``; ``S = V >= theta``.
    """
    return _neuron_step_body("if_step", leaky=False, cuba=False, recurrent=False)


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


def _neuron_function(op_type: str, params: list[str], *, leaky: bool, cuba: bool, doc: str) -> FunctionProto:
    """``snn.<op_type>(I, threshold, *params[, recurrent_weight]){reset, [delayed_reset]}`` -> spikes.

    The body: flags from the attributes, zero states, the recurrent weight (or zeros) ``W'``
    transposed, and ``If(OptionalHasElement(recurrent_weight))`` choosing the recurrent Scan or the
    plain one (see the module doc).
    """
    nodes = [
        _const_from_attr("reset_name", "reset", "string"),
        helper.make_node("Constant", [], ["zero_name"],
                         value=helper.make_tensor("zero_name", TensorProto.STRING, [], [b"zero"])),
        helper.make_node("Equal", ["reset_name", "zero_name"], ["is_zero"]),
        helper.make_node("Shape", ["I"], ["f_shape"], start=1),
        helper.make_node("ConstantOfShape", ["f_shape"], ["v0"]),
        # W' = zeros[n, 1] @ zeros[1, n] + recurrent_weight: exactly W, or zeros[n, n] where it is omitted
        helper.make_node("OptionalHasElement", ["recurrent_weight"], ["has_rec"]),
        _const("one_1d", [1], np.int64),
        helper.make_node("Shape", ["I"], ["n_1d"], start=-1),
        helper.make_node("Concat", ["n_1d", "one_1d"], ["col_shape"], axis=0),
        helper.make_node("Concat", ["one_1d", "n_1d"], ["row_shape"], axis=0),
        helper.make_node("ConstantOfShape", ["col_shape"], ["zero_col"]),
        helper.make_node("ConstantOfShape", ["row_shape"], ["zero_row"]),
        helper.make_node("Gemm", ["zero_col", "zero_row", "recurrent_weight"], ["w_rec"]),
        helper.make_node("Transpose", ["w_rec"], ["w_rec_t"], perm=[1, 0]),
    ]
    defaults: dict[str, object] = {"reset": "subtract"}
    if leaky:
        nodes += [_const_from_attr("delayed_i", "delayed_reset", "int"),
                  helper.make_node("Cast", ["delayed_i"], ["is_delayed"], to=TensorProto.BOOL)]
        defaults["delayed_reset"] = 0
    state_inputs = ["v0", "v0"] + (["v0"] if cuba else []) + ["threshold"] \
        + (["beta", "is_delayed"] if leaky else []) + (["alpha"] if cuba else []) + ["is_zero"]
    n_states = len(state_inputs)
    branches = {}
    for prefix, recurrent in (("rec", True), ("plain", False)):
        body = _neuron_step_body(f"{op_type.lower()}_{prefix}_step", leaky=leaky, cuba=cuba, recurrent=recurrent)
        inputs = state_inputs + (["w_rec_t"] if recurrent else []) + ["I"]
        outputs = [f"{prefix}_state_{k}" for k in range(n_states + recurrent)] + [f"{prefix}_spikes"]
        scan = helper.make_node("Scan", inputs, outputs, num_scan_inputs=1, body=body)
        branches[prefix] = helper.make_graph([scan], f"{op_type.lower()}_{prefix}", [],
                                             [_untyped(f"{prefix}_spikes")])
    nodes.append(helper.make_node("If", ["has_rec"], ["spikes"], then_branch=branches["rec"],
                                  else_branch=branches["plain"]))
    return _function(op_type, ["I", "threshold", *params, "recurrent_weight"], ["spikes"], nodes,
                     defaults=defaults, doc=doc)


def if_function() -> FunctionProto:
    """``snn.IF(I, threshold[, recurrent_weight]){reset="subtract"}`` -> spikes ``[T, B, *f]``."""
    return _neuron_function("IF", [], leaky=False, cuba=False, doc=if_function.__doc__ or "")


def lif_function() -> FunctionProto:
    """``snn.LIF(I, threshold, beta[, recurrent_weight]){reset="subtract", delayed_reset=0}`` -> spikes."""
    return _neuron_function("LIF", ["beta"], leaky=True, cuba=False, doc=lif_function.__doc__ or "")


def cuba_lif_function() -> FunctionProto:
    """``snn.CubaLIF(I, threshold, alpha, beta[, recurrent_weight]){reset="subtract", delayed_reset=0}``
    -> spikes."""
    return _neuron_function("CubaLIF", ["alpha", "beta"], leaky=True, cuba=True, doc=cuba_lif_function.__doc__ or "")


def _li_step_body() -> GraphProto:
    """One LI step: states (V, beta), scan input I_t; scan output V_t. ``V = beta * V_prev + I_t``."""
    nodes = [
        helper.make_node("Mul", ["beta_prev", "v_prev"], ["beta_v"]),
        helper.make_node("Add", ["beta_v", "i_t"], ["v"]),
        helper.make_node("Identity", ["beta_prev"], ["beta_out"]),
        helper.make_node("Identity", ["v"], ["v_t"]),
    ]
    return helper.make_graph(nodes, "li_step", [_untyped("v_prev"), _untyped("beta_prev"), _untyped("i_t")],
                             [_untyped("v"), _untyped("beta_out"), _untyped("v_t")])


def li_function() -> FunctionProto:
    """``snn.LI(I, beta)`` -> the potential trace ``[T, B, *f]`` (float): ``V[t] = beta * V[t-1] + I[t]``."""
    nodes = [
        helper.make_node("Shape", ["I"], ["f_shape"], start=1),
        helper.make_node("ConstantOfShape", ["f_shape"], ["v0"]),
        helper.make_node("Scan", ["v0", "beta", "I"], ["v_last", "beta_last", "trace"], num_scan_inputs=1,
                         body=_li_step_body()),
    ]
    return _function("LI", ["I", "beta"], ["trace"], nodes, doc=li_function.__doc__ or "")


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


def max_over_time_decode_function() -> FunctionProto:
    """``snn.MaxOverTimeDecode(S)`` -> ``[B, *f]``: ``max_t S[t]`` (on an LI trace, the peak potential)."""
    nodes = [
        _const("axis0", [0], np.int64),
        helper.make_node("ReduceMax", ["S", "axis0"], ["scores"], keepdims=0),
    ]
    return _function("MaxOverTimeDecode", ["S"], ["scores"], nodes, doc=max_over_time_decode_function.__doc__ or "")


#: ONNX op name (domain ``snn``) -> builder of its FunctionProto: the ops of the STDBP/STBP models.
SNN_FUNCTIONS: dict[str, Callable[[], FunctionProto]] = {
    "TTFSEncode": ttfs_encode_function,
    "RateEncode": rate_encode_function,
    "ReLPSP": relpsp_function,
    "IF": if_function,
    "FirstSpikeDecode": first_spike_decode_function,
    "LastStepDecode": last_step_decode_function,
    "SpikeCountDecode": spike_count_decode_function,
}
#: The leaky, recurrent and trace ops (issue 14), kept apart from :data:`SNN_FUNCTIONS` so that code
#: (and tests) enumerating the original op set see it unchanged; :data:`ALL_SNN_FUNCTIONS` is the union.
LEAKY_FUNCTIONS: dict[str, Callable[[], FunctionProto]] = {
    "LIF": lif_function,
    "CubaLIF": cuba_lif_function,
    "LI": li_function,
    "MaxOverTimeDecode": max_over_time_decode_function,
}
#: Every ``snn`` op of the specification -> builder of its FunctionProto.
ALL_SNN_FUNCTIONS: dict[str, Callable[[], FunctionProto]] = {**SNN_FUNCTIONS, **LEAKY_FUNCTIONS}


def snn_function(op_type: str) -> FunctionProto:
    """The model-local FunctionProto of the ``snn`` op ``op_type`` (e.g. ``"IF"``).

    Raises:
        KeyError: ``op_type`` is not an op of the specification.
    """
    return ALL_SNN_FUNCTIONS[op_type]()
