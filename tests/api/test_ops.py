"""Health, readiness (503 on an old schema), metrics, the 500 handler and start-up behaviour."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.testing import Api
from nas_service.jobspec import TrialState
from nas_service.settings import Settings
from nas_service.storage import SchemaOutOfDate, SQLAlchemyStorage, TokenScope
from nas_service.storage.schema import current_revision, downgrade, head_revision
from nas_service.storage.testing import run_trial


def test_health_ready_metrics(api: Api) -> None:
    assert api.client.get("/healthz").json()["status"] == "ok"
    ready = api.client.get("/readyz").json()
    assert ready["status"] == "ok" and ready["schema_revision"] == head_revision()
    assert api.client.get("/api/v1/readyz").status_code == 200
    job = api.job()
    run_trial(api.storage, job["id"], 0.5, 1.0)
    reply = api.client.get("/metrics")
    assert reply.headers["content-type"].startswith("text/plain; version=")
    samples = _samples(reply.text)
    assert samples['nas_jobs{state="queued"}'] == 1 and samples["nas_trials_completed_total"] == 1
    assert samples['nas_trials{state="completed"}'] == 1 and samples["nas_trials_created_total"] == 1
    assert "process_cpu_seconds_total" in samples


def _samples(text: str) -> dict[str, float]:
    """``name{labels}`` -> value of every sample, parsed by ``prometheus_client``'s own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def test_metric_counters_never_go_down_when_trials_are_requeued(api: Api) -> None:
    job = api.job()
    failed = run_trial(api.storage, job["id"], 0.5, 1.0, state=TrialState.FAILED)
    stale = api.storage.create_trial(job["id"], {"s": 1})
    api.storage.claim_trial(job["id"], "w")
    assert api.storage.mark_stale_trials(older_than_s=0.0) == [stale.id]
    before = _samples(api.client.get("/metrics").text)
    assert before["nas_trials_failed_total"] == 1 and before["nas_trials_stale_total"] == 1
    assert before["nas_trial_requeues_total"] == 0
    api.storage.requeue_trial(failed)  # the failed trial leaves 'failed': the gauge drops, the counter stays
    api.storage.requeue_trial(stale.id)
    after = _samples(api.client.get("/metrics").text)
    assert after['nas_trials{state="failed"}'] == 0 and after['nas_trials{state="queued"}'] == 2
    assert after["nas_trials_failed_total"] == 1 and after["nas_trial_requeues_total"] == 2
    counters = [name for name in after if name.endswith("_total") and name.startswith("nas_")]
    assert len(counters) == 8 and all(after[name] >= before[name] for name in counters)


def test_metrics_token_when_configured(storage: SQLAlchemyStorage, tmp_path: Path) -> None:
    secret = "metrics-secret-0123456789"
    with TestClient(create_app(Settings(data_dir=tmp_path, metrics_token=secret), storage)) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
        admin = storage.create_token("root", TokenScope.ADMIN).token  # an API token is not the metrics token
        assert client.get("/metrics", headers={"Authorization": f"Bearer {admin}"}).status_code == 401
        ok = client.get("/metrics", headers={"Authorization": f"Bearer {secret}"})
        assert ok.status_code == 200 and "nas_trials_created_total" in ok.text
        assert client.get("/healthz").status_code == 200  # liveness stays open
    with pytest.raises(ValueError, match="metrics_token"):
        Settings(data_dir=tmp_path, metrics_token="short")


def test_readyz_503_on_old_schema(migrated_url: str, tmp_path: Path) -> None:
    downgrade(migrated_url, "base")
    store = SQLAlchemyStorage(migrated_url)
    try:
        with TestClient(create_app(Settings(data_dir=tmp_path), store)) as client:
            r = client.get("/readyz")
        assert r.status_code == 503 and "nas db upgrade" in r.json()["detail"]
    finally:
        store.close()


def test_500_hides_the_stack_trace(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(api.storage, "list_jobs", boom)
    client = TestClient(api.client.app, raise_server_exceptions=False)
    r = client.get("/api/v1/jobs", headers=api.alice)
    assert r.status_code == 500
    assert r.json() == {"error": {"code": "internal_error", "message": "internal server error"}}
    assert "secret" not in r.text


def test_embedded_start_upgrades_and_writes_admin_token(sqlite_url: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=sqlite_url)
    with TestClient(create_app(settings)) as client:
        token = (tmp_path / "data" / "admin-token").read_text().strip()
        assert stat.S_IMODE(os.stat(tmp_path / "data" / "admin-token").st_mode) == 0o600
        assert client.get("/api/v1/jobs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert current_revision(sqlite_url) == head_revision()
    with TestClient(create_app(settings)):  # second start: the token file is kept as it is
        assert (tmp_path / "data" / "admin-token").read_text().strip() == token


@pytest.mark.postgres
def test_server_database_refuses_an_old_schema(postgres_url: str, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, database_url=postgres_url))
    with pytest.raises(SchemaOutOfDate, match="nas db upgrade"), TestClient(app):
        pass
    assert current_revision(postgres_url) is None


def test_oversized_body_is_413(api: Api) -> None:
    r = api.client.post(
        "/api/v1/jobs",
        content=b"{" + b" " * (5 * 1024 * 1024) + b"}",
        headers={**api.alice, "Content-Type": "application/json"},
    )
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_stable_operation_ids(api: Api) -> None:
    spec = api.client.get("/api/v1/openapi.json").json()
    ids = {op["operationId"] for path in spec["paths"].values() for op in path.values() if "operationId" in op}
    assert {
        "create_space",
        "list_spaces",
        "get_space",
        "validate_space",
        "archive_space",
        "create_job",
        "list_jobs",
        "get_job",
        "cancel_job",
        "resume_job",
        "list_trials",
        "get_trial",
        "get_pareto",
        "get_best",
        "stream_job_events",
        "get_trial_weights",
        "health",
        "readiness",
        "metrics",
    } <= ids
    assert all(p.startswith("/api/v1/") for p in spec["paths"] if p not in ("/healthz", "/readyz", "/metrics"))
    assert not any("/internal" in p for p in spec["paths"])  # workers report through a Ray actor, not HTTP
