"""Settings read from ``SEATFLOW_*`` environment variables (and a ``.env`` file if present)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./seatflow.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SEATFLOW_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL; SQLite file by default, postgresql+psycopg://… for scale.",
    )
    test_clock: bool = Field(
        default=False,
        description="Enable GET/POST /api/v1/test/clock so tests and demos can move 'now'.",
    )
    default_currency: str = Field(default="USD", min_length=3, max_length=3)
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where users reach seatflow; invitation and password links start with it.",
    )
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    sql_echo: bool = False

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        # A bare postgresql:// URL would pick psycopg2, which is not installed: use psycopg 3.
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    @field_validator("default_currency")
    @classmethod
    def _upper_currency(cls, value: str) -> str:
        return value.upper()


@lru_cache
def get_settings() -> Settings:
    return Settings()
