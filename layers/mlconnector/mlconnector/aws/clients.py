"""boto3 clients created once per container, on first use.

Endpoints come from the standard ``AWS_ENDPOINT_URL`` variables, which is how the local
runtime points every handler at its embedded AWS.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def client(service: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(service, config=Config(retries={"mode": "standard", "max_attempts": 5}))


@cache
def resource() -> Any:
    """The DynamoDB resource (Python values in and out, for batch calls across tables)."""
    import boto3
    from botocore.config import Config

    return boto3.resource("dynamodb", config=Config(retries={"mode": "standard", "max_attempts": 5}))


@cache
def table(name: str) -> Any:
    return resource().Table(name)


def reset() -> None:
    """Forget cached clients (tests and the local runtime switch endpoints)."""
    client.cache_clear()
    table.cache_clear()
    resource.cache_clear()
