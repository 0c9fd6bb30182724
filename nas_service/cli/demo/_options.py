"""The command line of ``nas demo``, its exit codes and the one error it reports as a line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

EXIT_OK, EXIT_FAILURE = 0, 1
STRATEGIES = ("evolution", "random", "tpe", "nsga2", "mnas-rl")


class DemoError(Exception):
    """A problem the demo reports as one line (exit 1)."""


@dataclass(frozen=True)
class DemoOptions:
    """The command line of ``nas demo``."""

    trials: int
    epochs: int
    strategy: str
    concurrency: int
    resolution: int
    port: int | None
    data_dir: Path | None
    keep_serving: bool
    as_json: bool
    timeout_s: float
