"""The YOSO chip simulator: bit-exact with the integer reference, conservation, the time-step rule by hand,
determinism (also across worker processes), energy from counted events, stuck detection, and the CLI."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from snnc.backends import get_backend
from snnc.backends.yoso import compile_yoso, load_deployment
from snnc.backends.yoso.drivers.simulate import simulate_deployment
from snnc.backends.yoso.hardware import load_hardware, with_overrides
from snnc.backends.yoso.packet import END_OF_STEP, SPIKE
from snnc.backends.yoso.sim.chip import Chip
from snnc.backends.yoso.sim.energy import CATEGORIES
from snnc.backends.yoso.sim.events import SimulationError
from snnc.cli.simulate import main
from snnc.errors import DatasetError, DeploymentError
from snnc.frontend import import_onnx
from snnc.ir import Graph, ValueType
from snnc.tests.onnx_models import CASES
from snnc.tests.yoso_models import ttfs_mlp

#: small PEs, so that tiny models spread over several PEs and the network carries multicast traffic
HW = with_overrides(load_hardware(), pe={"neurons": 8, "weights": 400})
DENSE_CASES = [name for name in CASES if "conv" not in name]


def reference(graph: Graph, x: np.ndarray):  # noqa: ANN201
    """The integer-mode reference executor on the compiled (quantized) graph."""
    backend = get_backend("reference")
    return backend.run(graph, x, record=True)


def assert_bit_exact(result, sim) -> None:  # noqa: ANN001
    assert set(result.spikes) <= set(sim.spikes)
    for name, train in result.spikes.items():
        assert np.array_equal(train, sim.spikes[name]), f"spike train %{name} differs"
    assert sim.scores.dtype == np.float32 and np.array_equal(result.scores, sim.scores)
    assert np.array_equal(result.predictions, sim.predictions)


# ------------------------------------------------------------------------------------- bit-exact
@pytest.mark.parametrize("name", DENSE_CASES)
def test_spikes_and_scores_equal_the_integer_reference(tmp_path: Path, name: str) -> None:
    case = CASES[name](3)
    x = case.inputs(5, seed=4)
    compiled = compile_yoso(import_onnx(case.model), tmp_path / "dep", hw_path=HW)
    assert int(compiled.graph.metadata["yoso.pes"]) >= 1
    sim = simulate_deployment(tmp_path / "dep", x, record=True)
    assert_bit_exact(reference(compiled.graph, x), sim)


def conv_model(neuron: str, *, group: int = 1, dilation: int = 1, stride: int = 1, pads: tuple[int, ...] = (1,) * 4,
               reset: str = "subtract", time_steps: int = 6, seed: int = 0) -> Graph:
    """Encoder -> conv2d(+bias) -> neuron -> flatten -> dense -> neuron -> decoder, dyadic weights."""
    rng = np.random.default_rng(seed)
    g = Graph("conv", time_steps=time_steps)
    x = g.add_input("x", ValueType.tensor(2, 7, 7))
    if neuron == "if":
        s = g.add_op("snn.rate_encode", [x], {"time_steps": time_steps, "threshold": 0.5})
    else:
        s = g.add_op("snn.ttfs_encode", [x], {"time_steps": time_steps, "window": time_steps})
    w = (rng.integers(-16, 33, (4, 2 // group, 3, 3)) / 64).astype(np.float32)
    c = g.add_op("snn.conv2d", [s], {"weight": w, "bias": (rng.integers(-8, 9, 4) / 64).astype(np.float32),
                                     "strides": [stride, stride], "pads": list(pads),
                                     "dilations": [dilation, dilation], "group": group})
    if neuron == "if":
        theta = (rng.integers(32, 97, (4, 1, 1)) / 64).astype(np.float32)
        h = g.add_op("snn.if", [c], {"threshold": theta, "reset": reset})
    else:
        h = g.add_op("snn.relpsp", [c], {"threshold": 1.0})
    f = g.add_op("snn.flatten", [h])
    d = g.add_op("snn.dense", [f], {"weight": (rng.integers(-8, 17, (5, f.type.size)) / 64).astype(np.float32)})
    if neuron == "if":
        o = g.add_op("snn.if", [d], {"threshold": np.array(0.5, np.float32), "reset": "subtract"})
        y = g.add_op("snn.spike_count_decode", [o], name="scores")
    else:
        o = g.add_op("snn.relpsp", [d], {"threshold": 0.5})
        y = g.add_op("snn.first_spike_decode", [o], name="scores")
    g.set_outputs([y])
    g.verify()
    return g


@pytest.mark.parametrize(("options", "partial_boxes"), [
    ({"neuron": "if"}, True),
    ({"neuron": "if", "group": 2, "dilation": 2, "reset": "zero"}, True),
    ({"neuron": "relpsp", "stride": 2, "pads": (0, 0, 0, 0)}, False),
], ids=["if-pad", "if-group-dilation-zero", "relpsp-stride"])
def test_conv_layers_are_bit_exact_and_drop_spikes_outside_their_box(tmp_path: Path, options: dict,
                                                                    partial_boxes: bool) -> None:
    graph = conv_model(**options)
    x = np.random.default_rng(1).random((3, 2, 7, 7)).astype(np.float32)
    compiled = compile_yoso(graph, tmp_path / "dep", hw_path=HW)
    sim = simulate_deployment(tmp_path / "dep", x, record=True)
    assert_bit_exact(reference(compiled.graph, x), sim)
    # conv PEs holding part of a layer accept a box of the input and drop the other spikes they are sent
    chip = Chip(load_deployment(tmp_path / "dep"))
    conv_pes = [pe for pe in chip.pes if pe.accept is not None]
    assert conv_pes and any(not pe.accept.all() for pe in conv_pes) == partial_boxes
    if partial_boxes:
        run_one(chip, x[:1])
        assert sum(pe.counters["packets_dropped"] for pe in conv_pes) > 0


def test_a_784_800_10_model_on_the_shipped_chip_is_bit_exact(tmp_path: Path) -> None:
    graph = ttfs_mlp((784, 800, 10), time_steps=16, seed=1)
    compiled = compile_yoso(graph, tmp_path / "dep")
    assert compiled.graph.metadata["yoso.pes"] == "38"
    rng = np.random.default_rng(2)
    x = (rng.random((2, 784)) * (rng.random((2, 784)) < 0.2)).astype(np.float32)
    sim = simulate_deployment(tmp_path / "dep", x, record=True)
    assert_bit_exact(reference(compiled.graph, x), sim)
    assert sim.mesh == (6, 7) and len(sim.pe_nodes) == 38


def test_the_saturating_adder_applies_spikes_in_arrival_order_when_they_overflow(tmp_path: Path) -> None:
    """The compiler's headroom rule keeps real deployments from saturating (so arrival order cannot matter);
    at the PE level the accumulated weight follows the hardware's saturating adder, spike by spike."""
    compile_yoso(ttfs_mlp((40, 30, 5), time_steps=4, seed=2), tmp_path / "dep", hw_path=HW)
    pe = Chip(load_deployment(tmp_path / "dep")).pes[0]
    w = pe.weights[:, 0]
    up, down = int(np.argmax(w)), int(np.argmin(w))
    assert w[up] > 0 > w[down]

    def accumulate(order: list[int]) -> int:
        pe.reset()
        pe.acc[:] = pe.a_hi - 1
        pe.pending = list(order)
        pe.flush()
        return int(pe.acc[0])

    assert accumulate([up, down]) == pe.a_hi + int(w[down])  # saturates first, then goes down
    assert pe.counters["saturations"] >= 1
    assert accumulate([down, up]) == pe.a_hi - 1 + int(w[down]) + int(w[up])  # exact: never leaves the range
    assert accumulate([]) == pe.a_hi - 1


# ------------------------------------------------------------------------------------- timing
def test_the_time_step_rule_by_hand(tmp_path: Path) -> None:
    """One input, one ReL-PSP neuron on one PE at (0, 0), T = 2, shipped timing (R=2, L=1, load=compute=store=1,
    update=2, B = 2 * (6 + 7 - 1) = 24):

    step 0: clear 1 cycle (free 1); update at 1, 2 cycles (free 3), no spike; the host's packet enters at 0 and
    is ejected at 0 + (0 + 1) * (2 + 1) = 3; one synapse op issues at 3 (free 4), written back at 6: e_0 = 6.
    step 1 starts at 6 + 24 = 30: update 30..32, V = w_q = 127 >= theta_q = rint(63.5) = 64 fires at 32; the
    spike reaches the host at 32 + 3 = 35 = e_1. Latency = 35 + 24 = 59 cycles.
    """
    g = Graph("one", time_steps=2)
    x = g.add_input("x", ValueType.tensor(1))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 2, "window": 2})
    i = g.add_op("snn.dense", [s], {"weight": np.ones((1, 1), np.float32)})
    o = g.add_op("snn.relpsp", [i], {"threshold": 0.5})
    g.set_outputs([g.add_op("snn.first_spike_decode", [o], name="scores")])
    compile_yoso(g, tmp_path / "dep")
    sim = simulate_deployment(tmp_path / "dep", np.ones((1, 1), np.float32))
    rec = sim.images[0]
    assert sim.barrier_cycles == 24
    assert rec.cycles == 59 and rec.step_cycles == [30, 29]
    assert rec.scores == [1.0]  # first spike at step 1 of T = 2
    assert rec.events["weight.read"] == 1 and rec.events["potential.read"] == 2
    assert rec.packets == {"spike": 2, "end_of_step": 0, "host_in": 1, "host_out": 1}
    assert rec.hops == 2  # host link in, host link out
    # the hardware file's cycle costs set the timing: slower updates, longer latency
    compile_yoso(g, tmp_path / "slow", hw_path=with_overrides(load_hardware(), core={"update_cycles": 5}))
    slow = simulate_deployment(tmp_path / "slow", np.ones((1, 1), np.float32)).images[0]
    assert slow.cycles == 59 + 2 * 3  # two updates of one neuron, 3 cycles longer each


def test_back_pressure_changes_timing_but_never_results(tmp_path: Path) -> None:
    """With a one-packet input queue per PE, packets wait in the routers (the ejection port has no credit
    while the core is busy); the spikes and scores stay the same."""
    graph = ttfs_mlp((40, 30, 5), time_steps=8, seed=2, bias=True)
    compile_yoso(graph, tmp_path / "dep", hw_path=HW)
    x = np.random.default_rng(0).random((3, 40)).astype(np.float32)
    roomy = simulate_deployment(tmp_path / "dep", x, record=True)
    tight = simulate_deployment(tmp_path / "dep", x, record=True, eject_depth=1)
    assert np.array_equal(roomy.scores, tight.scores)
    assert all(np.array_equal(roomy.spikes[k], tight.spikes[k]) for k in roomy.spikes)
    assert all(t.cycles >= r.cycles for r, t in zip(roomy.images, tight.images, strict=True))
    worst = {}
    for depth in (None, 1):
        chip = Chip(load_deployment(tmp_path / "dep"), eject_depth=depth)
        run_one(chip, x[:1])
        noc = chip.noc
        worst[depth] = max(noc.tail_eject[p] - noc.created[p] for p in range(len(noc.src)))
    assert worst[1] > worst[None]  # packets really waited in the network


# ------------------------------------------------------------------------------------- conservation
def test_every_packet_is_delivered_once_along_its_multicast_tree(tmp_path: Path) -> None:
    """Spike packets = spikes of every source with destinations, end-of-step packets = T per key that reaches an IF
    PE, and flit hops = sum over packets of the X-Y tree links recorded in routing.json."""
    case = CASES["rate_if_subtract_last"](1)
    compile_yoso(import_onnx(case.model), tmp_path / "dep", hw_path=HW)
    dep = load_deployment(tmp_path / "dep")
    x = case.inputs(4, seed=2)
    sim = simulate_deployment(tmp_path / "dep", x, record=True)
    T = dep.program["time_steps"]
    if_pes = {k for ly in dep.program["layers"] if ly["neuron"] == "snn.if" for k in ly["pes"]}
    for b, rec in enumerate(sim.images):
        spikes = eos = hops = 0
        for key in dep.routing["keys"]:
            lo, hi = key["neurons"]
            n = int(sim.spikes[key["value"]][:, b].reshape(T, -1)[:, lo:hi].sum())
            sends_eos = bool(if_pes & set(key["dests"]))
            spikes += n
            eos += T * sends_eos
            hops += (n + T * sends_eos) * key["links"]
        assert rec.packets["spike"] == spikes and rec.packets["end_of_step"] == eos
        assert rec.hops == hops
        assert rec.events["injection"] == spikes + eos


class LossyChip(Chip):
    """Fault injection: drop the n-th packet of a kind (optionally only packets to the host) before it enters
    the network."""

    def __init__(self, *args, drop_kind: int, drop_index: int = 0, to_host: bool = False,  # noqa: ANN002
                 **kwargs) -> None:  # noqa: ANN003
        super().__init__(*args, **kwargs)
        self.drop_kind, self.drop_index, self.only_host, self.seen = drop_kind, drop_index, to_host, 0

    def _inject(self, src, k, payload) -> None:  # noqa: ANN001
        if payload[0] == self.drop_kind and (not self.only_host or -1 in k.dests):
            self.seen += 1
            if self.seen == self.drop_index + 1:
                return
        super()._inject(src, k, payload)


def run_one(chip: Chip, x: np.ndarray):  # noqa: ANN201
    env = chip.host.encode(x)
    return chip.run_image(chip.input_spikes(env, 0))


def test_a_lost_end_of_step_packet_is_reported_not_waited_for(tmp_path: Path) -> None:
    case = CASES["rate_if_subtract_last"](0)
    compile_yoso(import_onnx(case.model), tmp_path / "dep", hw_path=HW)
    chip = LossyChip(load_deployment(tmp_path / "dep"), drop_kind=END_OF_STEP, drop_index=3)
    with pytest.raises(SimulationError, match=r"IF PEs are still waiting") as err:
        run_one(chip, case.inputs(1, seed=0))
    assert "end-of-step packets of step" in str(err.value)


def test_a_lost_output_spike_is_detected(tmp_path: Path) -> None:
    graph = ttfs_mlp((40, 30, 5), time_steps=8, seed=2, bias=True)
    compile_yoso(graph, tmp_path / "dep", hw_path=HW)
    dep = load_deployment(tmp_path / "dep")
    x = np.random.default_rng(0).random((1, 40)).astype(np.float32)
    assert run_one(Chip(dep), x).packets["host_out"] > 0
    chip = LossyChip(dep, drop_kind=SPIKE, to_host=True)
    with pytest.raises(SimulationError, match="host received other spikes"):
        run_one(chip, x)


class StalledChip(Chip):
    """Fault injection: one PE's core never takes packets out of its input queue."""

    def _taken(self, pe, start, now) -> None:  # noqa: ANN001
        if pe.id != 0:
            super()._taken(pe, start, now)


def test_a_stuck_queue_is_a_deadlock_error_not_an_endless_loop(tmp_path: Path) -> None:
    graph = ttfs_mlp((40, 30, 5), time_steps=8, seed=2)
    compile_yoso(graph, tmp_path / "dep", hw_path=HW)
    chip = StalledChip(load_deployment(tmp_path / "dep"), eject_depth=1, watchdog_cycles=300)
    with pytest.raises(SimulationError, match="no flit moved|deadlock") as err:
        run_one(chip, np.ones((1, 40), np.float32))
    assert "ejection sink full" in str(err.value)


# ------------------------------------------------------------------------------------- determinism
def test_same_input_same_result_serial_and_with_two_workers(tmp_path: Path) -> None:
    graph = ttfs_mlp((40, 30, 5), time_steps=8, seed=2, bias=True)
    compile_yoso(graph, tmp_path / "dep", hw_path=HW)
    x = np.random.default_rng(3).random((6, 40)).astype(np.float32)
    y = np.arange(6) % 5
    a = simulate_deployment(tmp_path / "dep", x, y=y)
    b = simulate_deployment(tmp_path / "dep", x, y=y)
    c = simulate_deployment(tmp_path / "dep", x, y=y, workers=2, chunk_size=2)
    assert c.workers == 2
    for other in (b, c):
        assert [asdict(r) for r in other.images] == [asdict(r) for r in a.images]
        assert np.array_equal(other.scores, a.scores) and other.link_flits == a.link_flits
        assert np.array_equal(other.pe_busy, a.pe_busy)
    assert [r.index for r in c.images] == list(range(6))
    assert a.accuracy == float(np.mean(a.predictions == y))


def test_a_recompiled_deployment_is_reloaded(tmp_path: Path) -> None:
    x = np.random.default_rng(3).random((2, 40)).astype(np.float32)
    compile_yoso(ttfs_mlp((40, 30, 5), time_steps=8, seed=2), tmp_path / "dep", hw_path=HW)
    first = simulate_deployment(tmp_path / "dep", x)
    compiled = compile_yoso(ttfs_mlp((40, 30, 5), time_steps=8, seed=7), tmp_path / "dep", hw_path=HW, force=True)
    second = simulate_deployment(tmp_path / "dep", x, record=True)
    assert_bit_exact(reference(compiled.graph, x), second)
    assert [r.spikes for r in first.images] != [r.spikes for r in second.images]


# ------------------------------------------------------------------------------------- energy
def test_energy_is_the_counted_events_times_the_hardware_costs(tmp_path: Path) -> None:
    graph = ttfs_mlp((40, 30, 5), time_steps=8, seed=2, bias=True)
    compile_yoso(graph, tmp_path / "dep", hw_path=HW)
    x = np.random.default_rng(4).random((3, 40)).astype(np.float32)
    sim = simulate_deployment(tmp_path / "dep", x, record=True)
    hw, T = HW, 8
    for b, rec in enumerate(sim.images):
        ev = rec.events
        # independent counts: every spike into a dense layer reads one weight per neuron of that layer
        s0 = int(sim.spikes["s0"][:, b].sum())
        h1 = int(sim.spikes["h1"][:, b].sum())
        assert ev["weight.read"] == s0 * 30 + h1 * 5
        assert ev["spike_addr.write"] == ev["spike_addr.read"] == s0 * 4 + h1  # 4 PEs of h1, 1 of out
        pj = sum(ev[f"{n}.read"] * hw.sram[n].read_pj + ev[f"{n}.write"] * hw.sram[n].write_pj
                 for n in ("weight", "potential", "acc_weight", "spike_addr"))
        pj += (ev["add"] * hw.energy.add_pj + ev["router"] * hw.energy.router_hop_pj
               + ev["link"] * hw.energy.link_hop_pj + ev["injection"] * hw.energy.injection_pj)
        leak = hw.energy.leakage_uw_per_pe * hw.mesh.size * rec.cycles / hw.chip.clock_hz * 1e6
        assert rec.energy_pj["leakage"] == pytest.approx(leak, rel=1e-12)
        assert rec.energy_uj == pytest.approx((pj + leak) / 1e6, rel=1e-12)
        assert list(rec.energy_pj) == list(CATEGORIES)
        assert rec.latency_ms == pytest.approx(rec.cycles / hw.chip.clock_hz * 1e3)
        assert rec.power_mw == pytest.approx(rec.energy_uj * 1e-6 / (rec.latency_ms * 1e-3) * 1e3)
        assert ev["link"] == rec.hops  # one-flit packets: a hop is a flit on a link
        assert rec.spikes["h1"] == h1 and sum(rec.step_cycles) == rec.cycles and len(rec.step_cycles) == T


# ------------------------------------------------------------------------------------- errors, CLI
def test_bad_inputs_are_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(DeploymentError, match="not found"):
        simulate_deployment(tmp_path / "missing", np.zeros((1, 4), np.float32))
    compile_yoso(ttfs_mlp((40, 30, 5), time_steps=4), tmp_path / "dep", hw_path=HW)
    with pytest.raises(DatasetError, match="do not fit the model's input"):
        simulate_deployment(tmp_path / "dep", np.zeros((2, 41), np.float32))
    with pytest.raises(DatasetError, match="float"):
        simulate_deployment(tmp_path / "dep", np.zeros((2, 40), np.uint8))


def test_cli_simulates_a_dataset_and_writes_json_and_plots(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    compile_yoso(ttfs_mlp((64, 20, 10), time_steps=8, seed=3), tmp_path / "dep", hw_path=HW)
    code = main([str(tmp_path / "dep"), "--dataset", "digits", "--limit", "4", "--json", str(tmp_path / "r.json"),
                 "--plots", str(tmp_path / "plots"), "--show", "2", "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "latency_ms" in out and "(2 more images" in out and "leakage" in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["summary"]["images"] == 4 and len(data["images"]) == 4
    assert set(data["summary"]["latency_ms"]) == {"mean", "p50", "p99", "min", "max"}
    assert data["images"][0]["label"] is not None and data["pes"][0]["xy"] is not None
    for name in ("mesh_activity.png", "spike_raster.png", "latency_histogram.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a user error is one message and exit code 1
    assert main([str(tmp_path / "nope"), "--dataset", "digits", "--limit", "1"]) == 1
    assert "deployment directory not found" in capsys.readouterr().err
    # --json is checked before simulating: never over an existing file without --force, never below a file
    before = (tmp_path / "r.json").read_bytes()
    assert main([str(tmp_path / "dep"), "--dataset", "digits", "--limit", "2", "--json", str(tmp_path / "r.json")]) == 1
    assert "output file already exists" in capsys.readouterr().err
    assert (tmp_path / "r.json").read_bytes() == before
    assert main([str(tmp_path / "dep"), "--dataset", "digits", "--limit", "2", "--show", "0", "--no-progress",
                 "--json", str(tmp_path / "r.json"), "--force"]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["images"] == 2
    capsys.readouterr()
    assert main([str(tmp_path / "dep"), "--dataset", "digits", "--limit", "1",
                 "--json", str(tmp_path / "r.json" / "x.json")]) == 1
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and "Traceback" not in err
