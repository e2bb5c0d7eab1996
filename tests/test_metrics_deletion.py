"""Deletion/insertion curves and per-image drop/increase: Quantus where it coincides, hand cases otherwise."""

import numpy as np
import pytest
import torch
from torch import nn

from posthoc.metrics import drop_increase
from posthoc.metrics.deletion import curve_auc, drop_increase_rows, keep_top_scores, perturbation_curves, position_ranks


def _model(channels=1):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5, 1, 6, 6, generator=g)
    maps = torch.rand(5, 2, 6, 6, generator=g)  # two "layers", tie-free
    target = torch.tensor([0, 1, 2, 0, 1])
    return x, maps, target


def test_deletion_curve_equals_quantus_pixel_flipping(batch):
    quantus = pytest.importorskip("quantus")
    x, maps, target = batch
    model = _model()
    steps = 6  # 6 positions per step over 36 positions
    fractions = np.linspace(0, 1, steps + 1)
    ours = perturbation_curves(
        model, x, maps, target, fractions=fractions, fill=0.5, curves=("deletion",), batch_size=64
    )["deletion"]
    metric = quantus.PixelFlipping(
        features_in_step=6, perturb_baseline=0.5, normalise=False, abs=False, disable_warnings=True
    )
    for layer in range(2):
        ref = np.asarray(
            metric(
                model=model,
                x_batch=x.numpy(),
                y_batch=target.numpy(),
                a_batch=maps[:, layer : layer + 1].numpy(),
                softmax=True,
                device="cpu",
            )
        )
        np.testing.assert_allclose(ours[:, layer, 1:], ref, atol=1e-6)


def test_curves_hand_computed_on_a_linear_model():
    # score = sum of the inputs -> probability of class 0 with logits (s, 0); removing a position
    # (fill 0) of value v changes s by -v, so each curve is known in closed form
    class Sum(nn.Module):
        def forward(self, x):
            s = x.flatten(1).sum(1, keepdim=True)
            return torch.cat([s, torch.zeros_like(s)], 1)

    x = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    maps = torch.tensor([[[4.0, 3.0, 2.0, 1.0]]])  # most relevant first: positions 0, 1, 2, 3
    fr = np.linspace(0, 1, 5)
    out = perturbation_curves(Sum(), x, maps, torch.tensor([0]), fractions=fr, fill=0.0, batch_size=8)
    sig = lambda s: 1 / (1 + np.exp(-np.asarray(s, float)))  # noqa: E731
    np.testing.assert_allclose(out["deletion"][0, 0], sig([10, 9, 7, 4, 0]))
    np.testing.assert_allclose(out["deletion_lerf"][0, 0], sig([10, 6, 3, 1, 0]))
    np.testing.assert_allclose(out["insertion"][0, 0], sig([0, 1, 3, 6, 10]))
    np.testing.assert_allclose(curve_auc(np.array([0.0, 1.0]), np.array([0.0, 1.0])), 0.5)


def test_multi_label_curves_score_the_label_sigmoid():
    """A multi-label model (task ``multi-label``): each label's own sigmoid, whatever the other logits; the same
    linear case as above, with a second label whose logit would change a softmax."""

    class SumLabels(nn.Module):
        def forward(self, x):
            s = x.flatten(1).sum(1, keepdim=True)
            return torch.cat([s, 3 * s + 1], 1)

    x = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    maps = torch.tensor([[[4.0, 3.0, 2.0, 1.0]]])
    fr = np.linspace(0, 1, 5)
    sig = lambda s: 1 / (1 + np.exp(-np.asarray(s, float)))  # noqa: E731
    for target, scale, bias in ((0, 1, 0), (1, 3, 1)):
        out = perturbation_curves(
            SumLabels(), x, maps, torch.tensor([target]), fractions=fr, fill=0.0, batch_size=8, task="multi-label"
        )
        np.testing.assert_allclose(out["deletion"][0, 0], sig(scale * np.array([10, 9, 7, 4, 0]) + bias))
        np.testing.assert_allclose(out["insertion"][0, 0], sig(scale * np.array([0, 1, 3, 6, 10]) + bias))
        p, kept = keep_top_scores(
            SumLabels(), x, maps, torch.tensor([target]), keep_percent=50, fill=0.0, batch_size=8, task="multi-label"
        )
        np.testing.assert_allclose(p, sig([scale * 10 + bias]))
        np.testing.assert_allclose(kept[0], sig([scale * 3 + bias]))  # positions 0 and 1 kept: 1 + 2
    softmax = perturbation_curves(SumLabels(), x, maps, torch.tensor([0]), fractions=fr, fill=0.0, batch_size=8)
    assert np.abs(softmax["deletion"][0, 0] - sig([10, 9, 7, 4, 0])).max() > 0.1


def test_shared_endpoint_passes_equal_running_every_step(batch):
    # the unperturbed and the all-fill steps are one pass per image / one pass in all; every curve,
    # at uneven (non-mirrored) fractions too, must equal running the model on each step's input
    x, maps, target = batch
    model = _model()
    fr = np.array([0.0, 0.2, 0.55, 1.0])
    out = perturbation_curves(model, x, maps, target, fractions=fr, fill=0.3, batch_size=7)
    rank = position_ranks(maps.flatten(0, 1)).view(5, 2, 36)
    for curve, keep_of in (
        ("deletion", lambda k: rank >= k),
        ("deletion_lerf", lambda k: rank < 36 - k),
        ("insertion", lambda k: rank < k),
    ):
        for j, f in enumerate(fr):
            keep = keep_of(int(round(f * 36))).view(5, 2, 1, 6, 6)
            for layer in range(2):
                xs = torch.where(keep[:, layer], x, torch.tensor(0.3))
                ref = torch.softmax(model(xs).double(), 1).gather(1, target.view(-1, 1))[:, 0]
                np.testing.assert_allclose(out[curve][:, layer, j], ref.detach().numpy(), atol=1e-6)


def test_keep_top_scores_reproduce_drop_increase(batch):
    x, maps, target = batch
    model = _model()
    raw = maps - 0.5
    p, kept = keep_top_scores(model, x, maps, target, keep_percent=30, fill=0.0, raw=raw, batch_size=16)
    rows = drop_increase_rows(p, kept, tolerance=0.0)
    ref = drop_increase(model, x, maps, target, 30, fill=0.0, raw=raw)
    # the same rule; only float32 rounding differs (other batch composition): ~1e-8
    np.testing.assert_allclose(rows["drop"].mean(0), ref["drop_rate"], atol=1e-6)
    np.testing.assert_allclose(drop_increase_rows(p, kept, tolerance=1e-6)["increase"].mean(0), ref["increase_rate"])


def test_increase_tolerance_and_saturation():
    p = np.array([0.5, 1 - 1e-8, 0.9])
    kept = np.array([[0.5 + 1e-7], [1.0], [0.95]])
    strict = drop_increase_rows(p, kept, tolerance=0.0)
    tol = drop_increase_rows(p, kept, tolerance=1e-6)
    assert strict["increase"][:, 0].tolist() == [1, 1, 1]
    assert tol["increase"][:, 0].tolist() == [0, 0, 1]  # gains of 1e-7 and 1e-8 are not increases
    assert tol["saturated"].tolist() == [False, True, False]


def test_ties_ranked_by_raw_then_position():
    maps = torch.tensor([[0.0, 0.0, 1.0, 0.0]])
    raw = torch.tensor([[-3.0, -1.0, 1.0, -2.0]])
    assert position_ranks(maps, raw)[0].tolist() == [3, 1, 0, 2]
    assert position_ranks(maps)[0].tolist() == [1, 2, 0, 3]
