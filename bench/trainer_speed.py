"""Trainer speed against a plain PyTorch network of the same shape, side by side (issue 17).

For each architecture, one training step (forward, loss, backward, Adam step) of every variant is timed on
the same batches, the variants alternating batch by batch, and images/s from the median batch time is
reported with its time relative to the plain network:

* ``plain``: a ReLU network of the same layers (``Linear`` / ``Conv2d`` + ReLU, ``AvgPool2d``), cross-entropy;
* ``stdbp-tensor``: the STDBP trainer's step on the ``[B, n, T]`` tensor formulation (before issue 17);
* ``stdbp-fused``: the same step on the fused event-driven kernels (after);
* ``stbp``: the STBP trainer's step (IF neurons, T = 8 by default), for the STBP architectures.

The STDBP step is the trainer's own: eq. 12 loss plus the keep-alive penalty. One torch thread (the issue's
measurement); images are MNIST's when ``--data-dir`` holds them, else the digits upscaled to 28x28.

    python bench/trainer_speed.py --data-dir ../shared/data/mnist
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from snnc.trainers.common import ConvSpec, DenseSpec, PoolSpec, parse_arch

MLP = "784-800-10"
CNN = "28x28-16C5-P2-32C5-P2-800-128-10"
STBP_MLP = "784-800-10"
STBP_CNN = "28x28-32C3-AP2-64C3-AP2-256FC-10"


def load_images(data_dir: str | None, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images ``[n, 1, 28, 28]`` in [0, 1] and their labels."""
    from snnc.datasets import load_dataset

    if data_dir:
        for split in ("train", "test"):
            try:
                ds = load_dataset("mnist", data_dir, split, n)
            except Exception:  # noqa: BLE001 - the shared folder may hold only one split
                continue
            x = ds.reshaped((1, 28, 28)).x
            reps = -(-n // len(x))
            return torch.from_numpy(np.tile(x, (reps, 1, 1, 1))[:n]), torch.from_numpy(np.tile(ds.y, reps)[:n])
    ds = load_dataset("digits", split="train")
    x = np.kron(ds.x, np.ones((1, 4, 4), np.float32))[:, 2:-2, 2:-2]  # 8x8 -> 28x28
    reps = -(-n // len(x))
    return (torch.from_numpy(np.tile(x, (reps, 1, 1))[:n].reshape(n, 1, 28, 28)),
            torch.from_numpy(np.tile(ds.y, reps)[:n]))


def plain_net(arch_text: str) -> nn.Module:
    """A ReLU network with the layers of ``arch_text`` (pooling: average), dense layers with bias."""
    arch = parse_arch(arch_text.replace("AP", "P").replace("FC", ""))
    mods: list[nn.Module] = []
    shape = arch.input_shape
    for spec in arch.layers:
        if isinstance(spec, ConvSpec):
            mods += [nn.Conv2d(shape[0], spec.channels, spec.kernel, padding=spec.padding), nn.ReLU()]
            side = [d + 2 * spec.padding - spec.kernel + 1 for d in shape[1:]]
            shape = (spec.channels, *side)
        elif isinstance(spec, PoolSpec):
            mods.append(nn.AvgPool2d(spec.kernel))
            shape = (shape[0], *(d // spec.kernel for d in shape[1:]))
        elif isinstance(spec, DenseSpec):
            if len(shape) > 1:
                mods.append(nn.Flatten())
            mods += [nn.Linear(int(np.prod(shape)), spec.units), nn.ReLU()]
            shape = (spec.units,)
    return nn.Sequential(*mods[:-1])  # no ReLU on the logits


def plain_step(arch_text: str, flat: bool) -> Callable[[torch.Tensor, torch.Tensor], None]:
    net = plain_net(arch_text)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        loss = F.cross_entropy(net(x.flatten(1) if flat else x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def stdbp_step(arch_text: str, impl: str, x0: torch.Tensor, T: int) -> Callable[[torch.Tensor, torch.Tensor], None]:
    from snnc.trainers.stdbp import StdbpConfig, alive_penalty, output_loss
    from snnc.trainers.stdbp_model import StdbpNet

    arch = parse_arch(arch_text)
    cfg = StdbpConfig(arch=arch_text, time_steps=T)
    net = StdbpNet(arch, T, 1.0, max(2, T // 2))
    net.dense_impl = impl
    torch.manual_seed(0)
    net.init_weights(x0.reshape(len(x0), *arch.input_shape))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        outs = net(x.reshape(len(x), *arch.input_shape), with_inputs=True)
        s, r, _ = outs[-1]
        loss = output_loss(s, r, y, cfg) + alive_penalty(net, outs, y, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def stbp_step(arch_text: str, x0: torch.Tensor, T: int) -> Callable[[torch.Tensor, torch.Tensor], None]:
    from snnc.trainers.stbp import loss_fn
    from snnc.trainers.stbp_model import Schemes, StbpNet, parse_stbp_arch

    arch = parse_stbp_arch(arch_text)
    net = StbpNet(arch, T, Schemes())
    net.reset_parameters(torch.Generator().manual_seed(0), gain=0.2)
    net.wake_silent_layers(x0.reshape(len(x0), *arch.input_shape))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        loss = loss_fn(net(x.reshape(len(x), *arch.input_shape)).scores, y, "mse")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def side_by_side(variants: dict[str, Callable[[torch.Tensor, torch.Tensor], None]], x: torch.Tensor,
                 y: torch.Tensor, batch: int, rounds: dict[str, int]) -> dict[str, float]:
    """Images/s of each variant from its median time per batch. The variants alternate batch by batch (the
    order reversed every other round), so that load from other jobs hits all of them alike; ``rounds[name]``
    batches of each (the slow ones take part in the first rounds only)."""
    for fn in variants.values():  # warm-up (numba compiles or loads its cache here)
        for i in range(2):
            fn(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch])
    times: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(max(rounds.values())):
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        s = (r * batch) % (len(x) - batch)
        for name in order:
            if r < rounds[name]:
                t0 = time.perf_counter()
                variants[name](x[s:s + batch], y[s:s + batch])
                times[name].append(time.perf_counter() - t0)
    return {k: batch / statistics.median(v) for k, v in times.items()}


def on_threads(step: Callable[[torch.Tensor, torch.Tensor], None], threads: int
               ) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """``step`` run with ``threads`` torch threads (the others run on one)."""
    def run(x: torch.Tensor, y: torch.Tensor) -> None:
        torch.set_num_threads(threads)
        try:
            step(x, y)
        finally:
            torch.set_num_threads(1)

    return run


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help="MNIST IDX folder (default: upscaled sklearn digits)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--rounds", type=int, default=40, help="alternating rounds, one batch of each variant per "
                   "round; median batch times count (default: 40)")
    p.add_argument("--stdbp-t", type=int, default=64, help="STDBP time steps (default: 64, the trainer's)")
    p.add_argument("--stbp-t", type=int, default=8, help="STBP time steps (default: 8, the trainer's)")
    p.add_argument("--only", default="mlp,cnn,stbp-mlp,stbp-cnn", help="which comparisons (comma-separated)")
    p.add_argument("--parallel", type=int, default=0, metavar="N",
                   help="also time the plain and the fused STDBP step on N threads (variants plain-Nt and "
                        "stdbp-fused-Nt, the latter relative to the former; the fused kernels run chunks of samples "
                        "on numba's threads, as many as torch's), side by side with the rest")
    p.add_argument("--slow-rounds", type=int, default=8,
                   help="rounds the slowest variants (the tensor-path STDBP CNN) take part in (default: 8)")
    args = p.parse_args()
    torch.set_num_threads(1)
    B = args.batch_size
    x, y = load_images(args.data_dir, 4096)
    x0 = x[:256]
    fast, slow = args.rounds, min(args.slow_rounds, args.rounds)
    plans: dict[str, tuple[str, dict[str, tuple[Callable[[], Callable], int]]]] = {
        "mlp": (MLP, {"plain": (lambda: plain_step(MLP, True), fast),
                      "stdbp-tensor": (lambda: stdbp_step(MLP, "tensor", x0, args.stdbp_t), fast),
                      "stdbp-fused": (lambda: stdbp_step(MLP, "fused", x0, args.stdbp_t), fast)}),
        "cnn": (CNN, {"plain": (lambda: plain_step(CNN, False), fast),
                      "stdbp-tensor": (lambda: stdbp_step(CNN, "tensor", x0, args.stdbp_t), slow),
                      "stdbp-fused": (lambda: stdbp_step(CNN, "fused", x0, args.stdbp_t), max(slow, fast // 2))}),
        "stbp-mlp": (STBP_MLP, {"plain": (lambda: plain_step(STBP_MLP, True), fast),
                                "stbp": (lambda: stbp_step(STBP_MLP, x0, args.stbp_t), fast)}),
        "stbp-cnn": (STBP_CNN, {"plain": (lambda: plain_step(STBP_CNN, False), fast),
                                "stbp": (lambda: stbp_step(STBP_CNN, x0, args.stbp_t), fast)}),
    }
    if args.parallel:
        for key, arch, flat in (("mlp", MLP, True), ("cnn", CNN, False)):
            plans[key][1][f"plain-{args.parallel}t"] = (
                lambda arch=arch, flat=flat: on_threads(plain_step(arch, flat), args.parallel), fast)
            plans[key][1][f"stdbp-fused-{args.parallel}t"] = (
                lambda arch=arch: on_threads(stdbp_step(arch, "fused", x0, args.stdbp_t), args.parallel),
                plans[key][1]["stdbp-fused"][1])
    summary = []
    for key in args.only.split(","):
        arch, variants = plans[key]
        fns = {name: make() for name, (make, _) in variants.items()}
        speeds = side_by_side(fns, x, y, B, {name: k for name, (_, k) in variants.items()})
        for name, sps in speeds.items():
            threads = re.search(r"-\d+t$", name)  # an N-thread variant is set against the N-thread plain network
            ratio = speeds["plain" + (threads.group() if threads else "")] / sps
            print(f"{key:9s} {arch:34s} {name:13s} {sps:9.1f} images/s  {ratio:7.2f}x the plain network's time",
                  flush=True)
            summary.append({"comparison": key, "arch": arch, "variant": name, "images_per_s": round(sps, 1),
                            "time_vs_plain": round(ratio, 2)})
    json.dump({"batch_size": B, "threads": 1, "rounds": args.rounds, "stdbp_t": args.stdbp_t,
               "stbp_t": args.stbp_t, "results": summary}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
