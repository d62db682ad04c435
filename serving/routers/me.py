"""Who am I: the caller's key name, role and permissions, so a client can hide what the role may not do."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from salesplan.serving.auth import Role, current_key, permissions_of
from salesplan.serving.db.records import ApiKeyRecord
from salesplan.serving.routers.common import errors

router = APIRouter(prefix="/api/v1", tags=["me"])


class Me(BaseModel):
    name: str = Field(examples=["north-planning"])
    role: Role = Field(examples=["planner"])
    key_prefix: str = Field(examples=["ab12cd34"], description="Safe to show; identifies the key")
    permissions: list[str] = Field(examples=[["forecasts:read", "proposals:write", "pipeline:read"]])


@router.get("/me", responses=errors(401, 429, 503), summary="The caller's role and permissions")
def me(key: Annotated[ApiKeyRecord, Depends(current_key)]) -> Me:
    return Me(name=key.name, role=key.role, key_prefix=key.key_prefix, permissions=permissions_of(key.role))
