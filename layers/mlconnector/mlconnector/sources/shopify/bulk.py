"""Shopify bulk query operations: start one, follow it until it finishes, stream its JSONL result.

A bulk operation (``bulkOperationRunQuery``) reads a whole connection on Shopify's side and leaves the result
as a JSONL file at ``url``: one line per node, a nested connection's nodes on lines of their own carrying
``__parentId``, grouped directly below their parent (``groupObjects``). The status is read with
``node(id:)`` (1 point, paced by the client's cost bucket), every ``bulk_poll_seconds``. The result is streamed
line by line (``iter_lines``) and regrouped one root node at a time, so memory does not grow with the result.
The result URL is a signed storage URL: it is fetched without the shop's access token and never logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from mlconnector.errors import ConnectorError, TransientError
from mlconnector.http import send
from mlconnector.sources.shopify import queries
from mlconnector.sources.shopify.client import ShopifyClient, ShopifyError

log = logging.getLogger(__name__)

PARENT = "__parentId"
_PARENT_KEY = b'"__parentId"'
FINISHED = ("COMPLETED", "FAILED", "CANCELED", "EXPIRED")
#: Read from the result in pieces of this size (lines are split from them).
CHUNK_BYTES = 64 * 1024
OPERATION_IN_PROGRESS = "OPERATION_IN_PROGRESS"


@dataclass(frozen=True)
class Operation:
    """A bulk operation as Shopify reports it."""

    id: str
    status: str
    error_code: str | None = None
    objects: int = 0
    roots: int = 0
    url: str | None = None
    partial_data_url: str | None = None

    @classmethod
    def of(cls, node: Mapping[str, Any]) -> Operation:
        return cls(
            id=str(node["id"]),
            status=str(node["status"]),
            error_code=node.get("errorCode"),
            objects=int(node.get("objectCount") or 0),
            roots=int(node.get("rootObjectCount") or 0),
            url=node.get("url"),
            partial_data_url=node.get("partialDataUrl"),
        )


class BulkOperationFailed(ConnectorError):
    """The operation ended without a result to read (FAILED, CANCELED or EXPIRED)."""

    def __init__(self, shop: str, operation: Operation) -> None:
        reasons = {
            "FAILED": f"failed ({operation.error_code or 'no error code'}) after {operation.objects} objects"
            + ("; Shopify kept partial data, which is not used" if operation.partial_data_url else ""),
            "CANCELED": f"was canceled after {operation.objects} objects (bulkOperationCancel, by this app)",
            "EXPIRED": "has expired: Shopify keeps a result for seven days",
        }
        super().__init__(
            f"Shopify shop {shop} bulk operation {operation.id} {reasons.get(operation.status, operation.status)}; "
            "nothing of it was enqueued past the checkpoint: run the backfill again to start a new operation "
            "from the checkpoint"
        )
        self.operation = operation


class BulkOperationBusy(ConnectorError):
    """Shopify runs one bulk query operation per app and shop at a time, and another one is running."""


class BulkResultError(ConnectorError):
    """The result file is not what a grouped bulk result is."""


class BulkOperations:
    """One shop's bulk query operations, through the adapter's GraphQL client."""

    def __init__(self, client: ShopifyClient, *, poll_seconds: float, sleep: Callable[[float], None]) -> None:
        self.client = client
        self.shop = client.settings.shop_domain
        self.poll_seconds = poll_seconds
        self.sleep = sleep

    def start(self, query: str) -> Operation:
        """Run ``query`` in bulk (grouped output); another running bulk query raises ``BulkOperationBusy``."""
        document = queries.bulk_run(self.client.settings.api_version)
        answer = self.client.graphql(document, {"query": query}, cost=queries.MUTATION_COST)["bulkOperationRunQuery"]
        errors = list((answer or {}).get("userErrors") or ())
        if any(e.get("code") == OPERATION_IN_PROGRESS for e in errors):
            raise BulkOperationBusy(
                f"Shopify shop {self.shop} refused a bulk query: {errors[0].get('message')} Shopify runs one bulk "
                "query per app and shop at a time: wait for it to finish (or cancel it with bulkOperationCancel) "
                "and run the backfill again"
            )
        if errors or not (answer or {}).get("bulkOperation"):
            problems = "; ".join(str(e.get("message")) for e in errors) or "no operation"
            raise ShopifyError(
                f"Shopify shop {self.shop} refused the bulk query: {problems}", status=200, code="INVALID"
            )
        return Operation.of(answer["bulkOperation"])

    def get(self, operation_id: str) -> Operation | None:
        node = self.client.graphql(queries.BULK_STATUS, {"id": operation_id}, cost=queries.BULK_OPERATION_COST)
        return Operation.of(node["node"]) if node.get("node") else None

    def wait(self, operation: Operation, report: Callable[[Operation], None]) -> Operation:
        """Poll until the operation has finished (``report`` hears every status read)."""
        while operation.status not in FINISHED:
            self.sleep(self.poll_seconds)
            found = self.get(operation.id)
            if found is None:
                raise ConnectorError(f"Shopify shop {self.shop} no longer knows bulk operation {operation.id}")
            operation = found
            report(operation)
        return operation

    def lines(self, url: str) -> Iterator[bytes]:
        """The result's (non-empty) lines, streamed; the URL is signed, so no token is sent, and it is never logged."""
        response = send(self.client.session, "GET", url, policy=self.client.policy, sleep=self.sleep, stream=True)
        with response:
            if response.status_code >= 400:
                raise ConnectorError(
                    f"Shopify shop {self.shop} bulk result could not be downloaded (HTTP {response.status_code}); "
                    "its URL expires seven days after the operation finished"
                )
            read = 0
            try:
                for line in response.iter_lines(chunk_size=CHUNK_BYTES):
                    if line:
                        read += 1
                        yield line
            except requests.RequestException as exc:
                raise TransientError(
                    f"Shopify shop {self.shop} bulk result download broke off after {read} lines "
                    f"({type(exc).__name__}); run the backfill again to resume"
                ) from None


def resumed(lines: Iterable[bytes], skip: int, last: str | None) -> Iterator[bytes]:
    """The lines after the first ``skip`` (read, not parsed), once the last root row among them is ``last``:
    a resume point that does not fall where the checkpoint said is refused rather than guessed at."""
    last_root: bytes | None = None
    for index, line in enumerate(lines):
        if index < skip:
            if _PARENT_KEY not in line:
                last_root = line
            continue
        if index == skip and last is not None and (last_root is None or json.loads(last_root).get("id") != last):
            raise BulkResultError(
                f"the bulk result does not end a record at line {skip} with {last}, as the checkpoint says; "
                "run the backfill with --restart"
            )
        yield line


@dataclass(frozen=True)
class Grouped:
    """One root node with its nested connections' nodes (``{"nodes": [...]}``), and the result lines read up to
    its end (counted from where the reading started)."""

    node: dict[str, Any]
    lines: int


def regroup(lines: Iterable[bytes | str], children: Mapping[str, str]) -> Iterator[Grouped]:
    """Root nodes of a grouped bulk result, each with its child rows put back under their parents.

    ``children`` names the connection a child row belongs to by the type in its id (``LineItem`` →
    ``lineItems``). A root node is handed over once the next root line (or the end) shows its rows are all read;
    only that one node is held. A child row whose parent is not the current node (or one of its children) means
    the result is not grouped: ``BulkResultError``.
    """
    current: dict[str, Any] | None = None
    members: dict[str, dict[str, Any]] = {}
    count = 0
    for count, line in enumerate(lines, start=1):
        row = json.loads(line)
        parent = row.pop(PARENT, None)
        if parent is None:
            if current is not None:
                yield Grouped(current, count - 1)
            current, members = row, {str(row.get("id")): row}
            continue
        owner = members.get(str(parent))
        if owner is None:
            raise BulkResultError(
                f"bulk result line {count}: a {_type_of(row)} row of {parent}, which is not the order being read; "
                "the result is not grouped (groupObjects)"
            )
        field = children.get(_type_of(row))
        if field is None:
            raise BulkResultError(f"bulk result line {count}: a {_type_of(row)} row, which the query does not nest")
        owner.setdefault(field, {"nodes": []})["nodes"].append(row)
        if row.get("id"):
            members[str(row["id"])] = row
    if current is not None:
        yield Grouped(current, count)


def _type_of(row: Mapping[str, Any]) -> str:
    return str(row.get("id") or "").removeprefix("gid://shopify/").split("/", 1)[0]
