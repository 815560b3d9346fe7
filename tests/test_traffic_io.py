"""Traffic in and out (issue 18 item 4): the chip's own packets as a trace (``simulate --trace-out``), BookSim2's
trace format read and written by ``noc replay``, and the shipped example trace the README replays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from snnc.backends.yoso.drivers.trace import parse_trace, read_trace, replay_trace
from snnc.cli import main
from snnc.errors import SnncError

ROOT = Path(__file__).resolve().parents[1]


def test_booksim_lines_read_like_csv_rows() -> None:
    csv = parse_trace("cycle,src,dst\n0,1,2\n3,4,5\n")
    booksim = parse_trace("0 1 2 0\n3 4 5 1\n")
    np.testing.assert_array_equal(csv, booksim)
    with pytest.raises(SnncError, match=":2"):
        parse_trace("0 1 2 0\n3 4 x 1\n")


def test_replay_writes_booksim_and_reads_it_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shipped = ROOT / "examples" / "trace-uniform-8x8.csv"
    out = tmp_path / "t.booksim"
    assert main(["noc", "replay", str(shipped), "--mesh", "8x8", "--booksim-out", str(out)]) == 0
    assert "2000 packets" in capsys.readouterr().out
    lines = out.read_text().splitlines()
    assert len(lines) == 2000 and all(len(line.split()) == 4 and line.endswith(" 0") for line in lines)
    np.testing.assert_array_equal(read_trace(out), read_trace(shipped))
    a = replay_trace(shipped, mesh="8x8")
    b = replay_trace(out, mesh="8x8")
    assert (a.avg_latency, a.cycles) == (b.avg_latency, b.cycles)


def test_simulate_writes_the_chips_packets_as_a_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from snnc.api import compile as compile_model
    from snnc.api import simulate

    dep = compile_model(ROOT / "models" / "stdbp-digits.onnx", tmp_path / "dep")
    trace = tmp_path / "chip.csv"
    assert main(["simulate", str(dep.out_dir), "--dataset", "digits", "--limit", "2", "--show", "0",
                 "--no-progress", "--trace-out", str(trace), "--trace-image", "1"]) == 0
    assert "replay with snnc noc replay" in capsys.readouterr().err
    rows = read_trace(trace)
    from snnc.datasets import load_dataset

    x = load_dataset("digits", split="test", limit=2).x
    record = simulate(dep, x).images[1]
    # every packet the chip sent for image 1, a multicast once per destination: at least the packets it counted
    assert len(rows) >= record.packets["spike"] + record.packets["end_of_step"] > 0
    assert rows[:, 0].min() >= 0 and rows[:, 1:].max() < 6 * 7
    assert main(["noc", "replay", str(trace), "--hw", str(dep.out_dir / "hardware.toml")]) == 0
    with pytest.raises(SystemExit):
        main(["simulate", str(dep.out_dir), "--dataset", "digits", "--trace-out", str(tmp_path / "x.csv"),
              "--trace-image", "-1"])
