"""Dependencies shared by the routers (``Annotated[..., Depends()]`` aliases)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from salesplan.serving.services import Services


async def get_services(request: Request) -> Services:
    """Async on purpose: a sync dependency costs a thread-pool hop on every request (the scoring hot path)."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_session(services: ServicesDep) -> Iterator[Session]:
    """A database session per request, committed when the handler returns without error."""
    with services.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
