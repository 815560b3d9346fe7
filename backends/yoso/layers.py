"""Which parts of a graph run on the YOSO mesh, and which on the host.

A *layer* is one synapse op (``snn.dense`` or ``snn.conv2d``; or ``snn.add`` of dense synapses, a merged layer
whose inputs are its sources' one after the other) whose result feeds one spiking neuron op
(``snn.relpsp``, ``snn.if``, ``snn.lif``, ``snn.cuba_lif``); its input is a spike train produced by an encoder
(the host sends it) or by another layer's neuron op, possibly through ``snn.flatten`` / ``snn.reshape`` (which keep
the row-major flat index of every neuron, so they cost nothing on the mesh). Everything else
(encoders, decoders, ``snn.time_flatten`` and the dense of a spatio-temporal decoder) runs on the host,
and so does a neuron op that emits no spikes (``snn.li``, a potential trace: PEs send spikes only) with the
synapse that feeds it: a readout layer runs on the host, fed by the spikes of the layer before it.

Neuron ``j`` of a layer is the row-major flat index of its neuron op's features: ``j`` for a dense
layer, ``(c * Ho + y) * Wo + x`` for a conv layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from snnc.errors import DesignRuleError
from snnc.ir import Graph, Operation, Value, emits_single_spikes, is_neuron, neuron_traits
from snnc.passes.canonicalize import SHAPE_OPS

__all__ = ["ENCODER_OPS", "HOST", "SYNAPSE_OPS", "HostSource", "Layer",
           "MERGE_OPS", "Network", "find_network", "runs_on_pes"]

SYNAPSE_OPS = frozenset({"snn.dense", "snn.conv2d"})
ENCODER_OPS = frozenset({"snn.ttfs_encode", "snn.rate_encode"})
#: the destination id of the host in flows and routes.
HOST = -1


#: ops that sum the currents of several synapses (a skip or residual connection); YOSO does not map them yet.
MERGE_OPS = frozenset({"snn.add"})


def runs_on_pes(opname: str) -> bool:
    """Whether a neuron op runs on the PEs: a neuron that emits spikes. One that emits a potential trace
    (``snn.li``) runs on the host with its synapse (the PEs' only output is spike packets)."""
    return is_neuron(opname) and neuron_traits(opname).emits == "spikes"


@dataclass
class Layer:
    """One PE-mapped layer: a synapse op feeding a neuron op.

    Attributes:
        index: position among the graph's layers (graph order).
        synapse, neuron: the two ops.
        source: the spike value the synapse reads (after skipping shape ops backwards).
        source_layer: index of the layer producing ``source``; None when an encoder (the host) produces it.
        source_opname: the op producing ``source`` (an encoder or a neuron op).
        n: neurons (size of the neuron op's features).
        m: weights per neuron (fan-in of one neuron: ``n_in`` for dense, ``C_in/group * kh * kw`` for conv).
        inputs: size of the source spike vector (its flat index space).
        consumers: indices of the layers that read this layer's spikes.
        to_host: whether the host reads them (a decoder, a host op, or a graph output).
        recurrent: the neuron has a ``recurrent_weight``: its own spikes are inputs too (one step later).
        synapses, merges: a merged layer (skip connection): the dense synapses whose currents ``snn.add`` ops sum,
            in operand order (``synapse`` is the first), and those ops; one synapse and no merge otherwise.
        sources: per synapse, the spike value it reads and the layer making it (None: the host); ``source`` and
            ``source_layer`` are the first. ``m`` and ``inputs`` add up over them.
    """

    index: int
    synapse: Operation
    neuron: Operation
    source: Value
    source_layer: int | None
    n: int
    m: int
    inputs: int
    source_opname: str = ""
    consumers: list[int] = field(default_factory=list)
    to_host: bool = False
    recurrent: bool = False
    synapses: list[Operation] = field(default_factory=list)
    merges: list[Operation] = field(default_factory=list)
    sources: list[tuple[Value, int | None]] = field(default_factory=list)
    single_spike_inputs: bool = False

    def __post_init__(self) -> None:
        if not self.synapses:
            self.synapses = [self.synapse]
        if not self.sources:
            self.sources = [(self.source, self.source_layer)]
            self.single_spike_inputs = emits_single_spikes(self.source_opname)

    @property
    def merged(self) -> bool:
        """Whether the layer sums several synapses (``snn.add``: a skip or residual connection)."""
        return len(self.synapses) > 1

    @property
    def ops(self) -> list[Operation]:
        """Every op the layer's PEs run: its synapses, merges and neuron."""
        return [*self.synapses, *self.merges, self.neuron]

    def input_base(self, value: str, layer: int | None) -> int:
        """The input index of neuron 0 of the spike value ``value`` (made by ``layer``, None: the host): a merged
        layer's inputs are its sources' in synapse order, then (recurrent) its own neurons."""
        if self.recurrent and layer == self.index:
            return self.recurrent_base
        base = 0
        for v, _ in self.sources:
            if v.name == value:
                return base
            base += v.type.size
        raise KeyError(value)

    def bias(self) -> np.ndarray | None:
        """The per-neuron bias (a merged layer: the sum of its synapses' biases), None if none has one."""
        biases = [syn.attrs["bias"] for syn in self.synapses if syn.attrs.get("bias") is not None]
        if not biases:
            return None
        if len(biases) == 1:
            return biases[0]
        return np.sum([b.astype(np.int64) for b in biases], axis=0).astype(biases[0].dtype)

    @property
    def recurrent_base(self) -> int:
        """The input index of the layer's own neuron 0 (a recurrent layer's inputs are its source's, then its
        own ``n`` neurons, whose spikes of step ``t - 1`` it adds at step ``t``)."""
        return self.inputs - self.n if self.recurrent else self.inputs

    def weight_matrix(self) -> np.ndarray:
        """Dense layers: ``[n, m]``, the synapse's weights (a merged layer: each synapse's, in order), then the
        recurrent weights (``recurrent_weight[i, j]``
        weighs neuron ``j``'s spike into neuron ``i``: input ``recurrent_base + j``)."""
        w = self.synapse.attrs["weight"]
        parts = [syn.attrs["weight"] for syn in self.synapses]
        if self.recurrent:
            parts.append(self.neuron.attrs["recurrent_weight"].astype(w.dtype))
        return w if len(parts) == 1 else np.concatenate(parts, axis=1)

    @property
    def name(self) -> str:
        """The layer's name: its neuron op's result (``%h1``)."""
        return self.neuron.result.name

    @property
    def kind(self) -> str:
        """``dense`` or ``conv2d``."""
        return self.synapse.opname.removeprefix("snn.")

    @property
    def out_channels(self) -> int:
        """Conv: output channels; dense: neurons (one 'channel' per neuron)."""
        return self.synapse.attrs["weight"].shape[0]

    @property
    def positions(self) -> int:
        """Conv: output positions per channel (``Ho * Wo``); dense: 1."""
        return self.n // self.out_channels

    @property
    def single_spike_source(self) -> bool:
        """Whether every input neuron spikes at most once per image (a recurrent layer's own neurons may not)."""
        return self.single_spike_inputs and not self.recurrent


@dataclass
class HostSource:
    """An encoder whose spikes the host injects (into PE (0, 0) from the west)."""

    op: Operation
    consumers: list[int] = field(default_factory=list)

    @property
    def value(self) -> Value:
        return self.op.result

    @property
    def size(self) -> int:
        return self.op.result.type.size


@dataclass
class Network:
    """The layers of a graph and the host's encoders, in graph order."""

    layers: list[Layer]
    host_sources: list[HostSource]


def find_network(graph: Graph) -> Network:
    """The PE-mapped layers of ``graph`` and the encoders the host runs.

    Raises:
        DesignRuleError: a neuron op that YOSO cannot map (fed by something other than a dense or conv2d
            synapse on spikes, a dense on multi-axis features, a synapse chain, a sum of synapses), naming the op.

    A recurrent neuron (``recurrent_weight``) makes a recurrent layer: its ``m`` and ``inputs`` count its own
    neurons after its source's, and it is among its own consumers (its PEs receive its spikes).
    """
    producers = {id(op.result): op for op in graph.ops}
    users: dict[int, list[Operation]] = {}
    for op in graph.ops:
        for v in op.operands:
            users.setdefault(id(v), []).append(op)

    layers: list[Layer] = []
    host: dict[int, HostSource] = {}
    by_neuron: dict[int, int] = {}
    for op in graph.ops:
        if not runs_on_pes(op.opname):
            continue
        where = f"%{op.result.name} = {op.opname}"
        syns, merges = merged_synapses(op, producers, users, where)
        reads = [_synapse_source(syn, producers, users, where) for syn in syns]
        if len(syns) > 1:
            names = [v.name for v, _ in reads]
            twice = sorted({x for x in names if names.count(x) > 1})
            if twice:
                raise DesignRuleError(f"skip connections on YOSO: %{twice[0]} feeds two synapses of the merge; a PE "
                                      "maps each spike value it hears to one range of its inputs", where=where,
                                      hint="sum the two synapses' weights into one snn.dense")
        sources: list[tuple[Value, int | None]] = []
        for source, root in reads:
            if is_neuron(root.opname):
                sources.append((source, by_neuron[id(root)]))
            else:
                host.setdefault(id(root), HostSource(root))
                sources.append((source, None))
        m = 0
        for syn in syns:
            w = syn.attrs["weight"]
            m += w.shape[1] if syn.opname == "snn.dense" else math.prod(w.shape[1:])
        syn = syns[0]
        recurrent = op.attrs.get("recurrent_weight") is not None
        if recurrent and syn.opname != "snn.dense":
            raise DesignRuleError(f"recurrence on YOSO: not yet for a {syn.opname} layer", where=where,
                                  hint="a recurrent YOSO layer is one snn.dense on spikes and its neuron op")
        n = op.result.type.size
        inputs = sum(v.type.size for v, _ in sources)
        layer = Layer(index=len(layers), synapse=syn, neuron=op, source=sources[0][0], source_layer=sources[0][1],
                      n=n, m=m + (n if recurrent else 0), inputs=inputs + (n if recurrent else 0),
                      source_opname=reads[0][1].opname, recurrent=recurrent, synapses=syns, merges=merges,
                      sources=sources, single_spike_inputs=len(syns) == 1 and emits_single_spikes(reads[0][1].opname))
        by_neuron[id(op)] = layer.index
        layers.append(layer)

    # who reads each layer's spikes: other layers, or the host
    synapse_layer = {id(syn): layer.index for layer in layers for syn in layer.synapses}
    outputs = {id(v) for v in graph.outputs}
    for layer in layers:
        _collect_consumers(layer.neuron.result, users, synapse_layer, outputs, layer)
        if layer.recurrent and layer.index not in layer.consumers:
            layer.consumers.append(layer.index)  # its PEs receive their own layer's spikes (one step later)
    for src in host.values():
        src.consumers = [layer.index for layer in layers if any(v is src.value for v, _ in layer.sources)]
    return Network(layers, list(host.values()))


def merged_synapses(neuron: Operation, producers: dict[int, Operation], users: dict[int, list[Operation]],
                    where: str) -> tuple[list[Operation], list[Operation]]:
    """The synapses whose currents the neuron sums (one, or the leaves of a tree of ``snn.add``), in operand order,
    and the merge ops. Each synapse and each merge must feed nothing else (a PE keeps the sums).

    Raises:
        DesignRuleError: a current that is not a dense or conv2d synapse (or a sum of them), a synapse or merge
            read by another op too, a merge of conv synapses.
    """
    syns: list[Operation] = []
    merges: list[Operation] = []

    def visit(value: Value) -> None:
        op = producers.get(id(value))
        if op is not None and op.opname in MERGE_OPS:
            _single_user(op, users, where)
            merges.append(op)
            for v in op.operands:
                visit(v)
            return
        if op is None or op.opname not in SYNAPSE_OPS:
            got = "a graph input" if op is None else f"%{op.result.name} = {op.opname}"
            hint = ("run the quantize pass first: it lowers snn.avgpool2d to a depthwise snn.conv2d"
                    if op is not None and op.opname == "snn.avgpool2d" else
                    "on YOSO a neuron layer is one snn.dense or snn.conv2d on spikes (or a sum of dense synapses, "
                    "snn.add) followed by the neuron op")
            raise DesignRuleError(f"the neuron op is fed by {got}, not by a dense or conv2d synapse", where=where,
                                  hint=hint)
        _single_user(op, users, where)
        syns.append(op)

    visit(neuron.operands[0])
    if merges and any(syn.opname != "snn.dense" for syn in syns):
        conv = next(syn for syn in syns if syn.opname != "snn.dense")
        raise DesignRuleError(f"skip connections on YOSO: not yet for a merge of {conv.opname} synapses "
                              f"(%{conv.result.name})", where=where,
                              hint="on YOSO a merged layer sums snn.dense synapses on 1-D spikes (docs/yoso.md)")
    return syns, merges


def _single_user(op: Operation, users: dict[int, list[Operation]], where: str) -> None:
    if len(users.get(id(op.result), [])) != 1:
        what = "merge" if op.opname in MERGE_OPS else "synapse"
        raise DesignRuleError(f"the {what} %{op.result.name} feeds more than one op; YOSO keeps a synapse's "
                              "sums inside the PE of its neurons", where=where,
                              hint="give each neuron op its own synapse")


def _synapse_source(syn: Operation, producers: dict[int, Operation], users: dict[int, list[Operation]],
                    where: str) -> tuple[Value, Operation]:
    """The spike value a synapse reads (shape ops skipped) and the op that makes it (an encoder or a PE neuron)."""
    source = syn.operands[0]
    root = producers.get(id(source))
    while root is not None and root.opname in SHAPE_OPS:
        source = root.operands[0]
        root = producers.get(id(source))
    if root is None or not (root.opname in ENCODER_OPS or runs_on_pes(root.opname)):
        got = "a graph input" if root is None else f"%{root.result.name} = {root.opname}"
        raise DesignRuleError(f"the synapse %{syn.result.name} reads {got}; on YOSO a synapse reads spikes "
                              "from an encoder or a neuron layer", where=where,
                              hint="snnc compile's fold-pool pass merges an average pool of non-overlapping "
                                   "windows into the conv or dense after it; it leaves overlapping or padded "
                                   "pools, dilated convs and padding over rows the pool drops (docs/yoso.md, "
                                   "'Folding average pools')")
    if syn.opname == "snn.dense" and len(syn.operands[0].type.features) != 1:
        raise DesignRuleError(f"the dense %{syn.result.name} works on features "
                              f"{list(syn.operands[0].type.features)}; YOSO maps dense layers on 1-D inputs",
                              where=where, hint="flatten the input first")
    return source, root


def _collect_consumers(value: Value, users: dict[int, list[Operation]], synapse_layer: dict[int, int],
                       outputs: set[int], layer: Layer) -> None:
    if id(value) in outputs:
        layer.to_host = True
    for user in users.get(id(value), []):
        if id(user) in synapse_layer:
            if synapse_layer[id(user)] not in layer.consumers:
                layer.consumers.append(synapse_layer[id(user)])
        elif user.opname in SHAPE_OPS:
            _collect_consumers(user.result, users, synapse_layer, outputs, layer)
        else:
            layer.to_host = True

