"""Training-loop pieces shared by the snnc trainers: architecture strings, data, seeds, optimizers,
learning-rate schedules, checkpoints, progress output.

Nothing here knows a neuron model; the STDBP trainer (:mod:`snnc.trainers.stdbp`) and later trainers build
on it. Imports torch: only ``snnc.trainers`` modules may import this file.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import math
import os
import random
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnc.errors import SnncError
from snnc.trainers import optim

Tensor = torch.Tensor

__all__ = [
    "Arch",
    "ConvSpec",
    "DenseSpec",
    "EpochMeter",
    "PoolSpec",
    "batches",
    "check_classes",
    "epoch_scheduler",
    "load_checkpoint",
    "load_cfg_splits",
    "load_splits",
    "load_training_state",
    "prepare_run",
    "progress_bar",
    "check_lr_and_decay",
    "make_optimizer",
    "make_scheduler",
    "out_of_memory_as_user_error",
    "parse_arch",
    "random_shift",
    "restore_training_state",
    "save_checkpoint",
    "seed_everything",
    "tensors",
    "training_state",
    "training_tensors",
    "write_model",
]


class TrainerError(SnncError):
    """A training option, architecture string or checkpoint is not usable."""


# ------------------------------------------------------------------------------------------ architectures
@dataclass(frozen=True)
class DenseSpec:
    """A fully connected layer of ``units`` neurons (written ``800``)."""

    units: int


@dataclass(frozen=True)
class ConvSpec:
    """A convolution of ``channels`` output maps with a square ``kernel``, stride 1 (written ``16C5``,
    ``16C5p2`` with ``padding`` 2 on every side)."""

    channels: int
    kernel: int
    padding: int = 0


@dataclass(frozen=True)
class PoolSpec:
    """Average pooling with a square ``kernel`` and stride = kernel (written ``P2``)."""

    kernel: int


LayerSpec = DenseSpec | ConvSpec | PoolSpec


@dataclass(frozen=True)
class Arch:
    """A parsed architecture string: the input feature shape and the layers in order.

    ``input_shape`` is ``(n,)`` for a flat input (``784``) and ``(C, H, W)`` for an image (``28x28`` is
    ``(1, 28, 28)``, ``3x32x32`` is ``(3, 32, 32)``).
    """

    text: str
    input_shape: tuple[int, ...]
    layers: tuple[LayerSpec, ...] = field(default_factory=tuple)

    @property
    def num_classes(self) -> int:
        """Units of the last layer."""
        last = self.layers[-1]
        if not isinstance(last, DenseSpec):
            raise TrainerError("the last layer must be fully connected", where=self.text)
        return last.units


_CONV = re.compile(r"^(\d+)[cC](\d+)(?:[pP](\d+))?$")
_POOL = re.compile(r"^[pP](\d+)$")
_IMAGE = re.compile(r"^\d+(?:x\d+){1,2}$")


def parse_arch(text: str) -> Arch:
    """Parse an architecture string such as ``784-800-10`` or ``28x28-16C5-P2-32C5-P2-800-128-10``.

    Tokens, separated by ``-``: the first is the input (``784``, ``28x28`` or ``CxHxW``); then ``N``
    (fully connected, N neurons), ``cCk`` (convolution, c maps, k x k kernel, stride 1, no padding;
    ``cCkpP`` pads P on every side) and ``Pk`` (k x k average pooling, stride k).

    Raises:
        TrainerError: a token is not understood, a layer does not fit its input, or the last layer is not
            fully connected.

    Example:
        >>> parse_arch("28x28-16C5-P2-10").layers
        (ConvSpec(channels=16, kernel=5, padding=0), PoolSpec(kernel=2), DenseSpec(units=10))
    """
    tokens = [t.strip() for t in text.strip().split("-")]
    hint = "write e.g. 784-800-10 or 28x28-16C5-P2-32C5-P2-800-128-10"
    if len(tokens) < 2 or not all(tokens):
        raise TrainerError("an architecture needs an input and at least one layer", where=text, hint=hint)
    first = tokens[0]
    if first.isdigit():
        shape: tuple[int, ...] = (int(first),)
    elif _IMAGE.match(first):
        dims = tuple(int(d) for d in first.split("x"))
        shape = (1, *dims) if len(dims) == 2 else dims
    else:
        raise TrainerError(f"input '{first}' is not N, HxW or CxHxW", where=text, hint=hint)
    if min(shape) < 1:
        raise TrainerError(f"input '{first}' has a zero dimension", where=text)
    layers: list[LayerSpec] = []
    cur = shape
    for tok in tokens[1:]:
        if tok.isdigit():
            layer: LayerSpec = DenseSpec(int(tok))
            if layer.units < 1:
                raise TrainerError("a layer needs at least one neuron", where=f"{text}: {tok}")
            cur = (layer.units,)
        elif m := _CONV.match(tok):
            layer = ConvSpec(int(m[1]), int(m[2]), int(m[3] or 0))
            if len(cur) != 3:
                raise TrainerError(f"convolution '{tok}' needs an image input, got {list(cur)}",
                                   where=text, hint="start with HxW (e.g. 28x28), and no dense layer before it")
            size = [d + 2 * layer.padding - layer.kernel + 1 for d in cur[1:]]
            if layer.channels < 1 or layer.kernel < 1 or min(size) < 1:
                raise TrainerError(f"convolution '{tok}' does not fit input {list(cur)}", where=text)
            cur = (layer.channels, *size)
        elif m := _POOL.match(tok):
            layer = PoolSpec(int(m[1]))
            if len(cur) != 3 or layer.kernel < 1 or min(cur[1:]) < layer.kernel:
                raise TrainerError(f"pooling '{tok}' needs an image at least {layer.kernel} wide, got {list(cur)}",
                                   where=text)
            cur = (cur[0], *(d // layer.kernel for d in cur[1:]))
        else:
            raise TrainerError(f"layer '{tok}' is not N, cCk or Pk", where=text, hint=hint)
        layers.append(layer)
    if not isinstance(layers[-1], DenseSpec):
        raise TrainerError("the last layer must be fully connected (the class outputs)", where=text, hint=hint)
    return Arch(text=text, input_shape=shape, layers=tuple(layers))


# ------------------------------------------------------------------------------------------------- data
@dataclass
class Splits:
    """Train and test arrays, reshaped to the model's input shape; ``image_shape`` is the dataset's own
    per-sample shape (e.g. ``(28, 28)``), for augmentations that move pixels."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    image_shape: tuple[int, ...] = ()


def load_splits(name: str, data_dir: str | None, input_shape: Sequence[int], *,
                train_limit: int | None = None, test_limit: int | None = None) -> Splits:
    """Load the train and test splits of a dataset through :func:`snnc.datasets.load_dataset`.

    Raises:
        snnc.errors.DatasetError: the dataset is missing or does not fit ``input_shape``.
    """
    from snnc.datasets import load_dataset

    shape = tuple(input_shape)
    train_raw = load_dataset(name, data_dir, "train", train_limit)
    train = train_raw.reshaped(shape)
    test = load_dataset(name, data_dir, "test", test_limit).reshaped(shape)
    return Splits(train.name, train.x, train.y, test.x, test.y, train.num_classes, tuple(train_raw.features))


def load_cfg_splits(cfg: Any, input_shape: Sequence[int]) -> Splits:
    """:func:`load_splits` with a trainer config's ``dataset``, ``data_dir``, ``train_limit`` and ``test_limit``."""
    return load_splits(cfg.dataset, cfg.data_dir, input_shape, train_limit=cfg.train_limit,
                       test_limit=cfg.test_limit)


def check_classes(data: Splits, num_classes: int, arch_text: str) -> None:
    """Raise :class:`TrainerError` unless the output layer has one neuron per class of ``data``."""
    if data.num_classes != num_classes:
        raise TrainerError(f"the last layer has {num_classes} neurons but {data.name} has {data.num_classes} "
                           "classes", where=arch_text)


def tensors(data: Splits, device: torch.device) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``x_train, y_train, x_test, y_test`` as torch tensors on ``device``."""
    return (torch.from_numpy(data.x_train).to(device), torch.from_numpy(data.y_train).to(device),
            torch.from_numpy(data.x_test).to(device), torch.from_numpy(data.y_test).to(device))


def batches(n: int, batch_size: int, *, shuffle: bool, generator: torch.Generator | None = None) -> Iterator[Tensor]:
    """Index batches over ``n`` samples (a random permutation when ``shuffle``)."""
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def random_shift(x: Tensor, image_shape: Sequence[int], max_shift: int, generator: torch.Generator | None = None
                 ) -> Tensor:
    """Translate each image by a random whole number of pixels in ``[-max_shift, max_shift]`` along both axes,
    filling with zeros (data augmentation; ``x`` is ``[B, *features]`` with ``prod(features) == H * W * C``)."""
    if max_shift <= 0:
        return x
    *lead, h, w = image_shape
    c = math.prod(lead) if lead else 1
    B, k = x.shape[0], max_shift
    imgs = torch.nn.functional.pad(x.reshape(B, c, h, w), (k, k, k, k))
    dy = torch.randint(0, 2 * k + 1, (B,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * k + 1, (B,), generator=generator).to(x.device)
    rows = (torch.arange(h, device=x.device)[None, :] + dy[:, None])[:, None, :, None]  # [B, 1, h, 1]
    cols = (torch.arange(w, device=x.device)[None, :] + dx[:, None])[:, None, None, :]  # [B, 1, 1, w]
    b = torch.arange(B, device=x.device)[:, None, None, None]
    ch = torch.arange(c, device=x.device)[None, :, None, None]
    return imgs[b, ch, rows, cols].reshape(x.shape)


# ------------------------------------------------------------------------------------------------- seeds
def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator for data shuffling."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


# ------------------------------------------------------------------------------------ optimizer, schedule
def check_lr_and_decay(lr: float, weight_decay: float) -> None:
    """Raise :class:`TrainerError` unless ``--lr`` is finite and > 0 and ``--weight-decay`` finite and >= 0."""
    if not (math.isfinite(lr) and lr > 0):
        raise TrainerError(f"learning rate must be > 0, got {lr}", where="--lr")
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise TrainerError(f"weight decay must be >= 0, got {weight_decay}", where="--weight-decay")


def make_optimizer(params: Sequence[torch.nn.Parameter], name: str, lr: float,
                   weight_decay: float = 0.0) -> optim.Optimizer:
    """``adam`` (Adam) or ``sgd`` (SGD with momentum 0.9), from :mod:`snnc.trainers.optim` (not
    ``torch.optim``, whose first optimizer imports ``torch._dynamo``: seconds per run)."""
    check_lr_and_decay(lr, weight_decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise TrainerError(f"unknown optimizer '{name}'", where="--optimizer", hint="use adam or sgd")


def make_scheduler(opt: optim.Optimizer, kind: str, total_steps: int,
                   warmup_steps: int = 0) -> optim.LambdaLR:
    """A per-step learning-rate schedule: ``cosine`` (to 0 at the end), ``step`` (x0.1 at 50 % and 75 %),
    or ``none``; each after ``warmup_steps`` of linear warm-up."""
    total = max(1, total_steps)

    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        frac = min(1.0, step / total)
        if kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * frac))
        if kind == "step":
            return 0.01 if frac >= 0.75 else 0.1 if frac >= 0.5 else 1.0
        return 1.0

    if kind not in ("cosine", "step", "none"):
        raise TrainerError(f"unknown learning-rate schedule '{kind}'", where="--lr-schedule",
                           hint="use cosine, step or none")
    return optim.LambdaLR(opt, factor)


# ------------------------------------------------------------------------------------------- checkpoints
def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """``torch.save`` ``state`` and write it atomically (:func:`snnc.io.write_atomic`): a crash never leaves
    half a file."""
    from snnc.io import write_atomic

    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, buffer.getvalue())


def load_training_state(path: str, algorithm: str, version: int, label: str) -> dict[str, Any]:
    """Load a trainer checkpoint; raise :class:`TrainerError` unless it is ``algorithm``'s, of ``version``
    (``label`` names the algorithm in the message, e.g. ``STDBP``)."""
    state = load_checkpoint(path)
    if state.get("version") != version or state.get("algorithm") != algorithm:
        raise TrainerError(f"not an {label} checkpoint of this version", where=path)
    return state


def adopt_checkpoint_config(cfg: Any, saved: Callable[[str], Any], keys: Sequence[str],
                            say: Callable[[str], Any]) -> None:
    """On resume the checkpoint's network wins: set each of ``keys`` of ``cfg`` to ``saved(key)`` where they
    differ, and ``say`` so ("the checkpoint's window = 32 (not 16)"; without "(not ...)" for a value the user
    left unset)."""
    for key in keys:
        value, mine = saved(key), getattr(cfg, key)
        if value != mine:
            say(f"resume: using the checkpoint's {key} = {value}" + ("" if mine is None else f" (not {mine})"))
            setattr(cfg, key, value)


def report_command_settings(cfg: Any, saved: Callable[[str], Any], keys: Sequence[str],
                            say: Callable[[str], Any]) -> list[str]:
    """On resume this command's training settings win (the learning rate, its schedule over the new number of
    epochs, the optimiser's weight decay, ...): ``say`` each of ``keys`` whose value differs from the
    checkpoint's, so a changed option is never silently used or silently ignored. Returns the changes as
    ``"epochs 30 -> 20"`` (for :func:`resumed_changes`)."""
    changes = []
    for key in keys:
        try:
            before = saved(key)
        except (KeyError, AttributeError):  # an older checkpoint without this setting
            continue
        now = getattr(cfg, key)
        if before != now:
            say(f"resume: {key} = {now} from this command (the checkpoint's run used {before})")
            changes.append(f"{key} {before} -> {now}")
    return changes


def resumed_changes(state: dict[str, Any], changes: Sequence[str]) -> list[str]:
    """The run's record of settings changed on resume: the checkpoint's (``state["resumed_changes"]``, absent in
    older ones) and, if any, this resume's (``"after epoch 4: epochs 30 -> 20"``). A model whose record is not
    empty is not retrained bit for bit by its ``snn.trainer`` command alone (its metadata says so)."""
    before = [str(c) for c in state.get("resumed_changes", [])]
    return before + ([f"after epoch {int(state['epoch'])}: " + ", ".join(changes)] if changes else [])


def training_state(*, version: int, algorithm: str, config: dict[str, Any], epoch: int,
                   sched: optim.LambdaLR, net: torch.nn.Module, opt: optim.Optimizer,
                   gen: torch.Generator, history: list[dict[str, Any]], train_seconds: float,
                   resumed_changes: Sequence[str] = ()) -> dict[str, Any]:
    """The full training state saved after every epoch (read back by :func:`restore_training_state`)."""
    return {
        "version": version, "algorithm": algorithm, "config": config,
        "epoch": epoch, "step": sched.last_step, "model": net.state_dict(),
        "optimizer": opt.state_dict(), "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
        "history": history, "train_seconds": train_seconds, "resumed_changes": list(resumed_changes),
    }


def restore_training_state(state: dict[str, Any], *, net: torch.nn.Module, opt: optim.Optimizer,
                           sched: optim.LambdaLR, gen: torch.Generator) -> int:
    """Load a :func:`training_state` into the model, optimizer, schedule and random generators; re-evaluate the
    learning rate for the (possibly new) total length. The optimiser's moments come from the checkpoint, its
    hyperparameters (weight decay, betas, momentum, ...) stay this run's, as the learning rate does (see
    :func:`report_command_settings`). Returns the first epoch still to train."""
    net.load_state_dict(state["model"])
    mine = [{k: v for k, v in group.items() if k != "params"} for group in opt.param_groups]
    opt.load_state_dict(state["optimizer"])
    for group, settings in zip(opt.param_groups, mine, strict=True):
        group.update(settings)
    sched.set_step(int(state["step"]))
    gen.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["epoch"]) + 1


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors, numbers, strings and dicts only)."""
    p = Path(path)
    if not p.is_file():
        raise TrainerError("checkpoint file not found", where=str(p),
                           hint="--resume continues a run that saved a checkpoint (--checkpoint FILE); "
                                "to start the run, leave --resume out (keep --checkpoint to save one)")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is a bad file for the user
        raise TrainerError(f"cannot read checkpoint: {err}", where=str(p)) from None


# ----------------------------------------------------------------------------------------------- run flow
def prepare_run(args: argparse.Namespace, default_output: str | None = None) -> Path | None:
    """Start of a trainer's ``run``, before any work: check ``--device``; apply ``--threads``; choose the output
    (``-o``, else ``default_output``, announced on stderr) and claim it (:func:`snnc.io.claim_output`: not over
    the ``--resume`` or ``--checkpoint`` file, not through a symlink, not over a file without ``--force``) with
    the history files beside it (:func:`snnc.trainers.history.check_history_paths`, same ``--force`` rule); and
    claim ``--checkpoint`` (saving over the checkpoint a run resumes from is how training continues; anything
    else needs ``--force``).

    Returns:
        The output path (None only without ``-o`` and without a default).
    """
    import sys

    from snnc.io import claim_output
    from snnc.trainers.history import check_history_paths

    if getattr(args, "device", None) is not None:
        check_device(args.device)
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    resume, checkpoint = getattr(args, "resume", None), getattr(args, "checkpoint", None)
    output = args.output
    if not output and default_output:
        output = default_output
        print(f"no -o given: the model will be written to {output} (with its history beside it; -o FILE chooses)",
              file=sys.stderr)
    out = None
    if output:
        out = claim_output(output, inputs=(resume, checkpoint), force=args.force, option="-o")
        check_history_paths(out, force=args.force)
    if checkpoint is not None and not (resume is not None and _same_file(checkpoint, resume)):
        claim_output(checkpoint, inputs=(output,), force=args.force, option="--checkpoint")
    return out


def _same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def default_output_name(algorithm: str, dataset: str, arch: str) -> str:
    """``stbp-digits-64-100-10.onnx``: the announced output of a run without ``-o``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{algorithm}-{dataset}-{arch}")
    return f"{safe[:120]}.onnx"


def check_device(name: str) -> torch.device:
    """``--device``: a torch device that exists here, else a :class:`TrainerError` that says what does."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        raise TrainerError(f"unknown device {name!r}", where="--device",
                           hint="use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            built = "was built without CUDA" if torch.version.cuda is None else "sees no CUDA GPU"
            raise TrainerError(f"--device {name}: this torch ({torch.__version__}) {built}", where="--device",
                               hint="train with --device cpu, or install a CUDA build of torch on a machine with a GPU")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise TrainerError(f"--device {name}: there are {torch.cuda.device_count()} CUDA devices", where="--device",
                               hint=f"use cuda:0 ... cuda:{torch.cuda.device_count() - 1}")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise TrainerError(f"--device {name}: MPS is not available here", where="--device", hint="use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise TrainerError(f"--device {name}: snnc trains on cpu, cuda or mps", where="--device",
                           hint="use --device cpu")
    return device


def finish_run(out: Path | None, model: Any, algorithm: str, history: Sequence[Any], info: dict[str, Any],
               log: Callable[[str], Any] = print) -> None:
    """End of a trainer's ``run``: write the model (:func:`write_model`) and, beside it, its per-epoch history
    as JSON and a loss/accuracy plot (:func:`snnc.trainers.history.write_history`); nothing without ``-o``.
    ``history`` holds the trainer's per-epoch dataclasses."""
    from snnc.trainers.history import write_history

    write_model(out, model, log)
    if out is not None:
        try:
            write_history(out, algorithm, [dataclasses.asdict(h) for h in history], info, log)
        except SnncError as err:  # (a full disk) the trained model is safe: say so, not only what failed
            raise TrainerError(f"{err.message}; the trained model is written ({out}), its history files are not",
                               where=err.where, hint=err.hint) from None


def write_model(out: Path | None, model: Any, log: Callable[[str], Any] = print) -> None:
    """Write an ONNX ``model`` to ``out`` atomically and say so (nothing without an output path)."""
    from snnc.io import write_atomic

    if out is not None:
        write_atomic(out, model.SerializeToString())
        log(f"wrote {out}")


def progress_bar(total: int, desc: str, enabled: bool, **options: Any):  # noqa: ANN201 - a tqdm bar or None
    """A tqdm bar of ``total`` batches on stderr (``options`` go to tqdm), or None when not ``enabled``."""
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, leave=False, file=sys.stderr, dynamic_ncols=True, unit="batch", **options)


class EpochMeter:
    """Running loss and training accuracy of one epoch, with its time, shown on a progress bar when asked
    (off when stderr is not a terminal, so logs stay readable; at most one refresh a second)."""

    def __init__(self, steps: int, epoch: int, epochs: int, progress: bool) -> None:
        self.timer = Timer()
        self.loss_sum, self.correct, self.seen, self._batches = 0.0, 0, 0, 0
        self.bar = progress_bar(steps, f"epoch {epoch}/{epochs}", progress, disable=None, mininterval=1.0)

    def add(self, loss: float, correct: int, samples: int) -> None:
        """Count one batch: its mean loss, how many it got right, its size."""
        self.loss_sum += loss * samples
        self.correct += correct
        self.seen += samples
        if self.bar is not None:
            self.bar.update(1)
            if self._batches % 10 == 0:
                self.bar.set_postfix(loss=f"{self.loss:.4f}", acc=f"{100 * self.accuracy:.1f}%")
        self._batches += 1

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    @property
    def loss(self) -> float:
        return self.loss_sum / max(self.seen, 1)

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.seen, 1)


def training_tensors(cfg: Any, arch: Any, data: Splits | None) -> tuple[torch.device, torch.Generator, Splits,
                                                                       tuple[Tensor, Tensor, Tensor, Tensor]]:
    """A trainer's start: its device, the seeded generator, the data (loaded from ``cfg.dataset`` when not
    given, checked against the architecture's classes) and ``x_train, y_train, x_test, y_test`` on the device."""
    device = torch.device(cfg.device)
    gen = seed_everything(cfg.seed)
    if data is None:
        data = load_cfg_splits(cfg, arch.input_shape)
    check_classes(data, arch.num_classes, cfg.arch)
    return device, gen, data, tensors(data, device)


def epoch_scheduler(opt: optim.Optimizer, cfg: Any, n_train: int) -> tuple[int, optim.LambdaLR]:
    """Batches per epoch and the learning-rate schedule over ``cfg.epochs`` of them (per batch)."""
    steps = math.ceil(n_train / cfg.batch_size)
    return steps, make_scheduler(opt, cfg.lr_schedule, cfg.epochs * steps, round(cfg.warmup_epochs * steps))


class Timer:
    """Wall-clock seconds since construction (``elapsed``)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start


def is_out_of_memory(err: BaseException) -> bool:
    """``err`` says an allocation failed (Python's MemoryError, or torch's CPU / CUDA allocator's RuntimeError)."""
    return isinstance(err, MemoryError) or (isinstance(err, RuntimeError) and (
        "allocate" in str(err) or "memory" in str(err).lower()))


def build_network(arch_text: str, make: Callable[[], Any]) -> Any:
    """``make()`` the network, or a :class:`TrainerError` naming the architecture when it cannot be allocated
    (``--arch 64-100000000-10`` asked torch for 25 GB and ended in an internal error)."""
    try:
        return make()
    except (MemoryError, RuntimeError) as err:
        if not is_out_of_memory(err):
            raise
    raise TrainerError(f"the network {arch_text} does not fit in memory", where="--arch",
                       hint="use smaller layers (each n-m dense layer holds n*m weights)")


@contextlib.contextmanager
def out_of_memory_as_user_error(what: str, checkpoint: str | None = None) -> Iterator[None]:
    """Turn a failed allocation inside the block into a :class:`TrainerError` that says what to make smaller
    (``-T 65536`` asked torch for 1.6 GB per layer and batch, and ended in an internal error)."""
    try:
        yield
    except (MemoryError, RuntimeError) as err:
        if not is_out_of_memory(err):
            raise
        requested = re.search(r"allocate (\d+) bytes", str(err))
        size = f" (an allocation of {int(requested.group(1)) / 2**30:.1f} GiB failed)" if requested else ""
        kept = (f"; the last finished epoch's checkpoint is kept in {checkpoint}"
                if checkpoint and Path(checkpoint).is_file() else "")
        raise TrainerError(f"out of memory {what}{size}{kept}",
                           hint="a batch holds about T x batch x neurons values per layer: use a smaller "
                                "--batch-size, -T (--time-steps) or network") from None


def progress_wanted(args: argparse.Namespace) -> bool:
    """``--progress/--no-progress``; by default a bar when stderr is a terminal."""
    return sys.stderr.isatty() if args.progress is None else bool(args.progress)


def say_interrupted(args: argparse.Namespace, finished: int, epochs: int) -> None:
    """What a trainer prints when Ctrl-C stopped it after ``finished`` epochs (the model kept is theirs)."""
    resume = f" --resume {args.checkpoint}" if args.checkpoint else ""
    print(f"interrupted: keeping the model of epoch {finished} of {epochs} (marked partial in its "
          f"metadata){'; continue with the same command and' + resume if resume else ''}", file=sys.stderr)
