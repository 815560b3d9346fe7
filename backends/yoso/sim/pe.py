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

from snnc.backends.yoso.hardware import Hardware
from snnc.backends.yoso.images import PEImage
from snnc.backends.yoso.sim.events import SimulationError

#: per-PE event counters (see :mod:`snnc.backends.yoso.sim.energy` for what each costs).
COUNTERS = ("packets_in", "packets_dropped", "eos_in", "synapse_ops", "bias_ops", "updates", "resets",
            "acc_clears", "spikes_out", "busy_cycles", "clear_words", "saturations")


def sat_range(bits: int) -> tuple[int, int]:
    """``(lo, hi)`` of a ``bits``-bit two's-complement word."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


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
        if self.neuron not in ("relpsp", "if"):
            raise SimulationError(f"PE {self.id}: unknown neuron kind {self.neuron!r}", where=f"pe/{self.id:04d}")
        self.lo, self.hi = (int(v) for v in cfg["neurons"])
        self.n = self.hi - self.lo
        self.key = int(cfg["key"])
        self.timing = CoreTiming.from_hardware(hw)
        self.input_base = {int(k): int(v) for k, v in cfg["input_map"].items()}
        self.p_lo, self.p_hi = sat_range(int(cfg["state_bits"]["potential"]))
        self.a_lo, self.a_hi = sat_range(int(cfg["state_bits"]["acc_weight"]))
        if self.neuron == "relpsp":
            self.theta: Any = int(cfg["threshold"])
            self.reset_mode = None
        else:
            self.theta = np.asarray(cfg["threshold"], np.int64)
            self.reset_mode = str(cfg["reset"])
        self.bias = None if cfg.get("bias") is None else np.asarray(cfg["bias"], np.int64)
        self.weights, self.ops_per_input, self.accept = _synapse_matrix(cfg, image.srams["weight"])
        # whether a step's events can ever leave the A-bit range: the fast path needs no check then
        reach = np.abs(self.weights).sum(axis=0) if self.weights.size else np.zeros(self.n, np.int64)
        self._row_abs = reach
        self.reset()

    # ------------------------------------------------------------------------------------ state
    def reset(self) -> None:
        """State before an image: potentials and accumulated weights zero, every neuron live, idle core."""
        self.v = np.zeros(self.n, np.int64)
        self.acc = np.zeros(self.n, np.int64)
        self.live = np.ones(self.n, bool)
        self.pending: list[int] = []
        self.pending_bias = False
        self.free = 0  # first cycle the issue slot is free
        self.done = 0  # cycle the last job's last write-back completes
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.eos_seen: dict[int, int] = {}
        self.updated_step = -1

    def clear(self, now: int) -> None:
        """The image-start clear of the potential and accumulated-weight SRAMs (one word per cycle each,
        both macros in parallel): occupies the core for ``n`` cycles."""
        self._occupy(now, self.n, 0)
        self.counters["clear_words"] += self.n

    def _occupy(self, now: int, cycles: int, tail: int) -> int:
        start = now if now > self.free else self.free
        self.free = start + cycles
        end = self.free + tail
        if end > self.done:
            self.done = end
        self.counters["busy_cycles"] += cycles
        return start

    # ------------------------------------------------------------------------------------ events
    def accepts(self, index: int) -> bool:
        """Whether the input index lies in the PE's accepted box (dense: every input)."""
        return self.accept is None or bool(self.accept[index])

    def synapse_event(self, now: int, index: int) -> int:
        """An accepted input spike on ``index`` arrives at cycle ``now``; returns the cycle the core takes
        it out of the spike-address queue (when its ejection slot frees)."""
        ops = int(self.ops_per_input[index])
        start = now if now > self.free else self.free
        if ops:
            t = self.timing
            self.free = start + ops * t.ii
            end = self.free + t.tail
            if end > self.done:
                self.done = end
            self.counters["busy_cycles"] += ops * t.ii
            self.counters["synapse_ops"] += ops
        self.pending.append(index)
        self.counters["packets_in"] += 1
        return start

    def end_of_step(self, now: int, key: int, step: int) -> tuple[int, int]:
        """An end-of-step marker from ``key`` arrives; returns (cycle taken from the queue, cycle every
        event queued before it has completed)."""
        start = now if now > self.free else self.free
        self.counters["eos_in"] += 1
        self.eos_seen[step] = self.eos_seen.get(step, 0) + 1
        return start, max(start, self.done)

    def bias_pass(self, now: int) -> None:
        """Add the bias to every neuron's accumulated weight (one pipeline operation per neuron)."""
        if self.bias is None:
            return
        t = self.timing
        self._occupy(now, self.n * t.ii, t.tail)
        self.counters["bias_ops"] += self.n
        self.pending_bias = True

    def flush(self) -> None:
        """Apply the queued bias and synapse events to the accumulated weights, in processing order,
        with the saturating adder of ``A`` bits (exact sum when no partial sum can leave the range)."""
        idx = self.pending
        if not idx and not self.pending_bias:
            return
        acc = self.acc
        bias = self.bias if self.pending_bias else None
        rows = self.weights[idx] if idx else None
        total = acc.copy()
        if bias is not None:
            total += bias
        if rows is not None:
            total += rows.sum(axis=0)
        # no partial sum can leave the range when |acc| + |b| + sum |rows| fits
        bound = np.abs(acc) + (np.abs(bias) if bias is not None else 0)
        if rows is not None:
            bound = bound + np.abs(rows).sum(axis=0)
        if bound.size and int(bound.max()) > self.a_hi:
            total = self._sequential(acc, bias, rows)
        self.acc = total
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
            self.counters["saturations"] += int(np.count_nonzero(sat != exact))
            out = sat
        return out

    def relpsp_update(self, now: int) -> tuple[int, np.ndarray, np.ndarray]:
        """ReL-PSP update at the start of a step: ``V <- sat_P(V + K)`` for the live neurons, fire on the
        first ``V >= theta``.

        Returns:
            (start cycle, local indices of the neurons that fired, the cycle each fired: the ``r``-th live
            neuron in index order is done ``r * update_cycles`` after the start).
        """
        self.flush()
        live = np.flatnonzero(self.live)
        u = self.timing.update
        start = self._occupy(now, live.size * u, 0)
        self.counters["updates"] += live.size
        if not live.size:
            return start, live, live
        v = self.v
        v[live] = np.clip(v[live] + self.acc[live], self.p_lo, self.p_hi)
        hit = v[live] >= self.theta
        fired = live[hit]
        self.live[fired] = False
        times = start + (np.flatnonzero(hit) + 1) * u
        self.counters["spikes_out"] += fired.size
        return start, fired, times

    def if_update(self, now: int, step: int) -> tuple[int, np.ndarray, np.ndarray]:
        """IF update once every input of ``step`` is in: ``V <- sat_P(V + I)``, fire on ``V >= theta``,
        reset the neurons that fired, ``I <- 0``. Returns (start, fired local indices, fire cycles)."""
        self.flush()
        u = self.timing.update
        start = self._occupy(now, self.n * u, 0)
        self.counters["updates"] += self.n
        v = self.v
        np.clip(v + self.acc, self.p_lo, self.p_hi, out=v)
        fired = np.flatnonzero(v >= self.theta)
        if fired.size:
            if self.reset_mode == "subtract":
                theta = self.theta if self.theta.ndim == 0 else self.theta[fired]
                v[fired] -= theta
                self.counters["resets"] += fired.size
            else:
                v[fired] = 0
        self.acc[:] = 0
        self.counters["acc_clears"] += self.n
        self.updated_step = step
        self.counters["spikes_out"] += fired.size
        return start, fired, start + (fired + 1) * u


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
