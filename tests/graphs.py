"""A social graph for graph-to-graph tests: people and companies, KNOWS and WORKS_AT, built in bulk.

`snapshot` reads any graph (Neo4j through its driver, FalkorDB through the
engine's reader) as plain data, engine bookkeeping left out, so two graphs
compare with `==`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

MAPPINGS: dict[str, Any] = {
    "nodes": [
        {"name": "person", "labels": ["Person"], "key": "id"},
        {"name": "company", "labels": ["Company", "Organisation"], "sourceLabel": "Company", "key": "id"},
    ],
    "relationships": [
        {
            "name": "knows",
            "type": "KNOWS",
            "from": {"column": "src", "references": "person"},
            "to": {"column": "dst", "references": "person"},
            "key": ["src", "dst"],
        },
        {
            "name": "works_at",
            "type": "WORKS_AT",
            "from": {"column": "person", "references": "person"},
            "to": {"column": "company", "references": "company"},
            "key": ["person", "company"],
        },
    ],
}

Run = Callable[[str, dict[str, Any]], Any]

CREATE_PEOPLE = """
UNWIND $rows AS row
CREATE (:Person {id: row.id, name: row.name, score: row.score, tags: row.tags, active: row.active,
                 weight: row.weight, updated_at: row.updated_at})
"""
CREATE_COMPANIES = """
UNWIND $rows AS row
CREATE (:Company:Organisation {id: row.id, name: row.name, updated_at: row.updated_at})
"""
CREATE_KNOWS = """
UNWIND $rows AS row
MATCH (a:Person {id: row.src}), (b:Person {id: row.dst})
CREATE (a)-[:KNOWS {since: row.since, updated_at: row.updated_at}]->(b)
"""
CREATE_WORKS_AT = """
UNWIND $rows AS row
MATCH (a:Person {id: row.person}), (b:Company {id: row.company})
CREATE (a)-[:WORKS_AT {role: row.role, updated_at: row.updated_at}]->(b)
"""


def chunks(rows: list[dict[str, Any]], size: int = 5000) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def build(run: Run, *, people: int, companies: int, knows_per_person: int, seed: int = 7) -> int:
    """Creates the graph through `run(query, params)`; returns the number of relationships.

    Watermarks (`updated_at`) are the entity's (start node's) id: later edits use larger ones.
    """
    rng = random.Random(seed)
    person_rows = [
        {
            "id": i,
            "name": f"person {i}",
            "score": rng.randint(0, 1000),
            "tags": [f"t{rng.randint(0, 9)}", "x"],
            "active": i % 3 == 0,
            "weight": i / 8,
            "updated_at": i,
        }
        for i in range(1, people + 1)
    ]
    for rows in chunks(person_rows):
        run(CREATE_PEOPLE, {"rows": rows})
    for rows in chunks([{"id": i, "name": f"company {i}", "updated_at": i} for i in range(1, companies + 1)]):
        run(CREATE_COMPANIES, {"rows": rows})
    knows = {
        (src, dst)
        for src in range(1, people + 1)
        for dst in rng.sample(range(1, people + 1), knows_per_person)
        if dst != src
    }
    for rows in chunks([{"src": s, "dst": d, "since": 2000 + d % 25, "updated_at": s} for s, d in sorted(knows)]):
        run(CREATE_KNOWS, {"rows": rows})
    works = [
        {"person": i, "company": rng.randint(1, companies), "role": "staff", "updated_at": i}
        for i in range(1, people + 1)
    ]
    for rows in chunks(works):
        run(CREATE_WORKS_AT, {"rows": rows})
    return len(knows) + len(works)


Snapshot = dict[str, set[tuple[Any, ...]]]

# The engine's bookkeeping (tombstones, the ledger mark, version schemes) is no user data.
READ_NODES = (
    "MATCH (n) WHERE none(label IN labels(n) WHERE label STARTS WITH 'Graphsync') "
    "RETURN labels(n), [k IN keys(n) WHERE NOT k STARTS WITH '_graphsync' | [k, n[k]]]"
)
READ_RELS = (
    "MATCH (a)-[r]->(b) RETURN type(r), a.id, b.id, [k IN keys(r) WHERE NOT k STARTS WITH '_graphsync' | [k, r[k]]]"
)


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _props(pairs: list[list[Any]]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, _frozen(v)) for k, v in pairs))


def snapshot(read: Callable[[str], list[list[Any]]]) -> Snapshot:
    """Every node (labels, properties) and relationship (type, endpoints, properties) of a graph."""
    nodes = {(tuple(sorted(labels)), _props(pairs)) for labels, pairs in read(READ_NODES)}
    rels = {(kind, a, b, _props(pairs)) for kind, a, b, pairs in read(READ_RELS)}
    return {"nodes": nodes, "rels": rels}
