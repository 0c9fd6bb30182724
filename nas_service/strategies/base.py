"""The plug-in surface every search strategy implements.

Call order (the controller drives it; a strategy never trains anything itself)::

    strategy = make_strategy(config, space, reward_config)    # or SomeStrategy(space, config, objectives)
    strategy.load_state_dict(blob, history)                    # only when resuming a job after a restart
    while budget left:
        for s in strategy.ask(n):                              # n = free worker slots; may return fewer,
                                                               # even [] (ask again after the next tell)
            ...store a trial with s.suggestion_id and s.memo, check caps, train, measure...
            strategy.tell(s.suggestion_id, Outcome(...))       # exactly once per suggestion, any order
        blob = strategy.state_dict()                           # small and JSON-serialisable: store it

The job's trials are the one source of truth (as Optuna samplers rebuild from ``study.get_trials()``): each
trial row carries the id (and :attr:`Suggestion.memo`) of the suggestion it came from, and on resume the
controller rebuilds the told ``history`` (:class:`Told`, in ask order) from them. ``state_dict`` therefore
holds only what cannot be derived: the RNG state, the next id, the suggestions still pending, and small
strategy-specific state (policy weights, population ids); its size does not grow with the job.

``ask`` may be called again before every earlier suggestion is told (asynchronous workers). ``tell`` with
``state="rejected"`` is the constraint hook: the controller found the candidate over the job's caps and never
trained it; every strategy treats it as very bad and does not propose the same (canonical) parameters again
while cheaper alternatives exist.

Subclasses implement :meth:`BaseStrategy._propose` and, when they learn, :meth:`BaseStrategy._observe`; those
with internal state add :meth:`BaseStrategy._extra_state` / :meth:`BaseStrategy._load_extra_state` (small,
bounded) and may rebuild the rest from the history in :meth:`BaseStrategy._rebuild`. Every random draw goes
through ``self.rng`` (or a generator seeded from the config) and its state is part of ``state_dict``: the
same seed and the same tells give the same asks, with or without a restart in between.
"""

from __future__ import annotations

import json
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from nas_service.arch.spec import Architecture
from nas_service.jobspec import RewardConfig, StrategyConfig, TrialResult
from nas_service.reward import mnasnet_reward
from nas_service.strategies._settings import StrategySettings, parse_settings

OutcomeState = Literal["completed", "pruned", "failed", "rejected", "duplicate"]
OUTCOME_STATES: frozenset[str] = frozenset({"completed", "pruned", "failed", "rejected", "duplicate"})

STATE_FORMAT = 2


class SearchSpaceLike(Protocol):
    """What strategies need from :class:`nas_service.space.SearchSpace` (structural, so tests may fake it)."""

    def parameters(self) -> dict[str, list[Any]]: ...  # noqa: D102

    def decode(self, params: dict[str, Any]) -> Architecture: ...  # noqa: D102

    def canonicalize(self, params: dict[str, Any]) -> dict[str, Any]: ...  # noqa: D102

    def sample(self, rng: random.Random | int) -> dict[str, Any]: ...  # noqa: D102

    def mutate(self, params: dict[str, Any], rng: random.Random, n_mutations: int = 1) -> dict[str, Any]: ...  # noqa: D102

    def cardinality(self) -> int: ...  # noqa: D102


@dataclass(frozen=True)
class Suggestion:
    """One candidate handed to the controller.

    Attributes:
        suggestion_id: Unique within the strategy's life (kept across ``state_dict`` round trips).
        params: The search-space parameters (JSON scalars), as ``space.parameters()`` names them.
        architecture: ``space.decode(params)`` (or the scaled network for compound scaling).
        memo: What the strategy needs to recognise the suggestion when it rebuilds from trials (stored on
            the trial row with the id; e.g. an Optuna trial's system attributes). Small, JSON.
    """

    suggestion_id: str
    params: dict[str, Any]
    architecture: Architecture
    memo: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What happened to a suggestion.

    Attributes:
        state: ``completed``; ``pruned`` (stopped early by the multi-fidelity scheduler: the partial accuracy
            is informative only, never a final value); ``failed`` (the trial raised); ``rejected`` (over the
            job's caps, never trained); ``duplicate`` (already trained; may carry cached values).
        accuracy: Validation accuracy in [0, 1].
        latency_ms: Measured latency.
        reward: The MnasNet reward; computed from ``accuracy``/``latency_ms`` when left out.
        params: Parameter count of the network (not the search-space parameters).
        macs: Multiply-accumulates per image.
        epochs: Proxy epochs actually run.
        reference_latency_ms: A reference network's latency measured in the same session (a NetAdapt
            proposal's parent): ``latency_ms / reference_latency_ms`` is a paired ratio, free of the drift
            between sessions.
    """

    state: OutcomeState
    accuracy: float | None = None
    latency_ms: float | None = None
    reward: float | None = None
    params: int | None = None
    macs: int | None = None
    epochs: int | None = None
    reference_latency_ms: float | None = None

    def __post_init__(self) -> None:
        if self.state not in OUTCOME_STATES:
            raise ValueError(
                f"unknown outcome state {self.state!r}; expected one of {sorted(OUTCOME_STATES)}"
            )

    @property
    def usable(self) -> bool:
        """True when the outcome carries final values a strategy may learn from (completed, or a duplicate
        that came with the cached values)."""
        return self.state in ("completed", "duplicate") and self.accuracy is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Outcome:
        """Inverse of :meth:`to_dict`."""
        return cls(**dict(data))

    @classmethod
    def from_trial_result(cls, result: TrialResult, reward: float | None = None) -> Outcome:
        """The outcome of a worker's :class:`~nas_service.jobspec.TrialResult` (latency = its median).

        Raises:
            ValueError: For ``queued``/``running``/``stale``/``cancelled`` results: those are not outcomes. The
                suggestion stays pending (also across ``state_dict``), and the controller runs it again later.
        """
        state = str(result.state)
        if state not in OUTCOME_STATES:
            raise ValueError(
                f"a {state!r} trial has no outcome yet; keep the suggestion pending and rerun it"
            )
        return cls(
            state=state,  # type: ignore[arg-type]
            accuracy=result.accuracy,
            latency_ms=result.latency.median_ms if result.latency is not None else None,
            reward=reward,
            params=result.params,
            macs=result.macs,
            epochs=result.epochs_run,
            reference_latency_ms=result.latency.reference_ms if result.latency is not None else None,
        )


@dataclass(frozen=True)
class Told:
    """One told suggestion, as the controller rebuilds it from a terminal trial row (history entry).

    Attributes:
        suggestion_id: The suggestion's id (``trials.suggestion_id``).
        params: Its search-space parameters.
        outcome: What happened to it.
        memo: :attr:`Suggestion.memo` as stored with the trial.
    """

    suggestion_id: str
    params: dict[str, Any]
    outcome: Outcome
    memo: dict[str, Any] = field(default_factory=dict)


def suggestion_order(suggestion_id: str) -> tuple[int, str]:
    """Sort key of suggestion ids in ask order (``<name>-<number>``)."""
    head, _, number = suggestion_id.rpartition("-")
    return (int(number), head) if number.isdigit() else (-1, suggestion_id)


@dataclass(frozen=True)
class Objectives:
    """What the search optimises.

    Single-objective strategies maximise the MnasNet reward of ``reward``; multi-objective ones maximise
    accuracy and minimise latency (``directions``).

    Attributes:
        reward: The job's reward configuration.
        rejected_reward: Reward given to rejected (and, for RL, failed) candidates.
        names: Names of the objective vector.
        directions: ``max``/``min`` per name.
    """

    reward: RewardConfig = field(default_factory=lambda: RewardConfig.model_validate({}))
    rejected_reward: float = 0.0
    names: tuple[str, str] = ("accuracy", "latency_ms")
    directions: tuple[str, str] = ("max", "min")

    def reward_of(self, outcome: Outcome) -> float | None:
        """The scalar reward of an outcome (``None`` without an accuracy)."""
        if outcome.reward is not None:
            return float(outcome.reward)
        if outcome.accuracy is None:
            return None
        if outcome.latency_ms is None:
            return float(outcome.accuracy)
        return self.reward_from(outcome.accuracy, outcome.latency_ms)

    def reward_from(self, accuracy: float, latency_ms: float) -> float:
        """MnasNet reward of an (accuracy, latency) pair under this configuration."""
        cfg = self.reward
        return mnasnet_reward(
            accuracy, latency_ms, cfg.target_ms, float(cfg.alpha or 0.0), float(cfg.beta or 0.0)
        )


def params_key(params: Mapping[str, Any]) -> str:
    """A stable text key of a parameter dict (sorted JSON)."""
    return json.dumps(dict(params), sort_keys=True, separators=(",", ":"), default=str)


def rng_state_to_json(state: tuple[Any, ...]) -> list[Any]:
    """``random.Random.getstate()`` as JSON-friendly lists."""
    version, internal, gauss = state
    return [version, list(internal), gauss]


def rng_state_from_json(data: Sequence[Any]) -> tuple[Any, ...]:
    """Inverse of :func:`rng_state_to_json`."""
    version, internal, gauss = data
    return (version, tuple(internal), gauss)


class BaseStrategy(ABC):
    """Abstract search strategy (see the module docstring for the call order).

    Attributes:
        name: Registry name (``StrategyConfig.name``).
        supports_multi_objective: True when the strategy keeps accuracy and latency apart (a Pareto front).
        supports_early_stopping: True when pruned trials are meaningful to it (multi-fidelity may be on).
        settings_model: The pydantic model of its ``StrategyConfig.settings`` (unknown keys refused).
    """

    name: ClassVar[str] = "base"
    settings_model: ClassVar[type[StrategySettings]] = StrategySettings
    supports_multi_objective: ClassVar[bool] = False
    supports_early_stopping: ClassVar[bool] = True

    def __init__(self, space: SearchSpaceLike, config: StrategyConfig, objectives: Objectives | None = None):
        """Create the strategy.

        Args:
            space: The search space (``None`` only for strategies that bring their own: compound scaling).
            config: The job's strategy configuration (seed, settings).
            objectives: Reward configuration and objective directions; defaults to the soft MnasNet reward.

        Raises:
            pydantic.ValidationError: ``config.settings`` does not fit :attr:`settings_model`.
        """
        self.space = space
        self.config = config
        self.settings = parse_settings(self.settings_model, config.settings)
        self.objectives = objectives or Objectives()
        self.rng = random.Random(config.seed)
        self.history: list[dict[str, Any]] = []
        self._next_id = 0
        self._pending: dict[str, dict[str, Any]] = {}
        self._memo: dict[str, dict[str, Any]] = {}  # memos of the pending suggestions
        self._seen: dict[str, str] = {}  # canonical key -> last known state ("pending" while asked)

    # -- the public surface ------------------------------------------------------------------------------

    def ask(self, n: int = 1) -> list[Suggestion]:
        """Propose up to ``n`` candidates.

        Fewer (possibly none) come back when the strategy is exhausted (:meth:`is_exhausted`) or waits for
        results in flight (compound scaling between its two steps): ask again after the next ``tell``.

        Args:
            n: How many suggestions are wanted (free worker slots), at least 1.

        Returns:
            New suggestions, each to be told exactly once.
        """
        if n < 1:
            raise ValueError(f"ask(n) needs n >= 1, got {n}")
        out: list[Suggestion] = []
        proposed = self._propose(n)
        memos = self._take_memos(len(proposed))
        for params, memo in zip(proposed, memos, strict=True):
            sid = f"{self.name}-{self._next_id:06d}"
            self._next_id += 1
            self._pending[sid] = dict(params)
            if memo:
                self._memo[sid] = memo
            self._seen[self.key(params)] = "pending"
            out.append(Suggestion(sid, dict(params), self._architecture(params), dict(memo)))
        return out

    def tell(self, suggestion_id: str, outcome: Outcome) -> None:
        """Report what happened to a suggestion.

        Args:
            suggestion_id: An id returned by :meth:`ask` and not told yet.
            outcome: The result; ``rejected`` for candidates over the caps.

        Raises:
            KeyError: The id is unknown or was already told.
        """
        if suggestion_id not in self._pending:
            raise KeyError(f"unknown or already told suggestion {suggestion_id!r}")
        params = self._pending.pop(suggestion_id)
        memo = self._memo.pop(suggestion_id, {})
        self._seen[self.key(params)] = outcome.state
        self.history.append(
            {"suggestion_id": suggestion_id, "params": params, "outcome": outcome.to_dict(), "memo": memo}
        )
        self._observe(suggestion_id, params, outcome)

    def state_dict(self) -> dict[str, Any]:
        """What cannot be rebuilt from the trials: small, bounded, JSON-serialisable.

        The told history is not in it (the controller passes it back to :meth:`load_state_dict`, rebuilt
        from the job's trials); pending suggestions are, so one asked but not yet stored as a trial survives.
        """
        return {
            "format": STATE_FORMAT,
            "name": self.name,
            "seed": self.config.seed,
            "next_id": self._next_id,
            "rng": rng_state_to_json(self.rng.getstate()),
            "pending": dict(self._pending),
            "memo": dict(self._memo),
            "extra": self._extra_state(),
        }

    def told(self) -> list[Told]:
        """The told history in ask order (what the controller rebuilds from the trials)."""
        rows = [
            Told(h["suggestion_id"], dict(h["params"]), Outcome.from_dict(h["outcome"]), dict(h.get("memo") or {}))
            for h in self.history
        ]
        return sorted(rows, key=lambda t: suggestion_order(t.suggestion_id))

    def load_state_dict(self, state: Mapping[str, Any], history: Sequence[Told] = ()) -> None:
        """Restore from :meth:`state_dict` and the told ``history`` (on a fresh strategy, same config and space).

        Args:
            state: What :meth:`state_dict` returned.
            history: The told suggestions, rebuilt from the job's trials (:class:`Told`); any order (sorted
                here into ask order). Suggestions still pending in ``state`` must not be in it.

        Raises:
            ValueError: The blob belongs to another strategy or format.
        """
        if state.get("format") != STATE_FORMAT or state.get("name") != self.name:
            raise ValueError(
                f"state is for strategy {state.get('name')!r} format {state.get('format')!r}; "
                f"this is {self.name!r} format {STATE_FORMAT}"
            )
        self._next_id = int(state["next_id"])
        self.rng.setstate(rng_state_from_json(state["rng"]))
        self._pending = {str(k): dict(v) for k, v in state["pending"].items()}
        self._memo = {str(k): dict(v) for k, v in (state.get("memo") or {}).items()}
        told = sorted(history, key=lambda t: suggestion_order(t.suggestion_id))
        self.history = [
            {"suggestion_id": t.suggestion_id, "params": dict(t.params), "outcome": t.outcome.to_dict(),
             "memo": dict(t.memo)}
            for t in told
        ]  # fmt: skip
        self._seen = {}
        for t in told:
            self._seen[self.key(t.params)] = t.outcome.state
        for p in self._pending.values():
            self._seen[self.key(p)] = "pending"
        self._load_extra_state(state.get("extra") or {})
        self._rebuild(told)

    def is_exhausted(self) -> bool:
        """True when :meth:`ask` will never propose anything new (grid done, scaling plan done)."""
        return False

    def end_note(self) -> tuple[bool, str] | None:
        """Once exhausted, how the strategy ended: ``(planned, note)``; ``planned`` when reaching its own goal is
        the normal end (the trial budget is then only a cap), ``note`` says what happened. ``None``: no more to
        say than "no new candidate" (the default)."""
        return None

    @property
    def multi_objective(self) -> bool:
        """Whether this instance optimises (accuracy, latency) as a Pareto front rather than the reward.

        The controller passes it to :func:`~nas_service.strategies.multifidelity.make_scheduler` so early
        stopping ranks trials the way the strategy does. Default: ``settings['multi_objective']`` where the
        class supports it.
        """
        return self.supports_multi_objective and bool(getattr(self.settings, "multi_objective", False))

    @property
    def pending(self) -> dict[str, dict[str, Any]]:
        """Suggestions asked but not told yet (id -> params); a copy."""
        return dict(self._pending)

    # -- helpers for subclasses --------------------------------------------------------------------------

    def key(self, params: Mapping[str, Any]) -> str:
        """Canonical key of ``params``: equivalent parameter sets (per the space) share it."""
        canon = getattr(self.space, "canonicalize", None)
        return params_key(canon(dict(params)) if canon is not None else params)

    def is_seen(self, params: Mapping[str, Any]) -> bool:
        """True when the same canonical params were already asked (pending or told)."""
        return self.key(params) in self._seen

    def draw_unseen(
        self,
        draw: Callable[[], dict[str, Any]],
        tries: int | None = None,
        fallback: Callable[[], dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Call ``draw`` until it yields unseen params, then ``fallback`` (e.g. a uniform sample) the same way.

        After ``tries`` draws each (setting ``dedupe_tries``, default 50) a repeat is accepted so a nearly
        exhausted space never loops forever, preferring one that was not rejected or failed (a repeat of a
        completed network costs nothing: the controller answers it from its cache as a ``duplicate``).
        """
        tries = (self.settings.dedupe_tries or 50) if tries is None else tries
        repeats: list[dict[str, Any]] = []
        for source in (draw, fallback):
            if source is None:
                continue
            for _ in range(max(tries, 1)):
                params = source()
                if not self.is_seen(params):
                    return params
                repeats.append(params)
        for params in repeats:
            if self._seen.get(self.key(params)) not in ("rejected", "failed"):
                return params
        return repeats[-1]

    def pending_suggestion(self, suggestion_id: str) -> Suggestion:
        """Rebuild a pending (asked, not told) suggestion, e.g. to place it after a restart.

        Raises:
            KeyError: ``suggestion_id`` is not pending.
        """
        params = dict(self._pending[suggestion_id])
        return Suggestion(suggestion_id, params, self._architecture(params), dict(self._memo.get(suggestion_id, {})))

    def _architecture(self, params: dict[str, Any]) -> Architecture:
        return self.space.decode(params)

    @abstractmethod
    def _propose(self, n: int) -> list[dict[str, Any]]:
        """Return up to ``n`` parameter dicts (the base class assigns ids and tracks them)."""

    def _observe(self, suggestion_id: str, params: dict[str, Any], outcome: Outcome) -> None:  # noqa: B027
        """Learn from a told outcome (default: nothing beyond the shared history)."""

    def _take_memos(self, n: int) -> list[dict[str, Any]]:
        """Memos of the ``n`` params :meth:`_propose` just returned, in order (default: none)."""
        return [{} for _ in range(n)]

    def _rebuild(self, told: Sequence[Told]) -> None:  # noqa: B027
        """Rebuild what derives from the told history (in ask order) after a restore (default: nothing)."""

    def _extra_state(self) -> dict[str, Any]:
        """Strategy-specific JSON state, small and bounded (default: none); never a copy of the history."""
        return {}

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:  # noqa: B027
        """Inverse of :meth:`_extra_state`."""
