"""Client-side commands: ``nas job ...``, ``nas pareto|best|trials|export`` and ``nas space create|list``.

They talk to a controller through :mod:`nas_service.client` (``--url`` or ``NAS_API_URL``, ``--token`` or
``NAS_TOKEN``).
Human output by default; ``--json`` prints machine-readable JSON on stdout. Exit codes
(:mod:`nas_service.cli.exitcodes`): 0 ok, 1 server or job failure, 2 usage or validation error (the message names
the field), 3 not found, 4 connection failure, 5 authentication. Errors are one line on stderr (wrapped by the
terminal, never mid-word by us), never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from nas_service.client import Client

from nas_service.cli.exitcodes import (
    EXIT_AUTH,
    EXIT_CONNECTION,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_USAGE,
    nas_command,
)

F = TypeVar("F", bound=Callable[..., Any])

job_app = typer.Typer(help="Submit, list and follow search jobs.", no_args_is_help=True)

UrlOpt = Annotated[str | None, typer.Option("--url", help="Controller URL (default NAS_API_URL).")]
TokenOpt = Annotated[str | None, typer.Option("--token", help="API token (default NAS_TOKEN).", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


class ExportFormat(StrEnum):
    """Formats of ``nas export``."""

    onnx = "onnx"
    torchscript = "torchscript"
    json = "json"
    blocks = "blocks"
    all = "all"


class TrialSortKey(StrEnum):
    """Sort keys of ``nas trials``."""

    number = "number"
    reward = "reward"
    accuracy = "accuracy"
    latency = "latency"


# ---------------------------------------------------------------------- plumbing
def _stdout() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def _fail(message: str, code: int) -> typer.Exit:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code)


def _exit_code(exc: BaseException) -> int:
    from nas_service.client import (
        ConnectionFailed,
        NotFoundError,
        ValidationError,
    )

    if isinstance(exc, ValidationError):
        return EXIT_USAGE
    if isinstance(exc, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, ConnectionFailed):
        return EXIT_CONNECTION
    return EXIT_FAILURE


def handle_errors(func: F) -> F:
    """Turn every exception of a command into a one-line message and its exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from nas_service.client import AuthError, ConnectionFailed, NasError

        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except AuthError as exc:
            raise _fail(f"{exc} (set --token or NAS_TOKEN)", EXIT_AUTH) from None
        except ConnectionFailed as exc:
            hint = f"is `nas serve` running? start it with: {nas_command()} serve"
            raise _fail(f"{exc}; {hint}", EXIT_CONNECTION) from None
        except NasError as exc:
            raise _fail(str(exc), _exit_code(exc)) from None
        except KeyboardInterrupt:
            raise _fail("interrupted", EXIT_INTERRUPTED) from None
        except Exception as exc:  # never a traceback: one line, exit 1
            from nas_service.export import ExportError

            code = EXIT_USAGE if isinstance(exc, ExportError) and "unknown export format" in str(exc) else 1
            raise _fail(f"{type(exc).__name__}: {exc}", code) from None

    return wrapper  # type: ignore[return-value]


def _client(url: str | None, token: str | None) -> Client:
    from nas_service.client import Client

    return Client(url=url, token=token)


def _dump(value: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if hasattr(value, "info"):  # a Job handle
        return _dump(value.info)
    if isinstance(value, list | tuple):
        return [_dump(v) for v in value]
    return value


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(_dump(value), indent=2, sort_keys=False))


def _fmt(value: Any, kind: str = "") -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{100 * float(value):.2f}%"
    if kind == "ms":
        return f"{float(value):.3f}"
    if kind == "reward":
        return f"{float(value):.4f}"
    if kind == "count":
        v = float(value)
        for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
            if abs(v) >= scale:
                return f"{v / scale:.2f}{unit}"
        return str(int(v))
    return str(getattr(value, "value", value))


def _blocks(value: Any) -> str:
    stages = value or []
    return " | ".join(" ".join(stage) for stage in stages)


def _state(value: Any) -> str:
    state = str(getattr(value, "value", value))
    colour = {"completed": "green", "running": "cyan", "failed": "red", "cancelled": "yellow"}.get(state)
    return f"[{colour}]{state}[/]" if colour else state


def ended_short(job: Any) -> bool:
    """A completed job that finished fewer trials than its ``max_trials`` (out of candidates, out of wall time,
    or trials cancelled before a resume)."""
    from nas_service.client._progress import trials_budget, trials_done

    budget = trials_budget(job)
    state = str(getattr(job.state, "value", job.state))
    if getattr(job, "kind", None) == "netadapt" and not getattr(job, "error", None):
        return False  # its trial budget is a cap: meeting the latency budget sooner is the normal end
    return state == "completed" and budget is not None and trials_done(job) < budget


def _strategy_name(job: Any) -> str | None:
    """The strategy the job runs, as the server names it (a scaling or netadapt job runs its own)."""
    spec_strategy = getattr(getattr(job, "spec", None), "strategy", None)
    return getattr(job, "strategy", None) or getattr(spec_strategy, "name", None)


def _job_state(job: Any) -> str:
    """The job's state for tables: ``completed short`` (yellow) when it finished below its trial budget."""
    return "[yellow]completed short[/]" if ended_short(job) else _state(job.state)


def _load_yaml_file(path: Path) -> Any:
    import yaml

    try:
        text = path.read_text()
    except OSError as exc:
        raise _fail(f"cannot read {path}: {exc.strerror or exc}", EXIT_USAGE) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise _fail(f"{path}{where}: invalid YAML: {getattr(exc, 'problem', exc)}", EXIT_USAGE) from None


def load_job_file(path: Path) -> dict[str, Any]:
    """A job YAML file as a ``JobCreate`` mapping; ``space: <file>`` (relative to the job file) is inlined.

    Raises:
        typer.Exit: Exit 2 with a one-line message for an unreadable file, bad YAML or an unreadable space file.
    """
    data = _load_yaml_file(path)
    if not isinstance(data, dict):
        raise _fail(f"{path}: a job file must be a mapping of JobSpec fields plus 'space' or 'space_id'", EXIT_USAGE)
    space = data.get("space")
    if isinstance(space, str) and Path(space).suffix.lower() in (".yaml", ".yml", ".json"):
        space_path = Path(space) if Path(space).is_absolute() else path.parent / space
        body = _load_yaml_file(space_path)
        if not isinstance(body, dict):
            raise _fail(f"{space_path}: a search space must be a mapping", EXIT_USAGE)
        data = {**data, "space": body}
    return data


def _job_line(job: Any) -> str:
    from nas_service.client._progress import trials_budget, trials_done

    return (
        f"job {job.id} [bold]{job.name}[/] {_job_state(job)} · "
        f"{trials_done(job)}/{trials_budget(job) or '?'} "
        f"trials · best reward {_fmt(getattr(job, 'best_reward', None), 'reward')}"
    )


def _finish(job: Any) -> None:
    """Exit 1 unless a waited-for job completed."""
    if str(getattr(job.state, "value", job.state)) != "completed":
        error = getattr(job, "error", None)
        raise _fail(f"job {job.id} ended {job.state}" + (f": {error}" if error else ""), EXIT_FAILURE)


# ---------------------------------------------------------------------- nas job ...
@job_app.command("submit")
@handle_errors
def job_submit(
    file: Annotated[Path, typer.Argument(help="Job YAML: the space (inline, space_id or preset), strategy, budget.")],
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the job until it ends (exit 1 unless completed).")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Submit even when the space does not fit the proxy task (size, resolution)."),
    ] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Submit a search job described by a YAML file (``space:`` a preset, a space file or an inline space)."""
    data = load_job_file(file)
    if force:
        data["force"] = True
    with _client(url, token) as client:
        job = client.submit_job(data)  # validated locally first: a bad field exits 2 before any request
        if not as_json:
            _stdout().print(f"submitted {_job_line(job.info)}")
            for note in getattr(job.info, "notes", None) or []:
                _stdout().print(f"note: {note}", soft_wrap=True)
            _stdout().print(f"dashboard: {client.config.url}/dashboard/jobs/{job.id}")
        if wait:
            final = job.wait(progress=not as_json)
            if as_json:
                _print_json(final)
            else:
                _stdout().print(_job_line(final))
            _finish(final)
        elif as_json:
            _print_json(job.info)


@job_app.command("list")
@handle_errors
def job_list(
    state: Annotated[str | None, typer.Option("--state", help="Only jobs in this state.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many jobs.")] = 50,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List jobs, newest first."""
    from rich.table import Table

    from nas_service.client._progress import trials_budget, trials_done

    with _client(url, token) as client:
        jobs = list(islice(client.list_jobs(state=state, page_size=min(limit, 100)), limit))
    if as_json:
        _print_json(jobs)
        return
    table = Table("id", "name", "state", "kind", "strategy", "trials", "best reward", "created")
    for job in jobs:
        spec = getattr(job, "spec", None)
        table.add_row(
            str(job.id),
            str(job.name),
            _job_state(job),
            _fmt(getattr(job, "kind", None)),
            _fmt(getattr(job, "strategy", None) or getattr(getattr(spec, "strategy", None), "name", None)),
            f"{trials_done(job)}/{trials_budget(job) or '?'}",
            _fmt(getattr(job, "best_reward", None), "reward"),
            _fmt(getattr(job, "created_at", None))[:19],
        )
    _stdout().print(table if jobs else "no jobs")


@job_app.command("show")
@handle_errors
def job_show(
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one job: state, counters, reward settings and best trial."""
    from rich.table import Table

    with _client(url, token) as client:
        job = client.get_job(job_id)
        short = None
        if not as_json and ended_short(job.info):
            from nas_service.client._progress import trials_budget, trials_done

            cancelled = sum(1 for _ in client.trials(job_id, state="cancelled", page_size=500))
            why = f"{cancelled} trial(s) cancelled" if cancelled else "out of candidates or of wall time"
            short = f"{trials_done(job.info)} of {trials_budget(job.info)} trials finished ({why})"
    if as_json:
        _print_json(job.info)
        return
    info = job.info
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    spec = getattr(info, "spec", None)
    reward = getattr(spec, "reward", None)
    rows: list[tuple[str, Any]] = [
        ("id", info.id),
        ("name", info.name),
        ("state", _job_state(info)),
        ("ended short", short),
        ("kind", getattr(info, "kind", None)),
        ("strategy", _strategy_name(info)),
        ("space", getattr(info, "space_id", None)),
        ("trials", _job_line(info).split(" · ")[1]),
        (
            "completed / pruned / failed",
            "/".join(str(getattr(info.counters, k, "–")) for k in ("completed", "pruned", "failed")),
        ),
        ("reward", f"T={reward.target_ms} ms α={reward.alpha} β={reward.beta}" if reward else None),
        ("best reward", _fmt(getattr(info, "best_reward", None), "reward")),
        ("best trial", getattr(info, "best_trial_id", None)),
        ("created", getattr(info, "created_at", None)),
        ("finished", getattr(info, "finished_at", None)),
        ("error", getattr(info, "error", None)),
    ]
    for key, value in rows:
        if value is not None:
            table.add_row(key, value if isinstance(value, str) else _fmt(value))
    _stdout().print(table)


@job_app.command("watch")
@handle_errors
def job_watch(
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Follow a job until it ends (exit 1 unless it completes); with --json, one event per line."""
    with _client(url, token) as client:
        job = client.get_job(job_id)
        if as_json:
            from nas_service.client._progress import is_terminal

            if not is_terminal(job.info.state):
                for event in client.events(job_id):
                    typer.echo(json.dumps({"event": event.event, "id": event.id, "data": event.json()}))
                job.refresh()
            else:  # nothing left to follow: the final snapshot and the end marker, in the stream's shape
                typer.echo(json.dumps({"event": "job", "id": None, "data": _dump(job.info)}))
                end = {"job_id": job.id, "state": str(job.info.state.value)}
                typer.echo(json.dumps({"event": "end", "id": None, "data": end}))
        else:
            job.wait(progress=True)
            _stdout().print(_job_line(job.info))
    _finish(job.info)


@job_app.command("cancel")
@handle_errors
def job_cancel(
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel a queued or running job."""
    with _client(url, token) as client:
        info = client.cancel_job(job_id)
    _print_json(info) if as_json else _stdout().print(_job_line(info))


@job_app.command("resume")
@handle_errors
def job_resume(
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Requeue a cancelled or failed job; finished trials are kept."""
    with _client(url, token) as client:
        info = client.resume_job(job_id)
    _print_json(info) if as_json else _stdout().print(_job_line(info))


# ---------------------------------------------------------------------- results
def _points_table(title: str, points: Iterable[Any]) -> Any:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in ("#", "trial", "accuracy", "latency ms", "reward", "px", "params", "MACs", "blocks"):
        table.add_column(col, justify="right" if col not in ("blocks",) else "left", overflow="fold")
    for p in points:
        table.add_row(
            _fmt(getattr(p, "number", None)),
            _fmt(getattr(p, "trial_id", getattr(p, "id", None))),
            _fmt(getattr(p, "accuracy", None), "pct"),
            _fmt(getattr(p, "latency_ms", None), "ms"),
            _fmt(getattr(p, "reward", None), "reward"),
            _fmt(getattr(p, "resolution", None)),
            _fmt(_params_count(p), "count"),
            _fmt(getattr(p, "macs", None), "count"),
            _blocks(getattr(p, "block_strings", None)),
        )
    return table


def _params_count(p: Any) -> Any:
    for name in ("params_count", "params"):
        value = getattr(p, name, None)
        if isinstance(value, int | float):
            return value
    return None


def pareto_cmd(
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    target_ms: Annotated[float | None, typer.Option("--target-ms", min=0.0, help="Re-score with this T.")] = None,
    alpha: Annotated[float | None, typer.Option("--alpha", help="Exponent when latency <= T.")] = None,
    beta: Annotated[float | None, typer.Option("--beta", help="Exponent when latency > T.")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a job's Pareto front (accuracy vs latency), rewards re-scored on request."""
    with _client(url, token) as client:
        front = client.pareto(job_id, target_ms=target_ms, alpha=alpha, beta=beta)
    if as_json:
        _print_json(front)
        return
    title = (
        f"Pareto front of job {job_id}: {len(front.points)} trials · T={front.target_ms} ms "
        f"α={front.alpha} β={front.beta} · hypervolume {_fmt(front.hypervolume, 'reward')}"
    )
    _stdout().print(_points_table(title, front.points))


def best_cmd(
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    k: Annotated[int, typer.Option("-k", "--top", min=1, max=1000, help="How many.")] = 5,
    target_ms: Annotated[float | None, typer.Option("--target-ms", min=0.0, help="Re-score with this T.")] = None,
    alpha: Annotated[float | None, typer.Option("--alpha")] = None,
    beta: Annotated[float | None, typer.Option("--beta")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a job's best trials by reward."""
    with _client(url, token) as client:
        best = client.best(job_id, k, target_ms=target_ms, alpha=alpha, beta=beta)
    if as_json:
        _print_json(best)
        return
    title = f"Best {k} trials of job {job_id} · T={best.target_ms} ms α={best.alpha} β={best.beta}"
    _stdout().print(_points_table(title, best.trials))


def trials_cmd(
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    state: Annotated[str | None, typer.Option("--state", help="Only trials in this state.")] = None,
    sort: Annotated[TrialSortKey, typer.Option("--sort", help="Sort key.")] = TrialSortKey.number,
    order: Annotated[str | None, typer.Option("--order", help="asc or desc.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many trials.")] = 100,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List a job's trials."""
    from rich.table import Table

    with _client(url, token) as client:
        rows = list(
            islice(
                client.trials(job_id, state=state, sort=sort.value, order=order, page_size=min(limit, 500)),
                limit,
            )
        )
    if as_json:
        _print_json(rows)
        return
    table = Table("#", "id", "state", "accuracy", "latency ms", "reward", "px", "params", "MACs", "blocks")
    for t in rows:
        table.add_row(
            _fmt(t.number),
            _fmt(t.id),
            _state(t.state),
            _fmt(t.accuracy, "pct"),
            _fmt(t.latency_ms, "ms"),
            _fmt(t.reward, "reward"),
            _fmt(getattr(t, "resolution", None)),
            _fmt(_params_count(t), "count"),
            _fmt(getattr(t, "macs", None), "count"),
            _blocks(getattr(t, "block_strings", None)),
        )
    _stdout().print(table if rows else "no trials")


def export_cmd(
    trial_id: Annotated[int, typer.Argument(help="Trial id.")],
    fmt: Annotated[ExportFormat, typer.Option("--format", "-f", help="What to write.")] = ExportFormat.all,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output directory.")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export a trial's network: architecture JSON, block strings, TorchScript and/or ONNX."""
    import warnings

    from nas_service.export import UntrainedExportWarning

    out_dir = out or Path(f"trial-{trial_id}")
    with _client(url, token) as client, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UntrainedExportWarning)
        written = client.export(trial_id, out_dir, format=fmt.value)
    untrained = any(issubclass(w.category, UntrainedExportWarning) for w in caught)
    if as_json:
        _print_json(
            {
                "trial_id": trial_id,
                "files": {k: str(v) for k, v in written.items()},
                "trained_weights": "weights" in written,
            }
        )
        return
    console = _stdout()
    for kind, path in written.items():
        console.print(f"{kind:12} {path}")
    if untrained:
        from rich.console import Console

        Console(stderr=True).print(
            "[yellow]warning:[/] the server has no trained weights for this trial: the TorchScript/ONNX "
            "files hold the untrained network"
        )


# ---------------------------------------------------------------------- nas space create|list
def space_create(
    file: Annotated[Path, typer.Argument(help="Search-space YAML or JSON.")],
    name: Annotated[str | None, typer.Option("--name", help="Name (default: the file's 'name').")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Store a search space on the controller."""
    data = _load_yaml_file(file)
    with _client(url, token) as client:
        space = client.create_space(data, name=name)
    if as_json:
        _print_json(space)
        return
    _stdout().print(f"created space {space.id} [bold]{space.name}[/] (version {getattr(space, 'version', 1)})")


def space_list(
    include_archived: Annotated[bool, typer.Option("--all", help="Include archived spaces.")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the search spaces stored on the controller."""
    from rich.table import Table

    with _client(url, token) as client:
        spaces = list(client.list_spaces(include_archived=include_archived))
    if as_json:
        _print_json(spaces)
        return
    table = Table("id", "name", "version", "log10 size", "archived", "created")
    for s in spaces:
        table.add_row(
            str(s.id),
            str(s.name),
            _fmt(getattr(s, "version", None)),
            _fmt(None if getattr(s, "log10_cardinality", None) is None else round(s.log10_cardinality, 1)),
            "yes" if getattr(s, "archived", False) else "",
            _fmt(getattr(s, "created_at", None))[:19],
        )
    _stdout().print(table if spaces else "no spaces")


def _space_group() -> typer.Typer | None:
    try:
        from nas_service.cli.space_cmd import space_app  # type: ignore[attr-defined]
    except ImportError:
        return None
    return space_app if isinstance(space_app, typer.Typer) else None


def register(app: typer.Typer) -> None:
    """Add ``job``, ``pareto``, ``best``, ``trials``, ``export`` and remote ``space`` commands to ``app``."""
    app.add_typer(job_app, name="job")
    app.command("pareto")(handle_errors(pareto_cmd))
    app.command("best")(handle_errors(best_cmd))
    app.command("trials")(handle_errors(trials_cmd))
    app.command("export")(handle_errors(export_cmd))
    group = _space_group()
    if group is None:
        # The local space commands are not there (yet): still offer the remote ones under ``nas space``.
        group = typer.Typer(help="Search spaces.", no_args_is_help=True)
        app.add_typer(group, name="space")
    group.command("create")(handle_errors(space_create))
    group.command("list")(handle_errors(space_list))


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use the 'nas' command")
