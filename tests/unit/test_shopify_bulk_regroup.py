"""A grouped bulk result (Shopify's JSONL: a node, then each node of its nested connections on a line of its own
with ``__parentId``) regroups into the nodes it was written from, whatever they hold; where it resumes, the
rest follows; a result that is not grouped is refused rather than read wrong."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlconnector.sources.shopify.bulk import BulkResultError, regroup, resumed
from mlconnector.sources.shopify.queries import BULK_CHILDREN

ids = st.integers(1, 10**12)
children = st.lists(st.tuples(st.sampled_from(sorted(BULK_CHILDREN)), ids, st.text(max_size=5)), max_size=6)
orders = st.lists(st.tuples(ids, st.text(max_size=8), children), max_size=8, unique_by=lambda o: o[0])


def nodes_of(generated: list[Any]) -> list[dict[str, Any]]:
    """Orders as the poll's nodes hold them: nested connections as ``{"nodes": [...]}``."""
    out = []
    for number, name, rows in generated:
        node: dict[str, Any] = {"id": f"gid://shopify/Order/{number}", "name": name}
        for kind, child, title in rows:
            node.setdefault(BULK_CHILDREN[kind], {"nodes": []})["nodes"].append(
                {"id": f"gid://shopify/{kind}/{child}", "title": title}
            )
        out.append(node)
    return out


def jsonl(nodes: list[dict[str, Any]]) -> list[bytes]:
    """Shopify's grouped JSONL of ``nodes``."""
    lines = []
    for node in nodes:
        lines.append({k: v for k, v in node.items() if k not in BULK_CHILDREN.values()})
        for field in BULK_CHILDREN.values():
            lines += [{**child, "__parentId": node["id"]} for child in (node.get(field) or {}).get("nodes", [])]
    return [json.dumps(line).encode() for line in lines]


@given(orders)
def test_a_grouped_result_regroups_into_its_nodes(generated) -> None:
    nodes = nodes_of(generated)
    grouped = list(regroup(jsonl(nodes), BULK_CHILDREN))
    assert [g.node for g in grouped] == nodes
    assert [g.lines for g in grouped] == [
        sum(1 + sum(len(n.get(f, {}).get("nodes", [])) for f in BULK_CHILDREN.values()) for n in nodes[: i + 1])
        for i in range(len(nodes))
    ]


@given(orders, st.data())
def test_reading_on_from_any_node_gives_the_rest(generated, data) -> None:
    nodes = nodes_of(generated)
    grouped = list(regroup(jsonl(nodes), BULK_CHILDREN))
    cut = data.draw(st.integers(0, len(grouped)))
    skip, last = (grouped[cut - 1].lines, grouped[cut - 1].node["id"]) if cut else (0, None)
    rest = list(regroup(resumed(jsonl(nodes), skip, last), BULK_CHILDREN))
    assert [g.node for g in rest] == nodes[cut:]


def test_a_child_row_away_from_its_parent_is_refused() -> None:
    nodes = nodes_of([(1, "a", [("LineItem", 10, "x")]), (2, "b", [])])
    first, child, second = jsonl(nodes)
    with pytest.raises(BulkResultError, match="not grouped"):
        list(regroup([first, second, child], BULK_CHILDREN))
