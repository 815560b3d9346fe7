"""The simulator runs the artifact: it forwards packets by the deployment's own routing tables.

A deployment whose tables are changed through the API (:func:`~snnc.backends.yoso.routing.with_tables`)
simulates differently when the new tables are still trees to the same destinations (other links, other
cycles, the same spikes and scores), and is refused, naming the router and the key, when they drop a
destination, loop, or miss an entry. The one routing module serves compiler, chip and trace replay.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from snnc.backends.yoso import compile_yoso, load_deployment
from snnc.backends.yoso.hardware import load_hardware, with_overrides
from snnc.backends.yoso.routing import (
    PORTS,
    MeshRoutes,
    Tables,
    check_tables,
    deployment_tables,
    key_tree,
    tree_ports,
    with_tables,
    xy_port,
    xy_route,
)
from snnc.backends.yoso.sim.chip import Chip
from snnc.backends.yoso.sim.events import Environment, SimulationError
from snnc.backends.yoso.sim.network import NetworkModel
from snnc.backends.yoso.sim.noc import MeshNoC, NocConfig
from snnc.errors import DeploymentError
from snnc.tests.yoso_models import ttfs_mlp

#: small PEs, so that a small model spreads over several PEs and the network carries multicast traffic
HW = with_overrides(load_hardware(), pe={"neurons": 8, "weights": 400})


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    out = tmp_path_factory.mktemp("routing") / "dep"
    compile_yoso(ttfs_mlp((40, 30, 20, 5), time_steps=8, seed=2, bias=True), out, hw_path=HW)
    return load_deployment(out)


X = np.random.default_rng(0).random((3, 40)).astype(np.float32)


def simulate(chip: Chip, x: np.ndarray = X):  # noqa: ANN201
    """(scores, runs) of a batch on a chip."""
    env = chip.host.encode(x)
    runs = [chip.run_image(chip.input_spikes(env, b)) for b in range(len(x))]
    layers = {}
    for name, features in chip.layer_features.items():
        got = [r.host_spikes[name] if name in chip.to_host else r.spikes[name] for r in runs]
        layers[name] = np.stack(got, axis=1).reshape(chip.time_steps, len(runs), *features)
    return chip.host.decode(env, layers), runs


# ------------------------------------------------------------------------------------- Y-X tables
_TRANSPOSE = {"N": "W", "W": "N", "S": "E", "E": "S", "L": "L", "H": "H"}


def yx_tree(src: tuple[int, int] | None, dests: list[tuple[int, int] | None]) -> dict[tuple[int, int], str]:
    """The Y-X multicast tree (y first): the X-Y tree of the transposed mesh, transposed back."""
    flip = [None if d is None else (d[1], d[0]) for d in dests]
    tree = tree_ports(None if src is None else (src[1], src[0]), flip)
    return {(y, x): "".join(p for p in PORTS if p in {_TRANSPOSE[c] for c in ports}) for (x, y), ports in tree.items()}


def key_ends(dep):  # noqa: ANN001, ANN201
    """(key, source router or None, destination routers or None) of every key."""
    xy = {pe["id"]: tuple(pe["xy"]) for pe in dep.placement["pes"]}
    for k in dep.routing["keys"]:
        src = None if k["source"] == "host" else xy[k["source"]]
        yield int(k["key"]), src, [None if d == -1 else xy[d] for d in k["dests"]]


def yx_tables(dep) -> Tables:  # noqa: ANN001
    tables: Tables = {}
    for key, src, dests in key_ends(dep):
        for at, ports in yx_tree(src, dests).items():
            tables.setdefault(at, {})[key] = ports
    return tables


# ------------------------------------------------------------------------------------- the tests
def test_the_simulator_forwards_by_exactly_the_deployments_tables(dep) -> None:  # noqa: ANN001
    chip = Chip(dep)
    tables = deployment_tables(dep)
    assert chip.tables == tables
    assert chip.routes.tables() == tables  # what the network forwards by, read back from its arrays
    # the compiler wrote the X-Y trees of the same routing module
    xy = {pe["id"]: tuple(pe["xy"]) for pe in dep.placement["pes"]}
    for key, src, dests in key_ends(dep):
        if dests:
            assert {at: t[key] for at, t in tables.items() if key in t} == tree_ports(src, dests)
    assert xy and any(len(k["dests"]) > 1 for k in dep.routing["keys"])  # multicast traffic
    _, runs = simulate(chip, X[:1])
    assert isinstance(chip.noc, NetworkModel)
    trees = check_tables(tables, key_ends(dep), dep.hardware.mesh.cols, dep.hardware.mesh.rows)
    per_key = {k: 0 for k in trees}
    for pid, payload in enumerate(chip.noc.payload):
        per_key[payload[1]] += 1
        assert chip.noc.hops[pid] == trees[payload[1]].links  # every packet crossed its key's table tree
    assert sum(per_key.values()) == runs[0].counters["packets_injected"]


def test_a_rerouted_deployment_simulates_other_links_with_the_same_scores(dep) -> None:  # noqa: ANN001
    yx = yx_tables(dep)
    assert yx != deployment_tables(dep)
    chip_xy, chip_yx = Chip(dep), Chip(with_tables(dep, yx))
    assert chip_yx.tables == yx and chip_yx.routes.tables() == yx
    scores_xy, runs_xy = simulate(chip_xy)
    scores_yx, runs_yx = simulate(chip_yx)
    assert np.array_equal(scores_xy, scores_yx)
    for a, b in zip(runs_xy, runs_yx, strict=True):
        assert all(np.array_equal(a.spikes[n], b.spikes[n]) for n in a.spikes)
        assert all(np.array_equal(a.host_spikes[n], b.host_spikes[n]) for n in a.host_spikes)
    assert [r.link_flits for r in runs_xy] != [r.link_flits for r in runs_yx]
    used_yx = {(a, b) for r in runs_yx for a, b, f in r.link_flits if f}
    used_xy = {(a, b) for r in runs_xy for a, b, f in r.link_flits if f}
    assert used_yx != used_xy
    # every packet crossed the links of its key's Y-X tree (last image)
    trees = check_tables(yx, key_ends(dep), dep.hardware.mesh.cols, dep.hardware.mesh.rows)
    assert runs_yx[-1].counters["hops"] == sum(trees[p[1]].links for p in chip_yx.noc.payload)


def detour_tables(dep) -> tuple[Tables, dict[int, int]]:  # noqa: ANN001
    """Every single-destination key of a PE sent the long way round (X-Y to the farthest router from which
    the path stays simple, then X-Y on): a valid path, longer. Returns the tables and key -> extra links."""
    tables, cols, rows = deployment_tables(dep), dep.hardware.mesh.cols, dep.hardware.mesh.rows
    changed = {}
    for key, src, dests in key_ends(dep):
        if src is None or len(dests) != 1:
            continue
        end = (0, 0) if dests[0] is None else dests[0]
        paths = [xy_route(src, m) + xy_route(m, end)[1:] for m in ((x, y) for y in range(rows) for x in range(cols))]
        path = max((p for p in paths if len(set(p)) == len(p)), key=len)
        extra = len(path) - 1 - abs(src[0] - end[0]) - abs(src[1] - end[1])
        if not extra:
            continue
        for at in list(tables):
            tables[at].pop(key, None)
        for a, b in zip(path, path[1:], strict=False):
            tables.setdefault(a, {})[key] = PORTS[xy_port(a, b)]
        tables.setdefault(end, {})[key] = "H" if dests[0] is None else "L"
        changed[key] = extra
    return {at: t for at, t in tables.items() if t}, changed


def test_a_longer_valid_route_costs_hops_and_cycles_not_results(dep) -> None:  # noqa: ANN001
    tables, changed = detour_tables(dep)
    assert changed
    scores_xy, runs_xy = simulate(Chip(dep))
    chip = Chip(with_tables(dep, tables))
    scores_long, runs_long = simulate(chip)
    assert np.array_equal(scores_xy, scores_long)
    extra = sum(changed.get(payload[1], 0) for payload in chip.noc.payload)  # the last image's packets
    assert runs_long[-1].counters["hops"] == runs_xy[-1].counters["hops"] + extra > runs_xy[-1].counters["hops"]
    assert [r.cycles for r in runs_xy] != [r.cycles for r in runs_long]


def _first_multicast(dep) -> tuple[int, tuple[int, int] | None, list]:  # noqa: ANN001
    return next((k, s, d) for k, s, d in key_ends(dep) if len(d) > 1 and None not in d and s is not None)


def test_a_table_that_drops_a_destination_is_refused(dep) -> None:  # noqa: ANN001
    tables = deployment_tables(dep)
    key, _, dests = _first_multicast(dep)
    victim = dests[-1]
    bad = copy.deepcopy(tables)
    ports = bad[victim][key].replace("L", "")
    if ports:
        bad[victim][key] = ports
    else:
        del bad[victim][key]
    with pytest.raises(DeploymentError, match=rf"key {key}") as err:
        Chip(with_tables(dep, bad))
    assert f"({victim[0]},{victim[1]})" in err.value.format()
    assert "dropped" in err.value.message or "no table entry" in err.value.message


def test_a_table_that_loops_is_refused(dep) -> None:  # noqa: ANN001
    tables = deployment_tables(dep)
    cols = dep.hardware.mesh.cols
    key, src, _ = _first_multicast(dep)
    # send the key's packets one step east (or west) too, and straight back: the source router twice
    east = src[0] + 1 < cols
    nb = (src[0] + 1, src[1]) if east else (src[0] - 1, src[1])
    bad = copy.deepcopy(tables)
    out, back = ("E", "W") if east else ("W", "E")
    bad[src][key] = "".join(p for p in PORTS if p in bad[src][key] + out)
    bad.setdefault(nb, {})[key] = back
    with pytest.raises(DeploymentError, match=rf"key {key} reaches router \({src[0]},{src[1]}\) twice"):
        Chip(with_tables(dep, bad))


def test_missing_stray_and_off_mesh_entries_are_refused(dep) -> None:  # noqa: ANN001
    tables = deployment_tables(dep)
    key, src, dests = _first_multicast(dep)
    cols, rows = dep.hardware.mesh.cols, dep.hardware.mesh.rows
    # the entry at the source is missing
    bad = copy.deepcopy(tables)
    del bad[src][key]
    with pytest.raises(DeploymentError, match=rf"router \({src[0]},{src[1]}\) has no table entry for key {key}"):
        Chip(with_tables(dep, bad))
    # an entry no packet of the key reaches
    far = next((x, y) for y in range(rows) for x in range(cols) if key not in tables.get((x, y), {}))
    bad = copy.deepcopy(tables)
    bad.setdefault(far, {})[key] = "L"
    with pytest.raises(DeploymentError, match="none of its packets reach"):
        Chip(with_tables(dep, bad))
    # a delivery to a core that is not a destination (the sender's own)
    bad = copy.deepcopy(tables)
    bad[src][key] = "".join(p for p in PORTS if p in bad[src][key] + "L")
    with pytest.raises(DeploymentError, match=rf"core at \({src[0]},{src[1]}\), which is not one of its dest"):
        Chip(with_tables(dep, bad))
    assert src not in dests
    # off the mesh (the east edge)
    edge = (cols - 1, 0)
    with pytest.raises(DeploymentError, match="off the"):
        key_tree({edge: {7: "E"}}, 7, edge, [(0, 0)], cols, rows)
    # a bad port letter, named by router and key
    bad = {f"{src[0]},{src[1]}": {str(key): "LX"}}
    with pytest.raises(DeploymentError) as err:
        deployment_tables(type("D", (), {"routing": {"tables": bad}, "hardware": dep.hardware})())
    assert f"router ({src[0]},{src[1]}), key {key}" in err.value.format()


def test_the_deployment_files_stay_hash_checked(dep) -> None:  # noqa: ANN001
    """with_tables changes a Deployment in memory; the files on disk still load as compiled."""
    with_tables(dep, yx_tables(dep))
    again = load_deployment(dep.path)
    assert deployment_tables(again) == deployment_tables(dep)


def test_multi_flit_packets_follow_the_branches_of_the_key_trees(tmp_path: Path) -> None:
    """With two flits per spike the sources replicate (one unicast per destination), each unicast along its
    branch of the table tree: Y-X tables change the links, not the spikes."""
    hw = with_overrides(HW, noc={"flits_per_spike": 2})
    compile_yoso(ttfs_mlp((40, 30, 20, 5), time_steps=8, seed=2, bias=True), tmp_path / "dep", hw_path=hw)
    dep2 = load_deployment(tmp_path / "dep")
    scores_xy, runs_xy = simulate(Chip(dep2), X[:2])
    scores_yx, runs_yx = simulate(Chip(with_tables(dep2, yx_tables(dep2))), X[:2])
    assert np.array_equal(scores_xy, scores_yx)
    assert [r.link_flits for r in runs_xy] != [r.link_flits for r in runs_yx]
    assert [r.counters["hops"] for r in runs_xy] == [r.counters["hops"] for r in runs_yx]  # unicasts: same lengths


# ------------------------------------------------------------------------------------- one routing module
def test_one_x_y_rule_for_compiler_and_network() -> None:
    """The compiler's routes and trees and the network's X-Y arrays come from one rule (xy_port)."""
    cols, rows = 5, 4
    routes = MeshRoutes(cols, rows, True)
    for s in range(cols * rows):
        sxy = (s % cols, s // cols)
        for d in range(cols * rows + 1):
            to_host = d == cols * rows
            dxy = (0, 0) if to_host else (d % cols, d // cols)
            assert routes.route[s * routes.stride + d] == s * 6 + xy_port(sxy, dxy, to_host)
            if not to_host:
                assert len(xy_route(sxy, dxy)) == abs(sxy[0] - dxy[0]) + abs(sxy[1] - dxy[1]) + 1
    # a multicast without a key follows the same tree the compiler writes
    src, dests = 7, [0, 13, 19, 20]
    tree = routes.xy_tree(src, dests)
    compiled = tree_ports((src % cols, src // cols), [None if d == 20 else (d % cols, d // cols) for d in dests])
    assert {(r % cols, r // cols): "".join(PORTS[o % 6] for o in os) for r, os in tree.items()} == compiled


class YXRoutes(MeshRoutes):
    """Another routing scheme is one class: y first, then x."""

    def port(self, at: tuple[int, int], to: tuple[int, int], to_host: bool) -> int:
        y, ty = at[1], to[1]
        if ty != y:
            return 2 if ty > y else 0  # S or N
        return xy_port(at, to, to_host)


def test_another_routing_scheme_is_one_class() -> None:
    env = Environment()
    noc = MeshNoC(env, NocConfig(cols=4, rows=4), routes=YXRoutes(4, 4, False))
    pid = noc.inject(0, 15)
    env.run()
    noc.check_conservation()
    used = {(a, b) for a, b, f in noc.links() if f and b != "eject"}
    assert used == {(0, 4), (4, 8), (8, 12), (12, 13), (13, 14), (14, 15)}  # down the west column first
    assert noc.latency(pid) == 6 * 3 + 2
    stats = noc.statistics()
    assert (stats.packets, stats.delivered, stats.hops) == (1, 1, 6)
    with pytest.raises(SimulationError, match="mesh"):
        MeshNoC(Environment(), NocConfig(cols=4, rows=4), routes=YXRoutes(3, 4, False))


def test_keyed_packets_are_checked_against_their_tables() -> None:
    trees = check_tables({(0, 0): {3: "E"}, (1, 0): {3: "LS"}, (1, 1): {3: "L"}}, [(3, (0, 0), [(1, 0), (1, 1)])],
                         2, 2)
    noc = MeshNoC(Environment(), NocConfig(cols=2, rows=2), routes=MeshRoutes(2, 2, False, trees))
    with pytest.raises(SimulationError, match="injected at node 1"):
        noc.inject(1, (1, 3), key=3)
    with pytest.raises(SimulationError, match="deliver to nodes"):
        noc.inject(0, (1, 2), key=3)
    with pytest.raises(SimulationError, match="no routing table entries"):
        noc.inject(0, 1, key=4)
    pid = noc.inject(0, (1, 3), key=3)
    noc.env.run()
    noc.check_conservation()
    assert noc.hops[pid] == 2 and noc.latency(pid) == 2 * 3 + 2
