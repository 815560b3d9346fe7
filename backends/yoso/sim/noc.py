"""A cycle-level 2D-mesh network-on-chip: table routing, wormhole flow control, credit back-pressure.

The model (``docs/noc.md`` has the full description and the zero-load formula):

* ``cols x rows`` routers, node id ``x + cols * y``; ports ``N E S W L`` (``L`` the local core), plus
  ``H``, the host link, on the west side of router 0 when ``NocConfig.host`` is set (host node id
  ``cols * rows``).
* Routing by table (:class:`~snnc.backends.yoso.routing.MeshRoutes`, the routing module the compiler
  uses too): a packet injected with a multicast ``key`` follows that key's routing tables (a deployment's
  ``routing.json``, checked when the chip is built); without a key, X-Y dimension-order routing (x
  first, then y); a packet for the host routes X-Y to router 0, then
  leaves by ``H``.
* Each input port has a FIFO of ``fifo_depth`` flits. A flit written into a FIFO at cycle ``t`` may
  leave the router at cycle ``t + router_delay`` at the earliest (the router pipeline); on an output
  link it is written into the downstream FIFO ``link_delay`` cycles later. One flit per cycle per input
  port and per output port, so two flits never use one link in the same cycle.
* Wormhole switching with one virtual channel: the head flit routes and allocates its output port,
  body flits follow, the tail flit releases the port. Round-robin arbitration per output port among the
  input ports whose head flit wants it (the pointer moves past each winner).
* Credit-based back-pressure: an output sends only when the downstream FIFO has a free slot counting
  the flits already on the link; a slot freed at cycle ``t`` is usable upstream from cycle ``t + 1``
  (one cycle of credit return).
* Multicast (single-flit packets): one packet along the key's tree (without a key: the union of the X-Y
  routes to its destinations); a
  router sends a copy to each branch when that branch can take it and frees the slot when all have.
* Injection: an unbounded queue per source feeds the router's ``L`` input (``H`` for the host), one
  flit per cycle; ejection: the ``L`` (or ``H``) output, one flit per cycle, into a sink that has
  ``eject_depth`` flits of space (None: always ready); a consumer returns space with :meth:`MeshNoC.consume`.

Simulation: the network is driven by the :mod:`~snnc.backends.yoso.sim.events` environment; it ticks
only on cycles where some flit can move, i.e. it skips the idle cycles and the pipeline delays. An input
port is looked at on a cycle only when its head flit is ready (a timing wheel) or was blocked the cycle
before. No packet is lost or duplicated: :meth:`MeshNoC.check_conservation` compares injected and
delivered flits per packet id; a watchdog raises :class:`SimulationError` with the stuck state when no
flit moves for ``watchdog_cycles`` cycles while packets are in flight.

Example:
    >>> from snnc.backends.yoso.sim.events import Environment
    >>> env = Environment()
    >>> noc = MeshNoC(env, NocConfig(cols=4, rows=4, router_delay=2, link_delay=1, flits=2))
    >>> pid = noc.inject(0, 15)      # 6 hops: 6 * (2 + 1) + 2 + (2 - 1) = 21 cycles
    >>> env.run(); noc.check_conservation()
    >>> noc.latency(pid)
    21
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from snnc.backends.yoso.routing import PORTS as ROUTING_PORTS
from snnc.backends.yoso.routing import MeshRoutes, xy_routes
from snnc.backends.yoso.sim.events import LATE, Environment, Event, SimulationError
from snnc.backends.yoso.sim.network import NetworkStats
from snnc.errors import HardwareConfigError

#: router port indices and names.
N, E, S, W, L, H = range(6)
PORT_NAMES = "NESWLH"
#: ports per router in the flat port arrays (``port id = router * P + port``).
P = 6
_OPPOSITE = {N: S, E: W, S: N, W: E}
_STEP = {N: (0, -1), E: (1, 0), S: (0, 1), W: (-1, 0)}
assert PORT_NAMES == ROUTING_PORTS and P == len(ROUTING_PORTS)  # the routing module's port numbering
_NO_PORT, _EJECT = -2, -1
_UNBOUNDED = 1 << 60


@dataclass(frozen=True)
class NocConfig:
    """Parameters of the mesh network.

    Attributes:
        cols, rows: mesh size (routers along x and y).
        router_delay: R, cycles from a flit entering a router to leaving it (>= 1).
        link_delay: L, cycles on a link between routers (>= 0).
        flits: F, flits per packet (default for :meth:`MeshNoC.inject`).
        fifo_depth: D, flits each router input FIFO holds.
        host: add the host link on the west side of router 0 (host node id ``cols * rows``).
        eject_depth: flits the ejection sink of each node takes before the consumer drains it
            (None: the sink always takes a flit).
        watchdog_cycles: K, raise when no flit moves for K cycles while packets are in flight.
    """

    cols: int = 8
    rows: int = 8
    router_delay: int = 2
    link_delay: int = 1
    flits: int = 1
    fifo_depth: int = 4
    host: bool = False
    eject_depth: int | None = None
    watchdog_cycles: int = 10_000

    def __post_init__(self) -> None:
        for name, low in (("cols", 1), ("rows", 1), ("router_delay", 1), ("link_delay", 0), ("flits", 1),
                          ("fifo_depth", 1), ("watchdog_cycles", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low:
                raise HardwareConfigError(f"must be an integer >= {low}, got {v!r}", where=f"noc {name}")
        if self.eject_depth is not None and (not isinstance(self.eject_depth, int) or self.eject_depth < 1):
            raise HardwareConfigError(f"must be None or an integer >= 1, got {self.eject_depth!r}",
                                      where="noc eject_depth")

    @classmethod
    def from_hardware(cls, hw: Any, **overrides: Any) -> NocConfig:
        """The network of a YOSO hardware description (:func:`snnc.backends.yoso.hardware.load_hardware`).

        Reads ``[mesh] cols, rows`` and ``[noc] router_delay_cycles, link_delay_cycles, fifo_depth,
        flits_per_spike``; the host link is on (the YOSO host interface sits west of PE (0, 0)).
        ``overrides`` replace any field.
        """
        values = dict(cols=hw.mesh.cols, rows=hw.mesh.rows, router_delay=hw.noc.router_delay_cycles,
                      link_delay=hw.noc.link_delay_cycles, flits=hw.noc.flits_per_spike,
                      fifo_depth=hw.noc.fifo_depth, host=True)
        values.update(overrides)
        return cls(**values)

    @property
    def nodes(self) -> int:
        """Routers (PE nodes), not counting the host."""
        return self.cols * self.rows

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def zero_load_latency(hops: int, config: NocConfig, flits: int | None = None, *, host_links: int = 0) -> int:
    """Cycles from injection to tail ejection of a packet alone in the network (``docs/noc.md``).

    ``latency = routers * R + links * L + g(F - 1)`` where ``routers = hops + 1``, ``links = hops +
    host_links`` (``hops`` counts router-to-router links) and ``g(k) = (k // D) * max(D, R + L + 1) + k % D``
    is the delay of flit ``k`` behind the head (credit round trip ``R + L + 1`` limits a FIFO of ``D`` flits);
    with no router-to-router link (``hops = 0``) no credit limits the packet and ``g(k) = k``.
    """
    f = config.flits if flits is None else flits
    r, link, d = config.router_delay, config.link_delay, config.fifo_depth
    k = f - 1
    g = (k // d) * max(d, r + link + 1) + k % d if hops > 0 else k
    return (hops + 1) * r + (hops + host_links) * link + g


class MeshNoC:
    """The mesh network, driven by an :class:`~snnc.backends.yoso.sim.events.Environment`; a
    :class:`~snnc.backends.yoso.sim.network.NetworkModel`.

    Args:
        env: the event environment (the network schedules its own ticks on it).
        config: the network parameters.
        on_deliver: called as ``on_deliver(packet_id, node)`` at the cycle the packet's tail is ejected
            at ``node`` (``env.now`` is that cycle); once per destination of a multicast packet.
        routes: the routing (:class:`~snnc.backends.yoso.routing.MeshRoutes`: X-Y to every node, plus the
            deployment's key tables for packets injected with a ``key``); default plain X-Y.

    Per-packet records (lists indexed by packet id): ``src``, ``dst``, ``flits``, ``created`` (inject
    call), ``head_out`` (head left the source router), ``head_eject``, ``tail_eject``, ``hops`` (links the
    head crossed, host link included); per output port ``link_flits``.
    """

    def __init__(self, env: Environment, config: NocConfig,
                 on_deliver: Callable[[int, int], None] | None = None, routes: MeshRoutes | None = None) -> None:
        self.env = env
        self.config = config
        self.on_deliver = on_deliver
        cols, rows = config.cols, config.rows
        self.nodes = cols * rows
        self.host = self.nodes if config.host else None
        self._nd = self.nodes + (1 if config.host else 0)  # destinations
        nports = self.nodes * P
        if routes is None:
            routes = xy_routes(cols, rows, config.host)
        elif (routes.cols, routes.rows, routes.host) != (cols, rows, self.host):
            raise SimulationError(f"the routing is for a {routes.cols}x{routes.rows} mesh (host node {routes.host}), "
                                  f"the network is {cols}x{rows} (host node {self.host})")
        self.routes = routes
        self._build_tables()
        self._fifo: list[deque[tuple[int, int, int]]] = [deque() for _ in range(nports)]
        self._lock = [-1] * nports
        self._rr = [0] * nports
        depth, eject = config.fifo_depth, config.eject_depth or _UNBOUNDED
        self._credit = [depth if d >= 0 else (eject if d == _EJECT else 0) for d in self._down]
        self.link_flits = [0] * nports
        # timing wheel: cycle -> input ports whose head flit becomes ready then; plus last cycle's blocked ports
        self._wheel: dict[int, list[int]] = {}
        self._wheel_times: list[int] = []
        self._waiting: list[int] = []
        self._tick_time: int | None = None
        self._tick_gen = 0
        self._last_cycle = -1
        self._last_progress = env.now
        self.cycles_simulated = 0
        self.in_flight = 0
        self.delivered = 0
        # per packet
        self.src: list[int] = []
        self.dst: list[int] = []
        self._rid: list[int] = []  # route id (routes.route), -1 for a multicast
        self.flits: list[int] = []
        self.created: list[int] = []
        self.head_out: list[int] = []
        self.head_eject: list[int] = []
        self.tail_eject: list[int] = []
        self.hops: list[int] = []
        self._ejected: list[int] = []
        self.payload: list[Any] = []
        #: multicast packets: id -> destinations, id -> {node: tail ejection cycle}
        self.dests: dict[int, tuple[int, ...]] = {}
        self.dest_tail: dict[int, dict[int, int]] = {}
        self._mtree: dict[int, dict[int, tuple[int, ...]]] = {}
        self._mserved: dict[int, set[int]] = {}
        env.add_monitor(self._monitor)

    # ------------------------------------------------------------------------------------ tables
    def _build_tables(self) -> None:
        cols, rows, nodes = self.config.cols, self.config.rows, self.nodes
        down = [_NO_PORT] * (nodes * P)
        up = [-1] * (nodes * P)
        eject_node = [-1] * (nodes * P)
        for r in range(nodes):
            x, y = r % cols, r // cols
            for p, (dx, dy) in _STEP.items():
                nx, ny = x + dx, y + dy
                if 0 <= nx < cols and 0 <= ny < rows:
                    nb = nx + cols * ny
                    down[r * P + p] = nb * P + _OPPOSITE[p]
                    up[nb * P + _OPPOSITE[p]] = r * P + p
            down[r * P + L] = _EJECT
            eject_node[r * P + L] = r
        if self.host is not None:
            down[H] = _EJECT
            eject_node[H] = self.host
        stride = self.routes.stride
        self._down, self._up, self._route, self._eject_node = down, up, self.routes.route, eject_node
        self._rbase = [(ip // P) * stride for ip in range(nodes * P)]

    # ------------------------------------------------------------------------------------ API
    def node_xy(self, node: int) -> tuple[int, int]:
        """Mesh coordinates of a node (the host is at (-1, 0))."""
        if node == self.host:
            return (-1, 0)
        return node % self.config.cols, node // self.config.cols

    def distance(self, src: int, dst: int) -> int:
        """Links an X-Y route from ``src`` to ``dst`` crosses (the host link counts one)."""
        extra = 0
        if src == self.host:
            src, extra = 0, extra + 1
        if dst == self.host:
            dst, extra = 0, extra + 1
        (sx, sy), (dx, dy) = self.node_xy(src), self.node_xy(dst)
        return abs(sx - dx) + abs(sy - dy) + extra

    def inject(self, src: int, dst: int | Sequence[int], flits: int | None = None, payload: Any = None,
               key: int | None = None) -> int:
        """Queue a packet at ``src`` at the current cycle; returns its packet id.

        Args:
            src: the sending node.
            dst: the receiving node, or several (multicast, single-flit packets only: the packet is
                replicated along a tree; a router on the tree sends a copy to each branch as soon as that
                branch can take it, and frees the flit's slot when every branch has its copy).
            flits: flits of this packet (default ``config.flits``).
            payload: anything; the network does not look at it (``noc.payload[pid]``).
            key: the packet's multicast key: it is forwarded by the key's routing tables
                (``routes.key_tree``: a multicast to all the key's destinations, or a unicast along the
                branch of the key's tree to ``dst``). Without a key: the union of the X-Y routes.

        Raises:
            SimulationError: a node id out of range, a repeated destination, ``flits < 1``, or (with a key)
                a source, destinations or a destination the key's tables do not route.
        """
        nd = self._nd
        dests: tuple[int, ...] | None = None
        tree: dict[int, tuple[int, ...]] | None = None
        if key is not None:
            rid, dst, dests, tree = self._key_route(src, dst, key)
        elif dst.__class__ is not int or src.__class__ is not int or not (0 <= src < nd and 0 <= dst < nd):
            src, dst, dests = self._check_nodes(src, dst)
            rid = dst
        else:
            rid = dst
        f = self.config.flits if flits is None else flits
        if f < 1:
            raise SimulationError(f"a packet needs at least one flit, got {f}")
        if dests is not None and f != 1:
            raise SimulationError(f"multicast packets must be single-flit, got {f} flits",
                                  hint="wormhole multicast with replication can deadlock with multi-flit packets "
                                       "(a fork holds one branch while it waits for another); send unicasts")
        now = self.env.now
        pid = len(self.dst)
        self.src.append(src)
        if dests is None:
            self.dst.append(dst)
            self._rid.append(rid)
        else:
            self.dst.append(-1)
            self._rid.append(-1)
            self.dests[pid] = dests
            self.dest_tail[pid] = {}
            self._mtree[pid] = self.routes.xy_tree(src, dests) if tree is None else tree
        self.flits.append(f)
        self.created.append(now)
        self.head_out.append(-1)
        self.head_eject.append(-1)
        self.tail_eject.append(-1)
        self._ejected.append(0)
        self.payload.append(payload)
        if src == self.host:
            ip, start, hops = H, now + self.config.link_delay + self.config.router_delay, 1
        else:
            ip, start, hops = src * P + L, now + self.config.router_delay, 0
        self.hops.append(hops)
        q = self._fifo[ip]
        was_empty = not q
        if f == 1:
            q.append((start, pid, 0))
        else:
            q.extend((start + k, pid, k) for k in range(f))
        if self.in_flight == 0:
            self._last_progress = now
        self.in_flight += 1
        if was_empty:
            self._schedule(ip, start)
        return pid

    def _check_nodes(self, src: Any, dst: Any) -> tuple[int, int, tuple[int, ...] | None]:
        """Validated ``(src, dst, dests)`` as Python ints; ``dests`` for a multicast, else None."""
        nd = self._nd
        dests: tuple[int, ...] | None = None
        if not isinstance(dst, int | np.integer):
            dests = tuple(int(d) for d in dst)
            if len(set(dests)) != len(dests) or not dests:
                raise SimulationError(f"multicast destinations must be distinct and not empty, got {list(dests)}")
            if len(dests) == 1:
                dst, dests = dests[0], None
        for node in (src, *(dests or (dst,))):
            if not 0 <= node < nd:
                host = f", host {self.host}" if self.host is not None else ""
                raise SimulationError(f"node {node} is not on the {self.config.cols}x{self.config.rows} mesh "
                                      f"(ids 0..{nd - 1}{host})")
        return int(src), (-1 if dests is not None else int(dst)), dests

    def _key_route(self, src: Any, dst: Any, key: Any) -> tuple[int, int, tuple[int, ...] | None,
                                                               dict[int, tuple[int, ...]] | None]:
        """``(route id, dst, dests, tree)`` of a packet of ``key``: from the key's tables."""
        routes = self.routes
        ksrc = routes.key_src.get(key)
        if ksrc is None:
            raise SimulationError(f"key {key} has no routing table entries", where="network inject")
        if src != ksrc:
            raise SimulationError(f"a packet of key {key} was injected at node {src}, but the key's tables route "
                                  f"it from node {ksrc}", where="network inject")
        if not isinstance(dst, int | np.integer):
            dests = dst if dst.__class__ is tuple else tuple(int(d) for d in dst)
            if len(dests) != 1:
                if dests != routes.key_dests[key] and sorted(dests) != sorted(routes.key_dests[key]):
                    raise SimulationError(f"a packet of key {key} for nodes {list(dests)}, but the key's tables "
                                          f"deliver to nodes {list(routes.key_dests[key])}", where="network inject")
                return -1, -1, dests, routes.key_tree[key]
            dst = dests[0]
        rid = routes.key_rid[key].get(dst)
        if rid is None:
            raise SimulationError(f"the tables of key {key} have no unicast route to node {dst} (destinations "
                                  f"{list(routes.key_dests[key])})", where="network inject")
        return rid, int(dst), None, None

    def consume(self, node: int, flits: int = 1) -> None:
        """The consumer at ``node`` drained ``flits`` flits from its ejection sink (with ``eject_depth``)."""
        o = H if node == self.host else node * P + L
        self._credit[o] += flits
        if self.config.eject_depth is not None and self._credit[o] > self.config.eject_depth:
            raise SimulationError(f"node {node} consumed more flits than it received",
                                  hint="call consume() once per flit taken out of the ejection sink")
        if self._waiting:
            self._ensure_tick(self.env.now + 1)

    def latency(self, pid: int) -> int:
        """Tail ejection minus creation of a delivered packet."""
        if self.tail_eject[pid] < 0:
            raise SimulationError(f"packet {pid} has not been delivered")
        return self.tail_eject[pid] - self.created[pid]

    # ------------------------------------------------------------------------------------ engine
    def _schedule(self, ip: int, t: int) -> None:
        lst = self._wheel.get(t)
        if lst is None:
            self._wheel[t] = [ip]
            heapq.heappush(self._wheel_times, t)
            self._ensure_tick(t)
        else:
            lst.append(ip)

    def _ensure_tick(self, t: int) -> None:
        if self._tick_time is None or t < self._tick_time:
            self._tick_gen += 1
            self._tick_time = t
            self.env.call_later(t - self.env.now, self._on_tick, LATE, self._tick_gen)

    def _on_tick(self, event: Event) -> None:
        if event._value != self._tick_gen:
            return  # superseded by an earlier tick
        now = self.env.now
        self._tick_time = None
        if now <= self._last_cycle:
            raise SimulationError(f"network cycle {now} after cycle {self._last_cycle}: time went backwards")
        self._last_cycle = now
        delivered = self._cycle(now)
        if self._waiting:
            self._ensure_tick(now + 1)
        elif self._wheel_times:
            self._ensure_tick(self._wheel_times[0])
        if delivered and self.on_deliver is not None:
            for pid, node, t in delivered:
                if t == now:
                    self.on_deliver(pid, node)
                else:
                    self.env.call_later(t - now, lambda _ev, p=pid, n=node: self.on_deliver(p, n))  # type: ignore[misc]

    def _cycle(self, now: int) -> list[tuple[int, int, int]] | None:  # noqa: C901 - the hot loop, kept flat
        """One network cycle: route and arbitrate every ready head flit, then move the winners.

        Phase 1 reads the state at the start of the cycle (requests, locks, credits); phase 2 applies the
        moves, so the outcome does not depend on the order ports are visited. A multicast flit stays at
        the head of its FIFO until every branch of its tree at this router has taken a copy.
        """
        self.cycles_simulated += 1
        fifo, dstv, route, rbase = self._fifo, self._rid, self._route, self._rbase
        lock, credit = self._lock, self._credit
        cands = self._waiting
        wt = self._wheel_times
        if wt and wt[0] <= now:
            t = heapq.heappop(wt)
            if t < now:
                raise SimulationError(f"input ports due at cycle {t} were skipped (now {now})")
            cands.extend(self._wheel.pop(t))
        blocked: list[int] = []
        grants: list[tuple[int, int]] = []
        requests: dict[int, Any] = {}
        multi: list[int] | None = None
        # phase 1: requests, from the state at the start of the cycle
        for ip in cands:
            pid = fifo[ip][0][1]
            d = dstv[pid]
            if d < 0:  # multicast: a request per branch not served yet
                if multi is None:
                    multi = []
                multi.append(ip)
                served = self._mserved.get(ip)
                for o in self._mtree[pid][ip // P]:
                    if served is not None and o in served:
                        continue
                    lk = lock[o]
                    if lk == pid:
                        if credit[o] > 0:
                            grants.append((ip, o))
                    elif lk < 0 and credit[o] > 0:
                        r = requests.get(o)
                        if r is None:
                            requests[o] = ip
                        elif r.__class__ is int:
                            requests[o] = [r, ip]
                        else:
                            r.append(ip)
                continue
            o = route[rbase[ip] + d]
            lk = lock[o]
            if lk == pid:
                if credit[o] > 0:
                    grants.append((ip, o))
                else:
                    blocked.append(ip)
            elif lk < 0 and credit[o] > 0:
                r = requests.get(o)
                if r is None:
                    requests[o] = ip
                elif r.__class__ is int:
                    requests[o] = [r, ip]
                else:
                    r.append(ip)
            else:
                blocked.append(ip)
        rr = self._rr
        for o, r in requests.items():
            if r.__class__ is int:
                win = r
            else:
                ptr = rr[o]
                win = min(r, key=lambda i, ptr=ptr: (i - ptr) % P)
                blocked.extend(i for i in r if i != win and dstv[fifo[i][0][1]] >= 0)
            rr[o] = (win + 1) % P
            grants.append((win, o))
        if not grants:
            if multi is not None:
                blocked.extend(multi)
            self._waiting = blocked
            if self.in_flight and now - self._last_progress >= self.config.watchdog_cycles:
                raise SimulationError(
                    f"no flit moved for {now - self._last_progress} cycles (cycle {now}) while "
                    f"{self.in_flight} packets are in flight: deadlock or a stuck FIFO\n{self.stuck_report()}",
                    where="network watchdog",
                    hint="an ejection sink that is never drained, or a FIFO that never frees; "
                         "raise watchdog_cycles if consumers are just slow")
            return None
        self._last_progress = now
        # phase 2: move the granted flits
        up, down, nfl, link_flits = self._up, self._down, self.flits, self.link_flits
        hops, head_out = self.hops, self.head_out
        wheel, lr = self._wheel, self.config.link_delay + self.config.router_delay
        delivered: list[tuple[int, int, int]] | None = None
        nxt = now + 1
        for ip, o in grants:
            q = fifo[ip]
            _, pid, k = q[0]
            if dstv[pid] >= 0:
                q.popleft()
                u = up[ip]
                if u >= 0:
                    credit[u] += 1
                elif k == 0:
                    head_out[pid] = now
                if q:
                    t = q[0][0]
                    if t <= nxt:
                        blocked.append(ip)
                    else:
                        lst = wheel.get(t)
                        if lst is None:
                            wheel[t] = [ip]
                            heapq.heappush(wt, t)
                        else:
                            lst.append(ip)
            else:  # multicast: the copy for this branch leaves; the flit stays until all have
                served = self._mserved.get(ip)
                if served is None:
                    self._mserved[ip] = {o}
                else:
                    served.add(o)
                if k == 0 and up[ip] < 0 and head_out[pid] < 0:
                    head_out[pid] = now
            credit[o] -= 1
            link_flits[o] += 1
            last = nfl[pid] - 1
            if k == last:
                if k:
                    lock[o] = -1
            elif k == 0:
                lock[o] = pid
            d = down[o]
            if d >= 0:
                dq = fifo[d]
                t = now + lr
                dq.append((t, pid, k))
                if len(dq) == 1:
                    lst = wheel.get(t)
                    if lst is None:
                        wheel[t] = [d]
                        heapq.heappush(wt, t)
                    else:
                        lst.append(d)
                if k == 0:
                    hops[pid] += 1
            else:
                done = self._eject(o, pid, k, now)
                if done is not None:
                    if delivered is None:
                        delivered = []
                    delivered.append(done)
        if multi is not None:
            for ip in multi:
                q = fifo[ip]
                _, pid, k = q[0]
                served = self._mserved.get(ip)
                if served is None or len(served) < len(self._mtree[pid][ip // P]):
                    blocked.append(ip)
                    continue
                del self._mserved[ip]
                q.popleft()
                u = up[ip]
                if u >= 0:
                    credit[u] += 1
                if q:
                    t = q[0][0]
                    if t <= nxt:
                        blocked.append(ip)
                    else:
                        self._schedule(ip, t)
        self._waiting = blocked
        return delivered

    def _eject(self, o: int, pid: int, k: int, now: int) -> tuple[int, int, int] | None:
        """Account an ejected flit; returns ``(packet, node, cycle)`` when it is a tail, else None."""
        node = self._eject_node[o]
        dst = self.dst[pid]
        if node != dst and (dst >= 0 or node not in self.dests[pid]):
            raise SimulationError(f"packet {pid} for node(s) {self.dests.get(pid, dst)} was ejected at node {node}")
        t = now
        if node == self.host:
            t += self.config.link_delay
            if k == 0:
                self.hops[pid] += 1
        self._ejected[pid] += 1
        if k == 0 and self.head_eject[pid] < 0:
            self.head_eject[pid] = t
        if k != self.flits[pid] - 1:
            return None
        if dst >= 0:
            if self.tail_eject[pid] >= 0:
                raise SimulationError(f"packet {pid} delivered twice (cycles {self.tail_eject[pid]} and {t})")
            self.tail_eject[pid] = t
        else:
            tails = self.dest_tail[pid]
            if node in tails:
                raise SimulationError(f"packet {pid} delivered twice at node {node} (cycles {tails[node]} and {t})")
            tails[node] = t
            if len(tails) < len(self.dests[pid]):
                return pid, node, t
            self.tail_eject[pid] = max(tails.values())
        self.delivered += 1
        self.in_flight -= 1
        return pid, node, t

    # ------------------------------------------------------------------------------------ checks
    def check_conservation(self) -> None:
        """Every injected packet was delivered exactly once, whole (flits ejected == flits injected).

        Raises:
            SimulationError: naming the lost or duplicated packet ids.
        """
        ejected = np.asarray(self._ejected, dtype=np.int64)
        flits = np.asarray(self.flits, dtype=np.int64)
        for pid, dests in self.dests.items():
            flits[pid] *= len(dests)
        tails = np.asarray(self.tail_eject, dtype=np.int64)
        lost = np.flatnonzero((tails < 0) | (ejected < flits))
        extra = np.flatnonzero(ejected > flits)
        if lost.size or extra.size or self.delivered != len(self.dst) or self.in_flight:
            parts = []
            if lost.size:
                parts.append(f"{lost.size} packets not delivered (ids {_ids(lost)})")
            if extra.size:
                parts.append(f"{extra.size} packets delivered more than once (ids {_ids(extra)})")
            if not parts:
                parts.append(f"{len(self.dst)} injected but {self.delivered} delivered")
            raise SimulationError("packet conservation broken: " + "; ".join(parts),
                                  hint="run the network until it is idle before reading its statistics")

    def check_invariants(self) -> None:
        """Credits and FIFOs agree (for every router-to-router link, credits + FIFO fill == depth), and
        every non-empty FIFO is due exactly once (on the timing wheel or in the blocked list)."""
        due: dict[int, int] = {}
        for ip in [*self._waiting, *(i for lst in self._wheel.values() for i in lst)]:
            due[ip] = due.get(ip, 0) + 1
        for ip, q in enumerate(self._fifo):
            if due.get(ip, 0) != (1 if q else 0):
                raise SimulationError(f"FIFO {self.port_name(ip)} holds {len(q)} flits and is due "
                                      f"{due.get(ip, 0)} times")
        depth = self.config.fifo_depth
        for ip, u in enumerate(self._up):
            if u >= 0:
                n = len(self._fifo[ip])
                if n > depth or self._credit[u] + n != depth:
                    raise SimulationError(f"FIFO {self.port_name(ip)} holds {n} flits with {self._credit[u]} "
                                          f"credits upstream (depth {depth})")

    def port_name(self, port: int) -> str:
        """``router 9 (1,1) W`` for a flat port id."""
        r, p = divmod(port, P)
        x, y = self.node_xy(r)
        return f"router {r} ({x},{y}) {PORT_NAMES[p]}"

    def stuck_report(self, limit: int = 20) -> str:
        """Which FIFOs hold which packets, and what each head waits for.

        The ports where a blockage starts come first (a full ejection sink, then an output held by
        another packet's worm), the ports that only feel back-pressure (no credit) after them, so that
        the cause stays in view when the report is cut at ``limit`` ports.
        """
        entries: list[tuple[int, str]] = []
        for ip, q in enumerate(self._fifo):
            if not q:
                continue
            pids = list(dict.fromkeys(f[1] for f in q))
            _, pid, k = q[0]
            if self._rid[pid] >= 0:
                outs: tuple[int, ...] = (self._route[self._rbase[ip] + self._rid[pid]],)
            else:
                served = self._mserved.get(ip, set())
                outs = tuple(o for o in self._mtree[pid][ip // P] if o not in served)
            why = []
            rank = 3  # 0: ejection sink full, 1: held by another packet, 2: back-pressure only, 3: nothing
            for o in outs:
                if self._lock[o] not in (-1, pid):
                    why.append(f"{PORT_NAMES[o % P]} held by packet {self._lock[o]}")
                    rank = min(rank, 1)
                if self._credit[o] <= 0:
                    if self._down[o] == _EJECT:
                        why.append(f"{PORT_NAMES[o % P]}: ejection sink full")
                        rank = 0
                    else:
                        why.append(f"{PORT_NAMES[o % P]}: no credit (downstream FIFO "
                                   f"{self.port_name(self._down[o])} full)")
                        rank = min(rank, 2)
            kind = "injection queue" if self._up[ip] < 0 else "input FIFO"
            wants = " ".join(PORT_NAMES[o % P] for o in outs)
            entries.append((rank, f"  {self.port_name(ip)} {kind}: {len(q)} flits of packets {_ids(pids)}; head: "
                                  f"packet {pid} flit {k} -> {wants}" + (f" ({', '.join(why)})" if why else "")))
        entries.sort(key=lambda e: e[0])  # stable: port order within a rank
        lines = [line for _, line in entries]
        more = len(lines) - limit
        return "\n".join(lines[:limit] + ([f"  ... and {more} more ports"] if more > 0 else []))

    def _monitor(self) -> str | None:
        if self.in_flight:
            return f"network: {self.in_flight} packets in flight\n{self.stuck_report()}"
        return None

    # ------------------------------------------------------------------------------------ stats
    def links(self) -> list[tuple[int, int | str, int]]:
        """``(from node, to node or 'eject', flits)`` for every output port that exists."""
        out: list[tuple[int, int | str, int]] = []
        for o, d in enumerate(self._down):
            if d == _NO_PORT:
                continue
            r, p = divmod(o, P)
            if d == _EJECT:
                to: int | str = "host" if p == H else "eject"
            else:
                to = d // P
            out.append((r, to, self.link_flits[o]))
        return out

    def router_flits(self) -> np.ndarray:
        """Flits each router sent out (all its output ports, ejection included)."""
        return np.asarray(self.link_flits, dtype=np.int64).reshape(self.nodes, P).sum(axis=1)

    def statistics(self) -> NetworkStats:
        """The run's totals (:class:`~snnc.backends.yoso.sim.network.NetworkStats`)."""
        flits = self.link_flits
        mesh_links = sum(f for o, f in enumerate(flits) if o % P < L)  # N E S W outputs
        to_host = flits[H] if self.host is not None else 0
        host_in = sum(self.flits[pid] for pid in range(len(self.src)) if self.src[pid] == self.host)
        links = [(a, b, f) for a, b, f in self.links() if f and b != "eject"]
        if host_in:
            links.append((self.host, 0, host_in))  # type: ignore[arg-type]
        return NetworkStats(packets=len(self.src), delivered=self.delivered, hops=int(sum(self.hops)),
                            router_flits=int(sum(flits)), link_flits=int(mesh_links + to_host + host_in),
                            host_in_flits=int(host_in), links=links)

    def packet_table(self) -> dict[str, np.ndarray]:
        """Per-packet records as int64 arrays (-1 where an event has not happened)."""
        names = ("src", "dst", "flits", "created", "head_out", "head_eject", "tail_eject", "hops")
        return {n: np.asarray(getattr(self, n), dtype=np.int64) for n in names}


def _ids(ids: Any, limit: int = 10) -> str:
    ids = [int(i) for i in ids]
    text = ", ".join(map(str, ids[:limit]))
    return text + (f", ... ({len(ids)} in all)" if len(ids) > limit else "")
