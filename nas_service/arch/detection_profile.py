"""Analytic parameter and MAC counts of a detector, per part (no torch).

Same conventions as :mod:`nas_service.arch.profile`: parameters are every trainable tensor (conv weights and
biases, BatchNorm weight and bias, the BiFPN fusion weights); MACs are ``k*k*(cin/groups)*cout*Hout*Wout`` per
conv, for one image. Pooling, upsampling, activations, BN, the fused weighted sums and bias adds are not counted.
Resampling 1x1 convs run at their input's size (the reference convolves before pooling).

Parts: ``backbone`` (stem and the stages up to the deepest feature level; the classifier head is not part of a
detector), ``bifpn`` (the extra-level resampling and every BiFPN layer), ``class_head`` and ``box_head``.
EfficientDet-D0 at 90 classes: 3,880,067 parameters, of which the backbone 3,595,388.
"""

from __future__ import annotations

from dataclasses import dataclass

from nas_service.arch.detection import DetectionArchitecture, ResolvedDetection, resolve_detection
from nas_service.arch.profile import Cost, block_cost, bn_cost, conv_cost


def separable_cost(in_ch: int, out_ch: int, size: int, bias: bool, bn: bool) -> Cost:
    """A depthwise 3x3 conv, a pointwise conv (optional bias) and an optional BN, at ``size`` x ``size``."""
    cost = conv_cost(in_ch, in_ch, (3,), size, depthwise=True)
    cost += conv_cost(in_ch, out_ch, (1,), size, bias=bias)
    return cost + bn_cost(out_ch) if bn else cost


def resample_cost(in_ch: int, out_ch: int, in_size: int, redundant_bias: bool) -> Cost:
    """The 1x1 conv + BN that a resampling adds when widths differ (pooling/upsampling cost nothing)."""
    if in_ch == out_ch:
        return Cost()
    return conv_cost(in_ch, out_ch, (1,), in_size, bias=redundant_bias) + bn_cost(out_ch)


@dataclass(frozen=True)
class LevelInfo:
    """One output level: its stride, spatial size and per-location outputs."""

    level: int
    stride: int
    size: int
    class_outputs: int
    box_outputs: int


@dataclass(frozen=True)
class DetectionProfile:
    """Totals and per-part costs of a detector at one resolution."""

    resolution: int
    params: int
    macs: int
    backbone: Cost
    extra_levels: Cost
    bifpn: Cost
    class_head: Cost
    box_head: Cost
    feature_channels: tuple[int, ...]
    feature_stages: tuple[int, ...]
    levels: tuple[LevelInfo, ...]

    def parts(self) -> dict[str, Cost]:
        """The four parts by name (``bifpn`` includes the extra-level resampling)."""
        return {
            "backbone": self.backbone,
            "bifpn": self.bifpn,
            "class_head": self.class_head,
            "box_head": self.box_head,
        }


def backbone_cost(rd: ResolvedDetection) -> Cost:
    """Stem and the kept stages of the backbone."""
    net = rd.backbone
    cost = conv_cost(net.in_channels, net.stem_channels, (net.stem_kernel,), net.stem_out_size)
    cost += bn_cost(net.stem_channels)
    for b in net.blocks:
        if b.stage < rd.num_backbone_stages:
            cost += block_cost(b)
    return cost


def extra_levels_cost(rd: ResolvedDetection) -> Cost:
    """The resampling that makes the levels above ``backbone_max_level``."""
    spec, cost = rd.spec, Cost()
    n_from_backbone = spec.backbone_max_level - spec.min_level + 1
    for i, in_ch in enumerate(rd.extra_level_inputs()):
        in_size = rd.level_sizes[n_from_backbone - 1 + i]
        cost += resample_cost(in_ch, spec.fpn_channels, in_size, spec.redundant_bias)
    return cost


def bifpn_layers_cost(rd: ResolvedDetection) -> Cost:
    """Every BiFPN layer: per node, the input resamplings, the fusion weights and the separable conv."""
    spec, cost = rd.spec, Cost()
    c, lo = spec.fpn_channels, spec.min_level
    for layer in range(spec.fpn_repeats):
        widths = rd.input_channels(layer)
        levels = rd.levels
        for node in rd.nodes:
            size = rd.level_sizes[node.level - lo]
            for offset in node.inputs:
                in_ch = widths[offset] if offset < len(widths) else c
                in_level = levels[offset] if offset < len(levels) else rd.nodes[offset - len(levels)].level
                cost += resample_cost(in_ch, c, rd.level_sizes[in_level - lo], spec.redundant_bias)
            if spec.fpn_weighting != "sum":
                cost += Cost(len(node.inputs), 0)
            cost += separable_cost(c, c, size, bias=spec.redundant_bias, bn=True)
    return cost


def head_cost(rd: ResolvedDetection, outputs_per_anchor: int) -> Cost:
    """A class or box head: shared separable convs (per-level BN) and the prediction conv, over all levels."""
    spec, c = rd.spec, rd.spec.fpn_channels
    out = spec.num_anchors * outputs_per_anchor
    cost = Cost()
    for _ in range(spec.head_repeats):
        shared = separable_cost(c, c, 0, bias=spec.redundant_bias, bn=False)
        cost += Cost(shared.params + spec.num_levels * 2 * c, 0)
    cost += Cost(separable_cost(c, out, 0, bias=True, bn=False).params, 0)
    for size in rd.level_sizes:
        for _ in range(spec.head_repeats):
            cost += Cost(0, separable_cost(c, c, size, bias=False, bn=False).macs)
        cost += Cost(0, separable_cost(c, out, size, bias=False, bn=False).macs)
    return cost


def profile_detection(spec: DetectionArchitecture, resolution: int | None = None) -> DetectionProfile:
    """Params and MACs of ``spec`` at ``resolution`` (default ``spec.resolution``), per part and in total."""
    rd = resolve_detection(spec, resolution)
    backbone = backbone_cost(rd)
    extra = extra_levels_cost(rd)
    bifpn = extra + bifpn_layers_cost(rd)
    class_head = head_cost(rd, spec.num_classes)
    box_head = head_cost(rd, 4)
    total = backbone + bifpn + class_head + box_head
    levels = tuple(
        LevelInfo(
            level=lv,
            stride=2**lv,
            size=size,
            class_outputs=spec.num_anchors * spec.num_classes,
            box_outputs=spec.num_anchors * 4,
        )
        for lv, size in zip(rd.levels, rd.level_sizes, strict=True)
    )
    return DetectionProfile(
        resolution=rd.backbone.resolution,
        params=total.params,
        macs=total.macs,
        backbone=backbone,
        extra_levels=extra,
        bifpn=bifpn,
        class_head=class_head,
        box_head=box_head,
        feature_channels=rd.feature_channels,
        feature_stages=rd.feature_stages,
        levels=levels,
    )
