"""Where a stack's queues and tables are: CloudFormation outputs, a local outputs file, or options."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from mlconnector.environment import Environment
from mlconnector.errors import ProfileError
from mlconnector.pipeline.context import Connector
from mlconnector.profile import Profile, load_profile

#: CloudFormation output name → StackOutputs field.
OUTPUT_FIELDS: dict[str, str] = {
    "IngestQueueUrl": "ingest_queue_url",
    "DeadLetterQueueUrl": "dead_letter_queue_url",
    "DeadLetterQueueArn": "dead_letter_queue_arn",
    "AuditTableName": "audit_table",
    "StateTableName": "state_table",
    "IdempotencyTableName": "idempotency_table",
    "EgressIp": "egress_ip",
    "ShopifyEventsQueueUrl": "shopify_events_queue_url",
    "ShopifyEventsDeadLetterQueueUrl": "shopify_events_dead_letter_queue_url",
}

#: The egress address an on-premise ERP sees from a local run: the operator's own machine.
LOCAL_EGRESS_IP = "127.0.0.1"


@dataclass(frozen=True)
class StackOutputs:
    """The resources operator commands act on; empty strings where unknown."""

    ingest_queue_url: str = ""
    dead_letter_queue_url: str = ""
    dead_letter_queue_arn: str = ""
    audit_table: str = ""
    state_table: str = ""
    idempotency_table: str = ""
    egress_ip: str = ""
    shopify_events_queue_url: str = ""
    shopify_events_dead_letter_queue_url: str = ""

    def dead_letter_queues(self) -> list[tuple[str, str, str]]:
        """(name, dead-letter queue URL, the queue it goes back to) for each dead-letter queue the stack has."""
        pairs = [("ingest", self.dead_letter_queue_url, self.ingest_queue_url)]
        if self.shopify_events_dead_letter_queue_url and self.shopify_events_queue_url:
            pairs.append(("Shopify events", self.shopify_events_dead_letter_queue_url, self.shopify_events_queue_url))
        return pairs

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any]) -> StackOutputs:
        """From ``{OutputKey: value}`` (CloudFormation names); unknown keys are ignored."""
        return cls(**{attr: str(outputs[key]) for key, attr in OUTPUT_FIELDS.items() if outputs.get(key)})

    def merged(self, **overrides: str | None) -> StackOutputs:
        """A copy where every non-empty override replaces the value."""
        return replace(self, **{k: v for k, v in overrides.items() if v})

    def require(self, *names: str) -> None:
        """Raise ProfileError naming the options that supply missing values."""
        missing = [n for n in names if not getattr(self, n)]
        if missing:
            options = ", ".join("--" + n.replace("_", "-").replace("dead-letter-queue", "dlq") for n in missing)
            raise ProfileError(
                f"stack outputs unknown: {', '.join(missing)}; pass --stack NAME, --outputs-file PATH or {options}"
            )

    def as_dict(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def read_stack_outputs(stack_name: str, session: Any) -> StackOutputs:
    """Outputs of a deployed stack via CloudFormation DescribeStacks."""
    from botocore.exceptions import ClientError

    try:
        stacks = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        raise ProfileError(
            f"stack {stack_name}: {exc.response['Error'].get('Message', 'cannot be described')}"
        ) from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    return StackOutputs.from_outputs(outputs)


def read_outputs_file(path: str | Path) -> StackOutputs:
    """Outputs from a JSON file ``{"IngestQueueUrl": ..., ...}`` (what a local runtime writes)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ProfileError(f"{path}: cannot read stack outputs: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: stack outputs must be a JSON object")
    outputs = StackOutputs.from_outputs(data.get("outputs", data))
    if not outputs.egress_ip and data.get("local", True):
        outputs = replace(outputs, egress_ip=LOCAL_EGRESS_IP)
    return outputs


def write_outputs_file(outputs: Mapping[str, str], path: str | Path, endpoint_url: str = "") -> Path:
    """Write a local runtime's outputs where `mlc` finds them (``reports/local-outputs.json``)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    body = {"local": True, "endpoint_url": endpoint_url, "outputs": dict(outputs)}
    target.write_text(json.dumps(body, indent=2, sort_keys=True), encoding="utf-8")
    return target


def configure_aws(endpoint_url: str | None = None, region: str | None = None, aws_profile: str | None = None) -> None:
    """Point this process's boto3 clients (the layer's cached ones included) at the chosen account or endpoint."""
    if endpoint_url:
        os.environ["AWS_ENDPOINT_URL"] = endpoint_url
    if region:
        os.environ["AWS_DEFAULT_REGION"] = region
        os.environ["AWS_REGION"] = region
    if aws_profile:
        os.environ["AWS_PROFILE"] = aws_profile
    from aws_lambda_powertools.utilities import parameters

    from mlconnector.aws import clients
    from mlconnector.profile import current_profile
    from mlconnector.published_profile import current_webhook_connections

    clients.reset()
    parameters.clear_caches()
    current_profile.cache_clear()
    current_webhook_connections.cache_clear()


def build_connector(profile: Profile | str, outputs: StackOutputs) -> Connector:
    """A Connector over the stack's tables and queue, as the deployed functions would build it."""
    loaded = load_profile(profile) if isinstance(profile, str) else profile
    environment = Environment(
        profile_location=profile if isinstance(profile, str) else "",
        queue_url=outputs.ingest_queue_url,
        audit_table=outputs.audit_table,
        state_table=outputs.state_table,
        idempotency_table=outputs.idempotency_table,
        max_receive_count=5,
        retry_base_seconds=30.0,
        retry_max_seconds=900.0,
    )
    return Connector(environment, loaded)
