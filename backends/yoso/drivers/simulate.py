"""Simulate a YOSO deployment on a dataset: ``snnc simulate DIR --dataset NAME``.

Runs the deployment directory alone (``snnc compile --target yoso`` wrote it) on the chip model of
:mod:`snnc.backends.yoso.sim.chip`, one image at a time (``--workers N``: images in N processes;
``--dask``: image chunks as tasks on a Dask cluster, local or remote; same results either way), and
reports per image the prediction, latency (cycles, ms at the chip's clock), energy (uJ, with its
breakdown), average power (mW), spikes per layer, packets, hops and the busiest link; per dataset the
accuracy and the distributions (mean, p50, p99). ``docs/simulator.md`` has the model.

Command line (:mod:`snnc.cli.simulate`, ``snnc simulate``)::

    snnc simulate build/mlp --dataset mnist --data-dir DIR [--limit N] [--workers N] [--plots DIR] [--json FILE]
                  [--dask [--scheduler local|tcp://HOST:PORT] [--scheduler-timeout S]]

Example:
    >>> result = simulate_deployment("build/mlp", x[:10], y=y[:10])     # doctest: +SKIP
    >>> result.accuracy, result.images[0].latency_ms, result.images[0].energy_uj   # doctest: +SKIP
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from snnc.errors import DatasetError, SnncError

if TYPE_CHECKING:  # the simulator proper is imported when used, so that building the CLI parser stays cheap
    from snnc.backends.yoso.sim.chip import Chip, ImageRun


# ------------------------------------------------------------------------------------------ results
@dataclass
class ImageRecord:
    """What the chip did on one image.

    Attributes:
        index: position in the input batch.
        prediction: argmax of the scores (ties to the lowest index).
        label: the true class, when given.
        scores: the decoder's scores.
        cycles: latency in cycles; ``latency_ms`` at the chip's clock.
        energy_uj: total energy; ``energy_pj`` per category (``energy.CATEGORIES``).
        power_mw: average power (energy / latency).
        spikes: spiking value (encoder or layer) -> spikes in this image.
        packets: ``spike`` / ``end_of_step`` packets injected, ``host_in`` / ``host_out`` through the host link.
        hops: flit link traversals (host link included).
        busiest_link: ``{"from", "to", "flits"}`` (``[x, y]`` or ``"host"``).
        events: hardware event counts (``energy.event_counts``).
        step_cycles: duration of every step, barrier included.
        leak_sweep: on a chip with the leak option, what the per-step decay sweep cost: ``decays`` (state words
            decayed), ``cycles`` (core cycles it added, summed over the PEs), ``pe_cycles_max`` (on the PE it
            cost most: the latency it can add, its layer's update being on each step's critical path),
            ``energy_pj``; None without the option.
    """

    index: int
    prediction: int
    label: int | None
    scores: list[float]
    cycles: int
    latency_ms: float
    energy_uj: float
    energy_pj: dict[str, float]
    power_mw: float
    spikes: dict[str, int]
    packets: dict[str, int]
    hops: int
    busiest_link: dict[str, Any]
    events: dict[str, int]
    step_cycles: list[int] = field(default_factory=list)
    leak_sweep: dict[str, float] | None = None

    def line(self) -> str:
        """One line for the per-image table."""
        label = "-" if self.label is None else str(self.label)
        link = self.busiest_link
        return (f"{self.index:>6} {label:>5} {self.prediction:>4} {self.cycles:>9} {self.latency_ms:>9.3f} "
                f"{self.energy_uj:>9.3f} {self.power_mw:>8.4f} {sum(self.spikes.values()):>7} "
                f"{sum(self.packets[k] for k in ('spike', 'end_of_step')):>7} {self.hops:>7}  "
                f"{_where(link['from'])}->{_where(link['to'])} ({link['flits']})")


HEADER = (f"{'image':>6} {'label':>5} {'pred':>4} {'cycles':>9} {'ms':>9} {'uJ':>9} {'mW':>8} {'spikes':>7} "
          f"{'packets':>7} {'hops':>7}  busiest link (flits)")


def _where(node: Any) -> str:
    return "host" if node == "host" else f"({node[0]},{node[1]})"


@dataclass
class SimResult:
    """Per-image records and dataset aggregates of a simulation.

    Attributes:
        deployment: the deployment directory.
        chip: hardware name; ``mesh`` (cols, rows); ``clock_hz``; ``time_steps``; ``barrier_cycles``.
        images: one :class:`ImageRecord` per input, in input order.
        scores: float32 ``[N, classes]``; ``predictions`` int64 ``[N]``; ``labels`` (or None).
        spikes: value name -> bool ``[T, N, *features]`` (only with ``record=True``), like
            ``RunResult.spikes`` of a backend.
        link_flits: ``(from node, to node, flits summed over the images)`` per link (host node =
            ``cols * rows``); ``pe_busy``, ``pe_ops``: per PE id, busy cycles and synapse operations summed
            over the images; ``pe_nodes``: per PE id, its node; ``pe_layers``: per PE id, its layer name.
        wall_s: wall time of the simulation; ``workers``: processes used (pool processes, or the Dask
            cluster's workers).
    """

    deployment: str
    chip: str
    mesh: tuple[int, int]
    clock_hz: float
    time_steps: int
    barrier_cycles: int
    images: list[ImageRecord]
    scores: np.ndarray
    predictions: np.ndarray
    labels: np.ndarray | None
    spikes: dict[str, np.ndarray]
    link_flits: list[tuple[int, int, int]]
    pe_busy: np.ndarray
    pe_ops: np.ndarray
    pe_nodes: list[int]
    pe_layers: list[str]
    wall_s: float = 0.0
    workers: int = 1

    @property
    def accuracy(self) -> float | None:
        """Fraction of correct predictions (None without labels)."""
        if self.labels is None or not len(self.labels):
            return None
        return float(np.mean(self.predictions == self.labels))

    def distribution(self, name: str) -> dict[str, float]:
        """``mean``, ``p50``, ``p99``, ``min``, ``max`` of a per-image figure: ``cycles``, ``latency_ms``,
        ``energy_uj``, ``power_mw``, ``hops``, ``packets``, ``spikes``."""
        values = np.asarray([_figure(r, name) for r in self.images], np.float64)
        if not values.size:
            return dict.fromkeys(("mean", "p50", "p99", "min", "max"), float("nan"))
        return {"mean": float(values.mean()), "p50": float(np.percentile(values, 50)),
                "p99": float(np.percentile(values, 99)), "min": float(values.min()), "max": float(values.max())}

    def mean_energy_pj(self) -> dict[str, float]:
        """Energy per category, averaged over the images (pJ)."""
        n = max(1, len(self.images))
        keys = self.images[0].energy_pj if self.images else {}
        return {k: sum(r.energy_pj[k] for r in self.images) / n for k in keys}

    def mean_spikes(self) -> dict[str, float]:
        """Spikes per image of each spiking value, averaged."""
        n = max(1, len(self.images))
        keys = self.images[0].spikes if self.images else {}
        return {k: sum(r.spikes[k] for r in self.images) / n for k in keys}

    def busiest_link(self) -> tuple[int, int, int] | None:
        """The link that carried the most flits over all images."""
        return max(self.link_flits, key=lambda e: (e[2], -e[0], -e[1]), default=None)

    def summary(self) -> dict[str, Any]:
        """The dataset aggregates (what ``--json`` writes under ``summary``)."""
        cols = self.mesh[0]
        link = self.busiest_link()
        return {
            "images": len(self.images), "accuracy": self.accuracy,
            **{name: self.distribution(name) for name in FIGURES},
            "energy_pj_mean": self.mean_energy_pj(), "spikes_mean": self.mean_spikes(),
            "busiest_link": None if link is None else {
                "from": _node_xy(link[0], cols, self.mesh), "to": _node_xy(link[1], cols, self.mesh),
                "flits_per_image": link[2] / max(1, len(self.images))},
            "wall_s": self.wall_s, "workers": self.workers,
            "wall_ms_per_image": 1e3 * self.wall_s / max(1, len(self.images)),
        }

    def to_json(self) -> dict[str, Any]:
        """Everything but the recorded spike trains, as JSON-ready data."""
        return {"deployment": self.deployment, "chip": self.chip, "mesh": list(self.mesh), "clock_hz": self.clock_hz,
                "time_steps": self.time_steps, "barrier_cycles": self.barrier_cycles, "summary": self.summary(),
                "links": [{"from": _node_xy(a, self.mesh[0], self.mesh), "to": _node_xy(b, self.mesh[0], self.mesh),
                           "flits": f} for a, b, f in self.link_flits],
                "pes": [{"id": k, "xy": _node_xy(node, self.mesh[0], self.mesh), "layer": self.pe_layers[k],
                         "busy_cycles": int(self.pe_busy[k]), "synapse_ops": int(self.pe_ops[k])}
                        for k, node in enumerate(self.pe_nodes)],
                "images": [asdict(r) for r in self.images]}

    def format(self, show: int = 10) -> str:
        """The report ``snnc simulate`` prints: the first ``show`` images and the dataset aggregates."""
        n = len(self.images)
        lines = [f"deployment {self.deployment}  (chip {self.chip}, {self.mesh[0]} x {self.mesh[1]} mesh, "
                 f"{len(self.pe_nodes)} PEs, T = {self.time_steps}, clock {self.clock_hz / 1e6:g} MHz, "
                 f"barrier {self.barrier_cycles} cycles)"]
        if show and n:
            lines += ["", HEADER] + [r.line() for r in self.images[:show]]
            if n > show:
                lines.append(f"{'...':>6} ({n - show} more images; --json has all)")
        lines.append("")
        acc = self.accuracy
        lines.append(f"images      {n}" + ("" if acc is None else
                                           f"   accuracy {100 * acc:.2f} % "
                                           f"({int(round(acc * n))}/{n})"))
        for name, unit, fmt in (("cycles", "cycles", ".0f"), ("latency_ms", "ms", ".3f"), ("energy_uj", "uJ", ".3f"),
                                ("power_mw", "mW", ".4f"), ("packets", "packets", ".1f"), ("hops", "hops", ".1f")):
            d = self.distribution(name)
            lines.append(f"{name:<11} mean {d['mean']:{fmt}}  p50 {d['p50']:{fmt}}  p99 {d['p99']:{fmt}}  "
                         f"max {d['max']:{fmt}} {unit}")
        energy = self.mean_energy_pj()
        total = sum(energy.values()) or 1.0
        lines.append("energy      " + ", ".join(f"{k} {v / 1e6:.4f} uJ ({100 * v / total:.1f} %)"
                                                for k, v in energy.items() if v))
        sweeps = [r.leak_sweep for r in self.images if r.leak_sweep is not None]
        if sweeps:
            mean = {k: sum(sw[k] for sw in sweeps) / len(sweeps) for k in sweeps[0]}
            lines.append(f"leak sweep  {mean['decays']:.0f} decays, {mean['cycles']:.0f} core cycles (all PEs; "
                         f"{mean['pe_cycles_max']:.0f} on the busiest PE), {mean['energy_pj']:.1f} pJ "
                         f"({100 * mean['energy_pj'] / total:.1f} %) per image: every neuron of a leaky layer is "
                         "decayed every step, input or not")
        lines.append("spikes      " + ", ".join(f"{k} {v:.1f}" for k, v in self.mean_spikes().items()) + " per image")
        link = self.busiest_link()
        if link is not None:
            lines.append(f"busiest     {_where(_node_xy(link[0], self.mesh[0], self.mesh))} -> "
                         f"{_where(_node_xy(link[1], self.mesh[0], self.mesh))}: "
                         f"{link[2] / max(1, n):.1f} flits per image")
        lines.append(f"wall time   {self.wall_s:.2f} s ({1e3 * self.wall_s / max(1, n):.1f} ms per image, "
                     f"{self.workers} worker{'s' if self.workers > 1 else ''})")
        return "\n".join(lines)


    def __repr__(self) -> str:
        acc = "" if self.accuracy is None else f", accuracy {100 * self.accuracy:.2f} %"
        mean = self.distribution("cycles")["mean"] if self.images else float("nan")
        return (f"SimResult({self.deployment!r}, {len(self.images)} images{acc}, {mean:.0f} cycles per image, "
                f"{self.mesh[0]} x {self.mesh[1]} mesh)")


FIGURES = ("cycles", "latency_ms", "energy_uj", "power_mw", "packets", "hops", "spikes")


def _figure(r: ImageRecord, name: str) -> float:
    if name == "packets":
        return r.packets["spike"] + r.packets["end_of_step"]
    if name == "spikes":
        return sum(r.spikes.values())
    return float(getattr(r, name))


def _node_xy(node: int, cols: int, mesh: tuple[int, int]) -> list[int] | str:
    if node == mesh[0] * mesh[1]:
        return "host"
    return [node % cols, node // cols]


# ------------------------------------------------------------------------------------------ workers
_CHIPS: dict[tuple[str, str, int | None, int | None], Chip] = {}


def _chip_key(path: str | os.PathLike[str], barrier_cycles: int | None,
              eject_depth: int | None) -> tuple[str, str, int | None, int | None]:
    """Cache key of a deployment: its path and the hash of every file it has (a deployment recompiled, or
    changed in place whatever its manifest says, is reloaded and verified again)."""
    from snnc.backends.yoso.drivers.distributed import content_digest, pack_deployment

    root = Path(path)
    try:
        digest = content_digest(pack_deployment(root).files)
    except SnncError:
        digest = ""  # load_deployment reports what is wrong
    return (str(root.resolve()), digest, barrier_cycles, eject_depth)


def get_chip(path: str | os.PathLike[str], barrier_cycles: int | None = None,
             eject_depth: int | None = None) -> Chip:
    """The :class:`Chip` of a deployment directory (loaded and verified once per process and deployment)."""
    from snnc.backends.yoso.deploy import chip_from, load_deployment
    from snnc.backends.yoso.sim.chip import Chip

    key = _chip_key(path, barrier_cycles, eject_depth)
    chip = _CHIPS.get(key)
    if chip is None:
        chip = chip_from(Chip, load_deployment(path), barrier_cycles=barrier_cycles, eject_depth=eject_depth)
        if key[1]:
            _CHIPS[key] = chip
    return chip


def forget_chip(path: str | os.PathLike[str]) -> None:
    """Drop the cached chips of a deployment directory (a sweep simulates many short-lived ones)."""
    root = str(Path(path).resolve())
    for key in [k for k in _CHIPS if k[0] == root]:
        del _CHIPS[key]


@dataclass
class _Chunk:
    records: list[ImageRecord]
    scores: np.ndarray
    spikes: dict[str, np.ndarray]
    links: dict[tuple[int, int], int]
    pe_busy: np.ndarray
    pe_ops: np.ndarray


def _simulate_chunk(key: tuple[str, int | None, int | None], first: int, x: np.ndarray, y: np.ndarray | None,
                    record: bool, engine: str = "auto") -> _Chunk:
    from snnc.backends.reference.kernels import SpikeTrain
    from snnc.backends.yoso.sim.compiled.chip import image_runner
    from snnc.backends.yoso.sim.energy import LEAK_CATEGORY, EnergyModel, event_counts
    from snnc.passes.canonicalize import SHAPE_OPS

    chip = get_chip(*key)  # (path, barrier_cycles, eject_depth)
    run_image = image_runner(chip, engine)
    energy = EnergyModel.from_hardware(chip.hw)
    env = chip.host.encode(x)
    runs: list[ImageRun] = []
    for b in range(len(x)):
        runs.append(run_image(chip.input_spikes(env, b)))
    T = chip.time_steps
    layers = {}
    for name, features in chip.layer_features.items():
        source = (lambda r, n=name: r.host_spikes[n]) if name in chip.to_host else (lambda r, n=name: r.spikes[n])
        stacked = np.stack([source(r) for r in runs], axis=1) if runs else np.zeros((T, 0, math.prod(features)), bool)
        layers[name] = stacked.reshape(T, len(runs), *features)
    scores = chip.host.decode(env, layers)
    # spikes are counted where they are made, not again where a flatten/reshape passes them on (as the reference)
    reshaped = {op.result.name for op in chip.host.graph.ops if op.opname in SHAPE_OPS}
    spike_values = {k: v for k, v in env.items() if isinstance(v, SpikeTrain)}
    counts = {k: v.counts() for k, v in spike_values.items() if k not in reshaped}
    links: dict[tuple[int, int], int] = {}
    pe_busy = np.zeros(len(chip.pes), np.int64)
    pe_ops = np.zeros(len(chip.pes), np.int64)
    records = []
    cols = chip.hw.mesh.cols
    mesh = (chip.hw.mesh.cols, chip.hw.mesh.rows)
    for b, run in enumerate(runs):
        events = event_counts(run.counters)
        parts = energy.breakdown(events, run.cycles)
        total = sum(parts.values())
        seconds = energy.seconds(run.cycles)
        busiest = (0, 0, 0)
        for a, to, f in run.link_flits:
            dst = chip.host_node if to == "host" else int(to)
            links[(a, dst)] = links.get((a, dst), 0) + f
            if (f, -a, -dst) > (busiest[2], -busiest[0], -busiest[1]):
                busiest = (a, dst, f)
        for k, c in enumerate(run.pe_counters):
            pe_busy[k] += c["busy_cycles"]
            pe_ops[k] += c["synapse_ops"]
        steps = np.diff([0, *[e + chip.barrier for e in run.step_end]]).tolist()
        records.append(ImageRecord(
            index=first + b, prediction=int(np.argmax(scores[b])), label=None if y is None else int(y[b]),
            scores=[float(s) for s in scores[b]], cycles=run.cycles, latency_ms=1e3 * seconds,
            energy_uj=total / 1e6, energy_pj={k: float(v) for k, v in parts.items()},
            power_mw=(total * 1e-12 / seconds) * 1e3 if seconds > 0 else 0.0,
            spikes={k: int(c[b]) for k, c in counts.items()}, packets=run.packets, hops=run.counters["hops"],
            busiest_link={"from": _node_xy(busiest[0], cols, mesh), "to": _node_xy(busiest[1], cols, mesh),
                          "flits": busiest[2]},
            events=events, step_cycles=[int(s) for s in steps],
            leak_sweep=None if energy.multiply_pj is None else {
                "decays": int(run.counters["decays"]), "cycles": int(run.counters["sweep_cycles"]),
                "pe_cycles_max": max((int(c["sweep_cycles"]) for c in run.pe_counters), default=0),
                "energy_pj": float(parts[LEAK_CATEGORY])}))
    spikes = {k: v.dense() for k, v in spike_values.items()} if record else {}
    return _Chunk(records, scores, spikes, links, pe_busy, pe_ops)


def _worker_init(key: tuple[str, int | None, int | None]) -> None:
    get_chip(*key)


# ------------------------------------------------------------------------------------------ API
def simulate_deployment(path: str | os.PathLike[str], x: np.ndarray, *, y: np.ndarray | None = None,
                        workers: int = 1, progress: bool = False, record: bool = False,
                        barrier_cycles: int | None = None, eject_depth: int | None = None,
                        chunk_size: int | None = None, scheduler: Any = None,
                        scheduler_timeout: float | None = None, engine: str = "auto") -> SimResult:
    """Run a deployment on the chip model, image by image.

    Args:
        path: the deployment directory (``snnc compile --target yoso -o DIR``).
        x: inputs ``[N, *features]`` (float32 in [0, 1]; reshaped to the model's input features when the
            sizes agree).
        y: labels ``[N]`` for the accuracy (optional).
        workers: processes simulating images in parallel (results identical to ``workers=1``); with
            ``scheduler="local"``, the worker processes of the local Dask cluster.
        progress: show a tqdm progress bar on stderr.
        record: keep every spike train (``SimResult.spikes``, like ``RunResult.spikes``).
        barrier_cycles: override the step barrier ``B`` (``docs/simulator.md``).
        eject_depth: override the packets a PE's input queue holds (default: the spike-address SRAM's words).
        chunk_size: images per task (default: a few tasks per worker, at most 64 images).
        scheduler: run the chunks as Dask tasks (:mod:`snnc.backends.yoso.drivers.distributed`): ``"local"``
            (a ``LocalCluster`` of ``workers`` processes on loopback, started and closed here),
            ``"tcp://HOST:PORT"`` (a running scheduler; its workers need not see ``path``) or a connected
            ``distributed.Client``. None (default): this process or the process pool. Results are
            identical to the serial run.
        scheduler_timeout: seconds to wait for a remote scheduler (default 10).
        engine: ``"compiled"`` (the numba core, :mod:`snnc.backends.yoso.sim.compiled`), ``"python"`` (the
            readable model) or ``"auto"`` (compiled when every PE's neuron has a compiled update, else Python;
            :func:`snnc.backends.yoso.sim.compiled.chip.engine_of` says which and why). Results are identical.

    Returns:
        A :class:`SimResult`.

    Raises:
        DeploymentError: the directory is not a valid deployment.
        DatasetError: ``x`` does not fit the model's input.
        SimulationError: a lost or duplicated packet, a deadlock or a stuck PE (the message says where).
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SnncError(f"workers must be a positive integer, got {workers!r}", where="simulate")
    start = time.perf_counter()
    chip = get_chip(path, barrier_cycles, eject_depth)
    from snnc.backends.yoso.sim.compiled.chip import image_runner

    image_runner(chip, engine)  # a bad engine name, or "compiled" for a chip that cannot, fails here
    key = (str(Path(path).resolve()), barrier_cycles, eject_depth)  # what a worker needs to load the same chip
    features = tuple(chip.host.graph.inputs[0].type.features)
    x = _check_x(x, features)
    if y is not None:
        y = np.asarray(y).astype(np.int64).reshape(-1)
        if len(y) != len(x):
            raise DatasetError(f"{len(y)} labels for {len(x)} inputs", where="simulate")
    n = len(x)
    if scheduler is not None:
        return _simulate_on_dask(chip, path, x, y, scheduler=scheduler, workers=workers, progress=progress,
                                 record=record, barrier_cycles=barrier_cycles, eject_depth=eject_depth,
                                 chunk_size=chunk_size, timeout=scheduler_timeout, start=start)
    if chunk_size is None:
        chunk_size = _default_chunk(n, workers)
    bounds = [(lo, min(n, lo + chunk_size)) for lo in range(0, n, chunk_size)]
    bar = _bar(n, progress)
    chunks: list[_Chunk] = []
    try:
        if workers == 1 or len(bounds) <= 1:
            for lo, hi in bounds:
                chunks.append(_simulate_chunk(key, lo, x[lo:hi], None if y is None else y[lo:hi], record, engine))
                bar.update(hi - lo)
        else:
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            with ProcessPoolExecutor(max_workers=min(workers, len(bounds)), mp_context=ctx,
                                     initializer=_worker_init, initargs=(key,)) as pool:
                futures = [pool.submit(_simulate_chunk, key, lo, x[lo:hi], None if y is None else y[lo:hi], record,
                                       engine)
                           for lo, hi in bounds]
                for fut, (lo, hi) in zip(futures, bounds, strict=True):
                    chunks.append(fut.result())
                    bar.update(hi - lo)
    except KeyboardInterrupt:
        done = sum(len(c.records) for c in chunks)
        partial = _merge(chip, str(path), chunks, None if y is None else y[:done], done,
                         time.perf_counter() - start, workers)
        raise SimulationInterrupted(partial, n) from None
    finally:
        bar.close()
    return _merge(chip, str(path), chunks, y, n, time.perf_counter() - start, workers)


class SimulationInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`simulate_deployment`: ``partial`` is the :class:`SimResult` of the images finished
    before it (the first ``len(partial.images)`` of ``total``, in input order)."""

    def __init__(self, partial: SimResult, total: int) -> None:
        super().__init__(f"interrupted after {len(partial.images)} of {total} images")
        self.partial = partial
        self.total = total


def _default_chunk(n: int, workers: int) -> int:
    return max(1, min(64, math.ceil(n / (4 * workers)))) if n else 1


def _simulate_on_dask(chip: Chip, path: str | os.PathLike[str], x: np.ndarray, y: np.ndarray | None, *,
                      scheduler: Any, workers: int, progress: bool, record: bool, barrier_cycles: int | None,
                      eject_depth: int | None, chunk_size: int | None, timeout: float | None,
                      start: float) -> SimResult:
    """The chunks as Dask tasks (the deployment's files travel to the workers); merged like the serial run."""
    from snnc.backends.yoso.drivers import distributed as dd

    timeout = dd.DEFAULT_TIMEOUT if timeout is None else timeout
    n = len(x)
    with dd.dask_client(scheduler, workers, timeout=timeout) as client:
        n_workers = dd.require_workers(client, timeout=timeout)
        if chunk_size is None:
            chunk_size = _default_chunk(n, n_workers)
        bounds = [(lo, min(n, lo + chunk_size)) for lo in range(0, n, chunk_size)]
        bar = _bar(n, progress)
        try:
            chunks = dd.run_simulation_chunks(client, path, barrier_cycles, eject_depth, bounds, x, y, record, bar)
        except dd.DistributedRunError as err:  # keep what finished: the partial result travels with the error
            done = sorted(err.finished, key=lambda f: f[0])
            ys = None if y is None else (np.concatenate([y[lo:hi] for lo, hi, _ in done]) if done
                                         else y[:0])
            err.partial = _merge(chip, str(path), [c for _, _, c in done], ys, sum(hi - lo for lo, hi, _ in done),
                                 time.perf_counter() - start, n_workers)
            raise
        finally:
            bar.close()
    return _merge(chip, str(path), chunks, y, n, time.perf_counter() - start, n_workers)


def _check_x(x: np.ndarray, features: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind != "f":
        raise DatasetError(f"expected float inputs in [0, 1], got dtype {a.dtype}", where="simulate",
                           hint="scale 8-bit pixels as x = pixels / 255 (float32)")
    size = math.prod(features)
    if a.ndim < 1 or (a.ndim == 1 and size != a.shape[0]) or math.prod(a.shape[1:]) != size:
        raise DatasetError(f"inputs of shape {list(a.shape)} do not fit the model's input features {list(features)}",
                           where="simulate", hint="give x as [N, *features]")
    if a.ndim == 1:
        a = a[None]
    return a.reshape(len(a), *features).astype(np.float32, copy=False)


def _merge(chip: Chip, path: str, chunks: list[_Chunk], y: np.ndarray | None, n: int, wall: float,
           workers: int) -> SimResult:
    n_pes = len(chip.pes)
    records = [r for c in chunks for r in c.records]
    classes = chunks[0].scores.shape[1] if chunks else chip.host.graph.outputs[0].type.size
    scores = np.concatenate([c.scores for c in chunks]) if chunks else np.zeros((0, classes), np.float32)
    links: dict[tuple[int, int], int] = {}
    pe_busy = np.zeros(n_pes, np.int64)
    pe_ops = np.zeros(n_pes, np.int64)
    for c in chunks:
        for k, v in c.links.items():
            links[k] = links.get(k, 0) + v
        pe_busy += c.pe_busy
        pe_ops += c.pe_ops
    spikes: dict[str, np.ndarray] = {}
    if chunks and chunks[0].spikes:
        spikes = {k: np.concatenate([c.spikes[k] for c in chunks], axis=1) for k in chunks[0].spikes}
    hw = chip.hw
    return SimResult(deployment=path, chip=hw.chip.name, mesh=(hw.mesh.cols, hw.mesh.rows), clock_hz=hw.chip.clock_hz,
                     time_steps=chip.time_steps, barrier_cycles=chip.barrier, images=records, scores=scores,
                     predictions=np.argmax(scores, axis=1).astype(np.int64) if n else np.zeros(0, np.int64),
                     labels=y, spikes=spikes, link_flits=sorted((a, b, f) for (a, b), f in links.items()),
                     pe_busy=pe_busy, pe_ops=pe_ops, pe_nodes=[pe.node for pe in chip.pes],
                     pe_layers=[pe.layer_name for pe in chip.pes], wall_s=wall, workers=workers)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total: int, progress: bool) -> Any:
    if not progress:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc="simulate", unit="image", leave=False, file=sys.stderr)
