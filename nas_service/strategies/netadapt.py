"""NetAdapt (Yang et al., 2018; used for MobileNetV3): shrink a trained network step by step to a latency budget.

Each step sets a latency-reduction target ``delta`` (a fraction of the starting latency, decaying per step) and,
for every stage and every kind of reduction (``expansion``, ``width``, ``kernel``, ``repeats``), proposes the
smallest reduction of that stage that lowers the latency by at least ``delta`` (one notch at a time: expansion
6 -> 4 -> 3 -> 2 -> 1, width x0.75 rounded to a multiple of 8, kernel k -> k-2, one block fewer). Every
proposal is fine-tuned briefly (the caller's ``evaluate``), and the one with the best
``delta accuracy / |delta latency|`` becomes the new network. Steps repeat until the latency meets the budget.

The library decides; it never trains or measures: ``latency`` (an ``Architecture -> ms`` callable, e.g. a
:class:`~nas_service.strategies.latency.LatencyOracle`'s ``latency_ms`` or a measurement) and ``evaluate``
(fine-tune the proposal briefly from its parent and return its accuracy) are given by the caller. A
``netadapt`` job kind (API, dispatcher, dashboard table) is not built yet: it would call :class:`NetAdapt`
with a worker-side ``evaluate``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from nas_service.arch.scaling import make_divisible
from nas_service.arch.spec import Architecture

ReductionKind = Literal["expansion", "width", "kernel", "repeats"]
KINDS: tuple[ReductionKind, ...] = ("expansion", "width", "kernel", "repeats")
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
        for stage in range(len(self.current.stages)):
            for kind in KINDS:
                arch = self.current
                for notches in range(1, self.max_notches + 1):
                    smaller = reduce_stage(arch, stage, kind)
                    if smaller is None:
                        break
                    arch = smaller
                    lat = float(self.latency(arch))
                    if lat <= target_ms:
                        yield Proposal(stage, kind, notches, arch, lat)
                        break

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
        base = self.current_accuracy

        def score(p: Proposal) -> float:
            gain = (p.accuracy or 0.0) - (base if base is not None else 0.0)
            return gain / max(self.current_latency_ms - p.latency_ms, 1e-9)

        chosen = max(evaluated, key=lambda p: (score(p), p.accuracy or 0.0, -p.stage))
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
