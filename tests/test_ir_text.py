"""The IR text format: exact round trips, golden files, pinned error messages, elided dumps, speed."""

from __future__ import annotations

import importlib.util
import re
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnc.errors import IRParseError, SnncError, VerificationError
from snnc.ir import OPS, Graph, Kind, OpDef, ValueType, register_op
from snnc.ir.attributes import Attr
from snnc.ir.parser import MAX_NESTING, SUPPORTED_VERSIONS, parse_graph, parse_type, try_parse_type
from snnc.ir.printer import INLINE_LIMIT, VERSION, ElidedArray, print_graph

FILES = Path(__file__).resolve().parent / "ir_files"
VALID = sorted((FILES / "valid").glob("*.snnir"))
INVALID = sorted((FILES / "invalid").glob("*.snnir"))


def _regenerate_module():
    spec = importlib.util.spec_from_file_location("ir_files_regenerate", FILES / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GRAPHS = _regenerate_module().GRAPHS


def _tiny(meta: dict | None = None, threshold: float = 1.0) -> Graph:
    g = Graph("tiny", time_steps=4)
    x = g.add_input("x", ValueType.tensor(3))
    s = g.add_op("snn.rate_encode", [x], {"time_steps": 4, "threshold": 0.5})
    i = g.add_op("snn.dense", [s], {"weight": np.eye(2, 3, dtype=np.float32)})
    o = g.add_op("snn.relpsp", [i], {"threshold": threshold}, meta=meta)
    g.set_outputs([g.add_op("snn.spike_count_decode", [o], name="y")])
    g.verify()
    return g


def _mlp(n_in: int, n_hidden: int, seed: int = 0) -> Graph:
    rng = np.random.default_rng(seed)
    g = Graph("big", time_steps=8)
    x = g.add_input("x", ValueType.tensor(n_in))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 8, "window": 8})
    i = g.add_op("snn.dense", [s], {"weight": rng.normal(size=(n_hidden, n_in)).astype(np.float32),
                                    "bias": rng.normal(size=n_hidden).astype(np.float32)})
    h = g.add_op("snn.relpsp", [i], {"threshold": 1.0})
    j = g.add_op("snn.dense", [h], {"weight": rng.normal(size=(10, n_hidden)).astype(np.float32)})
    o = g.add_op("snn.relpsp", [j], {"threshold": 1.0})
    g.set_outputs([g.add_op("snn.first_spike_decode", [o], name="scores")])
    return g


# ------------------------------------------------------------------------------------------ valid files
@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_file_round_trips_exactly(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    graph = parse_graph(text, source=path.name)
    printed = print_graph(graph)
    assert printed == text
    again = parse_graph(printed)
    assert again.structurally_equal(graph)
    assert print_graph(again) == printed


@pytest.mark.parametrize("stem", sorted(GRAPHS))
def test_valid_file_is_the_printed_python_graph(stem: str) -> None:
    graph = GRAPHS[stem]()
    text = (FILES / "valid" / f"{stem}.snnir").read_text(encoding="utf-8")
    assert print_graph(graph) == text, "the printer changed: run tests/ir_files/regenerate.py and review the diff"
    assert parse_graph(text).structurally_equal(graph)


def test_valid_files_cover_every_op_and_feature() -> None:
    assert {p.stem for p in VALID} == set(GRAPHS)
    graphs = [parse_graph(p.read_text(encoding="utf-8")) for p in VALID]
    ops = [op for g in graphs for op in g.ops]
    assert {op.opname for op in ops} == set(OPS)
    assert {op.attrs["reset"] for op in ops if op.opname == "snn.if"} == {"subtract", "zero"}
    assert any(op.attrs["weight"].dtype == np.int8 for op in ops if op.opname == "snn.dense")
    assert any(op.attrs["threshold"].shape == (4, 1, 1) for op in ops if op.opname == "snn.if")
    assert any(isinstance(v, dict) for op in ops for v in op.meta.values())
    texts = [p.read_text(encoding="utf-8") for p in VALID]
    assert any("resources {" in t for t in texts) and any("dense<[" in t for t in texts)


def test_metadata_with_quotes_and_unicode_survives() -> None:
    graph = parse_graph((FILES / "valid" / "mlp_ttfs.snnir").read_text(encoding="utf-8"))
    assert graph.metadata["producer"] == 'snnc "test" suite'
    assert graph.metadata["note"] == "unicode: Δt ≥ 1 ms, 神经元 ✓\ttab\\backslash\nnewline"
    assert graph.ops[2].meta["big"] == 12345678901234567890 and graph.ops[2].meta["tiny"] == 5e-324


# ------------------------------------------------------------------------------------------ invalid files
def test_every_invalid_file_pins_its_error() -> None:
    assert INVALID
    assert {p.stem for p in INVALID} == {p.stem for p in (FILES / "invalid").glob("*.err")}


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_file_gives_the_pinned_error(path: Path) -> None:
    expected = path.with_suffix(".err").read_text(encoding="utf-8").rstrip("\n")
    with pytest.raises(SnncError) as info:
        parse_graph(path.read_text(encoding="utf-8"), source=path.name)
    err = info.value
    assert f"{type(err).__name__}: {err}" == expected
    if isinstance(err, IRParseError):
        assert err.where == f"{path.name}:{err.line}:{err.column}"


def test_the_error_kinds_the_format_promises_are_covered() -> None:
    pinned = {p.stem: p.with_suffix(".err").read_text(encoding="utf-8") for p in INVALID}
    assert "unsupported IR text version '2'; this snnc reads version 1" in pinned["wrong_version"]
    assert "unexpected end of input" in pinned["truncated"]
    assert "undefined value %nope" in pinned["undefined_value"]
    assert "value %s is defined twice" in pinned["duplicate_name"]
    assert "holds 20 bytes, f32[2,3] needs 24" in pinned["resource_wrong_size"]
    assert pinned["unknown_op"].startswith("VerificationError:")
    assert "does not match the inferred type" in pinned["type_mismatch"]
    assert "unexpected character '#'; expected ':'" in pinned["bad_token"]
    assert "unknown dtype 'f16'" in pinned["unknown_dtype_array"]


def test_no_prefix_of_a_valid_file_leaks_a_lark_exception() -> None:
    text = (FILES / "valid" / "quoted_names.snnir").read_text(encoding="utf-8")
    for end in range(0, len(text) - 2, 3):
        with pytest.raises(SnncError):
            parse_graph(text[:end])


def test_syntax_error_reports_found_and_expected() -> None:
    text = print_graph(_tiny()).replace("{threshold = 1.0}", "{threshold 1.0}")
    with pytest.raises(IRParseError) as info:
        parse_graph(text, source="m.snnir")
    assert info.value.message == "unexpected '1.0'; expected '='"
    assert (info.value.line, info.value.column) == (5, 34)
    assert str(info.value).startswith("m.snnir:5:34: ")


def test_deeply_nested_values_are_refused_with_a_position() -> None:
    deep = "[" * 5000 + "]" * 5000
    text = print_graph(_tiny()).replace(": spikes<TxBx2>", f": spikes<TxBx2> meta {{x = {deep}}}")
    with pytest.raises(IRParseError) as info:
        parse_graph(text)
    assert info.value.message == f"values nested deeper than {MAX_NESTING} levels"
    assert info.value.line == 5 and text.splitlines()[4][info.value.column - 1] == "["


# ------------------------------------------------------------------------------------------ format details
def test_the_documented_example_is_exact_printer_output() -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "text-format.md").read_text(encoding="utf-8")
    example = re.search(r"## Example\n\n```\n(.*?)```", doc, re.S)[1]
    assert print_graph(parse_graph(example)) == example


def test_header_carries_the_version() -> None:
    assert print_graph(_tiny()).startswith(f"snnc.ir {VERSION}\n")
    assert VERSION in SUPPORTED_VERSIONS


def test_layout_comments_and_quoted_keys_are_free() -> None:
    compact = print_graph(_tiny())
    loose = """snnc.ir 1   // header
    // a hand-written dump
    graph @tiny(
        %x: tensor<Bx3xf32>
    ) time_steps = 4 {
      %1 = snn.rate_encode(%x) {"time_steps" = 4,
                                threshold = 5e-1} : spikes<TxBx3>
      %2 = snn.dense(%1) {weight = dense<[1, 0, 0, 0, 1, 0]> : f32[2,3]}
           : current<TxBx2xf32>
      %3 = snn.relpsp(%2) {threshold = 1.0} : spikes<TxBx2>  // the neuron
      %y = snn.spike_count_decode(%3) : tensor<Bx2xf32>
      return %y
    }
    """
    assert print_graph(parse_graph(loose)) == compact
    assert print_graph(parse_graph("\ufeff" + compact.replace("\n", "\r\n"))) == compact  # BOM, CRLF


def test_float_attributes_round_trip_bit_exactly() -> None:
    for value in (0.1, 1 / 3, 1e-300, 5e-324, 1.7976931348623157e308, 2.0**-30, 123456.789):
        graph = parse_graph(print_graph(_tiny(threshold=value)))
        assert graph.ops[2].attrs["threshold"] == value
        assert type(graph.ops[2].attrs["threshold"]) is float


def test_inline_float32_arrays_round_trip_bit_exactly() -> None:
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**32, size=(64, INLINE_LIMIT), dtype=np.uint64).astype(np.uint32)
    arrays = {f"a{i}": row.view(np.float32) for i, row in enumerate(bits)}
    text = print_graph(_tiny(meta=arrays))
    assert "resources" not in text
    meta = parse_graph(text).ops[2].meta
    for key, array in arrays.items():
        assert meta[key].dtype == np.float32
        nan = np.isnan(array)  # inline NaNs print as `nan` (payloads are kept only in resources)
        assert np.array_equal(np.isnan(meta[key]), nan), key
        assert np.array_equal(meta[key][~nan].view(np.uint32), array[~nan].view(np.uint32)), key


def test_large_arrays_go_to_resources_with_deterministic_unique_names() -> None:
    g = Graph("names", time_steps=2)
    x = g.add_input("x", ValueType.tensor(20))
    w = np.arange(400, dtype=np.float32).reshape(20, 20)
    # %a's meta key "weight" and %"a.meta"'s attribute "weight" both spell "a.meta.weight"
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 2, "window": 2}, name="a", meta={"weight": w + 2})
    d = g.add_op("snn.dense", [s], {"weight": w}, name="a.meta", meta={"weight": w + 1})
    o = g.add_op("snn.relpsp", [d], {"threshold": 1.0})
    g.set_outputs([g.add_op("snn.spike_count_decode", [o])])
    text = print_graph(g)
    assert text == print_graph(g)
    names = re.findall(r'^  "([^"]+)": ', text, flags=re.M)
    assert names == ["a.meta.weight", "a.meta.weight#2", "a.meta.meta.weight"]
    again = parse_graph(text)
    assert again.structurally_equal(g)
    assert np.array_equal(again.ops[1].meta["weight"], w + 1)


def test_every_dtype_round_trips_in_resources_and_inline() -> None:
    rng = np.random.default_rng(3)
    meta = {}
    for dtype in ("bool", "int8", "int16", "int32", "int64", "float32", "float64"):
        for size in (3, 40):
            meta[f"{dtype}_{size}"] = (rng.normal(size=(size, 2)) * 50).astype(dtype)
    meta["scalar"] = np.array(2.5)
    meta["empty"] = np.zeros((0, 3), np.int16)
    meta["fortran"] = np.asfortranarray(rng.normal(size=(5, 7)))
    graph = _tiny(meta=meta)
    again = parse_graph(print_graph(graph))
    assert again.structurally_equal(graph)
    assert all(a.flags.writeable and a.dtype.isnative for a in again.ops[2].meta.values())


def test_big_endian_arrays_read_back_native() -> None:
    for size in (3, 30):
        array = np.arange(size, dtype=">i4") - 7
        back = parse_graph(print_graph(_tiny(meta={"a": array}))).ops[2].meta["a"]
        assert back.dtype == np.dtype("int32") and back.dtype.isnative
        assert np.array_equal(back, array)


def test_unprintable_values_are_refused() -> None:
    for bad in ({"t": (1, 2)}, {"s": np.float32(1.0)}, {"d": np.float64(1.0)}, {"k": Kind.SPIKES},
                {"h": np.zeros(2, np.float16)}, {1: "int key"}):
        with pytest.raises(VerificationError) as info:
            print_graph(_tiny(meta=bad))
        assert info.value.where == "%3"


def test_value_types_parse_as_they_print() -> None:
    for vt in (ValueType.spikes(784), ValueType.current(800), ValueType.current(4, 8, 8, dtype="i32"),
               ValueType.tensor(10), ValueType.tensor(dtype="f64"), ValueType.spikes()):
        assert try_parse_type(str(vt)) == vt
    for bad in ("spikes<TxBx4xi1>", "tensor<TxBx4xf32>", "current<Bx4xf32>", "tensor<Bx04xf32>", "tensor<Bx4>"):
        assert try_parse_type(bad) is None
        with pytest.raises(IRParseError):
            parse_type(bad)


def test_a_new_op_needs_no_grammar_change() -> None:
    @register_op
    class Scale(OpDef):
        name = "test.scale"
        operands = (frozenset({Kind.CURRENT}),)
        attrs = {"factor": Attr("float"), "mask": Attr("array"), "tags": Attr("ints")}

        @classmethod
        def infer(cls, op, operand_types, time_steps):
            return operand_types[0]

    try:
        g = _tiny()
        i = g.ops[1].result
        z = g.add_op("test.scale", [i], {"factor": 2.0, "mask": np.ones(30, np.bool_), "tags": [1, -2]})
        g.set_outputs([*g.outputs, z])
        g.verify()
        text = print_graph(g)
        assert "test.scale(%2) {factor = 2.0, mask = dense_resource<" in text
        assert parse_graph(text).structurally_equal(g)
    finally:
        del OPS["test.scale"]


# ------------------------------------------------------------------------------------------ elided dumps
def test_elided_dump_reads_only_with_allow_elided() -> None:
    graph = _mlp(30, 20)
    text = print_graph(graph, elide_weights=True)
    assert "resources {" not in text and text.count("elided<") == 3  # two weights and the bias (20 > 16 values)
    w = graph.ops[1].attrs["weight"]
    summary = f"elided<min = {w.min():.6g}, max = {w.max():.6g}, mean = {w.astype(np.float64).mean():.6g}> : f32[20,30]"
    assert summary in text
    with pytest.raises(IRParseError, match="array data is elided"):
        parse_graph(text)
    parsed = parse_graph(text, allow_elided=True)
    weight = parsed.ops[1].attrs["weight"]
    assert isinstance(weight, ElidedArray) and weight.shape == (20, 30) and weight.dtype == np.float32
    assert np.all(weight == np.float32(float(f"{w.astype(np.float64).mean():.6g}")))
    assert print_graph(parsed, elide_weights=True) == text
    with pytest.raises(VerificationError, match="placeholder from an elided dump"):
        print_graph(parsed)


def test_elided_dump_keeps_small_arrays_exact() -> None:
    graph = GRAPHS["conv_rate_if"]()
    parsed = parse_graph(print_graph(graph, elide_weights=True), allow_elided=True)
    thresholds = parsed.ops[2].attrs["threshold"]
    assert not isinstance(thresholds, ElidedArray)
    assert np.array_equal(thresholds, graph.ops[2].attrs["threshold"])


# ------------------------------------------------------------------------------------------ speed
def test_a_784x800_weight_dump_parses_in_well_under_a_second() -> None:
    graph = _mlp(784, 800)
    text = print_graph(graph)
    assert len(text) > 3_000_000
    start = time.perf_counter()
    parsed = parse_graph(text)
    elapsed = time.perf_counter() - start
    assert parsed.structurally_equal(graph)
    assert elapsed < 0.5, f"parsing took {elapsed:.3f} s"


# ------------------------------------------------------------------------------------------ property
_key = st.text(min_size=0, max_size=8)
_scalar = st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=12), st.booleans())
_array = st.sampled_from(["int8", "int64", "float32", "float64", "bool"]).flatmap(
    lambda dt: st.integers(0, 40).map(lambda n, dt=dt: (np.arange(n) * 37 % 11 - 5).astype(dt)))
# arrays sit in dicts, not lists: Graph.structurally_equal compares lists with `==` (arrays in lists are not
# compared element-wise there)
_nested_list = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3), max_leaves=6)
_meta_value = st.recursive(st.one_of(_nested_list, _array), lambda inner: st.dictionaries(_key, inner, max_size=3),
                           max_leaves=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_key, _meta_value, max_size=4))
def test_any_meta_round_trips(meta: dict) -> None:
    graph = _tiny(meta=meta)
    text = print_graph(graph)
    again = parse_graph(text)
    assert again.structurally_equal(graph)
    assert print_graph(again) == text
