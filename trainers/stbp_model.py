"""The improved-STBP network: rate-coded input, IF layers (dense or conv, average pooling in front), and one
of three output decoders, all time-major ``[T, B, *features]`` as in the exported ONNX model.

Each layer is ``[AvgPool k] -> [Flatten] -> Dense | Conv -> IF(theta, reset)``: pooling and flattening of a
layer's *input* spikes belong to its synapse (the layout of :mod:`snnc.trainers.stdbp_model`, whose
:func:`~snnc.trainers.stdbp_model.plan_layers` this module reuses), so every layer ends in spiking neurons
(SPEC section 3: ``RateEncode -> MatMul/Conv -> IF ... -> decoder``). Synapses have no bias (the paper's
eq. 8 has none). The four schemes of Tan, Wu and Lu, "An Improved STBP for Training High-Accuracy and
Low-Spike-Count Spiking Neural Networks" (DATE 2021) are the fields of :class:`Schemes`:

1. ``reset``: ``"subtract"`` (eq. 8) or the baseline ``"zero"`` (eq. 1).
2. ``trainable_threshold``: one threshold per conv channel (``[C, 1, 1]``) or dense neuron (``[n]``),
   initial ``threshold`` (0.5), trained with the gradient of eq. 11; or a fixed threshold.
3. ``surrogate``: ``"threshold"`` (eq. 14, ``h = 1/theta`` on ``|V - theta| < theta/2``) or the baseline
   ``"rect"`` (eq. 3, ``h = 1/a`` on ``|V - theta| < a/2``, ``a = surrogate_width``).
4. ``decoder``: ``"rate"`` (baseline: spike count / T, SPEC ``SpikeCountDecode``), ``"last"`` (``S[T-1]``,
   SPEC ``LastStepDecode``) or ``"st"`` (the spatio-temporal decoder: a trainable fully connected layer,
   with bias, over all steps' output spikes ``[B, T*N]``; plain ONNX ``Transpose -> Reshape -> Gemm``).

Architectures use the paper's Table I notation or the STDBP trainer's: ``nCk`` convolution (``nCkpP`` with
padding P), ``APk`` or ``Pk`` average pooling, ``nFC`` or ``n`` fully connected; the input is ``HxW``,
``CxHxW`` or ``n``. Example: ``28x28-32C3-AP2-64C3-AP2-256FC-10``, ``784-400-10``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from snnc.trainers.common import Arch, TrainerError, parse_arch
from snnc.trainers.if_torch import RESETS, SURROGATES, Surrogate, li_neuron, lif_neuron, rate_encode
from snnc.trainers.stdbp_model import LayerPlan, plan_layers

__all__ = ["DECODERS", "NetOutput", "Schemes", "StbpNet", "normalize_arch", "parse_stbp_arch"]

#: Output decoders: average rate (baseline; on an LI trace the mean), last step, spatio-temporal (spiking
#: readout only), maximum over time (LI readout only).
DECODERS = ("rate", "last", "st", "max")
#: Neuron models of the spiking layers: SPEC ``snn.IF`` or ``snn.LIF`` (reset before decay).
NEURONS = ("if", "lif")
#: Output layers: spiking neurons (the hidden layers' model) or a leaky integrator ``snn.LI``.
READOUTS = ("spiking", "li")

_AP = re.compile(r"^[aA][pP](\d+)$")
_FC = re.compile(r"^(\d+)[fF][cC]$")


def normalize_arch(text: str) -> str:
    """Rewrite the paper's tokens into the STDBP trainer's: ``APk -> Pk``, ``nFC -> n`` (others unchanged).

    Example:
        >>> normalize_arch("28x28-32C3-AP2-256FC-10")
        '28x28-32C3-P2-256-10'
    """
    out = []
    for tok in text.strip().split("-"):
        tok = tok.strip()
        if m := _AP.match(tok):
            tok = f"P{m[1]}"
        elif m := _FC.match(tok):
            tok = m[1]
        out.append(tok)
    return "-".join(out)


def parse_stbp_arch(text: str) -> Arch:
    """Parse an architecture string in either notation; the result keeps ``text`` as written.

    Raises:
        TrainerError: the string is not understood or a layer does not fit (see
            :func:`snnc.trainers.common.parse_arch`).
    """
    return replace(parse_arch(normalize_arch(text)), text=text)


@dataclass(frozen=True)
class Schemes:
    """Which of the paper's four schemes are on (the defaults: all of them, with the spatio-temporal decoder).

    :meth:`baseline` is the paper's baseline: reset to zero, fixed threshold, rectangular surrogate, rate
    decoding.
    """

    reset: str = "subtract"
    trainable_threshold: bool = True
    threshold: float = 0.5
    surrogate: str = "threshold"
    surrogate_width: float = 1.0
    decoder: str = "st"
    encoder_threshold: float = 0.5
    neuron: str = "if"
    beta: float = 0.9
    train_beta: bool = False
    recurrent: bool = False
    readout: str = "spiking"

    def __post_init__(self) -> None:
        for name, value, allowed in (("--reset", self.reset, RESETS), ("--surrogate", self.surrogate, SURROGATES),
                                     ("--decoder", self.decoder, DECODERS), ("--neuron", self.neuron, NEURONS),
                                     ("--readout", self.readout, READOUTS)):
            if value not in allowed:
                raise TrainerError(f"must be one of {', '.join(allowed)}, got {value!r}", where=name)
        if not (math.isfinite(self.beta) and 0.0 <= self.beta <= 1.0):
            raise TrainerError(f"must lie in [0, 1], got {self.beta}", where="--beta",
                               hint="beta is the per-step decay (1 = no leak); from a time constant: exp(-1/tau)")
        if self.readout == "li" and self.decoder == "st":
            raise TrainerError("the spatio-temporal decoder reads spikes, the LI readout gives a potential trace",
                               where="--decoder", hint="with --readout li use max, last or rate (the mean)")
        if self.readout == "spiking" and self.decoder == "max":
            raise TrainerError("max-over-time decodes an LI potential trace", where="--decoder",
                               hint="use --readout li, or st, last or rate for a spiking readout")
        if self.train_beta and self.neuron == "if" and self.readout == "spiking":
            raise TrainerError("no leaky layer whose beta could train", where="--train-beta",
                               hint="use --neuron lif or --readout li")
        for name, value in (("--threshold", self.threshold), ("--surrogate-width", self.surrogate_width),
                            ("--encoder-threshold", self.encoder_threshold)):
            if not (math.isfinite(value) and value > 0):
                raise TrainerError(f"must be a finite number > 0, got {value}", where=name)

    @classmethod
    def baseline(cls, **changes: object) -> Schemes:
        """The paper's baseline (eqs. 1 and 3, fixed threshold, rate decoding), with ``changes`` applied."""
        return replace(cls(reset="zero", trainable_threshold=False, surrogate="rect", decoder="rate"), **changes)

    @property
    def surrogate_fn(self) -> Surrogate:
        """The :class:`~snnc.trainers.if_torch.Surrogate` of these schemes."""
        return Surrogate(self.surrogate, self.surrogate_width)

    def label(self) -> str:
        """A one-line description, e.g. ``reset=subtract theta=trainable h=eq14 decoder=st``."""
        h = "eq14" if self.surrogate == "threshold" else f"rect(a={self.surrogate_width:g})"
        theta = "trainable" if self.trainable_threshold else "fixed"
        text = f"reset={self.reset} theta={theta}({self.threshold:g}) h={h} decoder={self.decoder}"
        if self.leaky:
            text += f" beta={'trainable' if self.train_beta else 'fixed'}({self.beta:g})"
        return (text + (" neuron=lif" if self.neuron == "lif" else "") + (" recurrent" if self.recurrent else "")
                + (" readout=li" if self.readout == "li" else ""))

    @property
    def leaky(self) -> bool:
        """Whether any layer has a beta (LIF neurons or the LI readout)."""
        return self.neuron == "lif" or self.readout == "li"


@dataclass
class NetOutput:
    """What a forward pass returns.

    Attributes:
        scores: decoded outputs ``[B, classes]`` (what the loss and the argmax see).
        spikes: the spike train ``[T, B, *f]`` of every spiking (IF/LIF) layer, the output layer last (with
            an LI readout: the hidden layers only).
        encoded: the encoder's spike train ``[T, B, *input]``.
        trace: the LI readout's potential trace ``[T, B, classes]`` (None for a spiking readout).
    """

    scores: Tensor
    spikes: list[Tensor]
    encoded: Tensor
    trace: Tensor | None = None

    def spike_counts(self) -> Tensor:
        """Spikes per sample of every IF layer: ``[layers, B]`` (the encoder not included)."""
        return torch.stack([s.reshape(s.shape[0], s.shape[1], -1).sum((0, 2)) for s in self.spikes])


def threshold_shape(plan: LayerPlan) -> tuple[int, ...]:
    """Shape of a layer's trainable thresholds: ``[C, 1, 1]`` per conv channel, ``[n]`` per dense neuron."""
    if plan.kind == "conv":
        return (plan.out_shape[0], 1, 1)
    return (plan.out_shape[0],)


class StbpNet(nn.Module):
    """An IF network trained with the improved STBP.

    Args:
        arch: the parsed architecture (the last layer is the spiking output layer, one neuron per class).
        time_steps: T.
        schemes: which schemes are on.

    Example:
        >>> net = StbpNet(parse_stbp_arch("64-100-10"), time_steps=8, schemes=Schemes())
        >>> out = net(torch.rand(4, 64))
        >>> out.scores.shape, [tuple(s.shape) for s in out.spikes]
        (torch.Size([4, 10]), [(8, 4, 100), (8, 4, 10)])
    """

    def __init__(self, arch: Arch, time_steps: int, schemes: Schemes) -> None:
        super().__init__()
        if time_steps < 1:
            raise TrainerError(f"time steps must be >= 1, got {time_steps}", where="--time-steps")
        self.arch = arch
        self.time_steps = int(time_steps)
        self.schemes = schemes
        self.plans = plan_layers(arch)
        self.weights = nn.ParameterList(nn.Parameter(torch.zeros(p.weight_shape)) for p in self.plans)
        last = len(self.plans) - 1
        self.li_readout = schemes.readout == "li"
        #: per layer: whether it has spiking neurons (all but an LI readout)
        self.spiking = [not (self.li_readout and i == last) for i in range(len(self.plans))]
        #: per layer: whether it has a beta (LIF layers, the LI readout)
        self.leaky = [schemes.neuron == "lif" or not self.spiking[i] for i in range(len(self.plans))]
        self.thresholds = nn.ParameterList(
            nn.Parameter(torch.full(threshold_shape(p), float(schemes.threshold)),
                         requires_grad=schemes.trainable_threshold and self.spiking[i])
            for i, p in enumerate(self.plans))
        # one beta per conv channel / dense neuron (also when fixed, so the export has one layout); 1 = IF
        self.betas = nn.ParameterList(
            nn.Parameter(torch.full(threshold_shape(p), float(schemes.beta) if self.leaky[i] else 1.0),
                         requires_grad=schemes.train_beta and self.leaky[i])
            for i, p in enumerate(self.plans))
        #: per layer: whether it has a recurrent weight (hidden dense layers with --recurrent)
        self.recurrent = [schemes.recurrent and i < last and p.kind == "dense" for i, p in enumerate(self.plans)]
        if schemes.recurrent and not any(self.recurrent):
            raise TrainerError(f"{arch.text!r} has no hidden dense layer to make recurrent", where="--recurrent")
        self.recurrent_weights = nn.ParameterList(
            nn.Parameter(torch.zeros(p.out_shape[0], p.out_shape[0]) if r else torch.zeros(0))
            for p, r in zip(self.plans, self.recurrent, strict=True))
        n_out = self.plans[-1].out_shape[0]
        self.num_classes = arch.num_classes
        if schemes.decoder == "st":
            self.decoder_weight = nn.Parameter(torch.zeros(self.num_classes, self.time_steps * n_out))
            self.decoder_bias = nn.Parameter(torch.zeros(self.num_classes))
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None, gain: float = 1.0) -> None:
        """Weights ``N(0, (gain * std)^2)`` with ``std = sqrt(2 / fan_in)`` (He), thresholds and betas back to
        their initial value, recurrent weights zero (the network starts as its feedforward part), the decoder
        ``U(-1/sqrt(T*N), 1/sqrt(T*N))`` with zero bias."""
        for i, (p, w, th) in enumerate(zip(self.plans, self.weights, self.thresholds, strict=True)):
            std = gain * math.sqrt(2.0 / p.fan_in)
            w.copy_(torch.randn(p.weight_shape, generator=generator) * std)
            th.fill_(self.schemes.threshold)
            self.betas[i].fill_(self.schemes.beta if self.leaky[i] else 1.0)
            self.recurrent_weights[i].zero_()
        if self.schemes.decoder == "st":
            bound = 1.0 / math.sqrt(self.decoder_weight.shape[1])
            self.decoder_weight.copy_(torch.rand(self.decoder_weight.shape, generator=generator) * 2 * bound - bound)
            self.decoder_bias.zero_()

    @torch.no_grad()
    def wake_silent_layers(self, x: Tensor, minimum: float = 0.001, target: float = 0.05) -> list[int]:
        """Data-driven fix-up after :meth:`reset_parameters`, so that no layer starts silent.

        Layer by layer on the inputs ``x``: where fewer than ``minimum`` of the (sample, neuron) pairs reach
        their threshold at least once, the layer's weights are scaled so that ``target`` of them do. Before
        its first spike an IF neuron's potential is the running sum of its input, which is linear in the
        weights, so the scale is closed form: ``1 / q``, ``q`` the ``1 - target`` quantile of ``max_t sum_{u<=t}
        I[u] / theta``. He initialisation alone leaves the layers after an average pool silent (pooling
        shrinks the spikes' second moment 4x per pool; the paper's Fashion CNN fired on no sample in its
        third and fourth layers), and a silent layer passes no surrogate gradient: the network never trains.
        Layers already above ``minimum`` (every layer of the MLPs of the ablation, at T = 4, 8 and 16) are left as
        they are: a sparse layer still trains, only one where (almost) nothing fires does not.

        Returns:
            The indices of the layers rescaled.
        """
        s = self.encode(x)
        woken = []
        for i, (w, theta) in enumerate(zip(self.weights, self.thresholds, strict=True)):
            if not self.spiking[i]:
                break  # an LI readout has no threshold to reach
            current = self.current(i, s)
            # before its first spike the potential is sum_u beta^(t-u) I[u] (IF: beta = 1), linear in the weights
            ratio = (self._leaky_sum(current, i).amax(0) / theta).flatten()
            if float((ratio >= 1).float().mean()) < minimum:
                k = max(1, min(ratio.numel(), math.ceil((1.0 - target) * ratio.numel())))
                q = float(ratio.kthvalue(k).values)
                if q <= 0:
                    q = float(ratio.max())
                if q <= 0:
                    raise TrainerError(f"layer {i + 1} cannot be initialised to fire: its inputs are silent",
                                       hint="raise --init-gain or the encoder's input (--encoder-threshold)")
                w.mul_(1.0 / q)
                current = current / q
                woken.append(i)
            s = self.neuron(i, current)
        return woken

    def _leaky_sum(self, current: Tensor, index: int) -> Tensor:
        """``sum_{u<=t} beta^(t-u) I[u]`` over the steps (the cumulative sum for IF layers)."""
        if self.schemes.neuron != "lif":
            return current.cumsum(0)
        return li_neuron(current, self.betas[index])

    def neuron(self, index: int, current: Tensor) -> Tensor:
        """The spiking neurons of layer ``index`` (IF or LIF, recurrent where configured) on ``current``."""
        beta = self.betas[index] if self.schemes.neuron == "lif" else None
        w_rec = self.recurrent_weights[index] if self.recurrent[index] else None
        return lif_neuron(current, self.thresholds[index], beta, self.schemes.reset, self.schemes.surrogate_fn, w_rec)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):  # noqa: ANN001, ANN201
        """As :meth:`torch.nn.Module.load_state_dict`; checkpoints written before the leaky options (no
        ``betas`` / ``recurrent_weights``) load with this network's defaults for them (IF: beta 1, no
        recurrence)."""
        state = dict(state_dict)
        for key, value in self.state_dict().items():
            if key.startswith(("betas.", "recurrent_weights.")) and key not in state:
                state[key] = value
        return super().load_state_dict(state, strict=strict, assign=assign)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The parameters the optimizer updates (thresholds only when scheme 2 is on, betas with
        ``train_beta``, recurrent weights of recurrent layers)."""
        return [p for p in self.parameters() if p.requires_grad and p.numel() > 0]

    @torch.no_grad()
    def clamp_betas(self) -> None:
        """Keep every beta in [0, 1] (SPEC ``snn.LIF`` / ``snn.LI``); the clamped values are the ones exported."""
        for b in self.betas:
            b.clamp_(0.0, 1.0)

    @torch.no_grad()
    def clamp_thresholds(self, minimum: float) -> None:
        """Keep every threshold ``>= minimum`` (> 0, as ``snn.IF`` requires)."""
        for th in self.thresholds:
            th.clamp_(min=minimum)

    def encode(self, x: Tensor) -> Tensor:
        """SPEC ``snn.RateEncode`` of ``x`` ``[B, *input_shape]``: spikes ``[T, B, *input_shape]``."""
        return rate_encode(x, self.time_steps, self.schemes.encoder_threshold)

    def current(self, index: int, s: Tensor) -> Tensor:
        """The synaptic input ``I`` ``[T, B, *out]`` of layer ``index`` for its input spikes ``[T, B, *in]``.

        Pooling, flattening, dense and conv act on every step independently (``[T*B, ...]`` views).
        """
        plan = self.plans[index]
        T, B = s.shape[0], s.shape[1]
        z = s.reshape(T * B, *s.shape[2:])
        if plan.pool:
            z = F.avg_pool2d(z, plan.pool)
        w = self.weights[index]
        if plan.kind == "dense":
            z = F.linear(z.reshape(T * B, -1), w)
        else:
            z = F.conv2d(z, w, padding=plan.padding)
        return z.reshape(T, B, *plan.out_shape)

    def decode(self, s_out: Tensor) -> Tensor:
        """Scores ``[B, classes]`` of the output spike train (or LI trace) ``[T, B, N]`` with the decoder."""
        dec = self.schemes.decoder
        if dec == "max":
            return s_out.amax(0)  # SPEC MaxOverTimeDecode on an LI trace
        if dec == "rate":
            return s_out.sum(0) / float(s_out.shape[0])  # SPEC SpikeCountDecode: count / T
        if dec == "last":
            return s_out[-1]  # SPEC LastStepDecode: S[T-1]
        T, B, N = s_out.shape
        flat = s_out.permute(1, 0, 2).reshape(B, T * N)  # step-major: index t*N + n (SPEC time_flatten)
        return F.linear(flat, self.decoder_weight, self.decoder_bias)

    def forward(self, x: Tensor) -> NetOutput:
        """Encode ``x`` ``[B, *input_shape]``, run every layer, decode the output layer."""
        s = enc = self.encode(x)
        spikes = []
        for i in range(len(self.plans)):
            current = self.current(i, s)
            if not self.spiking[i]:
                trace = li_neuron(current, self.betas[i])
                return NetOutput(self.decode(trace), spikes, enc, trace)
            s = self.neuron(i, current)
            spikes.append(s)
        return NetOutput(self.decode(s), spikes, enc)
