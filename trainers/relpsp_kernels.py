"""Fused, event-driven CPU kernels of the dense ReL-PSP layer (numba; issue 17 item 1).

The layer of :mod:`snnc.trainers.relpsp_torch` computes, for every sample ``b`` and output neuron ``j``, the
first step at which ``V[t] = sum_i w_ij max(0, t - s_bi)`` reaches ``theta``, and its backward (eqs. 13, 14 of
the STDBP paper). The tensor formulation builds ``[B, n, T]`` synaptic inputs and scans them with two
``cumsum`` s and gathers; these kernels walk each sample's input spikes in time order instead, keeping one
slope ``K`` and one potential ``V`` per output neuron, and stop a sample as soon as all its neurons fired:

* forward: ``O(nnz * n + B * T' * n)`` adds with ``T'`` the step at which the sample's last neuron fires,
  nothing bigger than ``[n]`` allocated per sample;
* backward: one pass over the input spikes, ``O(nnz * n)``: for spike ``(b, i, s)`` and every neuron ``j`` it
  is causal for (``s < step_bj``), ``dW^T[i, j] += G_bj (s - t*_bj)`` and ``dL/ds_bi += G_bj w_ij``.

The forward reproduces the tensor formulation bit for bit: the synaptic input of a step is summed in the
order of the input index (as ``embedding_bag`` does), and ``K`` and ``V`` are accumulated in float64 and
rounded to the layer's dtype after every step, exactly as torch's CPU ``cumsum`` does (it accumulates in
double). So the spike steps, the slopes and the real times agree with :func:`first_crossing` exactly, and
the gradients agree to float rounding (their sums run in another order).

This module imports numba at import time; :mod:`snnc.trainers.relpsp_torch` imports it only on the first
call of a fused layer, so neither ``import snnc`` nor ``import snnc.cli`` pays for numba.
"""

from __future__ import annotations

import numpy as np

from snnc.jit import njit, prange

#: Samples are split into this many chunks, run in parallel (``prange``) on numba's threads (as many as torch's,
#: :func:`match_threads`). A fixed count, not the thread count: the weight gradient is summed per chunk and then
#: chunk by chunk in order, so a run gives the same values on any number of threads.
CHUNKS = 8

__all__ = ["CHUNKS", "conv_backward", "conv_forward", "dense_backward", "dense_forward", "match_threads",
           "sort_spikes"]


def match_threads(threads: int) -> None:
    """Run the kernels on ``threads`` numba threads (at most numba's pool size): the trainer's ``--threads``."""
    import numba

    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


@njit(cache=True, parallel=False)
def sort_spikes(steps: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each sample's input spikes in time order (counting sort; inputs ascending within a step).

    Args:
        steps: int32 ``[B, m]`` spike steps, ``>= T`` for "no spike".
        T: the number of steps.

    Returns:
        ``(ptr, idx, stp)``: the spikes of sample ``b`` are ``idx[ptr[b]:ptr[b+1]]`` (input indices) at steps
        ``stp[ptr[b]:ptr[b+1]]`` (non-decreasing).
    """
    B, m = steps.shape
    ptr = np.zeros(B + 1, np.int64)
    for b in range(B):
        c = 0
        for i in range(m):
            if 0 <= steps[b, i] < T:
                c += 1
        ptr[b + 1] = ptr[b] + c
    nnz = ptr[B]
    idx = np.empty(nnz, np.int32)
    stp = np.empty(nnz, np.int32)
    count = np.zeros(T + 1, np.int64)
    for b in range(B):
        count[:] = 0
        for i in range(m):
            s = steps[b, i]
            if 0 <= s < T:
                count[s + 1] += 1
        for t in range(T):
            count[t + 1] += count[t]
        base = ptr[b]
        for i in range(m):
            s = steps[b, i]
            if 0 <= s < T:
                q = base + count[s]
                idx[q] = i
                stp[q] = s
                count[s] += 1
    return ptr, idx, stp


@njit(cache=True, parallel=False, inline="always")
def _advance(v: np.ndarray, kf: np.ndarray, vf: np.ndarray, armed: np.ndarray) -> bool:
    """One step of ``V[t + 1] = V[t] + K[t]`` (float64, rounded to the layer's dtype into ``vf``); whether a
    neuron still armed (``armed`` = its threshold; +inf once fired) reached it. Branch-free: it vectorises."""
    hits = 0
    for j in range(v.shape[0]):
        v[j] += kf[j]
        x = vf.dtype.type(v[j])
        vf[j] = x
        hits += 1 if x >= armed[j] else 0
    return hits > 0


@njit(cache=True, parallel=False, inline="always")
def _fire(b: int, t: int, vf: np.ndarray, kf: np.ndarray, armed: np.ndarray, thr: float, step: np.ndarray,
          t_real: np.ndarray, slope: np.ndarray) -> int:
    """Record the neurons that crossed at ``V[t + 1]``: step ``t + 1``, slope, real time (eq. 11); disarm them.
    Returns how many fired."""
    st = vf.dtype.type(t + 1)
    fired = 0
    for j in range(vf.shape[0]):
        if vf[j] >= armed[j]:
            armed[j] = np.inf
            fired += 1
            step[b, j] = st
            slope[b, j] = kf[j]
            t_real[b, j] = st - (vf[j] - thr) / kf[j]
    return fired


@njit(cache=True, parallel=False, inline="always")
def _start_sample(b: int, T: int, thr: float, k: np.ndarray, v: np.ndarray, kf: np.ndarray, armed: np.ndarray,
                  step: np.ndarray, t_real: np.ndarray, slope: np.ndarray) -> None:
    """Reset the forward state for sample ``b``: no current, no potential, every neuron armed at the
    threshold; its outputs those of a neuron that does not fire (step and real time ``T``, slope 1)."""
    k[:] = 0.0
    v[:] = 0.0
    kf[:] = 0
    armed[:] = thr
    for j in range(step.shape[1]):
        step[b, j] = T
        t_real[b, j] = T
        slope[b, j] = 1


@njit(cache=True, parallel=False, inline="always")
def _add_current(k: np.ndarray, kf: np.ndarray, cur: np.ndarray) -> None:
    """``K[t] = K[t - 1] + cur`` (float64), rounded into ``kf`` like torch's cumsum output."""
    for j in range(k.shape[0]):
        k[j] += cur[j]
        kf[j] = kf.dtype.type(k[j])


@njit(cache=True, parallel=True)
def dense_forward(ptr: np.ndarray, idx: np.ndarray, stp: np.ndarray, w_t: np.ndarray, theta: float, T: int,
                  step: np.ndarray, t_real: np.ndarray, slope: np.ndarray) -> None:
    """:func:`_dense_forward_range` on every sample, the :data:`CHUNKS` chunks of samples in parallel."""
    B = step.shape[0]
    chunks = max(1, min(CHUNKS, B))
    for c in prange(chunks):
        _dense_forward_range(c * B // chunks, (c + 1) * B // chunks, ptr, idx, stp, w_t, theta, T, step, t_real,
                             slope)


@njit(cache=True)
def _dense_forward_range(b0: int, b1: int, ptr: np.ndarray, idx: np.ndarray, stp: np.ndarray, w_t: np.ndarray,
                         theta: float, T: int, step: np.ndarray, t_real: np.ndarray, slope: np.ndarray) -> None:
    """First threshold crossing of every neuron of samples ``b0 .. b1-1``, written into ``step``, ``t_real``,
    ``slope`` (``[B, n]``).

    Args:
        ptr, idx, stp: the input spikes from :func:`sort_spikes`.
        w_t: the transposed weight ``[m, n]`` (row ``i``: input ``i``'s weights to every neuron).
        theta: the threshold.
        T: the number of steps.
        step, t_real, slope: outputs, same dtype as ``w_t``; see :func:`snnc.trainers.relpsp_torch.first_crossing`
            (``step`` and ``t_real`` are ``T`` and ``slope`` 1 for a neuron that does not fire).
    """
    n = step.shape[1]
    dt = w_t.dtype.type
    thr = dt(theta)
    k = np.zeros(n, np.float64)
    v = np.zeros(n, np.float64)
    kf = np.zeros(n, w_t.dtype)
    vf = np.zeros(n, w_t.dtype)
    cur = np.zeros(n, w_t.dtype)
    armed = np.empty(n, w_t.dtype)  # a neuron's threshold until it fires, then +inf
    for b in range(b0, b1):
        _start_sample(b, T, thr, k, v, kf, armed, step, t_real, slope)
        left = n
        p = ptr[b]
        end = ptr[b + 1]
        for t in range(T):
            if left == 0:
                break
            if p < end and stp[p] == t:  # this step's synaptic input, summed in input order
                cur[:] = 0
                while p < end and stp[p] == t:
                    row = w_t[idx[p]]
                    for j in range(n):
                        cur[j] += row[j]
                    p += 1
                _add_current(k, kf, cur)
            if _advance(v, kf, vf, armed):
                left -= _fire(b, t, vf, kf, armed, thr, step, t_real, slope)


@njit(cache=True, parallel=True)
def dense_backward(ptr: np.ndarray, idx: np.ndarray, stp: np.ndarray, w_t: np.ndarray, step: np.ndarray,
                   G: np.ndarray, GT: np.ndarray, need_w: bool, need_in: bool, grad_w_t: np.ndarray,
                   grad_in: np.ndarray) -> None:
    """:func:`_dense_backward_range` on the :data:`CHUNKS` chunks of samples in parallel, each into its own weight
    gradient, then added to ``grad_w_t`` chunk by chunk in order (so the sum does not depend on the threads)."""
    B = step.shape[0]
    chunks = max(1, min(CHUNKS, B))
    partial = np.zeros((chunks, *grad_w_t.shape) if need_w else (chunks, 1, 1), grad_w_t.dtype)
    for c in prange(chunks):
        _dense_backward_range(c * B // chunks, (c + 1) * B // chunks, ptr, idx, stp, w_t, step, G, GT, need_w,
                              need_in, partial[c], grad_in)
    if need_w:
        for c in range(chunks):
            grad_w_t += partial[c]


@njit(cache=True, fastmath={"reassoc", "contract", "nsz"})
def _dense_backward_range(b0: int, b1: int, ptr: np.ndarray, idx: np.ndarray, stp: np.ndarray, w_t: np.ndarray,
                          step: np.ndarray, G: np.ndarray, GT: np.ndarray, need_w: bool, need_in: bool,
                          grad_w_t: np.ndarray, grad_in: np.ndarray) -> None:
    """Accumulate eqs. 13 and 14 over the input spikes of samples ``b0 .. b1-1``.

    The spikes of one sample at one step share their causal sets, so the masked ``G`` (for ``dL/ds``) and
    ``G (s - t*)`` (for ``dL/dW``) are built once per step that has spikes and added along each spike's row.

    Args:
        ptr, idx, stp: the input spikes from :func:`sort_spikes`.
        w_t: the transposed weight ``[m, n]``.
        step: the output spike steps ``[B, n]`` (``>= T`` for silent neurons).
        G: ``dL/dt_j / sum_C w`` ``[B, n]`` (0 for silent neurons); ``GT``: ``G * t_real``.
        need_w, need_in: which gradients to compute.
        grad_w_t: ``[m, n]`` zeros, receives ``dL/dW^T``; ``grad_in``: ``[B, m]`` zeros, receives ``dL/ds``.
    """
    n = step.shape[1]
    dt = w_t.dtype.type
    c = np.empty(n, w_t.dtype)  # G_bj [s < step_bj]
    d = np.empty(n, w_t.dtype)  # G_bj (s - t*_bj) [s < step_bj]
    for b in range(b0, b1):
        p = ptr[b]
        end = ptr[b + 1]
        while p < end:
            s = stp[p]
            sf = dt(s)
            for j in range(n):  # the neurons a spike at step s is causal for
                causal = sf < step[b, j]
                c[j] = G[b, j] if causal else 0
                d[j] = (G[b, j] * sf - GT[b, j]) if causal else 0
            while p < end and stp[p] == s:
                i = idx[p]
                if need_w:
                    row = grad_w_t[i]
                    for j in range(n):
                        row[j] += d[j]
                if need_in:
                    wrow = w_t[i]
                    acc = 0.0
                    for j in range(n):
                        acc += c[j] * wrow[j]
                    grad_in[b, i] = acc
                p += 1


# -------------------------------------------------------------------------------- conv synapse ([pool] conv)
@njit(cache=True, parallel=False, inline="always")
def _conv_origin(i: int, geo: np.ndarray) -> tuple[int, int, int, int, int, int, int]:
    """Where flat input ``i`` of ``[AvgPool k] -> Conv`` reaches: ``(ci, py + pad, px + pad, ky0, ky1, kx0,
    kx1)``, its channel, padded pooled position and the kernel rows/columns ``[k0, k1)`` that land inside
    the output (an empty range for the rows/columns the floor-mode pooling drops). Output ``(co, oy, ox)``
    with ``oy = py + pad - ky``, ``ox = px + pad - kx`` gets ``w[co, ci, ky, kx]``: one entry per output.
    ``geo`` = ``(C_in, H, W, k, C_out, H_out, W_out, K, pad)`` (``H, W`` before pooling; ``k`` 1: none)."""
    h, w, k, ho, wo, kk, pad = geo[1], geo[2], geo[3], geo[5], geo[6], geo[7], geo[8]
    ci = i // (h * w)
    rem = i - ci * h * w
    py = (rem // w) // k
    px = (rem % w) // k
    if py >= h // k or px >= w // k:
        return ci, 0, 0, 0, 0, 0, 0
    ry, rx = py + pad, px + pad
    return ci, ry, rx, max(0, ry - ho + 1), min(kk, ry + 1), max(0, rx - wo + 1), min(kk, rx + 1)


@njit(cache=True, parallel=True)
def conv_forward(ptr: np.ndarray, idx: np.ndarray, stp: np.ndarray, geo: np.ndarray, wd: np.ndarray, theta: float,
                 T: int, step: np.ndarray, t_real: np.ndarray, slope: np.ndarray) -> None:
    """:func:`_conv_forward_range` on every sample, the :data:`CHUNKS` chunks of samples in parallel."""
    B = step.shape[0]
    chunks = max(1, min(CHUNKS, B))
    for c in prange(chunks):
        _conv_forward_range(c * B // chunks, (c + 1) * B // chunks, ptr, idx, stp, geo, wd, theta, T, step, t_real,
                            slope)


@njit(cache=True)
def _conv_forward_range(b0: int, b1: int, ptr: np.ndarray, idx: np.ndarray, stp: np.ndarray, geo: np.ndarray,
                        wd: np.ndarray, theta: float, T: int, step: np.ndarray, t_real: np.ndarray,
                        slope: np.ndarray) -> None:
    """:func:`dense_forward` (samples ``b0 .. b1-1``) for an ``[AvgPool k] -> Conv`` synapse, event-driven: each
    input spike adds its ``C_out * K * K`` kernel taps (fewer at the borders), never a row of the synapse matrix.

    Channels last, so that the innermost loop runs over contiguous output channels: ``wd`` is the kernel
    ``[C_in, K, K, C_out]`` (flat) divided by the pooling area ``k * k`` (the matrix entries of the tensor
    formulation, same rounding), and ``step``, ``t_real``, ``slope`` are ``[B, H_out * W_out * C_out]``
    (``(oy, ox, co)`` order). Each output receives one term per input spike, in input order as in the
    tensor formulation, so the results equal :func:`dense_forward` on the synapse matrix bit for bit.
    ``geo``: see :func:`_conv_origin`.
    """
    n = step.shape[1]
    dt = wd.dtype.type
    thr = dt(theta)
    k = np.zeros(n, np.float64)
    v = np.zeros(n, np.float64)
    kf = np.zeros(n, wd.dtype)
    vf = np.zeros(n, wd.dtype)
    cur = np.zeros(n, wd.dtype)
    armed = np.empty(n, wd.dtype)
    co_n, wo, kk = geo[4], geo[6], geo[7]
    for b in range(b0, b1):
        _start_sample(b, T, thr, k, v, kf, armed, step, t_real, slope)
        left = n
        p = ptr[b]
        end = ptr[b + 1]
        for t in range(T):
            if left == 0:
                break
            if p < end and stp[p] == t:
                cur[:] = 0
                while p < end and stp[p] == t:
                    ci, ry, rx, ky0, ky1, kx0, kx1 = _conv_origin(idx[p], geo)
                    for ky in range(ky0, ky1):
                        for kx in range(kx0, kx1):
                            oj = ((ry - ky) * wo + rx - kx) * co_n  # outputs (ry - ky, rx - kx, :)
                            ow = ((ci * kk + ky) * kk + kx) * co_n  # weights (ci, ky, kx, :)
                            # views indexed from 0: numba's negative-index wraparound vanishes and the
                            # contiguous channel loop vectorises
                            out = cur[oj:oj + co_n]
                            wrow = wd[ow:ow + co_n]
                            for co in range(co_n):
                                out[co] += wrow[co]
                    p += 1
                _add_current(k, kf, cur)
            if _advance(v, kf, vf, armed):
                left -= _fire(b, t, vf, kf, armed, thr, step, t_real, slope)


@njit(cache=True, parallel=True)
def conv_backward(ptr: np.ndarray, idx: np.ndarray, stp: np.ndarray, geo: np.ndarray, wd: np.ndarray,
                  step: np.ndarray, G: np.ndarray, GT: np.ndarray, need_w: bool, need_in: bool, grad_w: np.ndarray,
                  grad_in: np.ndarray) -> None:
    """:func:`_conv_backward_range` on the :data:`CHUNKS` chunks of samples in parallel (see
    :func:`dense_backward`)."""
    B = step.shape[0]
    chunks = max(1, min(CHUNKS, B))
    partial = np.zeros((chunks, grad_w.shape[0]) if need_w else (chunks, 1), grad_w.dtype)
    for c in prange(chunks):
        _conv_backward_range(c * B // chunks, (c + 1) * B // chunks, ptr, idx, stp, geo, wd, step, G, GT, need_w,
                             need_in, partial[c], grad_in)
    if need_w:
        for c in range(chunks):
            grad_w += partial[c]


@njit(cache=True, fastmath={"reassoc", "contract", "nsz"})
def _conv_backward_range(b0: int, b1: int, ptr: np.ndarray, idx: np.ndarray, stp: np.ndarray, geo: np.ndarray,
                         wd: np.ndarray, step: np.ndarray, G: np.ndarray, GT: np.ndarray, need_w: bool,
                         need_in: bool, grad_w: np.ndarray, grad_in: np.ndarray) -> None:
    """:func:`dense_backward` (samples ``b0 .. b1-1``) for the conv synapse of :func:`conv_forward` (channels
    last, as there): the weight gradient accumulates on the flat kernel ``grad_w`` (zeros, ``[C_in, K, K,
    C_out]``), divided by ``k * k``. Sums may be reassociated (fastmath ``reassoc``) so that the ``dL/ds`` dot
    products vectorise."""
    n = step.shape[1]
    dt = wd.dtype.type
    inv_area = dt(1.0) / dt(geo[3] * geo[3])
    c = np.empty(n, wd.dtype)
    d = np.empty(n, wd.dtype)
    co_n, wo, kk = geo[4], geo[6], geo[7]
    for b in range(b0, b1):
        p = ptr[b]
        end = ptr[b + 1]
        while p < end:
            s = stp[p]
            sf = dt(s)
            for j in range(n):
                causal = sf < step[b, j]
                c[j] = G[b, j] if causal else 0
                d[j] = (G[b, j] * sf - GT[b, j]) * inv_area if causal else 0
            while p < end and stp[p] == s:
                i = idx[p]
                ci, ry, rx, ky0, ky1, kx0, kx1 = _conv_origin(i, geo)
                acc = dt(0.0)
                for ky in range(ky0, ky1):
                    for kx in range(kx0, kx1):
                        oj = ((ry - ky) * wo + rx - kx) * co_n
                        ow = ((ci * kk + ky) * kk + kx) * co_n
                        if need_w:
                            gw = grad_w[ow:ow + co_n]
                            dd = d[oj:oj + co_n]
                            for co in range(co_n):
                                gw[co] += dd[co]
                        if need_in:
                            cc = c[oj:oj + co_n]
                            wrow = wd[ow:ow + co_n]
                            for co in range(co_n):
                                acc += cc[co] * wrow[co]
                if need_in:
                    grad_in[b, i] = acc
                p += 1
