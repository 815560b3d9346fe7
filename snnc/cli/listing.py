"""``snnc backends`` and ``snnc passes``: list what is installed."""

from __future__ import annotations

import argparse

from snnc.cli._util import EXIT_OK


# --------------------------------------------------------------------------------------- backends
def add_backends_arguments(p: argparse.ArgumentParser) -> None:
    pass


def cmd_backends(args: argparse.Namespace) -> int:
    from snnc.backends import available_backends

    for name, description in sorted(available_backends().items()):
        print(f"{name:<16} {description}")
    return EXIT_OK


def add_passes_arguments(p: argparse.ArgumentParser) -> None:
    pass


def cmd_passes(args: argparse.Namespace) -> int:
    from snnc.passes import all_passes

    for name, cls in sorted(all_passes().items()):
        print(f"{name:<16} {cls.summary}")
    return EXIT_OK
