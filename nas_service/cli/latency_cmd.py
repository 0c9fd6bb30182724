"""``nas latency``: latency targets, real measurements, profiling a target's predictor and predicting.

These commands work on this machine's view of the service: the database of ``NAS_DATABASE_URL`` (default the
embedded SQLite under ``NAS_DATA_DIR``; ``--db`` overrides), and they **measure here**, so run ``measure``,
``profile`` and ``predict`` on a node of the target (the REST API and SDK list, change and predict from
anywhere, but never measure).

* ``nas latency targets [--json]``: the targets (the built-in ``local-cpu`` first).
* ``nas latency target-add NAME [--runtime R --threads N ...]`` / ``nas latency target-rm NAME``.
* ``nas latency measure TARGET ARCH [--resolution R] [--json]``: measure for real (``measured_ms``, ``cv``);
  a profiled target's predictor learns from it.
* ``nas latency profile TARGET --space SPACE --n N [--json]``: measure N sampled networks (parts and whole),
  fit the target's predictor, print its held-out accuracy (``within_10pct``, ``mape``, ``kendall_tau``,
  ``n_train``, ``n_test``).
* ``nas latency predict TARGET ARCH [--resolution R] [--json]``: ``predicted_ms`` and ``uncertainty_ms``;
  parts missing from the table are measured here and added (``--no-measure`` estimates them instead).

ARCH is what ``nas arch show`` takes: a preset, block strings or a JSON file. Exit codes: 0 ok, 1 failure,
2 usage or validation error (the message names the field), 3 unknown target. Errors are one line on stderr.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from nas_service.arch.spec import Architecture
    from nas_service.storage import BaseStorage

EXIT_FAILURE, EXIT_USAGE, EXIT_NOT_FOUND = 1, 2, 3

latency_app = typer.Typer(
    help="Latency targets, measurements and per-target predictors (measured on this machine).",
    no_args_is_help=True,
)

F = TypeVar("F", bound=Callable[..., Any])
DbOpt = Annotated[str | None, typer.Option("--db", help="Database URL (default NAS_DATABASE_URL / embedded).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ResOpt = Annotated[int | None, typer.Option("--resolution", "-r", min=8, max=1024, help="Input resolution.")]


class CliError(Exception):
    """A one-line error with its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _handle(func: F) -> F:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from pydantic import ValidationError

        from nas_service.latency.registry import BuiltinTargetError, PredictCapError
        from nas_service.storage import ConflictError, NotFoundError

        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise
        except CliError as exc:
            message, code = str(exc), exc.code
        except ValidationError as exc:
            err = exc.errors()[0]
            message, code = f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}", EXIT_USAGE
        except PredictCapError as exc:
            message, code = f"{exc.field}: {exc}", EXIT_USAGE
        except NotFoundError as exc:
            message, code = str(exc), EXIT_NOT_FOUND
        except (ConflictError, BuiltinTargetError) as exc:
            message, code = str(exc), EXIT_FAILURE
        except Exception as exc:  # never a traceback
            message, code = f"{type(exc).__name__}: {exc}", EXIT_FAILURE
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(code)

    return wrapper  # type: ignore[return-value]


@contextmanager
def _storage(db: str | None) -> Iterator[BaseStorage]:
    from nas_service.settings import get_settings
    from nas_service.storage import open_storage

    storage = open_storage(db or get_settings().resolved_database_url(), auto_upgrade=True)
    try:
        yield storage
    finally:
        storage.close()


def _arch(text: str, resolution: int | None) -> Architecture:
    from nas_service.cli.arch_cmd import ArchInputError, load_architecture

    try:
        return load_architecture(text, resolution=resolution)
    except ArchInputError as exc:
        raise CliError(f"architecture: {exc}", EXIT_USAGE) from None


def _print(value: Any, as_json: bool, human: Callable[[], str]) -> None:
    typer.echo(json.dumps(value, indent=2, default=str) if as_json else human())


@latency_app.command("targets")
@_handle
def targets_cmd(as_json: JsonOpt = False, db: DbOpt = None) -> None:
    """List the latency targets (the built-in local-cpu first)."""
    from nas_service.latency import registry

    with _storage(db) as storage:
        views = registry.list_targets(storage)
    rows = [{**v.target.model_dump(), "builtin": v.builtin, "owner": v.owner} for v in views]

    def human() -> str:
        lines = [f"{'NAME':<20} {'RUNTIME':<12} {'DEVICE':<6} {'THREADS':>7} {'BATCH':>5}  RESOURCE"]
        for r in rows:
            name = r["name"] + (" *" if r["builtin"] else "")
            lines.append(
                f"{name:<20} {r['runtime']:<12} {r['device']:<6} {r['threads']:>7} {r['batch_size']:>5}  "
                f"{r['resource'] or '(trial worker)'}"
            )
        return "\n".join(lines + ["* built-in"])

    _print(rows, as_json, human)


@latency_app.command("target-add")
@_handle
def target_add(
    name: Annotated[str, typer.Argument(help="Target name.")],
    runtime: Annotated[str, typer.Option(help="torch, torchscript or onnxruntime.")] = "torch",
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    threads: Annotated[int, typer.Option(help="Intra-op threads.")] = 1,
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 1,
    dtype: Annotated[str, typer.Option(help="float32 or float16 (cuda).")] = "float32",
    warmup: Annotated[int, typer.Option(help="Untimed runs.")] = 10,
    repeats: Annotated[int, typer.Option(help="Timed runs per round.")] = 30,
    resource: Annotated[str | None, typer.Option(help="Ray resource placing its measurements.")] = None,
    description: Annotated[str, typer.Option(help="Free text.")] = "",
    owner: Annotated[str, typer.Option(help="Owner recorded with the target.")] = "admin",
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Store a latency target."""
    from nas_service.latency import LatencyTarget, registry

    target = LatencyTarget.model_validate(
        dict(
            name=name,
            runtime=runtime,
            device=device,
            threads=threads,
            batch_size=batch_size,
            dtype=dtype,
            warmup=warmup,
            repeats=repeats,
            resource=resource,
            description=description,
        )
    )
    with _storage(db) as storage:
        view = registry.create_target(storage, owner, target)
    _print(view.target.model_dump(), as_json, lambda: f"created latency target {view.target.name}")


@latency_app.command("target-rm")
@_handle
def target_rm(name: Annotated[str, typer.Argument(help="Target name.")], db: DbOpt = None) -> None:
    """Delete a stored latency target and its predictor."""
    from nas_service.latency import registry

    with _storage(db) as storage:
        registry.delete_target(storage, name)
    typer.echo(f"deleted latency target {name}")


@latency_app.command("measure")
@_handle
def measure_cmd(
    target: Annotated[str, typer.Argument(help="Target name.")],
    arch: Annotated[str, typer.Argument(help="Preset, block strings or FILE.json.")],
    resolution: ResOpt = None,
    learn: Annotated[bool, typer.Option(help="Let a profiled target's predictor learn from it.")] = True,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Measure a network on TARGET, here (median ms and CV of the kept round)."""
    from nas_service.latency import network_parts, registry
    from nas_service.latency.profiling import fill_table, measure_network

    architecture = _arch(arch, resolution)
    with _storage(db) as storage:
        t = registry.get_target(storage, target).target
        registry.check_caps(architecture)
        m = measure_network(architecture, t)
        predictor = registry.load_predictor(storage, t)
        learned = bool(learn and m.stable and predictor.table)
        if learned:
            fill_table(predictor, architecture, t)
            predictor.observe(network_parts(architecture), architecture.arch_hash(), m.median_ms)
            registry.save_predictor(storage, predictor)
    out = {**m.summary(), "learned": learned}
    flag = "" if m.stable else "  (unstable: CV over the threshold after re-measuring)"
    _print(out, as_json, lambda: f"{target}: {m.median_ms:.3f} ms (p90 {m.p90_ms:.3f}, CV {m.cv:.1%}){flag}")


@latency_app.command("profile")
@_handle
def profile_cmd(
    target: Annotated[str, typer.Argument(help="Target name.")],
    space: Annotated[str, typer.Option("--space", help="Search space: preset name or file.")],
    n: Annotated[int, typer.Option("--n", min=4, max=10_000, help="Networks to measure.")] = 40,
    test_fraction: Annotated[float, typer.Option(min=0.05, max=0.9, help="Share held out.")] = 0.3,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Measure N sampled networks of SPACE on TARGET, fit its predictor, print held-out accuracy."""
    from nas_service.latency import registry
    from nas_service.latency.profiling import profile_space, sample_architectures
    from nas_service.space import load_space

    try:
        search_space = load_space(space)
    except (KeyError, ValueError) as exc:
        raise CliError(f"space: {exc}", EXIT_USAGE) from None
    with _storage(db) as storage:
        t = registry.get_target(storage, target).target
        predictor = registry.load_predictor(storage, t)
        archs = sample_architectures(search_space, n, seed)

        def progress(done: int, total: int) -> None:
            if not as_json:
                typer.echo(f"\rmeasured {done}/{total}", nl=done == total, err=True)

        report = profile_space(predictor, t, archs, test_fraction, on_progress=progress)
        registry.save_predictor(storage, predictor)
    out = report.to_dict()
    _print(
        out,
        as_json,
        lambda: (
            f"{target} on {space}: {report.within_10pct:.1%} within ±10%, MAPE {report.mape:.1%}, "
            f"Kendall τ {report.kendall_tau:.3f} (train {report.n_train}, held out {report.n_test}, "
            f"{report.table_entries} parts in the table)"
        ),
    )


@latency_app.command("predict")
@_handle
def predict_cmd(
    target: Annotated[str, typer.Argument(help="Target name.")],
    arch: Annotated[str, typer.Argument(help="Preset, block strings or FILE.json.")],
    resolution: ResOpt = None,
    measure: Annotated[bool, typer.Option(help="Measure parts missing from the table here (else estimate).")] = True,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Predict a network's latency on TARGET (predicted_ms and its uncertainty)."""
    from nas_service.latency import network_parts, registry

    architecture = _arch(arch, resolution)
    with _storage(db) as storage:
        t = registry.get_target(storage, target).target
        parts = registry.check_caps(architecture)
        predictor = registry.load_predictor(storage, t)
        added = 0
        if measure and predictor.missing(parts):
            from nas_service.latency.profiling import fill_table

            added = fill_table(predictor, architecture, t)
            registry.save_predictor(storage, predictor)
        try:
            p = registry.predict_latency(predictor, architecture)
        except LookupError as exc:
            raise CliError(str(exc), EXIT_FAILURE) from None
    out = {
        "target": target,
        "predicted_ms": p.predicted_ms,
        "uncertainty_ms": p.uncertainty_ms,
        "table_ms": p.table_ms,
        "missing_parts": p.missing_parts,
        "measured_parts": added,
        "macs": network_parts(architecture).macs,
        "fitted": predictor.coef is not None,
    }
    _print(out, as_json, lambda: f"{target}: {p.predicted_ms:.3f} ± {p.uncertainty_ms:.3f} ms (predicted)")


def register(app: typer.Typer) -> None:
    """Add ``nas latency`` to the CLI."""
    app.add_typer(latency_app, name="latency")
