"""Property-based tests of the ONNX frontend (hypothesis; the long run is ``bench/fuzz_campaign.py``).

* Every model :class:`~snnc.frontend.snn_onnx.SnnModelBuilder` writes imports, and the reference backend
  agrees with onnxruntime on it bit for bit (weights on a dyadic grid).
* A mutated model (nodes dropped, duplicated, reordered; op types and domains changed; attributes of the
  wrong type, dropped or added; initializer dims, dtypes and data broken, NaN weights; inputs renamed;
  opsets, value infos and functions removed) and flipped bytes of a serialized model: ``import_onnx``
  raises nothing but a :class:`~snnc.errors.SnncError`, and the reference backend runs whatever imports
  (or raises a typed error).

The settings are modest and derandomized so CI is reproducible; see ``docs/testing.md``.
"""

from __future__ import annotations

import numpy as np
import onnx
from hypothesis import HealthCheck, given, settings

from snnc.backends import get_backend
from snnc.errors import SnncError
from snnc.frontend import import_onnx
from snnc.frontend.snn_onnx import SnnModelBuilder, run_onnxruntime
from snnc.ir import Graph
from snnc.tests.fuzz_strategies import (
    ONNX_MUTATION_KINDS,
    OnnxMutation,
    byte_flips,
    flip_bytes,
    mutate_model,
    onnx_models,
    onnx_mutations,
)
from snnc.tests.onnx_models import random_inputs

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
REFERENCE = get_backend("reference")


def check_import(model: onnx.ModelProto | bytes, features: tuple[int, ...]) -> Graph | None:
    """Import ``model``; only typed errors may come out, and what imports runs on the reference backend.

    Returns the graph, or None when the model was (correctly) refused.
    """
    try:
        graph = import_onnx(model)
    except SnncError as err:
        assert err.message, "a typed error must say what is wrong"
        return None
    graph.verify()
    x = random_inputs(tuple(graph.inputs[0].type.features), 2, seed=0)
    try:
        result = REFERENCE.run(graph, x)
    except SnncError:
        return graph
    assert result.scores.shape[0] == 2
    return graph


@FUZZ
@given(onnx_models())
def test_builder_models_import_and_agree_with_onnxruntime(case: tuple[onnx.ModelProto, tuple[int, ...]]) -> None:
    model, features = case
    graph = import_onnx(model)
    x = random_inputs(features, 3, seed=1)
    assert np.array_equal(REFERENCE.run(graph, x).scores, run_onnxruntime(model, x))


@FUZZ
@given(onnx_models(max_layers=3), onnx_mutations())
def test_mutated_models_give_only_typed_errors(case: tuple[onnx.ModelProto, tuple[int, ...]],
                                               edits: list[OnnxMutation]) -> None:
    model, features = case
    check_import(mutate_model(model, edits), features)


@FUZZ
@given(onnx_models(max_layers=2), byte_flips())
def test_flipped_bytes_give_only_typed_errors(case: tuple[onnx.ModelProto, tuple[int, ...]],
                                              flips: list[tuple[int, int]]) -> None:
    model, features = case
    check_import(flip_bytes(model.SerializeToString(), flips), features)


def test_every_mutation_kind_changes_a_model() -> None:
    b = SnnModelBuilder((4,), 3)
    s = b.ttfs_encode(b.input)
    o = b.if_neuron(b.dense(s, np.full((2, 4), 0.25, np.float32), np.zeros(2, np.float32)), 0.5)
    model = b.build(b.spike_count_decode(o))
    original = model.SerializeToString()
    for kind in ONNX_MUTATION_KINDS:
        changed = any(mutate_model(model, [OnnxMutation(kind, a, 1, c)]).SerializeToString() != original
                      for a in range(3) for c in range(3))
        assert changed, kind
    assert model.SerializeToString() == original  # mutate_model works on a copy


def test_one_neuron_spatiotemporal_decoder_imports() -> None:
    # found by fuzzing: [B, T, 1] -> [B, T] was taken for a view with no features and refused
    for time_steps in (1, 3):
        b = SnnModelBuilder((4,), time_steps)
        o = b.relpsp(b.dense(b.ttfs_encode(b.input), np.full((1, 4), 0.25, np.float32)), threshold=0.25)
        model = b.build(b.spatiotemporal_decode(o, np.arange(2 * time_steps, dtype=np.float32).reshape(2, -1) / 8))
        graph = import_onnx(model)
        assert [op.opname for op in graph.ops][-2:] == ["snn.time_flatten", "snn.dense"]
        x = random_inputs((4,), 5, seed=2)
        assert np.array_equal(REFERENCE.run(graph, x).scores, run_onnxruntime(model, x))


def test_strings_that_are_not_utf8_are_typed_errors() -> None:
    # found by fuzzing (flipped bytes): protobuf hands a non-UTF-8 string field out as bytes, and the
    # importer's name cleanup raised TypeError on the graph name
    b = SnnModelBuilder((4,), 2, name="GRAPHNAME")
    s = b.ttfs_encode(b.input, name="SPIKENAME")
    model = b.build(b.spike_count_decode(b.if_neuron(b.dense(s, np.full((2, 4), 0.25, np.float32)), 0.5)))
    data = model.SerializeToString()
    for marker, field in ((b"GRAPHNAME", "model.graph.name"), (b"SPIKENAME", "model.graph.node[0].output[0]")):
        broken = data.replace(marker, b"\xc3\xfc\xff" + marker[3:])
        try:
            import_onnx(broken)
        except SnncError as err:
            assert field in err.message, err.message
        else:
            raise AssertionError(f"{field} that is not UTF-8 was accepted")


def test_bytes_python_reads_but_the_checker_cannot_are_a_typed_error() -> None:
    # found by the fuzz campaign: one flipped bit turns a value_info field (wire type 2) of a function body
    # into a group start (wire type 3); Python's protobuf reads the bytes, onnx.checker's C++ parser raised
    # a bare ValueError on them
    b = SnnModelBuilder((4,), 2)
    model = b.build(b.spike_count_decode(b.relpsp(b.dense(b.ttfs_encode(b.input), np.full((2, 4), 0.25, np.float32)))))
    data = model.SerializeToString()
    at = data.find(b"b\t\n\x01v")  # FunctionProto.value_info (field 12) of the value 'v' in ReLPSP's body
    assert at > 0
    broken = data[:at] + b"c" + data[at + 1:]
    try:
        import_onnx(broken)
    except SnncError as err:
        assert "valid ONNX" in err.message
    else:
        raise AssertionError("the damaged model was accepted")
