"""The backend interface: what every way of running (or compiling) a spiking graph provides.

A :class:`Backend` runs a verified :class:`~snnc.ir.Graph` on a batch and returns a :class:`RunResult`
(scores, predictions, per-sample spike counts, and the spike trains when asked). Backends that
target hardware also override :meth:`Backend.compile`. Backends are found by name through the
registry in :mod:`snnc.backends` (``get_backend("reference")``).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from snnc.errors import BackendError, DatasetError

if TYPE_CHECKING:
    from snnc.ir import Graph


def predict(scores: np.ndarray) -> np.ndarray:
    """The predicted class of each sample: the argmax of its scores, ties to the lowest index (SPEC 2).

    Args:
        scores: ``[B, N]``.

    Returns:
        int64 ``[B]``.
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise BackendError(f"scores must be [B, N], got shape {list(scores.shape)}")
    if scores.shape[1] == 0:
        raise BackendError("scores have no classes (shape [B, 0])")
    return np.argmax(scores, axis=1).astype(np.int64)  # np.argmax returns the first maximum


@dataclass
class RunResult:
    """What a backend returns for one run over a batch of ``B`` samples.

    Attributes:
        scores: float32 ``[B, N]``, the graph's (first) output.
        predictions: int64 ``[B]``, ``argmax(scores)`` with ties to the lowest index (computed).
        spike_counts: value name -> int64 ``[B]``: the number of spikes of each sample in every value where
            spikes are made (spiking graph inputs, encoder outputs and neuron outputs; a flatten or reshape of
            a spike train is not counted again), always filled.
        spikes: value name -> bool ``[T, B, *features]``, every spike train; only with ``record=True``.
        outputs: output name -> array, every graph output (``scores`` is the first one).

    Example:
        >>> r = RunResult(np.array([[0.0, 2.0, 2.0]], np.float32), spike_counts={})
        >>> r.predictions
        array([1])
    """

    scores: np.ndarray
    spike_counts: dict[str, np.ndarray] = field(default_factory=dict)
    spikes: dict[str, np.ndarray] = field(default_factory=dict)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    predictions: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.scores = np.asarray(self.scores, dtype=np.float32)
        self.predictions = predict(self.scores)

    @property
    def batch(self) -> int:
        """The number of samples ``B``."""
        return int(self.scores.shape[0])

    def accuracy(self, labels: np.ndarray) -> float:
        """The fraction of samples whose prediction equals ``labels`` (int ``[B]``)."""
        labels = np.asarray(labels)
        if labels.shape != self.predictions.shape:
            raise DatasetError(f"{labels.shape[0] if labels.ndim else 0} labels for {self.batch} predictions",
                               where="RunResult.accuracy", hint="pass one label per sample")
        return float(np.mean(self.predictions == labels)) if self.batch else 0.0

    def __repr__(self) -> str:
        shown = ", ".join(str(int(p)) for p in self.predictions[:8]) + (", ..." if self.batch > 8 else "")
        counts = ", ".join(f"{k}: {float(np.mean(v)):.1f}" for k, v in self.spike_counts.items())
        recorded = f", {len(self.spikes)} spike trains recorded" if self.spikes else ""
        return (f"RunResult({self.batch} samples, {self.scores.shape[1]} classes, predictions [{shown}], "
                f"spikes per sample {{{counts}}}{recorded})")

    def to_json(self) -> dict[str, Any]:
        """Scores, predictions and spike counts as JSON-ready data (the recorded spike trains are left out)."""
        return {"scores": self.scores.tolist(), "predictions": self.predictions.tolist(),
                "spike_counts": {k: np.asarray(v).tolist() for k, v in self.spike_counts.items()},
                "outputs": {k: np.asarray(v).tolist() for k, v in self.outputs.items() if k not in self.spike_counts}}


class Backend(ABC):
    """A way to run (and possibly compile) a spiking graph.

    Subclasses set the class attributes ``name`` (the registry key) and ``description`` (one line),
    implement :meth:`run`, and override :meth:`compile` if they produce a deployment. Register a
    backend with :func:`snnc.backends.register_backend` or, from another package, under the
    entry-point group ``snnc.backends`` (``name = "module:Factory"``).
    """

    name: ClassVar[str] = "backend"
    description: ClassVar[str] = ""

    @abstractmethod
    def run(self, graph: Graph, x: np.ndarray, *, record: bool = False, batch_size: int | None = None) -> RunResult:
        """Run ``graph`` on the batch ``x``.

        Args:
            graph: a verified graph with one input and a tensor ``[B, N]`` first output (the scores).
            x: float32 ``[B, *features]`` matching the graph input (``[T, B, *features]`` for a spike input).
            record: also return every spike train in :attr:`RunResult.spikes`.
            batch_size: samples processed at once (None: the backend chooses to bound memory).

        Returns:
            the :class:`RunResult` of the whole batch.

        Raises:
            DatasetError: ``x`` does not fit the graph input.
            BackendError: the graph cannot be run by this backend (the error names the op).
        """

    def compile(self, graph: Graph, out_dir: str | os.PathLike[str], **options: object) -> object:
        """Compile ``graph`` into ``out_dir`` (a deployment for the target); the result is backend-specific.

        The base implementation raises: only backends for a target (e.g. YOSO) compile.

        Raises:
            BackendError: this backend cannot compile.
        """
        raise BackendError(f"backend {self.name} cannot compile", where=f"backend {self.name}",
                           hint="compile with a hardware backend; see snnc.backends.available_backends()")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
