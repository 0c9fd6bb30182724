"""Stage two: pick the best networks of a search job, train them with the final recipe, report fidelity.

``POST /jobs/{id}/finalize`` (``nas job finalize``) calls :func:`select_sources` and :func:`final_spec` to
create a job of kind ``final``. Its candidates are the source trials themselves: :class:`FinalSpace` is a
search space with one parameter, ``source_trial``, whose choices are the picked trial ids and whose decoding
is each trial's stored network (already as trained: classes, channels, resolution), so the existing grid
strategy and the dispatcher train them unchanged. The final job's proxy task is the source job's with the
whole training split (``data_fraction`` 1, no ``max_train_samples``) and ``final.epochs``; the worker adds the
recipe (:func:`workers.train.recipe_for`), checkpoints every epoch and reports the *test* accuracy.

:func:`fidelity_pairs` pairs each final trial with its source trial for :mod:`nas_service.fidelity`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

from pydantic import ValidationError

from nas_service.arch.spec import Architecture
from nas_service.fidelity import FidelityPair
from nas_service.jobspec import (
    FinalConfig,
    FinalizeBy,
    JobSpec,
    ProxyConfig,
    RewardConfig,
    StrategyConfig,
    TrialState,
)
from nas_service.pareto import pareto_front
from nas_service.reward import reward_from_config
from nas_service.storage.base import BaseStorage
from nas_service.storage.domain import JobRecord, TrialRecord

__all__ = ["FinalSpace", "FinalizeError", "fidelity_pairs", "final_spec", "proxy_with", "select_sources"]

#: Completed trials considered when picking (the reward ranks them; a front is drawn among them).
_MAX_CANDIDATES = 100_000


class FinalizeError(ValueError):
    """A finalize request that cannot be served; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def select_sources(
    storage: BaseStorage,
    job: JobRecord,
    top_k: int,
    by: FinalizeBy = "reward",
    target_ms: float | None = None,
) -> list[TrialRecord]:
    """The ``top_k`` completed trials of ``job`` to finalize, best first.

    Args:
        storage: The controller's storage.
        job: The search job (visibility is the caller's business).
        top_k: How many networks (at least 1, at most the completed trials with accuracy and latency).
        by: ``reward`` (MnasNet reward at the job's target, or ``target_ms``), ``pareto`` (the Pareto front of
            accuracy and latency, best reward first) or ``netadapt`` (a netadapt job's kept networks, the last
            first: the network that met the budget, then the steps before it, then the base).
        target_ms: Re-score at this latency target instead of the job's own.

    Raises:
        FinalizeError: The job is not a search, has no completed trials, or ``top_k`` is out of range.
    """
    if job.kind == "final":
        raise FinalizeError("job_id", f"job {job.id} is a final job already; finalize its source job")
    if top_k < 1:
        raise FinalizeError("top_k", f"top_k must be at least 1, got {top_k}")
    if by == "netadapt" and job.kind != "netadapt":
        what = f"by: netadapt takes the networks a netadapt job kept; job {job.id} is a {job.kind} job"
        raise FinalizeError("by", what)
    page = storage.list_trials(job.id, states=[TrialState.COMPLETED], limit=_MAX_CANDIDATES)
    done = [t for t in page.items if t.accuracy is not None and t.latency_ms is not None and t.architecture]
    if not done:
        raise FinalizeError("job_id", f"job {job.id} has no completed trials to finalize")
    reward = job.spec.reward
    if target_ms is not None:
        if not target_ms > 0:
            raise FinalizeError("target_ms", f"target_ms must be > 0, got {target_ms}")
        reward = reward.model_copy(update={"target_ms": target_ms})
    if by == "netadapt":
        return _netadapt_sources(storage, job, done, top_k)
    score = {t.id: _rescore(t, reward) for t in done}
    pool = done
    if by == "pareto":
        front = pareto_front([(float(t.accuracy), float(t.latency_ms)) for t in done])  # type: ignore[arg-type]
        pool = [done[i] for i in front]
    if top_k > len(pool):
        what = "trials on the Pareto front" if by == "pareto" else "completed trials"
        raise FinalizeError("top_k", f"top_k {top_k} is more than the job's {len(pool)} {what}")
    return sorted(pool, key=lambda t: (-score[t.id], t.id))[:top_k]


def _netadapt_sources(storage: BaseStorage, job: JobRecord, done: list[TrialRecord], top_k: int) -> list[TrialRecord]:
    """The networks a netadapt job kept, last first (module docstring of :mod:`nas_service.orchestration.netadapt`)."""
    from nas_service.orchestration.netadapt import netadapt_report

    report = netadapt_report(storage, job)
    kept = [s["chosen"]["trial_id"] for s in reversed(report["steps"]) if s.get("chosen")]
    if report["base"] is not None:
        kept.append(report["base"].get("trial_id"))
    by_id = {t.id: t for t in done}
    path = [by_id[i] for i in dict.fromkeys(kept) if i in by_id]
    if not path:
        raise FinalizeError("job_id", f"netadapt job {job.id} has kept no trained network yet")
    if top_k > len(path):
        raise FinalizeError("top_k", f"top_k {top_k} is more than the {len(path)} networks netadapt job {job.id} kept")
    return path[:top_k]


def _rescore(trial: TrialRecord, reward: RewardConfig) -> float:
    return reward_from_config(float(trial.accuracy), float(trial.latency_ms), reward)  # type: ignore[arg-type]


def proxy_with(base: ProxyConfig, changes: Mapping[str, Any]) -> ProxyConfig:
    """``base`` with ``changes`` applied and validated as a whole (a proxy study's reference or candidate).

    Raises:
        FinalizeError: An unknown field or a bad value; ``field`` is ``proxy.<name>``.
    """
    try:
        return ProxyConfig.model_validate({**base.model_dump(), **dict(changes)})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "proxy"
        raise FinalizeError(f"proxy.{where}", f"proxy.{where}: {first.get('msg', 'invalid value')}") from None


def final_spec(
    source: JobRecord,
    trials: Sequence[TrialRecord],
    *,
    by: FinalizeBy = "reward",
    epochs: int = 30,
    augment: Literal["auto", "none", "crop", "crop-flip"] = "auto",
    ema_decay: float | None = None,
    target_ms: float | None = None,
    name: str | None = None,
    proxy: Mapping[str, Any] | None = None,
) -> JobSpec:
    """The spec of the ``final`` job that trains ``trials`` of ``source`` (see the module docstring).

    ``proxy``: instead of the final recipe, retrain them under the source's proxy with these fields changed
    (``recipe: proxy``, a proxy study's candidate; ``epochs``, ``augment`` and ``ema_decay`` are then unused).

    Raises:
        FinalizeError: A ``proxy`` field that is unknown or out of range (``field`` is ``proxy.<name>``).
    """
    spec = source.spec
    recipe: Literal["final", "proxy"] = "final"
    resolution = None
    if proxy is not None:
        retrain = proxy_with(spec.proxy, proxy)
        recipe, epochs, augment, ema_decay = "proxy", retrain.epochs, "none", None
        resolution = retrain.resolution if "resolution" in proxy else None
    else:
        retrain = spec.proxy.model_copy(update={"epochs": epochs, "data_fraction": 1.0, "max_train_samples": None})
    reward = spec.reward if target_ms is None else spec.reward.model_copy(update={"target_ms": target_ms})
    n = len(trials)
    return spec.model_copy(
        update={
            "name": name or f"{spec.name} (final)"[:200],
            "kind": "final",
            "strategy": StrategyConfig(name="grid", seed=spec.strategy.seed),
            "budget": spec.budget.model_copy(update={"max_trials": n, "max_wall_s": None}),
            "proxy": retrain,
            "reward": reward,
            # Stage two measures what it deploys: a search that predicted latency keeps the prediction beside it.
            "latency": spec.latency.model_copy(update={"mode": "predict-then-measure", "reject_factor": 100.0})
            if spec.latency.mode == "predict"
            else spec.latency,
            "scaling": None,
            "netadapt": None,
            "final": FinalConfig(
                source_job_id=source.id,
                trial_ids=[t.id for t in trials],
                by=by,
                epochs=epochs,
                augment=augment,
                ema_decay=ema_decay,
                recipe=recipe,
                resolution=resolution,
            ),
        }
    )


class FinalSpace:
    """The candidates of a final job: one parameter, ``source_trial``, over the picked trials' networks."""

    def __init__(self, networks: dict[int, Architecture]) -> None:
        """``networks``: source trial id -> its stored network (in the order to train them)."""
        if not networks:
            raise ValueError("a final job needs at least one source trial")
        self._networks = dict(networks)
        self.resolutions = sorted({a.resolution for a in networks.values()})
        self.phis: list[float] = []

    @classmethod
    def for_job(cls, storage: BaseStorage, job: JobRecord) -> FinalSpace:
        """The space of a ``final`` job, read from its source trials."""
        final = job.spec.final
        if final is None:
            raise ValueError(f"job {job.id} is not a final job")
        networks: dict[int, Architecture] = {}
        for trial_id in final.trial_ids:
            trial = storage.get_trial(trial_id)
            if trial.job_id != final.source_job_id or trial.architecture is None:
                raise ValueError(f"trial {trial_id} is not a trained trial of job {final.source_job_id}")
            networks[trial_id] = Architecture.model_validate(trial.architecture)
        return cls(networks)

    def parameters(self) -> dict[str, list[Any]]:
        """``{"source_trial": [ids]}``."""
        return {"source_trial": list(self._networks)}

    def decode(self, params: dict[str, Any]) -> Architecture:
        """The source trial's network."""
        return self._networks[int(params["source_trial"])]

    def canonicalize(self, params: dict[str, Any]) -> dict[str, Any]:
        """Params as stored (ids are canonical)."""
        return {"source_trial": int(params["source_trial"])}

    def sample(self, rng: random.Random | int) -> dict[str, Any]:
        """A random source trial."""
        rng = rng if isinstance(rng, random.Random) else random.Random(rng)
        return {"source_trial": rng.choice(list(self._networks))}

    def mutate(self, params: dict[str, Any], rng: random.Random, n_mutations: int = 1) -> dict[str, Any]:
        """Another source trial (there is nothing else to change)."""
        others = [i for i in self._networks if i != int(params["source_trial"])] or list(self._networks)
        return {"source_trial": rng.choice(others)}

    def cardinality(self) -> int:
        """The number of source trials."""
        return len(self._networks)

    def grid(self, max_points: int | None = None) -> Iterator[dict[str, Any]]:
        """Every source trial once, in the picked order (best first)."""
        for trial_id in self._networks:
            yield {"source_trial": trial_id}


def fidelity_pairs(storage: BaseStorage, final_job: JobRecord) -> list[FidelityPair]:
    """One :class:`FidelityPair` per completed trial of ``final_job`` (its source trial's proxy values beside).

    Raises:
        ValueError: ``final_job`` is not a final job.
    """
    if final_job.spec.final is None:
        raise ValueError(f"job {final_job.id} is not a final job")
    finals = storage.list_trials(final_job.id, states=[TrialState.COMPLETED], limit=_MAX_CANDIDATES).items
    pairs = []
    for trial in finals:
        source_id = int(trial.params.get("source_trial", 0))
        if not source_id or trial.accuracy is None:
            continue
        source = storage.get_trial(source_id)
        if source.accuracy is None:
            continue
        pairs.append(
            FidelityPair(
                trial_id=source_id,
                proxy_accuracy=source.accuracy,
                final_accuracy=trial.accuracy,
                proxy_reward=source.reward,
                final_reward=trial.reward,
            )
        )
    return pairs
