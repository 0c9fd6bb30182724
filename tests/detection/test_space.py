"""The detection search space: parameters, sampling, decoding, cardinality and bad input."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from nas_service.arch import DetectionArchitecture, build_detector, profile_detection
from nas_service.detection.space import DetectionSearchSpace, shapes_detection_space
from nas_service.space import SpaceValidationError, get_space


def test_parameters_and_cardinality() -> None:
    space = shapes_detection_space()
    params = space.parameters()
    assert list(params)[-4:] == ["fpn_channels", "fpn_repeats", "head_repeats", "fpn_weighting"]
    assert "backbone.resolution" not in params and "backbone.s1.op" in params
    backbone_networks = space.backbone.cardinality() // len(space.backbone.resolutions)
    assert space.cardinality() == backbone_networks * 2 * 2 * 2 * 2


def test_sample_decode_build() -> None:
    space = shapes_detection_space()
    seen = set()
    for seed in range(4):
        params = space.sample(seed)
        assert space.canonicalize(params) == params
        spec = space.decode(params)
        assert isinstance(spec, DetectionArchitecture) and spec.resolution == 64 and spec.num_classes == 3
        assert spec.fpn_channels == params["fpn_channels"] and spec.fpn_weighting == params["fpn_weighting"]
        seen.add(spec.arch_hash())
    assert len(seen) == 4
    model = build_detector(spec)
    assert sum(p.numel() for p in model.parameters()) == profile_detection(spec).params


def test_bad_parameters_name_the_field() -> None:
    space = shapes_detection_space()
    params = space.sample(0)
    with pytest.raises(SpaceValidationError, match="fpn_channels: 7 is not one of"):
        space.decode({**params, "fpn_channels": 7})
    with pytest.raises(SpaceValidationError, match="bogus"):
        space.decode({**params, "bogus": 1})


def test_backbone_space_too_shallow() -> None:
    template = shapes_detection_space().template
    with pytest.raises(ValidationError, match="backbone: no stage ends at stride 8 for feature level P3"):
        DetectionSearchSpace(name="bad", backbone=get_space("tiny"), template=template)


def test_mutate_changes_active_parameters() -> None:
    space = shapes_detection_space()
    params = space.sample(3)
    for seed in range(5):
        child = space.mutate(params, seed, n_mutations=2)
        assert child == space.canonicalize(child) and child != params
        space.decode(child)
    with pytest.raises(ValueError, match="n_mutations"):
        space.mutate(params, 0, n_mutations=0)


@pytest.mark.parametrize("name", ["random", "evolution", "tpe"])
def test_strategies_drive_the_detection_space(name: str) -> None:
    """The existing strategies work on a detection space (ask/tell), the reward being mAP-based."""
    from nas_service.jobspec import StrategyConfig
    from nas_service.strategies import Outcome
    from nas_service.strategies.registry import make_strategy

    space = shapes_detection_space()
    strategy = make_strategy(StrategyConfig(name=name, seed=1), space)
    seen = []
    for _ in range(6):
        (suggestion,) = strategy.ask(1)
        spec = suggestion.architecture
        assert isinstance(spec, DetectionArchitecture) and spec == space.decode(suggestion.params)
        params = profile_detection(spec).params
        # A deterministic stand-in for the trained mAP: larger BiFPNs score higher, with latency ~ params.
        accuracy = min(1.0, spec.fpn_channels * spec.fpn_repeats / 100)
        strategy.tell(suggestion.suggestion_id, Outcome("completed", accuracy=accuracy, latency_ms=params / 1e5))
        seen.append(spec.arch_hash())
    assert len(set(seen)) >= 4
