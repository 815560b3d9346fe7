"""The PNG figures of ``snnc simulate --plots`` read at every mesh size (issue 18 item 6).

Checked on the drawn figures (matplotlib's own geometry after a draw), on real compiled and simulated
deployments from 1 PE to a full 16 x 16 mesh: the two colour bars have their own axes and overlap
nothing, utilisation runs 0 to 100 %, every PE has a border in its layer's colour, no two labels overlap,
only the used part of the mesh is drawn, and the raster has one panel per layer (output included, a
flatten's alias left out) for the chosen image, titled with the model and the chip.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.patches import Rectangle  # noqa: E402

from snnc.backends.yoso import compile_yoso  # noqa: E402
from snnc.backends.yoso.drivers.plots import (  # noqa: E402
    LAYER_COLOURS,
    deployment_names,
    mesh_heatmap,
    spike_raster,
    write_plots,
)
from snnc.backends.yoso.drivers.simulate import SimResult, simulate_deployment  # noqa: E402
from snnc.backends.yoso.hardware import load_hardware, with_overrides  # noqa: E402
from snnc.tests.yoso_models import ttfs_mlp  # noqa: E402


def _sim(tmp: Path, sizes: tuple[int, ...], hw: Any = None, mesh: str = "auto", n: int = 2,
         record: bool = False) -> SimResult:
    compile_yoso(ttfs_mlp(sizes, time_steps=8, seed=4, sigma=0.3), tmp / "dep", hw_path=hw, mesh=mesh)
    x = np.random.default_rng(0).random((n, sizes[0])).astype(np.float32)
    return simulate_deployment(tmp / "dep", x, y=np.arange(n) % sizes[-1], record=record)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> SimResult:
    """Two layers, two PEs, on the shipped 6 x 7 chip; 3 images recorded."""
    return _sim(tmp_path_factory.mktemp("small"), (64, 20, 10), n=3, record=True)


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> SimResult:
    """203 PEs of 4 neurons filling a 16 x 16 mesh."""
    hw = with_overrides(load_hardware(None), mesh={"cols": 16, "rows": 16}, pe={"neurons": 4, "weights": 4096})
    return _sim(tmp_path_factory.mktemp("full"), (100, 800, 10), hw=hw, mesh="16x16", n=1)


def _boxes(fig: Any) -> dict[str, Any]:
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    ax, *bars = fig.axes
    return {"ax": ax, "bars": bars, "renderer": r}


def _overlap(a: Any, b: Any) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _check_mesh(fig: Any, result: SimResult) -> dict[str, Any]:
    got = _boxes(fig)
    ax, bars, r = got["ax"], got["bars"], got["renderer"]
    assert len(bars) == 2
    util, link = bars
    assert "utilisation" in util.get_ylabel() and "link load" in link.get_ylabel()
    assert util.get_ylim() == pytest.approx((0.0, 100.0))  # capped at 100 %, not 150
    # each colour bar in its own place, labels included: no overlap with the mesh or with the other
    extents = [a.get_tightbbox(r) for a in (ax, util, link)]
    for a, b in combinations(extents, 2):
        assert not _overlap(a, b), (a, b)
    # every PE bordered in its layer's colour, its fill no more than 100 %
    layer_index = {name: k for k, name in enumerate(dict.fromkeys(result.pe_layers))}
    pes = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_linewidth() >= 1.2]
    assert len(pes) == len(result.pe_nodes)
    expected = sorted(LAYER_COLOURS[layer_index[name] % len(LAYER_COLOURS)].lower() for name in result.pe_layers)
    from matplotlib.colors import to_hex

    assert sorted(to_hex(p.get_edgecolor()) for p in pes) == expected
    # no two labels overlap, and none leaves the figure
    texts = [t for t in ax.texts if t.get_text()]
    boxes = [t.get_window_extent(r) for t in texts]
    for (ta, a), (tb, b) in combinations(zip(texts, boxes, strict=True), 2):
        assert not _overlap(a, b), (ta.get_text(), tb.get_text())
    fig_box = fig.bbox
    for b in boxes:
        assert fig_box.x0 <= b.x0 and b.x1 <= fig_box.x1 and fig_box.y0 <= b.y0 and b.y1 <= fig_box.y1
    return {"ax": ax, "texts": texts}


def test_a_small_deployment_draws_only_its_corner_with_full_labels(small: SimResult) -> None:
    fig = mesh_heatmap(small)
    got = _check_mesh(fig, small)
    cols = max(node % small.mesh[0] for node in small.pe_nodes) + 1
    assert got["ax"].get_xlim()[1] == pytest.approx(cols - 0.5)  # not the whole 6 x 7 mesh
    title = fig._suptitle.get_text()
    model, _ = deployment_names(small)
    assert model == "mlp" and f"{model} on {small.chip}" in title and "of the 6 x 7 mesh drawn" in title
    labels = [t.get_text() for t in got["texts"]]
    assert any(t.startswith("PE 0\nL0\n") and t.endswith("%") for t in labels)
    for t in labels:
        if t.startswith("PE"):
            assert 0 <= float(t.split("\n")[2].rstrip(" %")) <= 100


def test_a_single_pe_reads(tmp_path: Path) -> None:
    result = _sim(tmp_path, (16, 8), n=2)
    assert len(result.pe_nodes) == 1
    fig = mesh_heatmap(result)
    _check_mesh(fig, result)
    assert ": 1 PE," in fig._suptitle.get_text()


def test_a_full_16_by_16_mesh_reads(full: SimResult) -> None:
    assert full.mesh == (16, 16) and len(full.pe_nodes) > 200
    fig = mesh_heatmap(full)
    got = _check_mesh(fig, full)
    labels = [t.get_text() for t in got["texts"] if t.get_text() != "host"]
    assert labels and all(t.isdigit() for t in labels)  # ids alone: no room for three lines
    assert "mesh drawn" not in fig._suptitle.get_text()


def test_the_raster_has_a_panel_per_layer_and_the_chosen_image(small: SimResult) -> None:
    model, values = deployment_names(small)
    assert values == ["s0", "h1", "out"]
    spikes = dict(small.spikes)
    spikes["flat"] = small.spikes["h1"]  # an alias (a flatten's result) is not a layer: left out
    fig = spike_raster(spikes, "t", sample=1, values=values)
    axes = fig.axes
    assert [a.get_title(loc="left").split(":")[0] for a in axes] == ["s0", "h1", "out"]
    for a, name in zip(axes, values, strict=True):
        s = np.asarray(small.spikes[name])[:, 1].reshape(small.spikes[name].shape[0], -1)
        assert f"{int(s.sum())} spikes, {s.shape[1]} neurons" in a.get_title(loc="left")
        assert a.get_legend() is None
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    out_box = axes[-1].get_window_extent(r)
    assert out_box.height >= 0.5 * fig.dpi  # the output layer's panel is at least half an inch tall
    for a, b in combinations(axes, 2):
        assert not _overlap(a.get_window_extent(r), b.get_window_extent(r))


def test_write_plots_draws_the_chosen_image(small: SimResult, tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    seen: dict[str, Any] = {}
    original = plt.Figure.savefig

    def spy(fig: Any, path: Any, *a: Any, **k: Any) -> None:  # the figures are rendered into memory, in order
        seen[("mesh_activity.png", "latency_histogram.png", "spike_raster.png")[len(seen)]] = (
            fig._suptitle.get_text() if fig._suptitle else "")
        original(fig, path, *a, **k)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plt.Figure, "savefig", spy)
        paths = write_plots(small, tmp_path, raster=small, raster_image=2)
    assert sorted(p.name for p in paths) == ["latency_histogram.png", "mesh_activity.png", "spike_raster.png"]
    img = small.images[2]
    assert seen["spike_raster.png"] == (f"mlp on {small.chip}: spike raster of image 2 (label {img.label}, "
                                        f"predicted {img.prediction})")
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_raster_image_is_checked_before_simulating(small: SimResult, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    from snnc.cli import main

    plots = tmp_path / "plots"
    argv = ["simulate", small.deployment, "--dataset", "digits", "--limit", "2", "--show", "0", "--plots", str(plots)]
    assert main([*argv, "--raster-image", "2"]) == 1
    err = capsys.readouterr().err
    assert "--raster-image" in err and "image 2 is not among the 2 simulated images" in err and not plots.exists()
    assert main([*argv, "--raster-image", "1"]) == 0
    assert (plots / "spike_raster.png").is_file()
