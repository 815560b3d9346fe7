"""``example.leaky_if``: a leaky integrate-and-fire neuron added to snnc from outside, through the entry point
``snnc.ops`` (see ``pyproject.toml``). Everything snnc needs is here:

1. the op definition, with its :class:`~snnc.ir.NeuronTraits` (the IR parses, prints and verifies it);
2. its reference float kernel and integer kernel (``snnc.backends.reference.register_kernels``);
3. its YOSO entry (``snnc.backends.yoso.neurons.register_yoso_neuron``): quantization rule, configuration
   registers, PE update.

Equations, state zero before step 0, ``k = leak_shift``:

* float: ``V[t] = (V[t-1] - V[t-1] * 2**-k) + I[t]``, ``S[t] = V[t] >= theta``, a neuron that fired restarts
  from ``V = 0``;
* integer (YOSO, ``yoso-int-1`` widths): ``V[t] = sat_P(V[t-1] - (V[t-1] >> k) + I[t])`` (arithmetic shift),
  same spike and reset rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from snnc.ir import Kind, NeuronTraits, OpDef, register_op
from snnc.ir.attributes import Attr, finite, positive
from snnc.ir.ops import IF, OPS

OPNAME = "example.leaky_if"


class LeakyIF(OpDef):
    """Leaky integrate-and-fire neuron, leak ``V * 2**-leak_shift`` per step, reset to zero."""

    name = OPNAME
    category = "neuron"
    neuron = NeuronTraits(single_spike=False, state=("V", "I"), accumulator="I", accumulator_name="step input I",
                          accumulator_persists=False, reset="zero")
    operands = (frozenset({Kind.CURRENT}),)
    attrs = {
        "threshold": Attr("array", check=finite, doc="theta, broadcastable to the features"),
        "leak_shift": Attr("int", check=positive, doc="k: the potential loses V * 2**-k every step"),
    }
    infer = IF.infer  # same result type and threshold rule as snn.if


# ------------------------------------------------------------------------------------------ kernels
def _run(current: np.ndarray, theta: np.ndarray, leak: Any, dtype: type, time_steps: int,
         clip: tuple[int, int] | None = None) -> Any:
    from snnc.backends.reference import SpikeTrain

    shape = current.shape[1:]
    theta = np.broadcast_to(theta, shape)
    v = np.zeros(shape, dtype)
    out = np.empty((time_steps, *shape), np.bool_)
    for t in range(time_steps):
        if t:
            np.copyto(v, 0, where=out[t - 1])  # reset to zero
        v -= leak(v)
        v += current[t]
        if clip is not None:
            np.clip(v, clip[0], clip[1], out=v)
        np.greater_equal(v, theta, out=out[t])
    return SpikeTrain(time_steps, dense=out)


def leaky_if(ctx: Any, op: Any, current: np.ndarray) -> Any:
    """Float kernel (float32, in the order the equation is written)."""
    scale = ctx.scalar(2.0 ** -op.attrs["leak_shift"])
    return _run(current, ctx.param(op, "threshold"), lambda v: v * scale, current.dtype, ctx.time_steps)


def integer_leaky_if(ctx: Any, op: Any, current: np.ndarray) -> Any:
    """Integer kernel: the chip's arithmetic on the quantized op (``state_range`` gives ``sat_P`` and the dtype)."""
    from snnc.backends.reference.integer import state_range

    lo, hi, dtype = state_range(op)
    theta = np.minimum(np.asarray(op.attrs["threshold"]).astype(np.int64), hi + 1).astype(dtype)
    k = int(op.attrs["leak_shift"])
    return _run(current, theta, lambda v: v >> k, dtype, ctx.time_steps, clip=(lo, hi))


# ------------------------------------------------------------------------------------------ YOSO
def pe_update(pe: Any, now: int, step: int) -> tuple[int, np.ndarray, np.ndarray]:
    """Once every input of the step is in: ``V <- sat_P(V - (V >> k) + I)``, fire on ``V >= theta``, the neurons
    that fired restart from 0, ``I <- 0``."""
    start = pe.begin_update(now, pe.n)
    v = pe.v
    v -= v >> int(pe.config["leak_shift"])
    np.clip(v + pe.acc, pe.p_lo, pe.p_hi, out=v)
    fired = np.flatnonzero(v >= pe.theta)
    v[fired] = 0
    pe.acc[:] = 0
    pe.count("acc_clears", pe.n)
    pe.count("spikes_out", fired.size)
    return start, fired, start + (fired + 1) * pe.update_cycles


def _config(neuron: Any, per_neuron: Any) -> dict[str, Any]:
    return {"threshold": per_neuron(neuron.attrs["threshold"]), "leak_shift": int(neuron.attrs["leak_shift"])}


def _read_config(cfg: dict[str, Any]) -> tuple[Any, str | None]:
    return np.asarray(cfg["threshold"], np.int64), None


# ------------------------------------------------------------------------------------------ registration
def register() -> None:
    """The ``snnc.ops`` entry point: register the op and its table entries (once)."""
    from snnc.backends.reference import register_kernels
    from snnc.backends.yoso.neurons import YosoNeuron, array_threshold_rule, register_yoso_neuron

    if OPNAME not in OPS:
        register_op(LeakyIF)
    register_kernels(OPNAME, leaky_if, integer_leaky_if, acc_key="input_bits")
    register_yoso_neuron(YosoNeuron(
        OPNAME, quantize=array_threshold_rule("input_bits"), acc_key="input_bits", config=_config,
        read_config=_read_config, schedule="step_end", update=pe_update,
        counters=("updates", "acc_clears", "spikes_out")))
