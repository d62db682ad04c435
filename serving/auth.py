"""API-key authentication and role checks. 401: no or unknown key; 403: a valid key whose role may not."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from salesplan.serving.db.records import ApiKeyRecord
from salesplan.serving.deps import ServicesDep

Role = Literal["planner", "crm", "analyst", "admin"]

bearer = HTTPBearer(auto_error=False, description="API key as a bearer token: `Authorization: Bearer sp_...`")
header_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key in the X-API-Key header")

# Which roles may do what (admin may do everything). crm is an integration key: it scores deals and reads
# the pipeline, nothing about targets; only admin rejects proposals and reloads models.
PERMISSIONS: dict[str, frozenset[str]] = {
    "deals:score": frozenset({"crm", "planner", "analyst", "admin"}),
    "deals:read": frozenset({"crm", "planner", "analyst", "admin"}),
    "pipeline:read": frozenset({"crm", "planner", "analyst", "admin"}),
    "forecasts:read": frozenset({"planner", "analyst", "admin"}),
    "proposals:read": frozenset({"planner", "analyst", "admin"}),
    "proposals:write": frozenset({"planner", "admin"}),
    "proposals:approve": frozenset({"planner", "admin"}),
    "proposals:reject": frozenset({"admin"}),
    "budgets:run": frozenset({"planner", "analyst", "admin"}),
    "funnel:read": frozenset({"planner", "analyst", "admin"}),
    "models:read": frozenset({"analyst", "admin"}),
    "models:admin": frozenset({"admin"}),
}


def permissions_of(role: str) -> list[str]:
    """Every permission ``role`` holds, sorted (what GET /api/v1/me returns for role-aware navigation)."""
    return sorted(p for p, roles in PERMISSIONS.items() if role in roles)


UNAUTHORIZED = HTTPException(
    status_code=401,
    detail="missing or invalid API key: send 'Authorization: Bearer <key>' (create one with "
    "'salesplan apikey create --role ...')",
    headers={"WWW-Authenticate": "Bearer"},
)


async def current_key(
    services: ServicesDep,
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    x_api_key: Annotated[str | None, Depends(header_key)],
) -> ApiKeyRecord:
    plaintext = creds.credentials if creds is not None else x_api_key
    if not plaintext:
        raise UNAUTHORIZED
    # Cached keys are checked on the event loop; only a cache miss goes to the database, in a thread.
    record = services.cached_key(plaintext)
    if record is None:
        record = await run_in_threadpool(services.verify_key, plaintext)
    if record is None:
        raise UNAUTHORIZED
    request.state.actor = f"{record.name} ({record.role}, {record.key_prefix})"
    return record


def require(permission: str) -> Any:
    """Dependency factory: the caller's key must have a role allowed ``permission``."""
    allowed = PERMISSIONS[permission]  # KeyError at import time for a misspelt permission

    async def check(key: Annotated[ApiKeyRecord, Depends(current_key)]) -> ApiKeyRecord:
        if key.role not in allowed:
            raise HTTPException(
                status_code=403,
                detail=f"role {key.role!r} may not {permission.replace(':', ' ')}; "
                f"allowed roles: {', '.join(sorted(allowed))}",
            )
        return key

    return Depends(check)
