"""Seeded bootstrap confidence intervals over images, and paired differences of two methods.

Every reported mean carries a percentile interval from resampling the images with replacement
(Efron's percentile bootstrap). All resamples are one integer matrix of shape (n_boot, n), so an
interval costs one gather and one reduction, with no Python loop over resamples. The paired
version resamples the *same* images for both methods, so "A beats B" is claimed only when the
interval of the per-image difference excludes 0.
"""

from __future__ import annotations

import numpy as np


def resample_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) indices drawn with replacement; the same seed gives the same resamples."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def bootstrap_ci(
    values: np.ndarray, *, n_boot: int, confidence: float, seed: int, statistic=np.nanmean
) -> tuple[float, float, float]:
    """(estimate, low, high) of ``statistic`` over the last axis of ``values`` (images).

    ``values`` may be (n,) or (..., n); leading axes get their own interval from the same resamples.
    NaN values (e.g. images without a mask) are left out by the default ``nanmean``.
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[-1]
    if n == 0:
        nan = np.full(values.shape[:-1], np.nan)
        return nan, nan.copy(), nan.copy()
    idx = resample_indices(n, n_boot, seed)
    with np.errstate(all="ignore"), _quiet():
        stats = statistic(values[..., idx], axis=-1)  # (..., n_boot)
        est = statistic(values, axis=-1)
    alpha = (1 - confidence) / 2
    low, high = np.nanquantile(stats, [alpha, 1 - alpha], axis=-1)
    return est, low, high


def paired_difference(a: np.ndarray, b: np.ndarray, *, n_boot: int, confidence: float, seed: int) -> dict[str, float]:
    """Mean of a − b over the same images with its bootstrap interval; ``decided`` when it excludes 0."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same images, got shapes {a.shape} and {b.shape}")
    est, low, high = bootstrap_ci(a - b, n_boot=n_boot, confidence=confidence, seed=seed)
    return {
        "difference": float(est),
        "ci_low": float(low),
        "ci_high": float(high),
        "decided": bool(low > 0 or high < 0),
        "n": int(np.isfinite(a - b).sum()),
    }


class _quiet:
    """Silence numpy's 'mean of empty slice' warnings for all-NaN resamples."""

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


__all__ = ["bootstrap_ci", "paired_difference", "resample_indices"]
