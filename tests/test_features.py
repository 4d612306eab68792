import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier

from scpaper import classifiers, features


def test_random_net_is_two_relu_layers_of_gaussian_weights():
    X = torch.rand(6, 12)
    z = features.random_net(X, 40, seed=3)
    gen = torch.Generator().manual_seed(3)
    W1, W2 = torch.randn(40, 12, generator=gen), torch.randn(40, 40, generator=gen)
    assert torch.allclose(z, torch.relu(torch.relu(X @ W1.T) @ W2.T), rtol=1e-5)
    assert torch.equal(z, features.random_net(X, 40, seed=3))
    # width → ∞: ⟨z(x), z(x')⟩ depends only on the geometry of x, x' (scaled by width²), so it is ~ positively homogeneous
    assert torch.allclose(features.random_net(2 * X, 40, seed=3), 2 * z, rtol=1e-5)


def test_random_net_rejects_bad_input():
    with pytest.raises(ValueError, match="width"):
        features.random_net(torch.rand(3, 4), 0)


def test_hidden_layer_is_the_relu_of_the_first_linear_map():
    model = features.mlp(5, 7, 3)
    X = torch.randn(4, 5)
    assert torch.allclose(features.hidden(model, X), torch.relu(X @ model[0].weight.T + model[0].bias))


def test_nearest_neighbour_matches_sklearn():
    g = torch.Generator().manual_seed(0)
    F, y, T = torch.randn(50, 8, generator=g), torch.randint(0, 3, (50,), generator=g), torch.randn(30, 8, generator=g)
    for metric in ("euclidean", "cosine"):
        ref = KNeighborsClassifier(n_neighbors=1, metric=metric, algorithm="brute").fit(F.numpy(), y.numpy())
        assert np.array_equal(classifiers.nearest_neighbour(F, y, T, metric).numpy(), ref.predict(T.numpy()))


def test_logistic_matches_sklearn_objective():
    g = torch.Generator().manual_seed(1)
    F = torch.randn(120, 6, generator=g, dtype=torch.float64)
    y = (F[:, 0] + 0.5 * F[:, 1] > 0).long() + (F[:, 2] > 1).long()
    wd = 0.05
    W, b = classifiers.logistic(F, y, wd, classes=3)
    ref = LogisticRegression(C=1 / (wd * len(F)), tol=1e-8, max_iter=1000).fit(F.numpy(), y.numpy())
    assert np.allclose(W.T.numpy() - W.T.numpy().mean(0), ref.coef_ - ref.coef_.mean(0), atol=1e-3)
    probs = torch.softmax(F @ W + b, 1).numpy()
    assert np.allclose(probs, ref.predict_proba(F.numpy()), atol=1e-4)


def test_few_labels_draws_k_per_class_reproducibly():
    y = torch.arange(30) % 3
    a, b = classifiers.few_labels(y, 4, seed=2), classifiers.few_labels(y, 4, seed=2)
    assert torch.equal(a, b) and torch.equal(torch.bincount(y[a]), torch.full((3,), 4))
    with pytest.raises(ValueError, match="fewer than"):
        classifiers.few_labels(y, 11, seed=0)


def test_evaluate_keeps_per_image_correctness_and_pairs_representations():
    g = torch.Generator().manual_seed(2)
    y = torch.arange(60) % 3
    X = torch.randn(60, 5, generator=g) + 3 * torch.nn.functional.one_hot(y, 5).float()
    out = {name: classifiers.evaluate(F[:30], y[:30], F[30:40], y[30:40], F[40:], y[40:], (1, 2), 2, (1e-2,))
           .assign(representation=name) for name, F in (("a", X), ("b", -X))}
    results = pd.concat(out.values(), ignore_index=True)
    assert all(len(c) == 20 and c.mean() == acc for c, acc in zip(results.correct, results.accuracy))
    a, b = classifiers.paired_correct(results, "a", "b", "logistic", 2)
    assert a.shape == b.shape == (2, 20)  # one row per draw of labels, in seed order
    rows = results[(results.representation == "a") & (results.classifier == "logistic") & (results.k == 2)]
    assert all(np.array_equal(a[s], rows[rows.seed == s].correct.iloc[0]) for s in (0, 1))
    with pytest.raises(ValueError, match="no results"):
        classifiers.paired_correct(results, "a", "c", "logistic", 2)
    with pytest.raises(ValueError, match="no results"):
        classifiers.paired_correct(results, "a", "b", "logistic", 3)
