"""Lost attempts: requeued for another attempt, or failed after ``budget.max_attempts``.

An attempt is lost when its worker crashed, it went silent past ``stale_after_s`` (its trial is marked
``stale``), its dispatcher died (found ``running``/``stale`` when the job is opened again) or its
dispatcher stopped (not counted as an attempt). Every attempt stays visible in the trial's ``attempts``.
"""

from __future__ import annotations

from nas_service.jobspec import TRIAL_TERMINAL, TrialResult, TrialState
from nas_service.orchestration.jobrun import JobRun
from nas_service.storage.base import BaseStorage
from nas_service.strategies.base import Outcome

__all__ = ["retry_or_fail"]

_MAX_ERROR = 20_000


def retry_or_fail(storage: BaseStorage, run: JobRun, trial_id: int, error: str, count_attempt: bool = True) -> bool:
    """Requeue a lost attempt's trial, or fail it after ``max_attempts`` attempts (and tell the strategy).

    Args:
        storage: The controller's storage.
        run: The trial's job.
        trial_id: The trial.
        error: Why the attempt was lost.
        count_attempt: Whether this loss uses up an attempt (``False`` when the dispatcher itself stopped).

    Returns:
        True when the trial was requeued (it will run again).
    """
    trial = storage.get_trial(trial_id)
    if trial.state in TRIAL_TERMINAL or trial.state == TrialState.QUEUED:
        return False
    final = count_attempt and trial.attempts >= run.job.spec.budget.max_attempts
    message = f"attempt {trial.attempts}: {error}"
    if final:
        message = f"failed after {trial.attempts} attempts; last: {error}"
    if trial.state == TrialState.RUNNING or final:
        lost = TrialResult(state=TrialState.FAILED, error=message[:_MAX_ERROR], epochs_run=trial.epochs_run)
        storage.report_trial(trial.id, trial.attempts, lost, f"lost:{trial.id}:{trial.attempts}")
    if final:
        run.tell(trial_id, Outcome(state="failed"))
        return False
    storage.requeue_trial(trial.id)
    run.requeued += 1
    return True
