"""What YOSO does with each neuron op: one :class:`YosoNeuron` entry per op, in :data:`YOSO_NEURONS`.

The compiler and the simulator never test a neuron's name; they look its entry up here:

==================  ==========================================================================================
field               used by
==================  ==========================================================================================
``quantize``        the quantize pass: the threshold's integer rule and the state widths in ``meta['quant']``
``check_scale``     the quantize pass, before the weights: refuse scales the neuron cannot take
``acc_key``         the ``meta['quant']`` key of the accumulated weight's width (images, integer mode)
``accumulator_bound``  partition's headroom rule (from the traits: persisting or cleared every step)
``config``          the SRAM image writer: the neuron's configuration registers in ``config.json``
``read_config``     the simulated PE: threshold and reset mode back from ``config.json``
``schedule``        the simulated chip: ``"step_start"`` (update at the start of a step, on the accumulator
                    of the step before, no end-of-step packets needed: ReL-PSP) or ``"step_end"`` (update
                    once every input of the step is in, which takes end-of-step packets: IF)
``update``          the simulated PE's per-step neuron update ``(pe, now, step) -> (start, fired, times)``
``group_update``    optional: the same for a whole layer at once (vectorised; ``step_start`` only)
``leaky``           whether the neuron decays its state every step: it needs the hardware file's ``[leak]``
                    option (:func:`require_leak`), and its update sweeps every neuron of the layer each step
``counters``        the PE counters (:data:`snnc.backends.yoso.sim.pe.COUNTERS`) its update raises: the energy
                    model prices those (``updates``: a potential read and write, an accumulated-weight read,
                    two adds; ``resets``: one add; ``acc_clears``: one accumulated-weight write)
==================  ==========================================================================================

A package adds a neuron with :func:`register_yoso_neuron` (from its ``snnc.ops`` entry point, see
``docs/adding-a-neuron.md``); :func:`yoso_neuron` finds it, loading the op plugins on a miss. An op YOSO
does not run has a :class:`~snnc.ir.Refusal` here (the error then says why).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from snnc.backends.reference.integer import accumulator_bound as _bound
from snnc.errors import DesignRuleError, PassError
from snnc.ir import NeuronTraits, Operation, Refusal, neuron_traits
from snnc.ir.ops import load_op_plugins

if TYPE_CHECKING:
    from snnc.backends.yoso.hardware import Hardware
    from snnc.backends.yoso.layers import Layer
    from snnc.backends.yoso.sim.pe import LayerGroup, PECore

#: ``(pe, now, step) -> (start cycle, local indices of the neurons that fired, the cycle each fired)``.
Update = Callable[["PECore", int, int], tuple[int, np.ndarray, np.ndarray]]
SCHEDULES = ("step_start", "step_end")


@dataclass(frozen=True)
class YosoNeuron:
    """YOSO's entry for one neuron op (see the module table)."""

    opname: str
    quantize: Callable[[Operation, np.ndarray, str, Hardware], dict[str, Any]]
    acc_key: str
    config: Callable[[Operation, Callable[[np.ndarray], list[int]]], dict[str, Any]]
    read_config: Callable[[dict[str, Any]], tuple[Any, str | None]]
    schedule: str
    update: Update
    counters: tuple[str, ...]
    check_scale: Callable[[Operation, np.ndarray], None] | None = None
    leaky: bool = False
    group_update: Callable[[LayerGroup, int, int], tuple[np.ndarray, np.ndarray, list[int]]] | None = None

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"YosoNeuron {self.opname}: schedule must be one of {SCHEDULES}, got {self.schedule!r}")

    @property
    def kind(self) -> str:
        """The neuron kind a PE's ``config.json`` names (the op name without the ``snn.`` prefix)."""
        return self.opname.removeprefix("snn.")

    @property
    def traits(self) -> NeuronTraits:
        return neuron_traits(self.opname)

    def accumulator_bound(self, row_abs: np.ndarray, bias_abs: np.ndarray, single_spike_source: bool,
                          time_steps: int) -> int:
        """Worst-case ``|accumulated weight|`` over the layer's neurons (partition's headroom rule)."""
        bound = _bound(self.traits.accumulator_persists, row_abs, bias_abs, single_spike_source, time_steps)
        return int(bound.max())

    def layer_bound(self, layer: Layer, time_steps: int) -> int:
        """:meth:`accumulator_bound` of a partitioned layer with integer weights."""
        w = layer.synapse.attrs["weight"].astype(np.int64)
        rows = np.abs(w).reshape(w.shape[0], -1).sum(axis=1)
        bias = layer.synapse.attrs.get("bias")
        b = np.zeros_like(rows) if bias is None else np.abs(bias.astype(np.int64))
        return self.accumulator_bound(rows, b, layer.single_spike_source, time_steps)


#: neuron op name -> YOSO's entry, or a Refusal saying why YOSO does not run it.
YOSO_NEURONS: dict[str, YosoNeuron | Refusal] = {}


def register_yoso_neuron(entry: YosoNeuron | Refusal, opname: str | None = None) -> None:
    """Add (or replace) a neuron op's entry; a :class:`~snnc.ir.Refusal` needs ``opname``."""
    name = entry.opname if isinstance(entry, YosoNeuron) else opname
    if name is None:
        raise ValueError("register_yoso_neuron: a Refusal needs the op name")
    YOSO_NEURONS[name] = entry


def _lookup(opname: str) -> YosoNeuron | Refusal | None:
    entry = YOSO_NEURONS.get(opname)
    if entry is None:
        load_op_plugins()
        entry = YOSO_NEURONS.get(opname)
    return entry


def yoso_neuron(opname: str) -> YosoNeuron:
    """The entry of a neuron op (DesignRuleError if YOSO has none or refuses it, saying why)."""
    entry = _lookup(opname)
    if isinstance(entry, YosoNeuron):
        return entry
    reason = entry.reason if isinstance(entry, Refusal) else "no entry in the YOSO neuron table"
    raise DesignRuleError(f"YOSO cannot run the neuron op {opname}: {reason}", where=opname,
                          hint="its package registers one with snnc.backends.yoso.neurons.register_yoso_neuron")


def yoso_neuron_kind(kind: str) -> YosoNeuron | None:
    """The entry whose :attr:`YosoNeuron.kind` is ``kind`` (a PE's ``config.json``), None if there is none."""
    for _ in range(2):
        for entry in YOSO_NEURONS.values():
            if isinstance(entry, YosoNeuron) and entry.kind == kind:
                return entry
        load_op_plugins()
    return None


# ------------------------------------------------------------------------------------------ the leak option
#: the example chip file with the leak option (``examples/`` of the snnc repository).
LEAKY_EXAMPLE = "examples/yoso-leaky-6x7.toml"


def require_leak(neuron: Operation, hw: Hardware) -> None:
    """A leaky neuron (its entry's ``leaky``) compiles only for a chip whose file declares ``[leak]``; the paper's
    PE has none (SPEC section 4). Raises a DesignRuleError naming the layer otherwise."""
    entry = _lookup(neuron.opname)
    if not isinstance(entry, YosoNeuron) or not entry.leaky or hw.leak is not None:
        return
    raise DesignRuleError(
        f"a leaky layer: {neuron.opname} decays every neuron's state every step, but the chip {hw.chip.name} "
        f"({hw.name}) has no leak option (no [leak] section; the paper's PE has no leak)", where=_where(neuron),
        hint=f"compile for a hardware file with a [leak] section, e.g. {LEAKY_EXAMPLE} (snnc compile ... --hw "
             f"{LEAKY_EXAMPLE}); docs/yoso.md, 'The leak option'")


# ------------------------------------------------------------------------------------------ quantization
def check_fits(values: np.ndarray, bits: int, what: str, where: str, scale: np.ndarray) -> None:
    """A quantized threshold or bias must be a ``bits``-bit signed integer of the neuron state; else a
    threshold could never be reached (or a bias would wrap), so it is a design-rule error with the numbers."""
    limit = (1 << (bits - 1)) - 1
    with np.errstate(invalid="ignore", over="ignore"):
        worst = float(np.max(np.abs(values))) if values.size else 0.0
    if not np.isfinite(worst) or worst > limit:
        raise DesignRuleError(
            f"quantize: the integer {what} {worst:.4g} (float value / weight scale {float(np.min(scale)):.4g}) does "
            f"not fit the {bits}-bit neuron state (at most {limit})", where=where,
            hint=f"the {what} is far larger than the weights: check the model's {what}s, or use a hardware file "
                 "with wider potential / accumulated-weight words")


def _where(neuron: Operation) -> str:
    return f"%{neuron.result.name} = {neuron.opname}"


THRESHOLD_RULE = "theta_q = max(1, rint(theta / scale))"


def require_one_scale(neuron: Operation, scale: np.ndarray) -> None:
    """A neuron with one scalar threshold takes one weight scale (per-layer, or equal channel scales)."""
    if not np.all(scale == scale[0]):
        raise PassError(f"quantize: per-channel scales give every neuron its own integer threshold, but "
                        f"{neuron.opname} has one scalar threshold", where=_where(neuron),
                        hint=f"quantize {neuron.opname} layers with granularity=per-layer")


def scalar_threshold_rule(acc_key: str) -> Callable[[Operation, np.ndarray, str, Hardware], dict[str, Any]]:
    """The quantization rule of a scalar float ``threshold``: ``theta_q = max(1, rint(theta / scale))``, kept as
    a float attribute holding an integer (use with :func:`require_one_scale`)."""

    def rule(neuron: Operation, scale: np.ndarray, granularity: str, hw: Hardware) -> dict[str, Any]:
        theta = float(neuron.attrs["threshold"])
        theta_q = max(1.0, float(np.rint(theta / scale[0])))
        check_fits(np.array([theta_q]), hw.sram["potential"].bits, "threshold", _where(neuron), scale)
        neuron.attrs["threshold"] = theta_q
        return {"threshold_float": theta, "threshold_rule": THRESHOLD_RULE,
                "potential_bits": hw.sram["potential"].bits, acc_key: hw.sram["acc_weight"].bits}

    return rule


def array_threshold_rule(acc_key: str) -> Callable[[Operation, np.ndarray, str, Hardware], dict[str, Any]]:
    """The quantization rule of an array ``threshold`` broadcast to the features: ``theta_q = max(1, rint(theta /
    scale))`` per channel (axis 0 of the features) with per-channel scales, an int32 array."""

    def rule(neuron: Operation, scale: np.ndarray, granularity: str, hw: Hardware) -> dict[str, Any]:
        features = neuron.result.type.features
        theta = neuron.attrs["threshold"].astype(np.float64)
        # the scale varies along the channel axis: axis 0 of the features (dense: the neuron axis)
        chan = scale.reshape((-1,) + (1,) * (len(features) - 1))
        shape = np.broadcast_shapes(theta.shape, chan.shape) if granularity == "per-channel" else theta.shape
        theta_b = np.broadcast_to(theta, shape)
        divisor = np.broadcast_to(chan, shape) if granularity == "per-channel" else scale[0]
        theta_q = np.maximum(1, np.rint(theta_b / divisor))
        check_fits(theta_q, hw.sram["potential"].bits, "threshold", _where(neuron), scale)
        neuron.attrs["threshold"] = np.asarray(theta_q, dtype=np.int32)
        theta_meta: float | np.ndarray = theta.astype(np.float32) if theta.ndim else float(theta)
        return {"threshold_float": theta_meta, "threshold_rule": THRESHOLD_RULE,
                "potential_bits": hw.sram["potential"].bits, acc_key: hw.sram["acc_weight"].bits}

    return rule


# ------------------------------------------------------------------------------------------ images
def scalar_threshold_config(neuron: Operation, per_neuron: Callable[[np.ndarray], list[int]]) -> dict[str, Any]:
    """``config.json``: one integer threshold register for the PE."""
    return {"threshold": int(neuron.attrs["threshold"])}


def per_neuron_threshold_config(neuron: Operation, per_neuron: Callable[[np.ndarray], list[int]]) -> dict[str, Any]:
    """``config.json``: a threshold per local neuron, and the reset mode of the op's ``reset`` attribute."""
    return {"threshold": per_neuron(neuron.attrs["threshold"]), "reset": neuron.attrs["reset"]}


def read_scalar_threshold(cfg: dict[str, Any]) -> tuple[Any, str | None]:
    return int(cfg["threshold"]), None


def read_per_neuron_threshold(cfg: dict[str, Any]) -> tuple[Any, str | None]:
    return np.asarray(cfg["threshold"], np.int64), str(cfg["reset"])


# ------------------------------------------------------------------------------------------ PE updates
def relpsp_update(pe: PECore, now: int, step: int) -> tuple[int, np.ndarray, np.ndarray]:
    """ReL-PSP update at the start of a step: ``V <- sat_P(V + K)`` for the live neurons, fire on the
    first ``V >= theta``.

    Returns:
        (start cycle, local indices of the neurons that fired, the cycle each fired: the ``r``-th live
        neuron in index order is done ``r * update_cycles`` after the start).
    """
    pe.flush()
    live = np.flatnonzero(pe.live)
    start = pe.begin_update(now, live.size)
    if not live.size:
        return start, live, live
    v = pe.v
    v[live] = np.clip(v[live] + pe.acc[live], pe.p_lo, pe.p_hi)
    hit = v[live] >= pe.theta
    fired = live[hit]
    pe.live[fired] = False
    pe.count("spikes_out", fired.size)
    return start, fired, start + (np.flatnonzero(hit) + 1) * pe.update_cycles


def relpsp_group_update(group: LayerGroup, now: int, step: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The ReL-PSP update of every PE of a layer at cycle ``now`` (see :func:`relpsp_update`), vectorised when the
    PEs share one threshold.

    Returns:
        (layer indices of the neurons that fired, the cycle each fired, per PE the cycle its update ends).
    """
    if not group.uniform_theta:
        fired_all, times_all, ends = [], [], []
        for pe in group.pes:
            _, fired, times = relpsp_update(pe, now, step)
            fired_all.append(fired + pe.lo)
            times_all.append(times)
            ends.append(pe.free)
        return np.concatenate(fired_all), np.concatenate(times_all), ends
    group.flush()
    u = group.update_cycles
    live = np.flatnonzero(group.live)
    owner = np.searchsorted(group.bounds, live, side="right") - 1
    counts = np.bincount(owner, minlength=len(group.pes))
    firsts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    start_list, ends = [], []
    for pe, c in zip(group.pes, counts.tolist(), strict=True):  # PECore.occupy, inlined (hot)
        free = pe.free
        start = now if now > free else free
        pe.free = free = start + c * u
        if free > pe.done:
            pe.done = free
        pe.n_busy += c * u
        pe.n_updates += c
        start_list.append(start)
        ends.append(free)
    starts = np.asarray(start_list, np.int64)
    if not live.size:
        return live, live, ends
    v = group.v
    v[live] = np.clip(v[live] + group.acc[live], group.p_lo, group.p_hi)
    hit = v[live] >= group.pes[0].theta
    fired = live[hit]
    if fired.size:
        group.live[fired] = False
        rank = np.flatnonzero(hit) - firsts[owner[hit]] + 1
        times = starts[owner[hit]] + rank * u
        for k, c in zip(*np.unique(owner[hit], return_counts=True), strict=True):
            group.pes[int(k)]._counters["spikes_out"] += int(c)
        return fired, times, ends
    return fired, fired, ends


def if_update(pe: PECore, now: int, step: int) -> tuple[int, np.ndarray, np.ndarray]:
    """IF update once every input of ``step`` is in: ``V <- sat_P(V + I)``, fire on ``V >= theta``,
    reset the neurons that fired (``pe.reset_mode``: subtract ``theta`` or set to zero), ``I <- 0``."""
    start = pe.begin_update(now, pe.n)
    v = pe.v
    np.clip(v + pe.acc, pe.p_lo, pe.p_hi, out=v)
    fired = np.flatnonzero(v >= pe.theta)
    if fired.size:
        if pe.reset_mode == "subtract":
            v[fired] -= pe.theta if pe.theta.ndim == 0 else pe.theta[fired]
            pe.count("resets", fired.size)
        else:
            v[fired] = 0
    pe.acc[:] = 0
    pe.count("acc_clears", pe.n)
    pe.count("spikes_out", fired.size)
    pe.updated_step = step
    return start, fired, start + (fired + 1) * pe.update_cycles


# ------------------------------------------------------------------------------------------ the table
register_yoso_neuron(YosoNeuron(
    "snn.relpsp", quantize=scalar_threshold_rule("slope_bits"), check_scale=require_one_scale, acc_key="slope_bits",
    config=scalar_threshold_config, read_config=read_scalar_threshold, schedule="step_start", update=relpsp_update,
    group_update=relpsp_group_update, counters=("updates", "spikes_out")))
register_yoso_neuron(YosoNeuron(
    "snn.if", quantize=array_threshold_rule("input_bits"), acc_key="input_bits",
    config=per_neuron_threshold_config, read_config=read_per_neuron_threshold, schedule="step_end", update=if_update,
    counters=("updates", "resets", "acc_clears", "spikes_out")))

__all__ = ["SCHEDULES", "YOSO_NEURONS", "YosoNeuron", "array_threshold_rule", "check_fits",
           "per_neuron_threshold_config", "read_per_neuron_threshold", "read_scalar_threshold",
           "register_yoso_neuron", "require_leak", "require_one_scale", "scalar_threshold_config",
           "scalar_threshold_rule", "yoso_neuron", "yoso_neuron_kind"]
