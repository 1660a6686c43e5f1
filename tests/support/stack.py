"""Reading what the local stack did: audit events, journals by reference."""

from __future__ import annotations

from collections import Counter
from typing import Any

from local.stack import LocalStack


def audit_items(stack: LocalStack) -> list[dict[str, Any]]:
    """Every audit entry, one per event (an outcome item holds an attempt's events), in DynamoDB's typed form."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    from mlconnector.aws.audit import entries

    assert stack.runtime
    ddb = stack.runtime.client("dynamodb")
    plain, typed = TypeDeserializer(), TypeSerializer()
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": stack.runtime.outputs["AuditTableName"]}
    while True:
        page = ddb.scan(**kwargs)
        for item in page["Items"]:
            for entry in entries({k: plain.deserialize(v) for k, v in item.items()}):
                items.append({k: typed.serialize(v) for k, v in entry.items()})
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def events_for(stack: LocalStack, record_key: str) -> list[str]:
    rows = sorted((i for i in audit_items(stack) if i["pk"]["S"] == record_key), key=lambda i: i["sk"]["S"])
    return [i["event"]["S"] for i in rows]


def event_counts(stack: LocalStack) -> Counter:
    return Counter(i["event"]["S"] for i in audit_items(stack))


def journals_for(stack: LocalStack, reference: str) -> list[dict[str, Any]]:
    state = stack.erps["peoplesoft"].state
    return [j for j in state.journals if j["PROP_DESCR"].startswith(f"ref:{reference} |")]
