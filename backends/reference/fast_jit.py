"""The compiled loops of :mod:`snnc.backends.reference.fast` (numba, ``cache=True``).

Importing this module imports numba and defines the jitted functions; :mod:`.fast` imports it on first use
only, so that ``import snnc`` and ``import snnc.cli`` stay free of numba. Every loop performs the float32
operations of the NumPy kernel it replaces, in the same order, one element at a time (numba does not
contract ``a*b + c`` into a fused multiply-add without ``fastmath``, which is never set here), so its
results are bit-identical to that kernel's: tests/test_reference_fast.py checks them against the NumPy
kernels on random inputs. The synapses (``scatter_*``, ``conv_*``) visit only the non-zero inputs, in the
defined summation order (docs/architecture.md, "Summation order of the float synapses").
"""

from __future__ import annotations

import numpy as np

from snnc.jit import njit


@njit(cache=True, nogil=True)
def scatter_times(times: np.ndarray, wt: np.ndarray, time_steps: int) -> np.ndarray:  # pragma: no cover - jitted
    """``out[t, r] = 0 + the wt[i] of the inputs i with times[r, i] == t``, ``[T, rows, n]``, added in
    increasing ``i`` (the defined order, :func:`.kernels.dense`)."""
    rows, m = times.shape
    n = wt.shape[1]
    out = np.zeros((time_steps, rows, n), wt.dtype)
    for r in range(rows):
        for i in range(m):
            t = times[r, i]
            if t < time_steps:
                dst = out[t, r]
                src = wt[i]
                for j in range(n):
                    dst[j] += src[j]
    return out


#: Bytes of output rows a dense scatter keeps in cache while every input's weight row is added to them once.
SCATTER_BLOCK_BYTES = 2**17


@njit(cache=True, nogil=True)
def scatter_dense(spikes: np.ndarray, wt: np.ndarray) -> np.ndarray:  # pragma: no cover - jitted
    """The same for a bool train ``[T, rows, m]``: ``out[t, r] = 0 + the wt[i] where spikes[t, r, i]``, in
    increasing ``i``. Input-major over blocks of output rows (:data:`SCATTER_BLOCK_BYTES`): a dense train
    (rate coding lights ~40 % of the inputs at every step) then reads each weight row once per block, not once
    per ``(t, r)`` and spike."""
    time_steps, rows, m = spikes.shape
    n = wt.shape[1]
    size = time_steps * rows
    by_input = np.ascontiguousarray(spikes.reshape(size, m).T)
    out = np.zeros((size, n), wt.dtype)
    block = max(1, SCATTER_BLOCK_BYTES // max(1, n * wt.itemsize))
    for k0 in range(0, size, block):
        k1 = min(size, k0 + block)
        for i in range(m):
            src = wt[i]
            fired = by_input[i]
            for k in range(k0, k1):
                if fired[k]:
                    dst = out[k]
                    for j in range(n):
                        dst[j] += src[j]
    return out.reshape(time_steps, rows, n)


@njit(cache=True, nogil=True)
def scatter_values(a: np.ndarray, wt: np.ndarray) -> np.ndarray:  # pragma: no cover - jitted
    """A sparse current ``a [rows, m]``: ``out[r] = 0 + the a[r, i] * wt[i] of the non-zero a[r, i]``, in
    increasing ``i`` (the order of ``kernels._scatter_rows``; a zero input's term would add 0)."""
    rows, m = a.shape
    n = wt.shape[1]
    out = np.zeros((rows, n), wt.dtype)
    for r in range(rows):
        dst = out[r]
        for i in range(m):
            value = a[r, i]
            if value != 0:
                src = wt[i]
                if value == 1:
                    for j in range(n):
                        dst[j] += src[j]
                else:
                    for j in range(n):
                        dst[j] += value * src[j]
    return out


@njit(cache=True, nogil=True)
def relpsp_times(current: np.ndarray, theta: np.float32, out: np.ndarray) -> None:  # pragma: no cover - jitted
    """ReL-PSP on ``current [T, N]`` (float32), state zero before step 0: ``V += K`` then ``K += I[t]``;
    ``out[j]`` gets the first step with ``V >= theta`` (``T``: none)."""
    first = np.full(current.shape[1], current.shape[0], np.int32)
    _relpsp_into(current, theta, first)
    for j in range(first.shape[0]):
        out[j] = first[j]


@njit(cache=True, nogil=True)
def leaky_loop(current: np.ndarray, theta: np.ndarray, beta: np.ndarray, alpha: np.ndarray, subtract: bool,
               delayed: bool, leak: bool, synaptic: bool) -> np.ndarray:  # pragma: no cover - jitted
    """IF / LIF / CubaLIF without recurrence on ``current [T, N]`` (float32; ``theta``, ``beta``, ``alpha``
    ``[N]``) -> bool ``[T, N]``. Per element, in the order of ``kernels.leaky_dynamics``: ``J = alpha*J + I``
    (synaptic); reset first: ``V = V - theta`` / ``0`` where
    ``S[t-1]``, then ``V = beta*V + drive`` (``leak``) or ``V + drive``; delayed: the update, then the reset;
    ``S[t] = V >= theta``."""
    time_steps, size = current.shape
    out = np.zeros((time_steps, size), np.bool_)
    v = np.zeros(size, current.dtype)
    jsyn = np.zeros(size, current.dtype)
    zero = np.float32(0)
    for t in range(time_steps):
        row = current[t]
        for i in range(size):
            drive = row[i]
            if synaptic:
                jsyn[i] = alpha[i] * jsyn[i] + drive
                drive = jsyn[i]
            fired = t > 0 and out[t - 1, i]
            x = v[i]
            if not delayed:
                if fired:
                    x = x - theta[i] if subtract else zero
                x = (beta[i] * x if leak else x) + drive
            else:
                x = (beta[i] * x if leak else x) + drive
                if fired:
                    x = x - theta[i] if subtract else zero
            v[i] = x
            out[t, i] = x >= theta[i]
    return out


@njit(cache=True, nogil=True)
def rate_loop(drive: np.ndarray, theta: np.float32, time_steps: int) -> np.ndarray:  # pragma: no cover - jitted
    """The rate encoder: IF (reset by subtraction) fed ``drive [N]`` at every step -> bool ``[T, N]``."""
    size = drive.shape[0]
    out = np.zeros((time_steps, size), np.bool_)
    v = np.zeros(size, drive.dtype)
    for t in range(time_steps):
        for i in range(size):
            x = v[i]
            if t > 0 and out[t - 1, i]:
                x = x - theta
            x = x + drive[i]
            v[i] = x
            out[t, i] = x >= theta
    return out


@njit(cache=True, nogil=True)
def pool_counts_times(times: np.ndarray, time_steps: int, kh: int, kw: int, sh: int, sw: int, top: int, left: int,
                      ho: int, wo: int) -> np.ndarray:  # pragma: no cover - jitted
    """Spikes per pooling window: ``times [N, C, H, W]`` (first-spike times, ``T`` none) ->
    float32 ``[T, N, C, Ho, Wo]`` counts (exact small integers)."""
    n_, c_, h_, w_ = times.shape
    out = np.zeros((time_steps, n_, c_, ho, wo), np.float32)
    for n in range(n_):
        for c in range(c_):
            for y in range(h_):
                for x in range(w_):
                    t = times[n, c, y, x]
                    if t >= time_steps:
                        continue
                    py = y + top
                    px = x + left
                    for oy in range(ho):
                        if py < oy * sh or py >= oy * sh + kh:
                            continue
                        for ox in range(wo):
                            if px >= ox * sw and px < ox * sw + kw:
                                out[t, n, c, oy, ox] += 1.0
    return out


@njit(cache=True, nogil=True)
def _conv_add(out: np.ndarray, n: int, value: np.float32, c: int, y: int, x: int, wt: np.ndarray, o0: int, sh: int,
              sw: int, dh: int, dw: int, top: int, left: int) -> None:  # pragma: no cover - jitted
    """Add input ``value`` at ``(n, c, y, x)`` times its weights ``wt[c] [kh, kw, Cg_out]`` to every output position
    it reaches, channels ``o0 .. o0 + Cg_out - 1`` (its group's)."""
    kh, kw, co = wt.shape[1], wt.shape[2], wt.shape[3]
    ho, wo = out.shape[1], out.shape[2]
    py = y + top
    px = x + left
    for p in range(kh):
        ry = py - p * dh
        if ry < 0 or ry % sh != 0:
            continue
        i = ry // sh
        if i >= ho:
            continue
        for q in range(kw):
            rx = px - q * dw
            if rx < 0 or rx % sw != 0:
                continue
            j = rx // sw
            if j >= wo:
                continue
            dst = out[n, i, j, o0:o0 + co]
            src = wt[c, p, q]
            if value == 1.0:
                for o in range(co):
                    dst[o] += src[o]
            else:
                for o in range(co):
                    dst[o] += value * src[o]


@njit(cache=True, nogil=True)
def conv_events_dense(a: np.ndarray, wt: np.ndarray, groups: int, sh: int, sw: int, dh: int, dw: int, top: int,
                      left: int, ho: int, wo: int) -> np.ndarray:  # pragma: no cover - jitted
    """Event-driven convolution of ``a [N, C, H, W]``: each non-zero input adds its weighted kernel
    ``wt [C, kh, kw, Co/groups]`` to the outputs of its group it reaches -> ``[N, Ho, Wo, Co]``. Inputs are
    visited in ``(c, y, x)`` order, so each output is summed in ``(c, p, q)`` order (the defined order)."""
    n_, c_, h_, w_ = a.shape
    per_group = wt.shape[3]
    cg = c_ // groups
    out = np.zeros((n_, ho, wo, groups * per_group), np.float32)
    for n in range(n_):
        for c in range(c_):
            o0 = (c // cg) * per_group
            for y in range(h_):
                for x in range(w_):
                    value = a[n, c, y, x]
                    if value != 0:
                        _conv_add(out, n, value, c, y, x, wt, o0, sh, sw, dh, dw, top, left)
    return out


@njit(cache=True, nogil=True)
def conv_events_times(times: np.ndarray, time_steps: int, wt: np.ndarray, groups: int, sh: int, sw: int, dh: int,
                      dw: int, top: int, left: int, ho: int, wo: int) -> np.ndarray:  # pragma: no cover - jitted
    """The same on a single-spike train given by first-spike times ``[B, C, H, W]`` -> ``[T*B, Ho, Wo, Co]``."""
    b_, c_, h_, w_ = times.shape
    per_group = wt.shape[3]
    cg = c_ // groups
    out = np.zeros((time_steps * b_, ho, wo, groups * per_group), np.float32)
    one = np.float32(1.0)
    for b in range(b_):
        for c in range(c_):
            o0 = (c // cg) * per_group
            for y in range(h_):
                for x in range(w_):
                    t = times[b, c, y, x]
                    if t < time_steps:
                        _conv_add(out, t * b_ + b, one, c, y, x, wt, o0, sh, sw, dh, dw, top, left)
    return out


@njit(cache=True, nogil=True)
def _relpsp_into(current: np.ndarray, theta: np.float32, first: np.ndarray) -> None:  # pragma: no cover - jitted
    """ReL-PSP on ``current [T, M]`` into ``first [M]`` (int32, preset to ``T``): the least ``t`` with
    ``V[t] >= theta``, kept by a branch-free ``min`` so that the loop vectorizes."""
    time_steps, size = current.shape
    k = np.zeros(size, current.dtype)
    v = np.zeros(size, current.dtype)
    for t in range(time_steps):
        row = current[t]
        for j in range(size):
            vj = v[j] + k[j]
            v[j] = vj
            k[j] += row[j]
            first[j] = min(first[j], t if vj >= theta else time_steps)


@njit(cache=True, nogil=True)
def conv_relpsp(times: np.ndarray, a: np.ndarray, batch: int, time_steps: int, wt: np.ndarray, groups: int,
                bias: np.ndarray, theta: np.float32, sh: int, sw: int, dh: int, dw: int, top: int, left: int, ho: int,
                wo: int) -> np.ndarray:  # pragma: no cover - jitted
    """:func:`conv_events_times` (``times [B, C, H, W]``, when it has rows) or :func:`conv_events_dense`
    (``a [T*B, C, H, W]``) followed by ReL-PSP, one sample at a time, so that the current ``[T, Ho, Wo, Co]``
    of one sample lives in a reused buffer; the same float32 operations as the two kernels in sequence.
    Returns the first-spike times ``[B, Ho, Wo, Co]`` (int32, ``T``: none)."""
    per_group = wt.shape[3]
    co = groups * per_group
    size = ho * wo * co
    scratch = np.empty((time_steps, ho, wo, co), np.float32)
    flat = scratch.reshape(time_steps, size)
    out = np.empty((batch, size), np.int32)
    one = np.float32(1.0)
    for b in range(batch):
        scratch[:] = 0
        if times.shape[0]:
            c_, h_, w_ = times.shape[1], times.shape[2], times.shape[3]
            for c in range(c_):
                o0 = (c // (c_ // groups)) * per_group
                for y in range(h_):
                    for x in range(w_):
                        t = times[b, c, y, x]
                        if t < time_steps:
                            _conv_add(scratch, t, one, c, y, x, wt, o0, sh, sw, dh, dw, top, left)
        else:
            c_, h_, w_ = a.shape[1], a.shape[2], a.shape[3]
            for t in range(time_steps):
                n = t * batch + b
                for c in range(c_):
                    o0 = (c // (c_ // groups)) * per_group
                    for y in range(h_):
                        for x in range(w_):
                            value = a[n, c, y, x]
                            if value != 0:
                                _conv_add(scratch, t, value, c, y, x, wt, o0, sh, sw, dh, dw, top, left)
        if bias.shape[0]:
            for t in range(time_steps):
                for i in range(ho):
                    for j in range(wo):
                        for o in range(co):
                            scratch[t, i, j, o] += bias[o]
        first = out[b]
        first[:] = time_steps
        _relpsp_into(flat, theta, first)
    return out
