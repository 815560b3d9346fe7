"""Trace replay on the mesh network: read a ``cycle,src,dst`` CSV, run it, report latency and load.

Trace format (``docs/noc.md``): one packet per line, ``cycle,src,dst`` (integers; node id ``x + cols * y``;
``src == dst`` allowed: the packet goes through its router only). An optional first line
``cycle,src,dst`` is a header; blank lines and lines starting with ``#`` are skipped. Rows need not be
sorted: packets are injected in cycle order, rows of one cycle in file order (packet id = rank in that
order). Every packet is injected at its cycle into its source's unbounded injection queue, so its
latency (tail ejected minus the trace cycle) includes the queueing at the source.

Command line (:mod:`snnc.cli.noc`, ``snnc noc replay``)::

    snnc noc replay TRACE.csv --mesh 8x8 --router-delay 2 --link-delay 1 --flits 1 [--fifo-depth 4]

Example:
    >>> rows = generate_uniform_trace((4, 4), rate=0.05, cycles=200, seed=1)
    >>> stats = replay_trace(rows, mesh=(4, 4))
    >>> stats.packets == len(rows) and stats.avg_hops > 0
    True
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snnc.backends.yoso.sim.events import Environment
from snnc.backends.yoso.sim.noc import MeshNoC, NocConfig
from snnc.errors import SnncError

HEADER = ("cycle", "src", "dst")
#: defaults of the command line and of :func:`replay_trace` (the shipped yoso-6x7.toml's network).
DEFAULTS = dict(router_delay=2, link_delay=1, flits=1, fifo_depth=4)


class TraceError(SnncError):
    """A trace file or trace rows are malformed (the message names the line)."""


TraceLike = str | os.PathLike[str] | np.ndarray | Iterable[Sequence[int]]


# ---------------------------------------------------------------------------------------- reading
def parse_mesh(text: str | Sequence[int]) -> tuple[int, int]:
    """``"8x8"`` (cols x rows) or ``(8, 8)`` -> ``(cols, rows)``."""
    if isinstance(text, str):
        parts = text.lower().replace(" ", "").split("x")
        if len(parts) != 2 or not all(p.isascii() and p.isdigit() and len(p) < 10 for p in parts):
            raise TraceError(f"mesh must be COLSxROWS like 8x8, got {text!r}", where="--mesh")
        cols, rows = int(parts[0]), int(parts[1])
    else:
        if len(text) != 2:
            raise TraceError(f"mesh must be (cols, rows), got {text!r}")
        cols, rows = int(text[0]), int(text[1])
    if cols < 1 or rows < 1:
        raise TraceError(f"mesh needs at least 1x1 routers, got {cols}x{rows}", where="--mesh")
    return cols, rows


#: The largest trace file read (1 GiB of CSV, some 60 million packets).
MAX_TRACE_BYTES = 1 << 30
#: The largest mesh replayed (the routing arrays grow with the square of the node count).
MAX_NOC_NODES = 64 * 64
#: The largest cycle or node id a trace row may hold (they are int64 in the network model).
MAX_TRACE_VALUE = 1 << 62


def read_trace(path: str | os.PathLike[str], nodes: int | None = None) -> np.ndarray:
    """Read a trace CSV into an int64 array of rows ``(cycle, src, dst)``, in file order.

    Args:
        path: the CSV file.
        nodes: node count of the mesh; when given, node ids must be in ``0 .. nodes - 1``.

    Raises:
        TraceError: the file is missing, or a row is malformed (``file:line`` and what is wrong).
    """
    from snnc.io import read_input

    p = Path(path)
    data = read_input(p, what="trace file", max_bytes=MAX_TRACE_BYTES, error=TraceError)  # no FIFO, no device
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise TraceError(f"cannot read the trace: {err}", where=str(p)) from None
    return parse_trace(text, source=str(p), nodes=nodes)


def parse_trace(text: str, source: str = "<trace>", nodes: int | None = None) -> np.ndarray:
    """Parse trace CSV text (see :func:`read_trace`)."""
    fast = _parse_plain(text, nodes)
    if fast is not None:
        return fast
    out: list[tuple[int, int, int]] = []
    first = True
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "," in line:
            fields = [f.strip() for f in line.split(",")]
        else:  # BookSim2's trace lines: 'cycle src dst type' (whitespace; the packet type is not replayed)
            fields = line.split()
            if len(fields) == 4:
                _row(fields[:1] + fields[3:] + ["0"], f"{source}:{lineno} (packet type)", None)  # an integer
                fields = fields[:3]
        if first:
            first = False
            if tuple(f.lower() for f in fields) == HEADER:
                continue
        out.append(_row(fields, f"{source}:{lineno}", nodes))
    if not out:
        raise TraceError("the trace has no packets", where=source, hint="one line per packet: cycle,src,dst")
    return np.asarray(out, dtype=np.int64).reshape(-1, 3)


def _parse_plain(text: str, nodes: int | None) -> np.ndarray | None:
    """Vectorised parse of a plain trace (digits and commas, optional header, no comments or blanks);
    None for anything else, which the line-by-line parser then handles (and reports)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if lines and lines[0].strip().lower() == ",".join(HEADER):
        lines = lines[1:]
    if not lines:
        return None
    body = ",".join(lines)
    digits = body.replace(",", "")
    if not (digits.isascii() and digits.isdigit()) or body.count(",") != 3 * len(lines) - 1:
        return None  # signs, spaces, comments, blank lines, other field counts: the careful path
    fields = body.split(",")
    if max(map(len, fields)) > 18 or min(map(len, fields)) == 0:
        return None  # an empty field, or a value int64 may not hold: the careful path names it
    arr = np.array(fields, dtype=np.int64).reshape(-1, 3)
    if any(line.count(",") != 2 for line in lines):
        return None
    if nodes is not None and (arr[:, 1:] >= nodes).any():
        return None
    return arr


def _row(fields: list[str], where: str, nodes: int | None) -> tuple[int, int, int]:
    if len(fields) != 3:
        raise TraceError(f"expected 3 fields cycle,src,dst, got {len(fields)}", where=where,
                         hint="a header line, if any, must be exactly 'cycle,src,dst'")
    from snnc.io import parse_int, sanitize

    values = []
    for name, f in zip(HEADER, fields, strict=True):
        try:  # ASCII digits only (int() takes Unicode digits and '_'), and a value the network model can hold
            values.append(parse_int(f, what=where, lo=-MAX_TRACE_VALUE, hi=MAX_TRACE_VALUE, error=TraceError))
        except TraceError:
            raise TraceError(f"{name} must be an integer, got {sanitize(f)[:40]!r} (ASCII digits, at most 2**62)",
                             where=where) from None
    _check_row(values[0], values[1], values[2], where, nodes)
    return values[0], values[1], values[2]


def _check_row(cycle: int, src: int, dst: int, where: str, nodes: int | None) -> None:
    if cycle < 0:
        raise TraceError(f"cycle must be >= 0, got {cycle}", where=where)
    for name, v in (("src", src), ("dst", dst)):
        if v < 0 or (nodes is not None and v >= nodes):
            rng = f"0..{nodes - 1}" if nodes is not None else ">= 0"
            raise TraceError(f"{name} node {v} is not on the mesh (ids {rng})", where=where,
                             hint="node id = x + cols * y; check --mesh")


def as_rows(trace: TraceLike, nodes: int | None = None) -> np.ndarray:
    """A trace given as a path, an ``[n, 3]`` array or an iterable of rows, as a validated int64 array."""
    if isinstance(trace, str | os.PathLike):
        return read_trace(trace, nodes)
    try:
        arr = np.asarray(trace if isinstance(trace, np.ndarray) else list(trace))
    except (TypeError, ValueError) as err:
        raise TraceError(f"trace rows must be (cycle, src, dst) integers: {err}") from None
    if arr.size == 0:
        raise TraceError("the trace has no packets")
    if arr.ndim != 2 or arr.shape[1] != 3 or not np.issubdtype(arr.dtype, np.integer):
        raise TraceError(f"trace rows must be (cycle, src, dst) integers, got an array of shape {arr.shape} "
                         f"and type {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = (arr[:, 0] < 0) | (arr[:, 1:] < 0).any(axis=1)
    if nodes is not None:
        bad |= (arr[:, 1:] >= nodes).any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        _check_row(*map(int, arr[i]), where=f"row {i}", nodes=nodes)
    return arr


def write_booksim_trace(rows: np.ndarray | Iterable[Sequence[int]], path: str | os.PathLike[str]) -> None:
    """Write rows ``(cycle, src, dst)`` in BookSim2's trace format, ``cycle src dst type`` (type 0), atomically."""
    from snnc.io import write_atomic

    arr = np.asarray(list(rows) if not isinstance(rows, np.ndarray) else rows, dtype=np.int64).reshape(-1, 3)
    write_atomic(path, "".join(f"{c} {s} {d} 0\n" for c, s, d in arr.tolist()))


def write_trace(rows: np.ndarray | Iterable[Sequence[int]], path: str | os.PathLike[str], header: bool = True) -> None:
    """Write rows ``(cycle, src, dst)`` as a trace CSV."""
    arr = np.asarray(rows if isinstance(rows, np.ndarray) else list(rows), dtype=np.int64).reshape(-1, 3)
    lines = [",".join(HEADER)] if header else []
    lines.extend(f"{c},{s},{d}" for c, s, d in arr.tolist())
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def generate_uniform_trace(mesh: str | Sequence[int] = (8, 8), rate: float = 0.1, cycles: int | None = None,
                           packets: int | None = None, seed: int = 0) -> np.ndarray:
    """Uniform random traffic: each node injects a packet with probability ``rate`` each cycle, to a
    destination drawn uniformly among the other nodes (Bernoulli process, seeded).

    Args:
        mesh: ``(cols, rows)`` or ``"8x8"``.
        rate: packets per node per cycle, in (0, 1].
        cycles: trace length in cycles; or give ``packets`` (the trace stops at that many packets).
        seed: the random seed (same seed, same trace).

    Returns:
        int64 rows ``(cycle, src, dst)`` sorted by cycle, then source.
    """
    cols, rows_ = parse_mesh(mesh)
    nodes = cols * rows_
    if not 0 < rate <= 1:
        raise TraceError(f"rate must be in (0, 1] packets/node/cycle, got {rate}")
    if (cycles is None) == (packets is None):
        raise TraceError("give exactly one of cycles= or packets=")
    if nodes < 2:
        raise TraceError("uniform traffic needs at least 2 nodes")
    rng = np.random.default_rng(seed)
    n_cycles = cycles if cycles is not None else int(packets / (rate * nodes) * 1.2) + 16
    fire = rng.random((n_cycles, nodes)) < rate
    cyc, src = np.nonzero(fire)
    dst = rng.integers(0, nodes - 1, size=cyc.size)
    dst = dst + (dst >= src)  # uniform over the other nodes
    out = np.stack([cyc, src, dst], axis=1).astype(np.int64)
    if packets is not None:
        if len(out) < packets:
            return generate_uniform_trace(mesh, rate, packets=None, cycles=n_cycles * 2, seed=seed)[:packets]
        out = out[:packets]
    return out


# ---------------------------------------------------------------------------------------- replay
@dataclass
class ReplayStats:
    """What a trace replay measured (cycles unless stated).

    Attributes:
        packets, flits: delivered (== injected, checked).
        latency_*: tail ejected minus trace cycle (source queueing included); ``p50``/``p99`` percentiles.
        avg_network_latency: tail ejected minus the cycle the head left the source router.
        avg_queueing: cycles the head waited at the source beyond the router delay R
            (``avg_latency = avg_queueing + R + avg_network_latency``).
        avg_hops: router-to-router links per packet.
        cycles: first trace cycle to last tail ejection.
        offered, accepted: packets per node per cycle over the trace span and over ``cycles``.
        links: ``(from node, to node, flits)`` per router-to-router link; ``eject``: flits ejected per node.
        busiest_link: ``(from, to, flits)``.
        wall_s, packets_per_s: wall time of the simulation and packets simulated per wall second.
    """

    config: NocConfig
    packets: int
    flits: int
    avg_latency: float
    max_latency: int
    p50_latency: float
    p99_latency: float
    avg_network_latency: float
    avg_queueing: float
    avg_hops: float
    cycles: int
    offered: float
    accepted: float
    links: list[tuple[int, int, int]]
    eject: list[int]
    busiest_link: tuple[int, int, int]
    router_flits: list[int]
    wall_s: float
    packets_per_s: float
    network_cycles: int
    latency: np.ndarray = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        """Everything but the per-packet latencies, as JSON-ready values."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("latency", "config")}
        out["config"] = self.config.to_json()
        out["links"] = [{"from": a, "to": b, "flits": n} for a, b, n in self.links]
        out["busiest_link"] = {"from": self.busiest_link[0], "to": self.busiest_link[1],
                               "flits": self.busiest_link[2]}
        return out

    def format(self, top_links: int | None = 10) -> str:
        """A report for people; ``top_links`` busiest links listed (None: all)."""
        c = self.config
        xy = _xy(c.cols)
        loads = np.asarray([n for _, _, n in self.links], dtype=np.int64)
        a, b, n = self.busiest_link
        lines = [
            f"trace replay: {self.packets} packets ({self.flits} flits) on the {c.cols}x{c.rows} mesh, "
            f"R={c.router_delay} L={c.link_delay} F={c.flits} D={c.fifo_depth}",
            f"packet latency (tail ejected - trace cycle): avg {self.avg_latency:.2f}, max {self.max_latency}, "
            f"p50 {self.p50_latency:.0f}, p99 {self.p99_latency:.0f} cycles",
            f"  in the network {self.avg_network_latency:.2f}, queued at the source {self.avg_queueing:.2f} (avg)",
            f"average hops: {self.avg_hops:.3f}",
            f"throughput: offered {self.offered:.4f}, accepted {self.accepted:.4f} packets/node/cycle "
            f"({self.cycles} cycles)",
            f"link load (flits per link, {len(self.links)} links): avg {loads.mean() if loads.size else 0:.1f}, "
            f"max {n}; busiest link {a} {xy(a)} -> {b} {xy(b)}",
        ]
        order = sorted(self.links, key=lambda t: (-t[2], t[0], t[1]))
        shown = order if top_links is None else order[:top_links]
        if shown:
            lines.append("  from -> to            flits   load (flits/cycle)")
            for a, b, n in shown:
                lines.append(f"  {a:>4} {xy(a):<7} -> {b:>4} {xy(b):<7} {n:>7}   {n / max(self.cycles, 1):.3f}")
            if len(order) > len(shown):
                lines.append(f"  ... {len(order) - len(shown)} more links (--links all)")
        lines.append(f"simulated {self.network_cycles} network cycles in {self.wall_s:.3f} s: "
                     f"{self.packets_per_s:,.0f} packets/s")
        return "\n".join(lines)


def _xy(cols: int):  # noqa: ANN202 - tiny formatter factory
    return lambda n: f"({n % cols},{n // cols})"


def replay_trace(trace: TraceLike, mesh: str | Sequence[int] = (8, 8), router_delay: int = DEFAULTS["router_delay"],
                 link_delay: int = DEFAULTS["link_delay"], flits: int = DEFAULTS["flits"],
                 fifo_depth: int = DEFAULTS["fifo_depth"], *, watchdog_cycles: int = 10_000,
                 config: NocConfig | None = None, engine: str = "auto") -> ReplayStats:
    """Replay a trace on the mesh and measure it.

    Args:
        trace: a CSV path, an ``[n, 3]`` int array, or rows ``(cycle, src, dst)``.
        mesh: ``(cols, rows)`` or ``"8x8"``; router_delay R, link_delay L, flits F, fifo_depth D: the network.
        watchdog_cycles: cycles without any flit moving (packets in flight) before a deadlock error.
        config: a full :class:`NocConfig` instead of the separate parameters.
        engine: ``"compiled"`` (the numba network kernel, :mod:`snnc.backends.yoso.sim.compiled.noc`),
            ``"python"`` (:class:`MeshNoC`) or ``"auto"`` (compiled; both give the same latencies, cycle for cycle).

    Returns:
        The :class:`ReplayStats` (every packet delivered exactly once, checked).

    Raises:
        TraceError: a malformed trace or a node off the mesh.
        SimulationError: a lost or duplicated packet, or a deadlock (not expected with X-Y routing).

    Example:
        >>> replay_trace([(0, 0, 3), (0, 1, 3)], mesh=(4, 1)).max_latency   # 3 hops: 3 * (2 + 1) + 2
        11
    """
    if config is None:
        cols, rows = parse_mesh(mesh)
        config = NocConfig(cols=cols, rows=rows, router_delay=router_delay, link_delay=link_delay, flits=flits,
                           fifo_depth=fifo_depth, watchdog_cycles=watchdog_cycles)
    data = as_rows(trace, config.nodes)
    order = np.argsort(data[:, 0], kind="stable")
    if engine not in ("auto", "compiled", "python"):
        raise TraceError(f"engine must be auto, compiled or python, got {engine!r}", where="--engine")
    if engine != "python":
        from snnc.backends.yoso.sim.compiled.noc import replay_rows

        start = time.perf_counter()
        run = replay_rows(config, data[order, 0], data[order, 1], data[order, 2])
        wall = time.perf_counter() - start
        run.check_conservation()
        return _stats(run, config, order, wall)  # type: ignore[arg-type]
    cyc, src, dst = (data[order, i].tolist() for i in range(3))
    env = Environment(initial_time=0)
    noc = MeshNoC(env, config)

    def feed():  # noqa: ANN202 - a process generator
        inject, n, i = noc.inject, len(cyc), 0
        while i < n:
            c = cyc[i]
            if c > env.now:
                yield env.timeout(c - env.now)
            while i < n and cyc[i] == c:
                inject(src[i], dst[i])
                i += 1

    start = time.perf_counter()
    env.process(feed(), name="trace")
    env.run()
    wall = time.perf_counter() - start
    noc.check_conservation()
    return _stats(noc, config, order, wall)


def _stats(noc: MeshNoC, config: NocConfig, order: np.ndarray, wall: float) -> ReplayStats:
    t = noc.packet_table()
    lat_sorted = t["tail_eject"] - t["created"]
    latency = np.empty_like(lat_sorted)
    latency[order] = lat_sorted  # back to trace row order
    first, last_in = int(t["created"].min()), int(t["created"].max())
    cycles = max(int(t["tail_eject"].max()) - first, 1)
    nodes = config.nodes
    links = [(a, b, n) for a, b, n in noc.links() if isinstance(b, int)]
    eject = [n for _, b, n in noc.links() if b == "eject"]
    busiest = max(links, key=lambda x: (x[2], -x[0], -x[1])) if links else (0, 0, 0)
    packets = len(latency)
    return ReplayStats(
        config=config, packets=packets, flits=int(t["flits"].sum()),
        avg_latency=float(latency.mean()), max_latency=int(latency.max()),
        p50_latency=float(np.percentile(latency, 50)), p99_latency=float(np.percentile(latency, 99)),
        avg_network_latency=float((t["tail_eject"] - t["head_out"]).mean()),
        avg_queueing=float((t["head_out"] - t["created"] - config.router_delay).mean()),
        avg_hops=float(t["hops"].mean()), cycles=cycles,
        offered=packets / (last_in - first + 1) / nodes, accepted=packets / cycles / nodes,
        links=links, eject=eject, busiest_link=busiest, router_flits=noc.router_flits().tolist(),
        wall_s=wall, packets_per_s=packets / wall if wall > 0 else float("inf"),
        network_cycles=noc.cycles_simulated, latency=latency)


def noc_config(*, hardware: str | os.PathLike[str] | None = None, mesh: str | Sequence[int] | None = None,
               router_delay: int | None = None, link_delay: int | None = None, flits: int | None = None,
               fifo_depth: int | None = None, watchdog: int = 10_000) -> NocConfig:
    """A network configuration: the given values over the ``hardware`` file's (mesh and ``[noc]``) over
    the defaults (an 8x8 mesh and :data:`DEFAULTS`)."""
    values: dict[str, Any] = dict(DEFAULTS, cols=8, rows=8)
    if hardware:
        from snnc.backends.yoso.hardware import load_hardware

        hw = load_hardware(hardware)
        values.update(cols=hw.mesh.cols, rows=hw.mesh.rows, router_delay=hw.noc.router_delay_cycles,
                      link_delay=hw.noc.link_delay_cycles, flits=hw.noc.flits_per_spike,
                      fifo_depth=hw.noc.fifo_depth)
    if mesh is not None:
        values["cols"], values["rows"] = parse_mesh(mesh)
    given = dict(router_delay=router_delay, link_delay=link_delay, flits=flits, fifo_depth=fifo_depth)
    values.update({k: v for k, v in given.items() if v is not None})
    if values["cols"] * values["rows"] > MAX_NOC_NODES:
        raise TraceError(f"a {values['cols']}x{values['rows']} mesh has more than the {MAX_NOC_NODES} routers the "
                         "network model replays", where="--hw" if mesh is None else "--mesh",
                         hint="replay on a smaller mesh (64x64 takes ~1 GB and ~15 s to set up)")
    return NocConfig(**values, watchdog_cycles=watchdog)


def chip_trace(path: str | os.PathLike[str], x: np.ndarray, image: int = 0) -> np.ndarray:
    """The packets the chip sends for one image of a deployment, as trace rows ``(cycle, src, dst)``.

    The image runs on the Python chip model (it keeps every packet's record); a multicast packet becomes one
    row per destination (a replay sends them as unicasts, so its network load is an upper bound of the chip's),
    and the host's link, west of PE (0, 0), is node 0. Replay the rows with ``snnc noc replay`` on the chip's
    mesh and network (``--hw`` with the deployment's ``hardware.toml``).
    """
    from snnc.backends.yoso.drivers.simulate import _check_x, get_chip

    chip = get_chip(path)
    features = tuple(chip.host.graph.inputs[0].type.features)
    x = _check_x(x, features)
    if not 0 <= image < len(x):
        raise TraceError(f"image {image} is not among the {len(x)} inputs", where="--trace-image",
                         hint=f"give an index from 0 to {len(x) - 1}")
    env = chip.host.encode(x[image:image + 1])
    chip.run_image(chip.input_spikes(env, 0))
    noc = chip.noc
    table = noc.packet_table()
    nodes = chip.hw.mesh.cols * chip.hw.mesh.rows
    rows = []
    for pid, (src, dst, created) in enumerate(zip(table["src"].tolist(), table["dst"].tolist(),
                                                 table["created"].tolist(), strict=True)):
        dests = (dst,) if dst >= 0 else tuple(noc.dests[pid])
        for d in dests:
            rows.append((created, 0 if src >= nodes else src, 0 if d >= nodes else d))
    return np.asarray(rows, dtype=np.int64).reshape(-1, 3)
