"""The ONNX frontend: every supported pattern imports to the right IR, and every bad model fails with one clear error.

Models are built with ``onnx.helper`` right here. Where a test runs a model in onnxruntime it attaches the
``snn`` functions (:func:`snnc.frontend.snn_functions.snn_function`) and compares onnxruntime's scores with
the imported graph evaluated by a small interpreter over :mod:`snnc.tests.spec_numpy`; weights are dyadic,
so both must agree exactly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from snnc.errors import FrontendError, UnsupportedOpError
from snnc.frontend import import_onnx, supported_ops
from snnc.frontend.layout import Layout, LayoutError, classify, flatten_dims, full_dims, resolve_reshape, transpose
from snnc.frontend.snn_functions import snn_function
from snnc.frontend.snn_onnx import run_onnxruntime
from snnc.ir import Graph, Kind, ValueType
from snnc.ir.parser import parse_graph
from snnc.ir.printer import print_graph
from snnc.tests import spec_numpy as spec
from snnc.tests.onnx_models import CASES, MODEL_CASES, init, node, random_inputs, snn

F = TensorProto.FLOAT
T = 6


# ------------------------------------------------------------------------------------------- helpers
def shape(name: str, dims: list[int]) -> onnx.TensorProto:
    return init(name, dims, np.int64)


def make(nodes: list[onnx.NodeProto], inits: list[onnx.TensorProto] = (), features: tuple[int, ...] = (4,),
         n_out: int | None = 3, *, output: str = "scores", metadata: dict[str, str] | None = None,
         opset: int = 20, functions: bool = False, name: str = "net",
         extra_inputs: list[onnx.ValueInfoProto] = (), extra_outputs: list[onnx.ValueInfoProto] = (),
         imports: list[tuple[str, int]] | None = None) -> onnx.ModelProto:
    """A model with input x [B, *features] and output scores [B, n_out]."""
    x = helper.make_tensor_value_info("x", F, ["B", *features])
    y = helper.make_tensor_value_info(output, F, ["B", n_out or "N"])
    graph = helper.make_graph(nodes, name, [x, *extra_inputs], [y, *extra_outputs], list(inits))
    opsets = [helper.make_opsetid(d, v) for d, v in (imports or [("", opset), ("snn", 1)])]
    model = helper.make_model(graph, opset_imports=opsets, ir_version=10)
    if functions:
        model.functions.extend(snn_function(t) for t in sorted({n.op_type for n in nodes if n.domain == "snn"}))
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    return model


def dyadic(shape_: tuple[int, ...], seed: int = 0, offset: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return ((rng.integers(-24, 25, shape_) + offset) / 64).astype(np.float32)


def _flatten(v: np.ndarray, op: Any) -> np.ndarray:
    lead = 2 if op.operands[0].type.kind.time_major else 1
    return v.reshape(*v.shape[:lead], -1)


def _reshape(v: np.ndarray, op: Any) -> np.ndarray:
    lead = 2 if op.operands[0].type.kind.time_major else 1
    return v.reshape(*v.shape[:lead], *op.attrs["shape"])


_EVAL = {
    "snn.ttfs_encode": lambda v, a, op: spec.ttfs_encode(v, a["time_steps"], a["window"]),
    "snn.rate_encode": lambda v, a, op: spec.rate_encode(v, a["time_steps"], a["threshold"]),
    "snn.dense": lambda v, a, op: spec.dense(v, a["weight"], a.get("bias")),
    "snn.conv2d": lambda v, a, op: spec.conv2d(v, a["weight"], a.get("bias"), tuple(a["strides"]),
                                               tuple(a["pads"]), tuple(a["dilations"]), a["group"]),
    "snn.avgpool2d": lambda v, a, op: spec.avgpool2d(v, tuple(a["kernel"]), tuple(a["strides"]), tuple(a["pads"]),
                                                     a["count_include_pad"]),
    "snn.flatten": lambda v, a, op: _flatten(v, op),
    "snn.reshape": lambda v, a, op: _reshape(v, op),
    "snn.time_flatten": lambda v, a, op: spec.time_flatten(v),
    "snn.relpsp": lambda v, a, op: spec.relpsp(v, a["threshold"]),
    "snn.if": lambda v, a, op: spec.if_neuron(v, a["threshold"], a["reset"]),
    "snn.first_spike_decode": lambda v, a, op: spec.first_spike_decode(v),
    "snn.last_step_decode": lambda v, a, op: spec.last_step_decode(v),
    "snn.spike_count_decode": lambda v, a, op: spec.spike_count_decode(v),
}


def evaluate(graph: Graph, x: np.ndarray) -> np.ndarray:
    """The graph's output on ``x``, op by op with the SPEC transcription (a test-only interpreter)."""
    env = {graph.inputs[0].name: np.asarray(x, np.float32)}
    for op in graph.ops:
        env[op.result.name] = _EVAL[op.opname](env[op.operands[0].name], op.attrs, op)
    return env[graph.outputs[0].name]


def agrees_with_onnxruntime(model: onnx.ModelProto, graph: Graph, n: int = 6) -> None:
    x = random_inputs(tuple(d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]), n, seed=3)
    expected = run_onnxruntime(model, x)
    np.testing.assert_array_equal(evaluate(graph, x), expected)


def opnames(graph: Graph) -> list[str]:
    return [op.opname for op in graph.ops]


def op(graph: Graph, opname: str) -> Any:
    (found,) = [o for o in graph.ops if o.opname == opname]
    return found


def fails(model: Any, cls: type[FrontendError] = FrontendError) -> FrontendError:
    with pytest.raises(cls) as info:
        import_onnx(model)
    return info.value


# ------------------------------------------------------------------------------------------ patterns
def mlp(w: np.ndarray, b: np.ndarray, bias_first: bool = False, bias_shape: tuple[int, ...] | None = None,
        **kw: Any) -> onnx.ModelProto:
    """TTFS -> MatMul(W [4, 3]) -> Add(b) -> ReLPSP -> FirstSpikeDecode."""
    add_inputs = ["b", "h"] if bias_first else ["h", "b"]
    nodes = [snn("TTFSEncode", ["x"], ["s"], name="enc", time_steps=T),
             node("MatMul", ["s", "W"], ["h"], name="fc"),
             node("Add", add_inputs, ["i"], name="fc_bias"),
             snn("ReLPSP", ["i"], ["o"], name="neuron", threshold=0.5),
             snn("FirstSpikeDecode", ["o"], ["scores"], name="dec")]
    bias = b.reshape(bias_shape) if bias_shape else b
    return make(nodes, [init("W", w), init("b", bias)], **kw)


def test_matmul_add_becomes_one_dense_with_transposed_weight_and_metadata() -> None:
    w, b = dyadic((4, 3)), dyadic((3,), seed=1)
    model = mlp(w, b, functions=True, name="tiny-mlp",
                metadata={"snn.algorithm": "stdbp", "snn.dataset": "mnist", "author": "me"})
    graph = import_onnx(model)
    assert opnames(graph) == ["snn.ttfs_encode", "snn.dense", "snn.relpsp", "snn.first_spike_decode"]
    assert graph.name == "tiny_mlp" and graph.time_steps == T
    assert graph.metadata == {"snn.algorithm": "stdbp", "snn.dataset": "mnist", "author": "me"}
    dense = op(graph, "snn.dense")
    np.testing.assert_array_equal(dense.attrs["weight"], w.T)
    np.testing.assert_array_equal(dense.attrs["bias"], b)
    assert dense.attrs["weight"].dtype == np.float32
    assert [str(v.type) for v in graph.values()] == [
        "tensor<Bx4xf32>", "spikes<TxBx4>", "current<TxBx3xf32>", "spikes<TxBx3>", "tensor<Bx3xf32>"]
    assert [v.name for v in graph.values()] == ["x", "s", "i", "o", "scores"]
    assert op(graph, "snn.ttfs_encode").attrs == {"time_steps": T, "window": T}
    assert op(graph, "snn.relpsp").attrs == {"threshold": 0.5}
    agrees_with_onnxruntime(model, graph)


@pytest.mark.parametrize("bias_first, bias_shape", [(True, None), (False, (1, 3)), (False, (1, 1, 3))])
def test_bias_may_come_first_or_broadcast_from_leading_ones(bias_first: bool, bias_shape: tuple[int, ...]) -> None:
    w, b = dyadic((4, 3)), dyadic((3,), seed=1)
    graph = import_onnx(mlp(w, b, bias_first=bias_first, bias_shape=bias_shape))
    np.testing.assert_array_equal(op(graph, "snn.dense").attrs["bias"], b)


@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_on_the_merged_view_honours_trans_b(trans_b: int) -> None:
    w = dyadic((3, 4))  # IR weight [n_out, n_in]
    c = dyadic((3,), seed=2)
    nodes = [snn("RateEncode", ["x"], ["s"], time_steps=T, threshold=0.5),
             node("Reshape", ["s", "to_merged"], ["s2"]),
             node("Gemm", ["s2", "B", "C"], ["h2"], transB=trans_b),
             node("Reshape", ["h2", "to_time"], ["h"]),
             snn("IF", ["h", "theta"], ["o"], reset="subtract"),
             snn("SpikeCountDecode", ["o"], ["scores"])]
    inits = [init("B", w if trans_b else w.T), init("C", c), init("theta", 0.5), shape("to_merged", [-1, 4]),
             shape("to_time", [T, -1, 3])]
    model = make(nodes, inits, functions=True)
    graph = import_onnx(model)
    assert opnames(graph) == ["snn.rate_encode", "snn.dense", "snn.if", "snn.spike_count_decode"]
    dense = op(graph, "snn.dense")
    np.testing.assert_array_equal(dense.attrs["weight"], w)
    np.testing.assert_array_equal(dense.attrs["bias"], c)
    assert dense.result.type == ValueType.current(3)
    assert op(graph, "snn.rate_encode").attrs == {"time_steps": T, "threshold": 0.5}
    agrees_with_onnxruntime(model, graph)


def _image_flatten_nodes(style: str) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """x [B, 1, 4, 4] -> [B, 16] written the ways exporters write it."""
    if style == "flatten":
        return [node("Flatten", ["x"], ["xf"], axis=1)], []
    if style == "reshape":
        return [node("Reshape", ["x", "to"], ["xf"])], [shape("to", [-1, 16])]
    if style == "reshape_zero":
        return [node("Reshape", ["x", "to"], ["xf"])], [shape("to", [0, -1])]
    # torch.onnx (TorchScript) for x.view(x.size(0), -1): Shape -> Gather -> Unsqueeze -> Concat -> Reshape
    return [node("Shape", ["x"], ["shp"]),
            node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0, np.int64))),
            node("Gather", ["shp", "zero"], ["batch"], axis=0),
            node("Constant", [], ["axes"], value=numpy_helper.from_array(np.array([0], np.int64))),
            node("Unsqueeze", ["batch", "axes"], ["batch1"]),
            node("Constant", [], ["minus1"], value=numpy_helper.from_array(np.array([-1], np.int64))),
            node("Concat", ["batch1", "minus1"], ["to"], axis=0),
            node("Reshape", ["x", "to"], ["xf"])], []


@pytest.mark.parametrize("style", ["flatten", "reshape", "reshape_zero", "torch_view"])
def test_flatten_and_reshape_of_the_input_become_one_snn_flatten(style: str) -> None:
    pre, pre_inits = _image_flatten_nodes(style)
    w = dyadic((16, 3), offset=10)
    nodes = [*pre,
             snn("TTFSEncode", ["xf"], ["s"], time_steps=T, window=4),
             node("MatMul", ["s", "W"], ["h"]),
             snn("IF", ["h", "theta"], ["o"], reset="zero"),
             snn("SpikeCountDecode", ["o"], ["scores"])]
    model = make(nodes, [*pre_inits, init("W", w), init("theta", [0.5])], features=(1, 4, 4), functions=True)
    graph = import_onnx(model)
    assert opnames(graph) == ["snn.flatten", "snn.ttfs_encode", "snn.dense", "snn.if", "snn.spike_count_decode"]
    assert op(graph, "snn.flatten").result.type == ValueType.tensor(16)
    assert op(graph, "snn.ttfs_encode").attrs["window"] == 4
    agrees_with_onnxruntime(model, graph)


def conv_model(tail: str = "reshape", *, reset: str = "zero", theta: np.ndarray | None = None,
               functions: bool = True) -> onnx.ModelProto:
    """Rate -> Reshape[-1,1,6,6] -> Conv(2x1x3x3, pad 1) -> AveragePool 2 -> Reshape[T,-1,2,3,3] -> IF
    -> (tail: time-major flatten) -> MatMul -> IF -> SpikeCountDecode."""
    theta = np.array([[[0.75]], [[0.5]]], np.float32) if theta is None else theta
    nodes = [snn("RateEncode", ["x"], ["s"], time_steps=T),
             node("Reshape", ["s", "to_merged"], ["s_m"]),
             node("Conv", ["s_m", "K", "Kb"], ["c_m"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
             node("AveragePool", ["c_m"], ["p_m"], kernel_shape=[2, 2], strides=[2, 2]),
             node("Reshape", ["p_m", "to_time"], ["p"]),
             snn("IF", ["p", "theta1"], ["o1"], reset=reset)]
    inits = [shape("to_merged", [-1, 1, 6, 6]), shape("to_time", [T, -1, 2, 3, 3]),
             init("K", dyadic((2, 1, 3, 3), offset=8)), init("Kb", dyadic((2,), seed=4)), init("theta1", theta),
             init("W", dyadic((18, 3), seed=5, offset=6)), init("theta2", 0.5)]
    if tail == "reshape":  # [T, B, 2, 3, 3] -> [T, B, 18] -> MatMul
        nodes += [node("Reshape", ["o1", "to_flat"], ["f"]), node("MatMul", ["f", "W"], ["h"])]
        inits.append(shape("to_flat", [T, -1, 18]))
    else:  # Flatten(axis=2): [T, B, 2, 3, 3] -> [T*B, 18] -> Gemm -> Reshape [T, -1, 3]
        nodes += [node("Flatten", ["o1"], ["f_m"], axis=2), node("Gemm", ["f_m", "W"], ["h_m"]),
                  node("Reshape", ["h_m", "to_time3"], ["h"])]
        inits.append(shape("to_time3", [T, -1, 3]))
    nodes += [snn("IF", ["h", "theta2"], ["o2"]), snn("SpikeCountDecode", ["o2"], ["scores"])]
    return make(nodes, inits, features=(1, 6, 6), functions=functions)


@pytest.mark.parametrize("tail", ["reshape", "flatten_axis2_gemm"])
def test_conv_and_pool_on_the_merged_view_with_per_channel_thresholds(tail: str) -> None:
    model = conv_model(tail)
    graph = import_onnx(model)
    assert opnames(graph) == ["snn.rate_encode", "snn.conv2d", "snn.avgpool2d", "snn.if", "snn.flatten",
                              "snn.dense", "snn.if", "snn.spike_count_decode"]
    conv = op(graph, "snn.conv2d")
    assert {k: v for k, v in conv.attrs.items() if not isinstance(v, np.ndarray)} == {
        "strides": [1, 1], "pads": [1, 1, 1, 1], "dilations": [1, 1], "group": 1}
    np.testing.assert_array_equal(conv.attrs["weight"], dyadic((2, 1, 3, 3), offset=8))
    assert conv.result.type == ValueType.current(2, 6, 6)
    pool = op(graph, "snn.avgpool2d")
    assert pool.attrs == {"kernel": [2, 2], "strides": [2, 2], "pads": [0, 0, 0, 0], "count_include_pad": 0}
    first_if = [o for o in graph.ops if o.opname == "snn.if"][0]
    assert first_if.attrs["threshold"].shape == (2, 1, 1) and first_if.attrs["reset"] == "zero"
    assert op(graph, "snn.flatten").result.type == ValueType.spikes(18)
    agrees_with_onnxruntime(model, graph)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("theta_shape, ir_shape", [((), (1,)), ((1,), (1,)), ((3,), (3,)), ((1, 1, 3), (3,))])
def test_if_resets_and_threshold_shapes(reset: str, theta_shape: tuple[int, ...], ir_shape: tuple[int, ...]) -> None:
    theta = np.full(theta_shape, 0.75, np.float32)
    nodes = [snn("RateEncode", ["x"], ["s"], time_steps=T), node("MatMul", ["s", "W"], ["h"]),
             snn("IF", ["h", "theta"], ["o"], **({} if reset == "subtract" else {"reset": reset})),
             snn("LastStepDecode", ["o"], ["scores"])]
    graph = import_onnx(make(nodes, [init("W", dyadic((4, 3))), init("theta", theta)]))
    neuron = op(graph, "snn.if")
    assert neuron.attrs["reset"] == reset
    assert neuron.attrs["threshold"].shape == ir_shape and neuron.attrs["threshold"].dtype == np.float32
    assert np.all(neuron.attrs["threshold"] == np.float32(0.75))


@pytest.mark.parametrize("decoder, opname", [("FirstSpikeDecode", "snn.first_spike_decode"),
                                             ("LastStepDecode", "snn.last_step_decode"),
                                             ("SpikeCountDecode", "snn.spike_count_decode")])
def test_every_decoder(decoder: str, opname: str) -> None:
    nodes = [snn("TTFSEncode", ["x"], ["s"], time_steps=T), node("MatMul", ["s", "W"], ["h"]),
             snn("ReLPSP", ["h"], ["o"], threshold=0.25), snn(decoder, ["o"], ["scores"])]
    model = make(nodes, [init("W", dyadic((4, 3), offset=10))], functions=True)
    graph = import_onnx(model)
    assert opnames(graph)[-1] == opname
    assert graph.outputs[0].type == ValueType.tensor(3)
    agrees_with_onnxruntime(model, graph)


@pytest.mark.parametrize("style", ["reshape_minus1", "reshape_zero", "flatten", "matmul_add"])
def test_spatio_temporal_decoder_becomes_time_flatten_and_dense_on_a_tensor(style: str) -> None:
    w = dyadic((3, T * 4), seed=7)  # IR weight [N, T*4]
    c = dyadic((3,), seed=8)
    nodes = [snn("RateEncode", ["x"], ["s"], time_steps=T), node("MatMul", ["s", "W1"], ["h"]),
             snn("IF", ["h", "theta"], ["o"]), node("Transpose", ["o"], ["o_bt"], perm=[1, 0, 2])]
    inits = [init("W1", dyadic((4, 4), offset=8)), init("theta", [0.5, 0.75, 0.5, 0.25])]
    if style == "flatten":
        nodes.append(node("Flatten", ["o_bt"], ["z"], axis=1))
    else:
        nodes.append(node("Reshape", ["o_bt", "to"], ["z"]))
        inits.append(shape("to", [0, -1] if style == "reshape_zero" else [-1, T * 4]))
    if style == "matmul_add":
        nodes += [node("MatMul", ["z", "Wd"], ["y"]), node("Add", ["y", "bd"], ["scores"])]
        inits += [init("Wd", w.T), init("bd", c)]
    else:
        nodes.append(node("Gemm", ["z", "Wd", "bd"], ["scores"], transB=1))
        inits += [init("Wd", w), init("bd", c)]
    model = make(nodes, inits, functions=True)
    graph = import_onnx(model)
    assert opnames(graph) == ["snn.rate_encode", "snn.dense", "snn.if", "snn.time_flatten", "snn.dense"]
    assert op(graph, "snn.time_flatten").result.type == ValueType.tensor(T * 4)
    decoder = graph.ops[-1]
    assert decoder.result.type == ValueType.tensor(3)
    np.testing.assert_array_equal(decoder.attrs["weight"], w)
    np.testing.assert_array_equal(decoder.attrs["bias"], c)
    agrees_with_onnxruntime(model, graph)


def test_identity_constant_nodes_folded_weights_and_unsorted_nodes() -> None:
    w = dyadic((3, 4))  # stored [out, in]; the graph transposes it with a constant-folded Transpose
    nodes = [snn("SpikeCountDecode", ["o"], ["scores"]),  # deliberately out of order
             node("Identity", ["h"], ["h2"]),
             snn("IF", ["h2", "theta"], ["o"]),
             node("MatMul", ["s", "Wt"], ["h"]),
             node("Transpose", ["Wstored"], ["Wt"], perm=[1, 0]),
             node("Constant", [], ["Wstored"], value=numpy_helper.from_array(w)),
             node("Constant", [], ["theta"], value_float=0.5),
             snn("RateEncode", ["x"], ["s"], time_steps=T),
             node("Relu", ["x"], ["dead"])]  # a dead branch with an unsupported op is not imported
    graph = import_onnx(make(nodes))
    assert opnames(graph) == ["snn.rate_encode", "snn.dense", "snn.if", "snn.spike_count_decode"]
    np.testing.assert_array_equal(op(graph, "snn.dense").attrs["weight"], w)
    assert op(graph, "snn.if").attrs["threshold"].shape == (1,)  # a scalar becomes [1]


def test_gemm_followed_by_add_sums_the_biases() -> None:
    nodes = [snn("RateEncode", ["x"], ["s"], time_steps=T), node("Reshape", ["s", "m"], ["sm"]),
             node("Gemm", ["sm", "W", "c"], ["hm"]), node("Add", ["hm", "b"], ["hb"]),
             node("Reshape", ["hb", "t"], ["h"]), snn("IF", ["h", "theta"], ["o"]),
             snn("SpikeCountDecode", ["o"], ["scores"])]
    inits = [shape("m", [-1, 4]), shape("t", [T, -1, 3]), init("W", dyadic((4, 3))), init("c", [0.25, 0, 0]),
             init("b", [0.5, 0.5, 0]), init("theta", 1.0)]
    graph = import_onnx(make(nodes, inits))
    np.testing.assert_array_equal(op(graph, "snn.dense").attrs["bias"], np.array([0.75, 0.5, 0], np.float32))


def test_import_from_str_and_path(tmp_path: Path) -> None:
    path = tmp_path / "mlp.onnx"
    onnx.save(mlp(dyadic((4, 3)), dyadic((3,))), path)
    by_path, by_str = import_onnx(path), import_onnx(os.fspath(path))
    assert by_path.structurally_equal(by_str)
    assert opnames(by_path) == ["snn.ttfs_encode", "snn.dense", "snn.relpsp", "snn.first_spike_decode"]


def test_supported_ops_lists_both_domains() -> None:
    ops = supported_ops()
    assert {"MatMul", "Gemm", "Add", "Conv", "AveragePool", "Reshape", "Flatten", "Transpose", "Identity",
            "Constant"} <= set(ops["ai.onnx"])
    assert ops["snn"] == ["CubaLIF", "FirstSpikeDecode", "IF", "LI", "LIF", "LastStepDecode", "MaxOverTimeDecode",
                          "RateEncode", "ReLPSP", "SpikeCountDecode", "TTFSEncode"]


# -------------------------------------------------------------------------------- builder model cases
@pytest.mark.parametrize("name", sorted(MODEL_CASES))
def test_every_builder_model_case_imports_and_computes_the_spec_reference(name: str) -> None:
    case = CASES[name](0)
    graph = import_onnx(MODEL_CASES[name](0))
    graph.verify()
    assert graph.time_steps == case.time_steps
    assert graph.metadata == {"snn.algorithm": graph.metadata["snn.algorithm"], "snn.test_case": name}
    assert graph.inputs[0].type == ValueType.tensor(*case.input_features)
    assert graph.outputs[0].name == "scores" and graph.outputs[0].type.kind is Kind.TENSOR
    x = case.inputs(n=5, seed=2)
    np.testing.assert_array_equal(evaluate(graph, x), case.reference(x)["scores"])
    assert parse_graph(print_graph(graph)).structurally_equal(graph)


# ---------------------------------------------------------------------------------------------- errors
def test_truncated_and_non_onnx_files_name_the_path(tmp_path: Path) -> None:
    good = mlp(dyadic((4, 3)), dyadic((3,))).SerializeToString()
    truncated = tmp_path / "cut.onnx"
    truncated.write_bytes(good[: len(good) // 2])
    err = fails(truncated)
    assert err.message.startswith("not a valid ONNX file: ")
    assert err.where == str(truncated)
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n")
    assert fails(text).message.startswith("not a valid ONNX file")
    missing = tmp_path / "missing.onnx"
    assert fails(missing).message == "not a valid ONNX file: no such file"
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    assert fails(empty).message.startswith("not a valid ONNX file")


def test_unsupported_standard_op_lists_the_supported_ops() -> None:
    nodes = [snn("RateEncode", ["x"], ["s"], time_steps=T),
             node("MaxPool", ["s"], ["p"], name="pool1", kernel_shape=[2]),
             node("MatMul", ["p", "W"], ["h"]), snn("IF", ["h", "theta"], ["o"]),
             snn("LastStepDecode", ["o"], ["scores"])]
    err = fails(make(nodes, [init("W", dyadic((4, 3))), init("theta", 1.0)]), UnsupportedOpError)
    assert err.message == "op 'MaxPool' of domain ai.onnx is not supported"
    assert err.where == "ONNX node 'pool1' (op_type MaxPool, domain ai.onnx)"
    assert err.hint.startswith("supported standard ops: Add, AveragePool, ")
    assert ("snn ops: CubaLIF, FirstSpikeDecode, IF, LI, LIF, LastStepDecode, MaxOverTimeDecode, RateEncode, ReLPSP, "
            "SpikeCountDecode, TTFSEncode") in err.hint


def test_unknown_snn_op_suggests_the_closest() -> None:
    nodes = [snn("RateEncode", ["x"], ["s"], time_steps=T), node("MatMul", ["s", "W"], ["h"]),
             snn("IFF", ["h", "theta"], ["o"], name="lif1"), snn("LastStepDecode", ["o"], ["scores"])]
    err = fails(make(nodes, [init("W", dyadic((4, 3))), init("theta", 1.0)]), UnsupportedOpError)
    assert err.message == "unknown snn op 'snn.IFF'"
    assert err.where == "ONNX node 'lif1' (op_type IFF, domain snn)"
    assert err.hint.startswith("did you mean snn.IF? the snn domain defines: snn.CubaLIF, snn.FirstSpikeDecode, ")


def test_op_of_another_domain_is_unsupported() -> None:
    nodes = [snn("RateEncode", ["x"], ["s"], time_steps=T), node("Fancy", ["s"], ["o"], domain="acme"),
             snn("LastStepDecode", ["o"], ["scores"])]
    err = fails(make(nodes, imports=[("", 20), ("snn", 1), ("acme", 1)], n_out=4), UnsupportedOpError)
    assert err.message == "op 'Fancy' of domain acme is not supported"


def relpsp_model(**threshold: Any) -> onnx.ModelProto:
    nodes = [snn("TTFSEncode", ["x"], ["s"], time_steps=T), node("MatMul", ["s", "W"], ["h"]),
             snn("ReLPSP", ["h"], ["o"], name="neuron", **threshold), snn("FirstSpikeDecode", ["o"], ["scores"])]
    return make(nodes, [init("W", dyadic((4, 3)))])


SEE_SPEC = "see the snnc specification for ReLPSP's attributes"


@pytest.mark.parametrize("value, message, hint", [
    ("abc", "attribute 'threshold' must be a float, got str 'abc'", SEE_SPEC),
    ([1, 2], "attribute 'threshold' must be a float, got ints [1, 2]", SEE_SPEC),
    (1, "attribute 'threshold' must be a float, got int 1", "write threshold=1.0, not 1"),
])
def test_wrong_attribute_type(value: Any, message: str, hint: str) -> None:
    err = fails(relpsp_model(threshold=value))
    assert (err.message, err.hint) == (message, hint)
    assert err.where == "ONNX node 'neuron' (op_type ReLPSP, domain snn)"


def test_bad_snn_attributes() -> None:
    assert fails(relpsp_model()).message == "required attribute 'threshold' is missing"
    assert fails(relpsp_model(threshold=-1.0)).message == "threshold must be a finite float > 0, got -1.0"
    err = fails(relpsp_model(threshold=1.0, treshold=1.0))
    assert (err.message, err.hint) == ("unknown attribute 'treshold'", "snn.ReLPSP takes: threshold")
    nodes = [snn("RateEncode", ["x"], ["s"], time_steps=T), node("MatMul", ["s", "W"], ["h"]),
             snn("IF", ["h", "theta"], ["o"], reset="hard"), snn("LastStepDecode", ["o"], ["scores"])]
    err = fails(make(nodes, [init("W", dyadic((4, 3))), init("theta", 1.0)]))
    assert (err.message, err.hint) == ("reset 'hard' is not supported", "use one of subtract, zero")
    nodes[2] = snn("IF", ["h"], ["o"], threshold=1.0)
    assert fails(make(nodes, [init("W", dyadic((4, 3)))])).message.startswith(
        "snn.IF takes its threshold as the second input")
    nodes[0] = snn("TTFSEncode", ["x"], ["s"], time_steps=T, window=T + 1)
    nodes[2] = snn("IF", ["h", "theta"], ["o"])
    assert fails(make(nodes, [init("W", dyadic((4, 3))), init("theta", 1.0)])).message == \
        f"window = {T + 1} must lie in 1 .. time_steps ({T})"


def test_matmul_weight_rows_must_match_the_features() -> None:
    nodes = [snn("TTFSEncode", ["x"], ["s"], time_steps=T), node("MatMul", ["s", "W"], ["h"], name="fc1"),
             snn("ReLPSP", ["h"], ["o"], threshold=1.0), snn("FirstSpikeDecode", ["o"], ["scores"])]
    err = fails(make(nodes, [init("W", dyadic((5, 3)))]))
    assert err.message == "shape mismatch: weight B of shape [5, 3] expects 5 input features, but input 's' has " \
                          "features [4]"
    assert err.where == "ONNX node 'fc1' (op_type MatMul, domain ai.onnx)"
    assert err.hint == "x @ W needs W of shape [in_features, out_features]"


def test_threshold_and_bias_shape_mismatch() -> None:
    nodes = [snn("RateEncode", ["x"], ["s"], time_steps=T), node("MatMul", ["s", "W"], ["h"]),
             snn("IF", ["h", "theta"], ["o"]), snn("LastStepDecode", ["o"], ["scores"])]
    err = fails(make(nodes, [init("W", dyadic((4, 3))), init("theta", [1.0, 1.0])]))
    assert err.message == "shape mismatch: threshold 'theta' of shape [2] does not broadcast to the features [3] of 'h'"
    err = fails(mlp(dyadic((4, 3)), np.ones(4, np.float32)))
    assert err.message == "shape mismatch: bias of shape [4] does not add along the last axis of the 3 output features"


def test_non_constant_weight() -> None:
    nodes = [snn("TTFSEncode", ["x"], ["s"], time_steps=T), node("MatMul", ["s", "s"], ["h"], name="fc"),
             snn("ReLPSP", ["h"], ["o"], threshold=1.0), snn("FirstSpikeDecode", ["o"], ["scores"])]
    err = fails(make(nodes, n_out=4))
    assert err.message == "MatMul weight B 's' is not a constant: it is computed from the model input"
    assert err.hint == "weights, biases and thresholds must be initializers or Constant nodes"
    assert err.where == "ONNX node 'fc' (op_type MatMul, domain ai.onnx)"


def test_nan_and_non_float32_weights_name_the_node() -> None:
    w = dyadic((4, 3))
    w[1, 2] = np.nan
    err = fails(mlp(w, dyadic((3,))))
    assert err.message == "MatMul weight B 'W' contains 1 NaN or infinite value(s)"
    assert err.where == "ONNX node 'fc' (op_type MatMul, domain ai.onnx)"
    b = np.array([0, np.inf, 0], np.float32)
    assert fails(mlp(dyadic((4, 3)), b)).message == "bias 'b' contains 1 NaN or infinite value(s)"
    model = mlp(dyadic((4, 3)), dyadic((3,)))
    model.graph.initializer[0].CopyFrom(init("W", dyadic((4, 3)), np.float64))
    assert fails(model).message == "MatMul weight B 'W' is float64, expected float32"


def test_dangling_input() -> None:
    nodes = [snn("TTFSEncode", ["x"], ["s"], time_steps=T), node("MatMul", ["s", "fc.wieght"], ["h"], name="fc"),
             snn("ReLPSP", ["h"], ["o"], threshold=1.0), snn("FirstSpikeDecode", ["o"], ["scores"])]
    err = fails(make(nodes, [init("fc.weight", dyadic((4, 3)))]))
    assert err.message == "input 'fc.wieght' is not defined by any node, initializer or graph input"
    assert err.where == "ONNX node 'fc' (op_type MatMul, domain ai.onnx)"
    assert err.hint == "did you mean 'fc.weight'?"


def test_graph_cycle() -> None:
    nodes = [snn("TTFSEncode", ["x"], ["s"], time_steps=T), node("MatMul", ["o", "W"], ["h"], name="fc"),
             snn("ReLPSP", ["h"], ["o"], name="neuron", threshold=1.0), snn("FirstSpikeDecode", ["o"], ["scores"])]
    err = fails(make(nodes, [init("W", dyadic((3, 3)))]))
    assert err.message == "the graph has a cycle: fc -> neuron -> fc"
    assert err.where == "ONNX node 'fc' (op_type MatMul, domain ai.onnx)"


def test_value_defined_twice() -> None:
    nodes = [snn("TTFSEncode", ["x"], ["s"], time_steps=T), node("MatMul", ["s", "W"], ["s"], name="fc")]
    assert fails(make(nodes, [init("W", dyadic((4, 3)))])).message == "value 's' is defined twice"


def test_missing_and_inconsistent_time_steps() -> None:
    nodes = [snn("TTFSEncode", ["x"], ["s"], name="enc"), node("MatMul", ["s", "W"], ["h"]),
             snn("ReLPSP", ["h"], ["o"], threshold=1.0), snn("FirstSpikeDecode", ["o"], ["scores"])]
    err = fails(make(nodes, [init("W", dyadic((4, 3)))]))
    assert err.message == "snn.TTFSEncode has no 'time_steps' attribute: the simulation length T is required"
    assert err.where == "ONNX node 'enc' (op_type TTFSEncode, domain snn)"
    assert err.hint == "add time_steps=T (an int >= 1), see the snnc specification"
    nodes[0] = snn("TTFSEncode", ["x"], ["s"], name="enc", time_steps=0)
    assert fails(make(nodes, [init("W", dyadic((4, 3)))])).message == "time_steps must be >= 1, got 0"
    no_encoder = [node("Gemm", ["x", "W"], ["scores"])]
    err = fails(make(no_encoder, [init("W", dyadic((4, 3)))]))
    assert err.message.startswith("the model has no snn encoder")


def test_graph_inputs_and_outputs_per_spec() -> None:
    y = helper.make_tensor_value_info("y", F, ["B", 4])
    err = fails(mlp(dyadic((4, 3)), dyadic((3,)), extra_inputs=[y]))
    assert err.message == "the model has 2 graph inputs ('x', 'y'), expected 1"
    assert err.hint == "the snnc specification wants exactly one input x: float32 [B, *features]"
    extra = helper.make_tensor_value_info("o", F, [T, "B", 3])
    err = fails(mlp(dyadic((4, 3)), dyadic((3,)), extra_outputs=[extra]))
    assert err.message == "the model has 2 graph outputs ('scores', 'o'), expected 1"
    model = mlp(dyadic((4, 3)), dyadic((3,)))
    model.graph.input[0].CopyFrom(helper.make_tensor_value_info("x", TensorProto.INT64, ["B", 4]))
    assert fails(model).message == "the input must be float32, got INT64"
    model.graph.input[0].CopyFrom(helper.make_tensor_value_info("x", F, ["B", "N"]))
    assert fails(model).message == "the input's feature dimensions must be concrete, got ['N']"
    # initializers listed as graph inputs (old exporters) are not inputs
    model = mlp(dyadic((4, 3)), dyadic((3,)))
    model.graph.input.append(helper.make_tensor_value_info("W", F, [4, 3]))
    assert opnames(import_onnx(model))[1] == "snn.dense"


def test_output_must_be_decoded_scores() -> None:
    nodes = [snn("TTFSEncode", ["x"], ["s"], time_steps=T), node("MatMul", ["s", "W"], ["h"]),
             snn("ReLPSP", ["h"], ["scores"], threshold=1.0)]
    err = fails(make(nodes, [init("W", dyadic((4, 3)))], n_out=None))
    assert err.message == "the output must be scores [B, N], got a [T, B, *f] value with features [3]"
    assert err.hint.startswith("end the network with a decoder")
    err = fails(mlp(dyadic((4, 3)), dyadic((3,)), n_out=5))
    assert err.message == "the declared output shape ['B', 5] does not match the computed scores [B, 3]"


def test_layout_errors() -> None:
    # a neuron on the merged [T*B, n] view
    nodes = [snn("RateEncode", ["x"], ["s"], time_steps=T), node("Reshape", ["s", "m"], ["sm"]),
             node("Gemm", ["sm", "W"], ["hm"]), snn("IF", ["hm", "theta"], ["o"], name="lif"),
             snn("LastStepDecode", ["o"], ["scores"])]
    inits = [shape("m", [-1, 4]), init("W", dyadic((4, 3))), init("theta", 1.0)]
    err = fails(make(nodes, inits))
    assert err.message == "'hm' is the merged view [T*B, ...]; snn.IF needs [T, B, ...]"
    assert err.hint == "reshape it back with Reshape(y, [T, -1, ...]) before this op"
    # a reshape that mixes time and batch
    inits[0] = shape("m", [-1, T * 4])
    err = fails(make(nodes, inits))
    assert err.message.startswith("a time-major value must stay [T, B, ...] or [T*B, ...]")
    # Gemm on a 3-D time-major input
    nodes[1] = node("Identity", ["s"], ["sm"])
    err = fails(make(nodes, inits))
    assert err.message == "Gemm needs a 2-D input, 'sm' is [T, B, *f] with features [4]"
    # Conv on the time-major view instead of the merged one
    conv = [snn("RateEncode", ["x"], ["s"], time_steps=T), node("Conv", ["s", "K"], ["c"], name="conv1"),
            snn("IF", ["c", "theta"], ["o"]), snn("SpikeCountDecode", ["o"], ["scores"])]
    err = fails(make(conv, [init("K", dyadic((2, 1, 3, 3))), init("theta", 1.0)], features=(1, 6, 6), n_out=None))
    assert err.message.startswith("Conv needs the merged view [T*B, C, H, W] of a spike train or current")
    # a Transpose that permutes features
    tr = [snn("RateEncode", ["x"], ["s"], time_steps=T), node("Transpose", ["s"], ["st"], perm=[0, 1, 3, 2]),
          snn("SpikeCountDecode", ["st"], ["scores"])]
    err = fails(make(tr, features=(2, 3), n_out=None))
    assert err.message.startswith("perm [0, 1, 3, 2] on a [T, B, *f] value: only swapping the leading [T, B]")
    # a reshape that fixes the batch size
    rs = [node("Reshape", ["x", "to"], ["xf"]), snn("RateEncode", ["xf"], ["s"], time_steps=T),
          snn("SpikeCountDecode", ["s"], ["scores"])]
    err = fails(make(rs, [shape("to", [2, 2])], n_out=None))
    assert err.where == "ONNX node 'xf' (op_type Reshape, domain ai.onnx)"
    assert err.message.startswith("the target fixes the batch size")
    # a decoder on a current, a neuron on spikes
    dec = [snn("RateEncode", ["x"], ["s"], time_steps=T), node("MatMul", ["s", "W"], ["h"]),
           snn("SpikeCountDecode", ["h"], ["scores"])]
    assert fails(make(dec, [init("W", dyadic((4, 3)))])).message == \
        "snn.SpikeCountDecode decodes a spike train or a potential trace (the output of snn.LI), " \
        "'h' is a synaptic current"
    neuron = [snn("RateEncode", ["x"], ["s"], time_steps=T), snn("IF", ["s", "theta"], ["o"]),
              snn("SpikeCountDecode", ["o"], ["scores"])]
    assert fails(make(neuron, [init("theta", 1.0)], n_out=4)).message == \
        "snn.IF needs a synaptic current, 's' is a spike train"


def test_other_unsupported_patterns() -> None:
    nodes = [snn("RateEncode", ["x"], ["s"], time_steps=T), node("Reshape", ["s", "m"], ["sm"]),
             node("Gemm", ["sm", "W"], ["hm"], alpha=0.5), node("Reshape", ["hm", "t"], ["h"]),
             snn("IF", ["h", "theta"], ["o"]), snn("LastStepDecode", ["o"], ["scores"])]
    inits = [shape("m", [-1, 4]), shape("t", [T, -1, 3]), init("W", dyadic((4, 3))), init("theta", 1.0)]
    err = fails(make(nodes, inits))
    assert (err.message, err.hint) == ("Gemm with alpha=0.5, beta=1.0 is not supported (only 1.0)",
                                       "fold alpha into B and beta into C before export")
    add = [snn("RateEncode", ["x"], ["s"], time_steps=T), node("MatMul", ["s", "W"], ["h"]),
           node("Add", ["h", "h"], ["h2"], name="residual"), snn("IF", ["h2", "theta"], ["o"]),
           snn("LastStepDecode", ["o"], ["scores"])]
    merged = import_onnx(make(add, [init("W", dyadic((4, 3))), init("theta", 1.0)]))  # two currents: a merge
    assert opnames(merged) == ["snn.rate_encode", "snn.dense", "snn.add", "snn.if", "snn.last_step_decode"]
    add[2] = node("Add", ["h", "s"], ["h2"], name="residual")  # a current and a spike train
    err = fails(make(add, [init("W", dyadic((4, 3))), init("theta", 1.0)]))
    assert err.message == "Add merges synaptic currents, input 1 's' is a spike train"
    assert err.where == "ONNX node 'residual' (op_type Add, domain ai.onnx)"
    add[2] = node("Add", ["s", "b"], ["h2"], name="residual")  # a constant added to spikes: no bias
    err = fails(make(add, [init("W", dyadic((4, 3))), init("theta", 1.0), init("b", [1.0, 1.0, 1.0, 1.0])]))
    assert err.message.startswith("Add is supported only as the bias of a MatMul or Gemm")
    # a bias Add whose MatMul result is also read elsewhere cannot fold
    twice = [snn("RateEncode", ["x"], ["s"], time_steps=T), node("MatMul", ["s", "W"], ["h"]),
             node("Add", ["h", "b"], ["hb"]), node("Identity", ["h"], ["h_again"]),
             node("Transpose", ["h_again"], ["h_t"], perm=[0, 1, 2]), snn("IF", ["hb", "theta"], ["o1"]),
             snn("IF", ["h_t", "theta"], ["o2"]), snn("LastStepDecode", ["o1"], ["scores"])]
    # only o1 reaches the output, so the second reader is dead and the fold is fine
    graph = import_onnx(make(twice, [init("W", dyadic((4, 3))), init("b", [1, 2, 3]), init("theta", 1.0)]))
    assert "bias" in op(graph, "snn.dense").attrs


def test_model_level_checks() -> None:
    model = mlp(dyadic((4, 3)), dyadic((3,)), imports=[("", 9), ("snn", 1)])
    err = fails(model)
    assert err.message == f"ONNX opset 9 is not supported (supported: 11..{onnx.defs.onnx_opset_version()})"
    model = mlp(dyadic((4, 3)), dyadic((3,)), imports=[("", 20)])
    assert fails(model).message == "the model uses ops of domain 'snn' but does not import that domain"
    model = mlp(dyadic((4, 3)), dyadic((3,)), imports=[("", 20), ("snn", 2)])
    assert fails(model).message == "domain 'snn' version 2 is not supported (supported: 1)"
    model = mlp(dyadic((4, 3)), dyadic((3,)))
    model.graph.node[1].attribute.append(helper.make_attribute("bogus", 1))
    err = fails(model)
    assert err.message.startswith("the model is not valid ONNX: Unrecognized attribute: bogus for operator MatMul")


def test_unnamed_nodes_are_named_by_index_and_outputs() -> None:
    nodes = [snn("TTFSEncode", ["x"], ["s"], time_steps=T), helper.make_node("MatMul", ["s", "W"], ["h"]),
             snn("ReLPSP", ["h"], ["o"], threshold=1.0), snn("FirstSpikeDecode", ["o"], ["scores"])]
    err = fails(make(nodes, [init("W", dyadic((5, 3)))]))
    assert err.where == "ONNX node #1 (outputs h) (op_type MatMul, domain ai.onnx)"


# ------------------------------------------------------------------------------ conv / pool attributes
@pytest.mark.parametrize("conv_attrs, pool_attrs, conv_out, pool_out", [
    ({"auto_pad": "SAME_UPPER", "strides": [2, 2]},  # odd total pads on the pool: the extra one at the end
     {"kernel_shape": [2, 2], "auto_pad": "SAME_UPPER", "count_include_pad": 1}, (4, 4, 4), (4, 4, 4)),
    ({"auto_pad": "SAME_LOWER", "strides": [2, 2]},  # ... at the beginning
     {"kernel_shape": [2, 2], "auto_pad": "SAME_LOWER", "count_include_pad": 1}, (4, 4, 4), (4, 4, 4)),
    ({"auto_pad": "VALID", "dilations": [2, 2]},
     {"kernel_shape": [1, 1], "strides": [2, 2], "ceil_mode": 1}, (4, 3, 3), (4, 2, 2)),
    ({"pads": [0, 1, 2, 1], "group": 2},
     {"kernel_shape": [1, 2], "strides": [1, 2], "pads": [0, 1, 0, 0]}, (4, 7, 7), (4, 7, 4)),
])
def test_conv_and_pool_attributes_agree_with_onnxruntime(conv_attrs: dict[str, Any], pool_attrs: dict[str, Any],
                                                         conv_out: tuple[int, ...], pool_out: tuple[int, ...]) -> None:
    k = dyadic((4, 2 // conv_attrs.get("group", 1), 3, 3), offset=8)
    n = int(np.prod(pool_out))
    nodes = [snn("RateEncode", ["x"], ["s"], time_steps=T), node("Reshape", ["s", "m"], ["sm"]),
             node("Conv", ["sm", "K"], ["cm"], **conv_attrs), node("AveragePool", ["cm"], ["pm"], **pool_attrs),
             # back to [T, B, C', H', W'] with a target computed from Shape(pm)[1:]
             node("Shape", ["pm"], ["pshape"]), node("Slice", ["pshape", "one", "big"], ["chw"]),
             node("Concat", ["t_minus1", "chw"], ["to_time"], axis=0),
             node("Reshape", ["pm", "to_time"], ["p"]), snn("IF", ["p", "theta"], ["o"]),
             node("Flatten", ["o"], ["of"], axis=2), node("Gemm", ["of", "W"], ["hm"]),
             node("Reshape", ["hm", "to3"], ["h"]), snn("IF", ["h", "theta"], ["o2"]),
             snn("SpikeCountDecode", ["o2"], ["scores"])]
    inits = [shape("m", [-1, 2, 7, 7]), init("K", k), init("theta", 0.5), shape("one", [1]), shape("big", [99]),
             shape("t_minus1", [T, -1]), init("W", dyadic((n, 3), seed=9, offset=4)), shape("to3", [T, -1, 3])]
    model = make(nodes, inits, features=(2, 7, 7), functions=True)
    graph = import_onnx(model)
    assert opnames(graph) == ["snn.rate_encode", "snn.conv2d", "snn.avgpool2d", "snn.if", "snn.flatten", "snn.dense",
                              "snn.if", "snn.spike_count_decode"]
    assert op(graph, "snn.conv2d").result.type == ValueType.current(*conv_out)
    assert op(graph, "snn.avgpool2d").result.type == ValueType.current(*pool_out)
    agrees_with_onnxruntime(model, graph)


def test_ceil_mode_that_changes_the_size_is_rejected() -> None:
    nodes = [snn("RateEncode", ["x"], ["s"], time_steps=T), node("Reshape", ["s", "m"], ["sm"]),
             node("AveragePool", ["sm"], ["pm"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1, name="pool"),
             node("Reshape", ["pm", "t"], ["p"]), node("Reshape", ["p", "f"], ["pf"]),
             node("MatMul", ["pf", "W"], ["h"]), snn("IF", ["h", "theta"], ["o"]),
             snn("SpikeCountDecode", ["o"], ["scores"])]
    inits = [shape("m", [-1, 1, 5, 5]), shape("t", [T, -1, 1, 3, 3]), shape("f", [T, -1, 9]),
             init("W", dyadic((9, 3))), init("theta", 1.0)]
    err = fails(make(nodes, inits, features=(1, 5, 5)))
    assert err.message == "AveragePool with ceil_mode=1 changes the output size here; not supported"
    assert err.where == "ONNX node 'pool' (op_type AveragePool, domain ai.onnx)"


# ---------------------------------------------------------------------------------------------- layouts
@pytest.mark.parametrize("source, features, target, expected", [
    (Layout.TIME, (2, 3, 3), [-1, 2, 3, 3], (Layout.MERGED, (2, 3, 3))),
    (Layout.MERGED, (2, 3, 3), [T, -1, 18], (Layout.TIME, (18,))),
    (Layout.TIME, (2, 3, 3), [0, 0, -1], (Layout.TIME, (18,))),
    (Layout.BATCH, (1, 4, 4), [0, -1], (Layout.BATCH, (16,))),
    (Layout.BATCH_TIME, (5,), [-1, T * 5], (Layout.BATCH, (T * 5,))),
    (Layout.BATCH_TIME, (5,), [0, T, 5], (Layout.BATCH_TIME, (5,))),
    (Layout.TIME, (4,), [-1, T * 4], None),  # would mix batch and time
    (Layout.BATCH, (T * 2,), [T, -1, 2], None),  # the batch axis must stay first
    (Layout.BATCH, (16,), [4, 4], None),  # fixes the batch size
    (Layout.TIME, (4,), [-1, -1], None),
])
def test_reshape_targets_resolve_to_layouts(source: Layout, features: tuple[int, ...], target: list[int],
                                            expected: tuple[Layout, tuple[int, ...]] | None) -> None:
    def run() -> tuple[Layout, tuple[int, ...]]:
        dims = resolve_reshape(full_dims(source, features, T), target)
        return classify(source, features, dims, T)

    if expected is None:
        with pytest.raises(LayoutError):
            run()
    else:
        assert run() == expected


def test_flatten_and_transpose_layouts() -> None:
    assert classify(Layout.TIME, (2, 3), flatten_dims(full_dims(Layout.TIME, (2, 3), T), 2), T) == (Layout.MERGED,
                                                                                                   (6,))
    assert classify(Layout.BATCH_TIME, (4,), flatten_dims(full_dims(Layout.BATCH_TIME, (4,), T), 1), T) == (
        Layout.BATCH, (T * 4,))
    with pytest.raises(LayoutError):
        classify(Layout.TIME, (4,), flatten_dims(full_dims(Layout.TIME, (4,), T), 1), T)
    assert transpose(Layout.TIME, [1, 0, 2], 3) is Layout.BATCH_TIME
    assert transpose(Layout.BATCH_TIME, [1, 0, 2, 3], 4) is Layout.TIME
    assert transpose(Layout.MERGED, [0, 1], 2) is Layout.MERGED
    with pytest.raises(LayoutError):
        transpose(Layout.BATCH, [1, 0], 2)


def test_bytes_and_opset_11_attribute_forms() -> None:
    """Opset 11 writes Unsqueeze axes as an attribute; the importer reads both forms (and accepts bytes)."""
    nodes = [node("Shape", ["x"], ["shp"]), node("Gather", ["shp", "zero"], ["b"], axis=0),
             node("Unsqueeze", ["b"], ["b1"], axes=[0]), node("Concat", ["b1", "minus1"], ["to"], axis=0),
             node("Reshape", ["x", "to"], ["xf"]), snn("TTFSEncode", ["xf"], ["s"], time_steps=T),
             node("MatMul", ["s", "W"], ["h"]), snn("ReLPSP", ["h"], ["o"], threshold=1.0),
             snn("FirstSpikeDecode", ["o"], ["scores"])]
    inits = [init("zero", 0, np.int64), shape("minus1", [-1]), init("W", dyadic((16, 3)))]
    model = make(nodes, inits, features=(4, 4), imports=[("", 11), ("snn", 1)])
    graph = import_onnx(model.SerializeToString())
    assert opnames(graph)[:2] == ["snn.flatten", "snn.ttfs_encode"]
    assert import_onnx(model).structurally_equal(graph)


def test_shape_ops_on_activations_are_unsupported() -> None:
    nodes = [snn("RateEncode", ["x"], ["s"], time_steps=T), node("Mul", ["s", "two"], ["s2"], name="scale"),
             node("MatMul", ["s2", "W"], ["h"]), snn("IF", ["h", "theta"], ["o"]),
             snn("SpikeCountDecode", ["o"], ["scores"])]
    err = fails(make(nodes, [init("two", 2.0), init("W", dyadic((4, 3))), init("theta", 1.0)]), UnsupportedOpError)
    assert err.message == "Mul on an activation tensor is not supported"
    assert err.where == "ONNX node 'scale' (op_type Mul, domain ai.onnx)"
    assert err.hint.startswith("Mul is supported only on shapes and constants; supported standard ops: Add, ")
