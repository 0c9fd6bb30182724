"""``nas job netadapt`` and ``nas job scaling``: the result tables of netadapt and compound-scaling jobs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from nas_service.cli.client_cmd import (
    JsonOpt,
    TokenOpt,
    UrlOpt,
    _client,
    _fmt,
    _print_json,
    _stdout,
    handle_errors,
    job_app,
)


@job_app.command("netadapt")
@handle_errors
def job_netadapt(
    job_id: Annotated[int, typer.Argument(help="A netadapt job.")],
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """NetAdapt's steps: per step the reduction kept, its measured latency and accuracy, and the network so far."""
    with _client(url, token) as client:
        report = client.netadapt(job_id)
    if as_json:
        _print_json(report)
        return
    out = _stdout()
    out.print(netadapt_table(report))
    if report.current is not None:
        out.print("blocks: " + " | ".join(" ".join(stage) for stage in report.current["block_strings"]))


def netadapt_table(r: Any) -> Any:
    """The rich table of a ``NetAdaptPublic``: the base, one row per step, then the step in progress. ``ms`` is
    on the base's scale (paired ratios), ``Δpp`` the accuracy change in percentage points, ``pp/ms`` that per
    millisecond saved (NetAdapt's choice criterion)."""
    from rich.table import Table

    budget = f"{_fmt(r.budget_ms, 'ms')} ms" if r.budget_ms is not None else f"{r.budget_fraction} x the base"
    title = f"NetAdapt job {r.job_id} · budget {budget} · {r.status or '-'}: {r.note or ''}"
    from rich import box

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("step", justify="right")
    table.add_column("target", justify="right")
    table.add_column("reduction", no_wrap=True)
    for col in ("ms", "Δms", "acc", "Δpp", "pp/ms", "tried", "trial"):
        table.add_column(col, justify="right")
    if r.base is not None:
        b = r.base
        table.add_row("0", "", "base", _fmt(b["latency_ms"], "ms"), "", _pct(b["accuracy"]), "", "", "1",
                      _fmt(b.get("trial_id")))  # fmt: skip
    for s in r.steps:
        c = s.get("chosen")
        if c is None:
            table.add_row(str(s["step"]), _fmt(s["target_ms"], "ms"), "no faster proposal", "", "", "", "", "",
                          f"{s['completed']}/{s['asked']}", "")  # fmt: skip
            continue
        table.add_row(
            str(s["step"]), _fmt(s["target_ms"], "ms"), f"s{c['stage']} {c['kind']} x{c['notches']}",
            _fmt(c["latency_ms"], "ms"), _fmt(c["delta_latency_ms"], "ms"), _pct(c["accuracy"]),
            _points(c["delta_accuracy"]), _per_ms(c["score"]), f"{s['completed']}/{s['asked']}",
            _fmt(c.get("trial_id")),
        )  # fmt: skip
    if r.proposals:
        done = sum(1 for p in r.proposals if p["state"] not in ("pending", "planned"))
        table.add_row(str(r.step), _fmt(r.target_ms, "ms"), "in progress", "", "", "", "", "",
                      f"{done}/{len(r.proposals)}", "")  # fmt: skip
    return table


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _per_ms(score: float | None) -> str:
    """NetAdapt's score (accuracy change per millisecond saved) in percentage points per millisecond."""
    return "–" if score is None else f"{100 * score:.3g}"


def _points(value: float | None) -> str:
    """An accuracy change in percentage points."""
    return "–" if value is None else f"{100 * value:+.1f}"


@job_app.command("scaling")
@handle_errors
def job_scaling(
    job_id: Annotated[int, typer.Argument(help="A compound-scaling job.")],
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compound scaling's result: the chosen coefficients and the phi family (accuracy, latency, params, MACs)."""
    from rich.table import Table

    with _client(url, token) as client:
        report = client.scaling(job_id)
    if as_json:
        _print_json(report)
        return
    chosen = report.chosen or {}
    coefficients = " ".join(f"{k}={v}" for k, v in chosen.items()) or "not chosen yet"
    table = Table(title=f"compound scaling job {report.job_id} · {coefficients} · {report.note or ''}",
                  title_justify="left")  # fmt: skip
    for col in ("phi", "resolution", "accuracy", "latency ms", "params", "MACs", "reward", "state"):
        table.add_column(col, justify="right")
    for row in report.family:
        table.add_row(
            str(row.get("phi")), _fmt(row.get("resolution")), _fmt(row.get("accuracy"), "pct"),
            _fmt(row.get("latency_ms"), "ms"), _fmt(row.get("params"), "count"), _fmt(row.get("macs"), "count"),
            _fmt(row.get("reward"), "reward"), str(row.get("state")),
        )  # fmt: skip
    _stdout().print(table)


def register(app: typer.Typer) -> None:
    """Nothing to add at the top level (``job netadapt`` and ``job scaling`` join the ``job`` group on import)."""
