"""numba for the compiled simulator: :mod:`snnc.jit` (lazy import, writable cache, a failed cache write never
fatal) with NumPy's error model as the default."""

from __future__ import annotations

from snnc.jit import numba


def njit(*args: object, **kwargs: object) -> object:
    """``numba.njit`` with NumPy's error model: no zero-division checks on ``//`` and ``%`` in the hot loops (every
    divisor in the kernels is a positive size: the port count, a ring buffer's capacity)."""
    kwargs.setdefault("error_model", "numpy")
    return numba.njit(*args, **kwargs)


__all__ = ["njit", "numba"]
