"""The compiled simulator core (issue 16) against the Python model, its oracle: every field of every image's
``ImageRun`` (cycles, step ends, spikes, host spikes, chip and per-PE counters, link loads, packet counts) equal,
on ReL-PSP, IF, LIF, CuBa-LIF, recurrent, skip, conv and multi-flit deployments, with back-pressure and other
core timings; trace replay with equal latencies and network cycles; engine selection and error reports.

A difference in any field fails the test with the field and the image named; the compiled network's arbitration,
credits or wheel being off by a cycle shows up as a different latency, step end or link count.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from snnc.backends.yoso import compile_yoso, load_deployment
from snnc.backends.yoso.drivers.simulate import forget_chip, simulate_deployment
from snnc.backends.yoso.drivers.trace import generate_uniform_trace, replay_trace
from snnc.backends.yoso.hardware import load_hardware, with_overrides
from snnc.backends.yoso.sim.chip import Chip
from snnc.backends.yoso.sim.compiled import chip_kernel as ck
from snnc.backends.yoso.sim.compiled.chip import CompiledChip, compiled_support, engine_of, image_runner
from snnc.backends.yoso.sim.events import SimulationError
from snnc.backends.yoso.sim.noc import NocConfig
from snnc.errors import SnncError
from snnc.frontend import import_onnx
from snnc.tests.onnx_models import CASES
from snnc.tests.test_yoso_leaky import SMALL, _dyadic, leaky_mlp, skip_model
from snnc.tests.test_yoso_sim import conv_model
from snnc.tests.yoso_models import ttfs_mlp

HW = with_overrides(load_hardware(), pe={"neurons": 8, "weights": 400})


def _equal(a: object, b: object) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, list | tuple):
        return isinstance(b, list | tuple) and len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def assert_same_runs(chip: Chip, x: np.ndarray) -> int:
    """Run every image of ``x`` on both engines; every ImageRun field equal. Returns the spikes seen."""
    compiled = CompiledChip(chip)
    env = chip.host.encode(x)
    spikes = 0
    for b in range(len(x)):
        inputs = chip.input_spikes(env, b)
        want, got = asdict(chip.run_image(inputs)), asdict(compiled.run_image(inputs))
        for field in want:
            assert _equal(want[field], got[field]), f"image {b}: {field} differs:\n{want[field]}\n{got[field]}"
        spikes += sum(int(s.sum()) for s in want["spikes"].values())
    return spikes


def _chip(graph, out: Path, hw, **kw) -> Chip:  # noqa: ANN001
    compile_yoso(graph, out, hw_path=hw)
    return Chip(load_deployment(out), **kw)


# ------------------------------------------------------------------------------------------ deployments
@pytest.mark.parametrize("seed,bias", [(0, False), (1, True), (2, False)])
def test_relpsp_mlps(tmp_path: Path, seed: int, bias: bool) -> None:
    chip = _chip(ttfs_mlp((40, 30, 5), time_steps=8, seed=seed, bias=bias), tmp_path / "d", HW)
    x = np.random.default_rng(seed).random((4, 40)).astype(np.float32)
    assert assert_same_runs(chip, x) > 0


@pytest.mark.parametrize("name", sorted(name for name in CASES if "conv" not in name))
def test_onnx_cases_if_and_relpsp(tmp_path: Path, name: str) -> None:
    case = CASES[name](0)
    chip = _chip(import_onnx(case.model), tmp_path / "d", HW)
    x = np.random.default_rng(3).random((3, *case.input_features)).astype(np.float32)
    assert assert_same_runs(chip, x) > 0


@pytest.mark.parametrize("options", [
    {"neuron": "if"}, {"neuron": "if", "group": 2, "dilation": 2, "reset": "zero"},
    {"neuron": "relpsp", "stride": 2, "pads": (0, 0, 0, 0)}], ids=["if-pad", "if-group-dilation-zero", "relpsp"])
def test_conv_layers_with_their_input_boxes(tmp_path: Path, options: dict) -> None:
    chip = _chip(conv_model(**options), tmp_path / "d", HW)
    x = np.random.default_rng(1).random((3, 2, 7, 7)).astype(np.float32)
    assert assert_same_runs(chip, x) > 0
    if options["neuron"] == "if":  # PEs holding part of the layer drop the spikes outside their box: counted equal
        compiled = CompiledChip(chip)
        run = compiled.run_image(chip.input_spikes(chip.host.encode(x[:1]), 0))
        assert run.counters["packets_dropped"] > 0


@pytest.mark.parametrize("neuron,reset,delayed,readout", [
    ("snn.lif", "subtract", 0, "spikes"), ("snn.lif", "zero", 1, "li"), ("snn.cuba_lif", "subtract", 1, "spikes"),
    ("snn.cuba_lif", "zero", 0, "li")])
def test_leaky_mlps(tmp_path: Path, neuron: str, reset: str, delayed: int, readout: str) -> None:
    chip = _chip(leaky_mlp(neuron, reset=reset, delayed=delayed, readout=readout, seed=4), tmp_path / "d", SMALL)
    x = np.random.default_rng(5).random((3, 12)).astype(np.float32)
    assert assert_same_runs(chip, x) > 0


@pytest.mark.parametrize("neuron", ["snn.lif", "snn.if", "snn.cuba_lif"])
def test_recurrent_layers(tmp_path: Path, neuron: str) -> None:
    graph = leaky_mlp("snn.lif" if neuron == "snn.if" else neuron, readout="spikes", seed=11)
    h1 = next(op for op in graph.ops if op.result.name == "h1")
    if neuron == "snn.if":
        h1.opname = "snn.if"
        h1.attrs = {"threshold": h1.attrs["threshold"], "reset": "subtract"}
    h1.attrs["recurrent_weight"] = _dyadic(np.random.default_rng(2), (10, 10), -32, 24)
    graph.verify()
    chip = _chip(graph, tmp_path / "d", SMALL)
    assert any(pe.recurrent_keys for pe in chip.pes)
    assert assert_same_runs(chip, np.random.default_rng(9).random((3, 12)).astype(np.float32)) > 0


def test_skip_connection(tmp_path: Path) -> None:
    chip = _chip(skip_model("snn.lif"), tmp_path / "d", SMALL)
    features = chip.host.graph.inputs[0].type.size
    assert assert_same_runs(chip, np.random.default_rng(1).random((3, features)).astype(np.float32)) > 0


def test_back_pressure_and_other_timings(tmp_path: Path) -> None:
    """A one-packet input queue (the network stalls on full ejection sinks), a custom barrier, slow updates."""
    graph = ttfs_mlp((40, 30, 5), time_steps=8, seed=1, bias=True)
    x = np.random.default_rng(2).random((3, 40)).astype(np.float32)
    chip = _chip(graph, tmp_path / "d", HW, eject_depth=1, barrier_cycles=7)
    assert assert_same_runs(chip, x) > 0
    slow = with_overrides(HW, core={"update_cycles": 3, "load_cycles": 2}, noc={"fifo_depth": 1})
    assert assert_same_runs(_chip(graph, tmp_path / "slow", slow, eject_depth=2), x) > 0


def test_multi_flit_packets_are_unicasts_from_the_source(tmp_path: Path) -> None:
    hw = with_overrides(HW, noc={"flits_per_spike": 3, "fifo_depth": 2})
    case = CASES["rate_if_subtract_last"](1)
    chip = _chip(import_onnx(case.model), tmp_path / "d", hw)
    assert chip.flits == 3
    assert assert_same_runs(chip, np.random.default_rng(4).random((2, *case.input_features)).astype(np.float32)) > 0


def test_simulate_deployment_reports_are_identical(tmp_path: Path) -> None:
    """The whole report (records, energy, link loads, accuracy) through the API, compiled (the default) and Python."""
    compile_yoso(ttfs_mlp((40, 30, 5), time_steps=8, seed=2), tmp_path / "d", hw_path=HW)
    x = np.random.default_rng(0).random((5, 40)).astype(np.float32)
    y = np.arange(5) % 5
    forget_chip(tmp_path / "d")
    a = simulate_deployment(tmp_path / "d", x, y=y, engine="python").to_json()
    b = simulate_deployment(tmp_path / "d", x, y=y).to_json()
    for part in (a, b):
        for d in (part, part.get("summary", {})):
            for k in ("wall_s", "wall_ms_per_image"):
                d.pop(k, None)
    assert a == b


# ------------------------------------------------------------------------------------------ engine, errors
def test_a_neuron_without_a_compiled_update_falls_back_to_python(tmp_path: Path) -> None:
    chip = _chip(ttfs_mlp((40, 30, 5), time_steps=4), tmp_path / "d", HW)
    assert compiled_support(chip) is None and engine_of(chip) == ("compiled", None)
    pe = chip.pes[0]
    pe.spec = dataclasses.replace(pe.spec, update=lambda p, now, step: pe.spec.update(p, now, step))
    why = compiled_support(chip)
    assert why is not None and "no compiled update" in why and engine_of(chip)[0] == "python"
    assert image_runner(chip, "auto") == chip.run_image
    with pytest.raises(SimulationError, match="no compiled update"):
        image_runner(chip, "compiled")
    with pytest.raises(SnncError, match="engine must be one of"):
        image_runner(chip, "fast")


def test_a_stuck_step_is_the_python_models_error(tmp_path: Path) -> None:
    """An IF PE that waits for a marker no one sends: both engines raise the Python model's report."""
    case = CASES["rate_if_subtract_last"](0)
    chip = _chip(import_onnx(case.model), tmp_path / "d", HW)
    pe = chip.if_pes[0]
    other = next(k for k in chip.keys if k not in pe.input_base)
    pe.input_base[other] = 0  # one more end-of-step marker needed, never sent
    x = np.random.default_rng(0).random((1, *case.input_features)).astype(np.float32)
    inputs = chip.input_spikes(chip.host.encode(x), 0)
    with pytest.raises(SimulationError, match="IF PEs are still waiting") as py:
        chip.run_image(inputs)
    with pytest.raises(SimulationError, match="IF PEs are still waiting") as cc:
        CompiledChip(chip).run_image(inputs)
    assert str(py.value) == str(cc.value)


def test_a_compiled_engine_disagreement_is_an_error_not_a_result(tmp_path: Path) -> None:
    """Corrupt only the compiled tables: the kernel stops, the Python model runs the image through, and the
    disagreement is a SimulationError naming the compiled engine (never a silent result)."""
    case = CASES["rate_if_subtract_last"](0)
    chip = _chip(import_onnx(case.model), tmp_path / "d", HW)
    compiled = CompiledChip(chip)
    compiled.pt[ck.T_EOSNEED, chip.if_pes[0].id] += 1
    x = np.random.default_rng(0).random((1, *case.input_features)).astype(np.float32)
    with pytest.raises(SimulationError, match="compiled simulator stopped"):
        compiled.run_image(chip.input_spikes(chip.host.encode(x), 0))


# ------------------------------------------------------------------------------------------ replay
@pytest.mark.parametrize("mesh,r,link,f,d,rate", [
    ((4, 4), 2, 1, 1, 4, 0.1), ((8, 8), 2, 1, 2, 4, 0.2), ((5, 3), 1, 0, 3, 1, 0.3), ((6, 7), 3, 2, 5, 2, 0.4),
    ((2, 1), 1, 0, 1, 1, 0.9)])
def test_replay_latencies_are_identical(mesh: tuple[int, int], r: int, link: int, f: int, d: int, rate: float) -> None:
    rows = generate_uniform_trace(mesh, rate, packets=1500, seed=r + f)
    config = NocConfig(cols=mesh[0], rows=mesh[1], router_delay=r, link_delay=link, flits=f, fifo_depth=d)
    py = replay_trace(rows, config=config, engine="python")
    cc = replay_trace(rows, config=config, engine="compiled")
    assert np.array_equal(py.latency, cc.latency)
    assert (py.network_cycles, py.router_flits, py.links, py.eject) == (cc.network_cycles, cc.router_flits, cc.links,
                                                                        cc.eject)
    assert (py.avg_network_latency, py.avg_queueing, py.avg_hops) == (cc.avg_network_latency, cc.avg_queueing,
                                                                      cc.avg_hops)


def test_the_compiled_neuron_table_matches_the_kernel_kinds() -> None:
    from snnc.backends.yoso.sim.compiled.chip import COMPILED_NEURONS

    kinds = {"snn.relpsp": ck.KIND_RELPSP, "snn.if": ck.KIND_IF, "snn.lif": ck.KIND_LIF, "snn.cuba_lif": ck.KIND_CUBA}
    assert {op: entry[0] for op, entry in COMPILED_NEURONS.items()} == kinds
