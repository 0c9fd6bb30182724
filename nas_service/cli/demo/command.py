"""The ``nas demo`` command: the typer wiring and the run from start-up to the printed result.

What the demo does, how it is sized and its exit codes: see the package docstring (:mod:`nas_service.cli.demo`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nas_service.cli.demo._job import build_spec, demo_space, max_macs, previous_target, target_change_note
from nas_service.cli.demo._options import EXIT_FAILURE, EXIT_OK, STRATEGIES, DemoError, DemoOptions
from nas_service.cli.demo._progress import DemoProgress, follow_job
from nas_service.cli.demo._report import print_summary
from nas_service.cli.demo._stack import EmbeddedStack, log_to_file, read_admin_token, resolve_settings, shutdown
from nas_service.cli.demo._warm import warm_workers

if TYPE_CHECKING:
    from rich.console import Console

    from nas_service.client import Client


def run_demo(opts: DemoOptions, out: Console, err: Console | None) -> int:
    """Run the demo from start-up to the printed result, then stop the stack.

    Args:
        opts: The command line.
        out: Where the result goes (stdout).
        err: Where progress goes (stderr); ``None`` for none (``--json``).

    Returns:
        The exit code: :data:`EXIT_OK` when the job completed, else :data:`EXIT_FAILURE`.

    Raises:
        DemoError: The stack could not start, the dispatcher died, the deadline passed or Ctrl-C (one line).
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    started = time.monotonic()
    settings = resolve_settings(opts)

    def say(text: str) -> None:
        if err is not None:
            err.print(text, highlight=False, soft_wrap=True)

    say(f"[bold]nas demo[/] · data dir {settings.data_dir}")
    stack = EmbeddedStack(settings)
    job_id: int | None = None
    client: Client | None = None
    log_handler = log_to_file(settings.data_dir / "demo.log")
    try:
        stack.open_storage()
        stack.start_api()
        token, token_file = read_admin_token(settings)
        say(f"controller API at {stack.url} · starting the dispatcher and a local Ray…")
        stack.start_dispatcher()
        say(
            f"warming {opts.concurrency} Ray worker(s) (torch, the digits data) and measuring the base network's "
            f"latency at {opts.resolution} px on one of them (1 thread)…"
        )
        proxy = build_spec(opts, 1.0).proxy.model_dump(mode="json")
        target_ms, base_blocks = warm_workers(proxy, opts.resolution, opts.concurrency)
        blocks = " | ".join(" ".join(stage) for stage in base_blocks)
        say(f"reward target T = {target_ms:.3f} ms: the median batch-1 latency of the base network {blocks}")
        from nas_service.client import Client as ClientCls

        client = ClientCls(url=stack.url, token=token, timeout=30.0)
        previous = previous_target(client, opts.resolution)
        note = target_change_note(target_ms, previous)
        if note is not None:
            say(note)
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
            "previous_target_ms": previous[1] if previous is not None else None,
            "trials": final.counters.model_dump(mode="json"),
            "best_reward": final.best_reward,
            "error": final.error,
            "dashboard_url": f"{stack.url}/dashboard/jobs/{job_id}",
            "data_dir": str(settings.data_dir),
            "admin_token_file": str(token_file),
            "keep_serving": opts.keep_serving,
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
        shutdown(stack, client)
        logging.getLogger().removeHandler(log_handler)
        log_handler.close()


def register(app: typer.Typer) -> None:
    """Add ``nas demo`` to ``app``.

    Args:
        app: The ``nas`` command group.
    """

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
