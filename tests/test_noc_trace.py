"""Trace replay: the CSV format and its errors, statistics, determinism, the command line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from snnc.backends.yoso.drivers.trace import (
    TraceError,
    generate_uniform_trace,
    parse_mesh,
    read_trace,
    replay_trace,
    write_trace,
)
from snnc.cli.noc import main


def test_csv_with_header_comments_and_blank_lines(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("cycle,src,dst\n# two packets\n\n0, 0, 3\n  4,1,2  \n")
    assert read_trace(f).tolist() == [[0, 0, 3], [4, 1, 2]]
    f.write_text("0,0,3\n4,1,2\n")  # header optional
    assert read_trace(f).tolist() == [[0, 0, 3], [4, 1, 2]]
    # a plain file (fast path) and the same rows spaced out (line-by-line path) agree
    rows = generate_uniform_trace((4, 4), 0.2, cycles=30, seed=4)
    write_trace(rows, f)
    plain = read_trace(f, nodes=16)
    f.write_text(f.read_text().replace(",", " , ").replace("\n", "\n\n"))
    assert np.array_equal(plain, rows) and np.array_equal(read_trace(f, nodes=16), rows)


@pytest.mark.parametrize("text,message", [
    ("cycle,src,dst\n0,0,3\n1,2\n", r"t.csv:3: expected 3 fields cycle,src,dst, got 2"),
    ("0,0,3\n1,x,2\n", r"t.csv:2: src must be an integer, got 'x'"),
    ("0,0,3\n-1,0,2\n", r"t.csv:2: cycle must be >= 0, got -1"),
    ("0,0,3\n\n5,0,64\n", r"t.csv:3: dst node 64 is not on the mesh \(ids 0..63\)"),
    ("cycle,src,dst\n0,0,3\n5,64,0\n", r"t.csv:3: src node 64 is not on the mesh"),
    ("0,0,3\n5,0,1,2\n7,1\n", r"t.csv:2: expected 3 fields"),
    ("time,from,to\n0,0,1\n", r"t.csv:1: cycle must be an integer, got 'time'"),
    ("cycle,src,dst\n# nothing\n", r"t.csv: the trace has no packets"),
    ("0,0,3,7\n", r"t.csv:1: expected 3 fields"),
    ("0,1.5,3\n", r"t.csv:1: src must be an integer"),
])
def test_bad_rows_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "t.csv"
    f.write_text(text)
    with pytest.raises(TraceError, match=message):
        replay_trace(f, mesh=(8, 8))


def test_missing_file_and_bad_arrays(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="not found"):
        replay_trace(tmp_path / "nope.csv")
    with pytest.raises(TraceError, match="shape"):
        replay_trace(np.zeros((3, 2), dtype=int))
    with pytest.raises(TraceError, match="row 1: src node 9"):
        replay_trace([(0, 0, 1), (1, 9, 0)], mesh=(3, 3))
    with pytest.raises(TraceError, match="no packets"):
        replay_trace([])
    with pytest.raises(TraceError, match="COLSxROWS"):
        parse_mesh("8by8")


def test_unsorted_rows_are_injected_in_cycle_order() -> None:
    rows = [(10, 0, 3), (0, 0, 3), (10, 1, 3)]
    st = replay_trace(rows, mesh=(4, 1))
    # latencies come back in row order; each packet alone-ish: 0->3 is 3 hops = 11, 1->3 is 2 hops = 8
    assert st.latency.tolist() == [11, 11, 8]
    assert st.offered == pytest.approx(3 / 11 / 4)


def test_statistics_of_a_small_trace() -> None:
    st = replay_trace([(0, 0, 3), (0, 3, 0), (2, 5, 5)], mesh=(2, 3))
    # 0 (0,0) -> 3 (1,1): 2 hops, 8 cycles; 3 -> 0: 2 hops, 8; 5 -> 5: 0 hops, R = 2
    assert st.latency.tolist() == [8, 8, 2]
    assert st.max_latency == 8 and st.avg_latency == pytest.approx(6.0) and st.avg_hops == pytest.approx(4 / 3)
    assert st.avg_queueing == 0 and st.packets == 3 and st.flits == 3
    loads = {(a, b): n for a, b, n in st.links}
    assert loads[(0, 1)] == 1 and loads[(1, 3)] == 1 and loads[(3, 2)] == 1 and loads[(2, 0)] == 1
    assert sum(loads.values()) == 4 and st.busiest_link[2] == 1
    assert st.eject == [1, 0, 0, 1, 0, 1] and sum(st.router_flits) == 4 + 3
    assert st.cycles == 8 and st.accepted == pytest.approx(3 / 8 / 6)


def test_source_queueing_counts_in_the_latency() -> None:
    # ten packets from node 0 at cycle 0: the injection queue sends one per cycle
    st = replay_trace([(0, 0, 1)] * 10, mesh=(2, 1))
    assert st.latency.tolist() == [5 + i for i in range(10)]
    assert st.avg_queueing == pytest.approx(4.5)
    assert st.avg_latency == pytest.approx(st.avg_queueing + 2 + st.avg_network_latency)


def test_replay_is_deterministic_and_seeded(tmp_path: Path) -> None:
    a = generate_uniform_trace((8, 8), 0.1, cycles=100, seed=11)
    assert np.array_equal(a, generate_uniform_trace((8, 8), 0.1, cycles=100, seed=11))
    assert not np.array_equal(a, generate_uniform_trace((8, 8), 0.1, cycles=100, seed=12))
    assert (a[:, 1] != a[:, 2]).all() and abs(len(a) / (100 * 64) - 0.1) < 0.02
    f = tmp_path / "u.csv"
    write_trace(a, f)
    s1, s2 = replay_trace(f, flits=2), replay_trace(a, flits=2)
    assert np.array_equal(s1.latency, s2.latency) and s1.links == s2.links and s1.router_flits == s2.router_flits
    assert s1.to_json().keys() == s2.to_json().keys()
    assert len(generate_uniform_trace((8, 8), 0.1, packets=1234, seed=1)) == 1234


def test_uniform_load_raises_latency() -> None:
    low = replay_trace(generate_uniform_trace((8, 8), 0.02, cycles=300, seed=1))
    high = replay_trace(generate_uniform_trace((8, 8), 0.3, cycles=300, seed=1))
    # nearly unloaded: the average is close to its zero-load value 3 * hops + 2 (about 18 on 8x8)
    zero_load = 3 * low.avg_hops + 2
    assert zero_load <= low.avg_latency < zero_load + 0.5 and high.avg_latency > low.avg_latency + 2
    assert high.avg_queueing > low.avg_queueing


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "u.csv"
    write_trace(generate_uniform_trace((4, 4), 0.1, cycles=50, seed=2), f)
    out_json = tmp_path / "stats.json"
    assert main([str(f), "--mesh", "4x4", "--router-delay", "1", "--link-delay", "2", "--flits", "2",
                 "--fifo-depth", "3", "--links", "all", "--json", str(out_json)]) == 0
    text = capsys.readouterr().out
    assert "4x4 mesh, R=1 L=2 F=2 D=3" in text and "average hops" in text and "busiest link" in text
    data = json.loads(out_json.read_text())
    assert data["config"]["router_delay"] == 1 and len(data["links"]) == 2 * (3 * 4) * 2
    listed = re.findall(r"^ +\d+ \(\d,\d\) +-> +\d+ \(\d,\d\) +\d+ ", text, re.M)
    assert len(listed) == len(data["links"])  # --links all: every link listed
    # defaults from the hardware file: its 6x7 mesh; node 40 is off a 4x4 mesh but on 6x7
    g = tmp_path / "g.csv"
    g.write_text("0,0,40\n")
    assert main([str(g), "--hw", str(Path(__file__).parents[1] / "backends/yoso/yoso-6x7.toml")]) == 0
    assert "6x7 mesh, R=2 L=1 F=1 D=4" in capsys.readouterr().out
    assert main([str(g), "--mesh", "4x4"]) == 1
    assert "g.csv:1: dst node 40 is not on the mesh" in capsys.readouterr().err
    assert main([str(g), "--router-delay", "0"]) == 1
    assert "router_delay: must be an integer >= 1" in capsys.readouterr().err
