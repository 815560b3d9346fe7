"""Leaky neurons on YOSO (issue 14, item 3): the hardware's leak option, the design rule of a chip without it,
snn.lif / snn.cuba_lif on the PEs bit for bit with the integer reference (both roundings, both resets, both reset
orders), snn.li readouts on the host, the cost of the per-step decay sweep in the reports, and what is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snnc.backends import get_backend
from snnc.backends.yoso import compile_yoso, load_deployment
from snnc.backends.yoso.drivers.simulate import simulate_deployment
from snnc.backends.yoso.hardware import load_hardware, with_overrides
from snnc.backends.yoso.sim.chip import Chip
from snnc.backends.yoso.sim.energy import CATEGORIES, LEAK_CATEGORY, categories
from snnc.errors import DesignRuleError
from snnc.ir import Graph, ValueType

ROOT = Path(__file__).resolve().parent.parent
LEAKY_HW = ROOT / "examples" / "yoso-leaky-6x7.toml"
#: the example chip with small PEs, so that the layers spread over several PEs and the network multicasts
SMALL = with_overrides(load_hardware(LEAKY_HW), pe={"neurons": 4, "weights": 160})


def _dyadic(rng: np.random.Generator, shape: tuple[int, ...], lo: int = -24, hi: int = 40) -> np.ndarray:
    """Multiples of 1/64 (exact float32 sums), mostly positive so that the neurons fire."""
    return (rng.integers(lo, hi, shape) / 64).astype(np.float32)


def leaky_mlp(neuron: str = "snn.lif", *, readout: str = "li", reset: str = "subtract", delayed: int = 0,
              encoder: str = "rate", sizes: tuple[int, int, int] = (12, 10, 4), time_steps: int = 10, seed: int = 0,
              bias: bool = True) -> Graph:
    """encoder -> dense(+bias) -> leaky neuron -> dense -> readout: ``li`` (snn.li + max-over-time decoder, on the host)
    or ``spikes`` (a spiking leaky output layer + spike-count decoder)."""
    rng = np.random.default_rng(seed)
    n_in, n_hid, n_out = sizes
    g = Graph(f"leaky_{neuron.removeprefix('snn.')}", time_steps=time_steps)
    x = g.add_input("x", ValueType.tensor(n_in))
    if encoder == "rate":
        s = g.add_op("snn.rate_encode", [x], {"time_steps": time_steps, "threshold": 0.5}, name="s0")
    else:
        s = g.add_op("snn.ttfs_encode", [x], {"time_steps": time_steps, "window": time_steps}, name="s0")

    def leaky(current, n: int, name: str):  # noqa: ANN001, ANN202
        attrs = {"threshold": np.full(n, 0.75, np.float32), "reset": reset, "delayed_reset": delayed,
                 "beta": (rng.integers(8, 17, n) / 16).astype(np.float32)}
        if neuron == "snn.cuba_lif":
            attrs["alpha"] = (rng.integers(4, 17, n) / 16).astype(np.float32)
        return g.add_op(neuron, [current], attrs, name=name)

    attrs = {"weight": _dyadic(rng, (n_hid, n_in))}
    if bias:
        attrs["bias"] = _dyadic(rng, (n_hid,), -8, 8)
    h = leaky(g.add_op("snn.dense", [s], attrs, name="fc1"), n_hid, "h1")
    c2 = g.add_op("snn.dense", [h], {"weight": _dyadic(rng, (n_out, n_hid))}, name="fc2")
    if readout == "li":
        o = g.add_op("snn.li", [c2], {"beta": np.full(n_out, 0.875, np.float32)}, name="o")
        y = g.add_op("snn.max_over_time_decode", [o], name="scores")
    else:
        o = leaky(c2, n_out, "o")
        y = g.add_op("snn.spike_count_decode", [o], name="scores")
    g.set_outputs([y])
    g.verify()
    return g


def inputs(n: int, features: int = 12, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).random((n, features)).astype(np.float32)


def check_bit_exact(graph: Graph, out: Path, hw, x: np.ndarray):  # noqa: ANN001, ANN201
    """Compile, simulate, and compare with the integer reference on the compiled graph: every spike train the
    reference records (PE layers and host values) and the scores, bit for bit."""
    compiled = compile_yoso(graph, out, hw_path=hw)
    ref = get_backend("reference").run(compiled.graph, x, record=True)
    sim = simulate_deployment(out, x, record=True)
    assert set(ref.spikes) <= set(sim.spikes)
    for name, train in ref.spikes.items():
        assert np.array_equal(train, sim.spikes[name]), f"spike train %{name} differs"
    assert sim.scores.dtype == np.float32 and np.array_equal(ref.scores, sim.scores)
    assert np.array_equal(ref.predictions, sim.predictions)
    return compiled, ref, sim


# ------------------------------------------------------------------------------------------ bit-exact
@pytest.mark.parametrize("rounding", ["nearest", "floor"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("delayed", [0, 1])
def test_lif_mlp_with_an_li_readout_equals_the_integer_reference(tmp_path: Path, rounding: str, reset: str,
                                                                 delayed: int) -> None:
    hw = with_overrides(SMALL, leak={"rounding": rounding})
    graph = leaky_mlp("snn.lif", readout="li", reset=reset, delayed=delayed, seed=3)
    compiled, ref, sim = check_bit_exact(graph, tmp_path / "dep", hw, inputs(4))
    assert int(sim.spikes["h1"].sum()) > 0  # the hidden layer fires: the check has something to compare
    layers = load_deployment(tmp_path / "dep").program["layers"]
    assert [ly["name"] for ly in layers] == ["h1"] and layers[0]["to_host"]  # the readout runs on the host
    q = next(op for op in compiled.graph.ops if op.result.name == "h1").meta["quant"]
    assert q["leak_rounding"] == rounding and q["beta_frac_bits"] == hw.leak.beta_frac_bits
    assert "beta_q" in q and "beta_float" in q


@pytest.mark.parametrize("neuron", ["snn.lif", "snn.cuba_lif"])
@pytest.mark.parametrize("encoder", ["rate", "ttfs"])
def test_spiking_leaky_output_layers_equal_the_integer_reference(tmp_path: Path, neuron: str, encoder: str) -> None:
    graph = leaky_mlp(neuron, readout="spikes", encoder=encoder, seed=5)
    _, _, sim = check_bit_exact(graph, tmp_path / "dep", SMALL, inputs(4, seed=2))
    assert int(sim.spikes["h1"].sum()) > 0 and int(sim.spikes["o"].sum()) > 0


@pytest.mark.parametrize("rounding", ["nearest", "floor"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_cuba_lif_with_its_persisting_current_equals_the_integer_reference(tmp_path: Path, rounding: str,
                                                                           reset: str) -> None:
    hw = with_overrides(SMALL, leak={"rounding": rounding})
    graph = leaky_mlp("snn.cuba_lif", readout="li", reset=reset, delayed=1 if reset == "zero" else 0, seed=8)
    check_bit_exact(graph, tmp_path / "dep", hw, inputs(3, seed=4))


def test_a_leaky_mlp_on_the_example_chip_as_shipped(tmp_path: Path) -> None:
    """examples/yoso-leaky-6x7.toml itself (N = 256): one PE per layer, bit-exact, TTFS input."""
    graph = leaky_mlp("snn.lif", readout="li", encoder="ttfs", sizes=(64, 40, 10), time_steps=12, seed=4)
    compiled, _, sim = check_bit_exact(graph, tmp_path / "dep", LEAKY_HW, inputs(3, features=64))
    assert compiled.graph.metadata["yoso.pes"] in (1, "1")
    assert int(sim.spikes["h1"].sum()) > 0


# ------------------------------------------------------------------------------------------ invariants
@pytest.mark.parametrize("recurrent", [False, True])
def test_conservation_and_no_deadlock_on_a_leaky_deployment(tmp_path: Path, recurrent: bool) -> None:
    """Every spike packet reaches its destinations once (the chip checks conservation after each image and
    raises on a deadlock); spike packets = spikes of every key with destinations, end-of-step packets = T per key
    that reaches a PE updating at the end of a step (the leaky layers), hops = packets x their tree's links."""
    graph = leaky_mlp("snn.lif", readout="spikes", seed=5)
    if recurrent:  # the hidden layer's PEs also send to themselves: a key whose tree starts at a destination
        next(op for op in graph.ops if op.result.name == "h1").attrs["recurrent_weight"] = \
            _dyadic(np.random.default_rng(1), (10, 10), -32, 24)
        graph.verify()
    compile_yoso(graph, tmp_path / "dep", hw_path=SMALL)
    dep = load_deployment(tmp_path / "dep")
    x = inputs(3, seed=6)
    sim = simulate_deployment(tmp_path / "dep", x, record=True)
    T = dep.program["time_steps"]
    step_end = {k for ly in dep.program["layers"] for k in ly["pes"]}  # every layer is leaky: all PEs wait for EOS
    for b, rec in enumerate(sim.images):
        spikes = eos = hops = 0
        for key in dep.routing["keys"]:
            lo, hi = key["neurons"]
            n = int(sim.spikes[key["value"]][:, b].reshape(T, -1)[:, lo:hi].sum())
            sends_eos = bool(step_end & set(key["dests"]))
            spikes += n
            eos += T * sends_eos
            hops += (n + T * sends_eos) * key["links"]
        assert rec.packets["spike"] == spikes and rec.packets["end_of_step"] == eos
        assert rec.hops == hops and rec.events["injection"] == spikes + eos
        assert sum(rec.step_cycles) == rec.cycles and len(rec.step_cycles) == T
    chip = Chip(dep)  # and once more by hand: the network is empty and balanced after an image
    env = chip.host.encode(x[:1])
    run = chip.run_image(chip.input_spikes(env, 0))
    chip.noc.check_conservation()
    assert run.step_end == sorted(run.step_end)


# ------------------------------------------------------------------------------------------ cost of the leak
def test_the_sweep_costs_every_step_and_scales_with_the_neurons(tmp_path: Path) -> None:
    """The sweep decays every neuron of a leaky layer every step, input or not: with zero input (no spike at all)
    it still costs T x n decays, n x T x sweep cycles and their energy; twice the neurons, twice the sweep."""
    leak = load_hardware(LEAKY_HW).leak
    assert leak is not None
    out = {}
    for n_hid in (8, 16):
        graph = leaky_mlp("snn.lif", readout="li", sizes=(12, n_hid, 4), time_steps=6, seed=1, bias=False)
        compile_yoso(graph, tmp_path / f"d{n_hid}", hw_path=SMALL)
        sim = simulate_deployment(tmp_path / f"d{n_hid}", np.zeros((1, 12), np.float32))
        rec = sim.images[0]
        assert rec.spikes.get("h1", 0) == 0
        assert rec.leak_sweep is not None
        assert rec.leak_sweep["decays"] == 6 * n_hid
        assert rec.leak_sweep["cycles"] == 6 * n_hid * leak.sweep_cycles_per_neuron
        assert rec.leak_sweep["pe_cycles_max"] == 6 * 4 * leak.sweep_cycles_per_neuron  # 4 neurons per PE
        assert rec.energy_pj[LEAK_CATEGORY] == pytest.approx(6 * n_hid * leak.multiply_pj)
        assert list(rec.energy_pj) == list(categories(True))
        out[n_hid] = rec
        report = (tmp_path / f"d{n_hid}" / "report.txt").read_text()
        assert "leak sweep" in report and f"%h1 snn.lif: {n_hid} neurons x 1 word(s) x T = 6" in report
        assert "%o = snn.li" in report  # the host readout is listed
        assert "leak sweep" in sim.format()
    assert out[16].energy_pj[LEAK_CATEGORY] == pytest.approx(2 * out[8].energy_pj[LEAK_CATEGORY])


def test_the_sweep_adds_its_cycles_to_the_latency(tmp_path: Path) -> None:
    """More sweep cycles per neuron: the same spikes, a longer latency (each step waits for the leaky update)."""
    graph = leaky_mlp("snn.lif", readout="spikes", seed=5)
    x = inputs(1, seed=2)
    runs = []
    for cycles in (1, 5):
        hw = with_overrides(SMALL, leak={"sweep_cycles_per_neuron": cycles})
        compile_yoso(graph, tmp_path / f"c{cycles}", hw_path=hw)
        runs.append(simulate_deployment(tmp_path / f"c{cycles}", x, record=True))
    assert all(np.array_equal(runs[0].spikes[k], runs[1].spikes[k]) for k in runs[0].spikes)
    assert runs[1].images[0].cycles > runs[0].images[0].cycles
    assert runs[1].images[0].leak_sweep["cycles"] == 5 * runs[0].images[0].leak_sweep["cycles"]


def test_a_chip_without_the_leak_option_keeps_its_energy_categories(tmp_path: Path) -> None:
    graph = leaky_mlp("snn.lif", readout="li")
    assert categories(False) == CATEGORIES and LEAK_CATEGORY not in CATEGORIES
    hw = with_overrides(SMALL, leak=None)
    with pytest.raises(DesignRuleError):
        compile_yoso(graph, tmp_path / "dep", hw_path=hw)


# ------------------------------------------------------------------------------------------ design rules
def test_a_leaky_layer_on_the_shipped_chip_is_one_clear_error(tmp_path: Path) -> None:
    """The shipped 6 x 7 chip is the paper's (no leak): the error names the layer and points at the example file."""
    graph = leaky_mlp("snn.lif", readout="li")
    with pytest.raises(DesignRuleError) as err:
        compile_yoso(graph, tmp_path / "dep")
    text = err.value.format()
    assert "%h1 = snn.lif" in text and "no leak option" in text and "examples/yoso-leaky-6x7.toml" in text
    assert not (tmp_path / "dep").exists()


def test_cuba_lif_needs_one_fraction_width(tmp_path: Path) -> None:
    hw = with_overrides(SMALL, leak={"alpha_frac_bits": 6})
    with pytest.raises(DesignRuleError, match="alpha_frac_bits"):
        compile_yoso(leaky_mlp("snn.cuba_lif"), tmp_path / "dep", hw_path=hw)
    compile_yoso(leaky_mlp("snn.lif"), tmp_path / "lif", hw_path=hw)  # a LIF has no alpha: fine


@pytest.mark.parametrize("neuron", ["snn.lif", "snn.cuba_lif", "snn.if"])
@pytest.mark.parametrize("readout", ["li", "spikes"])
def test_a_recurrent_layer_equals_the_integer_reference(tmp_path: Path, neuron: str, readout: str) -> None:
    """A recurrent hidden layer: its PEs are destinations of their own spikes, the recurrent weights sit in the weight
    SRAM after the input weights, and the spikes of step t - 1 count at step t, bit for bit with the reference."""
    graph = leaky_mlp("snn.lif" if neuron == "snn.if" else neuron, readout=readout, seed=11)
    h1 = next(op for op in graph.ops if op.result.name == "h1")
    if neuron == "snn.if":  # the same layer as an IF neuron (no leak)
        h1.opname = "snn.if"
        h1.attrs = {"threshold": h1.attrs["threshold"], "reset": "subtract"}
    rng = np.random.default_rng(2)
    h1.attrs["recurrent_weight"] = _dyadic(rng, (10, 10), -32, 24)
    graph.verify()
    compiled, _, sim = check_bit_exact(graph, tmp_path / "dep", SMALL, inputs(4, seed=9))
    assert int(sim.spikes["h1"].sum()) > 0
    dep = load_deployment(tmp_path / "dep")
    layer = dep.program["layers"][0]
    assert layer["m"] == 12 + 10 and layer["inputs"] == 12 + 10 and 0 in layer["consumers"]
    own = {k["key"] for k in dep.routing["keys"] if k["value"] == "h1"}
    for pe in dep.pes:
        if pe.config["layer"] == 0:  # every PE of the layer hears every PE of it, at base 12 + lo
            assert own <= {int(k) for k in pe.config["input_map"]}
            assert all(pe.config["input_map"][str(k)] >= 12 for k in own)


def skip_model(neuron: str = "snn.lif", *, seed: int = 0, time_steps: int = 8, bias: bool = True) -> Graph:
    """A skip connection: s0 -> fc1 -> h1 -> fc2, and s0 -> skip; the output layer's current is fc2 + skip
    (``snn.add``): its PEs hear the host's input and the hidden layer's spikes."""
    rng = np.random.default_rng(seed)
    g = Graph("skip", time_steps=time_steps)
    x = g.add_input("x", ValueType.tensor(12))
    s = g.add_op("snn.rate_encode", [x], {"time_steps": time_steps, "threshold": 0.5}, name="s0")

    def neuron_attrs(n: int) -> dict:
        attrs = {"threshold": np.full(n, 0.75, np.float32)}
        if neuron == "snn.if":
            return {**attrs, "reset": "subtract"}
        attrs.update(beta=(rng.integers(8, 17, n) / 16).astype(np.float32), reset="subtract", delayed_reset=0)
        if neuron == "snn.cuba_lif":
            attrs["alpha"] = (rng.integers(4, 17, n) / 16).astype(np.float32)
        return attrs

    fc1 = {"weight": _dyadic(rng, (10, 12))}
    if bias:
        fc1["bias"] = _dyadic(rng, (10,), -8, 8)
    h = g.add_op(neuron, [g.add_op("snn.dense", [s], fc1, name="fc1")], neuron_attrs(10), name="h1")
    skip = {"weight": _dyadic(rng, (4, 12), -16, 32)}
    if bias:
        skip["bias"] = _dyadic(rng, (4,), -8, 8)
    a = g.add_op("snn.dense", [s], skip, name="skip")
    b = g.add_op("snn.dense", [h], {"weight": _dyadic(rng, (4, 10))}, name="fc2")
    o = g.add_op(neuron, [g.add_op("snn.add", [b, a], name="sum")], neuron_attrs(4), name="o")
    g.set_outputs([g.add_op("snn.spike_count_decode", [o], name="scores")])
    g.verify()
    return g


@pytest.mark.parametrize("neuron", ["snn.lif", "snn.cuba_lif", "snn.if"])
def test_a_skip_connection_equals_the_integer_reference(tmp_path: Path, neuron: str) -> None:
    """A merged layer: its fan-in is the sum of its sources' (partition), its PEs hear both source layers (host
    blocks and hidden PEs), its weight SRAM holds both synapses' weights (one scale), bit for bit."""
    graph = skip_model(neuron, seed=3)
    compiled, _, sim = check_bit_exact(graph, tmp_path / "dep", SMALL, inputs(4, seed=5))
    assert int(sim.spikes["o"].sum()) > 0
    dep = load_deployment(tmp_path / "dep")
    out = next(ly for ly in dep.program["layers"] if ly["name"] == "o")
    assert out["m"] == 10 + 12 and out["inputs"] == 22
    assert [(s["value"], s["base"]) for s in out["sources"]] == [("h1", 0), ("s0", 10)]
    host = dep.program["host"]["encoders"][0]
    assert host["consumers"] == [0, 1]  # the host's blocks go to both layers
    q = {op.result.name: op.meta.get("quant", {}).get("scale") for op in compiled.graph.ops}
    assert q["fc2"] == q["skip"] == q["o"]  # one scale for the merged synapses


@pytest.mark.parametrize("recurrent", [False, True])
def test_conservation_on_a_skip_connection(tmp_path: Path, recurrent: bool) -> None:
    """Spike and end-of-step packets, hops: as the routing says, with a merged (and recurrent) layer."""
    graph = skip_model("snn.lif", seed=4)
    if recurrent:
        next(op for op in graph.ops if op.result.name == "o").attrs["recurrent_weight"] = \
            _dyadic(np.random.default_rng(3), (4, 4), -32, 24)
        graph.verify()
    _, _, sim = check_bit_exact(graph, tmp_path / "dep", SMALL, inputs(3, seed=8))
    dep = load_deployment(tmp_path / "dep")
    T = dep.program["time_steps"]
    step_end = {k for ly in dep.program["layers"] for k in ly["pes"]}
    for b, rec in enumerate(sim.images):
        spikes = eos = hops = 0
        for key in dep.routing["keys"]:
            lo, hi = key["neurons"]
            n = int(sim.spikes[key["value"]][:, b].reshape(T, -1)[:, lo:hi].sum())
            sends_eos = bool(step_end & set(key["dests"]))
            spikes += n
            eos += T * sends_eos
            hops += (n + T * sends_eos) * key["links"]
        assert rec.packets["spike"] == spikes and rec.packets["end_of_step"] == eos and rec.hops == hops


def test_a_merge_of_conv_synapses_is_refused_by_name(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    g = Graph("convskip", time_steps=4)
    x = g.add_input("x", ValueType.tensor(1, 6, 6))
    s = g.add_op("snn.rate_encode", [x], {"time_steps": 4, "threshold": 0.5}, name="s0")
    conv = {"weight": _dyadic(rng, (2, 1, 3, 3)), "strides": [1, 1], "pads": [1, 1, 1, 1], "dilations": [1, 1],
            "group": 1}
    a = g.add_op("snn.conv2d", [s], conv, name="c1")
    b = g.add_op("snn.conv2d", [s], {**conv, "weight": _dyadic(rng, (2, 1, 3, 3))}, name="c2")
    o = g.add_op("snn.lif", [g.add_op("snn.add", [a, b], name="sum")],
                 {"threshold": np.full((2, 1, 1), 0.75, np.float32), "beta": np.full((2, 1, 1), 0.5, np.float32),
                  "reset": "subtract", "delayed_reset": 0}, name="o")
    g.set_outputs([g.add_op("snn.spike_count_decode", [o], name="scores")])
    g.verify()
    with pytest.raises(DesignRuleError, match="skip connections on YOSO: not yet for a merge of snn.conv2d") as err:
        compile_yoso(g, tmp_path / "dep", hw_path=SMALL)
    assert "%o = snn.lif" in err.value.format()


def test_the_report_states_the_accuracy_cost_of_the_fixed_point_leak(tmp_path: Path) -> None:
    graph, x = leaky_mlp(), inputs(64)
    with_samples = compile_yoso(graph, tmp_path / "with", hw_path=LEAKY_HW, sample_x=x).report
    line = next(s for s in with_samples.splitlines() if "accuracy cost of the fixed-point leak" in s)
    assert "leak F=8 (nearest)" in line and "of 64" in line and "integer mode: agreement" in line
    without = compile_yoso(graph, tmp_path / "without", hw_path=LEAKY_HW).report
    assert "accuracy cost of the fixed-point leak" not in without  # no sample inputs, nothing to measure on
