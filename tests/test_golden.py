"""Golden outputs ("process replay"): every shipped model compiles and simulates exactly as recorded.

For each model in ``models/*.onnx``, :func:`snnc.tests.golden.golden.compute` recompiles it for YOSO and
simulates it on a fixed image set (placement, routes, SRAM images and every deployment file, per-image
cycles, energy, spikes, scores), and the result must equal ``tests/golden/<model>.json``: integers and strings
exactly, floats to a relative 1e-9. A failure lists what changed, e.g.
``stdbp-digits: placement.pes[1].xy: [0, 1] -> [1, 0]``. When the change is intended, regenerate with
``python tests/golden/regenerate.py --model NAME`` and state the effect in the commit message
(``docs/testing.md``, "Golden outputs").
"""

from __future__ import annotations

import copy

import pytest

from snnc.tests.golden import golden


def test_every_shipped_model_has_a_golden_file() -> None:
    missing = [name for name in golden.model_names() if not golden.golden_path(name).exists()]
    assert not missing, f"no golden file for {missing}: run python tests/golden/regenerate.py --model NAME"
    assert sorted(golden.CONFIG) == golden.model_names(), "golden.CONFIG must list exactly the shipped models"


@pytest.mark.parametrize("name", golden.model_names())
def test_golden_outputs_unchanged(name: str) -> None:
    expected = golden.load(name)
    actual = golden.compute(name)
    diffs = golden.compare(expected, actual)
    assert not diffs, golden.report(name, diffs)


def test_compare_names_section_and_key() -> None:
    old = golden.load("stdbp-digits")
    new = copy.deepcopy(old)
    new["placement"]["pes"][1]["xy"] = [1, 0]
    new["simulator"]["images"][2]["energy_uj"] *= 1 + 1e-6
    new["simulator"]["images"][3]["cycles"] += 1
    new["files"]["pe/0000/weight.npy"]["sha256"] = "0" * 64
    new["routes"]["tables"]["9,9"] = {}
    diffs = golden.compare(old, new)
    assert diffs[0] == f"placement.pes[1].xy: {old['placement']['pes'][1]['xy']} -> [1, 0]".replace("'", "")
    assert any(d.startswith("routes.tables.9,9: (new)") for d in diffs)
    assert any(d.startswith("files.pe/0000/weight.npy.sha256: ") for d in diffs)
    assert any(d.startswith("simulator.images[2].energy_uj: ") for d in diffs)
    assert any(d.startswith("simulator.images[3].cycles: ") for d in diffs)
    assert len(diffs) == 5
    # floats within the tolerance are equal; integers are exact
    new = copy.deepcopy(old)
    new["simulator"]["images"][0]["energy_uj"] *= 1 + 1e-12
    assert golden.compare(old, new) == []
    msg = golden.report("stdbp-digits", [f"k{i}: 0 -> 1" for i in range(30)])
    assert "stdbp-digits: k19: 0 -> 1" in msg and "k20:" not in msg and "10 more" in msg
    assert "python tests/golden/regenerate.py --model stdbp-digits" in msg


def test_volatile_fields_are_normalized() -> None:
    import json

    manifest = {"snnc_version": "9.9", "timings_s": {"place": 0.5}, "model": {"source": "/abs/path/m.onnx"},
                "files": {"report.txt": "ab", "model.ir": "cd"}}
    norm = json.loads(golden.normalize_file("manifest.json", json.dumps(manifest).encode()))
    assert norm == {"snnc_version": "<volatile>", "timings_s": {"place": "<volatile>"}, "model": {"source": "m.onnx"},
                    "files": {"report.txt": "<volatile>", "model.ir": "cd"}}
    a = b"model      m (/a/b/m.onnx, sha256 0123)\npasses     place 1.5 ms, route 0.2 ms\nlayers\n"
    b = b"model      m (models/m.onnx, sha256 0123)\npasses     place 7.1 ms, route 3.0 ms\nlayers\n"
    assert golden.normalize_file("report.txt", a) == golden.normalize_file("report.txt", b)
    assert golden.normalize_file("routing.json", b"{}") is None
