"""numba for snnc's compiled kernels, imported lazily: a writable compiled-code cache, and a cache write that
fails (a full disk, a read-only folder) costing the next run a recompile, never this run.

Modules with ``@njit(cache=True)`` kernels (the reference executor's, the YOSO simulator's, the STDBP
trainer's) import :func:`njit` from here on first use, so ``import snnc`` and ``import snnc.cli`` never import
numba.

numba writes its cache next to the source file (``__pycache__``); when that is not writable (an installed,
read-only package) and ``NUMBA_CACHE_DIR`` is not set, the cache goes to a per-user temporary directory.
numba lets an ``OSError`` from writing a cache file escape the call that compiled the kernel, so a full disk
turned the first simulation into an internal error; here such a write is skipped with a warning.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path


class NumbaCacheWarning(RuntimeWarning):
    """numba could not write its compiled-code cache: the kernels compile again in the next process."""


def _cache_dir_ok() -> None:
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    here = Path(__file__).resolve().parent / "__pycache__"  # the package is writable (numba caches beside sources)
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
from numba.core import caching as _caching  # noqa: E402

if os.environ.get("NUMBA_CACHE_DIR") and not numba.config.CACHE_DIR:
    numba.config.CACHE_DIR = os.environ["NUMBA_CACHE_DIR"]


def _tolerant(save):  # noqa: ANN001, ANN202 - wraps numba's Cache.save_overload
    def save_overload(self, sig, data):  # noqa: ANN001, ANN202
        try:
            return save(self, sig, data)
        except OSError as err:
            warnings.warn(f"numba could not write its cache ({err.strerror or err}); the kernels will compile "
                          f"again in the next process", NumbaCacheWarning, stacklevel=2)
            return None

    save_overload.__snnc_tolerant__ = True
    return save_overload


if not getattr(_caching.Cache.save_overload, "__snnc_tolerant__", False):
    _caching.Cache.save_overload = _tolerant(_caching.Cache.save_overload)

njit = numba.njit
prange = numba.prange

__all__ = ["NumbaCacheWarning", "njit", "numba", "prange"]
