"""Exhaustive grid search, refused for spaces over a cap."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from nas_service.jobspec import StrategyConfig
from nas_service.strategies._settings import StrategySettings
from nas_service.strategies.base import BaseStrategy, Objectives, SearchSpaceLike

DEFAULT_MAX_GRID = 10_000


class GridSettings(StrategySettings):
    """Settings of :class:`GridStrategy` (see its docstring)."""

    max_grid: int = Field(DEFAULT_MAX_GRID, ge=1, le=10_000_000)
    shuffle: bool = False


class GridStrategy(BaseStrategy):
    """Visit every point of ``space.grid()`` once (canonical duplicates skipped), in order or seeded-shuffled.

    ``ask`` returns fewer suggestions than asked once the grid is used up; :meth:`is_exhausted` then says so.

    Settings:
        max_grid: Largest ``space.cardinality()`` accepted (default 10,000).
        shuffle: Visit the grid in a seeded random order (default False).
    """

    name = "grid"
    supports_multi_objective = True
    settings_model = GridSettings
    settings: GridSettings

    def __init__(self, space: SearchSpaceLike, config: StrategyConfig, objectives: Objectives | None = None):
        """See :class:`BaseStrategy`.

        Raises:
            ValueError: The space is larger than ``settings['max_grid']``; the message has the cardinality.
        """
        super().__init__(space, config, objectives)
        cap = self.settings.max_grid
        card = int(space.cardinality())
        if card > cap:
            raise ValueError(
                f"grid search refused: the space has {card:,} points (cardinality {card}), "
                f"over max_grid={cap:,}; "
                "use random, tpe, evolution or mnas-rl, shrink the space, or raise settings.max_grid"
            )
        points: list[dict[str, Any]] = []
        keys: set[str] = set()
        for params in space.grid():  # type: ignore[attr-defined]
            k = self.key(params)
            if k not in keys:
                keys.add(k)
                points.append(dict(params))
        if self.settings.shuffle:
            self.rng.shuffle(points)
        self._points = points
        self._position = 0

    def _propose(self, n: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while len(out) < n and self._position < len(self._points):
            params = self._points[self._position]
            self._position += 1
            out.append(params)
        return out

    def is_exhausted(self) -> bool:
        """True once every grid point has been asked."""
        return self._position >= len(self._points)

    def _extra_state(self) -> dict[str, Any]:
        return {"position": self._position, "size": len(self._points)}

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:
        if int(extra.get("size", len(self._points))) != len(self._points):
            raise ValueError("the grid changed size since the state was saved (a different space?)")
        self._position = int(extra.get("position", 0))
