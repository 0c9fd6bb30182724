"""``/spaces`` against a real database."""

from __future__ import annotations

import yaml

from api.testing import Api
from nas_service.space import digits_space


def test_create_list_get_archive(api: Api) -> None:
    first = api.space()
    second = api.space()
    assert (first["version"], second["version"]) == (1, 2) and first["owner"] == "alice"
    assert first["log10_cardinality"] > 0
    page = api.client.get("/api/v1/spaces?limit=1", headers=api.alice).json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["limit"] == 1
    assert api.client.get(f"/api/v1/spaces/{first['id']}", headers=api.alice).json()["space"] == first["space"]
    archived = api.client.post(f"/api/v1/spaces/{first['id']}/archive", headers=api.alice).json()
    assert archived["archived"] is True
    r = api.client.post("/api/v1/jobs", json={"space_id": first["id"]}, headers=api.alice)
    assert r.status_code == 409 and "archived" in r.json()["error"]["message"]


def test_yaml_body(api: Api) -> None:
    text = yaml.safe_dump({"name": "from-yaml", "space": digits_space().model_dump(mode="json")})
    r = api.client.post("/api/v1/spaces", content=text, headers={**api.alice, "Content-Type": "application/yaml"})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "from-yaml"
    bare = digits_space().to_yaml()  # a bare space document, named by the query
    r = api.client.post(
        "/api/v1/spaces?name=bare", content=bare, headers={**api.alice, "Content-Type": "application/yaml"}
    )
    assert r.status_code == 201 and r.json()["name"] == "bare"
    r = api.client.post("/api/v1/spaces", content="a: [", headers={**api.alice, "Content-Type": "application/yaml"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"


def test_validation_errors_name_the_field(api: Api) -> None:
    body = {"name": "bad name!", "space": digits_space().model_dump(mode="json")}
    r = api.client.post("/api/v1/spaces", json=body, headers=api.alice)
    assert r.status_code == 422 and r.json()["error"]["field"] == "name"
    broken = digits_space().model_dump(mode="json")
    broken["stages"][0]["kernels"] = [4]
    r = api.client.post("/api/v1/spaces", json={"name": "x", "space": broken}, headers=api.alice)
    assert r.status_code == 422
    assert r.json()["error"]["field"].startswith("space.stages[0]")
    dry = api.client.post("/api/v1/spaces/validate", json=broken, headers=api.alice).json()
    assert dry["valid"] is False and dry["errors"][0]["field"].startswith("stages[0]")
    ok = api.client.post("/api/v1/spaces/validate", json=digits_space().model_dump(mode="json"), headers=api.alice)
    assert ok.json()["valid"] is True and int(ok.json()["cardinality"]) > 1
    r = api.client.get("/api/v1/spaces?limit=0", headers=api.alice)
    assert r.status_code == 422 and r.json()["error"]["field"] == "query.limit"


def test_owner_isolation(api: Api) -> None:
    mine = api.space()
    assert api.client.get(f"/api/v1/spaces/{mine['id']}", headers=api.bob).status_code == 404
    assert api.client.post(f"/api/v1/spaces/{mine['id']}/archive", headers=api.bob).status_code == 404
    assert api.client.get("/api/v1/spaces", headers=api.bob).json()["total"] == 0
    assert api.client.get(f"/api/v1/spaces/{mine['id']}", headers=api.admin).status_code == 200
    assert api.client.get("/api/v1/spaces", headers=api.admin).json()["total"] == 1
    r = api.client.get("/api/v1/spaces")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_yaml_aliases_are_refused(api: Api) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b]\n"
    r = api.client.post(
        "/api/v1/spaces?name=b", content=bomb, headers={**api.alice, "Content-Type": "application/yaml"}
    )
    assert r.status_code == 400 and "aliases" in r.json()["error"]["message"]
