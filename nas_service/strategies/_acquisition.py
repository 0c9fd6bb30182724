"""Pure pieces of latency-aware multi-objective search: the front-extension rule, expected hypervolume
improvement with latency known, and a small Gaussian-process regressor (numpy only).

Objectives are accuracy (maximised) and latency (minimised); a front is a list of ``(accuracy, latency_ms)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nas_service.strategies._ranking import Point, pareto_ranks


def front_of(points: Sequence[Point]) -> list[Point]:
    """The non-dominated points, sorted by latency (ascending, so accuracy ascends too)."""
    if not points:
        return []
    ranks = pareto_ranks(points)
    return sorted({p for p, r in zip(points, ranks, strict=True) if r == 0}, key=lambda p: (p[1], p[0]))


def could_extend_front(front: Sequence[Point], latency_ms: float, accuracy_bound: float) -> bool:
    """Whether a candidate of known latency could join the front if its accuracy reached ``accuracy_bound``.

    It cannot when a front point is at least as fast and at least as accurate as the bound (the candidate
    would be dominated whatever its training gives, up to the bound): training it is wasted.
    """
    return not any(lat <= latency_ms and acc >= accuracy_bound for acc, lat in front)


def _norm_pdf(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _norm_cdf(z: np.ndarray) -> np.ndarray:
    from scipy.special import ndtr

    return np.asarray(ndtr(z))


def attained_accuracy(front: Sequence[Point], reference: Point) -> tuple[np.ndarray, np.ndarray]:
    """The front as a step function of latency: breakpoints ``x`` (ascending, ending at the reference
    latency) and ``a[j]``, the best accuracy the front attains at latencies in ``[x[j], x[j+1])``."""
    acc_ref, lat_ref = reference
    xs, levels = [], []
    best = acc_ref
    for acc, lat in sorted(front, key=lambda p: (p[1], -p[0])):
        if lat >= lat_ref or acc <= best:
            continue
        xs.append(lat)
        levels.append(acc)
        best = acc
    return np.asarray(xs + [lat_ref], dtype=float), np.asarray(levels, dtype=float)


def expected_hvi(
    front: Sequence[Point], reference: Point, latency_ms: np.ndarray, mean: np.ndarray, std: np.ndarray
) -> np.ndarray:
    """Expected hypervolume improvement of candidates with known latency and Gaussian accuracy.

    A candidate at latency ``l`` with accuracy ``A`` adds ``sum_j w_j * max(0, A - a_j)`` over the steps ``j``
    of the front's attained accuracy between ``l`` and the reference latency (``w_j`` the step's width, ``a_j``
    its level, the reference accuracy where the front attains nothing). With ``A ~ N(mean, std^2)`` each term's
    expectation is the expected improvement over ``a_j``, so the sum is exact (no sampling).

    Args:
        front: Current points (dominated ones are ignored).
        reference: ``(worst accuracy, worst latency)``.
        latency_ms: Known latency per candidate.
        mean: Predicted accuracy per candidate.
        std: Predictive standard deviation per candidate (0 allowed).

    Returns:
        EHVI per candidate (0 for latencies at or beyond the reference).
    """
    acc_ref, lat_ref = reference
    xs, levels = attained_accuracy(front, reference)
    # Steps: [lat_ref of nothing, x0) has level acc_ref; [x_j, x_{j+1}) has levels[j].
    starts = np.concatenate([[-np.inf], xs[:-1]])
    ends = xs
    lv = np.concatenate([[acc_ref], levels])
    lat = np.asarray(latency_ms, dtype=float)[:, None]
    width = np.clip(ends[None, :] - np.maximum(starts[None, :], lat), 0.0, None)
    mu = np.asarray(mean, dtype=float)[:, None]
    sd = np.maximum(np.asarray(std, dtype=float)[:, None], 1e-12)
    z = (mu - lv[None, :]) / sd
    ei = (mu - lv[None, :]) * _norm_cdf(z) + sd * _norm_pdf(z)
    return np.asarray((width * np.maximum(ei, 0.0)).sum(axis=1))


class GaussianProcess:
    """Exact GP regression with a squared-exponential kernel; lengthscale and noise by marginal likelihood.

    Inputs are feature vectors (one-hot architecture choices plus scaled analytic features); targets are
    standardised inside. Hyperparameters come from a small grid, so a fit is deterministic.
    """

    LENGTHSCALES = (0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
    NOISES = (1e-3, 1e-2, 5e-2, 0.2)

    def fit(self, x: np.ndarray, y: np.ndarray) -> GaussianProcess:
        """Fit to ``x`` (n, d) and ``y`` (n,)."""
        self._x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        self._mu, self._sd = float(y.mean()), float(y.std()) or 1.0
        t = (y - self._mu) / self._sd
        d2 = _sq_dists(self._x, self._x)
        best: tuple[float, float, float] | None = None
        for ls in self.LENGTHSCALES:
            k = np.exp(-0.5 * d2 / ls**2)
            for noise in self.NOISES:
                try:
                    chol = np.linalg.cholesky(k + noise * np.eye(len(t)))
                except np.linalg.LinAlgError:
                    continue
                alpha = np.linalg.solve(chol.T, np.linalg.solve(chol, t))
                nll = 0.5 * t @ alpha + np.log(np.diag(chol)).sum()
                if best is None or nll < best[0]:
                    best = (float(nll), ls, noise)
        _, self.lengthscale, self.noise = best if best is not None else (0.0, 1.0, 0.2)
        k = np.exp(-0.5 * d2 / self.lengthscale**2) + self.noise * np.eye(len(t))
        self._chol = np.linalg.cholesky(k)
        self._alpha = np.linalg.solve(self._chol.T, np.linalg.solve(self._chol, t))
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predictive mean and standard deviation (of the latent function) at ``x`` (m, d)."""
        ks = np.exp(-0.5 * _sq_dists(np.asarray(x, dtype=float), self._x) / self.lengthscale**2)
        mean = ks @ self._alpha
        v = np.linalg.solve(self._chol, ks.T)
        var = np.clip(1.0 - (v * v).sum(axis=0), 1e-12, None)
        return mean * self._sd + self._mu, np.sqrt(var) * self._sd


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0.0)
