"""Pass infrastructure: registry conventions, the manager's copy/verify/print/timing, built-in passes."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np
import pytest

from snnc.errors import PassError
from snnc.ir import Graph, ValueType
from snnc.passes import PASSES, MissingPassError, Pass, PassManager, PassState, all_passes, get_pass, register_pass


def graph_with_reshapes() -> Graph:
    g = Graph("g", time_steps=2)
    x = g.add_input("x", ValueType.tensor(2, 3))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 2, "window": 2}, name="s")
    same = g.add_op("snn.reshape", [s], {"shape": [2, 3]}, name="same")
    r1 = g.add_op("snn.reshape", [same], {"shape": [3, 2]}, name="r1")
    f = g.add_op("snn.flatten", [r1], name="f")
    g.add_op("snn.flatten", [s], name="unused")
    d = g.add_op("snn.dense", [f], {"weight": np.ones((2, 6), np.float32)}, name="d")
    o = g.add_op("snn.relpsp", [d], {"threshold": 1.0}, name="o")
    y = g.add_op("snn.first_spike_decode", [o], name="y")
    g.set_outputs([y])
    return g


def test_registry_conventions() -> None:
    for name, cls in PASSES.items():
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name), name
        assert cls.name == name and cls.summary and cls.__doc__


def test_canonicalize_and_dce_simplify_without_touching_the_input() -> None:
    g = graph_with_reshapes()
    before = g.copy()
    result = PassManager(["canonicalize", "dce"]).run(g)
    assert g.structurally_equal(before)
    names = [op.result.name for op in result.graph.ops]
    assert names == ["s", "f", "d", "o", "y"]
    assert result.graph.ops[1].operands[0].name == "s"
    assert [n for n, _ in result.timings] == ["canonicalize", "dce"]
    assert all(t >= 0 for _, t in result.timings)


def test_print_after_prints_the_named_pass_only() -> None:
    stream = io.StringIO()
    PassManager(["canonicalize", "dce"], print_after=["dce"], stream=stream,
                printer=lambda g, elide_weights: f"<{len(g.ops)} ops>\n").run(graph_with_reshapes())
    assert stream.getvalue() == "// ----- IR after dce\n<5 ops>\n"
    stream = io.StringIO()
    PassManager(["canonicalize", "dce"], print_after_all=True, stream=stream,
                printer=lambda g, elide_weights: f"<{len(g.ops)} ops>\n").run(graph_with_reshapes())
    assert stream.getvalue().count("IR after") == 2


def test_unknown_pass_and_bad_print_after_are_clear_errors() -> None:
    with pytest.raises(PassError, match=r"unknown pass 'fold-all'.*\n  hint: available passes: .*canonicalize"):
        get_pass("fold-all")
    with pytest.raises(PassError, match="--print-after names passes that are not in the pipeline: quantize"):
        PassManager(["dce"], print_after=["quantize"])
    with pytest.raises(PassError, match="bad options for pass 'dce'"):
        get_pass("dce", level=3)


def test_a_pass_that_breaks_the_graph_is_named_with_what_ran_before() -> None:
    @dataclass
    class Breaker(Pass):
        """Corrupts the graph."""

        name = "breaker"
        summary = "test only"

        def apply(self, graph: Graph) -> None:
            graph.ops[2].attrs["shape"] = [7]

    with pytest.raises(PassError, match=r"pass breaker failed after \[dce\]: %r1 = snn.reshape: cannot reshape"):
        PassManager(["dce", Breaker()]).run(graph_with_reshapes())


def test_register_pass_refuses_a_second_class_under_one_name() -> None:
    @dataclass
    class Dce2(Pass):
        """Not the real one."""

        name = "dce"

    with pytest.raises(ValueError, match="registered twice"):
        register_pass(Dce2)


def test_pass_state_travels_with_the_graph_and_a_missing_pass_error_keeps_its_type() -> None:
    @dataclass
    class Marker:
        op: object

    @dataclass
    class Mark(Pass):
        """Puts the first op into the state."""

        name = "mark"
        summary = "test only"

        def run(self, graph: Graph, state: PassState) -> None:
            state.put(Marker(graph.ops[0]))

    @dataclass
    class NeedsMark(Pass):
        """Needs the marker."""

        name = "needs-mark"
        summary = "test only"

        def run(self, graph: Graph, state: PassState) -> None:
            if state.get(Marker) is None:
                raise MissingPassError("needs-mark needs the mark pass", needed_by=self.name, missing="mark")

    first = PassManager([Mark()]).run(graph_with_reshapes())
    assert first.state.get(Marker).op is first.graph.ops[0] and Marker in first.state
    second = PassManager(["dce", NeedsMark()]).run(first.graph, first.state)
    assert second.state.get(Marker).op is second.graph.ops[0]  # copied with the graph
    assert first.state.get(Marker).op is first.graph.ops[0]
    with pytest.raises(MissingPassError, match=r"needs-mark needs the mark pass \(passes run before it: dce\)") as info:
        PassManager(["dce", NeedsMark()]).run(graph_with_reshapes())
    assert (info.value.needed_by, info.value.missing) == ("needs-mark", "mark")


def test_target_free_passes_only_in_snnc_passes() -> None:
    import snnc.passes

    builtin = {name for name, cls in PASSES.items() if cls.__module__.startswith("snnc.passes.")}
    assert builtin == {"canonicalize", "dce", "fold-pool"}
    assert {"quantize", "partition", "place", "route"} <= set(all_passes())  # found through the entry points
    assert all_passes()["route"].__module__ == "snnc.backends.yoso.passes.route"
    assert not hasattr(snnc.passes, "quantize")
