"""The YOSO neuromorphic accelerator backend: hardware description, compilation, deployment.

Public API (imported lazily, so that ``snnc.passes`` can import the backend's modules):

* :func:`load_hardware` / :class:`Hardware` - the hardware description file (``yoso-6x7.toml`` shipped);
* :func:`compile_yoso` / :class:`CompileResult` - the pipeline and the deployment directory;
* :func:`load_deployment` / :func:`inspect_deployment` - read back and verify a deployment;
* :class:`YosoBackend` - the backend registered as ``yoso``.

See ``docs/yoso.md``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Hardware": "hardware", "load_hardware": "hardware", "parse_hardware": "hardware",
    "DEFAULT_HARDWARE": "hardware",
    "compile_yoso": "compile", "CompileResult": "compile", "spike_statistics": "compile",
    "load_deployment": "deploy", "inspect_deployment": "deploy", "Deployment": "deploy",
    "YosoBackend": "backend",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
