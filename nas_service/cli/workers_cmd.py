"""``nas dispatcher``: run the dispatcher in its own process (next to ``nas serve --no-dispatcher``).

Ray and torch are imported inside the command only, so the rest of the CLI stays light.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer


def dispatcher(
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: NAS_RAY_ADDRESS; none starts a local Ray).")
    ] = None,
    num_cpus: Annotated[int | None, typer.Option(help="CPUs of a local Ray (ignored with an address).")] = None,
    max_jobs: Annotated[int, typer.Option(min=1, help="Jobs driven at once.")] = 4,
    lease: Annotated[float, typer.Option(min=1.0, help="Job claim lease in seconds.")] = 60.0,
    stale_after: Annotated[
        float, typer.Option(min=1.0, help="Heartbeat age (s) after which a trial is stale.")
    ] = 120.0,
    dispatcher_id: Annotated[str | None, typer.Option("--id", help="Claim name (default: host:pid:random).")] = None,
    log_level: Annotated[str, typer.Option(help="Python log level.")] = "INFO",
) -> None:
    """Claim queued jobs from the database and run their trials on Ray until interrupted (Ctrl-C, SIGTERM).

    Several dispatchers may share one (Postgres) database: each job is claimed by one at a time, under a
    lease; a dispatcher that dies loses its jobs to the others when the lease expires, and their trials are
    retried. On a clean stop the held jobs are given back at once.
    """
    from nas_service.settings import get_settings
    from nas_service.storage import SchemaOutOfDate, open_storage
    from nas_service.storage.schema import is_embedded

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    url = settings.resolved_database_url()
    try:
        storage = open_storage(url, check_schema=True, auto_upgrade=is_embedded(url))
    except SchemaOutOfDate as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    from workers.dispatcher import Dispatcher
    from workers.executor import RayExecutor

    address = ray_address or settings.ray_address
    loopback = None if address else settings.embedded_ray_ip  # a Ray started here stays on loopback
    executor = RayExecutor(address=address, num_cpus=num_cpus, node_ip_address=loopback)
    loop = Dispatcher(storage, executor, dispatcher_id, max_jobs=max_jobs, lease_s=lease, stale_after_s=stale_after)
    stop = threading.Event()

    def _stop(signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    typer.echo(f"dispatcher {loop.id} running (Ctrl-C to stop)")
    try:
        loop.run(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        executor.shutdown()
        storage.close()
    typer.echo("dispatcher stopped; held jobs were given back")


def register(app: typer.Typer) -> None:
    """Add ``dispatcher`` to ``app``."""
    app.command("dispatcher")(dispatcher)
