"""Hypothesis strategies for the fuzz tests and the fuzz campaign (``bench/fuzz_campaign.py``).

Generators of *valid* inputs, built through the public builders so that they are valid by construction:

* :func:`ir_graphs`: random verified :class:`~snnc.ir.Graph` DAGs over every op of :data:`snnc.ir.OPS`
  (random feature shapes, attributes, float / integer weights with extreme values, quoted and unicode
  names, metadata, ``meta`` annotations, several outputs).
* :func:`onnx_models`: random SPEC models from :class:`~snnc.frontend.snn_onnx.SnnModelBuilder`
  (every builder method; returns the model and its input features).

Mutators of those inputs, each a strategy of a function so that hypothesis shrinks the mutation too:

* :func:`text_mutations`: character insert / delete / replace, line swaps and duplicates, truncation,
  number changes, token swaps on an IR text dump.
* :func:`onnx_mutations`: node drops / duplicates / reorders, op types and domains, attributes of the
  wrong type, initializer dims / dtypes / data mismatches, NaN weights, renamed inputs, opsets,
  value infos and functions on a ``ModelProto``; :func:`byte_flips` on its serialized bytes.

Example:
    >>> from hypothesis import given
    >>> @given(ir_graphs())
    ... def test(graph): graph.verify()
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from onnx import TensorProto, helper

from snnc.frontend.snn_onnx import SnnModelBuilder, SnnValue
from snnc.ir import Graph, Kind, Value, ValueType

# ------------------------------------------------------------------------------------------ names, meta
#: value / graph names: mostly bare identifiers, sometimes any text (printed quoted).
names = st.one_of(st.from_regex(r"[A-Za-z_][A-Za-z0-9_.$\-]{0,6}", fullmatch=True), st.text(max_size=6))
_meta_key = st.text(max_size=6)
_meta_scalar = st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=8), st.booleans())
_meta_array = st.sampled_from(["bool", "int8", "int16", "int32", "int64", "float32", "float64"]).flatmap(
    lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=6)))
# arrays sit in dicts, never in lists: Graph.structurally_equal compares lists with `==`
_meta_value = st.recursive(
    st.one_of(st.recursive(_meta_scalar, lambda inner: st.lists(inner, max_size=3), max_leaves=4), _meta_array),
    lambda inner: st.dictionaries(_meta_key, inner, max_size=3), max_leaves=6)
metas = st.dictionaries(_meta_key, _meta_value, max_size=3)
metadata = st.dictionaries(st.text(max_size=10), st.text(max_size=12), max_size=3)

#: float32 values with the edge cases (subnormals, -0.0, the largest finite float32).
_f32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
_f64 = st.floats(allow_nan=False, allow_infinity=False)
_positive_float = st.floats(min_value=0.0, exclude_min=True, allow_infinity=False)
_positive_f32 = st.floats(min_value=0.0, exclude_min=True, width=32, allow_infinity=False)


def _param_array(draw: st.DrawFn, shape: tuple[int, ...], *, positive: bool = False) -> np.ndarray:
    """A weight-like array: float32 mostly, sometimes an integer (quantized) or float64 dtype."""
    dtype = draw(st.sampled_from(["float32"] * 6 + ["int8", "int16", "int32", "float64"]))
    if dtype == "float32":
        elements = _positive_f32 if positive else _f32
    elif dtype == "float64":
        elements = st.floats(min_value=0.0, exclude_min=True, allow_infinity=False) if positive else _f64
    else:
        info = np.iinfo(dtype)
        elements = st.integers(1 if positive else int(info.min), int(info.max))
    return draw(hnp.arrays(dtype, shape, elements=elements))


def _split(draw: st.DrawFn, size: int) -> list[int]:
    """A feature shape with ``size`` elements (1 to 3 dims, no -1)."""
    divisors = [d for d in range(1, size + 1) if size % d == 0]
    a = draw(st.sampled_from(divisors))
    shape = [a, size // a]
    if draw(st.booleans()):
        rest = shape.pop()
        b = draw(st.sampled_from([d for d in range(1, rest + 1) if rest % d == 0]))
        shape += [b, rest // b]
    return shape if draw(st.booleans()) else [size]


def _conv_attrs(draw: st.DrawFn, features: tuple[int, ...]) -> dict:
    c, h, w = features
    group = draw(st.sampled_from([g for g in range(1, c + 1) if c % g == 0]))
    c_out = group * draw(st.integers(1, 2))
    pads = [draw(st.integers(0, 1)) for _ in range(4)]
    strides = [draw(st.integers(1, 2)) for _ in range(2)]
    dilations = [draw(st.integers(1, 2)) for _ in range(2)]
    kh = draw(st.integers(1, 3))
    kw = draw(st.integers(1, 3))
    # shrink the kernel until it fits the padded input
    while dilations[0] * (kh - 1) + 1 > h + pads[0] + pads[2]:
        kh, dilations[0] = max(1, kh - 1), 1
    while dilations[1] * (kw - 1) + 1 > w + pads[1] + pads[3]:
        kw, dilations[1] = max(1, kw - 1), 1
    attrs = {"weight": _param_array(draw, (c_out, c // group, kh, kw)), "strides": strides, "pads": pads,
             "dilations": dilations, "group": group}
    if draw(st.booleans()):
        attrs["bias"] = _param_array(draw, (c_out,))
    return attrs


def _pool_attrs(draw: st.DrawFn, features: tuple[int, ...]) -> dict:
    _, h, w = features
    kernel = [draw(st.integers(1, max(1, min(3, h)))), draw(st.integers(1, max(1, min(3, w))))]
    pads = [draw(st.integers(0, k - 1)) for k in (kernel[0], kernel[1], kernel[0], kernel[1])]
    return {"kernel": kernel, "strides": [draw(st.integers(1, 2)) for _ in range(2)], "pads": pads,
            "count_include_pad": draw(st.integers(0, 1))}


def _applicable(vt: ValueType) -> list[str]:
    """Ops that take a value of this type as their only operand."""
    ops = ["snn.flatten", "snn.reshape"]
    if vt.features:
        ops.append("snn.dense")
    if vt.kind is Kind.TENSOR:
        ops += ["snn.ttfs_encode", "snn.rate_encode"]
    else:
        ops.append("snn.time_flatten")
        if len(vt.features) == 3:
            ops += ["snn.conv2d", "snn.avgpool2d"]
    if vt.kind is Kind.CURRENT:
        ops += ["snn.relpsp", "snn.if"] * 2
    if vt.kind is Kind.SPIKES:
        ops += ["snn.first_spike_decode", "snn.last_step_decode", "snn.spike_count_decode"]
    return ops


def _attrs(draw: st.DrawFn, opname: str, vt: ValueType, time_steps: int) -> dict:
    f = vt.features
    if opname == "snn.ttfs_encode":
        return {"time_steps": time_steps, "window": draw(st.integers(1, time_steps))}
    if opname == "snn.rate_encode":
        return {"time_steps": time_steps, "threshold": draw(_positive_float)}
    if opname == "snn.dense":
        attrs = {"weight": _param_array(draw, (draw(st.integers(1, 12)), f[-1]))}
        if draw(st.booleans()):
            attrs["bias"] = _param_array(draw, (attrs["weight"].shape[0],))
        return attrs
    if opname == "snn.conv2d":
        return _conv_attrs(draw, f)
    if opname == "snn.avgpool2d":
        return _pool_attrs(draw, f)
    if opname == "snn.reshape":
        return {"shape": _split(draw, vt.size)}
    if opname == "snn.relpsp":
        return {"threshold": draw(_positive_float)}
    if opname == "snn.if":
        shapes = [(), (1,), f] + ([(f[0], 1, 1)] if len(f) == 3 else [])
        shape = draw(st.sampled_from(shapes))
        return {"threshold": _param_array(draw, tuple(shape), positive=True),
                "reset": draw(st.sampled_from(["subtract", "zero"]))}
    return {}


def _name(draw: st.DrawFn, graph: Graph) -> str:
    return graph.fresh_name(draw(names))


@st.composite
def ir_graphs(draw: st.DrawFn, max_ops: int = 7) -> Graph:
    """A random verified graph: an encoded input, then ops on earlier values, several outputs.

    Args:
        max_ops: how many ops after the encoder at most.
    """
    time_steps = draw(st.integers(1, 6))
    graph = Graph(draw(names), time_steps, draw(metadata))
    if draw(st.booleans()):
        features: tuple[int, ...] = (draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    else:
        features = (draw(st.integers(1, 20)),)
    x = graph.add_input(_name(draw, graph), ValueType.tensor(*features))
    values: list[Value] = [x]
    for _ in range(draw(st.integers(1, max_ops + 1))):
        # mostly the newest value, sometimes an older one: the graph becomes a DAG with branches
        back = draw(st.integers(1, len(values)) if draw(st.integers(0, 3)) == 0 else st.just(1))
        operand = values[-back]
        opname = draw(st.sampled_from(_applicable(operand.type)))
        attrs = _attrs(draw, opname, operand.type, time_steps)
        meta = draw(metas) if draw(st.integers(0, 4)) == 0 else None
        values.append(graph.add_op(opname, [operand], attrs, name=_name(draw, graph), meta=meta))
    results = values[1:]
    picked = draw(st.lists(st.sampled_from(range(len(results))), min_size=1, max_size=3, unique=True))
    graph.set_outputs([results[i] for i in sorted(picked)])
    graph.verify()
    return graph


# ------------------------------------------------------------------------------------------ text mutations
@dataclass(frozen=True)
class Mutation:
    """One edit of a text or bytes; ``apply`` is pure."""

    kind: str
    a: int
    b: int = 0
    s: str = ""

    def apply(self, text: str) -> str:
        n = max(len(text), 1)
        i = self.a % n
        if self.kind == "insert":
            return text[:i] + self.s + text[i:]
        if self.kind == "delete":
            return text[:i] + text[i + 1 + self.b % 8:]
        if self.kind == "replace":
            return text[:i] + self.s + text[i + 1:]
        if self.kind == "truncate":
            return text[:i]
        if self.kind in ("swap_lines", "dup_line", "drop_line"):
            lines = text.split("\n")
            j, k = self.a % len(lines), self.b % len(lines)
            if self.kind == "swap_lines":
                lines[j], lines[k] = lines[k], lines[j]
            elif self.kind == "dup_line":
                lines.insert(k, lines[j])
            else:
                del lines[j]
            return "\n".join(lines)
        if self.kind in ("number", "token"):  # replace the a-th number or token by s
            matches = list((_NUMBER if self.kind == "number" else _TOKEN).finditer(text))
            if not matches:
                return text
            m = matches[self.a % len(matches)]
            return text[:m.start()] + self.s + text[m.end():]
        raise ValueError(self.kind)


_NUMBER = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*|[{}()\[\]<>,:=%@\"]")
#: replacement numbers: edge values of every dtype and of the format
_NUMBERS = ["0", "-1", "1", "2", "-0.0", "1e309", "-1e309", "nan", "inf", "1e-46", "3.4028236e38", "127", "128",
            "-129", "32768", "2147483648", "9223372036854775808", "99999999999999999999", "0.5", "00", "1.", "-"]
_TOKENS = ["snn.dense", "snn.if", "snn.conv2d", "snn.unknown", "dense", "dense_resource", "elided", "resources",
           "graph", "return", "meta", "metadata", "time_steps", "weight", "threshold", "spikes<TxBx3>",
           "tensor<Bx3xf32>", "current<TxBx2xi32>", "f16", "i1", "%x", "%0", "@g", "{", "}", "(", ")", "[", "]",
           "<", ">", ",", ":", "=", '"', "true", "false", ""]
_chars = st.one_of(st.sampled_from(list('{}()[]<>,:=%@"\\\n x0.-e')), st.characters())


def mutations() -> st.SearchStrategy[Mutation]:
    """One random text edit."""
    pos = st.integers(0, 1 << 20)
    return st.one_of(
        st.builds(Mutation, st.just("insert"), pos, st.just(0), st.text(_chars, min_size=1, max_size=4)),
        st.builds(Mutation, st.just("delete"), pos, st.integers(0, 7)),
        st.builds(Mutation, st.just("replace"), pos, st.just(0), _chars),
        st.builds(Mutation, st.just("truncate"), pos),
        st.builds(Mutation, st.sampled_from(["swap_lines", "dup_line", "drop_line"]), pos, pos),
        st.builds(Mutation, st.just("number"), pos, st.just(0), st.sampled_from(_NUMBERS)),
        st.builds(Mutation, st.just("token"), pos, st.just(0), st.sampled_from(_TOKENS)),
    )


def text_mutations(max_edits: int = 4) -> st.SearchStrategy[list[Mutation]]:
    """A short list of text edits, applied in order."""
    return st.lists(mutations(), min_size=1, max_size=max_edits)


def apply_all(text: str, edits: list[Mutation]) -> str:
    """``text`` after every edit in turn."""
    for m in edits:
        text = m.apply(text)
    return text


# ------------------------------------------------------------------------------------------ ONNX models
def _dyadic(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return (rng.integers(-32, 33, shape) / 64).astype(np.float32)


@st.composite
def onnx_models(draw: st.DrawFn, max_layers: int = 4) -> tuple[onnx.ModelProto, tuple[int, ...]]:
    """A random SPEC model (every builder method can appear) and its input features."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    time_steps = draw(st.integers(1, 5))
    spatial = draw(st.booleans())
    features = (draw(st.integers(1, 2)), draw(st.integers(2, 5)), draw(st.integers(2, 5))) if spatial \
        else (draw(st.integers(1, 12)),)
    b = SnnModelBuilder(features, time_steps, name=draw(st.sampled_from(["snn", "m", "a/b c", "ünï 名"])))
    if draw(st.booleans()):
        v: SnnValue = b.ttfs_encode(b.input, window=draw(st.integers(1, time_steps)))
    else:
        v = b.rate_encode(b.input, threshold=draw(st.sampled_from([0.25, 0.5, 1.0])))
    for _ in range(draw(st.integers(1, max_layers))):
        choices = ["dense"]
        if len(v.features) == 3:
            choices += ["conv2d", "avgpool2d", "flatten"]
        layer = draw(st.sampled_from(choices))
        if layer == "flatten":
            v = b.flatten(v)
            continue
        if layer == "dense":
            n = draw(st.integers(1, 8))
            bias = _dyadic(rng, (n,)) if draw(st.booleans()) else None
            v = b.dense(v, _dyadic(rng, (n, v.features[-1])), bias)
        elif layer == "conv2d":
            c, h, w = v.features
            k = draw(st.integers(1, min(3, h, w)))
            c_out = draw(st.integers(1, 3))
            bias = _dyadic(rng, (c_out,)) if draw(st.booleans()) else None
            v = b.conv2d(v, _dyadic(rng, (c_out, c, k, k)), bias, pads=draw(st.integers(0, 1)))
        else:
            c, h, w = v.features
            k = draw(st.integers(1, min(2, h, w)))
            v = b.avgpool2d(v, k, count_include_pad=draw(st.integers(0, 1)))
        if draw(st.booleans()):
            v = b.relpsp(v, threshold=draw(st.sampled_from([0.25, 0.5, 1.0])))
        else:
            theta = 0.5 if len(v.features) != 3 or draw(st.booleans()) else \
                (rng.integers(1, 4, (v.features[0], 1, 1)) / 4).astype(np.float32)
            v = b.if_neuron(v, theta, reset=draw(st.sampled_from(["subtract", "zero"])))
    if len(v.features) != 1:
        v = b.flatten(v)
    decoder = draw(st.sampled_from(["first", "last", "count", "spatiotemporal"]))
    if decoder == "spatiotemporal":
        n = draw(st.integers(1, 4))
        out = b.spatiotemporal_decode(v, _dyadic(rng, (n, time_steps * v.size)), _dyadic(rng, (n,)))
    else:
        out = {"first": b.first_spike_decode, "last": b.last_step_decode, "count": b.spike_count_decode}[decoder](v)
    model = b.build(out, metadata={"snn.algorithm": "fuzz"})
    return model, features


# ------------------------------------------------------------------------------------------ ONNX mutations
#: a model mutation: edits the ModelProto in place; its name says what it did (for reports).
ModelMutation = Callable[[onnx.ModelProto], None]

_OP_TYPES = ["MatMul", "Gemm", "Add", "Conv", "AveragePool", "Reshape", "Flatten", "Transpose", "Identity", "Relu",
             "Mul", "Shape", "Concat", "Constant", "TTFSEncode", "RateEncode", "ReLPSP", "IF", "FirstSpikeDecode",
             "LastStepDecode", "SpikeCountDecode", "If", "Loop", "Scan", "Foo", ""]
_DOMAINS = ["", "snn", "ai.onnx", "com.microsoft", "bogus"]
_ELEM_TYPES = [TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.INT64, TensorProto.INT32, TensorProto.INT8,
               TensorProto.FLOAT16, TensorProto.BOOL, TensorProto.STRING, TensorProto.UNDEFINED]


def _attr_variants(name: str) -> list[onnx.AttributeProto]:
    """The attribute ``name`` with values of every ONNX attribute type (most of them wrong for it)."""
    return [
        helper.make_attribute(name, 1), helper.make_attribute(name, 0), helper.make_attribute(name, -3),
        helper.make_attribute(name, 1 << 40), helper.make_attribute(name, 0.5),
        helper.make_attribute(name, float("nan")), helper.make_attribute(name, float("inf")),
        helper.make_attribute(name, "subtract"), helper.make_attribute(name, "zero"), helper.make_attribute(name, ""),
        helper.make_attribute(name, [1, 2]), helper.make_attribute(name, [], attr_type=onnx.AttributeProto.INTS),
        helper.make_attribute(name, [0.5, 1.5]), helper.make_attribute(name, ["a", "b"]),
        helper.make_attribute(name, helper.make_tensor("t", TensorProto.FLOAT, [1], [1.0])),
        helper.make_attribute(name, helper.make_graph([], "g", [], [])),
    ]


@dataclass(frozen=True)
class OnnxMutation:
    """One edit of a ModelProto (``apply`` changes the model in place); indices wrap around."""

    kind: str
    a: int = 0
    b: int = 0
    c: int = 0

    def apply(self, model: onnx.ModelProto) -> None:  # noqa: C901 - one branch per mutation kind
        g = model.graph
        nodes, inits = g.node, g.initializer
        node = nodes[self.a % len(nodes)] if nodes else None
        init = inits[self.a % len(inits)] if inits else None
        names = [n for nd in nodes for n in (*nd.input, *nd.output)] + [i.name for i in inits] + \
                [v.name for v in g.input] + ["", "nope", "scores", "x"]
        k = self.kind
        if k == "drop_node" and node is not None:
            nodes.remove(node)
        elif k == "dup_node" and node is not None:
            nodes.insert(self.b % (len(nodes) + 1), onnx.NodeProto.FromString(node.SerializeToString()))
        elif k == "swap_nodes" and len(nodes) > 1:
            i, j = self.a % len(nodes), self.b % len(nodes)
            ni, nj = onnx.NodeProto(), onnx.NodeProto()
            ni.CopyFrom(nodes[i])
            nj.CopyFrom(nodes[j])
            nodes[i].CopyFrom(nj)
            nodes[j].CopyFrom(ni)
        elif k == "op_type" and node is not None:
            node.op_type = _OP_TYPES[self.b % len(_OP_TYPES)]
        elif k == "domain" and node is not None:
            node.domain = _DOMAINS[self.b % len(_DOMAINS)]
        elif k == "attr_type" and node is not None and node.attribute:
            attr = node.attribute[self.b % len(node.attribute)]
            variants = _attr_variants(attr.name)
            attr.CopyFrom(variants[self.c % len(variants)])
        elif k == "attr_drop" and node is not None and node.attribute:
            del node.attribute[self.b % len(node.attribute)]
        elif k == "attr_add" and node is not None:
            names_ = ["time_steps", "window", "threshold", "reset", "kernel_shape", "strides", "pads", "group",
                      "transB", "transA", "alpha", "perm", "axis", "ceil_mode", "auto_pad", "bogus"]
            name = names_[self.b % len(names_)]
            if name not in [a.name for a in node.attribute]:
                variants = _attr_variants(name)
                node.attribute.append(variants[self.c % len(variants)])
        elif k == "input_name" and node is not None and node.input:
            node.input[self.b % len(node.input)] = names[self.c % len(names)]
        elif k == "output_name" and node is not None and node.output:
            node.output[self.b % len(node.output)] = names[self.c % len(names)]
        elif k == "extra_input" and node is not None:
            node.input.append(names[self.c % len(names)])
        elif k == "init_dims" and init is not None:
            dims = list(init.dims)
            choice = self.b % 4
            if choice == 0 and dims:
                dims[self.c % len(dims)] += 1
            elif choice == 1:
                dims = dims[::-1]
            elif choice == 2:
                dims = dims[:-1]
            else:
                dims = [*dims, 1 + self.c % 3]
            del init.dims[:]
            init.dims.extend(dims)
        elif k == "init_dtype" and init is not None:
            init.data_type = _ELEM_TYPES[self.b % len(_ELEM_TYPES)]
        elif k == "init_data" and init is not None:
            try:
                array = onnx.numpy_helper.to_array(init)
            except Exception:  # noqa: BLE001 - an earlier edit broke it; leave it broken
                return
            if array.dtype.kind == "f" and array.size:
                flat = array.reshape(-1).copy()
                flat[self.b % flat.size] = [np.nan, np.inf, -np.inf, 3.4e38, 1e-45, 0.0][self.c % 6]
                init.CopyFrom(onnx.numpy_helper.from_array(flat.reshape(array.shape), init.name))
        elif k == "init_truncate" and init is not None:
            if init.raw_data:
                init.raw_data = init.raw_data[: self.b % max(len(init.raw_data), 1)]
            elif init.float_data:
                del init.float_data[self.b % len(init.float_data):]
            elif init.int64_data:
                del init.int64_data[self.b % len(init.int64_data):]
        elif k == "init_drop" and init is not None:
            inits.remove(init)
        elif k == "init_rename" and init is not None:
            init.name = names[self.c % len(names)]
        elif k == "graph_input" and g.input:
            x = g.input[0]
            choice = self.b % 5
            tt = x.type.tensor_type
            if choice == 0:
                x.name = names[self.c % len(names)]
            elif choice == 1:
                tt.elem_type = _ELEM_TYPES[self.c % len(_ELEM_TYPES)]
            elif choice == 2 and len(tt.shape.dim) > 1:
                tt.shape.dim[1 + self.c % (len(tt.shape.dim) - 1)].dim_value = [0, 1, 7, 1 << 33][self.c % 4]
            elif choice == 3:
                tt.shape.dim.add().dim_value = 1 + self.c % 3
            else:
                g.input.append(onnx.ValueInfoProto.FromString(x.SerializeToString()))
                g.input[-1].name = "x2"
        elif k == "graph_output" and g.output:
            out = g.output[0]
            choice = self.b % 3
            if choice == 0:
                out.name = names[self.c % len(names)]
            elif choice == 1:
                out.type.tensor_type.elem_type = _ELEM_TYPES[self.c % len(_ELEM_TYPES)]
            else:
                del g.output[:]
        elif k == "opset":
            versions = [1, 7, 10, 11, 13, 99, 0, -1]
            entry = model.opset_import[self.b % len(model.opset_import)]
            entry.version = versions[self.c % len(versions)]
        elif k == "opset_drop" and model.opset_import:
            del model.opset_import[self.b % len(model.opset_import)]
        elif k == "functions":
            if self.b % 2 and model.functions:
                del model.functions[self.c % len(model.functions)]
            else:
                del g.value_info[:]
        elif k == "ir_version":
            model.ir_version = [0, 1, 3, 99][self.b % 4]

    def __str__(self) -> str:
        return f"{self.kind}({self.a}, {self.b}, {self.c})"


ONNX_MUTATION_KINDS = ("drop_node", "dup_node", "swap_nodes", "op_type", "domain", "attr_type", "attr_drop",
                       "attr_add", "input_name", "output_name", "extra_input", "init_dims", "init_dtype", "init_data",
                       "init_truncate", "init_drop", "init_rename", "graph_input", "graph_output", "opset",
                       "opset_drop", "functions", "ir_version")


def onnx_mutations(max_edits: int = 3) -> st.SearchStrategy[list[OnnxMutation]]:
    """A short list of model edits, applied in order."""
    idx = st.integers(0, 1000)
    one = st.builds(OnnxMutation, st.sampled_from(ONNX_MUTATION_KINDS), idx, idx, idx)
    return st.lists(one, min_size=1, max_size=max_edits)


def mutate_model(model: onnx.ModelProto, edits: list[OnnxMutation]) -> onnx.ModelProto:
    """A mutated copy of ``model`` (the original is untouched)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    for m in edits:
        m.apply(out)
    return out


def byte_flips(max_flips: int = 4) -> st.SearchStrategy[list[tuple[int, int]]]:
    """``(position, xor mask)`` pairs to flip bits in serialized bytes; a mask 0 truncates there."""
    return st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=max_flips)


def flip_bytes(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    """``data`` with each ``(position, mask)`` applied: XOR the byte, or truncate for mask 0."""
    buf = bytearray(data)
    for pos, mask in flips:
        if not buf:
            break
        i = pos % len(buf)
        if mask == 0:
            del buf[i:]
        else:
            buf[i] ^= mask
    return bytes(buf)


def size_of(features: tuple[int, ...]) -> int:
    """Elements per sample."""
    return math.prod(features)
