"""Storage contract for latency targets and predictors (SQLite and Postgres: ``storage`` is parametrized)."""

from __future__ import annotations

import pytest

from nas_service.latency import LatencyTarget
from nas_service.storage import BaseStorage, ConflictError, NotFoundError


def test_target_crud(storage: BaseStorage) -> None:
    edge = LatencyTarget(name="edge-a76", runtime="onnxruntime", threads=4, resource="latency:edge-a76")
    rec = storage.create_latency_target("alice", edge)
    assert rec.target == edge and rec.owner == "alice" and rec.created_at == rec.updated_at
    with pytest.raises(ConflictError, match="edge-a76"):
        storage.create_latency_target("bob", edge)
    storage.create_latency_target("bob", LatencyTarget(name="a-first", runtime="torchscript"))
    assert [r.target.name for r in storage.list_latency_targets()] == ["a-first", "edge-a76"]
    changed = storage.update_latency_target(edge.model_copy(update={"threads": 2}))
    assert changed.target.threads == 2 and changed.owner == "alice"
    assert storage.get_latency_target("edge-a76").target.threads == 2
    with pytest.raises(NotFoundError, match="nope"):
        storage.get_latency_target("nope")
    with pytest.raises(NotFoundError):
        storage.update_latency_target(LatencyTarget(name="nope"))
    storage.save_latency_predictor("edge-a76", {"table": {"k": 1.0}})
    storage.delete_latency_target("edge-a76")
    assert storage.get_latency_predictor("edge-a76") is None  # the predictor goes with its target
    with pytest.raises(NotFoundError):
        storage.delete_latency_target("edge-a76")
    assert [r.target.name for r in storage.list_latency_targets()] == ["a-first"]


def test_predictor_documents_are_versioned(storage: BaseStorage) -> None:
    assert storage.get_latency_predictor("local-cpu") is None
    assert storage.save_latency_predictor("local-cpu", {"table": {"a": 1.5}, "coef": None}) == 1
    assert storage.save_latency_predictor("local-cpu", {"table": {"a": 1.25, "b": 2.0}, "coef": [0, 1, 0, 0]}) == 2
    assert storage.get_latency_predictor("local-cpu") == {"table": {"a": 1.25, "b": 2.0}, "coef": [0, 1, 0, 0]}
    assert storage.get_latency_predictor("other") is None
