"""The layers of the package import downward only, checked on the import graph (every ``import`` statement of
every module, those inside functions included, parsed with ``ast``):

* ``snnc.ir`` imports nothing of snnc above it: only ``snnc.ir.*`` and ``snnc.errors``;
* ``snnc.frontend`` and ``snnc.passes`` import no backend (``snnc.backends``);
* no library module imports the command line (``snnc.cli``): only ``snnc.cli`` itself (a module or a package).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: import package -> source folder (pyproject.toml's package-dir).
PACKAGES = {"snnc": "snnc", "snnc.ir": "ir", "snnc.frontend": "frontend", "snnc.passes": "passes",
            "snnc.backends": "backends", "snnc.trainers": "trainers"}
#: what snnc.ir may import from snnc besides itself.
IR_ALLOWED = ("snnc.errors",)


def modules() -> Iterator[tuple[str, Path]]:
    """(dotted module name, file) of every library module (tests excluded)."""
    for package, folder in PACKAGES.items():
        base = ROOT / folder
        for file in sorted(base.rglob("*.py")):
            rel = file.relative_to(base).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([package, *parts])
            if package == "snnc" and parts and f"snnc.{parts[0]}" in PACKAGES:
                continue  # not a real case today, but never count a module twice
            yield name, file


def imports(name: str, file: Path) -> list[tuple[str, int]]:
    """The snnc modules ``file`` imports, anywhere in it, with line numbers (relative imports resolved)."""
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            out.append((module, node.lineno))
            out += [(f"{module}.{alias.name}", node.lineno) for alias in node.names]  # from snnc import cli
    return [(m, line) for m, line in out if m == "snnc" or m.startswith("snnc.")]


GRAPH = {name: (file, imports(name, file)) for name, file in modules()}


def _under(prefix: str) -> Callable[[str], bool]:
    return lambda m: m == prefix or m.startswith(prefix + ".")


def offenders(importers: Callable[[str], bool], forbidden: Callable[[str], bool],
              allowed: Callable[[str], bool] = lambda m: False) -> list[str]:
    """``file:line imports target`` for every import by a module ``importers`` accepts that breaks a rule."""
    bad = []
    for name, (file, targets) in GRAPH.items():
        if importers(name):
            bad += [f"{file.relative_to(ROOT)}:{line} imports {target}" for target, line in targets
                    if forbidden(target) and not allowed(target)]
    return sorted(set(bad))


def test_the_import_graph_sees_the_package() -> None:
    assert {"snnc", "snnc.ir.graph", "snnc.passes.manager", "snnc.backends.yoso.passes.route",
            "snnc.frontend"} <= set(GRAPH)
    assert any(_under("snnc.cli")(name) for name in GRAPH)
    assert any(t == "snnc.errors" for t, _ in GRAPH["snnc.ir.graph"][1])  # imports inside the package are seen
    assert any(t.startswith("snnc.ir.printer") for t, _ in GRAPH["snnc.passes.manager"][1])  # ... in functions too


def test_ir_imports_nothing_above_it() -> None:
    bad = offenders(_under("snnc.ir"), lambda m: m != "snnc" and not _under("snnc.ir")(m),
                    allowed=lambda m: any(_under(a)(m) for a in IR_ALLOWED))
    assert not bad, "snnc.ir may import only snnc.ir.* and " + ", ".join(IR_ALLOWED) + ":\n" + "\n".join(bad)


@pytest.mark.parametrize("layer", ["snnc.frontend", "snnc.passes"])
def test_frontend_and_passes_import_no_backend(layer: str) -> None:
    bad = offenders(_under(layer), _under("snnc.backends"))
    assert not bad, f"{layer} must not import a backend (register through entry points instead):\n" + "\n".join(bad)


def test_no_library_module_imports_the_cli() -> None:
    # the CLI package and ``python -m snnc`` (snnc/__main__.py, the CLI's entry point) are the command line
    command_line = {"snnc.__main__"}
    bad = offenders(lambda m: not _under("snnc.cli")(m) and m not in command_line, _under("snnc.cli"))
    assert not bad, "library modules must not import the command line (snnc.cli):\n" + "\n".join(bad)
