"""Place PEs onto mesh coordinates: two baselines and a traffic-aware placer.

* ``row-major``: PEs in id order (layers in graph order) fill the rows west to east, row 0 first.
* ``snake``: the same, but odd rows run east to west (consecutive PEs stay adjacent).
* ``traffic``: starts from the best of the baselines and a greedy construction and moves PEs to
  lower the expected spike hops per image (:func:`snnc.backends.yoso.routing.expected_hops`, the
  X-Y tree rule, host link included), using each source's expected spikes per image.
  Deterministic: a fixed candidate order, first improvement accepted, a bounded number of passes.

The region is the mesh's ``cols x rows`` corner at (0, 0) (the host's corner).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snnc.backends.yoso.layers import HOST
from snnc.backends.yoso.routing import Source, tree_links

PLACERS = ("snake", "row-major", "traffic")
#: on meshes of more than 64 slots, PEs receiving from more sources than this move only in their own turn.
HUB_SOURCES = 16

Pos = tuple[int, int]


def row_major_slots(cols: int, rows: int) -> list[Pos]:
    """Slots in row-major order: (0,0), (1,0), ... then row 1."""
    return [(x, y) for y in range(rows) for x in range(cols)]


def snake_slots(cols: int, rows: int) -> list[Pos]:
    """Slots in boustrophedon order: row 0 west to east, row 1 east to west, ..."""
    return [(x if y % 2 == 0 else cols - 1 - x, y) for y in range(rows) for x in range(cols)]


def baseline(pe_ids: list[int], cols: int, rows: int, placer: str) -> dict[int, Pos]:
    """PE id -> slot for the ``row-major`` or ``snake`` baseline."""
    slots = snake_slots(cols, rows) if placer == "snake" else row_major_slots(cols, rows)
    return {pe: slots[k] for k, pe in enumerate(sorted(pe_ids))}


@dataclass
class _Cost:
    """Expected hops, per source, kept up to date under moves."""

    sources: list[Source]
    xy: dict[int, Pos]

    def __post_init__(self) -> None:
        self.as_source: dict[int, list[int]] = {}
        self.as_dest: dict[int, list[int]] = {}
        for k, s in enumerate(self.sources):
            if s.pe is not None:
                self.as_source.setdefault(s.pe, []).append(k)
            for d in s.dests:
                if d != HOST:
                    self.as_dest.setdefault(d, []).append(k)
        self.dest_sets = [set(s.dests) for s in self.sources]
        self.links = [self._links(k) for k in range(len(self.sources))]

    def _links(self, k: int) -> int:
        s, xy = self.sources[k], self.xy
        src = None if s.pe is None else xy[s.pe]
        return tree_links(src, [None if d == HOST else xy[d] for d in s.dests])

    def total(self) -> float:
        return float(sum(s.rate * n for s, n in zip(self.sources, self.links, strict=True)))

    def affected(self, a: int, b: int | None) -> list[int]:
        """Sources whose tree changes when PEs a and b (or a and an empty slot) swap places."""
        ks = set(self.as_source.get(a, ()))
        dests = set(self.as_dest.get(a, ()))
        if b is not None:
            ks.update(self.as_source.get(b, ()))
            both = dests & set(self.as_dest.get(b, ()))
            dests.symmetric_difference_update(self.as_dest.get(b, ()))
            dests -= both
        ks.update(dests)
        return sorted(k for k in ks if self.sources[k].rate > 0)

    def try_swap(self, a: int, b: int | None, slot_b: Pos) -> bool:
        """Swap a with b (b None: move a to the empty ``slot_b``); keep it if the expected hops drop."""
        slot_a = self.xy[a]
        ks = self.affected(a, b)
        before = sum(self.sources[k].rate * self.links[k] for k in ks)
        self.xy[a] = slot_b
        if b is not None:
            self.xy[b] = slot_a
        new = [self._links(k) for k in ks]
        after = sum(self.sources[k].rate * n for k, n in zip(ks, new, strict=True))
        if after < before - 1e-9:
            for k, n in zip(ks, new, strict=True):
                self.links[k] = n
            return True
        self.xy[a] = slot_a
        if b is not None:
            self.xy[b] = slot_b
        return False


def traffic_place(sources: list[Source], pe_ids: list[int], cols: int, rows: int, *,
                  max_passes: int = 8, candidates: int = 12) -> dict[int, Pos]:
    """Traffic-aware placement: local search on the expected hops from the best of three starts.

    Starts: the two baselines and a greedy construction (PEs in order of decreasing traffic, each on
    the free slot nearest the rate-weighted median of its partners, those not yet placed counting at
    the centre). Each pass visits the PEs in order of decreasing traffic (spikes sent plus received
    per image) and tries, for each, the ``candidates`` slots nearest its ideal point (the rate-weighted
    median of the PEs and host it exchanges spikes with), or every slot on meshes of <= 64 slots; a
    move or swap is kept when it lowers the total. Stops after a pass without improvement. Sources with
    the same sender and destinations (the host's blocks for a dense layer) share one tree and are costed
    once.

    Returns:
        PE id -> slot.
    """
    slots = row_major_slots(cols, rows)
    traffic: dict[int, float] = {pe: 0.0 for pe in pe_ids}
    partners: dict[int, list[tuple[int | None, float]]] = {pe: [] for pe in pe_ids}
    for s in sources:
        for d in s.dests:
            w = s.rate / max(1, len(s.dests))
            if d != HOST:
                traffic[d] += w
                partners[d].append((s.pe, w))
            if s.pe is not None:
                partners[s.pe].append((None if d == HOST else d, w))
        if s.pe is not None and s.dests:
            traffic[s.pe] += s.rate
    order = sorted(pe_ids, key=lambda pe: (-traffic[pe], pe))
    sources = _merged(sources)
    starts = [baseline(pe_ids, cols, rows, p) for p in ("snake", "row-major")]
    starts.append(_greedy(order, partners, slots, cols, rows))
    cost = min((_Cost(sources, dict(s)) for s in starts), key=lambda c: c.total())
    exhaustive = cols * rows <= 64
    # on large meshes a PE that many sources send to (a "hub") moves only in its own turn: swapping another PE
    # into its slot re-evaluates every one of those trees and is the same move as the hub trying that slot
    hubs = set() if exhaustive else {pe for pe in pe_ids if len(cost.as_dest.get(pe, ())) > HUB_SOURCES}
    sx = np.array([p[0] for p in slots])
    sy = np.array([p[1] for p in slots])
    for _ in range(max_passes):
        improved = False
        for a in order:
            occupant = {v: k for k, v in cost.xy.items()}
            tx, ty = _ideal(partners[a], cost.xy)
            near = np.lexsort((sx, sy, np.abs(sx - tx) + np.abs(sy - ty)))
            tried = near if exhaustive else near[:candidates]
            for n in tried:
                slot = slots[n]
                if slot == cost.xy[a]:
                    continue
                b = occupant.get(slot)
                if b in hubs and a not in hubs:
                    continue
                if cost.try_swap(a, b, slot):
                    improved = True
                    occupant = {v: k for k, v in cost.xy.items()}
        if not improved:
            break
    return dict(cost.xy)


def _merged(sources: list[Source]) -> list[Source]:
    """Sources with the same sender and destinations as one, their rates summed (they share one tree)."""
    out: dict[tuple[int | None, tuple[int, ...]], Source] = {}
    for s in sources:
        key = (s.pe, tuple(s.dests))
        if key in out:
            out[key].rate += s.rate
        else:
            out[key] = Source(s.key, s.value, s.lo, s.hi, s.pe, s.layer, list(s.dests), s.rate)
    return list(out.values())


def _greedy(order: list[int], partners: dict[int, list[tuple[int | None, float]]], slots: list[Pos], cols: int,
            rows: int) -> dict[int, Pos]:
    """Constructive start: in order of decreasing traffic, each PE takes the free slot nearest its ideal point
    (partners not yet placed count at the region's centre)."""
    centre = ((cols - 1) // 2, (rows - 1) // 2)
    sx = np.array([p[0] for p in slots])
    sy = np.array([p[1] for p in slots])
    free = np.ones(len(slots), bool)
    xy: dict[int, Pos] = {}
    for pe in order:
        tx, ty = _ideal(partners[pe], xy, centre)
        # a horizontal step counts double: PEs that share senders should share a column, since an X-Y tree
        # runs once along the sender's row but once per destination column
        dist = np.where(free, 2 * np.abs(sx - tx) + np.abs(sy - ty), np.inf)
        k = int(np.lexsort((sx, sy, np.abs(sx - tx), dist))[0])
        free[k] = False
        xy[pe] = slots[k]
    return xy


def _ideal(partners: list[tuple[int | None, float]], xy: dict[int, Pos],
           unplaced: Pos = (0, 0)) -> tuple[float, float]:
    """Rate-weighted median position of a PE's partners (the host counts at (-1, 0), an unplaced PE at
    ``unplaced``)."""
    if not partners:
        return (float(unplaced[0]), float(unplaced[1]))
    pts = [((-1, 0) if p is None else xy.get(p, unplaced), w) for p, w in partners]
    return (_median([(q[0], w) for q, w in pts]), _median([(q[1], w) for q, w in pts]))


def _median(values: list[tuple[int, float]]) -> float:
    values.sort()
    total = sum(w for _, w in values)
    if total <= 0:
        return float(values[len(values) // 2][0])
    acc = 0.0
    for v, w in values:
        acc += w
        if acc >= total / 2:
            return float(v)
    return float(values[-1][0])


def place(sources: list[Source], pe_ids: list[int], cols: int, rows: int, placer: str) -> dict[int, Pos]:
    """PE id -> slot with the named placer (see :data:`PLACERS`)."""
    if placer == "traffic":
        return traffic_place(sources, pe_ids, cols, rows)
    return baseline(pe_ids, cols, rows, placer)


def mesh_region(spec: str, mesh_cols: int, mesh_rows: int, count: int) -> tuple[int, int]:
    """The (cols, rows) region the PEs are placed in.

    Args:
        spec: ``auto`` (the smallest near-square grid holding ``count`` PEs that fits the mesh, the
            paper's rule; the whole mesh when none fits), ``hw`` (the whole mesh) or ``CxR``.
        mesh_cols, mesh_rows: the hardware mesh.
        count: PEs to place.

    Raises:
        DesignRuleError: a malformed spec, a region larger than the mesh, or one too small for the PEs.
    """
    from snnc.backends.yoso.partition import near_square
    from snnc.errors import DesignRuleError

    where = f"mesh {mesh_cols} x {mesh_rows}"
    if spec == "hw":
        region = (mesh_cols, mesh_rows)
    elif spec == "auto":
        c, r = near_square(count)
        fits = [g for g in ((c, r), (r, c)) if g[0] <= mesh_cols and g[1] <= mesh_rows]
        region = fits[0] if fits else (mesh_cols, mesh_rows)
    else:
        parts = spec.lower().split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise DesignRuleError(f"mesh region {spec!r} is not 'auto', 'hw' or COLSxROWS", where=where,
                                  hint="e.g. --mesh 6x7")
        region = (int(parts[0]), int(parts[1]))
        if region[0] < 1 or region[1] < 1 or region[0] > mesh_cols or region[1] > mesh_rows:
            raise DesignRuleError(f"mesh region {region[0]} x {region[1]} does not fit the {mesh_cols} x {mesh_rows} "
                                  "mesh", where=where, hint="choose a region inside the mesh, or 'auto'")
    if region[0] * region[1] < count:
        raise DesignRuleError(f"the model needs {count} PEs but the region {region[0]} x {region[1]} holds "
                              f"{region[0] * region[1]}, {count - region[0] * region[1]} too few", where=where,
                              hint="use a larger region ('auto' or 'hw'), a bigger mesh, or smaller layers")
    return region
