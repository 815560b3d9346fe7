"""The public Python API: load a model, run passes, print IR, run a backend.

Example:
    >>> import snnc
    >>> graph = snnc.load_model("models/stdbp-digits.onnx")          # doctest: +SKIP
    >>> result = snnc.run(graph, x, backend="reference")             # doctest: +SKIP
    >>> result.predictions                                           # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from snnc.errors import SnncError

if TYPE_CHECKING:
    import numpy as np

    from snnc.backends.base import RunResult
    from snnc.ir import Graph

IR_MAGIC = "snnc.ir"
#: The largest model file read (ONNX protobufs stop at 2 GiB; external data is refused by the importer).
MAX_MODEL_BYTES = 4 << 30


def load_model(path: str | os.PathLike[str]) -> Graph:
    """Load a model file: an ONNX file (SPEC section 3) or an IR text dump (``snnc ir -o``).

    The kind is told by content, not by extension: an IR dump starts with ``snnc.ir``.

    Returns:
        A verified graph.
    """
    from snnc.io import check_input

    p = Path(path)
    if p.is_dir():
        raise SnncError("expected a model file, got a directory", where=str(p))
    check_input(p, what="model file", max_bytes=MAX_MODEL_BYTES)  # a FIFO or device is refused before any read
    with open(p, "rb") as f:
        head = f.read(64)
    if head.lstrip().startswith(IR_MAGIC.encode()):
        from snnc.ir.parser import parse_graph

        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise SnncError(f"IR dump is not valid UTF-8 ({err.reason} at byte {err.start})", where=str(p)) from None
        return parse_graph(text, source=str(p))
    from snnc.frontend import import_onnx

    return import_onnx(p)


def run(graph: Graph, x: np.ndarray, *, backend: str = "reference", record: bool = False,
        batch_size: int | None = None) -> RunResult:
    """Run ``graph`` on inputs ``x`` (float32 ``[B, *features]``) with the named backend."""
    from snnc.backends import get_backend

    return get_backend(backend).run(graph, x, record=record, batch_size=batch_size)
