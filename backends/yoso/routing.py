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

This is the one routing module of the compiler and the simulator: :func:`xy_port` is the X-Y rule
both use; :func:`routing_tables` writes the deployment's tables; :func:`deployment_tables` reads them
back, :func:`key_tree` checks that a key's table path from its source reaches exactly its destinations
(no loop, no drop, no stray entry), and :class:`MeshRoutes` turns X-Y routing and the checked tables
into the flat per-router arrays the network model forwards by (``docs/noc.md``, "Routing").
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from snnc.backends.yoso.layers import HOST
from snnc.errors import DeploymentError

if TYPE_CHECKING:
    from snnc.backends.yoso.layers import Layer, Network
    from snnc.backends.yoso.partition import LayerPlan

#: router ports: ``N`` (y-1), ``E`` (x+1), ``S`` (y+1), ``W`` (x-1), ``L`` (local core), ``H`` (host link);
#: a port's index in this string is its number (``N = 0 .. H = 5``).
PORTS = "NESWLH"
N, E, S, W, L, H = range(6)
#: the neighbour an ``N E S W`` output port leads to, as ``(dx, dy)``.
STEP = {N: (0, -1), E: (1, 0), S: (0, 1), W: (-1, 0)}


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


def xy_port(at: tuple[int, int], to: tuple[int, int], to_host: bool = False) -> int:
    """The output port (an index into :data:`PORTS`) dimension-order X-Y routing takes at router ``at`` for a
    packet to router ``to``: x first, then y; at ``to`` itself ``L`` (the local core), or ``H`` for a
    packet to the host (``to`` = (0, 0)). The one X-Y rule: the compiler's trees and tables and the
    simulator's unicast tables (:class:`MeshRoutes`) all come from it."""
    (x, y), (tx, ty) = at, to
    if tx > x:
        return E
    if tx < x:
        return W
    if ty > y:
        return S
    if ty < y:
        return N
    return H if to_host else L


def step(at: tuple[int, int], port: int) -> tuple[int, int]:
    """The router an ``N E S W`` output port of ``at`` leads to."""
    dx, dy = STEP[port]
    return at[0] + dx, at[1] + dy


def xy_route(src: tuple[int, int], dst: tuple[int, int]) -> list[tuple[int, int]]:
    """The routers a packet visits from ``src`` to ``dst`` under X-Y routing (both ends included)."""
    path = [src]
    at = src
    while (p := xy_port(at, dst)) != L:
        at = step(at, p)
        path.append(at)
    return path


def tree_ports(src: tuple[int, int] | None, dests: Iterable[tuple[int, int] | None]) -> dict[tuple[int, int], str]:
    """Router -> the output ports (a string in ``NESWLH`` order) of the X-Y multicast tree (the union of
    the X-Y routes from ``src`` to every destination; None = the host, west of (0, 0))."""
    start = (0, 0) if src is None else src
    ports: dict[tuple[int, int], set[int]] = {}
    for d in dests:
        target = (0, 0) if d is None else d
        at = start
        while True:
            p = xy_port(at, target, d is None)
            ports.setdefault(at, set()).add(p)
            if p == L or p == H:
                break
            at = step(at, p)
    return {node: "".join(PORTS[p] for p in sorted(s)) for node, s in sorted(ports.items())}


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


# ------------------------------------------------------------------------------------------ tables
#: per router ``(x, y)``: multicast key -> output ports (a string over ``NESWLH``).
Tables = dict[tuple[int, int], dict[int, str]]

_TABLE_HINT = ("every key's table entries must form a tree from its source to exactly its destinations; "
               "recompile the model, or fix the tables given to with_tables()")


def _table_error(message: str, router: tuple[int, int] | None = None, key: int | None = None) -> DeploymentError:
    where = "routing.json tables" + (f", router ({router[0]},{router[1]})" if router is not None else "") + (
        f", key {key}" if key is not None else "")
    return DeploymentError(message, where=where, hint=_TABLE_HINT)


def tables_from_json(tables: Any, cols: int, rows: int) -> Tables:
    """``routing.json``'s ``tables`` (``"x,y"`` -> ``"key"`` -> ports) as :data:`Tables`.

    Raises:
        DeploymentError: a router off the ``cols x rows`` mesh, a key that is not an integer, or ports that
            are not distinct letters of ``NESWLH`` (named by router and key).
    """
    if not isinstance(tables, Mapping):
        raise _table_error(f"the tables must be an object of routers, got {type(tables).__name__}")
    out: Tables = {}
    for name, entries in tables.items():
        try:
            x, y = (int(v) for v in str(name).split(","))
        except ValueError:
            raise _table_error(f"router {name!r} is not 'x,y'") from None
        if not (0 <= x < cols and 0 <= y < rows):
            raise _table_error(f"router ({x},{y}) is not on the {cols}x{rows} mesh", (x, y))
        if not isinstance(entries, Mapping):
            raise _table_error("the table must map keys to output ports", (x, y))
        table: dict[int, str] = {}
        for k, ports in entries.items():
            try:
                key = int(k)
            except (TypeError, ValueError):
                raise _table_error(f"key {k!r} is not an integer", (x, y)) from None
            if not isinstance(ports, str) or any(c not in PORTS for c in ports) or len(set(ports)) != len(ports):
                raise _table_error(f"output ports {ports!r} are not distinct letters of {PORTS}", (x, y), key)
            table[key] = "".join(p for p in PORTS if p in ports)
        out[(x, y)] = dict(sorted(table.items()))
    return dict(sorted(out.items()))


def tables_to_json(tables: Tables) -> dict[str, dict[str, str]]:
    """:data:`Tables` in ``routing.json``'s form (the inverse of :func:`tables_from_json`)."""
    return {f"{x},{y}": {str(k): ports for k, ports in sorted(t.items())} for (x, y), t in sorted(tables.items())}


def deployment_tables(dep: Any) -> Tables:
    """The routing tables of a loaded deployment (:func:`~snnc.backends.yoso.load_deployment`), parsed."""
    return tables_from_json(dep.routing.get("tables"), dep.hardware.mesh.cols, dep.hardware.mesh.rows)


def with_tables(dep: Any, tables: Tables) -> Any:
    """A copy of the deployment ``dep`` whose routing tables are ``tables`` (the rest shared): the API way
    to try another routing (the files of a deployment are hash-checked and cannot be edited)."""
    routing = {**dep.routing, "tables": tables_to_json(tables)}
    return dataclasses.replace(dep, routing=routing)


@dataclass(frozen=True)
class KeyTree:
    """One key's path through the tables, checked by :func:`key_tree`.

    Attributes:
        key: the multicast key.
        source: the sending router, None for the host (its packets enter router (0, 0) by ``H``).
        dests: the destinations (routers, None for the host), in the key's order.
        ports: router -> output ports (``NESWLH`` order) of every table entry the key's packets use.
        paths: destination -> the ``(router, port)`` hops from the source to it (its branch of the tree).
    """

    key: int
    source: tuple[int, int] | None
    dests: tuple[tuple[int, int] | None, ...]
    ports: dict[tuple[int, int], str]
    paths: dict[tuple[int, int] | None, tuple[tuple[tuple[int, int], int], ...]]

    @property
    def links(self) -> int:
        """Links of the tree (host link included when the host sends or receives)."""
        return sum(c in "NESWH" for p in self.ports.values() for c in p) + (self.source is None)


def key_tree(tables: Tables, key: int, source: tuple[int, int] | None,
             dests: Sequence[tuple[int, int] | None], cols: int, rows: int) -> KeyTree:
    """Follow key ``key``'s table entries from its source and check that they form a tree that delivers to
    exactly ``dests`` (None = the host).

    Raises:
        DeploymentError: naming the router and key, when a router the key's packets reach has no entry for
            it, an entry leads off the mesh, a router is reached twice (a loop, or two paths to it), the
            packets are delivered to a core or the host that is not a destination, a destination is never
            reached (dropped), or a router has an entry for the key that none of its packets reach.
    """
    start = (0, 0) if source is None else source
    want = set(dests)
    if len(want) != len(dests):
        raise _table_error(f"key {key} lists a destination twice", None, key)
    came: dict[tuple[int, int], tuple[tuple[int, int], int] | None] = {start: None}
    ports: dict[tuple[int, int], str] = {}
    reached: dict[tuple[int, int] | None, tuple[int, int]] = {}
    todo = [start]
    while todo:
        at = todo.pop()
        entry = tables.get(at, {}).get(key)
        if entry is None:
            raise _table_error(f"router ({at[0]},{at[1]}) has no table entry for key {key}, whose packets reach it "
                               f"(they would be dropped)", at, key)
        if not entry:
            raise _table_error(f"the table entry of key {key} at router ({at[0]},{at[1]}) has no output port "
                               f"(its packets would be dropped)", at, key)
        ports[at] = entry
        for c in entry:
            p = PORTS.index(c)
            if p == L or p == H:
                if p == H and at != (0, 0):
                    raise _table_error(f"key {key} leaves router ({at[0]},{at[1]}) by H, but only router (0,0) "
                                       f"has the host link", at, key)
                dest = at if p == L else None
                if dest not in want:
                    what = "the host" if dest is None else f"the core at ({at[0]},{at[1]})"
                    raise _table_error(f"key {key} is delivered to {what}, which is not one of its destinations",
                                       at, key)
                reached[dest] = at
                continue
            nxt = step(at, p)
            if not (0 <= nxt[0] < cols and 0 <= nxt[1] < rows):
                raise _table_error(f"key {key} leaves router ({at[0]},{at[1]}) by {c}, off the {cols}x{rows} mesh",
                                   at, key)
            if nxt in came:
                raise _table_error(f"key {key} reaches router ({nxt[0]},{nxt[1]}) twice (from ({at[0]},{at[1]}) by "
                                   f"{c}): a loop or two paths; its packets would circle or be duplicated", nxt, key)
            came[nxt] = (at, p)
            todo.append(nxt)
    for d in dests:
        if d not in reached:
            what = "the host" if d is None else f"the core at ({d[0]},{d[1]})"
            last = (0, 0) if d is None else d
            raise _table_error(f"the tables never deliver key {key} to {what}, one of its destinations "
                               f"(dropped)", last, key)
    for at, table in tables.items():
        if key in table and at not in ports:
            raise _table_error(f"router ({at[0]},{at[1]}) has a table entry for key {key} that none of its "
                               f"packets reach", at, key)
    paths = {}
    for d in dests:
        hops: list[tuple[tuple[int, int], int]] = [(reached[d], L if d is not None else H)]
        back = came[reached[d]]
        while back is not None:
            hops.append(back)
            back = came[back[0]]
        paths[d] = tuple(reversed(hops))
    return KeyTree(key, source, tuple(dests), dict(sorted(ports.items())), paths)


def check_tables(tables: Tables, keys: Iterable[tuple[int, tuple[int, int] | None, Sequence[tuple[int, int] | None]]],
                 cols: int, rows: int) -> dict[int, KeyTree]:
    """:func:`key_tree` for every ``(key, source, dests)``; a key with no destination needs no entry.

    Raises:
        DeploymentError: a bad key tree (see :func:`key_tree`), or a table entry for a key no source sends.
    """
    trees: dict[int, KeyTree] = {}
    known = set()
    for key, source, dests in keys:
        known.add(key)
        if dests:
            trees[key] = key_tree(tables, key, source, dests, cols, rows)
    for at, table in tables.items():
        for key in table:
            if key not in known or key not in trees:
                raise _table_error(f"router ({at[0]},{at[1]}) has a table entry for key {key}, which "
                                   + ("no source sends" if key not in known else "has no destination"), at, key)
    return trees


# ------------------------------------------------------------------------------------------ network arrays
class MeshRoutes:
    """A ``cols x rows`` mesh's routing as the flat arrays the network model forwards by.

    Node ids ``x + cols * y``; the host (with ``host``) is node ``cols * rows``, behind ``H`` of router 0.
    A flat output port is ``router * 6 + port``. A packet carries a *route id*: ``0 .. nd-1`` (``nd`` nodes,
    host included) route to that node by :meth:`port` (X-Y); each branch of a key's tree given in ``trees``
    gets a route id of its own (a unicast along the tables). ``route[router * stride + rid]`` is the output
    port a packet of route id ``rid`` takes at ``router``. ``key_tree[key]`` is router -> the output ports of
    the key's multicast tree, read from the tables (``trees``); :meth:`xy_tree` the X-Y tree of a multicast
    without a key.

    Another routing scheme is one subclass: override :meth:`port` (e.g. Y-X).

    Args:
        cols, rows, host: the mesh.
        trees: checked key trees (:func:`check_tables`; routers as ``(x, y)``, None = the host).
        branches: give every branch of a multicast key a unicast route id (for networks that replicate
            at the source, multi-flit packets); single-destination keys always get one.
    """

    def __init__(self, cols: int, rows: int, host: bool, trees: Mapping[int, KeyTree] | None = None,
                 branches: bool = True) -> None:
        self.cols, self.rows = cols, rows
        self.nodes = nodes = cols * rows
        self.host = nodes if host else None
        self.nd = nd = nodes + (1 if host else 0)
        self.trees = dict(trees or {})
        #: per key: source node, destination nodes (in the key's order), router -> flat output ports,
        #: destination node -> route id of its branch
        self.key_src: dict[int, int] = {}
        self.key_dests: dict[int, tuple[int, ...]] = {}
        self.key_tree: dict[int, dict[int, tuple[int, ...]]] = {}
        self.key_rid: dict[int, dict[int, int]] = {}
        branch_hops: list[tuple[tuple[tuple[int, int], int], ...]] = []
        for key, tree in self.trees.items():
            self.key_src[key] = self.node(tree.source)
            self.key_dests[key] = tuple(self.node(d) for d in tree.dests)
            self.key_tree[key] = {self.node(at): tuple(self.node(at) * 6 + PORTS.index(c) for c in ports)
                                  for at, ports in tree.ports.items()}
            rids = self.key_rid[key] = {}
            if branches or len(tree.dests) == 1:
                for d in tree.dests:
                    rids[self.node(d)] = nd + len(branch_hops)
                    branch_hops.append(tree.paths[d])
        self.stride = stride = nd + len(branch_hops)
        route = [0] * (nodes * stride)
        for r in range(nodes):
            at = (r % cols, r // cols)
            base = r * stride
            for d in range(nd):
                to_host = d == self.host
                route[base + d] = r * 6 + self.port(at, (0, 0) if to_host else (d % cols, d // cols), to_host)
            for j in range(len(branch_hops)):
                route[base + nd + j] = -1
        for j, hops in enumerate(branch_hops):
            for at, p in hops:
                r = self.node(at)
                route[r * stride + nd + j] = r * 6 + p
        self.route = route
        self._xy_trees: dict[tuple[int, tuple[int, ...]], dict[int, tuple[int, ...]]] = {}

    def port(self, at: tuple[int, int], to: tuple[int, int], to_host: bool) -> int:
        """The output port at router ``at`` for a unicast to router ``to`` (X-Y: :func:`xy_port`)."""
        return xy_port(at, to, to_host)

    def node(self, at: tuple[int, int] | None) -> int:
        """The node id of a router ``(x, y)`` (None: the host)."""
        if at is None:
            if self.host is None:
                raise DeploymentError("the tables route to the host, but the mesh has no host link")
            return self.host
        return at[0] + self.cols * at[1]

    def xy_tree(self, src: int, dests: Sequence[int]) -> dict[int, tuple[int, ...]]:
        """Router -> flat output ports of the union of the unicast routes from ``src`` to ``dests`` (cached)."""
        key = (src, tuple(sorted(dests)))
        tree = self._xy_trees.get(key)
        if tree is not None:
            return tree
        stride, route, cols, rows = self.stride, self.route, self.cols, self.rows
        outs: dict[int, set[int]] = {}
        for d in dests:
            r = 0 if src == self.host else src
            while True:
                o = route[r * stride + d]
                outs.setdefault(r, set()).add(o)
                p = o % 6
                if p == L or p == H:
                    break
                x, y = step((r % cols, r // cols), p)
                if not (0 <= x < cols and 0 <= y < rows):
                    raise DeploymentError(f"the routing leaves router {r} by {PORTS[p]}, off the mesh")
                r = x + cols * y
        tree = {r: tuple(sorted(os)) for r, os in outs.items()}
        self._xy_trees[key] = tree
        return tree

    def tables(self) -> Tables:
        """The key tables this routing forwards by, as :data:`Tables` (compare with the deployment's)."""
        out: Tables = {}
        for key, tree in self.key_tree.items():
            for r, os in tree.items():
                out.setdefault((r % self.cols, r // self.cols), {})[key] = "".join(PORTS[o % 6] for o in os)
        return {at: dict(sorted(t.items())) for at, t in sorted(out.items())}


@functools.lru_cache(maxsize=32)
def xy_routes(cols: int, rows: int, host: bool) -> MeshRoutes:
    """Plain X-Y routing of a mesh (no keys), shared: what trace replay and bare networks use."""
    return MeshRoutes(cols, rows, host)
