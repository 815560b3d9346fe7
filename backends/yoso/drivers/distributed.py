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
import math
import os
import tempfile
import threading
import time
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
    check_timeout(timeout)
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
    client = _connect(distributed, address, timeout)
    try:
        yield client
    finally:
        client.close()


def check_timeout(timeout: Any) -> float:
    """A scheduler timeout must be a finite number of seconds in (0, 86400]."""
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not math.isfinite(timeout) \
            or not 0 < timeout <= 86400:
        raise SnncError(f"scheduler timeout must be a number of seconds in (0, 86400], got {timeout!r}",
                        where="dask", hint="e.g. --scheduler-timeout 10")
    return float(timeout)


def _connect(distributed: Any, address: str, timeout: float) -> Any:
    """``distributed.Client(address)`` within ``timeout`` seconds, whatever is listening there.

    The client's own timeout bounds the TCP connection but not the handshake: a server that accepts and
    never answers held it for minutes, and one that is not a Dask scheduler made it fail deep inside its
    deserialiser (a 3 EiB allocation, "Maximum allowed dimension exceeded"). So the client is made in a
    thread that is given ``timeout`` seconds (plus a little), and any failure is reported as what it means.
    """
    result: dict[str, Any] = {}

    def connect() -> None:
        try:
            result["client"] = distributed.Client(address, timeout=f"{timeout}s")
        except BaseException as err:  # noqa: BLE001 - reported below, whatever it is
            result["error"] = err

    thread = threading.Thread(target=connect, name="snnc-dask-connect", daemon=True)
    thread.start()
    thread.join(timeout + 1.0)
    start_hint = f"start one with 'dask scheduler' and workers with 'dask worker {address}', or use --scheduler local"
    if thread.is_alive():
        raise SnncError(f"the server at {address} accepted the connection but did not answer as a Dask scheduler "
                        f"within {timeout:g} s", where="dask", hint=f"is it a Dask scheduler? {start_hint}")
    err = result.get("error")
    if isinstance(err, OSError | TimeoutError):
        raise SnncError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s ({_first_line(err)})",
                        where="dask", hint=start_hint)
    if err is not None:
        raise SnncError(f"the server at {address} does not speak Dask's protocol ({type(err).__name__}: "
                        f"{_first_line(err)})", where="dask", hint=f"give a Dask scheduler's address; {start_hint}")
    return result["client"]


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
    """A deployment directory as data: its path on the caller, content digest and every file's bytes.

    ``digest`` hashes every file (name and bytes, the manifest included), so a worker's cached copy or the
    caller's directory is used only when its bytes are these: a deployment changed in place is never served
    stale, whatever its manifest says.
    """

    origin: str
    digest: str
    files: tuple[tuple[str, bytes], ...]


def content_digest(files: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...]) -> str:
    """sha256 over every file's name and sha256 (order-independent)."""
    h = hashlib.sha256()
    for name, data in sorted(files):
        h.update(name.encode("utf-8") + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


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
    return DeploymentFiles(str(root.resolve()), content_digest(files), tuple(files))


def _holds(folder: Path, dep: DeploymentFiles) -> bool:
    """Whether ``folder`` holds exactly ``dep``'s bytes in every file ``dep`` has."""
    try:
        return all((folder / name).read_bytes() == data for name, data in dep.files)
    except OSError:
        return False


def local_deployment(dep: DeploymentFiles) -> str:
    """The path of ``dep`` on this machine: the original directory when it is here with the same bytes, else a
    copy in ``$TMPDIR/snnc-dask-deployments/<content digest>``, checked byte for byte before every use and
    rewritten (atomically) when anything in it differs."""
    import shutil

    origin = Path(dep.origin)
    if _holds(origin, dep):
        return str(origin)
    cache = Path(tempfile.gettempdir()) / "snnc-dask-deployments"
    target = cache / dep.digest
    if _holds(target, dep):
        return str(target)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dep.digest[:12]}-", dir=cache))
    for name, data in dep.files:
        file = tmp / name
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(data)
    if target.exists():  # a stale or damaged copy under this digest: moved aside, then removed
        stale = Path(tempfile.mkdtemp(prefix=f".stale-{dep.digest[:12]}-", dir=cache))
        try:
            os.replace(target, stale / "old")
        except OSError:
            pass
        shutil.rmtree(stale, ignore_errors=True)
    try:
        os.rename(tmp, target)
    except OSError:  # another task of this worker wrote it first
        shutil.rmtree(tmp, ignore_errors=True)
        if not _holds(target, dep):
            raise SnncError("the worker's cached deployment keeps changing under it", where=str(target),
                            hint="remove the folder and run again") from None
    return str(target)


def simulate_chunk_task(dep: DeploymentFiles, barrier_cycles: int | None, eject_depth: int | None, first: int,
                        x: Any, y: Any, record: bool) -> Any:
    """One image chunk of a deployment, on a Dask worker (``simulate._simulate_chunk`` there)."""
    from snnc.backends.yoso.drivers.simulate import _simulate_chunk

    return _simulate_chunk((local_deployment(dep), barrier_cycles, eject_depth), first, x, y, record)


class DistributedRunError(SnncError):
    """A Dask run that could not finish: ``finished`` holds the chunks that did, as ``(lo, hi, chunk)``."""

    def __init__(self, message: str, *, finished: list[tuple[int, int, Any]], hint: str) -> None:
        super().__init__(message, where="dask", hint=hint)
        self.finished = finished
        #: the simulation of the finished images (a SimResult, set by simulate_deployment), or None
        self.partial: Any = None


#: seconds without progress and without any worker before a run is given up (``stall_timeout``)
STALL_TIMEOUT = 30.0


def run_simulation_chunks(client: Any, path: str | os.PathLike[str], barrier_cycles: int | None,
                          eject_depth: int | None, bounds: list[tuple[int, int]], x: Any, y: Any, record: bool,
                          bar: Any, *, stall_timeout: float = STALL_TIMEOUT) -> list[Any]:
    """Submit every chunk ``x[lo:hi]`` as a task, gather the results in input order.

    A worker that dies takes its tasks with it and Dask runs them again on the others (a task that kills
    ``distributed.scheduler.allowed-failures`` workers is given up). The run ends with a
    :class:`DistributedRunError` naming what happened and carrying the finished chunks when a chunk is given
    up, a task fails, the scheduler goes away, or no worker is left for ``stall_timeout`` seconds.
    """
    distributed = _import_distributed()
    packed = pack_deployment(path)
    try:
        dep = client.scatter(packed, broadcast=True)
    except (OSError, TimeoutError) as err:  # no worker to send it to (TimeoutError is an OSError)
        raise _lost(f"cannot send the deployment to the Dask workers ({_first_line(err)})", [], {}, bounds) from None
    futures = [client.submit(simulate_chunk_task, dep, barrier_cycles, eject_depth, lo, x[lo:hi],
                             None if y is None else y[lo:hi], record, pure=False)
               for lo, hi in bounds]
    done: dict[int, Any] = {}
    lonely_since: float | None = None
    try:
        while len(done) < len(futures):
            pending = [f for i, f in enumerate(futures) if i not in done]
            try:
                distributed.wait(pending, timeout=1.0, return_when="FIRST_COMPLETED")
            except TimeoutError:
                pass
            except distributed.client.FuturesCancelledError as err:
                raise _lost(f"the Dask scheduler cancelled the tasks ({_first_line(err)}: the workers that held "
                            f"the deployment left)", futures, done, bounds) from None
            except OSError as err:
                raise _lost(f"lost the Dask scheduler ({_first_line(err)})", futures, done, bounds) from None
            progressed = False
            for i, fut in enumerate(futures):
                if i in done or not fut.done():
                    continue
                try:
                    done[i] = fut.result()
                except distributed.KilledWorker:
                    raise _lost(f"images {bounds[i][0]}-{bounds[i][1] - 1} killed every worker that ran them",
                                futures, done, bounds) from None
                except (distributed.client.FutureCancelledError, distributed.client.FuturesCancelledError,
                        OSError) as err:
                    raise _lost(f"the Dask scheduler dropped the task ({_first_line(err)})", futures, done,
                                bounds) from None
                except SnncError:
                    raise
                except Exception as err:  # noqa: BLE001 - an error inside the task, reported as such
                    raise _lost(f"a task failed on its worker: {type(err).__name__}: {_first_line(err)}", futures,
                                done, bounds) from None
                bar.update(bounds[i][1] - bounds[i][0])
                progressed = True
            if progressed:
                lonely_since = None
                continue
            try:
                alone = worker_count(client) == 0
            except OSError as err:
                raise _lost(f"lost the Dask scheduler ({_first_line(err)})", futures, done, bounds) from None
            if not alone:
                lonely_since = None
            elif lonely_since is None:
                lonely_since = time.monotonic()
            elif time.monotonic() - lonely_since > stall_timeout:
                raise _lost(f"every Dask worker is gone and none came back within {stall_timeout:g} s", futures,
                            done, bounds)
    finally:
        for fut in futures:
            fut.cancel()
    return [done[i] for i in range(len(futures))]


def _lost(what: str, futures: list[Any], done: dict[int, Any], bounds: list[tuple[int, int]]) -> DistributedRunError:
    finished = [(*bounds[i], done[i]) for i in sorted(done)]
    images = sum(hi - lo for lo, hi, _ in finished)
    total = bounds[-1][1] - bounds[0][0] if bounds else 0
    return DistributedRunError(f"{what}; {images} of {total} images had finished", finished=finished,
                               hint="start workers again (dask worker SCHEDULER) and rerun, or run without "
                                    "--dask")
