"""The ``snnc`` command line.

Every subcommand is one small function pair (``add_arguments``, ``run``) in a module of this package,
registered in :data:`COMMANDS`: :mod:`.compiler` (``ir``, ``run``, ``compile``, ``inspect``), :mod:`.nir`,
:mod:`.simulate`, :mod:`.report`, :mod:`.sweep`, :mod:`.noc`, :mod:`.train` and :mod:`.listing`
(``backends``, ``passes``).
All argument parsing lives here; the library modules the commands call never import this package.

Startup stays cheap: the modules of this package import only the standard library at import time, and
:func:`main` adds the options of the one command it runs, so ``snnc --version`` and ``snnc --help`` import
neither numpy, onnx, torch, dask nor matplotlib (``tests/test_cli_startup.py``).

Errors that users can cause are :class:`~snnc.errors.SnncError` and print as one block
(``snnc: error: where: what`` and a hint) with exit code 1; usage errors exit with 2; an internal error
prints one line and a request to report it (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from snnc.cli import compiler, listing, nir, noc, report, simulate, sweep, train
from snnc.cli._util import EXIT_ERROR, EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, positive_int
from snnc.errors import SnncError

__all__ = ["COMMANDS", "EXIT_ERROR", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser",
           "main", "positive_int"]

#: exit code when stdout's reader went away (128 + SIGPIPE, as a shell reports a process killed by it)
EXIT_BROKEN_PIPE = 141

Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
COMMANDS: dict[str, Command] = {
    "ir": ("import a model, run passes and print its IR", compiler.add_ir_arguments, compiler.cmd_ir),
    "nir": ("exchange IF networks with NIR tools (snnTorch, Norse, Sinabs, ...): import a .nir graph, export one",
            nir.add_arguments, nir.run),
    "run": ("run a model on a dataset with a backend; print accuracy, spikes and speed", compiler.add_run_arguments,
            compiler.cmd_run),
    "compile": ("compile a model into a deployment for a hardware target (YOSO)", compiler.add_compile_arguments,
                compiler.cmd_compile),
    "inspect": ("verify a deployment directory and print its report", compiler.add_inspect_arguments,
                compiler.cmd_inspect),
    "simulate": ("run a compiled deployment on the YOSO chip model: accuracy, latency, energy, power, traffic",
                 simulate.add_arguments, simulate.run),
    "sweep": ("recompile a deployment over a grid of hardware values and simulate each point: CSV table and "
              "Pareto plot of energy, latency and accuracy", sweep.add_arguments, sweep.run),
    "report": ("write a deployment report as one self-contained HTML file: mesh, link loads, layer-to-PE table, "
               "design rules; with a simulation, latency and energy breakdowns and a spike raster",
               report.add_arguments, report.run),
    "noc": ("network-on-chip tools: replay a packet trace on the mesh model", noc.add_arguments, noc.run),
    "train": ("train a spiking network and export it to ONNX", train.add_arguments, train.run),
    "backends": ("list the installed backends", listing.add_backends_arguments, listing.cmd_backends),
    "passes": ("list the available passes", listing.add_passes_arguments, listing.cmd_passes),
}


def _command_of(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names: its first word that is not an option (the top level takes no values)."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser.

    Args:
        argv: the arguments it will parse; then only the command they name gets its options (the others
            stay empty subparsers, which their summaries in ``--help`` need no more of). None: every command
            gets its options.
    """
    from snnc import __version__

    wanted = None if argv is None else _command_of(argv)
    parser = argparse.ArgumentParser(prog="snnc",
                                     description="A compiler toolchain for trained spiking neural networks.")
    parser.add_argument("--version", action="version", version=f"snnc {__version__}")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (summary, add_arguments, run) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")
        if argv is None or name == wanted:
            add_arguments(p)
        p.set_defaults(handler=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``snnc`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except SnncError as err:
        from snnc.io import sanitize_text

        print(f"snnc: error: {sanitize_text(err.format())}", file=sys.stderr)  # names from files: no raw escapes
        return err.exit_code
    except KeyboardInterrupt:
        print("snnc: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader went away ('snnc ... | head'): stop quietly, as other tools do
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not raise again
        except (OSError, ValueError):
            pass
        return EXIT_BROKEN_PIPE
    except Exception as err:
        if args.debug or os.environ.get("SNNC_DEBUG"):
            raise
        from snnc.io import sanitize

        print(f"snnc: internal error: {type(err).__name__}: {sanitize(err)}\n"
              "  hint: this is a bug in snnc; rerun with --debug and report the traceback", file=sys.stderr)
        return EXIT_INTERNAL
