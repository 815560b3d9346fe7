"""The spiking graph IR: types, op definitions, graphs and (see ``printer``/``parser``) its text form."""

from snnc.ir.graph import Graph, Operation, Value, attrs_equal
from snnc.ir.ops import OPS, OpDef, register_op
from snnc.ir.types import Kind, ValueType

__all__ = ["OPS", "Graph", "Kind", "OpDef", "Operation", "Value", "ValueType", "attrs_equal", "register_op"]
