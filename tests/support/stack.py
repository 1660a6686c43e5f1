"""Reading what the local stack did: audit events, journals by reference."""

from __future__ import annotations

from collections import Counter
from typing import Any

from local.stack import LocalStack


def audit_items(stack: LocalStack) -> list[dict[str, Any]]:
    assert stack.runtime
    ddb = stack.runtime.client("dynamodb")
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": stack.runtime.outputs["AuditTableName"]}
    while True:
        page = ddb.scan(**kwargs)
        items.extend(page["Items"])
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
