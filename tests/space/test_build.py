"""Decoded samples are buildable networks (needs torch; the rest of the space tests do not)."""

from __future__ import annotations

import pytest

from nas_service.space import get_space

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("space_name", ["digits", "tiny"])
def test_samples_build_and_run_forward(space_name: str) -> None:
    from nas_service.arch import build_model, count_params

    torch.set_num_threads(1)
    space = get_space(space_name)
    for seed in range(3):
        arch = space.decode(space.sample(seed))
        model = build_model(arch).eval()
        with torch.no_grad():
            out = model(torch.zeros(1, 3, 32, 32))
        assert out.shape == (1, arch.num_classes)
        assert sum(p.numel() for p in model.parameters()) == count_params(arch)
