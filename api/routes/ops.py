"""Operations: liveness, readiness (database reachable and schema at head) and Prometheus metrics.

``/metrics`` is open unless the ``metrics_token`` setting (``NAS_METRICS_TOKEN``) is set; then it answers only
``Authorization: Bearer <that token>`` (401 otherwise). API tokens do not open it: a scraper gets its own secret.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import StorageDep
from api.errors import ApiError
from api.metrics import render
from nas_service.schemas import HealthPublic
from nas_service.storage import StorageError
from nas_service.storage.schema import UPGRADE_COMMAND

router = APIRouter(tags=["ops"])
_bearer = HTTPBearer(auto_error=False, description="The NAS_METRICS_TOKEN, when the server sets one.")


@router.get("/healthz", operation_id="health", response_model=HealthPublic)
def health() -> HealthPublic:
    """The process is up (no database access)."""
    return HealthPublic(status="ok")


@router.get(
    "/readyz",
    operation_id="readiness",
    response_model=HealthPublic,
    responses={
        503: {
            "model": HealthPublic,
            "description": "Database unavailable, schema not at head, or the embedded dispatcher is down.",
        }
    },
)
def readiness(storage: StorageDep, request: Request) -> HealthPublic | JSONResponse:
    """Ready to serve: the database answers, its schema is at this code's head revision and the embedded
    dispatcher (``nas serve``) runs and reaches the database (else 503; never host, port or driver text)."""
    try:
        storage.ping()
        status = storage.schema_status()
    except StorageError:
        body = HealthPublic(status="unavailable", detail="database unavailable")
        return JSONResponse(status_code=503, content=body.model_dump())
    health_problem = getattr(getattr(request.app.state, "dispatcher", None), "health_problem", None)
    problem = health_problem() if callable(health_problem) else None
    if problem is not None:
        body = HealthPublic(
            status="unavailable", detail=problem, schema_revision=status.current, head_revision=status.head
        )
        return JSONResponse(status_code=503, content=body.model_dump())
    if not status.up_to_date:
        detail = (
            f"database schema is at {status.current or '<empty>'}, this code needs {status.head}: "
            f"run `{UPGRADE_COMMAND}`"
        )
        body = HealthPublic(
            status="unavailable", detail=detail, schema_revision=status.current, head_revision=status.head
        )
        return JSONResponse(status_code=503, content=body.model_dump())
    return HealthPublic(status="ok", schema_revision=status.current, head_revision=status.head)


def require_metrics_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Let the scrape through when no metrics token is configured or the right one is sent (else 401)."""
    expected: str | None = request.app.state.settings.metrics_token
    if expected is None:
        return
    given = credentials.credentials if credentials is not None else ""
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "/metrics needs the metrics token", headers={"WWW-Authenticate": "Bearer"})


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    dependencies=[Depends(require_metrics_token)],
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format."}},
)
async def metrics(request: Request) -> Response:
    """Prometheus text format: jobs and trials by state (gauges), monotonic trial counters, process metrics."""
    body = await run_in_threadpool(render, request.app.state.metrics)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
