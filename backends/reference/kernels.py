"""NumPy kernels of the reference executor: one function per IR op, implementing SPEC section 2 exactly.

Every kernel has the signature ``kernel(ctx, op, *operands) -> value`` and is looked up in
:data:`KERNELS` by op name, so that a subclass of the executor (or an analysis) replaces single
entries: ``kernels = {**ReferenceExecutor.kernels, "snn.relpsp": my_relpsp}``.

Runtime values by kind:

* ``tensor``: an ndarray ``[B, *f]``;
* ``current``: an ndarray ``[T, B, *f]``;
* ``spikes``: a :class:`SpikeTrain` ``[T, B, *f]``, stored either dense (bool) or, when every neuron
  fires at most once (TTFS encoders, ReL-PSP neurons), as first-spike times ``[B, *f]``.

Arithmetic is float32 (``ctx.dtype``), in the order the SPEC equations are written; neuron state
starts at zero before step 0 and is updated step by step, so the recurrences match a sequential
float32 loop bit for bit.

Summation order (docs/architecture.md, "Summation order of the float synapses"). ``snn.conv2d``, and
``snn.dense`` on a sparse input (spike train or current), sum in a defined order: each output is 0, plus
its terms ``x * w`` in increasing input order, each addition rounded to float32, plus the bias (a zero
input's term adds nothing and is skipped), so the value does not depend on the machine's BLAS and the
compiled kernels (:mod:`.fast`) give it bit for bit. The sparse ``snn.dense`` scatters the weight rows of
the events (``I[t, b] = sum over inputs i spiking at (t, b) of W[:, i]``, times the value for a current).
On a dense input it is one BLAS matmul, whose order is BLAS's: with weights on a dyadic grid (exact
float32 sums) both paths are bit-identical; with arbitrary float weights a synaptic input may differ in
the last bit, which changes a spike only where a potential lands within rounding of a threshold (SPEC 1).
``ctx.sparse`` chooses for ``snn.dense``: ``"auto"`` (by density), ``"always"`` or ``"never"``. The
integer mode's sums are exact: any order gives the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from snnc.errors import BackendError
from snnc.ir import Kind, Operation

SparseMode = Literal["auto", "always", "never"]


@dataclass
class KernelContext:
    """What kernels need besides their op and operands.

    Attributes:
        time_steps: T, the graph's simulation length.
        sparse: ``"auto"``, ``"always"`` or ``"never"``: whether synapses use the sparse path on spike trains.
        dtype: the arithmetic dtype (float32; quantized graphs run in the integer mode, :mod:`.integer`).
    """

    time_steps: int
    sparse: SparseMode = "auto"
    dtype: type[np.floating] = np.float32
    #: whether every sum the synapse kernels form is exact, so any order gives it (the integer mode's
    #: :class:`~.integer.ExactContext`); float mode sums in the order its kernels define.
    exact_sums: ClassVar[bool] = False
    _params: dict[tuple[int, str], np.ndarray] = field(default_factory=dict, repr=False)

    def param(self, op: Operation, key: str, prepare: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """The array attribute ``op.attrs[key]`` in the arithmetic dtype, prepared once and cached.

        Raises:
            BackendError: the parameter has an integer dtype (a quantized graph needs the integer mode).
        """
        cache_key = (id(op), key)
        cached = self._params.get(cache_key)
        if cached is None:
            raw = np.asarray(op.attrs[key])
            if not np.issubdtype(raw.dtype, np.floating):
                raise BackendError(f"parameter {key!r} has integer dtype {raw.dtype}; the float kernels run float32 "
                                   "graphs only", hint="run quantized graphs in the integer mode (mode='integer')")
            arr = raw.astype(self.dtype)
            cached = self._params[cache_key] = prepare(arr) if prepare else arr
        return cached

    def scalar(self, value: float) -> np.floating:
        """A Python number in the arithmetic dtype (e.g. a float attribute, as ONNX stores it: float32)."""
        return self.dtype(value)


_INT16_MAX = int(np.iinfo(np.int16).max)


def _time_dtype(time_steps: int) -> type[np.integer]:
    return np.int16 if time_steps < _INT16_MAX else np.int32


class SpikeTrain:
    """A binary spike train ``[T, B, *features]``.

    Stored as the dense bool array, or, for trains where each neuron fires at most once, as the
    first-spike times ``times [B, *features]`` (``T`` where a neuron never fires); :meth:`dense`
    materializes (and caches) the bool array. Build with :meth:`from_dense` or :meth:`from_times`.
    """

    __slots__ = ("_dense", "_times", "time_steps")

    def __init__(self, time_steps: int, dense: np.ndarray | None = None, times: np.ndarray | None = None) -> None:
        if (dense is None) == (times is None):
            raise ValueError("give exactly one of dense and times")
        self.time_steps = time_steps
        self._dense = dense
        self._times = times

    @classmethod
    def from_dense(cls, spikes: np.ndarray) -> SpikeTrain:
        """From an array ``[T, B, *f]`` (any dtype: nonzero is a spike)."""
        spikes = np.asarray(spikes)
        return cls(spikes.shape[0], dense=spikes if spikes.dtype == np.bool_ else spikes != 0)

    @classmethod
    def from_times(cls, times: np.ndarray, time_steps: int) -> SpikeTrain:
        """From first-spike times ``[B, *f]`` in ``0 .. T`` (``T``: no spike)."""
        return cls(time_steps, times=np.asarray(times, _time_dtype(time_steps)))

    @property
    def shape(self) -> tuple[int, ...]:
        """``(T, B, *features)``."""
        if self._dense is not None:
            return self._dense.shape
        return (self.time_steps, *self._times.shape)

    @property
    def batch(self) -> int:
        return self.shape[1]

    @property
    def times(self) -> np.ndarray | None:
        """First-spike times ``[B, *f]`` (``T``: none) when the train is stored that way, else None."""
        return self._times

    def dense(self) -> np.ndarray:
        """The bool array ``[T, B, *f]``."""
        if self._dense is None:
            steps = np.arange(self.time_steps, dtype=self._times.dtype).reshape(-1, *([1] * self._times.ndim))
            self._dense = self._times[None] == steps
        return self._dense

    def astype(self, dtype: type) -> np.ndarray:
        """The spike train as 0/1 values of ``dtype``, ``[T, B, *f]``."""
        return self.dense().astype(dtype)

    def count(self) -> int:
        """The total number of spikes."""
        if self._times is not None:
            return int(np.count_nonzero(self._times < self.time_steps))
        return int(np.count_nonzero(self._dense))

    def counts(self) -> np.ndarray:
        """Spikes per sample, int64 ``[B]``."""
        if self._times is not None:
            fired = (self._times < self.time_steps).reshape(self._times.shape[0], math.prod(self._times.shape[1:]))
            return fired.sum(axis=1, dtype=np.int64)
        per_step = self._dense.reshape(*self._dense.shape[:2], math.prod(self._dense.shape[2:]))
        return per_step.sum(axis=(0, 2), dtype=np.int64)

    def first_spike_times(self) -> np.ndarray:
        """The step of each neuron's first spike, ``[B, *f]`` (``T`` where it never fires)."""
        if self._times is not None:
            return self._times
        fired = self._dense.any(axis=0)
        return np.where(fired, self._dense.argmax(axis=0), self.time_steps).astype(_time_dtype(self.time_steps))

    def reshape_features(self, features: tuple[int, ...]) -> SpikeTrain:
        """The same train with the features reshaped (a view)."""
        if self._times is not None:
            return SpikeTrain(self.time_steps, times=self._times.reshape(self._times.shape[0], *features))
        return SpikeTrain(self.time_steps, dense=self._dense.reshape(*self._dense.shape[:2], *features))

    def __repr__(self) -> str:
        form = "times" if self._times is not None else "dense"
        return f"SpikeTrain(shape={list(self.shape)}, stored as {form})"


def as_array(value: Any, dtype: type) -> np.ndarray:
    """A runtime value as an ndarray of ``dtype`` (spike trains become 0/1)."""
    if isinstance(value, SpikeTrain):
        return value.astype(dtype)
    return np.asarray(value, dtype)


# ------------------------------------------------------------------------------------------ encoders
def ttfs_encode(ctx: KernelContext, op: Operation, x: np.ndarray) -> SpikeTrain:
    """TTFS: with ``xc = clip(x, 0, 1)``, one spike at ``s = floor((1 - xc)*(window - 1) + 0.5)`` (float32)
    where ``x > 0``; none where ``x <= 0``."""
    f = ctx.scalar
    xc = np.clip(x, f(0), f(1))
    s = np.floor((f(1) - xc) * f(op.attrs["window"] - 1) + f(0.5))
    times = np.where(x > 0, s, ctx.time_steps)
    return SpikeTrain.from_times(times, ctx.time_steps)


def _integrate_and_fire(current: Callable[[int], np.ndarray], shape: tuple[int, ...], theta: np.ndarray,
                        reset: str, time_steps: int, dtype: type,
                        clip: tuple[int, int] | None = None) -> SpikeTrain:
    """IF dynamics, state zero before step 0, ``S[t] = V[t] >= theta``;
    subtract: ``V[t] = (V[t-1] - theta*S[t-1]) + I[t]``; zero: ``V[t] = V[t-1]*(1 - S[t-1]) + I[t]``.

    ``V - theta*S`` is computed as ``V - theta`` where ``S`` (exact: ``theta*0 = 0``, ``V - 0 = V``);
    ``V*(1 - S)`` as 0 where ``S`` (equal up to the sign of zero, which no comparison sees). With ``clip``
    (the integer mode's ``sat_P``), ``V`` saturates to ``[lo, hi]`` after adding ``I``. The float and the
    integer kernels both run this one loop.
    """
    v = np.zeros(shape, dtype)
    out = np.empty((time_steps, *shape), np.bool_)
    theta_full = np.broadcast_to(theta, shape)
    for t in range(time_steps):
        if t:
            fired = out[t - 1]
            if reset == "subtract":
                np.subtract(v, theta_full, out=v, where=fired)
            else:
                np.copyto(v, 0, where=fired)
        v += current(t)
        if clip is not None:
            np.clip(v, clip[0], clip[1], out=v)
        np.greater_equal(v, theta_full, out=out[t])
    return SpikeTrain(time_steps, dense=out)


def rate_encode(ctx: KernelContext, op: Operation, x: np.ndarray) -> SpikeTrain:
    """Rate: an IF neuron (reset by subtraction) fed ``I[t] = clip(x, 0, 1)`` at every step."""
    f = ctx.scalar
    xc = np.clip(x, f(0), f(1)).astype(ctx.dtype)
    theta = np.asarray(f(op.attrs["threshold"]))
    return _integrate_and_fire(lambda t: xc, xc.shape, theta, "subtract", ctx.time_steps, ctx.dtype)


# ------------------------------------------------------------------------------------------ neurons
def relpsp_dynamics(current: np.ndarray, theta: Any, time_steps: int, dtype: type,
                    clip: tuple[int, int] | None = None) -> SpikeTrain:
    """ReL-PSP dynamics on ``current [T, *shape]``, state zero before step 0:
    ``V[t] = V[t-1] + K[t-1]`` (saturated to ``clip`` in the integer mode), ``K[t] = K[t-1] + I[t]``;
    ``S[t] = 1`` at the first ``t`` with ``V[t] >= theta``, never again. Returns first-spike times.
    The float and the integer kernels both run this one loop."""
    shape = current.shape[1:]
    k = np.zeros(shape, dtype)
    v = np.zeros(shape, dtype)
    times = np.full(shape, time_steps, _time_dtype(time_steps))
    armed = np.ones(shape, np.bool_)
    hit = np.empty(shape, np.bool_)
    for t in range(time_steps):
        v += k  # V[t] = V[t-1] + K[t-1]
        if clip is not None:
            np.clip(v, clip[0], clip[1], out=v)
        k += current[t]  # K[t] = K[t-1] + I[t]
        np.greater_equal(v, theta, out=hit)
        hit &= armed
        np.copyto(times, t, where=hit)
        armed ^= hit
    return SpikeTrain.from_times(times, time_steps)


def relpsp(ctx: KernelContext, op: Operation, current: np.ndarray) -> SpikeTrain:
    """ReL-PSP single-spike neuron, state zero before step 0:
    ``K[t] = K[t-1] + I[t]`` (slope), ``V[t] = V[t-1] + K[t-1]`` (potential);
    ``S[t] = 1`` at the first ``t`` with ``V[t] >= theta``, never again. Returns first-spike times."""
    return relpsp_dynamics(current, ctx.scalar(op.attrs["threshold"]), ctx.time_steps, current.dtype)


def if_neuron(ctx: KernelContext, op: Operation, current: np.ndarray) -> SpikeTrain:
    """Integrate-and-fire, state zero before step 0, ``S[t] = 1 if V[t] >= theta``;
    subtract: ``V[t] = V[t-1] - theta*S[t-1] + I'[t]``; zero: ``V[t] = V[t-1]*(1 - S[t-1]) + I'[t]``.
    ``theta`` broadcasts to the features (per channel: ``[C, 1, 1]``). ``I'[t] = I[t]``, or with a
    ``recurrent_weight`` W: ``I'[t] = I[t] + S[t-1] @ W.T`` (float32, computed first)."""
    theta = ctx.param(op, "threshold")
    if "recurrent_weight" in op.attrs:
        return leaky_dynamics(current, theta, reset=op.attrs["reset"], delayed=False, decay_v=None,
                              recurrent=_float_recurrence(ctx, op), dtype=current.dtype)
    return _integrate_and_fire(current.__getitem__, current.shape[1:], theta, op.attrs["reset"], ctx.time_steps,
                               current.dtype)


Decay = Callable[[np.ndarray], np.ndarray]
Recurrence = Callable[[np.ndarray], np.ndarray]


def leaky_dynamics(current: np.ndarray, theta: Any, *, reset: str, delayed: bool, decay_v: Decay | None,
                   decay_j: Decay | None = None, recurrent: Recurrence | None = None, dtype: type,
                   clip: tuple[int, int] | None = None, clip_acc: tuple[int, int] | None = None) -> SpikeTrain:
    """The step loop of ``snn.if`` (recurrent), ``snn.lif`` and ``snn.cuba_lif`` on ``current [T, *shape]``,
    state zero before step 0, in this order at every step ``t`` (SPEC 2, and the ONNX function bodies):

    1. input: ``I' = I[t] + recurrent(S[t-1])`` (``recurrent(S) = S @ W.T``; only with a recurrent weight);
    2. CubaLIF (``decay_j``): ``J = decay_j(J) + I'``, saturated to ``clip_acc``; the drive is ``J`` (else ``I'``);
    3. reset first (``delayed`` false): ``Vr = V - theta`` where ``S[t-1]`` (subtract) or ``0`` there (zero),
       ``V = decay_v(Vr) + drive``; delayed: ``U = decay_v(V) + drive``, then ``U - theta`` / ``0`` where
       ``S[t-1]``. ``decay_v`` None is IF (no decay: ``V = Vr + drive``);
    4. saturation of ``V`` to ``clip`` (integer mode), then ``S[t] = V >= theta``.

    The float kernels pass ``decay(v) = beta * v`` (float32), the integer kernels the fixed-point
    :func:`snnc.backends.reference.integer.decay`; ``V - theta*S`` is ``V - theta`` where ``S`` and ``V*(1 - S)`` is
    ``0`` there (equal up to the sign of zero, which no comparison sees).
    """
    time_steps = current.shape[0]
    shape = current.shape[1:]
    v = np.zeros(shape, dtype)
    j = np.zeros(shape, dtype) if decay_j is not None else None
    out = np.zeros((time_steps, *shape), np.bool_)
    theta_full = np.broadcast_to(theta, shape)
    for t in range(time_steps):
        drive = current[t]
        if recurrent is not None and t:
            drive = drive + recurrent(out[t - 1])
        if j is not None:
            j = decay_j(j) + drive
            if clip_acc is not None:
                j = np.clip(j, clip_acc[0], clip_acc[1])
            j = drive = np.asarray(j, dtype)
        fired = out[t - 1] if t else None
        if not delayed:
            if fired is not None:
                v = _reset(v, fired, theta_full, reset)
            v = (v if decay_v is None else decay_v(v)) + drive
        else:
            v = (v if decay_v is None else decay_v(v)) + drive
            if fired is not None:
                v = _reset(v, fired, theta_full, reset)
        if clip is not None:
            v = np.clip(v, clip[0], clip[1])
        v = np.asarray(v, dtype)
        np.greater_equal(v, theta_full, out=out[t])
    return SpikeTrain(time_steps, dense=out)


def _reset(v: np.ndarray, fired: np.ndarray, theta: np.ndarray, reset: str) -> np.ndarray:
    """``v - theta*S`` (subtract) or ``v*(1 - S)`` (zero), as a new array."""
    if reset == "subtract":
        return np.where(fired, v - theta, v)
    return np.where(fired, v.dtype.type(0), v)


def _float_recurrence(ctx: KernelContext, op: Operation) -> Recurrence:
    """``S[t-1] @ W.T`` in float32 (``W`` the op's ``recurrent_weight``)."""
    wt = ctx.param(op, "recurrent_weight", lambda w: np.ascontiguousarray(w.T))
    return lambda s: s.astype(wt.dtype) @ wt


def _float_decay(factor: np.ndarray) -> Decay:
    return lambda v: factor * v


def lif(ctx: KernelContext, op: Operation, current: np.ndarray) -> SpikeTrain:
    """Leaky integrate-and-fire (SPEC 2, ``snn.LIF``), float32, state zero before step 0: reset first
    ``V[t] = beta*Vr[t-1] + I'[t]`` with ``Vr = V - theta*S`` / ``V*(1 - S)``; delayed reset
    ``V[t] = (beta*V[t-1] + I'[t]) - theta*S[t-1]`` / ``(beta*V[t-1] + I'[t])*(1 - S[t-1])``;
    ``I'[t] = I[t] (+ S[t-1] @ W.T)``; ``S[t] = V[t] >= theta`` (see :func:`leaky_dynamics`)."""
    recurrent = _float_recurrence(ctx, op) if "recurrent_weight" in op.attrs else None
    return leaky_dynamics(current, ctx.param(op, "threshold"), reset=op.attrs["reset"],
                          delayed=bool(op.attrs["delayed_reset"]), decay_v=_float_decay(ctx.param(op, "beta")),
                          recurrent=recurrent, dtype=current.dtype)


def cuba_lif(ctx: KernelContext, op: Operation, current: np.ndarray) -> SpikeTrain:
    """Current-based LIF (SPEC 2, ``snn.CubaLIF``), float32: ``J[t] = alpha*J[t-1] + I'[t]``, then the
    :func:`lif` update with ``J[t]`` in place of ``I'[t]`` (see :func:`leaky_dynamics`)."""
    recurrent = _float_recurrence(ctx, op) if "recurrent_weight" in op.attrs else None
    return leaky_dynamics(current, ctx.param(op, "threshold"), reset=op.attrs["reset"],
                          delayed=bool(op.attrs["delayed_reset"]), decay_v=_float_decay(ctx.param(op, "beta")),
                          decay_j=_float_decay(ctx.param(op, "alpha")), recurrent=recurrent, dtype=current.dtype)


def li(ctx: KernelContext, op: Operation, current: np.ndarray) -> np.ndarray:
    """Leaky integrator (SPEC 2, ``snn.LI``): ``V[t] = beta*V[t-1] + I[t]`` in float32, state zero before
    step 0; returns the potential trace ``[T, B, *f]``."""
    beta = ctx.param(op, "beta")
    current = np.asarray(current, ctx.dtype)
    out = np.empty_like(current)
    v = np.zeros(current.shape[1:], ctx.dtype)
    for t in range(current.shape[0]):
        v = beta * v + current[t]
        out[t] = v
    return out


# ------------------------------------------------------------------------------------------- merges
def add(ctx: KernelContext, op: Operation, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``y = a + b`` elementwise at every step (two currents of the same shape)."""
    return a + b


# ----------------------------------------------------------------------------------------- synapses
def _spike_events(spikes: SpikeTrain, rows: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """The spikes as ``(key, input)`` pairs, ``key = t*rows + r``, grouped so that equal keys are adjacent
    and, within a key, inputs increase."""
    time_steps = spikes.time_steps
    times = spikes.times
    if times is not None:
        times = times.reshape(rows, m)
        order = np.argsort(times, axis=1, kind="stable")
        sorted_times = np.take_along_axis(times, order, axis=1)
        r, pos = np.nonzero(sorted_times < time_steps)
        return sorted_times[r, pos].astype(np.int64) * rows + r, order[r, pos]
    t, r, i = np.nonzero(spikes.dense().reshape(time_steps, rows, m))
    return t * rows + r, i


#: Bytes of output rows one scatter group writes: the rows stay in cache across the rounds of a group.
SCATTER_CHUNK_BYTES = 2**20


def _scatter_rows(key: np.ndarray, inputs: np.ndarray, wt: np.ndarray, n_keys: int,
                  values: np.ndarray | None = None) -> np.ndarray:
    """``out[k] = 0 + the wt[i] (times its value) of the events (k, i)``; ``[n_keys, n]``.

    ``key`` must hold equal keys adjacent, with inputs increasing among them: the rows of one key are
    then added in increasing input order, ``((0 + w_a) + w_b) + w_c ...``, as a sequential dot product.
    Events are split into groups by (block of keys, rank within the key): in a group the keys are
    distinct, so one vectorized gather and one add-assignment does it, and a block of output rows
    (:data:`SCATTER_CHUNK_BYTES`) stays in cache while its rounds run. ``values`` (one per event, a
    current's non-zero entries) weight the rows: the term is ``value * w_i`` in float32; None: spikes.
    """
    n = wt.shape[1]
    out = np.zeros((n_keys, n), wt.dtype)
    nnz = key.shape[0]
    if nnz == 0:
        return out
    starts = np.empty(nnz, np.bool_)
    starts[0] = True
    np.not_equal(key[1:], key[:-1], out=starts[1:])
    index = np.arange(nnz)
    rank = index - np.maximum.accumulate(np.where(starts, index, 0))
    rounds = int(rank.max()) + 1
    keys_per_block = max(1, SCATTER_CHUNK_BYTES // max(1, n * wt.itemsize))
    group = (key // keys_per_block) * rounds + rank
    order = np.argsort(group, kind="stable")
    group, key, inputs = group[order], key[order], inputs[order]
    if values is not None:
        values = values[order]
    cuts = np.flatnonzero(np.concatenate(([True], group[1:] != group[:-1], [True])))
    for j in range(cuts.shape[0] - 1):
        k = key[cuts[j]:cuts[j + 1]]
        rows = np.take(wt, inputs[cuts[j]:cuts[j + 1]], axis=0)
        if values is not None:
            rows *= values[cuts[j]:cuts[j + 1], None]
        out[k] += rows
    return out


def _use_sparse(ctx: KernelContext, x: SpikeTrain | np.ndarray, n: int) -> bool:
    """Whether the scatter beats the matmul, by cost models measured on a 2-core x86 machine (the choice
    changes the summation order, so both engines make it alike). A spike train: the NumPy scatter costs
    about ``100 + n`` ns per spike, the matmul about ``1.9 + 0.018 n`` ns per input slot (the 0/1 float
    matrix, then BLAS): break-even near density 1/55 for any ``n``. A current (new with issue 16; the rule of
    the compiled scatter, so that a pooled single-spike train feeding a wide layer is scattered): about
    ``20 + 0.1 n`` ns per non-zero entry plus 3 ns per slot scanned, against BLAS's ``0.5 + 0.025 n`` ns per
    slot: never for narrow layers (``n`` below ~100), up to ~15 % density at ``n = 800``."""
    if ctx.sparse == "never":
        return False
    if ctx.sparse == "always":
        return True
    if isinstance(x, SpikeTrain):
        return x.count() * (100 + n) < math.prod(x.shape) * (1.9 + 0.018 * n)
    return int(np.count_nonzero(x)) * (20 + 0.1 * n) < x.size * (0.025 * n - 2.5)


def dense(ctx: KernelContext, op: Operation, x: Any) -> np.ndarray:
    """Fully connected synapse on the last axis, at every step: ``y = x @ W.T (+ b)``, ``W [n_out, n_in]``.

    A sparse input (:func:`_use_sparse`: a spike train, or a current such as a pooled single-spike train)
    scatters the weight rows of its events, summed in the defined order (module docstring); a dense train
    or current is one BLAS matmul (BLAS's order).
    """
    wt = ctx.param(op, "weight", lambda w: np.ascontiguousarray(w.T))
    bias = ctx.param(op, "bias") if "bias" in op.attrs else None
    m, n = wt.shape
    lead = x.shape[:-1]
    if isinstance(x, SpikeTrain):
        if _use_sparse(ctx, x, n):
            rows = math.prod(lead[1:])
            key, inputs = _spike_events(x, rows, m)
            y = _scatter_rows(key, inputs, wt, math.prod(lead))
        else:
            y = x.astype(ctx.dtype).reshape(-1, m) @ wt
    else:
        a = np.asarray(x, ctx.dtype).reshape(-1, m)
        if _use_sparse(ctx, a, n):
            r, i = np.nonzero(a)
            y = _scatter_rows(r, i, wt, a.shape[0], values=a[r, i])
        else:
            y = a @ wt
    y = y.reshape(*lead, n)
    if bias is not None:
        y += bias
    return y


def _pad_hw(x: np.ndarray, pads: list[int], value: float = 0) -> np.ndarray:
    top, left, bottom, right = pads
    if not any(pads):
        return x
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def _spatial_view(x: Any, dtype: type) -> tuple[np.ndarray, tuple[int, ...]]:
    """A time-major value ``[T, B, C, H, W]`` as an array ``[T*B, C, H, W]``, and its leading shape."""
    a = as_array(x, dtype)
    return a.reshape(-1, *a.shape[-3:]), a.shape[:-3]


def conv2d(ctx: KernelContext, op: Operation, x: Any) -> np.ndarray:
    """ONNX ``Conv`` on the ``[T*B, C, H, W]`` view (cross-correlation, zero pads, strides, dilations,
    groups): ``y[n, o, i, j] = b[o] + sum_{c, p, q} x_pad[n, g*Cg + c, i*sh + p*dh, j*sw + q*dw] * W[o, c, p, q]``.

    Summation order (float mode): each output is the sequential float32 sum of its terms in increasing
    ``(c, p, q)`` order, starting from 0, then ``+ b[o]`` (docs/architecture.md, "Summation order of the float
    synapses"). Fixing the order makes the currents the same on every machine and lets the compiled kernel
    (:func:`.fast.conv2d_events`, which adds the terms of the non-zero inputs in that order) give these
    values bit for bit; a BLAS product sums in an order of its own that even depends on the call's shape.
    Steps where the input is all zero are skipped (their sums are 0). Integer mode (exact sums, any
    order gives the same) keeps im2col + one matmul per group.
    """
    w = ctx.param(op, "weight")
    bias = ctx.param(op, "bias") if "bias" in op.attrs else None
    a, lead = _spatial_view(x, ctx.dtype)
    conv = _conv_im2col if ctx.exact_sums else _conv_sequential
    out = conv(a, w, op.attrs["strides"], op.attrs["dilations"], op.attrs["group"], op.attrs["pads"])
    if bias is not None:
        out += bias
    co, ho, wo = out.shape[3], out.shape[1], out.shape[2]
    return out.transpose(0, 3, 1, 2).reshape(*lead, co, ho, wo)


def _conv_windows(a: np.ndarray, kh: int, kw: int, strides: list[int], dilations: list[int],
                  pads: list[int]) -> np.ndarray:
    """The receptive fields of ``a [N, C, H, W]`` as a view ``[N, C, Ho, Wo, kh, kw]``."""
    (sh, sw), (dh, dw) = strides, dilations
    windows = sliding_window_view(_pad_hw(a, pads), (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    return windows[:, :, ::sh, ::sw, ::dh, ::dw]


def _conv_im2col(a: np.ndarray, w: np.ndarray, strides: list[int], dilations: list[int], group: int,
                 pads: list[int]) -> np.ndarray:
    """Convolution as im2col + one matmul per group (BLAS's order) -> ``[N, Ho, Wo, Co]``, bias not added."""
    co, cg, kh, kw = w.shape
    windows = _conv_windows(a, kh, kw, strides, dilations, pads)
    batch, _, ho, wo = windows.shape[:4]
    out = np.empty((batch, ho, wo, co), a.dtype)
    per_group = co // group
    for g in range(group):
        cols = windows[:, g * cg:(g + 1) * cg].transpose(0, 2, 3, 1, 4, 5).reshape(batch * ho * wo, cg * kh * kw)
        wg = w[g * per_group:(g + 1) * per_group].reshape(per_group, cg * kh * kw)
        out[..., g * per_group:(g + 1) * per_group] = (cols @ wg.T).reshape(batch, ho, wo, per_group)
    return out


def _conv_sequential(a: np.ndarray, w: np.ndarray, strides: list[int], dilations: list[int], group: int,
                     pads: list[int]) -> np.ndarray:
    """Convolution summed term by term in ``(c, p, q)`` order -> ``[N, Ho, Wo, Co]``, bias not added."""
    co, cg, kh, kw = w.shape
    batch = a.shape[0]
    active = np.flatnonzero(a.reshape(batch, -1).any(axis=1))
    windows = _conv_windows(a[active], kh, kw, strides, dilations, pads)
    ho, wo = windows.shape[2:4]
    out = np.zeros((batch, ho, wo, co), a.dtype)
    per_group = co // group
    acc = np.zeros((active.size, ho, wo, per_group), a.dtype)
    term = np.empty_like(acc)
    for g in range(group):
        acc[...] = 0
        wg = w[g * per_group:(g + 1) * per_group]
        for c in range(cg):
            for p in range(kh):
                for q in range(kw):
                    np.multiply(windows[:, g * cg + c, :, :, p, q, None], wg[:, c, p, q], out=term)
                    acc += term
        out[active, ..., g * per_group:(g + 1) * per_group] = acc
    return out


def avgpool2d(ctx: KernelContext, op: Operation, x: Any) -> np.ndarray:
    """ONNX ``AveragePool`` on the ``[T*B, C, H, W]`` view: the window sum (row-major order) divided by
    ``kh*kw`` (``count_include_pad=1``) or by the number of unpadded positions in the window."""
    (kh, kw), (sh, sw), pads = op.attrs["kernel"], op.attrs["strides"], op.attrs["pads"]
    a, lead = _spatial_view(x, ctx.dtype)
    windows = sliding_window_view(_pad_hw(a, pads), (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    total = windows[..., 0, 0].copy()
    for p in range(kh):
        for q in range(kw):
            if p or q:
                total += windows[..., p, q]
    if op.attrs["count_include_pad"] or not any(pads):
        total /= ctx.scalar(kh * kw)
    else:
        inside = _pad_hw(np.ones((1, 1, *a.shape[2:]), ctx.dtype), pads)
        counts = sliding_window_view(inside, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw].sum(axis=(-2, -1))
        total /= counts
    return total.reshape(*lead, *total.shape[1:])


# -------------------------------------------------------------------------------------------- shapes
def _reshape(x: Any, batch_axes: int, features: tuple[int, ...]) -> Any:
    if isinstance(x, SpikeTrain):
        return x.reshape_features(features)
    return x.reshape(*x.shape[:batch_axes], *features)


def flatten(ctx: KernelContext, op: Operation, x: Any) -> Any:
    """Features of each sample (and step) to one axis; the kind is kept."""
    return _reshape(x, 1 if op.result.type.kind is Kind.TENSOR else 2, op.result.type.features)


def reshape(ctx: KernelContext, op: Operation, x: Any) -> Any:
    """Features of each sample (and step) to ``shape``; the kind is kept."""
    return _reshape(x, 1 if op.result.type.kind is Kind.TENSOR else 2, tuple(op.attrs["shape"]))


def time_flatten(ctx: KernelContext, op: Operation, x: Any) -> np.ndarray:
    """``[T, B, *f] -> [B, T*prod(f)]``, step-major: element ``(t, i)`` goes to ``t*N + i``."""
    a = as_array(x, ctx.dtype if isinstance(x, SpikeTrain) else x.dtype)
    steps, batch, size = a.shape[0], a.shape[1], math.prod(a.shape[2:])
    return np.ascontiguousarray(a.reshape(steps, batch, size).transpose(1, 0, 2)).reshape(batch, steps * size)


# ------------------------------------------------------------------------------------------ decoders
def first_spike_decode(ctx: KernelContext, op: Operation, s: SpikeTrain) -> np.ndarray:
    """Score ``T - t_first`` (``t_first = T`` where a neuron never fires: score 0)."""
    return (ctx.time_steps - s.first_spike_times()).astype(ctx.dtype)


def last_step_decode(ctx: KernelContext, op: Operation, s: Any) -> np.ndarray:
    """Score ``S[T-1]``; on a potential trace ``V[T-1]``."""
    if not isinstance(s, SpikeTrain):
        return np.array(s[-1], ctx.dtype)
    if s.times is not None:
        return (s.times == ctx.time_steps - 1).astype(ctx.dtype)
    return s.dense()[-1].astype(ctx.dtype)


def spike_count_decode(ctx: KernelContext, op: Operation, s: Any) -> np.ndarray:
    """Score = spike count over all steps divided by T (float32 division); on a potential trace the mean,
    ``(((V[0] + V[1]) + V[2]) + ...) / T`` summed in step order in float32."""
    if not isinstance(s, SpikeTrain):
        total = np.array(s[0], ctx.dtype)
        for t in range(1, s.shape[0]):
            total += s[t]
        return total / ctx.scalar(ctx.time_steps)
    if s.times is not None:
        count = (s.times < ctx.time_steps).astype(ctx.dtype)
    else:
        count = s.dense().sum(axis=0, dtype=ctx.dtype)
    return count / ctx.scalar(ctx.time_steps)


def max_over_time_decode(ctx: KernelContext, op: Operation, v: np.ndarray) -> np.ndarray:
    """Score = ``max_t V[t]`` of a potential trace."""
    return np.max(np.asarray(v, ctx.dtype), axis=0)


#: A kernel: ``(ctx, op, *operand values) -> result value``.
Kernel = Callable[..., Any]

#: op name -> kernel; the reference executor's dispatch table (a plugin adds entries with
#: :func:`snnc.backends.reference.register_kernels`).
KERNELS: dict[str, Kernel] = {
    "snn.ttfs_encode": ttfs_encode,
    "snn.rate_encode": rate_encode,
    "snn.dense": dense,
    "snn.conv2d": conv2d,
    "snn.avgpool2d": avgpool2d,
    "snn.flatten": flatten,
    "snn.reshape": reshape,
    "snn.time_flatten": time_flatten,
    "snn.relpsp": relpsp,
    "snn.if": if_neuron,
    "snn.lif": lif,
    "snn.cuba_lif": cuba_lif,
    "snn.li": li,
    "snn.add": add,
    "snn.first_spike_decode": first_spike_decode,
    "snn.last_step_decode": last_step_decode,
    "snn.spike_count_decode": spike_count_decode,
    "snn.max_over_time_decode": max_over_time_decode,
}
