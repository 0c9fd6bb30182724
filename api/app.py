"""The FastAPI application: ``create_app`` wires settings, storage, routes, errors and the start-up checks.

Start-up (lifespan): open the storage and check the schema. Embedded mode (SQLite) upgrades itself; a server
database (Postgres) must be upgraded with ``nas db upgrade`` first, else the app refuses to start. Embedded
mode also creates a local admin token on first start, written to ``<data_dir>/admin-token`` (mode 600).

Nothing here imports torch or ray.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.limits import BodySizeLimit
from api.metrics import Metrics
from nas_service import __version__
from nas_service.schemas import ErrorResponse
from nas_service.settings import Settings, get_settings
from nas_service.storage import BaseStorage, SQLAlchemyStorage, TokenScope
from nas_service.storage.schema import ensure_schema_current, is_embedded

log = logging.getLogger("nas_service.api")

API_PREFIX = "/api/v1"
ADMIN_TOKEN_FILE = "admin-token"
_ERRORS = {code: {"model": ErrorResponse} for code in (401, 403, 404, 409, 422)}


def _write_secret(path: Path, text: str) -> None:
    """Write ``text`` to a new file readable by its owner only (mode 600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")


def bootstrap_tokens(settings: Settings, storage: BaseStorage, url: str) -> Path | None:
    """Embedded mode: create the local admin token once; register ``NAS_WORKER_TOKEN`` if set.

    Returns:
        The admin-token file when it was created now, else ``None``.
    """
    if settings.worker_token and storage.verify_token(settings.worker_token) is None:
        storage.create_token("workers", TokenScope.WORKER, name="NAS_WORKER_TOKEN", token=settings.worker_token)
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


#: Routers owned by other parts of the project, mounted when their module exists: (module, prefix).
OPTIONAL_ROUTERS = (
    ("api.routes.dashboard", ""),
    ("api.routes.artifacts", API_PREFIX),
    ("api.routes.latency", API_PREFIX),
)


def _include_optional(app: FastAPI, module_name: str, prefix: str) -> None:
    """Mount ``module_name.router`` when that module exists; a broken one is logged, not fatal."""
    if importlib.util.find_spec(module_name) is None:
        return
    try:
        module = importlib.import_module(module_name)
    except Exception:  # an optional router must not take the API down
        log.exception("%s failed to import; serving the API without it", module_name)
        return
    router = getattr(module, "router", None)
    if router is not None:
        app.include_router(router, prefix=prefix, responses=_ERRORS if prefix else None)  # type: ignore[arg-type]


def start_dispatcher_hook(settings: Settings, storage: BaseStorage) -> Any:
    """Start the embedded dispatcher when ``workers.dispatcher.start_embedded`` exists; its handle or ``None``.

    The dispatcher is owned by the workers package and imported lazily (it may pull in ray): the API process
    itself never imports it unless asked to run it.
    """
    if importlib.util.find_spec("workers.dispatcher") is None:
        log.info("no workers.dispatcher module: serving without the embedded dispatcher")
        return None
    module = importlib.import_module("workers.dispatcher")
    start = getattr(module, "start_embedded", None)
    if start is None:
        log.info("workers.dispatcher has no start_embedded(): serving without the embedded dispatcher")
        return None
    return start(settings, storage)


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
        start_dispatcher: Run ``workers.dispatcher.start_embedded(settings, storage)`` on start-up (if that
            exists) and stop its handle (``stop``/``close``/``shutdown``) on shutdown; ``nas serve`` sets it.
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
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.sse_poll_s = 1.0
    if storage is not None:
        app.state.storage = storage  # usable before the lifespan runs (plain TestClient without `with`)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit)

    from api.routes import internal, jobs, ops, results, scaling, spaces, trials

    for module in (spaces, jobs, trials, results, scaling, internal):
        app.include_router(module.router, prefix=API_PREFIX, responses=_ERRORS)  # type: ignore[arg-type]
    app.include_router(ops.router)
    app.include_router(ops.router, prefix=API_PREFIX, include_in_schema=False)
    for module_name, prefix in OPTIONAL_ROUTERS:
        _include_optional(app, module_name, prefix)
    return app
