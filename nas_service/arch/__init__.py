"""Architecture language: specs, block strings, scaling rules, the PyTorch builder and published presets."""

from nas_service.arch.blockstr import BlockStringError, decode_block, decode_stages, encode_block
from nas_service.arch.spec import Architecture, BlockSpec, HeadSpec, StemSpec

__all__ = [
    "Architecture",
    "BlockSpec",
    "BlockStringError",
    "HeadSpec",
    "StemSpec",
    "decode_block",
    "decode_stages",
    "encode_block",
]
