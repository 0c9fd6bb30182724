"""Latency targets: where (and how) a network's latency is measured.

A :class:`LatencyTarget` is a stored, named object: the runtime (``torch`` eager, ``torchscript``,
``onnxruntime``), the device, intra-op threads, batch size, dtype, the warm-up and repeat counts and the Ray
resource that places its measurements (a measurement node advertises it with
``ray start --resources '{"latency:edge-a76": 1}'``). The built-in :data:`DEFAULT_TARGET` (``local-cpu``:
torch eager, 1 thread, batch 1, measured on whichever worker runs the trial) always exists and keeps the
zero-config behaviour; it cannot be replaced or deleted.

Pure pydantic, no torch: the API validates targets without importing a runtime.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

__all__ = [
    "DEFAULT_TARGET",
    "DEFAULT_TARGET_NAME",
    "RUNTIMES",
    "LatencyTarget",
    "LatencyTargetUpdate",
    "Runtime",
    "target_settings",
]

Runtime = Literal["torch", "torchscript", "onnxruntime"]
RUNTIMES: tuple[str, ...] = ("torch", "torchscript", "onnxruntime")
DEFAULT_TARGET_NAME = "local-cpu"

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_RESOURCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._-]{0,127}$")


class LatencyTarget(BaseModel):
    """A named place and way to measure latency.

    Attributes:
        name: Unique name (lower-case letters, digits, ``.``, ``_``, ``-``; at most 63 characters).
        description: Free text.
        runtime: ``torch`` (eager), ``torchscript`` (traced) or ``onnxruntime`` (the exported ONNX model in an
            ``onnxruntime.InferenceSession``).
        device: ``cpu`` or ``cuda`` (onnxruntime is CPU-only here: its CPU wheel).
        threads: Intra-op threads of the runtime.
        batch_size: Images per timed forward pass.
        dtype: Element type of weights and input (``float32``; ``float16`` only on ``cuda``).
        warmup: Untimed runs before timing.
        repeats: Timed runs of one measurement round.
        resource: The Ray custom resource that places this target's measurements (e.g. ``latency:edge-a76``);
            ``None`` measures on the worker that trained the candidate.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(..., min_length=1, max_length=63)
    description: str = Field("", max_length=500)
    runtime: Runtime = "torch"
    device: Literal["cpu", "cuda"] = "cpu"
    threads: int = Field(1, ge=1, le=256)
    batch_size: int = Field(1, ge=1, le=1024)
    dtype: Literal["float32", "float16"] = "float32"
    warmup: int = Field(10, ge=0, le=10_000)
    repeats: int = Field(30, ge=1, le=100_000)
    resource: str | None = Field(None, max_length=128)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use lower-case letters, digits, '.', '_' and '-' (start with a letter or digit)")
        return value

    @field_validator("resource")
    @classmethod
    def _check_resource(cls, value: str | None) -> str | None:
        if value is not None and not _RESOURCE.match(value):
            raise ValueError("a Ray resource name: letters, digits, ':', '.', '_' and '-'")
        return value

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("runtime") == "onnxruntime" and value != "cpu":
            raise ValueError("onnxruntime targets measure on cpu (the CPU wheel)")
        return value

    @field_validator("dtype")
    @classmethod
    def _check_dtype(cls, value: str, info: ValidationInfo) -> str:
        if value == "float16" and info.data.get("device") != "cuda":
            raise ValueError("float16 is measured on cuda only")
        return value


class LatencyTargetUpdate(BaseModel):
    """A partial update of a stored target (``PATCH``-style: only the fields given change)."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(None, max_length=500)
    runtime: Runtime | None = None
    device: Literal["cpu", "cuda"] | None = None
    threads: int | None = Field(None, ge=1, le=256)
    batch_size: int | None = Field(None, ge=1, le=1024)
    dtype: Literal["float32", "float16"] | None = None
    warmup: int | None = Field(None, ge=0, le=10_000)
    repeats: int | None = Field(None, ge=1, le=100_000)
    resource: str | None = Field(None, max_length=128)

    def apply(self, target: LatencyTarget) -> LatencyTarget:
        """The target with these changes (validated again as a whole)."""
        changes = self.model_dump(exclude_unset=True)
        return LatencyTarget.model_validate({**target.model_dump(), **changes})


DEFAULT_TARGET = LatencyTarget(
    name=DEFAULT_TARGET_NAME,
    description="Built-in: torch eager, 1 thread, batch 1, on the worker that trains the candidate",
)


def target_settings(target: LatencyTarget) -> dict[str, Any]:
    """What of a target changes the quantity measured (the cache key and the predictor depend on it).

    Warm-up and repeats are left out on purpose (they change the precision, not the quantity), and so are the
    name, the description and the placing resource (two targets with equal settings on the same hardware
    measure the same thing).
    """
    return {
        "runtime": target.runtime,
        "device": target.device,
        "threads": target.threads,
        "batch_size": target.batch_size,
        "dtype": target.dtype,
    }
