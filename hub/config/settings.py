"""Process settings and secrets, from the environment (``OFFSITE_*``) only, never from the repo."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from psycopg.conninfo import conninfo_to_dict
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDERS = {"changeme", "change-me", "changethis", "password", "secret", "example", "postgres"}


class Settings(BaseSettings):
    """What differs between machines running the same deployment file."""

    model_config = SettingsConfigDict(env_prefix="OFFSITE_", extra="ignore")

    env: Literal["development", "production"] = Field(
        default="development", description="production refuses placeholder secrets"
    )
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL DSN; when unset an embedded server is started under data_dir/pg",
    )
    mqtt_url: str | None = Field(default=None, description="Broker URL overriding the config's broker")
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_cert: Path | None = Field(default=None, description="Client certificate (PEM) for mqtts://")
    mqtt_key: Path | None = Field(default=None, description="Its private key (PEM); unset: in mqtt_cert")
    data_dir: Path = Field(default=Path("var"), description="Embedded database and evidence live here")
    pool_size: int = Field(default=8, ge=1, le=256)

    @model_validator(mode="after")
    def _no_placeholder_secrets(self) -> Settings:
        if self.env != "production":
            return self
        if self.database_url is None:
            raise ValueError("OFFSITE_DATABASE_URL must be set in production (no embedded database)")
        secrets = {
            "OFFSITE_DATABASE_URL": str(conninfo_to_dict(self.database_url).get("password") or "") or None,
            "OFFSITE_MQTT_PASSWORD": self.mqtt_password,
        }
        for name, secret in secrets.items():
            if secret is not None and (len(secret) < 8 or secret.lower() in _PLACEHOLDERS):
                raise ValueError(
                    f"{name} holds a placeholder secret (or one under 8 characters); set a real one"
                )
        return self
