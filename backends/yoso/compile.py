"""Compile a graph to a YOSO deployment: the pass pipeline, spike statistics, and the artifact.

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

from snnc.backends.yoso.deploy import check_target, write_deployment
from snnc.backends.yoso.hardware import Hardware, resolve_hardware
from snnc.errors import BackendError, DesignRuleError, HardwareConfigError, PassError
from snnc.ir import Graph

#: the pipeline compile_yoso runs, in order.
PIPELINE: tuple[str, ...] = ("canonicalize", "fold-pool", "dce", "quantize", "partition", "place", "route")


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
    """

    graph: Graph
    out_dir: Path
    timings: list[tuple[str, float]]
    report: str
    expected_hops: dict[str, float] = field(default_factory=dict)
    hops_lower_bound: float | None = None
    files: list[str] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        return sum(s for _, s in self.timings)


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

    Runs ``canonicalize, dce, quantize, partition, place, route`` (each verified and timed), then
    writes the artifact (``docs/yoso.md``). The input graph is not modified.

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
    from snnc.passes import PassManager, get_pass

    target = check_target(out_dir, force)
    hw = resolve_hardware(hw_path)
    timings: list[tuple[str, float]] = []
    digest, hashed, source = model_hash(graph, model_path)
    note = ""
    if spike_rates is None and sample_x is not None:
        check_fits(graph, hw)  # fail before the spike statistics, which can take a while on big models
        start = time.perf_counter()
        spike_rates = spike_statistics(graph, sample_x)
        timings.append(("spike-stats", time.perf_counter() - start))
        note = f"reference executor on {len(sample_x)} sample inputs"
    elif spike_rates is not None:
        note = "given spike statistics"
    passes = [get_pass("canonicalize"), get_pass("fold-pool"), get_pass("dce"),
              get_pass("quantize", hw=hw, bits=bits, granularity=granularity),
              get_pass("partition", hw=hw),
              get_pass("place", hw=hw, placer=placer, mesh=mesh, spike_rates=spike_rates, stats_note=note),
              get_pass("route", hw=hw)]
    pm = PassManager(passes, print_after=print_after, print_after_all=print_after_all, elide_weights=elide_weights,
                     stream=stream)
    try:
        result = pm.run(graph)
    except PassError as err:
        cause = err.__cause__
        if isinstance(cause, DesignRuleError | HardwareConfigError):
            raise cause from None
        raise
    timings += result.timings
    start = time.perf_counter()
    path = write_deployment(result.graph, hw, target, force=force, passes=list(PIPELINE), timings=timings,
                            model_sha256=digest, model_hashed=hashed, model_source=source)
    timings.append(("deploy", time.perf_counter() - start))
    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    return CompileResult(graph=result.graph, out_dir=path, timings=timings,
                         report=(path / "report.txt").read_text(encoding="utf-8"),
                         expected_hops=json.loads(result.graph.metadata.get("yoso.expected_hops", "{}")),
                         hops_lower_bound=json.loads(result.graph.metadata.get("yoso.hops_lower_bound", "null")),
                         files=sorted(manifest["files"]))


def check_fits(graph: Graph, hw: Hardware) -> None:
    """Fail early if the model's layers cannot fit the PEs, the mesh or the packet fields.

    The same design rules as the partition pass, on the float graph (its pools folded first, as the
    pipeline does). A graph whose layers the partition pass would only see after quantize (an average
    pool feeding a neuron op) is left to it.

    Raises:
        DesignRuleError: with the numbers (fan-in vs W, PEs needed vs the mesh, T vs the step field).
    """
    from snnc.backends.yoso.layers import find_network
    from snnc.backends.yoso.partition import check_packets, plan_network
    from snnc.passes import PassManager

    try:
        network = find_network(graph)
    except DesignRuleError:
        try:
            network = find_network(PassManager(["canonicalize", "fold-pool", "dce"]).run(graph).graph)
        except DesignRuleError:
            return
    if network.layers:
        plan_network(network, hw)
        check_packets(network, hw, graph.time_steps, 0)


def compile_options(options: dict[str, Any]) -> dict[str, Any]:
    """Check ``Backend.compile`` keyword options against :func:`compile_yoso`'s parameters."""
    import inspect

    known = set(inspect.signature(compile_yoso).parameters) - {"graph", "out_dir"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise BackendError(f"unknown YOSO compile option(s): {', '.join(unknown)}", where="backend yoso",
                        hint=f"options: {', '.join(sorted(known))}")
    return options
