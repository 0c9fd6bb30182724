"""Shared plumbing for strategies that wrap an Optuna sampler (TPE, NSGA-II) through ask-and-tell.

Persistence rebuilds the study from the job's trials, as Optuna's own samplers read ``study.get_trials()``:

* each suggestion's memo (stored on its trial row) keeps the Optuna trial's system attributes (NSGA-II's
  generation); ``_rebuild`` creates a fresh in-memory study and re-adds every told suggestion in ask order
  (``study.add_trial(optuna.trial.create_trial(...))``) and every pending one as RUNNING, so its later
  ``tell`` works. The saved state holds only a counter of sampler draws; nothing per trial.
* Determinism: before each ``study.ask`` the sampler is recreated with a seed derived from the job seed and
  the number of draws so far (saved). A sampler's stream therefore depends only on (seed, draws, told trials),
  which the rebuild restores: a resumed strategy asks what an uninterrupted one would have.
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
from nas_service.strategies.base import BaseStrategy, Objectives, Outcome, SearchSpaceLike, Suggestion, Told

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
        self._trial_of: dict[str, int] = {}  # pending suggestion id -> Optuna trial number
        self._draws = 0  # sampler draws so far: seeds the next one
        self._memos_in_batch: list[dict[str, Any]] = []
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
        self.study.sampler = self._make_sampler((self.config.seed * _SEED_MIX + self._draws) % (2**31 - 1))
        self._draws += 1
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
            attrs = self._storage.get_trial_system_attrs(trial._trial_id)
            self._memos_in_batch.append({"system_attrs": attrs} if attrs else {})
        return out

    def _take_memos(self, n: int) -> list[dict[str, Any]]:
        memos, self._memos_in_batch = self._memos_in_batch, []
        return memos

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
        return {"draws": self._draws}

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:
        self._draws = int(extra.get("draws", 0))

    def _rebuild(self, told: Sequence[Told]) -> None:
        import optuna
        from optuna.trial import create_trial

        self._new_study()
        for t in told:
            state_name, values = self._values(t.outcome)
            state = optuna.trial.TrialState[state_name]
            self.study.add_trial(
                create_trial(
                    state=state,
                    params=dict(t.params),
                    distributions={k: self._distributions[k] for k in t.params if k in self._distributions},
                    values=values if state == optuna.trial.TrialState.COMPLETE else None,
                    system_attrs=dict(t.memo.get("system_attrs") or {}),
                )
            )
        self._trial_of = {}
        for sid, params in sorted(self._pending.items(), key=lambda kv: kv[0]):
            self.study.add_trial(
                create_trial(
                    state=optuna.trial.TrialState.RUNNING,
                    params=dict(params),
                    distributions={k: self._distributions[k] for k in params if k in self._distributions},
                    system_attrs=dict(self._memo.get(sid, {}).get("system_attrs") or {}),
                )
            )
            self._trial_of[sid] = len(self.study.get_trials(deepcopy=False)) - 1
