"""Multi-fidelity early stopping over proxy epochs: asynchronous successive halving (ASHA) and Hyperband.

Rungs sit at ``min_epochs * eta**k`` completed epochs, for every such value below ``max_epochs`` (the proxy's
full length). When a trial reports the epoch of a rung, its result is recorded there and compared with every
result recorded at that rung so far (ASHA never waits for a full cohort): it continues only if it ranks within
the top ``max(1, n // eta)`` of the ``n`` results at the rung, so about ``1 - 1/eta`` of the trials stop at
each rung. Ranking:

* single objective: the MnasNet reward of (accuracy, latency) (accuracy alone when no latency is given);
* multi-objective: non-dominated rank on (accuracy max, latency min), then the exclusive hypervolume
  contribution within the trial's front, then arrival order. A trial on the rung's first front (non-dominated
  there) always continues, so pruning never cuts into the current Pareto front.

Cost per report: single-objective rungs keep their scores in a sorted list (``sortedcontainers``), so a report
costs O(log n) in the ``n`` results at its rung. Multi-objective ranking sorts the rung's points into fronts
and computes the contributions of the reporting trial's own front (O(n log n) per report in two dimensions):
fronts and contributions change with every point that joins, so there is no cheaper exact update.

Contract with the caller (controller/worker)::

    scheduler = make_scheduler(job.strategy, job.proxy.epochs, strategy.objectives,
                               multi_objective=strategy.multi_objective)   # None when multi_fidelity="none"
    # in the worker's epoch callback (report: EpochReport), latency measured before training:
    if scheduler.on_epoch(trial_id, report.epoch, report.val_accuracy, latency_ms).stop:
        ...stop training; the controller stores the trial as pruned and calls
        strategy.tell(sid, Outcome("pruned", accuracy=report.val_accuracy, epochs=report.epoch))
    blob = scheduler.state_dict()   # persist next to the strategy's blob; load_state_dict on resume


* ``on_epoch(trial_key, epoch, accuracy, latency_ms)`` after every validated epoch; ``epoch`` is the number of
  epochs completed (1-based, as ``workers.train`` reports it).
* Latency is measured once per trial, up front, and passed with every report: it does not change with
  training, it is cheap next to training, and multi-objective ranking needs it from the first rung on. With
  multi-objective pruning on, the worker must measure latency *before* training; a report without latency is
  ranked as if it were the slowest at its rung.
* A trial told ``stop`` is recorded by the caller as ``pruned`` (``TrialState.PRUNED``,
  ``Outcome(state="pruned")``) and never as completed with its partial values: that would put partial
  results into Pareto fronts and rewards (the pollution RUNTIME-NOTES reports for Ray's ASHA + OptunaSearch).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sortedcontainers import SortedList

from nas_service.jobspec import StrategyConfig
from nas_service.strategies._ranking import hypervolume_contributions, pareto_ranks
from nas_service.strategies._settings import StrategySettings
from nas_service.strategies.base import Objectives


@dataclass(frozen=True)
class Decision:
    """What to do with a trial after an epoch.

    Attributes:
        action: ``continue`` or ``stop`` (record a stopped trial as pruned).
        rung: The rung index the epoch hit, or ``None`` between rungs.
        reason: A short human-readable explanation (for logs and the trial record).
    """

    action: Literal["continue", "stop"]
    rung: int | None = None
    reason: str = ""

    @property
    def stop(self) -> bool:
        """True when the trial should stop now."""
        return self.action == "stop"


def rung_epochs(min_epochs: int, eta: int, max_epochs: int) -> list[int]:
    """Epochs of the rungs: ``min_epochs * eta**k`` below ``max_epochs`` (empty when none fits)."""
    out, r = [], min_epochs
    while r < max_epochs:
        out.append(r)
        r *= eta
    return out


class ASHAScheduler:
    """Asynchronous successive halving (see the module docstring for the rule and the caller's contract)."""

    def __init__(
        self,
        max_epochs: int,
        min_epochs: int = 1,
        reduction_factor: int = 3,
        *,
        multi_objective: bool = False,
        objectives: Objectives | None = None,
        min_trials_at_rung: int = 1,
    ):
        """Create the scheduler.

        Args:
            max_epochs: The proxy's full number of epochs (a trial reaching it is never stopped).
            min_epochs: Epochs at the first rung.
            reduction_factor: ``eta``; about ``1/eta`` of the trials go on at each rung.
            multi_objective: Rank by Pareto rank + hypervolume contribution instead of the reward.
            objectives: Reward configuration (single-objective ranking).
            min_trials_at_rung: Grace: never stop while fewer results than this are at the rung.
        """
        if reduction_factor < 2 or min_epochs < 1 or max_epochs < 1:
            raise ValueError("need reduction_factor >= 2, min_epochs >= 1 and max_epochs >= 1")
        self.max_epochs = max_epochs
        self.min_epochs = min_epochs
        self.eta = reduction_factor
        self.multi_objective = multi_objective
        self.objectives = objectives or Objectives()
        self.min_trials_at_rung = min_trials_at_rung
        self.rungs = rung_epochs(min_epochs, reduction_factor, max_epochs)
        # rung index -> trial key -> (accuracy, latency or None), in arrival order
        self._results: list[dict[str, tuple[float, float | None]]] = [{} for _ in self.rungs]
        # rung index -> (-score, arrival number) of every result, sorted: the single-objective ranking
        self._ranked: list[SortedList] = [SortedList() for _ in self.rungs]
        self._stopped: set[str] = set()

    def on_epoch(
        self, trial_key: str, epoch: int, accuracy: float, latency_ms: float | None = None
    ) -> Decision:
        """Record a validated epoch and decide whether the trial goes on.

        Args:
            trial_key: Unique id of the trial (the controller's trial id).
            epoch: Epochs completed so far (1-based).
            accuracy: Validation accuracy after ``epoch`` epochs.
            latency_ms: The trial's latency (measured up front); see the module docstring.

        Returns:
            ``continue`` between rungs and for promoted trials, ``stop`` otherwise (and for every later call
            about a trial already stopped).
        """
        if trial_key in self._stopped:
            return Decision("stop", None, "already stopped")
        decision = Decision("continue", None, "between rungs")
        for k, r in enumerate(self.rungs):
            if r > epoch or trial_key in self._results[k]:
                continue
            self._record(k, trial_key, float(accuracy), None if latency_ms is None else float(latency_ms))
            decision = self._decide(k, trial_key)
            if decision.stop:
                self._stopped.add(trial_key)
                return decision
        return decision

    def _score(self, accuracy: float, latency_ms: float | None) -> float:
        """Single-objective score: the MnasNet reward, or the accuracy without a latency."""
        return accuracy if latency_ms is None else self.objectives.reward_from(accuracy, latency_ms)

    def _record(self, k: int, trial_key: str, accuracy: float, latency_ms: float | None) -> None:
        arrival = len(self._results[k])
        self._results[k][trial_key] = (accuracy, latency_ms)
        self._ranked[k].add((-self._score(accuracy, latency_ms), arrival))

    def _decide(self, k: int, trial_key: str) -> Decision:
        results = self._results[k]
        n = len(results)
        keep = max(1, n // self.eta)
        if n < self.min_trials_at_rung:
            return Decision("continue", k, f"grace: {n} < {self.min_trials_at_rung} results at rung {k}")
        if self.multi_objective:
            position, on_front = self._pareto_position(results, trial_key)
        else:
            # The trial just arrived, so it is the last in arrival order: its entry is (-score, n - 1).
            acc, lat = results[trial_key]
            position = self._ranked[k].bisect_left((-self._score(acc, lat), n - 1))
            on_front = False
        if position < keep:
            return Decision("continue", k, f"rank {position + 1} of {n} at rung {k} (top {keep})")
        if on_front:
            return Decision("continue", k, f"non-dominated at rung {k} (rank {position + 1} of {n})")
        return Decision(
            "stop", k, f"rank {position + 1} of {n} at rung {k} ({self.rungs[k]} epochs), top {keep}"
        )

    def _pareto_position(
        self, results: Mapping[str, tuple[float, float | None]], trial_key: str
    ) -> tuple[int, bool]:
        """Position of ``trial_key`` in the rung's multi-objective order (Pareto rank, then hypervolume
        contribution within its front, then arrival) and whether it is on the first front.

        Only the trial's own front needs contributions: every trial of a better front comes before it.
        """
        keys = list(results)
        known = [lat for _, lat in results.values() if lat is not None]
        worst = max(known) if known else 1.0
        points = [(acc, lat if lat is not None else worst) for acc, lat in results.values()]
        ranks = pareto_ranks(points)
        me = keys.index(trial_key)
        members = [i for i, r in enumerate(ranks) if r == ranks[me]]
        reference = (min(0.0, min(p[0] for p in points)), worst * 1.1 + 1e-9)
        contribution = dict(
            zip(members, hypervolume_contributions([points[i] for i in members], reference), strict=True)
        )
        ahead = sum(1 for r in ranks if r < ranks[me])
        ahead += sum(1 for i in members if (-contribution[i], i) < (-contribution[me], me))
        return ahead, ranks[me] == 0

    def rung_sizes(self) -> list[int]:
        """How many results each rung holds."""
        return [len(r) for r in self._results]

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state (results per rung in arrival order, stopped trials)."""
        return {
            "rungs": self.rungs,
            "results": [[[key, acc, lat] for key, (acc, lat) in r.items()] for r in self._results],
            "stopped": sorted(self._stopped),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict` (on a scheduler built with the same settings).

        Raises:
            ValueError: The rungs differ (other settings).
        """
        if list(state["rungs"]) != self.rungs:
            raise ValueError(f"saved rungs {state['rungs']} differ from this scheduler's {self.rungs}")
        self._results = [{} for _ in self.rungs]
        self._ranked = [SortedList() for _ in self.rungs]
        for k, rung in enumerate(state["results"]):
            for key, acc, lat in rung:
                self._record(k, str(key), float(acc), None if lat is None else float(lat))
        self._stopped = set(state["stopped"])


class HyperbandScheduler:
    """Hyperband: several ASHA brackets with different first rungs; trials are spread over them.

    Bracket ``s`` (``s = 0..s_max``, ``s_max = floor(log_eta(max_epochs / min_epochs))``) starts halving
    at ``min_epochs * eta**s`` epochs; bracket ``s_max`` is the most conservative (it stops nothing when its
    first rung would reach ``max_epochs``). New trials are assigned in a fixed weighted cycle that gives
    bracket ``s`` ``ceil((s_max + 1) / (s + 1)) * eta**(s_max - s)`` slots per round, as Hyperband allocates
    more (cheaper) trials to the aggressive brackets; the assignment is part of the state (reproducible).
    """

    def __init__(
        self,
        max_epochs: int,
        min_epochs: int = 1,
        reduction_factor: int = 3,
        *,
        multi_objective: bool = False,
        objectives: Objectives | None = None,
        min_trials_at_rung: int = 1,
    ):
        """Create the scheduler (arguments as :class:`ASHAScheduler`)."""
        self.eta = reduction_factor
        ratio = max(max_epochs / min_epochs, 1.0)
        self.s_max = int(math.floor(math.log(ratio, reduction_factor) + 1e-9))
        self.brackets = [
            ASHAScheduler(
                max_epochs,
                min_epochs * reduction_factor**s,
                reduction_factor,
                multi_objective=multi_objective,
                objectives=objectives,
                min_trials_at_rung=min_trials_at_rung,
            )
            for s in range(self.s_max + 1)
        ]
        self._cycle: list[int] = []
        for s in range(self.s_max + 1):
            n = math.ceil((self.s_max + 1) / (s + 1)) * reduction_factor ** (self.s_max - s)
            self._cycle += [s] * n
        self._assignment: dict[str, int] = {}

    def bracket_of(self, trial_key: str) -> int:
        """The bracket of a trial (assigned on first sight)."""
        if trial_key not in self._assignment:
            self._assignment[trial_key] = self._cycle[len(self._assignment) % len(self._cycle)]
        return self._assignment[trial_key]

    def on_epoch(
        self, trial_key: str, epoch: int, accuracy: float, latency_ms: float | None = None
    ) -> Decision:
        """Route the report to the trial's bracket (see :meth:`ASHAScheduler.on_epoch`)."""
        s = self.bracket_of(trial_key)
        d = self.brackets[s].on_epoch(trial_key, epoch, accuracy, latency_ms)
        return Decision(d.action, d.rung, f"bracket {s}: {d.reason}")

    def state_dict(self) -> dict[str, Any]:
        """JSON-serialisable state."""
        return {"assignment": dict(self._assignment), "brackets": [b.state_dict() for b in self.brackets]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
        if len(state["brackets"]) != len(self.brackets):
            raise ValueError("saved brackets differ from this scheduler's (other settings)")
        self._assignment = {str(k): int(v) for k, v in state["assignment"].items()}
        for b, s in zip(self.brackets, state["brackets"], strict=True):
            b.load_state_dict(s)


Scheduler = ASHAScheduler | HyperbandScheduler


def make_scheduler(
    config: StrategyConfig,
    max_epochs: int,
    objectives: Objectives | None = None,
    *,
    multi_objective: bool = False,
) -> Scheduler | None:
    """The scheduler a job asks for (``config.multi_fidelity``), or ``None`` for ``none``.

    Args:
        config: The job's strategy configuration (``multi_fidelity``, ``reduction_factor``, ``min_epochs``;
            ``settings['min_trials_at_rung']`` optional).
        max_epochs: The proxy's epochs.
        objectives: Reward configuration for single-objective ranking.
        multi_objective: Rank by (accuracy, latency) Pareto order (use it with multi-objective strategies).
    """
    if config.multi_fidelity == "none":
        return None
    cls = ASHAScheduler if config.multi_fidelity == "asha" else HyperbandScheduler
    return cls(
        max_epochs,
        config.min_epochs,
        config.reduction_factor,
        multi_objective=multi_objective,
        objectives=objectives,
        # Common to every strategy's settings model, so already checked with the job spec.
        min_trials_at_rung=int(config.settings.get("min_trials_at_rung", StrategySettings().min_trials_at_rung)),
    )
