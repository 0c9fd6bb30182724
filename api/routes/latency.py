"""``/latency``: latency targets (CRUD; the built-in ``local-cpu`` always exists) and their predictors.

Thin: the rules live in :mod:`nas_service.latency.registry`. Prediction here never measures (the API process
imports no runtime): parts missing from a target's table are estimated and widen the uncertainty; measuring
happens on the target's node (``nas latency profile|measure`` or a job's latency task).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status

from api.deps import CurrentOwner, StorageDep
from api.errors import ApiError
from nas_service.jobspec import JobSpec
from nas_service.latency import registry
from nas_service.latency.gate import require_predictor
from nas_service.latency.schemas import (
    LatencyPredictionPublic,
    LatencyPredictRequest,
    LatencyTargetPublic,
    PredictorPublic,
)
from nas_service.latency.targets import LatencyTarget, LatencyTargetUpdate
from nas_service.storage import BaseStorage

router = APIRouter(prefix="/latency", tags=["latency"])

TargetName = Annotated[str, Path(min_length=1, max_length=63, description="The target's name.")]


def _public(view: registry.TargetView) -> LatencyTargetPublic:
    return LatencyTargetPublic(
        **view.target.model_dump(),
        builtin=view.builtin,
        owner=view.owner,
        created_at=view.created_at,
        updated_at=view.updated_at,
    )


def _builtin_conflict(exc: registry.BuiltinTargetError) -> ApiError:
    return ApiError(409, "conflict", str(exc))


@router.get("/targets", operation_id="list_latency_targets", response_model=list[LatencyTargetPublic])
def list_targets(storage: StorageDep, _: CurrentOwner) -> Any:
    """Every target: the built-in ``local-cpu`` first, then the stored ones by name."""
    return [_public(v) for v in registry.list_targets(storage)]


@router.post(
    "/targets",
    operation_id="create_latency_target",
    status_code=status.HTTP_201_CREATED,
    response_model=LatencyTargetPublic,
)
def create_target(body: LatencyTarget, storage: StorageDep, principal: CurrentOwner) -> Any:
    """Store a target (409 when the name is taken or is ``local-cpu``; 422 names a bad field)."""
    try:
        return _public(registry.create_target(storage, principal.owner, body))
    except registry.BuiltinTargetError as exc:
        raise _builtin_conflict(exc) from None


@router.get("/targets/{name}", operation_id="get_latency_target", response_model=LatencyTargetPublic)
def get_target(name: TargetName, storage: StorageDep, _: CurrentOwner) -> Any:
    """One target."""
    return _public(registry.get_target(storage, name))


@router.patch("/targets/{name}", operation_id="update_latency_target", response_model=LatencyTargetPublic)
def update_target(name: TargetName, body: LatencyTargetUpdate, storage: StorageDep, principal: CurrentOwner) -> Any:
    """Change a stored target (its owner or an admin); a change of what is measured resets its predictor."""
    view = registry.get_target(storage, name)
    if not view.builtin and not principal.can_see(view.owner or ""):
        raise ApiError(403, "forbidden", f"latency target {name!r} belongs to another owner")
    try:
        changed = body.apply(view.target)
    except ValueError as exc:  # pydantic's ValidationError of the merged target
        from fastapi.exceptions import RequestValidationError
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False, include_context=False)]
            ) from None
        raise
    try:
        return _public(registry.update_target(storage, changed))
    except registry.BuiltinTargetError as exc:
        raise _builtin_conflict(exc) from None


@router.delete("/targets/{name}", operation_id="delete_latency_target", status_code=status.HTTP_204_NO_CONTENT)
def delete_target(name: TargetName, storage: StorageDep, principal: CurrentOwner) -> Response:
    """Delete a stored target and its predictor (its owner or an admin)."""
    view = registry.get_target(storage, name)
    if not view.builtin and not principal.can_see(view.owner or ""):
        raise ApiError(403, "forbidden", f"latency target {name!r} belongs to another owner")
    try:
        registry.delete_target(storage, name)
    except registry.BuiltinTargetError as exc:
        raise _builtin_conflict(exc) from None
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/targets/{name}/predictor", operation_id="get_latency_predictor", response_model=PredictorPublic)
def get_predictor(name: TargetName, storage: StorageDep, _: CurrentOwner) -> Any:
    """What the target's predictor knows: table size, networks, held-out and online accuracy."""
    target = registry.get_target(storage, name).target
    return PredictorPublic(**registry.load_predictor(storage, target).summary())


@router.post("/targets/{name}/predict", operation_id="predict_latency", response_model=LatencyPredictionPublic)
def predict(name: TargetName, body: LatencyPredictRequest, storage: StorageDep, _: CurrentOwner) -> Any:
    """Predict a network's latency on the target (409 when the target has no predictor yet)."""
    target = registry.get_target(storage, name).target
    predictor = registry.load_predictor(storage, target)
    try:
        arch = registry.as_architecture(body.architecture)
        parts = registry.check_caps(arch, body.resolution)
        p = registry.predict_latency(predictor, arch, body.resolution)
    except registry.PredictCapError as exc:
        raise ApiError(422, "validation_error", str(exc), field=exc.field) from None
    except LookupError as exc:
        raise ApiError(409, "not_profiled", str(exc)) from None
    return LatencyPredictionPublic(
        target=name,
        predicted_ms=p.predicted_ms,
        uncertainty_ms=p.uncertainty_ms,
        table_ms=p.table_ms,
        missing_parts=p.missing_parts,
        macs=parts.macs,
    )


def with_latency_targets(storage: BaseStorage, spec: JobSpec) -> JobSpec:
    """A job spec with the settings of the latency targets it names (422 naming the field when unknown)."""
    try:
        resolved = registry.resolve_job_latency(storage, spec.latency)
    except registry.TargetFieldError as exc:
        raise ApiError(422, "validation_error", str(exc), field=exc.field) from None
    spec = spec.model_copy(update={"latency": spec.latency.model_copy(update={"resolved": resolved})})
    try:
        require_predictor(storage, spec)
    except ValueError as exc:
        raise ApiError(422, "validation_error", str(exc), field="latency.mode") from None
    return spec
