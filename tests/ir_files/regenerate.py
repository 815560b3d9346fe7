"""Build the graphs behind ``valid/*.snnir`` in Python and print them into the folder.

Run ``python tests/ir_files/regenerate.py`` after a deliberate change of the text format, then
review the diff: the files are golden outputs of the printer. ``--errors`` rewrites the pinned
``invalid/*.err`` messages from the current parser (review those diffs line by line too).

Together the graphs use all 13 ops, both neuron kinds (IF with both resets), int8 weights,
per-channel IF thresholds, ``meta`` annotations, metadata with quotes and unicode, quoted names,
several inputs and outputs, and arrays both inline (small) and in the resource section (large).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from snnc.ir import Graph, ValueType
from snnc.ir.parser import parse_graph
from snnc.ir.printer import print_graph

HERE = Path(__file__).resolve().parent


def _rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def mlp_ttfs() -> Graph:
    """TTFS encoder, two ReLPSP layers, first-spike decoder; meta annotations and tricky metadata."""
    rng = _rng()
    g = Graph("mlp_ttfs", time_steps=16, metadata={
        "snn.encoding": "ttfs",
        "producer": 'snnc "test" suite',
        "note": "unicode: Δt ≥ 1 ms, 神经元 ✓\ttab\\backslash\nnewline",
    })
    x = g.add_input("x", ValueType.tensor(12))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 16, "window": 12}, name="spikes_in")
    i1 = g.add_op("snn.dense", [s], {"weight": rng.normal(0, 0.3, (10, 12)).astype(np.float32),
                                     "bias": np.linspace(-0.5, 0.5, 10, dtype=np.float32)},
                  meta={"pe": 3, "scale": 0.0078125, "route": [0, 1, 2], "layer": "fc1"})
    h = g.add_op("snn.relpsp", [i1], {"threshold": 1.25}, meta={
        "rates": {"mean": 0.125, "max": 1.0, "per_step": np.arange(16, dtype=np.float64) / 16},
        "big": 12345678901234567890, "tiny": 5e-324, "neg_zero": -0.0, "inf": float("inf"),
        "flags": [True, False], "empty": {}, "none_listed": [],
        "quoted key \"x\"": "value with \"quotes\"", "graph": "a keyword as key",
    })
    i2 = g.add_op("snn.dense", [h], {"weight": rng.normal(0, 0.3, (4, 10)).astype(np.float32)})
    o = g.add_op("snn.relpsp", [i2], {"threshold": 0.1})
    y = g.add_op("snn.first_spike_decode", [o], name="scores")
    g.set_outputs([y])
    return g


def conv_rate_if() -> Graph:
    """Rate encoder, conv2d, IF with per-channel thresholds (subtract), avgpool, flatten, dense, IF (zero)."""
    rng = _rng()
    g = Graph("conv_rate_if", time_steps=6, metadata={"snn.encoding": "rate"})
    x = g.add_input("image", ValueType.tensor(1, 8, 8))
    s = g.add_op("snn.rate_encode", [x], {"time_steps": 6, "threshold": 0.5})
    c = g.add_op("snn.conv2d", [s], {"weight": rng.normal(0, 0.5, (4, 1, 3, 3)).astype(np.float32),
                                     "bias": np.array([0.0, 0.1, -0.1, 0.2], np.float32),
                                     "strides": [1, 1], "pads": [1, 1, 1, 1], "dilations": [1, 1], "group": 1})
    h = g.add_op("snn.if", [c], {"threshold": np.array([1.0, 0.75, 1.5, 2.0], np.float32).reshape(4, 1, 1),
                                 "reset": "subtract"})
    p = g.add_op("snn.avgpool2d", [h], {"kernel": [2, 2], "strides": [2, 2], "pads": [0, 0, 0, 0],
                                        "count_include_pad": 1})
    f = g.add_op("snn.flatten", [p])
    d = g.add_op("snn.dense", [f], {"weight": rng.normal(0, 0.2, (3, 64)).astype(np.float32)})
    o = g.add_op("snn.if", [d], {"threshold": np.array(0.5, np.float32), "reset": "zero"})
    y = g.add_op("snn.spike_count_decode", [o], name="scores")
    g.set_outputs([y])
    return g


def int8_quantized() -> Graph:
    """Quantized: int8 weights, int32 bias and thresholds, integer currents; reshape; last-step decoder."""
    rng = _rng()
    g = Graph("int8_quantized", time_steps=4, metadata={"snnc.passes": "quantize-int8"})
    x = g.add_input("x", ValueType.tensor(2, 3, 4))
    s = g.add_op("snn.rate_encode", [x], {"time_steps": 4, "threshold": 0.5})
    r = g.add_op("snn.reshape", [s], {"shape": [24]})
    d = g.add_op("snn.dense", [r], {"weight": rng.integers(-128, 128, (8, 24)).astype(np.int8),
                                    "bias": np.arange(-4, 4, dtype=np.int32)},
                 meta={"quant": {"scale": 0.0123, "zero_point": 0, "bits": 8}})
    o = g.add_op("snn.if", [d], {"threshold": np.full(8, 64, np.int32), "reset": "subtract"})
    y = g.add_op("snn.last_step_decode", [o], name="scores")
    g.set_outputs([y])
    return g


def stbp_two_inputs() -> Graph:
    """Two inputs, two outputs; time_flatten feeding a dense on tensors; dense on a tensor kind."""
    rng = _rng()
    g = Graph("stbp_two_inputs", time_steps=3)
    a = g.add_input("a", ValueType.tensor(5))
    b = g.add_input("b", ValueType.tensor(5))
    sa = g.add_op("snn.rate_encode", [a], {"time_steps": 3, "threshold": 0.25})
    sb = g.add_op("snn.ttfs_encode", [b], {"time_steps": 3, "window": 3})
    ia = g.add_op("snn.dense", [sa], {"weight": rng.normal(0, 1, (6, 5)).astype(np.float32)})
    ib = g.add_op("snn.dense", [sb], {"weight": rng.normal(0, 1, (6, 5)).astype(np.float64)})
    ha = g.add_op("snn.if", [ia], {"threshold": np.array([1.0], np.float64), "reset": "zero"})
    hb = g.add_op("snn.relpsp", [ib], {"threshold": 2.0})
    t = g.add_op("snn.time_flatten", [ha])
    y = g.add_op("snn.dense", [t], {"weight": rng.normal(0, 1, (2, 18)).astype(np.float32)}, name="logits")
    z = g.add_op("snn.first_spike_decode", [hb], name="first")
    g.set_outputs([y, z])
    return g


def quoted_names() -> Graph:
    """ONNX-style names that need quoting, and a graph name with spaces."""
    g = Graph("exported model (v2)", time_steps=2, metadata={"": "empty key"})
    x = g.add_input("input:0", ValueType.tensor(3))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 2, "window": 2}, name="/enc/TTFS_output_0")
    d = g.add_op("snn.dense", [s], {"weight": np.eye(3, dtype=np.float32)}, name="fc.1")
    o = g.add_op("snn.relpsp", [d], {"threshold": 0.5}, name="neurons \"out\"")
    y = g.add_op("snn.spike_count_decode", [o], name="scores")
    g.set_outputs([y])
    return g


def leaky_dag() -> Graph:
    """The leaky ops (issue 14): a spike train feeding two synapses merged with snn.add, a recurrent LIF
    (delayed reset), a CubaLIF, a recurrent IF, an LI readout whose potential trace three decoders read."""
    g = Graph("leaky_dag", time_steps=6)
    x = g.add_input("x", ValueType.tensor(4))
    s = g.add_op("snn.rate_encode", [x], {"time_steps": 6, "threshold": 0.5}, name="s")
    a = g.add_op("snn.dense", [s], {"weight": np.full((3, 4), 0.25, np.float32)}, name="a")
    b = g.add_op("snn.dense", [s], {"weight": np.full((3, 4), -0.125, np.float32)}, name="b")
    m = g.add_op("snn.add", [a, b], name="merged")
    h = g.add_op("snn.lif", [m], {"threshold": np.array([0.5], np.float32),
                                  "beta": np.array([0.5, 0.75, 1.0], np.float32), "reset": "subtract",
                                  "delayed_reset": 1, "recurrent_weight": np.eye(3, dtype=np.float32) / 4}, name="h")
    c = g.add_op("snn.dense", [h], {"weight": np.eye(3, dtype=np.float32)}, name="c")
    k = g.add_op("snn.cuba_lif", [c], {"threshold": np.array([0.75], np.float32),
                                       "alpha": np.array([0.5], np.float32), "beta": np.array([0.875], np.float32),
                                       "reset": "zero", "delayed_reset": 0}, name="k")
    d = g.add_op("snn.dense", [k], {"weight": np.eye(3, dtype=np.float32)}, name="d")
    r = g.add_op("snn.if", [d], {"threshold": np.array([1.0], np.float32), "reset": "zero",
                                 "recurrent_weight": np.full((3, 3), -0.5, np.float32)}, name="r")
    o = g.add_op("snn.dense", [r], {"weight": np.full((2, 3), 0.5, np.float32)}, name="o")
    v = g.add_op("snn.li", [o], {"beta": np.array([0.875], np.float32)}, name="trace")
    y = g.add_op("snn.max_over_time_decode", [v], name="scores")
    last = g.add_op("snn.last_step_decode", [v], name="last")
    mean = g.add_op("snn.spike_count_decode", [v], name="mean")
    g.set_outputs([y, last, mean])
    return g


#: file stem -> graph builder (the test module imports this table).
GRAPHS: dict[str, Callable[[], Graph]] = {f.__name__: f for f in
                                           (mlp_ttfs, conv_rate_if, int8_quantized, stbp_two_inputs, quoted_names,
                                            leaky_dag)}


def main(argv: list[str]) -> None:
    for stem, build in GRAPHS.items():
        graph = build()
        graph.verify()
        (HERE / "valid" / f"{stem}.snnir").write_text(print_graph(graph), encoding="utf-8")
    if "--errors" in argv:
        for path in sorted((HERE / "invalid").glob("*.snnir")):
            try:
                parse_graph(path.read_text(encoding="utf-8"), source=path.name)
            except Exception as err:  # noqa: BLE001 - we record whatever the parser says
                path.with_suffix(".err").write_text(f"{type(err).__name__}: {err}\n", encoding="utf-8")
            else:
                print(f"{path.name} parses without an error", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
