"""Limits and knobs of the API process, from the environment (``OFFSITE_API_*``)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """What a deployment may tune about the API; the defaults suit a small hub."""

    model_config = SettingsConfigDict(env_prefix="OFFSITE_API_", extra="ignore")

    max_body: int = Field(default=1 << 20, ge=1024, description="Largest JSON body, in bytes")
    max_upload: int = Field(default=32 << 20, ge=1024, description="Largest evidence upload, in bytes")
    max_events: int = Field(default=500, ge=1, description="Most events in one intake batch")
    session_hours: float = Field(default=12.0, gt=0, description="Lifetime of a dashboard login")
    stream_poll: float = Field(
        default=5.0, gt=0, description="Seconds a stream waits for a notification before looking anyway"
    )

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(hours=self.session_hours)
