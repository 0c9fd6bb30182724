"""Detection tests: one torch thread (the box is shared) and a tiny detector factory."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nas_service.arch import Architecture, DetectionArchitecture


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    import torch

    torch.set_num_threads(1)


TINY_BACKBONE = [
    ["ds_r1_k3_s1_c8"],
    ["ir_r1_k3_s2_e3_c16"],
    ["ir_r1_k3_s2_e3_c24"],
    ["ir_r1_k3_s2_e3_c32"],
    ["ir_r1_k3_s2_e3_c48"],
]


def make_tiny_detector(num_classes: int = 3) -> DetectionArchitecture:
    backbone = Architecture.from_block_strings(TINY_BACKBONE, stem={"out_channels": 8})
    return DetectionArchitecture(
        backbone=backbone,
        max_level=6,
        fpn_channels=16,
        fpn_repeats=1,
        head_repeats=1,
        num_classes=num_classes,
        resolution=64,
        anchor_scale=3.0,
    )


@pytest.fixture
def tiny_detector() -> Callable[..., DetectionArchitecture]:
    """A factory of a ~30k-parameter detector at 64 px (P3-P6), for training tests."""
    return make_tiny_detector
