"""The ``snnc`` command line.

Every subcommand is one small function pair (``add_*_arguments``, ``cmd_*``) registered in
:data:`COMMANDS`. Errors that users can cause are :class:`~snnc.errors.SnncError` and print as
one block (``snnc: error: where: what`` and a hint) with exit code 1; usage errors exit with 2;
an internal error prints one line and a request to report it (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence

from snnc.errors import SnncError

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


# --------------------------------------------------------------------------------------------- ir
def add_ir_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="an ONNX model (SPEC section 3) or an IR text dump")
    p.add_argument("--passes", default=None,
                   help="comma-separated pass pipeline (default: canonicalize,dce; 'none' for the imported IR as is)")
    p.add_argument("--print-after", action="append", default=[], metavar="PASS",
                   help="print the IR to stderr after this pass (repeatable)")
    p.add_argument("--print-after-all", action="store_true", help="print the IR to stderr after every pass")
    p.add_argument("--elide-weights", action="store_true",
                   help="print weights as shape and summary only (the dump is then for reading, not for running)")
    p.add_argument("--time-passes", action="store_true", help="print the wall time of each pass to stderr")
    p.add_argument("-o", "--output", default=None, help="write the final IR here instead of stdout")
    p.add_argument("--force", action="store_true", help="overwrite --output if it exists")


def cmd_ir(args: argparse.Namespace) -> int:
    from snnc.api import load_model
    from snnc.io import check_output_path, write_atomic
    from snnc.ir.printer import print_graph

    out = check_output_path(args.output, inputs=(args.model,), force=args.force) if args.output else None
    graph = load_model(args.model)
    result = _run_passes(graph, args)
    text = print_graph(result, elide_weights=args.elide_weights)
    if out is None:
        sys.stdout.write(text)
    else:
        write_atomic(out, text)
        print(f"wrote {out}", file=sys.stderr)
    return EXIT_OK


def _run_passes(graph, args: argparse.Namespace):  # noqa: ANN001, ANN202 - internal helper
    from snnc.passes import DEFAULT_PIPELINE, PassManager

    names = list(DEFAULT_PIPELINE) if args.passes is None else [
        n.strip() for n in args.passes.split(",") if n.strip() and n.strip() != "none"]
    pm = PassManager(names, print_after=args.print_after, print_after_all=args.print_after_all,
                     elide_weights=args.elide_weights)
    result = pm.run(graph)
    if getattr(args, "time_passes", False):
        for name, seconds in result.timings:
            print(f"pass {name:<20} {seconds * 1e3:9.3f} ms", file=sys.stderr)
    return result.graph


# -------------------------------------------------------------------------------------------- nir
def add_nir_arguments(p: argparse.ArgumentParser) -> None:
    from snnc.frontend import nir_cli

    nir_cli.add_arguments(p)


def cmd_nir(args: argparse.Namespace) -> int:
    from snnc.frontend import nir_cli

    return int(nir_cli.run(args) or 0)


# -------------------------------------------------------------------------------------------- run
def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="an ONNX model or an IR text dump")
    p.add_argument("--backend", default="reference", help="backend name (see 'snnc backends'; default: reference)")
    p.add_argument("--dataset", required=True, help="mnist, fashion-mnist or digits")
    p.add_argument("--data-dir", default=None,
                   help="directory of the IDX files (mnist: required; fashion-mnist: default "
                        "/usr/share/datasets/fashion-mnist; digits: unused, ships with scikit-learn)")
    p.add_argument("--split", default="test", choices=["train", "test", "all"], help="dataset split (default: test)")
    p.add_argument("--limit", type=positive_int, default=None, help="use only the first N images")
    p.add_argument("--batch-size", type=positive_int, default=256, help="images per batch (default: 256)")


def cmd_run(args: argparse.Namespace) -> int:
    import numpy as np

    from snnc.api import load_model
    from snnc.backends import get_backend
    from snnc.datasets import load_dataset

    graph = load_model(args.model)
    backend = get_backend(args.backend)
    data = load_dataset(args.dataset, args.data_dir, split=args.split, limit=args.limit)
    x = data.reshaped(graph.inputs[0].type.features).x
    n_out = graph.outputs[0].type.features[-1]
    if data.num_classes > n_out:
        raise SnncError(f"dataset {data.name} has {data.num_classes} classes but the model scores only {n_out}",
                        where=args.model, hint="use a model trained for this dataset")
    predictions, spikes = [], None
    start = time.perf_counter()
    batches = range(0, len(x), args.batch_size)
    for lo in _progress(batches, total=len(batches), desc="run", unit="batch"):
        res = backend.run(graph, x[lo:lo + args.batch_size])
        predictions.append(res.predictions)
        counts = {k: int(v.sum()) for k, v in res.spike_counts.items()}
        spikes = counts if spikes is None else {k: spikes[k] + counts[k] for k in spikes}
    seconds = time.perf_counter() - start
    pred = np.concatenate(predictions)
    correct = int((pred == data.y).sum())
    n = len(pred)
    spikes = spikes or {}
    per_layer = ", ".join(f"%{k}: {v / n:.1f}" for k, v in spikes.items())
    print(f"model     {args.model}  ({_describe(graph)})")
    print(f"backend   {backend.name}")
    print(f"dataset   {data.name} {data.split}, {n} images")
    print(f"accuracy  {100 * correct / n:.2f} % ({correct}/{n})")
    print(f"spikes    {sum(spikes.values()) / n:.1f} per image ({per_layer})")
    print(f"speed     {n / seconds:.1f} images/s ({seconds:.2f} s)")
    return EXIT_OK


def _describe(graph) -> str:  # noqa: ANN001
    algo = graph.metadata.get("snn.algorithm")
    return ", ".join(([f"algorithm {algo}"] if algo else []) + [f"T = {graph.time_steps}", f"{len(graph.ops)} ops"])


# ---------------------------------------------------------------------------------------- compile
def add_compile_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="an ONNX model or an IR text dump")
    p.add_argument("--target", default="yoso", help="backend to compile for (default: yoso; see 'snnc backends')")
    p.add_argument("-o", "--output", required=True, help="the deployment directory to write (must not exist)")
    p.add_argument("--force", action="store_true", help="replace an existing deployment directory")
    p.add_argument("--hw", default=None, help="hardware description file (default: the shipped yoso-6x7.toml)")
    p.add_argument("--placer", default=None, choices=["traffic", "snake", "row-major"],
                   help="PE placement (default: traffic, which uses spike statistics)")
    p.add_argument("--mesh", default=None,
                   help="placement region: auto (smallest near-square grid, the default), hw (the whole mesh) or CxR")
    p.add_argument("--dataset", default=None,
                   help="images whose spike statistics drive the traffic-aware placer (default: one spike per neuron)")
    p.add_argument("--data-dir", default=None, help="dataset directory (see 'snnc run --help')")
    p.add_argument("--samples", type=positive_int, default=256, help="images used for spike statistics (default 256)")
    p.add_argument("--print-after", action="append", default=[], metavar="PASS",
                   help="print the IR to stderr after this pass (repeatable)")
    p.add_argument("--print-after-all", action="store_true", help="print the IR to stderr after every pass")
    p.add_argument("--elide-weights", action="store_true", help="elide weights in the printed IR")


def cmd_compile(args: argparse.Namespace) -> int:
    from snnc.api import load_model
    from snnc.backends import get_backend

    backend = get_backend(args.target)
    graph = load_model(args.model)
    options: dict[str, object] = {"force": args.force, "model_path": args.model, "print_after": args.print_after,
                                  "print_after_all": args.print_after_all, "elide_weights": args.elide_weights}
    for key in ("hw", "placer", "mesh"):
        if getattr(args, key) is not None:
            options["hw_path" if key == "hw" else key] = getattr(args, key)
    if args.dataset:
        from snnc.datasets import load_dataset

        data = load_dataset(args.dataset, args.data_dir, split="train", limit=args.samples)
        options["sample_x"] = data.reshaped(graph.inputs[0].type.features).x
    result = backend.compile(graph, args.output, **options)
    timings = getattr(result, "timings", [])
    for stage, seconds in timings:
        print(f"{stage:<14} {seconds * 1e3:9.1f} ms", file=sys.stderr)
    hops = getattr(result, "expected_hops", {})
    if hops:
        bound = getattr(result, "hops_lower_bound", None)
        print("expected spike hops per image: " + ", ".join(f"{k} {v:.1f}" for k, v in hops.items())
              + ("" if bound is None else f" (no placement below {bound:.1f})"), file=sys.stderr)
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def add_inspect_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="a deployment directory written by 'snnc compile'")


def cmd_inspect(args: argparse.Namespace) -> int:
    from snnc.backends.yoso import inspect_deployment

    sys.stdout.write(inspect_deployment(args.dir).rstrip("\n") + "\n")
    return EXIT_OK


# --------------------------------------------------------------------------------------- simulate
def add_simulate_arguments(p: argparse.ArgumentParser) -> None:
    from snnc.backends.yoso.sim import simulate

    simulate.add_arguments(p)


def cmd_simulate(args: argparse.Namespace) -> int:
    from snnc.backends.yoso.sim import simulate

    return int(simulate.run(args) or 0)


# ------------------------------------------------------------------------------------------ sweep
def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    from snnc.backends.yoso.sim import sweep

    sweep.add_arguments(p)


def cmd_sweep(args: argparse.Namespace) -> int:
    from snnc.backends.yoso.sim import sweep

    return int(sweep.run(args) or 0)


# -------------------------------------------------------------------------------------------- noc
def add_noc_arguments(p: argparse.ArgumentParser) -> None:
    from snnc.backends.yoso.sim import trace

    sub = p.add_subparsers(dest="noc_command", metavar="SUBCOMMAND", required=True)
    replay = sub.add_parser("replay", help="replay a packet trace (CSV cycle,src,dst) on the mesh NoC model",
                            description=(trace.__doc__ or "").strip().splitlines()[0])
    trace.add_arguments(replay)
    replay.set_defaults(noc_run=trace.run)


def cmd_noc(args: argparse.Namespace) -> int:
    return int(args.noc_run(args) or 0)


# --------------------------------------------------------------------------------------- backends
def add_backends_arguments(p: argparse.ArgumentParser) -> None:
    pass


def cmd_backends(args: argparse.Namespace) -> int:
    from snnc.backends import available_backends

    for name, description in sorted(available_backends().items()):
        print(f"{name:<16} {description}")
    return EXIT_OK


def add_passes_arguments(p: argparse.ArgumentParser) -> None:
    pass


def cmd_passes(args: argparse.Namespace) -> int:
    from snnc.passes import all_passes

    for name, cls in sorted(all_passes().items()):
        print(f"{name:<16} {cls.summary}")
    return EXIT_OK


# ------------------------------------------------------------------------------------------ train
TRAINERS = {"stdbp": "snnc.trainers.stdbp", "stbp": "snnc.trainers.stbp"}


def add_train_arguments(p: argparse.ArgumentParser, *, load: bool = False) -> None:
    """Trainer options come from the trainer modules, which import torch: loaded only for 'snnc train'."""
    import importlib

    sub = p.add_subparsers(dest="algorithm", metavar="ALGORITHM", required=True)
    if not load:
        for name in TRAINERS:
            sub.add_parser(name, add_help=False)
        return
    for name, module in TRAINERS.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name and err.name.startswith("snnc"):
                continue  # this trainer is not built yet
            sub.add_parser(name, help=f"(unavailable: {err}; install with: pip install torch==2.13.0)")
            continue
        tp = sub.add_parser(name, help=(mod.__doc__ or "").strip().splitlines()[0],
                            description=mod.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(tp)
        tp.set_defaults(train_run=mod.run)


def cmd_train(args: argparse.Namespace) -> int:
    run = getattr(args, "train_run", None)
    if run is None:
        raise SnncError(f"trainer '{args.algorithm}' needs PyTorch", hint="pip install torch==2.13.0")
    return int(run(args) or 0)


# ------------------------------------------------------------------------------------------ shell
Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
COMMANDS: dict[str, Command] = {
    "ir": ("import a model, run passes and print its IR", add_ir_arguments, cmd_ir),
    "nir": ("exchange IF networks with NIR tools (snnTorch, Norse, Sinabs, ...): import a .nir graph, export one",
            add_nir_arguments, cmd_nir),
    "run": ("run a model on a dataset with a backend; print accuracy, spikes and speed", add_run_arguments, cmd_run),
    "compile": ("compile a model into a deployment for a hardware target (YOSO)", add_compile_arguments,
                cmd_compile),
    "inspect": ("verify a deployment directory and print its report", add_inspect_arguments, cmd_inspect),
    "simulate": ("run a compiled deployment on the YOSO chip model: accuracy, latency, energy, power, traffic",
                 add_simulate_arguments, cmd_simulate),
    "sweep": ("recompile a deployment over a grid of hardware values and simulate each point: CSV table and "
              "Pareto plot of energy, latency and accuracy", add_sweep_arguments, cmd_sweep),
    "noc": ("network-on-chip tools: replay a packet trace on the mesh model", add_noc_arguments, cmd_noc),
    "train": ("train a spiking network and export it to ONNX", add_train_arguments, cmd_train),
    "backends": ("list the installed backends", add_backends_arguments, cmd_backends),
    "passes": ("list the available passes", add_passes_arguments, cmd_passes),
}


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The argument parser; trainer options are loaded only when ``argv`` asks for 'train'."""
    from snnc import __version__

    parser = argparse.ArgumentParser(prog="snnc",
                                     description="A compiler toolchain for trained spiking neural networks.")
    parser.add_argument("--version", action="version", version=f"snnc {__version__}")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (summary, add_arguments, run) in COMMANDS.items():
        p = sub.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")
        if name == "train":
            add_train_arguments(p, load="train" in [a for a in argv if not a.startswith("-")][:1])
        else:
            add_arguments(p)
        p.set_defaults(handler=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``snnc`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except SnncError as err:
        print(f"snnc: error: {err.format()}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("snnc: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:
        if args.debug or os.environ.get("SNNC_DEBUG"):
            raise
        print(f"snnc: internal error: {type(err).__name__}: {err}\n"
              "  hint: this is a bug in snnc; rerun with --debug and report the traceback", file=sys.stderr)
        return EXIT_INTERNAL


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _progress(iterable, **kwargs):  # noqa: ANN001, ANN003, ANN202
    """A tqdm progress bar on stderr when it is a terminal; the plain iterable otherwise."""
    if not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, leave=False, **kwargs)


if __name__ == "__main__":
    sys.exit(main())
