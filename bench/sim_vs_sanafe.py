"""Outside yardstick (issue 16): snnc's YOSO chip simulator beside SANA-FE, synaptic events per second.

Both simulators run the same network on the same MNIST test images, one image after the other, on one
core each:

* **snnc**: ``models/stdbp-mnist-784-800-10.onnx`` compiled for the shipped ``yoso-6x7.toml``
  (``compile_yoso``: 8-bit weights, integer thresholds, the hidden layer split over 37 PEs) and run by
  ``simulate_deployment`` (what ``snnc simulate DIR`` runs), ``workers=1``.
* **SANA-FE** (``pip install sanafe``, 2.2.9): the *same* integer weights and thresholds, the same
  partition (one SANA-FE core per YOSO PE, neurons in the same blocks; the 784 input neurons on one
  more core, like YOSO's host link), on SANA-FE's shipped Loihi architecture (``loihi.yaml``, 8 x 4
  tiles x 4 cores) in its default timing model (``timing_model="detailed"``), fed the spike trains of
  snnc's TTFS encoder for each image (SANA-FE ``input`` neurons with a per-step ``spikes`` list).

The neuron model: SANA-FE has no ReL-PSP neuron, so the hidden and output neurons are its closest model,
``leaky_integrate_fire`` with ``leak_decay = 1`` and ``input_decay = 1`` (no leak; the synaptic current
``u`` keeps every weight that arrived, so ``v`` integrates a ramp: an input spike at step ``s`` adds
``w * (t - s)`` at every ``t > s``, exactly ReL-PSP's PSP), ``threshold = theta - 0.5`` (SANA-FE fires on
``v > threshold``, ReL-PSP on ``V >= theta``; potentials are integers) and a hard reset to ``-1e15``
(ReL-PSP fires once; no 64-step ramp of 8-bit weights climbs back, and the sum stays exact in float64).
SANA-FE's ``refractory_delay`` would also stop a second spike, but ``chip.reset()`` between images does
not clear it (the next image then lost spikes); the reset potential does not carry over. With ``--check``
the script compares every neuron's spike steps of both
simulators image by image; on the shipped model they are equal (see ``docs/results.md``).

"Synaptic event", as each simulator counts it:

* snnc: ``synapse_ops`` of the PE counters (``SimResult.pe_ops``, ``weight.read`` in the energy events):
  one per (input spike accepted by a PE, local neuron it reaches) -- for these dense layers, every spike of
  a layer times the neurons of the next layer (784 -> 800: 800 per input spike).
* SANA-FE: ``spikes`` of ``SpikingChip.sim``'s result: one per (spike, outgoing connection) processed by
  a synapse unit (its synapse energy is ``spikes x energy_process_spike``).

The two counts are compared image by image (they must be equal when the spike trains are). The rate is
events / wall seconds of the simulation call alone (SANA-FE: ``chip.sim``; snnc: ``simulate_deployment``,
which includes its per-image setup); CPU seconds are printed too. Runs alternate (snnc, SANA-FE) per
repeat; the medians are reported.

Usage:
    python bench/sim_vs_sanafe.py [--images 100] [--repeats 3] [--data-dir /work/shared/data/mnist]
                                  [--model models/stdbp-mnist-784-800-10.onnx] [--check]
                                  [--sanafe-threads 1] [--engine ENGINE]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snnc.errors import SnncError
from snnc.io import claim_output, write_atomic

DEFAULT_MODEL = "models/stdbp-mnist-784-800-10.onnx"
DEFAULT_DATA = "/work/shared/data/mnist"
LOIHI_CORES_PER_TILE = 4
SILENCED = -1e15  # potential after the one spike: no 64-step ramp of 8-bit weights climbs back (exact in float64)


@dataclass
class DenseLayer:
    """One YOSO layer as SANA-FE gets it: integer weights ``[n, m]``, threshold, and the PE blocks."""

    name: str
    weight: np.ndarray
    threshold: float
    blocks: list[tuple[int, int]] = field(default_factory=list)  # (first neuron, end) per PE, in PE order


def relpsp_as_lif(theta: float, time_steps: int) -> dict[str, Any]:
    """SANA-FE ``leaky_integrate_fire`` attributes that reproduce ``snn.relpsp`` with integer state.

    No leak on ``v`` or on the synaptic current ``u`` (the current integrates the weights: the ReL-PSP
    slope ``K``; ``v`` integrates ``u``: the potential ``V``), fire on ``v > theta - 0.5`` (= ``V >= theta``
    for integer ``V``), and reset far below any reachable potential (ReL-PSP fires once).
    """
    if not theta > 0:
        raise ValueError(f"ReL-PSP threshold must be > 0, got {theta}")
    return {"threshold": float(theta) - 0.5, "leak_decay": 1.0, "input_decay": 1.0, "reset_mode": "hard",
            "reset": SILENCED}


def sanafe_dense_weights(weight: np.ndarray) -> list[float]:
    """snnc's dense weight ``[n_out, n_in]`` as SANA-FE's ``connect_neurons_dense`` list (source-major)."""
    w = np.asarray(weight)
    if w.ndim != 2:
        raise ValueError(f"dense weight must be 2-D, got shape {w.shape}")
    return w.T.astype(np.float64).ravel().tolist()


def core_slot(index: int) -> tuple[int, int]:
    """(tile, core) of the ``index``-th SANA-FE core used: cores filled tile by tile (Loihi: 4 per tile)."""
    return index // LOIHI_CORES_PER_TILE, index % LOIHI_CORES_PER_TILE


def spike_steps(train: np.ndarray) -> list[tuple[int, int]]:
    """Sorted (step, neuron) pairs of a bool ``[T, n]`` spike train."""
    t, i = np.nonzero(np.asarray(train))
    return sorted(zip(t.tolist(), i.tolist(), strict=True))


def deployment_layers(dep_dir: str | os.PathLike[str]) -> tuple[int, int, list[DenseLayer]]:
    """Time steps, input size and the dense ReL-PSP layers of a YOSO deployment, with their PE blocks.

    Raises:
        SystemExit: a deployment this yardstick cannot mirror (not a chain of dense ReL-PSP layers).
    """
    from snnc.backends.yoso.deploy import load_deployment
    from snnc.backends.yoso.drivers.simulate import get_chip

    chip = get_chip(dep_dir)
    graph = chip.host.graph
    dep = load_deployment(dep_dir)
    ops = [op for op in graph.ops if op.opname not in ("snn.ttfs_encode", "snn.first_spike_decode")]
    layers: list[DenseLayer] = []
    for dense, neuron in zip(ops[::2], ops[1::2], strict=False):  # odd length: refused below
        if dense.opname != "snn.dense" or neuron.opname != "snn.relpsp":
            raise SystemExit(f"sim_vs_sanafe mirrors chains of snn.dense -> snn.relpsp only, got "
                             f"{dense.opname} -> {neuron.opname}")
        layers.append(DenseLayer(neuron.result.name, np.asarray(dense.attrs["weight"], np.int64),
                                 float(neuron.attrs["threshold"])))
    if len(ops) != 2 * len(layers) or not layers:
        raise SystemExit("sim_vs_sanafe: the deployment is not a chain of dense ReL-PSP layers")
    by_name = {ly.name: ly for ly in layers}
    for pe in dep.pes:
        cfg = pe.config
        by_name[cfg["layer_name"]].blocks.append((int(cfg["neurons"][0]), int(cfg["neurons"][1])))
    enc = [op for op in graph.ops if op.opname == "snn.ttfs_encode"]
    if len(enc) != 1:
        raise SystemExit("sim_vs_sanafe: expected one snn.ttfs_encode input")
    return int(enc[0].attrs["time_steps"]), int(layers[0].weight.shape[1]), layers


class SanafeNet:
    """The deployment's network loaded on a SANA-FE chip (Loihi architecture), ready to run image by image."""

    def __init__(self, time_steps: int, inputs: int, layers: list[DenseLayer], arch_path: str | None = None,
                 threads: int = 1, log_spikes: bool = False) -> None:
        import sanafe

        if arch_path is None:
            from importlib.resources import files

            arch_path = str(files("sanafe.examples") / "loihi.yaml")
        self.arch_path, self.time_steps, self.threads = arch_path, time_steps, threads
        arch = sanafe.load_arch(arch_path)
        net = sanafe.Network()
        slot = 0
        inp = net.create_neuron_group("in", inputs, log_spikes=log_spikes)
        tile, core = core_slot(slot)
        for i, neuron in enumerate(inp):  # Loihi's input somas: one hardware unit per input neuron
            neuron.set_attributes(soma_hw_name=f"loihi_inputs[{i}]", model_attributes={"spikes": [False]},
                                  log_spikes=log_spikes)
            neuron.map_to_core(arch.tiles[tile].cores[core])
        slot += 1
        prev, self.names = inp, ["in"]
        for ly in layers:
            group = net.create_neuron_group(ly.name, ly.weight.shape[0], relpsp_as_lif(ly.threshold, time_steps),
                                            soma_hw_name="loihi_lif", default_synapse_hw_name="loihi_dense_synapse",
                                            default_dendrite_hw_name="loihi_dendrites", log_spikes=log_spikes)
            for lo, hi in ly.blocks:
                tile, core = core_slot(slot)
                for k in range(lo, hi):
                    group[k].map_to_core(arch.tiles[tile].cores[core])
                slot += 1
            prev.connect_neurons_dense(group, {"weight": sanafe_dense_weights(ly.weight)})
            prev = group
            self.names.append(ly.name)
        self.cores_used = slot
        self.chip = sanafe.SpikingChip(arch)
        self.chip.load(net)
        self.inputs = list(self.chip.mapped_neuron_groups["in"])

    def set_input(self, train: np.ndarray) -> None:
        """Reset the chip and give input neuron ``i`` the spike list ``train[:, i]`` (bool ``[T, inputs]``)."""
        self.chip.reset()
        tr = np.asarray(train, bool)
        for i, neuron in enumerate(self.inputs):
            neuron.set_attributes(model_attributes={"spikes": tr[:, i].tolist()})

    def run(self, trace: bool = False) -> dict[str, Any]:
        """``chip.sim`` over the time steps, default (detailed) timing model."""
        return self.chip.sim(self.time_steps, processing_threads=self.threads, spike_trace=trace)

    def spike_trains(self, result: dict[str, Any]) -> dict[str, list[tuple[int, int]]]:
        """Group name -> sorted (step, neuron) pairs from a result run with ``trace=True``."""
        out: dict[str, list[tuple[int, int]]] = {name: [] for name in self.names}
        for step, spikes in enumerate(result["spike_trace"]):
            for address in spikes:
                out[address.group_name].append((step, int(address.neuron_offset)))
        return {k: sorted(v) for k, v in out.items()}


def cpu_seconds() -> float:
    """User + system CPU time of this process (every thread)."""
    return time.process_time()


def simulate_kwargs(engine: str | None) -> dict[str, Any]:
    """Keyword arguments selecting snnc's simulator engine.

    ENGINE HOOK (issue 16): the compiled simulator core is being added beside the Python one. When
    ``simulate_deployment`` grows an ``engine`` parameter, it is passed through here unchanged; until
    then only the default engine can be measured and asking for another one is an error.
    """
    if engine is None:
        return {}
    from snnc.backends.yoso.drivers.simulate import simulate_deployment

    if "engine" in inspect.signature(simulate_deployment).parameters:
        return {"engine": engine}
    raise SystemExit(f"--engine {engine!r}: simulate_deployment has no engine option yet (issue 16); "
                     "leave --engine out to measure the current simulator")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--data-dir", default=DEFAULT_DATA)
    ap.add_argument("--images", type=int, default=100, help="MNIST test images (default 100)")
    ap.add_argument("--repeats", type=int, default=3, help="alternating runs of each simulator (default 3)")
    ap.add_argument("--samples", type=int, default=256, help="training images for the placer's statistics")
    ap.add_argument("--sanafe-threads", type=int, default=1,
                    help="SANA-FE processing_threads (default 1: one core, like snnc with workers=1; 0 = all)")
    ap.add_argument("--arch", default=None, help="SANA-FE architecture YAML (default: its shipped loihi.yaml)")
    ap.add_argument("--engine", default=None, help="snnc simulator engine, passed to simulate_deployment")
    ap.add_argument("--check", action="store_true", help="compare every spike of both simulators first")
    ap.add_argument("--json", default=None, help="write the figures as JSON")
    args = ap.parse_args(argv)
    try:  # --json is checked before any work and written whole or not at all (snnc.io)
        json_out = (claim_output(args.json, inputs=(args.model, args.data_dir, args.arch), option="--json")
                    if args.json else None)
    except SnncError as err:
        raise SystemExit(f"error: {err}") from None
    try:
        import sanafe  # noqa: F401 - only to fail early with a clear message
    except ImportError:
        raise SystemExit("sim_vs_sanafe needs SANA-FE: pip install sanafe (2.2.9)") from None
    from importlib.metadata import version

    from snnc.api import load_model
    from snnc.backends.yoso import compile_yoso
    from snnc.backends.yoso.drivers.simulate import simulate_deployment
    from snnc.datasets import load_dataset

    if args.arch is not None and not Path(args.arch).is_file():
        raise SystemExit(f"--arch {args.arch!r}: no such SANA-FE architecture file")
    if args.images < 1 or args.repeats < 1:
        raise SystemExit("--images and --repeats must be >= 1")
    sim_kw = simulate_kwargs(args.engine)
    train = load_dataset("mnist", args.data_dir, split="train", limit=args.samples)
    test = load_dataset("mnist", args.data_dir, split="test", limit=args.images)
    x = test.x.reshape(len(test.x), -1)
    with tempfile.TemporaryDirectory(prefix="sim-vs-sanafe-") as tmp:
        dep = Path(tmp) / "dep"
        compile_yoso(load_model(args.model), dep, sample_x=train.x.reshape(len(train.x), -1), force=True,
                     model_path=args.model)
        steps, inputs, layers = deployment_layers(dep)
        # the input spike trains and spike counts of snnc (record=True), outside the timed runs
        ref = simulate_deployment(dep, x, y=test.y, record=True, **sim_kw)
        enc_name = next(k for k in ref.spikes if k not in {ly.name for ly in layers})
        trains = ref.spikes[enc_name]  # [T, N, 784]
        snnc_events = [int(r.events["weight.read"]) for r in ref.images]
        t0 = time.perf_counter()
        sf = SanafeNet(steps, inputs, layers, args.arch, args.sanafe_threads)
        build_s = time.perf_counter() - t0

        n = len(x)
        equal_trains = None
        if args.check:  # a second copy that logs spikes (logging stays off in the timed copy)
            logged = SanafeNet(steps, inputs, layers, args.arch, args.sanafe_threads, log_spikes=True)
            equal_trains = 0
            for k in range(n):
                logged.set_input(trains[:, k])
                got = logged.spike_trains(logged.run(trace=True))
                want = {enc_name: spike_steps(trains[:, k])} | {ly.name: spike_steps(ref.spikes[ly.name][:, k])
                                                                for ly in layers}
                same = got["in"] == want[enc_name] and all(got[ly.name] == want[ly.name] for ly in layers)
                equal_trains += int(same)
                if not same and equal_trains == k:  # report the first difference only
                    print(f"image {k}: spike trains differ: " + ", ".join(
                        f"{ly.name} snnc {len(want[ly.name])} / SANA-FE {len(got[ly.name])}" for ly in layers))

        snnc_wall, snnc_cpu, sf_wall, sf_cpu = [], [], [], []
        sf_events: list[int] = []
        sf_fired: list[int] = []
        for _ in range(args.repeats):
            c0, w0 = cpu_seconds(), time.perf_counter()
            res = simulate_deployment(dep, x, y=test.y, workers=1, **sim_kw)
            snnc_wall.append(time.perf_counter() - w0)
            snnc_cpu.append(cpu_seconds() - c0)
            if [int(r.events["weight.read"]) for r in res.images] != snnc_events:
                raise SystemExit("snnc's synapse operation counts changed between runs")
            wall = cpu = 0.0
            events, fired = [], []
            for k in range(n):
                sf.set_input(trains[:, k])
                c0, w0 = cpu_seconds(), time.perf_counter()
                out = sf.run()
                wall += time.perf_counter() - w0
                cpu += cpu_seconds() - c0
                events.append(int(out["spikes"]))
                fired.append(int(out["neurons_fired"]))
            sf_wall.append(wall)
            sf_cpu.append(cpu)
            sf_events, sf_fired = events, fired

    snnc_total, sf_total = sum(snnc_events), sum(sf_events)
    med = statistics.median
    snnc_rate, sf_rate = snnc_total / med(snnc_wall), sf_total / med(sf_wall)
    snnc_cpu_rate, sf_cpu_rate = snnc_total / med(snnc_cpu), sf_total / med(sf_cpu)
    spikes = {name: float(np.mean([r.spikes[name] for r in ref.images])) for name in ref.images[0].spikes}
    print(f"machine   {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, Python {platform.python_version()}")
    print(f"network   {args.model}: {inputs}-" + "-".join(str(ly.weight.shape[0]) for ly in layers)
          + f", T = {steps}, 8-bit weights as deployed; {n} MNIST test images")
    print(f"snnc      simulate_deployment (workers=1{', engine=' + args.engine if args.engine else ''}), "
          f"{sum(len(ly.blocks) for ly in layers)} PEs")
    print(f"SANA-FE   {version('sanafe')}, {Path(sf.arch_path).name}, timing_model=detailed, "
          f"processing_threads={args.sanafe_threads}, {sf.cores_used} cores; network built and loaded in "
          f"{build_s:.1f} s (not timed below)")
    print("spikes    per image (snnc): " + ", ".join(f"{k} {v:.1f}" for k, v in spikes.items())
          + f"; SANA-FE neurons fired per image {np.mean(sf_fired):.1f}")
    if equal_trains is not None:
        print(f"check     spike trains equal (every neuron, every step) on {equal_trains}/{n} images")
    same_events = snnc_events == sf_events
    print(f"events    synaptic events per image: snnc {snnc_total / n:,.1f}, SANA-FE {sf_total / n:,.1f} "
          f"(equal on every image: {same_events})")
    print(f"{'':10}{'events':>12} {'wall s':>9} {'events/wall-s':>15} {'CPU s':>9} {'events/CPU-s':>14}")
    print(f"{'snnc':10}{snnc_total:>12,} {med(snnc_wall):>9.3f} {snnc_rate:>15,.0f} {med(snnc_cpu):>9.3f} "
          f"{snnc_cpu_rate:>14,.0f}")
    print(f"{'SANA-FE':10}{sf_total:>12,} {med(sf_wall):>9.3f} {sf_rate:>15,.0f} {med(sf_cpu):>9.3f} "
          f"{sf_cpu_rate:>14,.0f}")
    print(f"ratio     snnc / SANA-FE: {snnc_rate / sf_rate:.2f}x per wall-second, "
          f"{snnc_cpu_rate / sf_cpu_rate:.2f}x per CPU-second (medians of {args.repeats} alternating runs; "
          f"walls snnc {', '.join(f'{w:.2f}' for w in snnc_wall)}, SANA-FE {', '.join(f'{w:.2f}' for w in sf_wall)})")
    if json_out is not None:
        write_atomic(json_out, json.dumps({
            "images": n, "model": args.model, "engine": args.engine, "sanafe": version("sanafe"),
            "sanafe_threads": args.sanafe_threads, "snnc_events": snnc_events, "sanafe_events": sf_events,
            "snnc_wall_s": snnc_wall, "snnc_cpu_s": snnc_cpu, "sanafe_wall_s": sf_wall, "sanafe_cpu_s": sf_cpu,
            "equal_trains": equal_trains, "spikes_mean": spikes}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
