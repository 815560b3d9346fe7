"""PNG plots of a simulation (matplotlib, Agg backend): mesh activity, a spike raster, latencies.

* :func:`mesh_heatmap`: the mesh, each PE coloured by its core utilisation (busy cycles / latency,
  averaged over the images) and labelled with its id and layer; each directed link drawn as an arrow
  coloured by the flits it carried per image (the host link west of (0, 0) included).
* :func:`spike_raster`: every spike of one image, time step against neuron, one band per spiking value.
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


def mesh_heatmap(result: SimResult) -> Figure:
    """PE utilisation and link load of the mesh (averages per image)."""
    plt = _pyplot()
    from matplotlib import cm, colors

    cols, rows = result.mesh
    n = max(1, len(result.images))
    mean_cycles = max(1.0, float(np.mean([r.cycles for r in result.images])) if result.images else 1.0)
    util = np.full((rows, cols), np.nan)
    for k, node in enumerate(result.pe_nodes):
        util[node // cols, node % cols] = 100.0 * result.pe_busy[k] / n / mean_cycles
    fig, ax = plt.subplots(figsize=(1.4 * cols + 3.0, 1.3 * rows + 1.2))
    top = max(1.0, float(np.nanmax(util))) if np.isfinite(util).any() else 1.0
    im = ax.imshow(util, cmap="Greens", vmin=0, vmax=1.5 * top, origin="upper",
                   extent=(-0.5, cols - 0.5, rows - 0.5, -0.5))
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02, label="PE core utilisation (% of latency)")
    for k, node in enumerate(result.pe_nodes):
        x, y = node % cols, node // cols
        ax.text(x, y, f"PE {k}\n%{result.pe_layers[k]}\n{util[y, x]:.0f} %", ha="center", va="center", fontsize=6,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7})
    loads = [f / n for _, _, f in result.link_flits]
    norm = colors.Normalize(vmin=0, vmax=max(loads, default=1.0) or 1.0)
    cmap = plt.get_cmap("inferno_r")
    host = cols * rows
    for a, b, f in result.link_flits:
        (x0, y0) = (-1.0, 0.0) if a == host else (a % cols, a // cols)
        (x1, y1) = (-1.0, 0.0) if b == host else (b % cols, b // cols)
        dx, dy = x1 - x0, y1 - y0
        off = 0.08  # the two directions of a link side by side
        ox, oy = (-dy * off, dx * off) if (dx or dy) else (0.0, 0.0)
        tip, tail = (x0 + 0.72 * dx + ox, y0 + 0.72 * dy + oy), (x0 + 0.28 * dx + ox, y0 + 0.28 * dy + oy)
        load = float(norm(f / n))
        style = {"arrowstyle": "-|>", "color": cmap(load), "lw": 1.0 + 3.0 * load}
        ax.annotate("", xy=tip, xytext=tail, arrowprops=style)
    sm = cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=ax, fraction=0.04, pad=0.08, label="link load (flits per image)")
    ax.text(-1.0, 0.0, "host", ha="center", va="center", fontsize=8, bbox={"boxstyle": "round", "fc": "0.9"})
    ax.set_xlim(-1.6, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    ax.set_xlabel("x (column)")
    ax.set_ylabel("y (row)")
    ax.set_title(f"{result.chip}: PE and link activity, mean over {n} image{'s' if n > 1 else ''}")
    fig.tight_layout()
    return fig


def spike_raster(spikes: dict[str, np.ndarray], title: str = "spike raster", sample: int = 0) -> Figure:
    """Every spike of one sample: time step (x) against neuron (y), one band per spiking value.

    Args:
        spikes: value name -> bool ``[T, N, *features]`` (``SimResult.spikes`` of a ``record=True`` run).
        title: the figure title.
        sample: which sample of the batch.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 6))
    base = 0
    ticks, labels = [], []
    for k, (name, train) in enumerate(spikes.items()):
        s = np.asarray(train)[:, sample].reshape(train.shape[0], -1)
        t, j = np.nonzero(s)
        ax.scatter(t, base + j, s=2, marker="|", color=f"C{k % 10}", label=f"%{name} ({len(t)} spikes)")
        ticks.append(base + s.shape[1] / 2)
        labels.append(f"%{name}")
        base += s.shape[1]
        ax.axhline(base - 0.5, color="0.85", lw=0.5)
    ax.set_xlabel("time step")
    ax.set_ylabel("neuron (per value)")
    ax.set_yticks(ticks, labels)
    ax.set_ylim(-0.5, max(base, 1) - 0.5)
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7, markerscale=4)
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


def write_plots(result: SimResult, out_dir: str | os.PathLike[str], raster: SimResult | None = None) -> list[Path]:
    """Write the three PNGs into ``out_dir`` (created); returns their paths.

    Args:
        result: the simulation.
        out_dir: the folder.
        raster: a ``record=True`` simulation whose first image is drawn (default: ``result`` if it recorded).
    """
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    figures = [("mesh_activity.png", mesh_heatmap(result)), ("latency_histogram.png", latency_histogram(result))]
    source = raster if raster is not None else result
    if source.spikes:
        label = source.images[0].label if source.images else None
        title = f"spike raster of image {source.images[0].index if source.images else 0}" + (
            f" (label {label}, predicted {source.images[0].prediction})" if label is not None else "")
        figures.append(("spike_raster.png", spike_raster(source.spikes, title)))
    for name, fig in figures:
        path = out / name
        buffer = io.BytesIO()
        fig.savefig(buffer, dpi=110, format="png")
        plt.close(fig)
        write_atomic(path, buffer.getvalue())  # a full disk leaves no partial PNG; a symlink is replaced, not followed
        paths.append(path)
    return paths
