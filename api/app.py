"""The application factory: routers, error handlers, limits and a lifespan that owns the hub."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from anyio import CapacityLimiter
from fastapi import Depends, FastAPI

from api.auth import TOKEN_CHANNEL, TokenCache
from api.deps import Services, Transactions
from api.errors import BodyLimit, install_error_handlers, no_nul_in_query
from api.feed import CHANNEL as FEED_CHANNEL
from api.feed import AlertFeed
from api.gate import AuthenticateFirst
from api.listener import Listener
from api.metrics import ApiMetrics, RequestMetrics
from api.routers import (
    alerts,
    cameras,
    catalogue,
    clues,
    config,
    edge,
    edge_detections,
    edge_frames,
    edge_readings,
    events,
    evidence,
    me,
    objects,
    occupancy,
    outputs,
    readings,
    records,
    statistics,
    stream,
    system,
)
from api.settings import ApiSettings
from api.web import serve_dashboard
from hub.runtime import Hub

HubSource = Callable[[], AbstractContextManager[Hub]]

DESCRIPTION = """\
The offsite hub's API: alerts for the duty platform, risk clues (风险线索) for departments,
supervision-action records (监管行为), evidence by SHA-256, event intake for edge boxes and a
live stream of alert changes. Every call needs `Authorization: Bearer TOKEN`.
"""


def _is_upload(path: str) -> bool:
    return path.startswith("/evidence/") or (path.startswith("/clues/") and path.endswith("/feedback"))


def _version() -> str:
    try:
        return version("offsite")
    except PackageNotFoundError:
        return "0"


def create_app(hub_source: HubSource, settings: ApiSettings | None = None) -> FastAPI:
    """An app serving the hub that `hub_source` opens in the lifespan and closes after it."""
    settings = settings or ApiSettings()
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with hub_source() as hub:
            metrics.watch(hub.db, hub.pipeline.clock)
            threads = min(settings.db_threads, hub.db.pool.max_size)
            feed = AlertFeed(settings.stream_poll)
            tokens = TokenCache(settings.token_cache_seconds)
            listener = Listener(hub.db.dsn, {FEED_CHANNEL: feed, TOKEN_CHANNEL: tokens})
            listener.start()
            app.state.services = Services(
                hub=hub,
                settings=settings,
                db=Transactions(hub.db, CapacityLimiter(threads)),
                listener=listener,
                feed=feed,
                tokens=tokens,
                metrics=metrics,
                broker_url=hub.config.deployment.broker.url,
            )
            try:
                yield
            finally:
                await listener.stop()

    app = FastAPI(
        title="offsite API",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(no_nul_in_query)],
    )
    install_error_handlers(app)
    for module in (
        alerts,
        readings,
        cameras,
        clues,
        records,
        outputs,
        events,
        evidence,
        edge,
        edge_detections,
        edge_frames,
        edge_readings,
        stream,
        system,
        me,
        config,
        catalogue,
        statistics,
        objects,
        occupancy,
    ):
        app.include_router(module.router)
    serve_dashboard(app)
    app.add_middleware(
        BodyLimit, max_body=settings.max_body, max_upload=settings.max_upload, is_upload=_is_upload
    )
    app.add_middleware(AuthenticateFirst)  # outside BodyLimit: a stranger's body is never read
    app.add_middleware(RequestMetrics, metrics=metrics)
    return app
