"""Python SDK of nas-service: a sync :class:`Client`, an :class:`AsyncClient` and typed errors.

Connection settings default to ``NAS_API_URL`` and ``NAS_TOKEN`` (or the embedded controller's admin token
file). Replies are the shared API models of :mod:`nas_service.schemas`. torch is only imported by ``export``.

Example:
    >>> from nas_service.client import Client                    # doctest: +SKIP
    >>> with Client() as nas:
    ...     job = nas.submit_job({"budget": {"max_trials": 8}}, space="digits")
    ...     print(job.wait().best_reward)
"""

from nas_service.client._api import WaitTimeout
from nas_service.client._async import AsyncClient, AsyncJob
from nas_service.client._errors import (
    AuthError,
    ConflictError,
    ConnectionFailed,
    NasError,
    NotFoundError,
    ServerError,
    ValidationError,
)
from nas_service.client._sync import Client, Job
from nas_service.client._transport import RetryPolicy, ServerEvent

__all__ = [
    "AsyncClient",
    "AsyncJob",
    "AuthError",
    "Client",
    "ConflictError",
    "ConnectionFailed",
    "Job",
    "NasError",
    "NotFoundError",
    "RetryPolicy",
    "ServerError",
    "ServerEvent",
    "ValidationError",
    "WaitTimeout",
]
