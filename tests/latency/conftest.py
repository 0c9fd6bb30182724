"""Latency test fixtures: the API on a real migrated database (SQLite and Postgres) with two users' tokens."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from nas_service.arch.spec import Architecture
from nas_service.settings import Settings
from nas_service.storage import SQLAlchemyStorage


@dataclass
class LatencyApi:
    """A test client, the storage under it and two users' auth headers."""

    client: TestClient
    storage: SQLAlchemyStorage
    alice: dict[str, str]
    bob: dict[str, str]


@pytest.fixture
def lat_api(storage: SQLAlchemyStorage, tmp_path: Path) -> Iterator[LatencyApi]:
    """The app (injected storage) inside a running ``TestClient``."""
    app = create_app(Settings(data_dir=tmp_path / "data"), storage)
    with TestClient(app) as client:
        yield LatencyApi(
            client=client,
            storage=storage,
            alice={"Authorization": f"Bearer {storage.create_token('alice').token}"},
            bob={"Authorization": f"Bearer {storage.create_token('bob').token}"},
        )


@pytest.fixture
def tiny_arch() -> Architecture:
    """A small MBConv net as trained on digits at 16 px (1 channel, 10 classes)."""
    return Architecture.from_block_strings(
        [["ds_r1_k3_s1_c8"], ["ir_r1_k3_s2_e3_c16"]],
        stem={"out_channels": 8},
        head={"num_features": 32},
        dropout=0.0,
        name="tiny",
        resolution=16,
        num_classes=10,
        in_channels=1,
    )
