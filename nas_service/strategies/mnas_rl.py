"""The MnasNet controller: a factorized categorical policy trained by REINFORCE on the MnasNet reward.

The policy has one independent softmax per decision of the space (``space.parameters()``, i.e. the choices
``space.to_vector`` indexes): MnasNet's factorized hierarchical space makes the decisions per block, and
independent logits are the simplest policy over it. It is implemented with numpy (no torch needed): for a
categorical ``softmax(z)``, ``d log p(a) / dz = onehot(a) - softmax(z)`` is exact and cheap.

Update on each usable tell (asynchronous, like MnasNet's distributed controller)::

    R   = reward (or ``penalty_reward`` for rejected/failed candidates)
    adv = (R - b) / (running std of R - b)      # advantage, normalised unless normalize_advantage is False
    z  += lr * (adv * (onehot(a) - p) + entropy * dH/dz)
    b   = decay * b + (1 - decay) * R           # exponential moving-average baseline

Pruned outcomes do not update the policy (their partial accuracy is not comparable with final ones).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from nas_service.jobspec import StrategyConfig
from nas_service.strategies._settings import StrategySettings
from nas_service.strategies.base import BaseStrategy, Objectives, Outcome, SearchSpaceLike
from nas_service.strategies.latency import FittedLatencyOracle, LatencyOracle, observe_outcome, over_cap


def _softmax(z: list[float]) -> list[float]:
    m = max(z)
    e = [math.exp(v - m) for v in z]
    s = sum(e)
    return [v / s for v in e]


class MnasRLSettings(StrategySettings):
    """Settings of :class:`MnasRLStrategy` (see its docstring)."""

    lr: float = Field(0.3, gt=0, le=100)
    baseline_decay: float = Field(0.9, ge=0, lt=1)
    entropy: float = Field(0.01, ge=0, le=100)
    normalize_advantage: bool = True
    penalty_reward: float | None = Field(None, ge=-1e6, le=1e6)
    max_latency_ms: float | None = Field(None, gt=0, le=1e6)
    filter_tries: int = Field(20, ge=1, le=10_000)


class MnasRLStrategy(BaseStrategy):
    """REINFORCE controller over independent per-decision logits.

    Settings:
        lr: Learning rate (default 0.3).
        baseline_decay: EMA decay of the baseline (default 0.9; MnasNet used 0.95 with many more samples).
        entropy: Entropy bonus weight (default 0.01), keeps the policy from collapsing too early.
        normalize_advantage: Divide the advantage by its running standard deviation (default True): MnasNet
            rewards differ by a few hundredths, which otherwise needs a tiny budget-dependent lr.
        penalty_reward: Reward for rejected and failed candidates (default: the job's ``rejected_reward``, 0).
        dedupe_tries: Re-samples before a repeat is accepted (default 50).
        max_latency_ms: The job's latency constraint: a sample the latency oracle puts over it is redrawn (up
            to ``filter_tries`` times) and never trained, so the policy samples under the constraint.
    """

    name = "mnas-rl"
    supports_multi_objective = False
    settings_model = MnasRLSettings
    settings: MnasRLSettings

    def __init__(
        self,
        space: SearchSpaceLike,
        config: StrategyConfig,
        objectives: Objectives | None = None,
        *,
        latency_oracle: LatencyOracle | None = None,
    ):
        """See :class:`BaseStrategy`; ``latency_oracle`` (default: fitted online) serves ``max_latency_ms``."""
        super().__init__(space, config, objectives)
        self.oracle: LatencyOracle = latency_oracle if latency_oracle is not None else FittedLatencyOracle()
        self._choices = self.space.parameters()
        self.logits: dict[str, list[float]] = {k: [0.0] * len(v) for k, v in self._choices.items()}
        self.lr = self.settings.lr
        self.decay = self.settings.baseline_decay
        self.entropy = self.settings.entropy
        self.normalize = self.settings.normalize_advantage
        penalty = self.settings.penalty_reward
        self.penalty = float(penalty if penalty is not None else self.objectives.rejected_reward)
        self.baseline: float | None = None
        self.adv_var = 0.0
        self.updates = 0

    def probabilities(self) -> dict[str, list[float]]:
        """The current policy: per decision, the probability of each choice."""
        return {k: _softmax(z) for k, z in self.logits.items()}

    def _sample(self) -> dict[str, Any]:
        out = {}
        for name, z in self.logits.items():
            u, acc = self.rng.random(), 0.0
            probs = _softmax(z)
            idx = len(probs) - 1
            for i, p in enumerate(probs):
                acc += p
                if u < acc:
                    idx = i
                    break
            out[name] = self._choices[name][idx]
        return out

    def _propose(self, n: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(n):
            params = self.draw_unseen(self._sample_under_cap, fallback=lambda: self.space.sample(self.rng))
            self._seen[self.key(params)] = "pending"
            out.append(params)
        return out

    def _sample_under_cap(self) -> dict[str, Any]:
        params = self._sample()
        for _ in range(self.settings.filter_tries - 1):
            if not over_cap(self.oracle, self._architecture(params), self.settings.max_latency_ms):
                break
            params = self._sample()
        return params

    def _observe(self, suggestion_id: str, params: dict[str, Any], outcome: Outcome) -> None:
        if self.settings.max_latency_ms is not None:
            observe_outcome(self.oracle, self._architecture(params), outcome)
        if outcome.usable:
            reward = self.objectives.reward_of(outcome)
        elif outcome.state in ("rejected", "failed"):
            reward = self.penalty
        else:
            return
        if reward is None:
            return
        self._update(params, float(reward))

    def _update(self, params: dict[str, Any], reward: float) -> None:
        if self.baseline is None:
            self.baseline = reward
        adv = reward - self.baseline
        self.adv_var = self.decay * self.adv_var + (1 - self.decay) * adv * adv
        if self.normalize:
            adv = adv / (math.sqrt(self.adv_var) + 1e-8) if self.adv_var > 0 else 0.0
        for name, z in self.logits.items():
            probs = _softmax(z)
            chosen = (
                self._choices[name].index(params[name]) if params.get(name) in self._choices[name] else -1
            )
            h = -sum(p * math.log(p) for p in probs if p > 0)
            for i, p in enumerate(probs):
                grad_logp = (1.0 if i == chosen else 0.0) - p
                grad_h = -p * (math.log(p) + h) if p > 0 else 0.0
                z[i] += self.lr * (adv * grad_logp + self.entropy * grad_h)
        self.baseline = self.decay * self.baseline + (1 - self.decay) * reward
        self.updates += 1

    def _extra_state(self) -> dict[str, Any]:
        return {
            "logits": self.logits,
            "baseline": self.baseline,
            "adv_var": self.adv_var,
            "updates": self.updates,
        }

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:
        self.logits = {k: [float(x) for x in v] for k, v in extra["logits"].items()}
        self.baseline = extra.get("baseline")
        self.adv_var = float(extra.get("adv_var", 0.0))
        self.updates = int(extra.get("updates", 0))
        if self.settings.max_latency_ms is not None:  # the fitted oracle is derived from the restored history
            for h in self.history:
                observe_outcome(self.oracle, self._architecture(h["params"]), Outcome.from_dict(h["outcome"]))
