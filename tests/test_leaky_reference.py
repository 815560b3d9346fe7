"""Leaky neurons, recurrence, merges and trace decoders in the IR, the ONNX import and the reference executor
(issue 14 items 1 and 2, SPEC section 2).

Hand-built ONNX models (:class:`SnnModelBuilder`, dyadic weights) are imported and run by the reference
executor; every spike train, trace and score must equal onnxruntime's bit for bit, and the independent NumPy
transcription of the SPEC (``tests/spec_numpy.py``): per op (``snn.LIF``, ``snn.CubaLIF``, ``snn.LI``,
recurrent ``snn.IF``), both resets, both reset orders, with and without recurrence, scalar, per-feature and
per-channel parameters, the three decoders on a trace, a spike train feeding two synapses merged by ``Add``
(a DAG) and a residual net; batched and chunked runs, sparse and dense synapse paths. Bad input (a beta
outside [0, 1], a recurrent weight of the wrong shape, a merge of mismatched shapes, a synapse on a trace)
gives one clear error each, in IR text and in ONNX import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnc.backends.reference import ReferenceBackend, ReferenceExecutor, SpikeTrain
from snnc.errors import FrontendError, VerificationError
from snnc.frontend import import_onnx
from snnc.frontend.snn_onnx import SnnModelBuilder, SnnValue, run_onnxruntime
from snnc.ir import Graph, Kind, ValueType, neuron_traits
from snnc.ir.parser import parse_graph
from snnc.ir.printer import print_graph
from snnc.tests import spec_numpy as spec
from snnc.tests.onnx_models import dyadic, random_inputs

F32 = np.float32
RESETS = ["subtract", "zero"]
BETAS = [0.5, 0.75, 0.875, 1.0]


class _Recorder(ReferenceExecutor):
    """Keeps every runtime value (spike trains as float 0/1, like onnxruntime's)."""

    def run_op(self, op: Any, args: list[Any]) -> Any:
        value = super().run_op(op, args)
        self.seen[op.result.name] = value.astype(F32) if isinstance(value, SpikeTrain) else np.asarray(value)
        return value


def reference_values(graph: Graph, x: np.ndarray, **options: Any) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    executor = _Recorder(graph, **options)
    executor.seen = {}
    result = executor.run(x)
    return result.outputs[graph.outputs[0].name], executor.seen


def _equal(a: np.ndarray, b: np.ndarray, what: str) -> None:
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    a, b = np.asarray(a, F32), np.asarray(b, F32)
    bad = np.argwhere(a != b)
    assert bad.size == 0, f"{what}: {len(bad)} mismatches, first at {bad[0].tolist()}: {a[tuple(bad[0])]} != " \
                          f"{b[tuple(bad[0])]}"


def check_model(model: onnx.ModelProto, x: np.ndarray, values: dict[str, SnnValue],
                transcription: dict[str, np.ndarray] | None = None) -> Graph:
    """Import ``model``; the reference executor's scores and the values ``values`` (builder handles) equal
    onnxruntime's, and the transcription's where given. Returns the imported graph."""
    graph = import_onnx(model)
    names = [v.name for v in values.values()]
    want_scores, want = run_onnxruntime(model, x, extra_outputs=names, threads=1)
    scores, got = reference_values(graph, x)
    _equal(scores, want_scores, "scores")
    for key, v in values.items():
        _equal(got[v.name], want[v.name], key)
        if transcription is not None and key in transcription:
            _equal(got[v.name], transcription[key], f"{key} (transcription)")
    if transcription is not None and "scores" in transcription:
        _equal(scores, transcription["scores"], "scores (transcription)")
    return graph


# ------------------------------------------------------------------------------------------- per op
def _layer_model(op: str, reset: str, delayed: bool, recurrent: bool, decode: str = "spike_count_decode",
                 seed: int = 0, per_feature: bool = False, n: int = 6, t_steps: int = 10
                 ) -> tuple[onnx.ModelProto, dict[str, SnnValue], Callable[[np.ndarray], dict[str, np.ndarray]]]:
    """x [8] -> rate -> dense -> <op> [n] -> dense -> LI readout [3] -> <decode>: and its transcription."""
    rng = np.random.default_rng(seed)
    w_in, w_out = dyadic(rng, (n, 8), offset=6), dyadic(rng, (3, n), offset=4)
    w_rec = dyadic(rng, (n, n), limit=24) if recurrent else None
    theta = rng.choice(np.array([0.5, 0.75, 1.0], F32), n) if per_feature else F32(0.75)
    alpha = rng.choice(np.array(BETAS, F32), n) if per_feature else F32(0.5)
    beta = rng.choice(np.array(BETAS, F32), n) if per_feature else F32(0.875)
    b = SnnModelBuilder(input_features=(8,), time_steps=t_steps, name=op)
    s = b.rate_encode(b.input, threshold=0.5)
    i = b.dense(s, w_in)
    if op == "lif":
        h = b.lif(i, theta, beta, reset, delayed, w_rec)
    elif op == "cuba_lif":
        h = b.cuba_lif(i, theta, alpha, beta, reset, delayed, w_rec)
    else:
        h = b.if_neuron(i, theta, reset, w_rec)
    trace = b.li(b.dense(h, w_out), 0.75)
    model = b.build(output=getattr(b, decode)(trace))

    def transcription(x: np.ndarray) -> dict[str, np.ndarray]:
        sr = spec.rate_encode(x, t_steps, 0.5)
        ir = spec.dense(sr, w_in)
        if op == "lif":
            hr = spec.lif(ir, theta, beta, reset, delayed, w_rec)
        elif op == "cuba_lif":
            hr = spec.cuba_lif(ir, theta, alpha, beta, reset, delayed, w_rec)
        else:
            hr = spec.if_neuron_recurrent(ir, theta, reset, w_rec)
        tr = spec.li(spec.dense(hr, w_out), F32(0.75))
        decoder = spec.max_over_time_decode if decode == "max_over_time_decode" else getattr(spec, decode)
        return {"h": hr, "trace": tr, "scores": decoder(tr)}

    return model, {"s": s, "h": h, "trace": trace}, transcription


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("delayed", [False, True])
@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("op", ["lif", "cuba_lif"])
def test_leaky_neurons_equal_onnxruntime_and_the_transcription(op: str, reset: str, delayed: bool,
                                                               recurrent: bool) -> None:
    model, values, transcription = _layer_model(op, reset, delayed, recurrent, seed=len(op) + 2 * recurrent)
    x = random_inputs((8,), 24, seed=3)
    graph = check_model(model, x, values, transcription(x))
    neuron = next(o for o in graph.ops if o.opname == f"snn.{op}")
    assert neuron.attrs["reset"] == reset and neuron.attrs["delayed_reset"] == int(delayed)
    assert ("recurrent_weight" in neuron.attrs) == recurrent
    h = transcription(x)["h"]
    assert 0 < h.mean() < 1  # the layer fires, but not always


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("reset", RESETS)
def test_if_with_and_without_recurrence(reset: str, recurrent: bool) -> None:
    model, values, transcription = _layer_model("if", reset, False, recurrent, seed=5)
    x = random_inputs((8,), 24, seed=4)
    check_model(model, x, values, transcription(x))


@pytest.mark.parametrize("op", ["lif", "cuba_lif", "if"])
def test_per_feature_parameters(op: str) -> None:
    model, values, transcription = _layer_model(op, "zero", op != "if", op != "lif", seed=9, per_feature=True)
    x = random_inputs((8,), 16, seed=5)
    check_model(model, x, values, transcription(x))


@pytest.mark.parametrize("decode", ["last_step_decode", "spike_count_decode", "max_over_time_decode"])
def test_decoders_on_a_trace(decode: str) -> None:
    model, values, transcription = _layer_model("lif", "subtract", False, False, decode=decode, seed=11)
    x = random_inputs((8,), 32, seed=6)
    graph = check_model(model, x, values, transcription(x))
    trace = next(o for o in graph.ops if o.opname == "snn.li").result
    assert trace.type == ValueType.potential(3)
    assert str(trace.type) == "potential<TxBx3xf32>"


def test_lif_on_conv_features_with_per_channel_parameters() -> None:
    rng = np.random.default_rng(12)
    b = SnnModelBuilder(input_features=(1, 6, 6), time_steps=6)
    s = b.rate_encode(b.input, threshold=0.5)
    c = b.conv2d(s, dyadic(rng, (3, 1, 3, 3), offset=8), pads=1)
    theta = np.array([0.5, 0.75, 1.0], F32).reshape(3, 1, 1)
    beta = np.array([0.5, 0.875, 1.0], F32).reshape(3, 1, 1)
    h = b.lif(c, theta, beta, "zero", True)
    trace = b.li(b.flatten(b.avgpool2d(h, 2)), 0.5)  # a trace of a pooled current, flattened
    model = b.build(output=b.max_over_time_decode(trace))
    x = random_inputs((1, 6, 6), 8, seed=2)
    graph = check_model(model, x, {"h": h, "trace": trace})
    lif = next(o for o in graph.ops if o.opname == "snn.lif")
    assert lif.attrs["beta"].shape == (3, 1, 1)


def test_reshaped_trace_keeps_its_kind_and_is_decoded() -> None:
    rng = np.random.default_rng(13)
    b = SnnModelBuilder(input_features=(1, 4, 4), time_steps=4)
    c = b.conv2d(b.rate_encode(b.input), dyadic(rng, (2, 1, 3, 3), offset=8))
    trace = b.flatten(b.li(c, 0.5))
    model = b.build(output=b.spike_count_decode(trace))
    graph = check_model(model, random_inputs((1, 4, 4), 8, seed=1), {"trace": trace})
    flat = next(o for o in graph.ops if o.opname == "snn.flatten")
    assert flat.result.type.kind is Kind.POTENTIAL


# ------------------------------------------------------------------------------------------- DAGs
def _skip_model(reset: str, delayed: bool, recurrent: bool, seed: int = 3
                ) -> tuple[onnx.ModelProto, dict[str, SnnValue], Callable[[np.ndarray], dict[str, np.ndarray]]]:
    """x -> rate s [10]; h1 = LIF(dense(s)); h2 = CubaLIF(dense(h1) + dense(s)) (s feeds two synapses, the
    residual Add merges); LI readout."""
    rng = np.random.default_rng(seed)
    t_steps = 12
    w1, w2, ws = dyadic(rng, (10, 10), offset=4), dyadic(rng, (10, 10), offset=2), dyadic(rng, (10, 10), offset=2)
    w_rec = dyadic(rng, (10, 10), limit=24) if recurrent else None
    w_o = dyadic(rng, (4, 10), offset=2)
    beta1 = rng.choice(np.array(BETAS, F32), 10)
    b = SnnModelBuilder(input_features=(10,), time_steps=t_steps, name="residual")
    s = b.rate_encode(b.input, threshold=0.75)
    h1 = b.lif(b.dense(s, w1), 0.5, beta1, reset=reset, delayed_reset=delayed)
    r = b.add(b.dense(h1, w2), b.dense(s, ws))
    h2 = b.cuba_lif(r, 0.75, 0.5, 0.875, reset=reset, delayed_reset=delayed, recurrent_weight=w_rec)
    trace = b.li(b.dense(h2, w_o), 0.875)
    model = b.build(output=b.max_over_time_decode(trace))

    def transcription(x: np.ndarray) -> dict[str, np.ndarray]:
        sr = spec.rate_encode(x, t_steps, 0.75)
        h1r = spec.lif(spec.dense(sr, w1), F32(0.5), beta1, reset, delayed)
        rr = spec.dense(h1r, w2) + spec.dense(sr, ws)
        h2r = spec.cuba_lif(rr, F32(0.75), F32(0.5), F32(0.875), reset, delayed, w_rec)
        tr = spec.li(spec.dense(h2r, w_o), F32(0.875))
        return {"s": sr, "h1": h1r, "sum": rr, "h2": h2r, "trace": tr, "scores": spec.max_over_time_decode(tr)}

    return model, {"s": s, "h1": h1, "sum": r, "h2": h2, "trace": trace}, transcription


@pytest.mark.parametrize(("reset", "delayed", "recurrent"), [
    ("subtract", False, False), ("zero", True, False), ("subtract", False, True), ("zero", False, True),
    ("subtract", True, True),
])
def test_skip_connection_merged_by_add(reset: str, delayed: bool, recurrent: bool) -> None:
    model, values, transcription = _skip_model(reset, delayed, recurrent)
    x = random_inputs((10,), 40, seed=8)
    graph = check_model(model, x, values, transcription(x))
    add = next(o for o in graph.ops if o.opname == "snn.add")
    s = next(o for o in graph.ops if o.opname == "snn.rate_encode").result
    assert len(graph.users(s)) == 2  # one spike train, two synapses: a DAG
    assert {graph.producer(v).opname for v in add.operands} == {"snn.dense"}
    ref = transcription(x)
    assert 0 < ref["h1"].mean() < 1 and 0 < ref["h2"].mean() < 1


def test_the_dag_survives_the_text_round_trip_and_the_target_free_passes() -> None:
    from snnc.passes import PassManager

    model, _, _ = _skip_model("subtract", False, True)
    graph = import_onnx(model)
    again = parse_graph(print_graph(graph))
    assert again.structurally_equal(graph)
    x = random_inputs((10,), 16, seed=2)
    optimized = PassManager(["canonicalize", "fold-pool", "dce"]).run(graph).graph
    assert [o.opname for o in optimized.ops] == [o.opname for o in graph.ops]
    _equal(ReferenceBackend().run(optimized, x).scores, ReferenceBackend().run(graph, x).scores, "after passes")


def test_adding_a_current_to_itself() -> None:
    b = SnnModelBuilder(input_features=(4,), time_steps=5)
    s = b.ttfs_encode(b.input)
    i = b.dense(s, np.full((3, 4), 0.25, F32))
    doubled = b.add(i, i)
    model = b.build(output=b.last_step_decode(b.li(doubled, 1.0)))
    graph = check_model(model, np.array([[1.0, 0.5, 0.0, 0.25]], F32), {"doubled": doubled})
    add = next(o for o in graph.ops if o.opname == "snn.add")
    assert add.operands[0] is add.operands[1]


def test_batched_chunked_sparse_and_dense_paths_agree() -> None:
    model, _, transcription = _skip_model("zero", True, True, seed=21)
    graph = import_onnx(model)
    x = random_inputs((10,), 37, seed=9)
    want = transcription(x)["scores"]
    for options in ({"sparse": "always"}, {"sparse": "never"}):
        backend = ReferenceBackend(**options)
        _equal(backend.run(graph, x).scores, want, f"{options}")
        _equal(backend.run(graph, x, batch_size=5).scores, want, f"{options}, chunks of 5")
    result = ReferenceBackend().run(graph, x, record=True)
    assert "trace" not in result.spike_counts  # a trace is no spike train
    assert result.spikes[next(o for o in graph.ops if o.opname == "snn.cuba_lif").result.name].shape == (12, 37, 10)


# ------------------------------------------------------------------------------------ random property
@st.composite
def _cases(draw: st.DrawFn) -> dict:
    return {
        "op": draw(st.sampled_from(["if", "lif", "cuba_lif"])), "reset": draw(st.sampled_from(RESETS)),
        "delayed": draw(st.booleans()), "recurrent": draw(st.booleans()), "per_feature": draw(st.booleans()),
        "seed": draw(st.integers(0, 2**16)), "n": draw(st.integers(1, 6)), "t": draw(st.integers(2, 9)),
        "decode": draw(st.sampled_from(["last_step_decode", "spike_count_decode", "max_over_time_decode"])),
    }


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(_cases())
def test_property_import_and_reference_equal_onnxruntime(case: dict) -> None:
    model, values, transcription = _layer_model(case["op"], case["reset"], case["delayed"] and case["op"] != "if",
                                                case["recurrent"], case["decode"], case["seed"], case["per_feature"],
                                                case["n"], case["t"])
    x = random_inputs((8,), 6, seed=case["seed"] % 97)
    check_model(model, x, values, transcription(x))


# ------------------------------------------------------------------------------------------- the IR
def _ir(neuron: str, *, features: int = 3, extra: str = "", tail: str = "") -> str:
    weight = f"dense<[{', '.join(['0.25'] * 4 * features)}]> : f32[{features},4]"
    return f"""snnc.ir 1
graph @g(%x: tensor<Bx4xf32>) time_steps = 4 {{
  %s = snn.rate_encode(%x) {{time_steps = 4, threshold = 0.5}} : spikes<TxBx4>
  %c = snn.dense(%s) {{weight = {weight}}} : current<TxBx{features}xf32>
{extra}  %h = {neuron} : spikes<TxBx{features}>
{tail}  %y = snn.spike_count_decode(%h) : tensor<Bx{features}xf32>
  return %y
}}
"""


THETA = "threshold = dense<[1.0]> : f32[1]"


def test_the_new_ops_state_traits_and_equations() -> None:
    assert neuron_traits("snn.lif").accumulator == "I" and not neuron_traits("snn.lif").accumulator_persists
    cuba = neuron_traits("snn.cuba_lif")
    assert (cuba.state, cuba.accumulator, cuba.accumulator_persists) == (("V", "J"), "J", True)
    li = neuron_traits("snn.li")
    assert (li.emits, li.reset, li.single_spike) == ("potential", "none", False)
    from snnc.ir import OPS

    assert "beta*Vr + I'[t]" in OPS["snn.lif"].__doc__ and "alpha*J[t-1] + I'[t]" in OPS["snn.cuba_lif"].__doc__
    assert "beta*V[t-1] + I[t]" in OPS["snn.li"].__doc__


@pytest.mark.parametrize(("text", "message"), [
    (_ir(f"snn.lif(%c) {{{THETA}, beta = dense<[1.5]> : f32[1], reset = \"zero\", delayed_reset = 0}}"),
     "%h = snn.lif: beta must lie in [0, 1] everywhere (1 = no leak, 0 = no memory), got 1.5"),
    (_ir(f"snn.cuba_lif(%c) {{{THETA}, alpha = dense<[-0.25]> : f32[1], beta = dense<[0.5]> : f32[1], "
         "reset = \"zero\", delayed_reset = 0}"),
     "%h = snn.cuba_lif: alpha must lie in [0, 1] everywhere (1 = no leak, 0 = no memory), got -0.25"),
    (_ir(f"snn.lif(%c) {{{THETA}, beta = dense<[0.5]> : f32[1], reset = \"zero\", delayed_reset = 0, "
         "recurrent_weight = dense<[1.0, 0.0, 0.0, 1.0]> : f32[2,2]}"),
     "%h = snn.lif: recurrent_weight [2, 2] has the wrong shape: the 3 neurons need [3, 3]"),
    (_ir(f"snn.if(%c) {{{THETA}, reset = \"zero\", recurrent_weight = dense<[1.0, 0.0, 0.0, 1.0]> : f32[2,2]}}"),
     "%h = snn.if: recurrent_weight [2, 2] has the wrong shape: the 3 neurons need [3, 3]"),
    (_ir(f"snn.lif(%c) {{{THETA}, beta = dense<[0.5]> : f32[1], reset = \"zero\", delayed_reset = 2}}"),
     "%h = snn.lif: delayed_reset must be 0 or 1, got 2"),
    (_ir(f"snn.lif(%m) {{{THETA}, beta = dense<[0.5]> : f32[1], reset = \"zero\", delayed_reset = 0}}",
         extra="  %d = snn.dense(%s) {weight = dense<[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]> : f32[2,4]} "
               ": current<TxBx2xf32>\n  %m = snn.add(%c, %d) : current<TxBx3xf32>\n"),
     "%m = snn.add: cannot add currents of different shapes: features [3] and [2]"),
    (_ir(f"snn.lif(%m) {{{THETA}, beta = dense<[0.5]> : f32[1], reset = \"zero\", delayed_reset = 0}}",
         extra="  %m = snn.add(%c, %s) : current<TxBx3xf32>\n"),
     "%m = snn.add: operand 1 (%s) is spikes, expected current"),
    (_ir(f"snn.lif(%c2) {{{THETA}, beta = dense<[0.5]> : f32[1], reset = \"zero\", delayed_reset = 0}}",
         extra="  %v = snn.li(%c) {beta = dense<[0.5]> : f32[1]} : potential<TxBx3xf32>\n"
               "  %c2 = snn.dense(%v) {weight = dense<[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]> : f32[3,3]} "
               ": current<TxBx3xf32>\n"),
     "%c2 = snn.dense: operand 0 (%v) is potential, expected current or spikes or tensor"),
])
def test_bad_ir_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(VerificationError) as info:
        parse_graph(text)
    assert str(info.value).startswith(message)


def test_decoders_check_what_they_read() -> None:
    g = Graph("g", time_steps=3)
    x = g.add_input("x", ValueType.tensor(2))
    s = g.add_op("snn.rate_encode", [x], {"time_steps": 3, "threshold": 0.5})
    with pytest.raises(VerificationError, match=r"operand 0 \(%1\) is spikes, expected potential"):
        g.add_op("snn.max_over_time_decode", [s])
    c = g.add_op("snn.dense", [s], {"weight": np.eye(2, dtype=F32)})
    v = g.add_op("snn.li", [c], {"beta": np.array([0.5], F32)})
    with pytest.raises(VerificationError, match="is potential, expected spikes"):
        g.add_op("snn.first_spike_decode", [v])
    with pytest.raises(VerificationError, match="is potential, expected current"):
        g.add_op("snn.lif", [v], {"threshold": np.array([1.0], F32), "beta": np.array([0.5], F32),
                                  "reset": "zero", "delayed_reset": 0})
    for decoder in ("snn.last_step_decode", "snn.spike_count_decode", "snn.max_over_time_decode"):
        assert g.add_op(decoder, [v]).type == ValueType.tensor(2)


def test_trace_and_neuron_kernels_by_hand() -> None:
    """Hand values: LIF (reset first vs delayed), CubaLIF, LI and the trace decoders."""
    g = Graph("g", time_steps=4)
    c = g.add_input("c", ValueType.current(1))
    lif = g.add_op("snn.lif", [c], {"threshold": np.array([1.0], F32), "beta": np.array([0.5], F32),
                                    "reset": "subtract", "delayed_reset": 0}, name="now")
    late = g.add_op("snn.lif", [c], {"threshold": np.array([1.0], F32), "beta": np.array([0.5], F32),
                                     "reset": "subtract", "delayed_reset": 1}, name="late")
    cuba = g.add_op("snn.cuba_lif", [c], {"threshold": np.array([1.0], F32), "alpha": np.array([0.5], F32),
                                          "beta": np.array([0.5], F32), "reset": "zero", "delayed_reset": 0},
                    name="cuba")
    v = g.add_op("snn.li", [c], {"beta": np.array([0.5], F32)}, name="v")
    outs = [g.add_op(d, [v], name=d.split(".")[1]) for d in
            ("snn.last_step_decode", "snn.spike_count_decode", "snn.max_over_time_decode")]
    g.set_outputs([*outs, lif, late, cuba, v])
    current = np.array([1.5, 0.75, 0.5, 0.0], F32)[:, None, None]
    out = ReferenceExecutor(g).run({"c": current}).outputs
    # reset first: V = 1.5 S, 0.5*0.5 + 0.75 = 1.0 S, 0.5*0 + 0.5 = 0.5, 0.25; delayed: 1.5 S, 0.75+0.75-1 = 0.5, ...
    assert out["now"][:, 0, 0].tolist() == [True, True, False, False]
    assert out["late"][:, 0, 0].tolist() == [True, False, False, False]
    # CubaLIF: J = 1.5, 1.5, 1.25, 0.625; V = 1.5 S, 0 + 1.5 S, 0 + 1.25 S, 0 + 0.625
    assert out["cuba"][:, 0, 0].tolist() == [True, True, True, False]
    trace = [1.5, 1.5, 1.25, 0.625]
    assert out["v"][:, 0, 0].tolist() == trace
    assert out["last_step_decode"].tolist() == [[0.625]]
    assert out["spike_count_decode"].tolist() == [[F32(sum(trace)) / F32(4)]]
    assert out["max_over_time_decode"].tolist() == [[1.5]]


# ------------------------------------------------------------------------------------------- ONNX import
def _initializer(model: onnx.ModelProto, suffix: str) -> onnx.TensorProto:
    return next(t for t in model.graph.initializer if t.name.endswith(suffix))


def _replace(model: onnx.ModelProto, suffix: str, array: np.ndarray) -> str:
    tensor = _initializer(model, suffix)
    tensor.CopyFrom(onnx.numpy_helper.from_array(np.asarray(array, F32), tensor.name))
    return tensor.name


def _import_error(model: onnx.ModelProto) -> FrontendError:
    with pytest.raises(FrontendError) as info:
        import_onnx(model)
    return info.value


def _small(make: Callable[[SnnModelBuilder, SnnValue], SnnValue]) -> onnx.ModelProto:
    b = SnnModelBuilder(input_features=(4,), time_steps=5)
    out = make(b, b.dense(b.ttfs_encode(b.input), np.full((3, 4), 0.25, F32)))
    return b.build(output=b.spike_count_decode(out))


@pytest.mark.parametrize(("op", "suffix", "value"), [
    ("lif", "beta", 1.25), ("cuba_lif", "alpha", -0.5), ("cuba_lif", "beta", 2.0), ("li", "beta", -0.125)])
def test_import_rejects_a_decay_outside_0_1(op: str, suffix: str, value: float) -> None:
    make = {"lif": lambda b, i: b.lif(i, 1.0, 0.5), "cuba_lif": lambda b, i: b.cuba_lif(i, 1.0, 0.5, 0.5),
            "li": lambda b, i: b.li(i, 0.5)}[op]
    if op == "li":
        b = SnnModelBuilder(input_features=(4,), time_steps=5)
        model = b.build(output=b.max_over_time_decode(make(b, b.dense(b.ttfs_encode(b.input),
                                                                       np.ones((3, 4), F32)))))
    else:
        model = _small(make)
    name = _replace(model, "." + suffix, np.array([0.5, value, 0.5], F32))
    err = _import_error(model)
    node = next(n for n in model.graph.node if name in n.input)
    assert err.message == f"{suffix} '{name}' must lie in [0, 1] everywhere, got {value!r}"
    assert err.where.startswith(f"ONNX node '{node.name}' (op_type {node.op_type}, domain snn)")
    assert "exp(-dt / tau)" in err.hint


@pytest.mark.parametrize("op", ["if", "lif", "cuba_lif"])
def test_import_rejects_a_recurrent_weight_of_the_wrong_shape(op: str) -> None:
    eye = np.eye(3, dtype=F32)
    make = {"if": lambda b, i: b.if_neuron(i, 1.0, recurrent_weight=eye),
            "lif": lambda b, i: b.lif(i, 1.0, 0.5, recurrent_weight=eye),
            "cuba_lif": lambda b, i: b.cuba_lif(i, 1.0, 0.5, 0.5, recurrent_weight=eye)}[op]
    model = _small(make)
    name = _replace(model, ".recurrent_weight", np.ones((3, 2), F32))
    err = _import_error(model)
    assert err.message.startswith(f"shape mismatch: recurrent_weight '{name}' of shape [3, 2] must be [3, 3] for the "
                                  "3 neurons of")
    assert "recurrent_weight[i, j]" in err.hint
    # the right shape imports, and the weight is the IR attribute
    _replace(model, ".recurrent_weight", eye)
    neuron = next(o for o in import_onnx(model).ops if "recurrent_weight" in o.attrs)
    assert np.array_equal(neuron.attrs["recurrent_weight"], eye)


def test_import_rejects_an_add_of_mismatched_shapes() -> None:
    b = SnnModelBuilder(input_features=(4,), time_steps=5)
    s = b.ttfs_encode(b.input)
    i3, j3 = b.dense(s, np.ones((3, 4), F32) / 4), b.dense(s, np.ones((3, 4), F32) / 8)
    model = b.build(output=b.spike_count_decode(b.lif(b.add(i3, j3), 1.0, 0.5)))
    w = _initializer(model, j3.name + ".weight_t")
    w.CopyFrom(onnx.numpy_helper.from_array(np.ones((4, 2), F32), w.name))  # j3 now has 2 features
    for vi in model.graph.value_info:
        if vi.name == j3.name:
            vi.type.tensor_type.shape.dim[2].dim_value = 2
    err = _import_error(model)
    add = next(n for n in model.graph.node if n.op_type == "Add")
    assert err.message == (f"shape mismatch: Add of '{i3.name}' [5, B, 3] and '{j3.name}' [5, B, 2]: merged currents "
                           "must have the same shape")
    assert err.where.startswith(f"ONNX node '{add.name}' (op_type Add")


def test_import_rejects_an_add_of_spikes_and_a_synapse_on_a_trace() -> None:
    b = SnnModelBuilder(input_features=(4,), time_steps=5)
    s = b.ttfs_encode(b.input)
    i = b.dense(s, np.ones((4, 4), F32) / 4)
    model = b.build(output=b.spike_count_decode(b.lif(b.add(i, i), 1.0, 0.5)))
    add = next(n for n in model.graph.node if n.op_type == "Add")
    add.input[1] = s.name  # spikes + current
    err = _import_error(model)
    assert err.message == f"Add merges synaptic currents, input 1 '{s.name}' is a spike train"

    b = SnnModelBuilder(input_features=(4,), time_steps=5)
    trace = b.li(b.dense(b.ttfs_encode(b.input), np.ones((3, 4), F32) / 4), 0.5)
    out = b.lif(b.dense(trace, np.eye(3, dtype=F32)), 1.0, 0.5)  # the builder lets a synapse read a trace
    err = _import_error(b.build(output=b.spike_count_decode(out)))
    assert err.message.startswith(f"MatMul cannot weigh '{trace.name}', a potential trace")


def test_import_rejects_decoders_and_neurons_on_the_wrong_kind() -> None:
    b = SnnModelBuilder(input_features=(4,), time_steps=5)
    trace = b.li(b.dense(b.ttfs_encode(b.input), np.ones((3, 4), F32) / 4), 0.5)
    model = b.build(output=b.last_step_decode(trace))
    next(n for n in model.graph.node if n.op_type == "LastStepDecode").op_type = "FirstSpikeDecode"
    err = _import_error(model)
    assert err.message == (f"snn.FirstSpikeDecode decodes a spike train, '{trace.name}' is a potential trace "
                           "(the output of snn.LI)")
    model = _small(lambda b, i: b.lif(i, 1.0, 0.5))
    next(n for n in model.graph.node if n.op_type == "SpikeCountDecode").op_type = "MaxOverTimeDecode"
    assert "snn.MaxOverTimeDecode decodes a potential trace (the output of snn.LI)" in _import_error(model).message


def test_import_checks_the_leaky_attributes() -> None:
    model = _small(lambda b, i: b.lif(i, 1.0, 0.5))
    node = next(n for n in model.graph.node if n.op_type == "LIF")
    next(a for a in node.attribute if a.name == "delayed_reset").i = 2
    assert _import_error(model).message == "delayed_reset must be 0 or 1, got 2"
    model = _small(lambda b, i: b.lif(i, 1.0, 0.5))
    node = next(n for n in model.graph.node if n.op_type == "LIF")
    node.attribute.append(onnx.helper.make_attribute("tau", 2.0))
    assert _import_error(model).message == "unknown attribute 'tau'"
    model = _small(lambda b, i: b.lif(i, 1.0, 0.5))
    _replace(model, ".threshold", np.array([0.0], F32))
    assert _import_error(model).message == "threshold must be > 0 everywhere"
    model = _small(lambda b, i: b.lif(i, 1.0, 0.5))
    _replace(model, ".beta", np.array([0.5, 0.5], F32))
    assert "beta" in _import_error(model).message and "does not broadcast" in _import_error(model).message


def test_attribute_defaults_follow_the_spec() -> None:
    """Without ``reset`` / ``delayed_reset`` the importer takes "subtract" and 0, like the ONNX functions."""
    model = _small(lambda b, i: b.cuba_lif(i, 1.0, 0.5, 0.5, reset="zero", delayed_reset=True))
    node = next(n for n in model.graph.node if n.op_type == "CubaLIF")
    del node.attribute[:]
    neuron = next(o for o in import_onnx(model).ops if o.opname == "snn.cuba_lif")
    assert (neuron.attrs["reset"], neuron.attrs["delayed_reset"]) == ("subtract", 0)
