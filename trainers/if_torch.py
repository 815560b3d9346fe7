"""Integrate-and-fire (IF) neurons for PyTorch with surrogate gradients: the improved STBP's neuron.

Spike trains are time-major float32 0/1 tensors ``[T, B, *features]`` (SPEC section 1). State starts at
zero before step 0. The forward pass is SPEC ``snn.IF`` term for term, in float32 and in the same order as
the ONNX function body, so an exported model computes the spikes the trainer computed:

    subtract (scheme 1, paper eq. 8):  V[t] = (V[t-1] - theta * S[t-1]) + I[t]
    zero     (baseline, paper eq. 1):  V[t] = V[t-1] * (1 - S[t-1]) + I[t]
    S[t] = 1 if V[t] >= theta else 0

``theta`` broadcasts over the features: a float, ``[n]`` per dense neuron or ``[C, 1, 1]`` per conv channel
(scheme 2, trainable thresholds).

Backward: the Heaviside step ``S = H(V - theta)`` has the surrogate derivative ``dS/dV = h(V)`` and
``dS/dtheta = -h(V)``, with

    rect      (baseline, paper eq. 3):  h(V) = 1/a      if |V - theta| < a/2 else 0   (a: fixed width)
    threshold (scheme 3, paper eq. 14): h(V) = 1/theta  if |V - theta| < theta/2 else 0

Everything else is exact autograd through the recurrence, the reset included. For subtract reset the
backward recursion, with ``dV[t]`` the total derivative of the loss w.r.t. ``V[t]`` and ``dS[t]`` the
direct one w.r.t. ``S[t]`` (from the next layer or the decoder), is

    dV[t]    = (dS[t] - theta * dV[t+1]) * h(V[t]) + dV[t+1]
    dL/dI[t] = dV[t]
    dL/dtheta = sum_t [ -(dS[t] - theta * dV[t+1]) * h(V[t]) - S[t] * dV[t+1] ]

summed over the samples and the positions sharing one threshold: the threshold gradient of the paper's
eq. 11, derived here from the forward equations (theta enters through the spike function and the reset).

and for zero reset ``dV[t] = (dS[t] - V[t] * dV[t+1]) * h(V[t]) + (1 - S[t]) * dV[t+1]`` and
``dL/dtheta = -sum_t (dS[t] - V[t] * dV[t+1]) * h(V[t])``. ``tests/test_stbp.py`` checks autograd
against these recursions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["RESETS", "SURROGATES", "Surrogate", "if_neuron", "li_neuron", "lif_neuron", "rate_encode", "spike",
           "surrogate_derivative"]

#: Reset modes of ``snn.IF``.
RESETS = ("subtract", "zero")
#: Surrogate derivative kinds.
SURROGATES = ("threshold", "rect")


@dataclass(frozen=True)
class Surrogate:
    """The surrogate derivative of the spike function.

    Attributes:
        kind: ``"threshold"`` (paper eq. 14: height ``1/theta`` on ``|V - theta| < theta/2``) or ``"rect"``
            (paper eq. 3: height ``1/width`` on ``|V - theta| < width/2``).
        width: the window ``a`` of ``"rect"`` (ignored by ``"threshold"``).
    """

    kind: str = "threshold"
    width: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in SURROGATES:
            raise ValueError(f"surrogate kind must be one of {SURROGATES}, got {self.kind!r}")
        if not self.width > 0:
            raise ValueError(f"surrogate width must be > 0, got {self.width}")


def surrogate_derivative(v: Tensor, theta: Tensor, surrogate: Surrogate) -> Tensor:
    """``h(V)`` of paper eq. 3 (``rect``) or eq. 14 (``threshold``), elementwise, broadcast like ``v - theta``."""
    a = theta if surrogate.kind == "threshold" else torch.as_tensor(surrogate.width, dtype=v.dtype, device=v.device)
    inside = (v - theta).abs() < a / 2
    return torch.where(inside, 1.0 / a, torch.zeros((), dtype=v.dtype, device=v.device))


def _sum_to(grad: Tensor, shape: torch.Size) -> Tensor:
    """Sum ``grad`` over the axes broadcast to reach its shape from ``shape``."""
    if grad.shape == shape:
        return grad
    lead = grad.dim() - len(shape)
    g = grad.sum(dim=tuple(range(lead))) if lead else grad
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(dim=axes, keepdim=True) if axes else g


class _Spike(torch.autograd.Function):
    """``S = [V >= theta]`` forward; ``dS/dV = h(V)``, ``dS/dtheta = -h(V)`` backward."""

    @staticmethod
    def forward(ctx, v: Tensor, theta: Tensor, surrogate: Surrogate) -> Tensor:  # noqa: ANN001
        ctx.save_for_backward(v, theta)
        ctx.surrogate = surrogate
        return (v >= theta).to(v.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):  # noqa: ANN001, ANN205
        v, theta = ctx.saved_tensors
        gh = grad * surrogate_derivative(v, theta, ctx.surrogate)
        g_theta = -_sum_to(gh, theta.shape) if ctx.needs_input_grad[1] else None
        return gh, g_theta, None


def spike(v: Tensor, theta: Tensor, surrogate: Surrogate) -> Tensor:
    """The spike function ``S = 1 if V >= theta else 0`` (float32) with a surrogate derivative.

    Args:
        v: membrane potentials ``[B, *f]``.
        theta: thresholds broadcastable to ``v`` (a 0-d tensor, ``[n]`` or ``[C, 1, 1]``).
        surrogate: which ``h(V)`` the backward pass uses.
    """
    return _Spike.apply(v, theta, surrogate)


class _IFLayer(torch.autograd.Function):
    """A whole IF layer over time: the forward loop without an autograd graph, the backward recursion of the
    module docstring by hand (a few fused elementwise ops per step instead of autograd's many)."""

    @staticmethod
    def forward(ctx, current: Tensor, theta: Tensor, reset: str, surrogate: Surrogate) -> Tensor:  # noqa: ANN001
        v = torch.zeros_like(current[0])
        s = torch.zeros_like(current[0])
        vs = torch.empty_like(current)
        out = torch.empty_like(current)
        for t in range(current.shape[0]):
            if reset == "subtract":
                v = v - theta * s + current[t]  # (V - theta*S) + I, the ONNX body's order
            else:
                v = v * (1.0 - s) + current[t]
            s = (v >= theta).to(current.dtype)
            vs[t] = v
            out[t] = s
        ctx.save_for_backward(vs, out, theta)
        ctx.reset = reset
        ctx.surrogate = surrogate
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):  # noqa: ANN001, ANN205
        vs, out, theta = ctx.saved_tensors
        subtract = ctx.reset == "subtract"
        want_theta = ctx.needs_input_grad[1]
        d_cur = torch.empty_like(vs)
        d_next = torch.zeros_like(vs[0])
        d_theta = torch.zeros_like(vs[0]) if want_theta else None
        for t in reversed(range(vs.shape[0])):
            h = surrogate_derivative(vs[t], theta, ctx.surrogate)
            if subtract:
                dsh = (grad[t] - theta * d_next) * h
                if want_theta:
                    d_theta -= dsh + out[t] * d_next
                d_next = dsh + d_next
            else:
                dsh = (grad[t] - vs[t] * d_next) * h
                if want_theta:
                    d_theta -= dsh
                d_next = dsh + (1.0 - out[t]) * d_next
            d_cur[t] = d_next
        g_theta = _sum_to(d_theta, theta.shape) if want_theta else None
        return d_cur, g_theta, None, None


def _reset_potential(v: Tensor, s: Tensor, theta: Tensor, subtract: bool) -> Tensor:
    """``Vr``: ``V - theta*S`` (subtract) or ``V*(1 - S)`` (zero), the ONNX body's order."""
    return v - theta * s if subtract else v * (1.0 - s)


class _LIFLayer(torch.autograd.Function):
    """A whole LIF layer (``beta`` None: IF) over time, optionally recurrent, with the hand-written backward
    recursion of the module docstring (reset before decay, SPEC ``snn.LIF``)."""

    @staticmethod
    def forward(ctx, current: Tensor, theta: Tensor, beta: Tensor | None, w_rec: Tensor | None,  # noqa: ANN001
                reset: str, surrogate: Surrogate) -> Tensor:
        subtract = reset == "subtract"
        v = torch.zeros_like(current[0])
        s = torch.zeros_like(current[0])
        vs = torch.empty_like(current)
        out = torch.empty_like(current)
        for t in range(current.shape[0]):
            drive = current[t] if w_rec is None else current[t] + s @ w_rec.t()  # I + S[t-1] @ W^T
            vr = _reset_potential(v, s, theta, subtract)
            v = (vr if beta is None else beta * vr) + drive
            s = (v >= theta).to(current.dtype)
            vs[t] = v
            out[t] = s
        ctx.save_for_backward(vs, out, theta, beta, w_rec)
        ctx.reset = reset
        ctx.surrogate = surrogate
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):  # noqa: ANN001, ANN205
        vs, out, theta, beta, w_rec = ctx.saved_tensors
        subtract = ctx.reset == "subtract"
        want_theta, want_beta, want_w = ctx.needs_input_grad[1], ctx.needs_input_grad[2], ctx.needs_input_grad[3]
        d_cur = torch.empty_like(vs)
        g_next = torch.zeros_like(vs[0])  # dL/dV[t+1]
        d_theta = torch.zeros_like(vs[0]) if want_theta else None
        d_beta = torch.zeros_like(vs[0]) if want_beta else None
        d_w = torch.zeros_like(w_rec) if want_w else None
        for t in reversed(range(vs.shape[0])):
            h = surrogate_derivative(vs[t], theta, ctx.surrogate)
            bg = g_next if beta is None else beta * g_next  # dL/dVr[t]
            ds = grad[t] if w_rec is None else grad[t] + g_next @ w_rec  # dS[t] through I'[t+1]
            if subtract:
                dsh = (ds - theta * bg) * h
                g = dsh + bg
                if want_theta:
                    d_theta -= dsh + out[t] * bg
            else:
                dsh = (ds - vs[t] * bg) * h
                g = dsh + (1.0 - out[t]) * bg
                if want_theta:
                    d_theta -= dsh
            d_cur[t] = g
            if t > 0:
                if want_beta:
                    d_beta += g * _reset_potential(vs[t - 1], out[t - 1], theta, subtract)
                if want_w:
                    d_w += g.reshape(-1, g.shape[-1]).t() @ out[t - 1].reshape(-1, g.shape[-1])
            g_next = g
        g_theta = _sum_to(d_theta, theta.shape) if want_theta else None
        g_beta = _sum_to(d_beta, beta.shape) if want_beta else None
        return d_cur, g_theta, g_beta, d_w, None, None


def lif_neuron(current: Tensor, theta: Tensor | float, beta: Tensor | float | None, reset: str = "subtract",
               surrogate: Surrogate | None = None, recurrent_weight: Tensor | None = None, *,
               fused: bool = True) -> Tensor:
    """Run a layer of LIF neurons (SPEC ``snn.LIF``, reset before decay) over a synaptic input train.

    ``V[t] = beta * Vr[t-1] + I'[t]``, ``S[t] = V[t] >= theta``, ``Vr = V - theta*S`` (subtract) or
    ``V*(1 - S)`` (zero), ``I'[t] = I[t] + S[t-1] @ W^T`` with a recurrent weight ``W [n, n]`` (else ``I``).
    ``beta=None`` is SPEC ``snn.IF`` (``beta = 1`` without the multiplication, the IF body's order).

    Args:
        current: ``I`` ``[T, B, *f]`` float32.
        theta: threshold, a float or a tensor broadcastable to ``f`` (may require grad).
        beta: the decay in [0, 1], a float or a tensor broadcastable to ``f`` (may require grad), or None.
        reset: ``"subtract"`` or ``"zero"``.
        surrogate: the surrogate derivative (default: paper eq. 14).
        recurrent_weight: ``W [n, n]`` for features ``[n]`` (may require grad), or None.
        fused: one autograd function with the hand-written backward (fast); False: autograd step by step
            through :func:`spike` (the same gradients, tested).

    Returns:
        the spike train ``S`` ``[T, B, *f]`` (float32 0/1).

    Example:
        >>> s = lif_neuron(torch.full((4, 1, 1), 0.3), 0.5, 0.5)
        >>> s.flatten().tolist()          # V: 0.3, 0.45, 0.525 -> fire, 0.3125
        [0.0, 0.0, 1.0, 0.0]
    """
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
    surrogate = surrogate or Surrogate()
    th = theta if isinstance(theta, Tensor) else torch.tensor(float(theta), dtype=current.dtype,
                                                               device=current.device)
    b = beta if beta is None or isinstance(beta, Tensor) else torch.tensor(float(beta), dtype=current.dtype,
                                                                           device=current.device)
    if recurrent_weight is not None:
        n = current.shape[-1]
        if current.dim() != 3 or tuple(recurrent_weight.shape) != (n, n):
            raise ValueError(f"a recurrent layer needs I [T, B, n] and W [n, n], got {tuple(current.shape)} and "
                             f"{tuple(recurrent_weight.shape)}")
    if fused:
        if b is None and recurrent_weight is None:
            return _IFLayer.apply(current, th, reset, surrogate)
        return _LIFLayer.apply(current, th, b, recurrent_weight, reset, surrogate)
    subtract = reset == "subtract"
    v = torch.zeros_like(current[0])
    s = torch.zeros_like(current[0])
    out = []
    for t in range(current.shape[0]):
        drive = current[t] if recurrent_weight is None else current[t] + s @ recurrent_weight.t()
        vr = _reset_potential(v, s, th, subtract)
        v = (vr if b is None else b * vr) + drive
        s = spike(v, th, surrogate)
        out.append(s)
    return torch.stack(out)


def li_neuron(current: Tensor, beta: Tensor | float) -> Tensor:
    """SPEC ``snn.LI``, the leaky integrator readout: ``V[t] = beta * V[t-1] + I[t]``; returns the trace
    ``[T, B, *f]`` (plain autograd: a few elementwise ops on the output layer).

    Example:
        >>> li_neuron(torch.ones(3, 1, 1), 0.5).flatten().tolist()
        [1.0, 1.5, 1.75]
    """
    b = beta if isinstance(beta, Tensor) else torch.tensor(float(beta), dtype=current.dtype, device=current.device)
    v = torch.zeros_like(current[0])
    out = []
    for t in range(current.shape[0]):
        v = b * v + current[t]
        out.append(v)
    return torch.stack(out)


def if_neuron(current: Tensor, theta: Tensor | float, reset: str = "subtract",
              surrogate: Surrogate | None = None, *, fused: bool = True) -> Tensor:
    """Run a layer of IF neurons (SPEC ``snn.IF``) over a synaptic input train.

    Args:
        current: ``I`` ``[T, B, *f]`` float32.
        theta: threshold, a float or a tensor broadcastable to ``f`` (may require grad).
        reset: ``"subtract"`` or ``"zero"``.
        surrogate: the surrogate derivative (default: paper eq. 14).
        fused: run the layer as one autograd function with the hand-written backward (fast); False builds
            the autograd graph step by step through :func:`spike` (the same gradients, tested).

    Returns:
        the spike train ``S`` ``[T, B, *f]`` (float32 0/1).

    Example:
        >>> s = if_neuron(torch.full((4, 1, 1), 0.3), 0.5)
        >>> s.flatten().tolist()          # V: 0.3, 0.6 -> fire, 0.4, 0.7 -> fire
        [0.0, 1.0, 0.0, 1.0]
    """
    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
    surrogate = surrogate or Surrogate()
    th = theta if isinstance(theta, Tensor) else torch.tensor(float(theta), dtype=current.dtype,
                                                               device=current.device)
    if fused:
        return _IFLayer.apply(current, th, reset, surrogate)
    v = torch.zeros_like(current[0])
    s = torch.zeros_like(current[0])
    out = []
    for t in range(current.shape[0]):
        if reset == "subtract":
            v = v - th * s + current[t]  # (V - theta*S) + I, the ONNX body's order
        else:
            v = v * (1.0 - s) + current[t]
        s = spike(v, th, surrogate)
        out.append(s)
    return torch.stack(out)


@torch.no_grad()
def rate_encode(x: Tensor, time_steps: int, threshold: float = 0.5) -> Tensor:
    """SPEC ``snn.RateEncode``: an IF neuron (reset by subtraction) fed ``clip(x, 0, 1)`` at every step.

    Args:
        x: ``[B, *f]`` float, values in [0, 1] (clamped).
        time_steps: T.
        threshold: the encoder's threshold (SPEC default 0.5).

    Returns:
        float32 spikes ``[T, B, *f]``.
    """
    xc = x.to(torch.float32).clamp(0.0, 1.0)
    th = torch.tensor(float(threshold), dtype=torch.float32, device=x.device)
    v = torch.zeros_like(xc)
    s = torch.zeros_like(xc)
    out = []
    for _ in range(time_steps):
        v = v - th * s + xc
        s = (v >= th).to(torch.float32)
        out.append(s)
    return torch.stack(out)
