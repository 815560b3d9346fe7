"""The quantize pass: integer weights within half an LSB, scaled thresholds and biases, recorded rules,
and an independent integer transcription of a quantized ReL-PSP and IF layer (docs/yoso.md)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from snnc.backends.yoso.hardware import load_hardware, with_overrides
from snnc.errors import PassError
from snnc.ir import Graph, ValueType
from snnc.passes import PassManager, get_pass

HW = load_hardware()


def mlp(weights: list[np.ndarray], *, neuron: str = "snn.relpsp", bias: bool = False, theta: float = 1.0,
        time_steps: int = 16) -> Graph:
    g = Graph("q", time_steps=time_steps)
    x = g.add_input("x", ValueType.tensor(weights[0].shape[1]))
    v = g.add_op("snn.ttfs_encode", [x], {"time_steps": time_steps, "window": time_steps}, name="s")
    for k, w in enumerate(weights):
        attrs = {"weight": w.astype(np.float32)}
        if bias:
            attrs["bias"] = np.linspace(-0.3, 0.2, w.shape[0]).astype(np.float32)
        i = g.add_op("snn.dense", [v], attrs, name=f"fc{k}")
        if neuron == "snn.relpsp":
            v = g.add_op("snn.relpsp", [i], {"threshold": theta}, name=f"h{k}")
        else:
            v = g.add_op("snn.if", [i], {"threshold": np.full(w.shape[0], theta, np.float32), "reset": "subtract"},
                         name=f"h{k}")
    g.set_outputs([g.add_op("snn.spike_count_decode", [v], name="y")])
    g.verify()
    return g


def quantize(g: Graph, **options: object) -> Graph:
    return PassManager([get_pass("quantize", **options)]).run(g).graph


def ops(g: Graph, name: str):  # noqa: ANN201
    return [op for op in g.ops if op.opname == name]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("granularity", ["per-layer", "per-channel"])
def test_weights_within_half_an_lsb_and_int8(seed: int, granularity: str) -> None:
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.1, (12, 20)) * rng.uniform(0.2, 3.0, (12, 1))
    g = quantize(mlp([w], neuron="snn.if"), granularity=granularity)
    (dense,) = ops(g, "snn.dense")
    q, scale = dense.attrs["weight"], dense.meta["quant"]["scale"]
    assert q.dtype == np.int8 and q.shape == w.shape
    s = np.full(12, scale) if granularity == "per-layer" else scale.astype(np.float64)
    assert np.all(np.abs(q * s[:, None] - w) <= s[:, None] / 2 + 1e-12)
    assert np.abs(q).max() == 127  # the largest weight (of the layer, or of each channel) uses the full range
    if granularity == "per-channel":
        assert np.all(np.abs(q).max(axis=1) == 127)
    assert dense.result.type.dtype == "i32"
    g.verify()


def test_thresholds_and_bias_scale_with_the_weights() -> None:
    w = np.array([[0.5, -0.25], [0.125, 1.0]])
    g = quantize(mlp([w], neuron="snn.if", bias=True, theta=0.7), granularity="per-channel")
    dense, neuron = ops(g, "snn.dense")[0], ops(g, "snn.if")[0]
    s = np.array([0.5, 1.0]) / 127
    np.testing.assert_array_equal(neuron.attrs["threshold"], np.rint(0.7 / s).astype(np.int32))
    assert neuron.attrs["threshold"].dtype == np.int32
    np.testing.assert_array_equal(dense.attrs["bias"], np.rint(np.array([-0.3, 0.2]) / s).astype(np.int32))
    q = neuron.meta["quant"]
    assert q["threshold_rule"] == "theta_q = max(1, rint(theta / scale))"
    np.testing.assert_array_equal(q["threshold_float"], np.array([0.7, 0.7], np.float32))
    assert q["potential_bits"] == HW.sram["potential"].bits and q["input_bits"] == HW.sram["acc_weight"].bits


def test_relpsp_threshold_is_an_integer_valued_float() -> None:
    w = np.array([[0.5, -0.25, 0.1]])
    g = quantize(mlp([w], theta=1.3))
    (neuron,) = ops(g, "snn.relpsp")
    assert neuron.attrs["threshold"] == float(np.rint(1.3 / (0.5 / 127)))
    assert neuron.meta["quant"]["threshold_float"] == 1.3 and neuron.meta["quant"]["slope_bits"] == 24


def test_tiny_threshold_rounds_up_to_one() -> None:
    g = quantize(mlp([np.array([[100.0, 1.0]])], theta=0.01))
    assert ops(g, "snn.relpsp")[0].attrs["threshold"] == 1.0


@pytest.mark.parametrize("neuron", ["snn.relpsp", "snn.if"])
@pytest.mark.parametrize("theta", [1e7, 1e30, 3e38])
def test_a_threshold_beyond_the_potential_word_is_a_design_rule_error(neuron: str, theta: float) -> None:
    # weights of magnitude 1 at 8 bits: scale 1/127, so theta_q = 127 * theta, far beyond a 24-bit potential;
    # the error comes with no NumPy overflow warning before it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(PassError, match=r"threshold .* does not fit the 24-bit neuron state"):
            quantize(mlp([np.array([[1.0, -0.5]])], neuron=neuron, theta=theta))


def test_a_bias_beyond_the_state_word_is_a_design_rule_error() -> None:
    g = mlp([np.array([[1.0, -0.5]] * 3)], neuron="snn.if", bias=True)
    next(op for op in g.ops if op.opname == "snn.dense").attrs["bias"][:] = np.float32(1e30)
    with pytest.raises(PassError, match=r"bias .* does not fit the 24-bit"):
        quantize(g)


def test_bits_option_and_default_from_the_hardware() -> None:
    w = np.random.default_rng(0).normal(0, 1, (4, 5))
    hw16 = with_overrides(HW, **{"sram.weight": {"bits": 16}})
    g = quantize(mlp([w]), hw=hw16)
    q = ops(g, "snn.dense")[0].attrs["weight"]
    assert q.dtype == np.int16 and np.abs(q).max() == 2 ** 15 - 1
    g4 = quantize(mlp([w]), bits=4)
    assert np.abs(ops(g4, "snn.dense")[0].attrs["weight"]).max() == 7
    with pytest.raises(PassError, match="16-bit weights do not fit the 8-bit words"):
        quantize(mlp([w]), bits=16)


def test_per_channel_relpsp_is_refused() -> None:
    w = np.array([[0.5, 0.1], [1.0, 0.2]])
    with pytest.raises(PassError, match="snn.relpsp has one scalar threshold"):
        quantize(mlp([w]), granularity="per-channel")


def test_unknown_granularity_is_refused() -> None:
    with pytest.raises(PassError, match="granularity must be one of"):
        quantize(mlp([np.ones((2, 2))]), granularity="per-tensor")


def test_quantize_is_idempotent_and_leaves_the_input_alone() -> None:
    g = mlp([np.random.default_rng(1).normal(0, 1, (3, 4))])
    once = quantize(g)
    twice = quantize(once)
    assert once.structurally_equal(twice)
    assert g.ops[1].attrs["weight"].dtype == np.float32


def test_avgpool_feeding_a_neuron_becomes_an_integer_depthwise_conv() -> None:
    g = Graph("pool", time_steps=4)
    x = g.add_input("x", ValueType.tensor(2, 4, 4))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 4, "window": 4})
    p = g.add_op("snn.avgpool2d", [s], {"kernel": [2, 2], "strides": [2, 2], "pads": [0, 0, 0, 0],
                                        "count_include_pad": 1})
    h = g.add_op("snn.if", [p], {"threshold": np.array(0.5, np.float32), "reset": "zero"})
    g.set_outputs([g.add_op("snn.spike_count_decode", [g.add_op("snn.flatten", [h])])])
    q = quantize(g)
    (conv,) = ops(q, "snn.conv2d")
    assert conv.attrs["group"] == 2 and conv.attrs["weight"].shape == (2, 1, 2, 2)
    assert np.all(conv.attrs["weight"] == 127) and conv.meta["lowered_from"] == "snn.avgpool2d"
    assert ops(q, "snn.if")[0].attrs["threshold"] == np.rint(0.5 * 4 * 127)


def test_avgpool_without_padding_counted_is_refused() -> None:
    g = Graph("pool", time_steps=4)
    x = g.add_input("x", ValueType.tensor(1, 4, 4))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 4, "window": 4})
    p = g.add_op("snn.avgpool2d", [s], {"kernel": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1],
                                        "count_include_pad": 0})
    h = g.add_op("snn.if", [p], {"threshold": np.array(0.5, np.float32), "reset": "zero"})
    g.set_outputs([g.add_op("snn.spike_count_decode", [g.add_op("snn.flatten", [h])])])
    with pytest.raises(PassError, match="count_include_pad = 0"):
        quantize(g)


def test_decoder_dense_on_the_host_stays_float() -> None:
    g = Graph("st", time_steps=4)
    x = g.add_input("x", ValueType.tensor(3))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 4, "window": 4})
    h = g.add_op("snn.if", [g.add_op("snn.dense", [s], {"weight": np.ones((2, 3), np.float32)})],
                 {"threshold": np.array(1.0, np.float32), "reset": "subtract"})
    f = g.add_op("snn.time_flatten", [h])
    y = g.add_op("snn.dense", [f], {"weight": np.ones((2, 8), np.float32)})
    g.set_outputs([y])
    q = quantize(g)
    dense = ops(q, "snn.dense")
    assert dense[0].attrs["weight"].dtype == np.int8 and dense[1].attrs["weight"].dtype == np.float32


# ------------------------------------------------------------------ independent integer transcription
def sat(x: int, bits: int) -> int:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return min(max(x, lo), hi)


def int_relpsp(w: list[list[int]], b: list[int], theta: int, spikes: list[list[int]], p_bits: int,
               a_bits: int) -> list[list[int]]:
    """docs/yoso.md, yoso-int-1: K[t] = sat_A(K[t-1] + I[t]), V[t] = sat_P(V[t-1] + K[t-1]), first spike."""
    n = len(w)
    k, v, fired, out = [0] * n, [0] * n, [False] * n, []
    for s in spikes:
        row = []
        for j in range(n):
            i_t = b[j] + sum(wj * si for wj, si in zip(w[j], s, strict=True))
            v[j] = sat(v[j] + k[j], p_bits)
            k[j] = sat(k[j] + i_t, a_bits)
            fire = v[j] >= theta and not fired[j]
            fired[j] = fired[j] or fire
            row.append(int(fire))
        out.append(row)
    return out


def int_if(w: list[list[int]], b: list[int], theta: list[int], spikes: list[list[int]], p_bits: int,
           reset: str) -> list[list[int]]:
    """docs/yoso.md, yoso-int-1: V[t] = sat_P(V[t-1] - theta*S[t-1] + I[t]) (or zero reset), S = V >= theta."""
    n = len(w)
    v, last, out = [0] * n, [0] * n, []
    for s in spikes:
        row = []
        for j in range(n):
            i_t = b[j] + sum(wj * si for wj, si in zip(w[j], s, strict=True))
            kept = v[j] - theta[j] * last[j] if reset == "subtract" else v[j] * (1 - last[j])
            v[j] = sat(kept + i_t, p_bits)
            last[j] = int(v[j] >= theta[j])
            row.append(last[j])
        out.append(row)
    return out


def float_relpsp(w: np.ndarray, theta: float, spikes: np.ndarray) -> np.ndarray:
    k = np.zeros(w.shape[0])
    v = np.zeros(w.shape[0])
    fired = np.zeros(w.shape[0], bool)
    out = []
    for s in spikes:
        v = v + k
        k = k + w @ s
        f = (v >= theta) & ~fired
        fired |= f
        out.append(f.astype(int))
    return np.array(out)


def _layer(g: Graph, neuron: str):  # noqa: ANN202
    dense, n = ops(g, "snn.dense")[0], ops(g, neuron)[0]
    w = dense.attrs["weight"].astype(int).tolist()
    b = dense.attrs["bias"].astype(int).tolist() if "bias" in dense.attrs else [0] * len(w)
    return w, b, n


def test_integer_transcription_of_a_quantized_relpsp_layer_is_deterministic_and_matches_dyadic_float() -> None:
    rng = np.random.default_rng(7)
    # dyadic weights whose largest magnitude is 127 / 64: the scale is exactly 1/64, quantization is exact
    k = rng.integers(-127, 128, (6, 10))
    k[0, 0] = 127
    w = k / 64.0
    g = quantize(mlp([w], theta=1.0))
    wq, bq, neuron = _layer(g, "snn.relpsp")
    assert wq == k.tolist() and neuron.attrs["threshold"] == 64.0
    spikes = (rng.random((16, 10)) < 0.3).astype(int)
    q = neuron.meta["quant"]
    first = int_relpsp(wq, bq, int(neuron.attrs["threshold"]), spikes.tolist(), q["potential_bits"], q["slope_bits"])
    again = int_relpsp(wq, bq, int(neuron.attrs["threshold"]), spikes.tolist(), q["potential_bits"], q["slope_bits"])
    assert first == again
    np.testing.assert_array_equal(np.array(first), float_relpsp(w, 1.0, spikes.astype(float)))
    assert np.array(first).sum() > 0


def test_integer_transcription_of_a_quantized_if_layer_saturates_at_the_recorded_width() -> None:
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.5, (5, 8))
    g = quantize(mlp([w], neuron="snn.if", bias=True, theta=0.4))
    wq, bq, neuron = _layer(g, "snn.if")
    theta = neuron.attrs["threshold"].astype(int).tolist()
    spikes = (rng.random((20, 8)) < 0.5).astype(int).tolist()
    p_bits = neuron.meta["quant"]["potential_bits"]
    out = int_if(wq, bq, theta, spikes, p_bits, "subtract")
    assert out == int_if(wq, bq, theta, spikes, p_bits, "subtract") and 0 < np.sum(out) < 100
    # with a narrow potential the transcription clamps: inputs pile up but V stays at the bound
    narrow = int_if([[100]], [0], [10 ** 6], [[1]] * 5, 8, "zero")
    assert narrow == [[0]] * 5
    assert int_if([[100]], [0], [127], [[1]] * 2, 8, "zero") == [[0], [1]]  # 100, then 200 clamps to 127 >= 127
