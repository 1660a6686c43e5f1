"""Connector state in one DynamoDB table: watermarks, store→ERP id mappings, record status.

Item shapes (``pk`` / ``sk``):

* ``watermark#<connection>#<resource>`` / ``-``: ``value`` = ISO timestamp of the newest record seen;
* ``map#<connection>#<kind>#<store id>`` / ``-``: ``erp_id`` (customers, ERP documents by reference);
* ``record#<connection>|<kind>|<object id>`` / ``status``: the latest status of a record, the version
  it is about, the envelope to replay it and the ERP document ids; indexed by ``status_key`` =
  connection#status (bindings and watermarks have none, so they are not in the index).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.conditions import Key

from mlconnector.aws.batch import batch_get
from mlconnector.aws.clients import table
from mlconnector.envelope import Envelope


class RecordStatus:
    POSTED = "posted"
    FAILED = "failed"
    NEEDS_REVIEW = "needs_review"
    SKIPPED = "skipped"
    DEAD_LETTERED = "dead_lettered"


#: Outcomes that end a version's processing: a later delivery of that version changes nothing.
FINISHED = frozenset({RecordStatus.POSTED, RecordStatus.SKIPPED, RecordStatus.NEEDS_REVIEW})


class StateStore:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name

    @property
    def _table(self) -> Any:
        return table(self.table_name)

    # watermarks ----------------------------------------------------------------------------------
    def watermark(self, connection: str, resource: str) -> datetime | None:
        item = self._table.get_item(Key={"pk": f"watermark#{connection}#{resource}", "sk": "-"}).get("Item")
        return datetime.fromisoformat(item["value"]) if item else None

    def advance_watermark(self, connection: str, resource: str, value: datetime) -> None:
        """Move the watermark forward only (a slow poll finishing late never moves it back)."""
        from botocore.exceptions import ClientError

        try:
            self._table.put_item(
                Item={"pk": f"watermark#{connection}#{resource}", "sk": "-", "value": value.isoformat()},
                ConditionExpression="attribute_not_exists(pk) OR #v < :v",
                ExpressionAttributeNames={"#v": "value"},
                ExpressionAttributeValues={":v": value.isoformat()},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    # id mappings (the "binder") --------------------------------------------------------------------
    def binding(self, connection: str, kind: str, store_id: str) -> dict[str, Any] | None:
        return self._table.get_item(Key=binding_key(connection, kind, store_id)).get("Item")

    def bindings(self, connection: str, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Several bindings in one BatchGetItem: ``(kind, store id)`` → item, for those that exist."""
        wanted = {}
        for kind, store_id in keys:
            key = binding_key(connection, kind, store_id)
            wanted[(key["pk"], key["sk"])] = (kind, store_id)
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for item in batch_get(self.table_name, [{"pk": pk, "sk": sk} for pk, sk in wanted]):
            found[wanted[(item["pk"], item["sk"])]] = item
        return found

    def erp_id(self, connection: str, kind: str, store_id: str) -> str | None:
        item = self.binding(connection, kind, store_id)
        return item["erp_id"] if item else None

    # record status (written by the poster's unit of work) ---------------------------------------------
    def status(self, record_key: str) -> dict[str, Any] | None:
        return self._table.get_item(Key={"pk": f"record#{record_key}", "sk": "status"}).get("Item")

    def finished(self, envelopes: Sequence[Envelope]) -> dict[str, str]:
        """Record key → status, for the envelopes whose version the poster has finished with (``FINISHED``).

        Eventually consistent (half the read units): a version finished a moment ago may be missed, and the
        poster then suppresses the delivery as a duplicate."""
        keys = [{"pk": f"record#{key}", "sk": "status"} for key in dict.fromkeys(e.record_key for e in envelopes)]
        items = {i["pk"].removeprefix("record#"): i for i in batch_get(self.table_name, keys, consistent=False)}
        return {
            e.record_key: str(item["status"])
            for e in envelopes
            if (item := items.get(e.record_key)) and item.get("version") == e.version and item["status"] in FINISHED
        }

    def records_with_status(self, connection: str, status: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "IndexName": "by_status",
            "KeyConditionExpression": Key("status_key").eq(f"{connection}#{status}"),
        }
        while True:
            page = self._table.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def binding_key(connection: str, kind: str, store_id: str) -> dict[str, str]:
    return {"pk": f"map#{connection}#{kind}#{store_id}", "sk": "-"}


def binding_item(connection: str, kind: str, store_id: str, erp_id: str, fingerprint: str = "") -> dict[str, Any]:
    item = {**binding_key(connection, kind, store_id), "erp_id": erp_id, "bound_at": datetime.now(UTC).isoformat()}
    if fingerprint:
        item["fingerprint"] = fingerprint
    return item


def status_item(envelope: Envelope, status: str, **fields: Any) -> dict[str, Any]:
    """The record's latest status, with the envelope (without payload) to replay it."""
    return {
        "pk": f"record#{envelope.record_key}",
        "sk": "status",
        "status": status,
        "status_key": f"{envelope.connection}#{status}",
        "connection": envelope.connection,
        "kind": str(envelope.kind),
        "object_id": envelope.object_id,
        "version": envelope.version,
        "updated_at": datetime.now(UTC).isoformat(),
        "envelope": envelope.to_json(payload=False),
        **{k: v for k, v in fields.items() if v not in (None, "")},
    }
