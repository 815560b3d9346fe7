"""The docs stay current: every registered op, pass and CLI command is documented."""

from __future__ import annotations

from pathlib import Path

from snnc.cli import COMMANDS
from snnc.ir import OPS
from snnc.passes import PASSES

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_op_is_in_the_ir_reference() -> None:
    text = (DOCS / "ir.md").read_text()
    missing = [name for name in OPS if f"**`{name}`**" not in text]
    assert not missing, f"docs/ir.md lacks {missing}"


def test_every_cli_command_and_pass_is_in_the_cli_doc() -> None:
    text = (DOCS / "cli.md").read_text()
    assert not [c for c in COMMANDS if f"## snnc {c}" not in text]
    assert not [p for p in PASSES if f"`{p}`" not in text]
