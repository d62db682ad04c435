"""API-key authentication and role checks. 401: no or unknown key; 403: a valid key whose role may not;
429: too many failed attempts from this client (``Retry-After`` says how long to wait)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from salesplan.serving.db.records import ApiKeyRecord
from salesplan.serving.deps import ServicesDep
from salesplan.serving.services import Services

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
    "process:read": frozenset({"planner", "analyst", "admin"}),
    "selection:read": frozenset({"planner", "analyst", "admin"}),
    "promotions:plan": frozenset({"planner", "analyst", "admin"}),
    "accounts:read": frozenset({"planner", "analyst", "admin"}),
    "accounts:write": frozenset({"planner", "admin"}),
    "accounts:agree": frozenset({"planner", "admin"}),
    "tracking:read": frozenset({"planner", "analyst", "admin"}),
    "actuals:write": frozenset({"crm", "planner", "admin"}),
    "alerts:write": frozenset({"planner", "admin"}),
    "models:read": frozenset({"analyst", "admin"}),
    "models:admin": frozenset({"admin"}),
}


def permissions_of(role: str) -> list[str]:
    """Every permission ``role`` holds, sorted (what GET /api/v1/me returns for role-aware navigation)."""
    return sorted(p for p, roles in PERMISSIONS.items() if role in roles)


def may(record: ApiKeyRecord | None, permission: str) -> bool:
    return record is not None and record.role in PERMISSIONS[permission]


UNAUTHORIZED = HTTPException(
    status_code=401,
    detail="missing or invalid API key: send 'Authorization: Bearer <key>' (create one with "
    "'salesplan apikey create --role ...')",
    headers={"WWW-Authenticate": "Bearer"},
)


def client_of(request: Request) -> str:
    """The client's address (the proxy's unless uvicorn runs with --proxy-headers)."""
    return request.client.host if request.client is not None else "unknown"


def presented_key(request: Request) -> str | None:
    """The key sent as ``Authorization: Bearer`` or ``X-API-Key``, if any. Credentials we cannot use are
    not ignored in favour of others: an Authorization header that is not a bearer token, or two different
    keys, count as an invalid key (``""``), so a request is never let in past a credential it carries."""
    auth = request.headers.get("authorization")
    header = request.headers.get("x-api-key")
    if auth is None:
        return header or None
    scheme, _, token = auth.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or (header is not None and header != token):
        return ""
    return token


async def authenticate(services: Services, request: Request, plaintext: str) -> ApiKeyRecord | None:
    """The key's record, or None for an unknown or revoked key (counted against the client). A client
    over its failure budget gets 429 without its key being looked up, unless the key is one this worker
    already knows is good (so a valid caller behind a shared address keeps working)."""
    record = services.cached_key(plaintext)  # on the event loop: no database, no thread hop
    if record is None:
        client = client_of(request)
        wait = services.auth_throttle.retry_after(client)
        if wait is not None:
            raise HTTPException(
                status_code=429,
                detail=f"too many failed authentications from {client}; retry in {wait} s with a valid key",
                headers={"Retry-After": str(wait)},
            )
        record = await run_in_threadpool(services.verify_key, plaintext)
        if record is None:
            services.auth_throttle.failed(client)
            return None
    request.state.key = record  # for the access log: which key acted
    return record


async def current_key(
    services: ServicesDep,
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    x_api_key: Annotated[str | None, Depends(header_key)],
) -> ApiKeyRecord:
    """The caller's key (the security dependencies document both ways to send it in the schema)."""
    plaintext = presented_key(request)
    if plaintext is None:
        raise UNAUTHORIZED
    record = await authenticate(services, request, plaintext)
    if record is None:
        raise UNAUTHORIZED
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
