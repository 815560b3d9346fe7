"""Per-layer activity and gradients over the first batches of an STBP run: why a row of the ablation stops learning.

For each ablation row given, trains the first --batches batches (the trainer's network, initialisation, wake-up,
optimizer and loss; no shuffling: batches are the first training images in order) and prints, at chosen
batches, every layer's fraction of (image, neuron, step) potentials inside the surrogate window
(eq. 14: ``|V - theta| < theta/2``; eq. 3: ``|V - theta| < a/2``), its spike rate per (neuron, step), the
standard deviation of its potential, and the norm of each layer's weight gradient. A layer whose window
fraction is 0 passes no gradient; when that is the output layer, every gradient of the network is 0.

Usage:
    python bench/stbp_layer_probe.py --rows S1+2+3,S1+2+3+4b --lr 0.01
    python bench/stbp_layer_probe.py --rows S1+2+3+4b --lr 0.03 --wake-below 0.05
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import torch

from snnc.trainers.common import load_splits
from snnc.trainers.stbp import WAKE_TARGET, StbpConfig, loss_fn, make_optimizer
from snnc.trainers.stbp_model import StbpNet, parse_stbp_arch


def _rows() -> dict:
    spec = importlib.util.spec_from_file_location("_stbp_ablation", Path(__file__).with_name("stbp_ablation.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.ROWS


def layer_stats(net: StbpNet, x: torch.Tensor) -> list[tuple[float, float, float]]:
    """Per layer: (fraction of potentials inside the surrogate window, spike rate, std of the potential)."""
    stats = []
    s = net.encode(x)
    sch = net.schemes
    with torch.no_grad():
        for i in range(len(net.plans)):
            current = net.current(i, s)
            theta = net.thresholds[i].detach()
            half = theta / 2 if sch.surrogate == "threshold" else sch.surrogate_width / 2
            v = torch.zeros_like(current[0])
            spikes = torch.zeros_like(current[0])
            inside, potentials = [], []
            for t in range(current.shape[0]):  # the forward equations of docs/trainers-stbp.md
                v = (v - theta * spikes) + current[t] if sch.reset == "subtract" else v * (1 - spikes) + current[t]
                spikes = (v >= theta).to(v.dtype)
                inside.append(((v - theta).abs() < half).to(v.dtype))
                potentials.append(v)
            s = net.neuron(i, current)
            stats.append((float(torch.stack(inside).mean()), float(s.mean()), float(torch.stack(potentials).std())))
    return stats


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="28x28-8C5-AP2-16C5-AP2-64FC-10")
    p.add_argument("--rows", default="S1+2+3,S1+2+3+4b")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--wake-below", type=float, default=0.001)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--show", default="0,1,2,5,10,19", help="batches to print")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--time-steps", type=int, default=8)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    rows = _rows()
    arch = parse_stbp_arch(args.arch)
    data = load_splits("fashion-mnist", args.data_dir, arch.input_shape, train_limit=args.batches * args.batch_size,
                       test_limit=1)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    show = {int(b) for b in args.show.split(",") if b.strip()}
    for key in [r.strip() for r in args.rows.split(",") if r.strip()]:
        schemes = rows[key][1]
        cfg = StbpConfig(dataset="fashion-mnist", arch=args.arch, batch_size=args.batch_size, lr=args.lr, epochs=1,
                         time_steps=args.time_steps, schemes=schemes, wake_below=args.wake_below)
        net = StbpNet(arch, args.time_steps, schemes)
        net.reset_parameters(torch.Generator().manual_seed(cfg.seed), gain=cfg.init_gain)
        woken = net.wake_silent_layers(x[:256], minimum=args.wake_below, target=WAKE_TARGET)
        print(f"{key} ({schemes.label()}), lr {args.lr:g}, wake below {args.wake_below:g}: "
              f"layers woken {[i + 1 for i in woken]}")
        print("  batch  loss    per layer (in window, spike rate, V std) ... | weight-gradient norms")
        opt = make_optimizer(net, cfg)
        for b in range(args.batches):
            xb, yb = x[b * args.batch_size:(b + 1) * args.batch_size], y[b * args.batch_size:(b + 1) * args.batch_size]
            stats = layer_stats(net, xb) if b in show else None
            out = net(xb)
            loss = loss_fn(out.scores, yb, cfg.loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if stats is not None:
                grads = [0.0 if w.grad is None else float(w.grad.norm()) for w in net.weights]
                cells = "  ".join(f"({a:.3f}, {r:.4f}, {sd:.3f})" for a, r, sd in stats)
                print(f"  {b:5d}  {float(loss.detach()):.4f}  {cells} | " + " ".join(f"{g:.1e}" for g in grads))
            opt.step()
            if schemes.trainable_threshold:
                net.clamp_thresholds(cfg.threshold_min)
    return 0


if __name__ == "__main__":
    sys.exit(main())
