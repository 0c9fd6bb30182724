"""Trial artifacts: the trained proxy weights a worker saved, for ``nas export`` and the SDK's ``export``.

A worker that keeps its weights writes them to ``<data_dir>/artifacts/trials/<trial_id>/weights.pt``
(:func:`nas_service.export.trial_weights_path`); this route serves that file to whoever may see the trial.
Without the file the answer is a 404 with code ``no_weights`` and clients export the untrained network.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from api.deps import CurrentOwner, StorageDep
from api.errors import ApiError
from api.routes._common import PathId, visible_trial
from nas_service.export import trial_weights_path

router = APIRouter(tags=["artifacts"])


@router.get(
    "/trials/{trial_id}/weights",
    operation_id="get_trial_weights",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "A torch state_dict file."}},
)
def get_trial_weights(trial_id: PathId, request: Request, storage: StorageDep, principal: CurrentOwner) -> FileResponse:
    """The trial's trained weights (``torch.save`` of its ``state_dict``), or 404 when none were saved."""
    visible_trial(storage, principal, trial_id)
    path = trial_weights_path(request.app.state.settings.data_dir, str(trial_id))
    if not path.is_file():
        raise ApiError(404, "no_weights", f"trial {trial_id} has no saved weights")
    return FileResponse(path, media_type="application/octet-stream", filename=f"trial-{trial_id}-weights.pt")
