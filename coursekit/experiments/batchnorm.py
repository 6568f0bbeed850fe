"""Batch norm's running averages and its train-mode vs test-mode outputs.

Used by chapter 7 (batch normalisation) and the batch-norm explorer widget.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import functional as F
from .. import layers as L
from .._rng import as_generator


class BatchNormRun(NamedTuple):
    """x: (B, 1) a fresh batch; out_train: normalised with its own statistics;
    out_test: normalised with the running averages; running_mean, running_var: (steps+1,)
    the averages after each training batch; true_mean, true_var: of the input distribution."""

    x: np.ndarray
    out_train: np.ndarray
    out_test: np.ndarray
    running_mean: np.ndarray
    running_var: np.ndarray
    true_mean: float
    true_var: float


def batchnorm_run(mean: float = 3.0, std: float = 2.0, batch_size: int = 32, momentum: float = 0.9,
                  steps: int = 50, rng=0) -> BatchNormRun:
    """Feed ``steps`` training batches x ~ N(mean, std^2) through a coursekit BatchNorm(1),
    recording its running averages running <- momentum * running + (1 - momentum) * batch,
    then normalise one fresh batch in train mode (batch statistics) and in test mode
    (running averages).  gamma = 1, beta = 0, so a well-estimated output has mean 0, std 1.
    """
    gen = as_generator(rng)
    bn = L.BatchNorm(1, momentum=momentum)
    means, variances = [bn.running_mean[0]], [bn.running_var[0]]
    for _ in range(int(steps)):
        bn.forward(gen.normal(mean, std, size=(int(batch_size), 1)), train=True)
        means.append(bn.running_mean[0])
        variances.append(bn.running_var[0])
    x = gen.normal(mean, std, size=(int(batch_size), 1))
    # the functional form does not touch the layer's running averages
    out_train, _ = F.batchnorm_forward(x, bn.params["gamma"], bn.params["beta"], eps=bn.eps, train=True)
    out_test = bn.forward(x, train=False)
    return BatchNormRun(x, out_train, out_test, np.array(means), np.array(variances),
                        float(mean), float(std) ** 2)
