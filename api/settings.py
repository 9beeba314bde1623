"""Limits and knobs of the API process, from the environment (``OFFSITE_API_*``)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.throttle import LoginPolicy


class ApiSettings(BaseSettings):
    """What a deployment may tune about the API; the defaults suit a small hub."""

    model_config = SettingsConfigDict(env_prefix="OFFSITE_API_", extra="ignore")

    max_body: int = Field(default=1 << 20, ge=1024, description="Largest JSON body, in bytes")
    max_upload: int = Field(default=32 << 20, ge=1024, description="Largest evidence upload, in bytes")
    max_events: int = Field(default=500, ge=1, description="Most events in one intake batch")
    session_hours: float = Field(default=12.0, gt=0, description="Lifetime of a dashboard login")
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="API processes sharing the port under `offsite up --api`; 1 serves on a thread of"
        " the hub's process",
    )
    db_threads: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Worker threads for the requests' database work (at most the pool's connections)",
    )
    token_cache_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How long a token once looked up is trusted without asking the database again;"
        " revocations take effect at once regardless (0: look every token up)",
    )
    stream_poll: float = Field(
        default=5.0, gt=0, description="Seconds a stream waits for a notification before looking anyway"
    )

    login_free_failures: int = Field(
        default=5, ge=1, description="Failed logins of one user name before each further one locks it"
    )
    login_free_failures_per_address: int = Field(
        default=20, ge=1, description="Failed logins from one client address before it is locked likewise"
    )
    login_max_lock: float = Field(
        default=900.0, ge=1, description="Longest lock after failed logins, in seconds (doubling up to it)"
    )

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(hours=self.session_hours)

    @property
    def login_policy(self) -> LoginPolicy:
        return LoginPolicy(
            free_per_user=self.login_free_failures,
            free_per_address=self.login_free_failures_per_address,
            max_delay=self.login_max_lock,
        )
