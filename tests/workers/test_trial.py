"""One trial attempt end to end, in this process."""

from __future__ import annotations

import io

import torch

from nas_service.arch.builder import build_model
from nas_service.arch.spec import Architecture
from nas_service.jobspec import LatencyConfig, LatencyMeasurement, ProxyConfig, TrialState
from nas_service.reward import mnasnet_reward
from workers.trial import (
    NullReporter,
    TrialPayload,
    TrialReporter,
    run_trial,
    run_trial_detailed,
    serialize_weights,
)


def _payload(arch: Architecture, proxy: ProxyConfig, latency: LatencyConfig, **kw: object) -> TrialPayload:
    return TrialPayload(trial_id="t1", job_id="j1", architecture=arch, proxy=proxy, latency=latency, **kw)


def test_completed_trial_reports_everything(
    tiny_arch: Architecture, tiny_proxy: ProxyConfig, quick_latency: LatencyConfig
) -> None:
    reporter = NullReporter()
    assert isinstance(reporter, TrialReporter)
    run = run_trial_detailed(_payload(tiny_arch, tiny_proxy, quick_latency), reporter)
    r = run.result
    assert r.state == TrialState.COMPLETED, r.error
    assert r.accuracy is not None and r.latency is not None and r.latency.samples == 5
    assert r.params and r.params > 0 and r.macs and r.macs > 0
    assert r.epochs_run == 1 and len(reporter.epochs) == 1 and reporter.heartbeats > 0
    assert reporter.measured == r.latency  # reported before training, for the pruner
    assert run.input_shape == [1, 16, 16] and run.num_classes == 10
    assert r.train_seconds and r.wall_seconds and r.wall_seconds >= r.train_seconds
    assert r.worker and ":" in r.worker and r.node and r.device and r.device.startswith("cpu:")
    expected = mnasnet_reward(r.accuracy, r.latency.median_ms, 5.0, -0.07, -0.07)
    assert run.reward is not None and abs(run.reward - expected) < 1e-9
    assert set(run.phases) == {"data", "build", "train", "latency", "report", "other"}
    assert abs(sum(run.phases.values()) - r.wall_seconds) < 1e-3
    assert run.measured_arch_hash and run.images_per_second
    assert (run.latency_key is not None) == bool(r.latency.stable)  # only a stable measurement is cached
    assert r.latency.target and r.latency.node == r.node and r.latency.cv is not None
    assert run.measured_arch_hash == tiny_arch.arch_hash()  # the payload's network is the one trained
    # The trained weights come back as bytes that load strictly into the network as trained.
    assert run.weights is not None and "weights" not in run.model_dump_json()
    state = torch.load(io.BytesIO(run.weights), map_location="cpu", weights_only=True)
    build_model(tiny_arch).load_state_dict(state, strict=True)


def test_trains_and_measures_at_the_architecture_resolution(
    tiny_arch: Architecture, tiny_proxy: ProxyConfig, quick_latency: LatencyConfig
) -> None:
    from nas_service.arch.profile import count_macs

    arch = tiny_arch.model_copy(update={"resolution": 24})  # the job searches resolution; the proxy says 16
    reporter = NullReporter()
    run = run_trial_detailed(_payload(arch, tiny_proxy, quick_latency), reporter)
    assert run.result.state == TrialState.COMPLETED, run.result.error
    assert run.input_shape == [1, 24, 24] and run.measured_arch_hash == arch.arch_hash()
    assert run.result.macs == count_macs(arch, 24) > count_macs(tiny_arch, 16)


def test_weights_over_the_limit_are_not_kept(tiny_arch: Architecture) -> None:
    model = build_model(tiny_arch)
    assert serialize_weights(model, limit=100) is None
    assert serialize_weights(model) is not None


def test_cached_latency_skips_measuring(
    tiny_arch: Architecture, tiny_proxy: ProxyConfig, quick_latency: LatencyConfig
) -> None:
    from workers.latency import describe_device

    cached = LatencyMeasurement(device=describe_device("cpu"), median_ms=3.0, p90_ms=3.5, mean_ms=3.1, samples=30)
    run = run_trial_detailed(_payload(tiny_arch, tiny_proxy, quick_latency, cached_latency=cached), NullReporter())
    assert run.result.state == TrialState.COMPLETED and run.result.latency == cached
    assert run.latency_key is None  # nothing new to cache


def test_cached_latency_from_another_device_is_remeasured(
    tiny_arch: Architecture, tiny_proxy: ProxyConfig, quick_latency: LatencyConfig
) -> None:
    cached = LatencyMeasurement(device="cpu:some other cpu", median_ms=3.0, p90_ms=3.5, mean_ms=3.1, samples=30)
    result = run_trial(_payload(tiny_arch, tiny_proxy, quick_latency, cached_latency=cached), NullReporter())
    assert result.latency is not None and result.latency.device != cached.device


def test_a_raising_trial_fails_with_its_error(tiny_arch: Architecture, quick_latency: LatencyConfig) -> None:
    proxy = ProxyConfig(dataset="npz", data_path="/nonexistent/data.npz", resolution=16, epochs=1)
    result = run_trial(_payload(tiny_arch, proxy, quick_latency), NullReporter())
    assert result.state == TrialState.FAILED
    assert result.error and result.error.startswith("DatasetError: ") and "data.npz" in result.error
    # One line and an error id; the traceback (server paths) goes to the worker's log only (issue 10, item 7).
    assert "Traceback" not in result.error and "File " not in result.error and "\n" not in result.error
    assert "(error id " in result.error
    assert result.wall_seconds is not None and result.worker


def test_stop_flag_prunes_the_trial(tiny_arch: Architecture, quick_latency: LatencyConfig) -> None:
    class PruneAfterFirstEpoch(NullReporter):
        def should_stop(self) -> bool | str:
            return bool(self.epochs)

    proxy = ProxyConfig(dataset="digits", resolution=8, epochs=4, max_train_samples=200)
    arch = tiny_arch.model_copy(update={"resolution": 8})
    run = run_trial_detailed(_payload(arch, proxy, quick_latency), PruneAfterFirstEpoch())
    result = run.result
    assert result.state == TrialState.PRUNED and result.epochs_run == 1 and result.accuracy is not None
    assert result.latency is not None  # measured before training: pruned trials keep it
    assert run.weights is not None  # a pruned trial's partly trained weights are kept too


def test_a_netadapt_proposal_starts_from_its_parent_and_is_measured_beside_it(
    tiny_arch: Architecture, tiny_proxy: ProxyConfig, quick_latency: LatencyConfig
) -> None:
    import base64

    from nas_service.strategies.netadapt import reduce_stage

    parent = run_trial_detailed(_payload(tiny_arch, tiny_proxy, quick_latency), NullReporter())
    assert parent.weights is not None and parent.result.latency is not None
    assert parent.result.latency.reference_ms is None  # no reference asked: none measured
    child_arch = next(
        a for k in ("width", "expansion", "kernel") for s in range(len(tiny_arch.stages))
        if (a := reduce_stage(tiny_arch, s, k)) is not None  # type: ignore[arg-type]
    )  # fmt: skip
    payload = _payload(
        child_arch, tiny_proxy.model_copy(update={"lr": 1e-9}), quick_latency,
        init_weights=base64.b64encode(parent.weights).decode("ascii"), reference_architecture=tiny_arch,
    )  # fmt: skip
    child = run_trial_detailed(payload, NullReporter())
    assert child.result.state == TrialState.COMPLETED, child.result.error
    latency = child.result.latency
    assert latency is not None and latency.reference_ms is not None and latency.reference_ms > 0
    # A learning rate of ~0: the child's weights are still the parent's, sliced (what its fine-tuning starts from).
    assert child.weights is not None
    state = torch.load(io.BytesIO(child.weights), map_location="cpu", weights_only=True)
    before = torch.load(io.BytesIO(parent.weights), map_location="cpu", weights_only=True)
    for name in ("conv_stem.weight", "classifier.weight"):
        region = tuple(slice(0, n) for n in state[name].shape)
        assert torch.allclose(state[name], before[name][region], atol=1e-6), name


def test_a_predicted_latency_stands_in_only_in_predict_mode(
    tiny_arch: Architecture, tiny_proxy: ProxyConfig, quick_latency: LatencyConfig
) -> None:
    from nas_service.latency.gate import PREDICTED_RUNTIME

    predicted = LatencyMeasurement(
        device="predicted:local-cpu", median_ms=7.5, p90_ms=8.0, mean_ms=7.5, samples=1, runtime=PREDICTED_RUNTIME,
        predicted_ms=7.5,
    )  # fmt: skip
    predict = quick_latency.model_copy(update={"mode": "predict"})
    kw = {"cached_latency": predicted, "predicted_latency": predicted}
    run = run_trial_detailed(_payload(tiny_arch, tiny_proxy, predict, **kw), NullReporter())
    assert run.result.state == TrialState.COMPLETED and run.result.latency == predicted
    assert run.latency_key is None and run.latency_runtime is None  # nothing measured, nothing for the cache
    assert run.reward == mnasnet_reward(run.result.accuracy, 7.5, 5.0, -0.07, -0.07)  # type: ignore[arg-type]
    # predict-then-measure: measured as usual, the prediction kept beside the measurement
    both = quick_latency.model_copy(update={"mode": "predict-then-measure"})
    run = run_trial_detailed(_payload(tiny_arch, tiny_proxy, both, **kw), NullReporter())
    latency = run.result.latency
    assert latency is not None and latency.runtime != PREDICTED_RUNTIME and latency.samples > 1
    assert latency.predicted_ms == 7.5 and latency.median_ms != 7.5  # measured (cached only when stable)
