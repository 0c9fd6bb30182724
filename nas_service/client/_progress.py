"""The progress display of ``Job.wait``: trials done of the budget and the best reward, from job snapshots."""

from __future__ import annotations

from typing import Any

from nas_service.jobspec import JOB_TERMINAL

TERMINAL_JOB_STATES = JOB_TERMINAL


def is_terminal(state: Any) -> bool:
    """Whether a job state is final (``completed``, ``failed``, ``cancelled``)."""
    return str(getattr(state, "value", state)) in {s.value for s in TERMINAL_JOB_STATES}


def trials_done(job: Any) -> int:
    """Finished trials of a job snapshot (completed, pruned and failed count as done)."""
    counters = getattr(job, "counters", None)
    return sum(int(getattr(counters, name, 0) or 0) for name in ("completed", "pruned", "failed"))


def trials_budget(job: Any) -> int | None:
    """The job's trial budget, when the snapshot carries its spec."""
    spec = getattr(job, "spec", None)
    budget = getattr(spec, "budget", None)
    return getattr(budget, "max_trials", None)


class WaitProgress:
    """A rich progress bar on stderr, or nothing when disabled; fed job snapshots and trial events."""

    def __init__(self, enabled: bool, job: Any) -> None:
        self._progress: Any = None
        self._task: Any = None
        self._best: float | None = getattr(job, "best_reward", None)
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("trials · best reward {task.fields[best]} · {task.fields[state]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task(
            f"job {getattr(job, 'id', '')} {getattr(job, 'name', '')}".strip(),
            total=trials_budget(job),
            best="–",
            state=str(getattr(job.state, "value", job.state)),
        )
        self._progress.start()
        self.update(job)

    def update(self, job: Any) -> None:
        """Show a new job snapshot."""
        best = getattr(job, "best_reward", None)
        if best is not None:
            self._best = best
        if self._progress is None:
            return
        self._progress.update(
            self._task,
            completed=trials_done(job),
            total=trials_budget(job),
            best="–" if self._best is None else f"{self._best:.4f}",
            state=str(getattr(job.state, "value", job.state)),
        )

    def close(self) -> None:
        """Stop drawing (leaves the last frame on screen)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
