"""YOSO hardware description: the shipped file, and one clear error per kind of bad file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from snnc.backends.yoso.hardware import (
    DEFAULT_HARDWARE,
    OPTIONAL_SECTIONS,
    SCHEMA,
    load_hardware,
    parse_hardware,
    with_overrides,
)
from snnc.backends.yoso.partition import formula_pes
from snnc.errors import HardwareConfigError

SHIPPED = DEFAULT_HARDWARE.read_text(encoding="utf-8")


def test_shipped_file_is_the_papers_chip() -> None:
    hw = load_hardware()
    assert (hw.mesh.cols, hw.mesh.rows) == (6, 7)
    assert hw.pe.neurons >= 256
    assert hw.name == "yoso-6x7.toml" and len(hw.sha256) == 64 and hw.text == SHIPPED
    # the paper's 784-800-10 model fits the 42 PEs (formula), and needs more than a 6 x 6 grid
    pes = formula_pes(784, 800, hw.pe.neurons, hw.pe.weights) + formula_pes(800, 10, hw.pe.neurons, hw.pe.weights)
    assert 36 < pes <= 42


def test_every_value_in_the_shipped_file_has_a_rationale_beside_it() -> None:
    missing = [line for line in SHIPPED.splitlines()
               if re.match(r"^\s*[a-z_]+\s*=", line) and "#" not in line]
    assert not missing, missing


def test_every_schema_key_is_in_the_shipped_file() -> None:
    """Every key is in the shipped file, but the optional [leak] section's, which the example with it holds."""
    leaky = (Path(__file__).resolve().parent.parent / "examples" / "yoso-leaky-6x7.toml").read_text()
    for section, keys in SCHEMA.items():
        text = leaky if section in OPTIONAL_SECTIONS else SHIPPED
        assert f"[{section}]" in text
        for key in keys:
            assert re.search(rf"^{key}\s*=", text, re.M), (section, key)


def test_load_from_a_path_and_from_text_agree(tmp_path: Path) -> None:
    f = tmp_path / "chip.toml"
    f.write_text(SHIPPED)
    a, b = load_hardware(f), parse_hardware(SHIPPED)
    assert a.sha256 == b.sha256 and a.pe == b.pe and a.sram == b.sram and a.source == str(f)


def _replace(text: str, section: str, key: str, value: str) -> str:
    """Set ``key`` in ``[section]`` of the shipped text to ``value`` (the raw TOML)."""
    head = text.index(f"[{section}]")
    line = re.compile(rf"^{key}\s*=.*$", re.M).search(text, head)
    assert line, (section, key)
    return text[:line.start()] + f"{key} = {value}" + text[line.end():]


def _drop(text: str, section: str, key: str) -> str:
    head = text.index(f"[{section}]")
    line = re.compile(rf"^{key}\s*=.*\n", re.M).search(text, head)
    return text[:line.start()] + text[line.end():]


BAD_FILES = {
    "neurons zero": (lambda t: _replace(t, "pe", "neurons", "0"), "[pe] neurons: must be >= 1, got 0"),
    "mesh zero": (lambda t: _replace(t, "mesh", "cols", "0"), "[mesh] cols: must be >= 1, got 0"),
    "negative energy": (lambda t: _replace(t, "energy", "add_pj", "-1.0"), "[energy] add_pj: must be >= 0"),
    "zero clock": (lambda t: _replace(t, "chip", "clock_hz", "0"), "[chip] clock_hz: must be > 0, got 0"),
    "wrong type": (lambda t: _replace(t, "pe", "weights", '"lots"'), "[pe] weights: expected an integer, got 'lots'"),
    "float for int": (lambda t: _replace(t, "mesh", "rows", "7.0"), "[mesh] rows: expected an integer, got 7.0"),
    "bool for int": (lambda t: _replace(t, "pe", "neurons", "true"), "[pe] neurons: expected an integer, got True"),
    "word too wide": (lambda t: _replace(t, "sram.potential", "bits", "40"),
                      "[sram.potential] bits: must be between 2 and 32, got 40"),
    "unknown key": (lambda t: t.replace("[pe]\n", "[pe]\nneuronz = 3\n"), "[pe] neuronz: unknown key"),
    "unknown section": (lambda t: t + "\n[cache]\nsize = 1\n", "[cache]: unknown section"),
    "unknown sram": (lambda t: t + "\n[sram.extra]\nwords = 1\n", "[sram.extra]: unknown section"),
    "unknown top-level key": (lambda t: "speed = 3\n" + t, "speed: unknown top-level key"),
    "missing key": (lambda t: _drop(t, "noc", "fifo_depth"), "[noc] fifo_depth: missing key"),
    "missing section": (lambda t: t[:t.index("[energy]")], "[energy]: missing section"),
    "missing format": (lambda t: t.replace("format = 1 ", "#", 1), "format: missing key"),
    "format version": (lambda t: t.replace("format = 1 ", "format = 9 ", 1), "unsupported hardware file format 9"),
    "not toml": (lambda t: t + "\n[pe\n", "not valid TOML"),
    "potential SRAM smaller than N": (lambda t: _replace(t, "sram.potential", "words", "100"),
                                      "[sram.potential] words: the potential SRAM (100 words) is smaller than the "
                                      "neuron capacity [pe] neurons = 256"),
    "acc SRAM smaller than N": (lambda t: _replace(t, "sram.acc_weight", "words", "255"),
                                "[sram.acc_weight] words: the acc-weight SRAM (255 words)"),
    "weight SRAM smaller than W": (lambda t: _replace(t, "sram.weight", "words", "1000"),
                                   "[sram.weight] words: the weight SRAM (1000 words) is smaller than the weight "
                                   "capacity [pe] weights = 17408"),
    "adder too narrow": (lambda t: _replace(t, "core", "adder_bits", "16"),
                         "[core] adder_bits: the saturating adder (16 bits) is narrower than the widest word"),
    "acc narrower than a weight": (lambda t: _replace(_replace(t, "sram.acc_weight", "bits", "6"),
                                                      "sram.weight", "bits", "8"),
                                   "[sram.acc_weight] bits: the accumulated-weight word (6 bits) is narrower"),
    "packet too small": (lambda t: _replace(t, "noc", "flit_bits", "16"),
                         "[noc] flit_bits: a spike packet needs 28 bits"),
    "source field too small": (lambda t: _replace(t, "noc", "source_bits", "5"),
                               "[noc] source_bits: 5 bits name only 32 sources, fewer than the 42 PEs"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_hardware_file_names_the_file_and_the_key(case: str, tmp_path: Path) -> None:
    mutate, expected = BAD_FILES[case]
    f = tmp_path / "yoso.toml"
    f.write_text(mutate(SHIPPED))
    with pytest.raises(HardwareConfigError) as err:
        load_hardware(f)
    text = err.value.format()
    assert expected in text, text
    assert text.startswith(str(f)), text


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(HardwareConfigError, match="hardware file not found"):
        load_hardware(tmp_path / "nope.toml")


def test_binary_file_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "chip.toml"
    f.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(HardwareConfigError, match="not UTF-8"):
        load_hardware(f)


def test_errors_carry_a_hint(tmp_path: Path) -> None:
    f = tmp_path / "yoso.toml"
    f.write_text(_replace(SHIPPED, "pe", "neurons", "0"))
    with pytest.raises(HardwareConfigError) as err:
        load_hardware(f)
    assert err.value.hint


def test_overrides_revalidate() -> None:
    hw = with_overrides(load_hardware(), mesh={"cols": 20, "rows": 20})
    assert (hw.mesh.cols, hw.mesh.rows) == (20, 20) and hw.pe == load_hardware().pe
    with pytest.raises(HardwareConfigError, match="must be >= 1"):
        with_overrides(hw, pe={"neurons": 0})


def test_the_12x13_example_is_the_shipped_chip_on_a_bigger_mesh() -> None:
    """examples/yoso-12x13.toml (for the paper's CNN) changes only the mesh and the name of the shipped file."""
    example = load_hardware(Path(__file__).resolve().parent.parent / "examples" / "yoso-12x13.toml")
    shipped = load_hardware()
    expected = with_overrides(shipped, chip={"name": "yoso-12x13"}, mesh={"cols": 12, "rows": 13})
    for section in ("chip", "mesh", "pe", "sram", "core", "noc", "energy"):
        assert getattr(example, section) == getattr(expected, section), section


# ------------------------------------------------------------------------------------------ the leak option
LEAKY_EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "yoso-leaky-6x7.toml"


def test_the_shipped_chip_has_no_leak_option() -> None:
    """The paper's PE has no leak (SPEC section 4): the shipped file declares none."""
    assert load_hardware().leak is None
    assert "[leak]" not in SHIPPED


def test_the_leaky_example_is_the_shipped_chip_with_the_leak_option() -> None:
    """examples/yoso-leaky-6x7.toml changes only the name of the shipped file and adds [leak]."""
    example = load_hardware(LEAKY_EXAMPLE)
    expected = with_overrides(load_hardware(), chip={"name": "yoso-leaky-6x7"})
    for section in ("chip", "mesh", "pe", "sram", "core", "noc", "energy"):
        assert getattr(example, section) == getattr(expected, section), section
    leak = example.leak
    assert leak is not None and leak.rounding in ("floor", "nearest")
    assert leak.beta_frac_bits >= 1 and leak.sweep_cycles_per_neuron >= 1 and leak.multiply_pj > 0
    text = LEAKY_EXAMPLE.read_text()
    section = text[text.index("[leak]"):]
    for key in ("beta_frac_bits", "alpha_frac_bits", "rounding", "sweep_cycles_per_neuron", "multiply_pj"):
        line = next(ln for ln in section.splitlines() if ln.startswith(key))
        assert "#" in line, f"{key} has no rationale beside it"


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("rounding", '"even"', "[leak] rounding: must be one of 'floor', 'nearest'"),
    ("beta_frac_bits", "0", "[leak] beta_frac_bits: must be between 1 and 16"),
    ("multiply_pj", "-1", "[leak] multiply_pj: must be >= 0"),
    ("sweep_cycles_per_neuron", "1.5", "[leak] sweep_cycles_per_neuron: expected an integer"),
])
def test_bad_leak_values_name_the_key(tmp_path: Path, key: str, value: str, expected: str) -> None:
    f = tmp_path / "leaky.toml"
    f.write_text(_replace(LEAKY_EXAMPLE.read_text(), "leak", key, value))
    with pytest.raises(HardwareConfigError) as err:
        load_hardware(f)
    assert expected in err.value.format()


def test_leak_overrides_add_and_remove_the_option() -> None:
    leaky = load_hardware(LEAKY_EXAMPLE)
    assert with_overrides(leaky, leak={"rounding": "floor"}).leak.rounding == "floor"  # type: ignore[union-attr]
    assert with_overrides(leaky, leak=None).leak is None
    with pytest.raises(HardwareConfigError, match="missing key"):
        with_overrides(load_hardware(), leak={"rounding": "floor"})
