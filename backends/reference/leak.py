"""The accuracy cost of a fixed-point leak: what ``beta`` / ``alpha`` with F fraction bits change in a model.

A leaky neuron on the chip decays with ``beta_q / 2**F`` (:func:`~snnc.backends.reference.integer.quantize_leak`)
and rounds every product (:func:`~snnc.backends.reference.integer.decay`). :func:`leak_accuracy_cost` measures
what that choice costs on sample inputs, for the quantize pass's report (or a CLI line):

* always: the float graph against the same float graph with every chip neuron's leak factors replaced by
  ``beta_q / 2**F`` (:func:`with_quantized_leak`): the cost of the coefficients alone;
* with ``quantized`` (the graph the quantize pass made, run in the integer mode): the float graph against the
  chip's whole arithmetic (weights, thresholds, the leak's coefficients and its product rounding).

Each comparison gives the fraction of samples whose predicted class (argmax, ties to the lowest index) is
unchanged and, with ``labels``, both accuracies.

Example:
    >>> cost = leak_accuracy_cost(graph, x, labels, frac_bits=8)             # doctest: +SKIP
    >>> cost.summary()                                                       # doctest: +SKIP
    'leak F=8 (nearest): max |beta - beta_q/2**F| = 0.00195; ... agreement 100.0% ...'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from snnc.backends.reference.executor import ReferenceExecutor
from snnc.backends.reference.integer import chip_neuron, quantize_leak
from snnc.ir import Graph, Operation

#: the attributes of a leaky neuron that hold a decay factor in [0, 1].
LEAK_FACTORS = ("alpha", "beta")


def _default_selection(op: Operation) -> bool:
    """The ops whose leak the chip quantizes: neurons that run on a PE (a host readout, snn.li, stays float)."""
    return chip_neuron(op.opname)


def with_quantized_leak(graph: Graph, frac_bits: int, *, select: Callable[[Operation], bool] | None = None
                        ) -> tuple[Graph, float]:
    """A copy of the float ``graph`` whose leak factors (``alpha``, ``beta``) are ``beta_q / 2**F``, and the
    largest ``|factor - factor_q / 2**F|`` over them (0.0 if the graph has none).

    Args:
        graph: a float graph.
        frac_bits: F.
        select: which ops to change (default: the neurons that run on the chip, i.e. that emit spikes).
    """
    select = select or _default_selection
    out = graph.copy()
    worst = 0.0
    for op in out.ops:
        if not select(op):
            continue
        for key in LEAK_FACTORS:
            value = op.attrs.get(key)
            if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.floating):
                continue
            q = quantize_leak(value, frac_bits, name=key)[f"{key}_q"]
            effective = (q.astype(np.float64) / float(1 << frac_bits)).astype(np.float32)
            worst = max(worst, float(np.max(np.abs(effective.astype(np.float64) - value.astype(np.float64)),
                                            initial=0.0)))
            op.attrs[key] = effective
    return out, worst


@dataclass(frozen=True)
class LeakCost:
    """What a fixed-point leak costs on some samples (see the module docstring).

    Attributes:
        frac_bits: F.
        rounding: the product rounding the comparison with ``quantized`` used (as its ``meta['quant']`` says).
        samples: how many samples were run.
        max_factor_error: the largest ``|factor - factor_q / 2**F|`` over every leak factor of the chip neurons.
        agreement: fraction of samples whose predicted class is the same with the quantized coefficients.
        max_score_difference: the largest ``|score_float - score_coefficients|``.
        accuracy_float: accuracy of the float graph (None without labels).
        accuracy_coefficients: accuracy with the quantized coefficients (None without labels).
        agreement_integer: the same as ``agreement`` for the integer-mode run of ``quantized`` (None without it).
        accuracy_integer: its accuracy (None without labels or ``quantized``).
    """

    frac_bits: int
    rounding: str | None
    samples: int
    max_factor_error: float
    agreement: float
    max_score_difference: float
    accuracy_float: float | None = None
    accuracy_coefficients: float | None = None
    agreement_integer: float | None = None
    accuracy_integer: float | None = None

    def summary(self) -> str:
        """One line for a report."""
        parts = [f"leak F={self.frac_bits}" + (f" ({self.rounding})" if self.rounding else ""),
                 f"max |beta - beta_q/2**F| = {self.max_factor_error:.3g}",
                 f"coefficients: agreement {100 * self.agreement:.1f}% of {self.samples}"]
        if self.accuracy_float is not None:
            parts.append(f"accuracy {100 * self.accuracy_float:.2f}% -> {100 * self.accuracy_coefficients:.2f}%")
        if self.agreement_integer is not None:
            text = f"integer mode: agreement {100 * self.agreement_integer:.1f}%"
            if self.accuracy_integer is not None:
                text += f", accuracy {100 * self.accuracy_integer:.2f}%"
            parts.append(text)
        return "; ".join(parts)


def _scores(graph: Graph, x: np.ndarray, mode: str, batch_size: int | None) -> np.ndarray:
    execution = ReferenceExecutor(graph, mode=mode).run(x, batch_size=batch_size)
    scores = execution.outputs[graph.outputs[0].name]
    return scores.reshape(scores.shape[0], -1)


def leak_accuracy_cost(graph: Graph, x: np.ndarray, labels: np.ndarray | None = None, *, frac_bits: int,
                       quantized: Graph | None = None, batch_size: int | None = None) -> LeakCost:
    """Run ``graph`` (float) on ``x`` against its quantized-leak versions and report the difference.

    Args:
        graph: the float graph.
        x: sample inputs ``[B, *features]``.
        labels: int ``[B]`` true classes, or None (then only agreements are reported).
        frac_bits: F of the leak factors.
        quantized: the graph the quantize pass made from ``graph`` (run in the integer mode), or None.
        batch_size: the executor's chunk size.

    Returns:
        a :class:`LeakCost`.
    """
    coefficients, worst = with_quantized_leak(graph, frac_bits)
    base = _scores(graph, x, "float", batch_size)
    changed = _scores(coefficients, x, "float", batch_size)
    predicted = base.argmax(axis=1)

    def accuracy(scores: np.ndarray) -> float | None:
        return None if labels is None else float(np.mean(scores.argmax(axis=1) == np.asarray(labels)))

    rounding = None
    agreement_integer = accuracy_integer = None
    if quantized is not None:
        integer = _scores(quantized, x, "integer", batch_size)
        agreement_integer = float(np.mean(integer.argmax(axis=1) == predicted))
        accuracy_integer = accuracy(integer)
        rounding = next((op.meta["quant"].get("leak_rounding") for op in quantized.ops
                         if isinstance(op.meta.get("quant"), dict) and "leak_rounding" in op.meta["quant"]), None)
    return LeakCost(
        frac_bits=frac_bits, rounding=rounding, samples=int(base.shape[0]), max_factor_error=worst,
        agreement=float(np.mean(changed.argmax(axis=1) == predicted)),
        max_score_difference=float(np.max(np.abs(changed - base), initial=0.0)),
        accuracy_float=accuracy(base), accuracy_coefficients=accuracy(changed),
        agreement_integer=agreement_integer, accuracy_integer=accuracy_integer)


__all__ = ["LEAK_FACTORS", "LeakCost", "leak_accuracy_cost", "with_quantized_leak"]
