"""Localisation metrics against Quantus where the definitions coincide, hand-computed cases where not."""

import numpy as np
import pytest

from posthoc.metrics import localisation as loc

quantus = pytest.importorskip("quantus")


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    n, h, w = 12, 16, 16
    maps = rng.random((n, 1, h, w)).astype(np.float64)  # non-negative and tie-free
    masks = np.zeros((n, h, w), bool)
    for i in range(n):
        y, x, s = rng.integers(0, 8), rng.integers(0, 8), rng.integers(3, 8)
        masks[i, y : y + s, x : x + s] = True
    maps[0, 0][masks[0]] += 1.0  # one certain hit
    x = rng.random((n, 3, h, w)).astype(np.float32)
    return maps, masks, x, np.zeros(n, int)


def _quantus(metric, maps, masks, x, y):
    return np.asarray(
        metric(
            model=None, x_batch=x, y_batch=y, a_batch=maps.astype(np.float32), s_batch=masks[:, None].astype(np.float32)
        ),
        np.float64,
    )


def test_pointing_game_equals_quantus(batch):
    maps, masks, x, y = batch
    ref = _quantus(quantus.PointingGame(normalise=False, disable_warnings=True), maps, masks, x, y)
    np.testing.assert_allclose(loc.pointing_game(maps, masks)[:, 0], ref, atol=1e-6)
    assert loc.pointing_game(maps, masks)[0, 0] == 1


def test_relevance_mass_equals_quantus_on_nonnegative_maps(batch):
    maps, masks, x, y = batch
    ref = _quantus(quantus.RelevanceMassAccuracy(normalise=False, disable_warnings=True), maps, masks, x, y)
    np.testing.assert_allclose(loc.relevance_mass(maps, masks)[:, 0], ref, atol=1e-6)


def test_relevance_mass_counts_only_positive_attribution():
    # Quantus sums signed values (1 + 1 - 1) / (1 + 1 - 1 + 1) = 0.5; the share of positive evidence is 2/3
    maps = np.array([[[[1.0, 1.0], [-1.0, 1.0]]]])
    masks = np.array([[[True, True], [True, False]]])
    assert loc.relevance_mass(maps, masks)[0, 0] == pytest.approx(2 / 3)


def test_rank_accuracy_equals_quantus(batch):
    maps, masks, x, y = batch
    ref = _quantus(quantus.RelevanceRankAccuracy(normalise=False, disable_warnings=True), maps, masks, x, y)
    np.testing.assert_allclose(loc.rank_accuracy(maps, masks)[:, 0], ref, atol=1e-6)


def test_topk_intersection_equals_quantus(batch):
    maps, masks, x, y = batch
    ref = _quantus(quantus.TopKIntersection(k=20, normalise=False, disable_warnings=True), maps, masks, x, y)
    np.testing.assert_allclose(loc.topk_intersection(maps, masks, 20)[:, 0], ref, atol=1e-6)


def test_topk_iou_hand_computed():
    # 4 x 4 map ranked 15..0 row-major; top 25 % = the first row; mask = first column (4 positions)
    maps = np.arange(15, -1, -1, dtype=float).reshape(1, 1, 4, 4)
    masks = np.zeros((1, 4, 4), bool)
    masks[0, :, 0] = True
    # intersection {(0, 0)} = 1, union = 4 + 4 - 1 = 7
    assert loc.topk_iou(maps, masks, 25)[0, 0] == pytest.approx(1 / 7)


def test_ties_broken_by_position_and_empty_masks_are_nan():
    maps = np.zeros((2, 1, 2, 2))
    masks = np.array([[[False, True], [False, False]], np.zeros((2, 2), bool)])
    assert loc.rank_accuracy(maps, masks)[0, 0] == 0.0  # the all-zero map ranks (0, 0) first
    assert loc.pointing_game(maps, masks)[0, 0] == 1.0  # every position is a maximum
    out = loc.localisation_scores(maps, masks, topk_percent=25, distractor=masks)
    assert all(np.isnan(v[1, 0]) for v in out.values())
    assert set(out) == {"pointing_game", "relevance_mass", "rank_accuracy", "topk_iou", "distractor_share"}


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="disagree"):
        loc.pointing_game(np.zeros((2, 1, 4, 4)), np.zeros((2, 5, 4), bool))
