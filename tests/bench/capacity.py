"""DynamoDB capacity units as AWS bills them on demand, read from the requests this process sends.

Every DynamoDB request is seen on the wire (``BaseClient._make_request``: the serialized body and
the parsed answer), and units are counted by the rules of the DynamoDB Developer Guide:

* item size: attribute names plus values; a number is 1 byte plus 1 per two significant digits; a
  list or map 3 bytes plus 1 per element (CapacityUnitCalculations.html);
* a write costs ceil(size / 1 KB), the size being the larger of the item before and after; a
  conditional write that fails costs the existing item's size, at least 1; a delete costs the item
  deleted; every item of a BatchWriteItem counts alone;
* a global secondary index costs one write when an item enters or leaves it or changes what it
  projects, two when the item's index key changes, each ceil(projected size / 1 KB), nothing when
  the item is in it neither before nor after (GSI.html, "Provisioned throughput considerations");
* a read costs ceil(size / 4 KB) per item (GetItem, BatchGetItem) or per answer (Query, Scan), at
  least one, halved when eventually consistent.

The item before a write is known because every write of a fresh stack passes through here (a
shadow copy per key). UpdateItem's ``SET a = :v, ...`` expressions are applied to that copy; any
other update expression raises, as the bench must not guess.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KB = 1024
READ_UNIT_BYTES = 4 * KB
_SET_CLAUSE = re.compile(r"^\s*SET\s+(.+)$", re.IGNORECASE | re.DOTALL)


def number_size(text: str) -> int:
    digits = text.lstrip("-+").lower().split("e", 1)[0].replace(".", "").strip("0")
    return 1 + math.ceil(len(digits) / 2)


def value_size(value: dict[str, Any]) -> int:
    """Bytes of one typed value (``{"S": ...}``, ``{"M": {...}}``, ...), its name not included."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return number_size(inner)
    if kind == "B":
        return len(base64.b64decode(inner))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(v.encode()) for v in inner)
    if kind == "NS":
        return sum(number_size(v) for v in inner)
    if kind == "BS":
        return sum(len(base64.b64decode(v)) for v in inner)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in inner.items())
    raise ValueError(f"unknown DynamoDB type {kind}")


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def units(size: int, unit: int = KB) -> int:
    return max(1, math.ceil(size / unit))


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]
    projection: str  # ALL | KEYS_ONLY | INCLUDE
    included: tuple[str, ...] = ()

    def projected(self, item: dict[str, Any], table_keys: tuple[str, ...]) -> dict[str, Any] | None:
        """What the index holds of ``item``, or None when the item lacks an index key (a sparse index)."""
        if not all(k in item for k in self.keys):
            return None
        if self.projection == "ALL":
            return dict(item)
        names = set(table_keys) | set(self.keys) | (set(self.included) if self.projection == "INCLUDE" else set())
        return {k: v for k, v in item.items() if k in names}


@dataclass(frozen=True)
class Table:
    name: str
    label: str
    keys: tuple[str, ...]
    indexes: tuple[Index, ...]

    @classmethod
    def describe(cls, ddb: Any, name: str, label: str) -> Table:
        table = ddb.describe_table(TableName=name)["Table"]
        indexes = tuple(
            Index(
                index["IndexName"],
                tuple(k["AttributeName"] for k in index["KeySchema"]),
                index["Projection"]["ProjectionType"],
                tuple(index["Projection"].get("NonKeyAttributes", ())),
            )
            for index in table.get("GlobalSecondaryIndexes", [])
        )
        return cls(name, label, tuple(k["AttributeName"] for k in table["KeySchema"]), indexes)

    def key_of(self, item: dict[str, Any]) -> tuple[str, ...]:
        return tuple(json.dumps(item[k], sort_keys=True) for k in self.keys)


def _apply_set(item: dict[str, Any], expression: str, names: dict[str, str], values: dict[str, Any]) -> dict[str, Any]:
    match = _SET_CLAUSE.match(expression)
    if not match:
        raise ValueError(f"update expression not counted: {expression!r}")
    updated = dict(item)
    for clause in match.group(1).split(","):
        target, _, source = (part.strip() for part in clause.partition("="))
        if not source.startswith(":") or source not in values:
            raise ValueError(f"update expression not counted: {expression!r}")
        updated[names.get(target, target)] = values[source]
    return updated


class CapacityUnits:
    """Counts write and read units per (role, table label, operation); ``role(thread name)`` names who sent it."""

    def __init__(self, role: Callable[[str], str] = lambda name: "main") -> None:
        self.role = role
        self.tables: dict[str, Table] = {}
        self.write_units: Counter = Counter()  # (role, table, "table" | index name) -> units
        self.writes: Counter = Counter()  # (role, table, operation) -> items written
        self.read_units: Counter = Counter()  # (role, table, operation) -> units
        self._shadow: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._original: Any = None

    def know(self, ddb: Any, names: dict[str, str]) -> None:
        """Learn the key schema and indexes of tables (physical name -> label such as ``Audit``)."""
        for name, label in names.items():
            self.tables[name] = Table.describe(ddb, name, label)

    def __enter__(self) -> CapacityUnits:
        from botocore.client import BaseClient

        self._original = original = BaseClient._make_request
        counter = self

        def counting(client: Any, operation_model: Any, request_dict: dict[str, Any], request_context: Any) -> Any:
            result = original(client, operation_model, request_dict, request_context)
            if client.meta.service_model.service_name == "dynamodb" and request_dict.get("body"):
                body = json.loads(request_dict["body"])
                counter._count(operation_model.name, body, result[1])
            return result

        BaseClient._make_request = counting  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        from botocore.client import BaseClient

        BaseClient._make_request = self._original  # type: ignore[method-assign]

    def reset(self) -> None:
        """Forget the counts, keep the shadow copies (they are what the tables hold)."""
        with self._lock:
            self.write_units.clear()
            self.writes.clear()
            self.read_units.clear()

    # --- counting ---------------------------------------------------------------------------------
    def _count(self, operation: str, body: dict[str, Any], answer: dict[str, Any]) -> None:
        role = self.role(threading.current_thread().name)
        failed = answer.get("Error", {}).get("Code", "")
        with self._lock:
            if operation == "PutItem":
                self._write(role, operation, body["TableName"], body["Item"], None, failed)
            elif operation == "UpdateItem":
                self._write(role, operation, body["TableName"], None, body, failed)
            elif operation == "DeleteItem":
                self._delete(role, operation, body["TableName"], body["Key"], failed)
            elif operation == "BatchWriteItem" and not failed:
                unprocessed = answer.get("UnprocessedItems", {})
                for name, requests in body["RequestItems"].items():
                    left = [json.dumps(r, sort_keys=True) for r in unprocessed.get(name, [])]
                    for request in requests:
                        if json.dumps(request, sort_keys=True) in left:
                            continue
                        if "PutRequest" in request:
                            self._write(role, operation, name, request["PutRequest"]["Item"], None, "")
                        else:
                            self._delete(role, operation, name, request["DeleteRequest"]["Key"], "")
            elif operation == "GetItem" and not failed:
                found = answer.get("Item")
                self._read(role, operation, body["TableName"], [item_size(found)] if found else [0], body)
            elif operation == "BatchGetItem" and not failed:
                for name, request in body["RequestItems"].items():
                    sizes = [item_size(i) for i in answer.get("Responses", {}).get(name, [])]
                    missing = len(request["Keys"]) - len(sizes)
                    self._read(role, operation, name, sizes + [0] * missing, request)
            elif operation in ("Query", "Scan") and not failed:
                size = sum(item_size(i) for i in answer.get("Items", []))
                strong = body.get("ConsistentRead", False)
                label = self._label(body["TableName"])
                self.read_units[(role, label, operation)] += units(size, READ_UNIT_BYTES) * (1 if strong else 0.5)

    def _label(self, name: str) -> str:
        table = self.tables.get(name)
        return table.label if table else name

    def _read(self, role: str, operation: str, name: str, sizes: list[int], request: dict[str, Any]) -> None:
        factor = 1 if request.get("ConsistentRead", False) else 0.5
        self.read_units[(role, self._label(name), operation)] += sum(units(s, READ_UNIT_BYTES) for s in sizes) * factor

    def _write(
        self,
        role: str,
        operation: str,
        name: str,
        item: dict[str, Any] | None,
        update: dict[str, Any] | None,
        failed: str,
    ) -> None:
        table = self.tables.get(name)
        if table is None:
            return
        key = table.key_of(item if item is not None else update["Key"])  # type: ignore[index]
        old = self._shadow.get((name, key))
        if failed:
            if failed == "ConditionalCheckFailedException":
                self.write_units[(role, table.label, "table")] += units(item_size(old) if old else 0)
                self.writes[(role, table.label, f"{operation} refused")] += 1
            return
        if item is None:
            assert update is not None
            item = _apply_set(
                old or dict(update["Key"]),
                update["UpdateExpression"],
                update.get("ExpressionAttributeNames", {}),
                update.get("ExpressionAttributeValues", {}),
            )
        self._shadow[(name, key)] = item
        self.writes[(role, table.label, operation)] += 1
        self.write_units[(role, table.label, "table")] += units(max(item_size(item), item_size(old) if old else 0))
        self._index_writes(role, table, old, item)

    def _delete(self, role: str, operation: str, name: str, key_item: dict[str, Any], failed: str) -> None:
        table = self.tables.get(name)
        if table is None:
            return
        old = self._shadow.pop((name, table.key_of(key_item)), None) if not failed else None
        self.writes[(role, table.label, operation)] += 1
        self.write_units[(role, table.label, "table")] += units(item_size(old) if old else 0)
        if old:
            self._index_writes(role, table, old, None)

    def _index_writes(self, role: str, table: Table, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        for index in table.indexes:
            before = index.projected(old, table.keys) if old else None
            after = index.projected(new, table.keys) if new else None
            if before is None and after is None:
                continue
            spent = 0
            if before is not None and after is not None:
                if any(before[k] != after[k] for k in index.keys):
                    spent = units(item_size(before)) + units(item_size(after))
                elif before != after:
                    spent = units(item_size(after))
            elif after is not None:
                spent = units(item_size(after))
            else:
                assert before is not None
                spent = units(item_size(before))
            self.write_units[(role, table.label, index.name)] += spent

    # --- results ----------------------------------------------------------------------------------
    def summary(self, per: float = 1.0) -> dict[str, Any]:
        """Units (divided by ``per``) by role and table, and items written by role, table and operation."""
        with self._lock:
            write = Counter()
            for (role, label, target), n in self.write_units.items():
                write[f"{role} {label}{'' if target == 'table' else ' index ' + target}"] += n
            read = Counter()
            for (role, label, operation), n in self.read_units.items():
                read[f"{role} {label} {operation}"] += n
            items = Counter({f"{r} {label} {op}": n for (r, label, op), n in self.writes.items()})
            return {
                "write_units": round(sum(self.write_units.values()) / per, 3),
                "read_units": round(sum(self.read_units.values()) / per, 3),
                "write_units_by": {k: round(v / per, 3) for k, v in sorted(write.items())},
                "read_units_by": {k: round(v / per, 3) for k, v in sorted(read.items())},
                "items_written_by": {k: round(v / per, 3) for k, v in sorted(items.items())},
            }
