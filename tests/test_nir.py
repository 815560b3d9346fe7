"""NIR interop: graphs written by ``nir`` itself are imported and run exactly as a NumPy transcription of
NIR's semantics under snnc's time-grid mapping (docs/nir.md); IF networks round-trip IR -> NIR -> IR;
what NIR cannot express is refused; malformed files give clean errors."""

from __future__ import annotations

import argparse
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

from snnc.api import load_model
from snnc.backends import get_backend
from snnc.cli import nir as nir_cli
from snnc.errors import FrontendError, SnncError, UnsupportedOpError
from snnc.frontend import import_onnx
from snnc.frontend.nir_export import NirExportError, export_nir
from snnc.frontend.nir_import import NirImportWarning, import_nir
from snnc.frontend.snn_onnx import SnnModelBuilder
from snnc.ir.parser import parse_graph
from snnc.ir.printer import print_graph

MODELS = Path(__file__).resolve().parent.parent / "models"
T = 8
MARGIN = 1e-5  # the NumPy reference checks that no potential comes this close to a threshold


# ------------------------------------------------------------------------------ NIR semantics in NumPy
def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: tuple, pads: tuple, dil: tuple,
          groups: int) -> np.ndarray:
    """PyTorch Conv2d on [N, C, H, W]; pads are (top, left, bottom, right)."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    ho = (h + pads[0] + pads[2] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + pads[1] + pads[3] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, ho, wo))
    per_group = o // groups
    for oc in range(o):
        g = oc // per_group
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, g * cg:(g + 1) * cg, i * dil[0]:i * dil[0] + stride[0] * (ho - 1) + 1:stride[0],
                           j * dil[1]:j * dil[1] + stride[1] * (wo - 1) + 1:stride[1]]
                out[:, oc] += np.einsum("nchw,c->nhw", patch, w[oc, :, i, j])
    return out + np.asarray(b).reshape(1, -1, 1, 1)


def _pool_sum(x: np.ndarray, k: tuple, s: tuple, p: tuple) -> np.ndarray:
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    ho, wo = (xp.shape[2] - k[0]) // s[0] + 1, (xp.shape[3] - k[1]) // s[1] + 1
    out = np.zeros((*x.shape[:2], ho, wo))
    for i in range(k[0]):
        for j in range(k[1]):
            out += xp[:, :, i:i + s[0] * (ho - 1) + 1:s[0], j:j + s[1] * (wo - 1) + 1:s[1]]
    return out


def _pair(v: object) -> tuple[int, int]:
    a = np.atleast_1d(np.asarray(v))
    return (int(a[0]), int(a[-1]))


def nir_reference(graph: nir.NIRGraph, spikes: np.ndarray, *, reset: str, dt: float = 1.0) -> np.ndarray:
    """Run a sequential NIR graph on a spike train [T, B, *f] (float64), as docs/nir.md maps it:
    per step ``y = W x + b`` etc.; IF: ``v += r*dt*I``, spike when ``v > v_threshold``, then subtract
    ``v_threshold`` (reset 'subtract') or set ``v = v_reset`` (reset 'zero'). LIF, CubaLIF, LI: the
    forward-Euler step of NIR's ODEs at dt (``library='nir'``). Returns the Output spikes (LI: the trace)."""
    succ = dict(graph.edges)
    name = next(n for n, node in graph.nodes.items() if isinstance(node, nir.Input))
    x = spikes.astype(np.float64)
    steps, batch = x.shape[:2]
    while not isinstance(graph.nodes[succ[name]], nir.Output):
        name = succ[name]
        node = graph.nodes[name]
        flat = x.reshape(steps * batch, *x.shape[2:])
        if isinstance(node, nir.Affine | nir.Linear):
            y = flat @ node.weight.astype(np.float64).T + (node.bias if isinstance(node, nir.Affine) else 0)
        elif isinstance(node, nir.Conv2d):
            pad = node.padding
            if isinstance(pad, str):
                total = [d * (k - 1) for d, k in zip(node.dilation, node.weight.shape[2:], strict=True)]
                pads = (0, 0, 0, 0) if pad == "valid" else (total[0] // 2, total[1] // 2,
                                                            total[0] - total[0] // 2, total[1] - total[1] // 2)
            else:
                pads = (*_pair(pad), *_pair(pad))
            y = _conv(flat, node.weight.astype(np.float64), node.bias, _pair(node.stride), pads,
                      _pair(node.dilation), int(node.groups))
        elif isinstance(node, nir.Conv1d):  # as a Conv2d of height 1
            pad = int(np.asarray(node.padding).reshape(-1)[0])
            w = node.weight[:, :, None, :].astype(np.float64)
            y = _conv(flat[:, :, None, :], w, node.bias, (1, int(node.stride)), (0, pad, 0, pad),
                      (1, int(node.dilation)), int(node.groups))[:, :, 0, :]
        elif isinstance(node, nir.SumPool2d | nir.AvgPool2d):
            k = _pair(node.kernel_size)
            y = _pool_sum(flat, k, _pair(node.stride), _pair(node.padding))
            if isinstance(node, nir.AvgPool2d):
                y = y / (k[0] * k[1])
        elif isinstance(node, nir.Flatten):  # dims without the batch axis
            f = flat.shape[1:]
            end = node.end_dim % len(f)
            y = flat.reshape(flat.shape[0], *f[:node.start_dim], -1, *f[end + 1:])
        elif isinstance(node, nir.IF):
            cur = flat.reshape(steps, batch, *flat.shape[1:])
            v = np.zeros(cur.shape[1:])
            out = np.zeros_like(cur)
            for t in range(steps):
                v = v + node.r * dt * cur[t]
                assert np.min(np.abs(v - node.v_threshold)) > MARGIN, "pick another seed: a potential hits a threshold"
                z = v > node.v_threshold
                out[t] = z
                v = np.where(z, v - node.v_threshold, v) if reset == "subtract" else np.where(z, node.v_reset, v)
            y = out.reshape(steps * batch, *out.shape[2:])
        elif isinstance(node, nir.LIF | nir.CubaLIF | nir.LI):  # forward Euler at dt, reset before the decay
            cur = flat.reshape(steps, batch, *flat.shape[1:])
            v, i_syn = np.zeros(cur.shape[1:]), np.zeros(cur.shape[1:])
            out = np.zeros_like(cur)
            tau = node.tau_mem if isinstance(node, nir.CubaLIF) else node.tau
            for t in range(steps):
                drive = cur[t]
                if isinstance(node, nir.CubaLIF):
                    i_syn = i_syn + dt / node.tau_syn * (-i_syn + node.w_in * cur[t])
                    drive = i_syn
                v = v + dt / tau * (node.v_leak - v + node.r * drive)
                if isinstance(node, nir.LI):
                    out[t] = v
                    continue
                assert np.min(np.abs(v - node.v_threshold)) > MARGIN, "pick another seed: a potential hits a threshold"
                z = v > node.v_threshold
                out[t] = z
                v = np.where(z, v - node.v_threshold, v) if reset == "subtract" else np.where(z, node.v_reset, v)
            y = out.reshape(steps * batch, *out.shape[2:])
        else:
            raise AssertionError(f"no reference for {type(node).__name__}")
        x = y.reshape(steps, batch, *y.shape[1:])
    return x


def rate_encode(x: np.ndarray, steps: int, threshold: float = 0.5) -> np.ndarray:
    """SPEC snn.RateEncode: IF fed clamp(x, 0, 1) every step, reset by subtraction."""
    x = np.clip(x, 0, 1).astype(np.float32)
    v, out = np.zeros_like(x), []
    for _ in range(steps):
        v = v + x
        s = v >= np.float32(threshold)
        out.append(s)
        v = v - np.float32(threshold) * s
    return np.stack(out).astype(np.float32)


# ------------------------------------------------------------------------------------------- helpers
def _write(tmp_path: Path, nodes: dict, edges: list, name: str = "net.nir", **kw) -> Path:
    path = tmp_path / name
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=edges, **kw))  # nir.write as the other tools write
    return path


def _chain(*pairs: tuple[str, object]) -> tuple[dict, list]:
    nodes = dict(pairs)
    names = list(nodes)
    return nodes, list(zip(names[:-1], names[1:], strict=True))


def _if(n: int | tuple, thr: float | np.ndarray = 1.0, r: float = 1.0, **kw) -> nir.IF:
    shape = (n,) if isinstance(n, int) else n
    return nir.IF(r=np.full(shape, r, np.float32), v_threshold=np.broadcast_to(np.float32(thr), shape).copy(), **kw)


def _spikes(rng: np.random.Generator, *shape: int, p: float = 0.4) -> np.ndarray:
    return (rng.random((T, *shape)) < p).astype(np.float32)


def _run(graph, x: np.ndarray):  # noqa: ANN001, ANN202
    return get_backend("reference").run(graph, x, record=True)


def _mlp(rng: np.random.Generator, n_in: int = 12, n_hidden: int = 16, n_out: int = 5) -> tuple[dict, list]:
    return _chain(
        ("input", nir.Input(input_type={"input": np.array([n_in])})),
        ("fc1", nir.Affine(weight=rng.normal(0, 0.5, (n_hidden, n_in)).astype(np.float32),
                           bias=rng.normal(0, 0.1, n_hidden).astype(np.float32))),
        ("lif1", _if(n_hidden, 0.8)),
        ("fc2", nir.Linear(weight=rng.normal(0, 0.6, (n_out, n_hidden)).astype(np.float32))),
        ("lif2", _if(n_out, 0.7)),
        ("output", nir.Output(output_type={"output": np.array([n_out])})),
    )


# ------------------------------------------------------------------------------- import: numerics
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_affine_linear_if_match_nir_semantics(tmp_path: Path, reset: str) -> None:
    rng = np.random.default_rng(1)
    path = _write(tmp_path, *_mlp(rng))
    graph = import_nir(path, reset=reset, time_steps=T)
    assert [op.opname for op in graph.ops] == ["snn.dense", "snn.if", "snn.dense", "snn.if", "snn.spike_count_decode"]
    assert "bias" in graph.ops[0].attrs and "bias" not in graph.ops[2].attrs  # Affine vs Linear
    x = _spikes(rng, 6, 12)
    result = _run(graph, x)
    expected = nir_reference(nir.read(path), x, reset=reset)
    np.testing.assert_array_equal(result.spikes["lif2"], expected.astype(bool))
    np.testing.assert_array_equal(result.scores, expected.sum(0) / T)
    assert expected.sum() > 0 and result.spikes["lif1"].sum() > 0  # the test exercises spikes


@pytest.mark.parametrize("pool", ["SumPool2d", "AvgPool2d"])
@pytest.mark.parametrize("conv", [dict(stride=1, padding=1, dilation=1, groups=1),
                                  dict(stride=2, padding=0, dilation=1, groups=1),
                                  dict(stride=1, padding="same", dilation=2, groups=2)])
def test_conv_pool_flatten_match_nir_semantics(tmp_path: Path, pool: str, conv: dict) -> None:
    rng = np.random.default_rng(7)
    c_in, c_out = 2, 4
    w = rng.normal(0, 0.6, (c_out, c_in // conv["groups"], 3, 3)).astype(np.float32)
    conv_node = nir.Conv2d(input_shape=(8, 8), weight=w, bias=rng.normal(0, 0.1, c_out).astype(np.float32), **conv)
    h = int(conv_node.output_type["output"][1])
    pool_node = getattr(nir, pool)(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    hp = h // 2
    n_flat = c_out * hp * hp
    nodes, edges = _chain(
        ("in", nir.Input(input_type={"input": np.array([c_in, 8, 8])})),
        ("conv", conv_node),
        ("if1", _if((c_out, h, h), 0.9)),
        ("pool", pool_node),
        ("flat", nir.Flatten(input_type={"input": np.array([c_out, hp, hp])}, start_dim=0)),
        ("fc", nir.Affine(weight=rng.normal(0.2, 0.5, (3, n_flat)).astype(np.float32),
                          bias=np.zeros(3, np.float32))),
        ("if2", _if(3, 0.6 if pool == "AvgPool2d" else 1.3)),
        ("out", nir.Output(output_type={"output": np.array([3])})),
    )
    path = _write(tmp_path, nodes, edges, type_check=conv["groups"] == 1)  # nir mistypes grouped convs
    graph = import_nir(path, reset="subtract", time_steps=T)
    assert [op.opname for op in graph.ops][:4] == ["snn.conv2d", "snn.if", "snn.avgpool2d", "snn.flatten"]
    x = _spikes(rng, 3, c_in, 8, 8)
    result = _run(graph, x)
    expected = nir_reference(nir.read(path, type_check=False), x, reset="subtract")
    np.testing.assert_array_equal(result.spikes["if2"], expected.astype(bool))
    assert result.spikes["if1"].sum() > 0 and expected.sum() > 0


def test_r_and_dt_fold_into_the_threshold(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    nodes, edges = _mlp(rng)
    nodes["lif1"] = _if(16, 0.8, r=0.5)
    nodes["lif2"] = _if(5, 0.7, r=4.0)
    path = _write(tmp_path, nodes, edges)
    graph = import_nir(path, reset="zero", time_steps=T, dt=0.5)
    # theta = v_threshold / (r * dt): 0.8 / 0.25 and 0.7 / 2
    np.testing.assert_allclose(graph.ops[1].attrs["threshold"], np.full(16, 3.2, np.float32))
    np.testing.assert_allclose(graph.ops[3].attrs["threshold"], np.full(5, 0.35, np.float32))
    x = _spikes(rng, 6, 12, p=0.7)
    expected = nir_reference(nir.read(path), x, reset="zero", dt=0.5)
    np.testing.assert_array_equal(_run(graph, x).spikes["lif2"], expected.astype(bool))


def test_sumpool_factor_folds_into_the_next_synapse(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    nodes, edges = _chain(
        ("in", nir.Input(input_type={"input": np.array([1, 4, 4])})),
        ("conv", nir.Conv2d(input_shape=(4, 4), weight=rng.normal(0, 1, (2, 1, 3, 3)).astype(np.float32),
                            stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(2, np.float32))),
        ("if1", _if((2, 4, 4), 0.7)),
        ("pool", nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))),
        ("flat", nir.Flatten(input_type={"input": np.array([2, 2, 2])}, start_dim=0)),
        ("fc", nir.Linear(weight=rng.normal(0, 0.4, (3, 8)).astype(np.float32))),
        ("if2", _if(3, 0.9)),
        ("out", nir.Output(output_type={"output": np.array([3])})),
    )
    path = _write(tmp_path, nodes, edges)
    graph = import_nir(path, reset="subtract", time_steps=T)
    assert "bias" not in graph.ops[0].attrs  # NIR's all-zero conv bias is no bias
    np.testing.assert_array_equal(graph.ops[4].attrs["weight"], nodes["fc"].weight * 4)  # the 2x2 sum
    x = _spikes(rng, 4, 1, 4, 4, p=0.6)
    expected = nir_reference(nir.read(path), x, reset="subtract")
    np.testing.assert_array_equal(_run(graph, x).spikes["if2"], expected.astype(bool))


def test_rate_encoder_and_last_step_decoder(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    path = _write(tmp_path, *_mlp(rng))
    graph = import_nir(path, reset="subtract", time_steps=T, encoder="rate", decoder="last_step",
                       encoder_threshold=0.75)
    assert graph.inputs[0].type.kind.value == "tensor"
    assert graph.ops[0].opname == "snn.rate_encode" and graph.ops[0].attrs["threshold"] == 0.75
    assert graph.ops[-1].opname == "snn.last_step_decode"
    x = rng.random((5, 12)).astype(np.float32)
    expected = nir_reference(nir.read(path), rate_encode(x, T, 0.75), reset="subtract")
    result = _run(graph, x)
    np.testing.assert_array_equal(result.scores, expected[-1])
    assert graph.metadata["snn.nir.reset"] == "subtract" and graph.metadata["snn.nir.encoder"].startswith("rate")


def test_partial_flatten_is_a_reshape(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    nodes, edges = _chain(
        ("in", nir.Input(input_type={"input": np.array([1, 4, 4])})),
        ("conv", nir.Conv2d(input_shape=(4, 4), weight=rng.normal(0, 1, (2, 1, 3, 3)).astype(np.float32),
                            stride=1, padding="same", dilation=1, groups=1, bias=np.zeros(2, np.float32))),
        ("flat", nir.Flatten(input_type={"input": np.array([2, 4, 4])}, start_dim=1, end_dim=2)),
        ("if", _if((2, 16), 0.5)),
        ("out", nir.Output(output_type={"output": np.array([2, 16])})),
    )
    path = _write(tmp_path, nodes, edges)
    graph = import_nir(path, reset="zero", time_steps=T)
    assert graph.ops[1].opname == "snn.reshape" and graph.ops[1].attrs["shape"] == [2, 16]
    x = _spikes(rng, 2, 1, 4, 4)
    expected = nir_reference(nir.read(path), x, reset="zero")
    np.testing.assert_array_equal(_run(graph, x).spikes["if"], expected.astype(bool))


# ---------------------------------------------------------------------------------------- reset choice
def test_reset_must_be_chosen(tmp_path: Path) -> None:
    path = _write(tmp_path, *_mlp(np.random.default_rng(0)))
    with pytest.raises(FrontendError, match="no reset was given"):
        import_nir(path, time_steps=T)
    for bad in (None, "hard", ""):
        with pytest.raises(FrontendError) as err:
            import_nir(path, reset=bad, time_steps=T)
        text = str(err.value)
        assert "1.0.5" in text and "1.0.6" in text and "subtract" in text and "zero" in text


def test_subtract_and_zero_differ_when_a_neuron_overshoots(tmp_path: Path) -> None:
    nodes, edges = _chain(
        ("in", nir.Input(input_type={"input": np.array([1])})),
        ("fc", nir.Linear(weight=np.array([[0.7]], np.float32))),
        ("if", _if(1, 1.0)),
        ("out", nir.Output(output_type={"output": np.array([1])})),
    )
    path = _write(tmp_path, nodes, edges)
    x = np.ones((T, 1, 1), np.float32)  # V: 0.7, 1.4 (spike, overshoot 0.4), ...
    counts = {}
    for reset in ("subtract", "zero"):
        result = _run(import_nir(path, reset=reset, time_steps=T), x)
        expected = nir_reference(nir.read(path), x, reset=reset)
        np.testing.assert_array_equal(result.spikes["if"], expected.astype(bool))
        counts[reset] = int(result.spikes["if"].sum())
    assert counts == {"subtract": 5, "zero": 4}


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_nonzero_v_reset_is_refused(tmp_path: Path, reset: str) -> None:
    nodes, edges = _mlp(np.random.default_rng(0))
    nodes["lif2"] = nir.IF(r=np.ones(5, np.float32), v_threshold=np.ones(5, np.float32),
                           v_reset=np.full(5, -0.5, np.float32))
    with pytest.raises(FrontendError, match="v_reset") as err:
        import_nir(_write(tmp_path, nodes, edges), reset=reset, time_steps=T)
    assert "lif2" in err.value.where


# ------------------------------------------------------------------------------------- round trips
def test_stbp_model_round_trips_through_nir(tmp_path: Path) -> None:
    graph = load_model(MODELS / "stbp-fashion-mlp.onnx")
    path = tmp_path / "stbp.nir"
    export_nir(graph, path)
    written = nir.read(path)  # read back by nir itself
    succ, name, kinds = dict(written.edges), "x", []
    while name in succ:
        kinds.append(type(written.nodes[name]).__name__)
        name = succ[name]
    assert [*kinds, type(written.nodes[name]).__name__] == ["Input", "Linear", "IF", "Linear", "IF", "Output"]
    back = import_nir(path, reset="subtract")  # T, encoder and decoder recorded by export
    assert print_graph(back) == print_graph(graph)
    assert back.structurally_equal(graph)
    assert import_nir(export_nir(graph), reset="subtract").structurally_equal(graph)  # in memory, no file
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def _conv_if_model():  # noqa: ANN202
    rng = np.random.default_rng(4)
    b = SnnModelBuilder(input_features=(1, 8, 8), time_steps=6, name="convnet")
    s = b.rate_encode(b.input, threshold=0.5)
    c = b.conv2d(s, (rng.normal(0, 0.5, (4, 1, 3, 3)) / 8).round(3), rng.normal(0, 0.1, 4).round(3),
                 strides=1, pads=1)
    h = b.if_neuron(c, np.array([0.4, 0.5, 0.6, 0.7], np.float32).reshape(4, 1, 1), reset="zero")
    p = b.avgpool2d(h, 2)
    d = b.dense(b.flatten(p), rng.normal(0, 0.3, (3, 64)), rng.normal(0, 0.1, 3))
    o = b.if_neuron(d, 0.5, reset="zero")
    return import_onnx(b.build(b.last_step_decode(o), metadata={"snn.algorithm": "test"}))


def test_conv_network_round_trips_through_nir(tmp_path: Path) -> None:
    graph = _conv_if_model()
    path = tmp_path / "conv.nir"
    exported = export_nir(graph, path, dt=2.0)
    assert float(np.asarray(exported.nodes[graph.ops[2].result.name].r).flat[0]) == 0.5  # r = 1/dt
    back = import_nir(path, reset="zero")
    assert print_graph(back) == print_graph(graph)  # the per-channel [4, 1, 1] threshold comes back as such
    x = np.random.default_rng(0).random((4, 1, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(_run(back, x).scores, _run(graph, x).scores)
    changed = import_nir(path, reset="subtract")  # another reset than recorded is marked in the metadata
    assert changed.metadata["snn.nir.reset"] == "subtract" and "snn.nir.reset" not in back.metadata


# ---------------------------------------------------------------------------------------- refusals
def test_export_refuses_relpsp(tmp_path: Path) -> None:
    graph = load_model(MODELS / "stdbp-digits.onnx")
    out = tmp_path / "digits.nir"
    with pytest.raises(NirExportError) as err:
        export_nir(graph, out)
    assert "snn.relpsp" in err.value.message and "NIR has no ReL-PSP neuron" in err.value.message
    assert err.value.where.endswith("snn.relpsp") and "IF and leaky networks" in err.value.hint
    assert not out.exists()


def test_export_does_not_overwrite(tmp_path: Path) -> None:
    graph = load_model(MODELS / "stbp-fashion-mlp.onnx")
    out = tmp_path / "m.nir"
    out.write_text("keep me")
    with pytest.raises(SnncError, match="already exists"):
        export_nir(graph, out)
    assert out.read_text() == "keep me"
    export_nir(graph, out, force=True)
    assert isinstance(nir.read(out), nir.NIRGraph)


@pytest.mark.parametrize("node", ["LIF", "CubaLIF"])
def test_leaky_neurons_with_r_one_need_the_library(tmp_path: Path, node: str) -> None:
    """r = 1 leaves tau ambiguous (Norse writes dt/tau_mem_inv, SpikingJelly tau*dt): refused, naming both;
    with library= the neuron imports as the forward-Euler step of that dt."""
    nodes, edges = _mlp(np.random.default_rng(0))
    one = np.ones(16, np.float32)
    nodes["lif1"] = (nir.LIF(tau=one * 4, r=one, v_leak=0 * one, v_threshold=one) if node == "LIF" else
                     nir.CubaLIF(tau_syn=one * 2, tau_mem=one * 4, r=one, v_leak=0 * one, v_threshold=one))
    path = _write(tmp_path, nodes, edges)
    with pytest.raises(FrontendError, match="Norse") as err:
        import_nir(path, reset="zero", time_steps=T)
    assert "library='norse'" in str(err.value.hint) and "library='spikingjelly'" in str(err.value.hint)
    graph = import_nir(path, reset="zero", time_steps=T, library="nir", dt=1.0)
    op = graph.ops[1]
    assert op.opname == ("snn.lif" if node == "LIF" else "snn.cuba_lif")
    np.testing.assert_array_equal(op.attrs["beta"], np.full(16, 0.75, np.float32))  # 1 - dt/tau
    # gain dt*r/tau (CubaLIF also dt*w_in/tau_syn) goes into the threshold: 1 / 0.25 (/ 0.5)
    theta = 4.0 if node == "LIF" else 8.0
    np.testing.assert_array_equal(op.attrs["threshold"], np.full(16, theta, np.float32))
    assert op.attrs["delayed_reset"] == 0


def test_merges_sum_currents(tmp_path: Path) -> None:
    """NIR sums the inputs of a node: two synapses into one neuron become snn.add (a skip connection)."""
    rng = np.random.default_rng(0)
    nodes, edges = _mlp(rng)
    nodes["fc2"] = nir.Linear(weight=(rng.integers(-16, 32, (5, 16)) / 64).astype(np.float32))
    nodes["side"] = nir.Linear(weight=(rng.integers(-16, 32, (5, 16)) / 64).astype(np.float32))
    edges += [("lif1", "side"), ("side", "lif2")]
    graph = import_nir(_write(tmp_path, nodes, edges), reset="zero", time_steps=T)
    assert [op.opname for op in graph.ops].count("snn.add") == 1
    x = _spikes(rng, 4, 12)
    expected = _run(graph, x).spikes["lif2"]
    import_chain = import_nir(_write(tmp_path, *_mlp(np.random.default_rng(0)), name="chain.nir"), reset="zero",
                              time_steps=T)
    import_chain.ops[2].attrs["weight"] = nodes["fc2"].weight + nodes["side"].weight  # exact: dyadic
    np.testing.assert_array_equal(_run(import_chain, x).spikes["lif2"], expected)
    assert expected.sum() > 0


def test_spike_trains_summed_into_a_synapse(tmp_path: Path) -> None:
    """A synapse fed by two spike trains is the sum of the synapse applied to each (its bias once)."""
    rng = np.random.default_rng(1)
    nodes, edges = _mlp(rng)
    nodes["fc0"] = nir.Linear(weight=np.eye(12, dtype=np.float32))
    nodes["if0"] = _if(12, 0.5)
    edges += [("input", "fc0"), ("fc0", "if0"), ("if0", "fc1")]
    graph = import_nir(_write(tmp_path, nodes, edges), reset="zero", time_steps=T)
    dense = [op for op in graph.ops if op.opname == "snn.dense"]
    assert len(dense) == 4 and sum("bias" in op.attrs for op in dense[:3]) == 1
    assert "snn.add" in [op.opname for op in graph.ops]


def test_other_cycles_are_refused_as_recurrence(tmp_path: Path) -> None:
    nodes, edges = _mlp(np.random.default_rng(0))
    nodes["back"] = nir.Linear(weight=np.ones((16, 5), np.float32))
    edges += [("lif2", "back"), ("back", "lif1")]
    with pytest.raises(FrontendError, match="cycle through nodes") as err:
        import_nir(_write(tmp_path, nodes, edges), reset="zero", time_steps=T)
    assert "recurrent_weight" in str(err.value.hint)


def test_nested_graph_with_a_recurrent_loop(tmp_path: Path) -> None:
    """snnTorch's RLeaky: a nested NIRGraph Input -> lif <-> w_rec -> Output becomes snn.lif with
    recurrent_weight; the recurrent Affine's bias joins the input synapse's bias."""
    rng = np.random.default_rng(2)
    n = 6
    w_rec = (rng.integers(-16, 16, (n, n)) / 64).astype(np.float32)
    sub = nir.NIRGraph(nodes={
        "input": nir.Input(input_type={"input": np.array([n])}),
        "lif": nir.LIF(tau=np.full(n, 4e-4), r=np.full(n, 4.0), v_leak=np.zeros(n), v_threshold=np.full(n, 0.9),
                       v_reset=np.zeros(n)),
        "w_rec": nir.Affine(weight=w_rec, bias=np.full(n, 1 / 64, np.float32)),
        "output": nir.Output(output_type={"output": np.array([n])}),
    }, edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")], type_check=False)
    nodes = {"input": nir.Input(input_type={"input": np.array([1, 12])}),  # a batch axis: dropped
             "fc": nir.Affine(weight=(rng.integers(-16, 32, (n, 12)) / 64).astype(np.float32),
                              bias=np.zeros(n, np.float32)),
             "rec": sub, "output": nir.Output(output_type={"output": np.array([n])})}
    path = _write(tmp_path, nodes, [("input", "fc"), ("fc", "rec"), ("rec", "output")], type_check=False)
    with pytest.warns(NirImportWarning, match="batch"):
        graph = import_nir(path, reset="subtract", time_steps=T)
    lif = graph.ops[1]
    assert lif.opname == "snn.lif" and graph.inputs[0].type.features == (12,)
    np.testing.assert_array_equal(lif.attrs["recurrent_weight"], w_rec)
    np.testing.assert_array_equal(graph.ops[0].attrs["bias"], np.full(n, 1 / 64, np.float32))
    np.testing.assert_array_equal(lif.attrs["beta"], np.full(n, 0.75, np.float32))  # snnTorch: r = tau/1e-4
    assert lif.attrs["delayed_reset"] == 1 and graph.metadata["snn.nir.library"] == "snntorch"
    assert "batch" in graph.metadata["snn.nir.notes"]


def test_li_readout_and_scalar_parameters(tmp_path: Path) -> None:
    """0-d parameters broadcast to the neurons; an LI readout is snn.li, its gain folded into the weights,
    decoded by max_over_time."""
    rng = np.random.default_rng(3)
    nodes, edges = _mlp(rng)
    nodes["lif2"] = nir.LI(tau=np.array(2.0), r=np.array(1.0), v_leak=np.array(0.0))
    graph = import_nir(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), reset="zero", time_steps=T,
                       library="nir", decoder="max_over_time")
    assert [op.opname for op in graph.ops][-2:] == ["snn.li", "snn.max_over_time_decode"]
    np.testing.assert_array_equal(graph.ops[2].attrs["weight"], _f32(nodes["fc2"].weight * 0.5))
    with pytest.raises(FrontendError, match="max_over_time"):
        import_nir(_write(tmp_path, *_mlp(rng)), reset="zero", time_steps=T, decoder="max_over_time")


def test_unsupported_nodes_name_the_node_and_why(tmp_path: Path) -> None:
    nodes, edges = _mlp(np.random.default_rng(0))
    n = np.ones(16, np.float32)
    nodes["lif1"] = nir.CubaLI(tau_syn=n, tau_mem=n, r=n, v_leak=0 * n)
    with pytest.raises(UnsupportedOpError) as err:
        import_nir(_write(tmp_path, nodes, edges), reset="zero", time_steps=T)
    assert "'lif1'" in str(err.value) and "CubaLI" in str(err.value) and "supported NIR nodes" in str(err.value.hint)


def test_threshold_is_a_heaviside_on_each_step(tmp_path: Path) -> None:
    """Threshold ``z = H(I - theta)`` -> ``snn.lif`` with beta 0: the step's current against theta, nothing kept."""
    rng = np.random.default_rng(5)
    nodes, edges = _mlp(rng)
    theta = rng.uniform(0.2, 0.9, 16).astype(np.float32)
    nodes["lif1"] = nir.Threshold(threshold=theta)
    graph = import_nir(_write(tmp_path, nodes, edges), reset="zero", time_steps=T)
    lif = graph.ops[1]
    assert lif.opname == "snn.lif" and float(lif.attrs["beta"]) == 0.0 and lif.attrs["reset"] == "zero"
    x = _spikes(rng, 6, 12)
    fc1 = nodes["fc1"]
    current = np.einsum("tbi,oi->tbo", x, fc1.weight) + fc1.bias
    expected = current > theta  # NIR's Heaviside, step by step
    hidden = _run(graph, x).spikes[lif.result.name]
    assert 0 < expected.mean() < 1
    np.testing.assert_array_equal(np.asarray(hidden, bool), expected)
    nodes["lif1"] = nir.Threshold(threshold=-theta)
    with pytest.raises(FrontendError, match="threshold must be a finite number > 0") as err:
        import_nir(_write(tmp_path, nodes, edges, name="neg.nir"), reset="zero", time_steps=T)
    assert "'lif1'" in err.value.where and "bias" in err.value.hint


def test_delay_of_zero_is_the_identity_and_others_are_refused(tmp_path: Path) -> None:
    nodes, edges = _mlp(np.random.default_rng(0))
    names = list(nodes)
    nodes = {**{k: nodes[k] for k in names[:3]}, "delay": nir.Delay(delay=np.zeros(16, np.float32)),
             **{k: nodes[k] for k in names[3:]}}
    edges = [e for e in edges if e != ("lif1", "fc2")] + [("lif1", "delay"), ("delay", "fc2")]
    delayed = import_nir(_write(tmp_path, nodes, edges), reset="zero", time_steps=T)
    plain = import_nir(_write(tmp_path, *_mlp(np.random.default_rng(0))), reset="zero", time_steps=T)  # same name
    assert delayed.structurally_equal(plain)
    nodes["delay"] = nir.Delay(delay=np.full(16, 2.0, np.float32))
    with pytest.raises(FrontendError, match="no synaptic delays") as err:
        import_nir(_write(tmp_path, nodes, edges, name="d2.nir"), reset="zero", time_steps=T)
    assert "'delay'" in err.value.where and "Delay of 0" in err.value.hint


def _f32(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, np.float32)


def test_non_power_of_two_sumpool_is_refused(tmp_path: Path) -> None:
    nodes, edges = _chain(
        ("in", nir.Input(input_type={"input": np.array([1, 6, 6])})),
        ("conv", nir.Conv2d(input_shape=(6, 6), weight=np.ones((1, 1, 1, 1), np.float32), stride=1, padding=0,
                            dilation=1, groups=1, bias=np.zeros(1, np.float32))),
        ("pool", nir.SumPool2d(kernel_size=np.array([3, 3]), stride=np.array([3, 3]), padding=np.array([0, 0]))),
        ("if", _if((1, 2, 2))),
        ("out", nir.Output(output_type={"output": np.array([1, 2, 2])})),
    )
    with pytest.raises(FrontendError, match="power-of-two"):
        import_nir(_write(tmp_path, nodes, edges), reset="zero", time_steps=T)


def test_time_steps_are_required_for_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(FrontendError, match="time steps"):
        import_nir(_write(tmp_path, *_mlp(np.random.default_rng(0))), reset="zero")


def test_malformed_files_give_clean_errors(tmp_path: Path) -> None:
    with pytest.raises(FrontendError, match="not found"):
        import_nir(tmp_path / "missing.nir", reset="zero", time_steps=T)
    text = tmp_path / "text.nir"
    text.write_text("hello")
    with pytest.raises(FrontendError, match="no HDF5 signature"):
        import_nir(text, reset="zero", time_steps=T)
    other = tmp_path / "other.nir"
    with h5py.File(other, "w") as f:
        f.create_dataset("data", data=np.zeros(3))
    with pytest.raises(FrontendError, match="cannot read the NIR graph"):
        import_nir(other, reset="zero", time_steps=T)
    unknown = _write(tmp_path, *_mlp(np.random.default_rng(0)), name="unknown.nir")
    with h5py.File(unknown, "r+") as f:
        del f["node/nodes/lif1/type"]
        f["node/nodes/lif1"].create_dataset("type", data="Spiky", dtype=h5py.string_dtype())
    with pytest.raises(FrontendError, match="cannot read the NIR graph") as err:
        import_nir(unknown, reset="zero", time_steps=T)
    assert "Traceback" not in str(err.value) and err.value.hint


# ------------------------------------------------------------------------------------------------ CLI
def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="snnc nir")
    nir_cli.add_arguments(parser)
    return nir_cli.run(parser.parse_args(list(argv)))


def test_cli_export_then_import(tmp_path: Path) -> None:
    nir_file, ir_file = tmp_path / "m.nir", tmp_path / "m.snnir"
    model = MODELS / "stbp-fashion-mlp.onnx"
    assert _cli("export", str(model), "-o", str(nir_file)) == 0
    with pytest.raises(SnncError, match="1.0.6"):
        _cli("import", str(nir_file), "-o", str(ir_file))
    assert not ir_file.exists()
    assert _cli("import", str(nir_file), "--reset", "subtract", "-o", str(ir_file)) == 0
    assert parse_graph(ir_file.read_text()).structurally_equal(load_model(model))
    with pytest.raises(SnncError, match="already exists"):
        _cli("import", str(nir_file), "--reset", "zero", "-o", str(ir_file))
    with pytest.raises(NirExportError, match="relpsp"):
        _cli("export", str(MODELS / "stdbp-digits.onnx"), "-o", str(tmp_path / "d.nir"))


def test_cli_library_and_notes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--library chooses the discretisation; what snnc inferred is printed as a note."""
    nodes, edges = _mlp(np.random.default_rng(0))
    one = np.ones(16, np.float32)
    nodes["lif1"] = nir.LIF(tau=one * 2e-4, r=one, v_leak=0 * one, v_threshold=one)
    nodes["input"] = nir.Input(input_type={"input": np.array([1, 12])})
    path = _write(tmp_path, nodes, edges, type_check=False)
    with pytest.raises(SnncError, match="below the time step"):  # read as snnTorch at dt = 1: decay 1 - 5000
        _cli("import", str(path), "--reset", "zero", "-T", "4", "--library", "snntorch", "--dt", "1")
    assert _cli("import", str(path), "--reset", "zero", "-T", "4", "--library", "spikingjelly", "--dt", "1e-4",
                "-o", str(tmp_path / "out.snnir")) == 0
    err = capsys.readouterr().err
    assert "note:" in err and "batch" in err
    graph = parse_graph((tmp_path / "out.snnir").read_text())
    np.testing.assert_array_equal(graph.ops[1].attrs["beta"], np.full(16, 0.5, np.float32))
    assert graph.metadata["snn.nir.library"] == "spikingjelly"


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_leaky_chain_matches_forward_euler(tmp_path: Path, reset: str) -> None:
    """library='nir': LIF, CubaLIF and an LI readout are NIR's ODEs stepped by forward Euler at dt, reset
    before the next decay; per-neuron tau, r, w_in and thresholds (real-valued weights, float64 reference)."""
    rng = np.random.default_rng(11)
    n_in, n1, n2, n3 = 12, 16, 10, 5
    dt = 0.5

    def u(lo: float, hi: float, n: int) -> np.ndarray:
        return rng.uniform(lo, hi, n).astype(np.float32)

    nodes, edges = _chain(
        ("input", nir.Input(input_type={"input": np.array([n_in])})),
        ("fc1", nir.Affine(weight=rng.normal(0.3, 0.6, (n1, n_in)).astype(np.float32),
                           bias=rng.normal(0, 0.1, n1).astype(np.float32))),
        ("lif", nir.LIF(tau=u(1, 8, n1), r=u(0.5, 2, n1), v_leak=np.zeros(n1, np.float32),
                        v_threshold=u(0.3, 1.0, n1), v_reset=np.zeros(n1, np.float32))),
        ("fc2", nir.Linear(weight=rng.normal(0.4, 0.7, (n2, n1)).astype(np.float32))),
        ("cuba", nir.CubaLIF(tau_syn=u(1, 4, n2), tau_mem=u(1, 8, n2), r=u(0.5, 2, n2), w_in=u(0.5, 2, n2),
                             v_leak=np.zeros(n2, np.float32), v_threshold=u(0.1, 0.5, n2),
                             v_reset=np.zeros(n2, np.float32))),
        ("fc3", nir.Linear(weight=rng.normal(0, 0.7, (n3, n2)).astype(np.float32))),
        ("li", nir.LI(tau=u(1, 8, n3), r=u(0.5, 2, n3), v_leak=np.zeros(n3, np.float32))),
        ("output", nir.Output(output_type={"output": np.array([n3])})),
    )
    path = _write(tmp_path, nodes, edges)
    graph = import_nir(path, reset=reset, time_steps=T, library="nir", dt=dt, decoder="last_step")
    assert [op.opname for op in graph.ops] == ["snn.dense", "snn.lif", "snn.dense", "snn.cuba_lif", "snn.dense",
                                               "snn.li", "snn.last_step_decode"]
    x = _spikes(rng, 4, n_in, p=0.6)
    graph.set_outputs([graph.outputs[0], graph.ops[3].result, graph.ops[5].result])
    result = _run(graph, x)
    expected = nir_reference(nir.read(path), x, reset=reset, dt=dt)
    np.testing.assert_allclose(result.outputs["li"], expected, rtol=1e-4, atol=1e-5)
    assert result.spikes["cuba"].sum() > 0 and result.spikes["lif"].sum() > 0


def test_conv1d_is_a_conv2d_of_height_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    nodes, edges = _chain(
        ("input", nir.Input(input_type={"input": np.array([2, 9])})),
        ("conv", nir.Conv1d(input_shape=9, weight=rng.normal(0.2, 0.6, (3, 2, 3)).astype(np.float32), stride=2,
                            padding=1, dilation=1, groups=1, bias=rng.normal(0, 0.1, 3).astype(np.float32))),
        ("if1", _if((3, 5), 0.8)),
        ("output", nir.Output(output_type={"output": np.array([3, 5])})),
    )
    path = _write(tmp_path, nodes, edges, type_check=False)
    graph = import_nir(path, reset="subtract", time_steps=T)
    assert [op.opname for op in graph.ops][:3] == ["snn.reshape", "snn.conv2d", "snn.reshape"]
    x = _spikes(rng, 4, 2, 9, p=0.6)
    expected = nir_reference(nir.read(path, type_check=False), x, reset="subtract")
    np.testing.assert_array_equal(_run(graph, x).spikes["if1"], expected.astype(bool))
    assert expected.sum() > 0


def test_scale_folds_into_the_next_threshold(tmp_path: Path) -> None:
    rng = np.random.default_rng(13)
    nodes, edges = _mlp(rng)
    nodes = {**{k: v for k, v in nodes.items() if k != "lif2"}, "scale": nir.Scale(scale=np.full(5, 2.0, np.float32)),
             "lif2": nodes["lif2"]}
    edges = [e for e in edges if e != ("fc2", "lif2")] + [("fc2", "scale"), ("scale", "lif2")]
    graph = import_nir(_write(tmp_path, nodes, edges, type_check=False), reset="zero", time_steps=T)
    np.testing.assert_array_equal(graph.ops[3].attrs["threshold"], np.full(5, 0.35, np.float32))  # 0.7 / 2
    nodes["scale"] = nir.Scale(scale=np.arange(1, 6, dtype=np.float32))
    with pytest.raises(FrontendError, match="one positive factor"):  # on a current: not exact in float32
        import_nir(_write(tmp_path, nodes, edges, name="per.nir", type_check=False), reset="zero", time_steps=T)


def test_per_neuron_scale_on_spikes_folds_into_the_next_synapse(tmp_path: Path) -> None:
    """Scale s[j] on a spike train before a Linear: W[:, j] * s[j], exactly the network with those weights."""
    rng = np.random.default_rng(21)
    nodes, edges = _mlp(rng)
    s = rng.choice(np.array([-1.5, 0.25, 0.5, 3.0], np.float32), 16)
    folded = dict(nodes)
    folded["fc2"] = nir.Linear(weight=(nodes["fc2"].weight * s[None, :]).astype(np.float32))
    names = list(nodes)
    scaled = {**{k: nodes[k] for k in names[:3]}, "scale": nir.Scale(scale=s), **{k: nodes[k] for k in names[3:]}}
    scaled_edges = [e for e in edges if e != ("lif1", "fc2")] + [("lif1", "scale"), ("scale", "fc2")]
    graph = import_nir(_write(tmp_path, scaled, scaled_edges, type_check=False), reset="zero", time_steps=T)
    np.testing.assert_array_equal(graph.ops[2].attrs["weight"], folded["fc2"].weight)
    x = _spikes(rng, 6, 12)
    reference = import_nir(_write(tmp_path, folded, edges, name="folded.nir"), reset="zero", time_steps=T)
    np.testing.assert_array_equal(_run(graph, x).scores, _run(reference, x).scores)
    scaled["scale"] = nir.Scale(scale=s[:5])  # a wrong count is named
    with pytest.raises(FrontendError, match="5 factors for 16 neurons"):
        import_nir(_write(tmp_path, scaled, scaled_edges, name="bad.nir", type_check=False), reset="zero",
                   time_steps=T)
    scaled["scale"] = nir.Scale(scale=s)  # into a neuron instead of a synapse: refused, naming both
    spiking = {k: v for k, v in scaled.items() if k != "fc2"}
    spiking_edges = [e for e in scaled_edges if "fc2" not in e] + [("scale", "lif2")]
    with pytest.raises(FrontendError, match="per-neuron Scale 'scale'") as err:
        import_nir(_write(tmp_path, spiking, spiking_edges, name="direct.nir", type_check=False), reset="zero",
                   time_steps=T)
    assert "'lif2'" in err.value.where


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_leaky_networks_round_trip_through_nir(tmp_path: Path, reset: str) -> None:
    """snn.lif (both reset orders), snn.cuba_lif and snn.li export as LIF / CubaLIF / LI whose forward-Euler
    step at dt is snnc's, and import back to the same graph."""
    rng = np.random.default_rng(14)
    n_in, n1, n2, n3 = 12, 16, 10, 5
    betas = rng.choice(np.array([0.5, 0.75, 0.9, 0.95, 1.0], np.float32), n1)
    nodes, edges = _chain(
        ("input", nir.Input(input_type={"input": np.array([n_in])})),
        ("fc1", nir.Linear(weight=rng.normal(0.3, 0.6, (n1, n_in)).astype(np.float32))),
        # snnTorch's pattern (r = tau/1e-4): a delayed reset under 'subtract'
        ("lif", nir.LIF(tau=(1e-4 / (1 - betas.astype(np.float64))).astype(np.float32),
                        r=(1 / (1 - betas.astype(np.float64))).astype(np.float32), v_leak=np.zeros(n1, np.float32),
                        v_threshold=rng.uniform(0.3, 1, n1).astype(np.float32), v_reset=np.zeros(n1, np.float32))),
        ("fc2", nir.Linear(weight=rng.normal(0.4, 0.7, (n2, n1)).astype(np.float32))),
        ("cuba", nir.CubaLIF(tau_syn=np.full(n2, 2e-4, np.float32), tau_mem=np.full(n2, 4e-4, np.float32),
                             r=np.full(n2, 4.0, np.float32), w_in=np.full(n2, 2.0, np.float32),
                             v_leak=np.zeros(n2, np.float32), v_threshold=np.full(n2, 0.4, np.float32),
                             v_reset=np.zeros(n2, np.float32))),
        ("fc3", nir.Linear(weight=rng.normal(0, 0.7, (n3, n2)).astype(np.float32))),
        ("out", nir.LIF(tau=np.full(n3, 2e-4, np.float32), r=np.full(n3, 2.0, np.float32),
                        v_leak=np.zeros(n3, np.float32), v_threshold=np.full(n3, 0.5, np.float32),
                        v_reset=np.zeros(n3, np.float32))),
        ("output", nir.Output(output_type={"output": np.array([n3])})),
    )
    with pytest.warns(NirImportWarning):
        graph = import_nir(_write(tmp_path, nodes, edges), reset=reset, time_steps=T)
    assert graph.ops[1].attrs["delayed_reset"] == int(reset == "subtract")
    export_nir(graph, tmp_path / "back.nir", dt=0.25)
    again = import_nir(tmp_path / "back.nir", reset=reset)
    assert print_graph(again) == print_graph(graph)
    # an LI readout decoded by max_over_time
    nodes["out"] = nir.LI(tau=np.full(n3, 4e-4, np.float32), r=np.full(n3, 3.0, np.float32),
                          v_leak=np.zeros(n3, np.float32))
    graph = import_nir(_write(tmp_path, nodes, edges, name="li.nir"), reset=reset, time_steps=T, library="snntorch",
                       dt=1e-4, decoder="max_over_time")
    np.testing.assert_array_equal(graph.ops[-2].attrs["beta"], np.full(n3, 0.75, np.float32))
    export_nir(graph, tmp_path / "li_back.nir", dt=0.5)
    again = import_nir(tmp_path / "li_back.nir", reset=reset)
    assert print_graph(again) == print_graph(graph) and again.ops[-2].opname == "snn.li"
