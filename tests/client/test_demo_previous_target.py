"""``nas demo`` says how this run's reward target T compares with the last demo run's (T is measured afresh each
run, so two runs' rewards are comparable only when it held)."""

from __future__ import annotations

from nas_service.cli.demo import DemoOptions, build_spec, demo_space
from nas_service.cli.demo._job import previous_target, target_change_note
from nas_service.client import Client


def _opts(resolution: int) -> DemoOptions:
    return DemoOptions(
        trials=2, epochs=1, strategy="random", concurrency=1, resolution=resolution, port=None, data_dir=None,
        keep_serving=False, as_json=False, timeout_s=60.0,
    )  # fmt: skip


def test_the_demo_compares_t_with_the_last_demo_run_at_its_resolution(client: Client) -> None:
    assert target_change_note(1.0, None) is None  # a first run says nothing
    space = demo_space(16).model_dump(mode="json")
    first = client.submit_job(build_spec(_opts(16), 1.25), space=space).id
    other = client.submit_job(build_spec(_opts(24), 9.0), space=demo_space(24).model_dump(mode="json"))
    assert previous_target(client, 16) == (first, 1.25)  # the newest demo job at this resolution, not the 24 px one
    assert previous_target(client, 24) == (other.id, 9.0)
    assert previous_target(client, 16, before=first) is None
    same = target_change_note(1.27, (first, 1.25))
    assert same is not None and same.startswith(f"T matches the last demo run's (job {first}: 1.250 ms, +2%)")
    moved = target_change_note(2.0, (first, 1.25))
    assert moved is not None and "+60%" in moved and "not comparable" in moved
    assert f"nas pareto {first} --target-ms 2.000" in moved
