"""Benchmark: how far from the best possible placement each placer is, by exhaustive search.

For a model of the paper's shape (a dense hidden layer on P PEs fed by the host, and an output layer on one
PE that the host reads), the expected spike hops per image of a placement depend only on

* which slots the P hidden PEs take (the host's X-Y multicast tree to them),
* which slot the output PE takes, and
* which hidden PE sits at which distance from the output PE (each hidden spike is one unicast packet).

For a fixed output slot and set of hidden slots the last part is optimal with the busiest hidden PEs
nearest the output PE (rearrangement inequality), so enumerating every output slot and every choice of the
empty slots (42 x C(41, 4) = 4,253,340 placements for 38 PEs on 6 x 7) finds the exact optimum. The optimum
is rebuilt as a real placement and costed again with ``snnc.backends.yoso.routing.expected_hops``.

It also splits the hops into the host's input delivery (the multicast tree to the hidden PEs), hidden to
output spikes, and output to host spikes, for the row-major baseline, the traffic-aware placer and the
optimum, with the floor of each part.

Usage: python bench/placement_optimum.py [--model M.onnx] [--data-dir DIR] [--samples 256]
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
from compile_yoso import DEFAULT_DATA, samples

from snnc import load_model
from snnc.backends.yoso.compile import spike_statistics
from snnc.backends.yoso.hardware import load_hardware
from snnc.backends.yoso.layers import HOST, find_network
from snnc.backends.yoso.partition import plan_network
from snnc.backends.yoso.placement import baseline, mesh_region, traffic_place
from snnc.backends.yoso.routing import Source, build_sources, expected_hops, source_links

Pos = tuple[int, int]


def split(sources: list[Source], xy: dict[int, Pos]) -> dict[str, float]:
    """Expected hops per image by kind of spike: host input, PE to PE, PE to host."""
    parts = {"host -> hidden": 0.0, "hidden -> output": 0.0, "output -> host": 0.0}
    for s in sources:
        kind = "host -> hidden" if s.pe is None else ("output -> host" if s.dests == [HOST] else "hidden -> output")
        parts[kind] += s.rate * source_links(s, xy)
    return parts


def optimum(sources: list[Source], cols: int, rows: int) -> tuple[float, dict[int, Pos], int]:
    """The exact minimum of the expected hops over every placement, one placement reaching it, and the
    number of placements enumerated."""
    inputs = [s for s in sources if s.pe is None and s.rate > 0]
    outs = [s for s in sources if s.pe is not None and s.dests == [HOST]]
    hidden = [s for s in sources if s.pe is not None and s.dests != [HOST]]
    if len(outs) != 1 or not all(s.dests == [outs[0].pe] for s in hidden):
        raise SystemExit("this search needs the paper's shape: hidden PEs that all send to one output PE")
    if not all(sorted(s.dests) == sorted(h.pe for h in hidden) for s in inputs):
        raise SystemExit("this search needs every host spike to go to every hidden PE (a dense hidden layer)")
    out = outs[0]
    rate_in = sum(s.rate for s in inputs)
    order = sorted(hidden, key=lambda s: -s.rate)
    rates = np.array([s.rate for s in order])
    slots = [(x, y) for y in range(rows) for x in range(cols)]
    sx = np.array([p[0] for p in slots])
    sy = np.array([p[1] for p in slots])
    empty = len(slots) - 1 - len(hidden)
    combos = np.array(list(itertools.combinations(range(len(slots) - 1), empty)), dtype=np.int64).reshape(-1, empty)
    best = (np.inf, -1, np.empty(0, np.int64))
    for o in range(len(slots)):
        rest = np.array([k for k in range(len(slots)) if k != o])
        held = np.ones((len(combos), len(rest)), bool)
        held[np.arange(len(combos))[:, None], combos] = False
        dist = np.abs(sx[rest] - sx[o]) + np.abs(sy[rest] - sy[o])
        near = np.sort(np.where(held, dist[None, :], 1 << 20), axis=1)[:, : len(hidden)]
        # the host's tree: the host link, row 0 out to the eastmost hidden column, each column down to its
        # southmost hidden PE (X-Y routing from (0, 0))
        tree = 1 + np.where(held, sx[rest][None, :], 0).max(axis=1)
        for c in range(cols):
            tree = tree + np.where(held & (sx[rest] == c)[None, :], sy[rest][None, :], 0).max(axis=1)
        total = rate_in * tree + near @ rates + out.rate * (sx[o] + sy[o] + 1)
        k = int(np.argmin(total))
        if total[k] < best[0]:
            best = (float(total[k]), o, rest[np.flatnonzero(held[k])])
    _, o, held_slots = best
    xy: dict[int, Pos] = {out.pe: slots[o]}
    by_distance = sorted(held_slots, key=lambda k: (abs(sx[k] - sx[o]) + abs(sy[k] - sy[o]), k))
    for s, k in zip(order, by_distance, strict=True):
        xy[s.pe] = slots[k]
    return expected_hops(sources, xy), xy, len(slots) * len(combos)


def draw(xy: dict[int, Pos], out_pe: int, cols: int, rows: int) -> str:
    grid = [["." for _ in range(cols)] for _ in range(rows)]
    for pe, (x, y) in xy.items():
        grid[y][x] = "O" if pe == out_pe else "h"
    return "\n".join("    " + " ".join(r) for r in grid)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="models/stdbp-mnist-784-800-10.onnx")
    p.add_argument("--data-dir", default=str(DEFAULT_DATA), help="MNIST IDX files (for sample inputs)")
    p.add_argument("--samples", type=int, default=256)
    args = p.parse_args()
    graph = load_model(args.model)
    x, what = samples(args.samples, Path(args.data_dir) if args.data_dir else None)
    rates = spike_statistics(graph, x)
    hw = load_hardware()
    network = find_network(graph)
    plans = plan_network(network, hw)
    ids = [pe.id for plan in plans for pe in plan.pes]
    cols, rows = mesh_region("auto", hw.mesh.cols, hw.mesh.rows, len(ids))
    sources = build_sources(network, plans, hw.pe.neurons, rates)
    print(f"{args.model}: {len(ids)} PEs on {cols} x {rows}; spike statistics from {what}")
    print("spikes per image: " + ", ".join(f"%{k} {float(v.sum()):.1f}" for k, v in rates.items()))

    start = time.perf_counter()
    best, best_xy, count = optimum(sources, cols, rows)
    seconds = time.perf_counter() - start
    out_pe = next(s.pe for s in sources if s.pe is not None and s.dests == [HOST])
    placements = {"row-major": baseline(ids, cols, rows, "row-major"), "snake": baseline(ids, cols, rows, "snake"),
                  "traffic": traffic_place(sources, ids, cols, rows), "optimum": best_xy}
    base = expected_hops(sources, placements["row-major"])
    # the host link is the way into the first PE of the tree, so the host's tree has >= one link per hidden PE
    floor = {"host -> hidden": sum(s.rate * len(s.dests) for s in sources if s.pe is None),
             "hidden -> output": sum(s.rate for s in sources if s.pe is not None and s.dests != [HOST]),
             "output -> host": sum(s.rate for s in sources if s.dests == [HOST])}
    print(f"\nexhaustive search: {count:,} placements in {seconds:.1f} s")
    print(f"\n{'placement':<10} {'total':>9} {'vs row-major':>13} | {'host->hidden':>12} {'hidden->out':>12} "
          f"{'out->host':>10}")
    for name, xy in placements.items():
        total = expected_hops(sources, xy)
        parts = split(sources, xy)
        print(f"{name:<10} {total:9.1f} {100 * (total - base) / base:+12.2f} % | "
              + " ".join(f"{v:12.1f}" for v in list(parts.values())[:2]) + f" {parts['output -> host']:10.1f}")
    bound = sum(floor.values())
    print(f"{'floor':<10} {bound:9.1f} {100 * (bound - base) / base:+12.2f} % | "
          + " ".join(f"{v:12.1f}" for v in list(floor.values())[:2]) + f" {floor['output -> host']:10.1f}"
          + "   (each part alone; no placement reaches all three)")
    traffic = expected_hops(sources, placements["traffic"])
    print(f"\nbest possible: {100 * (best - base) / base:+.2f} % vs row-major; the traffic placer is "
          f"{100 * (traffic - best) / best:.2f} % above it")
    print(f"a 20 % cut would need {0.8 * base:.1f} hops: {0.8 * base - floor['host -> hidden']:.1f} left for "
          f"{floor['hidden -> output']:.1f} hidden spikes after the host's delivery floor")
    base_pe = split(sources, placements["row-major"])["hidden -> output"]
    for name in ("traffic", "optimum"):
        h = split(sources, placements[name])["hidden -> output"]
        print(f"hidden -> output hops, {name}: {100 * (h - base_pe) / base_pe:+.1f} % vs row-major")
    print("\nthe optimum (O output PE, h hidden PE, . empty):")
    print(draw(best_xy, out_pe, cols, rows))


if __name__ == "__main__":
    main()
