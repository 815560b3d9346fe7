"""One YOSO processing element: its SRAM contents, its neuron state and its core's timing.

A PE holds a contiguous slice of one layer's neurons (``docs/yoso.md``). Its core is three decoupled
modules, load / compute / store, fed by the spike-address queue (the spike-address SRAM): for every
input spike it accepts, the load module reads the spike's weights for the PE's neurons from the weight
SRAM (one word per synapse), the compute module adds each into the neuron's accumulated weight with
the saturating adder (the slope ``K`` of a ReL-PSP neuron, the step's input ``I`` of an IF neuron), and
the store module writes it back. Once per time step the core updates the neuron state and fires.

Integer semantics (``yoso-int-1``), ``sat_b`` the saturation to ``b`` bits, ``P`` / ``A`` the potential
and accumulated-weight widths:

* synapse event (input ``i`` spiked): for every local neuron ``j`` it reaches,
  ``acc[j] <- sat_A(acc[j] + w[i, j])`` (one weight read, one add, one write each);
* bias (when the layer has one): ``acc[j] <- sat_A(acc[j] + b[j])`` once per neuron per step;
* ReL-PSP update at the start of step ``t`` (before the step's events, so it sees ``K[t-1]``):
  ``V <- sat_P(V + K)``; a live neuron with ``V >= theta`` fires and is never live again;
* IF update once every input of step ``t`` is in: ``V <- sat_P(V + I)``; ``S = V >= theta``; a neuron that
  fired stores ``V - theta`` (reset by subtraction) or ``0`` (reset to zero); ``I <- 0``.

Timing (cycle costs from the hardware file's ``[core]``): the modules form a pipeline whose initiation
interval is ``II = max(load, compute, store)`` cycles per synapse operation and whose depth is
``load + compute + store``; a neuron update takes ``update_cycles`` per neuron. The core is a FIFO
server: a job that arrives at cycle ``a`` starts at ``max(a, free)``, occupies the issue slot for
``ops * II`` cycles and completes ``depth - II`` cycles after its last issue. Functionally, a step's
synapse events are applied in arrival order when the state is next read (:meth:`PECore.flush`), with
the exact saturating-adder semantics; the fast path sums them at once when no partial sum can leave
the ``A``-bit range (the case the compiler's headroom rule guarantees).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from snnc.backends.reference.integer import sat_range
from snnc.backends.yoso.hardware import Hardware
from snnc.backends.yoso.images import PEImage
from snnc.backends.yoso.neurons import yoso_neuron_kind
from snnc.backends.yoso.sim.events import SimulationError

#: per-PE event counters (see :mod:`snnc.backends.yoso.sim.energy` for what each costs).
COUNTERS = ("packets_in", "packets_dropped", "eos_in", "synapse_ops", "bias_ops", "updates", "resets",
            "acc_clears", "spikes_out", "busy_cycles", "clear_words", "saturations", "decays", "sweep_cycles")


@dataclass(frozen=True)
class CoreTiming:
    """Cycle costs of the PE core (``[core]`` of the hardware file).

    Attributes:
        load, compute, store: cycles per synapse operation of each module.
        update: cycles per neuron per time step (state update and fire check).
    """

    load: int
    compute: int
    store: int
    update: int

    @classmethod
    def from_hardware(cls, hw: Hardware) -> CoreTiming:
        c = hw.core
        return cls(c.load_cycles, c.compute_cycles, c.store_cycles, c.update_cycles)

    @property
    def ii(self) -> int:
        """Initiation interval: cycles between two synapse operations entering the pipeline."""
        return max(self.load, self.compute, self.store)

    @property
    def tail(self) -> int:
        """Cycles from the last issue of a job to its last write-back (``depth - II``)."""
        return self.load + self.compute + self.store - self.ii


class PECore:
    """A PE's configuration, SRAM contents, per-image neuron state, counters and core timing.

    The neuron state (``v``, ``acc``, ``live``) is a view into its :class:`LayerGroup`'s arrays, so that
    whole-layer operations (the ReL-PSP update, the flush of a dense layer) run vectorised over the PEs.

    Args:
        image: the PE's memory image and ``config.json`` (from :func:`~snnc.backends.yoso.load_deployment`).
        hw: the hardware description (cycle costs).
        node: the PE's mesh node id (``x + cols * y``).

    Raises:
        SimulationError: a configuration the core cannot run (unknown neuron or synapse kind).
    """

    def __init__(self, image: PEImage, hw: Hardware, node: int) -> None:
        cfg = image.config
        self.config = cfg
        self.id = int(cfg["pe"])
        self.node = node
        self.layer = int(cfg["layer"])
        self.layer_name = str(cfg["layer_name"])
        self.neuron = str(cfg["neuron"])
        spec = yoso_neuron_kind(self.neuron)
        if spec is None:
            raise SimulationError(f"PE {self.id}: unknown neuron kind {self.neuron!r}", where=f"pe/{self.id:04d}")
        #: the neuron's entry in the YOSO neuron table (its update, its schedule)
        self.spec = spec
        self.lo, self.hi = (int(v) for v in cfg["neurons"])
        self.n = self.hi - self.lo
        self.key = int(cfg["key"])
        self.timing = t = CoreTiming.from_hardware(hw)
        self._ii, self._tail, self._update = t.ii, t.tail, t.update
        #: core cycles the leak option adds per neuron per step (``[leak] sweep_cycles_per_neuron``; 0 without it)
        self.sweep_cycles = hw.leak.sweep_cycles_per_neuron if hw.leak is not None else 0
        #: per-neuron configuration a neuron's update keeps between steps, read once (its own keys)
        self.params: dict[str, Any] = {}
        self.input_base = {int(k): int(v) for k, v in cfg["input_map"].items()}
        #: the keys of the PE's own layer that reach it (a recurrent layer; set by the chip from the routing)
        self.recurrent_keys: frozenset[int] = frozenset()
        self.p_lo, self.p_hi = sat_range(int(cfg["state_bits"]["potential"]))
        self.a_lo, self.a_hi = sat_range(int(cfg["state_bits"]["acc_weight"]))
        self.theta: Any
        self.theta, self.reset_mode = spec.read_config(cfg)
        self.bias = None if cfg.get("bias") is None else np.asarray(cfg["bias"], np.int64)
        self.bias_abs = 0 if self.bias is None else int(np.abs(self.bias).max(initial=0))
        self.weights, ops, self.accept = _synapse_matrix(cfg, image.srams["weight"])
        self.ops_per_input = ops
        self._ops = ops.tolist()
        #: per input, the largest |weight| it adds to one neuron (a cheap bound on partial sums)
        self.row_max = (np.abs(self.weights).max(axis=1) if self.weights.size
                        else np.zeros(len(ops), np.int64))
        self.bind(np.zeros(self.n, np.int64), np.zeros(self.n, np.int64), np.ones(self.n, bool))
        self.reset()

    def bind(self, v: np.ndarray, acc: np.ndarray, live: np.ndarray) -> None:
        """Use these arrays (views of the layer's state) as the PE's potential, accumulated weight and live bits."""
        self.v, self.acc, self.live = v, acc, live

    # ------------------------------------------------------------------------------------ state
    def reset(self) -> None:
        """State before an image: potentials and accumulated weights zero, every neuron live, idle core."""
        self.v[:] = 0
        self.acc[:] = 0
        self.live[:] = True
        #: which neurons fired at the last update (a delayed reset applies it one step later)
        self.spiked = np.zeros(self.n, bool)
        #: spikes of the PE's own layer (recurrence) that arrived before its update of the step: the core takes
        #: them after that update, into the next step's accumulated weight
        self.deferred: list[int] = []
        self.pending: list[int] = []
        self.pending_bias = False
        self.free = 0  # first cycle the issue slot is free
        self.done = 0  # cycle the last job's last write-back completes
        self.n_in = self.n_syn = self.n_busy = self.n_updates = 0
        self._counters = dict.fromkeys(COUNTERS, 0)
        self.eos_seen: dict[int, int] = {}
        self.updated_step = -1

    @property
    def counters(self) -> dict[str, int]:
        """The PE's event counters (:data:`COUNTERS`)."""
        c = self._counters
        c["packets_in"], c["synapse_ops"], c["busy_cycles"] = self.n_in, self.n_syn, self.n_busy
        c["updates"] = self.n_updates
        return c

    def clear(self, now: int) -> None:
        """The image-start clear of the potential and accumulated-weight SRAMs (one word per cycle each,
        both macros in parallel): occupies the core for ``n`` cycles."""
        self.occupy(now, self.n, 0)
        self._counters["clear_words"] += self.n

    def occupy(self, now: int, cycles: int, tail: int) -> int:
        """A job of ``cycles`` issue cycles arrives at ``now``; returns its start cycle."""
        start = now if now > self.free else self.free
        self.free = start + cycles
        end = self.free + tail
        if end > self.done:
            self.done = end
        self.n_busy += cycles
        return start

    # ------------------------------------------------------------------------------------ events
    def accepts(self, index: int) -> bool:
        """Whether the input index lies in the PE's accepted box (dense: every input)."""
        return self.accept is None or bool(self.accept[index])

    def synapse_event(self, now: int, index: int) -> int:
        """An accepted input spike on ``index`` arrives at cycle ``now``; returns the cycle the core takes
        it out of the spike-address queue (when its ejection slot frees)."""
        ops = self._ops[index]
        free = self.free
        start = now if now > free else free
        if ops:
            busy = ops * self._ii
            self.free = free = start + busy
            end = free + self._tail
            if end > self.done:
                self.done = end
            self.n_busy += busy
            self.n_syn += ops
        self.pending.append(index)
        self.n_in += 1
        return start

    def end_of_step(self, now: int, key: int, step: int) -> tuple[int, int]:
        """An end-of-step marker from ``key`` arrives; returns (cycle taken from the queue, cycle every
        event queued before it has completed). A marker from the PE's own layer (:attr:`recurrent_keys`) is
        counted but does not count toward the update: those spikes are for the next step."""
        start = now if now > self.free else self.free
        self._counters["eos_in"] += 1
        if key not in self.recurrent_keys:
            self.eos_seen[step] = self.eos_seen.get(step, 0) + 1
        return start, max(start, self.done)

    @property
    def eos_needed(self) -> int:
        """End-of-step markers the PE waits for before a step-end update: one per key that feeds it, but its own
        layer's (a recurrent layer's spikes of step ``t`` count at ``t + 1``)."""
        return len(self.input_base) - len(self.recurrent_keys)

    def drop(self) -> None:
        """Count a spike outside the accepted box (filtered by the network interface, no core work)."""
        self._counters["packets_dropped"] += 1

    def bias_pass(self, now: int) -> None:
        """Add the bias to every neuron's accumulated weight (one pipeline operation per neuron)."""
        if self.bias is None:
            return
        self.occupy(now, self.n * self._ii, self._tail)
        self._counters["bias_ops"] += self.n
        self.pending_bias = True

    def flush(self) -> None:
        """Apply the queued bias and synapse events to the accumulated weights, in processing order,
        with the saturating adder of ``A`` bits (exact sum when no partial sum can leave the range)."""
        idx = self.pending
        if not idx and not self.pending_bias:
            return
        bias = self.bias if self.pending_bias else None
        acc = self.acc
        bound = int(np.abs(acc).max(initial=0)) + (self.bias_abs if bias is not None else 0)
        if idx:
            bound += int(self.row_max[idx].sum())
        if bound <= self.a_hi:
            if bias is not None:
                acc += bias
            if idx:
                acc += self.weights[idx].sum(axis=0)
        else:
            acc[:] = self._sequential(acc, bias, self.weights[idx] if idx else None)
        self.pending = []
        self.pending_bias = False

    def _sequential(self, acc: np.ndarray, bias: np.ndarray | None, rows: np.ndarray | None) -> np.ndarray:
        """The saturating adder, one operand at a time (bias first, then the spikes in arrival order)."""
        lo, hi = self.a_lo, self.a_hi
        out = acc.copy()
        terms = ([bias] if bias is not None else []) + (list(rows) if rows is not None else [])
        for term in terms:
            exact = out + term
            sat = np.clip(exact, lo, hi)
            self._counters["saturations"] += int(np.count_nonzero(sat != exact))
            out = sat
        return out

    def begin_update(self, now: int, count: int, sweep: bool = False) -> int:
        """Start a neuron update of ``count`` neurons at cycle ``now``: apply the queued events (:meth:`flush`),
        occupy the core ``count * update_cycles`` and count the updates. Returns the start cycle; neuron ``r``
        of the update is done ``(r + 1) * update_cycles`` after it.

        With ``sweep`` (a leaky neuron's update, which decays every neuron), each neuron takes
        :attr:`sweep_cycles` more (:attr:`neuron_cycles` in all), counted in ``sweep_cycles``."""
        self.flush()
        per = self._update + (self.sweep_cycles if sweep else 0)
        start = self.occupy(now, count * per, 0)
        self.n_updates += count
        if sweep:
            self._counters["sweep_cycles"] += count * self.sweep_cycles
        return start

    def neuron_cycles(self, sweep: bool = False) -> int:
        """Core cycles per neuron of an update (``update_cycles``, plus the leak sweep's with ``sweep``)."""
        return self._update + (self.sweep_cycles if sweep else 0)

    @property
    def update_cycles(self) -> int:
        """Core cycles per neuron update."""
        return self._update

    def count(self, counter: str, n: int) -> None:
        """Add ``n`` to one of the PE's event counters (:data:`COUNTERS`: what the energy model prices)."""
        self._counters[counter] += n

    def update(self, now: int, step: int) -> tuple[int, np.ndarray, np.ndarray]:
        """The neuron update of ``step`` at cycle ``now`` (the neuron table's ``update``): returns (start cycle,
        local indices of the neurons that fired, the cycle each fired)."""
        out = self.spec.update(self, now, step)
        self.updated_step = step
        return out


class LayerGroup:
    """The PEs of one layer, with the layer's neuron state in shared arrays (each PE holds views).

    A step-start update (ReL-PSP) runs for the whole layer at once (:meth:`update`); the flush of a
    dense layer whose PEs all receive every spike uses the layer's weight matrix once instead of once
    per PE (its fast path; otherwise, or when saturation is possible, each PE flushes on its own).

    Args:
        pes: the layer's PEs, in neuron order (contiguous slices covering ``0 .. n-1``).
        shared_inputs: whether every PE receives every spike the layer gets (a dense layer: each of its
            keys multicasts to all its PEs).
    """

    def __init__(self, pes: list[PECore], shared_inputs: bool) -> None:
        self.pes = sorted(pes, key=lambda pe: pe.lo)
        self.name = self.pes[0].layer_name
        self.neuron = self.pes[0].neuron
        self.spec = self.pes[0].spec
        self.n = self.pes[-1].hi
        if [pe.lo for pe in self.pes] != [0, *(pe.hi for pe in self.pes[:-1])]:
            raise SimulationError(f"the PEs of %{self.name} do not hold contiguous neuron slices")
        self.v = np.zeros(self.n, np.int64)
        self.acc = np.zeros(self.n, np.int64)
        self.live = np.ones(self.n, bool)
        for pe in self.pes:
            pe.bind(self.v[pe.lo:pe.hi], self.acc[pe.lo:pe.hi], self.live[pe.lo:pe.hi])
        self.bounds = np.asarray([pe.lo for pe in self.pes], np.int64)
        first = self.pes[0]
        self.shared = shared_inputs and all(pe.accept is None for pe in self.pes)
        if self.shared:
            self.weights = np.concatenate([pe.weights for pe in self.pes], axis=1)
            self.row_max = np.abs(self.weights).max(axis=1) if self.weights.size else first.row_max
            self.bias = None if first.bias is None else np.concatenate([pe.bias for pe in self.pes])
            self.bias_abs = max(pe.bias_abs for pe in self.pes)
        self.uniform_theta = (self.spec.group_update is not None and all(np.ndim(pe.theta) == 0 for pe in self.pes)
                              and len({pe.theta for pe in self.pes}) == 1)
        self.p_lo, self.p_hi, self.a_hi = first.p_lo, first.p_hi, first.a_hi
        self.update_cycles = first._update
        self.has_bias = any(pe.bias is not None for pe in self.pes)
        #: whether some PE of the layer sends end-of-step packets (set by the chip from the routing)
        self.sends_eos = False

    def flush(self) -> None:
        """Flush every PE's queued events (one layer-wide sum when the inputs are shared and cannot saturate)."""
        pes = self.pes
        first = pes[0]
        if self.shared and all(len(pe.pending) == len(first.pending) and pe.pending_bias == first.pending_bias
                               for pe in pes):
            idx = first.pending
            bias = first.pending_bias and self.bias is not None
            bound = int(np.abs(self.acc).max(initial=0)) + (self.bias_abs if bias else 0)
            if idx:
                bound += int(self.row_max[idx].sum())
            if bound <= self.a_hi:
                if bias:
                    self.acc += self.bias
                if idx:
                    self.acc += self.weights[idx].sum(axis=0)
                for pe in pes:
                    pe.pending = []
                    pe.pending_bias = False
                return
        for pe in pes:
            pe.flush()

    def update(self, now: int, step: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """The neuron update of every PE of the layer at cycle ``now`` (the table's ``group_update`` when it has
        one, else each PE's ``update``).

        Returns:
            (layer indices of the neurons that fired, the cycle each fired, per PE the cycle its update ends).
        """
        if self.spec.group_update is not None:
            return self.spec.group_update(self, now, step)
        fired_all, times_all, ends = [], [], []
        for pe in self.pes:
            _, fired, times = pe.update(now, step)
            fired_all.append(fired + pe.lo)
            times_all.append(times)
            ends.append(pe.free)
        return np.concatenate(fired_all), np.concatenate(times_all), ends


def _synapse_matrix(cfg: dict[str, Any], weight_sram: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(weights ``[inputs, n_local]`` int64, synapse operations per input ``[inputs]``, accepted-input mask or
    None) read from the weight SRAM image in its documented layout."""
    n = int(cfg["n_local"])
    inputs = int(cfg["inputs"])
    words = np.asarray(weight_sram).astype(np.int64)
    if cfg["synapse"] == "dense":
        m = int(cfg["m"])
        w = words[:m * n].reshape(m, n)
        return w, np.full(m, n, np.int64), None
    if cfg["synapse"] != "conv2d":
        raise SimulationError(f"PE {cfg['pe']}: unknown synapse kind {cfg['synapse']!r}", where=f"pe/{cfg['pe']:04d}")
    conv = cfg["conv"]
    c_in, h, w_in = conv["in_shape"]
    c_out, ho, wo = conv["out_shape"]
    kh, kw = conv["kernel"]
    (sh, sw), (dh, dw) = conv["strides"], conv["dilations"]
    pt, pl = conv["pads"][0], conv["pads"][1]
    group = conv["group"]
    cg = c_in // group
    c0 = int(cfg["channels"][0])
    lo = int(cfg["neurons"][0])
    flat = lo + np.arange(n)
    c, rem = np.divmod(flat, ho * wo)
    y, x = np.divmod(rem, wo)
    g = c // (c_out // group)
    ci, ky, kx = np.meshgrid(np.arange(cg), np.arange(kh), np.arange(kw), indexing="ij")
    ci, ky, kx = ci.reshape(-1), ky.reshape(-1), kx.reshape(-1)
    iy = y[:, None] * sh - pt + ky[None] * dh
    ix = x[:, None] * sw - pl + kx[None] * dw
    cin = g[:, None] * cg + ci[None]
    ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w_in)
    word = (((c[:, None] - c0) * cg + ci[None]) * kh + ky[None]) * kw + kx[None]
    j = np.broadcast_to(np.arange(n)[:, None], ok.shape)
    index = (cin * h + iy) * w_in + ix
    mat = np.zeros((inputs, n), np.int64)
    ops = np.zeros(inputs, np.int64)
    np.add.at(mat, (index[ok], j[ok]), words[word[ok]])
    np.add.at(ops, index[ok], 1)
    acc = cfg["accepts"]
    box = np.zeros((c_in, h, w_in), bool)
    (a0, a1), (r0, r1), (x0, x1) = acc["channels"], acc["rows"], acc["cols"]
    box[a0:a1, r0:r1, x0:x1] = True
    return mat, ops, box.reshape(-1)
