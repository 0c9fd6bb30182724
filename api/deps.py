"""Dependencies of the routes, as ``Annotated`` aliases: the storage, the caller and its permissions.

Tokens are ``Authorization: Bearer <token>``; only their SHA-256 is stored. Scopes: ``user`` (own spaces, jobs
and trials) and ``admin`` (everything). Someone else's object answers 404, not 403, so ids of other owners leak
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError, not_found
from nas_service.storage import BaseStorage, TokenScope

_bearer = HTTPBearer(auto_error=False, description="An API token: `nas token create --owner NAME`.")


def get_storage(request: Request) -> BaseStorage:
    """The app's storage (opened by the lifespan, or injected by ``create_app``)."""
    storage: BaseStorage = request.app.state.storage
    return storage


StorageDep = Annotated[BaseStorage, Depends(get_storage)]
#: The full-stack template's name for the per-request database handle; here the storage is that handle.
SessionDep = StorageDep


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's owner and scope."""

    owner: str
    scope: TokenScope
    token_id: int

    @property
    def is_admin(self) -> bool:
        """Admins see every owner's objects."""
        return self.scope == TokenScope.ADMIN

    def can_see(self, owner: str) -> bool:
        """Whether an object of ``owner`` is visible to this caller."""
        return self.is_admin or owner == self.owner

    def check(self, owner: str, kind: str, ident: int) -> None:
        """Raise the 404 for an object this caller may not see."""
        if not self.can_see(owner):
            raise not_found(kind, ident)


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def get_principal(
    storage: StorageDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    """Authenticate the bearer token (401 when missing, unknown or revoked)."""
    if credentials is None or not credentials.credentials:
        raise _unauthorized("missing bearer token")
    token = credentials.credentials
    if len(token) > 512:
        raise _unauthorized("invalid or revoked token")
    record = storage.verify_token(token)
    if record is None:
        raise _unauthorized("invalid or revoked token")
    return Principal(owner=record.owner, scope=record.scope, token_id=record.id)


def get_current_owner(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    """A user or admin: any valid token."""
    return principal


def require_admin(principal: Annotated[Principal, Depends(get_current_owner)]) -> Principal:
    """An admin (403 otherwise)."""
    if not principal.is_admin:
        raise ApiError(403, "forbidden", "admin scope required")
    return principal


CurrentOwner = Annotated[Principal, Depends(get_current_owner)]
RequireAdmin = Annotated[Principal, Depends(require_admin)]
