"""What a neuron op *is*, stated once on its definition: :class:`NeuronTraits`.

A neuron op (``category = "neuron"``) carries ``neuron = NeuronTraits(...)`` on its :class:`~snnc.ir.ops.OpDef`.
Backends never test a neuron's name: they read its traits (single spike or not, what the per-step
accumulator holds) or look the op up in their own table keyed by op name (the reference executor's
float and integer kernels, YOSO's :mod:`snnc.backends.yoso.neurons`). ``docs/adding-a-neuron.md`` walks
through adding one from a package of its own.

    >>> neuron_traits("snn.relpsp").single_spike, neuron_traits("snn.if").accumulator
    (True, 'I')
    >>> is_neuron("snn.dense"), sorted(neuron_ops())[:2]
    (False, ['snn.if', 'snn.relpsp'])
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NeuronTraits:
    """The backend-independent facts of a neuron op.

    Attributes:
        single_spike: every neuron fires at most once per image (its spike train can be stored as
            first-spike times; a layer it feeds sees each input spike at most once).
        state: names of the per-neuron state variables, e.g. ``("V", "K")``.
        accumulator: which state variable the synaptic input is summed into, one spike at a time
            (``"K"``: the ReL-PSP slope; ``"I"``: the IF step input).
        accumulator_name: how error messages name it (``"slope K"``, ``"step input I"``).
        accumulator_persists: whether the accumulator carries over from step to step (ReL-PSP's slope) or
            is cleared after every step (IF's input); this sets its worst-case bound.
        emits: what the op produces (``"spikes"``).
        reset: how a neuron that fired restarts: ``"never"`` (single spike: it stays silent), ``"attr"``
            (the op's ``reset`` attribute chooses), or a fixed kind such as ``"zero"`` or ``"subtract"``.
    """

    single_spike: bool
    state: tuple[str, ...]
    accumulator: str
    accumulator_name: str
    accumulator_persists: bool
    emits: str = "spikes"
    reset: str = "never"


@dataclass(frozen=True)
class Refusal:
    """An explicit, documented "no" in a backend's table: the backend does not run this op, and says why
    (the completeness test, ``tests/test_neuron_tables.py``, accepts it in place of an entry)."""

    reason: str


def _definition(opname: str) -> type | None:
    from snnc.ir.ops import lookup_op

    return lookup_op(opname)


def is_neuron(opname: str) -> bool:
    """Whether ``opname`` is a registered neuron op (plugins included)."""
    d = _definition(opname)
    return d is not None and getattr(d, "neuron", None) is not None


def neuron_traits(opname: str) -> NeuronTraits:
    """The traits of a neuron op (KeyError if ``opname`` is not a registered neuron op)."""
    d = _definition(opname)
    traits = None if d is None else getattr(d, "neuron", None)
    if traits is None:
        raise KeyError(f"{opname} is not a registered neuron op")
    return traits


def emits_single_spikes(opname: str) -> bool:
    """Whether every spike value op ``opname`` makes fires at most once per image (a TTFS encoder, a
    single-spike neuron such as ReL-PSP)."""
    d = _definition(opname)
    if d is None:
        return False
    traits = getattr(d, "neuron", None)
    return traits.single_spike if traits is not None else bool(getattr(d, "single_spike", False))


def neuron_ops() -> dict[str, NeuronTraits]:
    """Every registered neuron op (plugins included) -> its traits."""
    from snnc.ir.ops import OPS, load_op_plugins

    load_op_plugins()
    return {name: d.neuron for name, d in OPS.items() if getattr(d, "neuron", None) is not None}


__all__ = ["NeuronTraits", "Refusal", "emits_single_spikes", "is_neuron", "neuron_ops", "neuron_traits"]
