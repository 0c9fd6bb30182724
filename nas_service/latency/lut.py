"""The parts of a network a latency lookup table times in isolation: stem, every block, head.

:func:`network_parts` turns an :class:`~nas_service.arch.spec.Architecture` into :class:`Part` s, each with a
key that names everything that changes its latency at the exact input shape: its type, widths, kernels,
stride, dilation, SE width, activation, skip, and its input spatial size (plus the network-wide BN/SE
settings). Two networks that share a block at the same input size share its table entry, whichever space
they came from. Pure Python (the analytic resolver and MAC counter), no torch: the API predicts with it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from nas_service.arch.profile import _head_cost, block_cost, bn_cost, conv_cost
from nas_service.arch.resolve import ResolvedBlock, ResolvedNetwork, resolve_architecture
from nas_service.arch.spec import Architecture

__all__ = ["NetworkParts", "Part", "network_parts", "parts_of_resolved"]


@dataclass(frozen=True)
class Part:
    """One separately timed part of a network.

    Attributes:
        kind: ``stem``, ``block`` or ``head``.
        key: The lookup-table key (see the module docstring).
        macs: Analytic MACs of the part (one image).
        in_shape: Per-sample input shape ``(C, H, W)`` of the part.
    """

    kind: str
    key: str
    macs: int
    in_shape: tuple[int, int, int]


@dataclass(frozen=True)
class NetworkParts:
    """The parts of one network and its totals."""

    parts: tuple[Part, ...]
    macs: int

    @property
    def keys(self) -> list[str]:
        """The table keys, in network order."""
        return [p.key for p in self.parts]


def _ks(values: tuple[int, ...]) -> str:
    return ".".join(map(str, values))


@functools.lru_cache(maxsize=65536)
def _block_part(b: ResolvedBlock, se_gate: str, se_act: str | None, bn_eps: float) -> Part:
    """A block's part (cached: a search meets the same blocks again and again, and keys cost more than look-ups)."""
    key = (
        f"{b.type}|i{b.in_channels}|o{b.out_channels}|m{b.mid_channels}|s{b.stride}|k{_ks(b.kernel_sizes)}"
        f"|ek{_ks(b.exp_kernel_sizes)}|pk{_ks(b.pw_kernel_sizes)}|d{b.dilation}|se{b.se_channels}"
        f"|{b.act}|skip{int(b.has_skip)}|xp{int(b.exponential_partition)}|r{b.in_size}"
        f"|seg{se_gate}|sea{se_act}|bn{bn_eps:g}"
    )
    return Part("block", key, block_cost(b).macs, (b.in_channels, b.in_size, b.in_size))


def parts_of_resolved(net: ResolvedNetwork) -> NetworkParts:
    """The parts of a resolved network (see :func:`network_parts`)."""
    stem_macs = conv_cost(net.in_channels, net.stem_channels, (net.stem_kernel,), net.stem_out_size).macs
    parts = [
        Part(
            "stem",
            f"stem|i{net.in_channels}|o{net.stem_channels}|k{net.stem_kernel}|s{net.stem_stride}|{net.stem_act}"
            f"|r{net.resolution}|bn{net.bn_eps:g}",
            stem_macs + bn_cost(net.stem_channels).macs,
            (net.in_channels, net.resolution, net.resolution),
        )
    ]
    parts += [_block_part(b, net.se_gate, net.se_act, net.bn_eps) for b in net.blocks]
    final = net.blocks[-1].out_size if net.blocks else net.stem_out_size
    parts.append(
        Part(
            "head",
            f"head|{net.head_kind}|i{net.head_in_channels}|f{net.num_features}|{net.head_act}|c{net.num_classes}"
            f"|r{final}|bn{net.bn_eps:g}",
            _head_cost(net).macs,
            (net.head_in_channels, final, final),
        )
    )
    return NetworkParts(tuple(parts), sum(p.macs for p in parts))


def network_parts(arch: Architecture, resolution: int | None = None) -> NetworkParts:
    """The stem, blocks (in network order) and head of ``arch`` at ``resolution`` (default its own), with keys.

    Args:
        arch: The network as measured (its classes and input channels matter).
        resolution: Input resolution override.
    """
    return parts_of_resolved(resolve_architecture(arch, resolution))
