"""The YOSO backend object: ``get_backend("yoso")`` compiles; running is the simulator's job."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from snnc.backends.base import Backend, RunResult
from snnc.errors import BackendError

if TYPE_CHECKING:
    from snnc.backends.yoso.compile import CompileResult
    from snnc.ir import Graph


class YosoBackend(Backend):
    """Compile spiking graphs into deployments for the YOSO accelerator (``docs/yoso.md``).

    Example:
        >>> from snnc.backends import get_backend
        >>> get_backend("yoso").compile(graph, "build/mlp", placer="traffic")   # doctest: +SKIP
    """

    name = "yoso"
    description = "YOSO neuromorphic accelerator: compile to a deployment directory (snnc compile --target yoso)"

    def compile(self, graph: Graph, out_dir: str | os.PathLike[str], **options: object) -> CompileResult:
        """Compile ``graph`` into ``out_dir``; ``options`` are those of :func:`compile_yoso`."""
        from snnc.backends.yoso.compile import compile_options, compile_yoso

        return compile_yoso(graph, out_dir, **compile_options(options))  # type: ignore[arg-type]

    def run(self, graph: Graph, x: np.ndarray, *, record: bool = False, batch_size: int | None = None) -> RunResult:
        """Not available: a YOSO deployment runs in the cycle-level simulator."""
        raise BackendError("the yoso backend does not run graphs directly; it compiles them for the accelerator",
                           where="backend yoso",
                           hint="compile with 'snnc compile MODEL --target yoso -o DIR', then run the deployment "
                                "with 'snnc simulate DIR'")
