"""The FastAPI application: ``create_app`` wires settings, storage, routes, errors and the start-up checks.

Start-up (lifespan): open the storage and check the schema. Embedded mode (SQLite) upgrades itself; a server
database (Postgres) must be upgraded with ``nas db upgrade`` first, else the app refuses to start. Embedded
mode also creates a local admin token on first start, written to ``<data_dir>/admin-token`` (mode 600).

Nothing here imports torch or ray.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.limits import BodySizeLimit
from api.metrics import make_registry
from api.routes import artifacts, dashboard, docs, finalize, jobs, latency, ops, results, scaling, spaces, trials
from nas_service import __version__
from nas_service.schemas import ErrorResponse
from nas_service.settings import Settings, get_settings
from nas_service.storage import BaseStorage, SQLAlchemyStorage, TokenScope
from nas_service.storage.schema import ensure_schema_current, is_embedded

if TYPE_CHECKING:
    from workers.dispatcher import EmbeddedDispatcher

log = logging.getLogger("nas_service.api")

API_PREFIX = "/api/v1"
ADMIN_TOKEN_FILE = "admin-token"
#: Every error status a route may answer, documented once (the shape is always ``ErrorResponse``): 400 malformed
#: JSON or YAML, 413 a body over ``NAS_MAX_BODY_BYTES``, 415 an unsupported content type, 422 a bad field.
_ERRORS = {code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 415, 422)}


def _write_secret(path: Path, text: str) -> None:
    """Write ``text`` to a new file readable by its owner only (mode 600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")


def bootstrap_tokens(settings: Settings, storage: BaseStorage, url: str) -> Path | None:
    """Embedded mode: create the local admin token once.

    Returns:
        The admin-token file when it was created now, else ``None``.
    """
    if not is_embedded(url):
        return None
    path = Path(settings.data_dir) / ADMIN_TOKEN_FILE
    if path.exists():
        return None
    created = storage.create_token("admin", TokenScope.ADMIN, name="local admin (embedded mode)")
    try:
        _write_secret(path, created.token)
    except FileExistsError:  # another process won the race: keep its token, drop ours
        storage.revoke_token(created.record.id)
        return None
    print(f"nas-service: created a local admin token in {path} (mode 600)", file=sys.stderr)
    return path


def start_dispatcher_hook(settings: Settings, storage: BaseStorage) -> EmbeddedDispatcher:
    """Start the embedded dispatcher (``workers.dispatcher.start_embedded``); its handle.

    Imported here, not at module level: it pulls in ray, which the API process never loads unless it runs the
    dispatcher itself.
    """
    from workers.dispatcher import start_embedded

    return start_embedded(settings, storage)


def _stop(handle: Any) -> None:
    for name in ("stop", "close", "shutdown"):
        method = getattr(handle, name, None)
        if callable(method):
            method()
            return


def create_app(
    settings: Settings | None = None, storage: BaseStorage | None = None, *, start_dispatcher: bool = False
) -> FastAPI:
    """Build the application.

    Args:
        settings: Runtime settings (default: :func:`get_settings`).
        storage: An open storage to use (tests inject one; its schema is not enforced so that ``/readyz`` can
            report an old one). Without it, the lifespan opens the database of ``settings`` and checks the
            schema, refusing to start on an out-of-date server database.
        start_dispatcher: Run ``workers.dispatcher.start_embedded(settings, storage)`` on start-up
            and stop its handle (``stop``/``close``/``shutdown``) on shutdown; ``nas serve`` sets it.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = storage is None
        if storage is None:
            url = settings.resolved_database_url()
            ensure_schema_current(url, auto_upgrade=is_embedded(url))  # raises SchemaOutOfDate for Postgres
            store: BaseStorage = SQLAlchemyStorage(url)
        else:
            store = storage
            url = getattr(storage, "url", "")
        app.state.storage = store
        dispatcher = None
        try:
            if store.schema_status().up_to_date:
                bootstrap_tokens(settings, store, url)
            if start_dispatcher:
                dispatcher = start_dispatcher_hook(settings, store)
            app.state.dispatcher = dispatcher
            yield
        finally:
            if dispatcher is not None:
                _stop(dispatcher)
            if owned:
                store.close()

    app = FastAPI(
        title="nas-service",
        version=__version__,
        description="Platform-aware neural architecture search as a service.",
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # api.routes.docs serves Swagger UI from the package's own files (offline), /docs redirects
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = make_registry(lambda: app.state.storage)
    app.state.sse_poll_s = 1.0
    if storage is not None:
        app.state.storage = storage  # usable before the lifespan runs (plain TestClient without `with`)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    for module in (spaces, jobs, finalize, trials, results, scaling, artifacts, latency):
        app.include_router(module.router, prefix=API_PREFIX, responses=_ERRORS)  # type: ignore[arg-type]
    app.include_router(ops.router)
    app.include_router(ops.router, prefix=API_PREFIX, include_in_schema=False)
    app.include_router(dashboard.router)
    app.include_router(docs.router)
    return app
