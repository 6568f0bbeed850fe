"""Benchmark: one SGD training step of a 784-512-256-10 ReLU MLP, batch 256.

    .venv/bin/python benchmarks/bench_mlp.py [--rounds 5] [--steps 40] [--torch-python PATH]

A step is forward, softmax cross-entropy, backward and the SGD update, exactly
what coursekit.train.fit does per mini-batch (the first layer skips dJ/dX).

Every measurement runs in a process of its own: PyTorch's OpenMP threads keep
spinning after each call and OpenBLAS's threads do the same, so two frameworks in
one process slow each other down.  The processes alternate (coursekit, PyTorch,
PyTorch, coursekit, ...) for ``--rounds`` rounds, each timing ``--steps`` steps
after a warm-up; the fastest step over all rounds of each framework is kept, so a
burst of load from elsewhere on the machine does not count.  --threads N fixes the
BLAS and PyTorch thread pools (default: each library's own choice, one per core).

Reported: ms per step, GFLOP/s of the step's matrix products, the time of those
products alone in NumPy (GEMM, the floor for any NumPy implementation), and the
ratio coursekit / PyTorch in float32 (target: <= 1).

PyTorch is not a dependency of coursekit: give an interpreter that has it with
--torch-python (or the TORCH_PYTHON environment variable), e.g. a separate venv:
    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch numpy
Exit status 1 if a target is missed: float32 step at >= 50% of the GEMM rate, and
(when PyTorch is measured) coursekit at or under PyTorch's time.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIZES = (784, 512, 256, 10)
BATCH = 256
GEMM_TARGET = 0.5  # fraction of the GEMM rate to reach in float32
ROOT = Path(__file__).resolve().parents[1]


def matmul_flops(batch: int = BATCH) -> int:
    """FLOPs of the products in one step: 3 products of 2 N in out per Linear, less the first dX."""
    total = sum(3 * 2 * batch * d_in * d_out for d_in, d_out in zip(SIZES[:-1], SIZES[1:]))
    return total - 2 * batch * SIZES[0] * SIZES[1]


def step_times(fn, steps: int, warmup: int = 5) -> dict[str, float]:
    """Fastest and median wall time of one call of ``fn`` over ``steps`` calls, after a warm-up."""
    for _ in range(warmup):
        fn()
    times, cpu = [], []
    for _ in range(steps):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    # with one thread, CPU time is the wall time the step would take on an idle core
    return {"min": float(np.min(times)), "median": float(np.median(times)), "cpu_min": float(np.min(cpu))}


# ----------------------------------------------------------------------------
# The three workers, each run in a process of its own
# ----------------------------------------------------------------------------
def coursekit_step(dtype, seed: int = 0):
    """One training step of the MLP in coursekit, as fit does it."""
    from coursekit import layers, losses, optim, train  # the worker may run without coursekit on the path

    rng = np.random.default_rng(seed)
    modules = []
    for i, (d_in, d_out) in enumerate(zip(SIZES[:-1], SIZES[1:])):
        modules.append(layers.Linear(d_in, d_out, rng=seed + i, dtype=dtype))
        if i < len(SIZES) - 2:
            modules.append(layers.ReLU())
    model = layers.Sequential(*modules)
    X = rng.standard_normal((BATCH, SIZES[0])).astype(dtype)
    y = rng.integers(0, SIZES[-1], BATCH)
    loss, opt = losses.SoftmaxCrossEntropy(), optim.SGD(lr=1e-3)
    check_dtype(model, loss, X, y, dtype)

    def step():
        train.train_step(model, loss, opt, X, y)  # what fit does for every mini-batch
    return step


def check_dtype(model, loss, X, y, dtype) -> None:
    """One pass layer by layer: every array must stay ``dtype`` (no silent float64)."""
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


def gemm_step(dtype, seed: int = 1):
    """Exactly the step's matrix products (same shapes, same transposed views), nothing else."""
    rng = np.random.default_rng(seed)
    arrays = [(rng.standard_normal((BATCH, d_in)).astype(dtype),     # X
               rng.standard_normal((d_out, d_in)).astype(dtype),     # W
               rng.standard_normal((BATCH, d_out)).astype(dtype))    # dS
              for d_in, d_out in zip(SIZES[:-1], SIZES[1:])]

    def products():
        for i, (X, W, dS) in enumerate(arrays):
            X @ W.T       # forward
            if i > 0:
                dS @ W    # dX (not for the first layer: X is data)
            dS.T @ X      # dW
    return products


def torch_step(dtype):
    """The same network and step in PyTorch (float32 only)."""
    import torch  # only in the PyTorch worker's interpreter

    if dtype != np.float32:
        raise ValueError("the PyTorch comparison is in float32")
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


def torch_gemm_step(dtype):
    """The step's matrix products in PyTorch, nothing else (PyTorch's GEMM floor)."""
    import torch

    if dtype != np.float32:
        raise ValueError("the PyTorch comparison is in float32")
    arrays = [(torch.randn(BATCH, d_in), torch.randn(d_out, d_in), torch.randn(BATCH, d_out))
              for d_in, d_out in zip(SIZES[:-1], SIZES[1:])]

    def products():
        for i, (X, W, dS) in enumerate(arrays):
            X @ W.T
            if i > 0:
                dS @ W
            dS.T @ X
    return products


WORKERS = {"coursekit": coursekit_step, "gemm": gemm_step, "torch": torch_step, "torch-gemm": torch_gemm_step}


def run_worker(name: str, dtype_name: str, steps: int) -> None:
    """Time one worker and print {"min", "median", "cpu_min"} (seconds) as JSON on stdout."""
    if name.startswith("torch") and os.environ.get("OMP_NUM_THREADS"):
        import torch

        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    step = WORKERS[name](np.dtype(dtype_name).type)
    print(json.dumps(step_times(step, steps)))


# ----------------------------------------------------------------------------
# The driver: alternating processes, best round of each
# ----------------------------------------------------------------------------
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def measure(python: str, name: str, dtype_name: str, steps: int, threads: int | None) -> float:
    """The fastest step of ``steps`` in a new process (the statistic least hurt by other load)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if threads:
        env.update({variable: str(threads) for variable in THREAD_VARIABLES})
    out = subprocess.run([python, __file__, "--worker", name, "--dtype", dtype_name,
                          "--steps", str(steps)], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{name} worker failed:\n{out.stderr}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["min"])


def torch_interpreter(given: str | None) -> str | None:
    """An interpreter that can import torch: --torch-python, $TORCH_PYTHON, or this one."""
    for python in (given, os.environ.get("TORCH_PYTHON"), sys.executable):
        if python and subprocess.run([python, "-c", "import torch"], capture_output=True).returncode == 0:
            return python
    return None


def best_times(jobs: list[tuple[str, str, str]], rounds: int, steps: int,
               threads: int | None) -> dict[tuple[str, str], float]:
    """Best time over ``rounds`` processes of each job (python, worker, dtype), alternating."""
    best: dict[tuple[str, str], float] = {}
    for r in range(rounds):
        for python, name, dtype_name in (jobs if r % 2 == 0 else jobs[::-1]):
            t = measure(python, name, dtype_name, steps, threads)
            key = (name, dtype_name)
            best[key] = min(best.get(key, np.inf), t)
    return best


def main(rounds: int, steps: int, torch_python: str | None, threads: int | None) -> bool:
    flops = matmul_flops()
    jobs = [(sys.executable, name, dtype) for dtype in ("float32", "float64")
            for name in ("coursekit", "gemm")]
    python_torch = torch_interpreter(torch_python)
    if python_torch:
        jobs[1:1] = [(python_torch, "torch", "float32"), (python_torch, "torch-gemm", "float32")]
    print(f"MLP {'-'.join(map(str, SIZES))}, ReLU, softmax cross-entropy, SGD, batch {BATCH}; "
          f"{flops / 1e6:.1f} MFLOP of matrix products per step; each number: the fastest step of "
          f"{steps} in each of {rounds} processes; threads: {threads or 'library defaults'}")
    best = best_times(jobs, rounds, steps, threads)
    print(f"{'':>10} {'dtype':>8} {'ms/step':>8} {'GFLOP/s':>8}")
    for (name, dtype_name), t in best.items():
        print(f"{name:>10} {dtype_name:>8} {t * 1e3:>8.2f} {flops / t / 1e9:>8.1f}")
    gemm_share = best[("gemm", "float32")] / best[("coursekit", "float32")]
    met = gemm_share >= GEMM_TARGET
    print(f"float32: the matrix products are {gemm_share:.0%} of coursekit's step "
          f"(target >= {GEMM_TARGET:.0%}): {'met' if met else 'MISSED'}")
    if python_torch is None:
        print("PyTorch: no interpreter with torch (use --torch-python or TORCH_PYTHON); comparison skipped")
        return met
    ratio = best[("coursekit", "float32")] / best[("torch", "float32")]
    gemms = best[("gemm", "float32")] / best[("torch-gemm", "float32")]
    print(f"float32: coursekit / PyTorch time = {ratio:.2f} (target <= 1: "
          f"{'met' if ratio <= 1 else 'MISSED'}; PyTorch from {python_torch}); "
          f"the matrix products alone, NumPy / PyTorch = {gemms:.2f}")
    return met and ratio <= 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="processes per framework (best is kept)")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per process")
    parser.add_argument("--torch-python", help="a Python interpreter that can import torch")
    parser.add_argument("--threads", type=int, help="threads per process for BLAS and PyTorch (default: theirs)")
    parser.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        run_worker(args.worker, args.dtype, args.steps)
        sys.exit(0)
    sys.exit(0 if main(args.rounds, args.steps, args.torch_python, args.threads) else 1)
