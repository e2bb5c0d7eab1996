"""LIME: recovers a model that is linear in the superpixel indicators, matches the ``lime`` package on the
same samples, and is seeded and repeatable."""

import numpy as np
import pytest
import torch
from torch import nn

from posthoc.explain import explain
from posthoc.explain.lime import (
    contiguous_segments,
    cosine_kernel,
    display_images,
    explain_segments,
    fit_linear,
    quickshift_segments,
    score_samples,
)
from posthoc.models import AlexNet128, CNN1D


class LinearInSuperpixels(nn.Module):
    """Two classes; p(class 0) = b + Σ_j c_j z_j exactly, z_j = superpixel j kept (input 1, fill 0)."""

    def __init__(self, segments: np.ndarray, coef: np.ndarray, bias: float):
        super().__init__()
        sizes = np.bincount(segments.ravel())
        self.register_buffer("w", torch.tensor(coef[segments] / sizes[segments]))
        self.bias = bias

    def forward(self, x):
        p = self.bias + (x.flatten(1) * self.w.flatten()).sum(1)
        return torch.stack([p.log(), (1 - p).log()], 1)  # softmax gives back (p, 1 − p)


def blocks(h, w, size):
    return (np.arange(h)[:, None] // size) * (w // size) + np.arange(w)[None, :] // size


@pytest.fixture
def linear_case():
    segments = blocks(24, 24, 6)  # 16 superpixels
    coef = np.random.default_rng(0).uniform(-0.05, 0.05, 16)
    return segments, coef, LinearInSuperpixels(segments, coef, 0.5), torch.ones(1, 1, 24, 24, dtype=torch.float64)


def test_recovers_linear_coefficients_exactly_without_ridge(linear_case):
    segments, coef, model, x = linear_case
    res = explain_segments(model, x, torch.tensor([0]), segments[None], n_samples=200, alpha=0.0)
    np.testing.assert_allclose(res.coef[0], coef, atol=1e-12)
    assert res.intercept[0] == pytest.approx(0.5, abs=1e-12) and res.r2[0] == pytest.approx(1.0)


class LinearSigmoidInSuperpixels(LinearInSuperpixels):
    """Two labels of a multi-label model; sigmoid(label 0) = b + Σ_j c_j z_j exactly (the softmax is not)."""

    def forward(self, x):
        p = self.bias + (x.flatten(1) * self.w.flatten()).sum(1)
        return torch.stack([torch.logit(p), torch.logit(p / 2)], 1)


def test_multi_label_fits_the_label_sigmoid(linear_case):
    segments, coef, _, x = linear_case
    model = LinearSigmoidInSuperpixels(segments, coef, 0.5)
    res = explain_segments(model, x, torch.tensor([0]), segments[None], n_samples=200, alpha=0.0, task="multi-label")
    np.testing.assert_allclose(res.coef[0], coef, atol=1e-12)
    assert res.intercept[0] == pytest.approx(0.5, abs=1e-12) and res.r2[0] == pytest.approx(1.0)
    with torch.no_grad():  # the recorded scores are the sigmoid of the masked inputs' logits
        first = torch.sigmoid(model(x))[0, 0].item()
    assert res.scores[0, 0] == pytest.approx(first, abs=1e-12)
    softmax = explain_segments(model, x, torch.tensor([0]), segments[None], n_samples=200, alpha=0.0)
    assert np.abs(softmax.coef[0] - coef).max() > 1e-3  # the multi-class scoring would fit another probability
    att = explain("lime", model, x, torch.tensor([0]), [], task="multi-label", n_samples=200, alpha=0.0)
    assert att.maps.shape == (1, 1, 24, 24)


def test_recovers_linear_coefficients_with_default_ridge(linear_case):
    segments, coef, model, x = linear_case
    res = explain_segments(model, x, torch.tensor([0]), segments[None], n_samples=1000)
    np.testing.assert_allclose(res.coef[0], coef, atol=0.03 * np.abs(coef).max())  # ridge shrinkage ≈ 1 %
    painted = res.paint()[0]
    np.testing.assert_array_equal(painted, res.coef[0][segments].astype(np.float32))
    assert set(res.top_superpixels(0, 3)) == set(np.argsort(-coef)[:3])


def test_matches_the_lime_package_on_the_same_samples():
    lime_image = pytest.importorskip("lime.lime_image")
    torch.manual_seed(0)
    model = AlexNet128(3, 4, width=0.125).double().eval()
    x = torch.randn(1, 3, 48, 48, dtype=torch.float64)
    segments = blocks(48, 48, 8)[None]  # 36 superpixels
    z = np.random.default_rng(1).integers(0, 2, (300, 36))
    z[0] = 1

    class Given(np.random.RandomState):  # hands lime exactly our samples
        def randint(self, *args, **kwargs):
            return z.ravel().copy()

    def classifier(imgs):
        with torch.no_grad():
            return torch.softmax(model(torch.from_numpy(imgs).permute(0, 3, 1, 2).contiguous()), 1).numpy()

    explainer = lime_image.LimeImageExplainer(kernel_width=0.25, random_state=Given(0))
    exp = explainer.explain_instance(
        x[0].permute(1, 2, 0).numpy(),
        classifier,
        labels=(2,),
        top_labels=None,
        hide_color=0.0,
        num_samples=300,
        batch_size=32,
        segmentation_fn=lambda _img: segments[0],
    )
    theirs = np.zeros(36)
    for k, w in exp.local_exp[2]:
        theirs[k] = w
    y = score_samples(model, x, torch.tensor([2]), segments, [z.astype(bool)], batch_size=64)[0]
    coef, intercept, _ = fit_linear(z.astype(bool), y, cosine_kernel(z.astype(bool), 0.25), alpha=1.0)
    np.testing.assert_allclose(coef, theirs, rtol=1e-6, atol=1e-9 * np.abs(theirs).max())
    assert intercept == pytest.approx(exp.intercept[2], rel=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 1.0, 0.3])
def test_closed_form_fit_equals_scikit_learn(alpha):
    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(1)
    z = rng.random((120, 9)) < 0.5
    z[:, 4] = z[:, 3]  # collinear columns: OLS takes the minimum norm
    y = rng.random((120, 3))
    w = cosine_kernel(z, 0.4)
    coef, intercept, r2 = fit_linear(z, y, w, alpha)
    reg = (LinearRegression() if alpha == 0 else Ridge(alpha=alpha)).fit(z.astype(float), y, sample_weight=w)
    np.testing.assert_allclose(coef, reg.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(intercept, reg.intercept_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(
        r2, r2_score(y, reg.predict(z.astype(float)), sample_weight=w, multioutput="raw_values"), rtol=1e-8
    )
    c1, b1, r1 = fit_linear(z, y[:, 1], w, alpha)  # one image: same numbers, scalar intercept and R²
    np.testing.assert_allclose(c1, coef[1], rtol=1e-10)
    assert b1 == pytest.approx(intercept[1]) and r1 == pytest.approx(r2[1])
    _, b, r = fit_linear(z, np.full(120, 0.7), w, alpha)  # a constant score: exact fit, R² 1
    assert b == pytest.approx(0.7) and r == 1.0


def test_cosine_kernel_is_the_lime_kernel():
    from sklearn.metrics import pairwise_distances

    z = np.random.default_rng(0).integers(0, 2, (50, 12))
    z[0] = 1
    d = pairwise_distances(z, z[0:1], metric="cosine").ravel()
    np.testing.assert_allclose(cosine_kernel(z, 0.7), np.sqrt(np.exp(-(d**2) / 0.7**2)), rtol=1e-12)


PARAMS = dict(n_samples=64, kernel_size=3, max_dist=20, ratio=0.5, segment_length=5, batch_size=50, seed=3)


@pytest.mark.parametrize("kind", ["alexnet", "cnn1d"])
def test_seeded_repeatable_and_independent_of_batching(kind):
    torch.manual_seed(0)
    if kind == "alexnet":
        model, x = AlexNet128(3, 4, width=0.125).eval(), torch.randn(3, 3, 40, 40)
    else:
        model, x = CNN1D(1, 4, 30, channels=(8,)).eval(), torch.randn(3, 1, 30)
    target = torch.tensor([0, 1, 2])
    a = explain("lime", model, x, target, [], **PARAMS)
    assert a.layers == ["input"] and a.maps.shape == (3, 1, *x.shape[2:]) and torch.isfinite(a.maps).all()
    assert a.maps.abs().max() > 0
    torch.testing.assert_close(explain("lime", model, x, target, [], **PARAMS).maps, a.maps, rtol=0, atol=0)
    one_by_one = torch.cat(
        [explain("lime", model, x[i : i + 1], target[i : i + 1], [], **PARAMS).maps for i in range(3)]
    )
    torch.testing.assert_close(one_by_one, a.maps, rtol=1e-5, atol=1e-7)
    other = explain("lime", model, x, target, [], **dict(PARAMS, seed=4)).maps
    assert not torch.equal(other, a.maps)


def test_segments():
    seg = contiguous_segments(2, 10, 4)
    assert seg.tolist() == [[0, 0, 0, 0, 1, 1, 1, 1, 2, 2]] * 2
    x = torch.zeros(2, 1, 32, 32)
    x[0, :, :, 16:] = 5.0  # two flat halves
    x[1] = torch.linspace(-1, 1, 32).view(1, 1, 32)
    images = display_images(x)
    assert images.shape == (2, 32, 32, 3) and images.min() >= 0 and images.max() <= 1
    labels = quickshift_segments(images, kernel_size=3, max_dist=20, ratio=0.5)
    for lab in labels:
        assert np.array_equal(np.unique(lab), np.arange(lab.max() + 1))  # consecutive labels
    assert len(np.unique(labels[0][:, :16])) >= 1 and not set(np.unique(labels[0][:, :16])) & set(
        np.unique(labels[0][:, 16:])
    )  # no superpixel crosses the edge
