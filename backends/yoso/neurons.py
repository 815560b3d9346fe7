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
``leak_words``      state words per neuron the neuron decays every step (0: not leaky; ``snn.lif`` 1: ``V``,
                    ``snn.cuba_lif`` 2: ``V`` and ``J``). A leaky neuron needs the hardware file's ``[leak]``
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
    leak_words: int = 0
    group_update: Callable[[LayerGroup, int, int], tuple[np.ndarray, np.ndarray, list[int]]] | None = None

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"YosoNeuron {self.opname}: schedule must be one of {SCHEDULES}, got {self.schedule!r}")

    @property
    def kind(self) -> str:
        """The neuron kind a PE's ``config.json`` names (the op name without the ``snn.`` prefix)."""
        return self.opname.removeprefix("snn.")

    @property
    def leaky(self) -> bool:
        """Whether the neuron decays its state every step (it needs the ``[leak]`` hardware option)."""
        return self.leak_words > 0

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
        w = layer.weight_matrix().astype(np.int64)
        rows = np.abs(w).reshape(w.shape[0], -1).sum(axis=1)
        bias = layer.bias()
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


# ------------------------------------------------------------------------------------------ leaky neurons
# snn.lif and snn.cuba_lif run on a chip with the leak option (``[leak]`` of the hardware file; docs/yoso.md, "The
# leak option"). The PE keeps the reference's order exactly (snnc.backends.reference.kernels.leaky_dynamics with the
# integer decay of snnc.backends.reference.integer.decay): at the end of step t, once every input is in,
#   reset first:  V <- V - theta (subtract) or 0 (zero) where S[t-1];  V <- sat_P(decay(V, beta_q) + drive)
#   delayed:      V <- decay(V, beta_q) + drive;  V <- V - theta or 0 where S[t-1];  V <- sat_P(V)
# with drive = I[t] (snn.lif: the accumulated weight, cleared after the update) or J[t] (snn.cuba_lif: the accumulated
# weight holds J, which persists: after the update it is written back decayed, decay(J[t], alpha_q), so that step t+1's
# spikes add onto it and it holds J[t+1] = decay(J[t]) + I[t+1] when step t+1 ends). S[t] = V >= theta. Every neuron
# of the PE is decayed every step, input or not: the sweep (``decays``, ``sweep_cycles``).
def _leak_quantize(acc_key: str, factors: tuple[str, ...]) -> Callable[[Operation, np.ndarray, str, Hardware],
                                                                         dict[str, Any]]:
    """The quantization rule of a leaky neuron: the threshold as ``snn.if`` (:func:`array_threshold_rule`), and each
    decay factor in fixed point with the chip's ``[leak]`` fraction bits and rounding (``quantize_leak``)."""
    threshold = array_threshold_rule(acc_key)

    def rule(neuron: Operation, scale: np.ndarray, granularity: str, hw: Hardware) -> dict[str, Any]:
        from snnc.backends.reference.integer import quantize_leak

        require_leak(neuron, hw)
        leak = hw.leak
        assert leak is not None
        if "alpha" in factors and leak.alpha_frac_bits != leak.beta_frac_bits:
            raise DesignRuleError(
                f"the integer semantics ({neuron.opname}) decays alpha and beta with one number of fraction bits, but "
                f"the chip {hw.name} has [leak] alpha_frac_bits = {leak.alpha_frac_bits} and beta_frac_bits = "
                f"{leak.beta_frac_bits}", where=_where(neuron),
                hint="make [leak] alpha_frac_bits equal to beta_frac_bits")
        state = threshold(neuron, scale, granularity, hw)
        for name in factors:
            state.update(quantize_leak(neuron.attrs[name], leak.beta_frac_bits, leak.rounding, name=name))
        return state

    return rule


def leaky_config(neuron: Operation, per_neuron: Callable[[np.ndarray], list[int]]) -> dict[str, Any]:
    """``config.json`` of a leaky PE: a threshold and the fixed-point decay factors (``beta_q``, and ``alpha_q`` for
    ``snn.cuba_lif``) per local neuron, the reset mode and order, the fraction bits and the rounding."""
    q = neuron.meta["quant"]
    cfg: dict[str, Any] = {"threshold": per_neuron(neuron.attrs["threshold"]), "reset": neuron.attrs["reset"],
                           "delayed_reset": int(neuron.attrs["delayed_reset"])}
    for name in ("beta", "alpha"):
        if f"{name}_q" in q:
            cfg[f"{name}_q"] = per_neuron(np.asarray(q[f"{name}_q"]))
    cfg["leak_frac_bits"] = int(q["beta_frac_bits"])
    cfg["leak_rounding"] = str(q["leak_rounding"])
    return cfg


def _leak_params(pe: PECore) -> dict[str, Any]:
    """The PE's leak registers as arrays (read from ``config.json`` once per PE)."""
    p = pe.params
    if not p:
        cfg = pe.config
        p["beta_q"] = np.asarray(cfg["beta_q"], np.int64)
        p["alpha_q"] = np.asarray(cfg["alpha_q"], np.int64) if "alpha_q" in cfg else None
        p["frac_bits"] = int(cfg["leak_frac_bits"])
        p["rounding"] = str(cfg["leak_rounding"])
        p["delayed"] = bool(cfg.get("delayed_reset", 0))
        p["potential_bits"] = int(cfg["state_bits"]["potential"])
        p["acc_bits"] = int(cfg["state_bits"]["acc_weight"])
    return p


def leaky_update(pe: PECore, now: int, step: int) -> tuple[int, np.ndarray, np.ndarray]:
    """The update of a leaky PE once every input of ``step`` is in (see the block comment above): the decay sweep
    over every local neuron, the input, the reset in the op's order, the fire check; then the accumulated weight is
    cleared (``snn.lif``) or written back decayed (``snn.cuba_lif``'s ``J``)."""
    from snnc.backends.reference.integer import decay

    p = _leak_params(pe)
    start = pe.begin_update(now, pe.n, sweep=True)
    v, acc, spiked = pe.v, pe.acc, pe.spiked
    f, rounding = p["frac_bits"], p["rounding"]
    theta = pe.theta
    cuba = p["alpha_q"] is not None
    drive = acc
    if cuba:  # J[t] = decay(J[t-1]) + I[t] is what the accumulated weight holds now; sat_A is the identity
        drive = np.clip(acc, pe.a_lo, pe.a_hi)
    prev = np.flatnonzero(spiked)

    def reset(x: np.ndarray) -> np.ndarray:
        if prev.size:
            if pe.reset_mode == "subtract":
                x[prev] -= theta if np.ndim(theta) == 0 else theta[prev]
                pe.count("resets", prev.size)
            else:
                x[prev] = 0
        return x

    if not p["delayed"]:
        new = decay(reset(v.copy()), p["beta_q"], f, rounding, p["potential_bits"]) + drive
    else:
        new = reset(decay(v, p["beta_q"], f, rounding, p["potential_bits"]) + drive)
    np.clip(new, pe.p_lo, pe.p_hi, out=v)
    hit = v >= theta
    spiked[:] = hit
    fired = np.flatnonzero(hit)
    if cuba:
        acc[:] = decay(drive, p["alpha_q"], f, rounding, p["acc_bits"])
    else:
        acc[:] = 0
    pe.count("acc_clears", pe.n)
    pe.count("decays", pe.n * (2 if cuba else 1))
    pe.count("spikes_out", fired.size)
    pe.updated_step = step
    return start, fired, start + (fired + 1) * pe.neuron_cycles(sweep=True)


LIF_COUNTERS = ("updates", "resets", "acc_clears", "decays", "sweep_cycles", "spikes_out")
register_yoso_neuron(YosoNeuron(
    "snn.lif", quantize=_leak_quantize("input_bits", ("beta",)), acc_key="input_bits", config=leaky_config,
    read_config=read_per_neuron_threshold, schedule="step_end", update=leaky_update, counters=LIF_COUNTERS,
    leak_words=1))
register_yoso_neuron(YosoNeuron(
    "snn.cuba_lif", quantize=_leak_quantize("current_bits", ("beta", "alpha")), acc_key="current_bits",
    config=leaky_config, read_config=read_per_neuron_threshold, schedule="step_end", update=leaky_update,
    counters=LIF_COUNTERS, leak_words=2))
#: why YOSO runs ``snn.li`` on the host (the completeness test accepts a Refusal in place of an entry).
LI_ON_HOST = ("snn.li emits a potential trace, not spikes, and a YOSO PE sends spikes only: a readout synapse, its "
              "snn.li and the decoder run on the host in float32, fed by the spikes of the layer before (docs/yoso.md)")
register_yoso_neuron(Refusal(LI_ON_HOST), "snn.li")
