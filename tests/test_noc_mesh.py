"""The mesh network: zero-load latency formula, contention, conservation, back-pressure, the watchdog."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from snnc.backends.yoso.drivers.trace import generate_uniform_trace, replay_trace
from snnc.backends.yoso.hardware import load_hardware
from snnc.backends.yoso.sim.events import Environment, SimulationError
from snnc.backends.yoso.sim.noc import MeshNoC, NocConfig, zero_load_latency
from snnc.errors import HardwareConfigError


def isolated(config: NocConfig, pairs: list[tuple[int, int]], spacing: int = 200) -> tuple[MeshNoC, list[int]]:
    """Inject each (src, dst) alone, ``spacing`` cycles apart; return the network and the packet ids."""
    env = Environment()
    noc = MeshNoC(env, config)
    pids: list[int] = []

    def feed(env: Environment):
        for src, dst in pairs:
            assert noc.in_flight == 0  # really alone
            pids.append(noc.inject(src, dst))
            yield env.timeout(spacing)

    env.process(feed(env))
    env.run()
    noc.check_conservation()
    return noc, pids


@pytest.mark.parametrize("r,link,f,d", [(2, 1, 1, 4), (1, 0, 1, 1), (2, 1, 3, 4), (3, 2, 4, 1), (1, 1, 5, 2)])
def test_zero_load_latency_for_every_pair_of_an_8x8_mesh(r: int, link: int, f: int, d: int) -> None:
    cfg = NocConfig(cols=8, rows=8, router_delay=r, link_delay=link, flits=f, fifo_depth=d)
    pairs = [(s, t) for s in range(64) for t in range(64)]
    noc, pids = isolated(cfg, pairs)
    seen_h = set()
    for (s, t), pid in zip(pairs, pids, strict=True):
        h = abs(s % 8 - t % 8) + abs(s // 8 - t // 8)
        seen_h.add(h)
        assert noc.hops[pid] == h
        assert noc.latency(pid) == zero_load_latency(h, cfg), (s, t)
        assert noc.head_out[pid] == noc.created[pid] + r  # no queueing when alone
    assert seen_h == set(range(15))


def test_zero_load_formula_by_hand() -> None:
    # the shipped chip's network: 3 H + 2
    cfg = NocConfig(router_delay=2, link_delay=1, flits=1, fifo_depth=4)
    assert [zero_load_latency(h, cfg) for h in range(4)] == [2, 5, 8, 11]
    # F = 3 through FIFOs of one flit: every body flit waits a credit round trip R + L + 1 = 4
    cfg = NocConfig(router_delay=2, link_delay=1, flits=3, fifo_depth=1)
    assert zero_load_latency(2, cfg) == 2 * 3 + 2 + 8
    assert zero_load_latency(0, cfg) == 2 + 2  # no link, no credit


def test_host_link_zero_load() -> None:
    cfg = NocConfig(cols=3, rows=3, router_delay=2, link_delay=1, flits=2, host=True)
    host = 9
    pairs = [(host, d) for d in range(9)] + [(d, host) for d in range(9)] + [(host, host)]
    noc, pids = isolated(cfg, pairs)
    for (s, t), pid in zip(pairs, pids, strict=True):
        pe = 0 if s == t == host else (t if s == host else s)
        h0 = pe % 3 + pe // 3
        links = 2 if s == t == host else 1
        assert noc.hops[pid] == h0 + links
        assert noc.latency(pid) == zero_load_latency(h0, cfg, host_links=links), (s, t)


def test_two_packets_sharing_a_link_are_serialised() -> None:
    # 4x1 mesh, R=2, L=1, F=1. A: 0->2 at cycle 0 reaches router 1's W input ready at 5; B: 1->2 at 3 is
    # ready at router 1's L input at 5 too: both want router 1's E link at cycle 5. Round-robin from
    # port N (pointer 0) reaches W before L: A leaves at 5 (latency 3*2+2 = 8), B at 6: it arrives at
    # router 2 at 7, is ready at 9, ejects at 9: latency 9 - 3 = 6 (5 alone).
    st = replay_trace([(0, 0, 2), (3, 1, 2)], mesh=(4, 1))
    assert st.latency.tolist() == [8, 6]
    # the same with 2 flits: A's body follows its head (the port stays allocated), B's head goes at 7
    st = replay_trace([(0, 0, 2), (3, 1, 2)], mesh=(4, 1), flits=2)
    assert st.latency.tolist() == [9, 8]
    # round robin: A alone wins W -> pointer at L; then C (W) and D (L) collide and D goes first
    st = replay_trace([(0, 0, 2), (100, 0, 2), (103, 1, 2)], mesh=(4, 1))
    assert st.latency.tolist() == [8, 9, 5]
    # the shared link carried every flit once
    assert dict(((a, b), n) for a, b, n in st.links)[(1, 2)] == 3


def test_ejection_port_contention() -> None:
    # two packets from the west and the east reach router 1 of a 3x1 mesh in the same cycle
    st = replay_trace([(0, 0, 1), (0, 2, 1)], mesh=(3, 1))
    assert sorted(st.latency.tolist()) == [5, 6]


def _run_rows(config: NocConfig, rows: np.ndarray, check_every: int = 0) -> tuple[MeshNoC, Counter]:
    env = Environment()
    delivered: Counter = Counter()
    noc = MeshNoC(env, config, on_deliver=lambda pid, node: delivered.update([(pid, node)]))
    times: list[int] = []

    def feed(env: Environment):
        for c, s, d in rows.tolist():
            if c > env.now:
                yield env.timeout(c - env.now)
            noc.inject(s, d)

    def checker(env: Environment):
        while noc.in_flight or env.now <= int(rows[-1, 0]):
            noc.check_invariants()
            times.append(env.now)
            yield env.timeout(check_every)

    env.process(feed(env))
    if check_every:
        env.process(checker(env))
    env.run()
    noc.check_conservation()
    assert times == sorted(times)
    return noc, delivered


@pytest.mark.parametrize("traffic", ["uniform", "hotspot", "saturating", "tiny-fifos"])
def test_every_packet_is_delivered_exactly_once(traffic: str) -> None:
    rng = np.random.default_rng(7)
    cfg = NocConfig(cols=6, rows=6)
    if traffic == "uniform":
        rows = generate_uniform_trace((6, 6), 0.1, cycles=150, seed=1)
    elif traffic == "hotspot":  # everyone to node 14, far beyond its ejection port's one flit per cycle
        cyc = np.sort(rng.integers(0, 100, 600))
        rows = np.stack([cyc, rng.integers(0, 36, 600), np.full(600, 14)], axis=1)
        cfg = NocConfig(cols=6, rows=6, flits=2)
    elif traffic == "saturating":
        rows = generate_uniform_trace((6, 6), 0.6, cycles=60, seed=2)
        cfg = NocConfig(cols=6, rows=6, flits=3)
    else:  # FIFOs of one flit, packets of 4: X-Y wormhole on a mesh still cannot deadlock
        rows = generate_uniform_trace((6, 6), 0.3, cycles=60, seed=3)
        cfg = NocConfig(cols=6, rows=6, flits=4, fifo_depth=1)
    noc, delivered = _run_rows(cfg, rows, check_every=7)
    assert len(noc.dst) == len(rows) > 100
    assert delivered == Counter(zip(range(len(rows)), rows[:, 2].tolist(), strict=True))
    t = noc.packet_table()
    assert (t["dst"] == rows[:, 2]).all()
    assert (t["created"] <= t["head_out"]).all() and (t["head_out"] <= t["head_eject"]).all()
    assert (t["head_eject"] + t["flits"] - 1 <= t["tail_eject"]).all()
    # every flit crossed each link of its route once: link flits sum to flits x hops
    links = sum(n for _, b, n in noc.links() if isinstance(b, int))
    assert links == int((t["flits"] * t["hops"]).sum())
    if traffic == "hotspot":
        assert int(t["tail_eject"].max()) >= 600 * 2  # ejection at 14 is the bottleneck: 1 flit/cycle


def test_conservation_check_catches_undelivered_packets() -> None:
    env = Environment()
    noc = MeshNoC(env, NocConfig(cols=4, rows=4))
    noc.inject(0, 15)
    noc.inject(3, 12)
    env.run(until=5)  # stop early: still in flight
    with pytest.raises(SimulationError, match="2 packets not delivered"):
        noc.check_conservation()
    env.run()
    noc.check_conservation()


@pytest.mark.parametrize("mesh", [(1, 12), (12, 1), (16, 16)])
def test_line_and_large_meshes(mesh: tuple[int, int]) -> None:
    cols, rows = mesh
    trace = generate_uniform_trace(mesh, 0.05 if cols * rows > 100 else 0.2, cycles=40, seed=5)
    st = replay_trace(trace, mesh=mesh)
    hops = np.abs(trace[:, 1] % cols - trace[:, 2] % cols) + np.abs(trace[:, 1] // cols - trace[:, 2] // cols)
    assert st.packets == len(trace) and st.avg_hops == pytest.approx(hops.mean())
    assert (st.latency >= 3 * hops + 2).all()
    assert all(a != b for a, b, _ in st.links)


def test_watchdog_reports_a_consumer_that_never_drains() -> None:
    env = Environment()
    noc = MeshNoC(env, NocConfig(cols=4, rows=4, eject_depth=2, watchdog_cycles=50))
    for src in (0, 1, 2, 3, 4, 8):
        noc.inject(src, 5)
    with pytest.raises(SimulationError, match="no flit moved for 50 cycles") as info:
        env.run()
    text = str(info.value)
    assert "4 packets are in flight" in text and "deadlock or a stuck FIFO" in text
    assert "router 5 (1,1)" in text and "ejection sink full" in text
    assert "hint:" in text and env.now < 200


def test_a_consumer_that_drains_slowly_gets_everything() -> None:
    env = Environment()
    got: list[tuple[int, int]] = []

    def deliver(pid: int, node: int) -> None:
        assert node == 5
        got.append((pid, env.now))
        env.call_later(30, lambda _ev: noc.consume(5))  # the core takes 30 cycles per packet

    noc = MeshNoC(env, NocConfig(cols=4, rows=4, eject_depth=1, watchdog_cycles=100), on_deliver=deliver)
    for src in range(16):
        noc.inject(src, 5)
    env.run()
    noc.check_conservation()
    noc.check_invariants()
    times = [t for _, t in got]
    assert len(got) == 16 and all(b - a >= 30 for a, b in zip(times, times[1:], strict=False))


def test_bad_parameters_are_clear_errors() -> None:
    with pytest.raises(HardwareConfigError, match="router_delay"):
        NocConfig(router_delay=0)
    with pytest.raises(HardwareConfigError, match="fifo_depth"):
        NocConfig(fifo_depth=0)
    noc = MeshNoC(Environment(), NocConfig(cols=2, rows=2))
    with pytest.raises(SimulationError, match="node 4 is not on the 2x2 mesh"):
        noc.inject(0, 4)


def test_config_from_the_shipped_hardware_file() -> None:
    cfg = NocConfig.from_hardware(load_hardware())
    assert (cfg.cols, cfg.rows, cfg.router_delay, cfg.link_delay, cfg.flits, cfg.fifo_depth, cfg.host) == \
        (6, 7, 2, 1, 1, 4, True)
    assert NocConfig.from_hardware(load_hardware(), flits=3).flits == 3


# ------------------------------------------------------------------------------------------ multicast
def _xy_tree_links(cols: int, src: tuple[int, int], dests: list[tuple[int, int]]) -> int:
    links = set()
    for dx, dy in dests:
        x, y = src
        while x != dx:
            nx = x + (1 if dx > x else -1)
            links.add(((x, y), (nx, y)))
            x = nx
        while y != dy:
            ny = y + (1 if dy > y else -1)
            links.add(((x, y), (x, ny)))
            y = ny
    return len(links)


@pytest.mark.parametrize("r,link,d", [(2, 1, 4), (1, 0, 1), (3, 2, 2)])
def test_multicast_alone_reaches_each_destination_at_its_zero_load_latency(r: int, link: int, d: int) -> None:
    f = 1
    cfg = NocConfig(cols=8, rows=8, router_delay=r, link_delay=link, flits=f, fifo_depth=d)
    env = Environment()
    got: dict[int, int] = {}
    noc = MeshNoC(env, cfg, on_deliver=lambda pid, node: got.__setitem__(node, env.now))
    src = 27  # (3, 3)
    pid = noc.inject(src, range(64))
    env.run()
    noc.check_conservation()
    assert noc.hops[pid] == 63  # the X-Y tree spans the mesh: nodes - 1 links
    assert sum(n for _, b, n in noc.links() if isinstance(b, int)) == 63 * f
    for node in range(64):
        h = abs(node % 8 - 3) + abs(node // 8 - 3)
        assert got[node] - noc.created[pid] == zero_load_latency(h, cfg), node
    assert noc.dest_tail[pid] == got and noc.latency(pid) == zero_load_latency(8, cfg)  # farthest: (7, 7)


def test_multicast_from_the_host_to_a_layer_of_pes() -> None:
    cfg = NocConfig(cols=6, rows=7, host=True)
    env = Environment()
    got: list[tuple[int, int]] = []
    noc = MeshNoC(env, cfg, on_deliver=lambda pid, node: got.append((node, env.now)))
    layer = list(range(37))
    noc.inject(noc.host, layer)
    env.run()
    noc.check_conservation()
    assert sorted(n for n, _ in got) == layer
    for node, t in got:
        h0 = node % 6 + node // 6
        assert t == zero_load_latency(h0, cfg, host_links=1)
    assert noc.hops[0] == 1 + _xy_tree_links(6, (0, 0), [(n % 6, n // 6) for n in layer])


def test_multicast_and_unicast_under_saturation_with_tiny_fifos() -> None:
    rng = np.random.default_rng(9)
    cfg = NocConfig(cols=5, rows=5, flits=1, fifo_depth=1, host=True)
    env = Environment()
    got: Counter = Counter()
    noc = MeshNoC(env, cfg, on_deliver=lambda pid, node: got.update([(pid, node)]))
    expected: Counter = Counter()
    trees = 0

    def feed(env: Environment):
        nonlocal trees
        for _ in range(40):
            for _ in range(6):
                src = int(rng.integers(0, 26))
                if rng.random() < 0.5:
                    dests = sorted(rng.choice(26, size=int(rng.integers(2, 10)), replace=False).tolist())
                    pid = noc.inject(src, dests)
                    xy = [(-1, 0) if d == 25 else (d % 5, d // 5) for d in dests]
                    s = (0, 0) if src == 25 else (src % 5, src // 5)
                    mesh_dests = [(0, 0) if p == (-1, 0) else p for p in xy]
                    trees += _xy_tree_links(5, s, mesh_dests) + (src == 25) + (25 in dests)
                else:
                    dests = [int(rng.integers(0, 26))]
                    pid = noc.inject(src, dests[0])
                    trees += noc.distance(src, dests[0])
                expected.update((pid, d) for d in dests)
            yield env.timeout(1)

    env.process(feed(env))
    env.run()
    noc.check_conservation()
    noc.check_invariants()
    assert got == expected and len(got) > 400
    assert sum(noc.hops) == trees


def test_multicast_errors() -> None:
    noc = MeshNoC(Environment(), NocConfig(cols=3, rows=3))
    with pytest.raises(SimulationError, match="distinct"):
        noc.inject(0, [1, 1])
    with pytest.raises(SimulationError, match="node 9 is not on the 3x3 mesh"):
        noc.inject(0, [1, 9])
    assert noc.dst[noc.inject(0, [4])] == 4  # one destination is a unicast
    with pytest.raises(SimulationError, match="single-flit"):
        noc.inject(0, [1, 2], flits=2)
