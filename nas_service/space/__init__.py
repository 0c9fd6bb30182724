"""Search spaces: a small language for factorized, MnasNet-style architecture spaces.

A :class:`SearchSpace` is a skeleton network plus, per stage, lists of choices (op, kernel, mixed kernel set,
partition, expansion, SE, repeat delta, width, activation, skip) and global choices (stem stride, resolution,
compound ``phi``). Samplers see it as flat categorical parameters (:meth:`SearchSpace.parameters`)::

    s{i}.op  s{i}.kernel  s{i}.mixed  s{i}.partition  s{i}.expansion  s{i}.se
    s{i}.repeat_delta  s{i}.width  s{i}.act  s{i}.skip          (for every stage i, in order)
    stem_stride  resolution  phi                                (last)

Every parameter is always present, even with a single choice, so that encodings are uniform. Values are JSON
scalars (a mixed kernel set is the string ``"3.5.7"``; ``s{i}.mixed`` is ``"none"`` in stages without
``mdconv``). Conditional parameters stay in the dict (Optuna-friendly); inactive ones are ignored by
:meth:`SearchSpace.decode` and set to their first choice by :meth:`SearchSpace.canonicalize`, so equal
networks have equal canonical parameters and :meth:`SearchSpace.cardinality` counts networks exactly.
"""

from nas_service.space._codec import NO_MIXED, mixed_kernels, mixed_name
from nas_service.space._errors import SpaceValidationError
from nas_service.space._model import (
    CompoundCoefficients,
    SearchSpace,
    SkeletonSpec,
    StageChoices,
    make_divisible,
)
from nas_service.space._presets import (
    digits_space,
    get_space,
    list_spaces,
    load_space,
    mixnet_space,
    mnasnet_space,
    tiny_space,
)

__all__ = [
    "NO_MIXED",
    "CompoundCoefficients",
    "SearchSpace",
    "SkeletonSpec",
    "SpaceValidationError",
    "StageChoices",
    "digits_space",
    "get_space",
    "list_spaces",
    "load_space",
    "make_divisible",
    "mixed_kernels",
    "mixed_name",
    "mixnet_space",
    "mnasnet_space",
    "tiny_space",
]
