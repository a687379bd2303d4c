"""A random stream of application changes to the shop schema: inserts, updates, deletes, relationship changes."""

from __future__ import annotations

import random
from typing import Any

import psycopg
from psycopg import sql

_OPERATIONS = (
    ("INSERT INTO {s}.customer VALUES (%(a)s, %(name)s, %(email)s, NULL, 'pw') ON CONFLICT DO NOTHING", 3),
    ("UPDATE {s}.customer SET name = %(name)s, tier = %(tier)s WHERE id = %(a)s", 4),
    ("DELETE FROM {s}.customer WHERE id = %(a)s", 1),
    ("INSERT INTO {s}.product VALUES (%(a)s, %(name)s, %(price)s, ARRAY[%(tier)s]) ON CONFLICT DO NOTHING", 2),
    ("UPDATE {s}.product SET price = %(price)s, tags = ARRAY[%(tier)s, %(name)s] WHERE id = %(a)s", 2),
    ("DELETE FROM {s}.product WHERE id = %(a)s", 1),
    (
        "INSERT INTO {s}.orders SELECT %(b)s, id, %(cents)s FROM {s}.customer WHERE id = %(a)s ON CONFLICT DO NOTHING",
        3,
    ),
    ("UPDATE {s}.orders SET customer_id = c.id FROM {s}.customer c WHERE orders.id = %(b)s AND c.id = %(a)s", 3),
    ("UPDATE {s}.orders SET total_cents = %(cents)s WHERE id = %(b)s", 2),
    ("DELETE FROM {s}.orders WHERE id = %(b)s", 1),
    (
        "INSERT INTO {s}.likes SELECT c.id, p.id, %(stars)s FROM {s}.customer c, {s}.product p"
        " WHERE c.id = %(a)s AND p.id = %(c)s"
        " ON CONFLICT (customer_id, product_id) DO UPDATE SET stars = EXCLUDED.stars",
        4,
    ),
    ("DELETE FROM {s}.likes WHERE customer_id = %(a)s AND product_id = %(c)s", 2),
)


def run(conn: psycopg.Connection[Any], schema: str, changes: int, *, seed: int, per_transaction: int = 50) -> int:
    """Make at least `changes` row changes (cascades not counted) in transactions; returns how many."""
    rng = random.Random(seed)
    statements = [(sql.SQL(text).format(s=sql.Identifier(schema)), weight) for text, weight in _OPERATIONS]
    population = [statement for statement, _ in statements]
    weights = [weight for _, weight in statements]
    ids = max(50, changes // 40)
    done = 0
    while done < changes:
        with conn.transaction(), conn.cursor() as cur:
            for statement in rng.choices(population, weights, k=per_transaction):
                cur.execute(statement, _params(rng, ids))
                done += max(cur.rowcount, 0)
    return done


def _params(rng: random.Random, ids: int) -> dict[str, Any]:
    return {
        "a": rng.randint(1, ids),
        "b": rng.randint(1, ids * 2),
        "c": rng.randint(1, ids),
        "name": f"n{rng.randint(0, 10**6)}",
        "email": f"e{rng.randint(0, 10**6)}@x.io",
        "tier": rng.choice(["gold", "silver", "bronze"]),
        "price": round(rng.uniform(1, 500), 2),
        "cents": rng.randint(100, 10**6),
        "stars": rng.randint(1, 5),
    }
