"""Partition: PE counts against the formula, balanced slices, every weight in exactly one PE image,
and one clear design-rule error per rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snnc.backends.yoso import compile_yoso, load_deployment
from snnc.backends.yoso.hardware import load_hardware, with_overrides
from snnc.backends.yoso.layers import find_network
from snnc.backends.yoso.partition import balanced_slices, formula_pes, pe_count, plan_network, utilisation_table
from snnc.errors import DesignRuleError
from snnc.ir import Graph, ValueType
from snnc.tests.yoso_models import ttfs_mlp

HW = load_hardware()


def small_hw(neurons: int = 4, weights: int = 40, cols: int = 4, rows: int = 4, **more: dict) -> object:
    return with_overrides(HW, pe={"neurons": neurons, "weights": weights}, mesh={"cols": cols, "rows": rows},
                          **{"sram.weight": {"words": max(weights, 64)}}, **more)


def dense_layer(m: int, n: int):  # noqa: ANN201
    g = Graph("d", time_steps=4)
    x = g.add_input("x", ValueType.tensor(m))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 4, "window": 4})
    h = g.add_op("snn.relpsp", [g.add_op("snn.dense", [s], {"weight": np.zeros((n, m), np.float32)})],
                 {"threshold": 1.0})
    g.set_outputs([g.add_op("snn.first_spike_decode", [h])])
    return find_network(g).layers[0]


# (m, n, N, W, expected PEs): exact multiples and off-by-one on both bounds
FORMULA_CASES = [
    (4, 8, 4, 16, 2),         # both bounds exactly 2
    (4, 8, 4, 17, 2),
    (4, 8, 4, 15, 3),         # one weight short: ceil(32/15) = 3
    (4, 9, 3, 100, 3),        # n an exact multiple of N
    (4, 10, 3, 100, 4),       # one neuron more
    (10, 256, 256, 2560, 1),  # exactly one PE full on both counts
    (10, 257, 256, 5000, 2),  # one neuron over N
    (10, 256, 256, 2559, 2),  # one weight over W
    (5, 7, 10, 35, 1),
    (5, 7, 10, 34, 2),
    (784, 800, 256, 17408, 37),   # the paper's layer 1 on the shipped chip
    (800, 10, 256, 17408, 1),     # its layer 2
    (784, 800, 256, 627200, 4),   # weights all fit one PE: the neuron bound rules
    (784, 800, 256, 627199, 4),
    (1, 1, 1, 1, 1),
]


@pytest.mark.parametrize(("m", "n", "neurons", "weights", "expected"), FORMULA_CASES)
def test_pe_count_matches_the_formula(m: int, n: int, neurons: int, weights: int, expected: int) -> None:
    assert formula_pes(m, n, neurons, weights) == expected
    assert pe_count(dense_layer(m, n), neurons, weights) == (expected, expected)


@pytest.mark.parametrize(("m", "n", "neurons", "weights", "formula", "needed"), [
    (784, 800, 256, 16384, 39, 40),  # 21 neurons x 784 > 16384: whole-neuron slices need one more PE
    (3, 5, 10, 8, 2, 3),             # slices 3 + 2: 9 weights > 8
])
def test_whole_neuron_slices_can_need_more_than_the_formula(m: int, n: int, neurons: int, weights: int,
                                                            formula: int, needed: int) -> None:
    assert pe_count(dense_layer(m, n), neurons, weights) == (needed, formula)
    assert max(hi - lo for lo, hi in balanced_slices(n, needed)) * m <= weights


@pytest.mark.parametrize(("n", "count"), [(800, 37), (10, 1), (10, 3), (7, 7), (256, 4)])
def test_slices_are_contiguous_and_balanced(n: int, count: int) -> None:
    slices = balanced_slices(n, count)
    assert slices[0][0] == 0 and slices[-1][1] == n and len(slices) == count
    assert all(a[1] == b[0] for a, b in zip(slices, slices[1:], strict=False))
    sizes = [hi - lo for lo, hi in slices]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_every_dense_weight_is_in_exactly_one_pe_image_and_none_is_invented(tmp_path: Path) -> None:
    g = ttfs_mlp((12, 10, 3), time_steps=8, seed=4, bias=True)
    hw = small_hw(neurons=4, weights=40)
    result = compile_yoso(g, tmp_path / "dep", hw_path=hw, placer="snake")
    dep = load_deployment(tmp_path / "dep")
    seen = {name: np.zeros(op.attrs["weight"].shape, int) for name, op in
            ((op.result.name, op) for op in result.graph.ops if op.opname == "snn.dense")}
    layers = {layer["name"]: layer for layer in dep.program["layers"]}
    dense_of = {"h1": "fc1", "out": "fc2"}
    for pe in dep.pes:
        cfg, words = pe.config, pe.srams["weight"]
        wq = next(op for op in result.graph.ops if op.result.name == dense_of[cfg["layer_name"]]).attrs["weight"]
        lo, hi = cfg["neurons"]
        n_local, m = hi - lo, layers[cfg["layer_name"]]["m"]
        assert cfg["weights"] == n_local * m <= hw.pe.weights
        block = words[:n_local * m].reshape(m, n_local)      # input-major: word i * n_local + j
        np.testing.assert_array_equal(block.T, wq[lo:hi])
        assert not words[n_local * m:].any()                  # nothing invented past the block
        seen[dense_of[cfg["layer_name"]]][lo:hi] += 1
        assert words.dtype == np.int8 and len(words) == hw.sram["weight"].words
    assert all(np.all(c == 1) for c in seen.values())
    # 10 neurons, N = 4, W = 40: formula 3, but 4 x 12 > 40, so whole-neuron slices of <= 3 need 4 PEs; 3 outputs: 1
    assert len(dep.pes) == 4 + 1


def conv_graph(c_out: int = 4, seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    g = Graph("conv", time_steps=6)
    x = g.add_input("x", ValueType.tensor(2, 6, 6))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 6, "window": 6}, name="s")
    c = g.add_op("snn.conv2d", [s], {"weight": rng.normal(0, 0.3, (c_out, 2, 3, 3)).astype(np.float32),
                                     "strides": [1, 1], "pads": [1, 1, 1, 1], "dilations": [1, 1], "group": 1},
                 name="conv")
    h = g.add_op("snn.if", [c], {"threshold": np.full((c_out, 1, 1), 0.5, np.float32), "reset": "subtract"},
                 name="h")
    f = g.add_op("snn.flatten", [h], name="f")
    o = g.add_op("snn.relpsp", [g.add_op("snn.dense", [f], {"weight": rng.normal(0, 0.1, (3, c_out * 36))
                                                               .astype(np.float32)}, name="fc")],
                 {"threshold": 1.0}, name="out")
    g.set_outputs([g.add_op("snn.first_spike_decode", [o], name="y")])
    g.verify()
    return g


def test_conv_pes_hold_the_kernels_of_the_channels_their_neurons_touch(tmp_path: Path) -> None:
    hw = small_hw(neurons=16, weights=160, cols=6, rows=6, **{"sram.potential": {"words": 16},
                                                           "sram.acc_weight": {"words": 16}})
    result = compile_yoso(conv_graph(), tmp_path / "dep", hw_path=hw, placer="row-major")
    dep = load_deployment(tmp_path / "dep")
    wq = next(op for op in result.graph.ops if op.opname == "snn.conv2d").attrs["weight"]
    owner = np.zeros(4 * 36, int)
    for pe in (p for p in dep.pes if p.config["synapse"] == "conv2d"):
        cfg = pe.config
        lo, hi = cfg["neurons"]
        c0, c1 = cfg["channels"]
        assert (c0, c1) == (lo // 36, (hi - 1) // 36 + 1)
        assert cfg["weights"] == (c1 - c0) * 18 <= 160
        np.testing.assert_array_equal(pe.srams["weight"][:cfg["weights"]], wq[c0:c1].reshape(-1))
        assert not pe.srams["weight"][cfg["weights"]:].any()
        assert len(cfg["threshold"]) == hi - lo
        owner[lo:hi] += 1
    assert np.all(owner == 1)  # every conv neuron (and so each of its synapses) in exactly one PE
    # 144 neurons, N = 16: 9 PEs by the formula; slices of 16 touch at most 2 channels (36 weights)
    layer = find_network(result.graph).layers[0]
    assert pe_count(layer, 16, 160) == (9, 9)


def test_conv_slices_that_touch_too_many_kernels_get_more_pes() -> None:
    layer = find_network(conv_graph()).layers[0]
    # W = 18 holds one kernel: formula max(ceil(144/16), ceil(4*18/18)) = 9, but slices must stay in one channel
    count, formula = pe_count(layer, 16, 18)
    assert formula == 9 and count > formula


def test_utilisation_table_lists_every_pe_with_its_capacities() -> None:
    hw = small_hw()
    g = ttfs_mlp((12, 10, 3), time_steps=8)
    plans = plan_network(find_network(g), hw)
    text = utilisation_table(plans, hw)
    lines = text.splitlines()
    assert "N use" in lines[0] and "W use" in lines[0] and "spike-addr" in lines[0]
    pe_lines = [line for line in lines if line.strip()[:1].isdigit()]
    assert len(pe_lines) == 5
    assert "3/4" in pe_lines[0] and "36/40" in pe_lines[0] and "24/40" in pe_lines[3]  # slices 3, 3, 2, 2 x 12
    assert "30/40" in pe_lines[4] and "total: 5 PEs of 16 (4 x 4)" in text
    assert "(formula 3: whole-neuron slices need 4)" in text


# ------------------------------------------------------------------------------ design-rule errors
def test_fan_in_larger_than_w_names_the_layer_the_limit_and_the_excess(tmp_path: Path) -> None:
    with pytest.raises(DesignRuleError) as err:
        compile_yoso(ttfs_mlp((50, 4, 3), time_steps=8), tmp_path / "d", hw_path=small_hw(weights=40))
    text = err.value.format()
    assert "layer 0 (%h1, dense): one neuron needs 50 weights (its fan-in), more than a PE holds (W = 40) by 10" \
        in text
    assert "raise [pe] weights" in text and not (tmp_path / "d").exists()


def test_more_pes_than_the_mesh_says_how_many_and_what_to_change(tmp_path: Path) -> None:
    with pytest.raises(DesignRuleError) as err:
        compile_yoso(ttfs_mlp(), tmp_path / "d", hw_path=with_overrides(HW, mesh={"cols": 3, "rows": 3}))
    text = err.value.format()
    assert "the model needs 38 PEs but the mesh has 3 x 3 = 9, 29 too few" in text
    assert "%h1 37" in text and "at least 6 x 7" in text and "larger W" in text


def test_accumulated_weight_that_could_overflow_is_a_design_rule_error(tmp_path: Path) -> None:
    hw = with_overrides(HW, **{"sram.acc_weight": {"bits": 10}})
    g = ttfs_mlp((20, 2, 2), time_steps=8, sigma=1.0)
    with pytest.raises(DesignRuleError) as err:
        compile_yoso(g, tmp_path / "d", hw_path=hw)
    assert "the accumulated weight (slope K) can reach" in err.value.format()
    assert "10-bit accumulated-weight word (max 511)" in err.value.format()


def test_time_steps_beyond_the_packet_step_field_is_a_design_rule_error(tmp_path: Path) -> None:
    with pytest.raises(DesignRuleError, match=r"T = 300 steps but the packet's step field has 8 bits"):
        compile_yoso(ttfs_mlp((6, 4, 2), time_steps=300), tmp_path / "d", hw_path=small_hw())


def test_a_neuron_not_fed_by_a_synapse_is_a_design_rule_error(tmp_path: Path) -> None:
    g = Graph("raw", time_steps=4)
    x = g.add_input("i", ValueType.current(5))
    h = g.add_op("snn.relpsp", [x], {"threshold": 1.0}, name="h")
    g.set_outputs([g.add_op("snn.first_spike_decode", [h])])
    with pytest.raises(DesignRuleError, match="the neuron op is fed by a graph input"):
        compile_yoso(g, tmp_path / "d", hw_path=small_hw())


def test_a_region_too_small_for_the_pes_is_a_design_rule_error(tmp_path: Path) -> None:
    with pytest.raises(DesignRuleError, match=r"the model needs 5 PEs but the region 3 x 1 holds 3, 2 too few"):
        compile_yoso(ttfs_mlp((12, 10, 3), time_steps=8), tmp_path / "d", hw_path=small_hw(), mesh="3x1")
