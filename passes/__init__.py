"""Compiler passes: the pass interface, the registry, the pass manager and the built-in passes."""

from snnc.passes import canonicalize, dce, fold_pool, partition, place, quantize, route  # noqa: F401  (register)
from snnc.passes.base import Pass
from snnc.passes.manager import PassManager, PassResult
from snnc.passes.registry import PASSES, all_passes, get_pass, register_pass

#: what ``snnc ir`` runs after import: a clean, canonical graph.
DEFAULT_PIPELINE: tuple[str, ...] = ("canonicalize", "dce")

__all__ = ["DEFAULT_PIPELINE", "PASSES", "Pass", "PassManager", "PassResult", "all_passes", "get_pass",
           "register_pass"]
