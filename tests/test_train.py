"""Tests of coursekit.train: the loop learns, records its history, regularises and is reproducible."""
import numpy as np
import pytest

from coursekit import data, layers, losses, optim, train


def mlp(d_in, hidden, d_out, seed=0):
    return layers.Sequential(layers.Linear(d_in, hidden, rng=seed), layers.ReLU(),
                             layers.Linear(hidden, d_out, rng=seed + 1))


def test_learns_xor():
    X, y = data.xor(n=200, noise=0.1, rng=0)
    model = mlp(2, 16, 2)
    history = train.fit(model, losses.SoftmaxCrossEntropy(), optim.Adam(lr=0.05), X, y,
                        epochs=20, batch_size=32, rng=0, progress=False)
    assert history.train_acc[-1] == 1.0
    assert history.train_loss[-1] < 0.05
    # a linear model cannot do better than 3 of the 4 corners
    linear = layers.Sequential(layers.Linear(2, 2, rng=0))
    h_lin = train.fit(linear, losses.SoftmaxCrossEntropy(), optim.Adam(lr=0.05), X, y,
                      epochs=20, batch_size=32, rng=0, progress=False)
    assert h_lin.train_acc[-1] <= 0.8


def test_learns_blobs_with_validation_and_history_lengths():
    X, y = data.blobs(n=600, num_classes=4, noise=1.0, rng=1)
    Xtr, ytr, Xva, yva, Xte, yte = data.train_val_test_split(X, y, rng=1)
    model = mlp(2, 32, 4)
    loss = losses.SoftmaxCrossEntropy()
    history = train.fit(model, loss, optim.Momentum(lr=0.05), Xtr, ytr, Xva, yva,
                        epochs=7, batch_size=32, rng=1, progress=False)
    assert len(history) == 7
    for name in ("train_cost", "train_loss", "train_acc", "val_loss", "val_acc", "lr"):
        assert len(getattr(history, name)) == 7, name
    assert history.val_acc[-1] > 0.95
    test_loss, test_acc = train.evaluate(model, loss, Xte, yte)
    assert test_acc > 0.95 and test_loss < 0.3
    # the last recorded numbers are those of the final model
    assert history.val_loss[-1] == pytest.approx(train.evaluate(model, loss, Xva, yva)[0])
    table = history.table()
    assert table.count("\n") == 7 and "val acc" in table


def test_without_validation_the_val_lists_stay_empty():
    X, y = data.blobs(n=60, rng=0)
    history = train.fit(mlp(2, 8, 3), losses.SoftmaxCrossEntropy(), optim.SGD(lr=0.1), X, y,
                        epochs=3, batch_size=16, rng=0, progress=False)
    assert len(history) == 3 and history.val_loss == [] and history.val_acc == []
    assert "val" not in history.table()


def test_l2_shrinks_the_weights_and_is_in_the_cost():
    X, y = data.circles(n=200, noise=0.1, rng=0)
    norms, histories = {}, {}
    for lam in (0.0, 0.05):
        model = mlp(2, 32, 2)
        histories[lam] = train.fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(lr=0.1), X, y,
                                   epochs=15, batch_size=20, lam=lam, rng=0, progress=False)
        norms[lam] = sum(np.sum(w**2) for k, w in model.params.items() if k.endswith("W"))
        penalty = lam * norms[lam]
        np.testing.assert_allclose(histories[lam].train_cost[-1],
                                   histories[lam].train_loss[-1] + penalty, rtol=1e-12)
    assert norms[0.05] < 0.7 * norms[0.0]
    assert histories[0.0].train_cost == histories[0.0].train_loss


def test_l2_gradient_is_added_to_each_step():
    # one full-batch SGD step with lam: W <- W - lr (dJ/dW + 2 lam W), b without the penalty
    X, y = data.blobs(n=12, rng=0)
    model, loss, lam, lr = mlp(2, 4, 3), losses.SoftmaxCrossEntropy(), 0.3, 0.1
    before = {k: v.copy() for k, v in model.params.items()}
    loss.forward(model.forward(X), y)
    model.backward(loss.backward())
    grads = {k: g.copy() for k, g in model.grads.items()}
    model2 = mlp(2, 4, 3)
    train.fit(model2, loss, optim.SGD(lr=lr), X, y, epochs=1, batch_size=12, lam=lam,
              rng=0, progress=False)
    for k, w in model2.params.items():
        penalty = 2 * lam * before[k] if k.endswith("W") else 0.0
        np.testing.assert_allclose(w, before[k] - lr * (grads[k] + penalty), rtol=1e-10, atol=1e-12)


def test_same_seed_same_history():
    X, y = data.two_spirals(n=100, rng=0)
    runs = [train.fit(mlp(2, 16, 2, seed=3), losses.SoftmaxCrossEntropy(), optim.Adam(lr=0.01),
                      X, y, epochs=3, batch_size=10, rng=seed, progress=False)
            for seed in (5, 5, 6)]
    assert runs[0] == runs[1]
    assert runs[0].train_loss != runs[2].train_loss


def test_lr_schedule_is_applied_per_epoch():
    X, y = data.blobs(n=30, rng=0)
    opt = optim.SGD(lr=1.0)
    history = train.fit(mlp(2, 4, 3), losses.SoftmaxCrossEntropy(), opt, X, y, epochs=4,
                        batch_size=10, rng=0, progress=False,
                        lr_schedule=lambda k: optim.step_decay(0.1, k, drop=0.5, every=2))
    assert history.lr == pytest.approx([0.1, 0.1, 0.05, 0.05])


def test_progress_false_prints_nothing_and_true_draws_a_bar(capsys):
    X, y = data.xor(n=20, rng=0)
    args = (losses.SoftmaxCrossEntropy(), optim.SGD(), X, y)
    train.fit(mlp(2, 4, 2), *args, epochs=2, batch_size=5, rng=0, progress=False)
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    train.fit(mlp(2, 4, 2), *args, epochs=2, batch_size=5, rng=0, progress=True)
    out, err = capsys.readouterr()
    assert "2/2" in out + err


def test_fits_mse_on_one_hot_targets():
    X, y = data.blobs(n=150, rng=2)
    Y = data.one_hot(y, 3)
    model = mlp(2, 16, 3)
    history = train.fit(model, losses.MSE(), optim.Adam(lr=0.01), X, Y, epochs=15,
                        batch_size=16, rng=0, progress=False)
    assert history.train_acc[-1] > 0.95
    np.testing.assert_array_equal(train.predict(model, X) == y, np.argmax(model.forward(X, train=False), 1) == y)


def test_accuracy_and_predict():
    scores = np.array([[2.0, 1.0], [0.0, 3.0], [5.0, -1.0], [0.1, 0.2]])
    assert train.accuracy(scores, np.array([0, 1, 1, 1])) == 0.75
    assert train.accuracy(scores, data.one_hot(np.array([0, 1, 1, 1]), 2)) == 0.75
    model = layers.Sequential(layers.Linear(2, 2, rng=0))
    X = np.random.default_rng(0).normal(size=(2500, 2))  # more rows than one evaluation chunk
    np.testing.assert_array_equal(train.predict(model, X), (X @ model.params["0.W"].T).argmax(1))
    with pytest.raises(ValueError, match=r"C >= 2"):
        train.accuracy(np.ones((3, 1)), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match=r"expected labels of shape \(4,\)"):
        train.accuracy(scores, np.zeros(3, dtype=int))


def test_evaluate_in_chunks_equals_one_pass():
    X, y = data.blobs(n=50, rng=0)
    model, loss = mlp(2, 8, 3), losses.SoftmaxCrossEntropy()
    whole = train.evaluate(model, loss, X, y, batch_size=50)
    chunked = train.evaluate(model, loss, X, y, batch_size=7)
    np.testing.assert_allclose(chunked, whole, rtol=1e-12)
    assert whole[0] == pytest.approx(loss.forward(model.forward(X, train=False), y))


def test_fit_errors():
    X, y = data.xor(n=20, rng=0)
    args = (mlp(2, 4, 2), losses.SoftmaxCrossEntropy(), optim.SGD(), X, y)
    with pytest.raises(ValueError, match="both X_val and y_val"):
        train.fit(*args, X_val=X, progress=False)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        train.fit(*args, lam=-1.0, progress=False)
    with pytest.raises(ValueError, match="epochs"):
        train.fit(*args, epochs=0, progress=False)


def test_demo_reaches_its_threshold(capsys):
    from coursekit import demo

    accuracy = demo.main()
    assert accuracy > demo.THRESHOLD
    out = capsys.readouterr().out
    assert "test accuracy" in out and out.count("\n") >= 12  # header, table, result


def test_evaluation_runs_in_test_mode():
    # with dropout, a training-mode pass is random; evaluation must switch it off
    X, y = data.blobs(n=40, rng=0)
    model = layers.Sequential(layers.Linear(2, 16, rng=0), layers.ReLU(), layers.Dropout(0.5, rng=1),
                              layers.Linear(16, 3, rng=2))
    loss = losses.SoftmaxCrossEntropy()
    first, second = train.evaluate(model, loss, X, y), train.evaluate(model, loss, X, y)
    assert first == second
    assert first[0] == pytest.approx(loss.forward(model.forward(X, train=False), y))


def test_float32_model_trains_and_stays_float32():
    X, y = data.blobs(n=120, rng=0)
    X = X.astype(np.float32)
    model = layers.Sequential(layers.Linear(2, 16, rng=0, dtype=np.float32), layers.ReLU(),
                              layers.Linear(16, 3, rng=1, dtype=np.float32))
    opt = optim.Adam(lr=0.01)
    history = train.fit(model, losses.SoftmaxCrossEntropy(), opt, X, y,
                        epochs=5, batch_size=16, lam=1e-3, rng=0, progress=False)
    assert history.train_acc[-1] > 0.95
    for name, arr in {**model.params, **model.grads}.items():
        assert arr.dtype == np.float32, f"{name} became {arr.dtype}"
    for name, state in opt.state.items():  # Adam's moments must not be upcast either
        assert state["s"].dtype == state["r"].dtype == np.float32, name


def test_fit_accepts_any_model_with_the_api_backward():
    """A user's own model whose backward takes only dy (the API contract) trains too."""
    from coursekit import data, layers, losses, optim, train

    class Wrapped:
        def __init__(self):
            self.inner = layers.Sequential(layers.Linear(2, 8, rng=0), layers.Tanh(), layers.Linear(8, 3, rng=1))
            self.params = self.inner.params

        @property
        def grads(self):
            return self.inner.grads

        def forward(self, x, train=True):
            return self.inner.forward(x, train=train)

        def backward(self, dy):
            return self.inner.backward(dy)

    X, y = data.blobs(200, rng=0)
    model = Wrapped()
    history = train.fit(model, losses.SoftmaxCrossEntropy(), optim.SGD(lr=0.1), X, y, epochs=3, rng=0, progress=False)
    assert len(history) == 3


@pytest.mark.parametrize("make, rule", [
    (lambda: optim.SGD(lr=0.1), optim.sgd_update),
    (lambda: optim.Momentum(lr=0.05, momentum=0.9), optim.momentum_update),
    (lambda: optim.Nesterov(lr=0.05, momentum=0.8), optim.nesterov_update),
    (lambda: optim.AdaGrad(lr=0.05), optim.adagrad_update),
    (lambda: optim.RMSProp(lr=0.01, rho=0.8), optim.rmsprop_update),
    (lambda: optim.Adam(lr=0.01, beta1=0.8, beta2=0.9), optim.adam_update),
], ids=["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"])
def test_fit_follows_the_optimisers_rule_step_by_step(make, rule):
    """fit's trajectory is exactly the rule applied with one state per parameter, kept
    across steps and epochs (an accuracy threshold would let a broken optimiser pass)."""
    X, y = data.blobs(n=48, rng=0)
    loss, opt = losses.SoftmaxCrossEntropy(), make()
    model, twin = mlp(2, 6, 3), mlp(2, 6, 3)
    train.fit(model, loss, opt, X, y, epochs=2, batch_size=16, lam=0.01, rng=3, progress=False)
    states = {k: dict(opt.hyper) for k in twin.params}
    gen = np.random.default_rng(3)  # fit draws the mini-batch order from this stream
    for _ in range(2):
        for Xb, yb in data.minibatches(X, y, 16, rng=gen):
            loss.forward(twin.forward(Xb), yb)
            twin.backward(loss.backward())
            for k, w in twin.params.items():
                g = twin.grads[k] + (2 * 0.01 * w if w.ndim == 2 else 0.0)
                w[...], states[k] = rule(w, g, states[k])
    for k, w in model.params.items():
        np.testing.assert_allclose(w, twin.params[k], rtol=1e-12, atol=1e-14, err_msg=k)
    for k, state in opt.state.items():
        for name, value in states[k].items():
            np.testing.assert_allclose(state[name], value, rtol=1e-12, atol=1e-14, err_msg=f"{k} {name}")


def test_train_step_is_one_step_of_the_rule_with_the_l2_gradient():
    X, y = data.blobs(n=10, rng=0)
    model, twin, loss = mlp(2, 4, 3), mlp(2, 4, 3), losses.SoftmaxCrossEntropy()
    train.train_step(model, loss, optim.SGD(lr=0.1), X, y, lam=0.2)
    loss.forward(twin.forward(X), y)
    twin.backward(loss.backward())
    for k, w in twin.params.items():
        g = twin.grads[k] + (2 * 0.2 * w if w.ndim == 2 else 0.0)
        np.testing.assert_allclose(model.params[k], w - 0.1 * g, rtol=1e-12, atol=1e-15)
