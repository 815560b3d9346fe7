"""The outside yardsticks of issue 16: ``bench/noc_vs_booksim.py`` and ``bench/sim_vs_sanafe.py``.

The pure parts (BookSim2 output parsing, the parameter mapping, BookSim-like traffic, SANA-FE weight
order and neuron attributes) run everywhere. The differential tests need the third-party tools and skip
cleanly without them: SANA-FE (``pip install sanafe``) must give the same spike trains and synaptic event
counts as snnc's chip simulator on a compiled deployment; BookSim2 (``$SNNC_BOOKSIM`` or
``/work/3p/booksim2/src/booksim``, ``bench/third_party/README.md``) must give snnc's replay latency, less
its constant 3 cycles, on the same kind of traffic.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


noc = _load("noc_vs_booksim")
sf = _load("sim_vs_sanafe")

BOOKSIM_OUTPUT = """\
BEGIN Configuration File: booksim_yoso_mesh.cfg
Class 0:
Packet latency average = 99.0
====== Overall Traffic Statistics ======
====== Traffic class 0 ======
Packet latency average = 21.049 (1 samples)
\tminimum = 5 (1 samples)
Network latency average = 20.5 (1 samples)
Injected packet rate average = 0.0992014 (1 samples)
Hops average = 6.25524 (1 samples)
Time taken is 7890 cycles
Total run time 0.678418
"""


def test_parse_booksim_output_reads_the_overall_section() -> None:
    run = noc.parse_booksim_output(BOOKSIM_OUTPUT)
    assert run.packet_latency == 21.049  # not the per-sample 99.0 printed before the overall section
    assert run.network_latency == 20.5
    assert run.hops == 6.25524 and run.injected_rate == 0.0992014
    assert run.cycles == 7890 and run.run_time_s == 0.678418


@pytest.mark.parametrize("text", ["Too many sample periods needed to converge\nSimulation unstable, ending ...\n",
                                  BOOKSIM_OUTPUT.replace("Hops average", "Hops avg"),
                                  BOOKSIM_OUTPUT.replace("Time taken is 7890 cycles\n", "")])
def test_parse_booksim_output_refuses_incomplete_runs(text: str) -> None:
    with pytest.raises(ValueError):
        noc.parse_booksim_output(text)


def test_booksim_overrides_map_snnc_parameters() -> None:
    got = noc.booksim_overrides((8, 8), flits=2, fifo_depth=4, rate=0.1, period=1953)
    assert got == ["k=8", "packet_size=2", "vc_buf_size=4", "injection_rate=0.1", "sample_period=1953",
                   "speculative=1"]
    assert noc.booksim_overrides((4, 4), 1, 8, 0.05, 10, router_delay=3)[-1] == "speculative=0"
    for bad in ({"mesh": (6, 7)}, {"link_delay": 2}, {"router_delay": 1}, {"flits": 0}):
        kw = {"mesh": (8, 8), "flits": 1, "fifo_depth": 4, "rate": 0.1, "period": 10} | bad
        with pytest.raises(ValueError):
            noc.booksim_overrides(**kw)


def test_sample_period_injects_about_the_packets_asked() -> None:
    period = noc.sample_period(50_000, 0.1, 64)
    assert period == 1953 and abs(4 * period * 0.1 * 64 - 50_000) < 0.1 * 64 * 4
    with pytest.raises(ValueError):
        noc.sample_period(100, 0.0, 64)


def test_uniform_with_self_is_bernoulli_over_all_nodes() -> None:
    rows = noc.uniform_with_self((4, 4), 0.2, 20_000, seed=3)
    assert rows.shape == (20_000, 3) and np.all(np.diff(rows[:, 0]) >= 0)
    assert set(np.unique(rows[:, 2])) == set(range(16))
    self_share = np.mean(rows[:, 1] == rows[:, 2])
    assert 0.04 < self_share < 0.085  # 1/16 of the packets go to their own node
    rate = len(rows) / ((rows[-1, 0] + 1) * 16)
    assert abs(rate - 0.2) < 0.01


def test_replay_kwargs_refuses_an_engine_replay_trace_lacks() -> None:
    import inspect

    from snnc.backends.yoso.drivers.trace import replay_trace

    assert noc.replay_kwargs(None) == {}
    if "engine" in inspect.signature(replay_trace).parameters:
        assert noc.replay_kwargs("python") == {"engine": "python"}
    else:
        with pytest.raises(SystemExit, match="no engine option"):
            noc.replay_kwargs("compiled")


def test_sanafe_weights_are_source_major_and_relpsp_fires_at_theta() -> None:
    w = np.array([[1, 2, 3], [4, 5, 6]])  # snnc dense: [n_out = 2, n_in = 3]
    assert sf.sanafe_dense_weights(w) == [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]  # (src 0 -> 0, 1), (src 1 -> 0, 1), ...
    attrs = sf.relpsp_as_lif(6560.0, 64)
    assert attrs["threshold"] == 6559.5 and attrs["leak_decay"] == attrs["input_decay"] == 1.0
    assert attrs["reset_mode"] == "hard" and attrs["reset"] + 127 * 1024 * 64 * 64 < 0
    with pytest.raises(ValueError):
        sf.relpsp_as_lif(0.0, 64)
    assert [sf.core_slot(i) for i in (0, 3, 4, 9)] == [(0, 0), (0, 3), (1, 0), (2, 1)]
    assert sf.spike_steps(np.array([[0, 1], [1, 0]], bool)) == [(0, 1), (1, 0)]


def _booksim() -> str:
    path = os.environ.get("SNNC_BOOKSIM", noc.DEFAULT_BOOKSIM)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.skip("BookSim2 not built (bench/third_party/README.md)")
    return path


def test_booksim_latency_matches_snnc_replay_on_the_same_traffic() -> None:
    from snnc.backends.yoso.drivers.trace import replay_trace

    binary = _booksim()
    packets, rate, mesh = 8_000, 0.1, (4, 4)
    period = noc.sample_period(packets, rate, 16)
    bs = noc.run_booksim(binary, noc.booksim_overrides(mesh, 1, 4, rate, period), 16, period)
    st = replay_trace(noc.uniform_with_self(mesh, rate, packets, seed=1), mesh=mesh)
    assert abs(bs.packets - packets) < 0.05 * packets
    assert abs((bs.hops - 1) - st.avg_hops) < 0.1
    # same per-hop costs, BookSim's 3 extra cycles of injection/ejection channels, light queueing
    assert abs(bs.packet_latency - noc.BOOKSIM_EXTRA_LATENCY - st.avg_latency) < 0.5
    assert bs.cpu_s > 0


def test_sanafe_reproduces_snnc_spike_trains_and_synaptic_events(tmp_path: Path) -> None:
    pytest.importorskip("sanafe")
    from snnc.backends.yoso import compile_yoso
    from snnc.backends.yoso.drivers.simulate import simulate_deployment
    from snnc.tests.yoso_models import ttfs_mlp

    rng = np.random.default_rng(5)
    graph = ttfs_mlp((64, 40, 10), time_steps=16, sigma=0.3, seed=2)
    x = rng.random((6, 64)).astype(np.float32)
    dep = tmp_path / "dep"
    compile_yoso(graph, dep, sample_x=x, force=True)
    steps, inputs, layers = sf.deployment_layers(dep)
    assert (steps, inputs, [ly.weight.shape for ly in layers]) == (16, 64, [(40, 64), (10, 40)])
    assert [hi - lo for lo, hi in layers[0].blocks] and sum(hi - lo for lo, hi in layers[0].blocks) == 40
    ref = simulate_deployment(dep, x, record=True)
    enc = next(k for k in ref.spikes if k not in {ly.name for ly in layers})
    net = sf.SanafeNet(steps, inputs, layers, log_spikes=True)
    hidden = 0
    for k in range(len(x)):
        net.set_input(ref.spikes[enc][:, k])
        out = net.run(trace=True)
        got = net.spike_trains(out)
        assert got["in"] == sf.spike_steps(ref.spikes[enc][:, k])
        for ly in layers:
            assert got[ly.name] == sf.spike_steps(ref.spikes[ly.name][:, k]), (k, ly.name)
        hidden += len(got[layers[0].name])
        assert int(out["spikes"]) == int(ref.images[k].events["weight.read"])  # synaptic events, both counts
    assert hidden > 0  # the comparison saw hidden spikes, not only silence
