"""Registry conventions: built-ins by name, plugins by entry point (real dist-info folders on sys.path),
runtime registration, and the errors for unknown names and broken plugins."""

from __future__ import annotations

import textwrap
import uuid
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from snnc.backends import (
    ENTRY_POINT_GROUP,
    Backend,
    RunResult,
    available_backends,
    get_backend,
    register_backend,
    unregister_backend,
)
from snnc.backends.reference import ReferenceBackend
from snnc.errors import BackendError
from snnc.ir import Graph, ValueType


class EchoBackend(Backend):
    """Scores are the inputs (a toy backend for registry tests)."""

    name = "echo"
    description = "returns its input as the scores"

    def run(self, graph, x, *, record=False, batch_size=None):
        return RunResult(np.asarray(x, np.float32))


@pytest.fixture
def unique_name():
    name = f"test-{uuid.uuid4().hex[:8]}"
    yield name
    try:
        unregister_backend(name)
    except BackendError:
        pass


def make_plugin(root: Path, entries: dict[str, str], module_source: str | None = None) -> str:
    """A real installed distribution (dist-info with entry_points.txt) under ``root``; returns the module name."""
    tag = uuid.uuid4().hex[:8]
    module = f"snnc_plugin_{tag}"
    dist = root / f"snnc_plugin_{tag}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: snnc-plugin-{tag}\nVersion: 0.1\n")
    lines = "\n".join(f"{name} = {target.format(module=module)}" for name, target in entries.items())
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}\n")
    if module_source is not None:
        (root / f"{module}.py").write_text(textwrap.dedent(module_source))
    return module


def test_reference_is_found_by_name():
    backend = get_backend("reference")
    assert isinstance(backend, ReferenceBackend) and backend.name == "reference"
    assert "reference" in available_backends()
    assert available_backends()["reference"] == ReferenceBackend.description


def test_reference_is_declared_as_an_entry_point_of_the_installed_package():
    eps = {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert eps["reference"].value == "snnc.backends.reference:ReferenceBackend"
    assert eps["reference"].load() is ReferenceBackend


def test_unknown_name_lists_the_available_backends():
    with pytest.raises(BackendError) as info:
        get_backend("no-such-backend")
    message = str(info.value)
    assert "unknown backend 'no-such-backend'" in message
    assert "available backends: " in message and "reference" in message


def test_a_backend_registered_at_runtime_is_found(unique_name):
    register_backend(unique_name, EchoBackend)
    backend = get_backend(unique_name)
    assert isinstance(backend, EchoBackend)
    assert available_backends()[unique_name] == "returns its input as the scores"
    assert backend.run(None, [[0.0, 1.0]]).predictions.tolist() == [1]
    with pytest.raises(BackendError, match="already registered"):
        register_backend(unique_name, EchoBackend)
    register_backend(unique_name, ReferenceBackend, replace=True)
    assert isinstance(get_backend(unique_name), ReferenceBackend)
    unregister_backend(unique_name)
    with pytest.raises(BackendError, match="unknown backend"):
        get_backend(unique_name)


def test_builtin_names_are_protected_and_bad_registrations_refused():
    with pytest.raises(BackendError, match="already registered"):
        register_backend("reference", EchoBackend)
    with pytest.raises(BackendError, match="not callable"):
        register_backend("x-not-callable", 3)
    with pytest.raises(BackendError, match="without spaces"):
        register_backend("has space", EchoBackend)


def test_a_factory_that_returns_no_backend_is_an_error(unique_name):
    register_backend(unique_name, lambda: "not a backend")
    with pytest.raises(BackendError, match="returned str, not a Backend"):
        get_backend(unique_name)


def test_a_plugin_entry_point_is_found(tmp_path, monkeypatch):
    source = """
        import numpy as np
        from snnc.backends import Backend, RunResult

        class PluginBackend(Backend):
            name = "plugin"
            description = "a backend from an installed plugin"

            def run(self, graph, x, *, record=False, batch_size=None):
                return RunResult(np.zeros((len(x), 2), np.float32))
    """
    module = make_plugin(tmp_path, {"testplugin-ok": "{module}:PluginBackend"}, source)
    monkeypatch.syspath_prepend(str(tmp_path))
    backend = get_backend("testplugin-ok")
    assert type(backend).__module__ == module and backend.name == "plugin"
    assert available_backends()["testplugin-ok"] == "a backend from an installed plugin"


def test_a_plugin_that_fails_to_import_names_its_entry_point_and_the_error(tmp_path, monkeypatch):
    make_plugin(tmp_path, {"testplugin-missing": "snnc_no_such_module_xyz:Backend",
                           "testplugin-raises": "{module}:Thing"}, "raise RuntimeError('plugin is broken')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(BackendError) as info:
        get_backend("testplugin-missing")
    message = str(info.value)
    assert f"entry point {ENTRY_POINT_GROUP}:testplugin-missing" in message
    assert "snnc_no_such_module_xyz:Backend" in message
    assert "ModuleNotFoundError" in message and "snnc_no_such_module_xyz" in message
    with pytest.raises(BackendError, match="RuntimeError: plugin is broken"):
        get_backend("testplugin-raises")
    listed = available_backends()  # listing never raises
    assert listed["testplugin-missing"].startswith("unavailable: backend plugin 'testplugin-missing'")
    assert "reference" in listed


def test_compile_is_refused_by_a_backend_that_cannot_compile(tmp_path):
    with pytest.raises(BackendError, match="backend reference cannot compile"):
        get_backend("reference").compile(Graph("g", 1), tmp_path)


def test_reference_backend_run_result_conventions():
    g = Graph("tiny", time_steps=4)
    x = g.add_input("x", ValueType.tensor(2))
    s = g.add_op("snn.ttfs_encode", [x], {"time_steps": 4, "window": 4}, name="enc")
    h = g.add_op("snn.relpsp", [g.add_op("snn.dense", [s], {"weight": np.eye(3, 2, dtype=np.float32)})],
                 {"threshold": 1.0}, name="out")
    g.set_outputs([g.add_op("snn.first_spike_decode", [h], name="scores")])
    result = get_backend("reference").run(g, np.array([[1.0, 0.5], [0.0, 0.0]], np.float32))
    assert result.scores.dtype == np.float32 and result.scores.shape == (2, 3)
    # x = 1 spikes at t=0 (V reaches 1 at t=1: score 4-1), x = 0.5 at t=2 (V = 1 at t=3: score 1)
    assert result.scores.tolist() == [[3.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    assert result.predictions.tolist() == [0, 0]
    assert result.spike_counts["enc"].tolist() == [2, 0] and result.spike_counts["out"].tolist() == [2, 0]
    assert result.spikes == {}
    recorded = get_backend("reference").run(g, np.ones((1, 2), np.float32), record=True)
    assert set(recorded.spikes) == {"enc", "out"} and recorded.spikes["enc"].shape == (4, 1, 2)
    spiking_output = Graph("raw", time_steps=2)
    i = spiking_output.add_input("x", ValueType.tensor(1))
    spiking_output.set_outputs([spiking_output.add_op("snn.ttfs_encode", [i], {"time_steps": 2, "window": 2})])
    with pytest.raises(BackendError, match="first graph output must be the scores"):
        get_backend("reference").run(spiking_output, np.ones((1, 1), np.float32))
