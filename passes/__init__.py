"""Target-free compiler passes: the pass interface, the registry, the pass manager and the built-in passes.

Backends register their own passes (the YOSO compiler's in :mod:`snnc.backends.yoso.passes`) through the
``snnc.passes`` entry-point group, so this package imports no backend.
"""

from snnc.passes import canonicalize, dce, fold_pool  # noqa: F401  (register)
from snnc.passes.base import MissingPassError, Pass, PassState
from snnc.passes.manager import PassManager, PassResult
from snnc.passes.registry import PASSES, all_passes, get_pass, register_pass

#: what ``snnc ir`` runs after import: a clean, canonical graph.
DEFAULT_PIPELINE: tuple[str, ...] = ("canonicalize", "dce")

__all__ = ["DEFAULT_PIPELINE", "PASSES", "MissingPassError", "Pass", "PassManager", "PassResult", "PassState",
           "all_passes", "get_pass", "register_pass"]
