import numpy as np
import pandas as pd
import pytest
import torch
from sklearn import metrics as skm
from torch import nn

from posthoc.metrics import (
    drop_increase,
    keep_top_mask,
    normalised_confusion,
    one_vs_rest_roc,
    per_class_accuracy,
    precision_recall_f1,
)

LABELS = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 1])
PREDS = np.array([0, 1, 0, 1, 1, 2, 0, 2, 2, 2])


def test_per_class_accuracy_and_confusion_diagonal_agree():
    table = per_class_accuracy(LABELS, PREDS, ["a", "b", "c"])
    assert table["accuracy"].tolist() == pytest.approx([2 / 3, 2 / 3, 3 / 4])
    cm = normalised_confusion(LABELS, PREDS, 3)
    np.testing.assert_allclose(cm.sum(1), 1.0)
    np.testing.assert_allclose(np.diag(cm), table["accuracy"])
    assert cm[0, 1] == pytest.approx(1 / 3)


def test_precision_recall_f1_matches_sklearn():
    table = precision_recall_f1(LABELS, PREDS, ["a", "b", "c"])
    ref = skm.classification_report(LABELS, PREDS, output_dict=True)
    for c in range(3):
        row = table.iloc[c]
        assert row["precision"] == pytest.approx(ref[str(c)]["precision"])
        assert row["f1"] == pytest.approx(ref[str(c)]["f1-score"])
    assert table.iloc[-1]["class"] == "macro avg"
    assert table.iloc[-1]["f1"] == pytest.approx(ref["macro avg"]["f1-score"])


def test_roc_auc_matches_sklearn_and_handles_absent_class():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=len(LABELS))
    _, _, auc = one_vs_rest_roc(LABELS, probs)
    for c in range(3):
        assert auc[c] == pytest.approx(skm.roc_auc_score(LABELS == c, probs[:, c]))
    assert np.isnan(auc[3])


def test_keep_top_mask_counts_and_tiebreak():
    maps = torch.tensor([[0.0, 3.0, 0.0, 0.0, 1.0, 0.0, 2.0, 0.0, 0.0, 0.0]])
    mask = keep_top_mask(maps, 30)
    assert mask[0, [1, 4, 6]].all() and mask.sum() == 3
    # 50 %: the three positive values plus the two best zeros according to the pre-ReLU tie-break
    raw = torch.tensor([[-5.0, 3.0, -0.1, -4.0, 1.0, -0.2, 2.0, -3.0, -2.0, -1.0]])
    mask = keep_top_mask(maps, 50, tiebreak=raw)
    assert torch.nonzero(mask[0]).flatten().tolist() == [1, 2, 4, 5, 6]


class TwoClassSum(nn.Module):
    """logits = (sum of the first half of the input, 0): the answer of any masking is known."""

    def forward(self, x):
        half = x.shape[-1] // 2
        s = x[..., :half].flatten(1).sum(1)
        return torch.stack([s, torch.zeros_like(s)], 1)


def test_drop_increase_on_a_case_known_by_construction():
    # image 0: the positive evidence sits in the first half; keeping it keeps p (no drop, no increase)
    # image 1: first half holds +2 and -1; keeping only the +2 position raises p (increase)
    x = torch.tensor([[[1.0, 1.0, 0.0, 0.0]], [[2.0, -1.0, 0.0, 0.0]]])
    maps_good = torch.tensor([[[1.0, 1.0, 0.0, 0.0]], [[1.0, 0.0, 0.5, 0.0]]])
    maps_bad = torch.tensor([[[0.0, 0.0, 1.0, 1.0]], [[0.0, 1.0, 0.5, 0.0]]])
    maps = torch.stack([maps_good[:, 0], maps_bad[:, 0]], 1)  # (N=2, layers=2, L=4)
    x = x.reshape(2, 1, 4)
    target = torch.tensor([0, 0])
    table = drop_increase(TwoClassSum(), x, maps, target, keep_percent=50, fill=0.0)
    sig = torch.sigmoid
    p = sig(torch.tensor([2.0, 1.0]))
    # good maps: image 0 keeps both -> p' = p; image 1 keeps +2 (and position 2: zero) -> p' = sig(2) > p
    assert table.loc[0, "drop_rate"] == pytest.approx(0.0)
    assert table.loc[0, "increase_rate"] == pytest.approx(0.5)
    # bad maps: image 0 keeps nothing useful -> p' = sig(0); image 1 keeps -1 -> p' = sig(-1)
    d0 = (p[0] - 0.5) / p[0]
    d1 = (p[1] - sig(torch.tensor(-1.0))) / p[1]
    assert table.loc[1, "drop_rate"] == pytest.approx(float((d0 + d1) / 2), rel=1e-6)
    assert table.loc[1, "increase_rate"] == 0.0
    assert table["n"].tolist() == [2, 2]


def test_drop_increase_batches_do_not_change_the_result():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    x, maps = torch.randn(7, 1, 12), torch.rand(7, 3, 12)
    target = torch.randint(0, 3, (7,))
    a = drop_increase(model, x, maps, target, 25, batch_size=4)
    b = drop_increase(model, x, maps, target, 25, batch_size=1000)
    pd.testing.assert_frame_equal(a, b)
