"""Benchmark: full vs sparse vs directional gradient checks on a ~100,000-parameter model.

    .venv/bin/python benchmarks/bench_gradcheck.py [--directions 20] [--k 20]

The model is Linear(784, 110) - BatchNorm(110) - ReLU - Linear(110, 110) - ReLU -
Linear(110, 10) with softmax cross-entropy and an L2 penalty (lambda = 1e-3),
99,890 parameters in 8 arrays, on a float64 batch of 64 random "images" (uniform
[0, 1) pixels) with random labels.

It reports, for each mode, the time and the number of forward passes of a check of
the correct model, and then a table of which planted bugs each mode catches:

    transposed W   the middle (square, 110 x 110) layer returns dW^T
    missing 1/N    the loss's backward returns N times the gradient
    missing L2     the penalty's value is in the loss, its gradient 2 lambda W is not
    BN mean term   batch norm's backward drops the -sum_n g_n term
    sign error     the second ReLU's backward has the wrong sign
    one entry      one bias entry (b[7] of the middle layer) has the wrong sign

Full mode needs 2 forward passes per parameter (about 200,000 passes here), so it is
NOT run on the whole model: it is run on a fixed subset of coordinates (the first
SUBSET coordinates, in C order, of every array, which contains every planted bug)
and its time for all 99,890 parameters is extrapolated from the rate measured on
that subset (seconds per coordinate, times the parameter count).  The table's full
column is therefore "full mode on the subset".

Timings are the best of 3 runs (the machine may be shared; other processes only
add time).  The directional time is also given relative to the same number of
bare forward passes, measured in the same run: that ratio is the checker's own
overhead and does not depend on the machine's load.

Target: directional mode with 20 directions per array finishes in under 1 s.
Exit status 1 if missed.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from coursekit import gradcheck as gc
from coursekit import layers as L
from coursekit import losses

# the planted bugs are shared with the tests, which prove each one is caught
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from planted_bugs import (
    NoMeanTermBatchNorm,
    OneWrongBiasLinear,
    SignErrorReLU,
    SumNotMeanCrossEntropy,
    TransposedLinear,
    penalty_without_gradient,
)

BATCH, HIDDEN, CLASSES, PIXELS = 64, 110, 10, 784
L2 = 1e-3
SUBSET = 400  # coordinates per array for full mode
TARGET_SECONDS = 1.0
REPEATS = 3  # timings are the best of this many runs


def build(bug: str | None = None, seed: int = 0):
    """The model, its loss and its penalty, with ``bug`` planted (None: correct)."""
    middle = {"transposed W": TransposedLinear, "one entry": OneWrongBiasLinear}.get(bug, L.Linear)
    norm = NoMeanTermBatchNorm if bug == "BN mean term" else L.BatchNorm
    relu2 = SignErrorReLU if bug == "sign error" else L.ReLU
    model = L.Sequential(
        L.Linear(PIXELS, HIDDEN, rng=seed), norm(HIDDEN), L.ReLU(),
        middle(HIDDEN, HIDDEN, rng=seed + 1), relu2(),
        L.Linear(HIDDEN, CLASSES, rng=seed + 2))
    loss = SumNotMeanCrossEntropy() if bug == "missing 1/N" else losses.SoftmaxCrossEntropy()
    penalty = penalty_without_gradient if bug == "missing L2" else losses.l2_penalty
    return model, loss, penalty


BUGS = ["transposed W", "missing 1/N", "missing L2", "BN mean term", "sign error", "one entry"]


def data(seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.random((BATCH, PIXELS)), rng.integers(0, CLASSES, BATCH)


def full_on_subset(model, loss, penalty, X, y):
    """Full mode on the first SUBSET coordinates of every array (views of the real arrays)."""
    def J():
        value = loss.forward(model.forward(X), y)
        return value + penalty(model.params, L2)[0]

    J()
    model.backward(loss.backward())
    grads = {k: g.copy() for k, g in model.grads.items()}
    for k, g in penalty(model.params, L2)[1].items():
        grads[k] = grads[k] + g
    views, gviews = {}, {}
    for name, arr in model.params.items():
        n = min(SUBSET, arr.size)
        # a writable view of the first n coordinates in C order
        views[name] = arr.reshape(-1)[:n]
        gviews[name] = grads[name].reshape(-1)[:n]
    return gc.check_gradients(J, views, gviews, mode="full", title="full mode on a subset")


def run(mode, bug, X, y, args):
    model, loss, penalty = build(bug)
    start = time.perf_counter()
    if mode == "full":
        report = full_on_subset(model, loss, penalty, X, y)
    else:
        report = gc.check_model(model, loss, X, y, l2=L2, penalty=penalty, mode=mode, k=args.k,
                                directions=args.directions, rng=1)
    return report, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directions", type=int, default=20)
    parser.add_argument("--k", type=int, default=20)
    args = parser.parse_args()
    X, y = data()
    model, _, _ = build()
    n_params = sum(a.size for a in model.params.values())
    n_arrays = len(model.params)
    print(f"model: {PIXELS}-{HIDDEN}(BN)-{HIDDEN}-{CLASSES} ReLU MLP, {n_params:,} parameters in "
          f"{n_arrays} arrays; batch {BATCH}, float64, L2 lambda={L2}")

    # time of one forward pass of the loss, the unit every mode is counted in
    loss = losses.SoftmaxCrossEntropy()
    per_pass = np.inf
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(50):
            loss.forward(model.forward(X), y) + losses.l2_penalty(model.params, L2)[0]
        per_pass = min(per_pass, (time.perf_counter() - start) / 50)
    print(f"one forward pass (loss + penalty): {per_pass * 1e3:.2f} ms\n")

    print("checks of the correct model")
    print(f"{'mode':<34}{'passes':>9}{'time':>11}  verdict")
    timings = {}
    for mode in gc.MODES:
        # the best of REPEATS runs (one for full mode): other processes on a shared
        # machine only ever add time, so the minimum is the least disturbed measurement
        runs = [run(mode, None, X, y, args) for _ in range(1 if mode == "full" else REPEATS)]
        report, seconds = runs[0][0], min(t for _, t in runs)
        timings[mode] = (report, seconds)
        label = {"full": f"full, subset ({sum(r.checked for r in report.rows):,} coords)",
                 "sparse": f"sparse (k={args.k} per array)",
                 "directional": f"directional ({args.directions} dirs per array)"}[mode]
        print(f"{label:<34}{report.evaluations:>9,}{seconds:>10.3f}s  "
              f"{report.worst.verdict} (worst {report.worst.name}: {report.worst.max_error:.1e})")
    full_report, full_seconds = timings["full"]
    coords = sum(r.checked for r in full_report.rows)
    rate = full_seconds / coords
    print(f"{'full, all parameters (extrapolated)':<34}{2 * n_params + 1:>9,}{rate * n_params:>10.1f}s  "
          f"= {rate * 1e3:.2f} ms/coordinate measured on the subset x {n_params:,}")
    d_report, d_seconds = timings["directional"]
    print(f"directional cost: 1 + 2 x {args.directions} directions x {n_arrays} arrays = "
          f"{1 + 2 * args.directions * n_arrays} passes (plus 6-10 per direction that fails)")
    print(f"directional time / (its passes x one bare forward pass) = "
          f"{d_seconds / (d_report.evaluations * per_pass):.2f} (the checker's own overhead)\n")

    print("planted bugs: the rows that FAIL in each mode (- = not caught), and the check's time")
    table = [["bug", *gc.MODES]]
    all_caught = True
    for bug in BUGS:
        cells = [bug]
        for mode in gc.MODES:
            report, seconds = run(mode, bug, X, y, args)
            failing = [r.name for r in report.rows if r.verdict == gc.FAIL]
            cells.append((",".join(failing) if failing else "-") + f" ({seconds:.2f}s)")
            if bug != "one entry":
                all_caught &= bool(failing)
        table.append(cells)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for n, row in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
        if n == 0:
            print("  ".join("-" * w for w in widths))
    print("\nsparse mode draws k of an array's n coordinates: it misses a bug confined to one\n"
          f"entry of a {HIDDEN}-entry bias with probability 1 - k/n = {1 - min(args.k, HIDDEN) / HIDDEN:.2f}; "
          "directional mode moves every entry, so it sees such a bug in every direction.")

    ok = d_seconds < TARGET_SECONDS and all_caught and timings["directional"][0].passed
    print(f"\ntarget: directional with {args.directions} directions < {TARGET_SECONDS:.0f} s: "
          f"{d_seconds:.3f} s -> {'met' if d_seconds < TARGET_SECONDS else 'MISSED'}; "
          f"correct model passes every mode: {all(t[0].passed for t in timings.values())}; "
          f"every bug but 'one entry' caught in every mode: {all_caught}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
