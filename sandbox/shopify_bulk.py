"""The Shopify simulator's bulk query operations (``bulkOperationRunQuery``), as Shopify's material describes them
(``tests/contracts/shopify/bulk-operations/``, ``admin-2025-10-bulk.graphql``).

- **Submitting**: the query is parsed and validated against the schema, then against Shopify's bulk rules: a
  query operation, at least one and at most five connections, nested at most two deep, no top-level ``node`` /
  ``nodes``, no connection inside a list field, every node holding a nested connection selects its ``id``. A
  refusal is a ``BulkOperationUserError`` (field ``["query"]``, code ``INVALID``). A second query operation while
  one is CREATED or RUNNING is refused with ``OPERATION_IN_PROGRESS`` and the running operation's id.
- **Running**: in a background thread, the root connection is read in the order its ``sortKey`` gives, a chunk of
  nodes at a time through the same GraphQL executor and views as a query (nested connections whole), and written
  to a JSONL file line by line: each node a line, each node of a nested connection a line of its own with
  ``__parentId`` - directly below its parent with ``groupObjects: true``, one root object later without. Nothing
  of the result is held in memory. ``objectCount`` / ``rootObjectCount`` run as lines are written.
- **Finishing**: COMPLETED with ``url`` (served by the simulator, unguessable, no access token, as a signed
  storage URL is), ``fileSize``; FAILED with ``errorCode`` and ``partialDataUrl`` when told to fail
  (``ShopifyState.bulk_failure``); CANCELED after ``bulkOperationCancel``; EXPIRED seven days after it finished
  (the URL is then refused). ``bulk_operations/finish`` goes to subscribers of that topic.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    execute,
    is_leaf_type,
    parse,
    validate,
    value_from_ast_untyped,
)

from sandbox.contracts import contract_json

if TYPE_CHECKING:
    from sandbox.shopify import ShopifyState

VENDOR = "shopify"
#: Root nodes read (and written) per turn of the runner: the state's lock is held for one chunk at a time.
CHUNK = 100
RUNNING = ("CREATED", "RUNNING", "CANCELING")


@cache
def rules() -> dict[str, Any]:
    return contract_json(VENDOR, "bulk-operations/query-rules.json")["bulkOperationRunQuery"]


@cache
def in_progress_error() -> dict[str, Any]:
    (error,) = contract_json(VENDOR, "bulk-operations/operation-in-progress.json")["bulkOperationRunQuery"][
        "userErrors"
    ]
    return error


def query_error(message: str) -> dict[str, Any]:
    refusal = rules()["refusal"]
    return {"field": list(refusal["field"]), "message": message, "code": refusal["code"]}


# ------------------------------------------------------------------ the query's shape


@dataclass(frozen=True)
class Nested:
    """A connection selected inside a node: where it sits (response keys from the node), how its nodes are
    selected (``edges`` > ``node`` or ``nodes``), and the connections inside those nodes."""

    path: tuple[str, ...]
    items: str
    node: str | None
    inner: tuple[Nested, ...]


@dataclass(frozen=True)
class Plan:
    """What a valid bulk query reads: its root connection field (and response key) and what it nests."""

    field: str
    key: str
    arguments: dict[str, Any]
    items: str
    node: str | None
    inner: tuple[Nested, ...]


@dataclass
class _Walk:
    connections: int = 0
    deepest: int = 0
    within_list: bool = False
    without_id: list[str] = field(default_factory=list)


def _key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


class _Shape:
    """Walks a bulk query's selections with the schema's types."""

    def __init__(self, document: DocumentNode, schema: Any) -> None:
        self.schema = schema
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.walk = _Walk()

    def fields(self, selection_set: SelectionSetNode | None) -> Iterator[FieldNode]:
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                yield from self.fields(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                yield from self.fields(self.fragments[selection.name.value].selection_set)

    def field_type(self, parent: GraphQLNamedType, name: str) -> tuple[bool, GraphQLNamedType] | None:
        from sandbox.shopify_graphql import _unwrap

        candidates = (
            [parent]
            if isinstance(parent, GraphQLObjectType)
            else [parent, *self.schema.get_possible_types(parent)]
            if isinstance(parent, GraphQLInterfaceType)
            else []
        )
        for candidate in candidates:
            if name in candidate.fields:
                return _unwrap(candidate.fields[name].type)
        return None

    def connection(self, node: FieldNode, type_: GraphQLNamedType, depth: int) -> tuple[str, str | None, tuple]:
        """How a connection's nodes are selected, and the connections nested in them."""
        self.walk.connections += 1
        self.walk.deepest = max(self.walk.deepest, depth)
        node_type = self.field_type(type_, "nodes")[1]  # type: ignore[index]
        for inner in self.fields(node.selection_set):
            if inner.name.value == "nodes":
                return _key(inner), None, self.nested(inner.selection_set, node_type, depth, inner)
            if inner.name.value == "edges":
                for edge_field in self.fields(inner.selection_set):
                    if edge_field.name.value == "node":
                        nested = self.nested(edge_field.selection_set, node_type, depth, edge_field)
                        return _key(inner), _key(edge_field), nested
        return "nodes", None, ()

    def nested(
        self, selection_set: SelectionSetNode | None, type_: GraphQLNamedType, depth: int, owner: FieldNode
    ) -> tuple[Nested, ...]:
        """The connections inside a node of ``type_`` (through its objects and lists), each with its own."""
        found = tuple(self._inside(selection_set, type_, depth, (), in_list=False))
        if found and not any(f.name.value == "id" and f.alias is None for f in self.fields(selection_set)):
            self.walk.without_id.append(owner.name.value)
        return found

    def _inside(
        self,
        selection_set: SelectionSetNode | None,
        type_: GraphQLNamedType,
        depth: int,
        path: tuple[str, ...],
        *,
        in_list: bool,
    ) -> Iterator[Nested]:
        for node in self.fields(selection_set):
            typed = self.field_type(type_, node.name.value)
            if typed is None or is_leaf_type(typed[1]):
                continue
            listed, named = typed
            here = (*path, _key(node))
            if named.name.endswith("Connection"):
                if in_list:
                    self.walk.within_list = True
                items, edge_node, inner = self.connection(node, named, depth + 1)
                yield Nested(here, items, edge_node, inner)
            else:
                yield from self._inside(node.selection_set, named, depth, here, in_list=in_list or listed)


def plan(text: str, schema: Any) -> Plan | list[dict[str, Any]]:
    """The plan of a bulk query, or the user errors Shopify answers it with."""
    messages = rules()["messages"]
    try:
        document = parse(text)
    except GraphQLError as exc:
        return [query_error(messages["invalid"].format(reason=exc.message))]
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].operation is not OperationType.QUERY:
        return [query_error(messages["not_a_query"])]
    problems = validate(schema, document)
    if problems:
        return [query_error(messages["invalid"].format(reason=problems[0].message))]
    shape = _Shape(document, schema)
    roots = list(shape.fields(operations[0].selection_set))
    errors = []
    if any(root.name.value in rules()["top_level_node_fields"] for root in roots):
        errors.append(query_error(messages["top_level_node"]))
    connections = [
        (root, typed[1])
        for root in roots
        if (typed := shape.field_type(schema.query_type, root.name.value)) and typed[1].name.endswith("Connection")
    ]
    planned = [(root, shape.connection(root, type_, 1)) for root, type_ in connections]
    walk, limits = shape.walk, rules()["connections"]
    if walk.connections > limits["at_most"]:
        errors.append(query_error(messages["too_many_connections"]))
    if walk.deepest > limits["nesting_depth_at_most"]:
        errors.append(query_error(messages["too_deep"]))
    if walk.without_id:
        errors.append(query_error(messages["parent_without_id"].format(fields=", ".join(walk.without_id))))
    if walk.within_list:
        errors.append(query_error(messages["connection_within_list"]))
    if walk.connections < limits["at_least"] and not errors:
        errors.append(query_error(messages["no_connection"]))
    if errors:
        return errors
    root, (items, node, inner) = planned[0]
    arguments = {a.name.value: value_from_ast_untyped(a.value, {}) for a in root.arguments or ()}
    return Plan(root.name.value, _key(root), arguments, items, node, inner)


def lines(node: Mapping[str, Any], nested: Iterable[Nested], parent: str | None = None) -> Iterator[dict[str, Any]]:
    """One node as JSONL lines: the node without its connections, then each nested node (with ``__parentId``)
    followed by its own."""
    own = dict(node)
    children: list[tuple[Nested, list[Any]]] = []
    for inner in nested:
        holder: Any = own
        for key in inner.path[:-1]:
            holder = holder.get(key) if isinstance(holder, Mapping) else None
        connection = holder.pop(inner.path[-1], None) if isinstance(holder, dict) else None
        found = (connection or {}).get(inner.items) or []
        children.append((inner, [edge[inner.node] for edge in found] if inner.node else list(found)))
    if parent is not None:
        own["__parentId"] = parent
    yield own
    for inner, items in children:
        for item in items:
            yield from lines(item, inner.inner, own.get("id"))


# ------------------------------------------------------------------ operations


@dataclass
class BulkOperation:
    id: int
    query: str
    plan: Plan
    grouped: bool
    created_at: datetime
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    status: str = "CREATED"
    error_code: str | None = None
    completed_at: datetime | None = None
    object_count: int = 0
    root_object_count: int = 0
    file_size: int | None = None
    path: str | None = None
    partial: bool = False
    cancel_requested: bool = False

    @property
    def gid(self) -> str:
        return f"gid://shopify/BulkOperation/{self.id}"


def current_status(state: ShopifyState, operation: BulkOperation) -> str:
    """The status as Shopify reports it now: a finished operation's result expires after seven days."""
    finished = operation.completed_at
    days = rules()["result_url_expires_after_days"]
    if operation.status in ("COMPLETED", "FAILED") and finished and state.now() >= finished + timedelta(days=days):
        return "EXPIRED"
    return operation.status


def view(state: ShopifyState, operation: BulkOperation) -> dict[str, Any]:
    status = current_status(state, operation)
    link = f"{state.public_url.rstrip('/')}/bulk-results/{operation.token}.jsonl" if state.public_url else None
    finished = operation.completed_at
    return {
        "__typename": "BulkOperation",
        "id": operation.gid,
        "type": "QUERY",
        "status": status,
        "errorCode": operation.error_code,
        "createdAt": state.iso(operation.created_at),
        "completedAt": state.iso(finished) if finished and status == "COMPLETED" else None,
        "objectCount": operation.object_count,
        "rootObjectCount": operation.root_object_count,
        "fileSize": operation.file_size if status == "COMPLETED" else None,
        "url": link if status == "COMPLETED" else None,
        "partialDataUrl": link if status == "FAILED" and operation.partial else None,
        "query": operation.query,
    }


def result_path(state: ShopifyState, token: str) -> str | None:
    """The file behind a result URL while it may be downloaded (completed or failed with data, not expired)."""
    with state.lock:
        for operation in state.bulk_operations.values():
            if secrets.compare_digest(operation.token, token) and current_status(state, operation) in (
                "COMPLETED",
                "FAILED",
            ):
                return operation.path if operation.status == "COMPLETED" or operation.partial else None
    return None


def submit(state: ShopifyState, query: str, group_objects: bool, schema: Any) -> dict[str, Any]:
    """``bulkOperationRunQuery``: refuse (user errors) or create the operation and start running it."""
    planned = plan(query, schema)
    if not isinstance(planned, Plan):
        return {"bulkOperation": None, "userErrors": planned}
    with state.lock:
        running = next((o for o in state.bulk_operations.values() if o.status in RUNNING), None)
        if running is not None:
            error = in_progress_error()
            message = error["message"].rsplit("gid://", 1)[0] + f"{running.gid}."
            return {"bulkOperation": None, "userErrors": [{**error, "message": message}]}
        operation = BulkOperation(state.next_id(), query, planned, group_objects, state.now())
        state.bulk_operations[operation.id] = operation
        answer = view(state, operation)
    threading.Thread(target=_run, args=(state, operation, schema), name=f"bulk-{operation.id}", daemon=True).start()
    return {"bulkOperation": answer, "userErrors": []}


def cancel(state: ShopifyState, gid: str) -> dict[str, Any]:
    with state.lock:
        operation = next((o for o in state.bulk_operations.values() if o.gid == gid), None)
        if operation is None:
            return {
                "bulkOperation": None,
                "userErrors": [{"field": ["id"], "message": "Bulk operation does not exist"}],
            }
        if operation.status not in RUNNING:
            message = f"A bulk operation cannot be canceled when it is {operation.status.lower()}"
            return {"bulkOperation": view(state, operation), "userErrors": [{"field": None, "message": message}]}
        operation.cancel_requested = True
        operation.status = "CANCELING"
        return {"bulkOperation": view(state, operation), "userErrors": []}


def _run(state: ShopifyState, operation: BulkOperation, schema: Any) -> None:
    """Write the operation's JSONL, a chunk of root nodes at a time, and finish it."""
    from sandbox.shopify_graphql import BulkChunk, Root

    with state.lock:
        if operation.status == "CREATED":
            operation.status = "RUNNING"
        document = parse(operation.query)
        records = Root(state).sorted_records(operation.plan.field, operation.plan.arguments)
        fail_code, fail_after = state.bulk_failure or (None, None)
        state.bulk_failure = None
    if state.bulk_gate is not None:
        state.bulk_gate.wait()
    path = os.path.join(state.bulk_dir, f"{operation.token}.jsonl")
    deferred: list[dict[str, Any]] = []
    outcome, error = "COMPLETED", None
    with open(path, "w", encoding="utf-8") as out:
        for start in range(0, len(records), CHUNK):
            if operation.cancel_requested:
                outcome = "CANCELED"
                break
            with state.lock:
                chunk = BulkChunk(state, operation.plan.field, records[start : start + CHUNK])
                result = execute(schema, document, root_value=chunk)
            if result.errors:
                outcome, error = "FAILED", "INTERNAL_SERVER_ERROR"
                break
            connection = (result.data or {})[operation.plan.key]
            found = connection[operation.plan.items]
            for root in [edge[operation.plan.node] for edge in found] if operation.plan.node else found:
                if fail_after is not None and operation.root_object_count >= fail_after:
                    outcome, error = "FAILED", fail_code
                    break
                written = list(lines(root, operation.plan.inner))
                # grouped: children directly below their parent; ungrouped: a root object later
                now_lines = written if operation.grouped else [written[0], *deferred]
                deferred = [] if operation.grouped else written[1:]
                for line in now_lines:
                    out.write(json.dumps(line, separators=(",", ":")) + "\n")
                with state.lock:
                    operation.object_count += len(written)
                    operation.root_object_count += 1
            if outcome != "COMPLETED":
                break
        for line in deferred if outcome == "COMPLETED" else ():
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
    with state.lock:
        operation.status, operation.error_code = outcome, error
        operation.completed_at = state.now()
        operation.path = path if outcome in ("COMPLETED", "FAILED") else None
        operation.partial = outcome == "FAILED" and operation.object_count > 0
        operation.file_size = os.path.getsize(path)
        created = state.iso(operation.created_at)
    if outcome != "COMPLETED" and not operation.partial:
        os.remove(path)
    state.deliver(
        "bulk_operations/finish",
        {
            "admin_graphql_api_id": operation.gid,
            "completed_at": state.iso(operation.completed_at),
            "created_at": created,
            "error_code": error.lower() if error else None,
            "status": outcome.lower(),
            "type": "query",
        },
    )
