"""Property-based run over the OpenAPI document: no generated request may produce a 5xx.

In-process (ASGI), on both backends, a bounded number of examples per operation (about 100 requests per
backend) and ``derandomize`` so a run is repeatable. The database is seeded with one job so ids exist.
Operations are driven one by one with Hypothesis (``schemathesis.pytest.from_fixture`` does not work with
this pytest version).
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from api.testing import Api
from nas_service.jobspec import JobState
from nas_service.storage.testing import run_trial

EXAMPLES_PER_OPERATION = 5


def test_no_server_errors(api: Api) -> None:
    job = api.job()
    api.storage.transition_job(job["id"], JobState.RUNNING)
    run_trial(api.storage, job["id"], 0.7, 2.0)
    api.storage.transition_job(job["id"], JobState.COMPLETED)  # so the event stream ends
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", api.client.app)
    failures: list[str] = []
    calls = 0

    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal calls
            calls += 1
            response = case.call(headers=api.alice)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}")

        run()
    assert calls >= 80
    assert not failures, "\n".join(failures)
