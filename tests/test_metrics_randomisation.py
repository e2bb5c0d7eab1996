"""Sanity-check building blocks: similarity functions against Quantus/SciPy, randomisation order."""

import numpy as np
import pytest
import torch
from torch import nn

from posthoc.metrics import randomisation as rnd

quantus = pytest.importorskip("quantus")


def test_spearman_rows_equals_quantus_with_ties():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 5, (6, 50)).astype(float)  # many ties (as ReLU maps have)
    b = a + rng.normal(0, 1, a.shape)
    ref = [quantus.similarity_func.correlation_spearman(x, y) for x, y in zip(a, b)]
    np.testing.assert_allclose(rnd.spearman_rows(a, b), ref, atol=1e-9)
    assert np.isnan(rnd.spearman_rows(np.zeros((1, 5)), b[:1, :5])[0])  # constant map: undefined


def test_average_ranks_equal_scipy_rankdata_on_float32_ties_and_nan():
    from scipy.stats import rankdata

    rng = np.random.default_rng(3)
    a = np.maximum(rng.normal(size=(40, 300)), 0).astype(np.float32)  # ReLU-like: many tied zeros
    a[:, :20] = np.round(a[:, :20], 1)  # and ties among non-zero values
    a[5, :] = 0.0  # one constant row
    np.testing.assert_array_equal(rnd.average_ranks(a), rankdata(a, axis=1))
    a[7, 3] = np.nan
    ranks = rnd.average_ranks(a)
    assert np.isnan(ranks[7]).all() and not np.isnan(np.delete(ranks, 7, 0)).any()  # SciPy propagates NaN
    signed = np.round(rng.normal(size=(20, 200)), 1).astype(np.float32)  # negative values and ties among them
    signed[:, :5] = -0.0  # equal to +0.0 (tied with it), though its bits differ
    signed[:, 5:10] = 0.0
    signed[0, 10:20] = [np.inf, -np.inf, 3e38, -3e38, 1e-45, -1e-45, 1e-38, -1e-38, 7.0, -7.0]
    np.testing.assert_array_equal(rnd.average_ranks(signed), rankdata(signed, axis=1))
    np.testing.assert_array_equal(rnd.average_ranks(signed.astype(np.float64)), rankdata(signed, axis=1))
    ints = rng.integers(0, 3, (4, 9))
    np.testing.assert_array_equal(rnd.average_ranks(ints), rankdata(ints, axis=1))


def test_spearman_rows_equals_scipy_on_many_float32_rows():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(4)
    a = np.maximum(rng.normal(size=(30, 64 * 64)), 0).astype(np.float32)
    b = (a + rng.normal(0, 0.5, a.shape)).astype(np.float32)
    ref = [spearmanr(x, y).statistic for x, y in zip(a, b)]
    np.testing.assert_allclose(rnd.spearman_rows(a, b), ref, atol=1e-12)
    # no value repeats anywhere (the shared-rank path), and a NaN makes its pair's ρ NaN, as SciPy
    c = np.stack([rng.permutation(64 * 64) for _ in range(8)]).astype(np.float32)
    d = np.stack([rng.permutation(64 * 64) for _ in range(8)]).astype(np.float32)
    d[:, :100] = c[:, :100]
    ref = [spearmanr(x, y).statistic for x, y in zip(c, d)]
    np.testing.assert_allclose(rnd.spearman_rows(c, d), ref, atol=1e-12)
    d[2, 7] = np.nan
    rho = rnd.spearman_rows(c, d)
    assert np.isnan(rho[2]) and not np.isnan(np.delete(rho, 2)).any()


def test_ssim_rows_equals_skimage_with_flat_regions_and_float32():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(5)
    a = np.maximum(rng.normal(size=(6, 32, 29)), 0)  # zeros in flat patches
    a[:, :10, :10] = 0.25
    b = 0.5 * a + 0.5 * np.maximum(rng.normal(size=a.shape), 0)
    ref = [structural_similarity(x, y, data_range=max(x.max(), y.max()) - min(x.min(), y.min())) for x, y in zip(a, b)]
    np.testing.assert_allclose(rnd.ssim_rows(a, b), ref, atol=1e-10)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    ref32 = [quantus.similarity_func.ssim(x, y) for x, y in zip(a32, b32)]  # skimage in float32
    np.testing.assert_allclose(rnd.ssim_rows(a32, b32), ref32, atol=1e-5)


def test_ssim_rows_equals_quantus_skimage():
    rng = np.random.default_rng(2)
    a = rng.random((5, 20, 17))
    b = 0.6 * a + 0.4 * rng.random(a.shape)
    ref = [quantus.similarity_func.ssim(x, y) for x, y in zip(a, b)]
    np.testing.assert_allclose(rnd.ssim_rows(a, b), ref, atol=1e-6)
    np.testing.assert_allclose(rnd.ssim_rows(a[:1], a[:1]), [1.0], atol=1e-12)


def _model():
    torch.manual_seed(0)
    layers = [nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)]
    return nn.Sequential(*layers).eval()


def test_cascading_randomises_from_the_top_and_independent_one_layer():
    model = _model()
    names = rnd.parameterised_layers(model)
    assert names == ["0", "2", "4"]
    before = {n: model.get_submodule(n).weight.detach().clone() for n in names}
    steps = list(rnd.cascading_models(model, seed=3))
    assert [label for label, _ in steps] == ["4", "2", "all"]
    for depth, (_, m) in enumerate(steps, start=1):
        changed = [not torch.equal(m.get_submodule(n).weight, before[n]) for n in names]
        assert changed == [False] * (len(names) - depth) + [True] * depth
    for name, m in rnd.independent_models(model, seed=3):
        assert [not torch.equal(m.get_submodule(n).weight, before[n]) for n in names] == [n == name for n in names]
    assert all(torch.equal(model.get_submodule(n).weight, before[n]) for n in names)  # original untouched
    # seeded: the same seed gives the same random weights
    again = list(rnd.cascading_models(model, seed=3))
    assert torch.equal(again[-1][1].get_submodule("0").weight, steps[-1][1].get_submodule("0").weight)


def test_gradient_maps_change_under_full_randomisation():
    from posthoc.explain import explain

    model = _model()
    x = torch.randn(4, 1, 8, 8)
    t = torch.zeros(4, dtype=torch.long)
    orig = explain("saliency", model, x, t, []).maps.flatten(1).numpy()
    _, full = list(rnd.cascading_models(model, seed=0))[-1]
    new = explain("saliency", full, x, t, []).maps.flatten(1).numpy()
    assert np.nanmedian(rnd.spearman_rows(orig, new)) < 0.9
