"""Energy of a simulated image: counted events times their energy from the hardware file, plus leakage.

The chip counts what it does (:data:`snnc.backends.yoso.sim.pe.COUNTERS` per PE, plus the network's
flits and packets); :func:`event_counts` turns those counters into hardware events, and
:meth:`EnergyModel.breakdown` prices them (``[sram.*] read_pj / write_pj``, ``[energy]``):

=======================  =====================================================================
event                    counted as
=======================  =====================================================================
weight SRAM read         one per synapse operation (a weight word for one neuron)
acc_weight SRAM read     one per synapse operation, bias operation and neuron update
acc_weight SRAM write    one per synapse and bias operation, per IF input clear, per cleared word
potential SRAM read      one per neuron update
potential SRAM write     one per neuron update and per cleared word (image start)
spike_addr SRAM w / r    one write and one read per packet a PE queues (spikes and end-of-step)
add                      one per synapse and bias operation, two per neuron update (``V + K``
                         and the threshold compare), one per reset by subtraction
multiply (leak)          one per state word a leaky neuron decays (``decays``: ``V`` of every
                         ``snn.lif`` neuron each step, ``V`` and ``J`` of ``snn.cuba_lif``), priced
                         ``[leak] multiply_pj``; its own category ``leak_sweep``, only on a chip
                         with the leak option (the sweep's cycles, ``sweep_cycles``, are in the
                         latency: the update of a leaky PE takes them)
router                   one per flit leaving a router output (ejection ports included)
link                     one per flit on a router-to-router link or on the host link
injection                one per packet injected by a core or by the host
leakage                  ``leakage_uw_per_pe x (cols x rows) x latency`` (every PE of the mesh leaks)
=======================  =====================================================================

The counters are the interface to the neurons: a neuron's update (its entry in
:mod:`snnc.backends.yoso.neurons`) raises the counters its ``counters`` field lists (``updates``,
``resets``, ``acc_clears``, ``decays``), and this module prices the counters without knowing which neuron raised them.

Power = energy / latency. Example:
    >>> from snnc.backends.yoso.hardware import load_hardware
    >>> model = EnergyModel.from_hardware(load_hardware())
    >>> round(model.leakage_pj(1_000_000) / 1e6, 2)   # uJ leaked in 1e6 cycles (1 s at 1 MHz) by 42 PEs
    744.66
"""

from __future__ import annotations

from dataclasses import dataclass

from snnc.backends.yoso.hardware import SRAM_NAMES, Hardware

#: the categories of :meth:`EnergyModel.breakdown`, in report order.
CATEGORIES = ("weight_sram", "potential_sram", "acc_weight_sram", "spike_addr_sram", "adder", "router", "link",
              "injection", "leakage")
#: the category a chip with the leak option adds (after ``adder``): the decay multiplies of the per-step sweep.
LEAK_CATEGORY = "leak_sweep"


def categories(leak: bool) -> tuple[str, ...]:
    """The breakdown's categories, with :data:`LEAK_CATEGORY` on a chip with the leak option."""
    if not leak:
        return CATEGORIES
    k = CATEGORIES.index("adder") + 1
    return (*CATEGORIES[:k], LEAK_CATEGORY, *CATEGORIES[k:])


def event_counts(counters: dict[str, int]) -> dict[str, int]:
    """Hardware events from the chip's counters (see the module table).

    Args:
        counters: chip totals: the PE counters (``synapse_ops``, ``bias_ops``, ``updates``, ``resets``,
            ``acc_clears``, ``clear_words``, ``packets_in``, ``eos_in``) and the network's
            (``router_flits``, ``link_flits``, ``packets_injected``).

    Returns:
        event name -> count: ``{sram}.read`` / ``{sram}.write`` for the four SRAMs, ``add``, ``router``,
        ``link``, ``injection``, ``multiply`` (the leak's decays).
    """
    c = {k: int(v) for k, v in counters.items()}
    syn, bias, upd = c.get("synapse_ops", 0), c.get("bias_ops", 0), c.get("updates", 0)
    queued = c.get("packets_in", 0) + c.get("eos_in", 0)
    clear = c.get("clear_words", 0)
    return {
        "weight.read": syn,
        "weight.write": 0,
        "potential.read": upd,
        "potential.write": upd + clear,
        "acc_weight.read": syn + bias + upd,
        "acc_weight.write": syn + bias + c.get("acc_clears", 0) + clear,
        "spike_addr.read": queued,
        "spike_addr.write": queued,
        "add": syn + bias + 2 * upd + c.get("resets", 0),
        "router": c.get("router_flits", 0),
        "link": c.get("link_flits", 0),
        "injection": c.get("packets_injected", 0),
        "multiply": c.get("decays", 0),
    }


@dataclass(frozen=True)
class EnergyModel:
    """Energy per event (pJ) and static power of a chip.

    Attributes:
        read_pj, write_pj: per SRAM name, energy per word read / written.
        add_pj, router_hop_pj, link_hop_pj, injection_pj: ``[energy]`` of the hardware file.
        leakage_uw_per_pe: static power of one PE (uW).
        pes: PEs that leak (the whole mesh).
        clock_hz: the clock (converts cycles to seconds).
    """

    read_pj: dict[str, float]
    write_pj: dict[str, float]
    add_pj: float
    router_hop_pj: float
    link_hop_pj: float
    injection_pj: float
    leakage_uw_per_pe: float
    pes: int
    clock_hz: float
    multiply_pj: float | None = None  #: ``[leak] multiply_pj``; None on a chip without the leak option

    @classmethod
    def from_hardware(cls, hw: Hardware) -> EnergyModel:
        e = hw.energy
        return cls(read_pj={n: hw.sram[n].read_pj for n in SRAM_NAMES},
                   write_pj={n: hw.sram[n].write_pj for n in SRAM_NAMES},
                   add_pj=e.add_pj, router_hop_pj=e.router_hop_pj, link_hop_pj=e.link_hop_pj,
                   injection_pj=e.injection_pj, leakage_uw_per_pe=e.leakage_uw_per_pe, pes=hw.mesh.size,
                   clock_hz=hw.chip.clock_hz, multiply_pj=None if hw.leak is None else hw.leak.multiply_pj)

    @property
    def categories(self) -> tuple[str, ...]:
        """This chip's breakdown categories (:func:`categories`)."""
        return categories(self.multiply_pj is not None)

    def seconds(self, cycles: int) -> float:
        """Duration of ``cycles`` at the clock."""
        return cycles / self.clock_hz

    def leakage_pj(self, cycles: int) -> float:
        """Static energy of the whole mesh over ``cycles`` (pJ): uW x s = 1e-6 J -> x 1e6 pJ."""
        return self.leakage_uw_per_pe * self.pes * self.seconds(cycles) * 1e6

    def breakdown(self, events: dict[str, int], cycles: int) -> dict[str, float]:
        """Energy per category (pJ), :attr:`categories` order (``leak_sweep`` only with the leak option)."""
        out = {f"{n}_sram": events[f"{n}.read"] * self.read_pj[n] + events[f"{n}.write"] * self.write_pj[n]
               for n in SRAM_NAMES}
        out["adder"] = events["add"] * self.add_pj
        out["router"] = events["router"] * self.router_hop_pj
        out["link"] = events["link"] * self.link_hop_pj
        out["injection"] = events["injection"] * self.injection_pj
        out["leakage"] = self.leakage_pj(cycles)
        if self.multiply_pj is not None:
            out[LEAK_CATEGORY] = events.get("multiply", 0) * self.multiply_pj
        return {k: out[k] for k in self.categories}

    def total_pj(self, events: dict[str, int], cycles: int) -> float:
        """Dynamic plus static energy (pJ)."""
        return sum(self.breakdown(events, cycles).values())
