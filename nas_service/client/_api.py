"""The API surface as data: each client method is a :class:`Call` built here, sent by ``_sync``/``_async``.

Keeping paths, bodies and reply models in one place means the sync and async clients cannot drift apart.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from nas_service.client._errors import NasError, ValidationError
from nas_service.client._payloads import as_plain, space_body, validation_error_from_pydantic
from nas_service.client._transport import ServerEvent


def _schemas() -> Any:
    from nas_service import schemas

    return schemas


def _model(name: str) -> Callable[[Any], Any]:
    def parse(data: Any) -> Any:
        return getattr(_schemas(), name).model_validate(data)

    return parse


def _identity(data: Any) -> Any:
    return data


@dataclass(frozen=True)
class Call:
    """One request: method, path under ``/api/v1``, query, JSON body, and how to read the reply."""

    method: str
    path: str
    params: dict[str, Any] | None = None
    body: Any = None
    parse: Callable[[Any], Any] = field(default=_identity)


def _query(**values: Any) -> dict[str, Any]:
    return {k: (v.value if hasattr(v, "value") else v) for k, v in values.items() if v is not None}


# ---------------------------------------------------------------------- spaces
def create_space(space: Any, name: str | None) -> Call:
    """``POST /spaces``."""
    body = space_body(space)
    name = name or body.get("name")
    if not name:
        raise ValidationError("a space needs a name (pass name= or put 'name' in the definition)", field="name")
    payload = _validated("SpaceCreate", {"name": name, "definition": body})
    return Call("POST", "/spaces", body=payload, parse=_model("SpacePublic"))


def validate_space(space: Any) -> Call:
    """``POST /spaces/validate``."""
    body = space_body(space)
    payload = {"name": body.get("name") or "unnamed", "definition": body}
    return Call("POST", "/spaces/validate", body=payload, parse=_model("SpaceValidation"))


def get_space(space_id: int) -> Call:
    """``GET /spaces/{id}``."""
    return Call("GET", f"/spaces/{int(space_id)}", parse=_model("SpacePublic"))


def list_spaces(include_archived: bool) -> Call:
    """``GET /spaces`` (paged by the caller)."""
    params = {"include_archived": "true" if include_archived else "false"}
    return Call("GET", "/spaces", params=params, parse=_model("SpaceSummary"))


def archive_space(space_id: int) -> Call:
    """``POST /spaces/{id}/archive``."""
    return Call("POST", f"/spaces/{int(space_id)}/archive", parse=_model("SpacePublic"))


# ---------------------------------------------------------------------- jobs
def job_create_payload(spec: Any, space_id: int | None, space: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    """The ``JobCreate`` body for a spec and a space reference, validated locally so errors name the field."""
    if spec is None:
        plain: Any = {}
    elif isinstance(spec, BaseModel):
        # Only the fields its caller set: the server tells an explicit proxy.resolution from a default.
        plain = spec.model_dump(mode="json", exclude_unset=True)
    else:
        plain = as_plain(spec)
    if isinstance(plain, str):
        from nas_service.client._payloads import load_yaml_text

        plain = load_yaml_text(plain, "the job spec")
    if not isinstance(plain, dict):
        raise ValidationError("a job spec must be a mapping", field="spec")
    plain = {**plain, **overrides}
    # Accept both a bare JobSpec and a whole JobCreate-shaped mapping (spec: + space:).
    if "spec" in plain and isinstance(plain["spec"], dict):
        body = dict(plain)
    else:
        body = {"spec": {k: v for k, v in plain.items() if k not in ("space", "space_id")}}
        for key in ("space", "space_id"):
            if key in plain:
                body[key] = plain[key]
    if space_id is not None:
        body["space_id"] = int(space_id)
    if space is not None:
        body["space"] = space if isinstance(space, str) and "\n" not in space else space_body(space)
    return _validated("JobCreate", body)


def submit_job(spec: Any, space_id: int | None, space: Any, overrides: dict[str, Any]) -> Call:
    """``POST /jobs``."""
    return Call(
        "POST",
        "/jobs",
        body=job_create_payload(spec, space_id, space, overrides),
        parse=_model("JobPublic"),
    )


def get_job(job_id: int) -> Call:
    """``GET /jobs/{id}``."""
    return Call("GET", f"/jobs/{int(job_id)}", parse=_model("JobPublic"))


def list_jobs(state: str | None) -> Call:
    """``GET /jobs`` (paged by the caller)."""
    return Call("GET", "/jobs", params=_query(state=state), parse=_model("JobSummary"))


def job_action(job_id: int, action: str) -> Call:
    """``POST /jobs/{id}/cancel`` or ``/resume``."""
    return Call("POST", f"/jobs/{int(job_id)}/{action}", parse=_model("JobPublic"))


def finalize_job(job_id: int, top_k: int, by: str, target_ms: float | None, epochs: int, **extra: Any) -> Call:
    """``POST /jobs/{id}/finalize`` (stage two: a ``final`` job training the best networks)."""
    body = _validated("FinalizeRequest", {"top_k": top_k, "by": by, "target_ms": target_ms, "epochs": epochs,
                                           **{k: v for k, v in extra.items() if v is not None}})  # fmt: skip
    return Call("POST", f"/jobs/{int(job_id)}/finalize", body=body, parse=_model("JobPublic"))


def fidelity(job_id: int) -> Call:
    """``GET /jobs/{id}/fidelity`` of a final job."""
    return Call("GET", f"/jobs/{int(job_id)}/fidelity", parse=_model("FidelityPublic"))


# ---------------------------------------------------------------------- trials and results
def trials(job_id: int, state: str | None, sort: str, order: str | None) -> Call:
    """``GET /jobs/{id}/trials`` (paged by the caller)."""
    params = _query(state=state, sort=sort, order=order)
    return Call("GET", f"/jobs/{int(job_id)}/trials", params=params, parse=_model("TrialPublic"))


def get_trial(trial_id: int) -> Call:
    """``GET /trials/{id}``."""
    return Call("GET", f"/trials/{int(trial_id)}", parse=_model("TrialDetail"))


def pareto(job_id: int, target_ms: float | None, alpha: float | None, beta: float | None) -> Call:
    """``GET /jobs/{id}/pareto``."""
    params = _query(target_ms=target_ms, alpha=alpha, beta=beta)
    return Call("GET", f"/jobs/{int(job_id)}/pareto", params=params, parse=_model("ParetoPublic"))


def best(job_id: int, k: int, target_ms: float | None, alpha: float | None, beta: float | None) -> Call:
    """``GET /jobs/{id}/best``."""
    params = _query(k=k, target_ms=target_ms, alpha=alpha, beta=beta)
    return Call("GET", f"/jobs/{int(job_id)}/best", params=params, parse=_model("BestPublic"))


def scaling(job_id: int) -> Call:
    """``GET /jobs/{id}/scaling``."""
    return Call("GET", f"/jobs/{int(job_id)}/scaling", parse=_model("ScalingPublic"))


def netadapt(job_id: int) -> Call:
    """``GET /jobs/{id}/netadapt``."""
    return Call("GET", f"/jobs/{int(job_id)}/netadapt", parse=_model("NetAdaptPublic"))


# ---------------------------------------------------------------------- helpers shared by both clients
def _validated(model_name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Validate a request body with the shared schema so a mistake fails here, naming the field."""
    from pydantic import ValidationError as PydanticValidationError

    model = getattr(_schemas(), model_name)
    try:
        return model.model_validate(body).model_dump(mode="json", exclude_unset=True)  # type: ignore[no-any-return]
    except PydanticValidationError as exc:
        raise validation_error_from_pydantic(exc) from exc


def apply_event(job: Any, event: ServerEvent) -> bool:
    """Fold a ``job`` event into a handle's snapshot; ``True`` when the snapshot changed."""
    if event.event != "job":
        return event.event == "trial"
    try:
        data = event.json()
    except ValueError:
        return False
    if not isinstance(data, dict):
        return False
    data = data.get("job", data)
    merged = {**job.info.model_dump(mode="json"), **data}
    try:
        job.info = type(job.info).model_validate(merged)
    except Exception:  # a partial or newer payload: keep the old snapshot, the next poll fixes it
        return False
    return True


class WaitTimeout(NasError, TimeoutError):
    """``Job.wait`` gave up after its ``timeout``; the job itself keeps running."""


def wait_timeout(job_id: int, timeout: float | None) -> WaitTimeout:
    """The error raised when ``wait`` runs out of time."""
    return WaitTimeout(f"job {job_id} did not finish within {timeout} s", code="wait_timeout")


def trial_architecture(trial: Any) -> Any:
    """The :class:`~nas_service.arch.spec.Architecture` (or a detection trial's
    :class:`~nas_service.arch.detection.DetectionArchitecture`) of a trial reply."""
    from nas_service.arch.detection import DetectionArchitecture
    from nas_service.arch.spec import Architecture

    arch = getattr(trial, "architecture", None)
    if isinstance(arch, Architecture | DetectionArchitecture):
        return arch
    if isinstance(arch, dict):
        if "backbone" in arch:  # a detection trial's detector
            return DetectionArchitecture.model_validate(arch)
        return Architecture.model_validate(arch)
    raise NasError(
        f"trial {getattr(trial, 'id', '?')} has no architecture yet (state {getattr(trial, 'state', '?')})",
        code="no_architecture",
    )


def preprocessing(trial_id: int) -> Call:
    """``GET /trials/{id}/preprocessing`` (what the trained network takes as input)."""
    return Call("GET", f"/trials/{int(trial_id)}/preprocessing")


def export_locally(
    architecture: Any, weights: bytes | None, out_dir: str | Path, fmt: str, prep: Any = None
) -> dict[str, Path]:
    """Run :func:`nas_service.export.export_trial` on a fetched architecture, weights bytes and preprocessing."""
    from nas_service.export import Preprocessing, export_trial, normalize_formats

    formats = normalize_formats(fmt)
    state_dict = None
    if weights is not None and any(f in ("torchscript", "onnx") for f in formats):
        import torch

        state_dict = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        prep_model = Preprocessing.model_validate(prep) if prep is not None and state_dict is not None else None
        return export_trial(architecture, state_dict, out_dir, formats, preprocessing=prep_model)
