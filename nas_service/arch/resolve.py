"""Resolve an :class:`Architecture` into concrete layers: every block with its channels, stride and SE width.

This is the single place where width and depth multipliers, the hidden-width rule and the SE conventions are
applied; the PyTorch builder (:mod:`nas_service.arch.builder`) and the analytic counter
(:mod:`nas_service.arch.profile`) both read its output, so they cannot disagree. Pure Python, no torch.

Rules (those of the EfficientNet family as implemented in timm):

* Output channels of the stem (if ``stem.scale``), of every block and of the head (if ``head.scale``) go
  through :func:`round_channels` with ``width_multiplier``. At a multiplier of exactly 1.0 widths are kept as
  written (timm would round them to multiples of 8; the published presets are multiples of 8 anyway).
* Repeats are scaled per stage with :func:`scale_stage_depth`; only the first repeat of a block string keeps
  its stride.
* ``ir`` hidden width: ``make_divisible(in * expansion)``. ``ds`` blocks have no expansion (their
  ``expansion`` is ignored, as are their ``exp_kernel_sizes``).
* SE reduce width, EfficientNet/MnasNet/MixNet convention (``se_from_expanded=False``): computed from the
  block *input* width, ``round(mid * (se_ratio / expansion))`` (Python rounding, exactly as timm).
  MobileNetV3 convention (``se_from_expanded=True``): ``make_divisible(mid * se_ratio, 8)``.
* Residual: ``ds``/``ir`` blocks add their input when stride is 1, widths match and ``skip`` is set. ``cn``
  blocks never do (timm only adds one on an explicit ``skip`` token, which the grammar here does not have).
* Stochastic depth grows linearly with the block index: ``drop_path * index / num_blocks``.
"""

from __future__ import annotations

from dataclasses import dataclass

from nas_service.arch.scaling import make_divisible, round_channels, scale_stage_depth
from nas_service.arch.spec import Activation, Architecture, BlockSpec, BlockType


@dataclass(frozen=True)
class ResolvedBlock:
    """One concrete block after scaling.

    Attributes:
        stage: Stage index.
        index: Global block index (over all stages).
        spec_index: Index of the block string within its stage that produced this block.
        type: ``ds``, ``ir`` or ``cn``.
        in_channels: Input channels.
        out_channels: Output channels.
        mid_channels: Width of the depthwise conv (``ir``: expanded width; ``ds``: input width; ``cn``:
        output).
        stride: Stride of the block.
        kernel_sizes: Kernel sizes of the depthwise conv (of the conv for ``cn``).
        exp_kernel_sizes: Kernel sizes of the expansion conv groups (``ir`` only).
        pw_kernel_sizes: Kernel sizes of the projection conv groups.
        dilation: Dilation of the depthwise conv.
        se_channels: SE reduce width, ``0`` for no SE.
        act: Activation of the block.
        has_skip: Whether the block adds its input.
        drop_path: Stochastic-depth rate of the block.
        exponential_partition: MDConv channels split exponentially.
        in_size: Input spatial size (square).
        out_size: Output spatial size.
    """

    stage: int
    index: int
    spec_index: int
    type: BlockType
    in_channels: int
    out_channels: int
    mid_channels: int
    stride: int
    kernel_sizes: tuple[int, ...]
    exp_kernel_sizes: tuple[int, ...]
    pw_kernel_sizes: tuple[int, ...]
    dilation: int
    se_channels: int
    act: Activation
    has_skip: bool
    drop_path: float
    exponential_partition: bool
    in_size: int
    out_size: int


@dataclass(frozen=True)
class ResolvedNetwork:
    """A whole network after scaling: stem, blocks, head, at one input resolution."""

    in_channels: int
    resolution: int
    stem_channels: int
    stem_kernel: int
    stem_stride: int
    stem_act: Activation
    stem_out_size: int
    blocks: tuple[ResolvedBlock, ...]
    head_kind: str
    head_in_channels: int
    num_features: int
    head_act: Activation
    num_classes: int
    dropout: float
    se_gate: str
    se_act: Activation | None
    bn_eps: float
    bn_momentum: float

    @property
    def classifier_in(self) -> int:
        """Width entering the classifier (the head conv width, or the last block's width without one)."""
        return self.num_features if self.num_features > 0 else self.head_in_channels

    @property
    def num_stages(self) -> int:
        """Number of stages."""
        return 1 + max((b.stage for b in self.blocks), default=-1)


def conv_out_size(size: int, kernel: int, stride: int, dilation: int = 1) -> int:
    """Output size of a conv with symmetric padding ``dilation * (kernel // 2)``."""
    pad = dilation * (kernel // 2)
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def split_channels(channels: int, groups: int, exponential: bool = False) -> list[int]:
    """Split ``channels`` into ``groups`` for an MDConv / grouped 1x1 conv.

    Equal split: ``channels // groups`` each, the remainder going to the first group (timm / TF MixNet).
    Exponential split (MixConv paper): group ``i`` gets ``channels // 2**(i + 1)``, the last group the rest,
    so the smallest kernels get the most channels.

    Raises:
        ValueError: If a group would get no channels.
    """
    if groups < 1:
        raise ValueError(f"groups must be positive, got {groups}")
    if exponential and groups > 1:
        sizes = [channels // 2 ** (i + 1) for i in range(groups - 1)]
        sizes.append(channels - sum(sizes))
    else:
        sizes = [channels // groups] * groups
        sizes[0] += channels - sum(sizes)
    if min(sizes) < 1:
        kind = "exponential" if exponential else "equal"
        raise ValueError(f"cannot split {channels} channels into {groups} groups ({kind} partition: {sizes})")
    return sizes


def se_reduce_channels(mid_channels: int, expansion: float, se_ratio: float, from_expanded: bool) -> int:
    """SE reduce width under either convention (see the module docstring).

    Args:
        mid_channels: Width the SE acts on (the expanded width of an ``ir`` block, the input of a ``ds``).
        expansion: Expansion ratio of the block (1 for ``ds``).
        se_ratio: SE ratio.
        from_expanded: MobileNetV3 convention (``make_divisible(mid * se_ratio, 8)``); otherwise the ratio is
            relative to the block input, written as ``round(mid * (se_ratio / expansion))`` so that the float
            rounding matches timm's exactly.

    Returns:
        The reduce width (at least 1).
    """
    if from_expanded:
        return make_divisible(mid_channels * se_ratio, 8)
    return max(1, round(mid_channels * (se_ratio / expansion)))


def _check_splits(spec: BlockSpec, in_ch: int, mid: int, out_ch: int) -> None:
    if spec.type == "cn":
        split_channels(in_ch, len(spec.kernel_sizes))
        split_channels(out_ch, len(spec.kernel_sizes))
        return
    split_channels(mid, len(spec.kernel_sizes), spec.exponential_partition)
    split_channels(mid, len(spec.pw_kernel_sizes))
    split_channels(out_ch, len(spec.pw_kernel_sizes))
    if spec.type == "ir":
        split_channels(in_ch, len(spec.exp_kernel_sizes))
        split_channels(mid, len(spec.exp_kernel_sizes))


def _width(channels: int, multiplier: float) -> int:
    return channels if multiplier == 1.0 else round_channels(channels, multiplier)


def _expand_stage(stage: list[BlockSpec], arch: Architecture) -> list[tuple[int, BlockSpec]]:
    repeats = scale_stage_depth([b.repeats for b in stage], arch.depth_multiplier, arch.depth_trunc)
    out: list[tuple[int, BlockSpec]] = []
    for spec_index, (spec, n) in enumerate(zip(stage, repeats, strict=True)):
        out.extend((spec_index, spec) for _ in range(n))
    return out


def resolve_architecture(arch: Architecture, resolution: int | None = None) -> ResolvedNetwork:
    """Resolve ``arch`` into concrete layers.

    Args:
        arch: The architecture.
        resolution: Input resolution (defaults to ``arch.resolution``); only affects the spatial sizes.

    Returns:
        The resolved network.

    Raises:
        ValueError: For a block the builder cannot make (SE on a ``cn`` block, an MDConv split leaving a group
            without channels).
    """
    size = arch.resolution if resolution is None else resolution
    wm = arch.width_multiplier
    stem_ch = _width(arch.stem.out_channels, wm) if arch.stem.scale else arch.stem.out_channels
    stem_size = conv_out_size(size, arch.stem.kernel_size, arch.stem.stride)
    expanded = [_expand_stage(stage, arch) for stage in arch.stages]
    total = sum(len(s) for s in expanded)

    blocks: list[ResolvedBlock] = []
    in_ch, cur = stem_ch, stem_size
    for stage_idx, stage in enumerate(expanded):
        for rep, (spec_index, spec) in enumerate(stage):
            # Only the first repeat of each block string is strided.
            first = rep == 0 or stage[rep - 1][0] != spec_index
            stride = spec.stride if first else 1
            out_ch = _width(spec.out_channels, wm)
            act = spec.act or arch.act
            if spec.type == "ir":
                mid = make_divisible(in_ch * spec.expansion)
                expansion = spec.expansion
            elif spec.type == "ds":
                mid, expansion = in_ch, 1.0
            else:
                mid, expansion = out_ch, 1.0
            se_ch = 0
            if spec.se_ratio is not None:
                if spec.type == "cn":
                    raise ValueError(
                        f"stages[{stage_idx}]: cn blocks have no squeeze-excite ({spec.to_string()})"
                    )
                se_ch = se_reduce_channels(mid, expansion, spec.se_ratio, arch.se_from_expanded)
            try:
                _check_splits(spec, in_ch, mid, out_ch)
            except ValueError as exc:
                raise ValueError(f"stages[{stage_idx}]: {exc} ({spec.to_string()})") from None
            kernel = spec.kernel_sizes[0]
            out_size = conv_out_size(cur, kernel, stride, spec.dilation)
            has_skip = spec.type != "cn" and spec.skip and stride == 1 and in_ch == out_ch
            blocks.append(
                ResolvedBlock(
                    stage=stage_idx,
                    index=len(blocks),
                    spec_index=spec_index,
                    type=spec.type,
                    in_channels=in_ch,
                    out_channels=out_ch,
                    mid_channels=mid,
                    stride=stride,
                    kernel_sizes=tuple(spec.kernel_sizes),
                    exp_kernel_sizes=tuple(spec.exp_kernel_sizes) if spec.type == "ir" else (1,),
                    pw_kernel_sizes=tuple(spec.pw_kernel_sizes),
                    dilation=spec.dilation,
                    se_channels=se_ch,
                    act=act,
                    has_skip=has_skip,
                    drop_path=arch.drop_path * len(blocks) / total,
                    exponential_partition=spec.exponential_partition,
                    in_size=cur,
                    out_size=out_size,
                )
            )
            in_ch, cur = out_ch, out_size

    if arch.head.num_features > 0:
        num_features = _width(arch.head.num_features, wm) if arch.head.scale else arch.head.num_features
    else:
        num_features = 0
    return ResolvedNetwork(
        in_channels=arch.in_channels,
        resolution=size,
        stem_channels=stem_ch,
        stem_kernel=arch.stem.kernel_size,
        stem_stride=arch.stem.stride,
        stem_act=arch.stem.act or arch.act,
        stem_out_size=stem_size,
        blocks=tuple(blocks),
        head_kind=arch.head.kind,
        head_in_channels=in_ch,
        num_features=num_features,
        head_act=arch.head.act or arch.act,
        num_classes=arch.num_classes,
        dropout=arch.dropout,
        se_gate=arch.se_gate,
        se_act=arch.se_act,
        bn_eps=arch.bn_eps,
        bn_momentum=arch.bn_momentum,
    )


def resolved_blocks(arch: Architecture, resolution: int | None = None) -> list[ResolvedBlock]:
    """The expanded per-block list of ``arch`` after width and depth scaling."""
    return list(resolve_architecture(arch, resolution).blocks)
