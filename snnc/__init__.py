"""snnc: a compiler toolchain for trained spiking neural networks.

ONNX models of spiking networks (``snn`` operator domain, see ``docs/onnx-format.md``) are
imported into a spiking graph IR (:mod:`snnc.ir`), transformed by passes (:mod:`snnc.passes`)
and executed or compiled by backends (:mod:`snnc.backends`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from snnc.errors import SnncError

if TYPE_CHECKING:
    from snnc.api import load_model, run

__version__ = "0.1.0"
__all__ = ["SnncError", "__version__", "load_model", "run"]


def __getattr__(name: str) -> Any:
    """``snnc.load_model`` and ``snnc.run`` import :mod:`snnc.api` (numpy) on first use, not ``import snnc``:
    the command line starts without it."""
    if name in ("load_model", "run"):
        from snnc import api

        return getattr(api, name)
    raise AttributeError(f"module 'snnc' has no attribute {name!r}")
