"""Entry point of the ``nas`` command: assembles the command groups.

Each ``*_cmd`` module exposes ``register(app)``; heavy imports (torch, ray, the API) happen inside commands.
"""

from __future__ import annotations

import typer

from nas_service.cli import arch_cmd, client_cmd, db_cmd, demo_cmd, latency_cmd, space_cmd, workers_cmd

app = typer.Typer(
    name="nas",
    help="nas-service: platform-aware neural architecture search.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("version")
def version() -> None:
    """Print the nas-service version."""
    from nas_service import __version__

    typer.echo(__version__)


for _module in (arch_cmd, space_cmd, db_cmd, workers_cmd, client_cmd, demo_cmd, latency_cmd):
    _module.register(app)


def main() -> None:
    """Run the CLI."""
    app()


if __name__ == "__main__":
    main()
