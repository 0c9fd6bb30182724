"""Server-side caps on what one request can make the service do, checked at the door (pure; no torch, no ray).

The typed models (:mod:`nas_service.jobspec`, :mod:`nas_service.space`, :mod:`nas_service.arch.spec`) already
bound every typed field. This module adds what they cannot see:

* **Free-form JSON** (``strategy.settings``, inline documents): nesting depth, list and mapping sizes, string
  lengths, and no non-finite or huge numbers (:func:`check_json_tree`).
* **Networks named by a job** (a scaling base given as a preset or block strings): decoded at submit, so a
  garbage or oversized block string is a 422 naming the block (``scaling.base[2][0]``), never a failed job later;
  blocks per stage, repeats, kernel size, channels, layers, parameters and MACs under the server's caps
  (:func:`check_architecture`).
* **Every trained network**: the job's ``constraints.max_params`` / ``max_macs`` are lowered to the server's caps
  (:func:`cap_constraints`), so a candidate over them is rejected before training like any other over-cap one.

The caps are settings (``NAS_MAX_*``, see :class:`nas_service.settings.Settings` and the README); violations
raise :class:`LimitError` with the field path, which the API answers with a 422.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nas_service.arch.spec import Architecture
    from nas_service.jobspec import JobSpec
    from nas_service.space import SearchSpace

#: Largest integer accepted inside free-form JSON (beyond it, JSON readers such as JavaScript lose precision and
#: a Python ``str(int)`` of thousands of digits is refused by the interpreter).
MAX_JSON_INT = 2**63 - 1


class LimitError(ValueError):
    """A request exceeds a server cap or carries a value that cannot be stored.

    Attributes:
        field: The offending field's path (``strategy.settings.a.b``, ``scaling.base[2][0]``).
        message: What is wrong, without the field.
    """

    def __init__(self, field: str, message: str) -> None:
        """Create the error; ``str(err)`` is ``"<field>: <message>"``."""
        super().__init__(f"{field}: {message}" if field else message)
        self.field, self.message = field, message


@dataclass(frozen=True)
class Limits:
    """The server's caps (defaults as documented in the README; settings may lower or raise them).

    Attributes:
        max_params: Parameters of any network a job trains.
        max_macs: MACs (one image) of any network a job trains.
        max_layers: Blocks of a network after repeats (sum over stages).
        max_blocks_per_stage: Block strings in one stage.
        max_kernel_size: Largest depthwise kernel.
        max_repeats: Repeats of one block string.
        max_channels: Output channels of one block (before width scaling).
        max_list_items: Items of any list or mapping in free-form JSON.
        max_string_chars: Characters of any string (or key) in free-form JSON.
        max_json_depth: Nesting depth of free-form JSON.
    """

    max_params: int = 200_000_000
    max_macs: int = 50_000_000_000
    max_layers: int = 256
    max_blocks_per_stage: int = 32
    max_kernel_size: int = 15
    max_repeats: int = 32
    max_channels: int = 8192
    max_list_items: int = 1000
    max_string_chars: int = 10_000
    max_json_depth: int = 32


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def check_json_tree(value: Any, field: str, limits: Limits) -> None:
    """Check a free-form JSON value: depth, sizes, string lengths, finite and bounded numbers.

    Iterative (no recursion), so a document nested thousands of levels deep is refused, never a crash.

    Raises:
        LimitError: Naming the first offending path.
    """
    stack: list[tuple[Any, str, int]] = [(value, field, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= limits.max_json_depth:
                raise LimitError(path, f"nested deeper than {limits.max_json_depth} levels")
            if len(item) > limits.max_list_items:
                raise LimitError(path, f"has {len(item)} items, at most {limits.max_list_items} allowed")
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str):
                        raise LimitError(path, f"keys must be strings, got {type(key).__name__}")
                    if len(key) > limits.max_string_chars:
                        raise LimitError(path, f"a key is longer than {limits.max_string_chars} characters")
                    stack.append((child, _join(path, key), depth + 1))
            else:
                stack.extend((child, _join(path, i), depth + 1) for i, child in enumerate(item))
        elif isinstance(item, str):
            if len(item) > limits.max_string_chars:
                raise LimitError(path, f"longer than {limits.max_string_chars} characters")
            if "\x00" in item:
                raise LimitError(path, "contains a NUL character")
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if abs(item) > MAX_JSON_INT:
                raise LimitError(path, f"integer out of range (|n| <= {MAX_JSON_INT})")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise LimitError(path, "not a finite number (NaN and Infinity are refused)")
        else:
            raise LimitError(path, f"unsupported value of type {type(item).__name__}")


def check_block_strings(stages: Any, field: str, limits: Limits) -> Architecture:
    """Decode stages of block strings with the sizes checked first; errors name the block (``field[2][0]``).

    Raises:
        LimitError: A malformed or oversized block string, or too many stages or blocks.
    """
    from nas_service.arch.blockstr import BlockStringError, decode_block
    from nas_service.arch.spec import Architecture

    if not isinstance(stages, list) or not stages:
        raise LimitError(field, "expected a non-empty list of stages of block strings")
    if len(stages) > 16:
        raise LimitError(field, f"has {len(stages)} stages, at most 16 allowed")
    decoded = []
    for si, stage in enumerate(stages):
        blocks = [stage] if isinstance(stage, str) else stage
        if not isinstance(blocks, list) or not blocks:
            raise LimitError(_join(field, si), "a stage is a non-empty list of block strings")
        if len(blocks) > limits.max_blocks_per_stage:
            msg = f"has {len(blocks)} blocks, at most {limits.max_blocks_per_stage} allowed"
            raise LimitError(_join(field, si), msg)
        row = []
        for bi, text in enumerate(blocks):
            where = _join(_join(field, si), bi)
            if not isinstance(text, str) or len(text) > 200:
                raise LimitError(where, "a block string is text of at most 200 characters")
            try:
                row.append(decode_block(text))
            except BlockStringError as exc:
                raise LimitError(where, str(exc)) from None
        decoded.append(row)
    return Architecture(stages=decoded)


def check_architecture(arch: Architecture, field: str, limits: Limits, resolution: int | None = None) -> None:
    """Check a network against the caps: per block, per stage, layers, then parameters and MACs.

    Args:
        arch: The network.
        field: Where the request names it.
        limits: The caps.
        resolution: The resolution it will be trained at (default ``arch.resolution``).

    Raises:
        LimitError: The first cap exceeded, naming the block where one is to blame.
    """
    from nas_service.arch.profile import profile_architecture

    layers = 0
    for si, stage in enumerate(arch.stages):
        if len(stage) > limits.max_blocks_per_stage:
            msg = f"has {len(stage)} blocks, at most {limits.max_blocks_per_stage} allowed"
            raise LimitError(_join(field, si), msg)
        for bi, block in enumerate(stage):
            where = _join(_join(field, si), bi)
            if block.repeats > limits.max_repeats:
                raise LimitError(where, f"repeats {block.repeats} over the server's cap {limits.max_repeats}")
            if max(block.kernel_sizes) > limits.max_kernel_size:
                msg = f"kernel {max(block.kernel_sizes)} over the server's cap {limits.max_kernel_size}"
                raise LimitError(where, msg)
            if block.out_channels > limits.max_channels:
                msg = f"{block.out_channels} channels over the server's cap {limits.max_channels}"
                raise LimitError(where, msg)
            layers += block.repeats
    scaled_layers = math.ceil(layers * arch.depth_multiplier)
    if scaled_layers > limits.max_layers:
        raise LimitError(field, f"{scaled_layers} layers, over the server's cap {limits.max_layers}")
    try:
        profile = profile_architecture(arch, resolution)
    except ValueError as exc:  # channels that cannot be split into the requested groups, and the like
        raise LimitError(field, str(exc)) from None
    if profile.params > limits.max_params:
        raise LimitError(field, f"{profile.params:,} parameters, over the server's cap {limits.max_params:,}")
    if profile.macs > limits.max_macs:
        raise LimitError(field, f"{profile.macs:,} MACs, over the server's cap {limits.max_macs:,}")


def check_scaling_base(spec: JobSpec, limits: Limits) -> None:
    """Decode and check a scaling or netadapt job's base (a preset name, block strings or a network) as it will
    be trained.

    A trial id is not checked here (the API resolves it through the caller's visibility first).

    Raises:
        LimitError: An unknown preset, a bad block string or a network over the caps (field ``scaling.base...``
            or ``netadapt.base...``).
    """
    from nas_service.references import trial_id_reference

    for block, field in ((spec.scaling, "scaling.base"), (spec.netadapt, "netadapt.base")):
        if block is not None and trial_id_reference(block.base) is None:
            _check_base(block.base, field, spec, limits)


def _check_base(base: Any, field: str, spec: JobSpec, limits: Limits) -> None:
    from nas_service.arch.spec import Architecture

    if isinstance(base, str):
        from nas_service.arch.presets import get_preset, list_presets

        try:
            arch = get_preset(base)
        except KeyError:
            shown = base[:60]
            raise LimitError(
                field, f"{shown!r} is neither a trial id nor a preset ({', '.join(list_presets())})"
            ) from None
    elif isinstance(base, Architecture):
        arch = base
    else:
        arch = check_block_strings(base, field, limits)
    check_architecture(arch, field, limits, resolution=spec.proxy.resolution)


def check_space_limits(space: SearchSpace, limits: Limits) -> None:
    """Check a validated search space against the caps that settings may lower (kernels, repeats, channels).

    Raises:
        LimitError: Naming the stage field (``space.stages[2].kernels``).
    """
    for i, stage in enumerate(space.stages):
        where = f"space.stages[{i}]"
        kernels = list(stage.kernels) + [k for s in stage.mixed_kernels or [] for k in s]
        if max(kernels) > limits.max_kernel_size:
            raise LimitError(
                f"{where}.kernels", f"kernel {max(kernels)} over the server's cap {limits.max_kernel_size}"
            )
        repeats = stage.repeats + max(stage.repeat_deltas)
        if repeats > limits.max_repeats:
            raise LimitError(f"{where}.repeats", f"{repeats} repeats over the server's cap {limits.max_repeats}")
        channels = max(stage.channels(w) for w in stage.width_multipliers)
        if channels > limits.max_channels:
            msg = f"{channels} channels over the server's cap {limits.max_channels}"
            raise LimitError(f"{where}.out_channels", msg)


def cap_constraints(spec: JobSpec, limits: Limits) -> JobSpec:
    """``spec`` with ``constraints.max_params`` / ``max_macs`` no higher than the server's caps.

    Every candidate over them is then rejected before training (as any candidate over a job's own caps is).
    """
    caps = spec.constraints
    params = limits.max_params if caps.max_params is None else min(caps.max_params, limits.max_params)
    macs = limits.max_macs if caps.max_macs is None else min(caps.max_macs, limits.max_macs)
    if (params, macs) == (caps.max_params, caps.max_macs):
        return spec
    return spec.model_copy(update={"constraints": caps.model_copy(update={"max_params": params, "max_macs": macs})})


# ------------------------------------------------------------------ screening raw input (pydantic validators)
def numeric_annotation(annotation: Any) -> bool:
    """Whether a field's annotation takes numbers (``int``, ``float``, optional, or lists/mappings of them).

    Cached: it runs for every field of every validated model (stored specs are re-validated on each read).
    """
    try:
        return _numeric_cached(annotation)
    except TypeError:  # an unhashable annotation
        return _numeric_uncached(annotation)


@functools.lru_cache(maxsize=1024)
def _numeric_cached(annotation: Any) -> bool:
    return _numeric_uncached(annotation)


def _numeric_uncached(annotation: Any) -> bool:
    import types
    import typing

    if annotation in (int, float):
        return True
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return numeric_annotation(args[0])
    if origin in (typing.Union, types.UnionType):
        return any(numeric_annotation(a) for a in args if a is not type(None))
    if origin in (list, tuple, set, frozenset, dict) and args:
        return numeric_annotation(args[-1] if origin is dict else args[0])
    return False


def holds_bool(value: Any) -> bool:
    """Whether ``value`` is a boolean, or a list or mapping holding one directly."""
    if isinstance(value, bool):
        return True
    if isinstance(value, list | tuple):
        return any(isinstance(v, bool) for v in value)
    if isinstance(value, dict):
        return any(isinstance(v, bool) for v in value.values())
    return False


def bool_for_number(annotation: Any, value: Any) -> bool:
    """Whether ``value`` is a boolean (or holds one) given to a numeric field: ``true`` is not ``1``."""
    return holds_bool(value) and numeric_annotation(annotation)


def nul_path(value: Any) -> str | None:
    """The path of the first string (or key) holding a NUL character in raw input, else ``None``.

    PostgreSQL refuses NUL in text and JSON while SQLite stores it: refusing it at the door gives one answer on
    both backends.
    """
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path or "value"
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and "\x00" in key:
                    return path or "key"
                stack.append((child, _join(path, str(key))))
        elif isinstance(item, list | tuple):
            stack.extend((child, _join(path, i)) for i, child in enumerate(item))
    return None
