"""The mesh network of :class:`~snnc.backends.yoso.sim.noc.MeshNoC` as numba kernels over flat state.

Same model, same order of decisions, cycle for cycle (``docs/noc.md``): phase 1 reads requests from the state at
the start of the cycle (locks, credits, round-robin pointers), phase 2 applies the moves; ports whose head flit
becomes ready are found on a timing wheel, blocked ports are looked at again the next cycle, idle cycles are
skipped (the network runs a cycle exactly where :class:`MeshNoC` ticks, so ``cycles_simulated`` agrees too).

State (built by :func:`new_state`, one :class:`NocState` of NumPy arrays):

* ``port[row, ip]`` per flat port ``router * 6 + port``: the static tables (downstream port, upstream port,
  ejection node) and the per-port state (lock, round-robin pointer, credits, flits sent, multicast branches
  served, the FIFO ring buffer's base / capacity / head / count, the wheel's next link, request bits);
* ``fifo[3, slots]``: the ring buffers' flits ``(ready cycle, packet, flit index)``;
* ``pk[row, pid]``: per packet source, destination (-1: multicast), route id, flits, created, head out, head and
  tail ejection, hops, flits ejected, multicast tree, destinations, tails in, and the chip's payload;
* ``sc``: scalars (configuration, counters, the next tick, an error code: kernels never raise, they return a
  code and the Python side rebuilds the error, re-running the Python model when a detailed report is needed).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from snnc.backends.yoso.sim.compiled.jit import njit

P = 6
PORT_L, PORT_H = 4, 5
BIG = 1 << 62

# port rows
PD, PU, PEJ, PLOCK, PRR, PCRED, PLF, PSERV, PFB, PFC, PFH, PFN, PWN, PREQ = range(14)
NPORTROWS = 14
# packet rows
KSRC, KDST, KRID, KNFL, KCRE, KHOUT, KHEJ, KTEJ, KHOPS, KEJ, KTREE, KNDEST, KNTAIL, KKIND, KKEY, KJ, KSTEP = range(17)
NPKROWS = 17
# scalars
(S_R, S_L, S_D, S_EJD, S_WD, S_HOST, S_ND, S_STRIDE, S_NODES, S_W, S_INFL, S_DELIV, S_LASTPROG, S_NPK, S_NWAIT,
 S_WCUR, S_CYCLES, S_TICK, S_WCOUNT, S_ERR, S_ERRA, S_ERRB, S_NDL, S_LASTCYCLE, S_HOPS) = range(25)
NSC = 25

#: error codes (``sc[S_ERR]``)
ERR_NONE, ERR_WATCHDOG, ERR_WRONG_NODE, ERR_TWICE, ERR_FIFO_FULL, ERR_PACKETS_FULL, ERR_WHEEL, ERR_DEADLOCK = range(8)
ERR_CREDIT = 8


class NocState(NamedTuple):
    """The network's arrays (see the module docstring)."""

    port: np.ndarray
    fifo: np.ndarray
    pk: np.ndarray
    sc: np.ndarray
    wheel: np.ndarray  #: [3, W]: first port, last port, cycle of each wheel slot
    waiting: np.ndarray  #: [2, nports]: the blocked ports (current list, next list)
    route: np.ndarray
    tptr: np.ndarray  #: per (tree, router): first entry in tports
    tcnt: np.ndarray
    tports: np.ndarray
    tmask: np.ndarray  #: per (tree, router): bit mask of the tree's output ports there
    scratch: np.ndarray  #: [4, nports * 6]: candidates, touched outputs, multicast ports, grants (ip)
    grants: np.ndarray  #: [nports * 6]: grants (output)
    dl: np.ndarray  #: [3, nports]: deliveries of the last cycle (packet, node, cycle)


def new_state(*, down: list[int], up: list[int], eject_node: list[int], route: list[int] | np.ndarray, stride: int,
              nodes: int, host: int, router_delay: int, link_delay: int, fifo_depth: int, eject_depth: int,
              watchdog: int, flits: int, queue_cap: np.ndarray, packets: int,
              trees: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None) -> NocState:
    """Fresh network state. ``queue_cap[ip]``: ring-buffer slots of each port's FIFO (router inputs need
    ``fifo_depth``; injection queues as many flits as may wait there); ``packets``: packet records."""
    nports = nodes * P
    port = np.zeros((NPORTROWS, nports), np.int64)
    port[PD] = down
    port[PU] = up
    port[PEJ] = eject_node
    port[PLOCK] = -1
    for o in range(nports):
        d = down[o]
        port[PCRED, o] = fifo_depth if d >= 0 else (eject_depth if d == -1 else 0)
    cap = np.maximum(np.asarray(queue_cap, np.int64), 1)
    port[PFC] = cap
    port[PFB] = np.concatenate(([0], np.cumsum(cap)[:-1]))
    port[PWN] = -1
    fifo = np.zeros((3, int(cap.sum())), np.int64)
    pk = np.zeros((NPKROWS, max(packets, 1)), np.int64)
    sc = np.zeros(NSC, np.int64)
    w = 4
    while w <= router_delay + link_delay + flits + 2:
        w *= 2
    sc[S_R], sc[S_L], sc[S_D], sc[S_EJD], sc[S_WD] = router_delay, link_delay, fifo_depth, eject_depth, watchdog
    sc[S_HOST], sc[S_ND], sc[S_STRIDE], sc[S_NODES], sc[S_W] = host, nodes + (1 if host >= 0 else 0), stride, nodes, w
    sc[S_TICK] = BIG
    sc[S_LASTCYCLE] = -1
    wheel = np.full((3, w), -1, np.int64)
    if trees is None:
        trees = (np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64))
    return NocState(port, fifo, pk, sc, wheel, np.zeros((2, nports), np.int64), np.asarray(route, np.int64),
                    *trees, np.zeros((4, nports * P), np.int64), np.zeros(nports * P, np.int64),
                    np.zeros((3, nports), np.int64))


@njit(cache=True)
def _schedule(port, sc, wheel, ip, t):  # noqa: ANN001, ANN202
    """Put port ``ip`` on the wheel for cycle ``t`` (its head flit becomes ready then)."""
    w = sc[S_W]
    slot = t & (w - 1)
    if wheel[0, slot] < 0:
        wheel[0, slot] = ip
        wheel[1, slot] = ip
        wheel[2, slot] = t
    else:
        if wheel[2, slot] != t:
            sc[S_ERR] = ERR_WHEEL
            sc[S_ERRA] = t
            return
        port[PWN, wheel[1, slot]] = ip
        wheel[1, slot] = ip
    port[PWN, ip] = -1
    sc[S_WCOUNT] += 1


@njit(cache=True)
def next_tick(sc, wheel, now):  # noqa: ANN001, ANN201
    """The next cycle the network must run after cycle ``now`` (``BIG``: idle)."""
    if sc[S_NWAIT] > 0:
        return now + 1
    if sc[S_WCOUNT] == 0:
        return BIG
    w = sc[S_W]
    best = BIG
    for s in range(w):
        if wheel[0, s] >= 0 and wheel[2, s] < best:
            best = wheel[2, s]
    return best


@njit(cache=True)
def inject(port, fifo, pk, sc, wheel, src, rid, dst, flits, tree, ndest, now):  # noqa: ANN001, ANN201, PLR0913
    """Queue a packet at node ``src`` at cycle ``now`` (route id ``rid``, -1 with ``tree`` for a multicast to
    ``ndest`` nodes); returns its packet id, -1 when the packet table or the injection queue is full."""
    pid = sc[S_NPK]
    if pid >= pk.shape[1]:
        sc[S_ERR] = ERR_PACKETS_FULL
        return -1
    if src == sc[S_HOST]:
        ip = PORT_H
        start = now + sc[S_L] + sc[S_R]
        hops = 1
    else:
        ip = src * P + PORT_L
        start = now + sc[S_R]
        hops = 0
    n = port[PFN, ip]
    if n + flits > port[PFC, ip]:
        sc[S_ERR] = ERR_FIFO_FULL
        sc[S_ERRA] = ip
        return -1
    sc[S_NPK] = pid + 1
    pk[KSRC, pid] = src
    pk[KDST, pid] = dst
    pk[KRID, pid] = rid
    pk[KNFL, pid] = flits
    pk[KCRE, pid] = now
    pk[KHOUT, pid] = -1
    pk[KHEJ, pid] = -1
    pk[KTEJ, pid] = -1
    pk[KHOPS, pid] = hops
    pk[KEJ, pid] = 0
    pk[KTREE, pid] = tree
    pk[KNDEST, pid] = ndest
    pk[KNTAIL, pid] = 0
    base, cap, head = port[PFB, ip], port[PFC, ip], port[PFH, ip]
    for k in range(flits):
        s = base + (head + n + k) % cap
        fifo[0, s] = start + k
        fifo[1, s] = pid
        fifo[2, s] = k
    port[PFN, ip] = n + flits
    if sc[S_INFL] == 0:
        sc[S_LASTPROG] = now
    sc[S_INFL] += 1
    if n == 0:
        _schedule(port, sc, wheel, ip, start)
        if start < sc[S_TICK]:
            sc[S_TICK] = start
    return pid


@njit(cache=True)
def _eject(port, pk, sc, dl, o, pid, k, now):  # noqa: ANN001, ANN202
    node = port[PEJ, o]
    dst = pk[KDST, pid]
    if node != dst and dst >= 0:
        sc[S_ERR] = ERR_WRONG_NODE
        sc[S_ERRA] = pid
        sc[S_ERRB] = node
        return
    t = now
    if node == sc[S_HOST]:
        t += sc[S_L]
        if k == 0:
            pk[KHOPS, pid] += 1
    pk[KEJ, pid] += 1
    if k == 0 and pk[KHEJ, pid] < 0:
        pk[KHEJ, pid] = t
    if k != pk[KNFL, pid] - 1:
        return
    if dst >= 0:
        if pk[KTEJ, pid] >= 0:
            sc[S_ERR] = ERR_TWICE
            sc[S_ERRA] = pid
            return
        pk[KTEJ, pid] = t
    else:
        pk[KNTAIL, pid] += 1
        if t > pk[KTEJ, pid]:
            pk[KTEJ, pid] = t
    n = sc[S_NDL]
    dl[0, n] = pid
    dl[1, n] = node
    dl[2, n] = t
    sc[S_NDL] = n + 1
    if dst < 0 and pk[KNTAIL, pid] < pk[KNDEST, pid]:
        return
    sc[S_DELIV] += 1
    sc[S_INFL] -= 1


@njit(cache=True)
def cycle(st_port, fifo, pk, sc, wheel, waiting, route, tptr, tcnt, tports, tmask, scratch, grants, dl,  # noqa: ANN001, ANN201, C901, PLR0912, PLR0913, PLR0915
          now):
    """One network cycle at ``now`` (``MeshNoC._cycle``); deliveries land in ``dl[:, :sc[S_NDL]]``."""
    port = st_port
    sc[S_CYCLES] += 1
    sc[S_NDL] = 0
    sc[S_LASTCYCLE] = now
    nodes, stride = sc[S_NODES], sc[S_STRIDE]
    cand = scratch[0]
    touched = scratch[1]
    multi = scratch[2]
    gip = scratch[3]
    cur = sc[S_WCUR]
    nxtw = 1 - cur
    ncand = 0
    for i in range(sc[S_NWAIT]):
        cand[ncand] = waiting[cur, i]
        ncand += 1
    w = sc[S_W]
    slot = now & (w - 1)
    if wheel[0, slot] >= 0 and wheel[2, slot] == now:
        ip = wheel[0, slot]
        while ip >= 0:
            cand[ncand] = ip
            ncand += 1
            sc[S_WCOUNT] -= 1
            ip = port[PWN, ip]
        wheel[0, slot] = -1
        wheel[1, slot] = -1
    nb = 0  # blocked ports, into waiting[nxtw]
    ng = 0
    nt = 0
    nm = 0
    # phase 1: requests, from the state at the start of the cycle
    for c in range(ncand):
        ip = cand[c]
        pid = fifo[1, port[PFB, ip] + port[PFH, ip]]
        d = pk[KRID, pid]
        if d < 0:  # multicast: a request per branch not served yet
            multi[nm] = ip
            nm += 1
            e = pk[KTREE, pid] * nodes + ip // P
            served = port[PSERV, ip]
            for q in range(tptr[e], tptr[e] + tcnt[e]):
                o = tports[q]
                if (served >> (o % P)) & 1:
                    continue
                lk = port[PLOCK, o]
                if lk == pid:
                    if port[PCRED, o] > 0:
                        gip[ng] = ip
                        grants[ng] = o
                        ng += 1
                elif lk < 0 and port[PCRED, o] > 0:
                    if port[PREQ, o] == 0:
                        touched[nt] = o
                        nt += 1
                    port[PREQ, o] |= 1 << (ip % P)
            continue
        o = route[(ip // P) * stride + d]
        lk = port[PLOCK, o]
        if lk == pid:
            if port[PCRED, o] > 0:
                gip[ng] = ip
                grants[ng] = o
                ng += 1
            else:
                waiting[nxtw, nb] = ip
                nb += 1
        elif lk < 0 and port[PCRED, o] > 0:
            if port[PREQ, o] == 0:
                touched[nt] = o
                nt += 1
            port[PREQ, o] |= 1 << (ip % P)
        else:
            waiting[nxtw, nb] = ip
            nb += 1
    for i in range(nt):
        o = touched[i]
        mask = port[PREQ, o]
        port[PREQ, o] = 0
        r0 = (o // P) * P
        ptr = port[PRR, o]
        win = -1
        for s in range(P):
            p = (ptr + s) % P
            if (mask >> p) & 1:
                if win < 0:
                    win = p
                else:
                    li = r0 + p
                    if pk[KRID, fifo[1, port[PFB, li] + port[PFH, li]]] >= 0:
                        waiting[nxtw, nb] = li
                        nb += 1
        port[PRR, o] = (win + 1) % P
        gip[ng] = r0 + win
        grants[ng] = o
        ng += 1
    if ng == 0:
        for i in range(nm):
            waiting[nxtw, nb] = multi[i]
            nb += 1
        sc[S_NWAIT] = nb
        sc[S_WCUR] = nxtw
        if sc[S_INFL] > 0 and now - sc[S_LASTPROG] >= sc[S_WD]:
            sc[S_ERR] = ERR_WATCHDOG
            sc[S_ERRA] = now
        return
    sc[S_LASTPROG] = now
    # phase 2: move the granted flits
    lr = sc[S_L] + sc[S_R]
    nxt = now + 1
    for g in range(ng):
        ip = gip[g]
        o = grants[g]
        base, cap, head = port[PFB, ip], port[PFC, ip], port[PFH, ip]
        pid = fifo[1, base + head]
        k = fifo[2, base + head]
        if pk[KRID, pid] >= 0:
            head = (head + 1) % cap
            port[PFH, ip] = head
            port[PFN, ip] -= 1
            u = port[PU, ip]
            if u >= 0:
                port[PCRED, u] += 1
            elif k == 0:
                pk[KHOUT, pid] = now
            if port[PFN, ip] > 0:
                t = fifo[0, base + head]
                if t <= nxt:
                    waiting[nxtw, nb] = ip
                    nb += 1
                else:
                    _schedule(port, sc, wheel, ip, t)
        else:  # multicast: this branch's copy leaves; the flit stays until every branch has one
            port[PSERV, ip] |= 1 << (o % P)
            if k == 0 and port[PU, ip] < 0 and pk[KHOUT, pid] < 0:
                pk[KHOUT, pid] = now
        port[PCRED, o] -= 1
        port[PLF, o] += 1
        last = pk[KNFL, pid] - 1
        if k == last:
            if k:
                port[PLOCK, o] = -1
        elif k == 0:
            port[PLOCK, o] = pid
        d = port[PD, o]
        if d >= 0:
            n = port[PFN, d]
            if n >= port[PFC, d]:
                sc[S_ERR] = ERR_CREDIT
                sc[S_ERRA] = d
                return
            s = port[PFB, d] + (port[PFH, d] + n) % port[PFC, d]
            t = now + lr
            fifo[0, s] = t
            fifo[1, s] = pid
            fifo[2, s] = k
            port[PFN, d] = n + 1
            if n == 0:
                _schedule(port, sc, wheel, d, t)
            if k == 0:
                pk[KHOPS, pid] += 1
        else:
            _eject(port, pk, sc, dl, o, pid, k, now)
            if sc[S_ERR]:
                return
    for i in range(nm):
        ip = multi[i]
        base, cap, head = port[PFB, ip], port[PFC, ip], port[PFH, ip]
        pid = fifo[1, base + head]
        e = pk[KTREE, pid] * nodes + ip // P
        if port[PSERV, ip] != tmask[e]:
            waiting[nxtw, nb] = ip
            nb += 1
            continue
        port[PSERV, ip] = 0
        head = (head + 1) % cap
        port[PFH, ip] = head
        port[PFN, ip] -= 1
        u = port[PU, ip]
        if u >= 0:
            port[PCRED, u] += 1
        if port[PFN, ip] > 0:
            t = fifo[0, base + head]
            if t <= nxt:
                waiting[nxtw, nb] = ip
                nb += 1
            else:
                _schedule(port, sc, wheel, ip, t)
    sc[S_NWAIT] = nb
    sc[S_WCUR] = nxtw


@njit(cache=True)
def replay(cyc, src, dst, flits, port, fifo, pk, sc, wheel, waiting, route, tptr, tcnt, tports, tmask,  # noqa: ANN001, ANN201, PLR0913
           scratch, grants, dl):
    """Trace replay: packets ``(cyc, src, dst)`` sorted by cycle, injected at their cycle (X-Y, route id =
    destination) before that cycle's network tick, until the network is idle. Returns the error code."""
    n = cyc.shape[0]
    i = 0
    while True:
        ni = cyc[i] if i < n else BIG
        now = ni if ni < sc[S_TICK] else sc[S_TICK]
        if now == BIG:
            break
        while i < n and cyc[i] == now:
            inject(port, fifo, pk, sc, wheel, src[i], dst[i], dst[i], flits, -1, 1, now)
            if sc[S_ERR]:
                return sc[S_ERR]
            i += 1
        if sc[S_TICK] == now:
            cycle(port, fifo, pk, sc, wheel, waiting, route, tptr, tcnt, tports, tmask, scratch, grants, dl, now)
            if sc[S_ERR]:
                return sc[S_ERR]
            sc[S_TICK] = next_tick(sc, wheel, now)
    if sc[S_INFL] > 0:
        sc[S_ERR] = ERR_DEADLOCK
    return sc[S_ERR]
