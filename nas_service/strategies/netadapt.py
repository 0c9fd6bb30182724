"""NetAdapt (Yang et al., 2018; used for MobileNetV3): shrink a trained network step by step to a latency budget.

Each step sets a latency-reduction target ``delta`` (a fraction of the starting latency, decaying per step) and,
for every stage and every kind of reduction (``expansion``, ``width``, ``kernel``, ``repeats``), proposes the
smallest reduction of that stage that lowers the latency by at least ``delta`` (one notch at a time: expansion
6 -> 4 -> 3 -> 2 -> 1, width x0.75 rounded to a multiple of 8, kernel k -> k-2, one block fewer). Every
proposal is fine-tuned briefly (the caller's ``evaluate``), and the one with the best
``delta accuracy / |delta latency|`` becomes the new network. Steps repeat until the latency meets the budget.

Two drivers share the proposal rule (:func:`propose`) and the choice (:func:`choose`):

* :class:`NetAdapt`, a synchronous loop: ``latency`` (an ``Architecture -> ms`` callable) and ``evaluate``
  (fine-tune the proposal briefly from its parent and return its accuracy) are given by the caller.
* :class:`NetAdaptStrategy`, the ``kind: netadapt`` job's strategy behind the ask/tell interface: step 0 trains
  (or, from a trial, fine-tunes) the base; each step's proposals are suggestions the controller fine-tunes from
  the parent's weights (``params["parent"]`` names the parent's suggestion) and measures on the job's latency
  target. Latency before training is estimated relative to the current network's *measured* latency
  (``measured * oracle(proposal) / oracle(current)``, with a :class:`FittedLatencyOracle` that learns from every
  measurement), so it needs no calibrated predictor; the choice uses the measured latencies. Its whole state
  follows from the told history (replayed in ask order), so a restarted controller continues exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from nas_service.arch.scaling import make_divisible
from nas_service.arch.spec import Architecture
from nas_service.jobspec import REDUCTION_KINDS, NetAdaptConfig, ReductionKind, StrategyConfig
from nas_service.strategies._settings import StrategySettings
from nas_service.strategies.base import BaseStrategy, Objectives, Outcome, SearchSpaceLike, Told, suggestion_order
from nas_service.strategies.latency import FittedLatencyOracle, LatencyOracle

KINDS = REDUCTION_KINDS
EXPANSION_LADDER = (1.0, 2.0, 3.0, 4.0, 6.0)
MIN_CHANNELS = 8


@dataclass(frozen=True)
class Proposal:
    """One candidate of a step: the network with one stage reduced.

    Attributes:
        stage: Index of the reduced stage.
        kind: What was reduced.
        notches: How many notches it took to meet the step's latency target.
        architecture: The reduced network.
        latency_ms: Its latency.
        accuracy: Its accuracy after the brief fine-tuning (``None`` until evaluated).
    """

    stage: int
    kind: ReductionKind
    notches: int
    architecture: Architecture
    latency_ms: float
    accuracy: float | None = None


@dataclass
class NetAdaptStep:
    """What one step chose (one row of the NetAdapt table).

    Attributes:
        step: 1-based step number.
        target_ms: The latency the step had to reach (current latency minus the reduction target).
        chosen: The proposal kept.
        proposals: Every proposal evaluated at this step.
    """

    step: int
    target_ms: float
    chosen: Proposal
    proposals: list[Proposal] = field(default_factory=list)


def propose(
    current: Architecture,
    target_ms: float,
    latency: Callable[[Architecture], float],
    kinds: Sequence[ReductionKind] = KINDS,
    max_notches: int = 4,
) -> Iterator[Proposal]:
    """NetAdapt's proposals: per stage and kind, the fewest notches (up to ``max_notches``) of that reduction
    whose ``latency`` is at most ``target_ms``; a stage and kind that cannot get there is skipped."""
    for stage in range(len(current.stages)):
        for kind in kinds:
            arch = current
            for notches in range(1, max_notches + 1):
                smaller = reduce_stage(arch, stage, kind)
                if smaller is None:
                    break
                arch = smaller
                lat = float(latency(arch))
                if lat <= target_ms:
                    yield Proposal(stage, kind, notches, arch, lat)
                    break


def score(accuracy: float | None, latency_ms: float, base_accuracy: float | None, base_latency_ms: float) -> float:
    """NetAdapt's (MobileNetV3's) choice criterion: accuracy change per millisecond saved."""
    gain = (accuracy or 0.0) - (base_accuracy if base_accuracy is not None else 0.0)
    return gain / max(base_latency_ms - latency_ms, 1e-9)


def choose(
    proposals: Sequence[Proposal],
    base_accuracy: float | None,
    base_latency_ms: float,
    target_ms: float | None = None,
    min_saving_ms: float = 0.0,
) -> Proposal | None:
    """The evaluated proposal with the best :func:`score` (ties: higher accuracy, then the earlier stage).

    Candidates are those whose latency meets the step's ``target_ms`` (NetAdapt's constraint); when none does
    (measurements are noisier than estimates), those at least ``min_saving_ms`` faster than the current network.
    Without that floor a proposal a hair faster by noise would win on a near-zero denominator. ``None`` when no
    proposal qualifies.
    """
    usable = [p for p in proposals if p.accuracy is not None]
    pool = [p for p in usable if target_ms is not None and p.latency_ms <= target_ms]
    if not pool:
        pool = [p for p in usable if p.latency_ms < base_latency_ms - min_saving_ms]
    if not pool:
        return None
    return max(
        pool,
        key=lambda p: (score(p.accuracy, p.latency_ms, base_accuracy, base_latency_ms), p.accuracy or 0.0, -p.stage),
    )


def reduce_notches(arch: Architecture, stage: int, kind: ReductionKind, notches: int) -> Architecture | None:
    """``arch`` reduced ``notches`` times (:func:`reduce_stage`), or ``None`` when it cannot shrink that far."""
    for _ in range(notches):
        smaller = reduce_stage(arch, stage, kind)
        if smaller is None:
            return None
        arch = smaller
    return arch


def reduce_stage(arch: Architecture, stage: int, kind: ReductionKind) -> Architecture | None:
    """``arch`` with stage ``stage`` one notch smaller in ``kind``, or ``None`` when it cannot shrink that way.

    Expansion and kernel apply to every block of the stage that has them; width changes the stage's output
    channels (the next stage's input follows, as the builder wires it); repeats removes one block from the
    stage's last block row.
    """
    rows = [b.model_copy() for b in arch.stages[stage]]
    changed = False
    if kind == "expansion":
        for i, b in enumerate(rows):
            lower = [e for e in EXPANSION_LADDER if e < b.expansion]
            if b.type == "ir" and lower:
                rows[i] = b.model_copy(update={"expansion": lower[-1]})
                changed = True
    elif kind == "width":
        for i, b in enumerate(rows):
            c = make_divisible(b.out_channels * 0.75, 8)
            if MIN_CHANNELS <= c < b.out_channels:
                rows[i] = b.model_copy(update={"out_channels": c})
                changed = True
    elif kind == "kernel":
        for i, b in enumerate(rows):
            ks = [max(1, k - 2) for k in b.kernel_sizes]
            if ks != b.kernel_sizes and all(k >= 3 for k in ks):
                rows[i] = b.model_copy(update={"kernel_sizes": ks})
                changed = True
    elif kind == "repeats":
        b = rows[-1]
        if b.repeats > 1:
            rows[-1] = b.model_copy(update={"repeats": b.repeats - 1})
            changed = True
        elif len(rows) > 1:
            rows.pop()
            changed = True
    if not changed:
        return None
    stages = [list(s) for s in arch.stages]
    stages[stage] = rows
    return arch.model_copy(update={"stages": stages})


class NetAdapt:
    """The NetAdapt loop (see the module docstring).

    Attributes:
        current: The network so far.
        current_latency_ms: Its latency.
        current_accuracy: Its accuracy (``None`` until the first step or when not given).
        steps: The steps taken, in order.
    """

    def __init__(
        self,
        architecture: Architecture,
        budget_ms: float,
        latency: Callable[[Architecture], float],
        evaluate: Callable[[Architecture, Architecture], float],
        *,
        initial_accuracy: float | None = None,
        reduction_fraction: float = 0.05,
        decay: float = 0.98,
        max_notches: int = 4,
        max_steps: int = 100,
    ):
        """Create the loop.

        Args:
            architecture: The starting (trained) network.
            budget_ms: The latency to reach.
            latency: ``Architecture -> ms`` (measured or estimated).
            evaluate: ``(proposal, parent) -> accuracy`` after a brief fine-tuning from the parent's weights.
            initial_accuracy: The starting network's accuracy, if known.
            reduction_fraction: Step 1's latency-reduction target as a fraction of the starting latency.
            decay: Multiplies the target after every step (smaller reductions as the network gets tight).
            max_notches: Largest number of notches one proposal may take to meet the target.
            max_steps: Safety cap on the number of steps.
        """
        if budget_ms <= 0 or not 0 < reduction_fraction < 1 or not 0 < decay <= 1:
            raise ValueError("need budget_ms > 0, 0 < reduction_fraction < 1 and 0 < decay <= 1")
        self.current = architecture
        self.budget_ms = budget_ms
        self.latency = latency
        self.evaluate = evaluate
        self.current_latency_ms = float(latency(architecture))
        self.current_accuracy = initial_accuracy
        self.delta_ms = reduction_fraction * self.current_latency_ms
        self.decay = decay
        self.max_notches = max_notches
        self.max_steps = max_steps
        self.steps: list[NetAdaptStep] = []

    @property
    def done(self) -> bool:
        """True once the latency meets the budget."""
        return self.current_latency_ms <= self.budget_ms

    def proposals(self, target_ms: float) -> Iterator[Proposal]:
        """For every stage and kind, the fewest notches of that reduction that bring latency to ``target_ms``
        (kinds that cannot reach it within ``max_notches`` are skipped)."""
        yield from propose(self.current, target_ms, self.latency, KINDS, self.max_notches)

    def step(self) -> NetAdaptStep | None:
        """One NetAdapt step; ``None`` when no reduction can meet the target (the loop is stuck)."""
        # The last step aims at the budget itself rather than past it.
        target = max(self.current_latency_ms - self.delta_ms, self.budget_ms)
        evaluated = [
            Proposal(
                p.stage,
                p.kind,
                p.notches,
                p.architecture,
                p.latency_ms,
                float(self.evaluate(p.architecture, self.current)),
            )
            for p in self.proposals(target)
        ]
        if not evaluated:
            return None
        chosen = choose(evaluated, self.current_accuracy, self.current_latency_ms, target)
        if chosen is None:
            return None
        step = NetAdaptStep(len(self.steps) + 1, target, chosen, evaluated)
        self.steps.append(step)
        self.current, self.current_latency_ms, self.current_accuracy = (
            chosen.architecture,
            chosen.latency_ms,
            chosen.accuracy,
        )
        self.delta_ms *= self.decay
        return step

    def run(self) -> Architecture:
        """Step until the budget is met (or no reduction is possible, or ``max_steps``); the final network.

        Raises:
            RuntimeError: The budget cannot be reached (no proposal meets a step's target).
        """
        while not self.done and len(self.steps) < self.max_steps:
            if self.step() is None:
                raise RuntimeError(
                    f"NetAdapt is stuck at {self.current_latency_ms:.3f} ms (budget {self.budget_ms} ms): "
                    "no stage can be reduced further"
                )
        return self.current


# ------------------------------------------------------------------------------------- the job's strategy
#: A step without a faster proposal grows the next step's reduction target by this factor.
NO_PROGRESS_GROWTH = 1.5

NetAdaptStatus = Literal["running", "met", "stuck", "max_steps", "failed"]


class NetAdaptSettings(StrategySettings):
    """Settings of :class:`NetAdaptStrategy`: none beyond the common ones (the job's ``netadapt`` block holds
    the base, the budget and the schedule)."""


class NetAdaptStrategy(BaseStrategy):
    """NetAdapt as a job (module docstring). Suggestion params:

    * step 0: ``{"step": 0}`` (train the base from scratch) or ``{"step": 0, "parent": "trial:<id>"}``
      (fine-tune a stored trial's network);
    * step k >= 1: ``{"step", "stage", "kind", "notches", "parent", "estimated_ms"}``; ``parent`` is the
      suggestion id of the network it reduces, whose weights the proposal starts from.

    Attributes:
        status: ``running``, ``met`` (the measured latency meets the budget), ``stuck`` (no faster network in
            ``patience`` steps in a row, or nothing left to reduce), ``max_steps`` or ``failed`` (the base did
            not train).
        rows: One dict per finished step (see :meth:`report`).
    """

    name = "netadapt"
    #: Params that identify a suggestion rather than choose a network (left out of the choice views).
    bookkeeping = ("step", "parent", "estimated_ms")
    supports_early_stopping = False
    settings_model = NetAdaptSettings
    settings: NetAdaptSettings

    def __init__(
        self,
        space: SearchSpaceLike | None,
        config: StrategyConfig,
        objectives: Objectives | None = None,
        *,
        netadapt: NetAdaptConfig,
        base: Architecture,
        base_trial: int | None = None,
        latency_oracle: LatencyOracle | None = None,
    ):
        """Create the strategy.

        Args:
            space: Ignored (the base network defines what is reduced); may be ``None``.
            config: Strategy configuration (seed; no settings of its own).
            objectives: Reward configuration (only for the table's reward column).
            netadapt: The job's NetAdapt settings.
            base: The starting network at the proxy's resolution (the controller resolves a trial id).
            base_trial: The trial ``base`` came from (its weights are fine-tuned in step 0), if any.
            latency_oracle: Estimates proposals' latency before training, as a ratio to the current network's
                (default: fitted to this job's measurements; the service passes the target's predictor when the
                job's latency mode uses one).
        """
        super().__init__(space, config, objectives)  # type: ignore[arg-type]
        self.cfg = netadapt
        self.base = base
        self.base_trial = base_trial
        self._latency_oracle = latency_oracle
        self._reset()

    def _reset(self) -> None:
        self.current = self.base
        self.current_sid: str | None = None
        self.current_latency_ms: float | None = None
        self.current_measured_ms: float | None = None
        self.current_accuracy: float | None = None
        self.budget_ms: float | None = self.cfg.budget_ms
        self.delta_ms = 0.0
        self.step = 0
        self.target_ms: float | None = None
        first: dict[str, Any] = {"step": 0}
        if self.base_trial is not None:
            first["parent"] = f"trial:{self.base_trial}"
        self.plan: list[dict[str, Any]] = [first]
        self.asked: list[str] = []  # suggestion ids of the current step, in ask order
        self.step_told: dict[str, Outcome] = {}
        self.oracle: LatencyOracle = self._latency_oracle or FittedLatencyOracle()
        self.rows: list[dict[str, Any]] = []
        self.base_row: dict[str, Any] | None = None
        self.status: NetAdaptStatus = "running"
        self.note = "training the base network" if self.base_trial is None else "fine-tuning the base trial"
        self.no_progress = 0

    # -- asking -------------------------------------------------------------------------------------------

    def _propose(self, n: int) -> list[dict[str, Any]]:
        if self.status != "running":
            return []
        start = len(self.asked)
        out = [dict(p) for p in self.plan[start : start + n]]
        # Ids are assigned by ``ask`` in order: ``_next_id`` is the first one.
        self.asked += [f"{self.name}-{self._next_id + i:06d}" for i in range(len(out))]
        return out

    def is_exhausted(self) -> bool:
        """True once NetAdapt has ended (budget met, stuck, out of steps, or the base failed)."""
        return self.status != "running"

    def end_note(self) -> tuple[bool, str] | None:
        """Meeting the latency budget is the planned end; stuck, out of steps or a failed base are not."""
        if self.status == "running":
            return None
        return self.status == "met", f"NetAdapt {self.status.replace('_', ' ')}: {self.note}"

    def _architecture(self, params: dict[str, Any]) -> Architecture:
        step = int(params["step"])
        if step == 0:
            return self.base
        arch = reduce_notches(self.current, int(params["stage"]), params["kind"], int(params["notches"]))
        if arch is None:
            raise ValueError(f"netadapt: {params} does not apply to the current network")
        return arch.model_copy(update={"name": f"{self.base.name or 'base'}-netadapt{step}"})

    # -- learning -----------------------------------------------------------------------------------------

    def _observe(self, suggestion_id: str, params: dict[str, Any], outcome: Outcome) -> None:
        if suggestion_id not in self.asked:
            return  # not of the step in progress (cannot happen: a step waits for all its tells)
        self.step_told[suggestion_id] = outcome
        if len(self.asked) == len(self.plan) and len(self.step_told) == len(self.plan):
            self._finish_step()

    def _rebuild(self, told: Sequence[Told]) -> None:
        """Replay asks and tells in ask order: the state depends on the history only."""
        pending = dict(self._pending)
        outcomes = {t.suggestion_id: t.outcome for t in told}
        self._reset()
        for sid in sorted([*outcomes, *pending], key=suggestion_order):
            if self.status != "running" or len(self.asked) >= len(self.plan):
                break
            self.asked.append(sid)
            if sid in outcomes:
                self._observe(sid, {}, outcomes[sid])

    def _finish_step(self) -> None:
        told = [(sid, self.plan[i], self.step_told[sid]) for i, sid in enumerate(self.asked)]
        if self.step == 0:
            self._finish_base(*told[0])
        else:
            self._finish_reduction(told)
        if self.status == "running":
            self._plan_next()

    def _finish_base(self, sid: str, params: dict[str, Any], outcome: Outcome) -> None:
        self.base_row = self._proposal_row(sid, params, outcome)
        if not outcome.usable or outcome.latency_ms is None:
            self.status, self.note = "failed", f"the base network did not train ({outcome.state})"
            return
        self.oracle.observe(self.base, float(outcome.latency_ms))
        self.current_sid, self.current_latency_ms, self.current_accuracy = sid, outcome.latency_ms, outcome.accuracy
        self.current_measured_ms = outcome.latency_ms
        if self.budget_ms is None:
            assert self.cfg.budget_fraction is not None
            self.budget_ms = round(self.cfg.budget_fraction * outcome.latency_ms, 6)
        self.delta_ms = self.cfg.reduction_fraction * outcome.latency_ms
        if outcome.latency_ms <= self.budget_ms:
            self.status, self.note = "met", "the base network already meets the latency budget"

    def _finish_reduction(self, told: list[tuple[str, dict[str, Any], Outcome]]) -> None:
        assert self.current_latency_ms is not None
        proposals: list[tuple[str, Proposal]] = []
        for sid, params, outcome in told:  # ask order: the oracle's fit is the same live and replayed
            arch = self._architecture(params)
            latency = self._latency_of(outcome)
            if outcome.usable and latency is not None:
                self.oracle.observe(arch, latency)
                proposals.append(
                    (sid, Proposal(params["stage"], params["kind"], params["notches"], arch, latency, outcome.accuracy))
                )
        # NetAdapt's constraint (the step's target) first; failing that, at least half the intended saving.
        chosen = choose(
            [p for _, p in proposals], self.current_accuracy, self.current_latency_ms, self.target_ms,
            0.5 * self.delta_ms,
        )  # fmt: skip
        row: dict[str, Any] = {
            "step": self.step,
            "target_ms": self.target_ms,
            "from_latency_ms": self.current_latency_ms,
            "from_accuracy": self.current_accuracy,
            "asked": len(told),
            "completed": len(proposals),
            "chosen": None,
            "state": "no_progress",
        }
        if chosen is None:
            self.no_progress += 1
            self.delta_ms *= NO_PROGRESS_GROWTH
            self.rows.append(row)
            if self.no_progress >= self.cfg.patience:
                self.status = "stuck"
                self.note = (
                    f"no proposal was measured faster than {self.current_latency_ms:.4g} ms in {self.cfg.patience} "
                    "steps in a row (raise netadapt.patience on a noisy target)"
                )
            return
        sid = next(s for s, p in proposals if p is chosen)
        told_chosen = next(o for s, _, o in told if s == sid)
        row["chosen"] = {
            "suggestion_id": sid,
            "stage": chosen.stage,
            "kind": chosen.kind,
            "notches": chosen.notches,
            "latency_ms": chosen.latency_ms,
            "measured_ms": told_chosen.latency_ms,
            "reference_ms": told_chosen.reference_latency_ms,
            "accuracy": chosen.accuracy,
            "delta_latency_ms": chosen.latency_ms - self.current_latency_ms,
            "delta_accuracy": (
                None if self.current_accuracy is None or chosen.accuracy is None
                else chosen.accuracy - self.current_accuracy
            ),
            "score": score(chosen.accuracy, chosen.latency_ms, self.current_accuracy, self.current_latency_ms),
            "met_target": self.target_ms is not None and chosen.latency_ms <= self.target_ms,
        }  # fmt: skip
        row["state"] = "chosen"
        self.rows.append(row)
        self.no_progress = 0
        self.current, self.current_sid = chosen.architecture, sid
        self.current_latency_ms, self.current_accuracy = chosen.latency_ms, chosen.accuracy
        self.current_measured_ms = told_chosen.latency_ms
        self.delta_ms *= self.cfg.decay
        assert self.budget_ms is not None
        if self.current_latency_ms <= self.budget_ms:
            self.status = "met"
            self.note = (
                f"{self.current_latency_ms:.4g} ms <= budget {self.budget_ms:.4g} ms after {self.step} steps"
            )

    def _latency_of(self, outcome: Outcome) -> float | None:
        """A proposal's latency on the scale of the base's measurement.

        With a paired measurement (the parent measured beside it, ``reference_latency_ms``) it is the current
        network's latency times the paired ratio: comparisons across sessions are then free of their drift (a
        shared machine measured the same network 20-70 % apart in different trials). Without one, the raw
        measurement; a duplicate without one (its values are another step's) is left out (``None``).
        """
        if outcome.latency_ms is None:
            return None
        if outcome.reference_latency_ms and self.current_latency_ms is not None:
            return self.current_latency_ms * outcome.latency_ms / outcome.reference_latency_ms
        return None if outcome.state == "duplicate" else float(outcome.latency_ms)

    def _plan_next(self) -> None:
        """The next step's proposals, latency estimated relative to the current network's measured latency."""
        assert self.current_latency_ms is not None and self.budget_ms is not None
        if self.step >= self.cfg.max_steps:
            self.status, self.note = "max_steps", f"{self.cfg.max_steps} steps did not reach the budget"
            return
        current_ms = self.current_latency_ms
        anchor = max(self.oracle.latency_ms(self.current), 1e-9)

        def estimate(arch: Architecture) -> float:
            return current_ms * self.oracle.latency_ms(arch) / anchor

        target = max(current_ms - self.delta_ms, self.budget_ms)
        kinds = tuple(self.cfg.kinds)
        found = list(propose(self.current, target, estimate, kinds, self.cfg.max_notches))
        if not found:  # nothing is estimated to reach the target: each reduction's deepest that helps at all
            found = self._deepest(estimate, current_ms, kinds)
        if not found:
            self.status, self.note = "stuck", "no stage can be reduced further"
            return
        self.step += 1
        self.target_ms = round(target, 6)
        self.plan = [
            {"step": self.step, "stage": p.stage, "kind": p.kind, "notches": p.notches, "parent": self.current_sid,
             "estimated_ms": round(p.latency_ms, 6)}
            for p in found
        ]  # fmt: skip
        self.asked, self.step_told = [], {}
        self.note = f"step {self.step}: {len(self.plan)} proposals toward {self.target_ms:.4g} ms"

    def _deepest(
        self, estimate: Callable[[Architecture], float], current_ms: float, kinds: Sequence[ReductionKind]
    ) -> list[Proposal]:
        out = []
        for stage in range(len(self.current.stages)):
            for kind in kinds:
                arch, notches = self.current, 0
                while notches < self.cfg.max_notches and (smaller := reduce_stage(arch, stage, kind)) is not None:
                    arch, notches = smaller, notches + 1
                if notches and (est := estimate(arch)) < current_ms:
                    out.append(Proposal(stage, kind, notches, arch, est))
        return out

    # -- the result ----------------------------------------------------------------------------------------

    def _proposal_row(self, sid: str, params: Mapping[str, Any], outcome: Outcome | None) -> dict[str, Any]:
        paired = outcome is not None and params.get("step") and self._latency_of(outcome) is not None
        return {
            "suggestion_id": sid,
            "step": params.get("step"),
            "stage": params.get("stage"),
            "kind": params.get("kind"),
            "notches": params.get("notches"),
            "estimated_ms": params.get("estimated_ms"),
            "latency_ms": (self._latency_of(outcome) if paired else outcome.latency_ms) if outcome else None,
            "measured_ms": outcome.latency_ms if outcome else None,
            "accuracy": outcome.accuracy if outcome else None,
            "state": outcome.state if outcome else "pending",
        }

    def report(self) -> dict[str, Any]:
        """The NetAdapt table: ``status``, ``note``, ``budget_ms``, ``base`` (step 0's row), ``current`` (the
        network so far: latency, accuracy, suggestion id, block strings). Latencies (``latency_ms``) are on the
        base's scale: the base's measurement times the paired ratios of the steps kept (:meth:`_latency_of`);
        ``measured_ms`` is a network's own measurement in its trial, ``reference_ms`` its parent's beside it.
        Then ``steps`` (one row per finished step:
        step, target_ms, from_latency_ms, from_accuracy, asked, completed, state ``chosen``/``no_progress`` and
        ``chosen`` with stage, kind, notches, latency_ms, accuracy, delta_latency_ms, delta_accuracy, score,
        suggestion_id) and ``proposals`` (the step in progress, one row each, ``pending`` until told)."""
        in_progress = []
        if self.status == "running":
            for i, params in enumerate(self.plan):
                sid = self.asked[i] if i < len(self.asked) else None
                row = self._proposal_row(sid or "", params, self.step_told.get(sid or ""))
                row["suggestion_id"] = sid
                if sid is None:
                    row["state"] = "planned"
                in_progress.append(row)
        current = None
        if self.current_sid is not None:
            current = {
                "suggestion_id": self.current_sid,
                "latency_ms": self.current_latency_ms,
                "measured_ms": self.current_measured_ms,
                "accuracy": self.current_accuracy,
                "block_strings": self.current.block_strings(),
            }
        return {
            "status": self.status,
            "note": self.note,
            "budget_ms": self.budget_ms,
            "budget_fraction": self.cfg.budget_fraction,
            "step": self.step,
            "target_ms": self.target_ms if self.status == "running" and self.step > 0 else None,
            "base": self.base_row,
            "current": current,
            "steps": [dict(r) for r in self.rows],
            "proposals": in_progress,
        }
