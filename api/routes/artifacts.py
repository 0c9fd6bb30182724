"""Trial artifacts: the trained proxy weights a dispatcher stored, for ``nas export`` and the SDK's ``export``.

The dispatcher that received a trial's result stores its weights under ``trials/<id>/weights.pt``
(:func:`nas_service.artifacts.trial_weights_key`) in the deployment's artifact store (``NAS_ARTIFACT_STORE``;
by default the database, so any API process serves what any dispatcher stored). This route streams them to
whoever may see the trial. Without them the answer is a 404 with code ``no_weights`` and clients export the
untrained network.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from api.deps import CurrentOwner, StorageDep
from api.errors import ApiError
from api.routes._common import PathId, visible_trial
from nas_service.artifacts import (
    ArtifactNotFound,
    artifact_store_for,
    trial_preprocessing_key,
    trial_weights_key,
)
from nas_service.export import Preprocessing

router = APIRouter(tags=["artifacts"])


@router.get(
    "/trials/{trial_id}/weights",
    operation_id="get_trial_weights",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "A torch state_dict file."}},
)
def get_trial_weights(
    trial_id: PathId, request: Request, storage: StorageDep, principal: CurrentOwner
) -> StreamingResponse:
    """The trial's trained weights (``torch.save`` of its ``state_dict``), or 404 when none were stored."""
    visible_trial(storage, principal, trial_id)
    settings = request.app.state.settings
    store = artifact_store_for(storage, settings.data_dir, settings.artifact_store)
    key = trial_weights_key(trial_id)
    info = store.stat(key)
    try:
        chunks = store.iter_chunks(key) if info is not None else None
    except ArtifactNotFound:  # deleted between the two calls
        chunks = None
    if info is None or chunks is None:
        raise ApiError(404, "no_weights", f"trial {trial_id} has no saved weights")
    headers = {
        "Content-Length": str(info.size),
        "Content-Disposition": f'attachment; filename="trial-{trial_id}-weights.pt"',
    }
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)


@router.get("/trials/{trial_id}/preprocessing", operation_id="get_trial_preprocessing", response_model=Preprocessing)
def get_trial_preprocessing(
    trial_id: PathId, request: Request, storage: StorageDep, principal: CurrentOwner
) -> Preprocessing:
    """What the trial's trained network takes as input (shape, channels, value range, mean/std); 404 when unknown.

    ``nas export`` writes it to ``preprocessing.json`` and, by default, into the exported graph.
    """
    visible_trial(storage, principal, trial_id)
    settings = request.app.state.settings
    store = artifact_store_for(storage, settings.data_dir, settings.artifact_store)
    try:
        data = store.get(trial_preprocessing_key(trial_id))
    except ArtifactNotFound:
        raise ApiError(404, "no_preprocessing", f"trial {trial_id} has no recorded preprocessing") from None
    return Preprocessing.model_validate_json(data)
