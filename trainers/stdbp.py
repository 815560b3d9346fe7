"""Train a ReL-PSP spiking network with STDBP (spike-timing backpropagation) and export it to ONNX.

The algorithm of Zhang et al., "Rectified Linear Postsynaptic Potential Function for Backpropagation in
Deep Spiking Neural Networks" (IEEE TNNLS 2021): TTFS input, single-spike ReL-PSP neurons, the loss of
eq. 12 (cross-entropy of softmax(-t_out)), gradients of eqs. 13-14 through the closed-form spike time of
eq. 11. Training runs on the discrete time grid of the exported model (T steps, SPEC ``snn.ReLPSP``), so
the exported ONNX file computes exactly what was trained; its accuracy is measured with snnc's reference
executor and written into the file's ``snn.test_accuracy`` metadata.

Example:
    snnc train stdbp --dataset digits --arch 64-100-10 --epochs 20 -o digits.onnx
    snnc train stdbp --dataset mnist --data-dir ../shared/data/mnist --arch 784-800-10 -o mnist.onnx
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from snnc.trainers.common import (
    EpochMeter,
    Splits,
    Timer,
    TrainerError,
    adopt_checkpoint_config,
    batches,
    build_network,
    default_output_name,
    epoch_scheduler,
    finish_run,
    load_cfg_splits,
    load_training_state,
    make_optimizer,
    out_of_memory_as_user_error,
    parse_arch,
    prepare_run,
    progress_wanted,
    random_shift,
    report_command_settings,
    restore_training_state,
    resumed_changes,
    save_checkpoint,
    say_interrupted,
    training_state,
    training_tensors,
)
from snnc.trainers.stdbp_model import StdbpNet, predict

__all__ = ["EpochStats", "StdbpConfig", "run", "train"]

CHECKPOINT_VERSION = 1
#: what a resumed run takes from its checkpoint (the network and its data)
RESUMED_KEYS = ("arch", "time_steps", "window", "threshold", "dataset")
#: what a resumed run takes from its command (said where it differs from the checkpoint's run)
COMMAND_KEYS = ("epochs", "batch_size", "lr", "lr_schedule", "warmup_epochs", "weight_decay", "loss_time", "tau",
                "grad_clip", "augment_shift", "alive_output", "alive_hidden", "train_limit")


@dataclass
class StdbpConfig:
    """Every option of a training run (the CLI's options, as data).

    Loss: ``cross_entropy(-t_out / tau, label)`` where ``t_out`` is the output layer's real spike time ``t*``
    (``loss_time="real"``) or its integer step (``"step"``); a silent output counts as ``t = T``.
    """

    dataset: str = "digits"
    data_dir: str | None = None
    arch: str = "64-100-10"
    epochs: int = 20
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 0.045
    lr_schedule: str = "cosine"
    warmup_epochs: float = 0.0
    weight_decay: float = 0.0
    seed: int = 0
    time_steps: int = 64
    window: int | None = None
    threshold: float = 1.0
    loss_time: str = "real"
    tau: float = 2.0
    init_mean: float = 0.25
    init_first: float = 0.5
    grad_clip: float = 0.0
    augment_shift: int | None = None
    alive_output: float = 1.0
    alive_hidden: float = 1.0
    train_limit: int | None = None
    test_limit: int | None = None
    device: str = "cpu"
    eval_batch_size: int = 512
    init_from: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> StdbpConfig:
        """Pick this config's fields out of parsed CLI arguments."""
        return cls(**{k: getattr(args, k) for k in cls.__dataclass_fields__ if hasattr(args, k)})


@dataclass
class EpochStats:
    """What one epoch measured."""

    epoch: int
    loss: float
    train_accuracy: float
    test_accuracy: float
    dead_fraction: float
    dead_per_layer: list[float]
    seconds: float
    lr: float

    def line(self, epochs: int) -> str:
        """The per-epoch report line."""
        return (f"epoch {self.epoch:>3}/{epochs}  loss {self.loss:.4f}  train {100 * self.train_accuracy:6.2f} %  "
                f"test {100 * self.test_accuracy:6.2f} %  dead {100 * self.dead_fraction:5.1f} %  "
                f"lr {self.lr:.2e}  {self.seconds:6.1f} s")


@dataclass
class TrainResult:
    """The trained network and its history."""

    net: StdbpNet
    history: list[EpochStats] = field(default_factory=list)
    train_seconds: float = 0.0
    #: Ctrl-C stopped the run: ``net`` is the network after the last finished epoch (``len(history)``)
    interrupted: bool = False
    #: settings changed when the run was resumed (:func:`snnc.trainers.common.resumed_changes`)
    resumed_changes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- training
def output_loss(step: Tensor, t_real: Tensor, y: Tensor, cfg: StdbpConfig) -> Tensor:
    """Eq. 12: cross-entropy of ``softmax(-t_out / tau)``."""
    t = t_real if cfg.loss_time == "real" else step
    return F.cross_entropy(-t / cfg.tau, y)


def alive_penalty(net: StdbpNet, outs: list[tuple[Tensor, ...]], y: Tensor, cfg: StdbpConfig) -> Tensor:
    """Keep-alive terms: silent neurons get no gradient from eq. 12, so a neuron that stops firing stays silent
    for good. For the *target* output neuron of a sample where it stayed silent, and for every hidden neuron
    silent on the whole batch, add ``relu(theta - V[T-1]) / theta`` (mean over those samples), which raises
    the neuron's end-of-window potential until it fires again; zero while they fire.
    """
    T, theta = net.time_steps, net.threshold
    total = outs[-1][0].new_zeros(())
    if cfg.alive_output > 0:
        step, _, t_in = outs[-1]
        silent = step.gather(1, y[:, None]).squeeze(1) >= T
        if silent.any():
            v_end = net.end_potential(len(outs) - 1, t_in[silent]).gather(1, y[silent, None])
            total = total + cfg.alive_output * (theta - v_end).clamp_min(0).sum() / (theta * len(y))
    if cfg.alive_hidden > 0:
        for i, (step, _, t_in) in enumerate(outs[:-1]):
            dead = (step >= T).all(0)  # silent on every sample of the batch
            if dead.any():
                v_end = net.end_potential(i, t_in)[:, dead]
                total = total + cfg.alive_hidden * (theta - v_end).clamp_min(0).mean(0).sum() / (theta * dead.numel())
    return total


@torch.no_grad()
def evaluate(net: StdbpNet, x: Tensor, y: Tensor, batch_size: int) -> float:
    """Accuracy with the deployed decision rule (first output spike, ties to the lowest index)."""
    if len(x) == 0:
        return float("nan")
    widest = max(math.prod(p.out_shape) for p in net.plans)
    batch_size = max(1, min(batch_size, 2**26 // (net.time_steps * widest)))  # [B, F, T] tensors up to 256 MB
    correct = 0
    for i in range(0, len(x), batch_size):
        step, _ = net(x[i:i + batch_size])[-1]
        correct += int((predict(step) == y[i:i + batch_size]).sum())
    return correct / len(x)


def _check_config(cfg: StdbpConfig) -> None:
    for name, value, low in (("--epochs", cfg.epochs, 0), ("--batch-size", cfg.batch_size, 1),
                             ("--time-steps", cfg.time_steps, 2)):
        if value < low:
            raise TrainerError(f"must be >= {low}, got {value}", where=name)
    if not cfg.tau > 0:
        raise TrainerError(f"must be > 0, got {cfg.tau}", where="--tau")
    if cfg.loss_time not in ("real", "step"):
        raise TrainerError(f"must be real or step, got {cfg.loss_time}", where="--loss-time")


def load_exported_weights(net: StdbpNet, path: str) -> None:
    """Set ``net``'s weights to those of an exported STDBP model (``snnc train stdbp -o``'s ONNX file, or its IR
    dump), e.g. to fine-tune a shipped model: ``w = v * scale``, so ``v = w / scale`` with ``net``'s scales.

    Raises:
        TrainerError: the model is not this network: its layers, their weight shapes or padding, T, the
            input window or the threshold differ (naming the first difference).
    """
    from snnc.api import load_model

    graph = load_model(path)
    where = "--init-from"
    synapses = [op for op in graph.ops if op.opname in ("snn.dense", "snn.conv2d")]
    encoders = [op for op in graph.ops if op.opname == "snn.ttfs_encode"]
    thresholds = {float(op.attrs["threshold"]) for op in graph.ops if op.opname == "snn.relpsp"}
    hint = "give the same --arch, -T, --window and --threshold as the model was trained with (its snn.* metadata)"
    if len(synapses) != len(net.plans):
        raise TrainerError(f"{path} has {len(synapses)} synaptic layers, the network {net.arch.text} has "
                           f"{len(net.plans)}", where=where, hint=hint)
    if graph.time_steps != net.time_steps:
        raise TrainerError(f"{path} runs T = {graph.time_steps} steps, the network {net.time_steps}", where=where,
                           hint=hint)
    if len(encoders) != 1 or int(encoders[0].attrs["window"]) != net.window:
        got = ", ".join(str(op.attrs["window"]) for op in encoders) or "no TTFS encoder"
        raise TrainerError(f"{path}'s input window is {got}, the network's {net.window}", where=where, hint=hint)
    if thresholds != {float(net.threshold)}:
        raise TrainerError(f"{path}'s thresholds are {sorted(thresholds)}, the network's {net.threshold}",
                           where=where, hint=hint)
    for index, (op, plan) in enumerate(zip(synapses, net.plans, strict=True)):
        w = np.asarray(op.attrs["weight"], np.float32)
        if "bias" in op.attrs or w.shape != tuple(plan.weight_shape) or (
                op.opname == "snn.conv2d" and list(op.attrs["pads"]) != [plan.padding] * 4):
            raise TrainerError(f"layer {index + 1} of {path} ({op.opname}, weight {list(w.shape)}) is not the "
                               f"network's ({plan.kind}, weight {list(plan.weight_shape)})", where=where, hint=hint)
    with torch.no_grad():
        for index, op in enumerate(synapses):
            w = torch.from_numpy(np.array(op.attrs["weight"], np.float32))  # a copy: the IR's arrays are read-only
            w = w.to(net.scales.device)
            net.weights[index].copy_(w / net.scales[index])


def train(cfg: StdbpConfig, *, data: Splits | None = None, checkpoint: str | None = None, resume: str | None = None,
          progress: bool = False, log=print, on_epoch=None) -> TrainResult:  # noqa: ANN001 - callables
    """Train an STDBP network.

    Args:
        cfg: the options.
        data: train/test arrays (default: loaded from ``cfg.dataset``).
        checkpoint: save the full training state here after every epoch (atomically).
        resume: continue from this checkpoint (its architecture, T and threshold win over ``cfg``'s).
        progress: show a tqdm progress bar per epoch.
        log: where the per-epoch lines go.
        on_epoch: called with each epoch's :class:`EpochStats` after its checkpoint is saved.

    Returns:
        The trained network (on the CPU) and the per-epoch statistics.
    """
    _check_config(cfg)
    if resume and cfg.init_from:
        raise TrainerError("--init-from starts a new run from a model's weights; --resume continues a checkpoint",
                           where="--init-from", hint="give one of them")
    state: dict[str, Any] | None = None
    if resume:
        state = load_training_state(resume, "stdbp", CHECKPOINT_VERSION, "STDBP")
        adopt_checkpoint_config(cfg, state["config"].__getitem__, RESUMED_KEYS, log)
    if cfg.augment_shift is None:  # auto: measured to help on MNIST, to hurt on Fashion-MNIST and the 8x8 digits
        cfg.augment_shift = 1 if cfg.dataset == "mnist" else 0
    if state is not None:
        changed = report_command_settings(cfg, state["config"].__getitem__, COMMAND_KEYS, log)
    arch = parse_arch(cfg.arch)
    if cfg.window is None:  # input spikes in the first half: every input can be causal for the hidden layer
        cfg.window = max(2, cfg.time_steps // 2)
    device, gen, data, (x_train, y_train, x_test, y_test) = training_tensors(cfg, arch, data)
    net = build_network(cfg.arch, lambda: StdbpNet(arch, cfg.time_steps, cfg.threshold, cfg.window).to(device))
    opt = make_optimizer(list(net.parameters()), cfg.optimizer, cfg.lr, cfg.weight_decay)
    steps_per_epoch, sched = epoch_scheduler(opt, cfg, len(x_train))
    result = TrainResult(net)
    first_epoch = 1
    if state is None:
        init_idx = torch.randperm(len(x_train), generator=gen)[:256].to(device)
        alive = net.init_weights(x_train[init_idx], mean=cfg.init_mean, first=cfg.init_first, generator=gen)
        log("init: weight scales " + ", ".join(f"{float(s):.3g}" for s in net.scales)
            + "; firing neurons " + ", ".join(f"{100 * a:.0f} %" for a in alive))
        if cfg.init_from:
            load_exported_weights(net, cfg.init_from)
            log(f"init: weights from {cfg.init_from} (the scales above kept: the optimiser's units)")
    else:
        first_epoch = restore_training_state(state, net=net, opt=opt, sched=sched, gen=gen)
        result.history = [EpochStats(**h) for h in state["history"]]
        result.train_seconds = float(state.get("train_seconds", 0.0))
        result.resumed_changes = resumed_changes(state, changed)
        log(f"resumed from {resume} after epoch {state['epoch']}")

    hidden = net.plans[:-1]
    T = cfg.time_steps
    image_shape = data.image_shape or arch.input_shape
    if cfg.augment_shift and len(image_shape) < 2:
        raise TrainerError("shifting needs images; this dataset's samples are flat", where="--augment-shift")
    if cfg.augment_shift and cfg.augment_shift >= min(image_shape[-2:]):
        h, w = image_shape[-2:]
        raise TrainerError(f"a shift of up to {cfg.augment_shift} pixels moves whole {h} x {w} images out of view",
                           where="--augment-shift", hint=f"use fewer than {min(h, w)} pixels (1 or 2 for MNIST)")
    kept = None  # the network after the last finished epoch: what Ctrl-C keeps
    try:
        for epoch in range(first_epoch, cfg.epochs + 1):
            meter = EpochMeter(steps_per_epoch, epoch, cfg.epochs, progress)
            net.train()
            fired = [torch.zeros(p.out_shape, dtype=torch.bool, device=device) for p in hidden]
            for idx in batches(len(x_train), cfg.batch_size, shuffle=True, generator=gen):
                idx = idx.to(device)
                x, y = x_train[idx], y_train[idx]
                if cfg.augment_shift:
                    x = random_shift(x, image_shape, cfg.augment_shift, gen)
                outs = net(x, with_inputs=True)
                step, t_real, _ = outs[-1]
                loss = output_loss(step, t_real, y, cfg) + alive_penalty(net, outs, y, cfg)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
                opt.step()
                sched.step()
                with torch.no_grad():
                    for f, (s, _, _) in zip(fired, outs[:-1], strict=True):
                        f |= (s < T).any(0)
                    meter.add(float(loss), int((predict(step) == y).sum()), len(y))
            meter.close()
            net.eval()
            test_acc = evaluate(net, x_test, y_test, cfg.eval_batch_size)
            dead = [1.0 - float(f.float().mean()) for f in fired]
            n_hidden = sum(f.numel() for f in fired)
            dead_all = sum(d * f.numel() for d, f in zip(dead, fired, strict=True)) / n_hidden if n_hidden else 0.0
            stats = EpochStats(epoch, meter.loss, meter.accuracy, test_acc, dead_all, dead, meter.timer.elapsed,
                               opt.param_groups[0]["lr"])
            result.history.append(stats)
            result.train_seconds += stats.seconds
            log(stats.line(cfg.epochs))
            if checkpoint:
                save_checkpoint(checkpoint, training_state(
                    version=CHECKPOINT_VERSION, algorithm="stdbp", config=vars(cfg).copy(), epoch=epoch, sched=sched,
                    net=net, opt=opt, gen=gen, history=[vars(h) for h in result.history],
                    train_seconds=result.train_seconds, resumed_changes=result.resumed_changes))
            if on_epoch is not None:
                on_epoch(stats)
            kept = {k: v.detach().clone() for k, v in net.state_dict().items()}
    except KeyboardInterrupt:
        if kept is None:  # not one epoch finished: nothing to keep
            raise
        net.load_state_dict(kept)
        result.interrupted = True

    result.net = net.cpu()
    return result


#: config fields that do not change the trained model (where the data lives, how the test set is measured)
NOT_IN_COMMAND = ("data_dir", "test_limit", "device", "eval_batch_size")


def trainer_command(cfg: StdbpConfig) -> str:
    """The ``snnc train stdbp`` command that trains this model again: every option that changes the result,
    defaults included and resolved (the input window, the augmentation), so that it does not depend on
    defaults that may change; the data folder, test limit and device are left out."""
    parts = ["snnc train stdbp"]
    for f in dataclasses.fields(cfg):
        if f.name in NOT_IN_COMMAND:
            continue
        value = getattr(cfg, f.name)
        if f.name == "window" and value is None:
            value = max(2, cfg.time_steps // 2)  # what training used (TTFSEncode's window)
        if value is None:
            continue  # an option left to its derived default that training did not resolve (train_limit: all)
        parts.append(f"--{f.name.replace('_', '-')} {value}")
    return " ".join(parts)


def metadata(cfg: StdbpConfig, result: TrainResult, test_accuracy: float | None, test_samples: int) -> dict[str, str]:
    """The ``snn.`` metadata written into the exported ONNX file."""
    meta = {
        "snn.algorithm": "stdbp",
        "snn.architecture": cfg.arch,
        "snn.dataset": cfg.dataset,
        "snn.time_steps": str(cfg.time_steps),
        "snn.input_window": str(cfg.window),
        "snn.threshold": repr(float(cfg.threshold)),
        "snn.epochs": str(len(result.history)),
        "snn.seed": str(cfg.seed),
        "snn.trainer": trainer_command(cfg),
        "snn.train_seconds": f"{result.train_seconds:.1f}",
    }
    if result.resumed_changes:  # the command above alone does not retrain this model bit for bit
        meta["snn.trainer_resumed_with"] = "; ".join(result.resumed_changes)
    if test_accuracy is not None:
        meta["snn.test_accuracy"] = f"{test_accuracy:.4f}"
        meta["snn.test_samples"] = str(test_samples)
        meta["snn.test_accuracy_measured_by"] = "snnc reference executor on the exported model"
    if getattr(result, "interrupted", False):
        meta["snn.partial"] = f"interrupted (Ctrl-C) after epoch {len(result.history)} of {cfg.epochs}"
    return meta


# -------------------------------------------------------------------------------------------------- run
def run(args: argparse.Namespace) -> int:
    """``snnc train stdbp``: train, export to ONNX (``-o``), and report the exported model's accuracy."""
    from snnc.trainers.export_stdbp import build_onnx, evaluate_exported

    cfg = StdbpConfig.from_args(args)
    if args.resume:  # the checkpoint's network wins: say so before the header, and load data for it
        saved = load_training_state(args.resume, "stdbp", CHECKPOINT_VERSION, "STDBP")["config"]
        adopt_checkpoint_config(cfg, saved.__getitem__, RESUMED_KEYS, print)
    out = prepare_run(args, default_output_name("stdbp", cfg.dataset, cfg.arch))
    data = load_cfg_splits(cfg, parse_arch(cfg.arch).input_shape)
    print(f"STDBP {cfg.arch} on {data.name}: {len(data.y_train)} train / {len(data.y_test)} test images, "
          f"T = {cfg.time_steps}, input window = {cfg.window or max(2, cfg.time_steps // 2)}, "
          f"theta = {cfg.threshold}, {torch.get_num_threads()} threads, {cfg.device}")
    with out_of_memory_as_user_error(f"training {cfg.arch} at T = {cfg.time_steps}, batch {cfg.batch_size}",
                                     args.checkpoint):
        result = train(cfg, data=data, checkpoint=args.checkpoint, resume=args.resume,
                       progress=progress_wanted(args))
    net = result.net
    if result.interrupted:
        say_interrupted(args, len(result.history), cfg.epochs)
    accuracy = None
    if not args.no_reference_eval:
        timer = Timer()
        accuracy = evaluate_exported(build_onnx(net), data.x_test, data.y_test, cfg.eval_batch_size)
        print(f"exported model (ONNX, reference executor): test accuracy {100 * accuracy:.2f} % "
              f"on {len(data.y_test)} images ({timer.elapsed:.1f} s)")
    finish_run(out, build_onnx(net, metadata(cfg, result, accuracy, len(data.y_test))), "stdbp", result.history,
               {"model": out.name if out else None, "arch": cfg.arch, "dataset": cfg.dataset,
                "time_steps": cfg.time_steps, "exported_test_accuracy": accuracy,
                "train_seconds": round(result.train_seconds, 1)})
    return 130 if result.interrupted else 0
