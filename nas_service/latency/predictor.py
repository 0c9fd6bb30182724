"""A latency predictor per target: a lookup table of isolated parts, summed, plus a learned correction.

The table (MnasNet/FBNet/OFA style) holds the latency of every stem, block and head measured in isolation at
its exact input shape on the target (:mod:`nas_service.latency.lut` names them). A network's table sum misses
what isolation changes (per-call overhead counted once per part, cache effects between parts), so a linear
correction is fitted on whole-network measurements of the same target::

    predicted = w0 + w1 * table_sum + w2 * parts + w3 * MMACs

by least squares weighted by ``1 / measured**2`` (relative error is what matters; scikit-learn's
``LinearRegression``). The fit is stored as plain numbers, so a prediction is a table look-up and a dot
product (no scikit-learn at query time). The uncertainty is the relative residual spread of the fit.

It keeps learning: :meth:`LatencyPredictor.observe` adds a whole-network measurement (first scoring the
prediction it would have made: the *online* accuracy) and refits. A part missing from the table is either
measured on demand by the caller (:func:`nas_service.latency.profiling.fill_table`) or, where the caller
cannot measure (the API), estimated from the table's own parts of that kind by MACs, with a wider uncertainty.

The whole predictor is a JSON document (:meth:`to_dict` / :meth:`from_dict`) stored per target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nas_service.latency.lut import NetworkParts, Part

__all__ = ["LatencyPredictor", "NetworkSample", "Prediction", "accuracy_report"]

#: Whole-network samples kept per target (the oldest are dropped beyond this).
MAX_SAMPLES = 5000
#: Relative uncertainty before any whole network was measured (the table sum alone).
PRIOR_UNCERTAINTY = 0.25
FEATURES = ("table_ms", "parts", "mmacs")


@dataclass(frozen=True)
class Prediction:
    """A predicted latency.

    Attributes:
        predicted_ms: The prediction.
        uncertainty_ms: One standard deviation of its error (relative residual spread of the fit).
        table_ms: The table sum alone.
        missing_parts: Parts not in the table (estimated from MACs: a wider uncertainty).
    """

    predicted_ms: float
    uncertainty_ms: float
    table_ms: float
    missing_parts: int = 0


@dataclass(frozen=True)
class NetworkSample:
    """A whole-network measurement the correction learns from."""

    arch_hash: str
    keys: tuple[str, ...]
    mmacs: float
    measured_ms: float

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"arch_hash": self.arch_hash, "keys": list(self.keys), "mmacs": self.mmacs, "ms": self.measured_ms}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NetworkSample:
        """From :meth:`to_dict`."""
        return cls(str(data["arch_hash"]), tuple(data["keys"]), float(data["mmacs"]), float(data["ms"]))


def accuracy_report(predicted: Sequence[float], measured: Sequence[float]) -> dict[str, float]:
    """Share within +-10 %, MAPE and Kendall's tau of predictions against measurements.

    Args:
        predicted: Predicted latencies.
        measured: Measured latencies of the same networks (positive).

    Returns:
        ``{"within_10pct", "mape", "kendall_tau", "n"}`` (``within_10pct`` and ``mape`` as fractions).
    """
    if len(predicted) != len(measured) or not measured:
        raise ValueError("need as many predictions as measurements, at least one")
    rel = [abs(p - m) / m for p, m in zip(predicted, measured, strict=True)]
    tau = float("nan")
    if len(measured) >= 2:
        from scipy.stats import kendalltau

        tau = float(kendalltau(predicted, measured).statistic)
    return {
        "within_10pct": sum(r <= 0.10 for r in rel) / len(rel),
        "mape": sum(rel) / len(rel),
        "kendall_tau": tau if math.isfinite(tau) else 0.0,
        "n": float(len(rel)),
    }


@dataclass
class LatencyPredictor:
    """The table and correction of one target (see the module docstring).

    Attributes:
        target: The target's name.
        settings: :func:`~nas_service.latency.targets.target_settings` it was measured with (a predictor whose
            target settings changed is stale).
        table: Part key to isolated latency (ms).
        part_macs: Part key to its MACs (estimates parts the caller cannot measure).
        samples: Whole-network measurements.
        coef: Correction weights ``(w0, w1, w2, w3)``; ``None`` until fitted.
        rel_std: Relative residual spread of the fit.
        accuracy: The last held-out evaluation (``nas latency profile``).
        online: Running score of predictions made before each new measurement: ``n``, ``within_10pct``, ``mape``.
    """

    target: str
    settings: dict[str, Any] = field(default_factory=dict)
    table: dict[str, float] = field(default_factory=dict)
    part_macs: dict[str, int] = field(default_factory=dict)
    samples: list[NetworkSample] = field(default_factory=list)
    coef: tuple[float, float, float, float] | None = None
    rel_std: float = PRIOR_UNCERTAINTY
    accuracy: dict[str, Any] = field(default_factory=dict)
    online: dict[str, float] = field(default_factory=lambda: {"n": 0.0, "within_10pct": 0.0, "mape": 0.0})

    # ------------------------------------------------------------------ prediction
    def missing(self, parts: NetworkParts) -> list[Part]:
        """The parts of ``parts`` not yet in the table (each key once)."""
        seen: set[str] = set()
        out = []
        for p in parts.parts:
            if p.key not in self.table and p.key not in seen:
                seen.add(p.key)
                out.append(p)
        return out

    def _estimate_part(self, part: Part) -> float:
        """A part's latency from the table's parts of the same kind, scaled by MACs (it cannot be measured here).

        The kind's measured parts give a cost per MAC plus a fixed per-part cost (a least-squares line when
        there are enough, else the mean); a kind with no entry at all borrows from every entry.
        """
        kind = part.key.split("|", 1)[0]
        same = [(self.part_macs.get(k, 0), v) for k, v in self.table.items() if k.split("|", 1)[0] == kind]
        same = same or [(self.part_macs.get(k, 0), v) for k, v in self.table.items()]
        if not same:
            return 0.0
        n = len(same)
        mean_x = sum(x for x, _ in same) / n
        mean_y = sum(y for _, y in same) / n
        var = sum((x - mean_x) ** 2 for x, _ in same)
        if n < 3 or var <= 0:
            return mean_y
        slope = max(sum((x - mean_x) * (y - mean_y) for x, y in same) / var, 0.0)
        return max(mean_y + slope * (part.macs - mean_x), min(y for _, y in same))

    def add_part(self, part: Part, ms: float) -> None:
        """Put a part measured in isolation into the table."""
        self.table[part.key] = float(ms)
        self.part_macs[part.key] = int(part.macs)

    def table_sum(self, parts: NetworkParts) -> tuple[float, int]:
        """Sum of the parts' table latencies and how many parts had to be estimated."""
        total, missing = 0.0, 0
        table = self.table
        for p in parts.parts:
            value = table.get(p.key)
            if value is None:
                value = self._estimate_part(p)
                missing += 1
            total += value
        return total, missing

    def predict_parts(self, parts: NetworkParts) -> Prediction:
        """Predict a network from its parts."""
        table_ms, missing = self.table_sum(parts)
        predicted = self._correct(table_ms, len(parts.parts), parts.macs / 1e6)
        rel = self.rel_std + (0.5 * missing / max(len(parts.parts), 1))
        return Prediction(max(predicted, 1e-6), max(predicted, 1e-6) * rel, table_ms, missing)

    def _correct(self, table_ms: float, n_parts: int, mmacs: float) -> float:
        if self.coef is None:
            return table_ms
        w0, w1, w2, w3 = self.coef
        value = w0 + w1 * table_ms + w2 * n_parts + w3 * mmacs
        # a linear fit extrapolates badly far outside its data: never below a third of the table sum
        return max(value, table_ms / 3.0)

    # ------------------------------------------------------------------ learning
    def _row(self, sample: NetworkSample) -> list[float] | None:
        try:
            table_ms = sum(self.table[k] for k in sample.keys)
        except KeyError:
            return None
        return [table_ms, float(len(sample.keys)), sample.mmacs]

    def fit(self, samples: Sequence[NetworkSample] | None = None) -> None:
        """Fit the correction on ``samples`` (default: every stored sample whose parts are all in the table)."""
        rows, ys = [], []
        for s in self.samples if samples is None else samples:
            row = self._row(s)
            if row is not None:
                rows.append(row)
                ys.append(s.measured_ms)
        if len(rows) < 4:
            self.coef, self.rel_std = None, PRIOR_UNCERTAINTY
            return
        from sklearn.linear_model import LinearRegression

        model = LinearRegression().fit(rows, ys, sample_weight=[1.0 / (y * y) for y in ys])
        self.coef = (float(model.intercept_), *(float(c) for c in model.coef_))  # type: ignore[assignment]
        rel = [(self._correct(r[0], int(r[1]), r[2]) - y) / y for r, y in zip(rows, ys, strict=True)]
        spread = math.sqrt(sum(e * e for e in rel) / len(rel))
        # few samples understate the spread: inflate by sqrt(n / (n - p))
        self.rel_std = max(spread * math.sqrt(len(rel) / max(len(rel) - 4, 1)), 0.005)

    def observe(self, parts: NetworkParts, arch_hash: str, measured_ms: float, refit: bool = True) -> None:
        """Learn from a whole-network measurement: score the prediction first (online accuracy), then refit.

        Args:
            parts: The measured network's parts (all in the table for the sample to be used in fits).
            arch_hash: The network's hash (a re-measured network replaces its earlier sample).
            measured_ms: The measured median latency.
            refit: Refit the correction now.
        """
        if self.coef is not None and not self.missing(parts):
            err = abs(self.predict_parts(parts).predicted_ms - measured_ms) / measured_ms
            n = self.online["n"]
            self.online = {
                "n": n + 1,
                "within_10pct": (self.online["within_10pct"] * n + (err <= 0.10)) / (n + 1),
                "mape": (self.online["mape"] * n + err) / (n + 1),
            }
        self.samples = [s for s in self.samples if s.arch_hash != arch_hash]
        self.samples.append(NetworkSample(arch_hash, tuple(parts.keys), parts.macs / 1e6, measured_ms))
        del self.samples[:-MAX_SAMPLES]
        if refit:
            self.fit()

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, Any]:
        """The JSON document stored per target."""
        return {
            "target": self.target,
            "settings": dict(self.settings),
            "features": list(FEATURES),
            "table": dict(self.table),
            "part_macs": dict(self.part_macs),
            "samples": [s.to_dict() for s in self.samples],
            "coef": list(self.coef) if self.coef is not None else None,
            "rel_std": self.rel_std,
            "accuracy": dict(self.accuracy),
            "online": dict(self.online),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatencyPredictor:
        """From :meth:`to_dict`."""
        coef = data.get("coef")
        return cls(
            target=str(data["target"]),
            settings=dict(data.get("settings") or {}),
            table={str(k): float(v) for k, v in (data.get("table") or {}).items()},
            part_macs={str(k): int(v) for k, v in (data.get("part_macs") or {}).items()},
            samples=[NetworkSample.from_dict(s) for s in data.get("samples") or []],
            coef=tuple(float(c) for c in coef) if coef else None,  # type: ignore[arg-type]
            rel_std=float(data.get("rel_std", PRIOR_UNCERTAINTY)),
            accuracy=dict(data.get("accuracy") or {}),
            online=dict(data.get("online") or {"n": 0.0, "within_10pct": 0.0, "mape": 0.0}),
        )

    def summary(self) -> dict[str, Any]:
        """What the API shows of a predictor (no table, no samples)."""
        return {
            "target": self.target,
            "table_entries": len(self.table),
            "networks": len(self.samples),
            "fitted": self.coef is not None,
            "rel_uncertainty": self.rel_std,
            "accuracy": dict(self.accuracy),
            "online": dict(self.online),
        }
