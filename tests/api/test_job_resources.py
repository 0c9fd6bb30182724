"""``resources`` at the door: known keys only, finite and not negative, under the server's caps (422 naming the key)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api


@pytest.mark.parametrize(
    ("resources", "key"),
    [
        ({"foo": 1}, "foo"),
        ({"cpu": -1}, "cpu"),
        ({"cpu": 1e9}, "cpu"),
        ({"gpu": True}, "gpu"),
        ({"memory": 1e30}, "memory"),
        ({"latency:pixel7": 1e6}, "latency:pixel7"),
    ],
)
def test_bad_resources_are_422_naming_the_key(api: Api, resources: dict[str, Any], key: str) -> None:
    r = api.client.post("/api/v1/jobs", json={"space": "digits", "resources": resources}, headers=api.alice)
    assert r.status_code == 422, r.text
    assert f"resources.{key}" in r.text


def test_known_resources_under_the_caps_are_accepted(api: Api) -> None:
    body = {"space": "digits", "resources": {"cpu": 2, "gpu": 0, "memory": 2**30, "latency:pixel7": 1}}
    r = api.client.post("/api/v1/jobs", json=body, headers=api.alice)
    assert r.status_code == 201, r.text
