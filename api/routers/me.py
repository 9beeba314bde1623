"""Who is calling: the dashboard asks once after sign-in and shows only what the role may do."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import Caller, ServicesDep
from api.routers import AUTH_RESPONSES
from api.schemas import Me

router = APIRouter(prefix="/auth", tags=["auth"], responses=AUTH_RESPONSES)
_SESSION = "session:"  # the token name `log_in` gives a dashboard session


@router.get("/me", response_model=Me, summary="The caller behind this token")
async def me(caller: Caller, services: ServicesDep) -> Me:
    """Role and scope of the token sent, the deployment's time zone for showing times and its
    language as the interface's default. Only a convenience for interfaces: every other route
    still checks the role itself."""
    name = caller.name.removeprefix(_SESSION)
    return Me(
        name=name,
        role=caller.role,
        department=caller.department,
        site=caller.site,
        session=caller.name.startswith(_SESSION),
        expires_at=caller.expires_at,
        timezone=services.hub.config.deployment.timezone,
        language=services.hub.config.deployment.language,
    )
