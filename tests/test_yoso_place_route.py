"""Placement and routing invariants: every PE placed once inside the region, X-Y routes of Manhattan
length, routing tables that deliver each spike exactly to its destinations over the counted links,
the traffic-aware placer never worse than the baselines, and the packet format."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from snnc.backends.yoso.hardware import load_hardware, with_overrides
from snnc.backends.yoso.layers import HOST, find_network
from snnc.backends.yoso.packet import END_OF_STEP, SPIKE, packet_format
from snnc.backends.yoso.partition import near_square, plan_network
from snnc.backends.yoso.passes.deploy import deploy
from snnc.backends.yoso.placement import PLACERS, baseline, mesh_region, place, snake_slots
from snnc.backends.yoso.plan import YosoPlan
from snnc.backends.yoso.routing import (
    build_sources,
    expected_hops,
    hops_lower_bound,
    routing_tables,
    source_links,
    tree_links,
    tree_ports,
    unicast_links,
    xy_route,
)
from snnc.errors import DeploymentError, DesignRuleError, PassError
from snnc.ir.parser import parse_graph
from snnc.ir.printer import print_graph
from snnc.passes import MissingPassError, PassManager, get_pass
from snnc.tests.yoso_models import ttfs_mlp

HW = load_hardware()


def mlp_sources(rates: dict[str, np.ndarray] | None = None):  # noqa: ANN201
    g = ttfs_mlp((784, 800, 10), time_steps=16)
    network = find_network(g)
    plans = plan_network(network, HW)
    return network, plans, build_sources(network, plans, HW.pe.neurons, rates)


def skewed_rates(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"s0": (rng.random(784) < 0.2).astype(float), "h1": rng.gamma(0.5, 1.0, 800).clip(0, 1),
            "out": np.full(10, 0.5)}


@pytest.mark.parametrize("placer", PLACERS)
def test_every_pe_is_placed_once_inside_the_region(placer: str) -> None:
    _, plans, sources = mlp_sources(skewed_rates())
    ids = [pe.id for p in plans for pe in p.pes]
    cols, rows = mesh_region("auto", HW.mesh.cols, HW.mesh.rows, len(ids))
    xy = place(sources, ids, cols, rows, placer)
    assert sorted(xy) == ids
    assert len(set(xy.values())) == len(ids)
    assert all(0 <= x < cols and 0 <= y < rows for x, y in xy.values())


@pytest.mark.parametrize(("count", "grid"), [(1, (1, 1)), (2, (1, 2)), (4, (2, 2)), (5, (2, 3)), (36, (6, 6)),
                                             (37, (6, 7)), (38, (6, 7)), (42, (6, 7)), (43, (7, 7))])
def test_near_square_is_the_smallest_grid_with_rows_minus_cols_in_0_1(count: int, grid: tuple[int, int]) -> None:
    assert near_square(count) == grid


def test_mesh_region_rules() -> None:
    assert mesh_region("auto", 6, 7, 38) == (6, 7)
    assert mesh_region("auto", 6, 7, 5) == (2, 3)
    assert mesh_region("auto", 7, 2, 5) == (3, 2)      # the near-square grid transposed to fit
    assert mesh_region("hw", 6, 7, 5) == (6, 7)
    assert mesh_region("3x2", 6, 7, 5) == (3, 2)
    with pytest.raises(DesignRuleError, match="does not fit the 6 x 7 mesh"):
        mesh_region("8x2", 6, 7, 5)
    with pytest.raises(DesignRuleError, match="is not 'auto', 'hw' or COLSxROWS"):
        mesh_region("big", 6, 7, 5)


def test_snake_keeps_consecutive_pes_adjacent() -> None:
    slots = snake_slots(6, 7)
    assert all(abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1 for a, b in zip(slots, slots[1:], strict=False))
    assert baseline([3, 1, 2], 2, 2, "snake") == {1: (0, 0), 2: (1, 0), 3: (1, 1)}
    assert baseline([3, 1, 2], 2, 2, "row-major") == {1: (0, 0), 2: (1, 0), 3: (0, 1)}


def test_xy_routes_have_manhattan_length_and_go_x_first() -> None:
    rnd = random.Random(0)
    for _ in range(200):
        a, b = (rnd.randrange(9), rnd.randrange(9)), (rnd.randrange(9), rnd.randrange(9))
        path = xy_route(a, b)
        assert path[0] == a and path[-1] == b
        assert len(path) - 1 == abs(a[0] - b[0]) + abs(a[1] - b[1]) == tree_links(a, [b])
        turn = next((k for k, p in enumerate(path) if p[0] == b[0]), 0)
        assert all(p[1] == a[1] for p in path[:turn + 1])   # x first, on the source's row
        assert all(p[0] == b[0] for p in path[turn:])       # then y, in the destination's column


def test_host_link_counts_once_each_way() -> None:
    assert tree_links(None, [(0, 0)]) == 1
    assert tree_links(None, [(2, 3)]) == 1 + 5
    assert tree_links((2, 3), [None]) == 5 + 1
    assert tree_links(None, [(1, 0), (1, 2), (3, 0)]) == 1 + 3 + 2


def _deliver(tables: dict, key: int, start: tuple[int, int]) -> tuple[list[object], int]:
    """Follow the tables from ``start``: where copies leave the mesh (L: that PE, H: the host), links used."""
    delivered, links, frontier = [], 0, [start]
    seen = set()
    while frontier:
        node = frontier.pop()
        assert node not in seen, "a packet visits a router twice"
        seen.add(node)
        for port in tables[node][key]:
            x, y = node
            if port == "L":
                delivered.append(node)
            elif port == "H":
                delivered.append("host")
                links += 1
            else:
                links += 1
                frontier.append({"E": (x + 1, y), "W": (x - 1, y), "N": (x, y - 1), "S": (x, y + 1)}[port])
    return delivered, links


@pytest.mark.parametrize("placer", PLACERS)
def test_routing_tables_deliver_every_spike_exactly_to_its_destinations(placer: str) -> None:
    _, plans, sources = mlp_sources(skewed_rates(1))
    ids = [pe.id for p in plans for pe in p.pes]
    xy = place(sources, ids, 6, 7, placer)
    tables = routing_tables(sources, xy)
    for s in sources:
        start = (0, 0) if s.pe is None else xy[s.pe]
        delivered, links = _deliver(tables, s.key, start)
        expected = ["host" if d == HOST else xy[d] for d in s.dests]
        assert sorted(map(str, delivered)) == sorted(map(str, expected))
        assert links + (1 if s.pe is None else 0) == source_links(s, xy)
        assert source_links(s, xy) <= unicast_links(s, xy)


def test_tree_ports_and_links_agree_on_random_multicasts() -> None:
    rnd = random.Random(5)
    for _ in range(100):
        src = None if rnd.random() < 0.3 else (rnd.randrange(6), rnd.randrange(7))
        dests = [None if rnd.random() < 0.1 else (rnd.randrange(6), rnd.randrange(7))
                 for _ in range(rnd.randrange(1, 9))]
        dests = [d for d in dict.fromkeys(dests) if d != src]
        if not dests:
            continue
        ports = tree_ports(src, dests)
        n_links = sum(sum(p in "NESWH" for p in v) for v in ports.values()) + (1 if src is None else 0)
        assert n_links == tree_links(src, dests)


def test_traffic_placer_beats_both_baselines_on_784_800_10() -> None:
    _, plans, sources = mlp_sources(skewed_rates(2))
    ids = [pe.id for p in plans for pe in p.pes]
    hops = {p: expected_hops(sources, place(sources, ids, 6, 7, p)) for p in PLACERS}
    assert hops["traffic"] < 0.95 * min(hops["snake"], hops["row-major"])
    assert place(sources, ids, 6, 7, "traffic") == place(sources, ids, 6, 7, "traffic")  # deterministic


def test_no_placement_beats_the_hops_lower_bound() -> None:
    _, plans, sources = mlp_sources(skewed_rates(4))
    ids = [pe.id for p in plans for pe in p.pes]
    # every input spike reaches all 37 hidden PEs, every hidden spike the output PE, every output spike the host
    rates = skewed_rates(4)
    bound = 37 * rates["s0"].sum() + rates["h1"].sum() + rates["out"].sum()
    assert hops_lower_bound(sources) == pytest.approx(bound)
    rng = random.Random(0)
    slots = [(x, y) for y in range(7) for x in range(6)]
    for xy in [place(sources, ids, 6, 7, p) for p in PLACERS] + [
            dict(zip(ids, rng.sample(slots, len(ids)), strict=True)) for _ in range(20)]:
        assert expected_hops(sources, xy) >= bound - 1e-9


def test_hops_lower_bound_counts_one_link_per_destination() -> None:
    # 3 inputs -> 2 PEs -> host: PE 0 at the host's router, PE 1 beside it, output read back by the host
    g = ttfs_mlp((3, 4, 2), time_steps=8)
    hw = with_overrides(HW, pe={"neurons": 2, "weights": 400})
    network = find_network(g)
    plans = plan_network(network, hw)
    sources = build_sources(network, plans, hw.pe.neurons, {"s0": np.ones(3), "h1": np.ones(4), "out": np.ones(2)})
    assert [len(p.pes) for p in plans] == [2, 1]
    xy = {0: (0, 0), 1: (1, 0), 2: (0, 1)}
    # host->{0,1}: host link + 1; PE 0 -> PE 2: 1; PE 1 -> PE 2: 2 (not adjacent); PE 2 -> host: 1 + host link
    assert expected_hops(sources, xy) == 3 * 2 + 2 * 1 + 2 * 2 + 2 * 2
    assert hops_lower_bound(sources) == 3 * 2 + 2 * 1 + 2 * 1 + 2 * 1


def test_busy_pes_sit_near_the_layer_they_feed() -> None:
    rates = skewed_rates(3)
    rates["h1"] = np.zeros(800)
    rates["h1"][:22] = 1.0   # only PE 0 of the hidden layer spikes
    _, plans, sources = mlp_sources(rates)
    ids = [pe.id for p in plans for pe in p.pes]
    xy = place(sources, ids, 6, 7, "traffic")
    out_pe = plans[1].pes[0].id
    assert abs(xy[0][0] - xy[out_pe][0]) + abs(xy[0][1] - xy[out_pe][1]) == 1


def test_place_and_route_passes_record_positions_destinations_and_hops() -> None:
    g = ttfs_mlp((40, 30, 5), time_steps=8)
    hw = with_overrides(HW, pe={"neurons": 8, "weights": 400})
    passes = [get_pass("quantize", hw=hw), get_pass("partition", hw=hw), get_pass("place", hw=hw, placer="snake"),
              get_pass("route", hw=hw)]
    result = PassManager(passes).run(g)
    out, plan = result.graph, result.state.get(YosoPlan)
    assert plan is not None and plan.stage == "route"
    plans = plan.layers
    assert {id(ly.neuron) for ly in plan.network.layers} <= {id(op) for op in out.ops}  # the plan follows the copy
    assert out.metadata["yoso.mesh"] == "2x3" and out.metadata["yoso.placer"] == "snake"
    hops = json.loads(out.metadata["yoso.expected_hops"])
    assert set(hops) == {"snake", "row-major", "traffic"} and hops["traffic"] <= hops["snake"]
    assert 0 < json.loads(out.metadata["yoso.hops_lower_bound"]) <= min(hops.values())
    routing = json.loads(out.metadata["yoso.routing"])
    assert routing["hops_per_image"] == hops["snake"]
    for pe in (pe for p in plans for pe in p.pes):
        assert pe.xy is not None and pe.rate is not None and pe.links is not None
        assert pe.dests == ([HOST] if pe.layer == 1 else [p.id for p in plans[1].pes])
    host = json.loads(out.metadata["yoso.host"])
    assert [b["neurons"] for b in host["blocks"]] == [[0, 8], [8, 16], [16, 24], [24, 32], [32, 40]]
    assert all(b["dests"] == [pe.id for pe in plans[0].pes] for b in host["blocks"])


def test_packet_format_of_the_shipped_chip() -> None:
    fmt = packet_format(HW)
    assert fmt.total_bits == 32
    assert fmt.fields() == [("type", 31, 30), ("source", 29, 20), ("neuron", 19, 12), ("step", 11, 4),
                            ("padding", 3, 0)]
    word = fmt.encode(source=41, neuron=255, step=200)
    assert fmt.decode(word) == {"type": SPIKE, "source": 41, "neuron": 255, "step": 200}
    assert fmt.decode(fmt.encode(3, 0, 7, END_OF_STEP))["type"] == END_OF_STEP
    assert word & 0xF == 0 and fmt.flits(word) == [word]
    with pytest.raises(DeploymentError, match="packet field neuron = 256 does not fit 8 bits"):
        fmt.encode(0, 256, 0)


def test_multi_flit_packets_split_head_first() -> None:
    hw = with_overrides(HW, noc={"flit_bits": 16, "flits_per_spike": 2})
    fmt = packet_format(hw)
    word = fmt.encode(5, 6, 7)
    hi, lo = fmt.flits(word)
    assert (hi << 16) | lo == word and hi >> 14 == SPIKE and (hi >> 4) & 0x3FF == 5


# ------------------------------------------------------------------------------------------ the compile state
def _passes(hw, *names: str):  # noqa: ANN001, ANN202
    return [get_pass(n, hw=hw) for n in names]


def test_running_a_pass_before_the_one_it_needs_is_a_typed_error_naming_the_missing_pass() -> None:
    g = ttfs_mlp((40, 30, 5), time_steps=8)
    hw = with_overrides(HW, pe={"neurons": 8, "weights": 400})
    cases = [(("route",), "route", "partition"), (("quantize", "partition", "route"), "route", "place"),
             (("place",), "place", "partition"), (("quantize", "place", "route"), "place", "partition")]
    for names, failing, missing in cases:
        with pytest.raises(MissingPassError, match=rf"^{failing} needs the {missing} pass to run before it .*"
                                                   r"\(passes run before it: ") as info:
            PassManager(_passes(hw, *names)).run(g)
        assert isinstance(info.value, PassError), names
        assert (info.value.needed_by, info.value.missing) == (failing, missing), names
    # the printed mirror of an IR dump is not compile state
    dumped = PassManager(_passes(hw, "quantize", "partition", "place")).run(g).graph
    with pytest.raises(MissingPassError, match="route needs the partition pass") as info:
        PassManager(_passes(hw, "route")).run(parse_graph(print_graph(dumped)))
    assert "is a printed mirror, not compile state" in str(info.value)


def test_deploy_needs_a_routed_plan(tmp_path: Path) -> None:
    g = ttfs_mlp((40, 30, 5), time_steps=8)
    hw = with_overrides(HW, pe={"neurons": 8, "weights": 400})
    placed = PassManager(_passes(hw, "quantize", "partition", "place")).run(g)
    with pytest.raises(MissingPassError, match="deploy needs the route pass") as info:
        deploy(placed.graph, placed.state, tmp_path / "dep", model_sha256="0" * 64)
    assert info.value.needed_by == "deploy" and not (tmp_path / "dep").exists()


def test_the_plan_carries_over_from_one_pipeline_run_into_the_next() -> None:
    g = ttfs_mlp((40, 30, 5), time_steps=8)
    hw = with_overrides(HW, pe={"neurons": 8, "weights": 400})
    whole = PassManager(_passes(hw, "quantize", "partition", "place", "route")).run(g)
    first = PassManager(_passes(hw, "quantize", "partition")).run(g)
    second = PassManager(_passes(hw, "place", "route")).run(first.graph, first.state)
    assert first.state.get(YosoPlan).stage == "partition"  # the earlier result is left as it was
    plan = second.state.get(YosoPlan)
    assert plan.stage == "route" and plan.placement.xy == whole.state.get(YosoPlan).placement.xy
    ops = {id(op) for op in second.graph.ops}
    assert all(id(ly.neuron) in ops and id(ly.synapse) in ops for ly in plan.network.layers)
    assert print_graph(second.graph) == print_graph(whole.graph)  # the printed mirror too


def test_find_network_runs_once_per_compile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from snnc.backends.yoso import compile_yoso
    from snnc.backends.yoso import layers as layers_module

    calls = []
    real = layers_module.find_network

    def counted(graph):  # noqa: ANN001, ANN202
        calls.append(graph)
        return real(graph)

    for name, module in list(sys.modules.items()):
        if name.startswith("snnc.") and getattr(module, "find_network", None) is real:
            monkeypatch.setattr(module, "find_network", counted)
    g = ttfs_mlp((40, 30, 5), time_steps=8)
    hw = with_overrides(HW, pe={"neurons": 8, "weights": 400})
    x = np.random.default_rng(0).random((4, 40)).astype(np.float32)
    compile_yoso(g, tmp_path / "dep", hw_path=hw, sample_x=x)
    assert len(calls) == 1
