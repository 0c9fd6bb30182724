"""Analytic parameter and MAC counts (no torch, no hooks, no third-party counter).

Counts are computed from :func:`nas_service.arch.resolve.resolve_architecture`, the same description the
builder uses; the tests check them against ``sum(p.numel())`` of the built model and against a forward-hook
count.

Convention:

* **Params**: every trainable parameter: conv weights (and the biases of the SE convs and of the MobileNetV3
  head conv), BatchNorm weight and bias (running statistics are buffers, not counted), classifier weight and
  bias.
* **MACs** (multiply-accumulates, one image): for every conv ``k * k * (cin / groups) * cout * Hout * Wout``
  (summed over the groups of a mixed conv), including the squeeze-excite 1x1 convs at 1x1 spatial size and the
  MobileNetV3 head conv after pooling; plus ``in * out`` for the classifier. BatchNorm, activations, the SE
  gate multiply, pooling, residual adds and bias adds are **not** counted. (FLOPs are often quoted as ~2x
  MACs, or as MACs under another name.) EfficientNet-B0 at 224x224 comes to 385,814,752 MACs (~385.8M), of
  which the SE convs are about 0.1M.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from nas_service.arch.resolve import ResolvedBlock, ResolvedNetwork, resolve_architecture, split_channels
from nas_service.arch.spec import Architecture


@dataclass(frozen=True)
class Cost:
    """Parameters and MACs of a part of the network."""

    params: int = 0
    macs: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.params + other.params, self.macs + other.macs)


def conv_cost(
    in_ch: int,
    out_ch: int,
    kernel_sizes: Sequence[int],
    out_size: int,
    depthwise: bool = False,
    exponential: bool = False,
    bias: bool = False,
) -> Cost:
    """Cost of a (possibly mixed, possibly depthwise) conv producing an ``out_size`` x ``out_size`` map."""
    groups = len(kernel_sizes)
    ins = split_channels(in_ch, groups, exponential)
    outs = split_channels(out_ch, groups, exponential)
    weights = 0
    for k, ci, co in zip(kernel_sizes, ins, outs, strict=True):
        weights += k * k * co * (1 if depthwise else ci)
    return Cost(weights + (out_ch if bias else 0), weights * out_size * out_size)


def bn_cost(channels: int) -> Cost:
    """BatchNorm: weight and bias."""
    return Cost(2 * channels, 0)


def se_cost(channels: int, rd_channels: int) -> Cost:
    """Squeeze-excite: two 1x1 convs with bias at 1x1 spatial size."""
    if rd_channels == 0:
        return Cost()
    return Cost(2 * channels * rd_channels + rd_channels + channels, 2 * channels * rd_channels)


def block_cost(b: ResolvedBlock) -> Cost:
    """Cost of one resolved block."""
    if b.type == "cn":
        return conv_cost(b.in_channels, b.out_channels, b.kernel_sizes, b.out_size) + bn_cost(b.out_channels)
    cost = Cost()
    if b.type == "ir":
        cost += conv_cost(b.in_channels, b.mid_channels, b.exp_kernel_sizes, b.in_size) + bn_cost(
            b.mid_channels
        )
    cost += conv_cost(
        b.mid_channels,
        b.mid_channels,
        b.kernel_sizes,
        b.out_size,
        depthwise=True,
        exponential=b.exponential_partition,
    )
    cost += bn_cost(b.mid_channels) + se_cost(b.mid_channels, b.se_channels)
    cost += conv_cost(b.mid_channels, b.out_channels, b.pw_kernel_sizes, b.out_size) + bn_cost(b.out_channels)
    return cost


@dataclass(frozen=True)
class RowProfile:
    """One block string of one stage, after depth scaling."""

    stage: int
    block_string: str
    repeats: int
    in_channels: int
    out_channels: int
    stride: int
    out_size: int
    params: int
    macs: int


@dataclass(frozen=True)
class ArchitectureProfile:
    """Totals and the per-row breakdown (stem, one row per block string, head+classifier)."""

    resolution: int
    params: int
    macs: int
    stem: Cost
    head: Cost
    stem_channels: int
    stem_out_size: int
    head_channels: int
    rows: list[RowProfile] = field(default_factory=list)


def _head_cost(net: ResolvedNetwork) -> Cost:
    final = net.blocks[-1].out_size if net.blocks else net.stem_out_size
    cost = Cost()
    if net.num_features > 0:
        if net.head_kind == "conv_bn_act":
            cost += conv_cost(net.head_in_channels, net.num_features, (1,), final) + bn_cost(net.num_features)
        else:
            cost += conv_cost(net.head_in_channels, net.num_features, (1,), 1, bias=True)
    fan_in = net.classifier_in
    return cost + Cost(fan_in * net.num_classes + net.num_classes, fan_in * net.num_classes)


def profile_architecture(arch: Architecture, resolution: int | None = None) -> ArchitectureProfile:
    """Params and MACs of ``arch`` at ``resolution`` (default ``arch.resolution``), per row and in total."""
    net = resolve_architecture(arch, resolution)
    stem = conv_cost(net.in_channels, net.stem_channels, (net.stem_kernel,), net.stem_out_size)
    stem += bn_cost(net.stem_channels)
    head = _head_cost(net)
    groups: dict[tuple[int, int], list[ResolvedBlock]] = {}
    for b in net.blocks:
        groups.setdefault((b.stage, b.spec_index), []).append(b)
    rows = []
    for (stage, spec_index), blocks in groups.items():
        cost = Cost()
        for b in blocks:
            cost += block_cost(b)
        rows.append(
            RowProfile(
                stage=stage,
                block_string=arch.stages[stage][spec_index].to_string(),
                repeats=len(blocks),
                in_channels=blocks[0].in_channels,
                out_channels=blocks[-1].out_channels,
                stride=blocks[0].stride,
                out_size=blocks[-1].out_size,
                params=cost.params,
                macs=cost.macs,
            )
        )
    params = stem.params + head.params + sum(r.params for r in rows)
    macs = stem.macs + head.macs + sum(r.macs for r in rows)
    return ArchitectureProfile(
        resolution=net.resolution,
        params=params,
        macs=macs,
        stem=stem,
        head=head,
        stem_channels=net.stem_channels,
        stem_out_size=net.stem_out_size,
        head_channels=net.classifier_in,
        rows=rows,
    )


def count_params(arch: Architecture) -> int:
    """Trainable parameters of the built network (see the module docstring for the convention)."""
    return profile_architecture(arch).params


def count_macs(arch: Architecture, resolution: int | None = None) -> int:
    """MACs of one forward pass of one image at ``resolution`` (default ``arch.resolution``)."""
    return profile_architecture(arch, resolution).macs
