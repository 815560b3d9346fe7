"""Run simulation work on a Dask cluster (``dask.distributed``): a local cluster or a real one.

Two users: :func:`snnc.backends.yoso.drivers.simulate.simulate_deployment` (``scheduler=``: the image chunks
of one deployment become Dask tasks) and :mod:`snnc.backends.yoso.drivers.sweep` (one task per hardware
point). Dask is imported here, and this module is imported only when a scheduler is asked for, so that
``snnc`` without Dask work never pays for it.

A *scheduler* is:

* ``"local"``: a ``LocalCluster`` started for the call and closed after it: ``workers`` worker processes
  on loopback (``127.0.0.1``), one thread each (the simulator is single-threaded NumPy; one thread per
  process keeps the workers from fighting over the GIL), no dashboard (the scheduler's HTTP endpoint on a
  random loopback port);
* ``"tcp://HOST:PORT"`` (or ``HOST:PORT``): an existing scheduler (``dask scheduler`` and
  ``dask worker tcp://HOST:PORT`` on the machines; ``docs/sweep.md``). The connection must be made within
  ``timeout`` seconds, else a :class:`~snnc.errors.SnncError` says so;
* a ``distributed.Client`` already connected: used as is and left open (tests share one cluster).

Workers need not share a file system with the caller: a deployment travels as its files' bytes
(:class:`DeploymentFiles`, a few hundred KiB for an MNIST MLP) and is written once per worker into a
cache folder named by its manifest hash; a worker that sees the caller's directory with the same
manifest uses it in place.

Example:
    >>> with dask_client("local", workers=2) as client:           # doctest: +SKIP
    ...     print(worker_count(client))
    2
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snnc.errors import SnncError

#: seconds to wait for a remote scheduler before giving up (``--scheduler-timeout``).
DEFAULT_TIMEOUT = 10.0


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as err:  # pragma: no cover - declared in pyproject, so only a broken install gets here
        raise SnncError(f"Dask is not installed ({err})", where="dask",
                        hint="pip install 'dask[distributed]'") from None
    return distributed


def is_client(obj: Any) -> bool:
    """True for a ``distributed.Client`` (without importing Dask when ``obj`` is a string or None)."""
    return type(obj).__name__ == "Client" and hasattr(obj, "submit") and hasattr(obj, "gather")


def check_scheduler(scheduler: Any) -> None:
    """Raise a :class:`SnncError` unless ``scheduler`` is ``local``, an address or a Client."""
    if is_client(scheduler):
        return
    if not isinstance(scheduler, str) or not scheduler:
        raise SnncError(f"scheduler must be 'local', 'tcp://HOST:PORT' or a distributed.Client, got {scheduler!r}",
                        where="dask")
    if scheduler == "local":
        return
    address = scheduler.split("://", 1)[1] if "://" in scheduler else scheduler
    proto = scheduler.split("://", 1)[0] if "://" in scheduler else "tcp"
    host, _, port = address.rpartition(":")
    if proto not in ("tcp", "tls") or not host or not port.isdigit():
        raise SnncError(f"bad scheduler address {scheduler!r}", where="dask",
                        hint="give 'local' (a cluster on this machine) or the address 'dask scheduler' printed, "
                             "e.g. tcp://10.0.0.5:8786")


@contextmanager
def dask_client(scheduler: Any, workers: int = 2, *, timeout: float = DEFAULT_TIMEOUT) -> Iterator[Any]:
    """A connected ``distributed.Client`` for ``scheduler`` (see the module docstring), closed on exit.

    Args:
        scheduler: ``"local"``, ``"tcp://HOST:PORT"`` or a Client (yielded as is, not closed).
        workers: worker processes of a local cluster (ignored otherwise).
        timeout: seconds to wait for a remote scheduler.

    Raises:
        SnncError: a bad address, or no scheduler answered within ``timeout``.
    """
    check_scheduler(scheduler)
    if is_client(scheduler):
        yield scheduler
        return
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SnncError(f"workers must be a positive integer, got {workers!r}", where="dask")
    distributed = _import_distributed()
    if scheduler == "local":
        cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                           host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                           scheduler_kwargs={"dashboard": False}, silence_logs=logging.ERROR)
        try:
            client = distributed.Client(cluster)
            try:
                yield client
            finally:
                client.close()
        finally:
            cluster.close()
        return
    address = scheduler if "://" in scheduler else f"tcp://{scheduler}"
    try:
        client = distributed.Client(address, timeout=f"{timeout}s")
    except (OSError, TimeoutError) as err:
        raise SnncError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s ({_first_line(err)})",
                        where="dask",
                        hint="start one with 'dask scheduler' and workers with 'dask worker " + address + "', "
                             "or use --scheduler local") from None
    try:
        yield client
    finally:
        client.close()


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def worker_count(client: Any) -> int:
    """Workers connected to the client's scheduler now."""
    return len(client.scheduler_info().get("workers", {}))


def require_workers(client: Any, *, timeout: float = DEFAULT_TIMEOUT) -> int:
    """Wait until the scheduler has at least one worker; return how many it has."""
    n = worker_count(client)
    if n:
        return n
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError):
        raise SnncError(f"the Dask scheduler {client.scheduler.address} has no workers after {timeout:g} s",
                        where="dask", hint=f"start some: dask worker {client.scheduler.address}") from None
    return worker_count(client)


# ------------------------------------------------------------------------------- deployments
@dataclass(frozen=True)
class DeploymentFiles:
    """A deployment directory as data: its path on the caller, manifest hash and every file's bytes."""

    origin: str
    digest: str
    files: tuple[tuple[str, bytes], ...]


def pack_deployment(path: str | os.PathLike[str]) -> DeploymentFiles:
    """Read every file the manifest lists (and the manifest) into a :class:`DeploymentFiles`.

    The directory is not verified here: the worker's ``load_deployment`` does that.
    """
    import json

    from snnc.errors import DeploymentError

    root = Path(path)
    try:
        manifest = (root / "manifest.json").read_bytes()
        names = sorted(json.loads(manifest).get("files", {}))
        files = [("manifest.json", manifest)] + [(name, (root / name).read_bytes()) for name in names]
    except (OSError, ValueError, AttributeError) as err:
        raise DeploymentError(f"cannot read the deployment: {err}", where=str(root),
                              hint="give the directory written by snnc compile --target yoso") from None
    return DeploymentFiles(str(root.resolve()), hashlib.sha256(manifest).hexdigest(), tuple(files))


def local_deployment(dep: DeploymentFiles) -> str:
    """The path of ``dep`` on this machine: the original directory when it is here and unchanged, else a
    copy in ``$TMPDIR/snnc-dask-deployments/<manifest sha256>`` (written once, atomically)."""
    origin = Path(dep.origin)
    try:
        if hashlib.sha256((origin / "manifest.json").read_bytes()).hexdigest() == dep.digest:
            return str(origin)
    except OSError:
        pass
    cache = Path(tempfile.gettempdir()) / "snnc-dask-deployments"
    target = cache / dep.digest
    if (target / "manifest.json").is_file():
        return str(target)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dep.digest[:12]}-", dir=cache))
    for name, data in dep.files:
        file = tmp / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(data)
    try:
        os.rename(tmp, target)
    except OSError:  # another task of this worker wrote it first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return str(target)


def simulate_chunk_task(dep: DeploymentFiles, barrier_cycles: int | None, eject_depth: int | None, first: int,
                        x: Any, y: Any, record: bool) -> Any:
    """One image chunk of a deployment, on a Dask worker (``simulate._simulate_chunk`` there)."""
    from snnc.backends.yoso.drivers.simulate import _simulate_chunk

    return _simulate_chunk((local_deployment(dep), barrier_cycles, eject_depth), first, x, y, record)


def run_simulation_chunks(client: Any, path: str | os.PathLike[str], barrier_cycles: int | None,
                          eject_depth: int | None, bounds: list[tuple[int, int]], x: Any, y: Any, record: bool,
                          bar: Any) -> list[Any]:
    """Submit every chunk ``x[lo:hi]`` as a task, gather the results in input order."""
    dep = client.scatter(pack_deployment(path), broadcast=True)
    futures = [client.submit(simulate_chunk_task, dep, barrier_cycles, eject_depth, lo, x[lo:hi],
                             None if y is None else y[lo:hi], record, pure=False)
               for lo, hi in bounds]
    chunks = []
    try:
        for fut, (lo, hi) in zip(futures, bounds, strict=True):
            chunks.append(fut.result())
            bar.update(hi - lo)
    finally:
        for fut in futures:
            fut.cancel()
    return chunks
