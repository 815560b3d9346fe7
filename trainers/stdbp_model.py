"""The STDBP network: TTFS input, ReL-PSP layers (dense or conv, optional average pooling in front), and the
first-spike decision, all on the discrete time grid of the exported ONNX model.

Each layer is ``[AvgPool k] -> [Flatten] -> Dense | Conv -> ReLPSP(theta)``: the pooling and flattening of
a layer's *input* spikes belong to its synapse, so every layer ends in spiking neurons, as in SPEC section 3
(``TTFSEncode -> MatMul/Conv -> ReLPSP ... -> FirstSpikeDecode``). Synapses have no bias (the paper's
model has none). The predicted class is the output neuron that fires first, ties to the lowest index
(SPEC ``FirstSpikeDecode``: score ``T - t_first``, argmax ties to the lowest index).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnc.trainers.common import Arch, ConvSpec, DenseSpec, PoolSpec, TrainerError
from snnc.trainers.relpsp_torch import (
    ConvGeometry,
    conv_relpsp,
    dense_relpsp,
    fused_conv_relpsp,
    synaptic_input,
    ttfs_encode,
)

__all__ = ["LayerPlan", "StdbpNet", "plan_layers", "predict"]


@dataclass(frozen=True)
class LayerPlan:
    """One spiking layer: what happens to its input spikes, then its neurons.

    Attributes:
        kind: ``"dense"`` or ``"conv"``.
        in_shape: feature shape of the input spikes.
        pool: average-pooling kernel (= stride) applied to the input first, or 0.
        out_shape: feature shape of the layer's neurons.
        weight_shape: ``[n_out, n_in]`` (dense; ``n_in`` after pooling and flattening) or
            ``[C_out, C_in, k, k]`` (conv).
        padding: conv padding on every side.
    """

    kind: str
    in_shape: tuple[int, ...]
    pool: int
    out_shape: tuple[int, ...]
    weight_shape: tuple[int, ...]
    padding: int = 0

    @property
    def pooled_shape(self) -> tuple[int, ...]:
        """Input feature shape after the pooling."""
        if not self.pool:
            return self.in_shape
        c, h, w = self.in_shape
        return (c, h // self.pool, w // self.pool)

    @property
    def fan_in(self) -> int:
        """Synapses per neuron."""
        return math.prod(self.weight_shape[1:])


def plan_layers(arch: Arch) -> list[LayerPlan]:
    """Group an architecture's layers into spiking layers (pooling joins the next layer's synapse)."""
    plans: list[LayerPlan] = []
    cur = arch.input_shape
    pool = 0
    for spec in arch.layers:
        if isinstance(spec, PoolSpec):
            if pool:
                raise TrainerError("two pooling layers in a row", where=arch.text, hint="merge them into one")
            if not plans:
                raise TrainerError("pooling the input image is not supported", where=arch.text,
                                   hint="start with a convolution or a dense layer")
            pool = spec.kernel
            continue
        pooled = cur if not pool else (cur[0], cur[1] // pool, cur[2] // pool)
        if isinstance(spec, DenseSpec):
            n_in = math.prod(pooled)
            plans.append(LayerPlan("dense", cur, pool, (spec.units,), (spec.units, n_in)))
        elif isinstance(spec, ConvSpec):
            c, h, w = pooled
            k, p = spec.kernel, spec.padding
            out = (spec.channels, h + 2 * p - k + 1, w + 2 * p - k + 1)
            plans.append(LayerPlan("conv", cur, pool, out, (spec.channels, c, k, k), p))
        pool = 0
        cur = plans[-1].out_shape
    return plans


def _pooled_dense_weight(weight: Tensor, plan: LayerPlan) -> Tensor:
    """The weight on the *unpooled* flat input equal to ``AvgPool(k) -> Flatten -> Dense(weight)``."""
    c, h, w = plan.in_shape
    k = plan.pool
    _, hp, wp = plan.pooled_shape
    w4 = weight.view(weight.shape[0], c, hp, wp).repeat_interleave(k, 2).repeat_interleave(k, 3) / (k * k)
    w4 = F.pad(w4, (0, w - wp * k, 0, h - hp * k))  # rows/cols the floor-mode pooling drops
    return w4.reshape(weight.shape[0], c * h * w)


#: Conv layers whose synapse, written as a matrix, has at most this many entries run on the sparse dense path.
CONV_MATRIX_LIMIT = 64 * 2**20


def conv_matrix_index(plan: LayerPlan) -> Tensor:
    """Where each entry of a conv layer's synapse matrix comes from, for ``[AvgPool k] -> Conv``.

    Returns an int64 ``[F_in, F_out]`` map into ``cat(weight.flatten(), [0])`` (the last slot is a zero), so
    that ``cat(w.flatten() / k**2, [0])[index]`` is the transposed matrix of the whole synapse acting on the
    flattened, unpooled input spikes: entry ``((ci, y, x), (co, oy, ox))`` is ``w[co, ci, y//k - oy + p,
    x//k - ox + p] / k**2`` where that kernel position exists (and ``y//k``, ``x//k`` are inside the pooled
    image), else 0.
    """
    ci_n, h, w = plan.in_shape
    co_n, ho, wo = plan.out_shape
    _, hp, wp = plan.pooled_shape
    kk = plan.weight_shape[2]
    k = plan.pool or 1
    p = plan.padding

    def taps(size: int, pooled: int, out: int) -> Tensor:
        src = torch.arange(size) // k
        tap = src[:, None] - torch.arange(out)[None, :] + p  # [size, out]
        ok = (tap >= 0) & (tap < kk) & (src[:, None] < pooled)
        return torch.where(ok, tap, -1)

    ky, kx = taps(h, hp, ho), taps(w, wp, wo)  # [H, Ho], [W, Wo]
    co = torch.arange(co_n).view(1, 1, 1, co_n, 1, 1)
    ci = torch.arange(ci_n).view(ci_n, 1, 1, 1, 1, 1)
    ky6 = ky.view(1, h, 1, 1, ho, 1)
    kx6 = kx.view(1, 1, w, 1, 1, wo)
    flat = ((co * ci_n + ci) * kk + ky6) * kk + kx6
    sentinel = co_n * ci_n * kk * kk
    index = torch.where((ky6 >= 0) & (kx6 >= 0), flat, sentinel)
    return index.reshape(ci_n * h * w, co_n * ho * wo)


def _conv_synapse(pool: int, padding: int) -> Callable[[Tensor, Tensor], Tensor]:
    def fn(x: Tensor, weight: Tensor) -> Tensor:
        if pool:
            x = F.avg_pool2d(x, pool)
        return F.conv2d(x, weight, padding=padding)

    return fn


class StdbpNet(nn.Module):
    """A ReL-PSP network on spike steps.

    Args:
        arch: the parsed architecture.
        time_steps: T, the simulation length of the exported model.
        threshold: theta of every ReL-PSP neuron.
        window: input spikes fall in steps ``0 .. window - 1`` (SPEC TTFSEncode ``window``; default T).

    Example:
        >>> from snnc.trainers.common import parse_arch
        >>> net = StdbpNet(parse_arch("64-100-10"), time_steps=32, threshold=1.0)
        >>> steps = net(torch.rand(4, 64))[-1][0]      # output spike steps [4, 10]
    """

    def __init__(self, arch: Arch, time_steps: int, threshold: float, window: int | None = None) -> None:
        super().__init__()
        if time_steps < 2:
            raise TrainerError(f"time steps must be >= 2, got {time_steps}", where="--time-steps")
        window = time_steps if window is None else int(window)
        if not 2 <= window <= time_steps:
            raise TrainerError(f"the input window must lie in 2 .. T ({time_steps}), got {window}", where="--window")
        self.window = window
        if not threshold > 0:
            raise TrainerError(f"threshold must be > 0, got {threshold}", where="--threshold")
        self.arch = arch
        self.time_steps = int(time_steps)
        self.threshold = float(threshold)
        self.plans = plan_layers(arch)
        # Trainable weights in units of a per-layer scale fixed at initialisation (w = v * scale), so that the
        # optimiser sees O(1) parameters whatever T and theta are.
        self.weights = nn.ParameterList(nn.Parameter(torch.zeros(p.weight_shape)) for p in self.plans)
        self.register_buffer("scales", torch.ones(len(self.plans)))
        self._matrix_taps: dict[int, tuple[Tensor, Tensor, torch.device]] = {}
        #: how the layers compute: ``"auto"`` (fused numba kernels on CPU tensors, the tensor formulation on
        #: others), ``"fused"`` or ``"tensor"`` (the pre-issue-17 path; conv layers as synapse matrices); see
        #: :func:`dense_relpsp`'s ``impl``
        self.dense_impl = "auto"

    def effective_weights(self) -> list[Tensor]:
        """The synaptic weights ``w = v * scale`` of every layer (what the exported model holds)."""
        return [v * self.scales[i] for i, v in enumerate(self.weights)]

    def encode(self, x: Tensor) -> Tensor:
        """SPEC TTFSEncode of ``x`` ``[B, *input_shape]`` as spike steps (input spikes in ``0 .. window-1``)."""
        return ttfs_encode(x, self.time_steps, self.window)

    def layer(self, index: int, t_in: Tensor, weight: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run layer ``index`` on input spike steps; returns ``(step, t_real)``."""
        plan = self.plans[index]
        w = self.weights[index] * self.scales[index] if weight is None else weight
        T, theta = self.time_steps, self.threshold
        if plan.kind == "conv" and self.fused(t_in):
            return fused_conv_relpsp(t_in, w, theta, T, self.conv_geometry(index))
        matrix = self._synapse_matrix(index, w)
        if matrix is not None:
            step, real = dense_relpsp(t_in.reshape(t_in.shape[0], -1), matrix, theta, T, impl=self.dense_impl)
            return step.view(-1, *plan.out_shape), real.view(-1, *plan.out_shape)
        return conv_relpsp(t_in, theta, T, _conv_synapse(plan.pool, plan.padding), [w])

    def fused(self, t_in: Tensor) -> bool:
        """Whether layers on ``t_in`` run on the fused CPU kernels (``dense_impl`` fused, or auto on the CPU)."""
        return self.dense_impl == "fused" or (self.dense_impl == "auto" and t_in.device.type == "cpu")

    def conv_geometry(self, index: int) -> ConvGeometry:
        """Conv layer ``index``'s ``[AvgPool k] -> Conv`` synapse shape, for the fused kernels."""
        plan = self.plans[index]
        return ConvGeometry(plan.in_shape, plan.pool or 1, plan.out_shape, plan.weight_shape[2], plan.padding)

    def _synapse_matrix(self, index: int, w: Tensor) -> Tensor | None:
        """The layer's whole synapse as an ``[n_out, n_in]`` matrix on the flat unpooled input (differentiable in
        ``w``), or None for conv layers too large for it (they take the generic one-hot path)."""
        plan = self.plans[index]
        if plan.kind == "dense":
            return _pooled_dense_weight(w, plan) if plan.pool else w
        if math.prod(plan.in_shape) * math.prod(plan.out_shape) > CONV_MATRIX_LIMIT:
            return None
        taps = self._matrix_taps.get(index)
        if taps is None or taps[2] != w.device:
            flat = conv_matrix_index(plan).reshape(-1)
            pos = (flat != w.numel()).nonzero().squeeze(1)  # the entries a kernel tap reaches; the rest are 0
            taps = self._matrix_taps[index] = (pos.to(w.device), flat[pos].to(w.device), w.device)
        pos, src, _ = taps
        # scatter only the real taps into zeros: gathering the whole matrix from cat(w, [0]) would make the
        # backward accumulate millions of gradients into the one zero slot (serially on CUDA: ~90x slower)
        values = w.reshape(-1)[src] / (plan.pool or 1) ** 2
        n_in, n_out = math.prod(plan.in_shape), math.prod(plan.out_shape)
        matrix = w.new_zeros(n_in * n_out).scatter(0, pos, values).view(n_in, n_out)
        return matrix.t()  # a transposed view of a contiguous [n_in, n_out]: no copy in the layer

    def synaptic_input(self, index: int, t_in: Tensor, weight: Tensor) -> Tensor:
        """Layer ``index``'s synaptic input ``I`` ``[B, F, T]`` for the weight ``weight`` (no gradient)."""
        plan = self.plans[index]
        matrix = self._synapse_matrix(index, weight)
        if matrix is not None:
            return synaptic_input(t_in.reshape(t_in.shape[0], -1), self.time_steps, matrix)
        return synaptic_input(t_in, self.time_steps, fn=_conv_synapse(plan.pool, plan.padding), params=[weight])

    def end_potential(self, index: int, t_in: Tensor) -> Tensor:
        """Layer ``index``'s potential at the last step, ``V[T-1] = sum_i w_i max(0, T-1 - s_i)``, ``[B, *f_out]``.

        Differentiable in the weights and the input spike steps (the synapse is linear, so it is the synapse
        applied to the ramp ``max(0, T-1 - s)``). A neuron that stayed silent has ``V[T-1] < theta``; the
        keep-alive penalty of :mod:`snnc.trainers.stdbp` raises it.
        """
        plan = self.plans[index]
        w = self.weights[index] * self.scales[index]
        ramp = (self.time_steps - 1 - t_in).clamp_min(0.0).to(w.dtype)
        if plan.kind == "conv" and self.fused(t_in):  # the fused path builds no synapse matrix
            return _conv_synapse(plan.pool, plan.padding)(ramp, w)
        matrix = self._synapse_matrix(index, w)
        if matrix is not None:
            return (ramp.reshape(ramp.shape[0], -1) @ matrix.t()).view(-1, *plan.out_shape)
        return _conv_synapse(plan.pool, plan.padding)(ramp, w)

    def forward(self, x: Tensor, *, with_inputs: bool = False) -> list[tuple[Tensor, ...]]:
        """All layers' ``(step, t_real)``, input first excluded; the last entry is the output layer.

        With ``with_inputs``, each entry is ``(step, t_real, t_in)``, ``t_in`` the layer's input spike steps.
        """
        t = self.encode(x)
        outs: list[tuple[Tensor, ...]] = []
        for i in range(len(self.plans)):
            step, real = self.layer(i, t)
            outs.append((step, real, t) if with_inputs else (step, real))
            t = step
        return outs

    @torch.no_grad()
    def init_weights(self, x: Tensor, *, generator: torch.Generator | None = None, mean: float = 0.25,
                     first: float = 0.5) -> list[float]:
        """Data-dependent initialisation that makes neurons fire inside the window.

        Each layer's weights start as ``v ~ N(mean, 1)`` in units of the layer's scale (``w = v * scale``, so
        ``mean`` is the excitatory bias relative to the spread); the scale is then set, layer by layer on ``x``,
        so that the median output step over the batch is ``first * T`` for the first layer and grows evenly
        up to ``L / (L + 1) * T`` for the last of ``L`` layers, leaving later layers time to fire after
        earlier ones. Closed form, no search: ``V`` is linear in the scale.

        Returns:
            The fraction of neurons of each layer that fire on at least one sample of ``x``.
        """
        L = len(self.plans)
        last = max(first, L / (L + 1))
        targets = [first + (last - first) * i / max(L - 1, 1) for i in range(L)]
        T = self.time_steps
        t = self.encode(x)
        alive = []
        for i, plan in enumerate(self.plans):
            w0 = torch.randn(plan.weight_shape, generator=generator) + mean
            w0 = w0.to(self.weights[i].device)
            # V is linear in the weight scale c. Neuron (b, j) fires by step `target` iff
            # c * max_{t <= target} V0[b, j, t] >= theta, so the median step is `target` when c is the median
            # over (b, j) of theta / max_{t <= target} V0. Neurons whose potential never rises by then (e.g. conv
            # positions over blank image borders) cannot be made to fire by any scale and are left out.
            target = max(1, min(T - 1, round(targets[i] * T)))
            v0 = self.synaptic_input(i, t, w0).cumsum(-1).cumsum(-1)  # v0[..., u] = V[u + 1] at scale 1
            peak = v0[..., :target].amax(-1).flatten()
            peak = peak[peak > 0]
            if peak.numel() == 0:
                raise TrainerError(f"layer {i + 1} cannot be initialised to fire: its inputs are silent",
                                   hint="raise --init-mean, or lower --init-first")
            scale = float((self.threshold / peak).median())
            self.weights[i].copy_(w0)
            self.scales[i] = scale
            t, _ = self.layer(i, t)
            alive.append(float((t < T).reshape(t.shape[0], -1).any(0).float().mean()))
        return alive


def predict(output_steps: Tensor) -> Tensor:
    """Class of each sample: the first output neuron to fire, ties to the lowest index (SPEC decoding)."""
    return output_steps.reshape(output_steps.shape[0], -1).argmin(1)
