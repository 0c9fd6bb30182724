"""``nas proxy study``: rank candidate proxies against a reference training (:mod:`nas_service.proxy_study`).

Exit codes: 0 when the study finished (whether or not a candidate qualified), 1 when one of its jobs ended without
completing or the wait timed out (the jobs keep running: run the same command again to attach), 2 for bad input.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import typer

from nas_service.cli.client_cmd import JsonOpt, TokenOpt, UrlOpt, _client, _fail, _print_json, _stdout, handle_errors
from nas_service.cli.exitcodes import EXIT_FAILURE, EXIT_USAGE

proxy_app = typer.Typer(help="Proxy tasks: which cheap training ranks networks like the expensive one.")


@proxy_app.command("study")
@handle_errors
def proxy_study(
    space: Annotated[
        str, typer.Option("--space", help="Search space to sample: a preset's name or a stored space's id.")
    ],
    n: Annotated[int, typer.Option("--n", min=2, help="Networks sampled.")],
    reference: Annotated[
        str, typer.Option("--reference", help="The expensive proxy, as fields: 'epochs=30,resolution=32'.")
    ],
    candidate: Annotated[
        list[str],
        typer.Option("--candidate", help="A cheaper proxy, as fields over the reference's (repeat the option)."),
    ],
    threshold: Annotated[float, typer.Option("--threshold", min=-1.0, max=1.0, help="Tau to recommend.")] = 0.6,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Sampling seed.")] = 0,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Trials of a job at a time.")] = 2,
    timeout: Annotated[
        float | None, typer.Option("--timeout", min=1.0, help="Stop waiting after this many seconds.")
    ] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train N sampled networks under the reference and each candidate proxy (as jobs); print each candidate's
    Kendall tau against the reference, its relative cost, and the cheapest candidate with tau >= threshold.

    The jobs are named after the study, so the same command run again attaches to them and continues."""
    from nas_service.proxy_study import StudyError, StudyJobError, StudyPlan, parse_proxy, run_study

    try:
        plan = StudyPlan(
            space=space, n=n, reference=parse_proxy(reference, "reference"),
            candidates=[parse_proxy(c, f"candidate {i}") for i, c in enumerate(candidate, 1)],
            seed=seed, threshold=threshold, concurrency=concurrency,
        )  # fmt: skip
        plan.candidate_proxies()
        with _client(url, token) as client:
            say = (lambda _line: None) if as_json else (lambda line: typer.echo(line, err=True))
            result = run_study(client, plan, timeout_s=timeout, say=say)
    except StudyJobError as exc:
        raise _fail(str(exc), EXIT_FAILURE) from None
    except StudyError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    if as_json:
        _print_json(result.to_dict())
        return
    _stdout().print(_table(result))
    if result.recommended is None:
        _stdout().print(f"no candidate reaches tau {result.threshold:g}: keep the reference, or try others")
    else:
        _stdout().print(f"recommended: {result.recommended} (the cheapest with tau >= {result.threshold:g})")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _table(result: Any) -> Any:
    from rich.table import Table

    title = (
        f"proxy study {result.key} · {result.n} networks · reference job {result.reference_job_id} "
        f"({result.reference_seconds:.1f} s of training)"
    )
    table = Table(title=title, title_justify="left")
    for col in ("candidate", "job", "n", "Kendall τ", "Spearman ρ", "cost vs reference"):
        table.add_column(col, justify="right" if col != "candidate" else "left")
    for c in result.candidates:
        mark = " ✓" if c.name == result.recommended else ""
        table.add_row(c.name + mark, str(c.job_id), str(c.n), _fmt(c.kendall_tau), _fmt(c.spearman), _fmt(c.cost, 2))
    return table


def register(app: typer.Typer) -> None:
    """Add the ``proxy`` group."""
    app.add_typer(proxy_app, name="proxy")
