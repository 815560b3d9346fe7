"""The reference executor's integer mode (docs/yoso.md, "Integer mode"): quantized graphs run with the YOSO
chip's arithmetic. Checked against an independent transcription written here in plain Python ints: the
chip's per-spike saturating adds into the accumulated weight, the saturating potential update, integer
thresholds; on random inputs, ReL-PSP and IF (both resets), dense and conv, with and without saturation;
against float mode where quantization is exact; and every error naming its op."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snnc.api import load_model
from snnc.backends import get_backend
from snnc.backends.reference import ReferenceBackend, ReferenceExecutor
from snnc.backends.yoso import compile_yoso
from snnc.backends.yoso.hardware import load_hardware, with_overrides
from snnc.errors import BackendError
from snnc.ir import Graph, ValueType
from snnc.ir.parser import parse_graph
from snnc.ir.printer import print_graph
from snnc.passes import PassManager, get_pass

F32 = np.float32
HW = load_hardware()


# ------------------------------------------------------------------------------------------- models
def dyadic(rng: np.random.Generator, shape: tuple[int, ...], *, full_rows: bool = True, mean: int = 0) -> np.ndarray:
    """Multiples of 1/64 in [-127/64, 127/64]; with ``full_rows`` each output channel has an entry 127/64, so the
    quantize pass's scale is exactly 1/64 per layer and per channel (quantization is then exact)."""
    k = np.clip(rng.integers(-100, 101, shape) + mean, -127, 127)
    if full_rows:
        k.reshape(shape[0], -1)[:, 0] = 127
    return (k / 64).astype(F32)


def mlp(rng: np.random.Generator, *, neuron: str = "relpsp", sizes: tuple[int, ...] = (12, 9, 4), time_steps: int = 12,
        encoder: str = "ttfs", bias: bool = True, spike_input: bool = False, weights: list[np.ndarray] | None = None,
        theta: float = 1.0) -> Graph:
    """(encoder ->) (dense -> neuron)* -> decoder; dyadic weights, biases and thresholds."""
    g = Graph("mlp", time_steps=time_steps)
    if spike_input:
        v = g.add_input("x", ValueType.spikes(sizes[0]))
    else:
        v = g.add_input("x", ValueType.tensor(sizes[0]))
        attrs = ({"time_steps": time_steps, "window": time_steps} if encoder == "ttfs"
                 else {"time_steps": time_steps, "threshold": 0.5})
        v = g.add_op(f"snn.{encoder}_encode", [v], attrs, name="enc")
    for k, (m, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        attrs = {"weight": weights[k] if weights is not None else dyadic(rng, (n, m), mean=15)}
        if bias:
            attrs["bias"] = (rng.integers(-20, 21, n) / 64).astype(F32)
        i = g.add_op("snn.dense", [v], attrs, name=f"fc{k}")
        if neuron == "relpsp":
            v = g.add_op("snn.relpsp", [i], {"threshold": theta}, name=f"h{k}")
        else:
            thresholds = (rng.integers(32, 96, n) / 64).astype(F32)
            v = g.add_op("snn.if", [i], {"threshold": thresholds, "reset": neuron}, name=f"h{k}")
    decoder = "snn.first_spike_decode" if neuron == "relpsp" else "snn.spike_count_decode"
    g.set_outputs([g.add_op(decoder, [v], name="scores")])
    g.verify()
    return g


def conv_net(rng: np.random.Generator, reset: str, time_steps: int = 8) -> Graph:
    """ttfs -> conv 3x3 stride 1 pad 1 (2 -> 3 channels, 6x6) -> IF -> flatten -> dense -> IF -> count."""
    g = Graph("conv", time_steps=time_steps)
    x = g.add_input("x", ValueType.tensor(2, 6, 6))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": time_steps, "window": time_steps}, name="enc")
    c = g.add_op("snn.conv2d", [s], {"weight": dyadic(rng, (3, 2, 3, 3), mean=20),
                                     "bias": (rng.integers(-20, 21, 3) / 64).astype(F32),
                                     "strides": [1, 1], "pads": [1, 1, 1, 1], "dilations": [1, 1], "group": 1},
                 name="conv")
    h = g.add_op("snn.if", [c], {"threshold": (rng.integers(32, 96, (3, 1, 1)) / 64).astype(F32), "reset": reset},
                 name="h0")
    f = g.add_op("snn.flatten", [h], name="flat")
    d = g.add_op("snn.dense", [f], {"weight": dyadic(rng, (4, 108), mean=10)}, name="fc1")
    o = g.add_op("snn.if", [d], {"threshold": np.array(1.5, F32), "reset": reset}, name="h1")
    g.set_outputs([g.add_op("snn.spike_count_decode", [o], name="scores")])
    g.verify()
    return g


def quantize(g: Graph, hw: object = None, **options: object) -> Graph:
    return PassManager(["canonicalize", "dce", get_pass("quantize", hw=hw, **options)]).run(g).graph


def inputs(rng: np.random.Generator, batch: int, *features: int) -> np.ndarray:
    x = rng.random((batch, *features)).astype(F32)
    x[rng.random(x.shape) < 0.2] = 0.0  # no spike for these
    return x


# ------------------------------------------------------ the independent transcription (plain Python ints)
def sat(x: int, bits: int) -> int:
    """Two's-complement saturation to ``bits`` bits."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return min(max(x, lo), hi)


def accumulate(acc: int, terms: list[int], bits: int) -> int:
    """The chip's saturating adder: one add per term, in the given order."""
    for term in terms:
        acc = sat(acc + term, bits)
    return acc


def ttfs(x: np.ndarray, time_steps: int, window: int) -> list[list[int]]:
    """SPEC TTFS of one sample (float32 formula, element by element) -> spikes[t][i]."""
    out = [[0] * x.size for _ in range(time_steps)]
    for i, v in enumerate(x.ravel().tolist()):
        if v > 0:
            xc = np.float32(min(v, 1.0))
            out[int(np.floor((np.float32(1) - xc) * np.float32(window - 1) + np.float32(0.5)))][i] = 1
    return out


def rate(x: np.ndarray, time_steps: int, theta: float) -> list[list[int]]:
    """SPEC rate encoder of one sample: float32 IF with reset by subtraction."""
    th = np.float32(theta)
    v = [np.float32(0)] * x.size
    xs = [np.float32(min(max(a, 0.0), 1.0)) for a in x.ravel().tolist()]
    out, last = [], [0] * x.size
    for _ in range(time_steps):
        row = []
        for i in range(x.size):
            v[i] = (v[i] - th if last[i] else v[i]) + xs[i]
            last[i] = int(v[i] >= th)
            row.append(last[i])
        out.append(row)
    return out


def dense_terms(op: object, spikes: list[int]) -> list[list[int]]:
    """Per neuron the integers added into its accumulated weight this step: the bias, then each spike's weight."""
    w = op.attrs["weight"].tolist()
    b = op.attrs["bias"].tolist() if "bias" in op.attrs else [0] * len(w)
    return [[b[j]] + [w[j][i] for i, s in enumerate(spikes) if s] for j in range(len(w))]


def conv_terms(op: object, spikes: list[int], shape: tuple[int, int, int]) -> list[list[int]]:
    """Same for a stride-1 conv with pads [p, p, p, p] (flat neuron index (o*H + y)*W + x)."""
    w = op.attrs["weight"].tolist()
    b = op.attrs["bias"].tolist() if "bias" in op.attrs else [0] * len(w)
    channels, height, width = shape
    pad = op.attrs["pads"][0]
    kh, kw = len(w[0][0]), len(w[0][0][0])
    terms = []
    for o in range(len(w)):
        for y in range(height):
            for x in range(width):
                row = [b[o]]
                for c in range(channels):
                    for p in range(kh):
                        for q in range(kw):
                            iy, ix = y + p - pad, x + q - pad
                            if 0 <= iy < height and 0 <= ix < width and spikes[(c * height + iy) * width + ix]:
                                row.append(w[o][c][p][q])
                terms.append(row)
    return terms


def relpsp(terms: list[list[list[int]]], op: object) -> list[list[int]]:
    """yoso-int-1 ReL-PSP: V <- sat_P(V + K) and fire (once), then the step's terms into K one by one."""
    q, theta = op.meta["quant"], int(op.attrs["threshold"])
    n = len(terms[0])
    k, v, fired, out = [0] * n, [0] * n, [False] * n, []
    for step in terms:
        row = []
        for j in range(n):
            v[j] = sat(v[j] + k[j], q["potential_bits"])
            fire = v[j] >= theta and not fired[j]
            fired[j] = fired[j] or fire
            row.append(int(fire))
            k[j] = accumulate(k[j], step[j], q["slope_bits"])
        out.append(row)
    return out


def integrate_and_fire(terms: list[list[list[int]]], op: object) -> list[list[int]]:
    """yoso-int-1 IF: I summed from 0 by the saturating adder, V <- sat_P(V - theta*S + I) or sat_P(V*(1-S) + I)."""
    q = op.meta["quant"]
    n = len(terms[0])
    theta = np.broadcast_to(op.attrs["threshold"], op.result.type.features).ravel().tolist()
    v, last, out = [0] * n, [0] * n, []
    for step in terms:
        for j in range(n):
            current = accumulate(0, step[j], q["input_bits"])
            kept = v[j] - theta[j] * last[j] if op.attrs["reset"] == "subtract" else v[j] * (1 - last[j])
            v[j] = sat(kept + current, q["potential_bits"])
            last[j] = int(v[j] >= theta[j])
        out.append(list(last))
    return out


def transcribe(g: Graph, x: np.ndarray) -> tuple[list[list[float]], dict[str, list]]:
    """Run graph ``g`` (chains of encoder, dense/conv + neuron, flatten, decoder) sample by sample in plain ints.
    Returns the scores [B][N] and every spike train {name: [B][T][n]}."""
    steps = g.time_steps
    scores, trains = [], {}
    for b in range(x.shape[1] if g.inputs[0].type.kind.value == "spikes" else x.shape[0]):
        env: dict[str, list[list[int]]] = {}
        if g.inputs[0].type.kind.value == "spikes":
            env[g.inputs[0].name] = x[:, b].reshape(steps, -1).astype(int).tolist()
        pending = None
        for op in g.ops:
            name = op.result.name
            if op.opname == "snn.ttfs_encode":
                env[name] = ttfs(x[b], steps, op.attrs["window"])
            elif op.opname == "snn.rate_encode":
                env[name] = rate(x[b], steps, op.attrs["threshold"])
            elif op.opname == "snn.dense":
                pending = [dense_terms(op, s) for s in env[op.operands[0].name]]
            elif op.opname == "snn.conv2d":
                shape = op.operands[0].type.features
                pending = [conv_terms(op, s, shape) for s in env[op.operands[0].name]]
            elif op.opname == "snn.relpsp":
                env[name] = relpsp(pending, op)
            elif op.opname == "snn.if":
                env[name] = integrate_and_fire(pending, op)
            elif op.opname == "snn.flatten":
                env[name] = env[op.operands[0].name]
            elif op.opname == "snn.first_spike_decode":
                s = env[op.operands[0].name]
                first = [next((t for t in range(steps) if s[t][j]), steps) for j in range(len(s[0]))]
                scores.append([float(steps - t) for t in first])
            elif op.opname == "snn.spike_count_decode":
                s = env[op.operands[0].name]
                scores.append([float(np.float32(sum(r[j] for r in s)) / np.float32(steps)) for j in range(len(s[0]))])
            else:
                raise AssertionError(f"the transcription has no rule for {op.opname}")
            if name in env:
                trains.setdefault(name, []).append(env[name])
    return scores, trains


def run_int(g: Graph, x: np.ndarray, **options: object):  # noqa: ANN201
    return ReferenceExecutor(g, mode="integer").run(x, record=True, **options)


def assert_equals_transcription(q: Graph, x: np.ndarray) -> dict[str, list]:
    result = run_int(q, x)
    scores, trains = transcribe(q, x)
    np.testing.assert_array_equal(result.outputs["scores"], np.array(scores, F32))
    for name, train in trains.items():
        got = result.spikes[name]
        np.testing.assert_array_equal(got.reshape(got.shape[0], got.shape[1], -1).transpose(1, 0, 2),
                                      np.array(train, bool), err_msg=name)
    return trains


# ------------------------------------------------------------------------------ equal to the transcription
@pytest.mark.parametrize("seed", range(3))
def test_relpsp_mlp_equals_the_transcription_on_random_inputs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # weights off the 1/64 grid: the quantization rounds (the integer graph is what is checked)
    g = mlp(rng, weights=[rng.normal(0.15, 0.4, (9, 12)).astype(F32), rng.normal(0.2, 0.5, (4, 9)).astype(F32)])
    q = quantize(g)
    x = inputs(rng, 6, 12)
    trains = assert_equals_transcription(q, x)
    assert 0 < np.sum(trains["h0"]) and 0 < np.sum(trains["h1"])  # spikes happen in both layers


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("granularity", ["per-layer", "per-channel"])
def test_if_mlp_equals_the_transcription_on_random_inputs(reset: str, granularity: str) -> None:
    rng = np.random.default_rng(11)
    g = mlp(rng, neuron=reset, encoder="rate",
            weights=[rng.normal(0.1, 0.3, (9, 12)).astype(F32) * rng.uniform(0.3, 2, (9, 1)).astype(F32),
                     rng.normal(0.1, 0.4, (4, 9)).astype(F32)])
    q = quantize(g, granularity=granularity)
    trains = assert_equals_transcription(q, inputs(rng, 5, 12))
    assert 0 < np.sum(trains["h0"]) < np.size(trains["h0"])


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_conv_if_network_equals_the_transcription(reset: str) -> None:
    rng = np.random.default_rng(5)
    q = quantize(conv_net(rng, reset), granularity="per-channel")
    trains = assert_equals_transcription(q, inputs(rng, 3, 2, 6, 6))
    assert 0 < np.sum(trains["h0"])


def test_outputs_are_deterministic_across_runs_chunks_and_synapse_paths() -> None:
    rng = np.random.default_rng(2)
    q = quantize(mlp(rng, weights=[rng.normal(0.15, 0.4, (9, 12)).astype(F32),
                                   rng.normal(0.2, 0.5, (4, 9)).astype(F32)]))
    x = inputs(rng, 40, 12)
    first = run_int(q, x)
    for options in ({}, {"batch_size": 1}, {"batch_size": 7}):
        again = run_int(q, x, **options)
        np.testing.assert_array_equal(again.outputs["scores"], first.outputs["scores"])
        for name in first.spikes:
            np.testing.assert_array_equal(again.spikes[name], first.spikes[name])
    for sparse in ("always", "never"):
        other = ReferenceExecutor(q, sparse=sparse, mode="integer").run(x)
        np.testing.assert_array_equal(other.outputs["scores"], first.outputs["scores"])


# ------------------------------------------------------------------------------------------- saturation
def test_relpsp_potential_saturates_at_the_recorded_width() -> None:
    """A potential that dives below the 10-bit floor is clamped there, so the neuron fires earlier than with
    a wide potential: the executor follows the clamped arithmetic."""
    rng = np.random.default_rng(4)
    narrow = with_overrides(HW, **{"sram.potential": {"bits": 10}})
    # early inputs (bright) inhibit, late inputs (dim) excite
    w = np.concatenate([np.full((3, 6), -0.5), np.full((3, 6), 1.0)], axis=1).astype(F32)
    w += rng.integers(-8, 9, w.shape).astype(F32) / 64
    g = mlp(rng, sizes=(12, 3), time_steps=24, weights=[w], bias=False, theta=4.0)
    x = np.concatenate([rng.uniform(0.8, 1.0, (4, 6)), rng.uniform(0.2, 0.5, (4, 6))], axis=1).astype(F32)
    q = quantize(g, hw=narrow)
    assert q.ops[-2].meta["quant"]["potential_bits"] == 10
    trains = assert_equals_transcription(q, x)
    wide = quantize(g, hw=with_overrides(HW, **{"sram.potential": {"bits": 32}, "core": {"adder_bits": 32}}))
    wide_trains = transcribe(wide, x)[1]
    # clamped at -512 the potential recovers within the window and every neuron fires; unclamped it does not
    assert np.all(np.sum(trains["h0"], axis=1) == 1) and np.sum(wide_trains["h0"]) == 0
    np.testing.assert_array_equal(run_int(wide, x).spikes["h0"].transpose(1, 0, 2), np.array(wide_trains["h0"], bool))


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_if_potential_saturates_at_the_recorded_width(reset: str) -> None:
    rng = np.random.default_rng(8)
    narrow = with_overrides(HW, **{"sram.potential": {"bits": 8}})
    w = rng.normal(0.0, 1.0, (6, 10)).astype(F32)
    g = mlp(rng, neuron=reset, sizes=(10, 6), time_steps=16, weights=[w], spike_input=True)
    q = quantize(g, hw=narrow)
    x = rng.random((16, 5, 10)) < 0.6  # dense multi-spike trains: inputs of up to ~+-600 per step
    trains = assert_equals_transcription(q, x)
    wide = transcribe(quantize(g), x)[1]
    assert trains["h0"] != wide["h0"]
    # 32-bit state (int64 arithmetic in the executor) agrees with the transcription too
    assert_equals_transcription(quantize(g, hw=with_overrides(HW, **{"sram.potential": {"bits": 32},
                                                                     "sram.acc_weight": {"bits": 32},
                                                                     "core": {"adder_bits": 32}})), x)


@pytest.mark.parametrize("neuron", ["relpsp", "subtract"])
def test_a_threshold_beyond_the_potential_range_is_never_reached(neuron: str) -> None:
    rng = np.random.default_rng(10)
    g = mlp(rng, neuron=neuron, sizes=(6, 3), time_steps=10, spike_input=True, bias=False)
    q = quantize(g, hw=with_overrides(HW, **{"sram.potential": {"bits": 8}}))
    op = q.ops[-2]
    op.attrs["threshold"] = 200.0 if neuron == "relpsp" else np.full(3, 200, np.int32)  # > 127, the largest V
    x = np.ones((10, 2, 6), bool)
    assert_equals_transcription(q, x)
    assert not run_int(q, x).spikes["h0"].any()


# ---------------------------------------------------------------------------- accumulator headroom
def headroom_graph(neuron: str) -> Graph:
    """One neuron, weights [100, 100, -100]/64 (quantized exactly to 100, 100, -100 with 127 on a 4th input)."""
    w = (np.array([[100, 100, -100, 127]]) / 64).astype(F32)
    g = mlp(np.random.default_rng(0), neuron=neuron, sizes=(4, 1), time_steps=4, weights=[w], bias=False,
            spike_input=True)
    return quantize(g, hw=with_overrides(HW, **{"sram.acc_weight": {"bits": 8}}))


@pytest.mark.parametrize("neuron", ["subtract", "relpsp"])
def test_an_order_dependent_accumulated_weight_is_refused_naming_the_neuron(neuron: str) -> None:
    q = headroom_graph(neuron)
    spikes = np.zeros((4, 1, 4), bool)
    spikes[1, 0, :3] = True  # I = 100 + 100 - 100 = 100 fits 8 bits, but 100 + 100 first saturates at 127
    # the chip's result depends on the order: the transcription's adder gives 100 one way, 27 the other
    assert accumulate(0, [100, 100, -100], 8) == 27 and accumulate(0, [100, -100, 100], 8) == 100
    opname = "snn.relpsp" if neuron == "relpsp" else "snn.if"
    what = "slope K" if neuron == "relpsp" else "step input I"
    with pytest.raises(BackendError, match=rf"^%fc0 = snn.dense: the accumulated weight \({what}, 8 bits, -128 \.\. "
                                           rf"127\) of %h0 = {opname} can reach 200 at step 1 \(sample 0, neuron 0\)"):
        run_int(q, spikes)


@pytest.mark.parametrize("neuron", ["subtract", "relpsp"])
def test_inputs_that_stay_in_range_in_every_order_run(neuron: str) -> None:
    q = headroom_graph(neuron)  # the static bound (427 > 127) fails, the exact per-input check passes
    spikes = np.zeros((4, 2, 4), bool)
    spikes[0, 0, [0, 2]] = True  # +100 - 100: fine in either order
    spikes[2, 1, 1] = True
    assert_equals_transcription(q, spikes)


def test_relpsp_slope_accumulates_across_steps_in_the_check() -> None:
    q = headroom_graph("relpsp")
    spikes = np.zeros((4, 1, 4), bool)
    spikes[0, 0, 0] = True  # K = 100 after step 0
    spikes[2, 0, 3] = True  # K + 127 = 227 > 127 at step 2, though each step alone fits
    with pytest.raises(BackendError, match=r"can reach 227 at step 2"):
        run_int(q, spikes)


# ------------------------------------------------------------------------------------ float vs integer
@pytest.mark.parametrize("neuron", ["relpsp", "subtract", "zero"])
def test_exact_quantization_gives_the_same_spikes_as_float_mode(neuron: str) -> None:
    """Dyadic weights with 127/64 in every row: the scale is 1/64, w_q = 64 w, theta_q = 64 theta, b_q = 64 b, so
    V_q = 64 V exactly (no saturation at 24 bits) and every spike is the same."""
    rng = np.random.default_rng(21)
    g = mlp(rng, neuron=neuron, sizes=(16, 12, 5), encoder="ttfs" if neuron == "relpsp" else "rate")
    q = quantize(g, granularity="per-layer" if neuron == "relpsp" else "per-channel")
    np.testing.assert_array_equal(q.ops[1].attrs["weight"], np.rint(g.ops[1].attrs["weight"] * 64))
    x = inputs(rng, 30, 16)
    flt = ReferenceExecutor(g).run(x, record=True)
    itg = ReferenceExecutor(q).run(x, record=True)
    assert set(flt.spikes) == set(itg.spikes)
    for name in flt.spikes:
        np.testing.assert_array_equal(itg.spikes[name], flt.spikes[name], err_msg=name)
    np.testing.assert_array_equal(itg.outputs["scores"], flt.outputs["scores"])
    assert 0 < flt.spike_counts["h0"].sum() and 0 < flt.spike_counts["h1"].sum()


def test_exact_quantization_of_a_conv_network_matches_float_mode() -> None:
    rng = np.random.default_rng(22)
    g = conv_net(rng, "subtract")
    q = quantize(g, granularity="per-channel")
    x = inputs(rng, 6, 2, 6, 6)
    flt, itg = ReferenceExecutor(g).run(x, record=True), ReferenceExecutor(q).run(x, record=True)
    for name in flt.spikes:
        np.testing.assert_array_equal(itg.spikes[name], flt.spikes[name], err_msg=name)


# ------------------------------------------------------------------------------------ mode selection
def test_mode_is_chosen_from_the_dtypes_and_the_backend_runs_it() -> None:
    rng = np.random.default_rng(3)
    g = mlp(rng)
    q = quantize(g)
    assert ReferenceExecutor(g).mode == "float" and ReferenceExecutor(q).mode == "integer"
    x = inputs(rng, 8, 12)
    auto = get_backend("reference").run(q, x)
    explicit = ReferenceBackend(mode="integer").run(q, x)
    np.testing.assert_array_equal(auto.scores, explicit.scores)
    np.testing.assert_array_equal(auto.scores, run_int(q, x).outputs["scores"])


def test_the_ir_text_of_a_quantized_graph_runs_in_integer_mode() -> None:
    """What a deployment's model.ir holds (the meta annotations included) reads back and runs the same."""
    rng = np.random.default_rng(6)
    q = quantize(mlp(rng, neuron="zero", encoder="rate"), granularity="per-channel")
    back = parse_graph(print_graph(q))
    x = inputs(rng, 8, 12)
    assert ReferenceExecutor(back).mode == "integer"
    np.testing.assert_array_equal(ReferenceExecutor(back).run(x).outputs["scores"], run_int(q, x).outputs["scores"])


def test_a_deployments_model_ir_runs_in_integer_mode(tmp_path: Path) -> None:
    """``snnc run DIR/model.ir`` runs what the chip computes: the compiled IR is integer and needs no option."""
    rng = np.random.default_rng(12)
    g = mlp(rng)
    compile_yoso(g, tmp_path / "dep")
    deployed = load_model(tmp_path / "dep" / "model.ir")
    x = inputs(rng, 8, 12)
    assert ReferenceExecutor(deployed).mode == "integer"
    np.testing.assert_array_equal(get_backend("reference").run(deployed, x).scores,
                                  run_int(quantize(g), x).outputs["scores"])


def test_a_host_decoder_dense_stays_float_in_integer_mode() -> None:
    """The spatio-temporal decoder (time_flatten -> dense) runs on the host in float32."""
    rng = np.random.default_rng(9)
    g = Graph("st", time_steps=6)
    x = g.add_input("x", ValueType.tensor(5))
    s = g.add_op("snn.rate_encode", [x], {"time_steps": 6, "threshold": 0.5})
    h = g.add_op("snn.if", [g.add_op("snn.dense", [s], {"weight": dyadic(rng, (4, 5), mean=30)}, name="fc")],
                 {"threshold": np.array(0.5, F32), "reset": "subtract"}, name="h")
    dec = rng.normal(0, 1, (3, 24)).astype(F32)
    g.set_outputs([g.add_op("snn.dense", [g.add_op("snn.time_flatten", [h], name="tf")], {"weight": dec},
                            name="scores")])
    q = quantize(g)
    xs = inputs(rng, 4, 5)
    result = run_int(q, xs)
    flat = result.spikes["h"].transpose(1, 0, 2).reshape(4, 24).astype(F32)
    np.testing.assert_array_equal(result.outputs["scores"], flat @ dec.T)
    np.testing.assert_array_equal(result.spikes["h"], ReferenceExecutor(g).run(xs, record=True).spikes["h"])


# ------------------------------------------------------------------------------------------ errors
def test_float_mode_refuses_a_quantized_graph_naming_the_op() -> None:
    q = quantize(mlp(np.random.default_rng(0)))
    with pytest.raises(BackendError, match=r"^%fc0 = snn.dense: parameter 'weight' has integer dtype int8; float mode"):
        ReferenceExecutor(q, mode="float")


def test_integer_mode_refuses_a_float_graph() -> None:
    with pytest.raises(BackendError, match=r"^graph @mlp: integer mode runs quantized graphs") as info:
        ReferenceExecutor(mlp(np.random.default_rng(0)), mode="integer")
    assert "quantize" in info.value.hint


def test_an_unknown_mode_is_refused() -> None:
    g = mlp(np.random.default_rng(0))
    with pytest.raises(BackendError, match="mode must be one of 'auto', 'float', 'integer', got 'int8'"):
        ReferenceExecutor(g, mode="int8")
    with pytest.raises(BackendError, match="mode must be one of"):
        ReferenceBackend(mode="fixed")


def test_a_neuron_without_quantization_meta_is_named() -> None:
    q = quantize(mlp(np.random.default_rng(0)))
    del q.ops[-2].meta["quant"]
    with pytest.raises(BackendError, match=r"^%h1 = snn.relpsp: the neuron is not quantized \(no meta\['quant'\]\)"):
        ReferenceExecutor(q)


def test_an_unknown_integer_semantics_is_named() -> None:
    q = quantize(mlp(np.random.default_rng(0)))
    q.ops[1].meta["quant"]["semantics"] = "yoso-int-9"
    with pytest.raises(BackendError, match=r"^%fc0 = snn.dense: meta\['quant'\] names the integer semantics "
                                           r"'yoso-int-9'; this executor implements yoso-int-1"):
        ReferenceExecutor(q)


def test_a_non_integer_relpsp_threshold_is_named() -> None:
    q = quantize(mlp(np.random.default_rng(0)))
    q.ops[2].attrs["threshold"] += 0.5
    with pytest.raises(BackendError, match=r"^%h0 = snn.relpsp: the threshold .*\.5 is not an integer"):
        ReferenceExecutor(q)


def test_a_quantized_synapse_fed_by_a_current_is_named() -> None:
    g = Graph("cur", time_steps=3)
    i = g.add_input("i", ValueType.current(4))
    d = g.add_op("snn.dense", [i], {"weight": dyadic(np.random.default_rng(0), (2, 4))}, name="fc")
    h = g.add_op("snn.if", [d], {"threshold": np.array(1.0, F32), "reset": "zero"}, name="h")
    g.set_outputs([g.add_op("snn.spike_count_decode", [h], name="scores")])
    q = quantize(g)
    with pytest.raises(BackendError, match=r"^%fc = snn.dense: a quantized synapse takes a spike train .* a current"):
        ReferenceExecutor(q).run(np.zeros((3, 1, 4), F32))


def test_integer_weights_without_quantization_meta_are_named() -> None:
    g = Graph("q", time_steps=4)
    x = g.add_input("x", ValueType.tensor(3))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 4, "window": 4})
    i = g.add_op("snn.dense", [s], {"weight": np.ones((2, 3), np.int8)}, name="fc")
    g.set_outputs([g.add_op("snn.first_spike_decode", [g.add_op("snn.relpsp", [i], {"threshold": 1.0}, name="h")])])
    with pytest.raises(BackendError, match=r"^%fc = snn.dense: parameter 'weight' has integer dtype int8 but the op "
                                           r"has no meta\['quant'\]"):
        ReferenceExecutor(g)
