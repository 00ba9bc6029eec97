#!/usr/bin/env python3
"""Generates mia_svm_sklearn.json: scikit-learn's SVC(C=3, kernel='rbf', gamma='auto') on synthetic
membership-inference features, so the C# RbfSvm can be checked against it without Python.

Run once (Debian bookworm: scikit-learn 1.2.1, numpy 1.24.2), from the repository root:
    apt-get update && apt-get install -y python3-sklearn python3-numpy
    /usr/bin/python3 tests/UnlearnService.Engine.Tests/Fixtures/make_mia_svm_fixture.py \
        > tests/UnlearnService.Engine.Tests/Fixtures/mia_svm_sklearn.json

Features are float32 (what a model's softmax gives) written with 9 significant digits, which round-trips
float32 exactly; the C# side parses them as float and widens to double, as sklearn widens them here.
Members are labelled 1 and non-members 0, as in the MIA. Deterministic (fixed seed).
"""
import json
import sys

import numpy as np
import sklearn
from sklearn.svm import SVC

rng = np.random.default_rng(20261124)


def train_probs(n):
    """Probability of the true label on a model's own training data: mostly within 1e-2 of 1, about a
    quarter exactly 1.0 after float32 rounding, a few hard or mislabelled samples lower."""
    u = rng.random(n)
    near_one = 1.0 - 10.0 ** rng.uniform(-9.5, -2.0, n)
    x = np.where(u < 0.88, near_one, np.where(u < 0.98, rng.beta(6, 1, n), rng.beta(1.5, 2, n)))
    return x.astype(np.float32)


def test_probs(n):
    """Probability of the true label on unseen data: broader, with misclassified samples far below 1."""
    u = rng.random(n)
    near_one = 1.0 - 10.0 ** rng.uniform(-7.5, -1.0, n)
    x = np.where(u < 0.60, near_one, np.where(u < 0.85, rng.beta(4, 1, n), rng.beta(1.2, 2.5, n)))
    return x.astype(np.float32)


def saturated_train_probs(n):
    """An over-fitted model: nearly all training samples at exactly 1.0."""
    x = train_probs(n)
    x[rng.random(n) < 0.9] = 1.0
    return x


def saturated_test_probs(n):
    x = test_probs(n)
    x[rng.random(n) < 0.4] = 1.0
    return x


def train_losses(n):
    """Per-sample squared error of a regression model on its training data."""
    return (rng.gamma(0.5, 0.05, n)).astype(np.float32)


def test_losses(n):
    x = rng.gamma(0.8, 0.4, n)
    x[rng.random(n) < 0.05] *= 6.0
    return x.astype(np.float32)


def mix(a, b, n, frac_a):
    k = int(round(n * frac_a))
    t = np.concatenate([a(k), b(n - k)])
    return t[rng.permutation(n)]


def make_2d(probs_fn, n):
    """A second, margin-like feature correlated with the first, to exercise the n-dimensional path."""
    p = probs_fn(n).astype(np.float64)
    second = np.clip(p - np.abs(rng.normal(0.0, 0.15, n)) * (1.0 - p + 0.05), -1.0, 1.0)
    return np.stack([p, second], axis=1).astype(np.float32)


def case(name, members, non_members, targets, note):
    members = np.asarray(members, dtype=np.float32)
    non_members = np.asarray(non_members, dtype=np.float32)
    targets = np.asarray(targets, dtype=np.float32)
    if members.ndim == 1:
        members, non_members, targets = members[:, None], non_members[:, None], targets[:, None]
    x = np.concatenate([members, non_members]).astype(np.float64)
    y = np.concatenate([np.ones(len(members)), np.zeros(len(non_members))])
    clf = SVC(C=3, kernel="rbf", gamma="auto").fit(x, y)
    t = targets.astype(np.float64)
    pred = clf.predict(t).astype(int)
    dec = clf.decision_function(t)
    # The label convention the C# side must reproduce: decision > 0 means classes_[1] (member).
    assert np.all((dec > 0) <= (pred == 1)) and np.all((dec < 0) <= (pred == 0))
    train_pred = clf.predict(x).astype(int)
    f = lambda a: [float("%.9g" % v) for v in a.ravel()]
    return {
        "name": name,
        "note": note,
        "dimension": int(members.shape[1]),
        "gamma": float(clf._gamma),
        "members": f(members),
        "nonMembers": f(non_members),
        "targets": f(targets),
        "predictions": pred.tolist(),
        "decision": [float("%.9g" % v) for v in dec],
        "nSupport": clf.n_support_.tolist(),
        "nIter": int(np.ravel(clf.n_iter_)[0]),
        "intercept": float(clf.intercept_[0]),
        "shadowAccuracy": float(np.mean(train_pred == y)),
    }


cases = [
    case("small_balanced", train_probs(100), test_probs(100), mix(train_probs, test_probs, 150, 0.5),
         "100 members, 100 non-members"),
    case("medium_balanced", train_probs(1000), test_probs(1000), train_probs(1000),
         "targets all from the training distribution (original model)"),
    case("large_balanced", train_probs(2000), test_probs(2000), mix(train_probs, test_probs, 1500, 0.3),
         "2000 + 2000"),
    case("imbalanced_members", train_probs(3000), test_probs(400), mix(train_probs, test_probs, 800, 0.5),
         "many more members than non-members"),
    case("imbalanced_non_members", train_probs(300), test_probs(1500), mix(train_probs, test_probs, 500, 0.5),
         "many more non-members than members"),
    case("indistinguishable", test_probs(1200), test_probs(1200), test_probs(800),
         "members and non-members from one distribution (a retrained model): the MIA should say nothing"),
    case("saturated", saturated_train_probs(1000), saturated_test_probs(1000),
         mix(saturated_train_probs, saturated_test_probs, 800, 0.5), "most features exactly 1.0"),
    case("regression_loss", train_losses(800), test_losses(800), mix(train_losses, test_losses, 600, 0.5),
         "per-sample losses instead of probabilities (values up to ~10)"),
    case("two_features", make_2d(train_probs, 400), make_2d(test_probs, 400),
         np.concatenate([make_2d(train_probs, 150), make_2d(test_probs, 150)]),
         "two features per sample; gamma='auto' = 1/2"),
]

json.dump({
    "generator": "make_mia_svm_fixture.py",
    "sklearn": sklearn.__version__,
    "numpy": np.__version__,
    "model": "SVC(C=3, kernel='rbf', gamma='auto'), members labelled 1, non-members 0",
    "cases": cases,
}, sys.stdout, separators=(",", ":"))
sys.stdout.write("\n")
