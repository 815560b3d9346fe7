"""What every command module of the CLI shares: exit codes, argument types, the progress bar."""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def positive_int(text: str) -> int:
    """An ``argparse`` type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def bounded_int(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    """An ``argparse`` type: an integer in ASCII digits (no Unicode digits, no ``_``) within ``[lo, hi]``."""

    def parse(text: str) -> int:
        s = text.strip()
        if not re.fullmatch(r"[+-]?[0-9]{1,30}", s):
            raise argparse.ArgumentTypeError(f"expected an integer, got {_shown(text)}")
        value = int(s)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"expected an integer {_span(lo, hi)}, got {value}")
        return value

    return parse


def bounded_float(lo: float | None = None, hi: float | None = None) -> Callable[[str], float]:
    """An ``argparse`` type: a finite number in ASCII (no inf, nan, Unicode digits) within ``[lo, hi]``."""

    def parse(text: str) -> float:
        s = text.strip()
        if not re.fullmatch(r"[+-]?([0-9]{1,30}(\.[0-9]{0,30})?|\.[0-9]{1,30})([eE][+-]?[0-9]{1,3})?", s):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {_shown(text)}")
        value = float(s)
        if not math.isfinite(value) or (lo is not None and value < lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"expected a number {_span(lo, hi)}, got {_shown(text)}")
        return value

    return parse


def _span(lo: float | None, hi: float | None) -> str:
    return (f"from {lo} to {hi}" if lo is not None and hi is not None
            else f">= {lo}" if lo is not None else f"<= {hi}")


def _shown(text: str) -> str:
    """The argument as typed, safe to print (control characters escaped), cut to 40 characters."""
    return repr("".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:40]))


def progress(iterable, **kwargs):  # noqa: ANN001, ANN003, ANN201
    """A tqdm progress bar on stderr when it is a terminal; the plain iterable otherwise."""
    if not sys.stderr.isatty():
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, leave=False, **kwargs)
