"""PyTorch modules of the EfficientDet family: backbone features, BiFPN, shared heads (``nn.Module`` only).

All structure comes from :func:`nas_service.arch.detection.resolve_detection` (see that module for the rules),
so :mod:`nas_service.arch.detection_profile` counts exactly what is built here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from nas_service.arch.blocks import create_act
from nas_service.arch.builder import NasNet
from nas_service.arch.detection import DetectionArchitecture, FpnNode, ResolvedDetection, resolve_detection

__all__ = ["BackboneFeatures", "BiFpn", "BiFpnLayer", "EfficientDet", "HeadNet", "build_detector"]

#: Added to the sum of the fast-fusion weights (as in the paper) so the division never blows up.
FUSION_EPS = 1e-4


class SeparableConv(nn.Module):
    """Depthwise 3x3 conv, pointwise 1x1 conv (optional bias), optional BN."""

    def __init__(
        self, in_ch: int, out_ch: int, bias: bool, bn: bool, eps: float = 1e-3, momentum: float = 0.01
    ) -> None:
        super().__init__()
        self.conv_dw = nn.Conv2d(in_ch, in_ch, 3, padding=1, groups=in_ch, bias=False)
        self.conv_pw = nn.Conv2d(in_ch, out_ch, 1, bias=bias)
        self.bn: nn.Module = nn.BatchNorm2d(out_ch, eps=eps, momentum=momentum) if bn else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv_pw(self.conv_dw(x)))


class Resample(nn.Module):
    """Bring a feature to ``out_ch`` channels (1x1 conv + BN if needed) and to a level ``shift`` steps away.

    ``shift > 0``: downsample ``shift`` times by a 3x3 stride-2 max pool; ``shift < 0``: nearest upsampling by
    ``2**-shift``. The conv runs first, at the input's size (as in the reference).
    """

    def __init__(self, in_ch: int, out_ch: int, shift: int, bias: bool, eps: float, momentum: float) -> None:
        super().__init__()
        self.shift = shift
        self.conv: nn.Module = nn.Identity()
        if in_ch != out_ch:
            self.conv = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, bias=bias), nn.BatchNorm2d(out_ch, eps=eps, momentum=momentum)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        for _ in range(max(0, self.shift)):
            x = F.max_pool2d(x, 3, stride=2, padding=1)
        if self.shift < 0:
            x = F.interpolate(x, scale_factor=float(2**-self.shift), mode="nearest")
        return x


class FpnNodeModule(nn.Module):
    """One BiFPN node: resample every input, fuse them, activation, separable conv + BN."""

    def __init__(self, node: FpnNode, in_widths: list[int], in_levels: list[int], rd: ResolvedDetection) -> None:
        super().__init__()
        spec = rd.spec
        c, eps, mom = spec.fpn_channels, spec.bn_eps, spec.bn_momentum
        self.inputs = list(node.inputs)
        self.weighting = spec.fpn_weighting
        self.resample = nn.ModuleList(
            Resample(in_widths[o], c, node.level - in_levels[o], spec.redundant_bias, eps, mom) for o in self.inputs
        )
        self.edge_weights = nn.Parameter(torch.ones(len(self.inputs))) if self.weighting != "sum" else None
        self.act = create_act(spec.act, inplace=False)
        self.conv = SeparableConv(c, c, spec.redundant_bias, True, eps, mom)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        xs = [r(feats[o]) for r, o in zip(self.resample, self.inputs, strict=True)]
        if self.edge_weights is None:
            out = torch.stack(xs, dim=0).sum(0)
        elif self.weighting == "fast":
            w = F.relu(self.edge_weights.to(xs[0].dtype))
            w = w / (w.sum() + FUSION_EPS)
            out = torch.stack(xs, dim=0).mul(w.view(-1, 1, 1, 1, 1)).sum(0)
        else:
            w = torch.softmax(self.edge_weights.to(xs[0].dtype), dim=0)
            out = torch.stack(xs, dim=0).mul(w.view(-1, 1, 1, 1, 1)).sum(0)
        return self.conv(self.act(out))


class BiFpnLayer(nn.Module):
    """One BiFPN layer: its nodes in order; returns the last feature of every level, finest first."""

    def __init__(self, rd: ResolvedDetection, layer: int) -> None:
        super().__init__()
        widths = rd.input_channels(layer)
        levels = rd.levels
        self.num_levels = len(levels)
        nodes = []
        for node in rd.nodes:
            nodes.append(FpnNodeModule(node, widths, levels, rd))
            widths = [*widths, rd.spec.fpn_channels]
            levels = [*levels, node.level]
        self.nodes = nn.ModuleList(nodes)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        feats = list(feats)
        for node in self.nodes:
            feats.append(node(feats))
        return feats[-self.num_levels :]


class BiFpn(nn.Module):
    """Extra levels by resampling, then ``fpn_repeats`` BiFPN layers."""

    def __init__(self, rd: ResolvedDetection) -> None:
        super().__init__()
        spec = rd.spec
        self.extra = nn.ModuleList(
            Resample(w, spec.fpn_channels, 1, spec.redundant_bias, spec.bn_eps, spec.bn_momentum)
            for w in rd.extra_level_inputs()
        )
        self.layers = nn.ModuleList(BiFpnLayer(rd, i) for i in range(spec.fpn_repeats))

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        feats = list(feats)
        for r in self.extra:
            feats.append(r(feats[-1]))
        for layer in self.layers:
            feats = layer(feats)
        return feats


class HeadNet(nn.Module):
    """Class or box head: separable convs shared across levels with one BN per (repeat, level)."""

    def __init__(self, rd: ResolvedDetection, outputs_per_anchor: int) -> None:
        super().__init__()
        spec = rd.spec
        c = spec.fpn_channels
        self.conv_rep = nn.ModuleList(
            SeparableConv(c, c, spec.redundant_bias, False, spec.bn_eps, spec.bn_momentum)
            for _ in range(spec.head_repeats)
        )
        self.bn_rep = nn.ModuleList(
            nn.ModuleList(nn.BatchNorm2d(c, eps=spec.bn_eps, momentum=spec.bn_momentum) for _ in range(spec.num_levels))
            for _ in range(spec.head_repeats)
        )
        self.act = create_act(spec.act, inplace=False)
        self.predict = SeparableConv(c, spec.num_anchors * outputs_per_anchor, bias=True, bn=False)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        outs = []
        for level, x in enumerate(feats):
            for conv, bns in zip(self.conv_rep, self.bn_rep, strict=True):
                assert isinstance(bns, nn.ModuleList)
                x = self.act(bns[level](conv(x)))
            outs.append(self.predict(x))
        return outs


class BackboneFeatures(nn.Module):
    """The backbone's stem and stages up to the deepest feature level; returns the feature maps, finest first."""

    def __init__(self, rd: ResolvedDetection) -> None:
        super().__init__()
        full = NasNet(rd.backbone)  # reuse the classification builder, then keep only what detection uses
        self.conv_stem = full.conv_stem
        self.bn1 = full.bn1
        self.blocks = nn.Sequential(*list(full.blocks)[: rd.num_backbone_stages])
        self.feature_stages = list(rd.feature_stages)
        self.feature_info = [full.feature_info[s] for s in self.feature_stages]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.bn1(self.conv_stem(x))
        feats = []
        for i, stage in enumerate(self.blocks):
            x = stage(x)
            if i in self.feature_stages:
                feats.append(x)
        return feats


class EfficientDet(nn.Module):
    """The detector: backbone features, BiFPN, class and box heads.

    ``forward`` returns ``(class_outputs, box_outputs)``: per level (finest first) a tensor of shape
    ``(N, anchors * num_classes, H, W)`` and ``(N, anchors * 4, H, W)``.
    """

    def __init__(self, rd: ResolvedDetection) -> None:
        super().__init__()
        self.resolved = rd
        self.spec = rd.spec
        self.backbone = BackboneFeatures(rd)
        self.fpn = BiFpn(rd)
        self.class_net = HeadNet(rd, rd.spec.num_classes)
        self.box_net = HeadNet(rd, 4)
        init_detector_weights(self)

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        feats = self.fpn(self.backbone(x))
        return self.class_net(feats), self.box_net(feats)


def build_detector(spec: DetectionArchitecture) -> EfficientDet:
    """Build the detector of ``spec`` (backbone as the classification builder, the rest as the reference)."""
    return EfficientDet(resolve_detection(spec))


def class_prior_bias(prior: float = 0.01) -> float:
    """Bias of the class prediction conv so every anchor starts at probability ``prior`` (focal-loss paper)."""
    return -math.log((1 - prior) / prior)


def _fans(w: torch.Tensor, groups: int) -> tuple[int, int]:
    receptive = w[0][0].numel()
    return w.size(1) * receptive, w.size(0) * receptive // groups


def init_detector_weights(model: EfficientDet) -> None:
    """The reference's initialisation of everything but the backbone (which keeps the EfficientNet init).

    BiFPN convs: Glorot uniform. Head convs: normal with variance ``1 / fan_in``. Conv biases zero, except the
    class prediction's, set by :func:`class_prior_bias`. BatchNorm: weight one, bias zero.
    """
    for part in (model.fpn, model.class_net, model.box_net):
        for m in part.modules():
            if isinstance(m, nn.Conv2d):
                fan_in, fan_out = _fans(m.weight, m.groups)
                if part is model.fpn:
                    limit = math.sqrt(3.0 / max(1.0, (fan_in + fan_out) / 2.0))
                    nn.init.uniform_(m.weight, -limit, limit)
                else:
                    nn.init.normal_(m.weight, 0.0, math.sqrt(1.0 / max(1.0, fan_in)))
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
    bias = model.class_net.predict.conv_pw.bias
    assert bias is not None
    nn.init.constant_(bias, class_prior_bias())
