"""Random search: independent uniform draws from the space, de-duplicated against everything asked so far."""

from __future__ import annotations

from typing import Any

from nas_service.strategies.base import BaseStrategy


class RandomStrategy(BaseStrategy):
    """Uniform random search (the baseline every other strategy is measured against).

    Settings:
        dedupe_tries: Redraws before a repeat is accepted (default 50).
    """

    name = "random"
    # settings_model: the common StrategySettings (dedupe_tries).
    supports_multi_objective = True  # it ignores the objectives altogether

    def _propose(self, n: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(n):
            params = self.draw_unseen(lambda: self.space.sample(self.rng))
            out.append(params)
            # Mark it at once so the rest of this batch avoids it too (ask() records it again, harmlessly).
            self._seen[self.key(params)] = "pending"
        return out
