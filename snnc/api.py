"""The public Python API: load a model, run it, compile it for YOSO, simulate the deployment.

Every function takes a path or the object the previous step returned, and reshapes inputs as the command
line does (``[N, 8, 8]`` images for a 64-input model are flattened). The results have short reprs and a
``to_json()``; value names are the IR's names without the ``%`` (``relpsp_2``), as the command line prints them.

Example:
    >>> import numpy as np, snnc
    >>> x = np.random.default_rng(0).random((4, 8, 8), dtype=np.float32)
    >>> snnc.run("models/stdbp-digits.onnx", x)
    RunResult(4 samples, 10 classes, predictions [...], spikes per sample {...})
    >>> dep = snnc.compile("models/stdbp-digits.onnx", tmp / "dep")          # doctest: +SKIP
    >>> snnc.simulate(dep, x).accuracy                                       # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snnc.errors import SnncError

if TYPE_CHECKING:
    import numpy as np

    from snnc.backends.base import RunResult
    from snnc.backends.yoso.compile import CompileResult
    from snnc.backends.yoso.drivers.simulate import SimResult
    from snnc.ir import Graph

IR_MAGIC = "snnc.ir"
#: The largest model file read (ONNX protobufs stop at 2 GiB; external data is refused by the importer).
MAX_MODEL_BYTES = 4 << 30


def load_model(path: str | os.PathLike[str] | Graph) -> Graph:
    """Load a model file: an ONNX file (SPEC section 3) or an IR text dump (``snnc ir -o``); a graph is
    returned as it is.

    The kind is told by content, not by extension: an IR dump starts with ``snnc.ir``.

    Returns:
        A verified graph.
    """
    from snnc.io import check_input
    from snnc.ir import Graph

    if isinstance(path, Graph):
        return path
    if not isinstance(path, str | os.PathLike):
        raise SnncError(f"expected a model path or a Graph, got {type(path).__name__}", where="load_model",
                        hint="pass the model file's path, or the graph load_model returned")
    p = Path(path)
    if p.is_dir():
        raise SnncError("expected a model file, got a directory", where=str(p))
    check_input(p, what="model file", max_bytes=MAX_MODEL_BYTES)  # a FIFO or device is refused before any read
    with open(p, "rb") as f:
        head = f.read(64)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        raise SnncError("this is an HDF5 file (a NIR graph?), not an ONNX model or an IR dump", where=str(p),
                        hint=f"import a NIR file first: snnc nir import {p} --reset subtract|zero -T STEPS "
                             f"-o model.snnir, then use model.snnir")
    if head.lstrip().startswith(IR_MAGIC.encode()):
        from snnc.ir.parser import parse_graph

        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise SnncError(f"IR dump is not valid UTF-8 ({err.reason} at byte {err.start})", where=str(p)) from None
        return parse_graph(text, source=str(p))
    from snnc.frontend import import_onnx

    return import_onnx(p)


def run(model: str | os.PathLike[str] | Graph, x: np.ndarray, *, backend: str = "reference", record: bool = False,
        batch_size: int | None = None) -> RunResult:
    """Run a model (path or graph) on inputs ``x`` (float32 ``[B, *features]``, or any shape with as many
    values per sample, e.g. ``[B, 8, 8]`` for 64 features) with the named backend.

    Example:
        >>> r = snnc.run("models/stdbp-digits.onnx", x, record=True)   # doctest: +SKIP
        >>> r.predictions, r.spike_counts["relpsp_2"]                  # doctest: +SKIP
    """
    from snnc.backends import get_backend

    graph = load_model(model)
    return get_backend(backend).run(graph, _fit_inputs(graph, x), record=record, batch_size=batch_size)


def compile(model: str | os.PathLike[str] | Graph, out_dir: str | os.PathLike[str], *,  # noqa: A001
            hardware: str | os.PathLike[str] | None = None, force: bool = False, sample_x: np.ndarray | None = None,
            placer: str = "traffic", region: str = "auto", bits: int | None = None) -> CompileResult:
    """Compile a model (path or graph) for YOSO into the deployment directory ``out_dir``.

    Args:
        model: the model file or graph.
        out_dir: the deployment directory (must not exist unless ``force``).
        hardware: the hardware file (None: the shipped ``yoso-6x7.toml``).
        force: replace an existing deployment there.
        sample_x: sample inputs whose spike statistics drive the placer (reshaped as in :func:`run`).
        placer, region, bits: as ``snnc compile --placer/--region/--bits`` (the placement region: ``auto``, ``hw``
            or ``CxR``).

    Returns:
        the :class:`~snnc.backends.yoso.compile.CompileResult` (``.out_dir`` is what :func:`simulate` takes).
    """
    from snnc.backends.yoso.compile import compile_yoso

    graph = load_model(model)
    sample = None if sample_x is None else _fit_inputs(graph, sample_x)
    model_path = None if hasattr(model, "ops") else model
    return compile_yoso(graph, out_dir, hw_path=hardware, force=force, sample_x=sample, placer=placer, mesh=region,
                        bits=bits, model_path=model_path)


def simulate(deployment: str | os.PathLike[str] | CompileResult, x: np.ndarray, *, labels: np.ndarray | None = None,
             workers: int = 1, record: bool = False, progress: bool = False, **options: Any) -> SimResult:
    """Simulate a YOSO deployment (directory or :func:`compile`'s result) on inputs ``x``, image by image.

    ``options`` are :func:`~snnc.backends.yoso.drivers.simulate.simulate_deployment`'s (``barrier_cycles``,
    ``scheduler``, ...). Returns the :class:`~snnc.backends.yoso.drivers.simulate.SimResult`.
    """
    from snnc.backends.yoso.drivers.simulate import simulate_deployment

    path = getattr(deployment, "out_dir", deployment)
    if not isinstance(path, str | os.PathLike):
        raise SnncError(f"expected a deployment directory or a CompileResult, got {type(deployment).__name__}",
                        where="simulate", hint="pass the directory snnc compile wrote, or snnc.compile's result")
    return simulate_deployment(path, x, y=labels, workers=workers, record=record, progress=progress, **options)


def _fit_inputs(graph: Graph, x: np.ndarray) -> np.ndarray:
    """``x`` as ``[B, *features]`` of the graph's input when it holds as many values per sample (the CLI's rule);
    spike inputs (``[T, B, *features]``) and anything that does not fit are passed on for the backend to judge."""
    import numpy as np

    from snnc.ir.types import Kind

    a = np.asarray(x)
    value = graph.inputs[0]
    features = tuple(value.type.features)
    if value.type.kind is Kind.SPIKES or a.ndim < 1 or a.shape[1:] == features:
        return a
    size = int(np.prod(features))
    if a.ndim >= 2 and int(np.prod(a.shape[1:])) == size:
        return a.reshape(a.shape[0], *features)
    if a.ndim >= 1 and a.size == size:  # one sample without the batch axis
        return a.reshape(1, *features)
    return a
