"""Preset search spaces and their registry.

- ``mnasnet``: MnasNet's factorized hierarchical space over a MnasNet-A1-like 7-stage ImageNet skeleton.
- ``mixnet``: MixNet-like space of MDConv stages (mixed kernel sets, channel partition, ReLU/swish).
- ``digits``: a scaled-down MnasNet-like space for the offline proxy task (scikit-learn digits at 16-32 px).
- ``tiny``: 48 networks, for tests and grid-search demos.
"""

from __future__ import annotations

from collections.abc import Callable

from nas_service.arch.spec import HeadSpec, StemSpec
from nas_service.space._model import SearchSpace, SkeletonSpec, StageChoices

_MNAS_WIDTHS = (0.75, 1.0, 1.25)


def _stem(channels: int, stride: int) -> StemSpec:
    return StemSpec.model_validate({"out_channels": channels, "stride": stride})


def _head(features: int) -> HeadSpec:
    return HeadSpec.model_validate({"num_features": features})


def _widths(channels: int, candidates: tuple[float, ...] = _MNAS_WIDTHS) -> list[float]:
    """The candidates that give distinct channel counts (x0.75 of 16 or 24 rounds back to the base)."""
    out: list[float] = []
    seen: set[int] = set()
    for w in sorted(candidates, key=lambda w: (w != 1.0, w)):
        stage = StageChoices(out_channels=channels, width_multipliers=[w])
        if stage.channels(w) not in seen:
            seen.add(stage.channels(w))
            out.append(w)
    return sorted(out)


def mnasnet_space() -> SearchSpace:
    """MnasNet's search space (Tan et al., 2019) around a MnasNet-A1-like skeleton, ReLU, 224 px.

    Every stage searches kernel 3/5, expansion 3/6, SE 0/0.25, repeats -1/0/+1, width x0.75/1.0/1.25 and skip.
    Widths that round back to the base channels are left out (x0.75 of 16 and of 24 is 16 and 24 again), and
    the first stage (one block) can only grow in depth.
    """

    def stage(c: int, r: int, s: int) -> StageChoices:
        return StageChoices(
            out_channels=c,
            repeats=r,
            stride=s,
            kernels=[3, 5],
            expansions=[3.0, 6.0],
            se_ratios=[0.0, 0.25],
            repeat_deltas=[-1, 0, 1] if r > 1 else [0, 1],
            width_multipliers=_widths(c),
            skip=[True, False],
        )

    return SearchSpace(
        name="mnasnet",
        description="MnasNet factorized hierarchical space: 7 MBConv stages, ImageNet 224 px.",
        skeleton=SkeletonSpec(stem=_stem(32, 2), head=_head(1280), act="relu", num_classes=1000),
        stages=[
            stage(16, 1, 1),
            stage(24, 2, 2),
            stage(40, 3, 2),
            stage(80, 4, 2),
            stage(112, 2, 1),
            stage(160, 3, 2),
            stage(320, 1, 1),
        ],
        resolutions=[224],
    )


def mixnet_space() -> SearchSpace:
    """MixNet-like space (Tan & Le, 2019) around a MixNet-S-like skeleton.

    The first stage is a fixed depthwise-separable block; the other five search the MDConv kernel set
    ([3], [3,5], [3,5,7], [3,5,7,9]), the channel partition, expansion 3/6, SE 0/0.25, depth and ReLU/swish.
    """

    def stage(c: int, r: int, s: int) -> StageChoices:
        return StageChoices(
            out_channels=c,
            repeats=r,
            stride=s,
            ops=["mdconv"],
            mixed_kernels=[[3], [3, 5], [3, 5, 7], [3, 5, 7, 9]],
            partition=["equal", "exponential"],
            expansions=[3.0, 6.0],
            se_ratios=[0.0, 0.25],
            repeat_deltas=[-1, 0, 1],
            activations=["relu", "swish"],
        )

    return SearchSpace(
        name="mixnet",
        description="MixNet-like space: MDConv stages with mixed kernel sets, ImageNet 224 px.",
        skeleton=SkeletonSpec(stem=_stem(16, 2), head=_head(1536), act="relu", num_classes=1000),
        stages=[
            StageChoices(out_channels=16, repeats=1, stride=1, ops=["ds"]),
            stage(24, 2, 2),
            stage(40, 4, 2),
            stage(80, 3, 2),
            stage(120, 3, 1),
            stage(200, 3, 2),
        ],
        resolutions=[224],
    )


def digits_space() -> SearchSpace:
    """A small MnasNet-like space for the offline proxy task: 10 classes, 16/24/32 px, 16-48 channels.

    Candidates have roughly 20k-200k parameters and train in seconds on one CPU thread. The stem stride (1 or
    2) is searched too; the first stage picks between a depthwise-separable block and an MBConv.
    """

    def stage(c: int, s: int) -> StageChoices:
        return StageChoices(
            out_channels=c,
            repeats=2,
            stride=s,
            kernels=[3, 5],
            expansions=[3.0, 6.0],
            se_ratios=[0.0, 0.25],
            repeat_deltas=[-1, 0, 1],
            width_multipliers=_widths(c),
        )

    return SearchSpace(
        name="digits",
        description="Scaled-down MnasNet-like space for scikit-learn digits (upsampled to 16-32 px).",
        skeleton=SkeletonSpec(
            stem=_stem(16, 2),
            head=_head(128),
            act="relu",
            num_classes=10,
            dropout=0.1,
        ),
        stages=[
            StageChoices(
                out_channels=16,
                repeats=1,
                stride=1,
                ops=["ds", "mbconv"],
                kernels=[3, 5],
                expansions=[3.0, 6.0],
                se_ratios=[0.0, 0.25],
            ),
            stage(24, 2),
            stage(32, 2),
            stage(40, 2),
        ],
        resolutions=[16, 24, 32],
        stem_strides=[1, 2],
    )


def tiny_space() -> SearchSpace:
    """48 small networks (two stages, two resolutions) for tests and grid-search demos.

    Exercises every kind of conditional choice: ops mbconv/ds/conv with kernels and expansions in the first
    stage, an MDConv with both partitions in the second, and two resolutions.
    """
    return SearchSpace(
        name="tiny",
        description="Two-stage toy space of 48 networks, for tests and grid search.",
        skeleton=SkeletonSpec(stem=_stem(8, 2), head=_head(32), act="relu", num_classes=10),
        stages=[
            StageChoices(
                out_channels=8,
                repeats=1,
                stride=1,
                ops=["mbconv", "ds", "conv"],
                kernels=[3, 5],
                expansions=[3.0, 6.0],
            ),
            StageChoices(
                out_channels=16,
                repeats=1,
                stride=2,
                ops=["mbconv", "mdconv"],
                kernels=[3],
                mixed_kernels=[[3, 5]],
                partition=["equal", "exponential"],
                expansions=[3.0],
            ),
        ],
        resolutions=[16, 24],
    )


_SPACES: dict[str, Callable[[], SearchSpace]] = {
    "digits": digits_space,
    "mixnet": mixnet_space,
    "mnasnet": mnasnet_space,
    "tiny": tiny_space,
}


def list_spaces() -> list[str]:
    """Names of the preset spaces, sorted."""
    return sorted(_SPACES)


def get_space(name: str) -> SearchSpace:
    """A preset space by name.

    Raises:
        KeyError: Unknown name; the message lists the presets.
    """
    try:
        factory = _SPACES[name]
    except KeyError:
        raise KeyError(f"unknown search space {name!r}; presets: {', '.join(list_spaces())}") from None
    return factory()


def load_space(source: str) -> SearchSpace:
    """A preset name, or the path of a JSON/YAML space file.

    Raises:
        SpaceValidationError: The file is unreadable or invalid.
        KeyError: Neither a preset nor an existing file.
    """
    from pathlib import Path

    if source in _SPACES:
        return get_space(source)
    path = Path(source)
    if path.is_file():
        return SearchSpace.from_file(path)
    if path.suffix.lower() in (".json", ".yaml", ".yml") or "/" in source:
        raise KeyError(f"no such file: {source}")
    raise KeyError(f"{source!r} is neither a preset space ({', '.join(list_spaces())}) nor a file")
