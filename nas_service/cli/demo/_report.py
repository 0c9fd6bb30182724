"""The result: the Pareto front as a table or JSON, the job's outcome and where to look next."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


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
    """Print the Pareto front table (accuracy up, latency down), sorted by latency.

    Args:
        console: Where to print.
        rows: The front (see :func:`pareto_rows`).
        target_ms: The reward's latency target.
        hypervolume: The front's hypervolume.
    """
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


def print_summary(out: Console, err: Console | None, summary: dict[str, Any], pareto: Any, as_json: bool) -> None:
    """Print the result: the Pareto front, the job's outcome, the dashboard URL and where the admin token is.

    Args:
        out: Where the result goes (stdout).
        err: Where a failed job's reason goes (stderr); ``None`` for nowhere.
        summary: The job's outcome (the ``--json`` output without the front).
        pareto: The job's ``ParetoPublic``.
        as_json: Print one JSON document instead of the table and lines.
    """
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
    from nas_service.cli.exitcodes import nas_command

    served = "served until you press Ctrl-C" if summary.get("keep_serving") else "served only while the demo runs"
    out.print(f"dashboard ({served}): {summary['dashboard_url']}", highlight=False, soft_wrap=True)
    out.print(f"admin token (sign in to the dashboard with it): {summary['admin_token_file']}", soft_wrap=True)
    browse = f"NAS_DATA_DIR={summary['data_dir']} {nas_command()} serve"
    out.print(f"browse it later: {browse} (or rerun the demo with --keep-serving)", highlight=False, soft_wrap=True)
    if summary["state"] != "completed" and err is not None:
        reason = f": {summary['error']}" if summary["error"] else ""
        err.print(
            f"[bold red]error:[/] job {summary['job_id']} ended {summary['state']}{escape(reason)}", soft_wrap=True
        )


def _skipped(counters: dict[str, int]) -> str:
    skipped = counters["total"] - counters["completed"] - counters["pruned"] - counters["failed"]
    return f", {skipped} not trained (over the cap or a duplicate)" if skipped > 0 else ""
