"""The pipeline's last stage: write the deployment directory from the routed plan (``docs/yoso.md``,
"Deployment artifact").

Not a registered pass (it writes files rather than transforming the graph): :func:`deploy` takes the graph and
the pipeline state the passes left, and raises :class:`~snnc.passes.MissingPassError` when the plan is not
routed.
"""

from __future__ import annotations

import os
from pathlib import Path

from snnc.backends.yoso.deploy import write_deployment
from snnc.backends.yoso.plan import require_plan
from snnc.ir import Graph
from snnc.passes.base import PassState

NAME = "deploy"


def deploy(graph: Graph, state: PassState, out_dir: str | os.PathLike[str], *, force: bool = False,
           passes: list[str] | None = None, timings: list[tuple[str, float]] | None = None, model_sha256: str,
           model_hashed: str = "ir-text", model_source: str = "<graph>") -> Path:
    """Write the deployment of ``graph`` (after the route pass) to ``out_dir``; see
    :func:`snnc.backends.yoso.deploy.write_deployment`."""
    plan = require_plan(state, "route", by=NAME)
    return write_deployment(graph, plan, out_dir, force=force, passes=passes, timings=timings,
                            model_sha256=model_sha256, model_hashed=model_hashed, model_source=model_source)
