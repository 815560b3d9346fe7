"""Property-based tests of the IR text format (hypothesis; the long run is ``bench/fuzz_campaign.py``).

* Every generated valid graph round-trips: ``parse(print(g))`` is structurally equal to ``g`` and prints
  to the same text; an elided dump reads back with ``allow_elided=True`` and prints to the same elided text.
* Mutated text (characters inserted, deleted, replaced; lines swapped, duplicated, dropped; truncation;
  numbers and tokens replaced) never raises anything but a :class:`~snnc.errors.SnncError` (an
  ``IRParseError`` or ``VerificationError``); when it parses, the graph verifies and its printed text is a
  fixed point of print -> parse -> print.

The settings are modest and derandomized so CI is reproducible; see ``docs/testing.md``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from snnc.errors import IRParseError, VerificationError
from snnc.ir import Graph, ValueType
from snnc.ir.parser import parse_graph
from snnc.ir.printer import ElidedArray, print_graph
from snnc.tests.fuzz_strategies import Mutation, apply_all, ir_graphs, text_mutations

FUZZ = settings(max_examples=80, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def check_text(text: str, *, allow_elided: bool = False) -> Graph | None:
    """Parse ``text``; only typed errors may come out, and what parses is a printable, stable graph.

    Returns the graph, or None when the text was (correctly) refused.
    """
    try:
        graph = parse_graph(text, source="fuzz.snnir", allow_elided=allow_elided)
    except IRParseError as err:
        assert err.where.startswith("fuzz.snnir:") and err.line >= 1 and err.column >= 1, err.where
        return None
    except VerificationError:
        return None
    graph.verify()  # parse_graph verified it; verifying again must agree
    elided = any(isinstance(v, ElidedArray) for op in graph.ops for v in (*op.attrs.values(), *op.meta.values()))
    try:
        printed = print_graph(graph, elide_weights=elided)
    except VerificationError:
        return graph  # e.g. an elided placeholder the printer will not inline: a typed refusal
    again = parse_graph(printed, allow_elided=elided)
    assert print_graph(again, elide_weights=elided) == printed
    return graph


# ------------------------------------------------------------------------------------------ round trips
@FUZZ
@given(ir_graphs())
def test_generated_graphs_round_trip_exactly(graph: Graph) -> None:
    text = print_graph(graph)
    again = parse_graph(text)
    assert again.structurally_equal(graph)
    assert print_graph(again) == text
    # arrays keep dtype and every bit (float32 extremes, subnormals, -0.0, integer weights)
    for a, b in zip(graph.ops, again.ops, strict=True):
        for key, value in a.attrs.items():
            if isinstance(value, np.ndarray):
                assert b.attrs[key].dtype == value.dtype
                assert b.attrs[key].tobytes() == np.ascontiguousarray(value).tobytes(), key


@FUZZ
@given(ir_graphs())
def test_generated_graphs_round_trip_elided(graph: Graph) -> None:
    text = print_graph(graph, elide_weights=True)
    again = parse_graph(text, allow_elided=True)
    assert print_graph(again, elide_weights=True) == text
    assert [(op.opname, op.result.name, op.result.type) for op in again.ops] == \
        [(op.opname, op.result.name, op.result.type) for op in graph.ops]
    if "elided<" not in text:  # nothing was elided: the dump is the full one
        assert again.structurally_equal(graph)


# ------------------------------------------------------------------------------------------ mutations
@FUZZ
@given(ir_graphs(max_ops=4), text_mutations())
@example(graph=None, edits=[Mutation("truncate", 25)])
@example(graph=None, edits=[Mutation("number", 3, s="1e309")])
@example(graph=None, edits=[Mutation("token", 7, s="elided")])
def test_mutated_text_gives_only_typed_errors(graph: Graph | None, edits: list[Mutation]) -> None:
    graph = graph if graph is not None else _fixed_graph()
    check_text(apply_all(print_graph(graph), edits))


@FUZZ
@given(ir_graphs(max_ops=4), text_mutations())
def test_mutated_elided_text_gives_only_typed_errors(graph: Graph, edits: list[Mutation]) -> None:
    check_text(apply_all(print_graph(graph, elide_weights=True), edits), allow_elided=True)


@FUZZ
@given(st.text(max_size=200))
def test_arbitrary_text_after_a_valid_header(body: str) -> None:
    check_text("snnc.ir 1\n" + body)
    check_text(body)


def test_mutated_elided_means_are_typed_errors() -> None:
    # found by fuzzing: these raised OverflowError / ValueError from NumPy
    text = print_graph(_fixed_graph(), elide_weights=True)
    assert "elided<" in text
    for mean, message in (("1e400", "does not fit"), ("nan", "does not fit"), ("9" * 400, "too large")):
        mutated = text.replace("mean = ", f"mean = {mean}, ignored = ", 1)
        bad = mutated.replace("f32[20,24]", "i8[20,24]").replace("current<TxBx20xf32>", "current<TxBx20xi32>")
        try:
            parse_graph(bad, allow_elided=True)
        except IRParseError as err:
            assert message in err.message
        else:
            raise AssertionError(f"mean {mean[:10]} was accepted")


def test_an_elided_valid_graph_with_extreme_weights_reads_back() -> None:
    # found by fuzzing: a mean printed to 6 digits rounded past float32 max (-> inf, refused), and a
    # maximum of -0.0 printed as "-0", which read back as the integer 0 and printed "0"
    big = _fixed_graph()
    big.ops[1].attrs["weight"] = np.full((20, 24), 3.4028235e38, np.float32)
    text = print_graph(big, elide_weights=True)
    assert "mean = 3.40282e+38" in text
    assert np.isfinite(parse_graph(text, allow_elided=True).ops[1].attrs["weight"]).all()
    neg = _fixed_graph()
    neg.ops[1].attrs["weight"] = -np.abs(neg.ops[1].attrs["weight"])
    neg.ops[1].attrs["weight"][0, 0] = -0.0
    text = print_graph(neg, elide_weights=True)
    assert "max = 0," in text
    assert print_graph(parse_graph(text, allow_elided=True), elide_weights=True) == text


def _fixed_graph() -> Graph:
    rng = np.random.default_rng(0)
    g = Graph("fixed", time_steps=3, metadata={"k": "v"})
    x = g.add_input("x", ValueType.tensor(24))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 3, "window": 2})
    i = g.add_op("snn.dense", [s], {"weight": rng.normal(size=(20, 24)).astype(np.float32),
                                    "bias": np.zeros(20, np.float32)})
    o = g.add_op("snn.if", [i], {"threshold": np.array([0.5], np.float32), "reset": "zero"}, meta={"pe": [1, 2]})
    g.set_outputs([g.add_op("snn.spike_count_decode", [o], name="y")])
    g.verify()
    return g


def test_the_mutators_change_text() -> None:
    text = print_graph(_fixed_graph())
    for kind in ("insert", "delete", "replace", "truncate", "swap_lines", "dup_line", "drop_line", "number", "token"):
        assert Mutation(kind, 40, 3, "@@").apply(text) != text, kind
