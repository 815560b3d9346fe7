"""A direct NumPy transcription of SPEC section 2 (``/work/shared/SPEC.md``), for differential tests.

Each operator is a plain function over float32 arrays, time-major ``[T, B, *features]`` for spike
trains and currents, ``[B, *features]`` for encoder inputs and scores. Neurons loop over the steps
``t = 0 .. T-1`` exactly as the equations are written, with state zero before step 0. Nothing here is
shared with any executor or with the ONNX function bodies: it is written from the SPEC text alone.

Float32 throughout: every constant is a ``np.float32`` and every intermediate array is float32, so the
results are the SPEC's float32 results. Spike trains are float32 0/1 arrays.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32


def _clamp01(x: np.ndarray) -> np.ndarray:
    """SPEC 2: "values in [0, 1] (clamp outside)"."""
    return np.minimum(np.maximum(np.asarray(x, F32), F32(0)), F32(1))


# ------------------------------------------------------------------------------------------ encoders
def ttfs_encode(x: np.ndarray, time_steps: int, window: int | None = None) -> np.ndarray:
    """SPEC 2, ``snn.TTFSEncode``: "for ``x > 0`` exactly one spike at step
    ``s = floor((1 - x) * (window - 1) + 0.5)`` (computed in float32); for ``x <= 0`` no spike."
    ``window`` defaults to T.

    Args:
        x: ``[B, *f]``.
    Returns:
        spikes ``[T, B, *f]``.
    """
    window = time_steps if window is None else window
    x = np.asarray(x, F32)
    xc = _clamp01(x)
    s = np.floor((F32(1) - xc) * F32(window - 1) + F32(0.5)).astype(F32)
    out = np.zeros((time_steps, *x.shape), F32)
    for t in range(time_steps):
        out[t] = ((s == F32(t)) & (x > 0)).astype(F32)
    return out


def if_neuron(current: np.ndarray, threshold: np.ndarray | float, reset: str = "subtract") -> np.ndarray:
    """SPEC 2, ``snn.IF``: subtract ``V[t] = V[t-1] - theta * S[t-1] + I[t]``;
    zero ``V[t] = V[t-1] * (1 - S[t-1]) + I[t]``; ``S[t] = 1 if V[t] >= theta else 0``; state zero
    before step 0. Evaluated left to right: ``(V[t-1] - theta * S[t-1]) + I[t]``.

    Args:
        current: ``I`` ``[T, B, *f]``.
        threshold: theta, broadcastable to the features.
        reset: ``"subtract"`` or ``"zero"``.
    Returns:
        spikes ``[T, B, *f]``.
    """
    current = np.asarray(current, F32)
    theta = np.asarray(threshold, F32)
    v = np.zeros(current.shape[1:], F32)
    s = np.zeros(current.shape[1:], F32)
    out = np.zeros(current.shape, F32)
    for t in range(current.shape[0]):
        if reset == "subtract":
            v = v - theta * s + current[t]
        elif reset == "zero":
            v = v * (F32(1) - s) + current[t]
        else:
            raise ValueError(reset)
        s = (v >= theta).astype(F32)
        out[t] = s
    return out


def rate_encode(x: np.ndarray, time_steps: int, threshold: float = 0.5) -> np.ndarray:
    """SPEC 2, ``snn.RateEncode``: "an integrate-and-fire encoder fed ``x`` every step, reset by
    subtraction (same equations as ``snn.IF`` with ``I[t] = x``)", x clamped to [0, 1]."""
    xc = _clamp01(x)
    current = np.stack([xc] * time_steps)
    return if_neuron(current, F32(threshold), "subtract")


# ------------------------------------------------------------------------------------------ neurons
def relpsp(current: np.ndarray, threshold: float) -> np.ndarray:
    """SPEC 2, ``snn.ReLPSP``: "Slope ``K[t] = K[t-1] + I[t]``; potential ``V[t] = V[t-1] + K[t-1]``.
    Output ``S[t] = 1`` at the first step where ``V[t] >= theta``, and never again."

    Args:
        current: ``I`` ``[T, B, *f]``.
    Returns:
        spikes ``[T, B, *f]``.
    """
    current = np.asarray(current, F32)
    theta = F32(threshold)
    k = np.zeros(current.shape[1:], F32)
    v = np.zeros(current.shape[1:], F32)
    fired = np.zeros(current.shape[1:], bool)
    out = np.zeros(current.shape, F32)
    for t in range(current.shape[0]):
        k_prev = k
        k = k_prev + current[t]
        v = v + k_prev
        spike = (v >= theta) & ~fired
        fired |= spike
        out[t] = spike.astype(F32)
    return out


# ------------------------------------------------------------------------------------------ synapses
def dense(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """SPEC 2 synapses: "MatMul on the last axis, which broadcasts over ``[T, B]``, Add for a bias".
    ``weight`` is ``[n_out, n_in]``: ``y[..., j] = sum_i x[..., i] * weight[j, i] (+ bias[j])``."""
    x = np.asarray(x, F32)
    w = np.asarray(weight, F32)
    y = np.zeros((*x.shape[:-1], w.shape[0]), F32)
    for j in range(w.shape[0]):
        y[..., j] = (x * w[j]).sum(axis=-1, dtype=F32)
    if bias is not None:
        y = y + np.asarray(bias, F32)
    return y


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None, strides: tuple[int, int] = (1, 1),
           pads: tuple[int, int, int, int] = (0, 0, 0, 0), dilations: tuple[int, int] = (1, 1),
           group: int = 1) -> np.ndarray:
    """SPEC 2 synapses: ONNX Conv applied at every step (on the ``[T*B, C, H, W]`` view).

    ``out[n, o, i, j] = bias[o] + sum_{c, p, q} x_pad[n, g*Cg + c, i*sh + p*dh, j*sw + q*dw] * w[o, c, p, q]``
    with ``g = o // (Co / group)``; pads ``(top, left, bottom, right)``.

    Args:
        x: ``[T, B, C, H, W]`` (or any leading axes before ``C, H, W``).
    """
    x = np.asarray(x, F32)
    w = np.asarray(weight, F32)
    lead, (c, h, wd) = x.shape[:-3], x.shape[-3:]
    co, cg, kh, kw = w.shape
    (sh, sw), (pt, pl, pb, pr), (dh, dw) = strides, pads, dilations
    xp = np.zeros((*lead, c, h + pt + pb, wd + pl + pr), F32)
    xp[..., pt:pt + h, pl:pl + wd] = x
    ho = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    wo = (wd + pl + pr - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((*lead, co, ho, wo), F32)
    per_group = co // group
    for o in range(co):
        g = o // per_group
        for p in range(kh):
            for q in range(kw):
                rows = slice(p * dh, p * dh + (ho - 1) * sh + 1, sh)
                cols = slice(q * dw, q * dw + (wo - 1) * sw + 1, sw)
                patch = xp[..., g * cg:(g + 1) * cg, rows, cols]  # [*lead, cg, ho, wo]
                out[..., o, :, :] += np.tensordot(patch, w[o, :, p, q], axes=([-3], [0])).astype(F32)
        if bias is not None:
            out[..., o, :, :] += F32(bias[o])
    return out


def avgpool2d(x: np.ndarray, kernel: int | tuple[int, int], strides: int | tuple[int, int] | None = None,
              pads: tuple[int, int, int, int] = (0, 0, 0, 0), count_include_pad: int = 0) -> np.ndarray:
    """SPEC 2 synapses: ONNX AveragePool at every step: the window sum divided by the window size
    (``kh*kw`` with ``count_include_pad=1``, else the number of unpadded positions)."""
    x = np.asarray(x, F32)
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    strides = (kh, kw) if strides is None else strides
    sh, sw = (strides, strides) if isinstance(strides, int) else strides
    pt, pl, pb, pr = pads
    lead, (h, w) = x.shape[:-2], x.shape[-2:]
    xp = np.zeros((*lead, h + pt + pb, w + pl + pr), F32)
    xp[..., pt:pt + h, pl:pl + w] = x
    inside = np.zeros((h + pt + pb, w + pl + pr), F32)
    inside[pt:pt + h, pl:pl + w] = 1
    ho, wo = (h + pt + pb - kh) // sh + 1, (w + pl + pr - kw) // sw + 1
    out = np.zeros((*lead, ho, wo), F32)
    for i in range(ho):
        for j in range(wo):
            win = (slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw))
            total = xp[(..., *win)].sum(axis=(-2, -1), dtype=F32)
            count = F32(kh * kw) if count_include_pad else inside[win].sum(dtype=F32)
            out[..., i, j] = total / count
    return out


def flatten(x: np.ndarray) -> np.ndarray:
    """Flatten the features of each step and sample: ``[T, B, *f] -> [T, B, prod(f)]``."""
    return np.asarray(x, F32).reshape(*x.shape[:2], -1)


def time_flatten(x: np.ndarray) -> np.ndarray:
    """SPEC 2: the spatio-temporal decoder's input, ``[T, B, N] -> [B, T*N]`` (index ``t*N + i``)."""
    x = np.asarray(x, F32)
    t_steps, b = x.shape[:2]
    out = np.zeros((b, t_steps * int(np.prod(x.shape[2:]))), F32)
    n = out.shape[1] // t_steps
    for t in range(t_steps):
        out[:, t * n:(t + 1) * n] = x[t].reshape(b, n)
    return out


# ------------------------------------------------------------------------------------------ decoders
def first_spike_decode(spikes: np.ndarray) -> np.ndarray:
    """SPEC 2, ``snn.FirstSpikeDecode``: "score = ``T - t_first``, where ``t_first`` is the first spike
    step (``T`` if none)"."""
    spikes = np.asarray(spikes, F32)
    t_steps = spikes.shape[0]
    t_first = np.full(spikes.shape[1:], t_steps, np.int64)
    for t in reversed(range(t_steps)):
        t_first[spikes[t] != 0] = t
    return (t_steps - t_first).astype(F32)


def last_step_decode(spikes: np.ndarray) -> np.ndarray:
    """SPEC 2, ``snn.LastStepDecode``: "score = ``S[T-1]``"."""
    return np.asarray(spikes, F32)[-1].copy()


def spike_count_decode(spikes: np.ndarray) -> np.ndarray:
    """SPEC 2, ``snn.SpikeCountDecode``: "score = spike count over all steps divided by T"."""
    spikes = np.asarray(spikes, F32)
    count = np.zeros(spikes.shape[1:], F32)
    for t in range(spikes.shape[0]):
        count = count + spikes[t]
    return count / F32(spikes.shape[0])


def predict(scores: np.ndarray) -> np.ndarray:
    """SPEC 2: "the predicted class is always the argmax of the scores, ties to the lowest index"."""
    return np.argmax(scores, axis=-1)


# ------------------------------------------------------------------ leaky neurons, recurrence (issue 14)
def _recurrent_term(spikes_prev: np.ndarray, recurrent_weight: np.ndarray | None) -> np.ndarray | None:
    """SPEC 2, recurrence: ``S[t-1] @ recurrent_weight^T``, i.e. ``r[..., i] = sum_j S[..., j] * W[i, j]``
    (None without a recurrent weight)."""
    if recurrent_weight is None:
        return None
    w = np.asarray(recurrent_weight, F32)
    r = np.zeros((*spikes_prev.shape[:-1], w.shape[0]), F32)
    for i in range(w.shape[0]):
        r[..., i] = (spikes_prev * w[i]).sum(axis=-1, dtype=F32)
    return r


def _input_at(current: np.ndarray, t: int, s: np.ndarray, recurrent_weight: np.ndarray | None) -> np.ndarray:
    """SPEC 2: "``I[t]`` above is replaced by ``I[t] + S[t-1] @ recurrent_weight^T``"."""
    r = _recurrent_term(s, recurrent_weight)
    return current[t] if r is None else current[t] + r


def if_neuron_recurrent(current: np.ndarray, threshold: np.ndarray | float, reset: str = "subtract",
                        recurrent_weight: np.ndarray | None = None) -> np.ndarray:
    """SPEC 2, ``snn.IF`` with the optional ``recurrent_weight``: the IF equations with
    ``I[t] + S[t-1] @ W^T`` in place of ``I[t]``."""
    current = np.asarray(current, F32)
    theta = np.asarray(threshold, F32)
    v = np.zeros(current.shape[1:], F32)
    s = np.zeros(current.shape[1:], F32)
    out = np.zeros(current.shape, F32)
    for t in range(current.shape[0]):
        i_t = _input_at(current, t, s, recurrent_weight)
        if reset == "subtract":
            v = v - theta * s + i_t
        elif reset == "zero":
            v = v * (F32(1) - s) + i_t
        else:
            raise ValueError(reset)
        s = (v >= theta).astype(F32)
        out[t] = s
    return out


def _leaky_potential(v: np.ndarray, s: np.ndarray, drive: np.ndarray, theta: np.ndarray, beta: np.ndarray,
                     reset: str, delayed_reset: bool) -> np.ndarray:
    """SPEC 2, ``snn.LIF``'s potential update with input ``drive``.

    Reset first: ``Vr = V - theta * S`` (subtract) or ``V * (1 - S)`` (zero); ``V = beta * Vr + drive``.
    Delayed reset: subtract ``V = beta * V + drive - theta * S``; zero ``V = (beta * V + drive) * (1 - S)``.
    """
    if reset not in ("subtract", "zero"):
        raise ValueError(reset)
    if not delayed_reset:
        vr = v - theta * s if reset == "subtract" else v * (F32(1) - s)
        return beta * vr + drive
    if reset == "subtract":
        return beta * v + drive - theta * s
    return (beta * v + drive) * (F32(1) - s)


def lif(current: np.ndarray, threshold: np.ndarray | float, beta: np.ndarray | float, reset: str = "subtract",
        delayed_reset: bool = False, recurrent_weight: np.ndarray | None = None) -> np.ndarray:
    """SPEC 2, ``snn.LIF``: ``V[t] = beta * Vr[t-1] + I[t]``, ``S[t] = 1 if V[t] >= theta else 0``
    (reset orders: :func:`_leaky_potential`), state zero before step 0, optional recurrence.

    Returns:
        spikes ``[T, B, *f]``.
    """
    current = np.asarray(current, F32)
    theta, b = np.asarray(threshold, F32), np.asarray(beta, F32)
    v = np.zeros(current.shape[1:], F32)
    s = np.zeros(current.shape[1:], F32)
    out = np.zeros(current.shape, F32)
    for t in range(current.shape[0]):
        i_t = _input_at(current, t, s, recurrent_weight)
        v = _leaky_potential(v, s, i_t, theta, b, reset, delayed_reset)
        s = (v >= theta).astype(F32)
        out[t] = s
    return out


def cuba_lif(current: np.ndarray, threshold: np.ndarray | float, alpha: np.ndarray | float,
             beta: np.ndarray | float, reset: str = "subtract", delayed_reset: bool = False,
             recurrent_weight: np.ndarray | None = None) -> np.ndarray:
    """SPEC 2, ``snn.CubaLIF``: ``J[t] = alpha * J[t-1] + I[t]``, ``V[t] = beta * Vr[t-1] + J[t]``,
    "spikes and reset as ``snn.LIF``" (so ``delayed_reset`` too); the recurrent term joins ``I[t]``.

    Returns:
        spikes ``[T, B, *f]``.
    """
    current = np.asarray(current, F32)
    theta, a, b = np.asarray(threshold, F32), np.asarray(alpha, F32), np.asarray(beta, F32)
    j = np.zeros(current.shape[1:], F32)
    v = np.zeros(current.shape[1:], F32)
    s = np.zeros(current.shape[1:], F32)
    out = np.zeros(current.shape, F32)
    for t in range(current.shape[0]):
        i_t = _input_at(current, t, s, recurrent_weight)
        j = a * j + i_t
        v = _leaky_potential(v, s, j, theta, b, reset, delayed_reset)
        s = (v >= theta).astype(F32)
        out[t] = s
    return out


def li(current: np.ndarray, beta: np.ndarray | float) -> np.ndarray:
    """SPEC 2, ``snn.LI``: ``V[t] = beta * V[t-1] + I[t]``; the output is the potential trace.

    Returns:
        the trace ``[T, B, *f]`` (float32).
    """
    current = np.asarray(current, F32)
    b = np.asarray(beta, F32)
    v = np.zeros(current.shape[1:], F32)
    out = np.zeros(current.shape, F32)
    for t in range(current.shape[0]):
        v = b * v + current[t]
        out[t] = v
    return out


def max_over_time_decode(trace: np.ndarray) -> np.ndarray:
    """SPEC 2, ``snn.MaxOverTimeDecode``: "the maximum over steps" of a potential trace."""
    trace = np.asarray(trace, F32)
    best = trace[0].copy()
    for t in range(1, trace.shape[0]):
        best = np.maximum(best, trace[t])
    return best
