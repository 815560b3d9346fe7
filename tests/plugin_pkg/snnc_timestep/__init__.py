"""snnc-timestep: an example snnc backend plugin (docs/adding-a-backend.md walks through it).

The backend ``timestep`` runs spiking MLPs one time step at a time for the whole network
(:mod:`snnc_timestep.stepper`) and compiles a graph into a small portable program, ``program.json``
plus ``weights.npz`` (:mod:`snnc_timestep.program`). snnc finds it through the entry point this
package declares in its ``pyproject.toml``::

    [project.entry-points."snnc.backends"]
    timestep = "snnc_timestep:TimestepBackend"

Example:
    >>> from snnc.backends import get_backend
    >>> backend = get_backend("timestep")                            # once this package is installed
    >>> backend.run(graph, x).predictions                            # doctest: +SKIP
    >>> backend.compile(graph, "build/digits-timestep")              # doctest: +SKIP
    >>> run_program(load_program("build/digits-timestep"), x)        # the compiled form runs too  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from snnc.backends import Backend, RunResult
from snnc.errors import BackendError

from .program import FORMAT, SUPPORTED_OPS, Program, load_program, lower
from .stepper import UNITS, run_program

if TYPE_CHECKING:
    from snnc.ir import Graph

__all__ = ["FORMAT", "SUPPORTED_OPS", "UNITS", "CompileResult", "Program", "TimestepBackend", "load_program", "lower",
           "run_program"]

#: ``snnc compile`` option keys the YOSO target uses and this backend does not, by their CLI flag.
_YOSO_OPTIONS = {"hw_path": "--hw", "placer": "--placer", "mesh": "--region", "sample_x": "--dataset"}


@dataclass
class CompileResult:
    """What :meth:`TimestepBackend.compile` returns.

    Attributes:
        out_dir: the directory written.
        program: the lowered program (as saved).
        files: the files written.
        timings: (stage, seconds) of every pass and of lowering and writing; ``snnc compile`` prints them.
    """

    out_dir: Path
    program: Program
    files: list[Path] = field(default_factory=list)
    timings: list[tuple[str, float]] = field(default_factory=list)


class TimestepBackend(Backend):
    """Step-by-step NumPy simulator of spiking MLPs (example plugin); compiles to program.json + weights.npz."""

    name = "timestep"
    description = ("step-by-step NumPy simulator of spiking MLPs (example plugin, tests/plugin_pkg); "
                   "compiles to program.json + weights.npz")

    def run(self, graph: Graph, x: np.ndarray, *, record: bool = False, batch_size: int | None = None) -> RunResult:
        """Lower ``graph`` and step it on ``x``; see :meth:`snnc.backends.Backend.run`.

        Raises:
            BackendError: the graph uses an op the stepper does not implement (the error names it).
            DatasetError: ``x`` does not fit the graph input.
        """
        return run_program(lower(graph), x, record=record, batch_size=batch_size)

    def compile(self, graph: Graph, out_dir: str | os.PathLike[str], *, force: bool = False,
                model_path: str | None = None, print_after: Sequence[str] = (), print_after_all: bool = False,
                elide_weights: bool = False, **options: object) -> CompileResult:
        """Run snnc's default passes, lower the graph and write the program into ``out_dir``.

        Args:
            graph: a verified graph.
            out_dir: the directory to write; it must not exist, unless ``force`` (then it must be empty or
                hold a program of this backend, which is replaced).
            force: replace an existing program directory.
            model_path: the model file the graph came from (recorded in the program's metadata).
            print_after, print_after_all, elide_weights: IR printing of the pass pipeline (as ``snnc ir``).
            options: any other ``snnc compile`` option; the YOSO ones (``--hw``, ``--placer``, ``--mesh``,
                ``--dataset``) are refused.

        Returns:
            the :class:`CompileResult`.

        Raises:
            BackendError: an unsupported option, an op the stepper cannot run, or an output directory that
                exists (without ``force``, or holding something else).
        """
        from snnc.passes import DEFAULT_PIPELINE, PassManager

        unused = [_YOSO_OPTIONS.get(key, key) for key, value in options.items() if value is not None]
        if unused:
            raise BackendError(f"option(s) {', '.join(unused)} do not apply to the timestep target",
                               where="backend timestep", hint="they are options of --target yoso; drop them")
        target = _check_target(Path(out_dir), force)
        passes = PassManager(DEFAULT_PIPELINE, print_after=print_after, print_after_all=print_after_all,
                             elide_weights=elide_weights).run(graph)
        start = time.perf_counter()
        program = lower(passes.graph)
        if model_path is not None:
            program.metadata["timestep.source"] = str(model_path)
        lowered = time.perf_counter()
        files = _write(program, target, force)
        timings = [*passes.timings, ("lower", lowered - start), ("write", time.perf_counter() - lowered)]
        return CompileResult(target, program, files, timings)


def _is_program(path: Path) -> bool:
    try:
        return load_program(path) is not None
    except BackendError:
        return False


def _check_target(target: Path, force: bool) -> Path:
    if not target.exists():
        return target
    if not force:
        raise BackendError("output directory already exists", where=str(target), hint="pass --force to replace it")
    if not target.is_dir() or (any(target.iterdir()) and not _is_program(target)):
        raise BackendError(f"output exists and is not a {FORMAT} program; refusing to replace it even with --force",
                           where=str(target), hint="choose another output directory")
    return target


def _write(program: Program, target: Path, force: bool) -> list[Path]:
    """Write into a fresh sibling directory, then move it into place: a reader never sees half a program."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        names = [p.name for p in program.save(tmp)]
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)  # mkdtemp makes 0700; give the directory the permissions mkdir would
        if target.exists():
            _check_target(target, force)
            shutil.rmtree(target)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [target / name for name in names]
