"""The web dashboard: two static pages, their assets, and two compact data endpoints for the job page.

The pages hold no data and need no token: they fetch from the API with the token the user typed into the page
(kept in ``localStorage``), sent as ``Authorization: Bearer``; the job page reads the event stream with
``fetch`` for the same reason (``EventSource`` cannot send headers, and a token in a URL ends up in logs).
No build step: the assets are committed as they are served.

Data for the job page, with the API's auth and visibility rules:

* ``GET /dashboard/api/jobs/{id}/xy``: id, accuracy and latency of the completed trials, from one narrow query.
  The page draws the scatter and the front from it (plus ``/pareto``) before anything else arrives.
* ``GET /dashboard/api/jobs/{id}/points``: every trial column by column, with only what the table and the
  tooltips need (no architecture documents, no sampler parameters): for 10,000 trials ~13x less JSON than
  paging ``/api/v1/jobs/{id}/trials``. One narrow SELECT (``BaseStorage.list_trial_points``), no ORM objects;
  the block strings are passed through as stored JSON text, never decoded.
* ``GET /dashboard/api/jobs/{id}/scaling``: a compound-scaling job's scaling table (one row per ``phi``),
  rebuilt from the dispatcher's saved strategy state; ``{"rows": []}`` for other jobs or before step 1 ends.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, Response

from api.deps import CurrentOwner, StorageDep
from api.routes._common import PathId, visible_job

STATIC_DIR = Path(__file__).resolve().parent.parent / "dashboard" / "static"
# Pages and scripts change with the code, not per request: let the browser revalidate them cheaply.
_CACHE = {"Cache-Control": "no-cache"}
#: Largest page of the compact endpoint.
MAX_POINTS_PAGE = 20_000
#: The columns of the compact endpoint, named as in ``TrialPublic`` (what the table and the tooltips show).
POINT_COLUMNS = ("id", "number", "state", "accuracy", "latency_ms", "params_count", "macs", "reward", "block_strings")

router = APIRouter(tags=["dashboard"], include_in_schema=False)


@router.get("/dashboard")
def jobs_page() -> FileResponse:
    """The jobs list."""
    return FileResponse(STATIC_DIR / "index.html", headers=_CACHE)


@router.get("/dashboard/jobs/{job_id}")
def job_page(job_id: str) -> FileResponse:
    """One job: the live Pareto front, the trial panel and the trial table (the id is read by the script)."""
    return FileResponse(STATIC_DIR / "job.html", headers=_CACHE)


@router.get("/dashboard/static/{path:path}")
def static_asset(path: str) -> FileResponse:
    """A committed asset (scripts, stylesheet, vendored files); nothing outside the static directory."""
    target = (STATIC_DIR / path).resolve()
    if not target.is_relative_to(STATIC_DIR) or not target.is_file():
        raise HTTPException(status_code=404, detail="no such asset")
    return FileResponse(target, headers=_CACHE)


@router.get("/dashboard/api/jobs/{job_id}/points")
def job_points(
    job_id: PathId,
    storage: StorageDep,
    principal: CurrentOwner,
    limit: Annotated[int, Query(ge=1, le=MAX_POINTS_PAGE)] = MAX_POINTS_PAGE,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Response:
    """A job's trials by number, as columns: ``{"total", "offset", "columns": {name: [values...]}}``."""
    visible_job(storage, principal, job_id)
    page = storage.list_trial_points(job_id, limit=limit, offset=offset)
    # The block strings arrive as their stored JSON text and go out as they are: decoding and re-encoding
    # 10,000 small documents was most of this endpoint's time.
    scalars = json.dumps({name: page.columns[name] for name in POINT_COLUMNS[:-1]}, separators=(",", ":"))
    blocks = "[" + ",".join(text or "null" for text in page.block_strings_json) + "]"
    body = f'{{"total":{page.total},"offset":{offset},"columns":{scalars[:-1]},"block_strings":{blocks}}}}}'
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})


@router.get("/dashboard/api/jobs/{job_id}/xy")
def job_xy(job_id: PathId, storage: StorageDep, principal: CurrentOwner) -> Response:
    """Every completed trial's ``id``, ``accuracy`` and ``latency_ms``, as columns (enough to draw the front)."""
    visible_job(storage, principal, job_id)
    points = storage.completed_points(job_id)
    columns = {
        "id": [p[0] for p in points],
        "accuracy": [p[1] for p in points],
        "latency_ms": [p[2] for p in points],
    }
    body = json.dumps({"total": len(points), "columns": columns}, separators=(",", ":"))
    return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})


@router.get("/dashboard/api/jobs/{job_id}/scaling")
def job_scaling(job_id: PathId, storage: StorageDep, principal: CurrentOwner) -> dict[str, Any]:
    """The phi family of a compound-scaling job as ``rows`` (empty when there is none yet); the API's
    ``/jobs/{id}/scaling`` serves the same report with the step-1 grid too."""
    from nas_service.orchestration.reports import job_scaling_report  # lazy: only scaling jobs need it

    job = visible_job(storage, principal, job_id)
    report = job_scaling_report(storage, job)
    return {"rows": report["family"], "note": report["note"]}
