"""Shared plumbing for strategies that wrap an Optuna sampler (TPE, NSGA-II) through ask-and-tell.

Persistence is a JSON history replay, not Optuna storage:

* ``state_dict`` lists every trial of the in-memory study in number order (params, state, values, system
  attrs) plus the study's system attrs (NSGA-II caches its parent populations there) and which suggestion owns
  which trial number. ``load_state_dict`` builds a fresh in-memory study and re-adds each trial with
  ``study.add_trial(optuna.trial.create_trial(...))`` (trials still in flight come back as RUNNING, so their
  later ``tell`` works). The blob lives in the controller's own database like every other strategy's, so this
  is DB-agnostic; Optuna's RDB storage would instead need its own schema and Alembic version table (see
  RUNTIME-NOTES), and a second copy of the truth.
* Determinism: before each ``study.ask`` the sampler is recreated with a seed derived from the job seed and
  the trial number. A sampler's random stream therefore depends only on (seed, trial number, trials so far),
  all of which the replay restores exactly: a resumed strategy asks what an uninterrupted one would have.
* Pruned, failed and rejected outcomes become PRUNED/FAIL trials (TPE may instead get a penalty value for
  rejected ones, see :class:`~nas_service.strategies.tpe.TPEStrategy`); they never enter a Pareto front.
* De-duplication: when the sampler proposes canonical params that were already asked, the internal trial is
  closed as FAIL at once (it never reaches a worker) and the sampler asked again, up to ``dedupe_tries``
  times; then an unseen uniform sample is enqueued (``study.enqueue_trial``) and asked instead.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from nas_service.jobspec import StrategyConfig
from nas_service.strategies.base import BaseStrategy, Objectives, Outcome, SearchSpaceLike, Suggestion

if TYPE_CHECKING:
    import optuna

_SEED_MIX = 1_000_003


class OptunaStrategy(BaseStrategy):
    """Base of the Optuna-backed strategies: subclasses give directions, a sampler and an outcome mapping."""

    directions: Sequence[Literal["minimize", "maximize"]] = ("maximize",)

    def __init__(self, space: SearchSpaceLike, config: StrategyConfig, objectives: Objectives | None = None):
        """See :class:`BaseStrategy`."""
        super().__init__(space, config, objectives)
        import optuna
        from optuna.distributions import BaseDistribution, CategoricalDistribution

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._distributions: dict[str, BaseDistribution] = {
            name: CategoricalDistribution(list(choices)) for name, choices in space.parameters().items()
        }
        self._trial_of: dict[str, int] = {}  # suggestion id -> Optuna trial number
        self._new_study()

    def _new_study(self) -> None:
        import optuna

        self._storage = optuna.storages.InMemoryStorage()
        self.study: optuna.Study = optuna.create_study(
            storage=self._storage,
            sampler=self._make_sampler(self.config.seed),
            directions=list(self.directions),
            study_name=f"nas-{self.name}",
        )
        self._study_id = self._storage.get_study_id_from_name(self.study.study_name)

    @abstractmethod
    def _make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        """A fresh sampler seeded with ``seed``."""

    @abstractmethod
    def _values(self, outcome: Outcome) -> tuple[str, list[float] | None]:
        """Map an outcome to an Optuna state name (``COMPLETE``/``PRUNED``/``FAIL``) and values."""

    def _ask_one(self) -> optuna.trial.Trial:
        number = len(self.study.get_trials(deepcopy=False))
        self.study.sampler = self._make_sampler((self.config.seed * _SEED_MIX + number) % (2**31 - 1))
        return self.study.ask(fixed_distributions=self._distributions)

    def _propose(self, n: int) -> list[dict[str, Any]]:
        import optuna

        tries = self.settings.dedupe_tries or 20
        out = []
        for _ in range(n):
            trial = self._ask_one()
            for _ in range(max(tries - 1, 0)):
                if not self.is_seen(trial.params) and self._acceptable(trial.params):
                    break
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                trial = self._ask_one()
            if self.is_seen(trial.params):
                # The sampler keeps proposing known networks (a small or converged space): hand it an unseen
                # uniform sample as an enqueued trial, so the study still records what is trained.
                params = self.draw_unseen(lambda: self.space.sample(self.rng), tries=tries)
                if not self.is_seen(params):
                    self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    self.study.enqueue_trial(params)
                    trial = self._ask_one()
            params = dict(trial.params)
            self._seen[self.key(params)] = "pending"
            out.append(params)
            self._numbers_in_batch.append(trial.number)
        return out

    def _acceptable(self, params: dict[str, Any]) -> bool:
        """Whether a sampled candidate may be trained (a subclass's constraint; default: always)."""
        return True

    def ask(self, n: int = 1) -> list[Suggestion]:
        """See :meth:`BaseStrategy.ask`."""
        self._numbers_in_batch: list[int] = []
        suggestions = super().ask(n)
        for s, number in zip(suggestions, self._numbers_in_batch, strict=True):
            self._trial_of[s.suggestion_id] = number
        return suggestions

    def _observe(self, suggestion_id: str, params: dict[str, Any], outcome: Outcome) -> None:
        import optuna

        number = self._trial_of.pop(suggestion_id)
        state_name, values = self._values(outcome)
        state = optuna.trial.TrialState[state_name]
        if state == optuna.trial.TrialState.COMPLETE:
            self.study.tell(number, values)
        else:
            self.study.tell(number, state=state)

    def _extra_state(self) -> dict[str, Any]:
        trials = []
        for t in self.study.get_trials(deepcopy=False):
            trials.append(
                {
                    "number": t.number,
                    "params": t.params,
                    "state": t.state.name,
                    "values": list(t.values) if t.values is not None else None,
                    "system_attrs": t.system_attrs,
                    "intermediate": {str(k): v for k, v in t.intermediate_values.items()},
                }
            )
        return {
            "trials": trials,
            "study_system_attrs": self._storage.get_study_system_attrs(self._study_id),
            "trial_of": dict(self._trial_of),
        }

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:
        import optuna
        from optuna.trial import create_trial

        self._new_study()
        for t in extra.get("trials", []):
            state = optuna.trial.TrialState[t["state"]]
            self.study.add_trial(
                create_trial(
                    state=state,
                    params=dict(t["params"]),
                    distributions={k: self._distributions[k] for k in t["params"]},
                    values=t["values"] if state == optuna.trial.TrialState.COMPLETE else None,
                    system_attrs=dict(t.get("system_attrs") or {}),
                    intermediate_values={int(k): v for k, v in (t.get("intermediate") or {}).items()},
                )
            )
        for key, value in (extra.get("study_system_attrs") or {}).items():
            self._storage.set_study_system_attr(self._study_id, key, value)
        self._trial_of = {str(k): int(v) for k, v in (extra.get("trial_of") or {}).items()}
