"""The stepper: runs a :class:`~snnc_timestep.program.Program` one time step at a time.

Where snnc's reference executor computes a whole layer over all ``T`` steps before the next layer, the
stepper advances the whole network by one step, ``t = 0 .. T-1``, the way a neuromorphic core does:
every op is a small stateful unit whose ``step(t, x)`` takes its operand's value at step ``t``
(``[B, *features]``) and returns its own. The equations are those of snnc's SPEC (section 2), with
state zero before step 0; each unit below states the ones it implements. The units are a table keyed by
op name (:data:`UNITS`), so a variant overrides an entry: ``{**UNITS, "snn.relpsp": MyReLPSP}``.

Example:
    >>> from snnc_timestep.program import lower
    >>> result = run_program(lower(graph), x)       # doctest: +SKIP
    >>> result.scores.shape, result.spike_counts    # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

from snnc.backends import RunResult
from snnc.errors import BackendError, DatasetError

from .program import Program, Step

F32 = np.float32


class Unit:
    """One op's state and its per-step update. ``result()`` is the final value of a decoder."""

    def __init__(self, step: Step, batch: int, time_steps: int) -> None:
        self.spec = step
        self.batch = batch
        self.time_steps = time_steps
        self.shape = (batch, *step.shape)

    def step(self, t: int, x: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def result(self) -> np.ndarray:
        raise BackendError(f"{self.spec.op} has no final value", where=f"%{self.spec.out}")


class TTFSEncode(Unit):
    """``xc = clip(x, 0, 1)``; one spike at ``s = floor((1 - xc) * (window - 1) + 0.5)`` (float32) where ``x > 0``."""

    times: np.ndarray | None = None

    def step(self, t: int, x: np.ndarray) -> np.ndarray:
        if self.times is None:  # x is the same tensor at every step: compute the spike times once
            s = np.floor((F32(1) - np.clip(x, F32(0), F32(1))) * F32(self.spec.attrs["window"] - 1) + F32(0.5))
            self.times = np.where(x > 0, s, self.time_steps)
        return self.times == t


class IFState(Unit):
    """Integrate-and-fire: subtract ``V[t] = V[t-1] - theta*S[t-1] + I[t]``, zero ``V[t] = V[t-1]*(1 - S[t-1]) + I[t]``;
    ``S[t] = V[t] >= theta``."""

    reset = "subtract"

    def __init__(self, step: Step, batch: int, time_steps: int) -> None:
        super().__init__(step, batch, time_steps)
        self.theta = np.broadcast_to(self.threshold(), self.shape)
        self.reset = step.attrs.get("reset", self.reset)
        self.v = np.zeros(self.shape, F32)
        self.s = np.zeros(self.shape, np.bool_)

    def threshold(self) -> np.ndarray:
        return self.spec.arrays["threshold"]

    def current(self, x: np.ndarray) -> np.ndarray:
        return x

    def step(self, t: int, x: np.ndarray) -> np.ndarray:
        if self.reset == "subtract":
            np.subtract(self.v, self.theta, out=self.v, where=self.s)
        else:
            self.v[self.s] = 0
        self.v += self.current(x)
        self.s = self.v >= self.theta
        return self.s


class RateEncode(IFState):
    """An IF neuron reset by subtraction, fed ``I[t] = clip(x, 0, 1)`` at every step."""

    def threshold(self) -> np.ndarray:
        return np.asarray(self.spec.attrs["threshold"], F32)

    def current(self, x: np.ndarray) -> np.ndarray:
        return np.clip(x, F32(0), F32(1)).astype(F32)


class Dense(Unit):
    """``I[t] = S[t] @ weight.T (+ bias)``."""

    def step(self, t: int, x: np.ndarray) -> np.ndarray:
        y = x.astype(F32) @ self.spec.arrays["weight"].T
        return y + self.spec.arrays["bias"] if "bias" in self.spec.arrays else y


class Reshape(Unit):
    """The features of each sample, reshaped (``snn.flatten`` and ``snn.reshape``)."""

    def step(self, t: int, x: np.ndarray) -> np.ndarray:
        return x.reshape(self.shape)


class ReLPSP(Unit):
    """``V[t] = V[t-1] + K[t-1]``, ``K[t] = K[t-1] + I[t]``; ``S[t] = 1`` at the first ``t`` with ``V[t] >= theta``."""

    def __init__(self, step: Step, batch: int, time_steps: int) -> None:
        super().__init__(step, batch, time_steps)
        self.theta = F32(step.attrs["threshold"])
        self.k = np.zeros(self.shape, F32)
        self.v = np.zeros(self.shape, F32)
        self.armed = np.ones(self.shape, np.bool_)

    def step(self, t: int, x: np.ndarray) -> np.ndarray:
        self.v += self.k
        self.k += x
        fire = (self.v >= self.theta) & self.armed
        self.armed &= ~fire
        return fire


class FirstSpikeDecode(Unit):
    """Score ``T - t_first`` (0 for a neuron that never fires)."""

    def __init__(self, step: Step, batch: int, time_steps: int) -> None:
        super().__init__(step, batch, time_steps)
        self.first = np.full(self.shape, time_steps, np.int64)

    def step(self, t: int, x: np.ndarray) -> None:
        np.copyto(self.first, t, where=x & (self.first == self.time_steps))

    def result(self) -> np.ndarray:
        return (self.time_steps - self.first).astype(F32)


class LastStepDecode(Unit):
    """Score ``S[T-1]``."""

    last: np.ndarray | None = None

    def step(self, t: int, x: np.ndarray) -> None:
        self.last = x

    def result(self) -> np.ndarray:
        return np.asarray(self.last, F32)


class SpikeCountDecode(Unit):
    """Score = spike count over all steps / ``T`` (float32)."""

    def __init__(self, step: Step, batch: int, time_steps: int) -> None:
        super().__init__(step, batch, time_steps)
        self.count = np.zeros(self.shape, np.int64)

    def step(self, t: int, x: np.ndarray) -> None:
        self.count += x

    def result(self) -> np.ndarray:
        return self.count.astype(F32) / F32(self.time_steps)


#: op name -> unit class.
UNITS: dict[str, type[Unit]] = {
    "snn.ttfs_encode": TTFSEncode,
    "snn.rate_encode": RateEncode,
    "snn.dense": Dense,
    "snn.flatten": Reshape,
    "snn.reshape": Reshape,
    "snn.relpsp": ReLPSP,
    "snn.if": IFState,
    "snn.first_spike_decode": FirstSpikeDecode,
    "snn.last_step_decode": LastStepDecode,
    "snn.spike_count_decode": SpikeCountDecode,
}


def run_program(program: Program, x: np.ndarray, *, record: bool = False, batch_size: int | None = None) -> RunResult:
    """Run ``program`` on the batch ``x`` (``[B, *f]``, or ``[T, B, *f]`` for a spike input).

    Args:
        program: a lowered (or loaded) program.
        x: the inputs, float32.
        record: also return every spike train made (``[T, B, *f]`` bool) in ``RunResult.spikes``.
        batch_size: samples stepped at once (default: all).

    Returns:
        The scores, per-sample spike counts of every encoder and neuron (and of a spike input), and the
        spike trains when ``record``.

    Raises:
        DatasetError: ``x`` does not have the program's input shape.
    """
    x = np.asarray(x, F32)
    spikes_in = program.input_kind == "spikes"
    lead = (program.time_steps,) if spikes_in else ()
    if x.ndim != len(lead) + 1 + len(program.input_shape) or x.shape[:len(lead)] != lead \
            or x.shape[len(lead) + 1:] != program.input_shape:
        want = "x".join(map(str, [*lead, "B", *program.input_shape]))
        raise DatasetError(f"input of shape {list(x.shape)} does not fit the program input {want}",
                           where=f"graph @{program.name}")
    axis = 1 if spikes_in else 0
    size = max(1, x.shape[axis] if batch_size is None else batch_size)
    parts = [_run_chunk(program, x[(slice(None),) * axis + (slice(lo, lo + size),)], record)
             for lo in range(0, max(x.shape[axis], 1), size)]
    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    return RunResult(np.concatenate([p.scores for p in parts]),
                     spike_counts={k: np.concatenate([p.spike_counts[k] for p in parts]) for k in first.spike_counts},
                     spikes={k: np.concatenate([p.spikes[k] for p in parts], axis=1) for k in first.spikes},
                     outputs={k: np.concatenate([p.outputs[k] for p in parts]) for k in first.outputs})


def _run_chunk(program: Program, x: np.ndarray, record: bool) -> RunResult:
    spikes_in = program.input_kind == "spikes"
    batch, steps = x.shape[1 if spikes_in else 0], program.time_steps
    units = [UNITS[s.op](s, batch, steps) for s in program.steps]
    counted = [s.out for s in program.steps if s.makes_spikes] + ([program.input_name] if spikes_in else [])
    counts = {name: np.zeros(batch, np.int64) for name in counted}
    trains = {name: np.zeros((steps, batch, *_shape(program, name)), np.bool_) for name in counted} if record else {}
    for t in range(steps):
        env = {program.input_name: x[t] > 0 if spikes_in else x}
        for spec, unit in zip(program.steps, units, strict=True):
            env[spec.out] = unit.step(t, env[spec.src])
        for name in counted:
            counts[name] += env[name].reshape(batch, -1).sum(axis=1)
            if record:
                trains[name][t] = env[name]
    scores = next(u for s, u in zip(program.steps, units, strict=True) if s.out == program.output).result()
    return RunResult(scores.reshape(batch, -1), spike_counts=counts, spikes=trains, outputs={program.output: scores})


def _shape(program: Program, name: str) -> tuple[int, ...]:
    if name == program.input_name:
        return program.input_shape
    return next(s.shape for s in program.steps if s.out == name)
