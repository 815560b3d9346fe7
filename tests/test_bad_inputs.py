"""Every bad input of the catalogue ends in one clean error; outputs are written safely (issue 8).

Each catalogue entry (:mod:`snnc.tests.bad_inputs_catalogue`) runs the real CLI, ``snnc.cli.main``, in
this process with the workspace as the current directory, and must exit with its code (1), print
``snnc: error: WHERE: MESSAGE`` with the pinned ``where`` and message, and no traceback. The other
tests interrupt real writes half-way (a KeyboardInterrupt from inside the writer, and a process
killed with SIGKILL) and check that nothing half-written looks complete.
"""

from __future__ import annotations

import collections
import contextlib
import resource
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from snnc import cli
from snnc.tests.bad_inputs_catalogue import CASES, CATEGORIES, BadInput, Workspace, build_case


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("bad_inputs"))


@contextlib.contextmanager
def memory_cap(extra: int = 4 << 30) -> Iterator[None]:
    """Cap this process's address space at its current size plus ``extra`` bytes (a too-big model must
    then fail with MemoryError at once, whatever the machine's overcommit policy)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        size = int(f.read().split()[0]) * resource.getpagesize()
    cap = size + extra if hard == resource.RLIM_INFINITY else min(hard, size + extra)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run_cli(ws: Workspace, argv: tuple[str, ...] | list[str], monkeypatch: pytest.MonkeyPatch,
            capsys: pytest.CaptureFixture[str], *, cap: bool = False) -> tuple[int, str, str]:
    monkeypatch.chdir(ws.root)
    with memory_cap() if cap else contextlib.nullcontext():
        code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def output_dir(entry: BadInput) -> Path | None:
    argv = list(entry.argv)
    return Path(argv[argv.index("-o") + 1]) if entry.argv[0] == "compile" and "-o" in argv else None


# ------------------------------------------------------------------------------------------ catalogue
def test_the_catalogue_covers_every_category() -> None:
    counts = collections.Counter(category for category, _ in CASES.values())
    assert set(counts) == set(CATEGORIES)
    assert len(CASES) >= 45
    assert min(counts.values()) >= 4


def test_docs_list_every_entry() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "errors.md").read_text(encoding="utf-8")
    missing = [name for name in CASES if f"| `{name}` |" not in text]
    assert not missing, f"docs/errors.md lacks {missing}; regenerate with python -m snnc.tests.bad_inputs_catalogue"


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_ends_in_one_clean_error(name: str, ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    entry = build_case(name, ws)
    out_dir = output_dir(entry)
    existed = out_dir is not None and ws.abs(out_dir).exists()
    before = sorted(p.name for p in ws.abs(out_dir).iterdir()) if existed else None
    code, out, err = run_cli(ws, entry.argv, monkeypatch, capsys, cap=entry.category == "limits")
    assert "Traceback" not in out + err
    assert "internal error" not in err
    assert code == entry.exit_code, err
    assert err.startswith("snnc: error: "), err
    first = err.splitlines()[0]
    if entry.where is None:
        assert first.startswith(f"snnc: error: {entry.message}"), err
    else:
        assert first.startswith(f"snnc: error: {entry.where}: "), err
        assert entry.message in err, err
    if out_dir is not None:  # a failed compile writes nothing, and leaves what was there untouched
        target = ws.abs(out_dir)
        assert (sorted(p.name for p in target.iterdir()) == before) if existed else not target.exists()
        assert not list(target.parent.glob(f".{target.name}.*"))


# ----------------------------------------------------------------------------------------- safe output
def test_compile_without_force_keeps_the_existing_directory(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    entry = build_case("out-exists", ws)
    code, _, err = run_cli(ws, entry.argv, monkeypatch, capsys)
    assert code == 1 and "output directory already exists" in err
    assert (ws.abs(output_dir(entry)) / "notes.txt").read_text() == "keep me\n"
    # and a deployment is not replaced without --force either
    dep = ws.deployment_copy("safe/existing")
    manifest = (ws.abs(dep) / "manifest.json").read_bytes()
    code, _, err = run_cli(ws, ["compile", ws.digits_onnx, "-o", dep], monkeypatch, capsys)
    assert code == 1 and "output directory already exists" in err
    assert (ws.abs(dep) / "manifest.json").read_bytes() == manifest


def interrupt_after(monkeypatch: pytest.MonkeyPatch, writes: int) -> list[Path]:
    """Make the ``writes``-th ``Path.write_bytes`` raise KeyboardInterrupt (as if Ctrl-C came then)."""
    done: list[Path] = []
    real = Path.write_bytes

    def write_bytes(self: Path, data: bytes) -> int:
        if len(done) == writes:
            raise KeyboardInterrupt
        done.append(self)
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    return done


def test_interrupted_compile_leaves_no_deployment(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    model = ws.digits_onnx
    written = interrupt_after(monkeypatch, 4)
    code, _, err = run_cli(ws, ["compile", model, "-o", "safe/interrupted"], monkeypatch, capsys)
    monkeypatch.undo()
    assert code == cli.EXIT_INTERRUPTED and "interrupted" in err
    assert len(written) == 4  # it was stopped half-way through the files
    assert not ws.abs("safe/interrupted").exists()
    assert not list(ws.abs("safe").glob(".interrupted.*"))  # the temporary folder is gone too
    code, _, err = run_cli(ws, ["inspect", "safe/interrupted"], monkeypatch, capsys)
    assert code == 1 and err.startswith("snnc: error: safe/interrupted: deployment directory not found")


def test_interrupted_forced_recompile_keeps_the_old_deployment(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    dep = ws.deployment_copy("safe/old")
    before = {p.relative_to(ws.abs(dep)): p.read_bytes() for p in ws.abs(dep).rglob("*") if p.is_file()}
    interrupt_after(monkeypatch, 10)
    code, _, _ = run_cli(ws, ["compile", ws.digits_onnx, "-o", dep, "--force", "--placer", "row-major"],
                         monkeypatch, capsys)
    monkeypatch.undo()
    assert code == cli.EXIT_INTERRUPTED
    after = {p.relative_to(ws.abs(dep)): p.read_bytes() for p in ws.abs(dep).rglob("*") if p.is_file()}
    assert after == before
    code, out, _ = run_cli(ws, ["inspect", dep], monkeypatch, capsys)
    assert code == 0 and "verified" in out


def test_interrupted_ir_output_leaves_the_old_file(ws: Workspace, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import os

    out = ws.write("safe/out.snnir", "old\n")

    def fsync(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", fsync)
    code, _, _ = run_cli(ws, ["ir", ws.digits_onnx, "-o", out, "--force"], monkeypatch, capsys)
    monkeypatch.undo()
    assert code == cli.EXIT_INTERRUPTED
    assert ws.abs(out).read_text() == "old\n"
    assert sorted(p.name for p in ws.abs("safe").glob(".out.snnir*")) == []


KILLER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    real, count = Path.write_bytes, [0]
    def write_bytes(self, data):
        count[0] += 1
        if count[0] == 6:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(self, data)
    Path.write_bytes = write_bytes
    from snnc.cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_killed_compile_leaves_only_a_hidden_folder_that_is_not_a_deployment(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    model = ws.digits_onnx
    proc = subprocess.run([sys.executable, "-c", KILLER, "compile", model, "-o", "killed/dep"], cwd=ws.root,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9
    assert not ws.abs("killed/dep").exists()
    (leftover,) = ws.abs("killed").glob(".dep.tmp-*")  # SIGKILL allows no cleanup: a hidden temporary folder
    assert not (leftover / "manifest.json").exists()  # ... without the manifest, written last
    rel = str(leftover.relative_to(ws.root))
    code, _, err = run_cli(ws, ["inspect", rel], monkeypatch, capsys)
    assert code == 1 and err.startswith(f"snnc: error: {rel}: missing file manifest.json")
    code, _, _ = run_cli(ws, ["compile", model, "-o", "killed/dep"], monkeypatch, capsys)
    assert code == 0  # the leftover does not stand in the way of the next compile


def test_a_gzip_bomb_or_a_huge_dataset_file_is_refused_before_it_fills_the_memory(
        ws: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import gzip
    import shutil

    from snnc import datasets
    from snnc.tests.bad_inputs_catalogue import TEST_IMAGES

    monkeypatch.setattr(datasets, "MAX_IDX_BYTES", 100_000)  # the real cap is 1 GiB; same code path
    folder = ws.abs("limits-gzip/mnist")
    shutil.copytree(ws.abs(ws.mnist_dir), folder)
    header = bytes([0, 0, 8, 3]) + (500).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    (folder / TEST_IMAGES).unlink()
    (folder / (TEST_IMAGES + ".gz")).write_bytes(gzip.compress(header + bytes(500 * 784)))  # 392 kB from ~1 kB
    argv = ["run", ws.mnist_onnx, "--dataset", "mnist", "--data-dir", "limits-gzip/mnist"]
    code, _, err = run_cli(ws, argv, monkeypatch, capsys)
    assert code == 1
    assert err.startswith(f"snnc: error: limits-gzip/mnist/{TEST_IMAGES}.gz: gzip data decompresses to more than "
                          "100000 bytes")
    (folder / (TEST_IMAGES + ".gz")).unlink()
    (folder / TEST_IMAGES).write_bytes(header + bytes(500 * 784))
    code, _, err = run_cli(ws, argv, monkeypatch, capsys)
    assert code == 1
    assert err.startswith(f"snnc: error: limits-gzip/mnist/{TEST_IMAGES}: file of 392016 bytes is larger than any "
                          "IDX dataset snnc reads (100000 bytes)")
