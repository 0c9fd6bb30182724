"""``nas arch show`` for detectors: a detection preset or a JSON file holding a DetectionArchitecture.

Params and MACs are analytic (:mod:`nas_service.arch.detection_profile`); no torch import.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from nas_service.arch.detection import DetectionArchitecture


def is_detection_target(target: str) -> bool:
    """True for a detection preset name or a JSON file whose object has a ``backbone``."""
    from nas_service.arch.detection_presets import DETECTION_PRESETS

    if target in DETECTION_PRESETS:
        return True
    path = Path(target)
    if not path.is_file():
        return False
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    if isinstance(data, dict) and isinstance(data.get("architecture"), dict):
        data = data["architecture"]
    return isinstance(data, dict) and "backbone" in data


def load_detection(target: str, **overrides: Any) -> DetectionArchitecture:
    """A detection preset or JSON file, with field overrides (``None`` values are ignored).

    Raises:
        ValueError: A one-line message naming the offending field.
    """
    from pydantic import ValidationError

    from nas_service.arch.detection_presets import DETECTION_PRESETS, get_detection_preset

    overrides = {k: v for k, v in overrides.items() if v is not None}
    try:
        if target in DETECTION_PRESETS:
            return get_detection_preset(target, **overrides)
        data = json.loads(Path(target).read_text())
        if isinstance(data.get("architecture"), dict):
            data = data["architecture"]
        return DetectionArchitecture.model_validate({**data, **overrides})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise ValueError(f"invalid detection architecture: {loc + ': ' if loc else ''}{msg}") from None


def _human(value: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f}{unit}"
    return str(value)


def detection_payload(spec: DetectionArchitecture) -> dict[str, Any]:
    """The ``--json`` object: totals, parts, levels, the backbone's block strings and the architecture."""
    import dataclasses

    from nas_service.arch.detection_profile import profile_detection

    prof = profile_detection(spec)
    return {
        "name": spec.name,
        "kind": "detection",
        "params": prof.params,
        "macs": prof.macs,
        "resolution": prof.resolution,
        "parts": {k: dataclasses.asdict(v) for k, v in prof.parts().items()},
        "levels": [dataclasses.asdict(lv) for lv in prof.levels],
        "feature_channels": list(prof.feature_channels),
        "summary": spec.summary_string(),
        "backbone_block_strings": spec.backbone.block_strings(),
        "architecture": spec.model_dump(mode="json"),
    }


def show_detection(spec: DetectionArchitecture, as_json: bool) -> None:
    """Print the detector's params, MACs and per-part table (or the JSON object)."""
    payload = detection_payload(spec)
    if as_json:
        typer.echo(json.dumps(payload, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    params, macs, res = payload["params"], payload["macs"], payload["resolution"]
    title = f"{spec.name or 'detector'}: {params:,} params ({_human(params)}), "
    title += f"{macs:,} MACs ({_human(macs)}) at {res}x{res}"
    table = Table(title=title)
    for col in ("part", "description", "params", "MACs"):
        table.add_column(col, justify="right" if col in ("params", "MACs") else "left")
    bb = spec.backbone
    levels = f"P{spec.min_level}-P{spec.max_level}"
    descriptions = {
        "backbone": f"{bb.name or 'custom'} stages 0-{_stages(spec)[-1]}, features {payload['feature_channels']}",
        "bifpn": f"{levels}, {spec.fpn_channels} ch x {spec.fpn_repeats} layers, {spec.fpn_weighting} fusion",
        "class_head": f"{spec.head_repeats} sep convs, {spec.num_anchors} anchors x {spec.num_classes} classes",
        "box_head": f"{spec.head_repeats} sep convs, {spec.num_anchors} anchors x 4",
    }
    for name, cost in payload["parts"].items():
        table.add_row(name, descriptions[name], f"{cost['params']:,}", f"{cost['macs']:,}")
    Console(width=200).print(table)
    sizes = ", ".join(f"P{lv['level']} {lv['size']}x{lv['size']}" for lv in payload["levels"])
    typer.echo(f"levels: {sizes}")


def _stages(spec: DetectionArchitecture) -> list[int]:
    from nas_service.arch.detection import backbone_feature_stages

    return backbone_feature_stages(spec.backbone, spec.min_level, spec.backbone_max_level)


def parse_phis(text: str) -> list[int]:
    """``"0-7"`` or ``"0,2,4"`` to a list of ``phi`` values.

    Raises:
        ValueError: Naming ``--phis`` on malformed text.
    """
    try:
        if "-" in text:
            lo, hi = (int(v) for v in text.split("-", 1))
            values = list(range(lo, hi + 1))
        else:
            values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"--phis: expected 'A-B' or a comma list of integers, got {text!r}") from None
    if not values or min(values) < 0:
        raise ValueError(f"--phis: expected non-negative values, got {text!r}")
    return values


def show_detection_scaling(rule: str, base: str | None, phis: list[int], as_json: bool) -> None:
    """Print the detection scaling table (``table`` rule: the D-table; ``formula``: the paper's formulas).

    Raises:
        ValueError: A one-line message naming the bad option.
    """
    import dataclasses

    from nas_service.arch.detection_scaling import detection_scaling_table

    spec = load_detection(base) if base else None
    if rule == "formula" and spec is None:
        raise ValueError("--base: the formula rule scales a base detector (a preset or FILE.json)")
    rows = detection_scaling_table(phis, "formula" if rule == "formula" else "table", spec)
    if as_json:
        typer.echo(json.dumps([dataclasses.asdict(r) for r in rows], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"detection compound scaling ({rule})")
    columns = ("phi", "name", "backbone", "BiFPN width", "BiFPN layers", "head layers", "resolution", "params", "MACs")
    for col in columns:
        table.add_column(col, justify="left" if col in ("name", "backbone") else "right")
    for r in rows:
        table.add_row(
            str(r.phi),
            r.name or "",
            r.backbone or "",
            str(r.fpn_channels),
            str(r.fpn_repeats),
            str(r.head_repeats),
            str(r.resolution),
            f"{r.params:,}",
            f"{r.macs:,}",
        )
    Console(width=200).print(table)
