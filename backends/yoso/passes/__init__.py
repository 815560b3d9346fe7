"""The YOSO compiler's passes (one per module) and its pipeline, written once as data.

``quantize``, ``partition``, ``place`` and ``route`` register with the pass registry when this package is
imported, and are found without importing it through the ``snnc.passes`` entry-point group (``pyproject.toml``),
so ``snnc passes`` and ``snnc ir --passes quantize,...`` list and run them while :mod:`snnc.passes` imports no
backend. Partition puts a :class:`~snnc.backends.yoso.plan.YosoPlan` into the pipeline's state; place and route
enrich it; the ``deploy`` stage (:mod:`.deploy`, not a registered pass: it writes files) consumes it.

:data:`STAGES` is the pipeline :func:`snnc.backends.yoso.compile.compile_yoso` runs, in order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from snnc.backends.yoso.passes.partition import Partition
from snnc.backends.yoso.passes.place import Place
from snnc.backends.yoso.passes.quantize import Quantize
from snnc.backends.yoso.passes.route import Route
from snnc.passes.base import Pass
from snnc.passes.canonicalize import Canonicalize
from snnc.passes.dce import DeadCodeElimination
from snnc.passes.fold_pool import FoldPool


@dataclass(frozen=True)
class Stage:
    """One pass of the YOSO pipeline.

    Attributes:
        name: the pass's registered name.
        cls: its class.
        options: the :func:`~snnc.backends.yoso.compile.compile_yoso` options it takes (same field names).
        uses_statistics: it reads the spike statistics (``spike_rates``), so the statistics of sample inputs
            are computed before it, once the passes before it have checked that the model fits.
    """

    name: str
    cls: type[Pass]
    options: tuple[str, ...] = ()
    uses_statistics: bool = False

    def make(self, options: Mapping[str, Any]) -> Pass:
        """The pass instance with its options taken from ``options``."""
        return self.cls(**{k: options[k] for k in self.options})


STAGES: tuple[Stage, ...] = (
    Stage("canonicalize", Canonicalize),
    Stage("fold-pool", FoldPool),
    Stage("dce", DeadCodeElimination),
    Stage("quantize", Quantize, ("hw", "bits", "granularity")),
    Stage("partition", Partition, ("hw",)),
    Stage("place", Place, ("hw", "placer", "mesh", "spike_rates", "stats_note"), uses_statistics=True),
    Stage("route", Route, ("hw",)),
)
#: the names of the pipeline's passes, in order (recorded in the deployment's manifest).
PIPELINE: tuple[str, ...] = tuple(s.name for s in STAGES)

__all__ = ["PIPELINE", "STAGES", "Partition", "Place", "Quantize", "Route", "Stage"]
