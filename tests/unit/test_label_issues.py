"""ferviz.analysis.label_issues: flags identical to cleanlab's find_label_issues defaults, scores, ranking."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from ferviz.analysis.label_issues import (
    KINDS,
    confident_joint,
    confident_thresholds,
    evaluation_issues,
    find_label_issues,
    label_issues,
    mean_evaluation,
)




def _cleanlab(module: str):
    """A cleanlab module (a test-only requirement: requirements-test.txt)."""
    import importlib

    try:
        return importlib.import_module(f"cleanlab.{module}")
    except ImportError:
        pytest.fail("cleanlab not installed: pip install -r requirements-test.txt (a test requirement)")


def reference(probs, labels, **kw) -> np.ndarray:
    """cleanlab's flags with its defaults."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "may not flag all label issues in class k"
        return _cleanlab("filter").find_label_issues(labels, probs, **kw)


def _dirichlet(rng, n, k, alpha=1.0, dtype=np.float64):
    return rng.dirichlet(np.full(k, alpha), n).astype(dtype)


def _cases():
    rng = np.random.default_rng(2024)
    k = 7
    p = _dirichlet(rng, 600, k)
    yield "dirichlet", p, rng.integers(0, k, 600)
    p = _dirichlet(rng, 800, k, 0.3, np.float32)
    y = p.argmax(1)
    flip = rng.random(800) < 0.25
    y[flip] = rng.integers(0, k, flip.sum())
    yield "planted noise float32", p, y
    # a model that is mostly right, with 15% of labels swapped to a neighbouring class
    y_true = rng.integers(0, k, 1500)
    logits = rng.normal(0, 1, (1500, k))
    logits[np.arange(1500), y_true] += 3
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = y_true.copy()
    swap = rng.random(1500) < 0.15
    y[swap] = (y[swap] + 1) % k
    yield "swapped labels", p, y
    p = _dirichlet(rng, 300, k)
    y = rng.integers(0, k - 1, 300)
    y[5] = k - 1  # a class with a single example
    yield "single-example class", p, y
    y = rng.integers(0, k - 1, 300)
    y[[3, 9]] = k - 1
    yield "two-example class", p, y
    yield "class never given", p, rng.integers(1, k, 300)
    p = _dirichlet(rng, 400, k)
    p[:, 2] *= 1e-3
    p /= p.sum(1, keepdims=True)
    yield "class never predicted", p, rng.integers(0, k, 400)
    p = np.round(_dirichlet(rng, 500, k, 0.5) * 6) + 0.01  # many exact ties
    p /= p.sum(1, keepdims=True)
    yield "quantised probabilities (ties)", p, rng.integers(0, k, 500)
    yield "two classes", _dirichlet(rng, 200, 2), rng.integers(0, 2, 200)
    yield "confident model, clean labels", np.eye(k)[np.arange(70) % k] * 0.9 + 0.1 / k, np.arange(70) % k


CASES = list(_cases())


@pytest.mark.parametrize("name,probs,labels", CASES, ids=[c[0] for c in CASES])
def test_flags_equal_cleanlab(name, probs, labels):
    ours = find_label_issues(probs, labels)
    assert ours.dtype == bool and ours.shape == labels.shape
    np.testing.assert_array_equal(ours, reference(probs, labels))


@pytest.mark.parametrize("name,probs,labels", CASES[:3], ids=[c[0] for c in CASES[:3]])
def test_confident_joint_and_thresholds_equal_cleanlab(name, probs, labels):
    count = _cleanlab("count")
    compute_confident_joint, get_confident_thresholds = count.compute_confident_joint, count.get_confident_thresholds

    np.testing.assert_array_equal(confident_thresholds(probs, labels), get_confident_thresholds(labels, probs))
    np.testing.assert_array_equal(confident_joint(probs, labels, calibrate=False),
                                  compute_confident_joint(labels, probs, calibrate=False))
    cj = confident_joint(probs, labels)
    np.testing.assert_array_equal(cj, compute_confident_joint(labels, probs))
    np.testing.assert_array_equal(cj.sum(axis=1), np.bincount(labels, minlength=probs.shape[1]))


def test_many_random_matrices_equal_cleanlab():
    rng = np.random.default_rng(7)
    flagged = 0
    for i in range(150):
        k = int(rng.integers(2, 9))
        n = int(rng.integers(k + 1, 250))
        p = _dirichlet(rng, n, k, float(rng.choice([0.2, 1.0, 4.0])), np.float32 if i % 2 else np.float64)
        y = rng.integers(0, k, n)
        if len(np.unique(y)) < 2:
            continue
        ref = reference(p, y, n_jobs=1)
        np.testing.assert_array_equal(find_label_issues(p, y), ref, err_msg=f"case {i}: K={k}, N={n}")
        flagged += ref.sum()
    assert flagged > 100  # the comparison is not vacuous


def test_obvious_issue_is_flagged_and_ranked_first():
    # 10 cats and 10 dogs, all predicted right with 0.9, but one 'cat' the model is sure is a dog
    p = np.array([[0.9, 0.1]] * 10 + [[0.1, 0.9]] * 10)
    y = np.array([0] * 10 + [1] * 10)
    y[3] = 1  # labelled dog, looks like a cat
    res = label_issues(p, y, ids=[f"img{i}" for i in range(20)])
    assert res.flagged.tolist() == [i == 3 for i in range(20)]
    assert res.suggested[3] == 0 and res.score[3] == pytest.approx(0.1)
    assert res.order[0] == 3
    df = res.frame(classes=("cat", "dog"))
    assert df.iloc[0][["id", "true", "pred", "suggested", "flagged"]].tolist() == ["img3", "dog", "cat", "cat", True]
    assert res.counts() == {"n": 20, "errors": 1, "flagged": 1, "flagged_errors": 1, "model_errors": 0}
    np.testing.assert_array_equal(res.flagged, reference(p, y))


def test_unconfident_error_is_a_model_error():
    p = np.array([[0.9, 0.1]] * 10 + [[0.1, 0.9]] * 10 + [[0.45, 0.55]])
    y = np.array([0] * 10 + [1] * 10 + [0])  # the last: barely wrong, below the dog threshold
    res = label_issues(p, y)
    assert not res.flagged[-1] and res.errors[-1]
    assert res.kind[-1] == "model error" and res.kind[0] == "correct"
    np.testing.assert_array_equal(res.flagged, reference(p, y))


def test_ranking_and_scores():
    rng = np.random.default_rng(3)
    p = _dirichlet(rng, 400, 7)
    y = rng.integers(0, 7, 400)
    res = label_issues(p, y)
    np.testing.assert_array_equal(res.score, p[np.arange(400), y])
    assert np.all(np.diff(res.score[res.order]) >= 0)
    df = res.frame()
    assert list(df.columns[:6]) == ["id", "true", "pred", "suggested", "score", "flagged"]
    assert df["score"].is_monotonic_increasing and len(df) == 400
    assert set(df["kind"]) <= set(KINDS)
    # every flagged image is misclassified and its suggestion is not its label
    assert not (res.flagged & ~res.errors).any()
    assert (res.suggested[res.flagged] != res.labels[res.flagged]).all()
    # ties in score keep the split's order
    tie = label_issues(np.full((4, 2), 0.5), np.array([0, 1, 0, 1]))
    assert tie.order.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("probs,labels,match", [
    (np.ones((3, 7)) / 7, np.array([0, 1]), "labels must be"),
    (np.ones(7) / 7, np.array([0]), "probs must be"),
    (np.full((3, 7), np.nan), np.array([0, 1, 2]), "finite"),
    (np.full((3, 7), 2.0), np.array([0, 1, 2]), "finite probabilities"),
    (np.ones((3, 7)) / 7, np.array([0, 1, 7]), "0-6"),
    (np.ones((3, 7)) / 7, np.array([0, 0, 0]), "two different labels"),
    (np.ones((3, 7)) / 7, np.array([0.5, 1, 2]), "integer"),
])
def test_bad_input(probs, labels, match):
    with pytest.raises(ValueError, match=match):
        label_issues(probs, labels)


def test_mean_evaluation():
    from ferviz.analysis.evaluation import Evaluation

    rng = np.random.default_rng(0)
    ids, y = np.array([f"i{k}" for k in range(50)]), rng.integers(0, 7, 50)
    a = Evaluation("A", "PrivateTest", _dirichlet(rng, 50, 7, dtype=np.float32), y, ids)
    b = Evaluation("B", "PrivateTest", _dirichlet(rng, 50, 7, dtype=np.float32), y, ids)
    m = mean_evaluation([a, b])
    assert m.model_name == "A + B" and m.split == "PrivateTest" and m.probs.dtype == np.float32
    np.testing.assert_allclose(m.probs, (a.probs + b.probs) / 2, rtol=1e-6)
    assert mean_evaluation([a]) is a
    with pytest.raises(ValueError, match="not the same images"):
        mean_evaluation([a, Evaluation("C", "PublicTest", a.probs, y, ids)])
    with pytest.raises(ValueError, match="at least one"):
        mean_evaluation([])


def test_mean_evaluation_of_a_seven_and_an_eight_class_model():
    """The mean can output any class either model can; the seven-class model's contempt is 0."""
    from ferviz.analysis.evaluation import Evaluation

    rng = np.random.default_rng(1)
    ids, y = np.array([f"i{k}" for k in range(60)]), rng.integers(0, 8, 60)
    p7 = np.pad(_dirichlet(rng, 60, 7, dtype=np.float32), ((0, 0), (0, 1)))  # no contempt output: 0
    seven = Evaluation("S", "PrivateTest", p7, y, ids, tuple(range(7)), tuple(range(8)))
    eight = Evaluation("E", "PrivateTest", _dirichlet(rng, 60, 8, dtype=np.float32), y, ids, tuple(range(8)),
                       tuple(range(8)))
    m = mean_evaluation([seven, eight])
    assert m.model_classes == tuple(range(8)) and m.data_classes == tuple(range(8)) and m.n_outside == 0
    np.testing.assert_allclose(m.probs[:, 7], eight.probs[:, 7] / 2, rtol=1e-6)
    narrow = Evaluation("N", "PrivateTest", _dirichlet(rng, 60, 7, dtype=np.float32), np.minimum(y, 6), ids)
    wide = Evaluation("W", "PrivateTest", _dirichlet(rng, 60, 8, dtype=np.float32), np.minimum(y, 6), ids,
                      tuple(range(8)), tuple(range(7)))
    assert mean_evaluation([narrow, wide]).probs.shape == (60, 8)  # widths differ: padded, not refused
    issues = evaluation_issues(mean_evaluation([seven, eight]))
    assert issues.n_outside == 0 and issues.confident_joint.shape == (8, 8)
    assert evaluation_issues(seven).n_outside == int((y == 7).sum()) > 0
