"""Export a searched architecture (and its trained proxy weights) to files other tools load.

Formats (``formats=`` of :func:`export_trial`):

``json``
    ``architecture.json``: the :class:`~nas_service.arch.spec.Architecture`, lossless.
``blocks``
    ``blocks.txt``: timm-style block strings, one stage per line, blocks separated by spaces.
``torchscript``
    ``model.pt``: a traced TorchScript module (``torch.jit.load``).
``onnx``
    ``model.onnx``: opset 17, input ``input`` (N, C, H, W) with a dynamic batch axis, output ``logits``.

A detector (:class:`~nas_service.arch.detection.DetectionArchitecture`, an EfficientDet) exports the same way:
``architecture.json`` is the detector, ``blocks.txt`` its backbone, and the graphs give the raw head outputs per
feature level, ``class_p{level}`` (N, anchors x classes, H, W; logits) then ``box_p{level}`` (N, anchors x 4, H,
W; box regressions against the anchors), for levels ``min_level..max_level``. Decoding and NMS stay outside the
graph (:mod:`nas_service.detection.inference` does them in Python); the anchor settings are in the ONNX metadata
(``nas.detection``) and in ``architecture.json``.

Whenever weights are given, ``weights.pt`` (the ``state_dict``) is written as well.

Preprocessing: a trained network expects its training split's per-channel standardisation. When the trial's
:class:`Preprocessing` is known (the worker reports it with the weights; the API serves it at
``GET /api/v1/trials/{id}/preprocessing``), ``preprocessing.json`` says what the input is (shape, channel order,
value range, resize, mean/std), the ONNX file carries the same JSON in its metadata (``nas.preprocessing``), and
by default (``embed_preprocessing``) the TorchScript and ONNX graphs start with the standardisation itself: they
take images scaled to ``[0, 1]`` at the network's resolution, as they come, and give the accuracy the service
reported.

Trained weights: the dispatcher stores a trial's proxy-trained weights in the deployment's artifact store under
``trials/<trial_id>/weights.pt`` (:func:`nas_service.artifacts.trial_weights_key`), and the controller streams
them at ``GET /api/v1/trials/{id}/weights``. Without them, the untrained network is exported (with a warning).

torch is imported lazily: importing this module stays cheap.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from nas_service.arch.detection import DetectionArchitecture
from nas_service.arch.spec import Architecture

if TYPE_CHECKING:
    import torch

ALL_FORMATS: tuple[str, ...] = ("json", "torchscript", "onnx", "blocks")
FILE_NAMES: dict[str, str] = {
    "json": "architecture.json",
    "blocks": "blocks.txt",
    "torchscript": "model.pt",
    "onnx": "model.onnx",
    "weights": "weights.pt",
}
ONNX_OPSET = 17
FILE_NAMES["preprocessing"] = "preprocessing.json"


class Preprocessing(BaseModel):
    """What a trained network's input is: what an exported model needs from whoever feeds it.

    Attributes:
        input_shape: ``(C, H, W)`` per image.
        channel_order: ``gray`` (one channel) or ``RGB``.
        value_range: Pixel values before standardisation (``[0, 1]``: 8-bit images divided by 255).
        resize: How images were brought to ``H x W`` (``bilinear``, antialiased when shrinking).
        mean: Per-channel mean subtracted (the training split's).
        std: Per-channel standard deviation divided by.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    input_shape: tuple[int, int, int]
    channel_order: Literal["gray", "RGB"] = "RGB"
    value_range: tuple[float, float] = (0.0, 1.0)
    resize: Literal["bilinear"] = "bilinear"
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @model_validator(mode="after")
    def _per_channel(self) -> Preprocessing:
        channels = self.input_shape[0]
        if len(self.mean) != channels or len(self.std) != channels or any(v <= 0 for v in self.std):
            raise ValueError(f"mean and std need {channels} values (std > 0), one per channel")
        return self


class ExportError(RuntimeError):
    """An export could not be produced (unknown format, weights that do not fit, exporter failure)."""


class UntrainedExportWarning(UserWarning):
    """Exported without trained weights: the files hold a randomly initialised network."""


def normalize_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """Validate export formats; ``"all"`` expands to every format.

    Raises:
        ExportError: On an unknown format name.
    """
    names = [formats] if isinstance(formats, str) else list(formats)
    out: list[str] = []
    for name in names:
        expanded = ALL_FORMATS if name == "all" else (name,)
        for fmt in expanded:
            if fmt not in ALL_FORMATS:
                raise ExportError(f"unknown export format {fmt!r}; choose from {', '.join(ALL_FORMATS)} or all")
            if fmt not in out:
                out.append(fmt)
    return tuple(out)


def blocks_text(architecture: Architecture) -> str:
    """The ``blocks.txt`` content: a comment header, then one stage per line."""
    lines = [
        "# nas-service block strings (timm EfficientNet grammar): one stage per line, space-separated",
        f"# resolution={architecture.resolution} width={architecture.width_multiplier} "
        f"depth={architecture.depth_multiplier} classes={architecture.num_classes}",
    ]
    lines += [" ".join(stage) for stage in architecture.block_strings()]
    return "\n".join(lines) + "\n"


def _atomic_write(path: Path, write: Any) -> None:
    """Write through a temp file in the same directory and ``os.replace`` it: no half-written exports."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_text(path: Path, text: str) -> None:
    _atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def export_module(
    model: torch.nn.Module,
    example_input: torch.Tensor,
    out_dir: Path,
    formats: Iterable[str],
    metadata: Mapping[str, str] | None = None,
    outputs: Sequence[str] = ("logits",),
) -> dict[str, Path]:
    """Write the torch-based formats (``torchscript``, ``onnx``) of an ``nn.Module``.

    Args:
        model: The network; put in eval mode here.
        example_input: A batch the network accepts (traced; batch axis made dynamic in ONNX).
        out_dir: Existing output directory.
        formats: Which of ``torchscript``/``onnx`` to write (others are ignored).
        metadata: Key/value pairs stored in the ONNX file's ``metadata_props``.
        outputs: Names of the graph's outputs, in the order the module returns them (flattened).

    Returns:
        Format name to written path.
    """
    import torch

    model.eval()
    written: dict[str, Path] = {}
    wanted = set(formats)
    with torch.no_grad(), warnings.catch_warnings():
        # torch.jit and the legacy ONNX exporter announce their deprecation on every call; the files are fine.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX.*")
        warnings.filterwarnings("ignore", message=".*will be removed.*")
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        if "torchscript" in wanted:
            path = out_dir / FILE_NAMES["torchscript"]
            traced = torch.jit.trace(model, example_input, check_trace=False, strict=len(outputs) == 1)
            _atomic_write(path, lambda tmp: torch.jit.save(traced, tmp))
            written["torchscript"] = path
        if "onnx" in wanted:
            path = out_dir / FILE_NAMES["onnx"]
            _atomic_write(path, lambda tmp: _onnx_export(model, example_input, tmp, metadata or {}, outputs))
            written["onnx"] = path
    return written


def _onnx_export(
    model: torch.nn.Module,
    example_input: torch.Tensor,
    path: str,
    metadata: Mapping[str, str],
    outputs: Sequence[str] = ("logits",),
) -> None:
    _onnx_graph(model, example_input, path, outputs)
    if metadata:
        import onnx

        proto = onnx.load(path)
        for key, value in metadata.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, path)


def _onnx_graph(
    model: torch.nn.Module, example_input: torch.Tensor, path: str, outputs: Sequence[str] = ("logits",)
) -> None:
    import torch

    common: dict[str, Any] = {
        "opset_version": ONNX_OPSET,
        "input_names": ["input"],
        "output_names": list(outputs),
    }
    try:
        import onnxscript  # noqa: F401  (the dynamo exporter needs it)
    except ImportError:
        # The TorchScript-based exporter needs nothing beyond torch and gives a single self-contained file.
        torch.onnx.export(
            model,
            (example_input,),
            path,
            dynamo=False,
            dynamic_axes={name: {0: "batch"} for name in ("input", *outputs)},
            **common,
        )
        return
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.onnx.export(
        model, (example_input,), dynamo=True, dynamic_shapes=({0: batch},), external_data=False, **common
    )
    if program is None:  # pragma: no cover - dynamo export always returns a program
        raise ExportError("the ONNX exporter returned nothing")
    program.save(path)


def output_names(architecture: Architecture | DetectionArchitecture) -> list[str]:
    """The graph outputs' names: ``logits``, or a detector's ``class_p{level}`` then ``box_p{level}``."""
    if isinstance(architecture, DetectionArchitecture):
        levels = range(architecture.min_level, architecture.max_level + 1)
        return [f"class_p{level}" for level in levels] + [f"box_p{level}" for level in levels]
    return ["logits"]


def _detection_metadata(architecture: DetectionArchitecture) -> str:
    """What decoding a detector's outputs needs (the anchors), as the ``nas.detection`` ONNX metadata."""
    keys = ("num_classes", "min_level", "max_level", "num_scales", "aspect_ratios", "anchor_scale", "resolution")
    doc = {k: v for k, v in architecture.model_dump(mode="json").items() if k in keys}
    return json.dumps({**doc, "outputs": output_names(architecture)}, sort_keys=True)


def export_trial(
    architecture: Architecture | DetectionArchitecture,
    state_dict: Mapping[str, Any] | None,
    out_dir: str | os.PathLike[str],
    formats: str | Iterable[str] = ALL_FORMATS,
    preprocessing: Preprocessing | None = None,
    embed_preprocessing: bool = True,
) -> dict[str, Path]:
    """Export an architecture, with trained weights when given.

    Args:
        architecture: The network to export.
        state_dict: Trained weights for ``build_model(architecture)`` (``torch.load(weights.pt)``), or
            ``None`` to export the untrained network (warns with :class:`UntrainedExportWarning` when a torch
            format is asked for).
        out_dir: Output directory (created).
        formats: Any of ``json``, ``blocks``, ``torchscript``, ``onnx``, or ``"all"``.
        preprocessing: The input the weights were trained on (written to ``preprocessing.json`` and the ONNX
            metadata); ``None`` when unknown (the untrained network, an old trial).
        embed_preprocessing: Start the TorchScript/ONNX graphs with the standardisation, so they take images in
            ``value_range`` (module docstring); ``False`` exports the bare network (standardised input).

    Returns:
        Format name to written path (``weights`` and ``preprocessing`` included when given).

    Raises:
        ExportError: Unknown format, weights that do not match the architecture, or an exporter failure.
    """
    wanted = normalize_formats(formats)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    if "json" in wanted:
        path = out / FILE_NAMES["json"]
        _write_text(path, json.dumps(architecture.model_dump(mode="json"), indent=2) + "\n")
        written["json"] = path
    if "blocks" in wanted:
        path = out / FILE_NAMES["blocks"]
        backbone = architecture.backbone if isinstance(architecture, DetectionArchitecture) else architecture
        _write_text(path, blocks_text(backbone))
        written["blocks"] = path
    metadata: dict[str, str] = {}
    if isinstance(architecture, DetectionArchitecture):
        metadata["nas.detection"] = _detection_metadata(architecture)
    if preprocessing is not None:
        path = out / FILE_NAMES["preprocessing"]
        doc = {**preprocessing.model_dump(mode="json"), "embedded_in_graph": embed_preprocessing}
        _write_text(path, json.dumps(doc, indent=2) + "\n")
        written["preprocessing"] = path
        metadata["nas.preprocessing"] = json.dumps(doc, sort_keys=True)
    torch_formats = [f for f in wanted if f in ("torchscript", "onnx")]
    if not torch_formats and state_dict is None:
        return written

    import torch

    from nas_service.arch import build_model  # type: ignore[attr-defined]
    from nas_service.arch.bifpn import build_detector

    detector = isinstance(architecture, DetectionArchitecture)
    model = build_detector(architecture) if detector else build_model(architecture)  # type: ignore[arg-type]
    if state_dict is not None:
        try:
            model.load_state_dict(dict(state_dict))
        except (RuntimeError, KeyError) as exc:
            raise ExportError(f"the weights do not fit this architecture: {exc}") from exc
        path = out / FILE_NAMES["weights"]
        _atomic_write(path, lambda tmp: torch.save(model.state_dict(), tmp))
        written["weights"] = path
    elif torch_formats:
        warnings.warn(
            "no trained weights for this architecture: exporting the untrained (random) network",
            UntrainedExportWarning,
            stacklevel=2,
        )
    channels = 3 if isinstance(architecture, DetectionArchitecture) else architecture.in_channels  # RGB images
    example = torch.zeros(1, channels, architecture.resolution, architecture.resolution)
    graph = with_standardisation(model, preprocessing) if preprocessing and embed_preprocessing else model
    try:
        written.update(export_module(graph, example, out, torch_formats, metadata, output_names(architecture)))
    except ExportError:
        raise
    except Exception as exc:  # the exporters raise many types; callers get one
        raise ExportError(f"export failed: {type(exc).__name__}: {exc}") from exc
    return written


def with_standardisation(model: torch.nn.Module, preprocessing: Preprocessing) -> torch.nn.Module:
    """``model`` preceded by ``(x - mean) / std``: a network that takes images in ``preprocessing.value_range``."""
    import torch

    class _Standardise(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            c = len(preprocessing.mean)
            self.register_buffer("mean", torch.tensor(preprocessing.mean, dtype=torch.float32).view(1, c, 1, 1))
            self.register_buffer("std", torch.tensor(preprocessing.std, dtype=torch.float32).view(1, c, 1, 1))

        mean: torch.Tensor
        std: torch.Tensor

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return (x - self.mean) / self.std

    return torch.nn.Sequential(_Standardise(), model).eval()


def load_state_dict(source: str | os.PathLike[str] | bytes) -> dict[str, Any]:
    """Load a ``weights.pt`` (a file, or its bytes as the artifact store returns them) safely (``weights_only``)."""
    import io

    import torch

    target = io.BytesIO(source) if isinstance(source, bytes) else source
    return dict(torch.load(target, map_location="cpu", weights_only=True))
