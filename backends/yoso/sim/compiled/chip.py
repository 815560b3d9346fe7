"""The compiled engine of the chip simulator: a :class:`~snnc.backends.yoso.sim.chip.Chip` packed into flat
arrays and run image by image by :func:`.chip_kernel.run_image`, with the same :class:`ImageRun` out.

:func:`compiled_support` says whether a chip can run compiled (every PE's neuron is a built-in entry of the YOSO
neuron table with a compiled update: ``snn.relpsp``, ``snn.if``, ``snn.lif``, ``snn.cuba_lif``; the network is
the :class:`MeshNoC`), and why not; :func:`image_runner` picks the engine (``"auto"``: compiled when supported,
else the Python model). Plugin neurons registered from outside run on the Python model.

Layout of the packed chip: PE ``p`` owns global neurons ``gbase[p] .. gbase[p] + n[p]`` (the layers' neurons
side by side in ``program.json`` order), so the spikes of an image are one ``[T, neurons]`` array; per-input
arrays (synapse operations, accepted box) start at ``T_ACBASE``; the weight matrix ``[inputs, n]`` row-major at
``T_WBASE``; keys are indexed in ascending key order, and their multicast trees are the network's trees.

Errors: a kernel error code (a stuck step, a lost packet, the watchdog) re-runs the image on the Python model,
which raises the detailed :class:`~snnc.backends.yoso.sim.events.SimulationError`; a full buffer doubles the
buffer and runs the image again.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from snnc.backends.yoso import neurons as yn
from snnc.backends.yoso.sim.chip import HOST_DEST, Chip, ImageRun
from snnc.backends.yoso.sim.events import SimulationError
from snnc.backends.yoso.sim.noc import MeshNoC
from snnc.backends.yoso.sim.pe import COUNTERS
from snnc.errors import SnncError

ENGINES = ("auto", "compiled", "python")
#: the neurons with a compiled update, keyed by op: (kernel kind, the table's update and group update they
#: replace; a table entry with other functions, e.g. a plugin re-registering the op, runs on the Python model)
COMPILED_NEURONS: dict[str, tuple[int, Any, Any]] = {
    "snn.relpsp": (0, yn.relpsp_update, yn.relpsp_group_update),
    "snn.if": (1, yn.if_update, None),
    "snn.lif": (2, yn.leaky_update, None),
    "snn.cuba_lif": (3, yn.leaky_update, None),
}


def compiled_support(chip: Chip) -> str | None:
    """None when ``chip`` can run on the compiled engine, else the reason it cannot."""
    if type(chip) is not Chip:
        return f"the chip is a {type(chip).__name__}, a subclass of Chip (its overrides run in Python only)"
    if chip.network is not MeshNoC:
        return f"the network model is {getattr(chip.network, '__name__', chip.network)!r}, not MeshNoC"
    for pe in chip.pes:
        spec = pe.spec
        entry = COMPILED_NEURONS.get(spec.opname)
        if entry is None or spec.update is not entry[1] or spec.group_update is not entry[2]:
            return f"PE {pe.id} runs neuron {spec.opname!r}, which has no compiled update (a plugin neuron)"
        rounding = str(pe.config.get("leak_rounding"))
        if spec.leaky and rounding not in ("floor", "nearest"):
            return f"PE {pe.id}: leak rounding {rounding!r}"
    nodes = [pe.node for pe in chip.pes]
    if len(set(nodes)) != len(nodes):
        return "two PEs on one router"
    to_host = set(chip.to_host)
    for k in chip.keys.values():
        if HOST_DEST in k.dests and k.value not in to_host:
            return f"key {k.key} reaches the host but %{k.value} is not read by it"
    return None


class CompiledChip:
    """A chip packed for the compiled kernel; :meth:`run_image` is :meth:`Chip.run_image`, compiled.

    Raises:
        SimulationError: the chip cannot run compiled (:func:`compiled_support` says why).
    """

    def __init__(self, chip: Chip) -> None:
        why = compiled_support(chip)
        if why is not None:
            raise SimulationError(f"the compiled simulator cannot run this deployment: {why}",
                                  hint="use engine='python' (or 'auto', which falls back by itself)")
        from snnc.backends.yoso.sim.compiled import chip_kernel as ck
        from snnc.backends.yoso.sim.compiled import noc_kernel as nk
        from snnc.backends.yoso.sim.compiled.noc import mesh_tables

        self.ck, self.nk = ck, nk
        self.chip = chip
        T = self.T = chip.time_steps
        # layers side by side
        self.layer_off: dict[str, int] = {}
        off = 0
        for ly in chip.layers:
            self.layer_off[ly["name"]] = off
            off += int(ly["n"])
        self.neurons = off
        self.host_off: dict[str, int] = {}
        hoff = 0
        for name in chip.to_host:
            self.host_off[name] = hoff
            hoff += chip.layer_size[name]
        self.host_neurons = hoff
        # keys
        keys = sorted(chip.keys)
        self.kidx = {k: i for i, k in enumerate(keys)}
        nkeys = len(keys)
        mesh = self.mesh = mesh_tables(chip.noc_config, chip.routes)
        routes = chip.routes
        nodes = mesh.nodes
        kt = np.zeros((ck.NYROWS, max(nkeys, 1)), np.int64)
        kd_node: list[int] = []
        kd_rid: list[int] = []
        tptr = np.zeros(max(nkeys, 1) * nodes, np.int64)
        tcnt = np.zeros_like(tptr)
        tmask = np.zeros_like(tptr)
        tports: list[int] = []
        flits = chip.flits
        packets_per_step = 0
        inj_flits = np.zeros(nodes * nk.P, np.int64)
        for i, key in enumerate(keys):
            k = chip.keys[key]
            src_node = chip.host_node if k.source is None else chip.pes[k.source].node
            kt[ck.Y_SRCPE, i] = -1 if k.source is None else k.source
            kt[ck.Y_SRCNODE, i] = src_node
            kt[ck.Y_EOS, i] = int(k.eos)
            kt[ck.Y_NDEST, i] = len(k.nodes)
            kt[ck.Y_HOSTDEST, i] = int(HOST_DEST in k.dests)
            kt[ck.Y_HOFF, i] = self.host_off.get(k.value, 0) + k.lo
            kt[ck.Y_DPTR, i] = len(kd_node)
            rids = routes.key_rid.get(key, {})
            for node in k.nodes:
                kd_node.append(node)
                kd_rid.append(rids.get(node, -1))
            if len(k.nodes) == 1:
                kt[ck.Y_RID, i] = rids[k.nodes[0]]
            kt[ck.Y_TREE, i] = i
            for r, ports in routes.key_tree.get(key, {}).items():
                e = i * nodes + r
                tptr[e] = len(tports)
                tcnt[e] = len(ports)
                for o in ports:
                    tports.append(o)
                    tmask[e] |= 1 << (o % nk.P)
            reps = len(k.nodes) if (flits > 1 and len(k.nodes) > 1) else 1
            per = (k.hi - k.lo + 1) * reps
            packets_per_step += per
            ip = nk.PORT_H if k.source is None else src_node * nk.P + nk.PORT_L
            inj_flits[ip] += per * flits
        self.kt = kt
        # the network's links as MeshNoC.links() lists them (output port order), ejection ports to the PEs left out
        listed = [(o, a, b) for o, (a, b, _) in zip((o for o, d in enumerate(mesh._down) if d != -2), mesh.links(),
                                                    strict=True) if b != "eject"]
        self._link_ports = np.asarray([o for o, _, _ in listed], np.int64)
        self._link_from = [a for _, a, _ in listed]
        self._link_to = [b for _, _, b in listed]
        self._mesh_ports = np.asarray([o for o in range(len(mesh._down)) if o % nk.P < nk.PORT_L], np.int64)
        self.kd_node = np.asarray(kd_node or [0], np.int64)
        self.kd_rid = np.asarray(kd_rid or [0], np.int64)
        self.trees = (tptr, tcnt, np.asarray(tports or [0], np.int64), tmask)
        self.packets_per_step = max(packets_per_step, 1)
        cap = np.full(nodes * nk.P, chip.noc_config.fifo_depth, np.int64)
        cap = np.maximum(cap, inj_flits)
        self.queue_cap = cap
        self._pack_pes()
        self.g = np.zeros(ck.NG, np.int64)
        timing = chip.pes[0].timing if chip.pes else None
        self.g[ck.G_T] = T
        self.g[ck.G_BARRIER] = chip.barrier
        if timing is not None:
            self.g[ck.G_II], self.g[ck.G_TAIL], self.g[ck.G_U] = timing.ii, timing.tail, timing.update
            self.g[ck.G_SWEEP] = chip.pes[0].sweep_cycles
        self.g[ck.G_FLITS] = flits
        self.g[ck.G_NPE] = len(chip.pes)
        self.g[ck.G_NKEYS] = nkeys
        self.g[ck.G_HOST] = chip.host_node
        self.g[ck.G_QCAP] = min(chip._eject_depth, 4096) + 1
        self.heap_cap = 4 * (self.neurons + len(chip.pes) + self.packets_per_step) + 64
        self._alloc()

    # ------------------------------------------------------------------------------------ packing
    def _pack_pes(self) -> None:
        ck, chip = self.ck, self.chip
        npe = len(chip.pes)
        pt = np.zeros((ck.NTROWS, max(npe, 1)), np.int64)
        npar = np.zeros((4, max(self.neurons, 1)), np.int64)
        w_parts, ops_parts, acc_parts = [], [], []
        wbase = acbase = pbase = 0
        nkeys = len(self.kidx)
        inbase = np.full(max(npe * nkeys, 1), -1, np.int64)
        recur = np.zeros(max(npe * nkeys, 1), np.int64)
        pe_at_node = np.full(self.mesh.nodes + 1, -1, np.int64)
        for p, pe in enumerate(chip.pes):
            if pe.id != p:
                raise SimulationError(f"PE ids are not 0..{npe - 1} in order (PE {pe.id} at {p})")
            n = pe.n
            inputs = pe.weights.shape[0]
            gb = self.layer_off[pe.layer_name] + pe.lo
            cfg = pe.config
            kind = COMPILED_NEURONS[pe.spec.opname][0]
            if kind == ck.KIND_LIF and "alpha_q" in cfg:
                kind = ck.KIND_CUBA
            if kind == ck.KIND_CUBA and "alpha_q" not in cfg:
                kind = ck.KIND_LIF
            pt[ck.T_NODE, p] = pe.node
            pt[ck.T_KEY, p] = self.kidx[pe.key]
            pt[ck.T_GBASE, p] = gb
            pt[ck.T_N, p] = n
            pt[ck.T_KIND, p] = kind
            pt[ck.T_WBASE, p] = wbase
            pt[ck.T_INPUTS, p] = inputs
            pt[ck.T_ACBASE, p] = acbase
            pt[ck.T_HASBIAS, p] = int(pe.bias is not None)
            pt[ck.T_PLO, p], pt[ck.T_PHI, p], pt[ck.T_ALO, p], pt[ck.T_AHI, p] = pe.p_lo, pe.p_hi, pe.a_lo, pe.a_hi
            pt[ck.T_RESETSUB, p] = int(pe.reset_mode == "subtract")
            pt[ck.T_EOSNEED, p] = pe.eos_needed
            pcap = 2 * inputs + 16
            pt[ck.T_PBASE, p], pt[ck.T_PCAP, p] = pbase, pcap
            pt[ck.T_DBASE, p], pt[ck.T_DCAP, p] = pbase + pcap, pcap
            pbase += 2 * pcap
            if kind in (ck.KIND_LIF, ck.KIND_CUBA):
                pt[ck.T_DELAYED, p] = int(bool(cfg.get("delayed_reset", 0)))
                pt[ck.T_FRAC, p] = int(cfg["leak_frac_bits"])
                pt[ck.T_NEAREST, p] = int(str(cfg["leak_rounding"]) == "nearest")
                pt[ck.T_PBITS, p] = int(cfg["state_bits"]["potential"])
                pt[ck.T_ABITS, p] = int(cfg["state_bits"]["acc_weight"])
                npar[ck.N_BETA, gb:gb + n] = np.broadcast_to(np.asarray(cfg["beta_q"], np.int64), n)
                if kind == ck.KIND_CUBA:
                    npar[ck.N_ALPHA, gb:gb + n] = np.broadcast_to(np.asarray(cfg["alpha_q"], np.int64), n)
            npar[ck.N_THETA, gb:gb + n] = np.broadcast_to(np.asarray(pe.theta, np.int64), n)
            if pe.bias is not None:
                npar[ck.N_BIAS, gb:gb + n] = pe.bias
            w_parts.append(np.ascontiguousarray(pe.weights, np.int64).reshape(-1))
            ops_parts.append(np.asarray(pe.ops_per_input, np.int64))
            acc_parts.append(np.ones(inputs, np.int64) if pe.accept is None else pe.accept.astype(np.int64))
            wbase += inputs * n
            acbase += inputs
            for key, base in pe.input_base.items():
                inbase[p * nkeys + self.kidx[key]] = base
                recur[p * nkeys + self.kidx[key]] = int(key in pe.recurrent_keys)
            pe_at_node[pe.node] = p
        self.pt = pt
        self.npar = npar
        self.w = np.concatenate(w_parts) if w_parts else np.zeros(1, np.int64)
        self.ops = np.concatenate(ops_parts) if ops_parts else np.zeros(1, np.int64)
        self.accept = np.concatenate(acc_parts) if acc_parts else np.zeros(1, np.int64)
        self.pend_size = max(pbase, 1)
        self.inbase, self.recur, self.pe_at_node = inbase, recur, pe_at_node
        self.start_pes = np.asarray([pe.id for g in chip.start_groups for pe in g.pes], np.int64)
        self.bias_pes = np.asarray([pe.id for g in chip.start_groups if g.has_bias for pe in g.pes], np.int64)
        self.if_pes = np.asarray([pe.id for pe in chip.if_pes], np.int64)

    def _alloc(self) -> None:
        ck, nk, chip = self.ck, self.nk, self.chip
        from snnc.backends.yoso.sim.compiled.noc import _state

        self.noc = _state(self.mesh, self.queue_cap, self.packets_per_step, self.trees)
        # the network's state at the start of an image; the eject credits are the chip's queue depth
        self.port0 = self.noc.port.copy()
        self.px = np.zeros((ck.NXROWS, max(len(chip.pes), 1)), np.int64)
        self.nst = np.zeros((4, max(self.neurons, 1)), np.int64)
        self.pend = np.zeros(self.pend_size, np.int64)
        self.spikes = np.zeros((self.T, max(self.neurons, 1)), np.uint8)
        self.host_rx = np.zeros((self.T, max(self.host_neurons, 1)), np.uint8)
        self.step_end = np.zeros(max(self.T, 1), np.int64)
        self.res = np.zeros(ck.NR, np.int64)
        self.hk = np.zeros(self.heap_cap, np.int64)
        self.hd = np.zeros((self.heap_cap, 8), np.int64)
        self.hs = np.zeros(4, np.int64)
        self.cq = np.zeros(max(len(chip.pes), 1) * int(self.g[ck.G_QCAP]), np.int64)
        self.ev = np.zeros(5, np.int64)
        del nk

    # ------------------------------------------------------------------------------------ one image
    def host_schedule(self, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The host's packets per step, flat: ``(ptr [T + 1], key index, neuron or -1 for end-of-step)``, in the
        order :meth:`Chip._start_step` injects them."""
        chip, T = self.chip, self.T
        steps_l, order_l, j_l = [], [], []
        for rank, key in enumerate(chip.host_keys):
            k = chip.keys[key]
            block = inputs.get(k.value)
            if block is None:
                raise SimulationError(f"no input spikes for the host value %{k.value}")
            block = np.asarray(block).reshape(T, -1)[:, k.lo:k.hi]
            steps, neurons = np.nonzero(block)
            steps_l.append(steps)
            order_l.append(np.full(len(steps), 2 * rank, np.int64))
            j_l.append(neurons)
            if k.eos:
                steps_l.append(np.arange(T))
                order_l.append(np.full(T, 2 * rank + 1, np.int64))
                j_l.append(np.full(T, -1, np.int64))
        if not steps_l:
            return np.zeros(T + 1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64)
        steps = np.concatenate(steps_l).astype(np.int64)
        order = np.concatenate(order_l)
        js = np.concatenate(j_l).astype(np.int64)
        perm = np.lexsort((np.arange(len(js)), order, steps))
        keys = np.asarray([self.kidx[chip.host_keys[o // 2]] for o in range(2 * len(chip.host_keys))], np.int64)
        ptr = np.searchsorted(steps[perm], np.arange(T + 1)).astype(np.int64)
        return ptr, keys[order[perm]], js[perm]

    def run_image(self, inputs: dict[str, np.ndarray]) -> ImageRun:
        """:meth:`Chip.run_image` on the compiled kernel (identical results)."""
        ck, nk = self.ck, self.nk
        hs_ptr, hs_key, hs_j = self.host_schedule(inputs)
        for _ in range(8):
            n = self.noc
            code = ck.run_image(self.g, self.pt, self.px, self.kt, self.kd_node, self.kd_rid, self.inbase, self.recur,
                                self.pe_at_node, self.w, self.ops, self.accept, self.npar, self.nst, self.pend,
                                self.start_pes, self.bias_pes, self.if_pes, hs_ptr, hs_key, hs_j, self.spikes,
                                self.host_rx, self.step_end, self.res, self.hk, self.hd, self.hs, self.ev, self.cq,
                                self.port0, n.port, n.fifo, n.pk, n.sc, n.wheel, n.waiting, n.route, n.tptr, n.tcnt,
                                n.tports, n.tmask, n.scratch, n.grants, n.dl)
            if code in (nk.ERR_PACKETS_FULL, nk.ERR_FIFO_FULL, ck.ERR_HEAP_FULL, ck.ERR_PENDING_FULL,
                        ck.ERR_CREDITQ_FULL):
                self._grow(code)
                continue
            break
        if code:
            self._python_error(inputs, code)
        return self._image_run()

    def _grow(self, code: int) -> None:
        ck, nk = self.ck, self.nk
        if code == nk.ERR_PACKETS_FULL:
            self.packets_per_step *= 2
        elif code == nk.ERR_FIFO_FULL:
            self.queue_cap = self.queue_cap * 2
        elif code == ck.ERR_HEAP_FULL:
            self.heap_cap *= 2
        elif code == ck.ERR_CREDITQ_FULL:
            self.g[ck.G_QCAP] *= 2
        else:
            pt = self.pt
            pt[ck.T_PCAP] *= 2
            pt[ck.T_DCAP] *= 2
            sizes = pt[ck.T_PCAP] + pt[ck.T_DCAP]
            pt[ck.T_PBASE] = np.concatenate(([0], np.cumsum(sizes)[:-1]))
            pt[ck.T_DBASE] = pt[ck.T_PBASE] + pt[ck.T_PCAP]
            self.pend_size = int(sizes.sum())
        self._alloc()

    def _python_error(self, inputs: dict[str, np.ndarray], code: int) -> None:
        """The Python model's detailed error for this image (it re-runs it); if the model runs the image through,
        the compiled engine is wrong: say so."""
        self.chip.run_image(inputs)
        raise SimulationError(f"the compiled simulator stopped with error {code} (detail "
                              f"{int(self.res[self.ck.R_ERRA])}) on an image the Python model runs",
                              hint="a bug of the compiled engine: simulate with engine='python'")

    def _image_run(self) -> ImageRun:
        ck, chip = self.ck, self.chip
        res = self.res
        spikes = {name: self.spikes[:, off:off + chip.layer_size[name]].astype(bool)
                  for name, off in self.layer_off.items()}
        host = {name: self.host_rx[:, off:off + chip.layer_size[name]].astype(bool)
                for name, off in self.host_off.items()}
        for name in chip.to_host:
            if not np.array_equal(host[name], spikes[name]):
                raise SimulationError(f"the host received other spikes of %{name} than its PEs fired",
                                      hint="a packet was lost, duplicated or misrouted")
        px = self.px
        pe_counters = [dict(zip(COUNTERS, row, strict=True)) for row in px[:len(COUNTERS), :len(chip.pes)].T.tolist()]
        totals = dict(zip(COUNTERS, px[:len(COUNTERS), :len(chip.pes)].sum(axis=1).tolist(), strict=True))
        lf = self.noc.port[self.nk.PLF]
        host_in = int(res[ck.R_HOSTIN_FLITS])
        flits = lf[self._link_ports]
        used = np.flatnonzero(flits)
        links: list[tuple[int, int | str, int]] = [
            (self._link_from[i], self._link_to[i], f) for i, f in zip(used.tolist(), flits[used].tolist(), strict=True)]
        if host_in:
            links.append((chip.host_node, 0, host_in))
        mesh_links = int(lf[self._mesh_ports].sum())
        to_host = int(lf[5]) if self.mesh.host is not None else 0
        lf_total = int(lf.sum())
        totals.update(router_flits=lf_total, link_flits=int(mesh_links + to_host + host_in),
                      packets_injected=int(res[ck.R_PACKETS]), hops=int(res[ck.R_HOPS]))
        packets = {"spike": int(res[ck.R_SPIKE]), "end_of_step": int(res[ck.R_EOS]),
                   "host_in": int(res[ck.R_HOSTIN]), "host_out": int(res[ck.R_HOSTOUT])}
        return ImageRun(cycles=int(res[ck.R_CYCLES]), step_end=self.step_end[:self.T].tolist(), spikes=spikes,
                        host_spikes=host, counters=totals, pe_counters=pe_counters, link_flits=links,
                        packets=packets)


_COMPILED: weakref.WeakKeyDictionary[Chip, CompiledChip | str] = weakref.WeakKeyDictionary()


def image_runner(chip: Chip, engine: str = "auto") -> Callable[[dict[str, np.ndarray]], ImageRun]:
    """The function that runs one image of ``chip`` on the chosen engine.

    ``"python"``: :meth:`Chip.run_image`; ``"compiled"``: :class:`CompiledChip` (a :class:`SimulationError`
    when the chip cannot run compiled, with the reason); ``"auto"``: compiled when :func:`compiled_support`
    allows, else the Python model (:func:`engine_of` tells which was chosen and why).
    """
    if engine not in ENGINES:
        raise SnncError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}", where="simulate")
    if engine == "python":
        return chip.run_image
    cached = _COMPILED.get(chip)
    if cached is None:
        why = compiled_support(chip)
        cached = why if why is not None else CompiledChip(chip)
        _COMPILED[chip] = cached
    if isinstance(cached, str):
        if engine == "compiled":
            raise SimulationError(f"the compiled simulator cannot run this deployment: {cached}",
                                  hint="use engine='python' or 'auto'")
        return chip.run_image
    return cached.run_image


def engine_of(chip: Chip, engine: str = "auto") -> tuple[str, str | None]:
    """``(engine that runs, reason the compiled one does not)`` for ``chip`` under ``engine``."""
    if engine == "python":
        return "python", "asked for"
    why = compiled_support(chip)
    return ("python", why) if why is not None else ("compiled", None)

