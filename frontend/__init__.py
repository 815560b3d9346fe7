"""Frontends: turn trained models into snnc IR. :func:`import_onnx` reads the SPEC's ONNX files."""

from snnc.frontend.onnx_import import import_onnx, supported_ops

__all__ = ["import_onnx", "supported_ops"]
