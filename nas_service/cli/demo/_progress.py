"""Following the job: the rich progress display on stderr, fed by the job's server-sent event stream."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nas_service.cli.demo._options import DemoError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from nas_service.cli.demo._stack import EmbeddedStack
    from nas_service.client import Client

_TERMINAL_TRIALS = frozenset({"completed", "pruned", "failed", "rejected", "duplicate", "cancelled", "unschedulable"})
#: Final states of trials the budget counts (a rejected or duplicate candidate is never trained).
_BUDGET_TRIALS = frozenset({"completed", "pruned", "failed"})
_TERMINAL_JOBS = frozenset({"completed", "failed", "cancelled"})


@dataclass
class _TrialView:
    """What the display knows of one trial: its state, epochs so far and latest accuracy, its bar."""

    number: int
    state: str = "queued"
    epochs: int = 0
    accuracy: float | None = None
    task: Any = None
    polled_at: float = 0.0


@dataclass
class DemoProgress:
    """An overall bar (trials done, best reward) and one bar per running trial (epochs), on stderr.

    Used as a context manager: the bars show between ``__enter__`` and ``__exit__``. With no console it draws
    nothing but still keeps count (what the tests and ``--json`` use).

    Attributes:
        total: The trial budget (the overall bar's total).
        epochs: Proxy epochs per trial (a trial bar's total).
        console: Where to draw (stderr); ``None`` for nowhere.
        progress: The rich display, while shown.
        overall: The overall bar's task.
        trials: What is known of each trial, by id.
        best: The job's best reward so far.
        live_epochs: Whether ``trial`` events carry live epoch progress (a ``last_epoch``); until one does (an
            API that sends a trial only when its state changes), :func:`follow_job` polls running trials.
    """

    total: int
    epochs: int
    console: Console | None
    progress: Progress | None = None
    overall: TaskID | None = None
    trials: dict[int, _TrialView] = field(default_factory=dict)
    best: float | None = None
    live_epochs: bool = False

    def __enter__(self) -> DemoProgress:
        """Start drawing (when there is a console)."""
        if self.console is None:
            return self
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=28),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self.overall = self.progress.add_task("[bold]search[/]    ", total=self.total, info="best reward –")
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop drawing; the last frame stays on the terminal."""
        if self.progress is not None:
            self.progress.stop()

    def trial_event(self, data: dict[str, Any]) -> None:
        """Fold a ``trial`` event (a ``TrialPublic``) into the display.

        A training trial's event may carry its latest epoch report (``last_epoch``): its bar then follows the
        event stream, and no trial needs polling any more (see :attr:`live_epochs`).
        """
        trial_id = int(data["id"])
        view = self.trials.setdefault(trial_id, _TrialView(int(data.get("number", trial_id))))
        state = str(data.get("state", view.state))
        view.epochs = max(view.epochs, int(data.get("epochs_run") or 0))
        last = data.get("last_epoch")
        if isinstance(last, dict):
            self.live_epochs = True
            view.epochs = max(view.epochs, int(last.get("epoch") or 0))
            if last.get("val_accuracy") is not None:
                view.accuracy = float(last["val_accuracy"])
        if data.get("accuracy") is not None:  # a training trial has none yet: keep its latest val accuracy
            view.accuracy = float(data["accuracy"])
        if state == view.state:
            self._draw(view)
            return
        view.state = state
        if state == "running" and view.task is None and self.progress is not None:
            view.task = self.progress.add_task(f"  trial {view.number:<4}", total=self.epochs, info="training")
        if state in _TERMINAL_TRIALS:
            self._finish(view, data)
        else:
            self._draw(view)

    def epochs_seen(self, trial_id: int, epochs: list[Any]) -> None:
        """Show a running trial's epoch reports (from ``GET /trials/{id}``: the fallback to live events)."""
        view = self.trials.get(trial_id)
        if view is None or view.state != "running" or not epochs:
            return
        view.epochs = max(view.epochs, len(epochs))
        view.accuracy = getattr(epochs[-1], "val_accuracy", view.accuracy)
        self._draw(view)

    def job_event(self, job: dict[str, Any]) -> None:
        """Fold a ``job`` event (a ``JobPublic``) into the overall bar."""
        if job.get("best_reward") is not None:
            self.best = float(job["best_reward"])
        self._draw_overall()

    def running(self) -> list[int]:
        """Ids of the trials shown as running."""
        return [tid for tid, view in self.trials.items() if view.state == "running"]

    def done(self) -> int:
        """Trained trials that reached a final state (what the trial budget counts)."""
        return sum(1 for view in self.trials.values() if view.state in _BUDGET_TRIALS)

    def _draw(self, view: _TrialView) -> None:
        if self.progress is None or view.task is None:
            return
        acc = "" if view.accuracy is None else f" · val acc {100 * float(view.accuracy):.1f}%"
        info = f"epoch {view.epochs}/{self.epochs}{acc}" if view.epochs else "training"
        self.progress.update(view.task, completed=view.epochs, info=info)

    def _draw_overall(self) -> None:
        if self.progress is None or self.overall is None:
            return
        best = "–" if self.best is None else f"{self.best:.4f}"
        running = len(self.running())
        self.progress.update(
            self.overall, completed=min(self.done(), self.total), info=f"best reward {best} · {running} running"
        )

    def _finish(self, view: _TrialView, data: dict[str, Any]) -> None:
        from rich.markup import escape

        if self.progress is not None and view.task is not None:
            self.progress.remove_task(view.task)
            view.task = None
        if self.console is not None:
            parts = [f"trial {view.number:<3} {_state_markup(view.state)}"]
            if data.get("accuracy") is not None:
                parts.append(f"acc {100 * float(data['accuracy']):.1f}%")
            if data.get("latency_ms") is not None:
                parts.append(f"{float(data['latency_ms']):.2f} ms")
            if data.get("reward") is not None:
                parts.append(f"reward {float(data['reward']):.4f}")
            if view.state in ("failed", "rejected", "duplicate") and data.get("error"):
                parts.append(escape(str(data["error"]).splitlines()[0][:100]))
            self.console.print("  " + " · ".join(parts))
        self._draw_overall()


def _state_markup(state: str) -> str:
    colour = {"completed": "green", "failed": "red", "pruned": "yellow", "cancelled": "yellow"}.get(state, "dim")
    return f"[{colour}]{state:<9}[/]"


def _follow_events(client: Client, job_id: int, out: queue.Queue[Any], stop: threading.Event) -> None:
    """Put the job's server-sent events on ``out`` until the stream ends; then ``None`` (or the error)."""
    try:
        for event in client.events(job_id, read_timeout=60.0):
            out.put(event)
            if stop.is_set():
                break
        out.put(None)
    except Exception as exc:  # noqa: BLE001 - handed to the main thread, which falls back to polling
        out.put(exc)


def _event_data(event: Any) -> Any:
    """The JSON body of a ``trial`` or ``job`` event; ``None`` for other events or a body that is not JSON."""
    if event.event not in ("trial", "job"):
        return None
    try:
        return event.json()
    except ValueError:
        return None


def follow_job(client: Client, stack: EmbeddedStack, job_id: int, display: DemoProgress, deadline: float) -> Any:
    """Follow the job until it ends: events drive the display, the job is polled every few seconds.

    A running trial's epochs come from its ``trial`` events when they carry them; while they do not (an API
    that sends trials on state changes only, or a stream that ended early), running trials are polled once a
    second instead.

    Args:
        client: The SDK client of the demo's API.
        stack: The embedded stack (to notice a dead dispatcher).
        job_id: The demo's job.
        display: Where progress goes.
        deadline: ``time.monotonic()`` past which the job is cancelled.

    Returns:
        The final ``JobPublic``.

    Raises:
        DemoError: The dispatcher died or the deadline passed (the job is cancelled first).
    """
    from nas_service.client import Client as ClientCls

    events: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    # The stream gets its own connection pool: the main thread keeps polling on the other one.
    stream_client = ClientCls(url=client.config.url, token=client.config.token, timeout=30.0)
    reader = threading.Thread(
        target=_follow_events, args=(stream_client, job_id, events, stop), name="nas-demo-events", daemon=True
    )
    reader.start()
    streaming, last_poll = True, 0.0
    try:
        while True:
            try:
                item = events.get(timeout=0.25)
            except queue.Empty:
                item = ...
            if item is None or isinstance(item, Exception):
                streaming = False  # the stream ended (job done) or failed: poll the job from now on
            elif item is not ...:
                data = _event_data(item)
                if item.event == "trial" and isinstance(data, dict):
                    display.trial_event(data)
                elif item.event == "job" and isinstance(data, dict):
                    display.job_event(data)
                    if str(data.get("state")) in _TERMINAL_JOBS:
                        streaming = False
            now = time.monotonic()
            for trial_id in () if streaming and display.live_epochs else display.running():
                view = display.trials[trial_id]
                if now - view.polled_at >= 1.0:
                    view.polled_at = now
                    with contextlib.suppress(Exception):  # a missed poll only delays a bar
                        display.epochs_seen(trial_id, client.get_trial(trial_id).epochs or [])
            if not streaming or now - last_poll >= 5.0:
                last_poll = now
                job = client.get_job(job_id).info
                if str(getattr(job.state, "value", job.state)) in _TERMINAL_JOBS:
                    for trial in client.trials(job_id):  # catch up on what the stream did not deliver
                        display.trial_event(trial.model_dump(mode="json"))
                    display.job_event(job.model_dump(mode="json"))
                    return job
                if not streaming:
                    time.sleep(0.5)
            problem = stack.dispatcher_error()
            if problem is None and time.monotonic() > deadline:
                problem = "the demo ran past its --timeout"
            if problem is not None:
                with contextlib.suppress(Exception):
                    client.cancel_job(job_id)
                raise DemoError(f"{problem}; job {job_id} cancelled")
    finally:
        stop.set()
        stream_client.close()
