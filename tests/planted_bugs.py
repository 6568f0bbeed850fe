"""Planted bugs: layers and losses with one classic mistake each.

The gradient-check tests (tests/test_gradcheck.py) and the checker's benchmark
(benchmarks/bench_gradcheck.py) both use them: a checker is only trustworthy if
it flags every one of these and passes the correct originals.
"""
from coursekit import layers as L
from coursekit import losses


class TransposedLinear(L.Linear):
    """Bug: dW = (dout^T X)^T, which only has the right shape when W is square."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["W"] = self.grads["W"].T.copy()
        return dx


class OneWrongBiasLinear(L.Linear):
    """Bug: a single entry of db has the wrong sign (what a sparse check can miss)."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["b"] = self.grads["b"].copy()
        self.grads["b"][7] *= -1.0
        return dx


class NoMeanTermBatchNorm(L.BatchNorm):
    """Bug: the batch-norm backward forgets the term -sum_n g_n that comes through mu."""

    def backward(self, dy):
        c = self._last_cache()
        g = dy * c.gamma
        n = dy.shape[0]
        self.grads["gamma"] = (dy * c.xhat).sum(axis=0)
        self.grads["beta"] = dy.sum(axis=0)
        return (c.inv_std / n) * (n * g - c.xhat * (g * c.xhat).sum(axis=0))


class SignErrorReLU(L.ReLU):
    """Bug: the ReLU derivative with the wrong sign."""

    def backward(self, dy):
        return -super().backward(dy)


class SignErrorTanh(L.Tanh):
    """Bug: the derivative of tanh with the wrong sign, tanh(s)^2 - 1."""

    def backward(self, dy):
        return -super().backward(dy)


class SumNotMeanCrossEntropy(losses.SoftmaxCrossEntropy):
    """Bug: the loss is the batch mean, but its gradient misses the 1/N."""

    def backward(self):
        g = super().backward()
        return g * g.shape[0]


def penalty_without_gradient(params, lam):
    """Bug: the L2 value is added to the loss but its gradient 2 lambda W is not."""
    value, _ = losses.l2_penalty(params, lam)
    return value, {}
