"""Synthetic models for the YOSO tests and benchmarks (no training needed).

:func:`ttfs_mlp` builds an STDBP-style MLP (TTFS encoder, dense + ReL-PSP layers, first-spike decoder)
with random "trained-like" weights: zero-mean Gaussian with standard deviation ``sigma``, which with
threshold 1 makes roughly half the hidden neurons fire on MNIST-like inputs. :func:`ttfs_spikes` and
:func:`mlp_spike_rates` compute its spike trains with a direct NumPy transcription of the SPEC
equations, for spike statistics where the reference executor is not wanted (benchmarks).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from snnc.ir import Graph, ValueType


def ttfs_mlp(sizes: Sequence[int] = (784, 800, 10), time_steps: int = 32, *, sigma: float = 0.05,
             threshold: float = 1.0, seed: int = 0, bias: bool = False, name: str = "mlp") -> Graph:
    """A verified TTFS / dense / ReL-PSP MLP with layer sizes ``sizes`` (input first).

    Example:
        >>> g = ttfs_mlp((784, 800, 10))
        >>> [op.opname for op in g.ops][:3]
        ['snn.ttfs_encode', 'snn.dense', 'snn.relpsp']
    """
    rng = np.random.default_rng(seed)
    g = Graph(name, time_steps=time_steps, metadata={"snn.algorithm": "stdbp"})
    x = g.add_input("x", ValueType.tensor(sizes[0]))
    v = g.add_op("snn.ttfs_encode", [x], {"time_steps": time_steps, "window": time_steps}, name="s0")
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        attrs = {"weight": rng.normal(0.0, sigma, (n_out, n_in)).astype(np.float32)}
        if bias:
            attrs["bias"] = rng.normal(0.0, sigma, n_out).astype(np.float32)
        i = g.add_op("snn.dense", [v], attrs, name=f"fc{k}")
        v = g.add_op("snn.relpsp", [i], {"threshold": threshold}, name=f"h{k}" if k < len(sizes) - 1 else "out")
    y = g.add_op("snn.first_spike_decode", [v], name="scores")
    g.set_outputs([y])
    g.verify()
    return g


def ttfs_spikes(x: np.ndarray, time_steps: int, window: int | None = None) -> np.ndarray:
    """SPEC TTFS encoding of ``x`` [B, n] -> bool [T, B, n]."""
    window = time_steps if window is None else window
    x = np.clip(x.astype(np.float32), 0, 1)
    step = np.floor((np.float32(1) - x) * np.float32(window - 1) + np.float32(0.5)).astype(np.int64)
    out = np.zeros((time_steps, *x.shape), bool)
    b, n = np.nonzero(x > 0)
    out[step[b, n], b, n] = True
    return out


def relpsp(current: np.ndarray, threshold: float) -> np.ndarray:
    """SPEC ReL-PSP on [T, B, n] currents: K += I, V += K[t-1], first spike where V >= threshold."""
    k = np.zeros(current.shape[1:], np.float64)
    v = np.zeros_like(k)
    fired = np.zeros(k.shape, bool)
    out = np.zeros(current.shape, bool)
    for t in range(current.shape[0]):
        v = v + k
        k = k + current[t]
        s = (v >= threshold) & ~fired
        out[t] = s
        fired |= s
    return out


def mlp_spike_rates(graph: Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Per spike value, expected spikes per image per neuron, for a :func:`ttfs_mlp` graph on ``x``."""
    enc = graph.ops[0]
    spikes = ttfs_spikes(x, graph.time_steps, enc.attrs["window"])
    rates = {enc.result.name: spikes.sum(axis=(0, 1)) / x.shape[0]}
    ops = graph.ops[1:]
    for syn, neuron in zip(ops[0::2], ops[1::2], strict=False):
        if neuron.opname != "snn.relpsp":
            break
        w = syn.attrs["weight"].astype(np.float64)
        current = spikes.astype(np.float64) @ w.T
        if "bias" in syn.attrs:
            current = current + syn.attrs["bias"]
        spikes = relpsp(current, neuron.attrs["threshold"])
        rates[neuron.result.name] = spikes.sum(axis=(0, 1)) / x.shape[0]
    return rates
