"""Training speed of the STDBP trainer: samples/s of forward + backward + Adam step, and the projected
time of a full MNIST epoch (60,000 images).

Measures a few hundred real batches (MNIST when --data-dir is given, else scikit-learn digits upsampled to
28x28 so that the spike counts are MNIST-like), after a warm-up, with the best of --repeats timed runs
(the machine may be shared). Prints one line per configuration and a JSON summary.

    python bench/train_stdbp.py --data-dir ../shared/data/mnist --arch 784-800-10 --threads 2
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from snnc.trainers.common import parse_arch
from snnc.trainers.stdbp_model import StdbpNet, predict

MNIST_TRAIN = 60_000


def load_images(data_dir: str | None, n: int, features: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """n training images (MNIST, or digits upscaled to 28x28 when no data dir is given) and labels."""
    from snnc.datasets import load_dataset

    if data_dir:
        ds = load_dataset("mnist", data_dir, "train", n)
        return ds.reshaped(features).x, ds.y
    ds = load_dataset("digits", split="train")
    x = np.kron(ds.x, np.ones((1, 4, 4), np.float32))[:, 2:-2, 2:-2]  # 8x8 -> 28x28 (nearest, cropped)
    reps = math.ceil(n / len(x))
    return np.tile(x, (reps, 1, 1))[:n].reshape(n, *features), np.tile(ds.y, reps)[:n]


def measure(net: StdbpNet, x: torch.Tensor, y: torch.Tensor, batch_size: int, batches: int,
            repeats: int) -> tuple[float, float]:
    """Best samples/s over ``repeats`` runs of ``batches`` training steps, and of forward-only evaluation."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    n = len(x)

    def train_steps(k: int) -> None:
        for i in range(k):
            s = (i * batch_size) % max(1, n - batch_size)
            xb, yb = x[s:s + batch_size], y[s:s + batch_size]
            step, t_real = net(xb)[-1]
            loss = F.cross_entropy(-t_real / 2.0, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    train_steps(3)  # warm-up
    best_train = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        train_steps(batches)
        best_train = max(best_train, batches * batch_size / (time.perf_counter() - t0))
    best_eval = 0.0
    with torch.no_grad():
        for _ in range(repeats):
            t0 = time.perf_counter()
            for s in range(0, min(n, batches * batch_size), 512):
                predict(net(x[s:s + 512])[-1][0])
            best_eval = max(best_eval, min(n, batches * batch_size) / (time.perf_counter() - t0))
    return best_train, best_eval


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help="MNIST IDX folder (default: upscaled sklearn digits)")
    p.add_argument("--arch", default="784-800-10")
    p.add_argument("--time-steps", type=int, default=64)
    p.add_argument("--batch-sizes", default="32,64,128", help="comma-separated batch sizes to measure")
    p.add_argument("--threads", default="2", help="comma-separated torch thread counts to measure")
    p.add_argument("--batches", type=int, default=100, help="timed training steps per run (default: 100)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs; the best counts (default: 3)")
    args = p.parse_args()

    arch = parse_arch(args.arch)
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    n = max(sizes) * args.batches + 512
    x_np, y_np = load_images(args.data_dir, n, arch.input_shape)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    torch.manual_seed(0)
    results = []
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for bs in sizes:
            net = StdbpNet(arch, args.time_steps, 1.0)
            net.init_weights(x[:256])
            train_sps, eval_sps = measure(net, x, y, bs, args.batches, args.repeats)
            epoch_s = MNIST_TRAIN / train_sps
            results.append({"arch": args.arch, "time_steps": args.time_steps, "threads": threads, "batch_size": bs,
                            "train_samples_per_s": round(train_sps, 1), "eval_samples_per_s": round(eval_sps, 1),
                            "mnist_epoch_train_s": round(epoch_s, 1)})
            print(f"{args.arch} T={args.time_steps} threads={threads} batch={bs:4d}: train {train_sps:7.0f} samples/s "
                  f"(MNIST epoch {epoch_s:5.1f} s), eval {eval_sps:7.0f} samples/s", flush=True)
    print(json.dumps({"data": "mnist" if args.data_dir else "digits-upscaled", "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
