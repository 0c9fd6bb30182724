"""Build the PyTorch network of an :class:`Architecture`.

One generic class, :class:`NasNet`, covers EfficientNet, MnasNet, MixNet and MobileNetV2/V3: a stem conv, the
blocks (an ``nn.Sequential`` of stages, each an ``nn.Sequential`` of blocks), a head and a linear classifier.
All width/depth/SE arithmetic happens in :func:`nas_service.arch.resolve.resolve_architecture`; this module
only turns its output into modules, so the analytic counts in :mod:`nas_service.arch.profile` always match the
built model.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from nas_service.arch.blocks import BnAct, ConvBnAct, DepthwiseSeparable, InvertedResidual, create_act
from nas_service.arch.resolve import ResolvedBlock, ResolvedNetwork, resolve_architecture, resolved_blocks
from nas_service.arch.spec import Architecture

__all__ = ["NasNet", "build_model", "init_weights", "make_block", "resolved_blocks"]


def make_block(rb: ResolvedBlock, net: ResolvedNetwork) -> nn.Module:
    """Make the module of one resolved block."""
    common: dict[str, Any] = dict(bn_eps=net.bn_eps, bn_momentum=net.bn_momentum, drop_path=rb.drop_path)
    if rb.type == "cn":
        return ConvBnAct(
            rb.in_channels,
            rb.out_channels,
            rb.kernel_sizes,
            rb.stride,
            rb.dilation,
            rb.act,
            skip=False,
            **common,
        )
    se: dict[str, Any] = dict(se_channels=rb.se_channels, se_act=net.se_act, se_gate=net.se_gate)
    if rb.type == "ds":
        return DepthwiseSeparable(
            rb.in_channels,
            rb.out_channels,
            rb.kernel_sizes,
            rb.pw_kernel_sizes,
            rb.stride,
            rb.dilation,
            rb.act,
            skip=rb.has_skip,
            exponential_partition=rb.exponential_partition,
            **se,
            **common,
        )
    return InvertedResidual(
        rb.in_channels,
        rb.mid_channels,
        rb.out_channels,
        rb.kernel_sizes,
        rb.exp_kernel_sizes,
        rb.pw_kernel_sizes,
        rb.stride,
        rb.dilation,
        rb.act,
        skip=rb.has_skip,
        exponential_partition=rb.exponential_partition,
        **se,
        **common,
    )


def init_weights(model: nn.Module) -> None:
    """EfficientNet (TF reference) initialisation.

    Convs: normal with std ``sqrt(2 / fan_out)``, where ``fan_out = k*k*out / groups``; biases zero.
    BatchNorm: weight one, bias zero. Linear: uniform in ``+-1 / sqrt(out_features)``, bias zero.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / math.sqrt(m.out_features)
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)


class NasNet(nn.Module):
    """The generic network.

    Attributes:
        conv_stem: Stem conv; ``bn1`` its BN + act.
        blocks: ``nn.Sequential`` of stages.
        head: ``conv_bn_act`` (1x1 conv, BN, act, then pool) or ``pool_conv_act`` (pool, 1x1 conv with bias,
            act), or empty when ``num_features == 0``.
        classifier: Linear layer.
        feature_info: Per stage: ``{"stage", "num_chs", "reduction", "module"}`` of the stage output.
        resolved: The :class:`ResolvedNetwork` the model was built from.
    """

    def __init__(self, net: ResolvedNetwork) -> None:
        super().__init__()
        self.resolved = net
        self.num_classes = net.num_classes
        self.drop_rate = net.dropout
        self.conv_stem = nn.Conv2d(
            net.in_channels,
            net.stem_channels,
            net.stem_kernel,
            stride=net.stem_stride,
            padding=net.stem_kernel // 2,
            bias=False,
        )
        self.bn1 = BnAct(net.stem_channels, net.stem_act, net.bn_eps, net.bn_momentum)

        stages: list[list[nn.Module]] = [[] for _ in range(net.num_stages)]
        for rb in net.blocks:
            stages[rb.stage].append(make_block(rb, net))
        self.blocks = nn.Sequential(*(nn.Sequential(*s) for s in stages))

        reduction = net.stem_stride
        self.feature_info: list[dict[str, Any]] = []
        for stage_idx in range(net.num_stages):
            stage_blocks = [b for b in net.blocks if b.stage == stage_idx]
            for b in stage_blocks:
                reduction *= b.stride
            self.feature_info.append(
                dict(
                    stage=stage_idx,
                    num_chs=stage_blocks[-1].out_channels,
                    reduction=reduction,
                    module=f"blocks.{stage_idx}",
                )
            )

        self.pre_pool = net.head_kind == "conv_bn_act"
        self.head: nn.Module
        if net.num_features == 0:
            self.head = nn.Identity()
        elif self.pre_pool:
            self.head = nn.Sequential(
                nn.Conv2d(net.head_in_channels, net.num_features, 1, bias=False),
                BnAct(net.num_features, net.head_act, net.bn_eps, net.bn_momentum),
            )
        else:
            self.head = nn.Sequential(
                nn.Conv2d(net.head_in_channels, net.num_features, 1, bias=True),
                create_act(net.head_act, inplace=True),
            )
        self.num_features = net.classifier_in
        self.classifier = nn.Linear(self.num_features, net.num_classes)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Stem and blocks (and the head conv for ``conv_bn_act`` heads), before pooling."""
        x = self.blocks(self.bn1(self.conv_stem(x)))
        return self.head(x) if self.pre_pool else x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool, (head conv for ``pool_conv_act``), dropout, classifier."""
        x = x.mean((2, 3), keepdim=True)
        if not self.pre_pool:
            x = self.head(x)
        x = x.flatten(1)
        if pre_logits:
            return x
        if self.drop_rate > 0.0:
            x = nn.functional.dropout(x, p=self.drop_rate, training=self.training)
        return self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def build_model(arch: Architecture) -> NasNet:
    """Build the network of ``arch`` (weights initialised as in the EfficientNet reference)."""
    return NasNet(resolve_architecture(arch))
