"""Views of a finished or running search that Optuna users expect: history, choices, choice importance.

Pure functions over plain columns and trial records (no storage, no HTTP), so the API routes stay thin and the
dashboard only draws:

* :func:`search_history`: best reward and front hypervolume after each completed trial, by trial number
  (optuna-dashboard's "history" and "hypervolume history").
* :func:`choice_table`: each completed trial's categorical choices as codes into the choices that vary, for
  parallel coordinates coloured by reward.
* :func:`choice_importance`: how much each choice explains the reward, by one of Optuna's importance
  evaluators (PED-ANOVA by default: fast; fANOVA on request, on at most :data:`FANOVA_MAX_TRIALS` trials).
  :class:`ImportanceCache` keeps results per job, completed-trial count and settings.

The reward is :func:`nas_service.reward.mnasnet_reward`, the front and its hypervolume are
:class:`nas_service.pareto.ParetoFront2D` with the reference of :func:`nas_service.pareto.front_reference_latency`.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from nas_service.jobspec import RewardConfig
from nas_service.pareto import ParetoFront2D, front_reference_latency
from nas_service.reward import reward_from_config

Evaluator = Literal["ped-anova", "fanova"]
#: fANOVA fits a random forest: ~5 s for 1,000 trials on one core. It sees the latest this many trials.
FANOVA_MAX_TRIALS = 1000
#: The choice views (parallel coordinates, importance) read at most the latest this many completed trials:
#: more lines than pixels draw nothing new, and building an Optuna study costs ~0.4 ms per trial.
MAX_CHOICE_TRIALS = 10_000
_COMPLETED = "completed"


def _valid(acc: float | None, lat: float | None) -> bool:
    return acc is not None and lat is not None and lat > 0 and math.isfinite(acc) and math.isfinite(lat)


def search_history(
    numbers: Sequence[int],
    states: Sequence[str],
    accuracies: Sequence[float | None],
    latencies: Sequence[float | None],
    reward: RewardConfig,
) -> dict[str, Any]:
    """Best reward and hypervolume after each completed trial, in trial-number order.

    The hypervolume of every prefix uses one reference point, the final front's (accuracy 0, latency
    ``front_reference_latency(final front, T)``), so that the curve is comparable along the search and its
    last value is what ``GET /jobs/{id}/pareto`` reports.

    Args:
        numbers: Trial numbers (any order).
        states: Trial states (string values), one per trial.
        accuracies: Accuracies (``None`` when missing).
        latencies: Latencies in ms (``None`` when missing).
        reward: The reward settings (target ``T``, alpha, beta).

    Returns:
        ``{"number": [...], "reward": [...], "best_reward": [...], "hypervolume": [...], "reference":
        {"accuracy": 0.0, "latency_ms": ...}, "target_ms": T}``, one entry per completed trial.
    """
    rows = sorted(
        (n, a, lat)
        for n, s, a, lat in zip(numbers, states, accuracies, latencies, strict=True)
        if s == _COMPLETED and _valid(a, lat)
    )
    final: ParetoFront2D[int] = ParetoFront2D()
    for n, a, lat in rows:
        final.add(n, float(a), float(lat))  # type: ignore[arg-type]
    ref = front_reference_latency([lat for _, _, lat in final.points()], reward.target_ms)
    front: ParetoFront2D[int] = ParetoFront2D()
    out: dict[str, list[Any]] = {"number": [], "reward": [], "best_reward": [], "hypervolume": []}
    best = -math.inf
    hv = 0.0
    for n, a, lat in rows:
        r = reward_from_config(float(a), float(lat), reward)  # type: ignore[arg-type]
        best = max(best, r)
        added, _ = front.add(n, float(a), float(lat))  # type: ignore[arg-type]
        if added:
            hv = front.hypervolume((0.0, ref))
        out["number"].append(n)
        out["reward"].append(r)
        out["best_reward"].append(best)
        out["hypervolume"].append(hv)
    return {**out, "reference": {"accuracy": 0.0, "latency_ms": ref}, "target_ms": reward.target_ms}


@dataclass(frozen=True)
class ChoiceTrial:
    """What the choice views need of a completed trial."""

    id: int
    number: int
    params: Mapping[str, Any]
    accuracy: float
    latency_ms: float


def choice_trials(records: Sequence[Any], bookkeeping: Collection[str] = ()) -> list[ChoiceTrial]:
    """The completed trials among ``records`` (storage trial records) that have an accuracy and a latency, without
    the ``bookkeeping`` params (ids and estimates a strategy stores with its suggestions, not choices)."""
    return [
        ChoiceTrial(
            r.id, r.number, {k: v for k, v in (r.params or {}).items() if k not in bookkeeping}, float(r.accuracy),
            float(r.latency_ms),
        )  # fmt: skip
        for r in records
        if getattr(r.state, "value", r.state) == _COMPLETED and _valid(r.accuracy, r.latency_ms)
    ]


def _sort_key(value: Any) -> tuple[int, float, str]:
    if isinstance(value, bool):
        return (0, float(value), "")
    if isinstance(value, int | float):
        return (1, float(value), "")
    return (2, 0.0, str(value))


def varying_choices(
    trials: Sequence[ChoiceTrial], declared: Mapping[str, Sequence[Any]] | None = None
) -> dict[str, list[Any]]:
    """The choices that take more than one value among ``trials``, with the values seen.

    Args:
        trials: Completed trials.
        declared: The space's parameters and their choices (:meth:`SearchSpace.parameters`): their order, and
            the order of each parameter's values; parameters only seen in trials follow, values sorted.
    """
    seen: dict[str, set[Any]] = {}
    for t in trials:
        for name, value in t.params.items():
            if isinstance(value, str | int | float | bool) or value is None:
                seen.setdefault(name, set()).add(value)
    order = [n for n in (declared or {}) if n in seen] + sorted(n for n in seen if n not in (declared or {}))
    out: dict[str, list[Any]] = {}
    for name in order:
        values = seen[name]
        if len(values) < 2:
            continue
        choices = list((declared or {}).get(name, []))
        out[name] = [v for v in choices if v in values] + sorted((v for v in values if v not in choices), key=_sort_key)
    return out


def choice_table(
    trials: Sequence[ChoiceTrial], reward: RewardConfig, declared: Mapping[str, Sequence[Any]] | None = None
) -> dict[str, Any]:
    """Completed trials' varying choices as codes (index into each parameter's ``values``; -1: not set).

    Returns:
        ``{"parameters": [{"name", "values"}], "trial_ids": [...], "numbers": [...], "reward": [...],
        "codes": {name: [...]}}``; trials in number order.
    """
    trials = sorted(trials, key=lambda t: t.number)
    choices = varying_choices(trials, declared)
    index = {name: {_hashable(v): i for i, v in enumerate(values)} for name, values in choices.items()}
    codes = {name: [index[name].get(_hashable(t.params.get(name)), -1) for t in trials] for name in choices}
    return {
        "parameters": [{"name": name, "values": values} for name, values in choices.items()],
        "trial_ids": [t.id for t in trials],
        "numbers": [t.number for t in trials],
        "reward": [reward_from_config(t.accuracy, t.latency_ms, reward) for t in trials],
        "codes": codes,
    }


def _hashable(value: Any) -> Any:
    # 1 == 1.0 == True in a dict; keep the type apart so a bool choice is not an int choice.
    return (type(value).__name__, value)


def choice_importance(
    trials: Sequence[ChoiceTrial],
    reward: RewardConfig,
    evaluator: Evaluator = "ped-anova",
    declared: Mapping[str, Sequence[Any]] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Importance of each varying choice for the reward, by an Optuna importance evaluator.

    The trials go into an in-memory Optuna study (categorical distributions over the values seen) and
    ``optuna.importance.get_param_importances`` rates them (normalised to sum to 1).

    Returns:
        ``{"evaluator", "n_trials", "importances": [{"name", "importance"}]}`` (most important first); empty
        ``importances`` with fewer than two trials or no varying choice.
    """
    if evaluator == "fanova":
        trials = sorted(trials, key=lambda t: t.number)[-FANOVA_MAX_TRIALS:]
    choices = varying_choices(trials, declared)
    result: dict[str, Any] = {"evaluator": evaluator, "n_trials": len(trials), "importances": []}
    if len(trials) < 2 or not choices:
        return result
    import optuna  # lazy: the API process imports it only when asked
    from optuna.distributions import CategoricalDistribution
    from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {name: CategoricalDistribution(values) for name, values in choices.items()}
    study = optuna.create_study(direction="maximize", storage=None)
    study.add_trials(
        [
            optuna.trial.create_trial(
                params={n: t.params[n] for n in choices if n in t.params},
                distributions={n: dists[n] for n in choices if n in t.params},
                value=reward_from_config(t.accuracy, t.latency_ms, reward),
            )
            for t in trials
        ]
    )
    ev = FanovaImportanceEvaluator(seed=seed) if evaluator == "fanova" else PedAnovaImportanceEvaluator()
    scores = optuna.importance.get_param_importances(study, evaluator=ev, normalize=True)
    result["importances"] = [{"name": n, "importance": float(v)} for n, v in scores.items()]
    return result


class ResultCache:
    """Results per key, least recently used evicted; keys include the job's completed-trial count.

    A job's choices and their importance change only when a trial completes, and an importance evaluator can
    take seconds: the dashboard asks on every load and every change of ``T``.
    """

    def __init__(self, size: int = 64) -> None:
        """An empty cache of at most ``size`` results."""
        self._size = size
        self._items: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Any:
        """A cached result (refreshing its recency), or ``None``."""
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        """Store a result, evicting the least recently used beyond the size."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


#: The API process's caches (one per process: a restart recomputes). Completed trials as :class:`ChoiceTrial`
#: per (job, completed count); importance per (job, completed count, evaluator, T, alpha, beta).
CHOICE_TRIALS_CACHE = ResultCache(size=8)
IMPORTANCE_CACHE = ResultCache(size=64)
