"""A small shop schema and its mapping: the demo's data, and the fixture of many tests."""

from __future__ import annotations

from typing import Any, LiteralString

import psycopg
from psycopg import sql

DDL: LiteralString = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE {s}.customer (id int PRIMARY KEY, name text NOT NULL, email text, tier text, secret text);
CREATE TABLE {s}.product (id int PRIMARY KEY, title text NOT NULL, price numeric(10, 2), tags text[]);
CREATE TABLE {s}.orders (
    id int PRIMARY KEY,
    customer_id int REFERENCES {s}.customer (id) ON DELETE CASCADE,
    total_cents bigint NOT NULL
);
CREATE TABLE {s}.likes (
    customer_id int REFERENCES {s}.customer (id) ON DELETE CASCADE,
    product_id int REFERENCES {s}.product (id) ON DELETE CASCADE,
    stars int NOT NULL,
    PRIMARY KEY (customer_id, product_id)
);
"""


def create(conn: psycopg.Connection[Any], schema: str) -> None:
    conn.execute(sql.SQL(DDL).format(s=sql.Identifier(schema)))


def seed(conn: psycopg.Connection[Any], schema: str, customers: int = 20) -> None:
    """Customers, products, two orders per customer, one like per customer."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        cur.executemany(
            "INSERT INTO customer VALUES (%s, %s, %s, NULL, 'pw')",
            [(i, f"name {i}", f"c{i}@x.io") for i in range(1, customers + 1)],
        )
        cur.executemany(
            "INSERT INTO product VALUES (%s, %s, %s, %s)",
            [(i, f"product {i}", i * 1.25, ["a", f"t{i}"]) for i in range(1, customers + 1)],
        )
        cur.executemany(
            "INSERT INTO orders VALUES (%s, %s, %s)",
            [(i, (i % customers) + 1, i * 100) for i in range(1, customers * 2 + 1)],
        )
        cur.executemany(
            "INSERT INTO likes VALUES (%s, %s, %s)",
            [(i, (i * 7) % customers + 1, i % 5 + 1) for i in range(1, customers + 1)],
        )


def mappings(schema: str) -> dict[str, Any]:
    return {
        "nodes": [
            {
                "name": "customer",
                "table": f"{schema}.customer",
                "labels": ["Customer", "Person"],
                "key": "id",
                "properties": {"exclude": ["secret"]},
            },
            {"name": "product", "table": f"{schema}.product", "labels": ["Product"], "key": "id"},
            {
                "name": "orders",
                "table": f"{schema}.orders",
                "labels": ["Order"],
                "key": "id",
                "properties": {"rename": {"total_cents": "total"}},
                "foreignKeys": [{"column": "customer_id", "references": "customer", "type": "PLACED_BY"}],
            },
        ],
        "relationships": [
            {
                "name": "likes",
                "table": f"{schema}.likes",
                "type": "LIKES",
                "from": {"column": "customer_id", "references": "customer"},
                "to": {"column": "product_id", "references": "product"},
                "key": ["customer_id", "product_id"],
            }
        ],
    }
