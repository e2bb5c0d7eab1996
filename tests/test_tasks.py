"""Tasks: softmax/cross-entropy vs sigmoid/binary cross-entropy, the multi-label scores and evaluation tables
(checked against scikit-learn), and how a multi-label dataset's rows are planned for the explanations."""

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from posthoc import metrics, tasks
from posthoc.data.layout import stratified_subset
from posthoc.eda import class_counts, co_occurrence, first_per_class
from posthoc.models import CNN1D
from posthoc.stages.explain import label_errors, plan_rows_multi_label
from posthoc.train import Normaliser, fit, split_scores


def multi_label_data(n=60, n_labels=4, seed=0):
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, n_labels)) < 0.4).astype(np.int64)
    logits = torch.from_numpy(rng.normal(size=(n, n_labels)) + 2.0 * (labels - 0.5))
    return labels, logits


def test_probabilities_and_loss_of_each_task():
    labels, logits = multi_label_data()
    ml, mc = tasks.get("multi-label"), tasks.get(None)
    p = ml.probabilities(logits).numpy()
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-logits.numpy())))
    expected = skm.log_loss(labels.ravel(), p.ravel(), labels=[0, 1])
    assert ml.loss(logits, ml.targets(labels)).item() == pytest.approx(expected, rel=1e-10)
    y = np.arange(len(logits)) % 4
    q = mc.probabilities(logits).numpy()
    assert mc.loss(logits, mc.targets(y)).item() == pytest.approx(skm.log_loss(y, q, labels=range(4)), rel=1e-10)
    np.testing.assert_array_equal(ml.predictions(p), (p >= 0.5).astype(np.int64))
    with pytest.raises(ValueError, match="unknown task 'ordinal'"):
        tasks.get("ordinal")


def test_multi_label_split_scores_match_sklearn():
    labels, logits = multi_label_data()
    out = split_scores(logits, labels, "multi-label")
    p = torch.sigmoid(logits).numpy()
    assert out["accuracy"] == pytest.approx(1 - skm.hamming_loss(labels, p >= 0.5))
    assert out["exact_match"] == pytest.approx(skm.accuracy_score(labels, p >= 0.5))
    assert out["mean_auc"] == pytest.approx(skm.roc_auc_score(labels, p, average="macro"))
    assert out["n"] == len(labels) and "Hamming" in out["accuracy_is"]


def test_multi_label_evaluation_tables_match_sklearn():
    labels, logits = multi_label_data(seed=2)
    preds = (torch.sigmoid(logits).numpy() >= 0.5).astype(np.int64)
    names = list("abcd")
    table = metrics.label_confusions(labels, preds, names)
    ref = skm.multilabel_confusion_matrix(labels, preds)  # (L, 2, 2): [[tn, fp], [fn, tp]]
    np.testing.assert_array_equal(table[["tn", "fp", "fn", "tp"]].to_numpy(), ref.reshape(len(names), 4))
    report = metrics.precision_recall_f1(labels, preds, names)
    p, r, f, s = skm.precision_recall_fscore_support(labels, preds, zero_division=0)
    np.testing.assert_allclose(report[["precision", "recall", "f1"]].to_numpy()[:4], np.stack([p, r, f], 1))
    assert list(report["support"][:4]) == list(s) and report["class"].iloc[-1] == "macro avg"
    acc = metrics.per_label_accuracy(labels, preds, names)
    np.testing.assert_allclose(acc["accuracy"], (labels == preds).mean(0))
    probs = torch.sigmoid(logits).numpy()
    auc = metrics.one_vs_rest_roc(labels, probs)[2]
    assert [auc[c] for c in range(4)] == pytest.approx(list(skm.roc_auc_score(labels, probs, average=None)))


def test_multi_label_counts_and_first_images():
    labels = np.array([[0, 1, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]])
    assert class_counts(labels, 3).tolist() == [2, 2, 0]
    assert first_per_class(labels, 3).tolist() == [1, 0, -1]
    np.testing.assert_array_equal(co_occurrence(labels), [[2, 1, 0], [1, 2, 0], [0, 0, 0]])


def test_subset_of_multi_label_rows_keeps_combination_proportions():
    labels = np.array([[1, 0]] * 30 + [[0, 1]] * 10 + [[1, 1]] * 20)
    keep = stratified_subset(labels, 12, np.random.default_rng(0))
    rows, counts = np.unique(labels[keep], axis=0, return_counts=True)
    assert dict(zip(map(tuple, rows), counts)) == {(0, 1): 2, (1, 0): 6, (1, 1): 4}


def test_multi_label_rows_explain_each_carried_label_of_one_image_per_label():
    labels = np.array([[0, 1, 0], [1, 1, 0], [1, 0, 0], [0, 0, 0]])
    preds = np.array([[0, 1, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0]])
    rows = plan_rows_multi_label(labels, preds, n_eval=2, seed=0, n_confusions=2)
    pairs = {
        s: list(zip(rows["index"][rows["subset"] == s], rows["target"][rows["subset"] == s])) for s in rows["subset"]
    }
    # label 0: image 2 (the first the model also says carries it), label 1: image 0; label 2: nobody
    assert pairs["example"] == [(0, 1), (2, 0)] and pairs["per_class"] == [(2, 0), (0, 1)]
    assert [t for _, t in pairs["evaluation"]] == [-1, -1]
    # label 0 is the only label ever wrong (image 1: a false negative): its true positive, then that image
    assert pairs["confusion"] == [(2, 0), (1, 0)]


def test_label_errors_rank_labels_by_false_positives_and_negatives():
    labels = np.array([[1, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    preds = np.array([[1, 1, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    # label 0: fn 1, fp 2 → 2 errors (tp 0, fn 1, fp 2); label 1: fp 0, 1 → 2; label 2: fn 0, 3 → 2
    assert label_errors(labels, preds, 2) == [(0, 2, {"tp": 0, "fn": 1, "fp": 2}), (1, 2, {"tp": 2, "fp": 0})]
    assert [c for c, *_ in label_errors(labels, preds, 5)] == [0, 1, 2]
    assert label_errors(labels, labels, 5) == []  # no errors, no rows


def test_multi_label_training_learns_with_binary_cross_entropy():
    rng = np.random.default_rng(0)
    n, length = 160, 16
    y = (rng.random((n, 3)) < 0.5).astype(np.int64)
    x = rng.normal(size=(n, length)).astype(np.float32)
    x[:, [2, 7, 12]] += 3.0 * y  # label c: a bump at position 2 + 5c
    torch.manual_seed(0)
    model = CNN1D(1, 3, length, channels=(4, 4), dropout=0.0)
    history = fit(
        model,
        (x, y),
        (x[:40], y[:40]),
        Normaliser([0.0], [1.0], 1.0),
        epochs=6,
        batch_size=32,
        lr=1e-2,
        weight_decay=0.0,
        seed=0,
        device=torch.device("cpu"),
        task="multi-label",
    )
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    assert history["val_auc"].iloc[-1] > 0.8 and set(history.columns) >= {"train_acc", "val_acc", "val_auc"}
