"""Results: the Pareto front, the best trials (both re-scorable without retraining) and the live event stream.

Re-scoring: ``target_ms``/``alpha``/``beta`` override the job's reward settings and every returned trial's
reward is recomputed from its stored accuracy and latency. The front itself is read from the incrementally
maintained ``on_front`` flags (an indexed lookup), never recomputed from all trials.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from api.convert import TRAINING, job_public, trial_point, trial_public
from api.deps import CurrentOwner, StorageDep
from api.routes._common import PathId, visible_job
from nas_service import insights
from nas_service.jobspec import JOB_TERMINAL, RewardConfig, TrialState
from nas_service.pareto import front_reference_latency, hypervolume_2d
from nas_service.reward import mnasnet_reward
from nas_service.schemas import (
    BestPublic,
    ChoicesPublic,
    HistoryPublic,
    ImportancePublic,
    ParetoPublic,
    ReferencePoint,
)
from nas_service.storage import BaseStorage, JobRecord, NotFoundError, TrialRecord

log = logging.getLogger(__name__)

router = APIRouter(tags=["results"])

TargetMs = Annotated[float | None, Query(gt=0, le=1e6, description="Latency target T (ms) override.")]
Alpha = Annotated[float | None, Query(ge=-10, le=10, description="Exponent at or under T, override.")]
Beta = Annotated[float | None, Query(ge=-10, le=10, description="Exponent over T, override.")]
JOB_DONE = JOB_TERMINAL
#: Trials sent per SSE page (a burst of changes is sent in several pages).
_SSE_PAGE = 200
_KEEPALIVE_S = 15.0


def _reward_settings(job: JobRecord, target_ms: float | None, alpha: float | None, beta: float | None) -> RewardConfig:
    base = job.spec.reward
    return RewardConfig(
        target_ms=target_ms if target_ms is not None else base.target_ms,
        alpha=alpha if alpha is not None else base.alpha,
        beta=beta if beta is not None else base.beta,
    )


def _score(cfg: RewardConfig, acc: float | None, lat: float | None) -> float | None:
    if acc is None or lat is None or lat <= 0:
        return None
    assert cfg.alpha is not None and cfg.beta is not None
    return mnasnet_reward(acc, lat, cfg.target_ms, cfg.alpha, cfg.beta)


@router.get("/jobs/{job_id}/pareto", operation_id="get_pareto", response_model=ParetoPublic)
def get_pareto(
    job_id: PathId,
    storage: StorageDep,
    principal: CurrentOwner,
    target_ms: TargetMs = None,
    alpha: Alpha = None,
    beta: Beta = None,
) -> ParetoPublic:
    """The front (accuracy max, latency min) of completed trials, by latency, with its hypervolume.

    The reference point is accuracy 0 and latency ``max(2 * target_ms, 1.1 * the largest front latency)``.
    """
    job = visible_job(storage, principal, job_id)
    cfg = _reward_settings(job, target_ms, alpha, beta)
    front = storage.pareto(job_id)
    points = [(t.accuracy or 0.0, t.latency_ms or 0.0) for t in front]
    ref_lat = front_reference_latency([lat for _, lat in points], cfg.target_ms)
    assert cfg.alpha is not None and cfg.beta is not None
    return ParetoPublic(
        job_id=job_id,
        target_ms=cfg.target_ms,
        alpha=cfg.alpha,
        beta=cfg.beta,
        reference=ReferencePoint(accuracy=0.0, latency_ms=ref_lat),
        hypervolume=hypervolume_2d(points, (0.0, ref_lat)),
        points=[trial_point(t, _score(cfg, t.accuracy, t.latency_ms)) for t in front],
    )


@router.get("/jobs/{job_id}/best", operation_id="get_best", response_model=BestPublic)
def get_best(
    job_id: PathId,
    storage: StorageDep,
    principal: CurrentOwner,
    k: Annotated[int, Query(ge=1, le=100)] = 5,
    target_ms: TargetMs = None,
    alpha: Alpha = None,
    beta: Beta = None,
) -> BestPublic:
    """The ``k`` completed trials with the highest reward (re-scored when overridden)."""
    job = visible_job(storage, principal, job_id)
    cfg = _reward_settings(job, target_ms, alpha, beta)
    if target_ms is None and alpha is None and beta is None:
        trials = storage.best(job_id, k)
        rewards = [t.reward for t in trials]
    else:  # ranked in SQL over accuracy/latency; the k returned are re-scored here for the reply
        trials = storage.best(job_id, k, reward=cfg)
        rewards = [_score(cfg, t.accuracy, t.latency_ms) for t in trials]
    assert cfg.alpha is not None and cfg.beta is not None
    return BestPublic(
        job_id=job_id,
        target_ms=cfg.target_ms,
        alpha=cfg.alpha,
        beta=cfg.beta,
        k=k,
        trials=[trial_point(t, r) for t, r in zip(trials, rewards, strict=True)],
    )


def _sse(event: str, data: str, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n"


def _trial_events(storage: BaseStorage, trials: list[TrialRecord]) -> list[str]:
    """The ``trial`` event bodies of ``trials``; training ones carry their last epoch."""
    training = [t.id for t in trials if t.state in TRAINING]
    last = storage.latest_metrics(training) if training else {}
    return [trial_public(t, last.get(t.id)).model_dump_json(exclude={"architecture"}) for t in trials]


async def _events(
    request: Request, storage: BaseStorage, job_id: int, cursor: int, poll_s: float
) -> AsyncIterator[str]:
    """Poll the job's ``event_seq``; send changed trials, then the job (whose seq is the event id).

    The trials changed in ``(cursor, job.event_seq]`` are paged by their ``(updated_seq, id)`` (keyset, see
    :meth:`BaseStorage.list_changed_trials`): one that changes again meanwhile leaves this round's range and is
    sent, in its newer state, in the next, so none is skipped however many change while the client reads.
    """
    idle = 0.0
    yield "retry: 2000\n\n"
    while True:
        job = await run_in_threadpool(storage.get_job, job_id)
        if job.event_seq > cursor:
            after_seq, after_id = cursor, None
            while True:  # trials changed in (cursor, job.event_seq]; later changes go out next round
                page = await run_in_threadpool(
                    storage.list_changed_trials, job_id, after_seq, job.event_seq, _SSE_PAGE, after_id
                )
                for body in await run_in_threadpool(_trial_events, storage, page):
                    yield _sse("trial", body)
                if len(page) < _SSE_PAGE:
                    break
                after_seq, after_id = page[-1].updated_seq, page[-1].id
            cursor = job.event_seq
            yield _sse("job", job_public(job).model_dump_json(), cursor)
            idle = 0.0
        if job.state in JOB_DONE:
            yield _sse("end", json.dumps({"job_id": job_id, "state": job.state.value}), cursor)
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(poll_s)
        idle += poll_s
        if idle >= _KEEPALIVE_S:
            yield ": keep-alive\n\n"
            idle = 0.0


#: One server-sent event as clients (and schemathesis) parse it: the JSON payload travels as ``data`` text.
_SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["trial", "job", "end"]},
        "data": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
}


@router.get(
    "/jobs/{job_id}/events",
    operation_id="stream_job_events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": _SSE_EVENT}}}},
)
def stream_job_events(
    job_id: PathId,
    request: Request,
    storage: StorageDep,
    principal: CurrentOwner,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
) -> StreamingResponse:
    """Server-sent events: ``trial`` (a new or changed trial), ``job`` (state and counters; its ``id`` is the
    job's event sequence) and a final ``end`` once the job is completed, failed or cancelled.

    Every newly stored epoch report is a change: its ``trial`` event has the new ``epochs_run`` and, while the
    trial trains, ``last_epoch`` (epoch, ``val_accuracy``, ...); the job's ``spec.proxy.epochs`` is the total.

    Reconnect with ``Last-Event-ID`` to receive only what changed after that event.
    """
    visible_job(storage, principal, job_id)
    cursor = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    poll_s = float(getattr(request.app.state, "sse_poll_s", 1.0))
    return StreamingResponse(
        _events(request, storage, job_id, cursor, poll_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# ---------------------------------------------------------------------------- views (nas_service.insights)
def _choice_trials(storage: BaseStorage, job: JobRecord) -> tuple[list[insights.ChoiceTrial], dict[str, list]]:
    """The job's completed trials and its space's declared choices, cached per completed-trial count."""
    key = (job.id, job.trials_completed)
    cached = insights.CHOICE_TRIALS_CACHE.get(key)
    if cached is None:
        page = storage.list_trials(
            job.id, states=[TrialState.COMPLETED], sort="number", order="desc", limit=insights.MAX_CHOICE_TRIALS
        )
        declared: dict[str, list] = {}
        if job.space_id is not None:
            from nas_service.space import SearchSpace  # lazy: only these views need the space model

            try:
                declared = SearchSpace.from_dict(storage.get_space(job.space_id).body).parameters()
            except (ValueError, NotFoundError) as exc:  # a space gone or no longer valid: order the choices as seen
                log.info("job %s: choices ordered as seen (its space: %s)", job.id, exc)
                declared = {}
        bookkeeping: tuple[str, ...] = ()
        if job.kind == "netadapt":  # the reductions (stage, kind, notches) are its choices
            from nas_service.strategies.netadapt import NetAdaptStrategy

            bookkeeping = NetAdaptStrategy.bookkeeping
        cached = (insights.choice_trials(page.items, bookkeeping), declared)
        insights.CHOICE_TRIALS_CACHE.put(key, cached)
    return cached


@router.get("/jobs/{job_id}/history", operation_id="get_history", response_model=HistoryPublic)
def get_history(
    job_id: PathId,
    storage: StorageDep,
    principal: CurrentOwner,
    target_ms: TargetMs = None,
    alpha: Alpha = None,
    beta: Beta = None,
) -> HistoryPublic:
    """Best reward and front hypervolume after each completed trial, by trial number (re-scorable)."""
    job = visible_job(storage, principal, job_id)
    cfg = _reward_settings(job, target_ms, alpha, beta)
    cols = storage.list_trial_points(job_id, limit=max(1, job.trials_total)).columns
    history = insights.search_history(cols["number"], cols["state"], cols["accuracy"], cols["latency_ms"], cfg)
    assert cfg.alpha is not None and cfg.beta is not None
    return HistoryPublic(job_id=job_id, alpha=cfg.alpha, beta=cfg.beta, **history)


@router.get("/jobs/{job_id}/choices", operation_id="get_choices", response_model=ChoicesPublic)
def get_choices(
    job_id: PathId,
    storage: StorageDep,
    principal: CurrentOwner,
    target_ms: TargetMs = None,
    alpha: Alpha = None,
    beta: Beta = None,
) -> ChoicesPublic:
    """The completed trials' varying choices as codes with their reward (parallel coordinates); the latest
    ``MAX_CHOICE_TRIALS`` (10,000) of a larger job."""
    job = visible_job(storage, principal, job_id)
    cfg = _reward_settings(job, target_ms, alpha, beta)
    trials, declared = _choice_trials(storage, job)
    table = insights.choice_table(trials, cfg, declared)
    assert cfg.alpha is not None and cfg.beta is not None
    return ChoicesPublic(job_id=job_id, target_ms=cfg.target_ms, alpha=cfg.alpha, beta=cfg.beta, **table)


@router.get("/jobs/{job_id}/importance", operation_id="get_importance", response_model=ImportancePublic)
def get_importance(
    job_id: PathId,
    storage: StorageDep,
    principal: CurrentOwner,
    evaluator: Annotated[
        insights.Evaluator, Query(description="Optuna importance evaluator: ped-anova (fast) or fanova.")
    ] = "ped-anova",
    target_ms: TargetMs = None,
    alpha: Alpha = None,
    beta: Beta = None,
) -> ImportancePublic:
    """How much each varying choice explains the reward of the completed trials (Optuna's importance
    evaluators on the latest 10,000; fANOVA on the latest 1,000). Cached per job and completed-trial count."""
    job = visible_job(storage, principal, job_id)
    cfg = _reward_settings(job, target_ms, alpha, beta)
    key = (job.id, job.trials_completed, evaluator, cfg.target_ms, cfg.alpha, cfg.beta)
    result = insights.IMPORTANCE_CACHE.get(key)
    if result is None:
        trials, declared = _choice_trials(storage, job)
        result = insights.choice_importance(trials, cfg, evaluator, declared)
        insights.IMPORTANCE_CACHE.put(key, result)
    assert cfg.alpha is not None and cfg.beta is not None
    return ImportancePublic(job_id=job_id, target_ms=cfg.target_ms, alpha=cfg.alpha, beta=cfg.beta, **result)
