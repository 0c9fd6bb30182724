"""EfficientNet's compound-scaling planner as a strategy.

Step 1 grid-searches the coefficients at ``phi = 1``: every ``(alpha, beta, gamma)`` of
:func:`alpha_beta_gamma_grid` is asked as the base network scaled by depth ``alpha``, width ``beta`` and
resolution ``gamma`` (:func:`nas_service.arch.scaling.scale_architecture`). Once every step-1 suggestion is
told, the one with the best MnasNet reward is chosen. Step 2 asks ``phi = 2..max_phi`` with the chosen
coefficients (``phi = 1`` of the chosen point was trained in step 1 and is reused, not retrained).
:meth:`CompoundScalingStrategy.scaling_table` is the result the API and dashboard show.

Between the steps ``ask`` returns an empty list while step-1 suggestions are still in flight (the controller
asks again after the next tell); :meth:`CompoundScalingStrategy.is_exhausted` turns True when everything has
been asked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from nas_service.arch.spec import Architecture
from nas_service.jobspec import JobSpec, ScalingConfig, StrategyConfig
from nas_service.strategies._settings import StrategySettings
from nas_service.strategies.base import BaseStrategy, Objectives, Outcome, SearchSpaceLike, Told

#: Used when no step-1 candidate completed (all rejected or failed): the EfficientNet paper's grid result.
PAPER_COEFFICIENTS = (1.2, 1.1, 1.15)


def alpha_beta_gamma_grid(
    target: float = 2.0,
    tolerance: float = 0.1,
    step: float = 0.05,
    max_value: float = 2.0,
    max_points: int | None = 64,
) -> list[tuple[float, float, float]]:
    """Coefficients ``(alpha, beta, gamma)`` with ``|alpha * beta**2 * gamma**2 - target| <= tolerance``.

    Each coefficient runs over ``1, 1 + step, ..., max_value`` (computed from integer step counts and rounded
    to 6 decimals, so there is no float drift and no duplicate). The result is sorted lexicographically. When
    more than ``max_points`` points qualify, evenly spaced ones (in that order, first and last included) are
    kept, so the grid still spans the whole range and the number of step-1 trials stays bounded.

    Args:
        target: FLOPs growth per unit of ``phi`` (2: each ``phi`` step doubles FLOPs).
        tolerance: Allowed absolute deviation from ``target``.
        step: Grid spacing, > 0.
        max_value: Largest coefficient considered, >= 1.
        max_points: Cap on the number of points (``None``: no cap).

    Returns:
        The qualifying points, possibly empty (tolerance too tight for the step).
    """
    if step <= 0 or max_value < 1 or tolerance < 0:
        raise ValueError("need step > 0, max_value >= 1 and tolerance >= 0")
    n = int((max_value - 1.0) / step + 1e-9)
    values = [round(1.0 + i * step, 6) for i in range(n + 1)]
    points = sorted(
        {
            (a, b, g)
            for a in values
            for b in values
            for g in values
            if abs(a * b * b * g * g - target) <= tolerance + 1e-12
        }
    )
    if max_points is not None and len(points) > max_points:
        if max_points <= 1:
            return points[:max_points]
        last = len(points) - 1
        idx = sorted({round(i * last / (max_points - 1)) for i in range(max_points)})
        points = [points[i] for i in idx]
    return points


def resolve_base(
    base: str | list[list[str]] | Architecture, overrides: Mapping[str, Any] | None = None
) -> Architecture:
    """The base network of a scaling job: a preset name, block strings or an Architecture.

    Args:
        base: ``ScalingConfig.base`` (the controller resolves a trial id to an Architecture first).
        overrides: Architecture fields to override (e.g. ``num_classes``, ``resolution`` for a proxy task).

    Raises:
        ValueError: An unknown preset name.
    """
    if isinstance(base, Architecture):
        arch = base
    elif isinstance(base, str):
        from nas_service.arch.presets import get_preset

        try:
            arch = get_preset(base)
        except KeyError as exc:
            raise ValueError(
                f"scaling base {base!r} is not a preset name (the controller resolves trial ids): {exc}"
            ) from None
    else:
        arch = Architecture.from_block_strings(base)
    if overrides:
        arch = Architecture.model_validate({**arch.model_dump(), **dict(overrides)})
    return arch


class CompoundScalingSettings(StrategySettings):
    """Settings of :class:`CompoundScalingStrategy` (see its docstring)."""

    include_base: bool = True
    max_grid_points: int = Field(16, ge=1, le=4096)
    max_value: float = Field(2.0, ge=1, le=8)
    base_overrides: dict[str, Any] | None = Field(None, max_length=32)


class CompoundScalingStrategy(BaseStrategy):
    """Compound scaling: a coefficient grid at ``phi = 1``, then ``phi = 2..max_phi`` with the best point.

    Suggestion params are ``{"alpha", "beta", "gamma", "phi"}``; the architecture is the scaled base.

    Settings:
        include_base: Also train the unscaled base (``phi = 0``) in step 1, for the table (default True).
        max_grid_points: Cap on step-1 grid points (default 16; see :func:`alpha_beta_gamma_grid`).
        max_value: Largest coefficient in the grid (default 2.0).
        base_overrides: Architecture fields to override on the base (e.g. ``{"num_classes": 10}``).
    """

    name = "compound-scaling"
    supports_multi_objective = False
    supports_early_stopping = False
    settings_model = CompoundScalingSettings
    settings: CompoundScalingSettings

    def __init__(
        self,
        space: SearchSpaceLike | None,
        config: StrategyConfig,
        objectives: Objectives | None = None,
        *,
        scaling: ScalingConfig,
    ):
        """Create the planner.

        Args:
            space: Ignored (the base network defines what is scaled); may be ``None``.
            config: Strategy configuration (settings as in the class docstring).
            objectives: Reward configuration (the step-1 choice maximises the reward).
            scaling: The job's scaling settings (base, max_phi, flops_target, tolerance, grid_step).
        """
        super().__init__(space, config, objectives)  # type: ignore[arg-type]
        self.scaling = scaling
        base = scaling.base
        # A trial id (all digits) is resolved by the controller; a strategy rebuilt from saved state (the
        # dashboard) gets the base from the state instead, so it need not resolve it.
        self._unresolved = base if isinstance(base, str) and base.isdigit() else None
        self.base: Architecture | None = (
            None if self._unresolved else resolve_base(base, self.settings.base_overrides)
        )
        self.grid = alpha_beta_gamma_grid(
            scaling.flops_target,
            scaling.tolerance,
            scaling.grid_step,
            self.settings.max_value,
            self.settings.max_grid_points,
        )
        if not self.grid:
            raise ValueError(
                f"no (alpha, beta, gamma) with |alpha*beta^2*gamma^2 - {scaling.flops_target}| <= "
                f"{scaling.tolerance} on a {scaling.grid_step} grid; widen the tolerance or refine the step"
            )
        plan: list[dict[str, Any]] = []
        if self.settings.include_base:
            plan.append({"alpha": 1.0, "beta": 1.0, "gamma": 1.0, "phi": 0})
        plan += [{"alpha": a, "beta": b, "gamma": g, "phi": 1} for a, b, g in self.grid]
        self._step1 = plan
        self._pos1 = 0
        self._pos2 = 0
        self.chosen: tuple[float, float, float] | None = None
        self.chosen_note = ""
        #: ``num_classes``/``in_channels`` of the proxy data (set by :func:`scaling_report` when known), so the
        #: table's analytic counts and cost ratios are those of the networks as trained.
        self.trained_shape: dict[str, int] = {}

    # -- asking -------------------------------------------------------------------------------------------

    def _propose(self, n: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while len(out) < n and self._pos1 < len(self._step1):
            out.append(dict(self._step1[self._pos1]))
            self._pos1 += 1
        if len(out) < n and self._pos1 == len(self._step1):
            if self.chosen is None:
                if self._pending or out:  # step-1 results still in flight: nothing more to ask yet
                    return out
                self._choose()
            assert self.chosen is not None
            alpha, beta, gamma = self.chosen
            while len(out) < n and self._pos2 < self.scaling.max_phi - 1:
                self._pos2 += 1
                out.append({"alpha": alpha, "beta": beta, "gamma": gamma, "phi": self._pos2 + 1})
        return out

    def _choose(self) -> None:
        best: tuple[float, tuple[float, float, float]] | None = None
        for h in self.history:
            p, outcome = h["params"], Outcome.from_dict(h["outcome"])
            if p["phi"] != 1 or not outcome.usable:
                continue
            reward = self.objectives.reward_of(outcome)
            if reward is not None and (best is None or reward > best[0]):
                best = (reward, (p["alpha"], p["beta"], p["gamma"]))
        if best is None:
            self.chosen = PAPER_COEFFICIENTS
            self.chosen_note = "no step-1 candidate completed; the EfficientNet paper's coefficients are used"
        else:
            self.chosen = best[1]
            self.chosen_note = f"best step-1 reward {best[0]:.4f}"

    def is_exhausted(self) -> bool:
        """True once step 2 has asked every ``phi``."""
        return self.chosen is not None and self._pos2 >= self.scaling.max_phi - 1

    def _architecture(self, params: dict[str, Any]) -> Architecture:
        from nas_service.arch.scaling import scale_architecture

        if self.base is None:
            raise ValueError(
                f"scaling base {self._unresolved!r} is a trial id: the controller resolves it to an Architecture "
                "(or load_state_dict restores the saved base)"
            )
        arch = scale_architecture(self.base, params["phi"], params["alpha"], params["beta"], params["gamma"])
        return arch.model_copy(update={"name": f"{self.base.name or 'base'}-phi{params['phi']}"})

    # -- the result ----------------------------------------------------------------------------------------

    def _counted(self, arch: Architecture) -> Architecture:
        """``arch`` with the classes and channels it is trained with (when known), for analytic counts."""
        return arch.model_copy(update=self.trained_shape) if self.trained_shape else arch

    def _row(self, params: dict[str, Any], outcome: Outcome | None, sid: str | None) -> dict[str, Any]:
        from nas_service.arch.profile import count_macs, count_params
        from nas_service.arch.scaling import compound_multipliers, flops_factor

        arch = self._counted(self._architecture(params))
        base = self._counted(self._architecture({"alpha": 1.0, "beta": 1.0, "gamma": 1.0, "phi": 0}))
        mult = compound_multipliers(params["alpha"], params["beta"], params["gamma"], params["phi"])
        macs, base_macs = count_macs(arch), count_macs(base)
        n_params, base_params = count_params(arch), count_params(base)
        return {
            "phi": params["phi"],
            "alpha": params["alpha"],
            "beta": params["beta"],
            "gamma": params["gamma"],
            "depth_multiplier": mult.depth,
            "width_multiplier": mult.width,
            "resolution_multiplier": mult.resolution_factor,
            "resolution": arch.resolution,
            "accuracy": outcome.accuracy if outcome else None,
            "latency_ms": outcome.latency_ms if outcome else None,
            "params": outcome.params if outcome and outcome.params is not None else n_params,
            "macs": outcome.macs if outcome and outcome.macs is not None else macs,
            # What the coefficients promise ((alpha * beta^2 * gamma^2) ** phi) and what the network as built
            # costs: at a small resolution, channel rounding and integer repeats/pixels make them differ.
            "flops_planned": round(flops_factor(params["alpha"], params["beta"], params["gamma"]) ** params["phi"], 4),
            "macs_ratio": round(macs / base_macs, 4) if base_macs else None,
            "params_ratio": round(n_params / base_params, 4) if base_params else None,
            "reward": self.objectives.reward_of(outcome) if outcome else None,
            "state": outcome.state if outcome else ("pending" if sid else "planned"),
            "suggestion_id": sid,
        }

    def _told_and_pending(self) -> list[tuple[dict[str, Any], Outcome | None, str]]:
        rows: list[tuple[dict[str, Any], Outcome | None, str]] = [
            (h["params"], Outcome.from_dict(h["outcome"]), h["suggestion_id"]) for h in self.history
        ]
        rows += [(p, None, sid) for sid, p in self._pending.items()]
        return rows

    def grid_table(self) -> list[dict[str, Any]]:
        """Step 1: one row per asked grid point (and the base), in ask order."""
        rows = [r for r in self._told_and_pending() if r[0]["phi"] <= 1]
        rows.sort(key=lambda r: r[2])
        return [self._row(p, o, sid) for p, o, sid in rows]

    def scaling_table(self) -> list[dict[str, Any]]:
        """The scaling result: one row per ``phi`` (0 = base when trained, then 1..max_phi) with the chosen
        coefficients; rows not trained yet have ``state`` ``planned``/``pending`` and analytic params/MACs.

        Row keys: phi, alpha, beta, gamma, depth_multiplier, width_multiplier, resolution_multiplier,
        resolution, accuracy, latency_ms, params, macs, flops_planned (``(alpha*beta^2*gamma^2)**phi``),
        macs_ratio and params_ratio (the network as built against the base), reward, state, suggestion_id.
        Empty until the coefficients are chosen.
        """
        if self.chosen is None:
            return []
        alpha, beta, gamma = self.chosen
        found: dict[int, tuple[dict[str, Any], Outcome | None, str]] = {}
        for p, o, sid in self._told_and_pending():
            if p["phi"] == 0 or (p["alpha"], p["beta"], p["gamma"]) == (alpha, beta, gamma):
                found[p["phi"]] = (p, o, sid)
        rows = []
        for phi in range(0, self.scaling.max_phi + 1):
            if phi in found:
                rows.append(self._row(*found[phi]))
            elif phi > 0:
                rows.append(self._row({"alpha": alpha, "beta": beta, "gamma": gamma, "phi": phi}, None, None))
        return rows

    # -- state ----------------------------------------------------------------------------------------------

    def _extra_state(self) -> dict[str, Any]:
        return {
            "pos1": self._pos1,
            "pos2": self._pos2,
            "chosen": list(self.chosen) if self.chosen else None,
            "chosen_note": self.chosen_note,
            "grid": [list(p) for p in self.grid],
            "base": self.base.model_dump(mode="json") if self.base is not None else None,
        }

    def _load_extra_state(self, extra: Mapping[str, Any]) -> None:
        if [tuple(p) for p in extra["grid"]] != self.grid:
            raise ValueError(
                "the coefficient grid changed since the state was saved (other scaling settings)"
            )
        self._pos1 = int(extra["pos1"])
        self._pos2 = int(extra["pos2"])
        chosen = extra.get("chosen")
        self.chosen = (float(chosen[0]), float(chosen[1]), float(chosen[2])) if chosen else None
        self.chosen_note = str(extra.get("chosen_note", ""))
        if extra.get("base") is not None:  # what was actually scaled (resolved trial id, proxy resolution)
            self.base = Architecture.model_validate(extra["base"])


def scaling_report(
    spec: JobSpec, saved_state: Mapping[str, Any] | None, history: Sequence[Told] = ()
) -> dict[str, Any]:
    """The result of a compound-scaling job, rebuilt from its saved state and its trials (no retraining).

    Args:
        spec: The job's spec (its ``scaling`` settings and strategy config recreate the planner).
        saved_state: What the dispatcher saved (``{"strategy": <state_dict>, ...}``), or ``None``.
        history: The told suggestions rebuilt from the job's trials
            (:func:`nas_service.orchestration.told_history`).

    Returns:
        ``{"chosen": {alpha, beta, gamma} | None, "note", "grid": [step-1 rows], "family": [phi rows]}``;
        empty tables until the planner has state.
    """
    from nas_service.strategies.registry import make_strategy

    empty: dict[str, Any] = {"chosen": None, "note": None, "grid": [], "family": []}
    if spec.scaling is None or (spec.kind != "scaling" and spec.strategy.name != "compound-scaling"):
        return {**empty, "note": "not a compound-scaling job"}
    if not saved_state or not isinstance(saved_state.get("strategy"), Mapping):
        return {**empty, "note": "no strategy state saved yet"}
    # The dispatcher runs every scaling job with compound scaling, whatever ``strategy.name`` says (its default
    # is "random"); rebuild the same planner.
    strategy = make_strategy(spec.strategy.model_copy(update={"name": "compound-scaling"}), None, scaling=spec.scaling)
    assert isinstance(strategy, CompoundScalingStrategy)
    strategy.load_state_dict(saved_state["strategy"], history)
    from nas_service.fitcheck import BUILTIN_DATASETS

    data = BUILTIN_DATASETS.get(spec.proxy.dataset)
    if data is not None:
        strategy.trained_shape = {"num_classes": data.classes, "in_channels": data.channels}
    chosen = strategy.chosen
    return {
        "chosen": dict(zip(("alpha", "beta", "gamma"), chosen, strict=True)) if chosen else None,
        "note": strategy.chosen_note or None,
        "grid": strategy.grid_table(),
        "family": strategy.scaling_table(),
    }
