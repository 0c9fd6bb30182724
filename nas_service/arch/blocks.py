"""Network blocks of the MnasNet / EfficientNet / MixNet / MobileNet family (``nn.Module`` only).

Padding is symmetric, ``dilation * (kernel // 2)`` (PyTorch-native style, not TensorFlow "same"), so for odd
kernels a stride-2 conv maps ``H`` to ``ceil(H / 2)``. Convs have no bias except inside squeeze-excite. The
blocks take concrete widths; width rules live in :mod:`nas_service.arch.resolve`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from nas_service.arch.resolve import se_reduce_channels, split_channels

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "swish": nn.SiLU,
    "hard_swish": nn.Hardswish,
    "gelu": nn.GELU,
    "mish": nn.Mish,
    "sigmoid": nn.Sigmoid,
    "hard_sigmoid": nn.Hardsigmoid,
    "identity": nn.Identity,
}
_INPLACE = {"relu", "relu6", "swish", "hard_swish", "mish", "hard_sigmoid"}


def create_act(name: str, inplace: bool = False) -> nn.Module:
    """Make an activation module by name (``relu``, ``relu6``, ``swish``, ``hard_swish``, ``gelu``, ``mish``,
    ``sigmoid``, ``hard_sigmoid``, ``identity``).

    Raises:
        ValueError: On an unknown name.
    """
    try:
        cls = _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r} (expected one of {', '.join(_ACTIVATIONS)})") from None
    if inplace and name in _INPLACE:
        return cls(inplace=True)
    return cls()


class DropPath(nn.Module):
    """Stochastic depth: while training, drop the residual branch per sample with probability ``rate``."""

    def __init__(self, rate: float = 0.0) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rate == 0.0 or not self.training:
            return x
        keep = 1.0 - self.rate
        shape = [x.shape[0]] + [1] * (x.dim() - 1)
        mask = x.new_empty(shape).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"rate={self.rate:.3f}"


def _conv(
    in_ch: int, out_ch: int, kernel: int, stride: int, dilation: int, groups: int, bias: bool
) -> nn.Conv2d:
    return nn.Conv2d(
        in_ch,
        out_ch,
        kernel,
        stride=stride,
        padding=dilation * (kernel // 2),
        dilation=dilation,
        groups=groups,
        bias=bias,
    )


class MixedConv2d(nn.Module):
    """Convolution whose channels are split into groups, each with its own kernel size (MixConv's MDConv).

    With ``depthwise=True`` every group is a depthwise conv (``in == out`` per group); otherwise each group is
    a dense conv from its input slice to its output slice, which is how the grouped 1x1 expansion/projection
    of MixNet (``a1.1``, ``p1.1``) is made. Input and output channels are split the same way (equal with the
    remainder to the first group, or exponential; see :func:`nas_service.arch.resolve.split_channels`).

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_sizes: One kernel size per group.
        stride: Stride of every group.
        dilation: Dilation of every group.
        depthwise: Depthwise groups (requires ``in_channels == out_channels``).
        exponential: Exponential channel partition.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_sizes: Sequence[int],
        stride: int = 1,
        dilation: int = 1,
        depthwise: bool = False,
        exponential: bool = False,
    ) -> None:
        super().__init__()
        if depthwise and in_channels != out_channels:
            raise ValueError("a depthwise MixedConv2d needs in_channels == out_channels")
        self.in_splits = split_channels(in_channels, len(kernel_sizes), exponential)
        self.out_splits = split_channels(out_channels, len(kernel_sizes), exponential)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.convs = nn.ModuleList(
            _conv(ci, co, k, stride, dilation, ci if depthwise else 1, bias=False)
            for k, ci, co in zip(kernel_sizes, self.in_splits, self.out_splits, strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(x, self.in_splits, dim=1)
        # enumerate + index (not zip) keeps the module TorchScript-compatible.
        outs = [conv(parts[i]) for i, conv in enumerate(self.convs)]
        return torch.cat(outs, dim=1)


def create_conv(
    in_channels: int,
    out_channels: int,
    kernel_sizes: Sequence[int],
    stride: int = 1,
    dilation: int = 1,
    depthwise: bool = False,
    exponential: bool = False,
) -> nn.Module:
    """A plain ``nn.Conv2d`` for one kernel size, a :class:`MixedConv2d` for several."""
    if len(kernel_sizes) == 1:
        groups = in_channels if depthwise else 1
        return _conv(in_channels, out_channels, kernel_sizes[0], stride, dilation, groups, bias=False)
    return MixedConv2d(in_channels, out_channels, kernel_sizes, stride, dilation, depthwise, exponential)


class BnAct(nn.Sequential):
    """BatchNorm followed by an activation (or none)."""

    def __init__(self, channels: int, act: str | None, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, eps=eps, momentum=momentum)
        self.act = create_act(act, inplace=True) if act else nn.Identity()


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: global average pool, 1x1 reduce conv (bias), act, 1x1 expand conv (bias), gate.

    The reduce width is given explicitly; the two conventions for choosing it (from the block input width for
    EfficientNet/MnasNet/MixNet, ``make_divisible(expanded * ratio)`` for MobileNetV3) are computed by
    :func:`nas_service.arch.resolve.se_reduce_channels`, or here from a ratio with :meth:`from_ratio`.

    Args:
        channels: Channels the block acts on.
        rd_channels: Reduce width.
        act: Activation between the convs (the block's own for EfficientNet, ``relu`` for MobileNetV3).
        gate: ``sigmoid`` or ``hard_sigmoid``.
    """

    def __init__(self, channels: int, rd_channels: int, act: str = "relu", gate: str = "sigmoid") -> None:
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, rd_channels, 1, bias=True)
        self.act = create_act(act, inplace=True)
        self.conv_expand = nn.Conv2d(rd_channels, channels, 1, bias=True)
        self.gate = create_act(gate)

    @classmethod
    def from_ratio(
        cls,
        channels: int,
        se_ratio: float,
        expansion: float = 1.0,
        from_expanded: bool = False,
        act: str = "relu",
        gate: str = "sigmoid",
    ) -> SqueezeExcite:
        """Build with the reduce width given by a ratio under either convention."""
        rd = se_reduce_channels(channels, expansion, se_ratio, from_expanded)
        return cls(channels, rd, act=act, gate=gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        s = self.conv_expand(self.act(self.conv_reduce(s)))
        return x * self.gate(s)


class ConvBnAct(nn.Module):
    """Conv, BN, activation; an optional residual when shapes allow and ``skip`` is set."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_sizes: Sequence[int] = (3,),
        stride: int = 1,
        dilation: int = 1,
        act: str | None = "relu",
        skip: bool = False,
        drop_path: float = 0.0,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
    ) -> None:
        super().__init__()
        self.has_skip = skip and stride == 1 and in_channels == out_channels
        self.conv = create_conv(in_channels, out_channels, kernel_sizes, stride, dilation)
        self.bn1 = BnAct(out_channels, act, bn_eps, bn_momentum)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn1(self.conv(x))
        return self.drop_path(out) + x if self.has_skip else out


class DepthwiseSeparable(nn.Module):
    """Depthwise kxk conv, BN, act, optional SE, pointwise (possibly grouped) conv, BN (no act), residual."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_sizes: Sequence[int] = (3,),
        pw_kernel_sizes: Sequence[int] = (1,),
        stride: int = 1,
        dilation: int = 1,
        act: str = "relu",
        se_channels: int = 0,
        se_act: str | None = None,
        se_gate: str = "sigmoid",
        skip: bool = True,
        drop_path: float = 0.0,
        exponential_partition: bool = False,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
    ) -> None:
        super().__init__()
        self.has_skip = skip and stride == 1 and in_channels == out_channels
        self.conv_dw = create_conv(
            in_channels,
            in_channels,
            kernel_sizes,
            stride,
            dilation,
            depthwise=True,
            exponential=exponential_partition,
        )
        self.bn1 = BnAct(in_channels, act, bn_eps, bn_momentum)
        self.se: nn.Module = (
            SqueezeExcite(in_channels, se_channels, se_act or act, se_gate) if se_channels else nn.Identity()
        )
        self.conv_pw = create_conv(in_channels, out_channels, pw_kernel_sizes)
        self.bn2 = BnAct(out_channels, None, bn_eps, bn_momentum)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.se(self.bn1(self.conv_dw(x)))
        out = self.bn2(self.conv_pw(out))
        return self.drop_path(out) + x if self.has_skip else out


class InvertedResidual(nn.Module):
    """MBConv: 1x1 expand, BN, act, depthwise (MD)conv, BN, act, optional SE, 1x1 project, BN, residual."""

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        kernel_sizes: Sequence[int] = (3,),
        exp_kernel_sizes: Sequence[int] = (1,),
        pw_kernel_sizes: Sequence[int] = (1,),
        stride: int = 1,
        dilation: int = 1,
        act: str = "relu",
        se_channels: int = 0,
        se_act: str | None = None,
        se_gate: str = "sigmoid",
        skip: bool = True,
        drop_path: float = 0.0,
        exponential_partition: bool = False,
        bn_eps: float = 1e-5,
        bn_momentum: float = 0.1,
    ) -> None:
        super().__init__()
        self.has_skip = skip and stride == 1 and in_channels == out_channels
        self.conv_pw = create_conv(in_channels, mid_channels, exp_kernel_sizes)
        self.bn1 = BnAct(mid_channels, act, bn_eps, bn_momentum)
        self.conv_dw = create_conv(
            mid_channels,
            mid_channels,
            kernel_sizes,
            stride,
            dilation,
            depthwise=True,
            exponential=exponential_partition,
        )
        self.bn2 = BnAct(mid_channels, act, bn_eps, bn_momentum)
        self.se: nn.Module = (
            SqueezeExcite(mid_channels, se_channels, se_act or act, se_gate) if se_channels else nn.Identity()
        )
        self.conv_pwl = create_conv(mid_channels, out_channels, pw_kernel_sizes)
        self.bn3 = BnAct(out_channels, None, bn_eps, bn_momentum)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn1(self.conv_pw(x))
        out = self.se(self.bn2(self.conv_dw(out)))
        out = self.bn3(self.conv_pwl(out))
        return self.drop_path(out) + x if self.has_skip else out
