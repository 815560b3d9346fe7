"""What ``tests/test_neuron_plugin.py`` runs in a fresh interpreter once the example neuron plugin
(``tests/neuron_plugin_pkg``, op ``example.leaky_if``) is pip-installed: nothing here imports the plugin, snnc
finds it through its ``snnc.ops`` entry point. Each stage prints one JSON line ``{"stage": ..., "ok": ...}``.

    python -m snnc.tests.neuron_plugin_checks DIR
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

T = 12
N_IN, N_HID, N_OUT = 6, 5, 3
LEAK = 2
OP = "example.leaky_if"


def _weights(seed: int, shape: tuple[int, int]) -> np.ndarray:
    """Multiples of 1/64 (exact float32 sums in any order), mostly positive so that the neurons fire."""
    rng = np.random.default_rng(seed)
    return (rng.integers(-16, 48, shape) / 64).astype(np.float32)


def _dense(a: np.ndarray) -> str:
    return "dense<[" + ", ".join(repr(float(v)) if a.dtype.kind == "f" else str(int(v)) for v in a.reshape(-1)) + \
        f"]> : {'f32' if a.dtype.kind == 'f' else 'i' + str(8 * a.dtype.itemsize)}[{','.join(map(str, a.shape))}]"


W1, W2 = _weights(1, (N_HID, N_IN)), _weights(2, (N_OUT, N_HID))

#: the float model, as IR text: rate encoder, two leaky-IF layers, spike-count decoder
FLOAT_MODEL = f"""snnc.ir 1
graph @leaky(%x: tensor<Bx{N_IN}xf32>) time_steps = {T} {{
  %s = snn.rate_encode(%x) {{time_steps = {T}, threshold = 0.5}} : spikes<TxBx{N_IN}>
  %c1 = snn.dense(%s) {{weight = {_dense(W1)}}} : current<TxBx{N_HID}xf32>
  %h = {OP}(%c1) {{threshold = {_dense(np.array(1.0, np.float32))}, leak_shift = {LEAK}}} : spikes<TxBx{N_HID}>
  %c2 = snn.dense(%h) {{weight = {_dense(W2)}}} : current<TxBx{N_OUT}xf32>
  %o = {OP}(%c2) {{threshold = {_dense(np.array(0.75, np.float32))}, leak_shift = {LEAK}}} : spikes<TxBx{N_OUT}>
  %out = snn.spike_count_decode(%o) : tensor<Bx{N_OUT}xf32>
  return %out
}}
"""

W1_Q, W2_Q = (W1 * 64).astype(np.int8), (W2 * 64).astype(np.int8)
THETA1_Q, THETA2_Q = 64, 48
_T1, _T2 = _dense(np.array(THETA1_Q, np.int32)), _dense(np.array(THETA2_Q, np.int32))
_QUANT_SYN = 'meta {quant = {bits = 8, semantics = "yoso-int-1"}}'
_QUANT_NEURON = 'meta {quant = {potential_bits = 16, input_bits = 12, semantics = "yoso-int-1"}}'

#: the same model quantized by hand (scale 1/64), as IR text: integer weights and thresholds, the state widths
INTEGER_MODEL = f"""snnc.ir 1
graph @leaky_q(%x: tensor<Bx{N_IN}xf32>) time_steps = {T} {{
  %s = snn.rate_encode(%x) {{time_steps = {T}, threshold = 0.5}} : spikes<TxBx{N_IN}>
  %c1 = snn.dense(%s) {{weight = {_dense(W1_Q)}}} : current<TxBx{N_HID}xi32> {_QUANT_SYN}
  %h = {OP}(%c1) {{threshold = {_T1}, leak_shift = {LEAK}}} : spikes<TxBx{N_HID}> {_QUANT_NEURON}
  %c2 = snn.dense(%h) {{weight = {_dense(W2_Q)}}} : current<TxBx{N_OUT}xi32> {_QUANT_SYN}
  %o = {OP}(%c2) {{threshold = {_T2}, leak_shift = {LEAK}}} : spikes<TxBx{N_OUT}> {_QUANT_NEURON}
  %out = snn.spike_count_decode(%o) : tensor<Bx{N_OUT}xf32>
  return %out
}}
"""


def inputs(n: int = 4) -> np.ndarray:
    return np.random.default_rng(3).random((n, N_IN)).astype(np.float32)


def rate_spikes(x: np.ndarray) -> np.ndarray:
    """SPEC rate encoder (float32): IF fed clip(x, 0, 1), threshold 0.5, reset by subtraction."""
    xc = np.clip(x, 0, 1).astype(np.float32)
    v = np.zeros_like(xc)
    out = np.zeros((T, *x.shape), bool)
    for t in range(T):
        if t:
            v = np.where(out[t - 1], v - np.float32(0.5), v)
        v = v + xc
        out[t] = v >= np.float32(0.5)
    return out


def spec_leaky(current: np.ndarray, theta: float, integer: tuple[int, int] | None = None) -> np.ndarray:
    """The plugin's equations written out again, independently of its kernels."""
    v = np.zeros(current.shape[1:], np.int64 if integer else np.float32)
    out = np.zeros(current.shape, bool)
    for t in range(current.shape[0]):
        v = np.where(out[t - 1], 0, v) if t else v
        v = (v - (v >> LEAK) + current[t]) if integer else (v - v * np.float32(2.0 ** -LEAK)) + current[t]
        if integer:
            v = np.clip(v, *integer)
        out[t] = v >= theta
    return out


def _stage(name: str, fn: Callable[[], dict]) -> None:
    try:
        detail = fn() or {}
        print(json.dumps({"stage": name, "ok": True, **detail}), flush=True)
    except Exception as e:  # report, and go on with the next stage
        print(json.dumps({"stage": name, "ok": False, "error": f"{type(e).__name__}: {e}",
                          "traceback": traceback.format_exc()}), flush=True)


def main(workdir: Path) -> None:
    from snnc.backends.reference import ReferenceBackend
    from snnc.ir import is_neuron, neuron_traits
    from snnc.ir.parser import parse_graph
    from snnc.ir.printer import print_graph

    x = inputs()
    s = rate_spikes(x)

    def parse() -> dict:
        g = parse_graph(FLOAT_MODEL)
        g.verify()
        assert print_graph(parse_graph(print_graph(g))) == print_graph(g)
        assert is_neuron(OP) and neuron_traits(OP).reset == "zero"
        return {"ops": [op.opname for op in g.ops]}

    def float_run() -> dict:
        g = parse_graph(FLOAT_MODEL)
        r = ReferenceBackend(mode="float").run(g, x, record=True)
        h = spec_leaky(s.astype(np.float32) @ W1.T, 1.0)
        o = spec_leaky(h.astype(np.float32) @ W2.T, 0.75)
        assert np.array_equal(r.spikes["h"], h) and np.array_equal(r.spikes["o"], o)
        assert np.array_equal(r.scores, o.sum(axis=0).astype(np.float32) / np.float32(T))
        return {"spikes": {"h": int(h.sum()), "o": int(o.sum())}}

    def integer_run() -> dict:
        g = parse_graph(INTEGER_MODEL)
        r = ReferenceBackend(mode="integer").run(g, x, record=True)
        rng = (-(1 << 15), (1 << 15) - 1)
        h = spec_leaky(s.astype(np.int64) @ W1_Q.T.astype(np.int64), THETA1_Q, rng)
        o = spec_leaky(h.astype(np.int64) @ W2_Q.T.astype(np.int64), THETA2_Q, rng)
        assert np.array_equal(r.spikes["h"], h) and np.array_equal(r.spikes["o"], o)
        assert h.sum() > 0 and o.sum() > 0
        return {"spikes": {"h": int(h.sum()), "o": int(o.sum())}}

    def yoso() -> dict:
        from snnc.backends.yoso import compile_yoso
        from snnc.backends.yoso.drivers.simulate import simulate_deployment

        compiled = compile_yoso(parse_graph(FLOAT_MODEL), workdir / "dep")
        assert all(np.issubdtype(op.attrs["weight"].dtype, np.integer)
                   for op in compiled.graph.ops if op.opname == "snn.dense")
        reference = ReferenceBackend().run(compiled.graph, x, record=True)
        sim = simulate_deployment(workdir / "dep", x, record=True)
        for name in ("h", "o"):
            assert reference.spikes[name].sum() > 0, name
            assert np.array_equal(reference.spikes[name], sim.spikes[name]), name
        assert np.array_equal(reference.scores, sim.scores)
        return {"spikes": {n: int(reference.spikes[n].sum()) for n in ("h", "o")}}

    _stage("parse", parse)
    _stage("float", float_run)
    _stage("integer", integer_run)
    _stage("yoso", yoso)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
