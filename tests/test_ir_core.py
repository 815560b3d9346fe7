"""IR core: op registry conventions, type inference and every verifier rule."""

from __future__ import annotations

import numpy as np
import pytest

from snnc.errors import VerificationError
from snnc.ir import OPS, Graph, Kind, NeuronTraits, OpDef, ValueType
from snnc.ir.graph import Operation, Value


def mlp(reset: str = "subtract") -> Graph:
    g = Graph("mlp", time_steps=4, metadata={"snn.algorithm": "test"})
    x = g.add_input("x", ValueType.tensor(6))
    s = g.add_op("snn.rate_encode", [x], {"time_steps": 4, "threshold": 0.5}, name="enc")
    i = g.add_op("snn.dense", [s], {"weight": np.ones((3, 6), np.float32), "bias": np.zeros(3, np.float32)}, name="fc")
    o = g.add_op("snn.if", [i], {"threshold": np.full(3, 0.5, np.float32), "reset": reset}, name="if1")
    y = g.add_op("snn.spike_count_decode", [o], name="scores")
    g.set_outputs([y])
    return g


def test_every_op_is_documented_and_named_in_the_snn_dialect() -> None:
    assert len(OPS) == 18
    for name, defn in OPS.items():
        assert name.startswith("snn.") and name == defn.name
        assert defn.__doc__ and defn.__doc__.strip(), name
        assert defn.category in {"encoder", "synapse", "merge", "neuron", "decoder", "shape"}
        for attr, spec in defn.attrs.items():
            assert spec.doc, f"{name}.{attr} has no doc"


def test_neuron_docstrings_state_their_equations() -> None:
    assert "K[t] = K[t-1] + I[t]" in OPS["snn.relpsp"].__doc__
    assert "V[t] = V[t-1] - theta*S[t-1] + I[t]" in OPS["snn.if"].__doc__


def test_type_inference_through_a_conv_net() -> None:
    g = Graph("cnn", time_steps=8)
    x = g.add_input("x", ValueType.tensor(1, 12, 12))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 8, "window": 8})
    c = g.add_op("snn.conv2d", [s], {"weight": np.zeros((4, 1, 5, 5), np.float32), "strides": [1, 1],
                                     "pads": [0, 0, 0, 0], "dilations": [1, 1], "group": 1})
    assert c.type == ValueType.current(4, 8, 8)
    o = g.add_op("snn.relpsp", [c], {"threshold": 1.0})
    p = g.add_op("snn.avgpool2d", [o], {"kernel": [2, 2], "strides": [2, 2], "pads": [0, 0, 0, 0],
                                        "count_include_pad": 0})
    assert p.type == ValueType.current(4, 4, 4)
    f = g.add_op("snn.flatten", [p])
    assert f.type == ValueType.current(64)
    t = g.add_op("snn.time_flatten", [g.add_op("snn.relpsp", [f], {"threshold": 1.0})])
    assert t.type == ValueType.tensor(8 * 64)
    d = g.add_op("snn.dense", [t], {"weight": np.zeros((10, 512), np.int8)})
    assert d.type == ValueType.tensor(10, dtype="i32")
    g.set_outputs([d])
    g.verify()


def test_types_print_with_implied_leading_axes() -> None:
    assert str(ValueType.spikes(784)) == "spikes<TxBx784>"
    assert str(ValueType.current(800)) == "current<TxBx800xf32>"
    assert str(ValueType.tensor(10)) == "tensor<Bx10xf32>"
    assert ValueType(Kind.SPIKES, (3,), "f32").dtype == "i1"


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda g: g.ops[1].attrs.update(weight=np.ones((3, 5), np.float32)),
     "%fc = snn.dense: weight [3, 5] expects 5 input features, operand has [6]"),
    (lambda g: g.ops[1].attrs.update(bias=np.ones(4, np.float32)),
     "%fc = snn.dense: bias [4] does not match weight [3, 6]: expected [3]"),
    (lambda g: g.ops[1].attrs.update(weight=np.full((3, 6), np.nan, np.float32)),
     "%fc = snn.dense: attribute 'weight' contains NaN or infinite values"),
    (lambda g: g.ops[2].attrs.update(reset="hard"),
     "%if1 = snn.if: attribute 'reset' must be one of 'subtract', 'zero', got 'hard'"),
    (lambda g: g.ops[2].attrs.update(threshold=np.ones(4, np.float32)),
     "%if1 = snn.if: threshold [4] does not broadcast to the features [3]"),
    (lambda g: g.ops[2].attrs.update(threshold=np.zeros(3, np.float32)),
     "%if1 = snn.if: threshold must be > 0 everywhere"),
    (lambda g: g.ops[2].attrs.update(threshold=0.5),
     "%if1 = snn.if: attribute 'threshold' expected array, got float 0.5"),
    (lambda g: g.ops[2].attrs.pop("reset"),
     "%if1 = snn.if: missing required attribute 'reset'"),
    (lambda g: g.ops[2].attrs.update(leak=0.1),
     "%if1 = snn.if: unknown attribute 'leak'"),
    (lambda g: g.ops[0].attrs.update(time_steps=5),
     "%enc = snn.rate_encode: time_steps = 5 differs from the graph's time_steps = 4"),
    (lambda g: setattr(g.ops[3], "opname", "snn.rate_decode"),
     "%scores = snn.rate_decode: unknown op 'snn.rate_decode'"),
    (lambda g: setattr(g.ops[2].result, "type", ValueType.spikes(4)),
     "%if1 = snn.if: result type spikes<TxBx4> does not match the inferred type spikes<TxBx3>"),
    (lambda g: g.ops[3].operands.__setitem__(0, g.ops[1].result),
     "%scores = snn.spike_count_decode: operand 0 (%fc) is current, expected potential or spikes"),
    (lambda g: g.ops.reverse(),
     "%scores = snn.spike_count_decode: operand %if1 is used before it is defined (or never defined)"),
    (lambda g: g.set_outputs([]), "graph @mlp: the graph has no outputs"),
    (lambda g: g.set_outputs([Value("ghost", ValueType.tensor(3))]), "graph @mlp: output %ghost is not defined"),
    (lambda g: setattr(g, "time_steps", 0), "graph @mlp: time_steps must be a positive integer, got 0"),
])
def test_verify_names_the_op_and_the_rule(mutate, message: str) -> None:
    g = mlp()
    g.verify()
    mutate(g)
    with pytest.raises(VerificationError) as err:
        g.verify()
    assert str(err.value).startswith(message)


def test_verify_reports_cycles() -> None:
    g = mlp()
    g.ops[1].operands = [g.ops[2].result]  # dense reads the neuron it feeds
    with pytest.raises(VerificationError, match=r"the graph has a cycle: %fc -> %if1 -> %fc"):
        g.verify()


def test_duplicate_names_are_refused_when_building_and_when_verifying() -> None:
    g = mlp()
    with pytest.raises(VerificationError, match="value name %fc is defined twice"):
        g.add_op("snn.flatten", [g.ops[1].result], name="fc")
    g.ops.append(Operation("snn.flatten", [g.ops[1].result], Value("fc", ValueType.current(3))))
    with pytest.raises(VerificationError, match="value name %fc is defined twice"):
        g.verify()


def test_structural_equality_sees_weights_dtypes_and_meta() -> None:
    a, b = mlp(), mlp()
    assert a.structurally_equal(b)
    b.ops[1].attrs["weight"] = b.ops[1].attrs["weight"].astype(np.float64)
    assert not a.structurally_equal(b)
    c = mlp()
    c.ops[1].meta["pe"] = [0, 1]
    assert not a.structurally_equal(c)
    d = mlp()
    d.ops[1].attrs["weight"][0, 0] = 2.0
    assert not a.structurally_equal(d)
    assert a.copy().structurally_equal(a)


def test_copy_is_deep() -> None:
    a = mlp()
    b = a.copy()
    b.ops[1].attrs["weight"][0, 0] = 7
    assert a.ops[1].attrs["weight"][0, 0] == 1


def test_queries_and_topological_order() -> None:
    g = mlp()
    fc = g.value("fc")
    assert g.producer(fc) is g.ops[1]
    assert g.users(fc) == [g.ops[2]]
    assert g.producer(g.inputs[0]) is None
    assert [op.result.name for op in g.topological_order()] == ["enc", "fc", "if1", "scores"]


# ------------------------------------------------------------------------------------------ op plugins
class _PluginNeuron(OpDef):
    """An op an entry point names (not registered at import)."""

    name = "test.plugin_neuron"
    category = "neuron"
    neuron = NeuronTraits(single_spike=False, state=("V", "I"), accumulator="I", accumulator_name="step input I",
                          accumulator_persists=False, reset="zero")
    operands = (frozenset({Kind.CURRENT}),)

    @classmethod
    def infer(cls, op, operand_types, time_steps):  # type: ignore[no-untyped-def]
        return ValueType.spikes(*operand_types[0].features)


def _entry_points(monkeypatch: pytest.MonkeyPatch, *values: str) -> None:
    from importlib import metadata

    import snnc.ir.ops as ops

    eps = [metadata.EntryPoint(name=f"ep{k}", value=v, group=ops.ENTRY_POINT_GROUP) for k, v in enumerate(values)]
    monkeypatch.setattr(ops.metadata, "entry_points", lambda group: eps if group == ops.ENTRY_POINT_GROUP else [])
    monkeypatch.setattr(ops, "_plugins_loaded", False)


def test_an_op_from_an_entry_point_is_loaded_on_the_first_lookup_that_misses(monkeypatch: pytest.MonkeyPatch) -> None:
    from snnc.ir import OPS, is_neuron, lookup_op, neuron_traits

    _entry_points(monkeypatch, f"{__name__}:_PluginNeuron")
    monkeypatch.delitem(OPS, _PluginNeuron.name, raising=False)
    try:
        assert lookup_op("test.plugin_neuron") is _PluginNeuron
        assert is_neuron("test.plugin_neuron") and neuron_traits("test.plugin_neuron").reset == "zero"
        g = Graph("p", time_steps=2)
        i = g.add_input("i", ValueType.current(3))
        g.set_outputs([g.add_op("test.plugin_neuron", [i], {})])
        g.verify()
    finally:
        OPS.pop(_PluginNeuron.name, None)


def test_a_broken_op_plugin_is_an_error_naming_its_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    from snnc.errors import SnncError
    from snnc.ir import lookup_op

    _entry_points(monkeypatch, "snnc_no_such_plugin_module:register")
    with pytest.raises(SnncError, match=r"op plugin 'ep0'.*snnc_no_such_plugin_module:register.*failed to load"):
        lookup_op("test.not_there")


def test_a_neuron_op_states_its_traits_and_only_a_neuron_op_does() -> None:
    from snnc.ir import register_op

    class NoTraits(OpDef):
        name = "test.no_traits"
        category = "neuron"

    class Stray(OpDef):
        name = "test.stray"
        category = "synapse"
        neuron = _PluginNeuron.neuron

    for cls in (NoTraits, Stray):
        with pytest.raises(ValueError, match="NeuronTraits"):
            register_op(cls)
