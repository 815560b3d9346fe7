"""The command line starts without the heavy dependencies: ``import snnc.cli``, ``snnc --help`` and
``snnc --version`` import neither onnx, onnxruntime, torch, dask, matplotlib, networkx, lark, tqdm nor
numpy; each is imported by the command that needs it (issue 13; the figures are in docs/results.md).

Each check runs in a fresh interpreter, since this test process has imported them all long ago.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

#: top-level packages a bare start must not import
HEAVY = ("onnx", "onnxruntime", "ml_dtypes", "torch", "dask", "distributed", "matplotlib", "networkx", "lark", "tqdm",
         "nir", "numpy", "scipy", "sklearn", "h5py")


def _imported(stderr: str) -> set[str]:
    """The top-level packages named in ``python -X importtime`` output."""
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name.split(".")[0])
    return names


def test_importtime_of_the_cli_shows_no_heavy_package() -> None:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import snnc.cli"], capture_output=True, text=True,
                         timeout=120, check=True)
    names = _imported(out.stderr)
    assert "snnc" in names, "importtime printed nothing usable"
    assert not sorted(names.intersection(HEAVY)), f"import snnc.cli imports {sorted(names.intersection(HEAVY))}"


#: arguments -> packages their start may import: a command's help needs no more than its own library
STARTS = [(["--help"], set()), (["--version"], set()), ([], set()), (["nosuchcommand"], set()),
          (["ir", "--help"], set()), (["compile", "--help"], set()), (["simulate", "--help"], set()),
          (["sweep", "--help"], set()), (["train", "stbp", "--help"], set()), (["train", "stdbp", "--bad"], set()),
          (["noc", "replay", "--help"], {"numpy"}), (["nir", "import", "--help"], {"numpy", "networkx"})]


@pytest.mark.parametrize(("argv", "allowed"), STARTS, ids=[" ".join(a) or "-" for a, _ in STARTS])
def test_starting_the_cli_imports_no_heavy_package(argv: list[str], allowed: set[str]) -> None:
    code = ("import sys\nfrom snnc.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120)
    loaded = set(out.stderr.strip().splitlines()[-1].split())
    assert "snnc" in loaded
    assert not sorted(loaded.intersection(HEAVY) - allowed)


def test_the_console_script_entry_point_and_python_m() -> None:
    for cmd in ([sys.executable, "-m", "snnc.cli", "--version"], [sys.executable, "-m", "snnc", "--version"]):
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and out.stdout.startswith("snnc "), out


def test_no_library_module_imports_the_cli() -> None:
    """The drivers, the NIR frontend and the API load without snnc.cli (the rule of issue 13)."""
    names = ("simulate", "sweep", "trace", "plots", "distributed")
    drivers = ", ".join(f"snnc.backends.yoso.drivers.{m}" for m in names)
    code = (f"import sys\nimport {drivers}, snnc.frontend.nir_import, snnc.frontend.nir_export, snnc.api\n"
            "sys.exit(1 if any(m == 'snnc.cli' or m.startswith('snnc.cli.') for m in sys.modules) else 0)")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def test_a_trainer_without_torch_is_a_clean_error() -> None:
    """The trainers' options need no torch; running one without it says what to install."""
    code = ("import sys\nsys.modules['torch'] = None\nfrom snnc.cli import main\n"
            "sys.exit(main(['train', 'stbp', '--dataset', 'digits']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert out.stderr == "snnc: error: trainer 'stbp' needs PyTorch\n  hint: pip install torch==2.13.0\n"
