"""The statistics behind the metrics, as small pure functions on feature matrices.

All in float64. References: FID (Heusel et al. 2017), KID (Binkowski et al. 2018), IS (Salimans
et al. 2016), precision/recall (Kynkaanniemi et al. 2019), C2ST (Lopez-Paz & Oquab 2017),
MMD (Gretton et al. 2012).
"""

from __future__ import annotations

import numpy as np

# KID computes its kernel matrices once for sets up to this many images a side (3 float64
# matrices of 5,000^2: 600 MB); larger sets are kernelled per subset, as the paper does.
KID_FULL_KERNEL = 5000


def mean_cov(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(feats, dtype=np.float64)
    return f.mean(0), np.atleast_2d(np.cov(f, rowvar=False))  # 1-d features: a 1x1 matrix


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    Tr((S1 S2)^(1/2)) is computed as the sum of square roots of the eigenvalues of the symmetric
    PSD matrix S1^(1/2) S2 S1^(1/2) (same spectrum as S1 S2), so it never goes complex or NaN
    for near-singular covariances, unlike a general-matrix ``sqrtm``.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(s1, np.float64), np.asarray(s2, np.float64)
    r1 = _sqrt_psd(s1)
    m = r1 @ s2 @ r1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt, 0.0))


def fid_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """FID between two feature sets. With fewer images than feature dimensions (pixel features:
    3,072 dims) it works on the n x n Gram side instead, exactly: with centred features X1, X2,
    Tr((S1 S2)^(1/2)) is the sum of the singular values of X1 X2^T / sqrt((n1-1)(n2-1)) and
    Tr(S) = ||X||_F^2 / (n-1) -- the same number, without d x d matrix roots."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    if min(len(a), len(b)) >= a.shape[1] or min(len(a), len(b)) < 2:
        return frechet_distance(*mean_cov(a), *mean_cov(b))
    xa, xb = a - a.mean(0), b - b.mean(0)
    na, nb = len(a) - 1, len(b) - 1
    tr_sqrt = np.linalg.svd(xa @ xb.T, compute_uv=False).sum() / np.sqrt(na * nb)
    diff = a.mean(0) - b.mean(0)
    return float(max(diff @ diff + (xa * xa).sum() / na + (xb * xb).sum() / nb - 2 * tr_sqrt, 0.0))


def _mmd2_unbiased(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    m, n = kxx.shape[0], kyy.shape[0]
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                 + (kyy.sum() - np.trace(kyy)) / (n * (n - 1)) - 2 * kxy.mean())


def kid(a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3, over subsets.

    Returns (mean, std) over ``subsets`` random subsets of ``subset_size`` (capped at the sizes).

    The kernel matrices are computed once for the whole sets (up to ``KID_FULL_KERNEL`` images
    a side) and every subset reads its rows from them. A subset as large as both sets is the
    whole set in another order, and the unbiased estimate does not depend on the order, so then
    the value is computed once (std 0). Computing the kernels per subset made ``eval --n 1000``
    on 3,072 pixel features spend ~1 CPU-minute per KID, mostly recomputing one number.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = a.shape[1]
    m = min(subset_size, len(a), len(b))

    def k(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (x @ y.T / d + 1) ** 3

    if m == len(a) == len(b):
        return _mmd2_unbiased(k(a, a), k(b, b), k(a, b)), 0.0
    rng = np.random.default_rng(seed)
    full = max(len(a), len(b)) <= KID_FULL_KERNEL
    if full:
        kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
    vals = []
    for _ in range(subsets):
        i = rng.choice(len(a), m, replace=False)
        j = rng.choice(len(b), m, replace=False)
        if full:
            vals.append(_mmd2_unbiased(kaa[np.ix_(i, i)], kbb[np.ix_(j, j)], kab[np.ix_(i, j)]))
        else:
            x, y = a[i], b[j]
            vals.append(_mmd2_unbiased(k(x, x), k(y, y), k(x, y)))
    return float(np.mean(vals)), float(np.std(vals))


def _sqdist(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.maximum((x * x).sum(1)[:, None] + (y * y).sum(1)[None] - 2 * x @ y.T, 0)


def mmd_rbf(a: np.ndarray, b: np.ndarray, bandwidth: float | None = None,
            max_n: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Unbiased MMD^2 with a Gaussian kernel; bandwidth by the median heuristic if not given.

    Returns (mmd2, bandwidth). Uses at most ``max_n`` samples per side (O(n^2) memory).
    """
    rng = np.random.default_rng(seed)
    a = np.asarray(a, np.float64).reshape(len(a), -1)
    b = np.asarray(b, np.float64).reshape(len(b), -1)
    a = a[rng.choice(len(a), min(max_n, len(a)), replace=False)]
    b = b[rng.choice(len(b), min(max_n, len(b)), replace=False)]
    dxx, dyy, dxy = _sqdist(a, a), _sqdist(b, b), _sqdist(a, b)
    if bandwidth is None:
        bandwidth = float(np.sqrt(np.median(dxy) / 2)) or 1.0
    g = 1 / (2 * bandwidth**2)
    return _mmd2_unbiased(np.exp(-g * dxx), np.exp(-g * dyy), np.exp(-g * dxy)), bandwidth


def inception_score(probs: np.ndarray, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))), mean and std over ``splits`` chunks.

    The samples are shuffled (seeded) before splitting: chunks of a set sorted by class would
    each hold few classes and score far too low.
    """
    p = np.asarray(probs, np.float64)
    p = p[np.random.default_rng(seed).permutation(len(p))]
    scores = []
    for part in np.array_split(p, splits):
        py = part.mean(0, keepdims=True)
        kl = (part * (np.log(part + 1e-12) - np.log(py + 1e-12))).sum(1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def class_coverage(probs: np.ndarray, min_share: float = 0.01) -> dict[str, float | int | list]:
    """Which classes the samples fall into: a direct mode-collapse alarm.

    ``classes_covered``: classes that get at least ``min_share`` of the argmax predictions;
    ``entropy``: entropy of the predicted-class histogram divided by log(num classes) (1.0 =
    perfectly balanced, 0 = one class only).
    """
    p = np.asarray(probs)
    k = p.shape[1]
    hist = np.bincount(p.argmax(1), minlength=k) / len(p)
    nz = hist[hist > 0]
    return {"classes_covered": int((hist >= min_share).sum()), "num_classes": k,
            "entropy": max(0.0, float(-(nz * np.log(nz)).sum() / np.log(k))),  # no "-0.000"
            "histogram": [round(float(h), 4) for h in hist]}


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3,
                     chunk: int = 2000) -> tuple[float, float]:
    """Improved precision and recall: is each fake inside some real sample's k-NN ball, and
    each real inside some fake's? (Kynkaanniemi et al. 2019)."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)

    def radii(x: np.ndarray) -> np.ndarray:
        out = np.empty(len(x))
        for i in range(0, len(x), chunk):
            d = _sqdist(x[i : i + chunk], x)
            out[i : i + chunk] = np.sqrt(np.partition(d, k, axis=1)[:, k])  # k-th neighbour, self at 0
        return out

    def covered(manifold: np.ndarray, r: np.ndarray, probe: np.ndarray) -> float:
        hits = 0
        for i in range(0, len(probe), chunk):
            d = np.sqrt(_sqdist(probe[i : i + chunk], manifold))
            hits += int((d <= r[None]).any(1).sum())
        return hits / len(probe)

    return covered(real, radii(real), fake), covered(fake, radii(fake), real)


def c2st(a: np.ndarray, b: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Classifier two-sample test: cross-validated accuracy of a logistic regression telling
    ``a`` from ``b`` (balanced). 0.5 = indistinguishable, 1.0 = perfectly separable."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n = min(len(a), len(b))
    rng = np.random.default_rng(seed)
    a = np.asarray(a, np.float64).reshape(len(a), -1)[rng.choice(len(a), n, replace=False)]
    b = np.asarray(b, np.float64).reshape(len(b), -1)[rng.choice(len(b), n, replace=False)]
    x = np.concatenate([a, b])
    y = np.r_[np.zeros(n), np.ones(n)]
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(clf, x, y, cv=cv, scoring="accuracy").mean())


def domain_share(a: np.ndarray, b: np.ndarray, x: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Did a translation land in domain B? A logistic regression is fitted on half of ``a``
    (real A, label 0) and half of ``b`` (real B, label 1); ``value`` is the share of ``x``
    (translations of A) it calls B, ``real`` the share of the other half of real B it calls B,
    ``real_a`` the share of the other half of real A it calls B (what an identity map scores)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    flat = [np.asarray(v, np.float64).reshape(len(v), -1) for v in (a, b, x)]
    a, b, x = flat
    rng = np.random.default_rng(seed)
    pa, pb = rng.permutation(len(a)), rng.permutation(len(b))
    ha, hb = len(a) // 2, len(b) // 2
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    clf.fit(np.concatenate([a[pa[:ha]], b[pb[:hb]]]), np.r_[np.zeros(ha), np.ones(hb)])
    return {"value": float(clf.predict(x).mean()), "real": float(clf.predict(b[pb[hb:]]).mean()),
            "real_a": float(clf.predict(a[pa[ha:]]).mean()), "n": len(x)}
