"""snnc -> NIR -> each library's own NIR importer (issue 15, item 2): build snnc graphs of every network kind
NIR export takes (IF, LIF with both resets, CubaLIF, LI readout, conv, a skip connection, a recurrent layer),
export them with the library's flavour (``export_nir(..., flavour=)``, ``snnc nir export --for``), load the
file with snnTorch's ``import_from_nir``, Norse's ``from_nir`` or SpikingJelly's ``import_from_nir``, run the
library's module step by step on random input spikes, and compare its spike trains with snnc's reference
executor, step by step and neuron by neuron. Where the library's importer cannot take a construct, the export
refuses it, naming the node, why, and what would work.

Weights are multiples of 1/64, decays dyadic (0.5, 0.75, 0.875) and thresholds off that grid (0.9, 0.7, ...),
so the synaptic sums are exact in float32 in any order and no potential lands on a threshold (the libraries
fire on ``v > theta`` or ``v >= theta``, snnc on ``V >= theta``). Norse integrates ``v += k*(I - v)`` rather
than ``beta*V + I``: its potentials are ``k*V`` up to float32 rounding, and the test uses ``dt = 2**-10`` so
that ``k = dt/tau`` is a power of two and the spike trains are equal (with Norse's default ``dt = 1e-3``
``k`` is rounded, and spikes could differ only at near-ties).

The same graphs also round-trip through snnc's own importer (``flavour="nir"``): merges become several edges
into one node and ``recurrent_weight`` a cycle neuron -> Linear -> neuron, and come back as ``snn.add`` and
``recurrent_weight`` with equal outputs.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from snnc.backends import get_backend
from snnc.errors import SnncError
from snnc.frontend.nir_export import FLAVOURS, NirExportError, export_nir
from snnc.frontend.nir_import import NirImportWarning, import_nir
from snnc.ir import Graph
from snnc.ir.parser import parse_graph

nir = pytest.importorskip("nir")

pytestmark = pytest.mark.nir_libs

T, B = 24, 3
DT_NORSE = 2.0**-10


# ------------------------------------------------------------------------------------------ graphs
def _arr(a: np.ndarray) -> str:
    a = np.asarray(a, np.float32)
    return f"dense<[{', '.join(repr(float(v)) for v in a.ravel())}]> : f32[{','.join(map(str, a.shape))}]"


class _Text:
    """A tiny IR text builder: spike-train input, ops as text, one decoder."""

    def __init__(self, features: tuple[int, ...], seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.lines: list[str] = []
        self.features = features
        self.types: dict[str, tuple[str, tuple[int, ...]]] = {"x": ("spikes", features)}

    def w(self, *shape: int, lo: int = -20, hi: int = 36) -> np.ndarray:
        return self.rng.integers(lo, hi + 1, shape).astype(np.float32) / 64

    def op(self, name: str, opname: str, args: list[str], attrs: dict[str, str], kind: str,
           feats: tuple[int, ...]) -> str:
        a = ", ".join(f"{k} = {v}" for k, v in attrs.items())
        dims = "x".join(map(str, feats))
        ty = f"spikes<TxBx{dims}>" if kind == "spikes" else f"{kind}<TxBx{dims}xf32>"
        self.lines.append(f"  %{name} = {opname}({', '.join('%' + x for x in args)}) {{{a}}} : {ty}")
        self.types[name] = (kind, feats)
        return name

    def dense(self, name: str, x: str, n: int, bias: bool = False) -> str:
        m = int(np.prod(self.types[x][1]))
        attrs = {"weight": _arr(self.w(n, m))}
        if bias:
            attrs["bias"] = _arr(self.w(n, lo=-4, hi=8))
        return self.op(name, "snn.dense", [x], attrs, "current", (n,))

    def neuron(self, name: str, x: str, kind: str, theta: float | np.ndarray = 0.9, reset: str = "zero",
               delayed: int = 0, beta: float = 0.75, alpha: float = 0.5, rec: bool = False) -> str:
        feats = self.types[x][1]
        attrs = {"threshold": _arr(np.atleast_1d(theta))} if kind != "snn.li" else {}
        if kind in ("snn.lif", "snn.cuba_lif", "snn.li"):
            attrs["beta"] = _arr([beta])
        if kind == "snn.cuba_lif":
            attrs["alpha"] = _arr([alpha])
        if kind != "snn.li":
            attrs["reset"] = f'"{reset}"'
        if kind in ("snn.lif", "snn.cuba_lif"):
            attrs["delayed_reset"] = str(delayed)
        if rec:
            attrs["recurrent_weight"] = _arr(self.w(feats[0], feats[0], lo=-16, hi=16))
        return self.op(name, kind, [x], attrs, "potential" if kind == "snn.li" else "spikes", feats)

    def build(self, out: str, decoder: str = "snn.spike_count_decode") -> Graph:
        feats = self.types[out][1]
        dims = "x".join(map(str, self.features))
        body = "\n".join(self.lines)
        text = (f"snnc.ir 1\ngraph @net(%x: spikes<TxBx{dims}>) time_steps = {T} {{\n{body}\n"
                f"  %scores = {decoder}(%{out}) : tensor<Bx{'x'.join(map(str, feats))}xf32>\n  return %scores\n}}\n")
        graph = parse_graph(text)
        graph.verify()
        return graph


def _mlp(kind: str, reset: str = "zero", delayed: int = 0, per_neuron: bool = False, seed: int = 1) -> Graph:
    t = _Text((10,), seed)
    theta = np.linspace(0.7, 1.3, 12).astype(np.float32) if per_neuron else 0.9
    h = t.neuron("h", t.dense("fc1", "x", 12, bias=True), kind, theta, reset, delayed)
    o = t.neuron("o", t.dense("fc2", h, 5), kind if kind != "snn.cuba_lif" else "snn.lif", 0.7, reset, delayed)
    return t.build(o)


def _li_readout() -> Graph:
    t = _Text((10,), 3)
    h = t.neuron("h", t.dense("fc1", "x", 12), "snn.lif", 0.9)
    return t.build(t.neuron("o", t.dense("fc2", h, 5), "snn.li", beta=0.875), "snn.max_over_time_decode")


def _conv() -> Graph:
    t = _Text((1, 6, 6), 5)
    w = t.w(3, 1, 3, 3)
    c = t.op("conv", "snn.conv2d", ["x"], {"weight": _arr(w), "strides": "[1, 1]", "pads": "[1, 1, 1, 1]",
                                          "dilations": "[1, 1]", "group": "1"}, "current", (3, 6, 6))
    h = t.neuron("h", c, "snn.if", 0.9)
    p = t.op("pool", "snn.avgpool2d", [h], {"kernel": "[2, 2]", "strides": "[2, 2]", "pads": "[0, 0, 0, 0]",
                                           "count_include_pad": "1"}, "current", (3, 3, 3))
    f = t.op("flat", "snn.flatten", [p], {}, "current", (27,))
    return t.build(t.neuron("o", t.dense("fc", f, 4), "snn.lif", 0.3))


def _conv1d() -> Graph:
    """A 1-d convolution, as snnc imports NIR's Conv1d: a Conv2d of height 1 over [C, 1, L]."""
    t = _Text((2, 1, 12), 11)
    w = t.w(3, 2, 1, 3)
    c = t.op("conv", "snn.conv2d", ["x"], {"weight": _arr(w), "strides": "[1, 2]", "pads": "[0, 1, 0, 1]",
                                          "dilations": "[1, 1]", "group": "1"}, "current", (3, 1, 6))
    h = t.neuron("h", c, "snn.if", 0.9)
    f = t.op("flat", "snn.flatten", [h], {}, "spikes", (18,))
    return t.build(t.neuron("o", t.dense("fc", f, 4), "snn.lif", 0.3))


def _skip(kind: str = "snn.if", reset: str = "zero") -> Graph:
    """x -> fc1 -> h -> fc2 --+--> o ;  x -> fc3 --/  (a merge: snn.add of two currents)"""
    t = _Text((10,), 7)
    h = t.neuron("h", t.dense("fc1", "x", 8), kind, 0.9, reset)
    a, b = t.dense("fc2", h, 4), t.dense("fc3", "x", 4)
    s = t.op("sum", "snn.add", [a, b], {}, "current", (4,))
    return t.build(t.neuron("o", s, kind, 0.7, reset))


def _recurrent(kind: str = "snn.lif") -> Graph:
    t = _Text((10,), 9)
    h = t.neuron("h", t.dense("fc1", "x", 12), kind, 0.9, rec=True)
    return t.build(t.neuron("o", t.dense("fc2", h, 5), "snn.lif", 0.7))


KINDS = {
    "if_mlp": lambda: _mlp("snn.if"),
    "lif_mlp_zero": lambda: _mlp("snn.lif"),
    "lif_mlp_subtract": lambda: _mlp("snn.lif", "subtract", 1),
    "cuba_lif": lambda: _mlp("snn.cuba_lif"),
    "per_neuron_threshold": lambda: _mlp("snn.lif", per_neuron=True),
    "li_readout": _li_readout,
    "conv": _conv,
    "conv1d": _conv1d,
    "skip": _skip,
    "recurrent": _recurrent,
}


# ------------------------------------------------------------------------------------------ helpers
def _spikes(seed: int, features: tuple[int, ...], p: float = 0.5) -> np.ndarray:
    return (np.random.default_rng(seed).random((T, B, *features)) < p).astype(np.float32)


def _snnc(graph: Graph, x: np.ndarray) -> np.ndarray:
    """The spike train (or LI trace) the decoder reads, [T, B, *f]."""
    decoder = graph.ops[-1]
    read = decoder.operands[0]
    graph.set_outputs([graph.outputs[0], read])
    try:
        return get_backend("reference").run(graph, x).outputs[read.name]
    finally:
        graph.set_outputs([graph.outputs[0]])


def _step_all(module, x: np.ndarray) -> np.ndarray:  # noqa: ANN001
    import torch

    state, out = None, []
    with torch.no_grad():
        for t in range(x.shape[0]):
            y, state = module(torch.from_numpy(x[t]), state)
            out.append((y[0] if isinstance(y, tuple) else y).numpy())
    return np.stack(out)


def _load(library: str, exported: object):  # noqa: ANN202
    if library == "snntorch":
        pytest.importorskip("snntorch")
        from snntorch.import_nir import import_from_nir

        return import_from_nir(exported)
    if library == "norse":
        norse = pytest.importorskip("norse.torch")
        return norse.from_nir(exported, dt=DT_NORSE)
    pytest.importorskip("spikingjelly")
    from spikingjelly.activation_based.nir_exchange import from_nir

    return from_nir.import_from_nir(exported, dt=1e-4)


def _equal(ours: np.ndarray, theirs: np.ndarray) -> None:
    theirs = np.asarray(theirs).astype(bool).reshape(ours.shape)
    np.testing.assert_array_equal(ours.astype(bool), theirs)
    assert theirs.sum() > 0 and (~theirs).sum() > 0, "choose weights that make the neurons fire sometimes"


#: (library, network kind) -> the refusal's message fragment, where the library's importer cannot take it
REFUSED = {
    ("snntorch", "lif_mlp_subtract"): "subtraction",
    ("snntorch", "li_readout"): "LI",
    ("snntorch", "recurrent"): "W_rec",
    ("norse", "lif_mlp_subtract"): "subtraction",
    ("norse", "li_readout"): "LI",
    ("norse", "conv"): "AvgPool2d",
    ("norse", "skip"): "depth-first",
    ("spikingjelly", "lif_mlp_subtract"): "subtraction",
    ("spikingjelly", "li_readout"): "LI",
}
LIBRARIES = ("snntorch", "norse", "spikingjelly")


# ------------------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("library", LIBRARIES)
def test_export_runs_in_the_library_with_equal_spikes(library: str, kind: str, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    graph = KINDS[kind]()
    path = tmp_path / "net.nir"
    dt = DT_NORSE if library == "norse" else None
    if (library, kind) in REFUSED:
        with pytest.raises(NirExportError, match=REFUSED[library, kind]) as err:
            export_nir(graph, path, flavour=library, dt=dt)
        assert err.value.hint and "%" in str(err.value)  # the node, why, and what would
        assert not path.exists()
        return
    export_nir(graph, path, flavour=library, dt=dt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = _load(library, nir.read(path))
    x = _spikes(11, graph.inputs[0].type.features)
    _equal(_snnc(graph, x), _step_all(module, x))


@pytest.mark.parametrize("kind", KINDS)
def test_export_round_trips_through_snnc(kind: str, tmp_path: Path) -> None:
    """flavour nir: merges and recurrence included, snnc's importer gives back an equal network."""
    graph = KINDS[kind]()
    path = tmp_path / "net.nir"
    exported = export_nir(graph, path, dt=0.5)
    reset = "subtract" if kind == "lif_mlp_subtract" else "zero"
    back = import_nir(path, reset=reset)
    opnames = [op.opname for op in back.ops]
    assert opnames.count("snn.add") == [op.opname for op in graph.ops].count("snn.add")
    assert sum("recurrent_weight" in op.attrs for op in back.ops) == sum("recurrent_weight" in op.attrs
                                                                         for op in graph.ops)
    if kind == "skip":
        assert sum(1 for e in exported.edges if e[1] == "o") == 2  # two edges into one node: NIR sums them
    if kind == "recurrent":
        assert ("h", "h_rec") in exported.edges and ("h_rec", "h") in exported.edges
    x = _spikes(12, graph.inputs[0].type.features)
    np.testing.assert_array_equal(_snnc(back, x), _snnc(graph, x))


@pytest.mark.parametrize("flavour", ["sinabs", "rockpool"])
def test_old_nir_flavour_writes_what_nir_1_0_5_reads(flavour: str, tmp_path: Path) -> None:
    """nir <= 1.0.5: no v_reset, no node metadata, no Linear (an Affine with a zero bias); subtractive resets."""
    import h5py

    def net(reset: str) -> Graph:
        if flavour == "sinabs":
            return _mlp("snn.if", reset=reset)
        # Rockpool runs CubaLIF only (its LIFTorch filters every input: IF / LIF refused, test_nir_fixtures.py)
        t = _Text((10,), 1)
        h = t.neuron("h", t.dense("fc1", "x", 12, bias=True), "snn.cuba_lif", 0.9, reset)
        return t.build(t.neuron("o", t.dense("fc2", h, 5), "snn.cuba_lif", 0.7, reset))

    graph = net("subtract")
    path = tmp_path / "old.nir"
    export_nir(graph, path, flavour=flavour)
    with h5py.File(path) as f:
        nodes = f["node"]["nodes"]
        types = {k: nodes[k]["type"][()].decode() for k in nodes}
        for k in nodes:
            assert "v_reset" not in nodes[k] and "metadata" not in nodes[k]
    assert "Linear" not in types.values()
    assert types["h"] == ("CubaLIF" if flavour == "rockpool" else "IF")
    with pytest.raises(NirExportError, match="subtraction"):
        export_nir(net("zero"), tmp_path / "zero.nir", flavour=flavour)


def test_flavours_and_dt_are_checked(tmp_path: Path) -> None:
    with pytest.raises(SnncError, match="unknown NIR export flavour"):
        export_nir(_mlp("snn.if"), flavour="lava")
    with pytest.raises(SnncError, match="needs dt = 0.0001"):
        export_nir(_mlp("snn.if"), flavour="snntorch", dt=1e-3)
    assert set(FLAVOURS) == {"nir", "snntorch", "norse", "spikingjelly", "sinabs", "rockpool"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NirImportWarning)


def test_sinabs_flavour_parameters_and_refusals(tmp_path: Path) -> None:
    """Sinabs steps LIF / ExpLeak with decay exp(-1/tau) and gain 1: tau = -1/ln(beta); no CubaLIF, no
    AvgPool2d, no merges (its nirtorch executor runs a merge one step late)."""
    graph = _mlp("snn.lif", reset="subtract")
    exported = export_nir(graph, flavour="sinabs")
    np.testing.assert_allclose(np.exp(-1 / exported.nodes["h"].tau), 0.75, rtol=1e-6)
    np.testing.assert_array_equal(exported.nodes["h"].r, 1)
    assert type(exported.nodes["fc2"]).__name__ == "Affine" and not exported.nodes["fc2"].bias.any()
    with pytest.raises(NirExportError, match="CubaLIF"):
        export_nir(_mlp("snn.cuba_lif", reset="subtract"), flavour="sinabs")
    with pytest.raises(NirExportError, match="delayed_reset"):
        export_nir(_mlp("snn.lif", reset="subtract", delayed=1), flavour="sinabs")
    with pytest.raises(NirExportError, match="depth-first"):
        export_nir(_skip(reset="subtract"), flavour="sinabs")


def test_cli_export_for_a_library(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from snnc.cli import main
    from snnc.ir.printer import print_graph

    model = tmp_path / "net.snnir"
    model.write_text(print_graph(_mlp("snn.lif")))
    assert main(["nir", "export", str(model), "-o", str(tmp_path / "st.nir"), "--for", "snntorch"]) == 0
    assert "for snntorch" in capsys.readouterr().err
    written = nir.read(tmp_path / "st.nir")
    np.testing.assert_allclose(written.nodes["h"].tau, 4e-4, rtol=1e-6)  # dt = 1e-4: tau = dt/(1 - 0.75)
    with pytest.raises(SystemExit):
        main(["nir", "export", str(model), "-o", str(tmp_path / "x.nir"), "--for", "lava"])
    capsys.readouterr()
    # Sinabs' importer clamps the potential and emits several spikes a step: the export says what to set
    model.write_text(print_graph(_mlp("snn.if", "subtract")))  # Sinabs reads nir <= 1.0.5: subtractive reset
    assert main(["nir", "export", str(model), "-o", str(tmp_path / "sb.nir"), "--for", "sinabs"]) == 0
    err = capsys.readouterr().err
    assert "note: after sinabs.from_nir" in err and "min_v_mem = None" in err and "SingleSpike" in err
