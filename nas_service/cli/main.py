"""Entry point of the ``nas`` command: assembles the command groups.

Each ``*_cmd`` module exposes ``register(app)``; heavy imports (torch, ray, the API) happen inside commands.
"""

from __future__ import annotations

from typing import Any

import typer

from nas_service.cli import (
    arch_cmd,
    client_cmd,
    db_cmd,
    demo_cmd,
    final_cmd,
    latency_cmd,
    proxy_cmd,
    space_cmd,
    tables_cmd,
    workers_cmd,
)


def _flags_take_no_value() -> None:
    """Help shows no value type for flags (``--wait``, not ``--wait <bool>``): a flag takes no value.

    typer 0.29 labels every option with its Python type, flags included; its rich help asks each option for
    ``display_type_rich``, so flags answer ``None`` there.
    """
    from typer.core import TyperOption

    labelled = TyperOption.display_type_rich
    if getattr(labelled, "_nas_flags", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else labelled(self, ctx)

    display_type_rich._nas_flags = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_take_no_value()

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


for _module in (
    arch_cmd, space_cmd, db_cmd, workers_cmd, client_cmd, final_cmd, tables_cmd, demo_cmd, latency_cmd, proxy_cmd,
):
    _module.register(app)


def main() -> None:
    """Run the CLI; a bad ``NAS_*`` setting is one line on stderr and exit code 2, not a traceback."""
    from pydantic import ValidationError

    from nas_service.settings import settings_error_message

    try:
        app()
    except ValidationError as exc:
        message = settings_error_message(exc)
        if message is None:
            raise
        typer.echo(f"error: {message}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
