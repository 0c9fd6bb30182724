"""Where a trial's trained weights go: the one place the dispatcher writes them."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

__all__ = ["save_trial_weights"]

log = logging.getLogger(__name__)


def save_trial_weights(data_dir: Path, trial_id: int, weights: bytes) -> None:
    """Write a trial's trained weights where the artifacts route serves them (atomically: temp + replace).

    A failure is logged, not raised: the trial's result is stored; only its export loses the weights.
    """
    from nas_service.export import trial_weights_path

    path = trial_weights_path(data_dir, str(trial_id))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(weights)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.warning("trial %s: cannot save its weights to %s: %s", trial_id, path, exc)
