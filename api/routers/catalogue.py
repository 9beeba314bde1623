"""The names behind the ids that alerts and clues carry: sites, cameras and sensors, rules,
departments. The duty platform's filters and labels come from here; the full deployment stays
behind GET /config."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ServicesDep, Staff
from api.routers import AUTH_RESPONSES
from api.schemas import Catalogue, Named

router = APIRouter(tags=["config"], responses=AUTH_RESPONSES)


@router.get("/catalogue", response_model=Catalogue, summary="Names of sites, sources, rules and departments")
async def catalogue(caller: Staff, services: ServicesDep) -> Catalogue:
    """What an alert's `site`, `source` and `rule` and a clue's `department` stand for, in the
    deployment the hub runs."""
    deployment = services.hub.config.deployment
    return Catalogue(
        sites=[Named(id=s.id, name=s.name) for s in deployment.sites],
        sources=[Named(id=f"camera:{c.id}", name=c.name, site=c.site) for c in deployment.cameras]
        + [Named(id=f"sensor:{s.id}", name=s.name, site=s.site) for s in deployment.sensors],
        rules=[Named(id=r.id, name=r.name) for r in deployment.rules],
        departments=[Named(id=d.id, name=d.name) for d in deployment.departments],
    )
