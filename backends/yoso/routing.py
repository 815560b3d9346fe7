"""Spike sources, X-Y multicast trees and per-router routing tables.

Mesh coordinates: ``(x, y)`` with ``x`` the column (0 .. cols-1, west to east) and ``y`` the row
(0 .. rows-1, north to south). Router ports: ``E`` (x+1), ``W`` (x-1), ``N`` (y-1), ``S`` (y+1),
``L`` (the local core) and ``H``, the host link on the west side of router (0, 0).

Every spike has a *multicast key*: the id of the PE that fired it, or ``P + b`` for block ``b`` of
the host's input (the host splits each encoder's spike vector into blocks of ``N`` neurons, so a
packet's neuron field is the same width for PEs and host). A source's spikes go to every PE that
reads any of its neurons (all PEs of a dense consumer layer; for a conv consumer the PEs whose
``accepts`` box meets the source's neuron range) and to the host when the host reads the layer.

Multicast rule: *replication along the path*. The core injects one packet per spike; packets follow
dimension-order X-Y routes (x first, then y), and a router copies a packet to every output port its
table lists for the key. The links used form the union of the X-Y routes to all destinations (a
tree); the hops of one spike are the links of that tree, plus one for the host link when the host
sends or receives it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from snnc.backends.yoso.layers import HOST, Layer, Network
from snnc.backends.yoso.partition import LayerPlan

PORTS = "NESWLH"


@dataclass
class Source:
    """One multicast key: a PE's neuron slice, or a block of the host's input.

    ``value`` and ``lo .. hi-1`` name the neurons (flat indices of the spike value). ``pe`` is the
    sending PE (None for the host). ``dests`` are PE ids, and :data:`HOST` when the host reads them.
    ``rate`` is the expected number of spikes per image from all these neurons together.
    """

    key: int
    value: str
    lo: int
    hi: int
    pe: int | None
    layer: int | None
    dests: list[int] = field(default_factory=list)
    rate: float = 0.0


def host_blocks(network: Network, neurons: int) -> list[tuple[str, int, int, list[int]]]:
    """(value, lo, hi, consumer layers) for each block of ``neurons`` host inputs, in key order."""
    out = []
    for src in network.host_sources:
        for lo in range(0, src.size, neurons):
            out.append((src.value.name, lo, min(lo + neurons, src.size), list(src.consumers)))
    return out


def build_sources(network: Network, plans: list[LayerPlan], neurons: int,
                  rates: dict[str, np.ndarray] | None = None) -> list[Source]:
    """Every multicast key of the deployment with its destinations and expected spikes per image.

    Args:
        network, plans: the layers and their PEs.
        neurons: N (the host block size).
        rates: value name -> per-neuron expected spikes per image (flat); a value missing here counts
            one spike per neuron per image.
    """
    n_pes = sum(len(p.pes) for p in plans)
    rates = rates or {}
    masks = {p.layer.index: _accept_prefix_sums(p) for p in plans}

    def dests_of(consumers: Sequence[int], lo: int, hi: int, to_host: bool) -> list[int]:
        out: list[int] = []
        for c in consumers:
            plan = plans[c]
            prefix = masks[c]
            if prefix is None:
                out.extend(pe.id for pe in plan.pes)
            else:
                hits = prefix[:, hi] - prefix[:, lo] > 0
                out.extend(pe.id for pe, hit in zip(plan.pes, hits, strict=True) if hit)
        if to_host:
            out.append(HOST)
        return out

    def rate(value: str, lo: int, hi: int) -> float:
        r = rates.get(value)
        return float(hi - lo) if r is None else float(np.asarray(r, np.float64).reshape(-1)[lo:hi].sum())

    sources = []
    for plan in plans:
        ly = plan.layer
        for pe in plan.pes:
            sources.append(Source(pe.id, ly.name, pe.lo, pe.hi, pe.id, ly.index,
                                  dests_of(ly.consumers, pe.lo, pe.hi, ly.to_host), rate(ly.name, pe.lo, pe.hi)))
    for b, (value, lo, hi, consumers) in enumerate(host_blocks(network, neurons)):
        sources.append(Source(n_pes + b, value, lo, hi, None, None, dests_of(consumers, lo, hi, False),
                              rate(value, lo, hi)))
    return sources


def _accept_prefix_sums(plan: LayerPlan) -> np.ndarray | None:
    """For a conv layer: per PE, prefix sums over the input's flat indices of 'this PE accepts it'."""
    ly: Layer = plan.layer
    if ly.kind == "dense":
        return None
    c, h, w = ly.synapse.operands[0].type.features
    prefix = np.zeros((len(plan.pes), c * h * w + 1), np.int64)
    for k, pe in enumerate(plan.pes):
        box = np.zeros((c, h, w), bool)
        (c0, c1), (r0, r1), (x0, x1) = pe.accepts["channels"], pe.accepts["rows"], pe.accepts["cols"]
        box[c0:c1, r0:r1, x0:x1] = True
        np.cumsum(box.reshape(-1), out=prefix[k, 1:])
    return prefix


# ------------------------------------------------------------------------------------------ trees
def tree_links(src: tuple[int, int] | None, dests: Iterable[tuple[int, int] | None]) -> int:
    """Links of the X-Y multicast tree from ``src`` to ``dests`` (None = the host, west of (0, 0)).

    The tree is the union of the X-Y routes: the source's row from the westmost to the eastmost
    destination column, then in each destination column the span from the source's row to its
    farthest destinations. The host link counts once when the host sends or receives.
    """
    links = 0
    if src is None:
        src = (0, 0)
        links += 1
    sx, sy = src
    minx = maxx = sx
    cols: dict[int, list[int]] = {}
    for d in dests:
        if d is None:
            links += 1
            d = (0, 0)
        x, y = d
        if x < minx:
            minx = x
        elif x > maxx:
            maxx = x
        span = cols.get(x)
        if span is None:
            cols[x] = [min(y, sy), max(y, sy)]
        elif y < span[0]:
            span[0] = y
        elif y > span[1]:
            span[1] = y
    return links + (maxx - minx) + sum(hi - lo for lo, hi in cols.values())


def xy_route(src: tuple[int, int], dst: tuple[int, int]) -> list[tuple[int, int]]:
    """The routers a packet visits from ``src`` to ``dst`` under X-Y routing (both ends included)."""
    (x, y), (dx, dy) = src, dst
    path = [(x, y)]
    while x != dx:
        x += 1 if dx > x else -1
        path.append((x, y))
    while y != dy:
        y += 1 if dy > y else -1
        path.append((x, y))
    return path


def _port(a: tuple[int, int], b: tuple[int, int]) -> str:
    if b[0] > a[0]:
        return "E"
    if b[0] < a[0]:
        return "W"
    return "S" if b[1] > a[1] else "N"


def tree_ports(src: tuple[int, int] | None, dests: Iterable[tuple[int, int] | None]) -> dict[tuple[int, int], str]:
    """Router -> the output ports (a string in ``NESWLH`` order) of the multicast tree."""
    start = (0, 0) if src is None else src
    ports: dict[tuple[int, int], set[str]] = {}
    for d in dests:
        target = (0, 0) if d is None else d
        path = xy_route(start, target)
        for a, b in zip(path, path[1:], strict=False):
            ports.setdefault(a, set()).add(_port(a, b))
        ports.setdefault(target, set()).add("H" if d is None else "L")
    return {node: "".join(p for p in PORTS if p in s) for node, s in sorted(ports.items())}


def position(pe: int | None, xy: dict[int, tuple[int, int]]) -> tuple[int, int] | None:
    """A PE's mesh position; None for the host."""
    return None if pe is None or pe == HOST else xy[pe]


def source_links(src: Source, xy: dict[int, tuple[int, int]]) -> int:
    """Hops of one spike of this source under the X-Y tree rule."""
    return tree_links(position(src.pe, xy), [position(d, xy) for d in src.dests])


def unicast_links(src: Source, xy: dict[int, tuple[int, int]]) -> int:
    """Hops of one spike if the source sent one packet per destination (replication at the source)."""
    s = position(src.pe, xy)
    return sum(tree_links(s, [position(d, xy)]) for d in src.dests)


def expected_hops(sources: list[Source], xy: dict[int, tuple[int, int]]) -> float:
    """Expected link traversals (flit hops for one-flit packets) per image: sum of rate x tree links."""
    return float(sum(s.rate * source_links(s, xy) for s in sources))


def hops_lower_bound(sources: list[Source]) -> float:
    """Expected hops per image that no placement can beat: every spike enters each of its destinations
    over a link of its own (the host link is the way into the first PE of a host spike's tree, and the way
    out to the host), so one spike costs at least as many links as it has destinations."""
    return float(sum(s.rate * len(s.dests) for s in sources))


def routing_tables(sources: list[Source], xy: dict[int, tuple[int, int]]) -> dict[tuple[int, int], dict[int, str]]:
    """Per router: multicast key -> output ports. Routers on no tree have no entry."""
    tables: dict[tuple[int, int], dict[int, str]] = {}
    for s in sources:
        for node, ports in tree_ports(position(s.pe, xy), [position(d, xy) for d in s.dests]).items():
            tables.setdefault(node, {})[s.key] = ports
    return {node: dict(sorted(t.items())) for node, t in sorted(tables.items())}
