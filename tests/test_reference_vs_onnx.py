"""The reference executor against the two independent oracles: onnxruntime running every SPEC test
model (imported with ``import_onnx``), and the loop-based NumPy transcription of the SPEC on random
spike trains. Dyadic weights: every comparison is exact."""

from __future__ import annotations

import numpy as np
import pytest

from snnc.backends.reference import ReferenceBackend, ReferenceExecutor
from snnc.frontend import import_onnx
from snnc.frontend.snn_onnx import run_onnxruntime
from snnc.ir import Graph, ValueType
from snnc.tests import spec_numpy as spec
from snnc.tests.onnx_models import CASES, dyadic

F32 = np.float32
N_INPUTS = 128


@pytest.mark.parametrize("sparse", ["always", "never"])
@pytest.mark.parametrize("case_name", sorted(CASES))
def test_every_model_case_equals_onnxruntime_and_the_spec(case_name, sparse):
    case = CASES[case_name](seed=0)
    graph = import_onnx(case.model)
    x = case.inputs(N_INPUTS, seed=1)
    result = ReferenceBackend(sparse=sparse).run(graph, x, record=True)
    ort_scores, ort_spikes = run_onnxruntime(case.model, x, extra_outputs=case.spike_values)
    spec_values = case.reference(x)
    assert result.scores.dtype == F32
    assert np.array_equal(result.scores, ort_scores)
    assert np.array_equal(result.scores, spec_values["scores"])
    assert np.array_equal(result.predictions, np.argmax(ort_scores, axis=1))
    for name in case.spike_values:
        ours = result.spikes[name]
        assert np.array_equal(ours, ort_spikes[name] != 0), name
        assert np.array_equal(ours, spec_values[name] != 0), name
        assert np.array_equal(result.spike_counts[name], ours.reshape(*ours.shape[:2], -1).sum(axis=(0, 2))), name
    assert any(result.spike_counts[name].any() for name in case.spike_values[1:] or case.spike_values)


# ------------------------------------------------------------------------------ random spike trains
def spike_graph(features: tuple[int, ...], time_steps: int, build) -> Graph:
    g = Graph("random_spikes", time_steps=time_steps)
    s = g.add_input("s", ValueType.spikes(*features))
    g.set_outputs([build(g, s)])
    return g


def random_spikes(rng: np.random.Generator, shape: tuple[int, ...], density: float, single: bool = False):
    spikes = rng.random(shape) < density
    if single:  # at most one spike per neuron, as TTFS and ReL-PSP trains
        first = np.cumsum(spikes, axis=0) == 1
        spikes &= first
    return spikes


@pytest.mark.parametrize("single", [True, False])
def test_dense_relpsp_on_random_spike_trains(single):
    rng = np.random.default_rng(2)
    w, b = dyadic(rng, (9, 14), offset=6), dyadic(rng, (9,), 4)
    spikes = random_spikes(rng, (20, 110, 14), 0.08, single)
    g = spike_graph((14,), 20, lambda g, s: g.add_op(
        "snn.relpsp", [g.add_op("snn.dense", [s], {"weight": w, "bias": b})], {"threshold": 1.0}, name="out"))
    expected = spec.relpsp(spec.dense(spikes.astype(F32), w, b), 1.0) != 0
    for sparse in ("always", "never", "auto"):
        assert np.array_equal(ReferenceExecutor(g, sparse=sparse).run(spikes).outputs["out"], expected)
    assert expected.any() and not expected.all()


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_dense_if_on_random_spike_trains(reset):
    rng = np.random.default_rng(3)
    w = dyadic(rng, (7, 12), offset=5)
    theta = (rng.integers(16, 80, (7,)) / 64).astype(F32)
    spikes = random_spikes(rng, (15, 100, 12), 0.3)
    g = spike_graph((12,), 15, lambda g, s: g.add_op(
        "snn.if", [g.add_op("snn.dense", [s], {"weight": w})], {"threshold": theta, "reset": reset}, name="out"))
    expected = spec.if_neuron(spec.dense(spikes.astype(F32), w), theta, reset) != 0
    for sparse in ("always", "never"):
        assert np.array_equal(ReferenceExecutor(g, sparse=sparse).run(spikes).outputs["out"], expected)
    assert expected.any() and not expected.all()


def test_conv_avgpool_if_on_random_spike_trains():
    rng = np.random.default_rng(4)
    w, b = dyadic(rng, (4, 1, 3, 3), offset=6), dyadic(rng, (4,))
    theta = (rng.integers(32, 97, (4, 1, 1)) / 64).astype(F32)
    spikes = random_spikes(rng, (6, 100, 2, 7, 7), 0.3)
    conv = {"weight": w, "bias": b, "strides": [1, 1], "pads": [1, 1, 1, 1], "dilations": [1, 1], "group": 2}
    pool = {"kernel": [2, 2], "strides": [1, 1], "pads": [0, 0, 0, 0], "count_include_pad": 0}

    def build(g, s):
        c = g.add_op("snn.if", [g.add_op("snn.conv2d", [s], conv)], {"threshold": theta, "reset": "subtract"})
        return g.add_op("snn.avgpool2d", [c], pool, name="out")

    got = ReferenceExecutor(spike_graph((2, 7, 7), 6, build)).run(spikes).outputs["out"]
    c = spec.if_neuron(spec.conv2d(spikes.astype(F32), w, b, (1, 1), (1, 1, 1, 1), (1, 1), 2), theta)
    assert np.array_equal(got, spec.avgpool2d(c, (2, 2), (1, 1)))
    assert c.any() and not c.all()


@pytest.mark.parametrize(("opname", "reference"), [
    ("snn.first_spike_decode", spec.first_spike_decode),
    ("snn.last_step_decode", spec.last_step_decode),
    ("snn.spike_count_decode", spec.spike_count_decode),
])
@pytest.mark.parametrize("single", [True, False])
def test_decoders_on_random_spike_trains(opname, reference, single):
    rng = np.random.default_rng(5)
    spikes = random_spikes(rng, (7, 120, 5), 0.15, single)
    got = ReferenceExecutor(spike_graph((5,), 7, lambda g, s: g.add_op(opname, [s], name="out"))).run(spikes)
    assert np.array_equal(got.outputs["out"], reference(spikes.astype(F32)))


def test_relpsp_output_decoded_from_first_spike_times_equals_the_spec():
    rng = np.random.default_rng(6)
    current = dyadic(rng, (16, 100, 6), offset=3)
    g = Graph("relpsp_decode", time_steps=16)
    i = g.add_input("i", ValueType.current(6))
    o = g.add_op("snn.relpsp", [i], {"threshold": 1.0})
    outputs = [g.add_op(op, [o], name=op.split(".")[1]) for op in
               ("snn.first_spike_decode", "snn.last_step_decode", "snn.spike_count_decode")]
    g.set_outputs(outputs)
    got = ReferenceExecutor(g).run(current).outputs
    s = spec.relpsp(current, 1.0)
    assert np.array_equal(got["first_spike_decode"], spec.first_spike_decode(s))
    assert np.array_equal(got["last_step_decode"], spec.last_step_decode(s))
    assert np.array_equal(got["spike_count_decode"], spec.spike_count_decode(s))


def test_spatiotemporal_decoder_on_random_spike_trains():
    rng = np.random.default_rng(7)
    w, b = dyadic(rng, (3, 5 * 4)), dyadic(rng, (3,))
    spikes = random_spikes(rng, (5, 100, 4), 0.4)

    def build(g, s):
        return g.add_op("snn.dense", [g.add_op("snn.time_flatten", [s])], {"weight": w, "bias": b}, name="out")

    got = ReferenceExecutor(spike_graph((4,), 5, build)).run(spikes).outputs["out"]
    assert np.array_equal(got, spec.dense(spec.time_flatten(spikes.astype(F32)), w, b))
