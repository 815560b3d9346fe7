"""Synthetic models for the YOSO tests and benchmarks (no training needed); a test helper, not library code.

:func:`ttfs_mlp` builds an STDBP-style MLP (TTFS encoder, dense + ReL-PSP layers, first-spike decoder)
with random "trained-like" weights: zero-mean Gaussian with standard deviation ``sigma``, which with
threshold 1 makes roughly half the hidden neurons fire on MNIST-like inputs.
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
