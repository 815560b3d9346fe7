"""The fused numba ReL-PSP kernels (issue 17 item 1) against the ``[B, n, T]`` tensor formulation they replace
(the oracle, ``impl="tensor"``): spike steps and real times bit for bit, gradients to float rounding, on
many random layers, both dtypes, and on whole networks with dense and conv (synapse-matrix) layers. The
finite-difference test of eqs. 13/14 in test_stdbp.py runs on the fused kernels (the CPU default)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from snnc.trainers.common import parse_arch  # noqa: E402
from snnc.trainers.relpsp_torch import dense_relpsp  # noqa: E402
from snnc.trainers.stdbp_model import StdbpNet  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run_layer(impl: str, t_in: torch.Tensor, w: torch.Tensor, coeff: torch.Tensor, T: int, theta: float = 1.0,
              grad_in: bool = True, grad_w: bool = True) -> tuple[torch.Tensor, ...]:
    """Steps, real times and the gradients of ``sum(coeff * (t_real + step))``."""
    a = t_in.clone().requires_grad_(grad_in)
    b = w.clone().requires_grad_(grad_w)
    step, real = dense_relpsp(a, b, theta, T, impl=impl)
    if grad_in or grad_w:
        (coeff * (real + step)).sum().backward()
    return step, real, a.grad, b.grad


def spec_steps(t_in: np.ndarray, w: np.ndarray, theta: float, T: int) -> np.ndarray:
    """SPEC snn.ReLPSP step by step in float64: first t with V[t] >= theta (T: none)."""
    B, m = t_in.shape
    out = np.full((B, w.shape[0]), T)
    K = np.zeros((B, w.shape[0]))
    V = np.zeros_like(K)
    for t in range(T):
        V = V + K
        K = K + (t_in == t).astype(np.float64) @ w.T
        out[(V >= theta) & (out == T)] = t
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("seed", range(12))
def test_fused_layer_equals_the_tensor_formulation(dtype: torch.dtype, seed: int) -> None:
    rng = np.random.default_rng(seed)
    T = int(rng.integers(2, 80))
    B, m, n = (int(v) for v in rng.integers(1, [9, 70, 50]))
    t_in = torch.from_numpy(rng.integers(0, T + 1, size=(B, m)).astype(np.float64)).to(dtype)
    w = torch.from_numpy(rng.normal(rng.uniform(0, 0.1), 0.15, size=(n, m))).to(dtype)
    coeff = torch.from_numpy(rng.normal(size=(B, n))).to(dtype)
    ref = run_layer("tensor", t_in, w, coeff, T)
    got = run_layer("fused", t_in, w, coeff, T)
    assert torch.equal(got[0], ref[0])  # steps, bit for bit
    assert torch.equal(got[1], ref[1])  # real spike times, bit for bit
    for a, b in zip(got[2:], ref[2:], strict=True):  # float32: sums in another order, error relative to the largest
        tol = {} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-5 * float(b.abs().max())}
        torch.testing.assert_close(a, b, **tol)
    assert got[0].dtype == dtype and got[3].dtype == dtype


def test_fused_layer_covers_firing_silent_and_late_neurons() -> None:
    """Cases the random test may miss: no input spikes at all, inputs at the last step, neurons that cross
    only at V[T] (step T: treated as silent), negative weights, and only one of the two gradients wanted."""
    T = 6
    t_in = torch.tensor([[0.0, 1.0, 6.0], [6.0, 6.0, 6.0], [5.0, 0.0, 2.0]])
    w = torch.tensor([[0.5, 0.5, 1.0], [0.1, 0.0, 0.0], [-1.0, 2.0, 0.3], [0.1875, 0.0, 0.0]])
    coeff = torch.ones(3, 4)
    ref = run_layer("tensor", t_in, w, coeff, T)
    got = run_layer("fused", t_in, w, coeff, T)
    assert got[0].tolist() == ref[0].tolist()
    assert (got[0][1] == T).all()  # no input spikes: silent
    assert got[0][0, 3] == T and got[1][0, 3] < T  # V[5] = 0.94, V[T] = 1.125: step T
    assert torch.equal(got[1], ref[1])
    torch.testing.assert_close(got[2], ref[2])
    torch.testing.assert_close(got[3], ref[3])
    for grad_in, grad_w in ((True, False), (False, True)):
        r = run_layer("tensor", t_in, w, coeff, T, grad_in=grad_in, grad_w=grad_w)
        f = run_layer("fused", t_in, w, coeff, T, grad_in=grad_in, grad_w=grad_w)
        for a, b in zip(f[2:], r[2:], strict=True):
            assert (a is None) == (b is None)
            if a is not None:
                torch.testing.assert_close(a, b)


@pytest.mark.parametrize("seed", range(4))
def test_fused_steps_equal_the_spec_recurrence(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    T, B, m, n = 40, 5, 50, 30
    t_in = rng.integers(0, T + 1, size=(B, m)).astype(np.float32)
    w = (rng.integers(-10, 14, size=(n, m)) / 128).astype(np.float32)  # dyadic: exact sums in any order
    step, _ = dense_relpsp(torch.from_numpy(t_in), torch.from_numpy(w), 1.0, T, impl="fused")
    expected = spec_steps(t_in, w.astype(np.float64), 1.0, T)
    np.testing.assert_array_equal(step.numpy(), expected)
    assert (expected < T).any() and (expected == T).any()


def test_cpu_default_is_fused_and_bad_impl_is_refused() -> None:
    t_in = torch.tensor([[0.0, 1.0]])
    w = torch.tensor([[1.0, 1.0]], requires_grad=True)
    step, _ = dense_relpsp(t_in, w, 1.0, 4)
    assert type(step.grad_fn).__name__ == "_FusedDenseRelpspBackward"
    step, _ = dense_relpsp(t_in, w, 1.0, 4, impl="tensor")
    assert type(step.grad_fn).__name__ == "_DenseRelpspBackward"
    with pytest.raises(ValueError, match="impl must be one of"):
        dense_relpsp(t_in, w, 1.0, 4, impl="numba")


@pytest.mark.parametrize("arch", ["30-20-12-5", "9x9-2C3-P2-3C2p1-6-4", "8x8-3C3-P2-5"])
def test_network_gradients_fused_equal_tensor(arch: str) -> None:
    """Whole STDBP networks (dense, conv run as synapse matrices, pooling): every layer's steps bit for bit,
    the loss gradient of every weight to float rounding."""
    rng = np.random.default_rng(7)
    parsed = parse_arch(arch)
    x = torch.from_numpy(rng.uniform(0, 1, size=(16, *parsed.input_shape)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, parsed.num_classes, size=16))
    results = []
    for impl in ("tensor", "fused"):
        net = StdbpNet(parsed, time_steps=24, threshold=1.0)
        net.dense_impl = impl
        net.init_weights(x, generator=torch.Generator().manual_seed(1))
        outs = net(x)
        loss = torch.nn.functional.cross_entropy(-outs[-1][1] / 2.0, y)
        loss.backward()
        results.append(([o[0] for o in outs], [v.grad for v in net.weights]))
    (steps_a, grads_a), (steps_b, grads_b) = results
    for a, b in zip(steps_a, steps_b, strict=True):
        assert torch.equal(a, b)
    assert (steps_a[-1] < 24).any()
    for a, b in zip(grads_a, grads_b, strict=True):
        assert a.abs().sum() > 0
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("arch", "layer"),
                         [("9x9-3C3-5", 0), ("10x10-2C3-P2-4C3p1-5", 1), ("2x11x9-3C2p1-P3-2C2-4", 1)])
def test_fused_conv_layer_equals_the_tensor_matrix_path(dtype: torch.dtype, arch: str, layer: int) -> None:
    """A conv layer (pooling, padding, odd sizes) on the fused conv kernels against the tensor formulation
    on its synapse matrix (the pre-issue-17 path): steps and real times bit for bit, input and kernel
    gradients to float rounding."""
    from snnc.trainers.relpsp_torch import fused_conv_relpsp

    rng = np.random.default_rng(len(arch) + layer)
    net = StdbpNet(parse_arch(arch), time_steps=20, threshold=1.0).to(dtype)
    plan = net.plans[layer]
    seen = set()
    for mean in (-0.04, 0.0, 0.08):
        t0 = torch.from_numpy(rng.integers(0, 21, size=(5, *plan.in_shape)).astype(np.float64)).to(dtype)
        w = torch.from_numpy(rng.normal(mean, 0.2, size=plan.weight_shape)).to(dtype)
        coeff = torch.from_numpy(rng.normal(size=(5, *plan.out_shape))).to(dtype)
        net.dense_impl = "tensor"
        w1, t1 = w.clone().requires_grad_(True), t0.clone().requires_grad_(True)
        s1, r1 = net.layer(layer, t1, w1)
        (coeff * (r1 + s1)).sum().backward()
        w2, t2 = w.clone().requires_grad_(True), t0.clone().requires_grad_(True)
        s2, r2 = fused_conv_relpsp(t2, w2, 1.0, 20, net.conv_geometry(layer))
        (coeff * (r2 + s2)).sum().backward()
        assert torch.equal(s1, s2) and torch.equal(r1, r2)
        seen |= set((s2 < 20).flatten().tolist())
        # float32 sums of many G (s - t*) terms in another order: error relative to the largest entry
        tol = {} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-4 * float(w1.grad.abs().max())}
        torch.testing.assert_close(w2.grad, w1.grad, **tol)
        torch.testing.assert_close(t2.grad, t1.grad)
        net.dense_impl = "auto"  # the model's own choice on the CPU is the fused conv kernel
        s3, _ = net.layer(layer, t0, w)
        assert torch.equal(s3, s1)
    assert seen == {True, False}  # the cases cover firing and silent neurons


@pytest.mark.parametrize("arch", ["30-20-12-5", "10x10-2C3-P2-4C3p1-5"])
def test_fused_kernels_give_the_same_values_on_any_number_of_threads(arch: str) -> None:
    """The kernels run chunks of samples on numba's threads (as many as torch's); the chunks are fixed and the
    weight gradient is summed chunk by chunk in order, so 1 and 2 threads give every value bit for bit.
    Batch 13: chunks of unequal size."""
    rng = np.random.default_rng(3)
    parsed = parse_arch(arch)
    x = torch.from_numpy(rng.uniform(0, 1, size=(13, *parsed.input_shape)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, parsed.num_classes, size=13))
    results = []
    for threads in (1, 2, 1):
        torch.set_num_threads(threads)
        net = StdbpNet(parsed, time_steps=24, threshold=1.0)
        net.init_weights(x, generator=torch.Generator().manual_seed(1))
        outs = net(x)
        torch.nn.functional.cross_entropy(-outs[-1][1] / 2.0, y).backward()
        results.append(([o[0] for o in outs], [v.grad for v in net.weights]))
    for steps, grads in results[1:]:
        for a, b in zip(steps, results[0][0], strict=True):
            assert torch.equal(a, b)
        for a, b in zip(grads, results[0][1], strict=True):
            assert torch.equal(a, b)
    assert any(g.abs().sum() > 0 for g in results[0][1])
