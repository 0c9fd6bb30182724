"""``nas demo``: a real, small architecture search end to end on this machine, with nothing configured.

The demo runs the whole stack in one process, the way a deployment runs it across several: the controller
API (uvicorn on 127.0.0.1, in a thread) over the embedded database, the embedded dispatcher with a local Ray
beside it, and the command itself as an ordinary SDK client talking HTTP to that API. It submits a search of
the ``digits`` preset space (a MnasNet-like space scaled down to scikit-learn's 8x8 digits), follows it from
the server-sent event stream (an overall bar and one bar per running trial), then prints the Pareto front and
the dashboard URL.

Sizing (2 CPU cores, one torch thread per trial): digits at 16 px, 2 epochs of batch 64 train a candidate in
about 4-15 s; latency is the median of 20 batch-1 forwards after 10 warm-ups. The reward's target ``T`` is
the latency of the space's base network (MnasNet's plain MBConv6 k3, widths 1.0, no depth change, stem stride
2), measured once on this CPU at start. That network sits near the median latency of the space, so the reward
trades accuracy against latency around the middle of the space on this machine, rather than around a number
measured on another one.

Exit codes: 0 when the job completed, 1 otherwise (failed, cancelled, interrupted, timed out, or the stack
could not start). Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from nas_service.client import Client
    from nas_service.jobspec import JobSpec
    from nas_service.settings import Settings

EXIT_OK, EXIT_FAILURE = 0, 1
STRATEGIES = ("evolution", "random", "tpe", "nsga2", "mnas-rl")
#: What the base network picks where the digits space offers a choice (else its first choice).
BASE_CHOICES: dict[str, Any] = {
    "op": "mbconv",
    "kernel": 3,
    "expansion": 6.0,
    "se": 0.0,
    "repeat_delta": 0,
    "width": 1.0,
    "stem_stride": 2,
}
#: The MACs cap at 16 px: about the 80th percentile of the digits space there.
MAX_MACS_16PX = 2_500_000
_TERMINAL_TRIALS = frozenset({"completed", "pruned", "failed", "rejected", "duplicate", "cancelled"})
#: Final states of trials the budget counts (a rejected or duplicate candidate is never trained).
_BUDGET_TRIALS = frozenset({"completed", "pruned", "failed"})
_TERMINAL_JOBS = frozenset({"completed", "failed", "cancelled"})


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


# ---------------------------------------------------------------------- the job
def base_params(space: Any) -> dict[str, Any]:
    """The parameters of the space's base network (see :data:`BASE_CHOICES`), canonicalised."""
    params: dict[str, Any] = {}
    for name, choices in space.parameters().items():
        preferred = BASE_CHOICES.get(name.split(".")[-1])
        params[name] = preferred if preferred in choices else choices[0]
    return dict(space.canonicalize(params))


def measure_target_ms(resolution: int, warmup: int = 10, repeats: int = 20) -> tuple[float, list[list[str]]]:
    """Batch-1 latency (ms, one thread) of the digits space's base network at ``resolution``.

    The median of ``repeats`` forwards after ``warmup``, as a trial measures it; the fastest of three rounds.

    Returns:
        The latency and the base network's block strings.
    """
    import torch

    from nas_service.arch.builder import build_model
    from nas_service.jobspec import LatencyConfig
    from nas_service.space import digits_space
    from workers.latency import measure_latency

    space = digits_space()
    arch = space.decode(base_params(space))
    arch = arch.model_copy(update={"resolution": resolution, "in_channels": 1, "num_classes": 10})
    threads = torch.get_num_threads()
    try:
        torch.manual_seed(0)
        model = build_model(arch)
        cfg = LatencyConfig(device="cpu", warmup=warmup, repeats=repeats, threads=1)
        # The fastest of three rounds: other processes on a shared machine only ever add time.
        rounds = [measure_latency(model, (1, resolution, resolution), cfg).median_ms for _ in range(3)]
    finally:
        torch.set_num_threads(threads)
    return round(min(rounds), 3), _block_strings(arch)


def _block_strings(arch: Any) -> list[list[str]]:
    return [list(stage) for stage in arch.block_strings()]


def demo_space(resolution: int) -> Any:
    """The ``digits`` preset space searched at the proxy's resolution only.

    A search job trains every candidate at the proxy's resolution, so the preset's resolution choice would
    only make copies of the same network (trained again under another hash).
    """
    from nas_service.space import get_space

    space = get_space("digits")
    return type(space).model_validate({**space.model_dump(mode="json"), "resolutions": [resolution]})


def max_macs(resolution: int) -> int:
    """The demo's MACs cap at ``resolution`` (MACs grow with the square of the resolution)."""
    return int(MAX_MACS_16PX * (resolution / 16) ** 2)


def build_spec(opts: DemoOptions, target_ms: float) -> JobSpec:
    """The demo's job: the ``digits`` proxy sized for a few seconds per candidate on one CPU thread.

    Candidates over :data:`MAX_MACS_16PX` (scaled to the resolution) are rejected untrained: about the
    heaviest fifth of the space (the stem-stride-1 networks), which train 4-5 times slower than the median.
    """
    from nas_service.jobspec import (
        BudgetConfig,
        ConstraintsConfig,
        JobSpec,
        LatencyConfig,
        ProxyConfig,
        RewardConfig,
        StrategyConfig,
    )

    settings: dict[str, Any] = {}
    if opts.strategy == "evolution":
        # A population of half the budget: the first half is sampled, the second half evolves from it.
        population = max(2, min(20, opts.trials // 2))
        settings = {"population": population, "sample_size": max(1, population // 2)}
    return JobSpec(
        name="demo",
        strategy=StrategyConfig(name=opts.strategy, seed=0, settings=settings),  # type: ignore[arg-type]
        budget=BudgetConfig(max_trials=opts.trials, max_concurrent=opts.concurrency, max_wall_s=opts.timeout_s),
        reward=RewardConfig(target_ms=target_ms, preset="soft"),
        proxy=ProxyConfig(
            dataset="digits",
            epochs=opts.epochs,
            batch_size=64,
            resolution=opts.resolution,
            device="cpu",
            amp=False,
            threads=1,
        ),
        latency=LatencyConfig(device="cpu", batch_size=1, warmup=10, repeats=20, threads=1),
        constraints=ConstraintsConfig(max_macs=max_macs(opts.resolution)),
        resources={"cpu": 1.0, "gpu": 0.0},
    )


# ---------------------------------------------------------------------- the embedded stack
@dataclass
class EmbeddedStack:
    """The controller API (uvicorn in a daemon thread) and the embedded dispatcher over one storage."""

    settings: Settings
    storage: Any = None
    server: Any = None
    thread: threading.Thread | None = None
    dispatcher: Any = None
    url: str = ""

    def open_storage(self) -> None:
        """Open the database, upgrading an embedded (SQLite) schema to head."""
        from nas_service.storage import open_storage
        from nas_service.storage.schema import is_embedded

        url = self.settings.resolved_database_url()
        self.storage = open_storage(url, check_schema=True, auto_upgrade=is_embedded(url))

    def start_api(self, timeout_s: float = 30.0) -> None:
        """Serve the API on ``settings.host:settings.port``; returns once it accepts connections."""
        import uvicorn

        from api.app import create_app

        app = create_app(settings=self.settings, storage=self.storage)
        app.state.sse_poll_s = 0.25  # trials change every few seconds: follow them closely
        # No log config of uvicorn's own: its records reach the demo's log file, never the terminal. An open
        # dashboard holds an event stream: shutting down waits for it 2 s at most.
        config = uvicorn.Config(
            app,
            host=self.settings.host,
            port=self.settings.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        # Off the main thread uvicorn installs no signal handlers: Ctrl-C stays with the command.
        self.thread = threading.Thread(target=self.server.run, name="nas-demo-api", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive():
                raise DemoError(f"the API could not listen on {self.settings.host}:{self.settings.port}")
            if time.monotonic() > deadline:
                raise DemoError(f"the API did not start within {timeout_s:g} s")
            time.sleep(0.02)
        self.url = f"http://{self.settings.host}:{self.settings.port}"

    def start_dispatcher(self) -> None:
        """Start the embedded dispatcher (and with it the local Ray) in this process."""
        try:
            from workers.dispatcher import start_embedded
        except ImportError as exc:
            raise DemoError(f"the embedded dispatcher is not available ({exc})") from None
        self.dispatcher = start_embedded(self.settings, self.storage)

    def dispatcher_error(self) -> str | None:
        """Why the dispatcher stopped on its own, if it did."""
        handle = self.dispatcher
        if handle is None or handle.is_alive():
            return None
        return f"the dispatcher stopped: {handle.error}" if handle.error else "the dispatcher stopped"

    def stop_dispatcher(self) -> None:
        """Stop the dispatcher (it gives its held jobs back and shuts its Ray down)."""
        handle, self.dispatcher = self.dispatcher, None
        if handle is not None:
            handle.stop()

    def stop_api(self) -> None:
        """Stop serving and close the storage."""
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        if self.storage is not None:
            self.storage.close()
        self.server = self.thread = self.storage = None


def resolve_settings(opts: DemoOptions) -> Settings:
    """The demo's settings: always embedded, in its own data dir (``<data dir>/demo`` unless ``--data-dir``).

    Its own SQLite database keeps the demo apart from the user's jobs: the embedded dispatcher claims any
    queued job of its database, and a ``nas serve`` on the main database could claim the demo's job. Ray is
    local and in-process whatever ``NAS_RAY_ADDRESS`` says.
    """
    from nas_service.settings import get_settings

    base = get_settings()
    data_dir = (opts.data_dir or base.data_dir / "demo").expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    with socket.socket() as probe:  # a busy --port fails now, not after a minute of start-up
        try:
            probe.bind(("127.0.0.1", opts.port or 0))
        except OSError:
            raise DemoError(f"port {opts.port} on 127.0.0.1 is in use; pick another --port") from None
        port = int(probe.getsockname()[1])
    return base.model_copy(
        update={
            "data_dir": data_dir,
            "database_url": f"sqlite:///{data_dir / 'nas.db'}",
            "ray_address": None,
            "token": None,
            "host": "127.0.0.1",
            "port": port,
            "api_url": f"http://127.0.0.1:{port}",
        }
    )


def _admin_token(settings: Settings) -> tuple[str, Path]:
    """The embedded admin token (the API writes it on its first start in a data dir) and its file."""
    path = Path(settings.data_dir) / "admin-token"
    try:
        return path.read_text().strip(), path
    except OSError:
        raise DemoError(f"no admin token at {path} (the API creates it on first start)") from None


# ---------------------------------------------------------------------- following the job
@dataclass
class _TrialView:
    number: int
    state: str = "queued"
    epochs: int = 0
    accuracy: float | None = None
    task: Any = None
    polled_at: float = 0.0


@dataclass
class DemoProgress:
    """An overall bar (trials done, best reward) and one bar per running trial (epochs), on stderr."""

    total: int
    epochs: int
    console: Console | None
    progress: Progress | None = None
    overall: TaskID | None = None
    trials: dict[int, _TrialView] = field(default_factory=dict)
    best: float | None = None

    def __enter__(self) -> DemoProgress:
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
        if self.progress is not None:
            self.progress.stop()

    def trial_event(self, data: dict[str, Any]) -> None:
        """Fold a ``trial`` event (a ``TrialPublic``) into the display."""
        trial_id = int(data["id"])
        view = self.trials.setdefault(trial_id, _TrialView(int(data.get("number", trial_id))))
        state = str(data.get("state", view.state))
        view.epochs = max(view.epochs, int(data.get("epochs_run") or 0))
        view.accuracy = data.get("accuracy", view.accuracy)
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
        """Show a running trial's epoch reports (from ``GET /trials/{id}``)."""
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
    """Follow the job until it ends: events drive the display; running trials are polled for their epochs.

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
            for trial_id in display.running():
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


# ---------------------------------------------------------------------- the result
def pareto_rows(pareto: Any) -> list[dict[str, Any]]:
    """The Pareto front as plain rows (the ``--json`` output and the table's content)."""
    return [
        {
            "trial_id": p.trial_id,
            "number": p.number,
            "accuracy": p.accuracy,
            "latency_ms": p.latency_ms,
            "reward": p.reward,
            "params": p.params,
            "macs": p.macs,
            "block_strings": p.block_strings,
        }
        for p in pareto.points
    ]


def _count(value: Any) -> str:
    if value is None:
        return "–"
    v = float(value)
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.2f}{unit}"
    return str(int(v))


def print_front(console: Console, rows: list[dict[str, Any]], target_ms: float, hypervolume: float) -> None:
    """The Pareto front table (accuracy up, latency down), sorted by latency."""
    from rich.table import Table

    table = Table(
        title=f"Pareto front · T = {target_ms:.3f} ms · hypervolume {hypervolume:.4g}",
        title_justify="left",
        header_style="bold",
    )
    for name, justify in (
        ("trial", "right"),
        ("accuracy", "right"),
        ("latency ms", "right"),
        ("reward", "right"),
        ("params", "right"),
        ("MACs", "right"),
        ("blocks", "left"),
    ):
        # Block strings go one stage a line; only they may fold, the numbers never wrap.
        blocks = name == "blocks"
        table.add_column(name, justify=justify, overflow="fold" if blocks else "ellipsis", no_wrap=not blocks)  # type: ignore[arg-type]
    for row in rows:
        acc, lat, reward = row["accuracy"], row["latency_ms"], row["reward"]
        table.add_row(
            str(row["number"]),
            "–" if acc is None else f"{100 * acc:.2f}%",
            "–" if lat is None else f"{lat:.3f}",
            "–" if reward is None else f"{reward:.4f}",
            _count(row["params"]),
            _count(row["macs"]),
            "\n".join(" ".join(stage) for stage in row["block_strings"] or []),
        )
    if not rows:
        table.add_row("–", "–", "–", "–", "–", "–", "no completed trial")
    console.print(table)


# ---------------------------------------------------------------------- the command
def run_demo(opts: DemoOptions, out: Console, err: Console | None) -> int:
    """Run the demo; returns the exit code (see the module docstring).

    Args:
        opts: The command line.
        out: Where the result goes (stdout).
        err: Where progress goes (stderr); ``None`` for none (``--json``).
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    started = time.monotonic()
    settings = resolve_settings(opts)

    def say(text: str) -> None:
        if err is not None:
            err.print(text, highlight=False, soft_wrap=True)

    say(f"[bold]nas demo[/] · data dir {settings.data_dir}")
    say(f"measuring the base network's latency at {opts.resolution} px on this CPU (1 thread)…")
    target_ms, base_blocks = measure_target_ms(opts.resolution)
    blocks = " | ".join(" ".join(stage) for stage in base_blocks)
    say(f"reward target T = {target_ms:.3f} ms: the median batch-1 latency of the base network {blocks}")
    stack = EmbeddedStack(settings)
    job_id: int | None = None
    client: Client | None = None
    log_handler = _log_to_file(settings.data_dir / "demo.log")
    try:
        stack.open_storage()
        stack.start_api()
        token, token_file = _admin_token(settings)
        say(f"controller API at {stack.url} · starting the dispatcher and a local Ray…")
        stack.start_dispatcher()
        from nas_service.client import Client as ClientCls

        client = ClientCls(url=stack.url, token=token, timeout=30.0)
        space = demo_space(opts.resolution).model_dump(mode="json")
        job_id = client.submit_job(build_spec(opts, target_ms), space=space).id
        say(
            f"job {job_id}: {opts.trials} trials of the digits space, strategy {opts.strategy}, "
            f"{opts.concurrency} at a time, {opts.epochs} epoch(s) at {opts.resolution} px; "
            f"candidates over {max_macs(opts.resolution) / 1e6:.2g}M MACs are rejected untrained"
        )
        with DemoProgress(opts.trials, opts.epochs, err) as display:
            final = follow_job(client, stack, job_id, display, started + opts.timeout_s)
        stack.stop_dispatcher()  # frees Ray's memory now, even when the dashboard stays up
        state = str(getattr(final.state, "value", final.state))
        summary = {
            "job_id": job_id,
            "state": state,
            "wall_s": round(time.monotonic() - started, 1),
            "target_ms": target_ms,
            "trials": final.counters.model_dump(mode="json"),
            "best_reward": final.best_reward,
            "error": final.error,
            "dashboard_url": f"{stack.url}/dashboard/jobs/{job_id}",
            "data_dir": str(settings.data_dir),
            "admin_token_file": str(token_file),
        }
        pareto = client.pareto(job_id)
        print_summary(out, err, summary, pareto, opts.as_json)
        if opts.keep_serving:
            say(f"serving the dashboard at {summary['dashboard_url']} · Ctrl-C to stop")
            with contextlib.suppress(KeyboardInterrupt):
                while stack.thread is not None and stack.thread.is_alive():
                    time.sleep(0.5)
        return EXIT_OK if state == "completed" else EXIT_FAILURE
    except KeyboardInterrupt:
        if client is not None and job_id is not None:
            with contextlib.suppress(Exception):
                client.cancel_job(job_id)
        raise DemoError("interrupted" + (f"; job {job_id} cancelled" if job_id is not None else "")) from None
    except DemoError as exc:
        raise DemoError(f"{exc} (details in {log_handler.baseFilename})") from None
    finally:
        _shutdown(stack, client)
        logging.getLogger().removeHandler(log_handler)
        log_handler.close()


def _log_to_file(path: Path) -> logging.FileHandler:
    """Send every log record (the API's, the dispatcher's, with tracebacks) to ``path``, not the terminal."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(min(root.level, logging.INFO) if root.level else logging.INFO)
    for chatty in ("httpx", "alembic"):  # a line per request or migration step says nothing here
        logging.getLogger(chatty).setLevel(logging.WARNING)
    return handler


def print_summary(out: Console, err: Console | None, summary: dict[str, Any], pareto: Any, as_json: bool) -> None:
    """The result: the Pareto front, the job's outcome, the dashboard URL and where the admin token is."""
    from rich.markup import escape

    rows = pareto_rows(pareto)
    if as_json:
        out.print_json(json.dumps({**summary, "hypervolume": pareto.hypervolume, "pareto": rows}))
        return
    print_front(out, rows, pareto.target_ms, pareto.hypervolume)
    counters, best = summary["trials"], summary["best_reward"]
    out.print(
        f"job {summary['job_id']} {summary['state']} in {summary['wall_s']:.0f} s · "
        f"{counters['completed']} completed, {counters['failed']} failed{_skipped(counters)} · "
        f"best reward {'–' if best is None else f'{best:.4f}'}",
        highlight=False,
    )
    out.print(f"dashboard: {summary['dashboard_url']}", highlight=False, soft_wrap=True)
    out.print(f"admin token (sign in to the dashboard with it): {summary['admin_token_file']}", soft_wrap=True)
    out.print(f"browse it later: NAS_DATA_DIR={summary['data_dir']} nas serve", highlight=False, soft_wrap=True)
    if summary["state"] != "completed" and err is not None:
        reason = f": {summary['error']}" if summary["error"] else ""
        err.print(
            f"[bold red]error:[/] job {summary['job_id']} ended {summary['state']}{escape(reason)}", soft_wrap=True
        )


def _skipped(counters: dict[str, int]) -> str:
    skipped = counters["total"] - counters["completed"] - counters["pruned"] - counters["failed"]
    return f", {skipped} not trained (over the cap or a duplicate)" if skipped > 0 else ""


def _shutdown(stack: EmbeddedStack, client: Client | None) -> None:
    """Stop everything in reverse order; a second Ctrl-C during the shutdown does not skip a step."""
    for step in (stack.stop_dispatcher, stack.stop_api, client.close if client else None):
        if step is None:
            continue
        try:
            step()
        except KeyboardInterrupt:
            with contextlib.suppress(Exception):
                step()
        except Exception:  # noqa: BLE001, S110 - the shutdown goes on; the result is already decided
            pass


def register(app: typer.Typer) -> None:
    """Add ``nas demo`` to ``app``."""

    @app.command("demo")
    def demo(
        trials: Annotated[int, typer.Option("--trials", min=1, max=200, help="Trials to run.")] = 10,
        epochs: Annotated[int, typer.Option("--epochs", min=1, max=20, help="Proxy epochs per trial.")] = 2,
        strategy: Annotated[
            str, typer.Option("--strategy", help=f"Search strategy: {', '.join(STRATEGIES)}.")
        ] = "evolution",
        concurrency: Annotated[
            int | None,
            typer.Option("--concurrency", min=1, max=64, help="Trials at a time (default 2; 1 on one core)."),
        ] = None,
        resolution: Annotated[
            int, typer.Option("--resolution", min=8, max=32, help="Proxy image size (digits are 8x8, upsampled).")
        ] = 16,
        port: Annotated[
            int | None, typer.Option("--port", min=1, max=65535, help="API port (default: a free one).")
        ] = None,
        data_dir: Annotated[
            Path | None,
            typer.Option("--data-dir", help="The demo's data dir (default: demo/ in NAS_DATA_DIR or ~/.nas-service)."),
        ] = None,
        keep_serving: Annotated[
            bool, typer.Option("--keep-serving", help="Keep the dashboard up afterwards, until Ctrl-C.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary instead of tables.")] = False,
        timeout: Annotated[
            float, typer.Option("--timeout", min=10, help="Give up (cancel the job) after this many seconds.")
        ] = 900.0,
    ) -> None:
        """Run a real small search on this machine: digits on CPU, live progress, then the Pareto front."""
        from rich.console import Console
        from rich.markup import escape

        err_console = Console(stderr=True)
        if strategy not in STRATEGIES:
            err_console.print(f"[bold red]error:[/] unknown strategy {escape(strategy)!r}; choose from {STRATEGIES}")
            raise typer.Exit(2)
        opts = DemoOptions(
            trials=trials,
            epochs=epochs,
            strategy=strategy,
            concurrency=concurrency or max(1, min(2, os.cpu_count() or 1)),
            resolution=resolution,
            port=port,
            data_dir=data_dir,
            keep_serving=keep_serving,
            as_json=as_json,
            timeout_s=timeout,
        )
        try:
            code = run_demo(opts, Console(highlight=False), None if as_json else err_console)
        except DemoError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}")
            code = EXIT_FAILURE
        except KeyboardInterrupt:
            err_console.print("[bold red]error:[/] interrupted")
            code = EXIT_FAILURE
        except Exception as exc:  # never a traceback: one line, exit 1
            err_console.print(f"[bold red]error:[/] {escape(f'{type(exc).__name__}: {exc}')}")
            code = EXIT_FAILURE
        raise typer.Exit(code)
