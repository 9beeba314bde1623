"""Deployment configuration: pydantic models, the YAML loader, environment settings."""

from hub.config.deployment import Broker, Deployment, Retention, Storage
from hub.config.loader import ConfigError, ConfigProblem, LoadedConfig, load_config, parse_config
from hub.config.settings import Settings

__all__ = [
    "Broker",
    "ConfigError",
    "ConfigProblem",
    "Deployment",
    "LoadedConfig",
    "Retention",
    "Settings",
    "Storage",
    "load_config",
    "parse_config",
]
