"""The fold-pool pass: an average pool merged into the conv or dense synapse after it computes the same
spikes (bit for bit on dyadic weights), pools it cannot express are left alone (and YOSO names them), and a
CNN of the paper's shape compiles to YOSO and simulates bit-exact with the integer reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from snnc import run
from snnc.backends.yoso import compile_yoso
from snnc.backends.yoso.drivers.simulate import simulate_deployment
from snnc.backends.yoso.hardware import load_hardware, with_overrides
from snnc.errors import DesignRuleError
from snnc.ir import Graph, Value, ValueType
from snnc.passes import PassManager, get_pass

HW = with_overrides(load_hardware(), pe={"neurons": 32, "weights": 4096})


def dyadic(rng: np.random.Generator, shape: tuple[int, ...], lo: int = -12, hi: int = 25) -> np.ndarray:
    return (rng.integers(lo, hi, shape) / 64).astype(np.float32)


def pooled_cnn(size: int = 12, *, pool: tuple[int, int] = (2, 2), conv_pads: tuple[int, ...] = (1, 1, 1, 1),
               dilation: int = 1, seed: int = 0, time_steps: int = 12, neuron: str = "relpsp") -> Graph:
    """encode -> conv3 -> h1 -> avgpool -> conv3 -> h2 -> avgpool -> flatten -> dense -> out, every neuron op
    ``snn.relpsp`` (TTFS input) or ``snn.if`` (rate-coded input).

    ``pool`` is (kernel, stride); weights are multiples of 1/64, so every float sum is exact.
    """
    rng = np.random.default_rng(seed)
    g = Graph("pooled", time_steps=time_steps)
    x = g.add_input("x", ValueType.tensor(1, size, size))
    if neuron == "if":
        s = g.add_op("snn.rate_encode", [x], {"time_steps": time_steps, "threshold": 0.5}, name="s")
    else:
        s = g.add_op("snn.ttfs_encode", [x], {"time_steps": time_steps, "window": time_steps // 2}, name="s")

    def fire(current: Value, threshold: float, name: str) -> Value:
        if neuron == "if":
            theta = np.array(threshold, np.float32)
            return g.add_op("snn.if", [current], {"threshold": theta, "reset": "subtract"}, name=name)
        return g.add_op("snn.relpsp", [current], {"threshold": threshold}, name=name)

    c1 = g.add_op("snn.conv2d", [s], {"weight": dyadic(rng, (3, 1, 3, 3), 0, 40), "strides": [1, 1],
                                      "pads": [1, 1, 1, 1], "dilations": [1, 1], "group": 1}, name="c1")
    h1 = fire(c1, 1.0, "h1")
    window = {"kernel": [pool[0]] * 2, "strides": [pool[1]] * 2, "pads": [0, 0, 0, 0], "count_include_pad": 0}
    p1 = g.add_op("snn.avgpool2d", [h1], window, name="p1")
    c2 = g.add_op("snn.conv2d", [p1], {"weight": dyadic(rng, (4, 3, 3, 3), -8, 33), "strides": [1, 1],
                                       "pads": list(conv_pads), "dilations": [dilation] * 2, "group": 1}, name="c2")
    h2 = fire(c2, 1.0, "h2")
    p2 = g.add_op("snn.avgpool2d", [h2], window, name="p2")
    f = g.add_op("snn.flatten", [p2], name="f")
    d = g.add_op("snn.dense", [f], {"weight": dyadic(rng, (5, f.type.size), -16, 33)}, name="d")
    o = fire(d, 0.5, "out")
    decoder = "snn.spike_count_decode" if neuron == "if" else "snn.first_spike_decode"
    g.set_outputs([g.add_op(decoder, [o], name="scores")])
    g.verify()
    return g


def fold(graph: Graph) -> Graph:
    return PassManager([get_pass("canonicalize"), get_pass("fold-pool"), get_pass("dce")]).run(graph).graph


def images(n: int, size: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n, 1, size, size)) * (rng.random((n, 1, size, size)) < 0.7)).astype(np.float32)


@pytest.mark.parametrize(("size", "pads", "side2", "pooled2"), [
    (12, (1, 1, 1, 1), 6, 3),   # pooled 6 x 6, conv keeps 6, pooled 3
    (13, (1, 1, 0, 0), 5, 2),   # the pools drop the last row and column; the conv pads top/left only
], ids=["even", "odd-rows-dropped"])
@pytest.mark.parametrize("neuron", ["relpsp", "if"])
def test_folded_graph_makes_the_same_spikes_bit_for_bit(size: int, pads: tuple[int, ...], side2: int,
                                                       pooled2: int, neuron: str) -> None:
    graph = pooled_cnn(size, conv_pads=pads, neuron=neuron)
    folded = fold(graph)
    assert [op.opname for op in folded.ops][1:-1] == ["snn.conv2d", f"snn.{neuron}", "snn.conv2d", f"snn.{neuron}",
                                                      "snn.flatten", "snn.dense", f"snn.{neuron}"]
    c2, f, d = (folded.value(n) for n in ("c2", "f", "d"))
    conv, dense = folded.producer(c2), folded.producer(d)
    assert conv.operands[0] is folded.value("h1") and conv.meta["folded_pool"] == [2, 2]
    assert conv.attrs["weight"].shape == (4, 3, 6, 6) and conv.attrs["strides"] == [2, 2]
    assert conv.attrs["pads"] == [2 * p for p in pads]
    assert folded.producer(f).operands[0] is folded.value("h2") and f.type == ValueType.spikes(4 * side2 * side2)
    assert dense.attrs["weight"].shape == (5, 4 * side2 * side2)
    # every pooled weight is spread over its window (/4), and the dropped row/column get none
    w, w2 = graph.producer(graph.value("d")).attrs["weight"], dense.attrs["weight"].reshape(5, 4, side2, side2)
    assert np.array_equal(w2[:, :, : 2 * pooled2, : 2 * pooled2][:, :, ::2, ::2].reshape(5, -1), w / 4)
    assert not w2[:, :, 2 * pooled2:, :].any() and not w2[:, :, :, 2 * pooled2:].any()

    x = images(8, size)
    before, after = run(graph, x, record=True), run(folded, x, record=True)
    for name in ("h1", "h2", "out"):
        assert np.array_equal(before.spikes[name], after.spikes[name]), name
        assert after.spike_counts[name].sum() > 0, name
    assert np.array_equal(before.scores, after.scores)
    assert set(after.spike_counts) == set(before.spike_counts)  # the new flatten of spikes is not counted twice


@pytest.mark.parametrize(("options", "why"), [
    ({"pool": (3, 2)}, "overlapping windows"),
    ({"dilation": 2}, "a dilated kernel"),
    ({"size": 13, "conv_pads": (1, 1, 1, 1)}, "bottom padding over the dropped row"),
])
def test_pools_it_cannot_express_are_left_for_the_design_rules(options: dict, why: str, tmp_path: Path) -> None:
    graph = pooled_cnn(**options)
    folded = fold(graph)
    assert folded.producer(folded.value("c2")).operands[0] is folded.value("p1"), why
    with pytest.raises(DesignRuleError, match=r"reads %p1 = snn.avgpool2d") as err:
        compile_yoso(graph, tmp_path / "dep", hw_path=HW)
    assert "fold-pool" in err.value.hint
    assert not (tmp_path / "dep").exists()


def test_folded_weights_quantize_to_the_original_integers() -> None:
    graph = pooled_cnn(12)
    quantize = get_pass("quantize", hw=HW)
    plain = PassManager([quantize]).run(graph).graph
    folded = PassManager([get_pass("fold-pool"), quantize]).run(graph).graph
    w = plain.producer(plain.value("c2")).attrs["weight"]
    w_folded = folded.producer(folded.value("c2")).attrs["weight"]
    assert np.array_equal(np.repeat(np.repeat(w, 2, axis=2), 2, axis=3), w_folded)


@pytest.mark.parametrize("neuron", ["relpsp", "if"])
def test_a_pooled_cnn_compiles_to_yoso_and_simulates_bit_exact(tmp_path: Path, neuron: str) -> None:
    graph = pooled_cnn(12, neuron=neuron)
    compiled = compile_yoso(graph, tmp_path / "dep", hw_path=HW)
    manifest = json.loads((tmp_path / "dep" / "manifest.json").read_text())
    assert manifest["passes"][:3] == ["canonicalize", "fold-pool", "dce"]
    assert "snn.avgpool2d" not in [op.opname for op in compiled.graph.ops]
    x = images(3, 12, seed=5)
    reference = run(compiled.graph, x, record=True)
    sim = simulate_deployment(tmp_path / "dep", x, record=True)
    assert all(reference.spike_counts[name].sum() > 0 for name in ("h1", "h2", "out"))
    for name, train in reference.spikes.items():
        assert np.array_equal(train, sim.spikes[name]), name
    assert np.array_equal(reference.scores, sim.scores)
    assert set(sim.mean_spikes()) == set(reference.spike_counts)


def test_a_pooled_cnn_too_big_for_the_mesh_fails_before_the_spike_statistics(tmp_path: Path) -> None:
    small = with_overrides(HW, mesh={"cols": 2, "rows": 2})
    not_images = np.zeros((2, 3), np.float32)  # the statistics would fail on these: they must not run
    with pytest.raises(DesignRuleError, match=r"needs \d+ PEs but the mesh has 2 x 2"):
        compile_yoso(pooled_cnn(12), tmp_path / "dep", hw_path=small, sample_x=not_images)


def test_the_shipped_cnn_runs_on_the_12x13_example_chip_bit_exact(tmp_path: Path) -> None:
    """The paper's CNN as trained (models/stdbp-mnist-cnn.onnx) on examples/yoso-12x13.toml: 152 PEs, and the
    simulated chip equals the integer reference on two images."""
    from snnc import load_model

    root = Path(__file__).resolve().parent.parent
    compiled = compile_yoso(load_model(root / "models" / "stdbp-mnist-cnn.onnx"), tmp_path / "dep",
                            hw_path=root / "examples" / "yoso-12x13.toml")
    assert compiled.graph.metadata["yoso.pes"] == "152"
    rng = np.random.default_rng(0)
    x = (rng.random((2, 1, 28, 28)) * (rng.random((2, 1, 28, 28)) < 0.25)).astype(np.float32)
    reference = run(compiled.graph, x, record=True)
    sim = simulate_deployment(tmp_path / "dep", x, record=True)
    for name, train in reference.spikes.items():
        assert np.array_equal(train, sim.spikes[name]), name
    assert np.array_equal(reference.scores, sim.scores)


def test_a_flatten_read_twice_or_integer_weights_are_not_folded() -> None:
    graph = pooled_cnn(12)
    f = graph.value("f")
    rng = np.random.default_rng(3)
    second = graph.add_op("snn.dense", [f], {"weight": dyadic(rng, (2, f.type.size))}, name="d2")
    graph.set_outputs([*graph.outputs, graph.add_op("snn.relpsp", [second], {"threshold": 1.0}, name="o2")])
    folded = fold(graph)
    assert folded.producer(folded.value("f")).operands[0] is folded.value("p2")  # the flatten feeds two denses
    assert folded.producer(folded.value("c2")).operands[0] is folded.value("h1")  # the conv still folds
    quantized_first = PassManager([get_pass("quantize", hw=HW), get_pass("fold-pool")]).run(pooled_cnn(12)).graph
    assert quantized_first.producer(quantized_first.value("c2")).operands[0] is quantized_first.value("p1")
