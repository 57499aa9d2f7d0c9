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
    simulator_url: str = Field(
        default="",
        max_length=300,
        pattern=r"^(https?://[^\s\"'<>]+)?$",
        description="The Partner Center simulator's address, linked from the home page; empty: no link.",
    )
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    sql_echo: bool = False
    seller_name: str = Field(default="Your Company", description="The seller named on invoices.")
    seller_address: str = Field(default="", description="The seller's address on invoices; lines separated by '|'.")
    seller_email: str = Field(default="", description="The billing contact printed on invoices.")
    seller_tax_id: str = Field(default="", description="The seller's tax or VAT number printed on invoices.")
    seller_payment_instructions: str = Field(
        default="",
        max_length=2000,
        description="How to pay, printed on invoices (bank, IBAN, reference); lines separated by '|'.",
    )
    invoice_prefix: str = Field(
        default="INV-", max_length=10, pattern=r"^[A-Za-z0-9-]*$", description="Invoice numbers: prefix + 6 digits."
    )
    credit_note_prefix: str = Field(
        default="CN-",
        max_length=10,
        pattern=r"^[A-Za-z0-9-]*$",
        description="Credit note numbers: prefix + 6 digits, a sequence of their own.",
    )
    secret_key: str = Field(
        default="",
        description="Signs the CSRF tokens of forms shown before login; empty: the key the database made at "
        "migration (table instance_keys). Set it when several installations must accept each other's forms.",
    )
    smtp_host: str = Field(default="", description="SMTP server for portal mail; empty: mail goes to the log.")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = Field(default="seatflow@localhost", description="The From address of portal mail.")
    smtp_starttls: bool = True
    worker_max_attempts: int = Field(
        default=10, ge=1, le=100, description="Tries of a transient provider error before a change fails."
    )
    worker_backoff_base_seconds: float = Field(
        default=1.0, gt=0, le=3600, description="First retry delay; it doubles with each attempt."
    )
    worker_backoff_max_seconds: float = Field(default=300.0, gt=0, le=86400, description="Longest retry delay.")
    worker_lease_seconds: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="How long a worker's claim holds; a dead worker's work is free after it.",
    )
    worker_batch_size: int = Field(default=20, ge=1, le=1000, description="Subscriptions claimed at a time.")
    worker_idle_seconds: float = Field(default=2.0, gt=0, le=600, description="The worker's sleep when idle.")
    worker_order_poll_seconds: float = Field(
        default=5.0, gt=0, le=3600, description="How often an order the provider is still completing is looked at."
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=50, description="Tries of a webhook delivery (or a notification mail) before it is dead."
    )
    webhook_backoff_base_seconds: float = Field(
        default=30.0, gt=0, le=86400, description="A failed delivery's first retry delay; times 4 with each attempt."
    )
    webhook_backoff_max_seconds: float = Field(
        default=43200.0, gt=0, le=604800, description="A failed delivery's longest retry delay."
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="How long a webhook receiver has to answer an attempt."
    )
    notify_email: str = Field(
        default="",
        max_length=320,
        description="The operator's address for failed changes and upcoming renewals (SEATFLOW_NOTIFY_EVENTS); "
        "empty: no mail.",
    )
    notify_events: str = Field(
        default="license_change.failed,renewal.upcoming",
        max_length=1000,
        description="The event types mailed to SEATFLOW_NOTIFY_EMAIL, comma-separated.",
    )
    notify_renewal_days: int = Field(
        default=30, ge=1, le=366, description="How many days ahead renewal.upcoming announces a renewal."
    )

    max_concurrent_requests: int = Field(
        default=16,
        ge=1,
        le=1000,
        description="Requests one server process works on at once; the database pool is sized to match.",
    )
    request_queue_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How long a request waits for a place when the process is full before it gets 503 + Retry-After.",
    )
    database_busy_seconds: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="How long a request waits for a database connection or SQLite's write lock before 503.",
    )

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
