"""Distributed evaluation on Dask: simulate and sweep give the serial results on a 2-worker local cluster.

One module-scoped LocalCluster (2 worker processes, 1 thread each, loopback) serves every test that
needs one; the model is the shipped digits STDBP MLP (64-100-10) on 8 images.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from snnc.errors import SnncError

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "stdbp-digits.onnx"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from snnc.api import load_model
    from snnc.backends.yoso.compile import compile_yoso

    out = tmp_path_factory.mktemp("dist") / "digits"
    compile_yoso(load_model(MODEL), out, model_path=MODEL)
    return out


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    from snnc.datasets import load_dataset

    d = load_dataset("digits", limit=8)
    return d.x.reshape(len(d.x), -1), d.y


@pytest.fixture(scope="module")
def client():  # noqa: ANN201 - a distributed.Client
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},
                                       silence_logs=logging.ERROR)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _grid(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grid.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ simulate
def test_simulate_on_dask_equals_serial(deployment: Path, data, client) -> None:  # noqa: ANN001
    from snnc.backends.yoso.drivers.simulate import simulate_deployment

    x, y = data
    serial = simulate_deployment(deployment, x, y=y)
    dask = simulate_deployment(deployment, x, y=y, scheduler=client, chunk_size=3)  # 3 tasks on 2 workers
    assert dask.workers == 2
    np.testing.assert_array_equal(dask.predictions, serial.predictions)
    np.testing.assert_array_equal(dask.scores, serial.scores)
    assert [r.cycles for r in dask.images] == [r.cycles for r in serial.images]
    assert [r.energy_uj for r in dask.images] == [r.energy_uj for r in serial.images]
    assert [r.energy_pj for r in dask.images] == [r.energy_pj for r in serial.images]
    assert [r.index for r in dask.images] == list(range(len(x)))
    assert dask.link_flits == serial.link_flits
    np.testing.assert_array_equal(dask.pe_busy, serial.pe_busy)
    assert dask.accuracy == serial.accuracy


def test_a_worker_without_the_directory_gets_the_deployment_as_bytes(deployment: Path, data, tmp_path) -> None:  # noqa: ANN001
    import dataclasses

    from snnc.backends.yoso.drivers.distributed import local_deployment, pack_deployment, simulate_chunk_task
    from snnc.backends.yoso.drivers.simulate import _simulate_chunk

    x, y = data
    packed = dataclasses.replace(pack_deployment(deployment), origin=str(tmp_path / "elsewhere"))
    path = local_deployment(packed)
    assert Path(path) != deployment and Path(path).name == packed.digest
    assert (Path(path) / "model.ir").read_bytes() == (deployment / "model.ir").read_bytes()
    remote = simulate_chunk_task(packed, None, None, 0, x[:3], y[:3], False)
    here = _simulate_chunk((str(deployment), None, None), 0, x[:3], y[:3], False)
    np.testing.assert_array_equal(remote.scores, here.scores)
    assert [r.cycles for r in remote.records] == [r.cycles for r in here.records]


def test_a_changed_deployment_is_never_served_stale(deployment: Path, data, tmp_path: Path) -> None:  # noqa: ANN001
    """The workers' cache and the caller's directory are trusted only with the same bytes in every file
    (issue 19: a cached copy under the same manifest hash used to be served without re-hashing)."""
    import dataclasses
    import shutil

    from snnc.backends.yoso.drivers.distributed import local_deployment, pack_deployment
    from snnc.backends.yoso.drivers.simulate import _chip_key

    packed = dataclasses.replace(pack_deployment(deployment), origin=str(tmp_path / "elsewhere"))
    cached = Path(local_deployment(packed))
    victim = next(name for name, _ in packed.files if name.endswith(".npy"))
    (cached / victim).write_bytes((cached / victim).read_bytes()[:-1] + b"\x7f")  # a damaged cached copy
    again = Path(local_deployment(packed))
    assert again == cached and (again / victim).read_bytes() == dict(packed.files)[victim]  # rewritten
    copy = tmp_path / "copy"
    shutil.copytree(deployment, copy)
    here = dataclasses.replace(pack_deployment(copy))
    assert local_deployment(here) == str(copy.resolve())  # the caller's directory, unchanged: used in place
    key = _chip_key(copy, None, None)
    (copy / victim).write_bytes((copy / victim).read_bytes()[:-1] + b"\x7f")  # changed in place, manifest not
    assert local_deployment(here) != str(copy.resolve())  # not used: a copy of the packed bytes instead
    assert _chip_key(copy, None, None) != key  # and a chip loaded from it is not reused


def test_a_killed_worker_costs_nothing_but_time(deployment: Path, data) -> None:  # noqa: ANN001
    """A worker process killed mid-run: its tasks run again elsewhere, the result is the serial one."""
    import os
    import threading

    distributed = pytest.importorskip("distributed")
    from snnc.backends.yoso.drivers.simulate import simulate_deployment

    x, y = data
    x = np.concatenate([x] * 6)  # 48 images, one per task
    y = np.concatenate([y] * 6)
    serial = simulate_deployment(deployment, x, y=y)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},
                                       silence_logs=logging.CRITICAL)
    client = distributed.Client(cluster)
    try:
        victim = sorted(client.scheduler_info()["workers"])[0]

        def kill() -> None:
            time.sleep(0.3)
            try:
                client.run(os._exit, 1, workers=[victim], wait=False)
            except Exception:  # noqa: BLE001 - the worker may already be gone
                pass

        threading.Thread(target=kill, daemon=True).start()
        result = simulate_deployment(deployment, x, y=y, scheduler=client, chunk_size=1)
    finally:
        client.close()
        cluster.close()
    np.testing.assert_array_equal(result.scores, serial.scores)
    assert [r.cycles for r in result.images] == [r.cycles for r in serial.images]


def _until(condition, timeout: float = 20.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return bool(condition())


def test_no_worker_left_ends_the_run_with_what_finished(deployment: Path, data) -> None:  # noqa: ANN001
    import threading

    distributed = pytest.importorskip("distributed")
    from snnc.backends.yoso.drivers.distributed import DistributedRunError, run_simulation_chunks

    class Bar:
        def update(self, n: int) -> None:
            pass

    x, y = data
    x, y = np.concatenate([x] * 8), np.concatenate([y] * 8)  # 64 images, 8 per task
    bounds = [(lo, lo + 8) for lo in range(0, 64, 8)]
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},
                                       silence_logs=logging.CRITICAL)
    client = distributed.Client(cluster)
    try:
        client.wait_for_workers(1)
        with pytest.raises(DistributedRunError, match="cannot send the deployment") as err:
            run_simulation_chunks(client, deployment, None, None, bounds, x, y, False, Bar(), stall_timeout=2.0) \
                if cluster.scale(0) is None and _until(lambda: not client.scheduler_info()["workers"]) else None
        assert err.value.finished == [] and "0 of 64 images" in str(err.value)
        cluster.scale(1)
        client.wait_for_workers(1)
        threading.Timer(0.5, cluster.scale, (0,)).start()  # every worker leaves mid-run; none comes back
        start = time.perf_counter()
        with pytest.raises(DistributedRunError, match=r"every Dask worker is gone|the workers that held") as err:
            run_simulation_chunks(client, deployment, None, None, bounds, x, y, False, Bar(), stall_timeout=2.0)
        assert time.perf_counter() - start < 30
        finished = sum(hi - lo for lo, hi, _ in err.value.finished)
        assert f"{finished} of 64 images had finished" in str(err.value) and "dask worker" in err.value.hint
    finally:
        client.close()
        cluster.close()


def test_unreachable_scheduler_is_a_clear_error_within_the_timeout(deployment: Path, data) -> None:  # noqa: ANN001
    from snnc.backends.yoso.drivers.simulate import simulate_deployment

    x, y = data
    start = time.perf_counter()
    with pytest.raises(SnncError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9 within 1 s") as err:
        simulate_deployment(deployment, x, y=y, scheduler="tcp://127.0.0.1:9", scheduler_timeout=1.0)
    assert time.perf_counter() - start < 8
    assert "dask scheduler" in (err.value.hint or "")
    with pytest.raises(SnncError, match="bad scheduler address"):
        simulate_deployment(deployment, x, y=y, scheduler="no-port-here")


def _listener(mode: str) -> int:
    """A TCP server on loopback that accepts and then stays silent, or answers junk; returns its port."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)

    def serve() -> None:
        held = []
        while True:
            conn, _ = srv.accept()
            held.append(conn)
            if mode == "junk":
                conn.sendall(b"\xff" * 64 + b"HTTP/1.1 200 OK\r\n\r\n" * 10)

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1]


@pytest.mark.parametrize("mode", ["silent", "junk"])
def test_a_server_that_is_not_a_scheduler_is_a_clear_error_in_time(mode: str) -> None:
    """Issue 19: a server that accepts and never answers hung the run (60 s and more); one that answers junk made
    Dask's deserialiser fail with an internal error."""
    from snnc.backends.yoso.drivers.distributed import dask_client

    port = _listener(mode)
    start = time.perf_counter()
    with pytest.raises(SnncError, match="did not answer as a Dask scheduler|does not speak Dask's protocol") as err:
        with dask_client(f"tcp://127.0.0.1:{port}", timeout=2.0):
            pass
    assert time.perf_counter() - start < 10
    assert "dask scheduler" in err.value.hint


@pytest.mark.parametrize("timeout", [float("inf"), float("nan"), -1.0, 0, 1e9, "10"])
def test_scheduler_timeouts_are_bounded(timeout: object) -> None:
    from snnc.backends.yoso.drivers.distributed import dask_client

    with pytest.raises(SnncError, match=r"scheduler timeout must be a number of seconds in \(0, 86400\]"):
        with dask_client("tcp://127.0.0.1:9", timeout=timeout):  # type: ignore[arg-type]
            pass


def test_dask_is_imported_only_when_used() -> None:
    code = ("import sys, snnc.cli, snnc.backends.yoso.drivers.simulate, snnc.backends.yoso.drivers.sweep; "
            "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------------ sweep
GRID = '[grid]\nmesh = ["1x1", "2x2", "6x7"]\n[grid.noc]\nfifo_depth = [4]\n'


def test_sweep_serial_equals_dask_and_keeps_the_infeasible_point(deployment: Path, data, client,  # noqa: ANN001
                                                                 tmp_path: Path) -> None:
    import argparse

    from snnc.backends.yoso.drivers import sweep
    from snnc.cli import sweep as sweep_cli

    x, y = data
    grid = _grid(tmp_path, GRID)
    dask = sweep.sweep_deployment(deployment, grid, x, y, scheduler=client)
    # the CLI path, serial, writes the CSV and the plot
    p = argparse.ArgumentParser()
    sweep_cli.add_arguments(p)
    out = tmp_path / "out"
    args = p.parse_args([str(deployment), "--hw-grid", str(grid), "--dataset", "digits", "--limit", "8",
                         "--scheduler", "serial", "-o", str(out)])
    assert sweep_cli.run(args) == 0
    csv_text = (out / "sweep.csv").read_text(encoding="utf-8")
    assert csv_text == dask.csv_text()
    assert (out / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    rows = dask.rows
    assert [r["mesh"] for r in rows] == ["1x1", "2x2", "6x7"]
    assert dask.columns[:6] == ["point", "mesh", "neurons", "weights", "clock_hz", "noc.fifo_depth"]
    assert rows[0]["status"] == "infeasible" and "needs 2 PEs but the mesh has 1 x 1" in rows[0]["error"]
    assert rows[0]["accuracy"] is None and rows[0]["pareto"] is None
    assert [r["status"] for r in rows[1:]] == ["ok", "ok"]
    assert all(r["pes"] == 2 and r["images"] == 8 for r in rows[1:])
    # the 2 x 2 chip leaks on 4 PEs, the 6 x 7 one on 42: less energy, and a shorter barrier
    assert rows[1]["energy_uj"] < rows[2]["energy_uj"]
    assert rows[1]["latency_cycles"] < rows[2]["latency_cycles"]
    assert dask.pareto == [1] and rows[1]["pareto"] is True and rows[2]["pareto"] is False
    # the same point simulated alone gives the same figures
    from snnc.backends.yoso.drivers.simulate import simulate_deployment

    alone = simulate_deployment(deployment, x, y=y)
    assert rows[2]["accuracy"] == alone.accuracy
    assert rows[2]["latency_cycles"] == pytest.approx(alone.distribution("cycles")["mean"])
    assert rows[2]["energy_uj"] == pytest.approx(alone.distribution("energy_uj")["mean"])


def test_grid_points_and_sram_sizes_follow_n_and_w(tmp_path: Path) -> None:
    from snnc.backends.yoso.drivers.sweep import load_grid, point_hardware
    from snnc.backends.yoso.hardware import load_hardware

    grid = load_grid(_grid(tmp_path, '[grid]\nmesh = ["8x8", "6x7"]\nneurons = [128, 512]\nweights = [4096]\n'
                                     'clock_hz = [2e6]\n'))
    points = grid.points()
    assert [p.labels for p in points] == [
        {"mesh": m, "neurons": n, "weights": "4096", "clock_hz": "2000000"}
        for m in ("8x8", "6x7") for n in ("128", "512")]
    hw = point_hardware(load_hardware(), points[1])
    assert (hw.mesh.cols, hw.mesh.rows, hw.pe.neurons, hw.pe.weights, hw.chip.clock_hz) == (8, 8, 512, 4096, 2e6)
    assert hw.sram["potential"].words == hw.sram["acc_weight"].words == 512
    assert hw.sram["weight"].words == 4096


@pytest.mark.parametrize(("text", "message"), [
    ('[grid]\nneurons = []\n', "neurons is an empty list"),
    ('[grid]\nneurons = 256\n', "neurons must be a list of values"),
    ('[grid]\nneuronz = [256]\n', "unknown grid key 'neuronz'"),
    ('[grid]\nmesh = ["6by7"]\n', "mesh value '6by7' is not 'COLSxROWS'"),
    ('[grid]\nneurons = [256.5]\n', r"\[pe\] neurons takes an integer"),
    ('[grid.pe]\nneuronz = [256]\n', "unknown key 'neuronz' of \\[pe\\]"),
    ('[grid.cpu]\ncores = [2]\n', r"unknown hardware section \[cpu\]"),
    ('[grid]\nneurons = [256]\n[grid.pe]\nneurons = [512]\n', r"\[pe\] neurons is swept twice"),
    ('[grid]\nclock_hz = [1e6, 1e6]\n', "lists a value twice"),
    ('[sweep]\nx = 1\n', "unknown top-level key or table 'sweep'"),
    ('[grid]\n', "no \\[grid\\] table, or an empty one"),
    ('[grid\nneurons = [1]\n', "not valid TOML"),
])
def test_bad_grid_files_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    from snnc.backends.yoso.drivers.sweep import GridError, load_grid

    path = _grid(tmp_path, text)
    with pytest.raises(GridError, match=message) as err:
        load_grid(path)
    assert str(path) in (err.value.where or "")


def test_a_value_the_hardware_rejects_is_an_infeasible_row(deployment: Path, data, tmp_path: Path) -> None:  # noqa: ANN001
    from snnc.backends.yoso.drivers.sweep import sweep_deployment

    x, y = data
    result = sweep_deployment(deployment, _grid(tmp_path, "[grid.core]\nadder_bits = [4]\n"), x[:2], y[:2],
                              scheduler="serial")
    (row,) = result.rows
    assert row["status"] == "infeasible" and "adder_bits" in row["error"] and result.pareto == []


def test_simulate_cli_options_reach_the_scheduler(deployment: Path) -> None:
    import argparse

    from snnc.cli import simulate

    p = argparse.ArgumentParser()
    simulate.add_arguments(p)
    args = p.parse_args([str(deployment), "--dataset", "digits", "--limit", "2", "--scheduler", "tcp://127.0.0.1:9",
                         "--scheduler-timeout", "0.5"])
    assert args.workers is None and not args.dask
    with pytest.raises(SnncError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        simulate.run(args)


def test_a_lost_cluster_leaves_the_finished_images_with_the_error(deployment: Path, data) -> None:  # noqa: ANN001
    """simulate_deployment on a cluster whose workers all leave: the DistributedRunError carries the SimResult of
    the images that finished (what `snnc simulate --json` then writes, marked partial)."""
    import threading

    distributed = pytest.importorskip("distributed")
    from snnc.backends.yoso.drivers.distributed import DistributedRunError
    from snnc.backends.yoso.drivers.simulate import simulate_deployment

    x, y = data
    x, y = np.concatenate([x] * 32), np.concatenate([y] * 32)  # 256 images on the Python model: seconds of work
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},
                                       silence_logs=logging.CRITICAL)
    client = distributed.Client(cluster)
    try:
        client.wait_for_workers(1)

        def leave_when_some_finished() -> None:  # every worker leaves once a few tasks are done
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                tasks = client.run_on_scheduler(lambda dask_scheduler: sum(
                    1 for ts in dask_scheduler.tasks.values() if ts.state == "memory"
                    and str(ts.key).startswith("simulate_chunk_task")))
                if tasks >= 3:
                    break
                time.sleep(0.05)
            cluster.scale(0)

        threading.Thread(target=leave_when_some_finished, daemon=True).start()
        with pytest.raises(DistributedRunError) as err:
            simulate_deployment(deployment, x, y=y, scheduler=client, chunk_size=4, engine="python")
    finally:
        client.close()
        cluster.close()
    partial = err.value.partial
    finished = sum(hi - lo for lo, hi, _ in err.value.finished)
    assert partial is not None and 0 < len(partial.images) == finished < len(x)
