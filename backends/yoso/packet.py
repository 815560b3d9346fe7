"""The spike packet format (``docs/yoso.md``, "Packet format").

One packet is ``flits_per_spike * flit_bits`` bits, fields from the most significant bit down::

    | type (2) | source (source_bits) | neuron (ceil(log2 N)) | step (step_bits) | zero padding |

* ``type``: 0 spike, 1 end of step (the sender has sent every spike of ``step``), 2-3 reserved.
* ``source``: the multicast key, i.e. the sending PE's id, or ``P + b`` for block ``b`` of the host's
  input; routers look it up in their tables, the receiving PE maps it to an input base index.
* ``neuron``: the neuron's index within the source's slice (or host block), 0 .. N-1.
* ``step``: the time step the spike belongs to, 0 .. T-1.

A packet of several flits is sent most significant flit first (the head flit carries the type and key).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from snnc.backends.yoso.hardware import PACKET_TYPE_BITS, Hardware
from snnc.errors import DeploymentError

SPIKE, END_OF_STEP = 0, 1


@dataclass(frozen=True)
class PacketFormat:
    """Field widths of a spike packet; ``encode``/``decode`` convert to and from the packet's integer."""

    source_bits: int
    neuron_bits: int
    step_bits: int
    total_bits: int
    flit_bits: int
    type_bits: int = PACKET_TYPE_BITS

    def fields(self) -> list[tuple[str, int, int]]:
        """(name, msb, lsb) of each field, most significant first (``padding`` last, if any)."""
        out, top = [], self.total_bits - 1
        for name, width in (("type", self.type_bits), ("source", self.source_bits),
                            ("neuron", self.neuron_bits), ("step", self.step_bits)):
            if width:
                out.append((name, top, top - width + 1))
            top -= width
        if top >= 0:
            out.append(("padding", top, 0))
        return out

    def encode(self, source: int, neuron: int, step: int, kind: int = SPIKE) -> int:
        """The packet as an unsigned integer of ``total_bits`` bits."""
        word = 0
        values = {"type": kind, "source": source, "neuron": neuron, "step": step, "padding": 0}
        for name, msb, lsb in self.fields():
            width = msb - lsb + 1
            v = values[name]
            if not 0 <= v < (1 << width):
                raise DeploymentError(f"packet field {name} = {v} does not fit {width} bits")
            word |= v << lsb
        return word

    def decode(self, word: int) -> dict[str, int]:
        """The fields of a packet integer (``padding`` omitted)."""
        return {name: (word >> lsb) & ((1 << (msb - lsb + 1)) - 1)
                for name, msb, lsb in self.fields() if name != "padding"}

    def flits(self, word: int) -> list[int]:
        """The packet split into flits, head (most significant) first."""
        n = self.total_bits // self.flit_bits
        mask = (1 << self.flit_bits) - 1
        return [(word >> (self.flit_bits * (n - 1 - k))) & mask for k in range(n)]

    def to_json(self) -> dict[str, Any]:
        return {"total_bits": self.total_bits, "flit_bits": self.flit_bits,
                "fields": [{"name": n, "msb": m, "lsb": lo} for n, m, lo in self.fields()],
                "types": {"spike": SPIKE, "end_of_step": END_OF_STEP}}

    def describe(self) -> str:
        """One line per field, for reports."""
        return "\n".join(f"  [{m:>2}:{lo:>2}] {n:<8} ({m - lo + 1} bits)" for n, m, lo in self.fields())


def packet_format(hw: Hardware) -> PacketFormat:
    """The packet format of a hardware description."""
    return PacketFormat(source_bits=hw.noc.source_bits, neuron_bits=hw.neuron_bits, step_bits=hw.noc.step_bits,
                        total_bits=hw.packet_bits, flit_bits=hw.noc.flit_bits)
