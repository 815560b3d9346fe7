"""The YOSO compile state: :class:`YosoPlan`, produced by partition, enriched by place and route, consumed by deploy.

The plan travels with the graph in the pass pipeline's :class:`~snnc.passes.PassState` (copied with it), and
holds references to the graph's ops (through its :class:`~snnc.backends.yoso.layers.Network`). Each pass also
writes a printed mirror of what it added, for reading (``snnc ir --passes ...``, ``model.ir``): the layer plans in
the neuron ops' ``meta['yoso']`` and the rest in ``graph.metadata['yoso.*']``. The mirror is never read back;
a pass that finds no plan (or one lacking the stage it needs) raises :class:`~snnc.passes.MissingPassError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from snnc.backends.yoso.hardware import Hardware
from snnc.backends.yoso.layers import Network
from snnc.backends.yoso.partition import META_KEY, LayerPlan, PESlice, all_pes
from snnc.backends.yoso.routing import Source
from snnc.passes.base import MissingPassError, PassState

#: the passes that build the plan, in order; each needs the ones before it.
PLAN_PASSES = ("partition", "place", "route")
#: where the host's spikes enter the mesh.
HOST_PORT = "west of (0,0)"

Pos = tuple[int, int]


@dataclass
class HostBlock:
    """One block of the host's input spikes (a multicast key ``P + b``); ``dests``/``links`` filled by route."""

    key: int
    value: str
    lo: int
    hi: int
    rate: float
    dests: list[int] | None = None
    links: int | None = None

    def to_meta(self) -> dict[str, Any]:
        d: dict[str, Any] = {"key": self.key, "value": self.value, "neurons": [self.lo, self.hi], "rate": self.rate}
        if self.dests is not None:
            d["dests"], d["links"] = self.dests, self.links
        return d


@dataclass
class Placement:
    """What the place pass decided: the region, the placer, PE id -> slot, and the traffic estimates.

    ``expected_hops`` (placer -> expected spike hops per image, all three placers) and ``lower_bound`` are
    rounded to 3 decimals, as recorded in the deployment.
    """

    region: Pos
    placer: str
    xy: dict[int, Pos]
    expected_hops: dict[str, float]
    lower_bound: float
    spike_stats: str


@dataclass
class Routes:
    """What the route pass computed: every multicast key (destinations, rates), the per-router tables and
    the summary recorded in ``routing.json``."""

    sources: list[Source]
    links: dict[int, int]
    tables: dict[Pos, dict[int, str]]
    summary: dict[str, Any]


@dataclass
class YosoPlan:
    """How a graph maps onto the YOSO mesh.

    Attributes:
        network: the PE-mapped layers and host encoders of the graph (found once, by partition).
        hardware: the hardware description partition planned for.
        layers: per layer, its PEs (``PESlice.xy``/``rate`` filled by place, ``dests``/``links`` by route).
        host_blocks: the host's input blocks (place).
        placement: the place pass's result (None before it).
        routes: the route pass's result (None before it).
        leak_cost: the accuracy cost of the leak's fixed point on the sample inputs (compile_yoso, leaky
            layers and sample inputs only), one report line.
    """

    network: Network
    hardware: Hardware
    layers: list[LayerPlan]
    host_blocks: list[HostBlock] = field(default_factory=list)
    placement: Placement | None = None
    routes: Routes | None = None
    #: what the fixed-point leak costs on the sample inputs (:meth:`LeakCost.summary`), when compiled with some
    leak_cost: str | None = None

    @property
    def pes(self) -> list[PESlice]:
        """Every PE, by id."""
        return all_pes(self.layers)

    @property
    def stage(self) -> str:
        """The last plan pass that ran: ``partition``, ``place`` or ``route``."""
        return "route" if self.routes is not None else "place" if self.placement is not None else "partition"

    # ------------------------------------------------------------------------------------- mirror
    def mirror_layers(self) -> None:
        """Print each layer plan into its neuron op's ``meta['yoso']``."""
        write_plans(self.layers)

    def host_meta(self) -> str:
        return json.dumps({"port": HOST_PORT, "blocks": [b.to_meta() for b in self.host_blocks]})


def write_plans(plans: list[LayerPlan]) -> None:
    """The printed mirror of the layer plans: each in its neuron op's ``meta['yoso']``."""
    for plan in plans:
        plan.layer.neuron.meta[META_KEY] = plan.to_meta()


def require_plan(state: PassState, needs: str, *, by: str) -> YosoPlan:
    """The plan in ``state`` after the plan pass ``needs`` (``partition``, ``place`` or ``route``) has run.

    Raises:
        MissingPassError: naming the first plan pass that has not run (``by`` is the pass asking).
    """
    plan = state.get(YosoPlan)
    done = -1 if plan is None else PLAN_PASSES.index(plan.stage)
    wanted = PLAN_PASSES.index(needs)
    if done >= wanted:
        assert plan is not None
        return plan
    missing = PLAN_PASSES[done + 1]
    before = ", ".join(PLAN_PASSES[done + 1: wanted + 1])
    state_text = "no YOSO plan" if plan is None else f"a YOSO plan made by {', '.join(PLAN_PASSES[:done + 1])}"
    raise MissingPassError(
        f"{by} needs the {missing} pass to run before it (found {state_text})", needed_by=by, missing=missing,
        hint=f"run {before} before {by} in one pipeline, e.g. snnc ir --passes quantize,"
             f"{','.join(PLAN_PASSES[:max(wanted, PLAN_PASSES.index(by) if by in PLAN_PASSES else wanted) + 1])}"
             " (compile_yoso runs the whole pipeline); the meta['yoso'] of an IR dump is a printed mirror, not "
             "compile state")
