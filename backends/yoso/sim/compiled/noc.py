"""Trace replay on the compiled network kernel (:mod:`.noc_kernel`), with :class:`MeshNoC`'s records.

:func:`replay_rows` runs sorted trace rows and returns a :class:`CompiledNetworkRun` that answers the same
questions as a :class:`~snnc.backends.yoso.sim.noc.MeshNoC` after a run (``packet_table``, ``links``,
``router_flits``, ``cycles_simulated``, ``check_conservation``), so the replay statistics are computed by the same
code for both engines. A watchdog or deadlock in the kernel is reported by re-running the trace on the Python
model, which raises the detailed :class:`~snnc.backends.yoso.sim.events.SimulationError` (stuck FIFOs listed).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from snnc.backends.yoso.routing import MeshRoutes
from snnc.backends.yoso.sim.compiled import noc_kernel as nk
from snnc.backends.yoso.sim.events import Environment, SimulationError
from snnc.backends.yoso.sim.noc import MeshNoC, NocConfig


def mesh_tables(config: NocConfig, routes: MeshRoutes | None = None) -> MeshNoC:
    """A :class:`MeshNoC` of ``config`` (and ``routes``, default X-Y) on a throw-away environment: its port and
    route tables are the ones the kernel forwards by (one source of truth for the topology)."""
    return MeshNoC(Environment(), config, routes=routes)


class CompiledNetworkRun:
    """What a compiled replay did, with :class:`MeshNoC`'s accessors over the kernel's arrays."""

    def __init__(self, mesh: MeshNoC, state: nk.NocState) -> None:
        self._mesh = mesh
        self.config = mesh.config
        self.nodes = mesh.nodes
        n = int(state.sc[nk.S_NPK])
        pk = state.pk[:, :n]
        self._table = {"src": pk[nk.KSRC].copy(), "dst": pk[nk.KDST].copy(), "flits": pk[nk.KNFL].copy(),
                       "created": pk[nk.KCRE].copy(), "head_out": pk[nk.KHOUT].copy(),
                       "head_eject": pk[nk.KHEJ].copy(), "tail_eject": pk[nk.KTEJ].copy(),
                       "hops": pk[nk.KHOPS].copy()}
        self._ejected = pk[nk.KEJ].copy()
        self._ndest = pk[nk.KNDEST].copy()
        self.link_flits = state.port[nk.PLF].tolist()
        self.cycles_simulated = int(state.sc[nk.S_CYCLES])
        self.delivered = int(state.sc[nk.S_DELIV])
        self.in_flight = int(state.sc[nk.S_INFL])

    def packet_table(self) -> dict[str, np.ndarray]:
        """Per-packet records as int64 arrays (``MeshNoC.packet_table``)."""
        return dict(self._table)

    def links(self) -> list[tuple[int, int | str, int]]:
        """``(from node, to node or 'eject', flits)`` for every output port that exists (``MeshNoC.links``)."""
        self._mesh.link_flits = self.link_flits
        return self._mesh.links()

    def router_flits(self) -> np.ndarray:
        """Flits each router sent out (``MeshNoC.router_flits``)."""
        return np.asarray(self.link_flits, dtype=np.int64).reshape(self.nodes, nk.P).sum(axis=1)

    def check_conservation(self) -> None:
        """Every packet delivered once, whole (``MeshNoC.check_conservation``)."""
        t = self._table
        need = t["flits"] * self._ndest
        lost = np.flatnonzero((t["tail_eject"] < 0) | (self._ejected < need))
        extra = np.flatnonzero(self._ejected > need)
        if lost.size or extra.size or self.delivered != len(need) or self.in_flight:
            raise SimulationError(f"packet conservation broken in the compiled network: {lost.size} packets not "
                                  f"delivered, {extra.size} delivered more than once")


def replay_rows(config: NocConfig, cyc: np.ndarray, src: np.ndarray, dst: np.ndarray) -> CompiledNetworkRun:
    """Replay packets sorted by cycle (rows of one cycle in order) on the compiled network.

    Raises:
        SimulationError: a deadlock or watchdog (the Python model's report, from a re-run on it).
    """
    mesh = mesh_tables(config)
    cyc = np.ascontiguousarray(cyc, np.int64)
    src = np.ascontiguousarray(src, np.int64)
    dst = np.ascontiguousarray(dst, np.int64)
    nports = mesh.nodes * nk.P
    cap = np.full(nports, config.fifo_depth, np.int64)
    per_src = np.bincount(src, minlength=mesh.nodes)[:mesh.nodes]
    cap[np.arange(mesh.nodes) * nk.P + nk.PORT_L] = np.maximum(per_src, 1) * config.flits
    state = _state(mesh, cap, len(cyc))
    code = nk.replay(cyc, src, dst, config.flits, *state)
    if code:
        _python_error(config, cyc, src, dst, code, state)
    return CompiledNetworkRun(mesh, state)


def _state(mesh: MeshNoC, cap: np.ndarray, packets: int, trees: Any = None) -> nk.NocState:
    c = mesh.config
    return nk.new_state(down=mesh._down, up=mesh._up, eject_node=mesh._eject_node, route=mesh.routes.route,
                        stride=mesh.routes.stride, nodes=mesh.nodes, host=-1 if mesh.host is None else mesh.host,
                        router_delay=c.router_delay, link_delay=c.link_delay, fifo_depth=c.fifo_depth,
                        eject_depth=c.eject_depth or (1 << 60), watchdog=c.watchdog_cycles, flits=c.flits,
                        queue_cap=cap, packets=packets, trees=trees)


def _python_error(config: NocConfig, cyc: np.ndarray, src: np.ndarray, dst: np.ndarray, code: int,
                  state: nk.NocState) -> None:
    """Re-run on the Python model, which raises the detailed error; if it does not, report the kernel's."""
    env = Environment()
    noc = MeshNoC(env, config)

    def feed():  # noqa: ANN202 - a process generator
        i, n = 0, len(cyc)
        while i < n:
            c = int(cyc[i])
            if c > env.now:
                yield env.timeout(c - env.now)
            while i < n and cyc[i] == c:
                noc.inject(int(src[i]), int(dst[i]))
                i += 1

    env.process(feed(), name="trace")
    env.run()
    noc.check_conservation()
    raise SimulationError(f"the compiled network stopped with error {code} (detail {int(state.sc[nk.S_ERRA])}) "
                          "where the Python model did not", hint="a bug of the compiled network: use engine='python'")
