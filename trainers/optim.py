"""Adam, SGD and a per-step learning-rate schedule for the snnc trainers, without ``torch.optim``.

Why not ``torch.optim``: in torch 2.x creating the first optimizer imports ``torch._dynamo``
(``Optimizer.add_param_group`` is wrapped by ``torch._disable_dynamo``, and every ``Optimizer.step`` goes
through ``_use_grad_for_differentiable``), which costs 1.2-2.7 s per training run on the dev box and buys
nothing: the trainers use three plain update rules. These are those rules on torch tensors, in place under
``torch.no_grad()``, with the operations in the order of torch's single-tensor (``foreach=False``)
implementations, so that each update is bit for bit the one ``torch.optim`` makes on the same tensors
(``tests/test_trainer_optim.py``). On the CPU ``foreach=False`` is what torch uses by default, so a trainer's
run is unchanged to the last bit; on CUDA torch's default is the multi-tensor path, which may round
differently in the last bit.

Only what the trainers use is implemented: no AMSGrad, ``maximize``, decoupled weight decay (AdamW),
sparse or complex gradients, closures or hooks. :meth:`Optimizer.state_dict` writes ``torch.optim``'s
format (``state`` by parameter index, ``param_groups`` with ``params`` as indices), so checkpoints written
before this module (by ``torch.optim``) load here, and ours load into ``torch.optim``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from snnc.errors import SnncError

Tensor = torch.Tensor

__all__ = ["SGD", "Adam", "LambdaLR", "Optimizer", "OptimizerError"]


class OptimizerError(SnncError):
    """An optimizer's settings or a saved optimizer state are not usable."""


#: saved group keys that switch on a torch feature these classes do not implement (their value must be falsy)
_UNSUPPORTED = ("amsgrad", "maximize", "decoupled_weight_decay")
#: saved group keys of torch's that choose an implementation, not an update rule (ignored when loading)
_IGNORED = ("foreach", "fused", "capturable", "differentiable", "initial_lr", "param_names")


class Optimizer:
    """What Adam and SGD share: parameter groups, per-parameter state, ``zero_grad``, ``state_dict``.

    Args:
        params: tensors (one group), or dicts with ``"params"`` and per-group overrides of ``defaults``.
        defaults: the hyperparameters of every group that does not set its own.

    Attributes:
        param_groups: one dict per group: ``"params"`` (a list of tensors) and the hyperparameters, ``"lr"``
            among them (a schedule writes it; a trainer reads it).
        state: per-parameter state tensors, keyed by the parameter; empty until its first update.
    """

    #: the update's name in messages (``Adam``)
    name = "Optimizer"
    #: state keys a parameter's saved state must hold
    state_keys: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        items = list(params)
        if not items:
            raise OptimizerError(f"{self.name} got an empty parameter list")
        groups = items if isinstance(items[0], dict) else [{"params": items}]
        seen: set[int] = set()
        for given in groups:
            if not isinstance(given, dict):
                raise OptimizerError(f"{self.name}: mix of parameter groups and bare tensors")
            unknown = set(given) - {"params", *self.defaults}
            if unknown:
                raise OptimizerError(f"{self.name}: unknown group option(s) {', '.join(sorted(unknown))}")
            ps = given["params"]
            ps = [ps] if isinstance(ps, Tensor) else list(ps)
            for p in ps:
                if not isinstance(p, Tensor) or not p.is_leaf:
                    raise OptimizerError(f"{self.name} can only optimize leaf tensors")
                if id(p) in seen:
                    raise OptimizerError(f"{self.name}: a parameter appears in more than one group")
                seen.add(id(p))
            group = {**self.defaults, **given, "params": ps}
            self._check_group(group)
            self.param_groups.append(group)

    # -------------------------------------------------------------------------------- for the subclasses
    def _check_group(self, group: dict[str, Any]) -> None:
        """Raise :class:`OptimizerError` unless the group's hyperparameters are valid."""
        lr, wd = group["lr"], group["weight_decay"]
        if not (isinstance(lr, (int, float)) and lr >= 0):
            raise OptimizerError(f"{self.name}: learning rate must be a number >= 0, got {lr!r}")
        if not (isinstance(wd, (int, float)) and wd >= 0):
            raise OptimizerError(f"{self.name}: weight decay must be a number >= 0, got {wd!r}")

    def _state_to_save(self, state: dict[str, Any]) -> dict[str, Any]:
        """One parameter's state as ``torch.optim`` saves it (tensors cloned)."""
        return {k: v.detach().clone() for k, v in state.items()}

    def _state_to_load(self, saved: Mapping[str, Any], p: Tensor, where: str) -> dict[str, Any]:
        """One parameter's saved state, checked and copied onto ``p``'s device and dtype."""
        out: dict[str, Any] = {}
        for key in self.state_keys:
            value = saved.get(key)
            if not isinstance(value, Tensor) or value.shape != p.shape:
                raise OptimizerError(f"the saved {self.name} state of parameter {where} has no {key} of shape "
                                     f"{tuple(p.shape)}", hint="the checkpoint belongs to another network")
            out[key] = value.to(dtype=p.dtype, device=p.device, copy=True)
        return out

    # ------------------------------------------------------------------------------------------- public
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (``set_to_none``), or zero it in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:
                        p.grad.detach_()
                    else:
                        p.grad.requires_grad_(False)
                    p.grad.zero_()

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The state in ``torch.optim``'s format: ``{"state": {index: {...}}, "param_groups": [{..., "params":
        [index, ...]}]}``, indices counting the parameters of all groups in order; tensors are copies."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {index[id(p)]: self._state_to_save(s) for p, s in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a :meth:`state_dict` (ours or ``torch.optim``'s for the same update rule and the same
        parameter groups). As in ``torch.optim``, the saved hyperparameters (learning rate, betas, momentum,
        weight decay, ...) replace the current ones.

        Raises:
            OptimizerError: the state is another optimizer's, another network's, or uses a feature these
                classes do not implement (e.g. AMSGrad).
        """
        try:
            saved_groups = list(state_dict["param_groups"])
            saved_state = dict(state_dict["state"])
        except (KeyError, TypeError):
            raise OptimizerError("the saved optimizer state is not a torch.optim state_dict") from None
        if len(saved_groups) != len(self.param_groups):
            raise OptimizerError(f"the saved optimizer state has {len(saved_groups)} parameter group(s), this "
                                 f"{self.name} has {len(self.param_groups)}",
                                 hint="the checkpoint belongs to another network or trainer")
        new_groups = []
        by_index: dict[int, Tensor] = {}
        for number, (group, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            saved = dict(saved)
            ids = list(saved.pop("params", []))
            if len(ids) != len(group["params"]):
                raise OptimizerError(f"saved parameter group {number} holds {len(ids)} parameters, this one "
                                     f"{len(group['params'])}", hint="the checkpoint belongs to another network")
            by_index.update(zip(ids, group["params"], strict=True))
            new_groups.append(self._merge_group(group, saved))
        state: dict[Tensor, dict[str, Any]] = {}
        for key, value in saved_state.items():
            if key not in by_index:
                raise OptimizerError(f"the saved optimizer state names parameter {key}, which no group holds")
            state[by_index[key]] = self._state_to_load(value, by_index[key], str(key))
        self.param_groups = new_groups
        self.state = state

    def _merge_group(self, group: dict[str, Any], saved: dict[str, Any]) -> dict[str, Any]:
        """The group after loading: the saved hyperparameters over the current ones (torch's rule)."""
        for key in _UNSUPPORTED:
            if saved.get(key):
                raise OptimizerError(f"the saved optimizer state uses {key}, which snnc's {self.name} does "
                                     "not implement")
        known = {k: v for k, v in saved.items() if k not in _UNSUPPORTED and k not in _IGNORED}
        missing = [k for k in self.defaults if k not in known]
        foreign = [k for k in known if k not in self.defaults]
        if missing or foreign:
            other = "Adam" if "betas" in known else "SGD" if "momentum" in known else "another optimizer"
            raise OptimizerError(f"the saved optimizer state is {other}'s, this run uses {self.name}",
                                 hint=f"resume with --optimizer {other.lower()}" if other in ("Adam", "SGD")
                                 else None)
        merged = {**group, **known, "params": group["params"]}
        if "betas" in merged:
            merged["betas"] = tuple(float(b) for b in merged["betas"])
        self._check_group(merged)
        return merged


class Adam(Optimizer):
    r"""Adam (Kingma and Ba, 2015) with L2 weight decay added to the gradient, as ``torch.optim.Adam``.

    For each parameter ``p`` with gradient ``g`` at step ``t = 1, 2, ...`` (one per parameter, counted
    from its first update)::

        g   = g + weight_decay * p                       (when weight_decay != 0)
        m   = m + (1 - beta1) * (g - m)                  (lerp; m starts at 0)
        v   = beta2 * v + (1 - beta2) * g * g            (v starts at 0)
        p   = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Defaults as torch's: ``lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0``. State per parameter:
    ``step`` (saved as a float32 scalar tensor, like torch's), ``exp_avg`` (m), ``exp_avg_sq`` (v).
    """

    name = "Adam"
    state_keys = ("exp_avg", "exp_avg_sq")

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay})

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        betas, eps = group["betas"], group["eps"]
        if not (len(betas) == 2 and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas)):
            raise OptimizerError(f"Adam: betas must be two numbers in [0, 1), got {betas!r}")
        if not (isinstance(eps, (int, float)) and eps >= 0):
            raise OptimizerError(f"Adam: eps must be a number >= 0, got {eps!r}")

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update of every parameter that has a gradient (the equations of the class docstring)."""
        for group in self.param_groups:
            lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if grad.is_sparse:
                    raise OptimizerError("Adam does not take sparse gradients")
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {"step": 0, "exp_avg": torch.zeros_like(p),
                                             "exp_avg_sq": torch.zeros_like(p)}
                state["step"] += 1
                t = float(state["step"])
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                if wd != 0:
                    grad = grad.add(p, alpha=wd)
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                step_size = lr / (1 - beta1 ** t)
                denom = (exp_avg_sq.sqrt() / (1 - beta2 ** t) ** 0.5).add_(eps)
                p.addcdiv_(exp_avg, denom, value=-step_size)

    def _state_to_save(self, state: dict[str, Any]) -> dict[str, Any]:
        return {"step": torch.tensor(float(state["step"]), dtype=torch.float32),
                "exp_avg": state["exp_avg"].detach().clone(), "exp_avg_sq": state["exp_avg_sq"].detach().clone()}

    def _state_to_load(self, saved: Mapping[str, Any], p: Tensor, where: str) -> dict[str, Any]:
        out = super()._state_to_load(saved, p, where)
        step = saved.get("step")
        value = float(step) if isinstance(step, (Tensor, int, float)) and (
            not isinstance(step, Tensor) or step.numel() == 1) else -1.0
        if not (value >= 0 and value == int(value)):
            raise OptimizerError(f"the saved Adam state of parameter {where} has no valid step count")
        out["step"] = int(value)
        return out


class SGD(Optimizer):
    r"""Stochastic gradient descent with momentum, optionally Nesterov's, as ``torch.optim.SGD``.

    For each parameter ``p`` with gradient ``g``::

        g   = g + weight_decay * p                       (when weight_decay != 0)
        b   = g                                          (first update; when momentum != 0)
        b   = momentum * b + (1 - dampening) * g         (later updates)
        d   = g + momentum * b   if nesterov   else   b  (d = g when momentum == 0)
        p   = p - lr * d

    Defaults as torch's: ``momentum=0, dampening=0, weight_decay=0, nesterov=False`` (``lr`` is required).
    State per parameter (with momentum only): ``momentum_buffer`` (b).
    """

    name = "SGD"
    state_keys = ("momentum_buffer",)

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov})

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        momentum, dampening = group["momentum"], group["dampening"]
        if not (isinstance(momentum, (int, float)) and momentum >= 0):
            raise OptimizerError(f"SGD: momentum must be a number >= 0, got {momentum!r}")
        if not isinstance(dampening, (int, float)):
            raise OptimizerError(f"SGD: dampening must be a number, got {dampening!r}")
        if group["nesterov"] and (momentum <= 0 or dampening != 0):
            raise OptimizerError("SGD: Nesterov momentum needs momentum > 0 and dampening 0")

    @torch.no_grad()
    def step(self) -> None:
        """One SGD update of every parameter that has a gradient (the equations of the class docstring)."""
        for group in self.param_groups:
            lr, wd = group["lr"], group["weight_decay"]
            momentum, dampening, nesterov = group["momentum"], group["dampening"], group["nesterov"]
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if grad.is_sparse:
                    raise OptimizerError("SGD does not take sparse gradients")
                if wd != 0:
                    grad = grad.add(p, alpha=wd)
                if momentum != 0:
                    state = self.state.setdefault(p, {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = grad.detach().clone()
                    else:
                        buf.mul_(momentum).add_(grad, alpha=1 - dampening)
                    grad = grad.add(buf, alpha=momentum) if nesterov else buf
                p.add_(grad, alpha=-lr)


class LambdaLR:
    """A learning rate per step: ``lr = base_lr * factor(step)`` for every group, as
    ``torch.optim.lr_scheduler.LambdaLR`` with one function.

    Construction sets step 0 (each group's ``lr`` becomes ``base_lr * factor(0)``, ``base_lr`` being its
    ``lr`` then); each :meth:`step` advances one step. Works with this module's optimizers (or anything with
    ``param_groups``).

    Args:
        optimizer: whose groups' ``"lr"`` this schedule writes.
        factor: step number (0, 1, ...) -> multiplier of the base learning rate.
    """

    def __init__(self, optimizer: Any, factor: Callable[[int], float]) -> None:
        self.optimizer = optimizer
        self.factor = factor
        self.base_lrs: list[float] = [group["lr"] for group in optimizer.param_groups]
        self.last_step = 0
        self._apply()

    def _apply(self) -> None:
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base_lr * self.factor(self.last_step)

    def step(self) -> None:
        """Advance one step and set every group's learning rate for it."""
        self.last_step += 1
        self._apply()

    def set_step(self, step: int) -> None:
        """Jump to ``step`` (a resumed run: the base rates stay this run's, the factor is at ``step``)."""
        if step < 0:
            raise OptimizerError(f"a schedule step must be >= 0, got {step}")
        self.last_step = int(step)
        self._apply()

    def get_last_lr(self) -> list[float]:
        """The learning rate of every group at the current step."""
        return [group["lr"] for group in self.optimizer.param_groups]
