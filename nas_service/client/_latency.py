"""Latency targets and predictions in the SDK: ``/latency`` calls, mixed into :class:`Client` and
:class:`AsyncClient` (the same :class:`~nas_service.client._api.Call` s, so the two cannot drift apart).

Replies are the API models of :mod:`nas_service.latency.schemas`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from nas_service.client._api import Call
from nas_service.client._payloads import as_plain

__all__ = ["AsyncLatencyMixin", "LatencyMixin"]

_BASE = "/latency/targets"


def _model(name: str) -> Callable[[Any], Any]:
    def parse(data: Any) -> Any:
        from nas_service.latency import schemas

        return getattr(schemas, name).model_validate(data)

    return parse


def _list(data: Any) -> Any:
    from nas_service.latency.schemas import LatencyTargetPublic

    return [LatencyTargetPublic.model_validate(item) for item in data]


def _path(name: str, *rest: str) -> str:
    return "/".join([_BASE, quote(str(name), safe=""), *rest])


def list_targets() -> Call:
    """``GET /latency/targets``."""
    return Call("GET", _BASE, parse=_list)


def get_target(name: str) -> Call:
    """``GET /latency/targets/{name}``."""
    return Call("GET", _path(name), parse=_model("LatencyTargetPublic"))


def create_target(target: Any) -> Call:
    """``POST /latency/targets`` (a dict or a ``LatencyTarget``)."""
    return Call("POST", _BASE, body=as_plain(target), parse=_model("LatencyTargetPublic"))


def update_target(name: str, changes: dict[str, Any]) -> Call:
    """``PATCH /latency/targets/{name}``."""
    return Call("PATCH", _path(name), body=dict(changes), parse=_model("LatencyTargetPublic"))


def delete_target(name: str) -> Call:
    """``DELETE /latency/targets/{name}``."""
    return Call("DELETE", _path(name))


def predictor(name: str) -> Call:
    """``GET /latency/targets/{name}/predictor``."""
    return Call("GET", _path(name, "predictor"), parse=_model("PredictorPublic"))


def predict(name: str, architecture: Any, resolution: int | None) -> Call:
    """``POST /latency/targets/{name}/predict``."""
    body: dict[str, Any] = {"architecture": as_plain(architecture)}
    if resolution is not None:
        body["resolution"] = int(resolution)
    return Call("POST", _path(name, "predict"), body=body, parse=_model("LatencyPredictionPublic"))


class LatencyMixin:
    """Latency methods of the synchronous :class:`~nas_service.client.Client`."""

    _call: Callable[[Call], Any]

    def latency_targets(self) -> list[Any]:
        """Every latency target (the built-in ``local-cpu`` first)."""
        return list(self._call(list_targets()))

    def latency_target(self, name: str) -> Any:
        """One latency target (``LatencyTargetPublic``)."""
        return self._call(get_target(name))

    def create_latency_target(self, target: Any) -> Any:
        """Store a target: a dict or ``LatencyTarget`` (``name``, ``runtime``, ``threads``, ``resource``, ...)."""
        return self._call(create_target(target))

    def update_latency_target(self, name: str, **changes: Any) -> Any:
        """Change a stored target's fields (a change of what is measured resets its predictor)."""
        return self._call(update_target(name, changes))

    def delete_latency_target(self, name: str) -> None:
        """Delete a stored target and its predictor."""
        self._call(delete_target(name))

    def latency_predictor(self, name: str) -> Any:
        """What a target's predictor knows and its accuracy (``PredictorPublic``)."""
        return self._call(predictor(name))

    def predict_latency(self, target: str, architecture: Any, resolution: int | None = None) -> Any:
        """Predicted latency of a network (preset name, block strings or Architecture) on ``target``."""
        return self._call(predict(target, architecture, resolution))


class AsyncLatencyMixin:
    """Latency methods of :class:`~nas_service.client.AsyncClient` (see :class:`LatencyMixin`)."""

    _call: Callable[[Call], Any]

    async def latency_targets(self) -> list[Any]:
        """Every latency target (the built-in ``local-cpu`` first)."""
        return list(await self._call(list_targets()))

    async def latency_target(self, name: str) -> Any:
        """One latency target."""
        return await self._call(get_target(name))

    async def create_latency_target(self, target: Any) -> Any:
        """Store a target."""
        return await self._call(create_target(target))

    async def update_latency_target(self, name: str, **changes: Any) -> Any:
        """Change a stored target's fields."""
        return await self._call(update_target(name, changes))

    async def delete_latency_target(self, name: str) -> None:
        """Delete a stored target and its predictor."""
        await self._call(delete_target(name))

    async def latency_predictor(self, name: str) -> Any:
        """What a target's predictor knows and its accuracy."""
        return await self._call(predictor(name))

    async def predict_latency(self, target: str, architecture: Any, resolution: int | None = None) -> Any:
        """Predicted latency of a network on ``target``."""
        return await self._call(predict(target, architecture, resolution))
