"""The metric math against closed-form values and scipy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from ganforge.metrics import stats


def _scipy_fid(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    d = mu1 - mu2
    return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_fid_closed_form_diagonal_gaussians():
    # For diagonal covariances FID = |mu1-mu2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    want = 1 + 0 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 1) ** 2
    assert stats.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(want, rel=1e-10)


def test_fid_matches_scipy_on_random_covariances():
    rng = np.random.default_rng(0)
    for d in (2, 16, 64):
        x, y = rng.normal(size=(d, d)), rng.normal(size=(d, d))
        s1, s2 = x @ x.T + 0.1 * np.eye(d), y @ y.T + 0.1 * np.eye(d)
        mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
        want = _scipy_fid(mu1, s1, mu2, s2)
        assert stats.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-7)


def test_fid_samples_of_known_gaussians():
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, (20000, 4))
    b = rng.normal(0.5, 2, (20000, 4))
    want = 4 * 0.25 + 4 * (1 - 2) ** 2  # mean shift 0.5 per dim; sd 1 vs 2
    assert stats.fid_from_features(a, b) == pytest.approx(want, rel=0.05)


def test_fid_self_is_zero_and_singular_covariance_is_finite():
    rng = np.random.default_rng(2)
    f = rng.normal(size=(500, 32))
    assert stats.fid_from_features(f, f) == pytest.approx(0, abs=1e-8)
    # Rank-deficient features (fewer samples than dims, duplicated columns): no NaN, >= 0.
    g = rng.normal(size=(10, 64))
    g[:, 32:] = g[:, :32]
    h = rng.normal(size=(10, 64))
    v = stats.fid_from_features(g, h)
    assert np.isfinite(v) and v >= 0


def test_kid_zero_for_same_distribution_positive_for_different():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(1000, 8)), rng.normal(size=(1000, 8))
    c = rng.normal(1.0, 1, size=(1000, 8))
    same, _ = stats.kid(a, b, subsets=20, subset_size=500)
    diff, _ = stats.kid(a, c, subsets=20, subset_size=500)
    assert abs(same) < 0.01 and diff > 0.1


def test_kid_matches_hand_computed_polynomial_mmd():
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = np.array([[1.0, 1.0], [0.0, 0.0]])
    k = lambda u, v: (u @ v / 2 + 1) ** 3  # noqa: E731
    kxx = k(x[0], x[1])
    kyy = k(y[0], y[1])
    kxy = np.mean([k(u, v) for u in x for v in y])
    want = kxx + kyy - 2 * kxy  # m = 2: one off-diagonal pair each, counted twice / (2*1)
    got, _ = stats.kid(x, y, subsets=1, subset_size=2)
    assert got == pytest.approx(want)


def test_inception_score_bounds():
    onehot = np.eye(10)[np.arange(1000) % 10]  # confident and balanced: IS = 10
    assert stats.inception_score(onehot, splits=1)[0] == pytest.approx(10, rel=1e-6)
    collapsed = np.tile(np.eye(10)[3], (1000, 1))  # one class only: IS = 1
    assert stats.inception_score(collapsed, splits=1)[0] == pytest.approx(1, rel=1e-6)


def test_class_coverage_detects_mode_collapse():
    balanced = np.eye(10)[np.arange(1000) % 10]
    cov = stats.class_coverage(balanced)
    assert cov["classes_covered"] == 10 and cov["entropy"] == pytest.approx(1.0)
    collapsed = np.eye(10)[np.r_[np.full(995, 3), np.arange(5)]]
    cov = stats.class_coverage(collapsed)
    assert cov["classes_covered"] == 1 and cov["entropy"] < 0.1


def test_precision_recall():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(1000, 2))
    p, r = stats.precision_recall(real, rng.normal(size=(1000, 2)))
    assert p > 0.9 and r > 0.9
    # Fakes on a small part of the real support: precise, but low recall (mode dropping).
    p, r = stats.precision_recall(real, rng.normal(0, 0.1, size=(1000, 2)))
    assert p > 0.95 and r < 0.3
    # Fakes far away: neither.
    p, r = stats.precision_recall(real, rng.normal(10, 1, size=(1000, 2)))
    assert p < 0.01 and r < 0.01


def test_c2st_and_mmd():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(600, 10)), rng.normal(size=(600, 10))
    noise = rng.uniform(-3, 3, size=(600, 10))
    assert abs(stats.c2st(a, b) - 0.5) < 0.08
    assert stats.c2st(a, noise + 5) > 0.99
    same, bw = stats.mmd_rbf(a, b)
    diff, _ = stats.mmd_rbf(a, noise + 1, bandwidth=bw)
    assert abs(same) < 0.01 and diff > 0.05


def test_fid_with_fewer_images_than_dimensions_matches_the_covariance_route():
    """The Gram-side FID (n < d, e.g. pixel features) is the same number as the d x d route."""
    from ganforge.metrics import stats

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 300)), rng.normal(0.2, 1.3, size=(45, 300))
    want = stats.frechet_distance(*stats.mean_cov(a), *stats.mean_cov(b))
    assert stats.fid_from_features(a, b) == pytest.approx(want, rel=1e-7)
    assert stats.fid_from_features(a, a) == pytest.approx(0.0, abs=1e-6)


def test_kid_reads_its_subsets_from_kernels_computed_once(monkeypatch):
    """The same numbers as computing the kernels per subset (the paper's recipe), whether the
    subsets are smaller than the sets, the whole sets, or the sets too large to keep kernels."""
    def per_subset(a, b, subsets, subset_size, seed=0):
        d, m = a.shape[1], min(subset_size, len(a), len(b))
        rng = np.random.default_rng(seed)
        vals = []
        for _ in range(subsets):
            x, y = a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
            vals.append(stats._mmd2_unbiased((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3,
                                             (x @ y.T / d + 1) ** 3))
        return np.mean(vals), np.std(vals)

    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(300, 16)), rng.normal(0.3, 1, size=(250, 16))
    for sub in (100, 250, 1000):  # a subset, all of b (a subset of a), everything
        assert stats.kid(a, b, subsets=7, subset_size=sub, seed=2) == pytest.approx(
            per_subset(a, b, 7, sub, seed=2), rel=1e-9, abs=1e-12)
    assert stats.kid(a[:250], b, subsets=7, subset_size=1000)[1] == 0.0  # one number, computed once
    monkeypatch.setattr(stats, "KID_FULL_KERNEL", 100)  # too large to keep: kernels per subset
    assert stats.kid(a, b, subsets=3, subset_size=50) == pytest.approx(per_subset(a, b, 3, 50), rel=1e-9)
