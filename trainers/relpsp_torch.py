"""ReL-PSP spiking layers for PyTorch, on the discrete time grid of the exported model.

Spike trains are carried as **spike steps**: a float tensor ``[B, *features]`` whose entries are the step
``0 .. T-1`` at which a neuron fires (each fires at most once), or ``T`` for "never fires". This is the
single-spike train of SPEC section 1 in compact form: ``S[t] = 1`` exactly at ``t = step``.

Neuron (SPEC ``snn.ReLPSP``, the ReL-PSP kernel of the STDBP paper, Zhang et al. 2021): slope
``K[t] = K[t-1] + I[t]``, potential ``V[t] = V[t-1] + K[t-1]``, both zero before step 0, so

    V[t] = sum_{u < t} K[u] = sum_i w_i * max(0, t - s_i)          (ReL-PSP: K(t - s) = t - s for t > s)

and the output step is the first ``t`` with ``V[t] >= theta`` (``T`` if none). Between integer steps the
continuous-time ReL-PSP potential is linear, so the discrete step is ``ceil`` of the paper's real spike time

    t* = (theta + sum_{i in C} w_i s_i) / sum_{i in C} w_i,      C = {i : s_i < step}   (paper eq. 11),

and ``sum_C w`` is the slope ``K[step - 1] > 0`` of the segment on which ``V`` crosses ``theta``.

Forward (exact w.r.t. the SPEC up to float summation order): the synaptic input ``A[b, t, j]`` (the weights
of the inputs firing at step ``t``) comes from an ``embedding_bag`` over the active spikes (dense) or a
convolution of the one-hot spike train (conv); two cumulative sums along time give ``K`` and ``V``. Cost per
layer is ``O(nnz * n + B * T * n)`` for dense layers, where ``nnz`` is the number of input spikes.

Backward (paper eqs. 13, 14), straight-through the ``ceil``: with ``G_j = dL/dt_j / sum_C w`` for firing
neurons (zero for silent ones, which pass no gradient)

    dL/dw_ij = G_j * (s_i - t*_j) * [s_i < step_j],      dL/ds_i = sum_j G_j * w_ij * [s_i < step_j].

Both layer functions return ``(step, t_real)``: the integer step (what the deployed model computes, fed to
the next layer) and ``t*`` (``T`` for silent neurons); gradients arriving at either are summed.

Two implementations (issue 17): on CPU tensors the layers run on the fused, event-driven numba kernels of
:mod:`snnc.trainers.relpsp_kernels` (:func:`dense_relpsp` with ``impl="fused"``, the default there, and
:func:`fused_conv_relpsp` for ``[AvgPool] -> Conv`` synapses): no ``[B, n, T]`` intermediates, steps and
``t*`` bit for bit equal to the tensor formulation described above, which stays as ``impl="tensor"`` (the
path on GPUs, and the oracle of ``tests/test_relpsp_kernels.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "DENSE_IMPLS",
    "ConvGeometry",
    "conv_relpsp",
    "dense_relpsp",
    "first_crossing",
    "fused_conv_relpsp",
    "synaptic_input",
    "ttfs_encode",
]


def ttfs_encode(x: Tensor, time_steps: int, window: int | None = None) -> Tensor:
    """SPEC ``snn.TTFSEncode`` as spike steps: ``s = floor((1 - x) * (window - 1) + 0.5)`` in float32.

    Args:
        x: float tensor ``[B, *features]``; clamped to ``[0, 1]``; ``x <= 0`` does not spike.
        time_steps: T.
        window: spikes fall in ``0 .. window - 1`` (default T).

    Returns:
        float32 spike steps, ``T`` where there is no spike.
    """
    window = time_steps if window is None else window
    x = x.to(torch.float32).clamp(0.0, 1.0)
    steps = torch.floor((1.0 - x) * float(window - 1) + 0.5)
    return torch.where(x > 0, steps, torch.full_like(steps, float(time_steps)))


def first_crossing(a: Tensor, theta: float) -> tuple[Tensor, Tensor, Tensor]:
    """Run the ReL-PSP recurrence on synaptic inputs and find each neuron's first threshold crossing.

    Args:
        a: synaptic input ``I`` with time last: ``[B, F, T]``.
        theta: the threshold.

    Returns:
        ``(step, t_real, slope)``, each ``[B, F]``: the first step with ``V >= theta`` as float (``T`` if none),
        the real crossing time ``t*`` (``T`` if none), and the slope ``K[step - 1] = sum_C w`` (1 if none).
    """
    T = a.shape[-1]
    k = a.cumsum(-1)  # K[t] = sum_{u <= t} I[u]
    w2 = k.cumsum(-1)  # w2[t] = sum_{u <= t} K[u] = V[t + 1]
    fire = w2 >= theta  # fire[t]  <=>  V[t + 1] >= theta  (V[0] = 0 < theta never fires)
    first = fire.to(torch.uint8).argmax(-1, keepdim=True)  # index of the first True (0 if there is none)
    fired = fire.gather(-1, first).squeeze(-1)
    slope = k.gather(-1, first).squeeze(-1)
    v_at = w2.gather(-1, first).squeeze(-1)
    first = first.squeeze(-1)
    step = (first + 1).to(a.dtype)
    big = torch.full_like(step, float(T))
    one = torch.ones_like(slope)
    slope = torch.where(fired, slope, one)
    t_real = torch.where(fired, step - (v_at - theta) / slope, big)
    step = torch.where(fired, step, big)
    return step, t_real, slope


# ------------------------------------------------------------------------------------------------ dense
def _active_spikes(t_in: Tensor, T: int) -> tuple[Tensor, Tensor, Tensor]:
    """(sample, input index, step) of every spike, ordered by (sample, step) so bags are contiguous."""
    b_idx, i_idx = (t_in < T).nonzero(as_tuple=True)
    s = t_in[b_idx, i_idx].long()
    rows = b_idx * T + s
    rows, order = torch.sort(rows, stable=True)
    return rows, i_idx[order], s[order]


def _bag_offsets(sorted_keys: Tensor, n_bags: int) -> Tensor:
    counts = torch.bincount(sorted_keys, minlength=n_bags)
    offsets = torch.zeros(n_bags, dtype=torch.long, device=sorted_keys.device)
    offsets[1:] = counts.cumsum(0)[:-1]
    return offsets


def _neuron_chunks(n: int, B: int, T: int, gpu: bool = False) -> list[slice]:
    """Blocks of output neurons whose ``[B, T, block]`` float tensors stay near 2 MB (cache-sized): 1.4-1.7x
    faster forward passes for 800-1000 neurons than one pass over all of them. On a GPU one block: fewer
    kernel launches win there (the paper's CNN on an H200: 1,644 against 742 training images/s)."""
    if gpu:
        return [slice(0, n)]
    size = max(16, min(n, 2**19 // max(1, B * T)))
    return [slice(j, min(n, j + size)) for j in range(0, n, size)]


def _dense_input(rows: Tensor, i_idx: Tensor, w_t: Tensor, B: int, T: int) -> Tensor:
    """``A[b, j, t]`` = sum of ``w_ij`` over the inputs ``i`` that fire at step ``t`` in sample ``b``."""
    a = F.embedding_bag(i_idx, w_t, _bag_offsets(rows, B * T), mode="sum")  # [B*T, n], rows = b*T + t
    return a.view(B, T, -1).transpose(1, 2).contiguous()  # [B, n, T]: time last for the scans


def synaptic_input(t_in: Tensor, time_steps: int, weight: Tensor | None = None,
                   fn: Callable[..., Tensor] | None = None, params: Sequence[Tensor] = ()) -> Tensor:
    """The synaptic input ``I`` of a layer with time last, ``[B, F, T]`` (no gradient).

    Either a dense ``weight`` ``[n, m]`` on ``t_in`` ``[B, m]``, or a synapse ``fn(x, *params)`` (see
    :func:`conv_relpsp`). ``cumsum`` twice along the last axis gives ``K`` and ``V[t + 1]``.
    """
    with torch.no_grad():
        if weight is not None:
            rows, i_idx, _ = _active_spikes(t_in, time_steps)
            return _dense_input(rows, i_idx, weight.t().contiguous(), t_in.shape[0], time_steps)
        if fn is None:
            raise ValueError("synaptic_input needs a weight or a synapse function")
        B = t_in.shape[0]
        a = fn(one_hot_time(t_in, time_steps).reshape(B * time_steps, *t_in.shape[1:]), *params)
        return a.reshape(B, time_steps, -1).transpose(1, 2).contiguous()


class _DenseRelpsp(torch.autograd.Function):
    """Dense ReL-PSP layer: spike steps ``[B, m]`` and weight ``[n, m]`` -> ``(step, t_real)`` ``[B, n]``."""

    @staticmethod
    def forward(ctx, t_in: Tensor, weight: Tensor, theta: float, T: int):  # noqa: ANN001, ANN205
        rows, i_idx, s = _active_spikes(t_in, T)
        w_t = weight.t().contiguous()  # [m, n]
        B = t_in.shape[0]
        parts = [first_crossing(_dense_input(rows, i_idx, w_t[:, c].contiguous(), B, T), theta)
                 for c in _neuron_chunks(w_t.shape[1], B, T, w_t.is_cuda)]
        step, t_real, slope = (torch.cat(z, 1) for z in zip(*parts, strict=True))
        ctx.save_for_backward(rows, i_idx, s, w_t, step, t_real, slope)
        ctx.T = T
        ctx.in_shape = t_in.shape
        return step, t_real

    @staticmethod
    def backward(ctx, g_step: Tensor, g_real: Tensor):  # noqa: ANN001, ANN205
        rows, i_idx, s, w_t, step, t_real, slope = ctx.saved_tensors
        T = ctx.T
        B, m = ctx.in_shape
        n = step.shape[1]
        g = _sum_grads(g_step, g_real)
        fired = step < T
        G = torch.where(fired, g / slope, torch.zeros_like(g))  # [B, n]
        grad_in = grad_w = None
        if ctx.needs_input_grad[1]:
            # dL/dw_ij = sum_b G_bj (s_bi - t*_bj) [s_bi < step_bj]. With Q[b, u, j] = G_bj (u - t*_bj) [u < step_bj]
            # on the time grid, row i of dL/dW^T is the sum of Q[b, s_bi, :] over the spikes of input i.
            u = torch.arange(T, dtype=G.dtype, device=G.device).view(1, T, 1)
            by_input, order = torch.sort(i_idx, stable=True)
            by_time, offsets = rows[order], _bag_offsets(by_input, m)
            GT = G * t_real
            cols = []
            for c in _neuron_chunks(n, B, T, G.is_cuda):  # blocks of neurons keep [B, T, block] tensors in cache
                q = torch.where(u < step[:, c].unsqueeze(1), u * G[:, c].unsqueeze(1) - GT[:, c].unsqueeze(1), 0.0)
                cols.append(F.embedding_bag(by_time, q.reshape(B * T, -1), offsets, mode="sum"))
            grad_w = torch.cat(cols, 1).t()
        if ctx.needs_input_grad[0]:
            # dL/ds_bi = sum_j G_bj w_ij [s_bi < step_bj]: put G_bj w_j at step step_bj - 1 (the last step whose
            # input spikes are causal for neuron j), sum over j, then sum over steps >= s_bi (reverse cumsum).
            b_out, j_out = fired.nonzero(as_tuple=True)
            ev_rows = b_out * T + step[b_out, j_out].long() - 1
            ev_rows, order = torch.sort(ev_rows, stable=True)
            j_out = j_out[order]
            ev = F.embedding_bag(j_out, w_t.t().contiguous(), _bag_offsets(ev_rows, B * T), mode="sum",
                                 per_sample_weights=G[b_out[order], j_out])  # [B*T, m]
            ev = ev.view(B, T, m).transpose(1, 2).contiguous()  # [B, m, T]
            cum = ev.cumsum(-1)
            # sum_{u >= s} ev[u] = total - sum_{u < s} ev[u]
            b_idx = torch.div(rows, T, rounding_mode="floor")
            before = torch.where(s > 0, cum[b_idx, i_idx, (s - 1).clamp(min=0)], 0.0)
            grad_in = torch.zeros(B * m, dtype=G.dtype, device=G.device)
            grad_in.index_put_((b_idx * m + i_idx,), cum[b_idx, i_idx, T - 1] - before)
            grad_in = grad_in.view(B, m)
        return grad_in, grad_w, None, None


def _sum_grads(*grads: Tensor | None) -> Tensor:
    present = [g for g in grads if g is not None]
    out = present[0]
    for g in present[1:]:
        out = out + g
    return out


class _FusedDenseRelpsp(torch.autograd.Function):
    """The dense ReL-PSP layer on the fused numba kernels of :mod:`snnc.trainers.relpsp_kernels` (CPU tensors):
    same results as :class:`_DenseRelpsp` without its ``[B, n, T]`` intermediates."""

    @staticmethod
    def forward(ctx, t_in: Tensor, weight: Tensor, theta: float, T: int):  # noqa: ANN001, ANN205
        from snnc.trainers import relpsp_kernels as kern

        steps = t_in.detach().clamp(max=T).to(torch.int32).numpy()
        kern.match_threads(torch.get_num_threads())
        ptr, idx, stp = kern.sort_spikes(steps, T)
        w_t = weight.detach().t().contiguous()  # [m, n]; a no-copy view for the model's transposed conv matrices
        B, n = t_in.shape[0], weight.shape[0]
        step, t_real, slope = (torch.empty((B, n), dtype=weight.dtype) for _ in range(3))
        kern.dense_forward(ptr, idx, stp, w_t.numpy(), float(theta), T, step.numpy(), t_real.numpy(), slope.numpy())
        ctx.save_for_backward(w_t, step, t_real, slope)
        ctx.spikes = (ptr, idx, stp)
        ctx.T = T
        ctx.in_shape = t_in.shape
        return step, t_real

    @staticmethod
    def backward(ctx, g_step: Tensor, g_real: Tensor):  # noqa: ANN001, ANN205
        from snnc.trainers import relpsp_kernels as kern

        w_t, step, t_real, slope = ctx.saved_tensors
        g = _sum_grads(g_step, g_real).to(w_t.dtype)
        G = torch.where(step < ctx.T, g / slope, torch.zeros_like(g)).contiguous()
        GT = (G * t_real).contiguous()
        need_in, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_w_t = torch.zeros_like(w_t) if need_w else torch.zeros((1, 1), dtype=w_t.dtype)
        grad_in = torch.zeros(tuple(ctx.in_shape), dtype=w_t.dtype) if need_in else torch.zeros((1, 1), dtype=w_t.dtype)
        kern.dense_backward(*ctx.spikes, w_t.numpy(), step.numpy(), G.numpy(), GT.numpy(), bool(need_w),
                            bool(need_in), grad_w_t.numpy(), grad_in.numpy())
        return (grad_in if need_in else None), (grad_w_t.t() if need_w else None), None, None


@dataclass(frozen=True)
class ConvGeometry:
    """The shape of an ``[AvgPool k] -> Conv`` synapse (stride 1, square kernel, no bias), for
    :func:`fused_conv_relpsp`.

    Attributes:
        in_shape: ``(C_in, H, W)`` of the input spikes (before the pooling).
        pool: pooling kernel = stride (1: none; floor mode drops the last rows/columns).
        out_shape: ``(C_out, H_out, W_out)``.
        kernel: K.
        padding: zero padding on every side.
    """

    in_shape: tuple[int, int, int]
    pool: int
    out_shape: tuple[int, int, int]
    kernel: int
    padding: int

    def packed(self) -> np.ndarray:
        """``(C_in, H, W, k, C_out, H_out, W_out, K, pad)`` as the kernels take it."""
        return np.array([*self.in_shape, self.pool, *self.out_shape, self.kernel, self.padding], np.int64)


class _FusedConvRelpsp(torch.autograd.Function):
    """ReL-PSP neurons behind ``[AvgPool k] -> Conv`` on the fused kernels (CPU): each input spike touches its
    kernel taps only, and the weight gradient accumulates on the kernel itself (no synapse matrix)."""

    @staticmethod
    def forward(ctx, t_in: Tensor, weight: Tensor, theta: float, T: int, geo: ConvGeometry):  # noqa: ANN001, ANN205
        from snnc.trainers import relpsp_kernels as kern

        B = t_in.shape[0]
        steps = t_in.detach().reshape(B, -1).clamp(max=T).to(torch.int32).numpy()
        kern.match_threads(torch.get_num_threads())
        spikes = kern.sort_spikes(steps, T)
        # channels last: [C_in, K, K, C_out] weights and (oy, ox, co) outputs, for contiguous inner loops
        wd = (weight.detach() / float(geo.pool * geo.pool)).permute(1, 2, 3, 0).contiguous()
        c, h, w = geo.out_shape
        step, t_real, slope = (torch.empty((B, h * w * c), dtype=weight.dtype) for _ in range(3))
        packed = geo.packed()
        kern.conv_forward(*spikes, packed, wd.numpy().reshape(-1), float(theta), T, step.numpy(), t_real.numpy(),
                          slope.numpy())
        ctx.save_for_backward(wd, step, t_real, slope)
        ctx.spikes, ctx.packed, ctx.T = spikes, packed, T
        ctx.in_shape = t_in.shape
        return _channels_first(step, geo.out_shape), _channels_first(t_real, geo.out_shape)

    @staticmethod
    def backward(ctx, g_step: Tensor, g_real: Tensor):  # noqa: ANN001, ANN205
        from snnc.trainers import relpsp_kernels as kern

        wd, step, t_real, slope = ctx.saved_tensors
        B = step.shape[0]
        g = _sum_grads(g_step, g_real).to(wd.dtype).permute(0, 2, 3, 1).reshape(B, -1)  # channels last
        G = torch.where(step < ctx.T, g / slope, torch.zeros_like(g)).contiguous()
        GT = (G * t_real).contiguous()
        need_in, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_w = torch.zeros(wd.shape if need_w else (1,), dtype=wd.dtype)
        grad_in = torch.zeros((B, math.prod(ctx.in_shape[1:])) if need_in else (1, 1), dtype=wd.dtype)
        kern.conv_backward(*ctx.spikes, ctx.packed, wd.numpy().reshape(-1), step.numpy(), G.numpy(), GT.numpy(),
                           bool(need_w), bool(need_in), grad_w.numpy().reshape(-1), grad_in.numpy())
        return (grad_in.view(ctx.in_shape) if need_in else None, grad_w.permute(3, 0, 1, 2) if need_w else None,
                None, None, None)


def _channels_first(x: Tensor, out_shape: tuple[int, int, int]) -> Tensor:
    """``[B, H * W * C]`` (channels last) -> ``[B, C, H, W]``, contiguous."""
    c, h, w = out_shape
    return x.view(-1, h, w, c).permute(0, 3, 1, 2).contiguous()


def fused_conv_relpsp(t_in: Tensor, weight: Tensor, theta: float, time_steps: int,
                      geometry: ConvGeometry) -> tuple[Tensor, Tensor]:
    """ReL-PSP neurons behind ``[AvgPool k] -> Conv`` on the fused event-driven kernels (CPU tensors).

    Equal to :func:`dense_relpsp` on the synapse's matrix (entries ``w[co, ci, ky, kx] / k**2``): steps and
    real times bit for bit, gradients to float rounding, the weight gradient taken on the kernel itself.

    Args:
        t_in: spike steps ``[B, *geometry.in_shape]``.
        weight: the kernel ``[C_out, C_in, K, K]``.
        theta: threshold.
        time_steps: T.
        geometry: the synapse's shape.

    Returns:
        ``(step, t_real)``, each ``[B, *geometry.out_shape]``.
    """
    if t_in.device.type != "cpu" or weight.device.type != "cpu":
        raise ValueError("the fused ReL-PSP kernels run on CPU tensors only")
    return _FusedConvRelpsp.apply(t_in, weight, float(theta), int(time_steps), geometry)


#: ``impl`` values of :func:`dense_relpsp`.
DENSE_IMPLS = ("auto", "fused", "tensor")


def dense_relpsp(t_in: Tensor, weight: Tensor, theta: float, time_steps: int, *,
                 impl: str = "auto") -> tuple[Tensor, Tensor]:
    """A fully connected ReL-PSP layer on spike steps.

    Args:
        t_in: spike steps ``[B, m]`` (``T`` = no spike), float.
        weight: ``[n, m]`` (ONNX/IR ``snn.dense`` layout: ``I = S @ weight.T``).
        theta: threshold (> 0).
        time_steps: T.
        impl: ``"fused"``: the event-driven numba kernels (CPU tensors only); ``"tensor"``: the ``[B, n, T]``
            torch formulation (any device; the oracle the fused kernels are tested against); ``"auto"``:
            fused on the CPU, tensor elsewhere.

    Returns:
        ``(step, t_real)``, each ``[B, n]``; see the module docstring for the gradients.
    """
    if impl not in DENSE_IMPLS:
        raise ValueError(f"impl must be one of {DENSE_IMPLS}, got {impl!r}")
    on_cpu = t_in.device.type == "cpu" and weight.device.type == "cpu"
    if impl == "fused" and not on_cpu:
        raise ValueError("the fused ReL-PSP kernels run on CPU tensors only")
    if impl == "fused" or (impl == "auto" and on_cpu):
        return _FusedDenseRelpsp.apply(t_in, weight, float(theta), int(time_steps))
    return _DenseRelpsp.apply(t_in, weight, float(theta), int(time_steps))


# ------------------------------------------------------------------------------------------------ conv
def one_hot_time(t_in: Tensor, T: int) -> Tensor:
    """Spike steps ``[B, *f]`` -> spike train ``[B, T, *f]`` (float, one 1 per spiking neuron)."""
    idx = t_in.long().clamp(max=T).unsqueeze(1)  # T -> an extra slot that is dropped
    out = torch.zeros((t_in.shape[0], T + 1, *t_in.shape[1:]), dtype=t_in.dtype, device=t_in.device)
    out.scatter_(1, idx, 1.0)
    return out[:, :T]


class _SynapseRelpsp(torch.autograd.Function):
    """ReL-PSP neurons behind any linear synapse ``fn(x, *params)`` applied per step on ``[B*T, *f_in]``."""

    @staticmethod
    def forward(ctx, t_in: Tensor, theta: float, T: int, fn: Callable[..., Tensor], *params: Tensor):  # noqa: ANN001, ANN205
        B = t_in.shape[0]
        spikes = one_hot_time(t_in, T).reshape(B * T, *t_in.shape[1:])
        a = fn(spikes, *params)  # [B*T, *f_out]
        out_shape = a.shape[1:]
        a = a.reshape(B, T, -1).transpose(1, 2).contiguous()  # [B, F, T], time last
        step, t_real, slope = first_crossing(a, theta)
        ctx.save_for_backward(t_in, step, t_real, slope, *params)
        ctx.T, ctx.fn, ctx.out_shape = T, fn, out_shape
        return step.view(B, *out_shape), t_real.view(B, *out_shape)

    @staticmethod
    def backward(ctx, g_step: Tensor, g_real: Tensor):  # noqa: ANN001, ANN205
        t_in, step, t_real, slope, *params = ctx.saved_tensors
        T, fn = ctx.T, ctx.fn
        B = t_in.shape[0]
        g = _sum_grads(g_step, g_real).reshape(B, -1)
        G = torch.where(step < T, g / slope, torch.zeros_like(g))  # [B, F]
        u = torch.arange(T, dtype=G.dtype, device=G.device).view(1, T, 1)
        causal = u < step.unsqueeze(1)  # [B, T, F]: an input spike at step u is causal for this output
        h = (G.unsqueeze(1) * causal).reshape(B * T, *ctx.out_shape)  # dL/dS via dt/ds_i = w / sum_C w
        q = (G.unsqueeze(1) * causal * (u - t_real.unsqueeze(1))).reshape(B * T, *ctx.out_shape)  # dL/dW
        need_in = ctx.needs_input_grad[0]
        need_p = [ctx.needs_input_grad[4 + k] for k in range(len(params))]
        grads_p: list[Tensor | None] = [None] * len(params)
        grad_in = None
        with torch.enable_grad():
            spikes = one_hot_time(t_in.detach(), T).reshape(B * T, *t_in.shape[1:])
            spikes.requires_grad_(need_in)
            ps = [p.detach().requires_grad_(need) for p, need in zip(params, need_p, strict=True)]
            a = fn(spikes, *ps)
            wanted = [p for p, need in zip(ps, need_p, strict=True) if need]
            if wanted:
                got = iter(torch.autograd.grad(a, wanted, q, retain_graph=need_in))
                grads_p = [next(got) if need else None for need in need_p]
            if need_in:
                (ds,) = torch.autograd.grad(a, spikes, h)
                ds = ds.view(B, T, *t_in.shape[1:])
                idx = t_in.long().clamp(max=T - 1).unsqueeze(1)
                grad_in = ds.gather(1, idx).squeeze(1) * (t_in < T)
        return (grad_in, None, None, None, *grads_p)


def conv_relpsp(t_in: Tensor, theta: float, time_steps: int, fn: Callable[..., Tensor],
                params: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """ReL-PSP neurons behind a linear synapse (pooling, flatten, conv or dense), on spike steps.

    Args:
        t_in: spike steps ``[B, *f_in]``.
        theta: threshold.
        time_steps: T.
        fn: the synapse, ``fn(x, *params)`` on ``[N, *f_in]`` -> ``[N, *f_out]``; must be linear in ``x`` and in
            each parameter (no bias), applied independently to each step's spikes.
        params: the synapse's trainable tensors.

    Returns:
        ``(step, t_real)``, each ``[B, *f_out]``.
    """
    return _SynapseRelpsp.apply(t_in, float(theta), int(time_steps), fn, *params)
