"""The web dashboard: two static pages and their assets, served from ``api/dashboard/static``.

The pages hold no data and need no token: they fetch everything from ``/api/v1`` with the token the user
typed into the page (kept in ``localStorage``), sent as ``Authorization: Bearer``; the job page reads the
event stream with ``fetch`` for the same reason (``EventSource`` cannot send headers). No build step: the
assets are committed as they are served.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "dashboard" / "static"
# Pages and scripts change with the code, not per request: let the browser revalidate them cheaply.
_CACHE = {"Cache-Control": "no-cache"}

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
