"""numba, imported lazily, with a writable compiled-code cache (``cache=True`` kernels).

numba writes its cache next to the source file (``__pycache__``); when that is not writable (an installed,
read-only package) and ``NUMBA_CACHE_DIR`` is not set, the cache goes to a per-user temporary directory
instead, so the kernels still compile once per machine and never fail for want of a cache directory.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _cache_dir_ok() -> None:
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    here = Path(__file__).resolve().parent / "__pycache__"
    try:
        here.mkdir(exist_ok=True)
        probe = here / f".write-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError:
        fallback = Path(tempfile.gettempdir()) / f"snnc-numba-cache-{os.getuid() if hasattr(os, 'getuid') else 0}"
        fallback.mkdir(parents=True, exist_ok=True)
        os.environ["NUMBA_CACHE_DIR"] = str(fallback)


_cache_dir_ok()

import numba  # noqa: E402 - after the cache directory is settled (numba reads NUMBA_CACHE_DIR at import)

if os.environ.get("NUMBA_CACHE_DIR") and not numba.config.CACHE_DIR:
    numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]


def njit(*args: object, **kwargs: object) -> object:
    """``numba.njit`` with NumPy's error model: no zero-division checks on ``//`` and ``%`` in the hot loops (every
    divisor in the kernels is a positive size: the port count, a ring buffer's capacity)."""
    kwargs.setdefault("error_model", "numpy")
    return numba.njit(*args, **kwargs)


__all__ = ["njit", "numba"]
