"""Issue 10, item 5: limits at the door.

Block strings and spaces are decoded and checked at submit (422 naming the block); server caps (settings) bound
parameters, MACs, layers, blocks per stage, kernels, repeats, channels and free-form JSON; bodies over the cap are
413 (chunked ones too); listings return summaries, not whole specs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.testing import Api
from nas_service.settings import Settings
from nas_service.space import digits_space
from nas_service.storage import SQLAlchemyStorage, TokenScope

JOBS = "/api/v1/jobs"


def _scaling(base: Any) -> dict[str, Any]:
    return {"name": "s", "kind": "scaling", "strategy": {"name": "compound-scaling"}, "scaling": {"base": base}}


def _error(r: Any, status: int = 422) -> dict[str, Any]:
    assert r.status_code == status, r.text
    return dict(r.json()["error"])


@pytest.mark.parametrize(
    ("base", "field", "words"),
    [
        ([["ds_r1_k3_s1_c16"], ["ir_r1_k99_s2_e6_c24"]], "scaling.base[1][0]", "kernel"),
        ([["ds_r1_k3_s1_c16", "ir_r999999_k3_s1_e6_c24"]], "scaling.base[0][1]", "repeats"),
        ([["ir_r1_k3_s1_e6_c10000000"]], "scaling.base[0][0]", "out_channels"),
        ([["ds_r1_k3_s1_c16"], ["zz_top"]], "scaling.base[1][0]", "unknown block type"),
        ([["ds_r1_k3_s1_c16"] * 100_000], "scaling.base[0]", "blocks"),
        ([["ir_r32_k15_s1_e16_c8192"]] * 16, "scaling.base", "layers"),
        ([["ir_r1_k15_s1_e16_c8192"]] * 4, "scaling.base", "parameters"),
        ("no-such-preset", "scaling.base", "preset"),
        ("\u0663", "scaling.base", "preset"),  # an Arabic-Indic digit: not a trial id under another spelling
    ],
)
def test_scaling_base_is_decoded_and_capped_at_submit(api: Api, base: Any, field: str, words: str) -> None:
    error = _error(api.client.post(JOBS, json=_scaling(base), headers=api.alice))
    assert error["field"] == field and words in error["message"], error
    assert api.client.get(JOBS, headers=api.alice).json()["total"] == 0


def test_free_form_settings_are_bounded(api: Api) -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(40):
        node["a"] = {}
        node = node["a"]
    assert _error(api.client.post(JOBS, json={"space": "digits", "strategy": {"settings": deep}}, headers=api.alice))[
        "field"
    ].startswith("strategy.settings.a")  # refused as an unknown key of the typed settings, or for its depth
    big = {"space": "digits", "strategy": {"settings": {"x": list(range(5000))}}}
    assert _error(api.client.post(JOBS, json=big, headers=api.alice))["field"] == "strategy.settings.x"
    long = {"space": "digits", "strategy": {"settings": {"x": "y" * 20_000}}}
    assert _error(api.client.post(JOBS, json=long, headers=api.alice))["field"] == "strategy.settings.x"


def test_body_over_the_cap_is_413_also_when_chunked(api: Api) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"space": "digits", "name": "'
        for _ in range(100):
            yield b"x" * 65536
        yield b'"}'

    headers = {**api.alice, "Content-Type": "application/json"}
    chunked = api.client.post(JOBS, content=chunks(), headers=headers)
    assert _error(chunked, 413)["code"] == "payload_too_large"
    sized = api.client.post(JOBS, content=b"x" * (5 * 1024 * 1024), headers=headers)
    assert _error(sized, 413)["code"] == "payload_too_large"
    small = api.client.post(JOBS, content=iter([b'{"space": ', b'"digits"}']), headers=headers)
    assert small.status_code == 201, small.text


def test_listings_are_summaries(api: Api) -> None:
    job = api.job(budget={"max_trials": 7}, strategy={"name": "evolution"})
    item = api.client.get(JOBS, headers=api.alice).json()["items"][0]
    assert "spec" not in item and item["strategy"] == "evolution" and item["max_trials"] == 7
    assert item["id"] == job["id"] and item["counters"]["total"] == 0
    space = api.client.get("/api/v1/spaces", headers=api.alice).json()["items"][0]
    assert "space" not in space and space["name"] == "digits"
    assert api.client.get(f"{JOBS}/{job['id']}", headers=api.alice).json()["spec"]["budget"]["max_trials"] == 7


@pytest.fixture
def capped(storage: SQLAlchemyStorage, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The app with low caps set through settings."""
    settings = Settings(data_dir=tmp_path / "data", max_params=50_000, max_macs=10**12, max_kernel_size=3)
    with TestClient(create_app(settings, storage)) as client:
        yield client, {"Authorization": f"Bearer {storage.create_token('alice', TokenScope.USER).token}"}


def test_caps_come_from_settings(capped: tuple[TestClient, dict[str, str]]) -> None:
    client, alice = capped
    # digits has kernel choices 3 and 5: over this server's kernel cap, named by the stage field.
    error = _error(client.post(JOBS, json={"space": "digits"}, headers=alice))
    assert error["field"].startswith("space.stages[") and error["field"].endswith(".kernels"), error
    body = {"name": "d", "space": digits_space().model_dump(mode="json")}
    assert _error(client.post("/api/v1/spaces", json=body, headers=alice))["field"].endswith(".kernels")
    # A job's own caps are lowered to the server's: candidates over them are rejected before training.
    tiny = {"name": "t", "stages": [{"out_channels": 16, "kernels": [3]}], "resolutions": [32]}
    job = client.post(JOBS, json={"space": tiny, "constraints": {"max_params": 10**9}}, headers=alice)
    assert job.status_code == 201, job.text
    assert job.json()["spec"]["constraints"] == {"max_params": 50_000, "max_macs": 10**12}
    assert _error(client.post(JOBS, json=_scaling("mnasnet_a1"), headers=alice))["field"].startswith("scaling.base")
