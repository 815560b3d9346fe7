"""Fixtures shared by several test modules."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

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


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``tmpfs(options)`` mounts a fresh tmpfs (``mount -o options``, e.g. ``"ro,size=1m"`` or ``"size=200k"``) in
    ``tmp_path`` and returns its path; unmounted after the test. Skips the test where mounting is not allowed
    (not root, no ``mount``): a real read-only or full file system, not a mock of one."""
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        path = tmp_path / f"tmpfs{len(mounted)}"
        path.mkdir()
        if os.geteuid() != 0 or shutil.which("mount") is None or subprocess.run(
                ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True).returncode:
            pytest.skip(f"cannot mount a file system ({options}) here")
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", str(path)], capture_output=True)
