"""Frontends: turn trained models into snnc IR. :func:`import_onnx` reads the SPEC's ONNX files.

``import_onnx`` and ``supported_ops`` are loaded on first use, so that a module of this package
(``snnc.frontend.nir_import``) can be imported without onnx.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from snnc.frontend.onnx_import import import_onnx, supported_ops

__all__ = ["import_onnx", "supported_ops"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from snnc.frontend import onnx_import

        return getattr(onnx_import, name)
    raise AttributeError(f"module 'snnc.frontend' has no attribute {name!r}")
