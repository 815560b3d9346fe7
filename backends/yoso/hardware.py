"""The YOSO hardware description: one TOML file with every figure the backend uses.

A file has a ``format`` version and the sections of :data:`SCHEMA` (``docs/yoso.md`` lists every key); the
sections in :data:`OPTIONAL_SECTIONS` may be left out (``[leak]``, the leak option: the paper's chip has none,
``examples/yoso-leaky-6x7.toml`` declares it).
:func:`load_hardware` reads and validates it: an unknown key, a missing key, a value of the wrong
type or an impossible value is a :class:`~snnc.errors.HardwareConfigError` naming the file and the
key, e.g. ``yoso.toml: [pe] neurons: must be >= 1, got 0``, with a hint.

Example:
    >>> hw = load_hardware()                       # the shipped yoso-6x7.toml
    >>> hw.mesh.cols, hw.mesh.rows, hw.pe.neurons
    (6, 7, 256)
"""

from __future__ import annotations

import hashlib
import math
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from snnc.errors import HardwareConfigError

#: the hardware file format this module reads (the top-level ``format`` key).
FORMAT = 1
#: the file shipped with snnc: the paper's 6 x 7 chip.
DEFAULT_HARDWARE = Path(__file__).resolve().parent / "yoso-6x7.toml"
#: the four SRAMs of a PE, by their key under ``[sram]``.
SRAM_NAMES = ("weight", "potential", "acc_weight", "spike_addr")
#: packet type field width (spike, end-of-step, reserved), see :mod:`snnc.backends.yoso.packet`.
PACKET_TYPE_BITS = 2


# ------------------------------------------------------------------------------------ dataclasses
@dataclass(frozen=True)
class Chip:
    name: str
    technology_nm: int
    clock_hz: float


@dataclass(frozen=True)
class Mesh:
    cols: int
    rows: int

    @property
    def size(self) -> int:
        return self.cols * self.rows


@dataclass(frozen=True)
class PE:
    neurons: int  #: N, the neuron capacity of one PE
    weights: int  #: W, the weight capacity of one PE


@dataclass(frozen=True)
class Sram:
    words: int
    bits: int
    read_pj: float
    write_pj: float

    @property
    def min_value(self) -> int:
        return -(1 << (self.bits - 1))

    @property
    def max_value(self) -> int:
        return (1 << (self.bits - 1)) - 1


@dataclass(frozen=True)
class Core:
    adder_bits: int
    load_cycles: int
    compute_cycles: int
    store_cycles: int
    update_cycles: int


@dataclass(frozen=True)
class Noc:
    router_delay_cycles: int
    link_delay_cycles: int
    fifo_depth: int
    flit_bits: int
    flits_per_spike: int
    source_bits: int
    step_bits: int


@dataclass(frozen=True)
class Energy:
    add_pj: float
    router_hop_pj: float
    link_hop_pj: float
    injection_pj: float
    leakage_uw_per_pe: float


@dataclass(frozen=True)
class Leak:
    """The leak option (``[leak]``, optional): fixed-point decay of leaky neurons' state every step.

    ``beta_q = rint(beta * 2**beta_frac_bits)``, the decay ``V * beta_q >> beta_frac_bits`` rounded as ``rounding``
    says (the same for ``alpha`` of a current-based neuron); every neuron of a leaky layer is read, decayed and
    written back once per step, input or not: ``sweep_cycles_per_neuron`` core cycles and one multiply
    (``multiply_pj``) per decayed state word.
    """

    beta_frac_bits: int
    alpha_frac_bits: int
    rounding: str
    sweep_cycles_per_neuron: int
    multiply_pj: float


#: the decay's rounding rules (``snnc.backends.reference.integer.decay``).
LEAK_ROUNDINGS = ("floor", "nearest")


@dataclass(frozen=True)
class Hardware:
    """A validated YOSO hardware description (all sections), plus where it came from.

    ``source`` is the path as given (or ``<text>``), ``text`` the file's exact contents (a deployment
    copies it), ``sha256`` the hash of those bytes.
    """

    chip: Chip
    mesh: Mesh
    pe: PE
    sram: dict[str, Sram]
    core: Core
    noc: Noc
    energy: Energy
    source: str
    text: str
    sha256: str
    leak: Leak | None = None  #: the leak option, None when the file has no ``[leak]`` (the paper's chip)

    @property
    def name(self) -> str:
        """The file name (``yoso-6x7.toml``), or the chip name for text without a file."""
        return Path(self.source).name if self.source != "<text>" else f"{self.chip.name}.toml"

    @property
    def neuron_bits(self) -> int:
        """Width of the packet's neuron field: enough for N neurons (indices 0 .. N-1)."""
        return max(1, math.ceil(math.log2(self.pe.neurons)))

    @property
    def packet_bits(self) -> int:
        """Bits one spike packet can carry."""
        return self.noc.flit_bits * self.noc.flits_per_spike


# ------------------------------------------------------------------------------------------ schema
Check = Callable[[Any], str | None]


def _at_least(low: float) -> Check:
    return lambda v: None if v >= low else f"must be >= {low:g}, got {v}"


def _between(low: int, high: int) -> Check:
    return lambda v: None if low <= v <= high else f"must be between {low} and {high}, got {v}"


def _bounded(low: float, high: int) -> Check:
    """``low <= v <= high``; the upper bound keeps absurd sizes (2**64 words) from reaching an allocation."""
    def check(v: Any) -> str | None:
        if v < low:
            return f"must be >= {low:g}, got {v}"
        return None if v <= high else f"must be <= {high} (no real chip is that large), got {v}"
    return check


_nonneg = _at_least(0)
_pos_int = _at_least(1)
#: upper bounds of sizes: SRAM words and PE capacities, mesh sides, cycle counts, packet field widths.
MAX_WORDS, MAX_SIDE, MAX_CYCLES, MAX_FIELD_BITS = 1 << 24, 1024, 1 << 20, 32
_words = _bounded(1, MAX_WORDS)
_side = _bounded(1, MAX_SIDE)
_cycles = _bounded(0, MAX_CYCLES)
#: energies (pJ, uW) and the clock are bounded too, so derived energies, powers and times stay finite
_energy = _bounded(0, 10**9)
_clock_range = _bounded(1, 10**12)


def _clock(v: float) -> str | None:
    return _positive(v) or _clock_range(v)


def _one_of(choices: tuple[str, ...]) -> Check:
    return lambda v: None if v in choices else f"must be one of {', '.join(repr(c) for c in choices)}, got {v!r}"


def _positive(v: float) -> str | None:
    return None if v > 0 else f"must be > 0, got {v}"


def _sram_schema(what: str) -> dict[str, tuple[str, Check | None, str]]:
    return {
        "words": ("int", _words, f"words in the {what} SRAM"),
        "bits": ("int", _between(2, 32), f"bits per word of the {what} SRAM"),
        "read_pj": ("float", _energy, "energy of reading one word, pJ"),
        "write_pj": ("float", _energy, "energy of writing one word, pJ"),
    }


#: section -> key -> (type, check, description). Nested sections are written ``sram.weight``.
SCHEMA: dict[str, dict[str, tuple[str, Check | None, str]]] = {
    "chip": {
        "name": ("str", None, "a name for reports"),
        "technology_nm": ("int", _pos_int, "process node, nm (documentation only)"),
        "clock_hz": ("float", _clock, "core and NoC clock, Hz"),
    },
    "mesh": {
        "cols": ("int", _side, "PEs along x (columns)"),
        "rows": ("int", _side, "PEs along y (rows)"),
    },
    "pe": {
        "neurons": ("int", _words, "N: neurons one PE holds"),
        "weights": ("int", _words, "W: synaptic weights one PE holds"),
    },
    **{f"sram.{s}": _sram_schema(s.replace("_", "-")) for s in SRAM_NAMES},
    "core": {
        "adder_bits": ("int", _between(2, 64), "width of the saturating adder"),
        "load_cycles": ("int", _cycles, "cycles of the load module per synapse event"),
        "compute_cycles": ("int", _cycles, "cycles of the compute module per synapse event"),
        "store_cycles": ("int", _cycles, "cycles of the store module per synapse event"),
        "update_cycles": ("int", _cycles, "cycles per neuron per time step (state update, fire check)"),
    },
    "noc": {
        "router_delay_cycles": ("int", _bounded(1, MAX_CYCLES), "router pipeline delay, cycles per hop"),
        "link_delay_cycles": ("int", _cycles, "link traversal, cycles per hop"),
        "fifo_depth": ("int", _bounded(1, MAX_WORDS), "flits each router input FIFO holds"),
        "flit_bits": ("int", _bounded(1, 1024), "bits per flit"),
        "flits_per_spike": ("int", _bounded(1, 64), "flits per spike packet"),
        "source_bits": ("int", _bounded(1, MAX_FIELD_BITS), "width of the packet's source (multicast key) field"),
        "step_bits": ("int", _bounded(0, MAX_FIELD_BITS), "width of the packet's time-step field (T <= 2**step_bits)"),
    },
    "energy": {
        "add_pj": ("float", _energy, "one saturating add, pJ"),
        "router_hop_pj": ("float", _energy, "one flit through one router, pJ"),
        "link_hop_pj": ("float", _energy, "one flit over one link, pJ"),
        "injection_pj": ("float", _energy, "one packet injected by a core or the host interface, pJ"),
        "leakage_uw_per_pe": ("float", _energy, "static power of one PE, microwatts"),
    },
    "leak": {
        "beta_frac_bits": ("int", _between(1, 16), "fraction bits of the fixed-point beta (beta_q ~ beta * 2**f)"),
        "alpha_frac_bits": ("int", _between(1, 16), "fraction bits of the fixed-point alpha (synaptic-current decay)"),
        "rounding": ("str", _one_of(LEAK_ROUNDINGS), "rounding of the decay product: floor or nearest"),
        "sweep_cycles_per_neuron": ("int", _cycles, "core cycles the decay adds per neuron per step"),
        "multiply_pj": ("float", _energy, "one fixed-point multiply of a state word by beta or alpha, pJ"),
    },
}
#: sections a file may leave out (then the option is absent: the paper's chip has no leak).
OPTIONAL_SECTIONS = frozenset({"leak"})


# ------------------------------------------------------------------------------------------ loading
def load_hardware(path: str | os.PathLike[str] | None = None) -> Hardware:
    """Read and validate a hardware description file.

    Args:
        path: a TOML file; None for the shipped ``yoso-6x7.toml``.

    Returns:
        The validated :class:`Hardware`.

    Raises:
        HardwareConfigError: the file is missing or unreadable, is not TOML, or has an unknown,
            missing, mistyped or impossible value (the message names the file and the key).
    """
    p = DEFAULT_HARDWARE if path is None else Path(path)
    source = str(p if path is not None else p.name)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise HardwareConfigError("hardware file not found", where=source,
                                  hint=f"give an existing file, or omit it for the shipped {DEFAULT_HARDWARE.name}"
                                  ) from None
    except OSError as err:
        raise HardwareConfigError(f"cannot read the hardware file: {err.strerror}", where=source) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise HardwareConfigError(f"not UTF-8 text ({err.reason} at byte {err.start})", where=source) from None
    return parse_hardware(text, source=source)


def parse_hardware(text: str, source: str = "<text>") -> Hardware:
    """Validate hardware TOML text (see :func:`load_hardware`); ``source`` names it in errors."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise HardwareConfigError(f"not valid TOML: {err}", where=source,
                                  hint="see docs/yoso.md for the file format") from None
    where = _Where(source)
    version = raw.pop("format", None)
    if version is None:
        raise where.error("format", f"missing key (this snnc reads format = {FORMAT})",
                          hint=f"add 'format = {FORMAT}' at the top of the file")
    if type(version) is not int or version != FORMAT:
        raise where.error("format", f"unsupported hardware file format {version!r}; this snnc reads {FORMAT}")
    values = _read_sections(raw, where)
    hw = Hardware(
        chip=Chip(**values["chip"]), mesh=Mesh(**values["mesh"]), pe=PE(**values["pe"]),
        sram={s: Sram(**values[f"sram.{s}"]) for s in SRAM_NAMES}, core=Core(**values["core"]),
        noc=Noc(**values["noc"]), energy=Energy(**values["energy"]), source=source, text=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        leak=Leak(**values["leak"]) if "leak" in values else None)
    _check_consistency(hw, where)
    return hw


class _Where:
    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, key: str, message: str, hint: str | None = None) -> HardwareConfigError:
        return HardwareConfigError(message, where=f"{self.source}: {key}", hint=hint)

    def key(self, section: str, key: str) -> str:
        return f"[{section}] {key}"


def _read_sections(raw: dict[str, Any], where: _Where) -> dict[str, dict[str, Any]]:
    tables = _flatten_tables(raw, where)
    for name in tables:
        if name not in SCHEMA:
            raise where.error(f"[{name}]", "unknown section",
                              hint=f"known sections: {', '.join(f'[{s}]' for s in SCHEMA)}")
    out: dict[str, dict[str, Any]] = {}
    for section, keys in SCHEMA.items():
        if section not in tables:
            if section in OPTIONAL_SECTIONS:
                continue
            raise where.error(f"[{section}]", "missing section", hint=f"it needs the keys {', '.join(keys)}")
        table = tables[section]
        for key in table:
            if key not in keys:
                raise where.error(where.key(section, key), "unknown key",
                                  hint=f"[{section}] takes: {', '.join(keys)}")
        values = {}
        for key, (kind, check, doc) in keys.items():
            k = where.key(section, key)
            if key not in table:
                raise where.error(k, f"missing key ({doc})", hint=f"add '{key} = ...' under [{section}]")
            value = _typed(table[key], kind)
            if value is None:
                raise where.error(k, f"expected {_KIND_WORD[kind]}, got {table[key]!r} ({type(table[key]).__name__})")
            problem = check(value) if check else None
            if problem:
                raise where.error(k, problem, hint=doc)
            values[key] = value
        out[section] = values
    return out


_KIND_WORD = {"int": "an integer", "float": "a number", "str": "a string"}


def _typed(value: Any, kind: str) -> Any:
    if kind == "int":
        return value if type(value) is int else None
    if kind == "float":
        if type(value) is int:
            return float(value)
        return value if type(value) is float and math.isfinite(value) else None
    return value if type(value) is str else None


def _flatten_tables(raw: dict[str, Any], where: _Where) -> dict[str, dict[str, Any]]:
    """``{"sram": {"weight": {...}}}`` -> ``{"sram.weight": {...}}``; top-level scalars are unknown keys."""
    tables: dict[str, dict[str, Any]] = {}
    for name, value in raw.items():
        if not isinstance(value, dict):
            raise where.error(name, "unknown top-level key", hint="only 'format' and sections may be at the top")
        if name == "sram":
            for sub, inner in value.items():
                if not isinstance(inner, dict):
                    raise where.error(f"[sram] {sub}", "expected a table [sram.<name>]",
                                      hint=f"SRAMs: {', '.join(SRAM_NAMES)}")
                tables[f"sram.{sub}"] = inner
        else:
            tables[name] = value
    return tables


def _check_consistency(hw: Hardware, where: _Where) -> None:
    """Rules that relate keys: SRAMs hold the capacities, the adder is wide enough, packets fit."""
    s = hw.sram
    if s["weight"].words < hw.pe.weights:
        raise where.error("[sram.weight] words", f"the weight SRAM ({s['weight'].words} words) is smaller than "
                          f"the weight capacity [pe] weights = {hw.pe.weights}",
                          hint="make [sram.weight] words >= [pe] weights")
    for name in ("potential", "acc_weight"):
        if s[name].words < hw.pe.neurons:
            raise where.error(f"[sram.{name}] words", f"the {name.replace('_', '-')} SRAM ({s[name].words} words) "
                              f"is smaller than the neuron capacity [pe] neurons = {hw.pe.neurons}",
                              hint=f"make [sram.{name}] words >= [pe] neurons (one word per neuron)")
    widest = max(s["potential"].bits, s["acc_weight"].bits, s["weight"].bits)
    if hw.core.adder_bits < widest:
        raise where.error("[core] adder_bits", f"the saturating adder ({hw.core.adder_bits} bits) is narrower "
                          f"than the widest word it writes ({widest} bits)",
                          hint="make [core] adder_bits >= the potential, accumulated-weight and weight widths")
    if s["weight"].bits > s["acc_weight"].bits:
        raise where.error("[sram.acc_weight] bits", f"the accumulated-weight word ({s['acc_weight'].bits} bits) "
                          f"is narrower than a weight ({s['weight'].bits} bits)",
                          hint="an accumulated weight must hold at least one weight")
    need = PACKET_TYPE_BITS + hw.noc.source_bits + hw.neuron_bits + hw.noc.step_bits
    if need > hw.packet_bits:
        raise where.error("[noc] flit_bits", f"a spike packet needs {need} bits (type {PACKET_TYPE_BITS} + source "
                          f"{hw.noc.source_bits} + neuron {hw.neuron_bits} + step {hw.noc.step_bits}) but "
                          f"{hw.noc.flits_per_spike} flit(s) of {hw.noc.flit_bits} bits carry {hw.packet_bits}",
                          hint="raise [noc] flit_bits or flits_per_spike, or narrow source_bits/step_bits")
    if (1 << hw.noc.source_bits) < hw.mesh.size:
        raise where.error("[noc] source_bits", f"{hw.noc.source_bits} bits name only {1 << hw.noc.source_bits} "
                          f"sources, fewer than the {hw.mesh.size} PEs of the mesh",
                          hint=f"make source_bits >= {math.ceil(math.log2(hw.mesh.size))}")


def hardware_summary(hw: Hardware) -> str:
    """One line: chip, mesh, N, W and word widths (for reports)."""
    s = hw.sram
    return (f"{hw.chip.name} ({hw.name}, sha256 {hw.sha256[:12]}): mesh {hw.mesh.cols} x {hw.mesh.rows}, "
            f"N = {hw.pe.neurons}, W = {hw.pe.weights}, weights {s['weight'].bits} b, potential "
            f"{s['potential'].bits} b, accumulated weight {s['acc_weight'].bits} b, adder {hw.core.adder_bits} b, "
            f"clock {hw.chip.clock_hz / 1e6:g} MHz" + (leak_summary(hw.leak) if hw.leak is not None else ""))


def leak_summary(leak: Leak) -> str:
    """``, leak: beta 8 / alpha 8 fraction bits, nearest, +1 cycle/neuron/step`` (appended to the summary)."""
    return (f", leak: beta {leak.beta_frac_bits} / alpha {leak.alpha_frac_bits} fraction bits, {leak.rounding}, "
            f"+{leak.sweep_cycles_per_neuron} cycle(s) and {leak.multiply_pj:g} pJ per decayed word per step")


def with_overrides(hw: Hardware, **sections: dict[str, Any] | None) -> Hardware:
    """A copy of ``hw`` with some values replaced, re-validated (``with_overrides(hw, mesh={"cols": 20})``).

    An optional section the chip lacks (``[leak]``) is added when given, and then needs all its keys;
    ``leak=None`` removes it.

    The text is regenerated, so the copy's ``sha256`` differs from the original's.
    """
    lines = [f"format = {FORMAT}"]
    for section in SCHEMA:
        current = _section_values(hw, section)
        if (current is None and section not in sections) or (section in sections and sections[section] is None):
            continue  # an optional section the chip does not have (or that is removed)
        current = dict(current or {})
        current.update(sections.get(section) or {})
        lines.append(f"\n[{section}]")
        for key, value in current.items():
            lines.append(f"{key} = {_toml_value(value)}")
    unknown = [s for s in sections if s not in SCHEMA]
    if unknown:
        raise HardwareConfigError(f"unknown section {unknown[0]!r}", where=hw.source)
    return parse_hardware("\n".join(lines) + "\n", source=f"{hw.name} (modified)")


def _section_values(hw: Hardware, section: str) -> dict[str, Any] | None:
    if section.startswith("sram."):
        obj: Any = hw.sram[section.split(".", 1)[1]]
    else:
        obj = getattr(hw, section)
    if obj is None:
        return None
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def resolve_hardware(hw: Hardware | str | os.PathLike[str] | None) -> Hardware:
    """A :class:`Hardware` as is, a path loaded with :func:`load_hardware`, or None for the shipped file."""
    return hw if isinstance(hw, Hardware) else load_hardware(hw)
