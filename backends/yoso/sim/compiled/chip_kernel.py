"""One image of a deployment on the compiled chip: :meth:`Chip.run_image` as a numba kernel.

The kernel keeps :class:`~snnc.backends.yoso.sim.chip.Chip`'s rules exactly (``docs/simulator.md``): the step
start (ReL-PSP updates and their spikes, bias passes, the host's packets), packet delivery into the PEs (synapse
events, drops outside a conv PE's box, recurrent spikes deferred past the update, end-of-step markers), the IF /
leaky update once every marker is in and the core has drained, the core's FIFO-server timing, the ejection
credits a PE returns when its core takes a packet, and the barrier. Events of the PE side run in an event heap
ordered ``(cycle, sequence)`` before the network's cycle, as the Python model's ``NORMAL`` events run before its
``LATE`` network tick.

Two equivalences keep it simple, both exact:

* a PE's ejection slot is returned at the cycle its core takes the packet (an event), where the Python model
  returns slots lazily: the network only asks whether a credit is left, and the answers agree every cycle
  (the lazy drains are scheduled exactly when the queue is full);
* the queued synapse events of a PE are applied with the saturating adder one at a time, bias first, then in
  arrival order, which is what ``PECore.flush`` computes on both of its paths (its exact-sum fast path runs only
  when no partial sum can clip), ``saturations`` included.

Every state array is flat (see :mod:`.chip` for the layout); errors come back as codes.
"""

from __future__ import annotations

from snnc.backends.yoso.sim.compiled import noc_kernel as nk
from snnc.backends.yoso.sim.compiled.jit import njit

# neuron kinds
KIND_RELPSP, KIND_IF, KIND_LIF, KIND_CUBA = range(4)
# per-PE static table rows
(T_NODE, T_KEY, T_GBASE, T_N, T_KIND, T_WBASE, T_INPUTS, T_ACBASE, T_HASBIAS, T_PLO, T_PHI, T_ALO, T_AHI, T_RESETSUB,
 T_DELAYED, T_FRAC, T_NEAREST, T_PBITS, T_ABITS, T_EOSNEED, T_PBASE, T_PCAP, T_DBASE, T_DCAP) = range(24)
NTROWS = 24
# per-PE state rows (the first 14 in snnc.backends.yoso.sim.pe.COUNTERS order)
(C_IN, C_DROPPED, C_EOS, C_SYN, C_BIAS, C_UPD, C_RESETS, C_CLEARS, C_SPIKES, C_BUSY, C_CLEARW, C_SAT, C_DECAYS,
 C_SWEEP) = range(14)
X_FREE, X_DONE, X_UPDSTEP, X_EOSSEEN, X_NPEND, X_PBIAS, X_NDEF, X_CQH, X_CQN = range(14, 23)
NXROWS = 23
# per-key table rows
(Y_SRCPE, Y_SRCNODE, Y_EOS, Y_NDEST, Y_RID, Y_TREE, Y_HOSTDEST, Y_HOFF, Y_DPTR) = range(9)
NYROWS = 9
# neuron parameter rows
N_THETA, N_BIAS, N_BETA, N_ALPHA = range(4)
# neuron state rows
V_V, V_ACC, V_LIVE, V_SPIKED = range(4)
# configuration
(G_T, G_BARRIER, G_II, G_TAIL, G_U, G_SWEEP, G_FLITS, G_NPE, G_NKEYS, G_HOST, G_QCAP) = range(11)
NG = 11
# image results
(R_CYCLES, R_PACKETS, R_DELIV, R_HOPS, R_HOSTIN_FLITS, R_SPIKE, R_EOS, R_HOSTIN, R_HOSTOUT, R_ERR, R_ERRA, R_ERRB,
 R_STEP) = range(13)
NR = 13
# event types
EV_EMIT, EV_IFUPD, EV_CREDIT, EV_HOSTRX = range(4)
SPIKE, END_OF_STEP = 0, 1
# error codes beyond the network's
(ERR_STEP_STUCK, ERR_WRONG_STEP, ERR_HEAP_FULL, ERR_PENDING_FULL, ERR_CONSERVATION, ERR_HOST_RX,
 ERR_CREDITQ_FULL) = range(20, 27)


# ------------------------------------------------------------------------------------------ event heap
@njit(cache=True)
def _hpush(hk, hd, hs, t, typ, a, b, c, d):  # noqa: ANN001, ANN202, PLR0913
    n = hs[0]
    if n >= hk.shape[0]:
        hs[2] = 1
        return
    key = t * (1 << 28) + hs[1]
    hs[1] += 1
    i = n
    hs[0] = n + 1
    while i > 0:
        p = (i - 1) >> 1
        if hk[p] <= key:
            break
        hk[i] = hk[p]
        for r in range(5):
            hd[i, r] = hd[p, r]
        i = p
    hk[i] = key
    hd[i, 0] = typ
    hd[i, 1] = a
    hd[i, 2] = b
    hd[i, 3] = c
    hd[i, 4] = d


@njit(cache=True)
def _hpop(hk, hd, hs, out):  # noqa: ANN001, ANN202
    n = hs[0] - 1
    for r in range(5):
        out[r] = hd[0, r]
    hs[0] = n
    if n == 0:
        return
    key = hk[n]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= n:
            break
        if c + 1 < n and hk[c + 1] < hk[c]:
            c += 1
        if hk[c] >= key:
            break
        hk[i] = hk[c]
        for r in range(5):
            hd[i, r] = hd[c, r]
        i = c
    hk[i] = key
    for r in range(5):
        hd[i, r] = hd[n, r]


# ------------------------------------------------------------------------------------------ PE core
@njit(cache=True)
def _occupy(px, pe, now, cycles, tail):  # noqa: ANN001, ANN202
    free = px[X_FREE, pe]
    start = now if now > free else free
    px[X_FREE, pe] = start + cycles
    end = start + cycles + tail
    if end > px[X_DONE, pe]:
        px[X_DONE, pe] = end
    px[C_BUSY, pe] += cycles
    return start


@njit(cache=True)
def _synapse_event(pt, px, ops, pend, g, pe, now, index):  # noqa: ANN001, ANN202, PLR0913
    """``PECore.synapse_event``: returns the cycle the core takes the packet, -1 when the queue is full."""
    n_ops = ops[pt[T_ACBASE, pe] + index]
    free = px[X_FREE, pe]
    start = now if now > free else free
    if n_ops:
        busy = n_ops * g[G_II]
        free = start + busy
        px[X_FREE, pe] = free
        end = free + g[G_TAIL]
        if end > px[X_DONE, pe]:
            px[X_DONE, pe] = end
        px[C_BUSY, pe] += busy
        px[C_SYN, pe] += n_ops
    k = px[X_NPEND, pe]
    if k >= pt[T_PCAP, pe]:
        return -1
    pend[pt[T_PBASE, pe] + k] = index
    px[X_NPEND, pe] = k + 1
    px[C_IN, pe] += 1
    return start


@njit(cache=True)
def _flush(pt, px, pend, w, npar, nst, pe):  # noqa: ANN001, ANN202
    """``PECore.flush``: bias, then the queued inputs in arrival order, through the saturating adder."""
    n = pt[T_N, pe]
    gb = pt[T_GBASE, pe]
    lo, hi = pt[T_ALO, pe], pt[T_AHI, pe]
    sat = 0
    if px[X_PBIAS, pe]:
        for j in range(n):
            x = nst[V_ACC, gb + j] + npar[N_BIAS, gb + j]
            if x > hi:
                x = hi
                sat += 1
            elif x < lo:
                x = lo
                sat += 1
            nst[V_ACC, gb + j] = x
        px[X_PBIAS, pe] = 0
    wb = pt[T_WBASE, pe]
    pb = pt[T_PBASE, pe]
    for q in range(px[X_NPEND, pe]):
        row = wb + pend[pb + q] * n
        for j in range(n):
            x = nst[V_ACC, gb + j] + w[row + j]
            if x > hi:
                x = hi
                sat += 1
            elif x < lo:
                x = lo
                sat += 1
            nst[V_ACC, gb + j] = x
    px[X_NPEND, pe] = 0
    px[C_SAT, pe] += sat


@njit(cache=True)
def _bias_pass(pt, px, g, pe, now):  # noqa: ANN001, ANN202
    if not pt[T_HASBIAS, pe]:
        return
    n = pt[T_N, pe]
    _occupy(px, pe, now, n * g[G_II], g[G_TAIL])
    px[C_BIAS, pe] += n
    px[X_PBIAS, pe] = 1


@njit(cache=True)
def _decay(v, f, frac, nearest, bits):  # noqa: ANN001, ANN202
    r = (1 << (frac - 1)) if nearest and frac > 0 else 0
    out = (f * v + r) >> frac
    lo = -(1 << (bits - 1))
    hi = (1 << (bits - 1)) - 1
    if out < lo:
        return lo
    if out > hi:
        return hi
    return out


@njit(cache=True)
def _emit(hk, hd, hs, when, pe, j, step, kind):  # noqa: ANN001, ANN202, PLR0913
    _hpush(hk, hd, hs, when, EV_EMIT, pe, j, step, kind)


@njit(cache=True)
def _relpsp_update(pt, px, g, pend, w, npar, nst, spikes, kt, hk, hd, hs, pe, now, step):  # noqa: ANN001, ANN202, PLR0913
    """``relpsp_update`` (and the group update, the same per PE) with the chip's emission of the spikes."""
    _flush(pt, px, pend, w, npar, nst, pe)
    n = pt[T_N, pe]
    gb = pt[T_GBASE, pe]
    count = 0
    for j in range(n):
        if nst[V_LIVE, gb + j]:
            count += 1
    u = g[G_U]
    start = _occupy(px, pe, now, count * u, 0)
    px[C_UPD, pe] += count
    key = pt[T_KEY, pe]
    dests = kt[Y_NDEST, key] > 0
    plo, phi = pt[T_PLO, pe], pt[T_PHI, pe]
    rank = 0
    for j in range(n):
        if not nst[V_LIVE, gb + j]:
            continue
        rank += 1
        x = nst[V_V, gb + j] + nst[V_ACC, gb + j]
        if x < plo:
            x = plo
        elif x > phi:
            x = phi
        nst[V_V, gb + j] = x
        if x >= npar[N_THETA, gb + j]:
            nst[V_LIVE, gb + j] = 0
            px[C_SPIKES, pe] += 1
            spikes[step, gb + j] = 1
            if dests:
                _emit(hk, hd, hs, start + rank * u, pe, j, step, SPIKE)
    if kt[Y_EOS, key]:
        _emit(hk, hd, hs, px[X_FREE, pe], pe, 0, step, END_OF_STEP)


@njit(cache=True)
def _step_end_update(pt, px, g, pend, w, npar, nst, spikes, kt, hk, hd, hs, ops, pe, now, step):  # noqa: ANN001, ANN202, C901, PLR0912, PLR0913, PLR0915
    """``if_update`` / ``leaky_update``, then ``Chip._fire`` and the deferred recurrent spikes."""
    _flush(pt, px, pend, w, npar, nst, pe)
    kind = pt[T_KIND, pe]
    n = pt[T_N, pe]
    gb = pt[T_GBASE, pe]
    leaky = kind == KIND_LIF or kind == KIND_CUBA
    per = g[G_U] + (g[G_SWEEP] if leaky else 0)
    start = _occupy(px, pe, now, n * per, 0)
    px[C_UPD, pe] += n
    plo, phi = pt[T_PLO, pe], pt[T_PHI, pe]
    sub = pt[T_RESETSUB, pe]
    fired = 0
    if not leaky:
        for j in range(n):
            x = nst[V_V, gb + j] + nst[V_ACC, gb + j]
            if x < plo:
                x = plo
            elif x > phi:
                x = phi
            if x >= npar[N_THETA, gb + j]:
                fired += 1
                nst[V_SPIKED, gb + j] = 1
                x = x - npar[N_THETA, gb + j] if sub else 0
            else:
                nst[V_SPIKED, gb + j] = 0
            nst[V_V, gb + j] = x
            nst[V_ACC, gb + j] = 0
        if sub:
            px[C_RESETS, pe] += fired
    else:
        px[C_SWEEP, pe] += n * g[G_SWEEP]
        cuba = kind == KIND_CUBA
        frac, nearest, pbits, abits = pt[T_FRAC, pe], pt[T_NEAREST, pe], pt[T_PBITS, pe], pt[T_ABITS, pe]
        alo, ahi = pt[T_ALO, pe], pt[T_AHI, pe]
        delayed = pt[T_DELAYED, pe]
        prev = 0
        for j in range(n):
            drive = nst[V_ACC, gb + j]
            if cuba:
                if drive < alo:
                    drive = alo
                elif drive > ahi:
                    drive = ahi
            x = nst[V_V, gb + j]
            was = nst[V_SPIKED, gb + j]
            prev += was
            theta = npar[N_THETA, gb + j]
            if not delayed:
                if was:
                    x = x - theta if sub else 0
                x = _decay(x, npar[N_BETA, gb + j], frac, nearest, pbits) + drive
            else:
                x = _decay(x, npar[N_BETA, gb + j], frac, nearest, pbits) + drive
                if was:
                    x = x - theta if sub else 0
            if x < plo:
                x = plo
            elif x > phi:
                x = phi
            nst[V_V, gb + j] = x
            hit = x >= theta
            nst[V_SPIKED, gb + j] = 1 if hit else 0
            fired += 1 if hit else 0
            nst[V_ACC, gb + j] = _decay(drive, npar[N_ALPHA, gb + j], frac, nearest, abits) if cuba else 0
        if sub:
            px[C_RESETS, pe] += prev
        px[C_DECAYS, pe] += n * (2 if cuba else 1)
    px[C_CLEARS, pe] += n
    px[C_SPIKES, pe] += fired
    px[X_UPDSTEP, pe] = step
    key = pt[T_KEY, pe]
    dests = kt[Y_NDEST, key] > 0
    for j in range(n):
        if nst[V_SPIKED, gb + j]:
            spikes[step, gb + j] = 1
            if dests:
                _emit(hk, hd, hs, start + (j + 1) * per, pe, j, step, SPIKE)
    if dests and kt[Y_EOS, key]:
        _emit(hk, hd, hs, px[X_FREE, pe], pe, 0, step, END_OF_STEP)
    nd = px[X_NDEF, pe]
    if nd:
        db = pt[T_DBASE, pe]
        px[X_NDEF, pe] = 0
        for q in range(nd):
            if _synapse_event(pt, px, ops, pend, g, pe, now, pend[db + q]) < 0:
                return False
    return True


# ------------------------------------------------------------------------------------------ the chip
@njit(cache=True)
def _return_credits(pt, px, cq, hs, g, noc_port, until):  # noqa: ANN001, ANN202
    """Give back the ejection slots of the packets the PEs' cores took out of their queues by cycle ``until``
    (each PE's return cycles are in order: its core takes packets first in, first out)."""
    qcap = g[G_QCAP]
    for pe in range(g[G_NPE]):
        n = px[X_CQN, pe]
        if n == 0:
            continue
        h = px[X_CQH, pe]
        o = pt[T_NODE, pe] * nk.P + nk.PORT_L
        while n > 0 and cq[pe * qcap + h] <= until:
            h = (h + 1) % qcap
            n -= 1
            hs[3] -= 1
            noc_port[nk.PCRED, o] += 1
        px[X_CQH, pe] = h
        px[X_CQN, pe] = n


@njit(cache=True)
def _inject(noc_port, fifo, pk, sc, wheel, kt, kd_node, kd_rid, res, g, key, kind, j, step, now):  # noqa: ANN001, ANN202, PLR0913
    """``Chip._inject``: one packet along the key's tree, or one unicast per destination (multi-flit)."""
    if kind == SPIKE:
        res[R_SPIKE] += 1
        if kt[Y_HOSTDEST, key]:
            res[R_HOSTOUT] += 1
    else:
        res[R_EOS] += 1
    src = kt[Y_SRCNODE, key]
    nd = kt[Y_NDEST, key]
    f = g[G_FLITS]
    if nd == 1:
        pid = nk.inject(noc_port, fifo, pk, sc, wheel, src, kt[Y_RID, key], kd_node[kt[Y_DPTR, key]], f, -1, 1, now)
        if pid < 0:
            return False
        pk[nk.KKIND, pid], pk[nk.KKEY, pid], pk[nk.KJ, pid], pk[nk.KSTEP, pid] = kind, key, j, step
    elif f == 1:
        pid = nk.inject(noc_port, fifo, pk, sc, wheel, src, -1, -1, 1, kt[Y_TREE, key], nd, now)
        if pid < 0:
            return False
        pk[nk.KKIND, pid], pk[nk.KKEY, pid], pk[nk.KJ, pid], pk[nk.KSTEP, pid] = kind, key, j, step
    else:
        base = kt[Y_DPTR, key]
        for q in range(nd):
            pid = nk.inject(noc_port, fifo, pk, sc, wheel, src, kd_rid[base + q], kd_node[base + q], f, -1, 1, now)
            if pid < 0:
                return False
            pk[nk.KKIND, pid], pk[nk.KKEY, pid], pk[nk.KJ, pid], pk[nk.KSTEP, pid] = kind, key, j, step
    return True


@njit(cache=True)
def run_image(g, pt, px, kt, kd_node, kd_rid, inbase, recur, pe_at_node, w, ops, accept, npar, nst, pend,  # noqa: ANN001, ANN201, C901, PLR0912, PLR0913, PLR0915
              start_pes, bias_pes, if_pes, hs_ptr, hs_key, hs_j, spikes, host_rx, step_end, res, hk, hd, hs, ev, cq,
              port0, noc_port, fifo, pk, sc, wheel, waiting, route, tptr, tcnt, tports, tmask, scratch, grants, dl):
    """Run one image; results in ``spikes``, ``host_rx``, ``step_end``, ``res``, ``px``, the network's link
    counters. Returns an error code (0: none)."""
    npe = g[G_NPE]
    nkeys = g[G_NKEYS]
    host = g[G_HOST]
    T = g[G_T]
    # ---- fresh image: network, PEs, results
    for r in range(noc_port.shape[0]):
        for o in range(noc_port.shape[1]):
            noc_port[r, o] = port0[r, o]
    wheel[:] = -1
    for i in range(nk.NSC):
        if i > nk.S_W:
            sc[i] = 0
    sc[nk.S_TICK] = nk.BIG
    sc[nk.S_LASTCYCLE] = -1
    px[:] = 0
    for pe in range(npe):
        px[X_UPDSTEP, pe] = -1
    nst[V_V, :] = 0
    nst[V_ACC, :] = 0
    nst[V_LIVE, :] = 1
    nst[V_SPIKED, :] = 0
    spikes[:] = 0
    host_rx[:] = 0
    res[:] = 0
    hs[:] = 0
    for pe in range(npe):  # the image-start clear of the state SRAMs
        _occupy(px, pe, 0, pt[T_N, pe], 0)
        px[C_CLEARW, pe] += pt[T_N, pe]
    start = 0
    for t in range(T):
        res[R_STEP] = t
        now = start
        last = start
        for pe in range(npe):
            px[X_EOSSEEN, pe] = 0
        # ---- step start: ReL-PSP updates, bias passes, the host's packets
        for i in range(start_pes.shape[0]):
            pe = start_pes[i]
            _relpsp_update(pt, px, g, pend, w, npar, nst, spikes, kt, hk, hd, hs, pe, now, t)
        for i in range(bias_pes.shape[0]):
            _bias_pass(pt, px, g, bias_pes[i], now)
        for i in range(if_pes.shape[0]):
            _bias_pass(pt, px, g, if_pes[i], now)
        for q in range(hs_ptr[t], hs_ptr[t + 1]):
            key = hs_key[q]
            kind = END_OF_STEP if hs_j[q] < 0 else SPIKE
            res[R_HOSTIN] += 1
            if not _inject(noc_port, fifo, pk, sc, wheel, kt, kd_node, kd_rid, res, g, key, kind,
                           0 if hs_j[q] < 0 else hs_j[q], t, now):
                return sc[nk.S_ERR]
        if hs[2]:
            return ERR_HEAP_FULL
        # ---- the step's events and network cycles
        while True:
            te = hk[0] >> 28 if hs[0] > 0 else nk.BIG
            tt = sc[nk.S_TICK]
            now = te if te < tt else tt
            if now == nk.BIG:
                break
            if now > last:
                last = now
            while hs[0] > 0 and (hk[0] >> 28) == now:
                _hpop(hk, hd, hs, ev)
                typ = ev[0]
                if typ == EV_EMIT:
                    pe = ev[1]
                    if not _inject(noc_port, fifo, pk, sc, wheel, kt, kd_node, kd_rid, res, g, pt[T_KEY, pe],
                                   ev[4], ev[2], ev[3], now):
                        return sc[nk.S_ERR]
                elif typ == EV_HOSTRX:
                    noc_port[nk.PCRED, nk.PORT_H] += 1
                    if ev[4] == SPIKE:
                        host_rx[ev[3], kt[Y_HOFF, ev[1]] + ev[2]] = 1
                else:  # EV_IFUPD
                    if not _step_end_update(pt, px, g, pend, w, npar, nst, spikes, kt, hk, hd, hs, ops, ev[1], now,
                                            ev[3]):
                        return ERR_PENDING_FULL
                if hs[2]:
                    return ERR_HEAP_FULL
            if sc[nk.S_TICK] != now:
                continue
            if hs[3] > 0:
                _return_credits(pt, px, cq, hs, g, noc_port, now)
            nk.cycle(noc_port, fifo, pk, sc, wheel, waiting, route, tptr, tcnt, tports, tmask, scratch, grants, dl,
                     now)
            if sc[nk.S_ERR]:
                return sc[nk.S_ERR]
            sc[nk.S_TICK] = nk.next_tick(sc, wheel, now)
            for i in range(sc[nk.S_NDL]):
                pid, node, tdl = dl[0, i], dl[1, i], dl[2, i]
                kind, key, j, pstep = pk[nk.KKIND, pid], pk[nk.KKEY, pid], pk[nk.KJ, pid], pk[nk.KSTEP, pid]
                if node == host:
                    if tdl == now:
                        noc_port[nk.PCRED, nk.PORT_H] += 1
                        if kind == SPIKE:
                            host_rx[pstep, kt[Y_HOFF, key] + j] = 1
                    else:
                        _hpush(hk, hd, hs, tdl, EV_HOSTRX, key, j, pstep, kind)
                    continue
                pe = pe_at_node[node]
                o = node * nk.P + nk.PORT_L
                if pstep != t:
                    res[R_ERRA] = pe
                    return ERR_WRONG_STEP
                slot = pe * nkeys + key
                if kind == SPIKE:
                    index = inbase[slot] + j
                    ab = pt[T_ACBASE, pe]
                    if not accept[ab + index]:
                        px[C_DROPPED, pe] += 1
                        noc_port[nk.PCRED, o] += 1
                        continue
                    if recur[slot] and px[X_UPDSTEP, pe] < t:
                        k = px[X_NDEF, pe]
                        if k >= pt[T_DCAP, pe]:
                            return ERR_PENDING_FULL
                        pend[pt[T_DBASE, pe] + k] = index
                        px[X_NDEF, pe] = k + 1
                        noc_port[nk.PCRED, o] += 1
                        continue
                    taken = _synapse_event(pt, px, ops, pend, g, pe, now, index)
                    if taken < 0:
                        return ERR_PENDING_FULL
                else:
                    free = px[X_FREE, pe]
                    taken = now if now > free else free
                    px[C_EOS, pe] += 1
                    if not recur[slot]:
                        px[X_EOSSEEN, pe] += 1
                        if pt[T_KIND, pe] != KIND_RELPSP and px[X_EOSSEEN, pe] == pt[T_EOSNEED, pe]:
                            done = px[X_DONE, pe]
                            ready = taken if taken > done else done
                            _hpush(hk, hd, hs, ready, EV_IFUPD, pe, 0, t, 0)
                if taken <= now:
                    noc_port[nk.PCRED, o] += 1
                else:
                    k = px[X_CQN, pe]
                    if k >= g[G_QCAP]:
                        return ERR_CREDITQ_FULL
                    cq[pe * g[G_QCAP] + (px[X_CQH, pe] + k) % g[G_QCAP]] = taken
                    px[X_CQN, pe] = k + 1
                    hs[3] += 1
            if hs[2]:
                return ERR_HEAP_FULL
        # ---- step end: every slot is back (the cores are idle)
        if hs[3] > 0:
            _return_credits(pt, px, cq, hs, g, noc_port, nk.BIG)
        for i in range(if_pes.shape[0]):
            if px[X_UPDSTEP, if_pes[i]] != t:
                res[R_ERRA] = if_pes[i]
                return ERR_STEP_STUCK
        if sc[nk.S_INFL] > 0:
            return nk.ERR_DEADLOCK
        end = last
        for pe in range(npe):
            if px[X_DONE, pe] > end:
                end = px[X_DONE, pe]
            if px[X_FREE, pe] > end:
                end = px[X_FREE, pe]
        step_end[t] = end
        start = end + g[G_BARRIER]
        # per-step packet records: check conservation, keep the totals, reuse the table
        n = sc[nk.S_NPK]
        if sc[nk.S_DELIV] != n:
            return ERR_CONSERVATION
        for pid in range(n):
            if pk[nk.KTEJ, pid] < 0 or pk[nk.KEJ, pid] != pk[nk.KNFL, pid] * pk[nk.KNDEST, pid]:
                res[R_ERRA] = pid
                return ERR_CONSERVATION
            res[R_HOPS] += pk[nk.KHOPS, pid]
            if pk[nk.KSRC, pid] == host:
                res[R_HOSTIN_FLITS] += pk[nk.KNFL, pid]
        res[R_PACKETS] += n
        res[R_DELIV] += n
        sc[nk.S_NPK] = 0
        sc[nk.S_DELIV] = 0
    res[R_CYCLES] = start
    return 0
