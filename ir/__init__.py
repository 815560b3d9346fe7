"""The spiking graph IR: types, op definitions, graphs and (see ``printer``/``parser``) its text form."""

from snnc.ir.graph import Graph, Operation, Value, attrs_equal
from snnc.ir.neurons import NeuronTraits, Refusal, emits_single_spikes, is_neuron, neuron_ops, neuron_traits
from snnc.ir.ops import OPS, OpDef, lookup_op, register_op
from snnc.ir.types import Kind, ValueType

__all__ = ["OPS", "Graph", "Kind", "NeuronTraits", "OpDef", "Operation", "Refusal", "Value", "ValueType", "attrs_equal",
           "emits_single_spikes", "is_neuron", "lookup_op", "neuron_ops", "neuron_traits", "register_op"]
