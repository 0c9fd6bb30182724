"""Fixtures of the search-space tests: the preset spaces, built once per session (they are frozen)."""

from __future__ import annotations

import pytest

from nas_service.space import SearchSpace, get_space, list_spaces


@pytest.fixture(scope="session", params=list_spaces())
def preset(request: pytest.FixtureRequest) -> SearchSpace:
    """Every preset space."""
    return get_space(request.param)


@pytest.fixture(scope="session")
def tiny() -> SearchSpace:
    """The 48-network test space."""
    return get_space("tiny")
