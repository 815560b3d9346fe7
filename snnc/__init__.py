"""snnc: a compiler toolchain for trained spiking neural networks.

ONNX models of spiking networks (``snn`` operator domain, see ``docs/onnx-format.md``) are
imported into a spiking graph IR (:mod:`snnc.ir`), transformed by passes (:mod:`snnc.passes`)
and executed or compiled by backends (:mod:`snnc.backends`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from snnc.errors import SnncError

if TYPE_CHECKING:
    from snnc.api import compile, load_model, run, simulate  # noqa: A004

__version__ = "0.1.0"
__all__ = ["SnncError", "__version__", "compile", "load_model", "run", "simulate"]
_API = ("compile", "load_model", "run", "simulate")


def __getattr__(name: str) -> Any:
    """``snnc.load_model``, ``snnc.run``, ``snnc.compile`` and ``snnc.simulate`` import :mod:`snnc.api` (numpy) on
    first use, not ``import snnc``: the command line starts without it."""
    if name in _API:
        from snnc import api

        return getattr(api, name)
    raise AttributeError(f"module 'snnc' has no attribute {name!r}")
