"""``snnc train ALGORITHM``: train a spiking network and export it to ONNX.

The options of every trainer live here, so that ``snnc train stbp --help`` and a bad option need no
PyTorch; the trainer module (:mod:`snnc.trainers.stbp`, :mod:`snnc.trainers.stdbp`, which import torch)
is imported only to run it. Its ``run(args)`` takes the parsed options.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
from collections.abc import Callable

from snnc.cli._util import bounded_int
from snnc.errors import SnncError


# -------------------------------------------------------------------------------------------- CLI options
def add_common_arguments(p: argparse.ArgumentParser, *, arch: str, epochs: int, batch_size: int, lr: float,
                         optimizer: str = "adam", schedule: str = "cosine") -> None:
    """Options every trainer takes: data, architecture, optimisation, seed, checkpoints, output."""
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist", "digits"],
                   help="dataset (default: mnist)")
    g.add_argument("--data-dir", default=None, help="folder of the IDX files (mnist: required; fashion-mnist: "
                   "default /usr/share/datasets/fashion-mnist; digits: unused)")
    g.add_argument("--train-limit", type=bounded_int(1, 1 << 31), default=None,
                   help="use only the first N training images")
    g.add_argument("--test-limit", type=bounded_int(1, 1 << 31), default=None, help="use only the first N test images")
    g = p.add_argument_group("model and optimisation")
    g.add_argument("--arch", default=arch, help=f"architecture string (default: {arch})")
    g.add_argument("--epochs", type=bounded_int(1, 1 << 31), default=epochs,
                   help=f"training epochs (default: {epochs})")
    g.add_argument("--batch-size", type=bounded_int(1, 1 << 31), default=batch_size,
                   help=f"batch size (default: {batch_size})")
    g.add_argument("--optimizer", default=optimizer, choices=["adam", "sgd"], help=f"default: {optimizer}")
    g.add_argument("--lr", type=float, default=lr, help=f"peak learning rate (default: {lr})")
    g.add_argument("--lr-schedule", default=schedule, choices=["cosine", "step", "none"],
                   help=f"per-step schedule over all epochs (default: {schedule})")
    g.add_argument("--warmup-epochs", type=float, default=0.0, help="linear warm-up length in epochs (default: 0)")
    g.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay (default: 0)")
    g.add_argument("--seed", type=bounded_int(0, (1 << 63) - 1), default=0,
                   help="seed of initialisation and shuffling (default: 0)")
    g.add_argument("--threads", type=bounded_int(1, 1 << 31), default=None,
                   help="torch CPU threads, and the fused STDBP kernels' (default: all cores; idle OpenMP threads "
                   "spin briefly, GOMP_SPINCOUNT=100000 unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set, so that a "
                   "busy machine does not slow extra threads)")
    g.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default: cpu)")
    g = p.add_argument_group("files")
    g.add_argument("-o", "--output", default=None, help="write the trained model here (ONNX)")
    g.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    g.add_argument("--checkpoint", default=None, metavar="FILE",
                   help="save the training state here after every epoch (atomically)")
    g.add_argument("--resume", default=None, metavar="FILE", help="continue from this checkpoint")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")


def add_evaluation_arguments(g: argparse._ArgumentGroup | argparse.ArgumentParser) -> None:
    """``--eval-batch-size`` and ``--no-reference-eval`` (added to the group ``g``)."""
    g.add_argument("--eval-batch-size", type=bounded_int(1, 1 << 31), default=512,
                   help="batch size of evaluations (default: 512)")
    g.add_argument("--no-reference-eval", action="store_true",
                   help="skip evaluating the exported model with the reference executor")


def add_stdbp_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``snnc train stdbp``."""
    add_common_arguments(parser, arch="784-800-10", epochs=30, batch_size=64, lr=0.045)
    parser.set_defaults(dataset="mnist")
    g = parser.add_argument_group("STDBP neurons and loss")
    g.add_argument("-T", "--time-steps", type=bounded_int(1, 1 << 16), default=64,
                   help="simulation steps of the model (default: 64)")
    g.add_argument("--window", type=bounded_int(1, 1 << 16), default=None,
                   help="input spikes fall in steps 0 .. window-1 (TTFSEncode window; default: T/2)")
    g.add_argument("--threshold", type=float, default=1.0, help="ReL-PSP firing threshold theta (default: 1.0)")
    g.add_argument("--loss-time", default="real", choices=["real", "step"],
                   help="output time in the loss: the real spike time t* (eq. 11) or the integer step "
                   "(default: real)")
    g.add_argument("--tau", type=float, default=2.0,
                   help="softmax temperature in steps: loss = CE(softmax(-t / tau)) (default: 2.0)")
    g.add_argument("--init-mean", type=float, default=0.25,
                   help="mean of the initial weights relative to their spread (default: 0.25)")
    g.add_argument("--init-first", type=float, default=0.5,
                   help="initial median spike step of the first layer, as a fraction of T; later layers are "
                   "spaced evenly up to L/(L+1) (default: 0.5)")
    g.add_argument("--alive-output", type=float, default=1.0,
                   help="weight of the keep-alive penalty on silent target outputs (default: 1.0; 0: off)")
    g.add_argument("--alive-hidden", type=float, default=1.0,
                   help="weight of the keep-alive penalty on hidden neurons silent on a whole batch (default: 1.0)")
    g.add_argument("--grad-clip", type=float, default=0.0, help="clip the gradient norm (default: 0, off)")
    g.add_argument("--init-from", default=None, metavar="MODEL",
                   help="start from the weights of an exported STDBP model of the same network (an ONNX file from "
                   "'snnc train stdbp -o', or its IR dump), e.g. to fine-tune a shipped model")
    g.add_argument("--augment-shift", type=bounded_int(0, 1 << 10), default=None, metavar="PIXELS",
                   help="translate training images by up to this many pixels at random; 0 = off (default: 1 for "
                   "mnist, where it helps; 0 for fashion-mnist and digits, where it hurts)")
    add_evaluation_arguments(g)


def add_stbp_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``snnc train stbp``."""
    add_common_arguments(parser, arch="28x28-32C3-AP2-64C3-AP2-256FC-10", epochs=20, batch_size=64, lr=0.03,
                         optimizer="sgd")
    parser.set_defaults(dataset="fashion-mnist")
    g = parser.add_argument_group("improved STBP schemes (default: all on; --baseline: all off)")
    g.add_argument("-T", "--time-steps", type=bounded_int(1, 1 << 16), default=8, help="simulation steps (default: 8)")
    g.add_argument("--baseline", action="store_true",
                   help="the paper's baseline: --reset zero --fixed-threshold --surrogate rect --decoder rate "
                   "(explicit switches still override)")
    g.add_argument("--reset", default=None, choices=["subtract", "zero"],
                   help="scheme 1: reset by subtraction (eq. 8) or to zero (eq. 1) (default: subtract)")
    g.add_argument("--trainable-threshold", dest="trainable_threshold", action="store_const", const=True,
                   default=None, help="scheme 2: one trainable threshold per conv channel / dense neuron (default)")
    g.add_argument("--fixed-threshold", dest="trainable_threshold", action="store_const", const=False,
                   help="keep every threshold at --threshold")
    g.add_argument("--threshold", type=float, default=None, help="initial (or fixed) threshold Vth (default: 0.5)")
    g.add_argument("--surrogate", default=None, choices=["threshold", "rect"],
                   help="scheme 3: h(V) = 1/Vth on |V-Vth| < Vth/2 (eq. 14) or the rectangle of eq. 3 "
                   "(default: threshold)")
    g.add_argument("--surrogate-width", type=float, default=None,
                   help="width a of the rectangular surrogate (height 1/a) (default: 1.0)")
    g.add_argument("--decoder", default=None, choices=["st", "last", "rate", "max"],
                   help="scheme 4: spatio-temporal FC over all steps, last-step spikes, or the baseline spike "
                   "count / T (default: st); on an LI readout: max over time, last step or mean (default: max)")
    g.add_argument("--encoder-threshold", type=float, default=None,
                   help="threshold of the rate-coding IF encoder (default: 0.5, SPEC RateEncode)")
    g = parser.add_argument_group("leaky and recurrent networks (SPEC snn.LIF, snn.LI, recurrent_weight)")
    g.add_argument("--neuron", default=None, choices=["if", "lif"],
                   help="spiking neurons: integrate-and-fire, or leaky (LIF, reset before decay: "
                   "V[t] = beta * Vr[t-1] + I[t]) (default: if)")
    g.add_argument("--beta", type=float, default=None,
                   help="decay per step of LIF neurons and of the LI readout, in [0, 1] (default: 0.9)")
    g.add_argument("--train-beta", dest="train_beta", action="store_const", const=True, default=None,
                   help="train beta, one per conv channel / dense neuron, clamped to [0, 1] (default: fixed)")
    g.add_argument("--recurrent", dest="recurrent", action="store_const", const=True, default=None,
                   help="hidden dense layers get a trainable recurrent weight W [n, n]: I[t] + S[t-1] @ W^T "
                   "(initially zero)")
    g.add_argument("--readout", default=None, choices=["spiking", "li"],
                   help="output layer: spiking neurons, or a leaky integrator snn.LI whose potential trace is "
                   "decoded (--decoder max, last or rate = mean; default max) (default: spiking)")
    g.add_argument("--loss", default="mse", choices=["mse", "ce"],
                   help="mse: mean squared error of the scores to the one-hot labels (the paper's, also for an "
                   "LI readout); ce: cross-entropy of the scores (needs a ~5x smaller --lr) (default: mse)")
    g = parser.add_argument_group("STBP training")
    g.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=True,
                   help="Nesterov momentum for --optimizer sgd (default: on)")
    g.add_argument("--threshold-min", type=float, default=0.05,
                   help="trainable thresholds are clamped to at least this (default: 0.05)")
    g.add_argument("--init-gain", type=float, default=0.2,
                   help="initial weights N(0, (gain * sqrt(2 / fan_in))^2); small weights keep the initial "
                   "activity low, which the surrogate gradients need (default: 0.2)")
    g.add_argument("--wake-below", type=float, default=0.001,
                   help="at the start, a layer where fewer than this fraction of the (image, neuron) pairs of 256 "
                   "training images fire is scaled so that 5 %% do; 0 wakes none (default: 0.001)")
    add_evaluation_arguments(g)


#: algorithm -> (trainer module, function adding its options)
TRAINERS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "stdbp": ("snnc.trainers.stdbp", add_stdbp_arguments),
    "stbp": ("snnc.trainers.stbp", add_stbp_arguments),
}


def _docstring(module: str) -> str | None:
    """The docstring of ``module``, read from its source without importing it (the trainers import torch)."""
    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    with open(spec.origin, encoding="utf-8") as f:
        doc = ast.get_docstring(ast.parse(f.read()), clean=False)
    return None if doc is None else plain_text(doc)


def plain_text(doc: str) -> str:
    """A docstring as help text: reST literals and roles (````x````, ``:func:`x```) shown as plain ``x``."""
    import re

    doc = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", doc)
    return re.sub(r"``([^`]+)``", r"\1", doc)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """One subcommand per trainer, with its options."""
    sub = p.add_subparsers(dest="algorithm", metavar="ALGORITHM", required=True)
    for name, (module, add) in TRAINERS.items():
        doc = _docstring(module)
        tp = sub.add_parser(name, help=(doc or name).strip().splitlines()[0], description=doc,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        add(tp)
        tp.set_defaults(train_module=module)


#: How long an idle OpenMP thread spins before it sleeps, for a training run unless the environment sets
#: OMP_WAIT_POLICY or GOMP_SPINCOUNT (read when torch loads OpenMP; libgomp's default spins about 3x longer).
#: Spinning threads made the STDBP CNN step 2-3x slower on 2 threads than on 1 while another job held a core;
#: this spin keeps 2 threads about as fast as 1 there and near the full spin's speed on an idle box
#: (docs/trainers.md, "Threads"; bench/trainer_threads.py).
GOMP_SPINCOUNT = "100000"


def run(args: argparse.Namespace) -> int:
    """Import the chosen trainer (and torch) and run it with the parsed options."""
    import os

    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", GOMP_SPINCOUNT)
    try:
        mod = importlib.import_module(args.train_module)
    except ModuleNotFoundError as err:
        if err.name and err.name.startswith("snnc"):
            raise
        raise SnncError(f"trainer '{args.algorithm}' needs PyTorch", hint="pip install torch==2.13.0") from None
    return int(mod.run(args) or 0)
