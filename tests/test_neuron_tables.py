"""Neurons are data: every neuron op states its traits on its definition, and every backend table keyed by
op has an entry for it or an explicit, documented :class:`~snnc.ir.Refusal`. No module outside those
definitions and tables tests a neuron's name as a string."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from snnc.backends.reference import INTEGER_KERNELS, INTEGER_NEURONS, KERNELS
from snnc.backends.yoso.neurons import SCHEDULES, YOSO_NEURONS, YosoNeuron, yoso_neuron, yoso_neuron_kind
from snnc.backends.yoso.sim.pe import COUNTERS
from snnc.errors import DesignRuleError
from snnc.frontend.nir_export import EXPORTERS, REFUSED
from snnc.ir import OPS, NeuronTraits, Refusal, emits_single_spikes, is_neuron, neuron_ops, neuron_traits

REPO = Path(__file__).resolve().parent.parent


def _nir(opname: str) -> Any:
    if opname in REFUSED:
        return Refusal(REFUSED[opname][0])
    return EXPORTERS.get(opname)


#: every backend table keyed by op that a neuron op must appear in: name -> lookup (None: missing).
TABLES: dict[str, Callable[[str], Any]] = {
    "reference float kernels (backends/reference/kernels.py KERNELS)": KERNELS.get,
    "reference integer kernels (backends/reference/integer.py INTEGER_NEURONS)": INTEGER_NEURONS.get,
    "YOSO neuron table (backends/yoso/neurons.py YOSO_NEURONS)": YOSO_NEURONS.get,
    "NIR export (frontend/nir_export.py EXPORTERS / REFUSED)": _nir,
}
NEURONS = sorted(neuron_ops())


def test_the_builtin_neurons_are_found_by_their_category() -> None:
    assert {"snn.relpsp", "snn.if"} <= set(NEURONS)
    assert NEURONS == sorted(name for name, d in OPS.items() if d.category == "neuron")


@pytest.mark.parametrize("opname", NEURONS)
def test_traits_are_consistent(opname: str) -> None:
    traits = neuron_traits(opname)
    assert isinstance(traits, NeuronTraits) and is_neuron(opname)
    assert traits.accumulator in traits.state and "V" in traits.state
    assert traits.emits in ("spikes", "potential") and OPS[opname].infer is not None
    assert traits.accumulator_name.endswith(traits.accumulator)
    assert (traits.reset == "never") == traits.single_spike
    assert emits_single_spikes(opname) == traits.single_spike


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("opname", NEURONS)
def test_every_table_has_an_entry_or_a_refusal(opname: str, table: str) -> None:
    entry = TABLES[table](opname)
    assert entry is not None, f"{table} has no entry for {opname}: add one, or a Refusal('why')"
    if isinstance(entry, Refusal):
        assert len(entry.reason) > 20, f"{table} refuses {opname} without saying why"


@pytest.mark.parametrize("opname", NEURONS)
def test_the_entries_agree(opname: str) -> None:
    """The integer kernel is the one INTEGER_KERNELS dispatches to; YOSO's quantization rule writes the width
    key the integer mode reads; the PE update raises only counters the energy model prices."""
    integer = INTEGER_NEURONS[opname]
    if isinstance(integer, Refusal):
        return
    assert INTEGER_KERNELS[opname] is integer.kernel
    yoso = YOSO_NEURONS[opname]
    if isinstance(yoso, Refusal):
        return
    assert isinstance(yoso, YosoNeuron) and yoso_neuron(opname) is yoso
    assert yoso.acc_key == integer.acc_key
    assert yoso.schedule in SCHEDULES
    assert set(yoso.counters) <= set(COUNTERS)
    assert yoso_neuron_kind(yoso.kind) is yoso
    # a layer-wide update needs the PE state to persist across a step (it runs before the step's inputs)
    assert yoso.group_update is None or yoso.schedule == "step_start"


def test_a_missing_or_refused_entry_is_a_clear_error() -> None:
    with pytest.raises(DesignRuleError, match="no entry in the YOSO neuron table"):
        yoso_neuron("snn.no_such_neuron")
    YOSO_NEURONS["snn.refused_for_test"] = Refusal("the test refuses it")
    try:
        with pytest.raises(DesignRuleError, match="the test refuses it"):
            yoso_neuron("snn.refused_for_test")
    finally:
        del YOSO_NEURONS["snn.refused_for_test"]


# ------------------------------------------------------------------------------------------ no name tests
#: where neuron names may appear in tests: the op definitions (the names are defined there).
DEFINITIONS = {"ir/ops.py"}
#: files another engineer owns that still test names until the merge switches their call sites to the tables
#: (see docs/adding-a-neuron.md, "Status"); the merger empties this set.
PENDING_MERGE: set[str] = set()  # files the merge of the neuron tables had yet to switch over (none left)
PACKAGES = ("ir", "frontend", "passes", "backends", "snnc")


def _names() -> set[str]:
    names = set(NEURONS)
    return names | {n.removeprefix("snn.") for n in names}


def _name_tests(tree: ast.AST, names: set[str]) -> list[int]:
    """Lines that compare with a neuron name or test membership in a literal collection of neuron names."""

    def is_name(node: ast.AST) -> bool:
        return isinstance(node, ast.Constant) and node.value in names

    def holds_name(node: ast.AST) -> bool:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("frozenset", "set"):
            return any(holds_name(a) for a in node.args)
        return isinstance(node, ast.Tuple | ast.List | ast.Set) and any(is_name(e) for e in node.elts)

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(is_name(o) or holds_name(o) for o in operands):
                lines.append(node.lineno)
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None and holds_name(node.value):
            lines.append(node.lineno)  # a module constant like NEURON_OPS = frozenset({...}) used for tests
    return lines


def test_no_neuron_name_is_tested_outside_its_definition_and_the_tables() -> None:
    names = _names()
    offenders = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel in DEFINITIONS or rel in PENDING_MERGE:
                continue
            for line in _name_tests(ast.parse(path.read_text(encoding="utf-8")), names):
                offenders.append(f"{rel}:{line}")
    assert not offenders, ("neuron names tested as strings (read the op's NeuronTraits or a backend table keyed "
                           f"by op instead): {', '.join(offenders)}")
