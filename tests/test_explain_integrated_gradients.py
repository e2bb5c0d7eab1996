"""Integrated gradients: completeness, baselines, the channel reduction of seed 004 §IV-B."""

import pytest
import torch

from posthoc.explain import explain
from posthoc.explain.integrated_gradients import gaussian_blur, make_baseline, path_nodes
from posthoc.models import AlexNet128, CNN1D

DEFAULT_STEPS = 64


@pytest.mark.parametrize("kind", ["alexnet", "cnn1d"])
def test_completeness_gap_small_at_default_steps(kind):
    """On these random models; the study reports the per-image gaps of its trained models
    (explanations/integrated_gradients_completeness.csv)."""
    torch.manual_seed(0)
    if kind == "alexnet":
        model, x = AlexNet128(3, 5, width=0.125).eval(), torch.randn(8, 3, 64, 64)
    else:
        model, x = CNN1D(1, 10, 40, channels=(16, 16, 16)).eval(), torch.randn(8, 1, 40)
    target = torch.arange(8) % 5
    gaps = {
        m: explain("integrated_gradients", model, x, target, [], steps=m).extras["completeness_gap"]
        for m in (4, DEFAULT_STEPS)
    }
    assert gaps[DEFAULT_STEPS].median() < 0.025 and gaps[DEFAULT_STEPS].max() < 0.1, gaps[DEFAULT_STEPS]
    assert gaps[DEFAULT_STEPS].median() < gaps[4].median() / 4


def test_map_is_relu_of_channel_sum_not_absolute_values():
    torch.manual_seed(2)
    model = AlexNet128(3, 3, width=0.1).eval()
    att = explain("integrated_gradients", model, torch.randn(2, 3, 48, 48), torch.tensor([0, 1]), [], steps=8)
    attribution = att.channels[:, 0]
    torch.testing.assert_close(att.raw[:, 0], attribution.sum(1))
    torch.testing.assert_close(att.maps[:, 0], attribution.sum(1).clamp(min=0))
    assert (attribution.sum(1) < 0).any()  # negative evidence exists and is not shown as salient


def test_step_rules_are_quadratures_of_the_unit_interval():
    for rule in ("gausslegendre", "riemann_right", "riemann_left", "riemann_middle"):
        alphas, weights = path_nodes(16, rule)
        assert alphas.min() >= 0 and alphas.max() <= 1
        assert weights.sum().item() == pytest.approx(1.0)
        exact = rule in ("gausslegendre", "riemann_middle")  # exact for linear integrands
        assert (weights * alphas).sum().item() == pytest.approx(0.5, abs=1e-12 if exact else 1 / 16)  # ∫ α dα
    assert path_nodes(4, "riemann_right")[0].tolist() == [0.25, 0.5, 0.75, 1.0]  # seed 004: k/M, k = 1..M
    with pytest.raises(ValueError, match="unknown integration step rule"):
        path_nodes(4, "simpson")


def test_baselines():
    x = torch.randn(2, 3, 20, 24)
    assert (make_baseline(x, "zeros") == 0).all()
    black = make_baseline(x, "black", black_level=[-1.0, -2.0, -3.0])
    assert black[:, 1].unique().tolist() == [-2.0]
    with pytest.raises(ValueError, match="black_level"):
        make_baseline(x, "black")
    blurred = make_baseline(x, "blurred", blur_sigma=2.0)
    assert blurred.shape == x.shape and blurred.std() < x.std()
    torch.testing.assert_close(blurred.mean(dim=(2, 3)), x.mean(dim=(2, 3)), atol=0.1, rtol=0)
    signal = torch.randn(3, 1, 40)
    assert gaussian_blur(signal, 3.0).shape == signal.shape
    const = torch.full((1, 2, 10, 10), 4.0)
    torch.testing.assert_close(gaussian_blur(const, 50.0), const)  # kernel wider than the image
    with pytest.raises(ValueError, match="unknown baseline"):
        make_baseline(x, "noise")


def test_integrated_gradients_on_1d_cnn_with_blurred_baseline_is_finite():
    model = CNN1D(1, 4, 40, channels=(4,)).eval()
    att = explain(
        "integrated_gradients",
        model,
        torch.randn(5, 1, 40),
        torch.tensor([0, 1, 2, 3, 0]),
        [],
        steps=8,
        baseline="blurred",
        blur_sigma=3.0,
        internal_batch_size=7,
    )
    assert att.maps.shape == (5, 1, 40) and torch.isfinite(att.maps).all()
