"""The guide's listings of deterministic commands are what the commands print today (issue 18: the guide's pass
list had gone stale). Each listing is a ``$ snnc ...`` line in a fenced block of ``docs/guide.md``, followed by
its output up to the next ``$`` line or the end of the block; the command is run in-process from the repository
root and its output compared line by line."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from snnc.cli import main

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guide.md"
#: commands whose output depends on nothing but the repository (no timings, paths or training)
CHECKED = ("snnc --version", "snnc backends", "snnc passes", "snnc ir models/stdbp-digits.onnx --elide-weights")


def _listings() -> dict[str, list[str]]:
    """``$ command`` -> the lines printed under it, for every listing in the guide (the first of each command)."""
    out: dict[str, list[str]] = {}
    lines = GUIDE.read_text(encoding="utf-8").splitlines()
    in_block, command = False, None
    for line in lines:
        if line.startswith("```"):
            in_block, command = not in_block, None
            continue
        if not in_block:
            continue
        if line.startswith("$ "):
            command = line[2:].strip()
            if command in out:
                command = None  # a second listing of the same command (e.g. after a plugin is installed)
            else:
                out[command] = []
        elif command is not None:
            out[command].append(line)
    return out


@pytest.mark.parametrize("command", CHECKED)
def test_the_guide_shows_what_the_command_prints(command: str, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    listings = _listings()
    assert command in listings, f"docs/guide.md no longer lists '$ {command}'"
    monkeypatch.chdir(ROOT)
    argv = shlex.split(command)[1:]
    try:
        code = main(argv)
    except SystemExit as stop:  # --version exits through argparse
        code = stop.code
    assert code in (0, None)
    printed = capsys.readouterr().out.rstrip("\n").splitlines()
    shown = listings[command]
    assert len(printed) == len(shown), f"docs/guide.md's '$ {command}' listing has {len(shown)} lines, the " \
        f"command prints {len(printed)}: {printed}"
    for ours, theirs in zip(printed, shown, strict=True):
        assert _matches(ours, theirs), f"docs/guide.md's '$ {command}' shows\n  {theirs}\nbut it prints\n  {ours}"


def _matches(printed: str, shown: str) -> bool:
    """Equal, or equal around one ``...`` where the guide elides a long middle (the metadata)."""
    if "..." not in shown:
        return printed == shown
    head, tail = shown.split("...", 1)
    return printed.startswith(head) and printed.endswith(tail) and len(printed) >= len(head) + len(tail)
