"""The MnasNet multi-objective reward.

MnasNet (Tan et al., 2019) folds accuracy and latency into one scalar to maximise::

    reward = ACC * (LAT / T) ** w,   w = alpha if LAT <= T else beta

with ``T`` the latency target. Presets (:data:`REWARD_PRESETS`):

- ``soft`` (MnasNet): ``alpha = beta = -0.07``; doubling latency costs about 5% of the reward, on either
  side of the target, so the search trades accuracy and latency smoothly.
- ``hard``: ``alpha = 0, beta = -1``; accuracy alone below the target, a steep penalty above it.
- ``mobilenetv3``: ``alpha = beta = -0.15``; MobileNetV3's choice for small models, whose accuracy changes
  more steeply with latency.
"""

from __future__ import annotations

import math

from nas_service.jobspec import RewardConfig

#: Named (alpha, beta) pairs: the values :class:`nas_service.jobspec.RewardConfig` resolves ``preset`` to.
REWARD_PRESETS: dict[str, tuple[float, float]] = {
    "soft": (-0.07, -0.07),
    "hard": (0.0, -1.0),
    "mobilenetv3": (-0.15, -0.15),
}


def _finite(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return v


def mnasnet_reward(accuracy: float, latency_ms: float, target_ms: float, alpha: float, beta: float) -> float:
    """The MnasNet reward ``accuracy * (latency_ms / target_ms) ** w`` (``w = alpha`` at or under the target).

    ``w = beta`` over the target.

    Args:
        accuracy: Validation accuracy in [0, 1].
        latency_ms: Measured latency, > 0.
        target_ms: Latency target ``T``, > 0.
        alpha: Exponent at or under the target (usually <= 0).
        beta: Exponent over the target (usually <= 0).

    Returns:
        The reward (0 for zero accuracy).

    Raises:
        ValueError: An argument is not finite, ``accuracy`` outside [0, 1], or a latency not positive.
    """
    acc = _finite("accuracy", accuracy)
    lat = _finite("latency_ms", latency_ms)
    target = _finite("target_ms", target_ms)
    a = _finite("alpha", alpha)
    b = _finite("beta", beta)
    if not 0.0 <= acc <= 1.0:
        raise ValueError(f"accuracy must be in [0, 1], got {accuracy!r}")
    if lat <= 0:
        raise ValueError(f"latency_ms must be > 0, got {latency_ms!r}")
    if target <= 0:
        raise ValueError(f"target_ms must be > 0, got {target_ms!r}")
    w = a if lat <= target else b
    return acc * (lat / target) ** w


def reward_from_config(accuracy: float, latency_ms: float, config: RewardConfig) -> float:
    """:func:`mnasnet_reward` with the target and exponents of a job's :class:`RewardConfig`.

    Raises:
        ValueError: As :func:`mnasnet_reward`.
    """
    alpha, beta = REWARD_PRESETS[config.preset or "soft"]
    if config.alpha is not None:
        alpha = config.alpha
    if config.beta is not None:
        beta = config.beta
    return mnasnet_reward(accuracy, latency_ms, config.target_ms, alpha, beta)
