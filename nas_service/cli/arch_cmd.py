"""``nas arch``: inspect architectures (presets, block strings, JSON files).

``nas arch show TARGET`` accepts:

* a preset name (``nas arch show efficientnet_b0``; ``nas arch show --list`` prints them);
* block strings, as one argument: stages separated by ``|`` or ``;``, blocks within a stage by ``,`` or
  whitespace, e.g. ``"ds_r1_k3_s1_c16 | ir_r2_k3_s2_e6_c24_se0.25, ir_r1_k5_s1_e6_c24 ; cn_r1_k1_s1_c960"``
  (other settings take the :class:`~nas_service.arch.spec.Architecture` defaults: swish, stem 32, head 1280);
* a JSON file holding an Architecture (or the ``--json`` output of this command);
* a detection preset (``nas arch show efficientdet_d0``) or a JSON file holding a DetectionArchitecture (an
  object with a ``backbone``): params, MACs and a per-part table (see :mod:`nas_service.cli.arch_detection`).

Params and MACs are analytic (:mod:`nas_service.arch.profile`), so the command never imports torch.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import typer

from nas_service.arch.spec import Architecture

arch_app = typer.Typer(
    help="Inspect architectures: presets, block strings, JSON files.", no_args_is_help=True
)


class ArchInputError(ValueError):
    """The TARGET of ``arch show`` could not be turned into an architecture."""


def parse_block_strings(text: str) -> list[list[str]]:
    """Split ``"a, b | c; d e"`` into stages (``|`` or ``;``) of blocks (``,`` or whitespace)."""
    stages = []
    for chunk in re.split(r"[|;]", text):
        blocks = [b for b in re.split(r"[,\s]+", chunk) if b]
        if not blocks:
            raise ArchInputError(f"empty stage in block strings {text!r}")
        stages.append(blocks)
    return stages


def _validation_message(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "architecture"
        return f"{loc}: {err['msg']}"
    return str(exc)


def load_architecture(target: str, **overrides: Any) -> Architecture:
    """Turn a preset name, block strings or a JSON file path into an :class:`Architecture`.

    Raises:
        ArchInputError: With a one-line message naming what is wrong.
    """
    from nas_service.arch.blockstr import BlockStringError
    from nas_service.arch.presets import PRESETS, get_preset, list_presets

    overrides = {k: v for k, v in overrides.items() if v is not None}
    try:
        if target in PRESETS:
            return get_preset(target, **overrides)
        path = Path(target)
        if target.endswith(".json") or path.is_file():
            if not path.is_file():
                raise ArchInputError(f"no such file: {target}")
            try:
                data = json.loads(path.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ArchInputError(f"cannot read {target}: {exc}") from None
            if isinstance(data, dict) and isinstance(data.get("architecture"), dict):
                data = data["architecture"]
            if not isinstance(data, dict):
                raise ArchInputError(f"{target}: expected a JSON object describing an architecture")
            return Architecture.model_validate({**data, **overrides})
        if re.search(r"[|;,\s]", target) or re.match(r"(ds|ir|cn)_", target):
            return Architecture.from_block_strings(parse_block_strings(target), **overrides)
        raise ArchInputError(
            f"unknown preset {target!r} (block strings start with ds_, ir_ or cn_); "
            f"valid presets: {', '.join(list_presets())}"
        )
    except BlockStringError as exc:
        raise ArchInputError(f"bad block string: {exc}") from None
    except ArchInputError:
        raise
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise ArchInputError(f"invalid architecture: {_validation_message(exc)}") from None


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _human(value: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f}{unit}"
    return str(value)


@arch_app.command("show")
def show(
    target: str = typer.Argument(
        "",
        help="Preset name, block strings (stages split by '|' or ';', blocks by ',' or space) or FILE.json.",
    ),
    resolution: int | None = typer.Option(
        None, "--resolution", "-r", min=8, help="Input resolution for MACs."
    ),
    num_classes: int | None = typer.Option(None, "--num-classes", "-n", min=1, help="Classifier outputs."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object instead of a table."),
    list_only: bool = typer.Option(False, "--list", help="List the preset names and exit."),
) -> None:
    """Show an architecture's params, MACs and per-stage (per-part for detectors) breakdown (analytic; no torch)."""
    from nas_service.arch.detection_presets import list_detection_presets
    from nas_service.arch.presets import list_presets
    from nas_service.arch.profile import profile_architecture
    from nas_service.cli import arch_detection

    if list_only:
        typer.echo("\n".join([*list_presets(), *list_detection_presets()]))
        return
    if not target:
        raise _fail(f"give a preset name, block strings or FILE.json; presets: {', '.join(list_presets())}")
    if arch_detection.is_detection_target(target):
        try:
            det = arch_detection.load_detection(target, resolution=resolution, num_classes=num_classes)
            arch_detection.show_detection(det, as_json)
        except ValueError as exc:
            raise _fail(str(exc)) from None
        return
    try:
        arch = load_architecture(target, resolution=resolution, num_classes=num_classes)
        prof = profile_architecture(arch)
    except ArchInputError as exc:
        raise _fail(str(exc)) from None
    except ValueError as exc:  # the resolver refuses a block it cannot build
        raise _fail(f"invalid architecture: {exc}") from None

    if as_json:
        payload = {
            "name": arch.name,
            "params": prof.params,
            "macs": prof.macs,
            "resolution": prof.resolution,
            "block_strings": arch.block_strings(),
            "stages": [dataclasses.asdict(row) for row in prof.rows],
            "architecture": arch.model_dump(mode="json"),
        }
        typer.echo(json.dumps(payload, indent=2))
        return

    from rich.console import Console
    from rich.table import Table

    title = f"{arch.name or 'architecture'}: {prof.params:,} params ({_human(prof.params)}), "
    title += f"{prof.macs:,} MACs ({_human(prof.macs)}) at {prof.resolution}x{prof.resolution}"
    table = Table(title=title)
    for col in ("stage", "block string", "repeats", "in", "out", "stride", "res out", "params", "MACs"):
        numeric = col not in ("stage", "block string")
        table.add_column(col, justify="right" if numeric else "left", no_wrap=col == "block string")
    table.add_row(
        "stem",
        f"conv{arch.stem.kernel_size}x{arch.stem.kernel_size}",
        "1",
        str(arch.in_channels),
        str(prof.stem_channels),
        str(arch.stem.stride),
        str(prof.stem_out_size),
        f"{prof.stem.params:,}",
        f"{prof.stem.macs:,}",
    )
    for row in prof.rows:
        table.add_row(
            str(row.stage),
            row.block_string,
            str(row.repeats),
            str(row.in_channels),
            str(row.out_channels),
            str(row.stride),
            str(row.out_size),
            f"{row.params:,}",
            f"{row.macs:,}",
        )
    table.add_row(
        "head",
        f"{arch.head.kind} + fc{arch.num_classes}",
        "",
        str(prof.rows[-1].out_channels if prof.rows else ""),
        f"{prof.head_channels}/{arch.num_classes}",
        "",
        "1",
        f"{prof.head.params:,}",
        f"{prof.head.macs:,}",
    )
    Console(width=200).print(table)


@arch_app.command("scale-detection")
def scale_detection(
    rule: str = typer.Option("table", "--rule", help="table (the stored D-table) or formula (the paper's)."),
    base: str | None = typer.Option(None, "--base", help="Base detector for --rule formula: preset or FILE.json."),
    phis: str = typer.Option("0-7", "--phis", help="phi values: 'A-B' or a comma list."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show detection compound scaling: backbone, BiFPN width/depth, head depth, resolution, params, MACs."""
    from nas_service.cli import arch_detection

    if rule not in ("table", "formula"):
        raise _fail(f"--rule: expected table or formula, got {rule!r}")
    try:
        arch_detection.show_detection_scaling(rule, base, arch_detection.parse_phis(phis), as_json)
    except ValueError as exc:
        raise _fail(str(exc)) from None


def register(app: typer.Typer) -> None:
    """Add the ``arch`` group to ``app``."""
    app.add_typer(arch_app, name="arch")
