"""The integer mode of the leaky neurons (issue 14 item 2): fixed-point decay, quantized LIF / CubaLIF /
recurrent IF, LI readouts on the host, and the accuracy cost of the leak's fraction bits.

Hand-quantized models are written as IR text (like ``tests/neuron_plugin_checks.py``) and run by the reference
executor in the integer mode; their spike trains must equal an integer NumPy transcription written here from
the documented semantics (``docs/ir.md``, "Integer leak"): ``decay(v) = floor((beta_q*v + r) / 2**F)``, ``r = 0``
(floor) or ``2**(F-1)`` (nearest), the reset before the decay (or after it, delayed), ``sat_P`` once per step.
F and the rounding both ways, both resets and orders, recurrence, saturation.
"""

from __future__ import annotations

import numpy as np
import pytest

from snnc.backends.reference import ReferenceBackend, decay, leak_accuracy_cost, quantize_leak, with_quantized_leak
from snnc.errors import BackendError, VerificationError
from snnc.ir import Graph, ValueType
from snnc.ir.parser import parse_graph
from snnc.tests import spec_numpy as spec

F32 = np.float32
T = 10
N_IN, N_HID, N_OUT, N_READ = 6, 5, 4, 3


# ------------------------------------------------------------------------------------------- helpers
def _dense(a: np.ndarray) -> str:
    a = np.asarray(a)
    values = ", ".join(repr(float(v)) if a.dtype.kind == "f" else str(int(v)) for v in a.reshape(-1))
    dtype = "f32" if a.dtype.kind == "f" else "i" + str(8 * a.dtype.itemsize)
    return f"dense<[{values}]> : {dtype}[{','.join(map(str, a.shape))}]"


def _meta(d: dict) -> str:
    def value(v: object) -> str:
        if isinstance(v, np.ndarray):
            return _dense(v)
        if isinstance(v, str):
            return f'"{v}"'
        return repr(v)

    return "{" + ", ".join(f"{k} = {value(v)}" for k, v in d.items()) + "}"


SYN = 'meta {quant = {bits = 8, semantics = "yoso-int-1"}}'


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def model_text(*, frac_bits: int, rounding: str, reset: str, delayed: int, recurrent: bool, potential_bits: int = 16,
               seed: int = 0) -> tuple[str, dict]:
    """rate [6] -> int8 dense -> LIF [5] (per-neuron beta, optionally recurrent) -> int8 dense -> CubaLIF [4]
    -> float dense -> LI [3] (host) -> max over time. Returns the text and the integer parameters."""
    rng = _rng(seed)
    p = {
        "w1": rng.integers(-8, 40, (N_HID, N_IN)).astype(np.int8),
        "w2": rng.integers(-10, 40, (N_OUT, N_HID)).astype(np.int8),
        "w3": (rng.integers(-16, 32, (N_READ, N_OUT)) / 32).astype(F32),
        "wr": rng.integers(-24, 12, (N_HID, N_HID)).astype(np.int32) if recurrent else None,
        "theta1": np.array([64], np.int32), "theta2": np.array([48, 56, 64, 72], np.int32),
        "beta1": rng.choice(np.array([0.5, 0.8, 0.9, 0.95, 1.0], F32), N_HID),
        "alpha2": np.array([0.7], F32), "beta2": np.array([0.85], F32), "beta3": np.array([0.75], F32),
        "F": frac_bits, "rounding": rounding, "reset": reset, "delayed": delayed, "P": potential_bits,
    }
    q1 = quantize_leak(p["beta1"], frac_bits, rounding)
    q2 = {**quantize_leak(p["alpha2"], frac_bits, rounding, name="alpha"),
          **quantize_leak(p["beta2"], frac_bits, rounding)}
    p["beta1_q"], p["alpha2_q"], p["beta2_q"] = q1["beta_q"], q2["alpha_q"], q2["beta_q"]
    common = {"semantics": "yoso-int-1", "scale": 1 / 64, "threshold_rule": "theta_q = max(1, rint(theta / scale))",
              "potential_bits": potential_bits}
    m1 = {**common, "threshold_float": 1.0, "input_bits": 16, **q1}
    m2 = {**common, "threshold_float": 1.0, "current_bits": 16, **q2}
    rec = f", recurrent_weight = {_dense(p['wr'])}" if recurrent else ""
    text = f"""snnc.ir 1
graph @leaky_q(%x: tensor<Bx{N_IN}xf32>) time_steps = {T} {{
  %s = snn.rate_encode(%x) {{time_steps = {T}, threshold = 0.5}} : spikes<TxBx{N_IN}>
  %c1 = snn.dense(%s) {{weight = {_dense(p['w1'])}}} : current<TxBx{N_HID}xi32> {SYN}
  %h = snn.lif(%c1) {{threshold = {_dense(p['theta1'])}, beta = {_dense(p['beta1'])}, reset = "{reset}", delayed_reset = {delayed}{rec}}} : spikes<TxBx{N_HID}> meta {{quant = {_meta(m1)}}}
  %c2 = snn.dense(%h) {{weight = {_dense(p['w2'])}}} : current<TxBx{N_OUT}xi32> {SYN}
  %k = snn.cuba_lif(%c2) {{threshold = {_dense(p['theta2'])}, alpha = {_dense(p['alpha2'])}, beta = {_dense(p['beta2'])}, reset = "{reset}", delayed_reset = {delayed}}} : spikes<TxBx{N_OUT}> meta {{quant = {_meta(m2)}}}
  %c3 = snn.dense(%k) {{weight = {_dense(p['w3'])}}} : current<TxBx{N_READ}xf32>
  %v = snn.li(%c3) {{beta = {_dense(p['beta3'])}}} : potential<TxBx{N_READ}xf32>
  %y = snn.max_over_time_decode(%v) : tensor<Bx{N_READ}xf32>
  return %y
}}
"""  # noqa: E501
    return text, p


# ------------------------------------------------------------------------------ the transcription
def t_decay(v: np.ndarray, q: np.ndarray, frac_bits: int, rounding: str) -> np.ndarray:
    """``floor((q*v + r) / 2**F)`` with Python-exact integers (floor division)."""
    r = 2 ** (frac_bits - 1) if rounding == "nearest" and frac_bits else 0
    return np.floor_divide(np.asarray(q, np.int64) * v + r, 2 ** frac_bits)


def t_sat(v: np.ndarray, bits: int) -> np.ndarray:
    return np.minimum(np.maximum(v, -(2 ** (bits - 1))), 2 ** (bits - 1) - 1)


def t_neuron(current: np.ndarray, theta: np.ndarray, beta_q: np.ndarray, p: dict, *, alpha_q: np.ndarray | None = None,
             wr: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """Integer LIF (``alpha_q`` None) or CubaLIF; returns the spikes and whether V ever saturated."""
    frac_bits, rounding, reset, delayed, bits = p["F"], p["rounding"], p["reset"], p["delayed"], p["P"]
    shape = current.shape[1:]
    v = np.zeros(shape, np.int64)
    j = np.zeros(shape, np.int64)
    s = np.zeros(shape, np.int64)
    out = np.zeros(current.shape, bool)
    saturated = False
    for t in range(current.shape[0]):
        i = current[t].astype(np.int64)
        if wr is not None:
            i = i + s @ wr.T.astype(np.int64)
        if alpha_q is not None:
            j = t_decay(j, alpha_q, frac_bits, rounding) + i
            i = j
        if not delayed:
            vr = v - theta * s if reset == "subtract" else v * (1 - s)
            exact = t_decay(vr, beta_q, frac_bits, rounding) + i
            v = t_sat(exact, bits)
        else:
            u = t_decay(v, beta_q, frac_bits, rounding) + i
            exact = u - theta * s if reset == "subtract" else u
            v = t_sat(exact, bits)
            if reset == "zero":
                v = v * (1 - s)
        saturated |= bool(np.any(v != exact))
        s = (v >= theta).astype(np.int64)
        out[t] = s.astype(bool)
    return out, saturated


def t_model(x: np.ndarray, p: dict) -> dict[str, np.ndarray]:
    s = spec.rate_encode(x, T, 0.5).astype(np.int64)
    c1 = s @ p["w1"].T.astype(np.int64)
    h, sat1 = t_neuron(c1, p["theta1"].astype(np.int64), p["beta1_q"], p, wr=p["wr"])
    c2 = h.astype(np.int64) @ p["w2"].T.astype(np.int64)
    k, sat2 = t_neuron(c2, p["theta2"].astype(np.int64), p["beta2_q"], p, alpha_q=p["alpha2_q"])
    trace = spec.li(spec.dense(k.astype(F32), p["w3"]), p["beta3"])
    return {"h": h, "k": k, "scores": spec.max_over_time_decode(trace), "saturated": np.array(sat1 or sat2)}


def _inputs(n: int = 24, seed: int = 5) -> np.ndarray:
    return _rng(seed).random((n, N_IN)).astype(F32)


# ------------------------------------------------------------------------------------------ decay
def test_decay_rounds_as_documented() -> None:
    v = np.array([7, -7, 3, -3, 1, -1, 0])
    assert decay(v, 2, 2, "floor").tolist() == [3, -4, 1, -2, 0, -1, 0]  # * 0.5, toward minus infinity
    assert decay(v, 2, 2, "nearest").tolist() == [4, -3, 2, -1, 1, 0, 0]  # * 0.5, halves up
    assert decay(v, 3, 2, "floor").tolist() == [5, -6, 2, -3, 0, -1, 0]  # * 0.75
    assert decay(v, 3, 2, "nearest").tolist() == [5, -5, 2, -2, 1, -1, 0]
    assert decay(v, 1, 0, "nearest").tolist() == v.tolist()  # F = 0: factor 1, nothing to round
    assert decay(v, 16, 4, "floor").tolist() == v.tolist()  # beta = 1
    assert decay(np.array([100, -100]), 16, 4, "floor", bits=6).tolist() == [31, -32]  # saturates to 6 bits
    assert decay(np.array([2**40]), 2**24, 24).dtype == np.int64
    for rounding in ("floor", "nearest"):
        w = np.arange(-300, 301)
        for q in (0, 5, 11, 16):
            got = decay(w, q, 4, rounding)
            assert np.all(np.abs(got) <= np.abs(w)) and np.all(got * w >= 0)  # a contraction that keeps the sign
    with pytest.raises(ValueError, match="rounding"):
        decay(v, 1, 1, "even")


def test_quantize_leak_rounds_half_up_and_checks() -> None:
    q = quantize_leak(np.array([0.9, 0.5, 1.0, 0.0, 0.03125], F32), 4)
    assert q["beta_q"].tolist() == [14, 8, 16, 0, 1] and q["beta_q"].dtype == np.int32  # 0.03125*16 = 0.5 -> 1
    assert (q["beta_frac_bits"], q["leak_rounding"]) == (4, "nearest")
    assert q["beta_float"].dtype == np.float32
    a = quantize_leak(np.array([0.7], F32), 8, "floor", name="alpha")
    assert set(a) == {"alpha_float", "alpha_q", "beta_frac_bits", "leak_rounding"} and a["alpha_q"].tolist() == [179]
    with pytest.raises(ValueError, match=r"beta must lie in \[0, 1\]"):
        quantize_leak(np.array([1.5], F32), 4)
    with pytest.raises(ValueError, match="frac_bits"):
        quantize_leak(np.array([0.5], F32), 40)
    with pytest.raises(ValueError, match="leak rounding"):
        quantize_leak(np.array([0.5], F32), 4, "up")


# ------------------------------------------------------------------------------------------ neurons
@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("delayed", [0, 1])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize(("frac_bits", "rounding"), [(4, "floor"), (4, "nearest"), (8, "floor"), (8, "nearest")])
def test_integer_lif_and_cuba_lif_equal_the_transcription(frac_bits: int, rounding: str, reset: str, delayed: int,
                                                          recurrent: bool) -> None:
    text, p = model_text(frac_bits=frac_bits, rounding=rounding, reset=reset, delayed=delayed, recurrent=recurrent,
                         seed=frac_bits + delayed)
    graph = parse_graph(text)
    x = _inputs()
    result = ReferenceBackend().run(graph, x, record=True)  # auto: integer (the graph has integer parameters)
    want = t_model(x, p)
    assert np.array_equal(result.spikes["h"], want["h"])
    assert np.array_equal(result.spikes["k"], want["k"])
    assert np.array_equal(result.scores, want["scores"])
    assert 0 < want["h"].mean() < 1 and 0 < want["k"].mean() < 1


def test_the_fraction_bits_and_the_rounding_change_the_result() -> None:
    x = _inputs(64, seed=8)
    runs = {}
    for frac_bits, rounding in ((2, "floor"), (2, "nearest"), (12, "nearest")):
        text, _ = model_text(frac_bits=frac_bits, rounding=rounding, reset="subtract", delayed=0, recurrent=False)
        runs[frac_bits, rounding] = ReferenceBackend().run(parse_graph(text), x, record=True).spikes["h"]
    assert not np.array_equal(runs[2, "floor"], runs[2, "nearest"])
    assert not np.array_equal(runs[2, "nearest"], runs[12, "nearest"])


def test_the_potential_saturates() -> None:
    text, p = model_text(frac_bits=6, rounding="nearest", reset="zero", delayed=0, recurrent=False, potential_bits=7)
    x = _inputs(32, seed=3)
    result = ReferenceBackend().run(parse_graph(text), x, record=True)
    want = t_model(x, p)
    assert bool(want["saturated"]), "the test needs a potential that leaves 7 bits"
    assert np.array_equal(result.spikes["h"], want["h"]) and np.array_equal(result.spikes["k"], want["k"])


def test_integer_recurrent_if() -> None:
    """snn.if with an integer recurrent weight: I'[t] = I[t] + S[t-1] @ W_q.T, then the IF update, sat_P."""
    rng = _rng(4)
    w, wr = rng.integers(-8, 40, (N_HID, N_IN)).astype(np.int8), rng.integers(-30, 10, (N_HID, N_HID)).astype(np.int32)
    quant = '{semantics = "yoso-int-1", potential_bits = 12, input_bits = 16}'
    text = f"""snnc.ir 1
graph @g(%x: tensor<Bx{N_IN}xf32>) time_steps = {T} {{
  %s = snn.rate_encode(%x) {{time_steps = {T}, threshold = 0.5}} : spikes<TxBx{N_IN}>
  %c = snn.dense(%s) {{weight = {_dense(w)}}} : current<TxBx{N_HID}xi32> {SYN}
  %h = snn.if(%c) {{threshold = dense<[50]> : i32[1], reset = "subtract", recurrent_weight = {_dense(wr)}}} : spikes<TxBx{N_HID}> meta {{quant = {quant}}}
  %y = snn.spike_count_decode(%h) : tensor<Bx{N_HID}xf32>
  return %y
}}
"""  # noqa: E501
    x = _inputs()
    got = ReferenceBackend().run(parse_graph(text), x, record=True).spikes["h"]
    s = spec.rate_encode(x, T, 0.5).astype(np.int64)
    p = {"F": 0, "rounding": "floor", "reset": "subtract", "delayed": 0, "P": 12}
    want, _ = t_neuron(s @ w.T.astype(np.int64), np.int64(50), np.int64(1), p, wr=wr)
    assert np.array_equal(got, want) and 0 < want.mean() < 1


def test_li_readout_runs_on_the_host_in_float() -> None:
    text, p = model_text(frac_bits=8, rounding="nearest", reset="subtract", delayed=0, recurrent=False)
    graph = parse_graph(text)
    x = _inputs(8)
    result = ReferenceBackend(mode="integer").run(graph, x, record=True)
    trace = spec.li(spec.dense(result.spikes["k"].astype(F32), p["w3"]), p["beta3"])
    assert np.array_equal(result.scores, spec.max_over_time_decode(trace))
    assert result.scores.dtype == np.float32


# ------------------------------------------------------------------------------------------ errors
def _broken(old: str, new: str, **options: object) -> str:
    text, _ = model_text(frac_bits=4, rounding="floor", reset="subtract", delayed=0, recurrent=False, **options)
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(("old", "new", "message"), [
    ('leak_rounding = "floor"', 'leak_rounding = "even"',
     "%h = snn.lif: meta['quant'] leak_rounding must be one of ('floor', 'nearest'), got 'even'"),
    ("beta_frac_bits = 4", "beta_frac_bits = 40",
     "%h = snn.lif: meta['quant'] beta_frac_bits must be an int in 0 .. 24"),
    ("beta_q = dense<[", "beta_q = dense<[99, ", "%h = snn.lif: meta['quant'] beta_q must be integers in 0 .. 2**"),
])
def test_a_bad_leak_in_meta_is_a_clear_error(old: str, new: str, message: str) -> None:
    text = _broken(old, new)
    if "99, " in new:  # keep the array's length: drop the last entry
        start = text.index("beta_q = dense<[99, ")
        end = text.index("]>", start)
        entries = text[start + len("beta_q = dense<["):end].split(", ")
        text = text[:start] + "beta_q = dense<[" + ", ".join(entries[:-1]) + text[end:]
    graph = parse_graph(text)
    with pytest.raises(BackendError) as info:
        ReferenceBackend().run(graph, _inputs(2))
    assert str(info.value).startswith(message)


def test_a_float_recurrent_weight_or_too_little_headroom_is_refused() -> None:
    text, p = model_text(frac_bits=4, rounding="floor", reset="subtract", delayed=0, recurrent=True)
    floats = text.replace(_dense(p["wr"]), _dense(p["wr"].astype(F32)))
    with pytest.raises(BackendError, match="the recurrent_weight is float in a quantized neuron"):
        ReferenceBackend().run(parse_graph(floats), _inputs(2))
    narrow = text.replace("input_bits = 16", "input_bits = 8")
    with pytest.raises(BackendError, match=r"of the recurrent layer can reach \d+ \(input and recurrent weights"):
        ReferenceBackend().run(parse_graph(narrow), _inputs(2))


def test_cuba_lif_headroom_follows_the_decaying_current() -> None:
    """J persists (decayed by alpha): the exact check uses decay(J[t-1]) + the step's positive (negative) terms."""
    text, p = model_text(frac_bits=4, rounding="floor", reset="subtract", delayed=0, recurrent=False)
    x = _inputs(16)
    want = t_model(x, p)
    c2 = want["h"].astype(np.int64) @ p["w2"].T.astype(np.int64)
    j = np.zeros(c2.shape[1:], np.int64)
    peak = 0
    for t in range(T):
        j = t_decay(j, p["alpha2_q"], 4, "floor") + c2[t]
        peak = max(peak, int(np.abs(j).max()))
    bits = int(np.ceil(np.log2(peak + 1))) + 1  # J fits, the static bound T*sum|w| does not
    assert T * int(np.abs(p["w2"].astype(np.int64)).sum(axis=1).max()) > 2 ** (bits - 1)
    fits = text.replace("current_bits = 16", f"current_bits = {bits + 2}")
    assert np.array_equal(ReferenceBackend().run(parse_graph(fits), x, record=True).spikes["k"], want["k"])
    tight = text.replace("current_bits = 16", f"current_bits = {bits - 2}")
    with pytest.raises(BackendError, match=r"synaptic current J"):
        ReferenceBackend().run(parse_graph(tight), x)


def test_an_integer_synapse_cannot_feed_a_host_readout() -> None:
    text, p = model_text(frac_bits=4, rounding="floor", reset="subtract", delayed=0, recurrent=False)
    w3q = (p["w3"] * 32).astype(np.int8)
    bad = text.replace(f"{_dense(p['w3'])}}} : current<TxBx{N_READ}xf32>",
                       f"{_dense(w3q)}}} : current<TxBx{N_READ}xi32> {SYN}")
    with pytest.raises(BackendError, match=r"the integer synaptic input is read by %v = snn.li"):
        ReferenceBackend().run(parse_graph(bad), _inputs(2))


# ------------------------------------------------------------------------------------------ cost
def _float_model() -> tuple[Graph, np.ndarray]:
    rng = _rng(35)
    g = Graph("leaky", time_steps=T)
    x = g.add_input("x", ValueType.tensor(N_IN))
    s = g.add_op("snn.rate_encode", [x], {"time_steps": T, "threshold": 0.5})
    c = g.add_op("snn.dense", [s], {"weight": (rng.integers(-8, 40, (12, N_IN)) / 64).astype(F32)})
    beta = rng.choice(np.array([0.93, 0.81, 0.6, 0.97, 0.7], F32), 12)
    h = g.add_op("snn.lif", [c], {"threshold": np.array([1.0], F32), "beta": beta, "reset": "subtract",
                                  "delayed_reset": 0})
    c2 = g.add_op("snn.dense", [h], {"weight": (rng.integers(-32, 32, (N_READ, 12)) / 32).astype(F32)})
    v = g.add_op("snn.li", [c2], {"beta": np.array([0.9], F32)})
    g.set_outputs([g.add_op("snn.spike_count_decode", [v], name="scores")])
    return g, _rng(12).random((200, N_IN)).astype(F32)


def test_the_accuracy_cost_of_the_fraction_bits() -> None:
    graph, x = _float_model()
    labels = ReferenceBackend().run(graph, x).predictions
    costs = {f: leak_accuracy_cost(graph, x, labels, frac_bits=f) for f in (1, 2, 4, 20)}
    assert costs[20].max_factor_error < 2**-20 and costs[1].max_factor_error >= 0.1
    assert costs[20].agreement == 1.0 and costs[20].accuracy_float == 1.0 and costs[20].max_score_difference < 1e-3
    assert costs[1].agreement < costs[2].agreement < costs[4].agreement <= costs[20].agreement  # fewer bits cost more
    assert costs[1].accuracy_coefficients == costs[1].agreement  # the labels are the float predictions
    assert "leak F=1" in costs[1].summary() and "agreement 79.0% of 200" in costs[1].summary()
    changed, worst = with_quantized_leak(graph, 1)
    lif = next(op for op in changed.ops if "threshold" in op.attrs and "beta" in op.attrs)
    assert set(lif.attrs["beta"].tolist()) <= {0.5, 1.0} and worst == pytest.approx(0.2, abs=1e-6)
    readout = next(op for op in changed.ops if "beta" in op.attrs and "threshold" not in op.attrs)
    assert readout.attrs["beta"].tolist() == [F32(0.9)]  # the host readout keeps its float beta


def test_the_accuracy_cost_with_the_integer_graph() -> None:
    text, p = model_text(frac_bits=8, rounding="nearest", reset="subtract", delayed=0, recurrent=False)
    quantized = parse_graph(text)
    # the float twin: weights at scale 1/64, thresholds theta_q / 64
    g = parse_graph(text)
    for op in g.ops:
        op.meta = {}
        if op.opname == "snn.dense" and np.issubdtype(op.attrs["weight"].dtype, np.integer):
            op.attrs["weight"] = (op.attrs["weight"] / 64).astype(F32)
            op.result.type = ValueType.current(*op.result.type.features)
        theta = op.attrs.get("threshold")
        if isinstance(theta, np.ndarray) and np.issubdtype(theta.dtype, np.integer):
            op.attrs["threshold"] = (theta / 64).astype(F32)
    g.verify()
    x = _inputs(40, seed=2)
    cost = leak_accuracy_cost(g, x, frac_bits=8, quantized=quantized)
    assert cost.rounding == "nearest" and cost.agreement_integer is not None and 0.5 <= cost.agreement_integer <= 1
    assert "integer mode: agreement" in cost.summary()


# ------------------------------------------------------------------------------------------ merges
def _merge_text(input_bits: int = 16, second_float: bool = False) -> tuple[str, dict]:
    rng = _rng(41)
    p = {"wa": rng.integers(-8, 40, (N_HID, N_IN)).astype(np.int8),
         "wb": rng.integers(-20, 20, (N_HID, N_IN)).astype(np.int8),
         "F": 6, "rounding": "nearest", "reset": "zero", "delayed": 0, "P": 16}
    q = quantize_leak(np.full(N_HID, 0.875, F32), 6)
    p["beta_q"] = q["beta_q"]
    quant = _meta({"semantics": "yoso-int-1", "potential_bits": 16, "input_bits": input_bits, **q})
    wb = _dense(p["wb"].astype(F32) / 64) if second_float else _dense(p["wb"])
    tb = f"current<TxBx{N_HID}xf32>" if second_float else f"current<TxBx{N_HID}xi32> {SYN}"
    ti = f"current<TxBx{N_HID}xf32>" if second_float else f"current<TxBx{N_HID}xi32>"
    text = f"""snnc.ir 1
graph @merge(%x: tensor<Bx{N_IN}xf32>) time_steps = {T} {{
  %s = snn.rate_encode(%x) {{time_steps = {T}, threshold = 0.5}} : spikes<TxBx{N_IN}>
  %a = snn.dense(%s) {{weight = {_dense(p['wa'])}}} : current<TxBx{N_HID}xi32> {SYN}
  %b = snn.dense(%s) {{weight = {wb}}} : {tb}
  %m = snn.add(%a, %b) : {ti}
  %h = snn.lif(%m) {{threshold = dense<[64]> : i32[1], beta = {_dense(np.full(N_HID, 0.875, F32))}, reset = "zero", delayed_reset = 0}} : spikes<TxBx{N_HID}> meta {{quant = {quant}}}
  %y = snn.spike_count_decode(%h) : tensor<Bx{N_HID}xf32>
  return %y
}}
"""  # noqa: E501
    return text, p


def test_an_integer_merge_sums_the_synapses_exactly() -> None:
    text, p = _merge_text()
    x = _inputs(16)
    got = ReferenceBackend().run(parse_graph(text), x, record=True).spikes["h"]
    s = spec.rate_encode(x, T, 0.5).astype(np.int64)
    current = s @ p["wa"].T.astype(np.int64) + s @ p["wb"].T.astype(np.int64)
    want, _ = t_neuron(current, np.int64(64), p["beta_q"], p)
    assert np.array_equal(got, want) and 0 < want.mean() < 1


def test_merges_that_the_integer_mode_refuses() -> None:
    text, _ = _merge_text(input_bits=8)
    with pytest.raises(BackendError, match=r"%h = snn.lif: the accumulated weight .* fed by a merge of 2 synapses"):
        ReferenceBackend().run(parse_graph(text), _inputs(2))
    text, _ = _merge_text(second_float=True)  # an integer and a float current: the IR refuses the merge
    with pytest.raises(VerificationError, match=r"%m = snn.add: cannot add currents of different dtypes: i32 and f32"):
        parse_graph(text)
