"""A local profile whose Shopify connection takes its webhooks through an EventBridge partner event source."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "aws.partner/shopify.com/7700011/ml-connector-local"
ARN = f"arn:aws:events:us-east-1::event-source/{SOURCE}"


def eventbridge_profile(directory: Path, connection: str = "shop-psft") -> Path:
    """config/local.yaml with ``connection``'s webhooks coming through the partner event source ``ARN``."""
    profile = yaml.safe_load((ROOT / "config/local.yaml").read_text())
    for entry in profile["connections"]:
        if entry["name"] == connection:
            entry["store"].update(webhook_delivery="eventbridge", eventbridge_source_arn=ARN)
    path = directory / "eventbridge-profile.yaml"
    path.write_text(yaml.safe_dump(profile))
    return path
