"""Credentials from Secrets Manager, cached per container by Powertools parameters."""

from __future__ import annotations

from typing import Any

from mlconnector.errors import ProfileError


def get_credentials(name: str, max_age: int = 300) -> dict[str, str]:
    """A JSON secret as a dict of strings. The error names the secret, never its value."""
    from aws_lambda_powertools.utilities import parameters

    try:
        value: Any = parameters.get_secret(name, transform="json", max_age=max_age)
    except parameters.TransformParameterError:
        raise ProfileError(f"secret {name} is not a JSON object") from None
    except parameters.GetParameterError as exc:
        raise ProfileError(f"secret {name} cannot be read: {type(exc.__cause__ or exc).__name__}") from None
    if not isinstance(value, dict):
        raise ProfileError(f"secret {name} is not a JSON object")
    return {str(k): str(v) for k, v in value.items()}
