"""A detection job's settings and candidate sources (pure Python): the named spaces, the grid over a detection
space, the scaling family's proxy resolutions, and the strategies that walk them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from nas_service.detection.job import (
    DetectionScalingConfig,
    DetectionScalingSpace,
    get_detection_space,
    trained_resolution,
)
from nas_service.detection.space import DetectionSearchSpace, shapes_detection_space
from nas_service.jobspec import JobSpec, StrategyConfig
from nas_service.strategies.registry import make_strategy


def _small_space() -> DetectionSearchSpace:
    """The shapes space with one backbone choice left open (stage 1's kernel) and two BiFPN widths."""
    doc: dict[str, Any] = shapes_detection_space().model_dump(mode="json")
    for stage in doc["backbone"]["stages"][1:]:
        stage.update(ops=["mbconv"], expansions=[3.0], se_ratios=[0.0], kernels=[3])
        stage.pop("mixed_kernels")
    doc["backbone"]["stages"][1]["kernels"] = [3, 5]
    doc.update(fpn_channels=[16, 32], fpn_repeats=[1], head_repeats=[1], fpn_weighting=["fast"])
    return DetectionSearchSpace.model_validate(doc)


def test_the_grid_visits_every_detector_once() -> None:
    space = _small_space()
    points = list(space.grid())
    assert len(points) == space.cardinality() == 4
    assert len({space.decode(p).arch_hash() for p in points}) == 4
    with pytest.raises(ValueError, match="over max_points"):
        space.grid(max_points=3)


def test_grid_search_over_a_detection_space_runs_out() -> None:
    strategy = make_strategy(StrategyConfig(name="grid"), _small_space())  # type: ignore[arg-type]
    asked = strategy.ask(10)
    assert len(asked) == 4 and strategy.is_exhausted()


def test_the_registered_space_and_an_unknown_one() -> None:
    assert get_detection_space("detection-shapes").name == "shapes-detection"
    with pytest.raises(KeyError, match="detection-shapes"):
        get_detection_space("nope")


@pytest.mark.parametrize(
    ("resolution", "base", "proxy", "level", "expected"),
    [(512, 512, 128, 7, 128), (640, 512, 128, 7, 128), (1024, 512, 128, 7, 256), (80, 64, 64, 6, 64)],
)
def test_trained_resolution_keeps_the_ratio_on_the_level_grid(
    resolution: int, base: int, proxy: int, level: int, expected: int
) -> None:
    assert trained_resolution(resolution, base, proxy, level) == expected


def test_the_table_family_walks_d0_to_d2_at_proxy_resolutions() -> None:
    family = DetectionScalingSpace(DetectionScalingConfig(phis=[0, 1, 2]), 256)
    nets = [family.decode(p) for p in family.grid()]
    assert [n.name for n in nets] == ["efficientdet_d0", "efficientdet_d1", "efficientdet_d2"]
    assert [n.fpn_channels for n in nets] == [64, 88, 112] and [n.resolution for n in nets] == [256, 384, 384]
    strategy = make_strategy(StrategyConfig(name="grid"), family)  # type: ignore[arg-type]
    assert [s.params for s in strategy.ask(5)] == [{"phi": 0}, {"phi": 1}, {"phi": 2}]


def test_the_formula_family_of_a_preset_base() -> None:
    config = DetectionScalingConfig(rule="formula", base="efficientdet_d0", phis=[0, 3])  # type: ignore[arg-type]
    assert config.base is not None and config.base.name == "efficientdet_d0"
    d3 = config.network(3)
    assert (d3.fpn_channels, d3.fpn_repeats, d3.head_repeats, d3.resolution) == (160, 6, 4, 896)
    with pytest.raises(ValidationError, match="unknown detector preset"):
        DetectionScalingConfig(rule="formula", base="efficientdet_d9")  # type: ignore[arg-type]


def test_detection_compound_scaling_is_a_scaling_job() -> None:
    with pytest.raises(ValidationError, match="kind: scaling"):
        JobSpec.model_validate({"task": "detection", "strategy": {"name": "compound-scaling"}})
    spec = JobSpec.model_validate({"task": "detection"})
    assert spec.detection is not None and spec.detection.space == "detection-shapes"


@pytest.mark.parametrize(
    ("name", "settings"),
    [
        ("random", {}),
        ("evolution", {"population": 4, "sample_size": 2}),
        ("tpe", {"n_startup_trials": 2}),
        ("nsga2", {"population_size": 4}),
        ("mnas-rl", {}),
    ],
)
def test_every_search_strategy_asks_detectors(name: str, settings: dict[str, Any]) -> None:
    from nas_service.arch.detection import DetectionArchitecture
    from nas_service.strategies import Outcome

    strategy = make_strategy(StrategyConfig(name=name, settings=settings), shapes_detection_space())  # type: ignore[arg-type]
    for round_ in range(3):  # past the random start-up of the model-based ones
        asked = strategy.ask(2)
        assert asked and all(isinstance(s.architecture, DetectionArchitecture) for s in asked)
        for s in asked:
            strategy.tell(s.suggestion_id, Outcome(state="completed", accuracy=0.1 * round_, latency_ms=5.0))
