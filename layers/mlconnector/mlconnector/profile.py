"""Per-customer connection profiles: validated at load, never holding a secret value.

A profile is written as YAML (``config/<customer>.yaml``); ``${VAR}`` in it is replaced from the
environment, so one file can point at sandboxes locally and at real hosts elsewhere. ``mlc profile
push`` validates it and publishes it to an SSM parameter (``ssm:<name>`` in ``CONNECTOR_PROFILE``)
as JSON with every default filled in (``publish``); the functions read that document
(``published_profile`` has what the webhook receiver reads of it without pydantic).
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator, model_validator

from mlconnector import registry
from mlconnector.accounting.rules import MappingRules
from mlconnector.errors import ProfileError
from mlconnector.published_profile import RefreshedProfile, is_published, published_document, read_profile_text

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretNames(Strict):
    """Secrets Manager names or ARNs; the values are fetched at run time and never logged."""

    store: str = Field(min_length=1, description="Store API credentials (JSON)")
    webhook: str | None = Field(default=None, description="Webhook signing secret (JSON with webhook_secret)")
    erp: str = Field(min_length=1, description="ERP credentials (JSON)")


class Polling(Strict):
    resources: tuple[str, ...] = ("orders", "customers", "refunds")
    overlap_seconds: int = Field(default=600, ge=0, le=86_400)
    backfill_from: datetime = Field(description="Where the first poll starts (timezone-aware)")

    @field_validator("backfill_from")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("needs a timezone, e.g. 2026-01-01T00:00:00Z")
        return value


class Connection(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,40}$")
    enabled: bool = True
    reference_prefix: str = Field(
        default="", max_length=4, description="Prepended to order references in ERP document keys"
    )
    store: SerializeAsAny[BaseModel]
    erp: SerializeAsAny[BaseModel]
    secrets: SecretNames
    polling: Polling
    accounting: MappingRules
    erp_concurrency: int = Field(default=5, ge=2, le=1000, description="Cap on parallel posting toward the ERP")

    @field_validator("store", mode="before")
    @classmethod
    def _store(cls, value: Any) -> BaseModel:
        return _adapter_settings(value, registry.store_settings_class)

    @field_validator("erp", mode="before")
    @classmethod
    def _erp(cls, value: Any) -> BaseModel:
        return _adapter_settings(value, registry.erp_settings_class)

    @property
    def store_type(self) -> str:
        return self.store.type  # type: ignore[attr-defined]

    @property
    def erp_type(self) -> str:
        return self.erp.type  # type: ignore[attr-defined]


def _adapter_settings(value: Any, settings_class_for: Any) -> BaseModel:
    if isinstance(value, BaseModel):
        return value
    if not isinstance(value, dict) or "type" not in value:
        raise ValueError("needs a mapping with a 'type'")
    settings_class = settings_class_for(value["type"])
    return settings_class.model_validate(value)


class Profile(Strict):
    customer: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,40}$")
    connections: tuple[Connection, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Profile:
        names = [c.name for c in self.connections]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"connection names must be unique; repeated: {', '.join(duplicates)}")
        return self

    def connection(self, name: str) -> Connection:
        for connection in self.connections:
            if connection.name == name:
                return connection
        raise KeyError(name)


def _expand_env(text: str, source: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ProfileError(f"{source}: ${{{name}}} is used but not set in the environment")
        return os.environ[name]

    return _ENV_REF.sub(replace, text)


def _format_errors(source: str, error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        path = ".".join(str(p) for p in item["loc"] if not str(p).startswith("function-"))
        parts.append(f"{path or '(top)'}: {item['msg']}")
    return f"{source}: invalid profile\n  " + "\n  ".join(parts)


def parse_profile(text: str, source: str = "profile") -> Profile:
    """Validate a profile (YAML as written, or the published JSON); raise ProfileError naming every bad
    field and why."""
    if is_published(text):
        data = published_document(text, source)
    else:
        import yaml

        try:
            data = yaml.safe_load(_expand_env(text, source))
        except yaml.YAMLError as exc:
            raise ProfileError(f"{source}: not valid YAML: {exc}") from None
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(_format_errors(source, exc)) from None


def publish(profile: Profile) -> str:
    """The document deployed functions read: JSON, ``${VAR}`` expanded, every default filled in."""
    return profile.model_dump_json()


def load_profile(location: str) -> Profile:
    text, source = read_profile_text(location)
    return parse_profile(text, source)


#: The profile this container serves (``CONNECTOR_PROFILE``), read again every ``CONNECTOR_PROFILE_MAX_AGE``.
current_profile = RefreshedProfile(parse_profile)
