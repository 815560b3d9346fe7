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
from numba import njit

__all__ = ["dense_backward", "dense_forward", "sort_spikes"]


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


@njit(cache=True, parallel=False)
def dense_forward(ptr: np.ndarray, idx: np.ndarray, stp: np.ndarray, w_t: np.ndarray, theta: float, T: int,
                  step: np.ndarray, t_real: np.ndarray, slope: np.ndarray) -> None:
    """First threshold crossing of every neuron, written into ``step``, ``t_real``, ``slope`` (``[B, n]``).

    Args:
        ptr, idx, stp: the input spikes from :func:`sort_spikes`.
        w_t: the transposed weight ``[m, n]`` (row ``i``: input ``i``'s weights to every neuron).
        theta: the threshold.
        T: the number of steps.
        step, t_real, slope: outputs, same dtype as ``w_t``; see :func:`snnc.trainers.relpsp_torch.first_crossing`
            (``step`` and ``t_real`` are ``T`` and ``slope`` 1 for a neuron that does not fire).
    """
    B, n = step.shape
    dt = w_t.dtype.type
    thr = dt(theta)
    k = np.zeros(n, np.float64)
    v = np.zeros(n, np.float64)
    kf = np.zeros(n, w_t.dtype)
    vf = np.zeros(n, w_t.dtype)
    cur = np.zeros(n, w_t.dtype)
    done = np.zeros(n, np.bool_)
    for b in range(B):
        k[:] = 0.0
        v[:] = 0.0
        kf[:] = 0
        done[:] = False
        for j in range(n):
            step[b, j] = T
            t_real[b, j] = T
            slope[b, j] = 1
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
                for j in range(n):
                    k[j] += cur[j]
                    kf[j] = dt(k[j])  # K[t], rounded like torch's cumsum output
            hits = 0
            for j in range(n):  # branch-free, so that it vectorises
                v[j] += kf[j]
                vf[j] = dt(v[j])  # V[t + 1]
                hits += (vf[j] >= thr) & (not done[j])
            if hits:
                st = dt(t + 1)
                for j in range(n):
                    if vf[j] >= thr and not done[j]:
                        done[j] = True
                        left -= 1
                        step[b, j] = st
                        slope[b, j] = kf[j]
                        t_real[b, j] = st - (vf[j] - thr) / kf[j]


@njit(cache=True, parallel=False)
def dense_backward(ptr: np.ndarray, idx: np.ndarray, stp: np.ndarray, w_t: np.ndarray, step: np.ndarray,
                   G: np.ndarray, GT: np.ndarray, need_w: bool, need_in: bool, grad_w_t: np.ndarray,
                   grad_in: np.ndarray) -> None:
    """Accumulate eqs. 13 and 14 over the input spikes.

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
    B, n = step.shape
    dt = w_t.dtype.type
    c = np.empty(n, w_t.dtype)  # G_bj [s < step_bj]
    d = np.empty(n, w_t.dtype)  # G_bj (s - t*_bj) [s < step_bj]
    for b in range(B):
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
