"""Controller commands: ``nas db upgrade|current``, ``nas token create|list|revoke`` and ``nas serve``.

Every import of the storage, Alembic, FastAPI or uvicorn happens inside a command, so ``nas --help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

db_app = typer.Typer(help="Database schema: upgrade it (Alembic) or show its revision.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens: create (printed once), list, revoke.", no_args_is_help=True)

UrlOption = Annotated[
    str | None, typer.Option("--url", help="Database URL (default: NAS_DATABASE_URL, else the embedded SQLite).")
]


def _url(url: str | None) -> str:
    from nas_service.settings import get_settings

    return url or get_settings().resolved_database_url()


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@db_app.command("upgrade")
def db_upgrade(url: UrlOption = None, revision: str = typer.Option("head", help="Target revision.")) -> None:
    """Upgrade the database schema to the newest revision (creates the tables on an empty database)."""
    from nas_service.storage.schema import current_revision, upgrade

    target = _url(url)
    before = current_revision(target)
    upgrade(target, revision)
    typer.echo(f"{_redact(target)}: {before or '<empty>'} -> {current_revision(target)}")


@db_app.command("current")
def db_current(url: UrlOption = None) -> None:
    """Print the database's schema revision and whether it is the newest; exit 1 when it is behind."""
    from nas_service.storage.schema import UPGRADE_COMMAND, current_revision, head_revision

    target = _url(url)
    current, head = current_revision(target), head_revision()
    typer.echo(f"{_redact(target)}: revision {current or '<empty>'} (head {head})")
    if current != head:
        typer.echo(f"the schema is behind: run `{UPGRADE_COMMAND}`", err=True)
        raise typer.Exit(1)


@token_app.command("create")
def token_create(
    owner: Annotated[str, typer.Option("--owner", help="Who the token acts for (created if new).")],
    scope: Annotated[str, typer.Option("--scope", help="user or admin.")] = "user",
    name: Annotated[str | None, typer.Option("--name", help="A label shown in listings.")] = None,
    url: UrlOption = None,
) -> None:
    """Create an API token and print it; it is shown this once (only its hash is stored)."""
    from nas_service.storage import TokenScope, open_storage

    try:
        token_scope = TokenScope(scope)
    except ValueError:
        raise typer.BadParameter("scope must be user or admin", param_hint="--scope") from None
    storage = open_storage(_url(url))
    try:
        created = storage.create_token(owner, token_scope, name=name)
    finally:
        storage.close()
    typer.echo(f"created {token_scope.value} token {created.record.prefix}... for {owner}", err=True)
    typer.echo(created.token)


@token_app.command("list")
def token_list(owner: Annotated[str | None, typer.Option("--owner")] = None, url: UrlOption = None) -> None:
    """List tokens (prefix, scope, owner, state); secrets are never shown."""
    from nas_service.storage import open_storage

    storage = open_storage(_url(url))
    try:
        for t in storage.list_tokens(owner):
            state = "revoked" if t.revoked else "active"
            typer.echo(f"{t.id}\t{t.prefix}...\t{t.scope.value}\t{t.owner}\t{state}\t{t.name or ''}")
    finally:
        storage.close()


@token_app.command("revoke")
def token_revoke(token_id: int, url: UrlOption = None) -> None:
    """Revoke a token by id (see ``nas token list``)."""
    from nas_service.storage import open_storage

    storage = open_storage(_url(url))
    try:
        storage.revoke_token(token_id)
    finally:
        storage.close()
    typer.echo(f"revoked token {token_id}")


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default: NAS_HOST, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: NAS_PORT, 8765).")] = None,
    no_dispatcher: Annotated[
        bool, typer.Option("--no-dispatcher", help="Serve the API only; do not run the embedded dispatcher.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Run the controller: the REST API (and dashboard) plus, unless disabled, the embedded dispatcher.

    An embedded (SQLite) database is created or upgraded on start; a Postgres database must be upgraded
    with ``nas db upgrade`` first.
    """
    import uvicorn

    from api.app import create_app
    from nas_service.settings import get_settings
    from nas_service.storage import SchemaOutOfDate
    from nas_service.storage.schema import ensure_schema_current, is_embedded

    settings = get_settings()
    url = settings.resolved_database_url()
    try:  # checked here too: uvicorn would only log a failed lifespan, not say what to do
        ensure_schema_current(url, auto_upgrade=is_embedded(url))
    except SchemaOutOfDate as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    app = create_app(settings, start_dispatcher=not no_dispatcher)
    uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_level=log_level)


def register(app: typer.Typer) -> None:
    """Add ``db``, ``token`` and ``serve`` to ``app``."""
    app.add_typer(db_app, name="db")
    app.add_typer(token_app, name="token")
    app.command("serve")(serve)
