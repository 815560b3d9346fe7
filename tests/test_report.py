"""``snnc report``: the self-contained HTML deployment report (issue 18 item 7).

The page is checked three ways: parsed without a browser (no external reference of any kind; the embedded
JSON equals the numbers of the deployment and of the simulation, recomputed here from the files and the
``SimResult``), rendered in headless Chromium (no console or page error; PE count, a PE's numbers and the
hover tooltip in the DOM; skipped when playwright or /usr/bin/chromium is absent), and through the CLI (the
output rules: no clobbering, not over an input, not through a symlink; bad inputs are one clear error).
"""

from __future__ import annotations

import json
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest

from snnc.backends.yoso import compile_yoso, load_deployment
from snnc.backends.yoso.drivers.report import _cell, raster_data, raster_values, render_report, report_data
from snnc.backends.yoso.drivers.simulate import simulate_deployment
from snnc.backends.yoso.hardware import load_hardware, with_overrides
from snnc.cli import main
from snnc.datasets import load_dataset
from snnc.errors import SnncError
from snnc.frontend import import_onnx
from snnc.tests.yoso_models import ttfs_mlp

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("SNNC_CHROMIUM", "/usr/bin/chromium")  # Debian's package


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The shipped digits model compiled for the shipped chip, 6 images simulated, image 2 recorded."""
    tmp = tmp_path_factory.mktemp("report")
    dep_dir = tmp / "dep"
    compile_yoso(import_onnx(onnx.load(ROOT / "models" / "stdbp-digits.onnx")), dep_dir)
    data = load_dataset("digits", None, split="test", limit=6)
    x = data.x.reshape(len(data.x), -1)
    sim = simulate_deployment(dep_dir, x, y=data.y)
    (tmp / "sim.json").write_text(json.dumps(sim.to_json()), encoding="utf-8")
    rec = simulate_deployment(dep_dir, x[2:3], y=data.y[2:3], record=True)
    return {"dir": dep_dir, "tmp": tmp, "sim": sim, "sim_json": tmp / "sim.json", "rec": rec}


class _Page(HTMLParser):
    """Every tag with its attributes, the text of <title> elements and of the embedded JSON."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.json_text = ""
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = "json" if tag == "script" and dict(attrs).get("id") == "snnc-data" else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "json":
            self.json_text += data


def parse(page: str) -> _Page:
    p = _Page()
    p.feed(page)
    return p


def test_the_page_references_nothing_outside_itself(digits: dict[str, Any]) -> None:
    dep = load_deployment(digits["dir"])
    rec = digits["rec"]
    page = render_report(report_data(dep, digits["sim"].to_json(), raster_data(rec.spikes, raster_values(dep))))
    p = parse(page)
    assert p.tags and p.tags[0][0] == "html"
    for tag, attrs in p.tags:
        assert tag not in ("link", "img", "iframe", "object", "embed", "base"), tag
        assert "src" not in attrs, (tag, attrs)
        for key in ("href", "xlink:href", "action"):
            assert key not in attrs or not attrs[key] or attrs[key].startswith("#"), (tag, attrs)
    for scheme in ("http:", "https:", "//", "@import", "url(http", "file:"):
        assert scheme not in page.replace("xmlns='http://www.w3.org/2000/svg'", ""), scheme


def test_the_embedded_numbers_are_the_deployments_and_the_simulations(digits: dict[str, Any]) -> None:
    dep, sim = load_deployment(digits["dir"]), digits["sim"]
    page = render_report(report_data(dep, sim.to_json()))
    data = json.loads(parse(page).json_text)
    assert data == json.loads(json.dumps(report_data(dep, sim.to_json())))  # what is shown is what is embedded
    # PEs: where placement.json puts them, with their config's neurons and weights
    placed = {p["id"]: p for p in dep.placement["pes"]}
    assert data["n_pes"] == dep.manifest["pes"] == len(data["pes"]) == 2
    hw = dep.hardware
    n = len(sim.images)
    mean_cycles = float(np.mean([r.cycles for r in sim.images]))
    for pe, image in zip(data["pes"], dep.pes, strict=True):
        assert pe["xy"] == placed[pe["id"]]["xy"] and pe["layer"] == placed[pe["id"]]["layer"]
        assert pe["n_local"] == image.config["n_local"] and pe["weights"] == image.config["weights"]
        assert pe["neuron_use_pct"] == pytest.approx(100 * pe["n_local"] / hw.pe.neurons, abs=0.01)
        assert pe["busy_cycles"] == pytest.approx(sim.pe_busy[pe["id"]] / n, abs=0.01)
        assert pe["core_util_pct"] == pytest.approx(min(100.0, 100 * sim.pe_busy[pe["id"]] / n / mean_cycles),
                                                    abs=0.01)
        assert 0 <= pe["util_pct"] <= 100
    # the known deployment: 100 ReL-PSP neurons x 64 weights on PE 0 at (0,0), 10 x 100 on PE 1 at (0,1)
    assert [(p["xy"], p["n_local"], p["weights"]) for p in data["pes"]] == [([0, 0], 100, 6400), ([0, 1], 10, 1000)]
    # links: measured = the simulation's flits per image; expected (routing tables x spike rates) adds up to
    # the route pass's own hops per image, which it computed another way (per key, its tree's links x rate)
    measured = {(str(e["from"]), str(e["to"])): e["flits"] / n for e in sim.to_json()["links"]}
    assert {(str(ln["from"]), str(ln["to"])): ln["measured"] for ln in data["links"]} == pytest.approx(measured)
    assert sum(ln["expected"] for ln in data["links"]) == pytest.approx(
        dep.routing["hops_per_image"] * hw.noc.flits_per_spike)
    # design rules: each largest use is the largest over the PE configs
    rules = {r["rule"]: r for r in data["rules"]}
    assert rules["neurons per PE (N)"]["used"] == max(p.config["n_local"] for p in dep.pes)
    assert rules["weights per PE (W)"]["limit"] == hw.pe.weights
    assert rules["time steps (packet step field)"]["used"] == dep.program["time_steps"]
    assert all(r["ok"] for r in data["rules"])
    # latency and energy: the simulation's summary
    assert data["sim"]["distributions"]["latency_ms"] == pytest.approx(sim.distribution("latency_ms"))
    assert data["sim"]["energy_pj_mean"] == pytest.approx(sim.mean_energy_pj())
    assert len(data["sim"]["step_cycles_mean"]) == dep.program["time_steps"]
    assert sum(data["sim"]["step_cycles_mean"]) == pytest.approx(mean_cycles, rel=1e-3)
    # the page shows one <g class='pe'> per PE and each PE's tooltip text
    p = parse(page)
    assert sum(1 for tag, a in p.tags if tag == "g" and a.get("class") == "pe") == 2
    assert sum(1 for tag, a in p.tags if tag == "polygon" and a.get("class") == "link") == len(data["links"])


def test_the_raster_has_one_panel_per_layer_output_included_and_no_alias(digits: dict[str, Any]) -> None:
    dep, rec = load_deployment(digits["dir"]), digits["rec"]
    fake = dict(rec.spikes)
    fake["flatten_alias"] = rec.spikes["relpsp_2"]  # a flatten's result: the same spikes under another name
    r = raster_data(fake, raster_values(dep), image={"index": 2})
    names = [p["name"] for p in r["panels"]]
    assert names == ["ttfs_encode_0", "relpsp_2", "relpsp_4"]  # encoder, hidden, output (last)
    for p in r["panels"]:
        s = np.asarray(rec.spikes[p["name"]])[:, 0].reshape(rec.spikes[p["name"]].shape[0], -1)
        assert p["count"] == int(s.sum()) == len(p["spikes"]) and p["neurons"] == s.shape[1]
        assert all(s[t, j] for t, j in p["spikes"])
    page = render_report(report_data(dep, None, r))
    assert page.count("<figure class='panel'") == 3 and "image 2" in page


def test_without_a_simulation_links_show_expected_loads(tmp_path: Path) -> None:
    """A 16 x 16 mesh with small PEs: many PEs, no simulation; labels give way to ids, then to nothing."""
    hw = with_overrides(load_hardware(None), mesh={"cols": 16, "rows": 16}, pe={"neurons": 8})
    compile_yoso(ttfs_mlp((64, 300, 10), time_steps=8, seed=1), tmp_path / "dep", hw_path=hw, mesh="16x16")
    dep = load_deployment(tmp_path / "dep")
    data = report_data(dep)
    assert data["sim"] is None and data["n_pes"] == dep.manifest["pes"] > 30
    assert all(ln["measured"] is None and ln["load"] == ln["expected"] for ln in data["links"])
    assert sum(ln["expected"] for ln in data["links"]) == pytest.approx(dep.routing["hops_per_image"])
    page = render_report(data)
    assert page.count("<g class='pe'") == data["n_pes"] and "<h2>Energy</h2>" not in page
    assert data["view"] == [16, 3]  # the drawn part: up to the farthest PE or used router
    last = data["n_pes"] - 1
    data["view"] = [4, 4]  # large cells: id, layer and utilisation
    assert f">PE {last}</text>" in render_report(data)
    data["view"] = [16, 16]  # the whole 16 x 16 mesh: the id alone
    assert 30 <= _cell(data) < 64
    page = render_report(data)
    assert f">PE {last}</text>" not in page and f">{last}</text>" in page
    data["view"] = [40, 40]  # too small for any label: the tooltip has it all
    assert _cell(data) < 30
    page = render_report(data)
    assert f">{last}</text>" not in page and page.count("<g class='pe'") == data["n_pes"]


def test_a_simulation_of_another_deployment_is_refused(digits: dict[str, Any], tmp_path: Path) -> None:
    other = json.loads(digits["sim_json"].read_text())
    other["pes"][0]["xy"] = [3, 3]
    with pytest.raises(SnncError, match="another deployment"):
        report_data(load_deployment(digits["dir"]), other)
    with pytest.raises(SnncError, match="not a 'snnc simulate --json' result"):
        report_data(load_deployment(digits["dir"]), {"mesh": [6, 7]})


def test_cli_writes_the_page_and_keeps_the_output_rules(digits: dict[str, Any], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "report.html"
    args = ["report", str(digits["dir"]), "--sim", str(digits["sim_json"]), "-o", str(out)]
    assert main(args) == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "stdbp on yoso-6x7" in page and "<h2>Latency</h2>" in page
    # never over an existing file without --force; with it, yes
    assert main(args) == 1 and "already exists" in capsys.readouterr().err
    assert main([*args, "--force"]) == 0
    # never over an input (the --sim file), never through a symlink
    assert main(["report", str(digits["dir"]), "--sim", str(digits["sim_json"]), "-o", str(digits["sim_json"]),
                 "--force"]) == 1
    assert "input" in capsys.readouterr().err
    target = tmp_path / "elsewhere.html"
    target.write_text("keep", encoding="utf-8")
    link = tmp_path / "link.html"
    os.symlink(target, link)
    assert main(["report", str(digits["dir"]), "-o", str(link), "--force"]) == 1
    assert "link" in capsys.readouterr().err and target.read_text() == "keep"
    # bad inputs: one clear error each
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    for argv, fragment in ((["report", str(tmp_path / "nope"), "-o", str(tmp_path / "a.html")], "not found"),
                           (["report", str(digits["dir"]), "--sim", str(bad), "-o", str(tmp_path / "b.html")],
                            "not readable JSON"),
                           (["report", str(digits["dir"]), "--sim", str(tmp_path / "none.json"), "-o",
                             str(tmp_path / "c.html")], "not found"),
                           (["report", str(digits["dir"]), "--dataset", "digits", "--image", "100000", "-o",
                             str(tmp_path / "d.html")], "--image"),
                           (["report", str(digits["dir"]), "--dataset", "digits", "--image", "-1", "-o",
                             str(tmp_path / "e.html")], "not an index"),
                           (["report", str(digits["dir"]), "--image", "1", "-o", str(tmp_path / "f.html")],
                            "--dataset"),
                           (["report", str(digits["dir"]), "-o", str(digits["dir"] / "g.html")],
                            "inside the deployment")):
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("snnc: error:") and fragment in err and "Traceback" not in err, err
        assert not Path(argv[-1]).exists()


def test_cli_records_the_chosen_image_for_the_raster(digits: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(digits["dir"]), "--dataset", "digits", "--image", "2", "-o", str(out)]) == 0
    data = json.loads(parse(out.read_text(encoding="utf-8")).json_text)
    assert data["raster"]["image"]["index"] == 2
    expected = {k: int(np.asarray(v).sum()) for k, v in digits["rec"].spikes.items()}
    assert {p["name"]: p["count"] for p in data["raster"]["panels"]} == {
        k: expected[k] for k in ("ttfs_encode_0", "relpsp_2", "relpsp_4")}


# ------------------------------------------------------------------------------------------ in a browser
def _browser():  # noqa: ANN202 - playwright's sync API, or a skip
    sync_api = pytest.importorskip("playwright.sync_api")
    if not (os.path.exists(CHROMIUM) and shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    return sync_api


def test_the_page_renders_in_headless_chromium(digits: dict[str, Any], tmp_path: Path) -> None:
    sync_api = _browser()
    out = tmp_path / "report.html"
    assert main(["report", str(digits["dir"]), "--sim", str(digits["sim_json"]), "--dataset", "digits",
                 "--image", "2", "-o", str(out)]) == 0
    data = json.loads(parse(out.read_text(encoding="utf-8")).json_text)
    pe0 = data["pes"][0]
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(out.as_uri())
            page.wait_for_load_state("load")
            assert errors == []
            assert [u for u in requests if not u.startswith("file:")] == []
            assert page.locator("#mesh .pe").count() == data["n_pes"] == 2
            assert page.locator("#mesh .link").count() == len(data["links"])
            assert page.locator("figure.panel").count() == 3
            row = page.locator("table.pes tbody tr").first.inner_text()
            for text in ("(0,0)", "relpsp_2", "0..99", "39.1 %", "6400", f"{pe0['core_util_pct']:.1f} %"):
                assert text in row, (text, row)
            assert not page.locator("#tip").is_visible()
            page.hover("#mesh .pe[data-pe='0']")
            tip = page.locator("#tip")
            assert tip.is_visible()
            text = tip.inner_text()
            assert "PE 0 at (0,0)" in text and "neurons 0..99 (100/256, 39.1 %)" in text
            assert f"core utilisation {pe0['core_util_pct']:.1f} %" in text
            busiest = max(range(len(data["links"])), key=lambda k: data["links"][k]["load"])
            page.hover(f"#mesh .link[data-link='{busiest}']")
            assert tip.inner_text() == data["links"][busiest]["tip"]
            page.mouse.move(1, 1)
            assert not tip.is_visible()
            assert errors == []
        finally:
            browser.close()
