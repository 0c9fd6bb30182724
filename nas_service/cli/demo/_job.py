"""The demo's search job: the ``digits`` space at one resolution, its proxy and the measured latency target."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nas_service.cli.demo._options import DemoOptions

if TYPE_CHECKING:
    from nas_service.jobspec import JobSpec

#: What the base network picks where the digits space offers a choice (else its first choice).
BASE_CHOICES: dict[str, Any] = {
    "op": "mbconv",
    "kernel": 3,
    "expansion": 6.0,
    "se": 0.0,
    "repeat_delta": 0,
    "width": 1.0,
    "stem_stride": 2,
}
#: The MACs cap at 16 px: about the 80th percentile of the digits space there.
MAX_MACS_16PX = 2_500_000


def base_params(space: Any) -> dict[str, Any]:
    """The parameters of the space's base network (see :data:`BASE_CHOICES`), canonicalised."""
    params: dict[str, Any] = {}
    for name, choices in space.parameters().items():
        preferred = BASE_CHOICES.get(name.split(".")[-1])
        params[name] = preferred if preferred in choices else choices[0]
    return dict(space.canonicalize(params))


def measure_target_ms(resolution: int, warmup: int = 10, repeats: int = 20) -> tuple[float, list[list[str]]]:
    """Batch-1 latency (ms, one thread) of the digits space's base network at ``resolution``.

    The median of ``repeats`` forwards after ``warmup``, as a trial measures it; the fastest of three rounds.

    Args:
        resolution: The proxy's image size.
        warmup: Forwards before timing, per round.
        repeats: Timed forwards per round.

    Returns:
        The latency and the base network's block strings.
    """
    import torch

    from nas_service.arch.builder import build_model
    from nas_service.jobspec import LatencyConfig
    from nas_service.space import digits_space
    from workers.latency import measure_latency

    space = digits_space()
    arch = space.decode(base_params(space))
    arch = arch.model_copy(update={"resolution": resolution, "in_channels": 1, "num_classes": 10})
    threads = torch.get_num_threads()
    try:
        torch.manual_seed(0)
        model = build_model(arch)
        cfg = LatencyConfig(device="cpu", warmup=warmup, repeats=repeats, threads=1)
        # The fastest of three rounds: other processes on a shared machine only ever add time.
        rounds = [measure_latency(model, (1, resolution, resolution), cfg).median_ms for _ in range(3)]
    finally:
        torch.set_num_threads(threads)
    return round(min(rounds), 3), _block_strings(arch)


def _block_strings(arch: Any) -> list[list[str]]:
    return [list(stage) for stage in arch.block_strings()]


def demo_space(resolution: int) -> Any:
    """The ``digits`` preset space searched at the proxy's resolution only.

    A search job trains every candidate at the proxy's resolution, so the preset's resolution choice would
    only make copies of the same network (trained again under another hash).
    """
    from nas_service.space import get_space

    space = get_space("digits")
    return type(space).model_validate({**space.model_dump(mode="json"), "resolutions": [resolution]})


def max_macs(resolution: int) -> int:
    """The demo's MACs cap at ``resolution`` (MACs grow with the square of the resolution)."""
    return int(MAX_MACS_16PX * (resolution / 16) ** 2)


def build_spec(opts: DemoOptions, target_ms: float) -> JobSpec:
    """The demo's job: the ``digits`` proxy sized for a few seconds per candidate on one CPU thread.

    Candidates over :data:`MAX_MACS_16PX` (scaled to the resolution) are rejected untrained: about the
    heaviest fifth of the space (the stem-stride-1 networks), which train 4-5 times slower than the median.

    Args:
        opts: The command line (trials, epochs, strategy, concurrency, resolution, timeout).
        target_ms: The reward's latency target (see :func:`measure_target_ms`).

    Returns:
        The job spec to submit.
    """
    from nas_service.jobspec import (
        BudgetConfig,
        ConstraintsConfig,
        JobSpec,
        LatencyConfig,
        ProxyConfig,
        RewardConfig,
        StrategyConfig,
    )

    settings: dict[str, Any] = {}
    if opts.strategy == "evolution":
        # A population of half the budget: the first half is sampled, the second half evolves from it.
        population = max(2, min(20, opts.trials // 2))
        settings = {"population": population, "sample_size": max(1, population // 2)}
    return JobSpec(
        name="demo",
        strategy=StrategyConfig(name=opts.strategy, seed=0, settings=settings),  # type: ignore[arg-type]
        budget=BudgetConfig(max_trials=opts.trials, max_concurrent=opts.concurrency, max_wall_s=opts.timeout_s),
        reward=RewardConfig(target_ms=target_ms, preset="soft"),
        proxy=ProxyConfig(
            dataset="digits",
            epochs=opts.epochs,
            batch_size=64,
            resolution=opts.resolution,
            device="cpu",
            amp=False,
            threads=1,
        ),
        latency=LatencyConfig(device="cpu", batch_size=1, warmup=10, repeats=20, threads=1),
        constraints=ConstraintsConfig(max_macs=max_macs(opts.resolution)),
        resources={"cpu": 1.0, "gpu": 0.0},
    )


def previous_target(client: Any, resolution: int, before: int | None = None) -> tuple[int, float] | None:
    """The last demo job at ``resolution`` in this data dir (older than job ``before``) and its reward target T.

    T is measured afresh on every demo run (the machine's load moves it), so the demo compares it with the last
    run's rather than let two runs' rewards look comparable when they are not.
    """
    for summary in client.list_jobs(page_size=50):
        if summary.name != "demo" or (before is not None and summary.id >= before):
            continue
        spec = client.get_job(summary.id).spec
        if spec is not None and spec.proxy.resolution == resolution:
            return int(summary.id), float(spec.reward.target_ms)
    return None


def target_change_note(target_ms: float, previous: tuple[int, float] | None) -> str | None:
    """A line saying how this run's T compares with the last demo run's (``None`` for a first run)."""
    if previous is None:
        return None
    job_id, before = previous
    change = (target_ms - before) / before
    if abs(change) <= 0.05:
        return f"T matches the last demo run's (job {job_id}: {before:.3f} ms, {change:+.0%})"
    return (
        f"T differs from the last demo run's (job {job_id}: {before:.3f} ms, {change:+.0%}): T is measured afresh "
        f"each run, so the two runs' rewards are not comparable; `nas pareto {job_id} --target-ms {target_ms:.3f}` "
        "re-scores that job at this run's T"
    )
