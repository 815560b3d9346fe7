"""The Python front door (issue 18): ``snnc.run``, ``snnc.compile`` and ``snnc.simulate`` take paths or the
previous step's object, reshape inputs as the command line does, name values as the command line prints them,
and return results with short reprs and ``to_json``."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import numpy as np
import pytest

import snnc
from snnc.errors import SnncError

REPO = Path(__file__).resolve().parent.parent
DIGITS = REPO / "models" / "stdbp-digits.onnx"


def _images(n: int = 5) -> np.ndarray:
    return np.random.default_rng(3).random((n, 8, 8), dtype=np.float32)


def test_public_names() -> None:
    assert {"load_model", "run", "compile", "simulate"} <= set(snnc.__all__)
    for name in ("load_model", "run", "compile", "simulate"):
        assert callable(getattr(snnc, name))


def test_run_takes_a_path_or_a_graph_and_reshapes_like_the_cli() -> None:
    x = _images()
    by_path = snnc.run(DIGITS, x)  # [N, 8, 8] for a 64-input model: flattened, as `snnc run` does
    graph = snnc.load_model(DIGITS)
    by_graph = snnc.run(graph, x.reshape(5, 64))
    np.testing.assert_array_equal(by_path.scores, by_graph.scores)
    assert snnc.load_model(graph) is graph
    one = snnc.run(str(DIGITS), x[0])  # one sample without its batch axis
    np.testing.assert_array_equal(one.scores, by_path.scores[:1])
    with pytest.raises(SnncError, match="expected a model path or a Graph"):
        snnc.run(42, x)  # type: ignore[arg-type]
    with pytest.raises(SnncError, match="do not fit|features|shape"):
        snnc.run(DIGITS, np.zeros((2, 7), np.float32))


def test_names_are_the_cli_names() -> None:
    r = snnc.run(DIGITS, _images(), record=True)
    assert set(r.spike_counts) == {"ttfs_encode_0", "relpsp_2", "relpsp_4"}
    assert not any(k.startswith("%") for k in (*r.spike_counts, *r.spikes))


def test_short_reprs_and_json(tmp_path: Path) -> None:
    x = _images()
    r = snnc.run(DIGITS, x, record=True)
    text = repr(r)
    assert text.startswith("RunResult(5 samples, 10 classes, predictions [") and "relpsp_2" in text
    assert len(text) < 300 and "array(" not in text
    assert json.loads(json.dumps(r.to_json()))["predictions"] == r.predictions.tolist()
    compiled = snnc.compile(DIGITS, tmp_path / "dep", sample_x=x)
    assert repr(compiled).startswith(f"CompileResult({str(tmp_path / 'dep')!r}, ") and "PEs" in repr(compiled)
    assert json.loads(json.dumps(compiled.to_json()))["out_dir"] == str(tmp_path / "dep")
    sim = snnc.simulate(compiled, x, labels=r.predictions)  # the CompileResult, or its directory
    again = snnc.simulate(tmp_path / "dep", x.reshape(5, 64))
    np.testing.assert_array_equal(sim.scores, again.scores)
    assert sim.accuracy == 1.0  # the chip agrees with the reference on these images
    assert repr(sim).startswith(f"SimResult({str(tmp_path / 'dep')!r}, 5 images, accuracy 100.00 %")
    assert len(repr(sim)) < 300
    with pytest.raises(SnncError, match="already exists|--force"):
        snnc.compile(DIGITS, tmp_path / "dep")
    with pytest.raises(SnncError, match="expected a deployment directory or a CompileResult"):
        snnc.simulate(3.5, x)  # type: ignore[arg-type]


def test_the_module_example_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example in ``snnc.api``'s docstring is doctested from the repository root."""
    import snnc.api

    monkeypatch.chdir(REPO)
    failures, tried = doctest.testmod(snnc.api, optionflags=doctest.ELLIPSIS, verbose=False)
    assert tried >= 3 and failures == 0


def test_a_nir_file_given_as_a_model_says_how_to_import_it() -> None:
    nir_file = REPO / "tests" / "nir_fixtures" / "sinabs-iaf-mlp.nir"
    with pytest.raises(SnncError, match="HDF5 file") as err:
        snnc.load_model(nir_file)
    assert "snnc nir import" in err.value.hint
