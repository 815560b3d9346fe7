"""snnc with the nir the user has: every flavour of ``snnc nir export`` is read back by the installed nir and
imports back to the same graph, whatever nir 1.0.4 ... current is installed.

The suite runs these with the nir that ``pip install -e .`` brings; CI runs this file and
``tests/test_nir_fixtures.py`` again under nir 1.0.4, 1.0.5, 1.0.6 and 1.0.7 (``.ci/run``: each installed with
``pip install --target`` and put first on ``PYTHONPATH``), setting ``SNNC_EXPECT_NIR`` so that a run that
silently picked up another nir fails. Nothing here builds a NIR node by hand: the nodes' constructors change
between nir versions (``v_reset`` is required from 1.0.6 and unknown before), and the point is that snnc's
exporter and importer cope with that, not the test.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import nir
import numpy as np
import pytest

from snnc.api import load_model
from snnc.backends import get_backend
from snnc.frontend import import_onnx
from snnc.frontend.nir_export import FLAVOURS, NirExportError, export_nir
from snnc.frontend.nir_import import import_nir, read_nir_file
from snnc.frontend.snn_onnx import SnnModelBuilder
from snnc.ir import Graph

MODELS = Path(__file__).resolve().parent.parent / "models"


def test_the_expected_nir_is_installed() -> None:
    """CI names the version it installed; a run that fell back on another nir must not pass unnoticed."""
    expected = os.environ.get("SNNC_EXPECT_NIR")
    if expected is None:
        pytest.skip("SNNC_EXPECT_NIR not set: this run uses whatever nir is installed")
    assert nir.__version__ == expected


def _if_zero_mlp() -> Graph:
    """An IF MLP with reset to zero and uniform thresholds: every flavour's library can load it."""
    rng = np.random.default_rng(3)
    b = SnnModelBuilder(input_features=(12,), time_steps=8, name="ifzero")
    s = b.rate_encode(b.input, threshold=0.5)
    h = b.if_neuron(b.dense(s, rng.normal(0, 0.5, (16, 12)), rng.normal(0, 0.1, 16)), 0.6, reset="zero")
    o = b.if_neuron(b.dense(h, rng.normal(0, 0.5, (4, 16)), None), 0.5, reset="zero")
    return import_onnx(b.build(b.spike_count_decode(o), metadata={"snn.algorithm": "test"}))


GRAPHS = {
    "stbp-fashion-mlp": lambda: load_model(MODELS / "stbp-fashion-mlp.onnx"),
    "stbp-fashion-lif-li": lambda: load_model(MODELS / "stbp-fashion-lif-li.onnx"),
    "if-zero-mlp": _if_zero_mlp,
}


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
@pytest.mark.parametrize("model", sorted(GRAPHS))
def test_every_flavour_reads_back_with_the_installed_nir(tmp_path: Path, model: str, flavour: str) -> None:
    graph = GRAPHS[model]()
    path = tmp_path / f"{model}.nir"
    try:
        export_nir(graph, path, flavour=flavour)
    except NirExportError as err:  # a library that cannot load the network: refused with the reason, nothing written
        assert flavour != "nir" and err.hint and not path.exists()
        return
    written = read_nir_file(path)
    assert isinstance(written, nir.NIRGraph) and written.nodes
    if flavour != "nir":
        return  # written for another library's importer (thresholds folded, tau 1e30, ...): its tests compare
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reset = next((op.attrs["reset"] for op in graph.ops if op.opname == "snn.if"), "subtract")
        back = import_nir(path, reset=reset)
    assert back.structurally_equal(graph)
    x = np.random.default_rng(0).random((3, *graph.inputs[0].type.features)).astype(np.float32)
    backend = get_backend("reference")
    np.testing.assert_array_equal(backend.run(back, x).scores, backend.run(graph, x).scores)


def test_the_if_mlp_exports_for_every_library() -> None:
    """The IF MLP with reset to zero is what every library's importer takes: no flavour refuses it."""
    graph = _if_zero_mlp()
    for flavour in FLAVOURS:
        if flavour in ("rockpool", "sinabs"):  # Rockpool builds every neuron as a CubaLIF (IF needs tau_syn); the
            continue  # nir <= 1.0.5 files Sinabs reads have no v_reset (subtract only): docs/nir.md
        assert isinstance(export_nir(graph, flavour=flavour), nir.NIRGraph), flavour
