"""Compile a graph to a YOSO deployment: the pass pipeline (:data:`snnc.backends.yoso.passes.STAGES`), spike
statistics, and the artifact.

Example:
    >>> from snnc.backends.yoso import compile_yoso
    >>> result = compile_yoso(graph, "build/mlp", placer="traffic", sample_x=x[:100])   # doctest: +SKIP
    >>> print(result.report)                                                             # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from snnc.backends.yoso.deploy import check_target
from snnc.backends.yoso.hardware import Hardware, resolve_hardware
from snnc.backends.yoso.partition import check_packets
from snnc.backends.yoso.passes import PIPELINE, STAGES
from snnc.backends.yoso.passes.deploy import NAME as DEPLOY
from snnc.backends.yoso.passes.deploy import deploy
from snnc.backends.yoso.plan import YosoPlan, require_plan
from snnc.errors import BackendError, DesignRuleError, HardwareConfigError, PassError
from snnc.ir import Graph
from snnc.passes import PassManager, PassResult, PassState

__all__ = ["PIPELINE", "CompileResult", "compile_options", "compile_yoso", "model_hash", "spike_statistics"]


@dataclass
class CompileResult:
    """What :func:`compile_yoso` produced.

    Attributes:
        graph: the final (quantized, partitioned, placed, routed) graph.
        out_dir: the deployment directory.
        timings: (stage, seconds): ``spike-stats`` (if sample inputs were given), each pass, ``deploy``.
        report: the text of ``report.txt``.
        expected_hops: placer -> expected spike hops per image (the baselines and traffic, whichever was
            chosen).
        hops_lower_bound: expected hops per image that no placement can beat (None before placement).
        files: the deployment's files (relative paths).
        plan: the compile state the deployment was written from (layers, placement, routes).
    """

    graph: Graph
    out_dir: Path
    timings: list[tuple[str, float]]
    report: str
    expected_hops: dict[str, float] = field(default_factory=dict)
    hops_lower_bound: float | None = None
    files: list[str] = field(default_factory=list)
    plan: YosoPlan | None = None

    @property
    def total_seconds(self) -> float:
        return sum(s for _, s in self.timings)

    def __repr__(self) -> str:
        pes = "?" if self.plan is None else len(self.plan.pes)
        return (f"CompileResult({str(self.out_dir)!r}, {len(self.files)} files, {pes} PEs, "
                f"{self.total_seconds:.2f} s)")

    def to_json(self) -> dict[str, Any]:
        """Where the deployment is, its files, the stage timings and the placement figures."""
        return {"out_dir": str(self.out_dir), "files": list(self.files),
                "timings": [{"stage": k, "seconds": v} for k, v in self.timings],
                "expected_hops": dict(self.expected_hops), "hops_lower_bound": self.hops_lower_bound,
                "report": self.report}


def spike_statistics(graph: Graph, x: np.ndarray, *, batch_size: int | None = None) -> dict[str, np.ndarray]:
    """Per spiking value, the expected spikes per image of every neuron (flat), from the reference executor.

    Args:
        graph: the (float) graph.
        x: sample inputs ``[B, *features]``.

    Returns:
        value name -> float64 ``[size]``: spikes summed over steps, averaged over the samples.
    """
    from snnc.backends import get_backend

    x = np.asarray(x, np.float32)
    result = get_backend("reference").run(graph, x, record=True, batch_size=batch_size)
    return {name: s.sum(axis=(0, 1), dtype=np.float64).reshape(-1) / max(1, s.shape[1])
            for name, s in result.spikes.items()}


def model_hash(graph: Graph, model_path: str | os.PathLike[str] | None) -> tuple[str, str, str]:
    """(sha256, what was hashed: ``file`` or ``ir-text``, source) of the input model."""
    if model_path is not None:
        return hashlib.sha256(Path(model_path).read_bytes()).hexdigest(), "file", str(model_path)
    from snnc.ir.printer import print_graph

    return hashlib.sha256(print_graph(graph).encode("utf-8")).hexdigest(), "ir-text", "<graph>"


def compile_yoso(graph: Graph, out_dir: str | os.PathLike[str], *,
                 hw_path: str | os.PathLike[str] | Hardware | None = None, placer: str = "traffic",
                 force: bool = False, sample_x: np.ndarray | None = None, print_after: Sequence[str] = (),
                 print_after_all: bool = False, elide_weights: bool = True, stream: TextIO | None = None,
                 model_path: str | os.PathLike[str] | None = None, spike_rates: dict[str, np.ndarray] | None = None,
                 mesh: str = "auto", bits: int | None = None, granularity: str = "per-layer") -> CompileResult:
    """Compile ``graph`` for YOSO and write the deployment to ``out_dir``.

    Runs the passes of :data:`~snnc.backends.yoso.passes.STAGES` (``canonicalize, fold-pool, dce, quantize,
    partition, place, route``, each verified and timed), then the ``deploy`` stage, which writes the artifact
    from the plan (``docs/yoso.md``). With ``sample_x``, the stages before ``place`` run before the spike
    statistics, so a model that does not fit fails first. The input graph is not modified.

    Args:
        graph: a verified graph (e.g. from :func:`snnc.load_model`).
        out_dir: the deployment directory; must not exist unless ``force``.
        hw_path: hardware file (path or Hardware); None for the shipped yoso-6x7.toml.
        placer: ``traffic`` (default), ``snake`` or ``row-major``.
        force: replace an existing deployment directory.
        sample_x: sample inputs ``[B, *features]``: the reference executor's spike counts on them
            drive the traffic-aware placer and the hop figures (without them: one spike per neuron).
        print_after, print_after_all, elide_weights, stream: print the IR after passes (like ``snnc ir``).
        model_path: the model file, hashed into the manifest (else the IR text is hashed).
        spike_rates: per-neuron spike statistics given directly (instead of ``sample_x``).
        mesh: placement region: ``auto`` (smallest near-square, the paper's rule), ``hw`` or ``CxR``.
        bits, granularity: quantization options (default: the hardware's weight width, per-layer).

    Returns:
        A :class:`CompileResult`.

    Raises:
        DeploymentError: ``out_dir`` exists (without force).
        HardwareConfigError: a bad hardware file.
        DesignRuleError: the model does not fit the hardware.
        PassError: another pass failure.
    """
    target = check_target(out_dir, force)
    hw = resolve_hardware(hw_path)
    timings: list[tuple[str, float]] = []
    digest, hashed, source = model_hash(graph, model_path)
    options: dict[str, Any] = {"hw": hw, "bits": bits, "granularity": granularity, "placer": placer, "mesh": mesh,
                               "spike_rates": spike_rates, "stats_note": ""}
    if spike_rates is not None:
        options["stats_note"] = "given spike statistics"
    # with sample inputs, the passes before the first that reads spike statistics run first: the statistics
    # (which take a while on big models) are computed only for a model that fits
    split = len(STAGES)
    if spike_rates is None and sample_x is not None:
        split = next(k for k, s in enumerate(STAGES) if s.uses_statistics)
    PassManager([s.make(options) for s in STAGES], print_after=print_after)  # checks the --print-after names
    printing = {"print_after_all": print_after_all, "elide_weights": elide_weights, "stream": stream}
    head = _run(STAGES[:split], options, graph, None, print_after, printing)
    result = head
    if split < len(STAGES):
        plan = require_plan(head.state, "partition", by=STAGES[split].name)
        check_packets(plan.network, hw, graph.time_steps, 0)
        start = time.perf_counter()
        options["spike_rates"] = spike_statistics(graph, sample_x)
        timings.append(("spike-stats", time.perf_counter() - start))
        options["stats_note"] = f"reference executor on {len(sample_x)} sample inputs"
        result = _run(STAGES[split:], options, head.graph, head.state, print_after, printing)
        result.timings = head.timings + result.timings
    timings += result.timings
    if sample_x is not None and hw.leak is not None:
        _leak_cost(graph, sample_x, result)
    start = time.perf_counter()
    path = deploy(result.graph, result.state, target, force=force, passes=list(PIPELINE), timings=timings,
                  model_sha256=digest, model_hashed=hashed, model_source=source)
    timings.append((DEPLOY, time.perf_counter() - start))
    plan = require_plan(result.state, "route", by=DEPLOY)
    assert plan.placement is not None
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    return CompileResult(graph=result.graph, out_dir=path, timings=timings,
                         report=(path / "report.txt").read_text(encoding="utf-8"),
                         expected_hops=dict(plan.placement.expected_hops),
                         hops_lower_bound=plan.placement.lower_bound, files=sorted(manifest["files"]), plan=plan)


def _leak_cost(graph: Graph, sample_x: np.ndarray, result: PassResult) -> None:
    """Put the accuracy cost of the leak's fixed point on the sample inputs into the plan (and so the report):
    float model vs float with the quantized leak factors vs the integer mode of the compiled graph."""
    from snnc.backends.reference.leak import leak_accuracy_cost
    from snnc.backends.yoso.neurons import yoso_neuron

    plan = require_plan(result.state, "partition", by=DEPLOY)
    if not any(yoso_neuron(lp.layer.neuron.opname).leaky for lp in plan.layers):
        return
    assert plan.hardware.leak is not None
    x = np.asarray(sample_x, np.float32)
    plan.leak_cost = leak_accuracy_cost(graph, x, frac_bits=plan.hardware.leak.beta_frac_bits,
                                        quantized=result.graph).summary()


def _run(stages: Sequence[Any], options: dict[str, Any], graph: Graph, state: PassState | None,
         print_after: Sequence[str], printing: dict[str, Any]) -> PassResult:
    """Run ``stages`` with ``options``; a design-rule or hardware error inside a pass is raised as itself."""
    names = {s.name for s in stages}
    pm = PassManager([s.make(options) for s in stages], print_after=[n for n in print_after if n in names],
                     **printing)
    try:
        return pm.run(graph, state)
    except PassError as err:
        cause = err.__cause__
        if isinstance(cause, DesignRuleError | HardwareConfigError):
            raise cause from None
        raise


def compile_options(options: dict[str, Any]) -> dict[str, Any]:
    """Check ``Backend.compile`` keyword options against :func:`compile_yoso`'s parameters."""
    import inspect

    known = set(inspect.signature(compile_yoso).parameters) - {"graph", "out_dir"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise BackendError(f"unknown YOSO compile option(s): {', '.join(unknown)}", where="backend yoso",
                        hint=f"options: {', '.join(sorted(known))}")
    return options
