"""Bootstrap intervals: seeded, and covering a known mean at about their nominal rate."""

import numpy as np
import pytest

from posthoc.metrics.intervals import bootstrap_ci, paired_difference


def test_seeded_and_ordered():
    v = np.random.default_rng(0).normal(size=50)
    a = bootstrap_ci(v, n_boot=500, confidence=0.95, seed=7)
    b = bootstrap_ci(v, n_boot=500, confidence=0.95, seed=7)
    assert a == b and a[1] < a[0] < a[2]
    assert a[0] == pytest.approx(v.mean())


def test_coverage_near_nominal_on_synthetic_data():
    # 400 samples of n = 60 from an exponential (skewed) with known mean 1; the 95 % percentile
    # interval should cover it in roughly 95 % of them (percentile bootstrap is a little short at small n)
    rng = np.random.default_rng(123)
    data = rng.exponential(1.0, size=(400, 60))
    est, low, high = bootstrap_ci(data, n_boot=1000, confidence=0.95, seed=1)
    coverage = np.mean((low <= 1.0) & (1.0 <= high))
    assert 0.90 <= coverage <= 0.98, coverage
    est, low, high = bootstrap_ci(data, n_boot=1000, confidence=0.80, seed=1)
    assert 0.74 <= np.mean((low <= 1.0) & (1.0 <= high)) <= 0.86


def test_paired_difference_decides_only_when_interval_excludes_zero():
    rng = np.random.default_rng(5)
    base = rng.normal(size=200)
    better = paired_difference(base + 0.3 + rng.normal(0, 0.1, 200), base, n_boot=1000, confidence=0.95, seed=0)
    assert better["decided"] and better["ci_low"] > 0
    same = paired_difference(base + rng.normal(0, 0.1, 200), base, n_boot=1000, confidence=0.95, seed=0)
    assert same["ci_low"] < 0 < same["ci_high"] and not same["decided"]
    with pytest.raises(ValueError, match="same images"):
        paired_difference(base, base[:10], n_boot=10, confidence=0.9, seed=0)


def test_nan_images_are_left_out():
    v = np.array([1.0, np.nan, 3.0])
    assert bootstrap_ci(v, n_boot=100, confidence=0.9, seed=0)[0] == pytest.approx(2.0)
