"""Design-space exploration: ``snnc sweep DIR --hw-grid FILE --dataset NAME -o OUTDIR``.

For every point of a grid of hardware overrides (the cartesian product of the grid file's lists) the
deployment's model (its final IR, ``model.ir``) is recompiled for the deployment's hardware file with
those values, the compiled deployment is simulated on the images, and one row records accuracy, mean
latency (cycles, ms), energy (uJ), power (mW), hops and PEs; a point the compiler rejects (a layer that does
not fit, a hardware file that breaks a rule) stays in the table as ``infeasible`` with the error's text.
The points run serially in this process or as Dask tasks (:mod:`snnc.backends.yoso.drivers.distributed`);
the table does not depend on which. Writes ``OUTDIR/sweep.csv`` and ``OUTDIR/pareto.png``;
``docs/sweep.md`` has the grid format, the columns and how to run it on a cluster.

Grid file (TOML): the table ``[grid]`` holds lists, one axis each; the keys are the hardware file's
(``[grid.pe] neurons = [...]`` sweeps ``[pe] neurons``), with shorthands for the usual four::

    [grid]
    mesh = ["6x7", "8x8"]        # [mesh] cols x rows
    neurons = [128, 256]         # [pe] neurons (N); the potential and acc_weight SRAMs follow (words = N)
    weights = [8192, 17408]      # [pe] weights (W); the weight SRAM follows (words = W)
    clock_hz = [1e6, 2e6]        # [chip] clock_hz
    [grid.noc]
    fifo_depth = [2, 4]          # any other key: [grid.<section>] key = [values]

Example:
    >>> grid = load_grid("grid.toml")                                           # doctest: +SKIP
    >>> result = sweep_deployment("build/mlp", grid, x[:8], y[:8], scheduler="serial")   # doctest: +SKIP
    >>> print(result.format())                                                  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snnc.errors import SnncError
from snnc.io import write_atomic


class GridError(SnncError):
    """A hardware grid file that cannot be read or has a bad key or value."""


#: shorthand axis -> the hardware keys it sets.
SHORTHANDS = {"neurons": ("pe", "neurons"), "weights": ("pe", "weights"), "clock_hz": ("chip", "clock_hz")}
#: SRAM sizes that follow an overridden capacity (as in the shipped file: words = N, words = W).
FOLLOWERS = {("pe", "neurons"): (("sram.potential", "words"), ("sram.acc_weight", "words")),
             ("pe", "weights"): (("sram.weight", "words"),)}
#: the CSV columns before the swept keys that have no column of their own, and after them.
BASE_COLUMNS = ("point", "mesh", "neurons", "weights", "clock_hz")
#: The most points one sweep runs (the grid's lists multiply; a larger grid is refused before any work).
MAX_POINTS = 100_000
RESULT_COLUMNS = ("status", "pes", "region", "images", "accuracy", "latency_cycles", "latency_ms",
                  "latency_ms_p99", "energy_uj", "power_mw", "hops", "pareto", "error")


# ------------------------------------------------------------------------------------------ grid
@dataclass(frozen=True)
class Axis:
    """One swept key: its CSV column, and per value the label written and the hardware overrides."""

    column: str
    values: tuple[tuple[str, dict[str, dict[str, Any]]], ...]


@dataclass(frozen=True)
class Point:
    """One grid point: its index, the label of each axis, and the hardware overrides (section -> key -> value)."""

    index: int
    labels: dict[str, str]
    overrides: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Grid:
    """A parsed grid file: its axes in file order (the first varies slowest)."""

    source: str
    axes: tuple[Axis, ...]

    def points(self) -> list[Point]:
        """The cartesian product of the axes, first axis slowest."""
        out = []
        for k, combo in enumerate(itertools.product(*(a.values for a in self.axes))):
            overrides: dict[str, dict[str, Any]] = {}
            for _, ov in combo:
                for section, keys in ov.items():
                    overrides.setdefault(section, {}).update(keys)
            out.append(Point(k, {a.column: label for a, (label, _) in zip(self.axes, combo, strict=True)},
                             overrides))
        return out

    @property
    def columns(self) -> list[str]:
        """The axis columns not already among :data:`BASE_COLUMNS`."""
        return [a.column for a in self.axes if a.column not in BASE_COLUMNS]


def load_grid(path: str | os.PathLike[str]) -> Grid:
    """Read a grid file (module docstring).

    Raises:
        GridError: unreadable TOML, no ``[grid]``, an unknown section or key, a value that is not a
            non-empty list, a value of the wrong type, or a key given twice (shorthand and long form).
    """
    import tomllib

    from snnc.io import read_input

    source = str(path)
    data = read_input(path, what="grid file", max_bytes=1 << 20, error=GridError)  # no FIFO, no device
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise GridError(f"cannot read the grid file: not UTF-8 ({err.reason})", where=source) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise GridError(f"not valid TOML: {err}", where=source) from None
    return parse_grid(raw, source)


def parse_grid(raw: dict[str, Any], source: str = "<grid>") -> Grid:
    """A :class:`Grid` from the decoded TOML (see :func:`load_grid`)."""
    from snnc.backends.yoso.hardware import SCHEMA

    unknown = [k for k in raw if k != "grid"]
    if unknown:
        raise GridError(f"unknown top-level key or table {unknown[0]!r}", where=source,
                        hint="a grid file holds one table, [grid]")
    table = raw.get("grid")
    if not isinstance(table, dict) or not table:
        raise GridError("no [grid] table, or an empty one", where=source,
                        hint='add e.g. [grid] mesh = ["6x7", "8x8"], neurons = [128, 256]')
    axes: list[Axis] = []
    seen: dict[tuple[str, str], str] = {}

    def claim(section: str, key: str, column: str) -> None:
        if (section, key) in seen:
            raise GridError(f"[{section}] {key} is swept twice ({seen[section, key]} and {column})", where=source,
                            hint="give each hardware key once")
        seen[section, key] = column

    for name, value in table.items():
        if name == "mesh" and isinstance(value, list):
            values = _list(value, "mesh", source)
            claim("mesh", "cols", "mesh")
            claim("mesh", "rows", "mesh")
            axes.append(Axis("mesh", tuple(_mesh(v, source) for v in values)))
        elif name in SHORTHANDS:
            section, key = SHORTHANDS[name]
            claim(section, key, name)
            axes.append(_axis(name, section, key, _list(value, name, source), SCHEMA, source))
        elif isinstance(value, dict):
            for section, keys in _sections(name, value, source):
                if section not in SCHEMA:
                    raise GridError(f"unknown hardware section [{section}]", where=f"{source}: [grid.{section}]",
                                    hint="sections: " + ", ".join(SCHEMA))
                for key, vals in keys.items():
                    if key not in SCHEMA[section]:
                        raise GridError(f"unknown key {key!r} of [{section}]", where=f"{source}: [grid.{section}]",
                                        hint=f"[{section}] takes: {', '.join(SCHEMA[section])}")
                    column = _column(section, key)
                    claim(section, key, column)
                    axes.append(_axis(column, section, key, _list(vals, f"{section}.{key}", source), SCHEMA, source))
        else:
            raise GridError(f"unknown grid key {name!r}", where=f"{source}: [grid]",
                            hint="shorthands: mesh, " + ", ".join(SHORTHANDS) + "; any other hardware key as "
                                 "[grid.<section>] key = [values] (e.g. [grid.noc] fifo_depth = [2, 4])")
    points = math.prod(len(a.values) for a in axes)
    if points > MAX_POINTS:
        raise GridError(f"the grid has {points} points, more than the {MAX_POINTS} a sweep runs", where=source,
                        hint="sweep fewer values per key, or split the grid into several sweeps")
    return Grid(source, tuple(axes))


def _sections(name: str, value: dict[str, Any], source: str) -> list[tuple[str, dict[str, Any]]]:
    """``[grid.pe]`` -> [("pe", {...})]; ``[grid.sram.weight]`` -> [("sram.weight", {...})]."""
    if name != "sram":
        return [(name, value)]
    out = []
    for sub, inner in value.items():
        if not isinstance(inner, dict):
            raise GridError(f"[grid.sram] {sub}: expected a table [grid.sram.<name>]", where=source,
                            hint="SRAMs: weight, potential, acc_weight, spike_addr")
        out.append((f"sram.{sub}", inner))
    return out


def _column(section: str, key: str) -> str:
    for short, (s, k) in SHORTHANDS.items():
        if (s, k) == (section, key):
            return short
    return f"{section}.{key}"


def _list(value: Any, name: str, source: str) -> list[Any]:
    if not isinstance(value, list):
        raise GridError(f"{name} must be a list of values, got {value!r}", where=f"{source}: [grid] {name}",
                        hint=f"write {name} = [{value!r}] for a single value")
    if not value:
        raise GridError(f"{name} is an empty list: the grid would have no points", where=f"{source}: [grid] {name}",
                        hint="give at least one value, or remove the key")
    return value


def _mesh(value: Any, source: str) -> tuple[str, dict[str, dict[str, Any]]]:
    text = value if isinstance(value, str) else ""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise GridError(f"mesh value {value!r} is not 'COLSxROWS'", where=f"{source}: [grid] mesh",
                        hint='e.g. mesh = ["6x7", "8x8"]')
    cols, rows = (int(p) for p in parts)
    return f"{cols}x{rows}", {"mesh": {"cols": cols, "rows": rows}}


def _axis(column: str, section: str, key: str, values: list[Any], schema: dict[str, Any], source: str) -> Axis:
    kind = schema[section][key][0]
    out = []
    for v in values:
        ok = (type(v) is int if kind == "int" else
              (type(v) in (int, float) and math.isfinite(v)) if kind == "float" else type(v) is str)
        if not ok:
            word = {"int": "an integer", "float": "a number", "str": "a string"}[kind]
            raise GridError(f"{column} = {v!r}: [{section}] {key} takes {word}", where=f"{source}: [grid] {column}")
        v = float(v) if kind == "float" else v
        overrides: dict[str, dict[str, Any]] = {section: {key: v}}
        out.append((_label(v), overrides))
    if len({label for label, _ in out}) != len(out):
        raise GridError(f"{column} lists a value twice", where=f"{source}: [grid] {column}")
    return Axis(column, tuple(out))


def _label(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.10g}"
    return str(v)


def point_hardware(base: Any, point: Point) -> Any:
    """The hardware of a point: ``base`` with the point's overrides, the SRAMs sized by N and W following
    them unless the grid sweeps those SRAM sizes too (re-validated by ``with_overrides``)."""
    from snnc.backends.yoso.hardware import with_overrides

    sections = {s: dict(keys) for s, keys in point.overrides.items()}
    for (section, key), followers in FOLLOWERS.items():
        if key in sections.get(section, {}):
            for fsec, fkey in followers:
                if fkey not in point.overrides.get(fsec, {}):
                    sections.setdefault(fsec, {})[fkey] = sections[section][key]
    return with_overrides(base, **sections)


# ------------------------------------------------------------------------------------ one point
@dataclass(frozen=True)
class SweepJob:
    """What every point needs, sent once to each worker: the model, the base hardware, compile options."""

    ir_text: str
    hardware_text: str
    hardware_name: str
    placer: str
    region: str
    spike_rates: dict[str, np.ndarray] | None
    barrier_cycles: int | None


_GRAPHS: dict[int, Any] = {}


def _graph(ir_text: str) -> Any:
    from snnc.ir.parser import parse_graph

    key = hash(ir_text)
    graph = _GRAPHS.get(key)
    if graph is None:
        _GRAPHS.clear()
        graph = _GRAPHS[key] = parse_graph(ir_text, source="model.ir")
    return graph


def evaluate_point(job: SweepJob, point: Point, x: np.ndarray, y: np.ndarray | None) -> dict[str, Any]:
    """Recompile the model for one point's hardware in a temporary directory, simulate ``x``; one table row.

    A point the compiler rejects (any :class:`SnncError` while building the hardware or compiling)
    gives ``status = infeasible``; a simulation error gives ``status = failed``; the row's ``error``
    holds the text. Runs in the caller's process or on a Dask worker.
    """
    from snnc.backends.yoso.compile import compile_yoso
    from snnc.backends.yoso.drivers.simulate import forget_chip, simulate_deployment
    from snnc.backends.yoso.hardware import parse_hardware

    row: dict[str, Any] = {"point": point.index, **point.labels}
    try:
        hw = point_hardware(parse_hardware(job.hardware_text, source=job.hardware_name), point)
    except SnncError as err:
        return _describe(row, None, status="infeasible", error=_error_text(err))
    with tempfile.TemporaryDirectory(prefix="snnc-sweep-") as tmp:
        out = Path(tmp) / "deployment"
        try:
            compile_yoso(_graph(job.ir_text), out, hw_path=hw, placer=job.placer, mesh=job.region,
                         spike_rates=job.spike_rates)
        except SnncError as err:
            return _describe(row, hw, status="infeasible", error=_error_text(err))
        try:
            result = simulate_deployment(out, x, y=y, barrier_cycles=job.barrier_cycles)
        except SnncError as err:
            return _describe(row, hw, status="failed", error=_error_text(err))
        finally:
            forget_chip(out)
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    row = _describe(row, hw, status="ok", error="")
    row.update({"pes": len(result.pe_nodes), "region": "x".join(str(v) for v in manifest["region"]),
                "images": len(result.images), "accuracy": result.accuracy,
                "latency_cycles": result.distribution("cycles")["mean"],
                "latency_ms": result.distribution("latency_ms")["mean"],
                "latency_ms_p99": result.distribution("latency_ms")["p99"],
                "energy_uj": result.distribution("energy_uj")["mean"],
                "power_mw": result.distribution("power_mw")["mean"], "hops": result.distribution("hops")["mean"]})
    return row


def _describe(row: dict[str, Any], hw: Any, *, status: str, error: str) -> dict[str, Any]:
    out = {**row, "status": status, "error": error}
    if hw is not None:
        out.setdefault("mesh", f"{hw.mesh.cols}x{hw.mesh.rows}")
        out.setdefault("neurons", str(hw.pe.neurons))
        out.setdefault("weights", str(hw.pe.weights))
        out.setdefault("clock_hz", _label(hw.chip.clock_hz))
    return out


def _error_text(err: SnncError) -> str:
    where = f"{err.where}: " if err.where else ""
    hint = f" (hint: {err.hint})" if err.hint else ""
    return f"{type(err).__name__}: {where}{err.message}{hint}".replace("\n", " ")


# ------------------------------------------------------------------------------------------ sweep
@dataclass
class SweepResult:
    """The table of a sweep: one row per point in grid order (column -> value; missing values are None).

    Attributes:
        deployment: the swept deployment; ``grid``: the grid file; ``columns``: the CSV columns.
        rows: the points' rows; ``pareto``: indices of the rows on the Pareto front.
        wall_s: wall time; ``scheduler``: ``serial``, ``local`` or the address; ``workers``: Dask workers.
    """

    deployment: str
    grid: str
    columns: list[str]
    rows: list[dict[str, Any]]
    pareto: list[int] = field(default_factory=list)
    wall_s: float = 0.0
    scheduler: str = "serial"
    workers: int = 1

    def csv_text(self) -> str:
        """The CSV (what ``sweep.csv`` holds): a function of the inputs only, no timings."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([_cell(row.get(c)) for c in self.columns])
        return buf.getvalue()

    def format(self) -> str:
        """The table and the Pareto points, as ``snnc sweep`` prints them."""
        shown = [c for c in self.columns if c not in ("error", "latency_ms_p99", "hops", "images")]
        cells = [[(f"{100 * r[c]:.2f} %" if c == "accuracy" and isinstance(r.get(c), float) else
                   _cell(r.get(c), short=True)) for c in shown] for r in self.rows]  # accuracy in %, as elsewhere
        widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(shown)]
        lines = ["  ".join(c.rjust(w) for c, w in zip(shown, widths, strict=True))]
        for r, row in zip(self.rows, cells, strict=True):
            line = "  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True))
            lines.append(line + (f"  {r['error'][:100]}" if r.get("error") else ""))
        ok = sum(1 for r in self.rows if r["status"] == "ok")
        lines += ["", f"{len(self.rows)} points, {ok} feasible; {self.rate():.1f} deployments per minute "
                      f"({self.wall_s:.1f} s, {self._how()})", "Pareto front (energy, latency, accuracy):"]
        for k in self.pareto:
            r = self.rows[k]
            acc = "-" if r["accuracy"] is None else f"{100 * r['accuracy']:.2f} %"
            lines.append(f"  point {r['point']}: " + ", ".join(f"{c} {r[c]}" for c in self.columns
                                                               if c in BASE_COLUMNS[1:] or c in self._swept())
                         + f": {r['energy_uj']:.4f} uJ, {r['latency_ms']:.4f} ms, accuracy {acc}, {r['pes']} PEs")
        return "\n".join(lines)

    def rate(self) -> float:
        """Deployments (points) compiled and simulated per minute of wall time."""
        return 60.0 * len(self.rows) / self.wall_s if self.wall_s > 0 else float("nan")

    def _swept(self) -> list[str]:
        return [c for c in self.columns if c not in BASE_COLUMNS and c not in RESULT_COLUMNS]

    def _how(self) -> str:
        return "serial" if self.scheduler == "serial" else f"Dask {self.scheduler}, {self.workers} workers"


def _cell(v: Any, short: bool = False) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        return f"{v:.6g}" if short else f"{v:.10g}"
    return str(v)


def pareto_front(rows: list[dict[str, Any]]) -> list[int]:
    """Indices of the feasible rows no other feasible row dominates on (energy_uj min, latency_ms min,
    accuracy max): dominated = another row at least as good in all three and better in one."""
    ok = [k for k, r in enumerate(rows) if r.get("status") == "ok"]

    def key(r: dict[str, Any]) -> tuple[float, float, float]:
        return (r["energy_uj"], r["latency_ms"], -(r["accuracy"] if r["accuracy"] is not None else 0.0))

    front = []
    for k in ok:
        a = key(rows[k])
        if not any(all(bi <= ai for ai, bi in zip(a, key(rows[j]), strict=True)) and key(rows[j]) != a
                   for j in ok if j != k):
            front.append(k)
    return front


def sweep_deployment(deployment: str | os.PathLike[str], grid: Grid | str | os.PathLike[str], x: np.ndarray,
                     y: np.ndarray | None = None, *, scheduler: Any = "local", workers: int = 2,
                     scheduler_timeout: float | None = None, placer: str | None = None, region: str = "auto",
                     barrier_cycles: int | None = None, progress: bool = False) -> SweepResult:
    """Recompile and simulate the deployment's model at every grid point.

    Args:
        deployment: a deployment directory (``snnc compile --target yoso``): its ``model.ir`` is
            recompiled, its ``hardware.toml`` is the base the grid overrides.
        grid: a :class:`Grid` or a grid file.
        x, y: the images (``[N, *features]`` float32 in [0, 1]) and labels simulated at every point.
        scheduler: ``"serial"`` (this process), ``"local"`` (a Dask ``LocalCluster`` of ``workers``
            processes on loopback), ``"tcp://HOST:PORT"`` or a connected ``distributed.Client``.
        workers: workers of the local cluster.
        scheduler_timeout: seconds to wait for a remote scheduler (default 10).
        placer: the placer (default: the deployment's, from ``placement.json``).
        region: the placement region, ``auto`` (smallest near-square, the compiler's default) or ``hw``.
        barrier_cycles: override the step barrier of every point (default: derived from its mesh).
        progress: a progress bar over the points on stderr.

    Returns:
        A :class:`SweepResult` (the same rows whatever the scheduler).

    Raises:
        DeploymentError: not a deployment; GridError: a bad grid file; SnncError: the scheduler cannot
        be reached, or the images do not fit the model.
    """
    from snnc.backends.yoso.compile import spike_statistics
    from snnc.backends.yoso.deploy import load_deployment
    from snnc.backends.yoso.drivers.simulate import _check_x

    start = time.perf_counter()
    if region not in ("auto", "hw"):
        raise SnncError(f"region must be 'auto' or 'hw', got {region!r}", where="sweep")
    grid = grid if isinstance(grid, Grid) else load_grid(grid)
    dep = load_deployment(deployment)
    graph = _graph(dep.model_ir)
    x = _check_x(x, tuple(graph.inputs[0].type.features))
    y = None if y is None else np.asarray(y).astype(np.int64).reshape(-1)
    if y is not None and len(y) != len(x):
        raise SnncError(f"{len(y)} labels for {len(x)} images", where="sweep")
    rates = spike_statistics(graph, x) if len(x) else None
    job = SweepJob(ir_text=dep.model_ir, hardware_text=dep.hardware.text, hardware_name=dep.hardware.name,
                   placer=placer or dep.placement.get("placer") or "traffic", region=region, spike_rates=rates,
                   barrier_cycles=barrier_cycles)
    points = grid.points()
    bar = _bar(len(points), progress)
    n_workers = 1
    rows: list[dict[str, Any]] = []
    interrupted = False
    try:
        if scheduler == "serial":
            try:
                for p in points:
                    rows.append(evaluate_point(job, p, x, y))
                    bar.update(1)
            except KeyboardInterrupt:
                interrupted = True
        else:
            from snnc.backends.yoso.drivers import distributed as dd

            timeout = dd.DEFAULT_TIMEOUT if scheduler_timeout is None else scheduler_timeout
            with dd.dask_client(scheduler, workers, timeout=timeout) as client:
                n_workers = dd.require_workers(client, timeout=timeout)
                job_f, x_f = client.scatter([job, x], broadcast=True)
                y_f = None if y is None else client.scatter(y, broadcast=True)
                futures = [client.submit(evaluate_point, job_f, p, x_f, y_f, pure=False) for p in points]
                try:
                    for fut in futures:
                        rows.append(fut.result())
                        bar.update(1)
                except KeyboardInterrupt:  # keep the finished points; close the cluster without its tracebacks
                    interrupted = True
                    logging.getLogger("distributed").setLevel(logging.CRITICAL)
                finally:
                    for fut in futures:
                        fut.cancel()
    finally:
        bar.close()
    columns = list(BASE_COLUMNS) + grid.columns + list(RESULT_COLUMNS)
    rows = [{c: r.get(c) for c in columns} for r in rows]
    front = pareto_front(rows)
    for k, r in enumerate(rows):
        r["pareto"] = (k in front) if r["status"] == "ok" else None
    name = "serial" if scheduler == "serial" else ("client" if not isinstance(scheduler, str) else scheduler)
    result = SweepResult(str(deployment), grid.source, columns, rows, front, time.perf_counter() - start, name,
                         n_workers)
    if interrupted:
        raise SweepInterrupted(result, len(points))
    return result


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`sweep_deployment`: ``partial`` holds the rows of the points finished before it (the
    first ``len(partial.rows)`` of ``total``, in grid order)."""

    def __init__(self, partial: SweepResult, total: int) -> None:
        super().__init__(f"interrupted after {len(partial.rows)} of {total} points")
        self.partial = partial
        self.total = total


def _bar(total: int, progress: bool) -> Any:
    from snnc.backends.yoso.drivers.simulate import _bar as bar

    return bar(total, progress)


# ------------------------------------------------------------------------------------------ plot
def write_pareto_plot(result: SweepResult, path: str | os.PathLike[str]) -> Path:
    """Energy (uJ) against latency (ms) of the feasible points, colour = accuracy, the Pareto front ringed
    and joined; PNG (matplotlib, Agg)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise SnncError(f"the Pareto plot needs matplotlib ({err})", where="sweep",
                        hint="pip install matplotlib") from None
    ok = [r for r in result.rows if r["status"] == "ok"]
    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    if ok:
        lat = np.array([r["latency_ms"] for r in ok])
        energy = np.array([r["energy_uj"] for r in ok])
        acc = np.array([100 * (r["accuracy"] or 0.0) for r in ok])
        sc = ax.scatter(lat, energy, c=acc, cmap="viridis", s=40, zorder=2,
                        vmin=acc.min() - (0.5 if acc.min() == acc.max() else 0), vmax=acc.max())
        fig.colorbar(sc, ax=ax, label="accuracy (%)")
        front = sorted((result.rows[k] for k in result.pareto), key=lambda r: (r["latency_ms"], r["energy_uj"]))
        if front:
            ax.plot([r["latency_ms"] for r in front], [r["energy_uj"] for r in front], "-", color="crimson",
                    lw=1.2, zorder=1, label="Pareto front")
            ax.scatter([r["latency_ms"] for r in front], [r["energy_uj"] for r in front], s=140,
                       facecolors="none", edgecolors="crimson", lw=1.5, zorder=3)
            middle = (lat.min() + lat.max()) / 2
            for r in front:  # labels point inwards, so the right-hand ones do not run under the colorbar
                right = r["latency_ms"] > middle
                ax.annotate(_point_label(result, r), (r["latency_ms"], r["energy_uj"]), fontsize=7,
                            xytext=(-6 if right else 6, 4), textcoords="offset points",
                            ha="right" if right else "left")
            ax.margins(x=0.12)
            ax.legend(loc="best", fontsize=8)
    infeasible = len(result.rows) - len(ok)
    ax.set_xlabel("mean latency per image (ms)")
    ax.set_ylabel("mean energy per image (uJ)")
    ax.set_title(f"sweep of {Path(result.deployment).name}: {len(ok)} feasible points"
                 + (f", {infeasible} not" if infeasible else ""), fontsize=10)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    out = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_atomic(out, buffer.getvalue())  # a full disk leaves no partial PNG; a symlink is replaced, not followed
    return out


def _point_label(result: SweepResult, r: dict[str, Any]) -> str:
    try:
        clock = f"{float(r['clock_hz']) / 1e6:g} MHz"
    except (TypeError, ValueError):
        clock = str(r.get("clock_hz"))
    return f"#{r['point']} {r.get('mesh')} N={r.get('neurons')} W={r.get('weights')} {clock}"
