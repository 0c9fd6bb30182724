"""Stage two: ``POST /jobs/{id}/finalize`` (train the best networks to convergence) and ``GET /jobs/{id}/fidelity``."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.convert import job_public
from api.deps import CurrentOwner, StorageDep
from api.errors import ApiError
from api.routes._common import PathId, visible_job
from nas_service.fidelity import fidelity_report
from nas_service.finalize import FinalizeError, fidelity_pairs, final_spec, select_sources
from nas_service.jobspec import TrialState
from nas_service.schemas import FidelityNetwork, FidelityPublic, FinalizeRequest, JobPublic

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.post(
    "/{job_id}/finalize", operation_id="finalize_job", status_code=status.HTTP_201_CREATED, response_model=JobPublic
)
def finalize_job(job_id: PathId, payload: FinalizeRequest, storage: StorageDep, principal: CurrentOwner) -> JobPublic:
    """Queue a ``final`` job that trains the ``top_k`` best networks of this search job with the final recipe.

    The networks are ranked by reward (at the job's latency target, or ``target_ms``) or taken from the Pareto
    front; each is trained on the whole training split for ``epochs`` epochs, with augmentation and optional
    EMA, and evaluated on the held-out test split the search never saw. With ``proxy``, they are retrained
    under the source's proxy with those fields changed instead (a proxy study's candidate).
    """
    source = visible_job(storage, principal, job_id)
    try:
        trials = select_sources(storage, source, payload.top_k, payload.by, payload.target_ms)
        spec = final_spec(
            source, trials, by=payload.by, epochs=payload.epochs, augment=payload.augment,
            ema_decay=payload.ema_decay, target_ms=payload.target_ms, name=payload.name, proxy=payload.proxy,
        )  # fmt: skip
    except FinalizeError as exc:
        raise ApiError(422, "validation_error", str(exc), field=exc.field) from None
    return job_public(storage.create_job(principal.owner, source.space_id, spec))


@router.get("/{job_id}/fidelity", operation_id="get_fidelity", response_model=FidelityPublic)
def get_fidelity(job_id: PathId, storage: StorageDep, principal: CurrentOwner) -> FidelityPublic:
    """Proxy fidelity of a ``final`` job: rank correlations of proxy vs final accuracy and reward, top-1, regret."""
    job = visible_job(storage, principal, job_id)
    final = job.spec.final
    if final is None:
        raise ApiError(422, "validation_error", f"job {job_id} is not a final job; finalize a search job first",
                       field="job_id")  # fmt: skip
    report = fidelity_report(fidelity_pairs(storage, job))
    finals = {int(t.params.get("source_trial", 0)): t for t in storage.list_trials(job.id, limit=1000).items}
    networks = []
    for source_id in final.trial_ids:
        source = storage.get_trial(source_id)
        done = finals.get(source_id)
        ok = done is not None and done.state == TrialState.COMPLETED
        networks.append(
            FidelityNetwork(
                source_trial_id=source_id,
                final_trial_id=done.id if done else None,
                proxy_accuracy=source.accuracy,
                final_accuracy=done.accuracy if ok and done else None,
                proxy_reward=source.reward,
                final_reward=done.reward if ok and done else None,
                latency_ms=done.latency_ms if ok and done else source.latency_ms,
                state=done.state.value if done else "queued",
            )
        )
    return FidelityPublic(job_id=job.id, source_job_id=final.source_job_id, networks=networks, **report.to_dict())
