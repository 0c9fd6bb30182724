"""Weight inheritance: start a reduced network from its parent's trained weights (NetAdapt's fine-tuning).

NetAdapt fine-tunes every proposal *from the network it reduces*, not from scratch. A proposal keeps the
parent's module names (the builder names blocks ``blocks.<stage>.<index>``; a removed repeat is the stage's
last block), and each of its tensors is the parent's with fewer channels or smaller kernels. So every child
tensor takes the overlapping region of the parent tensor of the same name: the leading slice along channel
dimensions (the first ``c`` output channels, the first ``c`` input channels) and the centre along the two
spatial dimensions of a convolution kernel (a 3x3 kernel inherits the middle of a 5x5). Tensors the parent
does not have, or has with another number of dimensions, keep their fresh initialisation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["InheritReport", "inherit_weights"]


@dataclass(frozen=True)
class InheritReport:
    """What :func:`inherit_weights` did, in tensors.

    Attributes:
        copied: Same shape as the parent's: copied whole.
        sliced: Smaller (or larger) than the parent's: the overlapping region copied.
        fresh: Not in the parent (or of another rank): left as initialised.
    """

    copied: int
    sliced: int
    fresh: int

    @property
    def inherited(self) -> int:
        """Tensors that took anything from the parent."""
        return self.copied + self.sliced


def _region(child: torch.Tensor, parent: torch.Tensor) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Index tuples into ``child`` and ``parent`` of their overlap (leading channels, centred kernels)."""
    spatial = {2, 3} if child.dim() == 4 else set()
    into, out_of = [], []
    for d, (c, p) in enumerate(zip(child.shape, parent.shape, strict=True)):
        n = min(c, p)
        if d in spatial:
            into.append(slice((c - n) // 2, (c - n) // 2 + n))
            out_of.append(slice((p - n) // 2, (p - n) // 2 + n))
        else:
            into.append(slice(0, n))
            out_of.append(slice(0, n))
    return tuple(into), tuple(out_of)


@torch.no_grad()
def inherit_weights(model: nn.Module, parent_state: Mapping[str, torch.Tensor]) -> InheritReport:
    """Copy into ``model`` (in place) what fits of ``parent_state`` (module docstring).

    Args:
        model: The freshly built child network.
        parent_state: The parent's ``state_dict``.

    Returns:
        How many tensors were copied whole, sliced or left fresh.
    """
    copied = sliced = fresh = 0
    for name, tensor in model.state_dict().items():
        parent = parent_state.get(name)
        if parent is None or parent.dim() != tensor.dim():
            fresh += 1
            continue
        parent = parent.to(device=tensor.device, dtype=tensor.dtype)
        if parent.shape == tensor.shape:
            tensor.copy_(parent)
            copied += 1
            continue
        into, out_of = _region(tensor, parent)
        tensor[into] = parent[out_of]
        sliced += 1
    return InheritReport(copied, sliced, fresh)
