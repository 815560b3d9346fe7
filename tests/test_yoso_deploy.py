"""The deployment artifact: round trip, no overwrite without force, and verification on load."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from snnc.backends.yoso import YosoBackend, compile_yoso, inspect_deployment, load_deployment
from snnc.backends.yoso.deploy import PE_FILES, TOP_FILES
from snnc.backends.yoso.hardware import load_hardware, with_overrides
from snnc.errors import BackendError, DeploymentError
from snnc.ir.parser import parse_graph
from snnc.tests.yoso_models import ttfs_mlp

HW = with_overrides(load_hardware(), pe={"neurons": 8, "weights": 400})


def compiled(tmp_path: Path, name: str = "dep", **options: object):  # noqa: ANN201
    g = ttfs_mlp((40, 30, 5), time_steps=8, seed=2, bias=True)
    return g, compile_yoso(g, tmp_path / name, hw_path=HW, **options)


def test_round_trip_reads_back_everything_the_compiler_wrote(tmp_path: Path) -> None:
    g, result = compiled(tmp_path)
    dep = load_deployment(result.out_dir)
    m = dep.manifest
    assert m["format"] == "snnc-yoso-deployment" and m["format_version"] == 1
    assert m["passes"] == ["canonicalize", "fold-pool", "dce", "quantize", "partition", "place", "route"]
    assert set(m["timings_s"]) >= {"quantize", "partition", "place", "route"}
    assert m["hardware"]["sha256"] == HW.sha256 and dep.hardware.pe == HW.pe
    assert (result.out_dir / "hardware.toml").read_text() == HW.text
    assert m["model"]["hashed"] == "ir-text" and len(m["model"]["sha256"]) == 64
    assert set(TOP_FILES) <= set(m["files"]) and len(dep.pes) == m["pes"] == 5
    for name in ("program", "placement", "routing"):
        assert isinstance(getattr(dep, name), dict)
    assert [layer["name"] for layer in dep.program["layers"]] == ["h1", "out"]
    assert dep.program["packet"]["total_bits"] == 32 and dep.program["semantics"] == "yoso-int-1"
    assert {(p["xy"][0], p["xy"][1]) for p in dep.placement["pes"]} == {tuple(pe.config["xy"]) for pe in dep.pes}
    assert dep.routing["tables"] and dep.routing["keys"][0]["dests"]
    # the final IR dump parses back to the compiled graph
    assert parse_graph(dep.model_ir).structurally_equal(result.graph)
    # SRAM images: widths and initial state
    pe = dep.pes[0]
    assert pe.srams["potential"].dtype == np.int32 and not pe.srams["potential"].any()
    assert pe.srams["acc_weight"].shape == (HW.sram["acc_weight"].words,) and not pe.srams["acc_weight"].any()
    assert pe.srams["spike_addr"].dtype == np.uint16
    assert len(pe.config["bias"]) == pe.config["n_local"] and isinstance(pe.config["threshold"], int)
    host_keys = {str(b["key"]) for b in dep.program["host"]["blocks"]}
    assert host_keys == set(pe.config["input_map"])


def test_model_file_hash_is_recorded(tmp_path: Path) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(b"pretend onnx")
    _, result = compiled(tmp_path, model_path=model)
    m = load_deployment(result.out_dir).manifest
    assert m["model"] == {"name": "mlp", "sha256": hashlib.sha256(b"pretend onnx").hexdigest(), "hashed": "file",
                          "source": str(model)}


def test_the_same_model_compiles_to_the_same_files(tmp_path: Path) -> None:
    _, a = compiled(tmp_path, "a")
    _, b = compiled(tmp_path, "b")
    fa, fb = (json.loads((r.out_dir / "manifest.json").read_text())["files"] for r in (a, b))
    different = [k for k in fa if fa[k] != fb[k] and k != "report.txt"]  # the report holds the timings
    assert not different and fa.keys() == fb.keys()


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    _, result = compiled(tmp_path)
    before = (result.out_dir / "manifest.json").read_bytes()
    with pytest.raises(DeploymentError, match="output directory already exists") as err:
        compiled(tmp_path)
    assert "--force" in err.value.format()
    assert (result.out_dir / "manifest.json").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["dep"]  # no temporary folder left behind


def test_force_replaces_a_deployment(tmp_path: Path) -> None:
    _, first = compiled(tmp_path, placer="row-major")
    _, second = compiled(tmp_path, placer="snake", force=True)
    assert load_deployment(second.out_dir).placement["placer"] == "snake"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dep"]


def test_force_does_not_replace_a_directory_that_is_not_a_deployment(tmp_path: Path) -> None:
    target = tmp_path / "dep"
    target.mkdir()
    (target / "thesis.tex").write_text("precious")
    with pytest.raises(DeploymentError, match="not a snnc deployment; refusing to replace it"):
        compiled(tmp_path, force=True)
    assert (target / "thesis.tex").read_text() == "precious"


def test_force_replaces_an_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "dep").mkdir()
    _, result = compiled(tmp_path, force=True)
    assert load_deployment(result.out_dir).manifest["pes"] == 5


@pytest.mark.parametrize("victim", ["routing.json", "pe/0002/weight.npy", "pe/0004/config.json", "hardware.toml"])
def test_load_detects_a_missing_file(tmp_path: Path, victim: str) -> None:
    _, result = compiled(tmp_path)
    (result.out_dir / victim).unlink()
    with pytest.raises(DeploymentError, match=f"missing file {victim}"):
        load_deployment(result.out_dir)


def test_load_detects_a_missing_manifest(tmp_path: Path) -> None:
    _, result = compiled(tmp_path)
    (result.out_dir / "manifest.json").unlink()
    with pytest.raises(DeploymentError, match="missing file manifest.json"):
        load_deployment(result.out_dir)


def test_load_detects_a_changed_file(tmp_path: Path) -> None:
    _, result = compiled(tmp_path)
    path = result.out_dir / "pe/0001/weight.npy"
    words = np.load(path)
    words[0] += 1
    buf = io.BytesIO()
    np.save(buf, words)
    path.write_bytes(buf.getvalue())
    with pytest.raises(DeploymentError, match="pe/0001/weight.npy does not match its sha256"):
        load_deployment(result.out_dir)


def test_load_detects_a_manifest_that_drops_a_required_file(tmp_path: Path) -> None:
    _, result = compiled(tmp_path)
    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    del manifest["files"]["pe/0003/acc_weight.npy"]
    (result.out_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DeploymentError, match="does not list pe/0003/acc_weight.npy"):
        load_deployment(result.out_dir)


def test_load_refuses_another_format_version_and_non_directories(tmp_path: Path) -> None:
    _, result = compiled(tmp_path)
    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    manifest["format_version"] = 99
    (result.out_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DeploymentError, match="format version 99 is not supported"):
        load_deployment(result.out_dir)
    with pytest.raises(DeploymentError, match="deployment directory not found"):
        load_deployment(tmp_path / "nowhere")


def test_every_pe_folder_has_its_files(tmp_path: Path) -> None:
    _, result = compiled(tmp_path)
    for k in range(5):
        assert sorted(p.name for p in (result.out_dir / f"pe/{k:04d}").iterdir()) == sorted(PE_FILES)


def test_inspect_prints_the_verified_report(tmp_path: Path) -> None:
    _, result = compiled(tmp_path, placer="traffic")
    text = inspect_deployment(result.out_dir)
    assert "verified" in text and result.report in text
    for part in ("utilisation", "N use", "placement (placer traffic", "H>", "expected hops per image",
                 "lower bound, whatever the placement", "packet format", "layer 0 %h1"):
        assert part in text, part
    assert result.expected_hops["traffic"] <= min(result.expected_hops["snake"], result.expected_hops["row-major"])
    placement = json.loads((result.out_dir / "placement.json").read_text())
    assert placement["hops_lower_bound"] == result.hops_lower_bound <= result.expected_hops["traffic"]


def test_print_after_all_prints_each_pass(tmp_path: Path) -> None:
    stream = io.StringIO()
    g = ttfs_mlp((40, 30, 5), time_steps=8)
    compile_yoso(g, tmp_path / "d", hw_path=HW, print_after_all=True, stream=stream)
    text = stream.getvalue()
    for name in ("canonicalize", "fold-pool", "dce", "quantize", "partition", "place", "route"):
        assert f"// ----- IR after {name}" in text
    assert "yoso" in text and "quant" in text


def test_compile_does_not_modify_its_input(tmp_path: Path) -> None:
    g = ttfs_mlp((40, 30, 5), time_steps=8)
    before = g.copy()
    compile_yoso(g, tmp_path / "d", hw_path=HW)
    assert g.structurally_equal(before)


def test_backend_object_compiles_and_refuses_to_run(tmp_path: Path) -> None:
    backend = YosoBackend()
    assert backend.name == "yoso"
    result = backend.compile(ttfs_mlp((40, 30, 5), time_steps=8), tmp_path / "d", hw_path=HW, placer="snake")
    assert (result.out_dir / "manifest.json").exists()
    with pytest.raises(BackendError, match="snnc simulate"):
        backend.run(ttfs_mlp((4, 3, 2)), np.zeros((1, 4), np.float32))
    with pytest.raises(BackendError, match="unknown YOSO compile option"):
        backend.compile(ttfs_mlp((4, 3, 2)), tmp_path / "e", placr="snake")


def test_spike_statistics_from_the_reference_executor_drive_the_placer(tmp_path: Path) -> None:
    from snnc.backends import get_backend

    g = ttfs_mlp((40, 30, 5), time_steps=8, sigma=0.3)
    x = np.random.default_rng(0).random((16, 40)).astype(np.float32)
    result = compile_yoso(g, tmp_path / "d", hw_path=HW, sample_x=x)
    assert "reference executor on 16 sample inputs" in result.graph.metadata["yoso.spike_stats"]
    assert result.timings[0][0] == "spike-stats"
    counts = get_backend("reference").run(g, x).spike_counts
    dep = load_deployment(result.out_dir)
    sent = {name: 0.0 for name in ("h1", "out")}
    for key in dep.routing["keys"]:
        if key["source"] != "host":
            sent[key["value"]] += key["rate"]
    for name, total in sent.items():
        assert total == pytest.approx(counts[name].mean())
    host = sum(b["rate"] for b in dep.program["host"]["blocks"])
    assert host == pytest.approx(counts["s0"].mean())


def test_the_deployment_is_written_from_the_plan_not_from_the_printed_mirror(tmp_path: Path) -> None:
    from snnc.backends.yoso.deploy import write_deployment

    g, result = compiled(tmp_path)
    assert result.plan is not None and result.plan.stage == "route"
    graph, text = result.graph, (result.out_dir / "model.ir").read_text()
    again = write_deployment(graph, result.plan, tmp_path / "again", model_sha256="0" * 64, ir_text=text)
    graph.metadata = {k: v for k, v in graph.metadata.items() if not k.startswith("yoso.")}
    for op in graph.ops:
        op.meta.pop("yoso", None)
    stripped = write_deployment(graph, result.plan, tmp_path / "stripped", model_sha256="0" * 64, ir_text=text)
    for name in ("program.json", "placement.json", "routing.json", "report.txt"):
        assert (again / name).read_bytes() == (stripped / name).read_bytes(), name
        if name != "report.txt":  # the report also names the model hash
            assert (again / name).read_bytes() == (result.out_dir / name).read_bytes(), name
