"""Train a rate-coded integrate-and-fire network with the improved STBP and export it to ONNX.

The algorithm of Tan, Wu and Lu, "An Improved STBP for Training High-Accuracy and Low-Spike-Count Spiking
Neural Networks" (DATE 2021): rate-coded input (SPEC ``snn.RateEncode``), IF neurons (SPEC ``snn.IF``)
trained through time with surrogate gradients, the mean squared error between the decoded outputs and the
one-hot labels, SGD with Nesterov momentum 0.9. Each of the paper's four schemes is a switch, so its
ablation can be rerun; the defaults turn all of them on, --baseline turns all of them off:

  1. --reset subtract (eq. 8) | zero (baseline, eq. 1)
  2. --trainable-threshold (per channel / neuron, init --threshold 0.5, eq. 11) | --fixed-threshold
  3. --surrogate threshold (eq. 14: 1/Vth on |V - Vth| < Vth/2) | rect (baseline eq. 3, --surrogate-width a)
  4. --decoder st (spatio-temporal FC over all steps) | last (last step) | rate (baseline: spike count / T)

Explicit switches override --baseline. Leaky and recurrent networks (SPEC snn.LIF, snn.LI, recurrent_weight):
--neuron lif (reset before decay, V[t] = beta * Vr[t-1] + I[t]), --beta B (default 0.9), --train-beta (per
channel / neuron, clamped to [0, 1]), --recurrent (hidden dense layers: I[t] + S[t-1] @ W^T), --readout li
(an LI output layer decoded by --decoder max | last | rate = mean; default max); --loss mse | ce.

Layers use the paper's notation (nC3 conv 3x3, APk average pooling, nFC fully connected) or the STDBP
trainer's (16C5p2, P2, 800). The forward pass is the SPEC's equations in float32, so the exported ONNX file
computes what was trained; its accuracy and spikes per inference (all IF/LIF neurons, the input encoder
excluded) are measured with snnc's reference executor (onnxruntime where snnc cannot import the model yet)
and written into the file's ``snn.`` metadata.

Example:
    snnc train stbp --dataset digits --arch 64-100-10 --epochs 20 -o digits.onnx
    snnc train stbp --dataset fashion-mnist --arch 28x28-32C3-AP2-64C3-AP2-256FC-10 -o fmnist.onnx
    snnc train stbp --dataset fashion-mnist --arch 784-400-10 --baseline --decoder st
    snnc train stbp --dataset fashion-mnist --arch 784-400-10 --neuron lif --readout li --recurrent
"""

from __future__ import annotations

import argparse
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from snnc.trainers import optim
from snnc.trainers.common import (
    EpochMeter,
    PoolSpec,
    Splits,
    Timer,
    TrainerError,
    adopt_checkpoint_config,
    batches,
    build_network,
    check_lr_and_decay,
    default_output_name,
    epoch_scheduler,
    finish_run,
    load_cfg_splits,
    load_training_state,
    out_of_memory_as_user_error,
    prepare_run,
    progress_wanted,
    report_command_settings,
    restore_training_state,
    resumed_changes,
    save_checkpoint,
    say_interrupted,
    training_state,
    training_tensors,
)
from snnc.trainers.stbp_model import Schemes, StbpNet, parse_stbp_arch

__all__ = ["EpochStats", "StbpConfig", "TrainResult", "evaluate", "metadata", "run", "train"]

CHECKPOINT_VERSION = 1
#: what a resumed run takes from its checkpoint (the network and its data)
RESUMED_KEYS = ("arch", "time_steps", "schemes", "dataset", "loss")
#: what a resumed run takes from its command (said where it differs from the checkpoint's run)
COMMAND_KEYS = ("epochs", "batch_size", "nesterov", "lr", "lr_schedule", "warmup_epochs", "weight_decay",
                "threshold_min", "train_limit")
#: Fields of :class:`StbpConfig` that are scheme switches (None on the CLI: not given).
SCHEME_FIELDS = ("reset", "trainable_threshold", "threshold", "surrogate", "surrogate_width", "decoder",
                 "encoder_threshold", "neuron", "beta", "train_beta", "recurrent", "readout")
#: Losses: mean squared error against the one-hot labels (the paper's), cross-entropy of the scores.
LOSSES = ("mse", "ce")


@dataclass
class StbpConfig:
    """Every option of a training run (the CLI's options, as data); ``schemes`` holds the four switches."""

    dataset: str = "digits"
    data_dir: str | None = None
    arch: str = "64-100-10"
    epochs: int = 20
    batch_size: int = 32
    optimizer: str = "sgd"
    nesterov: bool = True
    lr: float = 0.03
    lr_schedule: str = "cosine"
    warmup_epochs: float = 0.0
    weight_decay: float = 0.0
    seed: int = 0
    time_steps: int = 8
    schemes: Schemes = field(default_factory=Schemes)
    threshold_min: float = 0.05
    init_gain: float = 0.2
    #: layers where fewer than this fraction of (image, neuron) pairs fire at initialisation are woken to 5 %
    wake_below: float = 0.001
    train_limit: int | None = None
    test_limit: int | None = None
    device: str = "cpu"
    eval_batch_size: int = 512
    loss: str = "mse"

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> StbpConfig:
        """Pick this config's fields out of parsed CLI arguments; resolve the scheme switches (explicit ones
        over ``--baseline`` over the improved defaults)."""
        kw = {k: getattr(args, k) for k in cls.__dataclass_fields__
              if k != "schemes" and getattr(args, k, None) is not None}
        base = Schemes.baseline() if getattr(args, "baseline", False) else Schemes()
        changes = {k: getattr(args, k) for k in SCHEME_FIELDS if getattr(args, k, None) is not None}
        if changes.get("readout") == "li" and "decoder" not in changes:
            changes["decoder"] = "max"  # the LI readout's default decoder
        kw["schemes"] = Schemes(**{**asdict(base), **changes})
        return cls(**kw)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for checkpoints)."""
        d = asdict(self)
        d["schemes"] = asdict(self.schemes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StbpConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**d, "schemes": Schemes(**d["schemes"])})


@dataclass
class EpochStats:
    """What one epoch measured (spikes: mean IF-neuron spikes per test sample, the encoder excluded)."""

    epoch: int
    loss: float
    train_accuracy: float
    test_accuracy: float
    test_spikes: float
    seconds: float
    lr: float
    threshold_mean: float

    def line(self, epochs: int) -> str:
        """The per-epoch report line."""
        return (f"epoch {self.epoch:>3}/{epochs}  loss {self.loss:.4f}  train {100 * self.train_accuracy:6.2f} %  "
                f"test {100 * self.test_accuracy:6.2f} %  spikes/inference {self.test_spikes:9.1f}  "
                f"Vth {self.threshold_mean:.3f}  lr {self.lr:.2e}  {self.seconds:6.1f} s")


@dataclass
class TrainResult:
    """The trained network and its history."""

    net: StbpNet
    history: list[EpochStats] = field(default_factory=list)
    train_seconds: float = 0.0
    #: Ctrl-C stopped the run: ``net`` is the network after the last finished epoch (``len(history)``)
    interrupted: bool = False
    #: settings changed when the run was resumed (:func:`snnc.trainers.common.resumed_changes`)
    resumed_changes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- training
def loss_fn(scores: Tensor, y: Tensor, kind: str = "mse") -> Tensor:
    """Mean squared error between the decoded outputs and the one-hot labels (``mse``, the paper's) or the
    cross-entropy of the softmax of the scores (``ce``)."""
    if kind == "ce":
        return F.cross_entropy(scores, y)
    return F.mse_loss(scores, F.one_hot(y, scores.shape[1]).to(scores.dtype))


@torch.no_grad()
def evaluate(net: StbpNet, x: Tensor, y: Tensor, batch_size: int) -> tuple[float, float, list[float]]:
    """Accuracy (argmax of the scores, ties to the lowest index, as deployed), mean spikes per inference of
    all spiking (IF/LIF) layers, and the per-layer means."""
    if len(x) == 0:
        return float("nan"), 0.0, []
    correct = 0
    layer_sums = torch.zeros(sum(net.spiking), dtype=torch.float64)
    for i in range(0, len(x), batch_size):
        out = net(x[i:i + batch_size])
        correct += int((out.scores.argmax(1) == y[i:i + batch_size]).sum())
        layer_sums += out.spike_counts().sum(1).to(torch.float64).cpu()
    layers = (layer_sums / len(x)).tolist()
    return correct / len(x), float(sum(layers)), layers


def make_optimizer(net: StbpNet, cfg: StbpConfig) -> optim.Optimizer:
    """SGD (momentum 0.9, Nesterov unless disabled) or Adam, from :mod:`snnc.trainers.optim`; weight decay
    on weights only (not on thresholds or the decoder bias)."""
    check_lr_and_decay(cfg.lr, cfg.weight_decay)
    decay = [*net.weights] + [w for w, r in zip(net.recurrent_weights, net.recurrent, strict=True) if r] \
        + ([net.decoder_weight] if cfg.schemes.decoder == "st" else [])
    ids = {id(p) for p in decay}
    rest = [p for p in net.trainable_parameters() if id(p) not in ids]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=cfg.nesterov)
    if cfg.optimizer == "adam":
        return optim.Adam(groups, lr=cfg.lr)
    raise TrainerError(f"unknown optimizer '{cfg.optimizer}'", where="--optimizer", hint="use sgd or adam")


#: the fraction of (image, neuron) pairs a woken layer is scaled to fire in (``StbpNet.wake_silent_layers``)
WAKE_TARGET = 0.05


def _check_config(cfg: StbpConfig) -> None:
    for name, value, low in (("--epochs", cfg.epochs, 0), ("--batch-size", cfg.batch_size, 1),
                             ("--time-steps", cfg.time_steps, 1), ("--eval-batch-size", cfg.eval_batch_size, 1)):
        if value < low:
            raise TrainerError(f"must be >= {low}, got {value}", where=name)
    if not (math.isfinite(cfg.threshold_min) and cfg.threshold_min > 0):
        raise TrainerError(f"must be > 0, got {cfg.threshold_min}", where="--threshold-min")
    if not cfg.init_gain > 0:
        raise TrainerError(f"must be > 0, got {cfg.init_gain}", where="--init-gain")
    if not 0.0 <= cfg.wake_below <= WAKE_TARGET:
        raise TrainerError(f"must lie in [0, {WAKE_TARGET}], got {cfg.wake_below}", where="--wake-below",
                           hint=f"layers below it are scaled to fire in {WAKE_TARGET:.0%} of the pairs; 0 wakes none")
    if cfg.loss not in LOSSES:
        raise TrainerError(f"must be one of {', '.join(LOSSES)}, got {cfg.loss!r}", where="--loss")
    if cfg.schemes.readout == "li" and not any(
            not isinstance(layer, PoolSpec) for layer in parse_stbp_arch(cfg.arch).layers[:-1]):
        raise TrainerError(f"--readout li needs a spiking layer before the readout, and {cfg.arch} has none",
                           where="--arch", hint="add a hidden layer (e.g. 64-100-10), or leave --readout spiking")


def train(cfg: StbpConfig, *, data: Splits | None = None, checkpoint: str | None = None, resume: str | None = None,
          progress: bool = False, log=print) -> TrainResult:  # noqa: ANN001 - log is any print-like callable
    """Train an improved-STBP network.

    Args:
        cfg: the options.
        data: train/test arrays (default: loaded from ``cfg.dataset``).
        checkpoint: save the full training state here after every epoch (atomically).
        resume: continue from this checkpoint (its architecture, T, schemes and loss win over ``cfg``'s).
        progress: show a tqdm progress bar per epoch.
        log: where the per-epoch lines go.

    Returns:
        The trained network (on the CPU) and the per-epoch statistics.
    """
    _check_config(cfg)
    state: dict[str, Any] | None = None
    if resume:
        state = load_training_state(resume, "stbp", CHECKPOINT_VERSION, "STBP")
        saved = StbpConfig.from_dict(state["config"])
        adopt_checkpoint_config(cfg, lambda key: getattr(saved, key), RESUMED_KEYS, log)
        changed = report_command_settings(cfg, lambda key: getattr(saved, key), COMMAND_KEYS, log)
    arch = parse_stbp_arch(cfg.arch)
    device, gen, data, (x_train, y_train, x_test, y_test) = training_tensors(cfg, arch, data)
    def make() -> StbpNet:
        built = StbpNet(arch, cfg.time_steps, cfg.schemes)
        built.reset_parameters(gen, gain=cfg.init_gain)
        return built

    net = build_network(cfg.arch, make)
    net.to(device)
    opt = make_optimizer(net, cfg)
    steps_per_epoch, sched = epoch_scheduler(opt, cfg, len(x_train))
    result = TrainResult(net)
    first_epoch = 1
    if state is None:
        # the first images: no draw from the seeded stream
        woken = net.wake_silent_layers(x_train[:256], minimum=cfg.wake_below, target=WAKE_TARGET)
        if woken:
            log("init: layers " + ", ".join(str(i + 1) for i in woken) + f" fired in fewer than {cfg.wake_below:.1%} "
                "of the (image, neuron) pairs of 256 training images; their weights were scaled so that "
                f"{WAKE_TARGET:.0%} do")
    else:
        first_epoch = restore_training_state(state, net=net, opt=opt, sched=sched, gen=gen)
        result.history = [EpochStats(**h) for h in state["history"]]
        result.train_seconds = float(state.get("train_seconds", 0.0))
        result.resumed_changes = resumed_changes(state, changed)
        log(f"resumed from {resume} after epoch {state['epoch']}")

    kept = None  # the network after the last finished epoch: what Ctrl-C keeps
    try:
        for epoch in range(first_epoch, cfg.epochs + 1):
            meter = EpochMeter(steps_per_epoch, epoch, cfg.epochs, progress)
            net.train()
            dead, steps = 0, 0  # batches whose synapse gradients were all exactly zero
            for idx in batches(len(x_train), cfg.batch_size, shuffle=True, generator=gen):
                idx = idx.to(device)
                x, y = x_train[idx], y_train[idx]
                out = net(x)
                loss = loss_fn(out.scores, y, cfg.loss)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                steps += 1
                dead += all(w.grad is None or not bool(w.grad.any()) for w in net.weights)
                opt.step()
                sched.step()
                if cfg.schemes.trainable_threshold:
                    net.clamp_thresholds(cfg.threshold_min)
                if cfg.schemes.train_beta:
                    net.clamp_betas()
                meter.add(float(loss.detach()), int((out.scores.detach().argmax(1) == y).sum()), len(y))
            meter.close()
            net.eval()
            test_acc, test_spikes, _ = evaluate(net, x_test, y_test, cfg.eval_batch_size)
            th_mean = float(torch.cat([t.detach().flatten() for t, sp in zip(net.thresholds, net.spiking, strict=True)
                                       if sp]).mean())
            stats = EpochStats(epoch, meter.loss, meter.accuracy, test_acc, test_spikes, meter.timer.elapsed,
                               opt.param_groups[0]["lr"], th_mean)
            result.history.append(stats)
            result.train_seconds += stats.seconds
            log(stats.line(cfg.epochs))
            if dead == steps:
                log(stalled_warning(epoch, cfg))
            if checkpoint:
                save_checkpoint(checkpoint, training_state(
                    version=CHECKPOINT_VERSION, algorithm="stbp", config=cfg.to_dict(), epoch=epoch, sched=sched,
                    net=net, opt=opt, gen=gen, history=[asdict(h) for h in result.history],
                    train_seconds=result.train_seconds, resumed_changes=result.resumed_changes))
            kept = {k: v.detach().clone() for k, v in net.state_dict().items()}
    except KeyboardInterrupt:
        if kept is None:  # not one epoch finished: nothing to keep
            raise
        net.load_state_dict(kept)
        result.interrupted = True

    result.net = net.cpu()
    return result


def stalled_warning(epoch: int, cfg: StbpConfig) -> str:
    """What to say when a whole epoch had no gradient at all (``docs/trainers-stbp.md``, "Dead outputs")."""
    s = cfg.schemes
    window = "|V - theta| < theta/2 (eq. 14)" if s.surrogate == "threshold" else \
        f"|V - theta| < {s.surrogate_width / 2:g} (eq. 3)"
    return (f"warning: epoch {epoch}: every synapse gradient was exactly zero on every batch: the output neurons' "
            f"potentials at the decoded step{'' if s.decoder == 'last' else 's'} lie outside the surrogate window "
            f"{window} on every image, so no gradient flows and training has stopped for good (it does not "
            f"recover). Two causes seen: too large a step for the output layer (lower --lr: with --decoder last "
            f"and eq. 14, lr 0.03 kills a 784-400-10 MLP within 60 batches and lr 0.003 does not; or widen the "
            f"window, --surrogate rect), or a hidden layer that fell silent, leaving every output potential at 0 "
            f"(a conv net's sparse FC layer after one update; wake sparse layers at the start with --wake-below "
            f"0.05; docs/trainers-stbp.md)")


def trainer_command(cfg: StbpConfig) -> str:
    """The ``snnc train stbp`` command line that trains this model again: every option that changes the result,
    defaults included (the data folder, test limit and device aside)."""
    s = cfg.schemes
    limit = "" if cfg.train_limit is None else f" --train-limit {cfg.train_limit}"
    return (f"snnc train stbp --dataset {cfg.dataset}{limit} --arch {cfg.arch} --epochs {cfg.epochs} "
            f"--warmup-epochs {cfg.warmup_epochs} "
            f"--batch-size {cfg.batch_size} --optimizer {cfg.optimizer}{'' if cfg.nesterov else ' --no-nesterov'} "
            f"--lr {cfg.lr} --lr-schedule {cfg.lr_schedule} --weight-decay {cfg.weight_decay} "
            f"--time-steps {cfg.time_steps} --reset {s.reset} "
            f"{'--trainable-threshold' if s.trainable_threshold else '--fixed-threshold'} --threshold {s.threshold} "
            f"--surrogate {s.surrogate} --surrogate-width {s.surrogate_width} --decoder {s.decoder} "
            f"--encoder-threshold {s.encoder_threshold} --threshold-min {cfg.threshold_min} "
            f"--init-gain {cfg.init_gain} --wake-below {cfg.wake_below} --seed {cfg.seed} --neuron {s.neuron} "
            f"--beta {s.beta}"
            f"{' --train-beta' if s.train_beta else ''}{' --recurrent' if s.recurrent else ''} "
            f"--readout {s.readout} --loss {cfg.loss}")


def metadata(cfg: StbpConfig, result: TrainResult, exported: Any | None, test_samples: int) -> dict[str, str]:
    """The ``snn.`` metadata written into the exported ONNX file (``exported``: an
    :class:`~snnc.trainers.export_stbp.ExportedEval` or None)."""
    s = cfg.schemes
    meta = {
        "snn.algorithm": "stbp",
        "snn.architecture": cfg.arch,
        "snn.dataset": cfg.dataset,
        "snn.time_steps": str(cfg.time_steps),
        "snn.encoding": f"rate (IF encoder, threshold {s.encoder_threshold!r}, reset subtract)",
        "snn.reset": s.reset,
        "snn.threshold": f"{'trainable per channel/neuron' if s.trainable_threshold else 'fixed'}, "
                         f"initial {s.threshold!r}",
        "snn.surrogate": ("eq. 14: 1/Vth on |V - Vth| < Vth/2" if s.surrogate == "threshold"
                          else f"eq. 3: rectangle of width {s.surrogate_width!r}"),
        "snn.decoder": {"rate": "spike count / T" if s.readout == "spiking" else "mean potential over the steps",
                        "last": "last step", "max": "maximum potential over the steps",
                        "st": "spatio-temporal (Gemm over all steps)"}[s.decoder],
        "snn.neuron": ("LIF (reset before decay), beta " + (f"trainable per channel/neuron, initial {s.beta!r}"
                                                            if s.train_beta else f"fixed {s.beta!r}")
                       if s.neuron == "lif" else "IF"),
        "snn.recurrent": "hidden dense layers (recurrent_weight, one step of delay)" if s.recurrent else "none",
        "snn.readout": (f"LI (beta {'trainable per neuron, initial ' if s.train_beta else 'fixed '}{s.beta!r})"
                        if s.readout == "li" else "spiking"),
        "snn.loss": {"mse": "mean squared error to the one-hot labels",
                     "ce": "cross-entropy of the softmax of the scores"}[cfg.loss],
        "snn.epochs": str(len(result.history)),
        "snn.seed": str(cfg.seed),
        "snn.trainer": trainer_command(cfg),
        "snn.train_seconds": f"{result.train_seconds:.1f}",
    }
    if result.resumed_changes:  # the command above alone does not retrain this model bit for bit
        meta["snn.trainer_resumed_with"] = "; ".join(result.resumed_changes)
    if exported is not None:
        meta.update({
            "snn.test_accuracy": f"{exported.accuracy:.4f}",
            "snn.test_samples": str(test_samples),
            "snn.test_accuracy_measured_by": f"{exported.measured_by} on the exported model",
            "snn.spikes_per_inference": f"{exported.spikes_per_inference:.1f}",
            "snn.spikes_per_inference_counts": "spikes of all spiking neurons (IF/LIF, hidden and output) per test "
                                               "sample, the input encoder excluded",
            "snn.encoder_spikes_per_inference": f"{exported.encoder_spikes:.1f}",
            "snn.layer_spikes_per_inference": ",".join(f"{v:.1f}" for v in exported.layer_spikes),
        })
    if getattr(result, "interrupted", False):
        meta["snn.partial"] = f"interrupted (Ctrl-C) after epoch {len(result.history)} of {cfg.epochs}"
    return meta


# -------------------------------------------------------------------------------------------------- run
def run(args: argparse.Namespace) -> int:
    """``snnc train stbp``: train, export to ONNX (``-o``), report the exported model's accuracy and spikes."""
    from snnc.trainers.export_stbp import build_onnx, evaluate_exported

    cfg = StbpConfig.from_args(args)
    if args.resume:  # the checkpoint's network wins: say so before the header, and load data for it
        saved = StbpConfig.from_dict(load_training_state(args.resume, "stbp", CHECKPOINT_VERSION, "STBP")["config"])
        adopt_checkpoint_config(cfg, lambda key: getattr(saved, key), RESUMED_KEYS, print)
    _check_config(cfg)  # before any work (train checks again, for callers of the API)
    out = prepare_run(args, default_output_name("stbp", cfg.dataset, cfg.arch))
    data = load_cfg_splits(cfg, parse_stbp_arch(cfg.arch).input_shape)
    print(f"STBP {cfg.arch} on {data.name}: {len(data.y_train)} train / {len(data.y_test)} test images, "
          f"T = {cfg.time_steps}, {cfg.schemes.label()}, {torch.get_num_threads()} threads, {cfg.device}")
    with out_of_memory_as_user_error(f"training {cfg.arch} at T = {cfg.time_steps}, batch {cfg.batch_size}",
                                     args.checkpoint):
        result = train(cfg, data=data, checkpoint=args.checkpoint, resume=args.resume,
                       progress=progress_wanted(args))
    exported = None
    if result.interrupted:
        say_interrupted(args, len(result.history), cfg.epochs)
    if not args.no_reference_eval:
        timer = Timer()
        exported = evaluate_exported(build_onnx(result.net), data.x_test, data.y_test, cfg.eval_batch_size)
        engine = exported.measured_by.removeprefix("snnc ")
        print(f"exported model (ONNX, {engine}): test accuracy {100 * exported.accuracy:.2f} %, "
              f"{exported.spikes_per_inference:.1f} spikes per inference (IF/LIF neurons; the encoder adds "
              f"{exported.encoder_spikes:.1f}) on {len(data.y_test)} images ({timer.elapsed:.1f} s)")
    finish_run(out, build_onnx(result.net, metadata(cfg, result, exported, len(data.y_test))), "stbp",
               result.history, {"model": out.name if out else None, "arch": cfg.arch, "dataset": cfg.dataset,
                                "time_steps": cfg.time_steps,
                                "exported_test_accuracy": exported.accuracy if exported else None,
                                "train_seconds": round(result.train_seconds, 1)})
    return 130 if result.interrupted else 0
