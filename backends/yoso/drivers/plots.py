"""PNG plots of a simulation (matplotlib, Agg backend): mesh activity, a spike raster, latencies.

* :func:`mesh_heatmap`: the used part of the mesh, each PE filled by its core utilisation (busy cycles /
  latency, averaged over the images, 0 to 100 %), bordered in its layer's colour and labelled with its id,
  layer and utilisation where the cell is large enough; each directed link drawn as an arrow coloured by
  the flits it carried per image (the host link west of (0, 0) included); two colour bars, each in its own axes.
* :func:`spike_raster`: every spike of one image, time step against neuron, one panel per layer.
* :func:`latency_histogram`: the per-image latencies (ms at the chip's clock, cycles on the top axis).

``snnc simulate ... --plots DIR`` writes ``mesh_activity.png``, ``spike_raster.png`` and
``latency_histogram.png`` (:func:`write_plots`).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from snnc.io import write_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from snnc.backends.yoso.drivers.simulate import SimResult


def _pyplot():  # noqa: ANN202 - the pyplot module, on the file-only backend
    try:
        import matplotlib
    except ModuleNotFoundError:
        from snnc.errors import SnncError

        raise SnncError("plots need matplotlib, which is not installed", where="--plots",
                        hint="pip install matplotlib, or leave out --plots") from None

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


#: layer colours of the PE borders (Okabe-Ito, then Tableau), the same as the HTML report's.
LAYER_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#4E79A7", "#F28E2B",
                 "#59A14F", "#B07AA1", "#9C755F", "#76B7B2", "#EDC948", "#FF9DA7", "#BAB0AC")


def deployment_names(result: SimResult) -> tuple[str, list[str] | None]:
    """The model's name and the values a raster draws (host encoders, then the layers) of the simulated deployment.

    Read from its ``manifest.json`` and ``program.json``; ``("?", None)`` where they cannot be read.
    """
    import json

    root = Path(result.deployment)
    try:
        manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
        program = json.loads((root / "program.json").read_text(encoding="utf-8"))
        values = [e["value"] for e in program["host"]["encoders"]] + [ly["name"] for ly in program["layers"]]
        return str(manifest.get("model", {}).get("name", program.get("name", "?"))), values
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return "?", None


def mesh_heatmap(result: SimResult, model: str | None = None) -> Figure:
    """PE utilisation and link load of the mesh (averages per image).

    Only the routers up to the farthest PE or used link are drawn (the title says which part of the mesh);
    each PE is a cell filled by its core utilisation (0 to 100 %) with a border in its layer's colour, labelled
    with its id, layer and utilisation where the cell is large enough (its id alone, or nothing, where not);
    the two colour bars (utilisation, link load) have their own axes.

    Args:
        result: the simulation.
        model: the model's name for the title (default: read from the deployment's manifest).
    """
    plt = _pyplot()
    from matplotlib import cm, colors
    from matplotlib.patches import Patch, Rectangle

    cols, rows = result.mesh
    host = cols * rows
    n = max(1, len(result.images))
    model = model or deployment_names(result)[0]
    mean_cycles = max(1.0, float(np.mean([r.cycles for r in result.images])) if result.images else 1.0)
    util = {node: min(100.0, 100.0 * result.pe_busy[k] / n / mean_cycles) for k, node in enumerate(result.pe_nodes)}
    used = [node for node in result.pe_nodes] + [v for a, b, _ in result.link_flits for v in (a, b) if v != host]
    vc = max([0, *(v % cols for v in used)]) + 1
    vr = max([0, *(v // cols for v in used)]) + 1
    cell = float(np.clip(8.0 / max(vc + 1, vr), 0.3, 1.4))  # inches per router
    names_count = len(dict.fromkeys(result.pe_layers))
    legend_rows = (min(12, names_count) + 3) // 4
    # the layout in inches: axes (equal aspect), then two colour bars, each with room for its label
    ax_w, ax_h = cell * (vc + 1.1), cell * vr
    left, gap, bar, label = 0.75, 0.35, 0.18, 0.95
    bottom, top = 0.65 + 0.22 * legend_rows + 0.25, 0.75
    fig_w = max(6.5, left + ax_w + gap + 2 * (bar + label))
    fig_h = bottom + max(ax_h, 2.2) + top
    fig = plt.figure(figsize=(fig_w, fig_h))

    def box(x: float, w: float) -> list[float]:
        return [x / fig_w, bottom / fig_h, w / fig_w, max(ax_h, 2.2) / fig_h]

    ax = fig.add_axes(box(left, ax_w))
    cax_util = fig.add_axes(box(left + ax_w + gap, bar))
    cax_link = fig.add_axes(box(left + ax_w + gap + bar + label, bar))
    ucmap, unorm = plt.get_cmap("Greens"), colors.Normalize(vmin=0.0, vmax=100.0)
    for x in range(vc):
        for y in range(vr):
            ax.add_patch(Rectangle((x - 0.45, y - 0.45), 0.9, 0.9, fc="0.97", ec="0.8", lw=0.6, zorder=0))
    layer_of = {}
    for k, node in enumerate(result.pe_nodes):
        x, y = node % cols, node // cols
        name = result.pe_layers[k]
        layer_of.setdefault(name, len(layer_of))
        edge = LAYER_COLOURS[layer_of[name] % len(LAYER_COLOURS)]
        ax.add_patch(Rectangle((x - 0.42, y - 0.42), 0.84, 0.84, fc=ucmap(unorm(util[node])), ec=edge,
                               lw=max(1.2, 3.0 * cell), zorder=1))
        if cell >= 0.85:
            label, size = f"PE {k}\nL{layer_of[name]}\n{util[node]:.0f} %", 7
        elif cell >= 0.45:
            label, size = f"{k}", 6
        else:
            label, size = "", 0
        if label:
            ax.text(x, y, label, ha="center", va="center", fontsize=size, zorder=3,
                    bbox={"boxstyle": "round,pad=0.12", "fc": "white", "ec": "none", "alpha": 0.75})
    loads = [f / n for _, _, f in result.link_flits]
    norm = colors.Normalize(vmin=0, vmax=max(loads, default=1.0) or 1.0)
    cmap = plt.get_cmap("inferno_r")
    for a, b, f in result.link_flits:
        (x0, y0) = (-1.0, 0.0) if a == host else (a % cols, a // cols)
        (x1, y1) = (-1.0, 0.0) if b == host else (b % cols, b // cols)
        dx, dy = x1 - x0, y1 - y0
        off = 0.1  # the two directions of a link side by side
        ox, oy = (-dy * off, dx * off) if (dx or dy) else (0.0, 0.0)
        tip, tail = (x0 + 0.62 * dx + ox, y0 + 0.62 * dy + oy), (x0 + 0.38 * dx + ox, y0 + 0.38 * dy + oy)
        load = float(norm(f / n))
        style = {"arrowstyle": "-|>", "color": cmap(0.15 + 0.85 * load), "lw": (0.6 + 2.4 * load) * min(1.0, cell),
                 "mutation_scale": 8 * min(1.0, cell) + 2}
        ax.annotate("", xy=tip, xytext=tail, arrowprops=style, zorder=2)
    fig.colorbar(cm.ScalarMappable(norm=unorm, cmap=ucmap), cax=cax_util, label="PE core utilisation (% of latency)")
    fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), cax=cax_link, label="link load (flits per image)")
    ax.text(-1.0, 0.0, "host", ha="center", va="center", fontsize=7, bbox={"boxstyle": "round", "fc": "0.9"})
    ax.set_xlim(-1.6, vc - 0.5)
    ax.set_ylim(vr - 0.5, -0.5)
    ax.set_aspect("equal")
    step = max(1, (max(vc, vr) + 11) // 12)
    ax.set_xticks(range(0, vc, step))
    ax.set_yticks(range(0, vr, step))
    ax.set_xlabel("x (column)")
    ax.set_ylabel("y (row)")
    part = "" if (vc, vr) == (cols, rows) else f"\nx 0..{vc - 1}, y 0..{vr - 1} of the {cols} x {rows} mesh drawn " \
        "(the rest holds no PE and routes nothing)"
    pes = f"{len(result.pe_nodes)} PE" + ("" if len(result.pe_nodes) == 1 else "s")
    fig.suptitle(f"{model} on {result.chip}: {pes}, mean over {n} image{'s' if n > 1 else ''}"
                 f"{part}", fontsize=9, x=0.02, y=1 - 0.2 / fig_h, ha="left", va="top")
    names = list(layer_of)
    shown = names if len(names) <= 12 else [*names[:11], "..."]
    handles = [Patch(fc="white", ec=LAYER_COLOURS[layer_of[k] % len(LAYER_COLOURS)] if k in layer_of else "white",
                     lw=2, label=f"L{layer_of[k]} %{k}" if k in layer_of else k) for k in shown]
    fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(left / fig_w, 0.05 / fig_h),
               ncol=min(4, len(handles)), fontsize=7, frameon=False, title="PE border: layer", title_fontsize=7,
               alignment="left")
    return fig


def spike_raster(spikes: dict[str, np.ndarray], title: str = "spike raster", sample: int = 0,
                 values: list[str] | None = None) -> Figure:
    """Every spike of one sample: time step (x) against neuron (y), one panel per spiking value.

    Each value has its own panel (the output layer, often a handful of neurons, included), its height
    growing with the value's neurons; the panel's title names the value and counts its spikes.

    Args:
        spikes: value name -> bool ``[T, N, *features]`` (``SimResult.spikes`` of a ``record=True`` run).
        title: the figure title.
        sample: which sample of the batch.
        values: the values to draw, in order (default: all of ``spikes``); pass the deployment's encoders
            and layers (:func:`deployment_names`) to leave out aliases such as a flatten's result.
    """
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    names = [v for v in (values if values is not None else list(spikes)) if v in spikes] or list(spikes)
    trains = [np.asarray(spikes[v])[:, sample].reshape(np.asarray(spikes[v]).shape[0], -1) for v in names]
    heights = [float(np.clip(np.sqrt(max(1, s.shape[1])) / 6.0, 0.8, 3.0)) for s in trains]
    fig, axes = plt.subplots(len(names), 1, sharex=True, squeeze=False,
                             figsize=(8, min(14.0, 1.2 + 1.25 * sum(heights) + 0.3 * len(names))),
                             gridspec_kw={"height_ratios": heights})
    for k, (name, s, ax) in enumerate(zip(names, trains, axes[:, 0], strict=True)):
        t, j = np.nonzero(s)
        ax.scatter(t, j, s=4 if s.shape[1] <= 32 else 2, marker="|" if s.shape[1] > 32 else "s",
                   color=LAYER_COLOURS[k % len(LAYER_COLOURS)], linewidths=0.8)
        ax.set_ylim(s.shape[1] - 0.5, -0.5)
        ax.set_xlim(-0.5, s.shape[0] - 0.5)
        ax.set_title(f"{name}: {len(t)} spikes, {s.shape[1]} neurons", fontsize=8, loc="left", pad=2)
        ax.tick_params(labelsize=7)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        ax.set_ylabel("neuron", fontsize=7)
    axes[-1, 0].set_xlabel("time step")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def latency_histogram(result: SimResult) -> Figure:
    """Histogram of the per-image latency (ms at the clock; cycles on the top axis)."""
    plt = _pyplot()
    ms = np.asarray([r.latency_ms for r in result.images], float)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(ms, bins=min(50, max(5, len(ms) // 5)), color="C0", edgecolor="white")
    if ms.size:
        for q, style in ((50, "--"), (99, ":")):
            v = float(np.percentile(ms, q))
            ax.axvline(v, color="k", ls=style, lw=1, label=f"p{q} {v:.3f} ms")
        ax.legend()
    ax.set_xlabel(f"latency per image (ms at {result.clock_hz / 1e6:g} MHz)")
    ax.set_ylabel("images")
    scale = result.clock_hz / 1e3
    top = ax.secondary_xaxis("top", functions=(lambda v: v * scale, lambda c: c / scale))
    top.set_xlabel("cycles")
    ax.set_title(f"latency of {len(ms)} images, T = {result.time_steps}")
    fig.tight_layout()
    return fig


#: The files :func:`write_plots` may write into its folder (checked with :func:`snnc.io.claim_files` first).
PLOT_FILES = ("mesh_activity.png", "latency_histogram.png", "spike_raster.png")


def write_plots(result: SimResult, out_dir: str | os.PathLike[str], raster: SimResult | None = None,
                raster_image: int | None = None) -> list[Path]:
    """Write the three PNGs into ``out_dir`` (created); returns their paths.

    Args:
        result: the simulation.
        out_dir: the folder.
        raster: a ``record=True`` simulation whose first image is drawn (default: ``result`` if it recorded).
        raster_image: which image of ``raster`` to draw, by its position in it (default 0).
    """
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    model, values = deployment_names(result)
    figures = [("mesh_activity.png", mesh_heatmap(result, model)), ("latency_histogram.png", latency_histogram(result))]
    source = raster if raster is not None else result
    if source.spikes:
        k = raster_image or 0
        img = source.images[k] if k < len(source.images) else None
        label = img.label if img is not None else None
        title = f"{model} on {source.chip}: spike raster of image {img.index if img is not None else k}" + (
            f" (label {label}, predicted {img.prediction})" if img is not None and label is not None else "")
        figures.append(("spike_raster.png", spike_raster(source.spikes, title, sample=k, values=values)))
    for name, fig in figures:
        path = out / name
        buffer = io.BytesIO()
        fig.savefig(buffer, dpi=110, format="png")
        plt.close(fig)
        write_atomic(path, buffer.getvalue())  # a full disk leaves no partial PNG; a symlink is replaced, not followed
        paths.append(path)
    return paths
