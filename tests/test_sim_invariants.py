"""The mesh network under load: invariants that must hold for any traffic, and the watchdog on real stalls.

Each scenario (hot spots, saturating uniform and adversarial traffic, FIFOs of one flit, 1 x N and N x 1
lines, a 16 x 16 mesh, multi-flit packets, multicast mixed with unicast through the host link) is run
on an :class:`Environment` subclass that records the time of every event it processes, and checked for:

* every injected packet delivered exactly once to each of its destinations (counted by packet id),
  ``check_conservation`` and ``check_invariants`` (credits + FIFO fill = depth) at the end;
* no deadlock: ``env.run()`` returns with nothing in flight, under a short watchdog;
* time never goes backwards: event times and delivery times are non-decreasing, and no packet is
  faster than the zero-load latency of its route (``docs/noc.md``), nor leaves before ``created + R``;
* X-Y routes: hops equal the Manhattan distance; each link carries each flit of a packet once;
* determinism: two runs (and a run in a fresh interpreter with another hash seed) give identical
  per-packet records, link counters, delivery order and event counts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest

from snnc.backends.yoso.sim.events import Environment, SimulationError
from snnc.backends.yoso.sim.noc import MeshNoC, NocConfig, zero_load_latency
from snnc.errors import SnncError

#: (cycle, src, dst or destinations, flits or None for the config default)
Packet = tuple[int, int, int | tuple[int, ...], int | None]


class RecordingEnvironment(Environment):
    """An environment that records the time of every processed event (to check time never goes back)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[int] = []

    def step(self) -> None:
        super().step()
        self.times.append(self.now)


@dataclass
class Run:
    """One simulated scenario and what it recorded."""

    config: NocConfig
    packets: list[Packet]
    env: RecordingEnvironment = field(default_factory=RecordingEnvironment)
    noc: MeshNoC | None = None
    deliveries: list[tuple[int, int, int]] = field(default_factory=list)  # (packet, node, cycle)

    def fingerprint(self) -> str:
        """Everything observable, as text (equal for equal runs)."""
        noc = self.noc
        table = {k: v.tolist() for k, v in noc.packet_table().items()}
        return json.dumps({"table": table, "links": noc.link_flits, "deliveries": self.deliveries,
                           "now": self.env.now, "events": self.env.events_processed,
                           "cycles": noc.cycles_simulated, "dest_tail": {str(k): sorted(v.items())
                                                                        for k, v in noc.dest_tail.items()}})


def simulate(config: NocConfig, packets: list[Packet]) -> Run:
    """Inject ``packets`` at their cycles (in list order within a cycle) and run until the network is idle."""
    run = Run(config, packets)
    env = run.env
    run.noc = noc = MeshNoC(env, config, on_deliver=lambda pid, node: run.deliveries.append((pid, node, env.now)))

    def feed(env: Environment):
        for cycle, src, dst, flits in sorted(packets, key=lambda p: p[0]):
            if cycle > env.now:
                yield env.timeout(cycle - env.now)
            noc.inject(src, list(dst) if isinstance(dst, tuple) else dst, flits=flits)

    env.process(feed(env))
    env.run()
    return run


def check_invariants(run: Run) -> None:
    """Every invariant of the module docstring, for one finished run."""
    cfg, noc, env = run.config, run.noc, run.env
    r, link = cfg.router_delay, cfg.link_delay
    # no deadlock, nothing lost or duplicated
    assert noc.in_flight == 0
    noc.check_conservation()
    noc.check_invariants()
    ordered = sorted(run.packets, key=lambda p: p[0])
    expected = Counter((pid, d) for pid, (_, _, dst, _) in enumerate(ordered)
                       for d in (dst if isinstance(dst, tuple) else (dst,)))
    assert Counter((pid, node) for pid, node, _ in run.deliveries) == expected
    assert len(noc.dst) == len(ordered)
    # time never goes backwards
    assert env.times == sorted(env.times) and env.times
    delivered_at = [t for _, _, t in run.deliveries]
    assert delivered_at == sorted(delivered_at)
    host = noc.host
    seen = set(run.deliveries)
    unicast_flits = 0
    for pid, (cycle, src, dst, flits) in enumerate(ordered):
        f = cfg.flits if flits is None else flits
        assert noc.created[pid] == cycle and noc.flits[pid] == f
        assert noc.head_out[pid] >= cycle + r + (link if src == host else 0)
        for node in (dst if isinstance(dst, tuple) else (dst,)):
            tail = noc.dest_tail[pid][node] if isinstance(dst, tuple) else noc.tail_eject[pid]
            assert (pid, node, tail) in seen  # the callback ran at the recorded tail cycle
            if host not in (src, node):
                hops = noc.distance(src, node)
                assert tail - cycle >= zero_load_latency(hops, cfg, f), (pid, src, node)
        if not isinstance(dst, tuple):
            assert noc.hops[pid] == noc.distance(src, dst)  # X-Y: a shortest route
            unicast_flits += f * noc.hops[pid]
    # each flit crossed each link of its route once (router-to-router links)
    if all(not isinstance(p[2], tuple) for p in ordered) and host is None:
        assert sum(n for _, to, n in noc.links() if isinstance(to, int)) == unicast_flits
    # one flit per cycle per output: no link carried more flits than there were cycles
    assert max(noc.link_flits) <= env.now


# ------------------------------------------------------------------------------------------ traffic
def uniform(cfg: NocConfig, rate: float, cycles: int, seed: int, flits: Callable[[np.random.Generator], int | None]
            = lambda rng: None) -> list[Packet]:
    """Bernoulli sources at ``rate`` packets/node/cycle, destinations uniform over the other nodes."""
    rng = np.random.default_rng(seed)
    n = cfg.nodes
    out: list[Packet] = []
    for c in range(cycles):
        for s in np.flatnonzero(rng.random(n) < rate).tolist():
            d = int(rng.integers(0, n - 1)) if n > 1 else 0
            out.append((c, s, d + (d >= s) if n > 1 else s, flits(rng)))
    return out


def hotspot(cfg: NocConfig, target: int, count: int, cycles: int, seed: int) -> list[Packet]:
    """``count`` packets from random sources (the target included) to one node."""
    rng = np.random.default_rng(seed)
    return [(int(c), int(s), target, None) for c, s in zip(np.sort(rng.integers(0, cycles, count)),
                                                             rng.integers(0, cfg.nodes, count), strict=True)]


def transpose(cfg: NocConfig, repeats: int) -> list[Packet]:
    """(x, y) -> (y, x) from every node, ``repeats`` times back to back (adversarial for X-Y)."""
    n = cfg.cols
    return [(k, x + n * y, y + n * x, None) for k in range(repeats) for y in range(n) for x in range(n)]


def multicast_mix(cfg: NocConfig, cycles: int, seed: int) -> list[Packet]:
    rng = np.random.default_rng(seed)
    nd = cfg.nodes + (1 if cfg.host else 0)
    out: list[Packet] = []
    for c in range(cycles):
        for _ in range(5):
            src = int(rng.integers(0, nd))
            if rng.random() < 0.5 and nd >= 2:
                k = int(rng.integers(2, min(8, nd) + 1))
                out.append((c, src, tuple(sorted(rng.choice(nd, k, replace=False).tolist())), 1))
            else:
                out.append((c, src, int(rng.integers(0, nd)), 1))
    return out


SCENARIOS: dict[str, Callable[[], tuple[NocConfig, list[Packet]]]] = {
    "hotspot-center-2flit": lambda: (c := NocConfig(cols=8, rows=8, flits=2, watchdog_cycles=300),
                                     hotspot(c, 27, 400, 60, seed=1)),
    "hotspot-corner-fifo1": lambda: (c := NocConfig(cols=6, rows=6, flits=3, fifo_depth=1, watchdog_cycles=300),
                                     hotspot(c, 0, 150, 30, seed=2)),
    "saturating-uniform": lambda: (c := NocConfig(cols=8, rows=8, flits=3, watchdog_cycles=300),
                                   uniform(c, 0.7, 40, seed=3)),
    "saturating-mixed-lengths-fifo1": lambda: (
        c := NocConfig(cols=5, rows=5, router_delay=1, link_delay=0, fifo_depth=1, watchdog_cycles=300),
        uniform(c, 0.9, 15, seed=4, flits=lambda rng: int(rng.integers(1, 6)))),
    "transpose-fifo2": lambda: (c := NocConfig(cols=8, rows=8, flits=4, fifo_depth=2, watchdog_cycles=300),
                                transpose(c, 4)),
    "line-1x16": lambda: (c := NocConfig(cols=1, rows=16, flits=2, fifo_depth=1, watchdog_cycles=300),
                          uniform(c, 0.6, 30, seed=5)),
    "line-16x1": lambda: (c := NocConfig(cols=16, rows=1, flits=2, fifo_depth=1, router_delay=3, link_delay=2,
                                         watchdog_cycles=300), uniform(c, 0.6, 30, seed=6)),
    "single-node": lambda: (c := NocConfig(cols=1, rows=1, flits=3, fifo_depth=1, watchdog_cycles=50),
                            uniform(c, 0.9, 40, seed=7)),
    "large-16x16": lambda: (c := NocConfig(cols=16, rows=16, flits=2, watchdog_cycles=300),
                            uniform(c, 0.1, 40, seed=8) + hotspot(c, 136, 200, 40, seed=9)),
    "multicast-host-fifo1": lambda: (c := NocConfig(cols=5, rows=5, fifo_depth=1, host=True, watchdog_cycles=300),
                                     multicast_mix(c, 30, seed=10)),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_invariants_hold_and_runs_are_deterministic(name: str) -> None:
    config, packets = SCENARIOS[name]()
    assert len(packets) >= 20
    first = simulate(config, packets)
    check_invariants(first)
    second = simulate(config, packets)
    assert second.fingerprint() == first.fingerprint()


def test_saturation_really_saturates() -> None:
    # the loads above are past saturation: packets queue (latency far above zero-load) and links are busy
    config, packets = SCENARIOS["saturating-uniform"]()
    run = simulate(config, packets)
    table = run.noc.packet_table()
    queued = table["head_out"] - table["created"] - config.router_delay
    assert queued.max() > 20 and np.median(table["tail_eject"] - table["created"]) > 2 * 3 * 5
    config, packets = SCENARIOS["hotspot-center-2flit"]()
    run = simulate(config, packets)
    assert run.noc.packet_table()["tail_eject"].max() >= 400 * 2  # the ejection port: one flit per cycle


_DIGEST_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_sim_invariants import SCENARIOS, simulate
import hashlib
for name in {names!r}:
    print(name, hashlib.sha256(simulate(*SCENARIOS[name]()).fingerprint().encode()).hexdigest())
"""


def test_same_input_same_output_in_a_fresh_interpreter() -> None:
    names = ["multicast-host-fifo1", "saturating-mixed-lengths-fifo1"]
    import hashlib

    here = "\n".join(f"{n} {hashlib.sha256(simulate(*SCENARIOS[n]()).fingerprint().encode()).hexdigest()}"
                     for n in names)
    script = _DIGEST_SCRIPT.format(tests=os.path.dirname(__file__), names=names)
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == here


# ------------------------------------------------------------------------------------------ watchdog
def test_watchdog_names_the_stuck_state_of_a_line() -> None:
    # a 6 x 1 line, all to node 4 whose consumer takes one flit and never drains: 3-flit worms back up
    env = Environment()
    k = 50
    noc = MeshNoC(env, NocConfig(cols=6, rows=1, flits=3, fifo_depth=2, eject_depth=1, watchdog_cycles=k))
    for src in range(6):
        noc.inject(src, 4)
    with pytest.raises(SimulationError) as info:
        env.run()
    err = info.value
    assert isinstance(err, SnncError) and err.where == "network watchdog"
    m = re.match(r"no flit moved for (\d+) cycles \(cycle (\d+)\) while 6 packets are in flight", err.message)
    assert m and int(m[1]) == k and env.now == int(m[2])
    lines = err.message.splitlines()[1:]
    # the cause first: packet 4 holds node 4's ejection port and the sink is full
    assert lines[0].startswith("  router 4 (4,0)") and "ejection sink full" in lines[0]
    assert any("head: packet 4 flit 1 -> L (L: ejection sink full)" in line for line in lines)
    assert any("L held by packet 4" in line for line in lines)
    assert any("no credit (downstream FIFO router 4 (4,0) W full)" in line for line in lines)
    first_backpressure = next(i for i, line in enumerate(lines) if "no credit" in line and "sink" not in line)
    assert all("ejection sink full" not in line for line in lines[first_backpressure:])
    assert "raise watchdog_cycles" in (err.hint or "")


def test_watchdog_on_a_large_mesh_still_shows_the_cause() -> None:
    env = Environment()
    noc = MeshNoC(env, NocConfig(cols=16, rows=16, flits=2, eject_depth=1, watchdog_cycles=100))
    for src in range(256):
        noc.inject(src, 200)
    with pytest.raises(SimulationError) as info:
        env.run()
    text = str(info.value)
    lines = info.value.message.splitlines()
    assert "while 256 packets are in flight" in lines[0]
    assert lines[1].startswith("  router 200 (8,12)") and "ejection sink full" in lines[1]
    assert re.search(r"\.\.\. and \d+ more ports", text)
    assert len(lines) == 1 + 20 + 1


def test_watchdog_counts_from_the_last_move() -> None:
    # the consumer drains the first three packets, then stops: the stall starts at the last move
    env = Environment()
    k = 40
    drained: list[int] = []

    def deliver(pid: int, node: int) -> None:
        if len(drained) < 3:
            drained.append(env.now)
            env.call_later(5, lambda _ev: noc.consume(node))

    noc = MeshNoC(env, NocConfig(cols=4, rows=4, eject_depth=1, watchdog_cycles=k), on_deliver=deliver)
    for src in range(16):
        noc.inject(src, 10)
    with pytest.raises(SimulationError, match=f"no flit moved for {k} cycles") as info:
        env.run()
    assert len(drained) == 3 and noc.delivered == 4
    last_move = max(t for t in noc.tail_eject if t >= 0)
    assert env.now == last_move + k
    assert "router 10 (2,2)" in str(info.value).splitlines()[1]


def test_no_deadlock_with_xy_wormhole_even_with_one_flit_fifos_and_long_worms() -> None:
    # all-to-all, 6-flit worms through FIFOs of one flit: X-Y has no cyclic channel dependency, so a tight
    # watchdog never fires and everything arrives
    cfg = NocConfig(cols=4, rows=4, flits=6, fifo_depth=1, router_delay=1, link_delay=0, watchdog_cycles=60)
    packets: list[Packet] = [(0, s, d, None) for s in range(16) for d in range(16) if s != d]
    run = simulate(cfg, packets)
    check_invariants(run)
    assert len(run.deliveries) == 240
