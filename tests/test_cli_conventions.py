"""One set of command-line conventions (issue 18 item 2, written down in docs/cli.md "Conventions"), checked on
every parser of every command, so a new option that breaks one fails here."""

from __future__ import annotations

import argparse

import pytest

from snnc.cli import build_parser

#: commands that report results and so take --json
REPORTING = ("run", "inspect", "compile", "simulate", "noc replay")
#: options that write a file or folder (each needs --force beside it)
WRITERS = ("-o", "--output", "--json", "--plots", "--checkpoint")


def _parsers() -> dict[str, argparse.ArgumentParser]:
    out: dict[str, argparse.ArgumentParser] = {}

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        out[path] = parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}".strip())

    walk(build_parser(), "")
    return out


PARSERS = _parsers()
COMMANDS = sorted(k for k in PARSERS if k)


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions for s in a.option_strings}


@pytest.mark.parametrize("command", COMMANDS)
def test_writers_take_force(command: str) -> None:
    options = _options(PARSERS[command])
    writes = [w for w in WRITERS if w in options]
    if writes:
        assert "--force" in options, f"snnc {command} writes {writes} but has no --force"


@pytest.mark.parametrize("command", REPORTING)
def test_reporting_commands_take_json(command: str) -> None:
    assert "--json" in _options(PARSERS[command]), f"snnc {command} reports but has no --json"


@pytest.mark.parametrize("command", COMMANDS)
def test_one_name_per_thing(command: str) -> None:
    options = _options(PARSERS[command])
    assert "--hardware" not in options, "the hardware file is --hw everywhere"
    assert "--quiet" not in options and "--no-progress-bar" not in options, "progress is --progress/--no-progress"
    if "--progress" in options:
        action = options["--progress"]
        assert isinstance(action, argparse.BooleanOptionalAction) and "--no-progress" in action.option_strings
    if "--workers" in options:
        assert "--threads" not in options["--workers"].option_strings, "--workers counts processes, not threads"
        assert any(w in (options["--workers"].help or "") for w in ("process", "worker")), command
    if "--threads" in options:
        assert "thread" in (options["--threads"].help or "")
    if "--mesh" in options:  # a mesh size; a placement region is --region
        assert "COLSxROWS" in (options["--mesh"].metavar or "") and "region" not in (options["--mesh"].help or "")
    for action in PARSERS[command]._actions:
        if "hardware" in (action.help or "").lower() and action.option_strings and "file" in (action.help or ""):
            assert action.option_strings == ["--hw"], f"snnc {command}: {action.option_strings} takes a hardware file"


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_plain_text(command: str) -> None:
    parser = PARSERS[command]
    texts = [parser.description or "", *(a.help or "" for a in parser._actions)]
    for text in texts:
        assert "``" not in text and ":func:" not in text and ":class:" not in text, f"snnc {command}: {text[:80]}"
