"""Fixtures shared by several test modules."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Run a test with torch on one thread (small tensors on a shared 2-core machine: more threads only spin in
    OpenMP), restoring the count after. Modules use it with ``pytestmark = pytest.mark.usefixtures(...)``."""
    import torch  # only the trainer tests use this fixture; the compiler's tests run without torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
