"""Benchmark: one SGD training step of a 784-512-256-10 ReLU MLP, batch 256.

    .venv/bin/python benchmarks/bench_mlp.py [--steps 30]

For float32 and float64 it reports the time per step (forward, softmax
cross-entropy, backward, SGD update) and the achieved GFLOP/s, counting the
matrix-product FLOPs the step really performs: for every Linear(in, out) on a
batch of N rows, 2 N in out for S = X W^T, 2 N in out for dW = dS^T X and
2 N in out for dX = dS W, except the first layer's dX, which training skips
(``model.backward(g, input_grad=False)``, as coursekit.train.fit does).

The reference is NumPy's own GEMM rate, measured in the same run on the very
same products (same shapes, same transposed views) with nothing else around
them.  The ratio achieved / GEMM says how much time coursekit spends outside
the matrix products (element-wise layers, checks, the loss, the update).
Target: at least 50% of the GEMM rate in float32.  Exit status 1 if missed.

If PyTorch is importable, the same network and step in PyTorch are timed too.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from coursekit import layers, losses, optim

SIZES = (784, 512, 256, 10)
BATCH = 256
TARGET = 0.5  # fraction of the GEMM rate to reach in float32


def build(dtype, seed: int = 0):
    """The MLP, a random batch and its labels, all in ``dtype``."""
    rng = np.random.default_rng(seed)
    modules = []
    for i, (d_in, d_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        modules.append(layers.Linear(d_in, d_out, rng=seed + i, dtype=dtype))
        if i < len(SIZES) - 2:
            modules.append(layers.ReLU())
    X = rng.standard_normal((BATCH, SIZES[0])).astype(dtype)
    y = rng.integers(0, SIZES[-1], BATCH)
    return layers.Sequential(*modules), X, y


def matmul_flops(batch: int = BATCH) -> int:
    """FLOPs of the products in one step: 3 products of 2 N in out per Linear, less the first dX."""
    total = sum(3 * 2 * batch * d_in * d_out for d_in, d_out in zip(SIZES[:-1], SIZES[1:]))
    return total - 2 * batch * SIZES[0] * SIZES[1]


def train_step(model, loss, opt, X, y):
    scores = model.forward(X, train=True)
    loss.forward(scores, y)
    model.backward(loss.backward(), input_grad=False)
    opt.step(model.params, model.grads)


def check_dtype(model, loss, X, y, dtype):
    """Walk one forward/backward pass layer by layer: every array must stay ``dtype``."""
    h = X
    for i, layer in enumerate(model.layers):
        h = layer.forward(h)
        assert h.dtype == dtype, f"layer {i} ({layer!r}) forward gave {h.dtype}, expected {dtype}"
    loss.forward(h, y)
    g = loss.backward()
    assert g.dtype == dtype, f"loss gradient is {g.dtype}, expected {dtype}"
    for i in reversed(range(len(model.layers))):
        g = model.layers[i].backward(g)
        assert g.dtype == dtype, f"layer {i} backward gave {g.dtype}, expected {dtype}"
    for name, arr in {**model.params, **model.grads}.items():
        assert arr.dtype == dtype, f"{name} is {arr.dtype}, expected {dtype}"


def median_times(fns, steps: int, warmup: int = 3) -> list[float]:
    """Median wall times of several functions, timed in turn within each round.

    Interleaving the calls means that a burst of load from other processes on the
    machine slows all of them alike, so their ratio stays meaningful.
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(steps):
        for fn, record in zip(fns, times):
            start = time.perf_counter()
            fn()
            record.append(time.perf_counter() - start)
    return [float(np.median(record)) for record in times]


def median_block_times(fns, steps: int, rounds: int = 5, warmup: int = 3) -> list[float]:
    """Median wall times of several functions, each timed in blocks of ``steps`` calls.

    Used for PyTorch: its OpenMP threads keep spinning for a while after each call
    and would slow down a NumPy call made right after it, so single calls are not
    interleaved; whole blocks (each with its own warm-up) alternate instead, which
    still spreads bursts of outside load over both.
    """
    times = [[] for _ in fns]
    for _ in range(rounds):
        for fn, record in zip(fns, times):
            record.append(median_times([fn], steps, warmup)[0])
    return [float(np.median(record)) for record in times]


def gemm_only(dtype, seed: int = 1):
    """A function doing exactly the step's products, on fresh arrays, and nothing else."""
    rng = np.random.default_rng(seed)
    arrays = []
    for d_in, d_out in zip(SIZES[:-1], SIZES[1:]):
        arrays.append((rng.standard_normal((BATCH, d_in)).astype(dtype),     # X
                       rng.standard_normal((d_out, d_in)).astype(dtype),     # W
                       rng.standard_normal((BATCH, d_out)).astype(dtype)))   # dS

    def products():
        for i, (X, W, dS) in enumerate(arrays):
            X @ W.T       # forward
            if i > 0:
                dS @ W    # dX (not for the first layer: X is data)
            dS.T @ X      # dW
    return products


def torch_step_fn():
    """One training step of the same network in PyTorch (float32), or None if not importable."""
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    mods = []
    for i, (d_in, d_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        mods.append(torch.nn.Linear(d_in, d_out))
        if i < len(SIZES) - 2:
            mods.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*mods)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    X = torch.randn(BATCH, SIZES[0])
    y = torch.randint(0, SIZES[-1], (BATCH,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(net(X), y).backward()
        opt.step()
    return step


def profile(dtype, steps: int):
    """Where one step's time goes, each part timed on its own (interleaved)."""
    model, X, y = build(dtype)
    loss, opt = losses.SoftmaxCrossEntropy(), optim.SGD(lr=1e-3)
    scores = model.forward(X)
    loss.forward(scores, y)
    dscores = loss.backward()
    model.backward(dscores)
    params, grads = model.params, model.grads
    inputs = [model.forward_to(X, i) for i in range(len(model.layers))]
    outputs = [layer.forward(h) for layer, h in zip(model.layers, inputs)]
    parts = {
        "whole step": lambda: train_step(model, loss, opt, X, y),
        "GEMMs only": gemm_only(dtype),
        "forward": lambda: model.forward(X),
        "loss fwd+bwd": lambda: (loss.forward(scores, y), loss.backward()),
        "backward": lambda: model.backward(dscores, input_grad=False),
        "SGD.step": lambda: opt.step(params, grads),
        "  in place w -= lr dw": lambda: [w.__isub__(1e-3 * grads[k]) for k, w in params.items()],
        "  ReLU fwd+bwd": lambda: [(model.layers[i].forward(inputs[i]), model.layers[i].backward(outputs[i]))
                                   for i in (1, 3)],
    }
    times = median_times(list(parts.values()), steps)
    whole = times[0]
    print(f"\nprofile, {np.dtype(dtype).name} (ms, median of {steps}; share of the whole step):")
    for name, t in zip(parts, times):
        print(f"  {name:<24} {t * 1e3:8.3f}  {t / whole:6.1%}")


def run(steps: int = 30) -> bool:
    flops = matmul_flops()
    print(f"MLP {'-'.join(map(str, SIZES))}, ReLU, softmax cross-entropy, SGD, batch {BATCH}; "
          f"{flops / 1e6:.1f} MFLOP of matrix products per step; median of {steps} steps")
    print(f"{'dtype':>8} {'ms/step':>8} {'GFLOP/s':>8} {'GEMM ms':>8} {'GEMM GFLOP/s':>12} {'ratio':>6}")
    ratios = {}
    for dtype in (np.float32, np.float64):
        model, X, y = build(dtype)
        loss, opt = losses.SoftmaxCrossEntropy(), optim.SGD(lr=1e-3)
        check_dtype(model, loss, X, y, dtype)
        t_step, t_gemm = median_times(
            [lambda: train_step(model, loss, opt, X, y), gemm_only(dtype)], steps)
        ratios[dtype] = t_gemm / t_step
        print(f"{np.dtype(dtype).name:>8} {t_step * 1e3:>8.2f} {flops / t_step / 1e9:>8.1f} "
              f"{t_gemm * 1e3:>8.2f} {flops / t_gemm / 1e9:>12.1f} {ratios[dtype]:>6.0%}")
    torch_step = torch_step_fn()
    if torch_step is None:
        print("PyTorch: not importable, comparison skipped")
    else:
        model, X, y = build(np.float32)
        loss, opt = losses.SoftmaxCrossEntropy(), optim.SGD(lr=1e-3)
        t_ours, t_torch = median_block_times([lambda: train_step(model, loss, opt, X, y), torch_step], steps)
        print(f"PyTorch float32: {t_torch * 1e3:.2f} ms/step, coursekit {t_ours * 1e3:.2f} ms/step; "
              f"coursekit / PyTorch time = {t_ours / t_torch:.2f} (target: <= 1)")
    met = ratios[np.float32] >= TARGET
    print(f"target: float32 step at >= {TARGET:.0%} of the GEMM rate: "
          f"{'met' if met else 'MISSED'} ({ratios[np.float32]:.0%})")
    return met


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    parser.add_argument("--profile", action="store_true",
                        help="also break a step down into its parts")
    args = parser.parse_args()
    met = run(args.steps)
    if args.profile:
        for dtype in (np.float32, np.float64):
            profile(dtype, args.steps)
    sys.exit(0 if met else 1)
