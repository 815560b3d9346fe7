"""``snnc ir``, ``snnc run``, ``snnc compile``, ``snnc inspect``: import, transform, run and compile models."""

from __future__ import annotations

import argparse
import sys
import time

from snnc.cli._util import EXIT_OK, positive_int, progress
from snnc.errors import SnncError


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
    from snnc.io import claim_output, write_atomic
    from snnc.ir.printer import print_graph

    out = claim_output(args.output, inputs=(args.model,), force=args.force, option="-o") if args.output else None
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
    add_json_arguments(p)


def add_json_arguments(p: argparse.ArgumentParser) -> None:
    """``--json FILE`` (what the command printed, as data) and ``--force`` to replace it: every reporting command."""
    p.add_argument("--json", default=None, metavar="FILE", help="also write what is printed as JSON to FILE")
    if not any("--force" in a.option_strings for a in p._actions):
        p.add_argument("--force", action="store_true", help="overwrite the --json file if it exists")


def _write_json(path: str | None, data: dict) -> None:
    import json

    from snnc.io import write_atomic

    if path is not None:
        write_atomic(path, json.dumps(data, indent=1, sort_keys=True, allow_nan=False) + "\n")


def cmd_run(args: argparse.Namespace) -> int:
    import numpy as np

    from snnc.api import load_model
    from snnc.backends import get_backend
    from snnc.datasets import load_dataset
    from snnc.io import claim_output

    if args.json is not None:
        claim_output(args.json, inputs=(args.model, args.data_dir), force=args.force, option="--json")
    graph = load_model(args.model)
    backend = get_backend(args.backend)
    data = load_dataset(args.dataset, args.data_dir, split=args.split, limit=args.limit)
    trained_on = graph.metadata.get("snn.dataset")
    if trained_on and trained_on != args.dataset:
        print(f"note: the model was trained on {trained_on} (its snn.dataset), and runs here on {args.dataset}",
              file=sys.stderr)
    x = data.reshaped(graph.inputs[0].type.features).x
    n_out = graph.outputs[0].type.features[-1]
    if data.num_classes > n_out:
        raise SnncError(f"dataset {data.name} has {data.num_classes} classes but the model scores only {n_out}",
                        where=args.model, hint="use a model trained for this dataset")
    predictions, spikes = [], None
    start = time.perf_counter()
    batches = range(0, len(x), args.batch_size)
    for lo in progress(batches, total=len(batches), desc="run", unit="batch"):
        res = backend.run(graph, x[lo:lo + args.batch_size])
        predictions.append(res.predictions)
        counts = {k: int(v.sum()) for k, v in res.spike_counts.items()}
        spikes = counts if spikes is None else {k: spikes[k] + counts[k] for k in spikes}
    seconds = time.perf_counter() - start
    pred = np.concatenate(predictions)
    correct = int((pred == data.y).sum())
    n = len(pred)
    spikes = spikes or {}
    per_layer = ", ".join(f"{k}: {v / n:.1f}" for k, v in spikes.items())
    from snnc.io import sanitize

    print(f"model     {sanitize(args.model)}  ({sanitize(_describe(graph))})")
    print(f"backend   {backend.name}")
    print(f"dataset   {data.name} {data.split}, {n} images")
    print(f"accuracy  {100 * correct / n:.2f} % ({correct}/{n})")
    print(f"spikes    {sum(spikes.values()) / n:.1f} per image ({per_layer})")
    print(f"speed     {n / seconds:.1f} images/s ({seconds:.2f} s)")
    from snnc import __version__

    _write_json(args.json, {"model": str(args.model), "backend": backend.name, "dataset": data.name,
                            "split": data.split, "limit": args.limit, "images": n, "correct": correct,
                            "accuracy_pct": 100 * correct / n,
                            "spikes_per_image": {k: v / n for k, v in spikes.items()},
                            "images_per_s": n / seconds, "seconds": seconds, "snnc": __version__,
                            "trained_on": trained_on})
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
    p.add_argument("--region", default=None, metavar="auto|hw|CxR",
                   help="placement region: auto (smallest near-square grid, the default), hw (the whole mesh) or CxR")
    p.add_argument("--dataset", default=None,
                   help="images whose spike statistics drive the traffic-aware placer (default: one spike per neuron)")
    p.add_argument("--data-dir", default=None, help="dataset directory (see 'snnc run --help')")
    p.add_argument("--samples", type=positive_int, default=256, help="images used for spike statistics (default 256)")
    p.add_argument("--print-after", action="append", default=[], metavar="PASS",
                   help="print the IR to stderr after this pass (repeatable)")
    p.add_argument("--print-after-all", action="store_true", help="print the IR to stderr after every pass")
    p.add_argument("--elide-weights", action="store_true", help="elide weights in the printed IR")
    add_json_arguments(p)


def cmd_compile(args: argparse.Namespace) -> int:
    from snnc.api import load_model
    from snnc.backends import get_backend
    from snnc.errors import DeploymentError
    from snnc.io import check_input, claim_output

    backend = get_backend(args.target)
    if args.hw is not None:
        check_input(args.hw, what="hardware file", max_bytes=1 << 20)
    # before any work: never over the model, the hardware file or the dataset, never over foreign files
    claim_output(args.output, inputs=(args.model, args.hw, args.data_dir), force=args.force, kind="deployment",
                 option="-o", error=DeploymentError)
    if args.json is not None:  # never inside the deployment it writes
        from pathlib import Path

        json_path, out_dir = Path(args.json).resolve(), Path(args.output).resolve()
        if json_path == out_dir or out_dir in json_path.parents:
            raise DeploymentError("the --json file would be inside the deployment being written", where=args.json,
                                  hint="write the JSON beside the deployment directory, not in it")
        claim_output(args.json, inputs=(args.model, args.hw, args.data_dir), force=args.force, option="--json")
    graph = load_model(args.model)
    options: dict[str, object] = {"force": args.force, "model_path": args.model, "print_after": args.print_after,
                                  "print_after_all": args.print_after_all, "elide_weights": args.elide_weights}
    for key, option in (("hw", "hw_path"), ("placer", "placer"), ("region", "mesh")):
        if getattr(args, key) is not None:
            options[option] = getattr(args, key)
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
        from snnc.io import sanitize

        print("expected spike hops per image: " + ", ".join(f"{sanitize(k)} {v:.1f}" for k, v in hops.items())
              + ("" if bound is None else f" (no placement below {bound:.1f})"), file=sys.stderr)
    print(f"wrote {args.output}", file=sys.stderr)
    _write_json(args.json, {"output": str(args.output), "target": args.target, "model": str(args.model),
                            "timings": [{"stage": k, "seconds": v} for k, v in timings],
                            "expected_hops": dict(hops), "hops_lower_bound": getattr(result, "hops_lower_bound", None)})
    return EXIT_OK


def add_inspect_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="a deployment directory written by 'snnc compile'")
    add_json_arguments(p)


def cmd_inspect(args: argparse.Namespace) -> int:
    from snnc.backends.yoso import inspect_deployment
    from snnc.io import claim_output, sanitize_text

    if args.json is not None:
        claim_output(args.json, inputs=(args.dir,), force=args.force, option="--json")
    text = inspect_deployment(args.dir)
    sys.stdout.write(sanitize_text(text.rstrip("\n")) + "\n")  # no raw escapes from names
    if args.json is not None:
        from snnc.backends.yoso import load_deployment

        dep = load_deployment(args.dir)
        _write_json(args.json, {"deployment": str(dep.path), "verified": True, "manifest": dep.manifest,
                                "placement": dep.placement, "report": dep.report})
    return EXIT_OK
