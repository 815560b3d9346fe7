"""A deployment report in one self-contained HTML file: ``snnc report DIR [--sim RESULTS.json] -o report.html``.

The page needs no server and no network: every figure is inline SVG drawn here, the style and the
tooltip script are inline, and the numbers are embedded as JSON (``<script type="application/json"
id="snnc-data">``, the same numbers the page shows). It holds

* the mesh: each PE coloured by its layer, labelled (id, layer, utilisation) where the cell is large
  enough, with a bar of its utilisation (core utilisation from the simulation, else the larger of its
  neuron and weight use); each directed link drawn with its load (flits per image: measured by the
  simulation, else expected from the routing tables and the compile-time spike rates);
* the layer-to-PE table, the per-PE table and the design-rule summary (every capacity against its
  largest use);
* with a simulation (``snnc simulate --json``): the latency distribution, the mean cycles of each time
  step, and the energy by category; with a recorded raster (:func:`raster_data`): the spikes of one
  image, one panel per layer (the output layer included), flatten/reshape aliases left out.

Hovering a PE or a link shows its numbers (``title`` elements too, so they read without the script).
"""

from __future__ import annotations

import html
import json
import math
from typing import TYPE_CHECKING, Any

from snnc.errors import SnncError

if TYPE_CHECKING:
    import numpy as np

    from snnc.backends.yoso.deploy import Deployment

#: distinguishable layer colours (Okabe-Ito, then Tableau); layers beyond wrap with a hatch-free lighter tone.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#4E79A7", "#F28E2B",
           "#59A14F", "#B07AA1", "#9C755F", "#76B7B2", "#EDC948", "#FF9DA7", "#BAB0AC")

PORT_STEP = {"N": (0, -1), "E": (1, 0), "S": (0, 1), "W": (-1, 0)}


# ------------------------------------------------------------------------------------------ data
def report_data(dep: Deployment, sim: dict[str, Any] | None = None,
                raster: dict[str, Any] | None = None) -> dict[str, Any]:
    """The numbers the page shows (embedded in it as JSON).

    Args:
        dep: a deployment read by :func:`~snnc.backends.yoso.deploy.load_deployment`.
        sim: ``SimResult.to_json()`` of a simulation of this deployment (``snnc simulate --json``), or None.
        raster: :func:`raster_data` of one recorded image, or None.

    Raises:
        SnncError: the simulation is not of this deployment (another mesh or other PEs).
    """
    hw, program, manifest = dep.hardware, dep.program, dep.manifest
    cols, rows = hw.mesh.cols, hw.mesh.rows
    layers = [{"index": ly["index"], "name": ly["name"], "neuron": ly["neuron"], "synapse": ly["synapse"],
               "n": ly["n"], "m": ly["m"], "pes": list(ly["pes"]), "source": ly["source"],
               "to_host": bool(ly["to_host"]), "color": PALETTE[ly["index"] % len(PALETTE)]}
              for ly in program["layers"]]
    pes = []
    for pe in dep.pes:
        c = pe.config
        accepted = _accepted(c["accepts"])
        pes.append({"id": c["pe"], "xy": list(c["xy"]), "layer": c["layer"], "layer_name": c["layer_name"],
                    "neurons": list(c["neurons"]), "n_local": c["n_local"], "weights": c["weights"],
                    "inputs": accepted,
                    "neuron_use_pct": round(100.0 * c["n_local"] / hw.pe.neurons, 2),
                    "weight_use_pct": round(100.0 * c["weights"] / hw.pe.weights, 2)})
    n_images = 0
    if sim is not None:
        _check_sim(sim, dep, pes)
        n_images = int(sim["summary"]["images"])
        mean_cycles = float(sim["summary"]["cycles"]["mean"]) if n_images else 0.0
        for pe, s in zip(pes, sim["pes"], strict=True):
            busy = s["busy_cycles"] / max(1, n_images)
            pe["busy_cycles"] = round(busy, 2)
            pe["synapse_ops"] = round(s["synapse_ops"] / max(1, n_images), 2)
            pe["core_util_pct"] = round(min(100.0, 100.0 * busy / mean_cycles), 2) if mean_cycles else 0.0
    for pe in pes:
        pe["util_pct"] = pe.get("core_util_pct", max(pe["neuron_use_pct"], pe["weight_use_pct"]))
        pe["tip"] = _pe_tip(pe, hw.pe.neurons, hw.pe.weights)
    links = _links(dep, sim, n_images)
    used = [tuple(pe["xy"]) for pe in pes] + [tuple(int(v) for v in at.split(","))
                                              for at in dep.routing.get("tables", {})]
    view = [max([0, *(x for x, _ in used)]) + 1, max([0, *(y for _, y in used)]) + 1]
    data: dict[str, Any] = {
        "model": manifest.get("model", {}).get("name", program.get("name", "?")),
        "model_source": manifest.get("model", {}).get("source", "?"),
        "chip": hw.chip.name, "hardware_file": manifest.get("hardware", {}).get("file", "?"),
        "mesh": [cols, rows], "view": view, "region": list(dep.placement.get("region", [cols, rows])),
        "clock_hz": hw.chip.clock_hz, "time_steps": program["time_steps"],
        "placer": dep.placement.get("placer"), "n_pes": len(pes),
        "util_kind": "core utilisation (% of latency)" if sim is not None else "max(neuron use, weight use) %",
        "load_kind": "measured flits per image" if sim is not None else "expected flits per image (compile-time)",
        "layers": layers, "pes": pes, "links": links, "rules": design_rules(dep),
        "sim": None if sim is None else _sim_summary(sim), "raster": raster,
    }
    return data


def _accepted(accepts: dict[str, list[int]]) -> int:
    if "inputs" in accepts:
        return accepts["inputs"][1] - accepts["inputs"][0]
    return math.prod(max(0, b - a) for a, b in (accepts["channels"], accepts["rows"], accepts["cols"]))


def _pe_tip(pe: dict[str, Any], n_cap: int, w_cap: int) -> str:
    lo, hi = pe["neurons"]
    lines = [f"PE {pe['id']} at ({pe['xy'][0]},{pe['xy'][1]})", f"layer {pe['layer']} {pe['layer_name']}",
             f"neurons {lo}..{hi - 1} ({pe['n_local']}/{n_cap}, {pe['neuron_use_pct']:.1f} %)",
             f"weights {pe['weights']}/{w_cap} ({pe['weight_use_pct']:.1f} %)", f"inputs listened to {pe['inputs']}"]
    if "core_util_pct" in pe:
        lines += [f"core utilisation {pe['core_util_pct']:.1f} %", f"busy cycles per image {pe['busy_cycles']:g}",
                  f"synapse ops per image {pe['synapse_ops']:g}"]
    return "\n".join(lines)


def _where(node: Any) -> str:
    return "host" if node == "host" else f"({node[0]},{node[1]})"


def _links(dep: Deployment, sim: dict[str, Any] | None, n_images: int) -> list[dict[str, Any]]:
    """Directed links with their expected (routing tables x key rates) and measured loads, flits per image."""
    flits = dep.hardware.noc.flits_per_spike
    rate = {k["key"]: float(k["rate"]) for k in dep.routing.get("keys", [])}
    expected: dict[tuple[Any, Any], float] = {}
    host_key = [k["key"] for k in dep.routing.get("keys", []) if k["source"] == "host"]
    for key in host_key:  # host -> (0,0) carries every host key
        expected[("host", (0, 0))] = expected.get(("host", (0, 0)), 0.0) + rate[key] * flits
    for at, table in dep.routing.get("tables", {}).items():
        x, y = (int(v) for v in at.split(","))
        for key, ports in table.items():
            for port in ports:
                if port == "L":
                    continue
                to: Any = "host" if port == "H" else (x + PORT_STEP[port][0], y + PORT_STEP[port][1])
                expected[((x, y), to)] = expected.get(((x, y), to), 0.0) + rate.get(int(key), 0.0) * flits
    measured: dict[tuple[Any, Any], float] = {}
    if sim is not None:
        for e in sim["links"]:
            a = "host" if e["from"] == "host" else tuple(e["from"])
            b = "host" if e["to"] == "host" else tuple(e["to"])
            measured[(a, b)] = e["flits"] / max(1, n_images)
    out = []
    for a, b in sorted(set(expected) | set(measured), key=lambda ab: (str(ab[0]), str(ab[1]))):
        link = {"from": a if a == "host" else list(a), "to": b if b == "host" else list(b),
                "expected": expected.get((a, b), 0.0),
                "measured": None if sim is None else measured.get((a, b), 0.0)}
        link["load"] = link["expected"] if sim is None else link["measured"]
        tip = f"link {_where(a)} -> {_where(b)}\nexpected {link['expected']:g} flits per image"
        if sim is not None:
            tip += f"\nmeasured {link['measured']:g} flits per image"
        link["tip"] = tip
        out.append(link)
    return out


def design_rules(dep: Deployment) -> list[dict[str, Any]]:
    """Each capacity of the chip against its largest use in the deployment (the compiler enforced them all)."""
    hw, program = dep.hardware, dep.program
    configs = [pe.config for pe in dep.pes]

    def worst(values: list[tuple[int, int]]) -> tuple[int, str]:
        if not values:
            return 0, "-"
        used, pe = max(values, key=lambda v: (v[0], -v[1]))  # the first PE of the largest use
        return used, f"PE {pe}"

    rules = []
    for name, used_where, limit in (
            ("neurons per PE (N)", worst([(c["n_local"], c["pe"]) for c in configs]), hw.pe.neurons),
            ("weights per PE (W)", worst([(c["weights"], c["pe"]) for c in configs]), hw.pe.weights),
            ("weight SRAM words", worst([(c["weights"], c["pe"]) for c in configs]), hw.sram["weight"].words),
            ("potential SRAM words", worst([(c["n_local"], c["pe"]) for c in configs]), hw.sram["potential"].words),
            ("accumulated-weight SRAM words", worst([(c["n_local"], c["pe"]) for c in configs]),
             hw.sram["acc_weight"].words),
            ("spike-address SRAM words (inputs listened to)",
             worst([(_accepted(c["accepts"]), c["pe"]) for c in configs]), hw.sram["spike_addr"].words),
            ("PEs on the mesh", (len(configs), "mesh"), hw.mesh.cols * hw.mesh.rows),
            ("multicast keys (packet source field)", (len(dep.routing.get("keys", [])), "routing"),
             _field_range(program, "source")),
            ("time steps (packet step field)", (int(program["time_steps"]), "program"), _field_range(program, "step")),
    ):
        used, where = used_where
        rules.append({"rule": name, "used": used, "limit": limit, "where": where, "ok": used <= limit,
                      "pct": round(100.0 * used / limit, 1) if limit else 0.0})
    tables = [len(t) for t in dep.routing.get("tables", {}).values()]
    rules.append({"rule": "largest routing table (entries)", "used": max(tables, default=0), "limit": None,
                  "where": "routing", "ok": True, "pct": None})
    return rules


def _field_range(program: dict[str, Any], name: str) -> int:
    """How many values a packet field can hold (``2 ** bits``)."""
    for f in program.get("packet", {}).get("fields", []):
        if f["name"] == name:
            return 2 ** (f["msb"] - f["lsb"] + 1)
    return 0


def _check_sim(sim: dict[str, Any], dep: Deployment, pes: list[dict[str, Any]]) -> None:
    try:
        mesh, sim_pes = list(sim["mesh"]), sim["pes"]
        sim["summary"]["images"], sim["links"]  # noqa: B018 - the keys the report reads
    except (KeyError, TypeError):
        raise SnncError("the --sim file is not a 'snnc simulate --json' result (no mesh, pes, links or summary)",
                        where="--sim", hint="give the file written by snnc simulate DIR --json FILE") from None
    cols, rows = dep.hardware.mesh.cols, dep.hardware.mesh.rows
    placed = [(p["id"], p["xy"]) for p in pes]
    simulated = [(p.get("id"), p.get("xy")) for p in sim_pes if isinstance(p, dict)]
    if mesh != [cols, rows] or placed != simulated:
        raise SnncError(f"the simulation is of another deployment (mesh {mesh}, {len(sim_pes)} PEs; this deployment: "
                        f"mesh {[cols, rows]}, {len(pes)} PEs placed elsewhere or differently)", where="--sim",
                        hint="simulate this deployment: snnc simulate DIR --json FILE")


def _sim_summary(sim: dict[str, Any]) -> dict[str, Any]:
    s = sim["summary"]
    images = sim.get("images", [])
    steps: list[float] = []
    if images and all(r.get("step_cycles") for r in images):
        width = min(len(r["step_cycles"]) for r in images)
        steps = [round(sum(r["step_cycles"][t] for r in images) / len(images), 2) for t in range(width)]
    return {"images": s["images"], "accuracy": s.get("accuracy"), "clock_hz": sim.get("clock_hz"),
            "barrier_cycles": sim.get("barrier_cycles"),
            "distributions": {k: s[k] for k in ("cycles", "latency_ms", "energy_uj", "power_mw", "packets", "hops",
                                                "spikes") if k in s},
            "energy_pj_mean": s.get("energy_pj_mean", {}), "spikes_mean": s.get("spikes_mean", {}),
            "step_cycles_mean": steps}


def raster_data(spikes: dict[str, np.ndarray], layer_names: list[str], *, sample: int = 0,
                image: dict[str, Any] | None = None) -> dict[str, Any]:
    """The spikes of one sample, one panel per layer (in layer order; other values, e.g. a flatten's, left out).

    Args:
        spikes: value name -> bool ``[T, N, *features]`` (``SimResult.spikes`` of a ``record=True`` run).
        layer_names: the values to draw, in order (the deployment's encoders and layers).
        sample: which sample of the batch.
        image: what to name the image by (``index``, ``label``, ``prediction``).
    """
    import numpy as np

    panels = []
    for name in layer_names:
        if name not in spikes:
            continue
        train = np.asarray(spikes[name])
        s = train[:, sample].reshape(train.shape[0], -1)
        t, j = np.nonzero(s)
        panels.append({"name": name, "neurons": int(s.shape[1]), "steps": int(s.shape[0]), "count": int(len(t)),
                       "spikes": np.stack([t, j], axis=1).astype(int).tolist()})
    return {"image": image or {"index": sample}, "panels": panels}


# ------------------------------------------------------------------------------------------ HTML
def render_report(data: dict[str, Any]) -> str:
    """The HTML page of :func:`report_data`."""
    e = html.escape
    title = f"snnc deployment report: {data['model']} on {data['chip']}"
    sections = [f"<h1>{e(title)}</h1>", _summary_html(data),
                "<h2>Mesh</h2>", _mesh_svg(data), _legend_html(data),
                "<h2>Layers and their PEs</h2>", _layers_table(data),
                "<h2>Design rules</h2>", _rules_table(data),
                "<h2>PEs</h2>", _pes_table(data)]
    if data["sim"] is not None:
        sections += ["<h2>Latency</h2>", _latency_html(data), "<h2>Energy</h2>", _energy_html(data)]
    if data["raster"] is not None:
        sections += ["<h2>Spike raster</h2>", _raster_html(data)]
    payload = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e")
    return _PAGE.format(title=e(title), style=_STYLE, body="\n".join(sections), data=payload, script=_SCRIPT)


def _summary_html(data: dict[str, Any]) -> str:
    e = html.escape
    cols, rows = data["mesh"]
    items = [("model", f"{data['model']} ({data['model_source']})"),
             ("chip", f"{data['chip']} ({data['hardware_file']}), {cols} x {rows} mesh, "
                      f"clock {data['clock_hz'] / 1e6:g} MHz"),
             ("deployment", f"{data['n_pes']} PE{'s' if data['n_pes'] != 1 else ''}, {len(data['layers'])} "
                           f"layer{'s' if len(data['layers']) != 1 else ''}, T = {data['time_steps']}, "
                            f"placer {data['placer']}")]
    sim = data["sim"]
    if sim is not None:
        acc = "" if sim["accuracy"] is None else f", accuracy {100 * sim['accuracy']:.2f} %"
        lat = sim["distributions"].get("latency_ms", {})
        en = sim["distributions"].get("energy_uj", {})
        items.append(("simulation", f"{sim['images']} images{acc}, latency mean {lat.get('mean', 0):.4g} ms, "
                                    f"energy mean {en.get('mean', 0):.4g} uJ per image"))
    return "<dl class='summary'>" + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in items) + "</dl>"


def _cell(data: dict[str, Any]) -> float:
    cols, rows = data["view"]
    return max(26.0, min(96.0, 980.0 / max(cols + 1, rows)))


def _link_colour(load: float, top: float) -> str:
    """Light grey (idle) through orange (half the busiest link) to dark red (the busiest)."""
    f = 0.0 if top <= 0 else min(1.0, load / top)
    lo, mid, hi = (200, 200, 200), (240, 140, 20), (127, 0, 0)
    a, z, u = (lo, mid, 2 * f) if f < 0.5 else (mid, hi, 2 * f - 1)
    r, g, b = (int(round(p + (q - p) * u)) for p, q in zip(a, z, strict=True))
    return f"rgb({r},{g},{b})"


def _mesh_svg(data: dict[str, Any]) -> str:
    e = html.escape
    cols, rows = data["view"]
    c = _cell(data)
    pad = 40.0
    width, height = pad + (cols + 1) * c + pad, pad + rows * c + pad
    colour = {ly["index"]: ly["color"] for ly in data["layers"]}

    def centre(node: Any) -> tuple[float, float]:
        x, y = (-1, 0) if node == "host" else node
        return pad + (x + 1.5) * c, pad + (y + 0.5) * c

    out = [f"<svg id='mesh' xmlns='http://www.w3.org/2000/svg' width='{width:.0f}' height='{height:.0f}' "
           f"viewBox='0 0 {width:.0f} {height:.0f}' role='img' aria-label='routers x 0..{cols - 1}, y 0..{rows - 1}'>"]
    for x in range(cols):
        out.append(f"<text class='axis' x='{pad + (x + 1.5) * c:.1f}' y='{pad - 6:.1f}' text-anchor='middle'>"
                   f"x={x}</text>")
    for y in range(rows):
        out.append(f"<text class='axis' x='{pad - 4:.1f}' y='{pad + (y + 0.5) * c + 3:.1f}' "
                   f"text-anchor='end'>y={y}</text>")
    for x in range(cols):
        for y in range(rows):
            cx, cy = centre((x, y))
            out.append(f"<rect class='router' x='{cx - 0.42 * c:.1f}' y='{cy - 0.42 * c:.1f}' width='{0.84 * c:.1f}' "
                       f"height='{0.84 * c:.1f}' rx='3'/>")
    hx, hy = centre("host")
    out.append(f"<rect class='host' x='{hx - 0.4 * c:.1f}' y='{hy - 0.3 * c:.1f}' width='{0.8 * c:.1f}' "
               f"height='{0.6 * c:.1f}' rx='4'/><text class='lbl' x='{hx:.1f}' y='{hy + 4:.1f}'>host</text>")
    show_text = c >= 64  # three lines of 11 px; below, the id alone, and below 30 px nothing
    for pe in data["pes"]:
        cx, cy = centre(pe["xy"])
        s = 0.84 * c
        x0, y0 = cx - s / 2, cy - s / 2
        bar = s * min(100.0, pe["util_pct"]) / 100.0
        text = ""
        if show_text:
            text = (f"<text class='lbl' x='{cx:.1f}' y='{y0 + 0.3 * s:.1f}'>PE {pe['id']}</text>"
                    f"<text class='lbl small' x='{cx:.1f}' y='{y0 + 0.55 * s:.1f}'>L{pe['layer']}</text>"
                    f"<text class='lbl small' x='{cx:.1f}' y='{y0 + 0.8 * s:.1f}'>{pe['util_pct']:.0f} %</text>")
        elif c >= 30:
            text = f"<text class='lbl small' x='{cx:.1f}' y='{cy + 3:.1f}'>{pe['id']}</text>"
        out.append(f"<g class='pe' data-pe='{pe['id']}'><title>{e(pe['tip'])}</title>"
                   f"<rect class='pe-body' x='{x0:.1f}' y='{y0:.1f}' width='{s:.1f}' height='{s:.1f}' rx='3' "
                   f"fill='{colour[pe['layer']]}'/>"
                   f"<rect class='util' x='{x0 + s - 5:.1f}' y='{y0 + s - bar:.1f}' width='4' height='{bar:.1f}'/>"
                   f"{text}</g>")
    top = max((ln["load"] for ln in data["links"]), default=0.0)
    for k, ln in enumerate(data["links"]):
        (x0, y0), (x1, y1) = centre(ln["from"]), centre(ln["to"])
        dx, dy = x1 - x0, y1 - y0
        norm = math.hypot(dx, dy) or 1.0
        ox, oy = -dy / norm * 0.09 * c, dx / norm * 0.09 * c
        a = (x0 + 0.3 * dx + ox, y0 + 0.3 * dy + oy)
        b = (x0 + 0.7 * dx + ox, y0 + 0.7 * dy + oy)
        f = 0.0 if top <= 0 else ln["load"] / top
        points = _arrow(a, b, 2.0 + 4.0 * f)
        out.append(f"<polygon class='link' data-link='{k}' points='{points}' "
                   f"fill='{_link_colour(ln['load'], top)}'><title>{e(ln['tip'])}</title></polygon>")
    out.append("</svg>")
    return "\n".join(out)


def _arrow(a: tuple[float, float], b: tuple[float, float], width: float) -> str:
    """The outline of an arrow from ``a`` to ``b`` (a shaft ``width`` wide, then a head), as SVG points."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    nx, ny = -uy, ux
    head = min(0.45 * length, max(6.0, 2.2 * width))
    half = max(3.5, 1.5 * width)
    bx, by = b[0] - ux * head, b[1] - uy * head
    pts = [(a[0] + nx * width / 2, a[1] + ny * width / 2), (bx + nx * width / 2, by + ny * width / 2),
           (bx + nx * half, by + ny * half), b, (bx - nx * half, by - ny * half),
           (bx - nx * width / 2, by - ny * width / 2), (a[0] - nx * width / 2, a[1] - ny * width / 2)]
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)


def _legend_html(data: dict[str, Any]) -> str:
    e = html.escape
    top = max((ln["load"] for ln in data["links"]), default=0.0)
    layers = "".join(f"<span class='key'><i style='background:{ly['color']}'></i>L{ly['index']} {e(ly['name'])}"
                     f"</span>" for ly in data["layers"])
    ramp = "".join(f"<i style='background:{_link_colour(top * k / 8, top)}'></i>" for k in range(9))
    (cols, rows), (vc, vr) = data["mesh"], data["view"]
    idle = "" if (vc, vr) == (cols, rows) else (
        f"Drawn: x 0..{vc - 1}, y 0..{vr - 1} of the {cols} x {rows} mesh; the other "
        f"{cols * rows - vc * vr} routers hold no PE and route nothing. ")
    return (f"<p class='legend'>{layers}</p><p class='legend'>{idle}PE bar (right edge): {e(data['util_kind'])}, 0 to "
            f"100 %. Links: <span class='ramp'>{ramp}</span> 0 to {top:.4g} {e(data['load_kind'])}; the host "
            "link enters (0,0) from the west. Hover a PE or a link for its numbers.</p>")


def _table(head: list[str], rows: list[list[Any]], cls: str = "") -> str:
    e = html.escape
    return (f"<table class='{cls}'><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row) + "</tr>" for row in rows)
            + "</tbody></table>")


def _layers_table(data: dict[str, Any]) -> str:
    rows = []
    for ly in data["layers"]:
        pes = ly["pes"]
        span = ", ".join(map(str, pes)) if len(pes) <= 8 else f"{pes[0]}..{pes[-1]} ({len(pes)})"
        rows.append([ly["index"], ly["name"], ly["neuron"], ly["synapse"], ly["n"], ly["m"], ly["source"],
                     span + (" -> host" if ly["to_host"] else "")])
    return _table(["layer", "value", "neuron", "synapse", "neurons", "weights / neuron", "source", "PEs"], rows,
                  "layers")


def _rules_table(data: dict[str, Any]) -> str:
    rows = [[r["rule"], r["used"], "-" if r["limit"] is None else r["limit"],
             "-" if r["pct"] is None else f"{r['pct']:.1f} %", r["where"], "ok" if r["ok"] else "EXCEEDED"]
            for r in data["rules"]]
    return _table(["rule", "largest use", "limit", "use", "where", "status"], rows, "rules")


def _pes_table(data: dict[str, Any]) -> str:
    sim = data["sim"] is not None
    head = ["PE", "xy", "layer", "neurons", "neuron use", "weights", "weight use", "inputs"]
    if sim:
        head += ["core util.", "busy cycles / image", "synapse ops / image"]
    rows = []
    for pe in data["pes"]:
        lo, hi = pe["neurons"]
        row = [pe["id"], f"({pe['xy'][0]},{pe['xy'][1]})", f"L{pe['layer']} {pe['layer_name']}", f"{lo}..{hi - 1}",
               f"{pe['neuron_use_pct']:.1f} %", pe["weights"], f"{pe['weight_use_pct']:.1f} %", pe["inputs"]]
        if sim:
            row += [f"{pe['core_util_pct']:.1f} %", f"{pe['busy_cycles']:g}", f"{pe['synapse_ops']:g}"]
        rows.append(row)
    return _table(head, rows, "pes")


def _bars(items: list[tuple[str, float, str]], unit: str, css_id: str) -> str:
    """A horizontal bar chart (label, value, value text) as SVG."""
    e = html.escape
    top = max((v for _, v, _ in items), default=0.0) or 1.0
    h = 18
    width = 720
    out = [f"<svg id='{css_id}' xmlns='http://www.w3.org/2000/svg' width='{width}' height='{h * len(items) + 8}' "
           f"role='img' aria-label='{e(unit)}'>"]
    for k, (label, v, text) in enumerate(items):
        w = 380 * v / top
        out.append(f"<g class='bar'><title>{e(label)}: {e(text)}</title>"
                   f"<text class='blabel' x='190' y='{k * h + 14}'>{e(label)}</text>"
                   f"<rect x='196' y='{k * h + 3}' width='{w:.1f}' height='{h - 5}' fill='#0072B2'/>"
                   f"<text class='bval' x='{200 + w:.1f}' y='{k * h + 14}'>{e(text)}</text></g>")
    out.append("</svg>")
    return "".join(out)


def _columns(values: list[float], barrier: float) -> str:
    """Mean cycles of each time step as a column chart (SVG), the barrier's share of each column shaded."""
    width, h, left = 720.0, 160.0, 50.0
    top = max(values, default=0.0) or 1.0
    w = (width - left - 10) / max(1, len(values))
    out = [f"<svg id='steps' xmlns='http://www.w3.org/2000/svg' width='{width:.0f}' height='{h + 30:.0f}' role='img' "
           "aria-label='cycles per time step'>",
           f"<text class='axis' x='{left - 4:.0f}' y='12' text-anchor='end'>{top:.0f}</text>",
           f"<text class='axis' x='{left - 4:.0f}' y='{h + 4:.0f}' text-anchor='end'>0</text>",
           f"<text class='axis' x='{left:.0f}' y='{h + 20:.0f}'>step 0</text>",
           f"<text class='axis' x='{width - 10:.0f}' y='{h + 20:.0f}' text-anchor='end'>step {len(values) - 1}</text>"]
    for t, v in enumerate(values):
        bh = h * v / top
        b = h * min(v, barrier) / top
        x = left + t * w
        out.append(f"<g class='col'><title>step {t}: {v:.1f} cycles (barrier {barrier:g})</title>"
                   f"<rect x='{x:.1f}' y='{h + 4 - bh:.1f}' width='{max(1.0, 0.85 * w):.1f}' height='{bh:.1f}' "
                   f"fill='#0072B2'/><rect x='{x:.1f}' y='{h + 4 - b:.1f}' width='{max(1.0, 0.85 * w):.1f}' "
                   f"height='{b:.1f}' fill='#9ecae1'/></g>")
    out.append("</svg>")
    return "".join(out)


def _latency_html(data: dict[str, Any]) -> str:
    sim = data["sim"]
    units = {"cycles": "cycles", "latency_ms": "ms", "energy_uj": "uJ", "power_mw": "mW", "packets": "packets",
             "hops": "hops", "spikes": "spikes"}
    rows = [[k, *(f"{d[q]:.6g}" for q in ("mean", "p50", "p99", "min", "max")), units[k]]
            for k, d in sim["distributions"].items()]
    out = [_table(["per image", "mean", "p50", "p99", "min", "max", "unit"], rows, "dist")]
    steps = sim["step_cycles_mean"]
    if steps:
        out.append(f"<p>Mean cycles of each time step over {sim['images']} images (barrier of "
                   f"{sim['barrier_cycles']} cycles included in each, light):</p>")
        out.append(_columns(steps, sim["barrier_cycles"] or 0))
    return "\n".join(out)


def _energy_html(data: dict[str, Any]) -> str:
    energy = data["sim"]["energy_pj_mean"]
    total = sum(energy.values()) or 1.0
    static = energy.get("leakage", 0.0)
    dynamic = {k: v for k, v in energy.items() if k != "leakage"}
    items = [(k, v, f"{v:.1f} pJ ({100 * v / total:.2f} % of all)") for k, v in dynamic.items()]
    return (f"<p>Energy per image, mean over the images: {total / 1e6:.4g} uJ in all; leakage (static, PEs x "
            f"latency) {static:.1f} pJ ({100 * static / total:.1f} %), dynamic {sum(dynamic.values()):.1f} pJ "
            f"({100 * sum(dynamic.values()) / total:.1f} %), by category:</p>"
            + _bars(items, "dynamic energy", "energy"))


def _raster_html(data: dict[str, Any]) -> str:
    e = html.escape
    r = data["raster"]
    img = r["image"]
    name = f"image {img.get('index', 0)}"
    if img.get("label") is not None:
        name += f" (label {img['label']}, predicted {img.get('prediction')})"
    out = [f"<p>Spikes of {e(name)}: time step (x) against neuron (y), one panel per layer, the output layer "
           "last.</p>"]
    width = 720.0
    for k, p in enumerate(r["panels"]):
        h = max(40.0, min(220.0, 1.2 * p["neurons"]))
        steps = max(1, p["steps"])
        sx, sy = (width - 60) / steps, h / max(1, p["neurons"])
        d = "".join(f"M{50 + t * sx:.1f},{4 + j * sy:.1f}h{max(1.0, sx * 0.8):.1f}" for t, j in p["spikes"])
        colour = PALETTE[k % len(PALETTE)]
        out.append(f"<figure class='panel' data-value='{e(p['name'])}'><figcaption>{e(p['name'])}: "
                   f"{p['count']} spikes, {p['neurons']} neurons, {p['steps']} steps</figcaption>"
                   f"<svg xmlns='http://www.w3.org/2000/svg' width='{width:.0f}' height='{h + 22:.0f}' role='img' "
                   f"aria-label='raster of {e(p['name'])}'>"
                   f"<rect x='50' y='4' width='{width - 60:.0f}' height='{h:.0f}' fill='none' stroke='#bbb'/>"
                   f"<path d='{d}' stroke='{colour}' stroke-width='{max(1.0, min(3.0, sy)):.1f}'/>"
                   f"<text class='axis' x='46' y='12' text-anchor='end'>0</text>"
                   f"<text class='axis' x='46' y='{h + 4:.0f}' text-anchor='end'>{p['neurons'] - 1}</text>"
                   f"<text class='axis' x='50' y='{h + 18:.0f}'>step 0</text>"
                   f"<text class='axis' x='{width - 10:.0f}' y='{h + 18:.0f}' text-anchor='end'>step {steps - 1}</text>"
                   "</svg></figure>")
    return "\n".join(out)


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:1100px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
dl.summary{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:600}dd{margin:0}
table{border-collapse:collapse;font-size:12.5px}th,td{border:1px solid #ddd;padding:2px 6px;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
.router{fill:#fafafa;stroke:#ccc}.host{fill:#e8e8e8;stroke:#888}
.pe-body{stroke:#222;stroke-width:1.2}.pe:hover .pe-body{stroke-width:3}.util{fill:#111;opacity:.75}
.lbl{font-size:11px;text-anchor:middle;fill:#000;paint-order:stroke;stroke:#fff;stroke-width:2.5px;pointer-events:none}
.small{font-size:9.5px}.link:hover{stroke:#000;stroke-width:1.5}
.legend .key{margin-right:1em;white-space:nowrap}.legend i{display:inline-block;width:12px;height:12px;
margin-right:3px;vertical-align:-1px;border:1px solid #444}.ramp i{width:10px;border:none}
.blabel{font-size:11px;text-anchor:end}.bval{font-size:11px}.axis{font-size:10px;fill:#555}
figure.panel{margin:.4em 0}figcaption{font-size:12px;color:#333}
#tip{position:fixed;display:none;background:#fff;border:1px solid #444;padding:4px 7px;font-size:12px;
white-space:pre;pointer-events:none;box-shadow:2px 2px 4px #0003;z-index:10}
"""

_SCRIPT = """
(function(){
  var data = JSON.parse(document.getElementById('snnc-data').textContent);
  var tip = document.getElementById('tip');
  function show(text, ev){ tip.textContent = text; tip.style.display = 'block';
    var x = ev.clientX + 14, y = ev.clientY + 14;  /* kept inside the window */
    if (x + tip.offsetWidth > window.innerWidth) { x = Math.max(0, ev.clientX - 14 - tip.offsetWidth); }
    if (y + tip.offsetHeight > window.innerHeight) { y = Math.max(0, ev.clientY - 14 - tip.offsetHeight); }
    tip.style.left = x + 'px'; tip.style.top = y + 'px'; }
  function hide(){ tip.style.display = 'none'; }
  document.querySelectorAll('#mesh .pe').forEach(function(g){
    var pe = data.pes[Number(g.getAttribute('data-pe'))];
    g.addEventListener('mousemove', function(ev){ show(pe.tip, ev); });
    g.addEventListener('mouseleave', hide);
  });
  document.querySelectorAll('#mesh .link').forEach(function(l){
    var link = data.links[Number(l.getAttribute('data-link'))];
    l.addEventListener('mousemove', function(ev){ show(link.tip, ev); });
    l.addEventListener('mouseleave', hide);
  });
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{style}</style></head>
<body>
{body}
<div id="tip" role="tooltip"></div>
<script type="application/json" id="snnc-data">{data}</script>
<script>{script}</script>
</body></html>
"""


def load_sim_json(path: str) -> dict[str, Any]:
    """Read a ``snnc simulate --json`` file; a missing or unreadable one is an :class:`SnncError`."""
    try:
        with open(path, encoding="utf-8") as f:
            sim = json.load(f)
    except FileNotFoundError:
        raise SnncError("simulation file not found", where=path, hint="give the file written by snnc simulate "
                        "DIR --json FILE") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise SnncError(f"simulation file is not readable JSON: {err}", where=path) from None
    if not isinstance(sim, dict):
        raise SnncError("simulation file is not a JSON object", where=path,
                        hint="give the file written by snnc simulate DIR --json FILE")
    return sim


def raster_values(dep: Deployment) -> list[str]:
    """The values a raster draws, in order: the host encoders, then each layer (the output layer last)."""
    return [enc["value"] for enc in dep.program["host"]["encoders"]] + [ly["name"] for ly in dep.program["layers"]]
