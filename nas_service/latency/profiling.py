"""Measuring on a target: whole networks, their parts in isolation, and profiling a space into a predictor.

Every measurement goes through :func:`nas_service.latency.runners.measure_module` (the target's runtime, the
exclusive slot, the CV rule). Parts are cut out of the network the builder builds
(:func:`nas_service.arch.builder.build_model`), so a table entry times exactly the module the network runs.

This module imports torch (through the runners): workers and the CLI use it, never the API.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from nas_service.arch.builder import NasNet, build_model
from nas_service.arch.spec import Architecture
from nas_service.latency.lut import NetworkParts, Part, network_parts
from nas_service.latency.measure import MeasurementPolicy
from nas_service.latency.predictor import LatencyPredictor, accuracy_report
from nas_service.latency.runners import NetworkMeasurement, measure_module
from nas_service.latency.targets import LatencyTarget, target_settings

__all__ = ["ProfileReport", "fill_table", "measure_network", "part_modules", "profile_space"]

#: Parts are small and fast: time more runs of them than of a whole network, for the same precision.
PART_REPEATS_FACTOR = 2


class _Stem(nn.Module):
    def __init__(self, model: NasNet) -> None:
        super().__init__()
        self.conv_stem, self.bn1 = model.conv_stem, model.bn1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn1(self.conv_stem(x))


class _Head(nn.Module):
    """The network's head from the last block's output: head conv (before or after pooling) and classifier."""

    def __init__(self, model: NasNet) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.model.pre_pool:
            x = self.model.head(x)
        return self.model.forward_head(x)


def part_modules(arch: Architecture, parts: NetworkParts | None = None) -> dict[str, tuple[nn.Module, Part]]:
    """The module of every part of ``arch``, by table key (one module per key).

    Args:
        arch: The network as measured.
        parts: Its :func:`~nas_service.latency.lut.network_parts` (computed when not given).
    """
    parts = parts or network_parts(arch)
    model = build_model(arch).eval()
    blocks = [b for stage in model.blocks.children() for b in stage.children()]
    out: dict[str, tuple[nn.Module, Part]] = {}
    block_index = 0
    for part in parts.parts:
        if part.kind == "stem":
            module: nn.Module = _Stem(model)
        elif part.kind == "head":
            module = _Head(model)
        else:
            module = blocks[block_index]  # parts list the blocks in network order
            block_index += 1
        out.setdefault(part.key, (module, part))
    return out


def measure_network(
    arch: Architecture, target: LatencyTarget, policy: MeasurementPolicy | None = None
) -> NetworkMeasurement:
    """Build ``arch`` and measure it whole on ``target``."""
    model = build_model(arch)
    return measure_module(model, (arch.in_channels, arch.resolution, arch.resolution), target, policy)


def fill_table(
    predictor: LatencyPredictor,
    arch: Architecture,
    target: LatencyTarget,
    policy: MeasurementPolicy | None = None,
) -> int:
    """Measure the parts of ``arch`` the predictor's table lacks (in isolation, on ``target``) and add them.

    Returns:
        How many parts were measured.
    """
    parts = network_parts(arch)
    missing = predictor.missing(parts)
    if not missing:
        return 0
    part_target = target.model_copy(update={"repeats": target.repeats * PART_REPEATS_FACTOR})
    modules = part_modules(arch, parts)
    for part in missing:
        module, _ = modules[part.key]
        m = measure_module(module, part.in_shape, part_target, policy)
        predictor.add_part(part, m.median_ms)
    return len(missing)


@dataclass(frozen=True)
class ProfileReport:
    """What ``nas latency profile`` reports: accuracy on held-out networks.

    Attributes:
        within_10pct: Share of held-out networks predicted within +-10 %.
        mape: Mean absolute percentage error (a fraction).
        kendall_tau: Rank correlation of predicted and measured latency.
        n_train: Networks the correction was fitted on.
        n_test: Held-out networks.
        table_entries: Parts in the table.
        unstable: Whole-network measurements flagged unstable.
    """

    within_10pct: float
    mape: float
    kendall_tau: float
    n_train: int
    n_test: int
    table_entries: int
    unstable: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self.__dict__)


def sample_architectures(space: Any, n: int, seed: int = 0) -> list[Architecture]:
    """``n`` distinct networks sampled from a search space (fewer if the space is smaller)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[Architecture] = []
    for _ in range(n * 20):
        arch = space.decode(space.sample(rng))
        h = arch.arch_hash()
        if h not in seen:
            seen.add(h)
            out.append(arch)
            if len(out) == n:
                break
    return out


def profile_space(
    predictor: LatencyPredictor,
    target: LatencyTarget,
    archs: list[Architecture],
    test_fraction: float = 0.3,
    policy: MeasurementPolicy | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> ProfileReport:
    """Measure ``archs`` on ``target`` (parts and whole), fit on a split, score the held-out part, refit on all.

    The predictor is updated in place: its table gains every part, its samples every network, its correction
    is refitted on all of them, and its ``accuracy`` records the held-out score.

    Args:
        predictor: The target's predictor (possibly already holding a table and samples).
        target: The target measured on.
        archs: Networks to measure (``test_fraction`` of them, spread evenly over the run, are held out).
        test_fraction: Share held out from fitting.
        policy: Measurement policy.
        on_progress: Called with ``(done, total)`` after each network.

    Returns:
        The held-out accuracy.
    """
    if len(archs) < 2:
        raise ValueError("profiling needs at least 2 networks (some to fit, some to test)")
    predictor.settings = target_settings(target)
    measured: list[tuple[NetworkParts, str, float]] = []
    unstable = 0
    for i, arch in enumerate(archs):
        fill_table(predictor, arch, target, policy)
        m = measure_network(arch, target, policy)
        unstable += not m.stable
        measured.append((network_parts(arch), arch.arch_hash(), m.median_ms))
        if on_progress is not None:
            on_progress(i + 1, len(archs))
    n_test = max(1, round(len(measured) * test_fraction))
    # held-out networks spread evenly over the run (not the last ones): on a shared machine the load drifts,
    # and a test set measured last would score the drift, not the predictor
    test_idx = {round(i * (len(measured) - 1) / max(n_test - 1, 1)) for i in range(n_test)} if n_test > 1 else {0}
    train = [m for i, m in enumerate(measured) if i not in test_idx]
    test = [m for i, m in enumerate(measured) if i in test_idx]
    for parts, h, ms in train:
        predictor.observe(parts, h, ms, refit=False)
    predictor.fit()
    report = accuracy_report([predictor.predict_parts(p).predicted_ms for p, _, _ in test], [ms for _, _, ms in test])
    for parts, h, ms in test:
        predictor.observe(parts, h, ms, refit=False)
    predictor.fit()
    result = ProfileReport(
        within_10pct=report["within_10pct"],
        mape=report["mape"],
        kendall_tau=report["kendall_tau"],
        n_train=len(train),
        n_test=len(test),
        table_entries=len(predictor.table),
        unstable=unstable,
    )
    predictor.accuracy = result.to_dict()
    return result
