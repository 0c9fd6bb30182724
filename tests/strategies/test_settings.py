"""Typed strategy settings: unknown, mistyped and non-finite settings are refused, naming the key."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from typer.testing import CliRunner

from api.app import create_app
from nas_service.cli.main import app as cli_app
from nas_service.jobspec import JobSpec, StrategyConfig
from nas_service.settings import Settings
from nas_service.storage import SQLAlchemyStorage, TokenScope
from nas_service.strategies import STRATEGIES, make_strategy
from nas_service.strategies.registry import settings_model, validate_settings


def _error(data: dict[str, Any]) -> tuple[str, str]:
    with pytest.raises(ValidationError) as info:
        JobSpec.model_validate(data)
    first = info.value.errors()[0]
    return ".".join(str(p) for p in first["loc"]), first["msg"]


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_refuses_an_unknown_setting(name: str) -> None:
    model = settings_model(name)
    assert model.model_config.get("extra") == "forbid"
    with pytest.raises(ValidationError) as info:
        validate_settings(name, {"no_such_setting": 1})
    assert info.value.errors()[0]["loc"] == ("no_such_setting",)
    assert validate_settings(name, {}) == model()  # every field has a default


def test_misspelt_setting_is_named_under_strategy_settings() -> None:
    loc, msg = _error({"strategy": {"name": "evolution", "settings": {"populaton": 5}}})
    assert loc == "strategy.settings.populaton" and "not permitted" in msg


@pytest.mark.parametrize(
    ("settings", "key", "words"),
    [
        ({"population": "5"}, "population", "valid integer"),
        ({"population": 5.0}, "population", "valid integer"),
        ({"population": 0}, "population", "greater than or equal"),
        ({"multi_objective": 1}, "multi_objective", "valid boolean"),
        ({"rejected_reward": math.nan}, "rejected_reward", "finite"),
        ({"rejected_reward": math.inf}, "rejected_reward", "finite"),
    ],
)
def test_mistyped_or_non_finite_setting_is_named(settings: dict[str, Any], key: str, words: str) -> None:
    loc, msg = _error({"strategy": {"name": "evolution", "settings": settings}})
    assert loc == f"strategy.settings.{key}" and words in msg


def test_valid_settings_reach_the_strategy_typed(space: Any) -> None:
    spec = JobSpec.model_validate({"strategy": {"name": "mnas-rl", "settings": {"lr": 1, "entropy": 0.0}}})
    strategy = make_strategy(spec.strategy, space)
    assert strategy.settings.lr == 1.0 and isinstance(strategy.settings.lr, float)
    assert strategy.settings.baseline_decay == 0.9  # the default


def test_scaling_job_settings_are_checked_as_compound_scaling() -> None:
    base = {"kind": "scaling", "scaling": {"base": "mnasnet-a1"}}
    JobSpec.model_validate({**base, "strategy": {"settings": {"max_grid_points": 2}}})
    loc, _ = _error({**base, "strategy": {"settings": {"population": 2}}})
    assert loc == "strategy.settings.population"


def test_strategy_built_directly_validates_too(space: Any) -> None:
    config = StrategyConfig.model_validate({"name": "tpe", "settings": {"n_startup": 3}})
    with pytest.raises(ValueError, match="n_startup"):
        make_strategy(config, space)


def test_api_answers_422_naming_the_setting(storage: SQLAlchemyStorage, tmp_path: Path) -> None:
    headers = {"Authorization": f"Bearer {storage.create_token('alice', TokenScope.USER).token}"}
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"), storage)) as client:
        body = {"space": "digits", "strategy": {"name": "evolution", "settings": {"populaton": 5}}}
        r = client.post("/api/v1/jobs", json=body, headers=headers)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == "strategy.settings.populaton"
        # NaN cannot be written in strict JSON; Python's encoder writes it anyway, and it is refused.
        raw = '{"space": "digits", "strategy": {"name": "mnas-rl", "settings": {"lr": NaN}}}'
        r = client.post("/api/v1/jobs", content=raw, headers={**headers, "Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "strategy.settings.lr", r.text


def test_cli_names_the_setting_without_a_traceback(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text("space: digits\nstrategy:\n  name: evolution\n  settings:\n    populaton: 5\n")
    result = CliRunner().invoke(cli_app, ["job", "submit", str(job), "--url", "http://127.0.0.1:1"])
    assert result.exit_code == 2, result.output
    assert "strategy.settings.populaton" in result.output and "Traceback" not in result.output
