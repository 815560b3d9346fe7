"""What the chip (or any other component) may ask of the network: the :class:`NetworkModel` interface.

The chip model (:mod:`.chip`) talks to the network only through this interface: it injects packets
(by multicast key, so that they follow the deployment's routing tables), is called back when a packet
reaches a node, returns ejection-buffer space, and reads statistics and the conservation check at the
end of an image. :class:`~snnc.backends.yoso.sim.noc.MeshNoC` (the YOSO mesh) implements it; another
topology or routing scheme is one class with these methods, handed to
:class:`~snnc.backends.yoso.sim.chip.Chip` as ``network=`` (a :data:`NetworkFactory`); ``docs/noc.md``
("Another topology or routing scheme") has the recipe.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from snnc.backends.yoso.routing import MeshRoutes
    from snnc.backends.yoso.sim.events import Environment
    from snnc.backends.yoso.sim.noc import NocConfig


@dataclass(frozen=True)
class NetworkStats:
    """A network's totals after a run.

    Attributes:
        packets: packets injected.
        delivered: packets delivered (to every destination).
        hops: links crossed by the packets' head flits, summed (a multicast counts its tree's links; the
            host link counts).
        router_flits: flits that left any router output, ejection ports included.
        link_flits: flits on router-to-router links and on the host link, both ways.
        host_in_flits: flits the host sent into the network.
        links: ``(from node, to node or 'host', flits)`` for every link that carried a flit, in port order;
            the host link into the mesh last, as ``(host node, 0, flits)``.
    """

    packets: int
    delivered: int
    hops: int
    router_flits: int
    link_flits: int
    host_in_flits: int
    links: list[tuple[int, int | str, int]]


@runtime_checkable
class NetworkModel(Protocol):
    """A cycle-level network the event core drives.

    A network is built as ``factory(env, config, on_deliver, routes)`` (:data:`NetworkFactory`) and calls
    ``on_deliver(packet_id, node)`` when a packet's tail reaches ``node`` (once per destination).
    """

    #: the host's node id, None without a host link.
    host: int | None
    #: per packet id, what was given to :meth:`inject` as ``payload``.
    payload: list[Any]

    def inject(self, src: int, dst: int | Sequence[int], flits: int | None = None, payload: Any = None,
               key: int | None = None) -> int:
        """Queue a packet at ``src`` now; ``key`` routes it by that multicast key's tables. Returns its id."""
        ...

    def consume(self, node: int, flits: int = 1) -> None:
        """The consumer at ``node`` took ``flits`` flits out of its ejection buffer."""
        ...

    def check_conservation(self) -> None:
        """Raise a :class:`~snnc.backends.yoso.sim.events.SimulationError` unless every injected packet was
        delivered exactly once, whole, at its destinations."""
        ...

    def statistics(self) -> NetworkStats:
        """The totals of the run so far."""
        ...

    def links(self) -> list[tuple[int, int | str, int]]:
        """``(from node, to node or 'host' or 'eject', flits)`` for every output port."""
        ...

    def router_flits(self) -> np.ndarray:
        """Flits each router sent out."""
        ...

    def packet_table(self) -> dict[str, np.ndarray]:
        """Per-packet records (``src``, ``dst``, ``flits``, ``created``, ``head_out``, ``head_eject``,
        ``tail_eject``, ``hops``) as int64 arrays, -1 where an event has not happened."""
        ...


#: builds a network: ``(env, config, on_deliver, routes) -> NetworkModel``.
NetworkFactory = Callable[["Environment", "NocConfig", "Callable[[int, int], None] | None", "MeshRoutes | None"],
                          NetworkModel]
