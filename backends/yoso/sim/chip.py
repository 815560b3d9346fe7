"""The YOSO chip running a deployment: PE cores on the mesh network, the host, and the time-step rule.

:class:`Chip` assembles a deployment read by :func:`~snnc.backends.yoso.load_deployment` into
:class:`~snnc.backends.yoso.sim.pe.PECore` objects on a network model
(:class:`~snnc.backends.yoso.sim.network.NetworkModel`, by default the
:class:`~snnc.backends.yoso.sim.noc.MeshNoC` with the host link west of PE (0, 0)), and
:meth:`Chip.run_image` runs one image. The network forwards every packet by the deployment's own routing
tables (``routing.json``), checked when the chip is built: each key's table path from its source must
reach exactly its destinations along a tree (:func:`~snnc.backends.yoso.routing.check_tables`).
:class:`HostProgram` runs the host's ops (encoders before, decoders after) with the reference
executor's float kernels, as the integer-mode reference executor does, so the scores are bit-identical.

Time-step rule (``docs/simulator.md``): a **global barrier** ends every step. Step ``t`` starts at cycle
``s_t``; then

1. every ReL-PSP PE updates its live neurons (``V <- V + K[t-1]``, fire) and sends the spikes of step
   ``t`` as they are found; every PE with a bias adds it (one operation per neuron); the host injects the
   encoders' spikes of step ``t``, block by block, into the host link;
2. each PE adds every spike it receives into its accumulated weight (``K[t]``, or the IF input ``I[t]``);
3. an IF PE updates once every source that feeds it has sent its *end-of-step* packet for ``t`` (packet
   type 1; a source sends one after its step-``t`` spikes only when its multicast key reaches an IF PE)
   and the core has processed everything queued before it; it then sends its own spikes and, if needed,
   its end-of-step packet (so the IF layers of one step run in order, as SPEC requires);
4. the step ends when the network is empty and every core is idle (``e_t``); the done signal reaches
   the host and the next step's start reaches every PE ``B`` cycles later: ``s_{t+1} = e_t + B``, with
   ``B = barrier_cycles`` (default ``2 * (cols + rows - 1) * max(1, link_delay)``: a reduce-and-broadcast
   tree across the mesh and the host link).

Latency of an image = ``e_{T-1} + B`` (the host learns that the last step is done); cycle 0 is the start
of step 0, when every PE begins clearing its state SRAMs (one word per cycle).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snnc.backends.reference.integer import SEMANTICS
from snnc.backends.reference.kernels import KERNELS, KernelContext, SpikeTrain
from snnc.backends.yoso.deploy import Deployment
from snnc.backends.yoso.packet import END_OF_STEP, SPIKE
from snnc.backends.yoso.routing import MeshRoutes, Tables, check_tables, deployment_tables
from snnc.backends.yoso.sim.events import Environment, SimulationError
from snnc.backends.yoso.sim.network import NetworkFactory, NetworkModel, NetworkStats
from snnc.backends.yoso.sim.noc import MeshNoC, NocConfig
from snnc.backends.yoso.sim.pe import COUNTERS, LayerGroup, PECore
from snnc.errors import SnncError
from snnc.ir import Graph, Operation
from snnc.ir.parser import parse_graph

#: the destination id of the host in ``routing.json`` keys.
HOST_DEST = -1


@dataclass
class KeyRoute:
    """One multicast key: who sends it, which neurons, where it goes."""

    key: int
    source: int | None  #: the sending PE id, None for the host
    value: str
    lo: int
    hi: int
    dests: list[int]  #: PE ids, -1 for the host
    nodes: tuple[int, ...]  #: the destinations as network node ids
    eos: bool = False  #: whether the key sends end-of-step packets (it reaches an IF PE)


@dataclass
class ImageRun:
    """What one image did on the chip (raw; :mod:`.simulate` turns it into a report).

    Attributes:
        cycles: latency in cycles (``e_{T-1} + B``).
        step_end: ``e_t`` of every step.
        spikes: layer name -> bool ``[T, n]``, the spikes the PEs fired.
        host_spikes: layer name -> bool ``[T, n]`` for the layers the host reads, from the packets it got.
        counters: chip totals of the PE counters plus network counters.
        pe_counters: per PE id, its counters.
        link_flits: ``(from node, to node or 'host', flits)`` per used network link (host link included).
        packets: ``spike``, ``end_of_step``, ``host_in``, ``host_out`` packet counts.
    """

    cycles: int
    step_end: list[int]
    spikes: dict[str, np.ndarray]
    host_spikes: dict[str, np.ndarray]
    counters: dict[str, int]
    pe_counters: list[dict[str, int]]
    link_flits: list[tuple[int, int | str, int]]
    packets: dict[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ host
class HostProgram:
    """The host's share of the graph: encoders and other ops before the chip, decoders after.

    Runs ``model.ir``'s host ops (``program.json`` ``host.ops``) with the reference float kernels
    (:data:`snnc.backends.reference.kernels.KERNELS`), on a batch.

    Args:
        graph: the deployment's final IR (``model.ir``).
        program: ``program.json``.
    """

    def __init__(self, graph: Graph, program: dict[str, Any]) -> None:
        self.graph = graph
        self.time_steps = graph.time_steps
        host = {op["result"] for op in program["host"]["ops"]}
        chip_values: set[str] = set()
        self.pre: list[Operation] = []
        self.post: list[Operation] = []
        for op in graph.ops:
            on_chip = op.result.name not in host
            if on_chip or any(v.name in chip_values for v in op.operands):
                chip_values.add(op.result.name)
            if on_chip:
                continue
            (self.post if op.result.name in chip_values else self.pre).append(op)
        for op in self.pre + self.post:
            if op.opname not in KERNELS:
                raise SimulationError(f"the host has no kernel for {op.opname}", where=f"%{op.result.name}")
        self.ctx = KernelContext(self.time_steps)

    def _run(self, ops: list[Operation], env: dict[str, Any]) -> None:
        for op in ops:
            try:
                env[op.result.name] = KERNELS[op.opname](self.ctx, op, *[env[v.name] for v in op.operands])
            except SnncError:
                raise
            except Exception as err:  # noqa: BLE001 - name the host op that failed
                raise SimulationError(f"host op failed: {type(err).__name__}: {err}",
                                      where=f"%{op.result.name} = {op.opname}") from err

    def encode(self, x: np.ndarray) -> dict[str, Any]:
        """Run the ops before the chip on a batch ``x [B, *features]``; returns the environment."""
        env: dict[str, Any] = {self.graph.inputs[0].name: np.asarray(x, np.float32)}
        self._run(self.pre, env)
        return env

    def decode(self, env: dict[str, Any], layers: dict[str, np.ndarray]) -> np.ndarray:
        """Run the ops after the chip, given every layer's spikes (``[T, B, *features]`` bool);
        returns the scores ``[B, N]`` float32 (``env`` keeps every value)."""
        for name, spikes in layers.items():
            env[name] = SpikeTrain.from_dense(spikes)
        self._run(self.post, env)
        out = self.graph.outputs[0]
        scores = env[out.name]
        if isinstance(scores, SpikeTrain):
            raise SimulationError("the graph's first output is a spike train, not scores", where=f"%{out.name}")
        return np.asarray(scores, np.float32).reshape(scores.shape[0], -1)


# ------------------------------------------------------------------------------------------ chip
class Chip:
    """A deployment on the chip model: PE cores, the mesh network and the host.

    Args:
        dep: the deployment (:func:`~snnc.backends.yoso.load_deployment`).
        barrier_cycles: ``B``, cycles from the end of a step to the start of the next (default: the
            reduce-and-broadcast tree, see the module docstring).
        eject_depth: packets a PE's spike-address queue holds before it back-pressures the network
            (default: the spike-address SRAM's words).
        watchdog_cycles: the network's no-progress watchdog.
        network: builds the network model (:data:`~snnc.backends.yoso.sim.network.NetworkFactory`,
            default :class:`~snnc.backends.yoso.sim.noc.MeshNoC`).

    Attributes:
        tables: the deployment's routing tables (router ``(x, y)`` -> key -> output ports), as the network
            forwards by them; ``routes`` the checked per-key trees as the network's arrays.

    Raises:
        SimulationError: a deployment of another integer semantics, or one the chip cannot run.
        DeploymentError: routing tables that do not route every key from its source to exactly its
            destinations along a tree (a missing entry, a loop, a dropped or extra destination; the
            message names the router and the key).
    """

    def __init__(self, dep: Deployment, *, barrier_cycles: int | None = None, eject_depth: int | None = None,
                 watchdog_cycles: int = 100_000, network: NetworkFactory = MeshNoC) -> None:
        program = dep.program
        if program.get("semantics") != SEMANTICS:
            raise SimulationError(f"the deployment uses integer semantics {program.get('semantics')!r}; this "
                                  f"simulator implements {SEMANTICS}", where=str(dep.path / "program.json"),
                                  hint="recompile the model with this snnc")
        self.dep = dep
        hw = self.hw = dep.hardware
        self.time_steps = int(program["time_steps"])
        cols, rows = hw.mesh.cols, hw.mesh.rows
        self.host_node = cols * rows
        depth = eject_depth if eject_depth is not None else hw.sram["spike_addr"].words
        self.noc_config = NocConfig.from_hardware(hw, eject_depth=depth, watchdog_cycles=watchdog_cycles)
        self._eject_depth = depth
        self.barrier = (barrier_cycles if barrier_cycles is not None
                        else 2 * (cols + rows - 1) * max(1, hw.noc.link_delay_cycles))
        if self.barrier < 0:
            raise SimulationError(f"barrier_cycles must be >= 0, got {self.barrier}")
        self.pes = [PECore(im, hw, int(im.config["xy"][0]) + cols * int(im.config["xy"][1])) for im in dep.pes]
        self.pe_at_node: dict[int, PECore] = {pe.node: pe for pe in self.pes}
        self.layers = program["layers"]
        self.layer_size = {ly["name"]: int(ly["n"]) for ly in self.layers}
        self.layer_features = {ly["name"]: tuple(ly["features"]) for ly in self.layers}
        self.to_host = [ly["name"] for ly in self.layers if ly["to_host"]]
        # PEs that update once every input of a step is in wait for end-of-step packets (IF)
        if_pes = {pe.id for pe in self.pes if pe.spec.schedule == "step_end"}
        self.keys: dict[int, KeyRoute] = {}
        for k in dep.routing["keys"]:
            dests = [int(d) for d in k["dests"]]
            nodes = tuple(self.host_node if d == HOST_DEST else self.pes[d].node for d in dests)
            source = None if k["source"] == "host" else int(k["source"])
            self.keys[int(k["key"])] = KeyRoute(int(k["key"]), source, k["value"], int(k["neurons"][0]),
                                                int(k["neurons"][1]), dests, nodes, eos=bool(if_pes & set(dests)))
        self.host_keys = sorted(k.key for k in self.keys.values() if k.source is None)
        for pe in self.pes:  # recurrence: the keys of a PE's own layer that reach it carry spikes for the next step
            pe.recurrent_keys = frozenset(key for key in pe.input_base if self.keys[key].source is not None
                                          and self.pes[self.keys[key].source].layer == pe.layer)
        self.groups = []
        for ly in self.layers:
            members = [self.pes[k] for k in ly["pes"]]
            ids = set(ly["pes"])
            # dense layers: every key reaching one PE of the layer reaches all (the flush can be layer-wide)
            shared = ly["synapse"] == "snn.dense" and all(
                ids <= set(k.dests) or not ids & set(k.dests) for k in self.keys.values())
            self.groups.append(LayerGroup(members, shared))
        for g in self.groups:
            g.sends_eos = any(self.keys[pe.key].eos for pe in g.pes)
        #: layers that update at the start of a step (ReL-PSP), and PEs that update at its end (IF)
        self.start_groups = [g for g in self.groups if g.spec.schedule == "step_start"]
        self.if_pes = [pe for pe in self.pes if pe.spec.schedule == "step_end"]
        self.host = HostProgram(parse_graph(dep.model_ir, source=str(dep.path / "model.ir")), program)
        self.flits = hw.noc.flits_per_spike
        self.network = network
        self.tables: Tables = deployment_tables(dep)
        trees = check_tables(self.tables, ((k.key, self._xy(k.source), [self._xy(d) for d in k.dests])
                                           for k in self.keys.values()), cols, rows)
        # one packet per spike along the key's tree; with more than one flit per packet the source sends one
        # unicast per destination (docs/noc.md), each along its branch of the key's tree
        self.routes = MeshRoutes(cols, rows, True, trees, branches=self.flits > 1)

    def _xy(self, pe: int | None) -> tuple[int, int] | None:
        """The router of a PE id (None or -1: the host)."""
        if pe is None or pe == HOST_DEST:
            return None
        return self.node_xy(self.pes[pe].node)

    # ------------------------------------------------------------------------------------ one image
    def run_image(self, inputs: dict[str, np.ndarray]) -> ImageRun:
        """Run one image.

        Args:
            inputs: encoder value name -> bool ``[T, size]``: the host's input spikes.

        Returns:
            An :class:`ImageRun`.

        Raises:
            SimulationError: a packet lost or duplicated, a deadlock, a stuck FIFO, or a PE that never got
                the end-of-step packets it waits for (the message says which).
        """
        T = self.time_steps
        env = self.env = Environment()
        noc: NetworkModel = self.network(env, self.noc_config, self._deliver, self.routes)
        self.noc = noc
        self._emit: dict[int, list[tuple[int, int, int, int]]] = {}
        self._outstanding: dict[int, deque[int]] = {pe.node: deque() for pe in self.pes}
        self._drain_at: dict[int, int] = {}
        self.spikes = {name: np.zeros((T, n), bool) for name, n in self.layer_size.items()}
        self.host_rx = {name: np.zeros((T, self.layer_size[name]), bool) for name in self.to_host}
        self.packets = {"spike": 0, "end_of_step": 0, "host_in": 0, "host_out": 0}
        self._host_input = self._host_schedule(inputs)
        for pe in self.pes:
            pe.reset()
            pe.clear(0)
        step_end: list[int] = []
        start = 0
        for t in range(T):
            self.step = t
            if start == env.now:
                self._start_step(t)
            else:
                env.call_later(start - env.now, lambda _ev, t=t: self._start_step(t))
            env.run()
            self._check_step(t)
            end = max([env.now, *(pe.done for pe in self.pes), *(pe.free for pe in self.pes)])
            for pe in self.pes:
                self._drain(pe, end)
            step_end.append(end)
            start = end + self.barrier
        noc.check_conservation()
        stats = noc.statistics()
        for name in self.to_host:
            if not np.array_equal(self.host_rx[name], self.spikes[name]):
                raise SimulationError(f"the host received other spikes of %{name} than its PEs fired",
                                      hint="a packet was lost, duplicated or misrouted")
        return ImageRun(cycles=start, step_end=step_end, spikes=self.spikes, host_spikes=self.host_rx,
                        counters=self._totals(stats), pe_counters=[dict(pe.counters) for pe in self.pes],
                        link_flits=list(stats.links), packets=dict(self.packets))

    def _host_schedule(self, inputs: dict[str, np.ndarray]) -> list[list[tuple[int, np.ndarray]]]:
        """Per step, per host key in order: (key, neuron indices within the block) that spike."""
        T = self.time_steps
        per_step: list[list[tuple[int, np.ndarray]]] = [[] for _ in range(T)]
        for key in self.host_keys:
            k = self.keys[key]
            block = inputs.get(k.value)
            if block is None:
                raise SimulationError(f"no input spikes for the host value %{k.value}")
            block = np.asarray(block).reshape(T, -1)[:, k.lo:k.hi]
            steps, neurons = np.nonzero(block)
            split = np.searchsorted(steps, np.arange(T + 1))
            for t in range(T):
                per_step[t].append((key, neurons[split[t]:split[t + 1]]))
        return per_step

    # ------------------------------------------------------------------------------------ steps
    def _start_step(self, t: int) -> None:
        now = self.env.now
        for group in self.start_groups:
            fired, times, ends = group.update(now, t)
            if fired.size:
                self.spikes[group.name][t, fired] = True
                owner = np.searchsorted(group.bounds, fired, side="right") - 1
                pes = group.pes
                for g, k, when in zip(fired.tolist(), owner.tolist(), times.tolist(), strict=True):
                    pe = pes[k]
                    if self.keys[pe.key].dests:
                        self._queue(when, (pe.key, g - pe.lo, t, SPIKE))
            if group.sends_eos:
                for pe, end in zip(group.pes, ends, strict=True):
                    if self.keys[pe.key].eos:
                        self._queue(end, (pe.key, 0, t, END_OF_STEP))
            if group.has_bias:
                for pe in group.pes:
                    pe.bias_pass(now)
        for pe in self.if_pes:
            pe.bias_pass(now)
        host = self.host_node
        for key, neurons in self._host_input[t]:
            k = self.keys[key]
            for j in neurons.tolist():
                self._inject(host, k, (SPIKE, key, j, t))
            self.packets["host_in"] += len(neurons)
            if k.eos:
                self._inject(host, k, (END_OF_STEP, key, 0, t))
                self.packets["host_in"] += 1

    def _fire(self, pe: PECore, t: int, fired: np.ndarray, times: np.ndarray, end: int) -> None:
        """Record an IF PE's spikes of step ``t`` and queue their packets (and its end-of-step packet)."""
        k = self.keys[pe.key]
        if fired.size:
            self.spikes[pe.layer_name][t, pe.lo + fired] = True
        if not k.dests:
            return
        for j, when in zip(fired.tolist(), times.tolist(), strict=True):
            self._queue(when, (pe.key, j, t, SPIKE))
        if k.eos:
            self._queue(end, (pe.key, 0, t, END_OF_STEP))

    def _queue(self, when: int, item: tuple[int, int, int, int]) -> None:
        bucket = self._emit.get(when)
        if bucket is None:
            bucket = self._emit[when] = []
            self.env.call_later(when - self.env.now, self._emit_due, value=when)
        bucket.append(item)

    def _emit_due(self, event: Any) -> None:
        for key, j, t, kind in self._emit.pop(event.value):
            k = self.keys[key]
            self._inject(self.pes[k.source].node, k, (kind, key, j, t))  # type: ignore[index]

    def _inject(self, src: int, k: KeyRoute, payload: tuple[int, int, int, int]) -> None:
        if payload[0] == SPIKE:
            self.packets["spike"] += 1
        else:
            self.packets["end_of_step"] += 1
        if k.dests and HOST_DEST in k.dests and payload[0] == SPIKE:
            self.packets["host_out"] += 1
        nodes = k.nodes
        if len(nodes) == 1:
            self.noc.inject(src, nodes[0], payload=payload, key=k.key)
        elif self.flits == 1:
            self.noc.inject(src, nodes, payload=payload, key=k.key)
        else:  # multicast needs single-flit packets (docs/noc.md): replicate at the source
            for node in nodes:
                self.noc.inject(src, node, payload=payload, key=k.key)

    def _check_step(self, t: int) -> None:
        stuck = [pe for pe in self.if_pes if pe.updated_step != t]
        if stuck:
            lines = []
            for pe in stuck[:10]:
                lines.append(f"  PE {pe.id} (%{pe.layer_name}) got {pe.eos_seen.get(t, 0)} of "
                             f"{pe.eos_needed} end-of-step packets of step {t}")
            raise SimulationError(f"step {t} cannot end: {len(stuck)} IF PEs are still waiting for their inputs\n"
                                  + "\n".join(lines), where=f"cycle {self.env.now}",
                                  hint="an end-of-step packet was lost; the network and the PEs are idle")

    # ------------------------------------------------------------------------------------ delivery
    def _deliver(self, pid: int, node: int) -> None:
        kind, key, j, t = self.noc.payload[pid]
        if node == self.host_node:
            self.noc.consume(node)  # the host reads its link at once
            if kind == SPIKE:
                k = self.keys[key]
                self.host_rx[k.value][t, k.lo + j] = True
            return
        pe = self.pe_at_node[node]
        now = self.env.now
        if t != self.step:
            raise SimulationError(f"PE {pe.id} got a packet of step {t} during step {self.step}",
                                  where=f"cycle {now}", hint="the step barrier was crossed: a simulator bug")
        if kind == SPIKE:
            index = pe.input_base[key] + j
            if pe.accept is not None and not pe.accept[index]:
                pe.drop()
                self.noc.consume(node)
                return
            if key in pe.recurrent_keys and pe.updated_step < t:
                # a spike of the PE's own layer before the PE's update of step t: its address waits in the queue
                # and the core adds it after the update, into step t + 1's input
                pe.deferred.append(index)
                self.noc.consume(node)
                return
            start = pe.synapse_event(now, index)
        else:
            start, ready = pe.end_of_step(now, key, t)
            if pe.spec.schedule == "step_end" and key not in pe.recurrent_keys and \
                    pe.eos_seen[t] == pe.eos_needed:
                self.env.call_later(ready - now, lambda _ev, pe=pe, t=t: self._if_update(pe, t))
        self._taken(pe, start, now)

    def _if_update(self, pe: PECore, t: int) -> None:
        start, fired, times = pe.update(self.env.now, t)
        self._fire(pe, t, fired, times, pe.free)
        if pe.deferred:  # recurrence: the own layer's spikes that came in before the update, for step t + 1
            now = self.env.now
            for index in pe.deferred:
                pe.synapse_event(now, index)
            pe.deferred = []

    def _taken(self, pe: PECore, start: int, now: int) -> None:
        """The core takes a packet out of its queue at ``start``: the ejection slot frees then. Slots are
        returned lazily (at the next delivery), and on time by an event when the queue is full."""
        out = self._outstanding[pe.node]
        if start <= now and not out:
            self.noc.consume(pe.node)
            return
        out.append(start)
        if out[0] <= now:
            self._drain(pe, now)
        if len(out) >= self._eject_depth and pe.node not in self._drain_at:
            first = out[0]
            self._drain_at[pe.node] = first
            self.env.call_later(first - now, lambda _ev, pe=pe: self._drain_event(pe))

    def _drain_event(self, pe: PECore) -> None:
        self._drain_at.pop(pe.node, None)
        self._drain(pe, self.env.now)
        out = self._outstanding[pe.node]
        if len(out) >= self._eject_depth:
            self._drain_at[pe.node] = out[0]
            self.env.call_later(out[0] - self.env.now, lambda _ev, pe=pe: self._drain_event(pe))

    def _drain(self, pe: PECore, now: int) -> None:
        out = self._outstanding[pe.node]
        n = 0
        while out and out[0] <= now:
            out.popleft()
            n += 1
        if n:
            self.noc.consume(pe.node, n)

    # ------------------------------------------------------------------------------------ statistics
    def _totals(self, stats: NetworkStats) -> dict[str, int]:
        totals = dict.fromkeys(COUNTERS, 0)
        for pe in self.pes:
            for k, v in pe.counters.items():
                totals[k] += v
        totals.update(router_flits=stats.router_flits, link_flits=stats.link_flits,
                      packets_injected=stats.packets, hops=stats.hops)
        return totals

    # ------------------------------------------------------------------------------------ layout
    def node_xy(self, node: int) -> tuple[int, int]:
        """Mesh coordinates of a node; the host is (-1, 0)."""
        if node == self.host_node:
            return (-1, 0)
        return node % self.hw.mesh.cols, node // self.hw.mesh.cols

    def input_spikes(self, env: dict[str, Any], b: int) -> dict[str, np.ndarray]:
        """The host's input spikes of sample ``b`` of an encoded batch: value -> bool ``[T, size]``."""
        out = {}
        for key in self.host_keys:
            value = self.keys[key].value
            if value not in out:
                train = env[value]
                dense = train.dense() if isinstance(train, SpikeTrain) else np.asarray(train) != 0
                out[value] = dense[:, b].reshape(self.time_steps, math.prod(dense.shape[2:]))
        return out
