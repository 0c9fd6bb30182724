"""Test helpers for the API: a client with ready-made tokens and small factories (used by ``tests/api``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from nas_service.storage import SQLAlchemyStorage


@dataclass
class Api:
    """A test client plus the storage under it and ready-made auth headers."""

    client: TestClient
    storage: SQLAlchemyStorage
    alice: dict[str, str]
    bob: dict[str, str]
    admin: dict[str, str]

    def space(self, headers: dict[str, str] | None = None, name: str = "digits") -> dict[str, Any]:
        """Store the digits preset space; returns the reply body."""
        from nas_service.space import digits_space

        body = {"name": name, "space": digits_space().model_dump(mode="json")}
        r = self.client.post("/api/v1/spaces", json=body, headers=headers or self.alice)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def job(self, headers: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
        """Queue a job on a fresh space; returns the reply body."""
        headers = headers or self.alice
        space_id = self.space(headers)["id"]
        r = self.client.post("/api/v1/jobs", json={"name": "job", "space_id": space_id, **spec}, headers=headers)
        assert r.status_code == 201, r.text
        return dict(r.json())
