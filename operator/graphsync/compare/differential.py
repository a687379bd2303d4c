"""Comparing a source graph with its target, chunk by chunk, as the changes that would make them equal.

Both sides are read in ranges of the (start) node key taken from the source (relationships of a
super-node by their end node key too; see `compare.ranges`), so memory holds one chunk, whatever the
graph's size. With `content=False` only keys are compared (what incremental sync needs to see deletes);
with `content=True` properties too (differential sync). A repair's version is one above what the
target holds, so it wins over the drift without outranking the next real change (see `compare.repairs`).
"""

from __future__ import annotations

from collections.abc import Iterator

from graphsync.change import Change
from graphsync.compare.entries import Differences, compare
from graphsync.compare.ranges import buckets
from graphsync.compare.repairs import repairs
from graphsync.compare.sides import GraphSide, View
from graphsync.connectors.graphs.reading import GraphReader, Versions
from graphsync.connectors.rows import PLAIN, Form
from graphsync.spec.mapping import Mappings

CHUNK = 2000


def differences(
    source: GraphReader,
    target: GraphReader,
    mappings: Mappings,
    *,
    versions: Versions,
    content: bool,
    chunk: int = CHUNK,
    form: Form = PLAIN,
) -> Iterator[list[Change]]:
    """Yield, chunk by chunk, the changes that bring the target in line with the source (`form`: how the
    target holds values, so a value it holds otherwise is no difference)."""
    view = View.PROPERTIES if content else View.KEYS
    sides = (
        GraphSide(source, mappings, target=False, versions=versions, form=form, view=view),
        GraphSide(target, mappings, target=True, versions=versions, view=view),
    )
    for name in mappings.entity_names():
        for bucket in buckets(*sides, name, chunk):
            found = compare(bucket.source, bucket.target, by_content=content)
            if not content:
                # A key scan sees what the source lost; what it gained or changed the watermark scan finds.
                found = Differences([], found.extra, [])
            yield [repair.change for repair in repairs(name, found)]
