"""``nas job finalize`` (stage two of a search) and ``nas fidelity`` (does the proxy rank like the real training?)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from nas_service.cli.client_cmd import (
    JsonOpt,
    TokenOpt,
    UrlOpt,
    _client,
    _finish,
    _fmt,
    _job_line,
    _print_json,
    _stdout,
    handle_errors,
    job_app,
)


class FinalizeBy(StrEnum):
    """How ``nas job finalize`` picks the networks."""

    reward = "reward"
    pareto = "pareto"
    netadapt = "netadapt"


class Augment(StrEnum):
    """Augmentation of the final recipe."""

    auto = "auto"
    none = "none"
    crop = "crop"
    crop_flip = "crop-flip"


@job_app.command("finalize")
@handle_errors
def job_finalize(
    job_id: Annotated[int, typer.Argument(help="The search job.")],
    top_k: Annotated[int, typer.Option("--top-k", min=1, help="How many networks to train.")] = 3,
    by: Annotated[
        FinalizeBy,
        typer.Option("--by", help="Rank by reward, take the Pareto front, or a netadapt job's kept networks."),
    ] = FinalizeBy.reward,
    target_ms: Annotated[
        float | None, typer.Option("--target-ms", min=0.0, help="Rank at this latency target.")
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Epochs of the final training.")] = 30,
    augment: Annotated[Augment, typer.Option("--augment", help="Augmentation (auto: by dataset).")] = Augment.auto,
    ema_decay: Annotated[float | None, typer.Option("--ema-decay", help="EMA of the weights (e.g. 0.999).")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the final job until it ends.")] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stage two: train the best networks of a search job to convergence and test them on held-out data."""
    with _client(url, token) as client:
        info = client.finalize(
            job_id, top_k, by=by.value, target_ms=target_ms, epochs=epochs, augment=augment.value, ema_decay=ema_decay
        )
        if not as_json:
            _stdout().print(f"submitted {_job_line(info)}")
            _stdout().print(f"source trials: {', '.join(str(t) for t in info.spec.final.trial_ids)}")
        if not wait:
            if as_json:
                _print_json(info)
            return
        final = client.get_job(info.id).wait(progress=not as_json)
        fidelity = client.fidelity(info.id)
    if as_json:
        _print_json({"job": final, "networks": fidelity.networks, "fidelity": _summary(fidelity)})
    else:
        _stdout().print(_job_line(final))
        _stdout().print(_table(fidelity))
    _finish(final)


def fidelity_cmd(
    job_id: Annotated[int, typer.Argument(help="A final job (made by nas job finalize).")],
    url: UrlOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """How well the proxy ranked the finalized networks: Kendall tau, Spearman rho, top-1 agreement, regret."""
    with _client(url, token) as client:
        fidelity = client.fidelity(job_id)
    if as_json:
        _print_json({**_summary(fidelity), "networks": fidelity.networks})
    else:
        _stdout().print(_table(fidelity))


def _summary(f: Any) -> dict[str, Any]:
    keys = ("job_id", "source_job_id", "n", "kendall_tau", "spearman", "reward_kendall_tau", "reward_spearman",
            "top1_agrees", "regret", "proxy_pick", "final_best")  # fmt: skip
    return {k: getattr(f, k) for k in keys}


def _table(f: Any) -> Any:
    from rich.table import Table

    title = (
        f"fidelity of job {f.job_id} (source job {f.source_job_id}) · n={f.n} · "
        f"Kendall τ {_fmt(f.kendall_tau, 'reward')} · Spearman ρ {_fmt(f.spearman, 'reward')} · "
        f"top-1 agrees {_fmt(f.top1_agrees)} · regret {_fmt(f.regret, 'reward')}"
    )
    table = Table(title=title, title_justify="left")
    for col in ("source trial", "final trial", "state", "proxy acc", "final acc", "proxy reward", "final reward",
                "latency ms"):  # fmt: skip
        table.add_column(col, justify="right")
    for n in f.networks:
        table.add_row(
            _fmt(n.source_trial_id), _fmt(n.final_trial_id), n.state, _fmt(n.proxy_accuracy, "pct"),
            _fmt(n.final_accuracy, "pct"), _fmt(n.proxy_reward, "reward"), _fmt(n.final_reward, "reward"),
            _fmt(n.latency_ms, "ms"),
        )  # fmt: skip
    return table


def register(app: typer.Typer) -> None:
    """Add ``fidelity`` (``job finalize`` joins the ``job`` group on import)."""
    app.command("fidelity")(handle_errors(fidelity_cmd))
