"""``nas space``: inspect and validate search spaces locally (presets or JSON/YAML files).

``nas space show SOURCE`` prints a space's per-stage choices, its exact cardinality and one seeded sample
(block strings, and analytic params/MACs); ``nas space validate FILE`` checks a file and prints the
cardinality, or the offending field with exit code 2. Neither imports torch.

The Typer group is :data:`space_app`, so other modules may add commands to the same ``space`` group.
"""

from __future__ import annotations

import json
from typing import Any

import typer

from nas_service.space import SearchSpace, SpaceValidationError, list_spaces, load_space

space_app = typer.Typer(
    help="Search spaces: show and validate presets or JSON/YAML files.", no_args_is_help=True
)


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {' '.join(str(message).split())}", err=True)
    return typer.Exit(code=code)


def _load(source: str) -> SearchSpace:
    """A preset or a file, or a one-line error and exit code 2."""
    try:
        return load_space(source)
    except SpaceValidationError as exc:
        raise _fail(f"invalid search space {source}: {exc}") from None
    except KeyError as exc:
        raise _fail(str(exc.args[0] if exc.args else exc)) from None


def _fmt(values: list[Any]) -> str:
    return " ".join(json.dumps(v) if isinstance(v, bool) else str(v) for v in values)


def _profile(arch: Any) -> dict[str, int] | None:
    """Analytic params and MACs when the architecture profile module is available and can count ``arch``."""
    try:
        from nas_service.arch.profile import count_macs, count_params
    except ImportError:
        return None
    try:
        return {"params": int(count_params(arch)), "macs": int(count_macs(arch))}
    except ValueError:
        return None


def _sample_summary(space: SearchSpace, seed: int) -> dict[str, Any]:
    params = space.sample(seed)
    arch = space.decode(params)
    out: dict[str, Any] = {
        "seed": seed,
        "params": params,
        "block_strings": arch.block_strings(),
        "resolution": arch.resolution,
        "architecture": arch.model_dump(mode="json"),
    }
    prof = _profile(arch)
    if prof is not None:
        out["param_count"] = prof["params"]
        out["macs"] = prof["macs"]
    return out


def _print_space(space: SearchSpace, sample: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)
    console.print(f"[bold]{space.name}[/bold] (version {space.version}) {space.description}")
    card = space.cardinality()
    console.print(
        f"cardinality {card:,} (10^{space.log10_cardinality():.2f}); {len(space.parameters())} parameters"
    )
    table = Table(title="stages (a single value is fixed)")
    for col in ("stage", "c", "r", "s"):
        table.add_column(col, justify="right")
    for col in ("ops", "kernels", "mixed", "partition", "exp", "se", "dr", "width", "act", "skip"):
        table.add_column(col)
    for i, st in enumerate(space.stages):
        widths = " ".join(f"{w}({st.channels(w)})" for w in st.width_multipliers)
        mixed = " ".join(".".join(map(str, m)) for m in st.mixed_kernels or []) or "-"
        table.add_row(
            str(i),
            str(st.out_channels),
            str(st.repeats),
            str(st.stride),
            _fmt(st.ops),
            _fmt(st.kernels),
            mixed,
            _fmt(st.partition),
            _fmt(st.expansions),
            _fmt(st.se_ratios),
            _fmt(st.repeat_deltas),
            widths,
            _fmt(st.activations),
            _fmt(st.skip),
        )
    console.print(table)
    glob = space.parameters()
    console.print(
        f"stem stride {_fmt(glob['stem_stride'])}; resolution {_fmt(glob['resolution'])}; "
        f"phi {_fmt(glob['phi'])} (alpha {space.compound.alpha}, beta {space.compound.beta}, "
        f"gamma {space.compound.gamma})"
    )
    console.print(f"\nsample (seed {sample['seed']}) at {sample['resolution']}x{sample['resolution']}:")
    for i, stage in enumerate(sample["block_strings"]):
        console.print(f"  stage {i}: {' '.join(stage)}", highlight=False)
    if "param_count" in sample:
        console.print(f"  {sample['param_count']:,} params, {sample['macs']:,} MACs")
    console.print(f"  params: {json.dumps(sample['params'])}", highlight=False, soft_wrap=True)


@space_app.command("show")
def show(
    source: str = typer.Argument("", help=f"A preset ({', '.join(list_spaces())}) or a JSON/YAML file."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object instead of tables."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the sample shown."),
) -> None:
    """Show a space's choices per stage, its exact cardinality and one seeded sample."""
    if not source:
        raise _fail(f"give a preset name or a JSON/YAML file; presets: {', '.join(list_spaces())}")
    space = _load(source)
    try:
        sample = _sample_summary(space, seed)
    except ValueError as exc:  # a valid space whose networks do not decode is a bug: still one line
        raise _fail(f"cannot decode a sample of {space.name}: {exc}", code=1) from None
    if as_json:
        payload = {
            "name": space.name,
            "cardinality": space.cardinality(),
            "log10_cardinality": space.log10_cardinality(),
            "parameters": space.parameters(),
            "sample": sample,
            "space": space.model_dump(mode="json"),
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    _print_space(space, sample)


@space_app.command("validate")
def validate(
    file: str = typer.Argument(..., help="A JSON or YAML search-space file (or a preset name)."),
) -> None:
    """Validate a search space locally: prints OK and its cardinality, or the offending field (exit 2)."""
    space = _load(file)
    card = space.cardinality()
    typer.echo(f"OK: {space.name}: cardinality {card:,} (10^{space.log10_cardinality():.2f})")


def register(app: typer.Typer) -> None:
    """Add the ``space`` group to ``app``."""
    app.add_typer(space_app, name="space")
