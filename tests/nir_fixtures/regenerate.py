"""Regenerate the Sinabs and Rockpool NIR fixtures (issue 15) in a virtual environment of their own.

Sinabs 3.1.3 and Rockpool 3.1.0 pin ``nir <= 1.0.4`` while snnc needs ``nir >= 1.0.6``, so they cannot share
snnc's environment. This script:

1. creates a virtual environment (default ``/tmp/snnc-nir-fixtures-venv``; ``--venv``) and installs, in this
   order (the CPU torch first: an unpinned torch would pull a multi-GB CUDA build)::

       pip install torch==2.13.0 sinabs==3.1.3 rockpool==3.1.0
       # resolves: nir 1.0.4, nirtorch 2.0.2, samna 0.48.6, numpy 2.4.6, h5py 3.16.0 (about 60 s)

2. re-runs itself there (``--build``): builds small networks in each library, exports each with the library's
   own exporter (``sinabs.to_nir``, ``rockpool.nn.modules.torch.nir.to_nir``), writes it with ``nir.write``
   (nir 1.0.4) and simulates it with the library on a seeded random spike input;
3. writes ``<library>-<net>.nir`` and ``<library>-<net>.npz`` here. The npz holds ``input`` ``[T, B, *f]``
   (snnc's time-first layout), ``spikes/<node>`` ``[T, B, *f]`` for every neuron layer (NIR node name),
   ``meta`` (JSON: library and nir versions, dt, the exact export and simulation calls, notes);
4. with ``--snnc`` also installs snnc into that environment (``pip install --no-deps -e REPO`` plus its runtime
   dependencies, since snnc's ``nir >= 1.0.6`` would conflict) and records what ``snnc nir import`` does
   there, under nir 1.0.4, in ``nir104-import.json``; then runs ``roundtrip.py`` there: snnc graphs exported
   with ``--for sinabs|rockpool``, loaded by the library's own ``from_nir`` and simulated, spike trains
   compared with snnc's reference executor, in ``nir104-roundtrip.json``.

Run: ``python tests/nir_fixtures/regenerate.py [--venv DIR] [--snnc]`` (network access to PyPI needed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PINS = ["torch==2.13.0", "sinabs==3.1.3", "rockpool==3.1.0"]
SNNC_DEPS = ["onnx", "onnxruntime", "lark", "tqdm", "dask[distributed]", "pytest"]
T, B = 16, 3
SEED = 15


def _venv(path: Path, with_snnc: bool) -> Path:
    py = path / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    pip = [str(py), "-m", "pip", "install", "-q"]
    subprocess.run(pip + PINS, check=True)  # torch first in the list: pip resolves the CPU wheel pinned here
    if with_snnc:
        subprocess.run(pip + SNNC_DEPS, check=True)
        subprocess.run(pip + ["--no-deps", "-e", str(REPO)], check=True)
    return py


# ----------------------------------------------------------------------------------------- in the venv
def _dyadic(module, seed: int, lo: int = -24, hi: int = 40) -> None:  # noqa: ANN001
    """Weights and biases to multiples of 1/64 (biases a quarter of the range): every synaptic sum is exact in
    float32 in any order, so the libraries and snnc compute the same currents."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            # only synapses: rockpool's neurons have a "bias" too, which its exporter drops (v_leak = 0)
            if name.endswith(("weight", "bias")) and p.dim() >= 1 and "LIF" not in name:
                a, b = (lo, hi) if name.endswith("weight") else (lo // 4, hi // 4)
                p.copy_(torch.randint(a, b + 1, p.shape, generator=gen).float() / 64)


def _input(seed: int, *features: int, p: float = 0.5):  # noqa: ANN202
    import numpy as np

    return (np.random.default_rng(seed).random((T, B, *features)) < p).astype(np.float32)


def _hooks(net, kinds: tuple[type, ...]) -> tuple[dict, list]:  # noqa: ANN001
    """Record the output of every neuron module (by its module name = the NIR node name nirtorch gives)."""
    rec: dict = {}
    handles = []
    for name, mod in net.named_modules():
        if isinstance(mod, kinds):
            def hook(_m, _i, out, name=name):  # noqa: ANN001, ANN202
                rec[name] = (out[0] if isinstance(out, tuple) else out).detach().clone()
            handles.append(mod.register_forward_hook(hook))
    return rec, handles


def _save(stem: str, graph, x, spikes: dict, meta: dict) -> None:  # noqa: ANN001
    import nir
    import numpy as np

    path = HERE / f"{stem}.nir"
    if path.exists():
        path.unlink()
    graph.edges = sorted(graph.edges)  # nirtorch collects them in a set: a stable file
    nir.write(str(path), graph)
    arrays = {"input": x}
    for k, v in spikes.items():
        arrays[f"spikes/{k}"] = np.asarray(v, dtype=np.float32)
    meta = {**meta, "nir": nir.version if hasattr(nir, "version") else _version("nir"), "T": T, "B": B,
            "seed": SEED, "nodes": {k: type(v).__name__ for k, v in graph.nodes.items()}}
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    np.savez_compressed(HERE / f"{stem}.npz", **arrays)
    print(f"wrote {stem}: nodes {meta['nodes']}; spikes " +
          ", ".join(f"{k} {np.asarray(v).shape} max {float(np.asarray(v).max())}" for k, v in spikes.items()))


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def _sinabs() -> None:
    import nir
    import numpy as np
    import sinabs
    import sinabs.layers as sl
    import torch
    from sinabs.activation import MembraneReset, SingleSpike
    from torch import nn

    base = {"library": "sinabs", "sinabs": _version("sinabs"), "nirtorch": _version("nirtorch"),
            "torch": torch.__version__, "dt": 1.0}
    neurons = (sl.IAF, sl.LIF, sl.ExpLeak)

    def run(net, x: np.ndarray, feats: tuple[int, ...]) -> dict:  # noqa: ANN001
        # Squeeze layers take [B*T, *f] batch-major; snnc's layout is [T, B, *f]
        for m in net.modules():
            if isinstance(m, sl.StatefulLayer):
                m.reset_states()
        rec, handles = _hooks(net, neurons)
        with torch.no_grad():
            net(torch.from_numpy(np.ascontiguousarray(x.swapaxes(0, 1))).reshape(B * T, *feats))
        for h in handles:
            h.remove()
        return {k: v.reshape(B, T, *v.shape[1:]).numpy().swapaxes(0, 1) for k, v in rec.items()}

    def export(net, feats: tuple[int, ...]):  # noqa: ANN001, ANN202
        for m in net.modules():
            if isinstance(m, sl.StatefulLayer):
                m.reset_states()
        shapes = {}
        handles = [m.register_forward_hook(lambda m, i, o, n=n: shapes.update({n: tuple(i[0].shape[1:])}))
                   for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Flatten))]  # update() returns None
        with torch.no_grad():
            net(torch.zeros(T, *feats))
        for h in handles:
            h.remove()
        for m in net.modules():
            if isinstance(m, sl.StatefulLayer):
                m.reset_states()
        graph = sinabs.to_nir(net, torch.zeros(T, *feats))  # one sample of T steps; to_nir drops axis 0
        for n, node in graph.nodes.items():
            # sinabs writes Conv2d(input_shape=None) and Flatten(input_type=None), which nir 1.0.4's nir.write
            # cannot store ("One of data, shape or dtype must be specified"): fill in the shape the layer saw
            # (recorded in meta["patched"])
            if isinstance(node, nir.Conv2d) and node.input_shape is None:
                node.input_shape = np.array(shapes[n][-2:])
                patched.append(f"{n}: Conv2d.input_shape None -> {list(shapes[n][-2:])}")
            if isinstance(node, nir.Flatten) and (node.input_type or {}).get("input") is None:
                node.input_type = {"input": np.array(shapes[n])}
                node.output_type = {"output": np.array([int(np.prod(shapes[n]))])}
                patched.append(f"{n}: Flatten.input_type None -> {list(shapes[n])}")
        return graph

    one = {"spike_fn": SingleSpike}
    patched: list[str] = []
    cases = {
        # IAF, SingleSpike, MembraneSubtract (the default reset): NIR IF r = 1
        "iaf-mlp": (nn.Sequential(nn.Linear(10, 16), sl.IAFSqueeze(num_timesteps=T, **one),
                                  nn.Linear(16, 6), sl.IAFSqueeze(num_timesteps=T, **one)), (10,),
                    "nn.Sequential(nn.Linear(10,16), sl.IAFSqueeze(num_timesteps=T, spike_fn=SingleSpike), "
                    "nn.Linear(16,6), sl.IAFSqueeze(num_timesteps=T, spike_fn=SingleSpike))"),
        # IAF with reset to zero: the file cannot say so (NIR IF has no reset field in 1.0.4)
        "iaf-mlp-zero": (nn.Sequential(nn.Linear(10, 16), sl.IAFSqueeze(num_timesteps=T, reset_fn=MembraneReset(),
                                                                        **one),
                                       nn.Linear(16, 6), sl.IAFSqueeze(num_timesteps=T, reset_fn=MembraneReset(),
                                                                       **one)), (10,),
                         "as iaf-mlp with reset_fn=MembraneReset()"),
        # the defaults: MultiSpike (several spikes per step) - no NIR/snnc neuron emits more than one
        "iaf-mlp-multispike": (nn.Sequential(nn.Linear(10, 16), sl.IAFSqueeze(num_timesteps=T),
                                             nn.Linear(16, 6), sl.IAFSqueeze(num_timesteps=T)), (10,),
                               "as iaf-mlp with the default spike_fn=MultiSpike"),
        # LIF: alpha = exp(-1/tau_mem), norm_input=False (what sinabs.from_nir builds back)
        "lif-mlp": (nn.Sequential(nn.Linear(10, 16),
                                  sl.LIFSqueeze(tau_mem=8.0, num_timesteps=T, norm_input=False, **one),
                                  nn.Linear(16, 6),
                                  sl.LIFSqueeze(tau_mem=4.0, num_timesteps=T, norm_input=False, **one)), (10,),
                    "nn.Sequential(nn.Linear(10,16), sl.LIFSqueeze(tau_mem=8., num_timesteps=T, "
                    "norm_input=False, spike_fn=SingleSpike), nn.Linear(16,6), sl.LIFSqueeze(tau_mem=4., ...)) "
                    "(a per-neuron tau_mem does not export: nir 1.0.4 asserts 'All parameters must have the same "
                    "shape', the exporter writes the threshold 0-d)"),
        # LIF with the defaults' norm_input=True: the input is scaled by (1 - alpha), which the file does not say
        "lif-mlp-norm": (nn.Sequential(nn.Linear(10, 16),
                                       sl.LIFSqueeze(tau_mem=2.0, num_timesteps=T, **one),
                                       nn.Linear(16, 6),
                                       sl.LIFSqueeze(tau_mem=2.0, num_timesteps=T, **one)), (10,),
                         "as lif-mlp with tau_mem = 2 and the default norm_input=True"),
        # a convolutional IAF network with a sum pool (the DYNAP-CNN style)
        "iaf-conv": (nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False), sl.IAFSqueeze(num_timesteps=T, **one),
                                   sl.SumPool2d(2), nn.Conv2d(4, 4, 3, bias=False),
                                   sl.IAFSqueeze(num_timesteps=T, **one), nn.Flatten(), nn.Linear(16, 5, bias=False),
                                   sl.IAFSqueeze(num_timesteps=T, **one)), (2, 8, 8),
                     "nn.Sequential(nn.Conv2d(2,4,3,padding=1,bias=False), sl.IAFSqueeze(...), sl.SumPool2d(2), "
                     "nn.Conv2d(4,4,3,bias=False), sl.IAFSqueeze(...), nn.Flatten(), nn.Linear(16,5,bias=False), "
                     "sl.IAFSqueeze(...)) with num_timesteps=T, spike_fn=SingleSpike"),
        # SingleSpike with strong input: potentials above twice the threshold, one spike a step, subtract once
        "iaf-mlp-strong": (nn.Sequential(nn.Linear(10, 16), sl.IAFSqueeze(num_timesteps=T, **one),
                                         nn.Linear(16, 6), sl.IAFSqueeze(num_timesteps=T, **one)), (10,),
                           "as iaf-mlp with weights x4 (potentials above 2 theta)"),
        # the membrane clamped at -threshold (min_v_mem): the file cannot say so
        "iaf-mlp-clamp": (nn.Sequential(nn.Linear(10, 16), sl.IAFSqueeze(num_timesteps=T, min_v_mem=-1.0, **one),
                                        nn.Linear(16, 6), sl.IAFSqueeze(num_timesteps=T, min_v_mem=-1.0, **one)),
                          (10,), "as iaf-mlp with min_v_mem=-1.0 (the threshold)"),
        # LIF hidden layer, leaky-integrator readout (ExpLeak: V = exp(-1/tau)*V + I, no spikes)
        "lif-li": (nn.Sequential(nn.Linear(10, 16),
                                 sl.LIFSqueeze(tau_mem=8.0, num_timesteps=T, norm_input=False, **one),
                                 nn.Linear(16, 6), sl.ExpLeakSqueeze(tau_mem=4.0, num_timesteps=T, norm_input=False)),
                   (10,), "nn.Sequential(nn.Linear(10,16), sl.LIFSqueeze(tau_mem=8., norm_input=False, ...), "
                          "nn.Linear(16,6), sl.ExpLeakSqueeze(tau_mem=4., num_timesteps=T, norm_input=False))"),
        # a convolutional LIF network with a sum pool
        "lif-conv": (nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, bias=False),
                                   sl.LIFSqueeze(tau_mem=8.0, num_timesteps=T, norm_input=False, **one),
                                   sl.SumPool2d(2), nn.Flatten(), nn.Linear(64, 5, bias=False),
                                   sl.LIFSqueeze(tau_mem=4.0, num_timesteps=T, norm_input=False, **one)), (2, 8, 8),
                     "nn.Sequential(nn.Conv2d(2,4,3,padding=1,bias=False), sl.LIFSqueeze(tau_mem=8., "
                     "norm_input=False, ...), sl.SumPool2d(2), nn.Flatten(), nn.Linear(64,5,bias=False), "
                     "sl.LIFSqueeze(tau_mem=4., ...)) with num_timesteps=T, spike_fn=SingleSpike"),
    }
    for i, (name, (net, feats, call)) in enumerate(cases.items()):
        # multispike / strong: positive, strong weights, so that potentials reach twice the threshold
        _dyadic(net, SEED + i, lo={"iaf-mlp-multispike": 0, "iaf-conv": -48, "lif-conv": -48,
                                   "iaf-mlp-clamp": -40}.get(name, -24))
        if "multispike" in name or "strong" in name:
            with torch.no_grad():
                for n, p in net.named_parameters():
                    if n.endswith(("weight", "bias")):
                        p.mul_(4)
        x = _input(SEED + i, *feats)
        patched.clear()
        graph = export(net, feats)
        spikes = run(net, x, feats)
        _save(f"sinabs-{name}", graph, x, spikes,
              {**base, "patched": list(patched),
               "export": f"sinabs.to_nir(net, torch.zeros(T, *features)) with net = {call}",
               "simulate": "net(x) on [B*T, *features] (Squeeze layers, batch-major), spikes of each "
                           "IAF/LIF layer by forward hook, stored [T, B, *features]"})


def _rockpool() -> None:
    import numpy as np
    import torch
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import ExpSynTorch, LIFNeuronTorch, LIFTorch, LinearTorch
    from rockpool.nn.modules.torch.nir import to_nir

    base = {"library": "rockpool", "rockpool": _version("rockpool"), "nirtorch": _version("nirtorch"),
            "torch": torch.__version__, "dt": 1e-3}
    one = {"max_spikes_per_dt": 1}  # rockpool emits floor(v/theta) spikes per step by default

    def run(net, x: np.ndarray) -> dict:  # noqa: ANN001
        net.reset_state()
        with torch.no_grad():
            _, _, rec = net(torch.from_numpy(np.ascontiguousarray(x.swapaxes(0, 1))), record=True)
        out = {}
        for k, v in rec.items():
            if k.endswith("_output") and not k.startswith(tuple(f"{i}_Linear" for i in range(9))):
                out[k[: -len("_output")]] = v.detach().numpy().swapaxes(0, 1)
        return out

    cases = {
        # LIFTorch is a current-based LIF: exported as CubaLIF
        "lif-mlp": (Sequential(LinearTorch((10, 16)), LIFTorch(16, tau_mem=0.02, tau_syn=0.004, **one),
                               LinearTorch((16, 6)), LIFTorch(6, tau_mem=0.01, tau_syn=0.002, **one)),
                    "Sequential(LinearTorch((10,16)), LIFTorch(16, tau_mem=0.02, tau_syn=0.004, "
                    "max_spikes_per_dt=1), LinearTorch((16,6)), LIFTorch(6, tau_mem=0.01, tau_syn=0.002, "
                    "max_spikes_per_dt=1)), dt = 1e-3"),
        "lif-mlp-multispike": (Sequential(LinearTorch((10, 16)), LIFTorch(16, tau_mem=0.02, tau_syn=0.004),
                                          LinearTorch((16, 6)), LIFTorch(6, tau_mem=0.01, tau_syn=0.002)),
                               "as lif-mlp with the default max_spikes_per_dt = 2**16"),
        # LIFNeuronTorch: no synaptic current, exported as LIF
        "lifneuron-mlp": (Sequential(LinearTorch((10, 16)), LIFNeuronTorch(16, tau_mem=0.02, **one),
                                     LinearTorch((16, 6)), LIFNeuronTorch(6, tau_mem=0.01, **one)),
                          "Sequential(LinearTorch((10,16)), LIFNeuronTorch(16, tau_mem=0.02, max_spikes_per_dt=1), "
                          "LinearTorch((16,6)), LIFNeuronTorch(6, tau_mem=0.01, max_spikes_per_dt=1))"),
        # a recurrent LIF layer (has_rec=True) and an ExpSyn readout
        "lif-rec": (Sequential(LinearTorch((10, 16)), LIFTorch(16, tau_mem=0.02, tau_syn=0.004, has_rec=True, **one),
                               LinearTorch((16, 6)), LIFTorch(6, tau_mem=0.01, tau_syn=0.002, **one)),
                    "Sequential(LinearTorch((10,16)), LIFTorch(16, tau_mem=0.02, tau_syn=0.004, has_rec=True, "
                    "max_spikes_per_dt=1), LinearTorch((16,6)), LIFTorch(6, ...))"),
        "lif-expsyn": (Sequential(LinearTorch((10, 16)), LIFTorch(16, tau_mem=0.02, tau_syn=0.004, **one),
                                  LinearTorch((16, 6)), ExpSynTorch(6, tau=0.01)),
                       "Sequential(LinearTorch((10,16)), LIFTorch(16, tau_mem=0.02, tau_syn=0.004, "
                       "max_spikes_per_dt=1), LinearTorch((16,6)), ExpSynTorch(6, tau=0.01))"),
    }
    for i, (name, (net, call)) in enumerate(cases.items()):
        _dyadic(net, SEED + 100 + i, lo=0 if "multispike" in name else -24)
        if "rec" in name:
            with torch.no_grad():
                for n, p in net.named_parameters():
                    if n.endswith("w_rec"):
                        p.copy_(torch.randint(-24, 25, p.shape,
                                              generator=torch.Generator().manual_seed(SEED)).float() / 64)
        if "multispike" in name:
            with torch.no_grad():
                for n, p in net.named_parameters():  # rockpool's parameters() is a dict of names
                    if n.endswith("weight"):
                        p.mul_(4)
        x = _input(SEED + 100 + i, 10)
        graph = to_nir(net)
        patched = []
        for n, node in graph.nodes.items():
            for k, v in vars(node).items():
                # rockpool writes ExpSynTorch's tau as the trainable tensor itself (LI(tau=module.tau)), which
                # nir.write cannot store ("Can't call numpy() on Tensor that requires grad"): detach it
                if isinstance(v, torch.Tensor):
                    setattr(node, k, v.detach().numpy())
                    patched.append(f"{n}: {type(node).__name__}.{k} torch.Tensor -> numpy")
        rec = run(net, x)
        _save(f"rockpool-{name}", graph, x, rec,
              {**base, "patched": patched, "export": f"rockpool.nn.modules.torch.nir.to_nir(net) with net = {call}",
               "simulate": "net(x, record=True) on [B, T, 10]; spikes (ExpSyn: the trace) of each neuron module "
                           "from the record dict, stored [T, B, n]"})


def _check_snnc() -> None:
    """Run ``snnc nir import`` under this environment's nir (1.0.4) on every fixture; record the outcome."""
    import shutil

    snnc = shutil.which("snnc") or str(Path(sys.executable).parent / "snnc")
    results = {"nir": _version("nir")}
    for path in sorted(HERE.glob("*.nir")):
        flags = ["--reset", "subtract", "-T", str(T)]
        if "zero" in path.stem:
            flags[1] = "zero"
        cmd = [snnc, "nir", "import", path.name, *flags]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=str(HERE))
        results[path.stem] = {"command": " ".join(["snnc", "nir", "import", path.name, *flags]), "rc": p.returncode,
                              "stderr": p.stderr.strip()[-2000:], "ops": p.stdout.count(" = snn.")}
        print(path.stem, p.returncode, p.stderr.strip().splitlines()[-1:] if p.stderr.strip() else "")
    # export under nir 1.0.4 (issue 15: "snnc nir export reports an internal error")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [snnc, "nir", "export", str(REPO / "models" / "stbp-fashion-mlp.onnx"), "-o", f"{tmp}/out.nir"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        results["export"] = {"command": "snnc nir export models/stbp-fashion-mlp.onnx -o out.nir", "rc": p.returncode,
                             "stderr": p.stderr.strip()[-2000:]}
        print("export", p.returncode, p.stderr.strip().splitlines()[-2:])
    # the fixture tests themselves, under nir 1.0.4
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                        str(REPO / "tests" / "test_nir_fixtures.py")], capture_output=True, text=True, timeout=600,
                       cwd=str(REPO))
    results["pytest tests/test_nir_fixtures.py"] = {"rc": p.returncode, "summary": p.stdout.strip().splitlines()[-1:]}
    print("pytest under nir", results["nir"], p.stdout.strip().splitlines()[-1:])
    (HERE / "nir104-import.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    # snnc -> NIR (--for sinabs|rockpool) -> the library's from_nir -> spike trains vs snnc: nir104-roundtrip.json
    subprocess.run([sys.executable, str(HERE / "roundtrip.py")], check=True, cwd=str(HERE))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", type=Path, default=Path("/tmp/snnc-nir-fixtures-venv"))
    ap.add_argument("--snnc", action="store_true", help="also record 'snnc nir import' under nir 1.0.4")
    ap.add_argument("--build", action="store_true", help=argparse.SUPPRESS)  # inside the venv
    ap.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build:
        _sinabs()
        _rockpool()
        return 0
    if args.check:
        _check_snnc()
        return 0
    py = _venv(args.venv, args.snnc)
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run([str(py), __file__, "--build"], check=True, env=env, cwd=str(HERE))
    if args.snnc:
        subprocess.run([str(py), __file__, "--check"], check=True, env=env, cwd=str(HERE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
