"""The pipeline spec: source, optional transport, target, mappings, mode; embedded by the SyncPipeline resource."""

from __future__ import annotations

import enum
from typing import Self

from pydantic import Field, model_validator

from graphsync.spec import resets
from graphsync.spec.backfill import Backfill
from graphsync.spec.base import SpecModel
from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync.spec.endpoints import (
    NAME_PATTERN,
    CaptureMode,
    FalkorDBSource,
    FalkorDBTarget,
    GraphReading,
    Neo4jSource,
    Neo4jTarget,
    PostgresSource,
    RedisStreams,
)
from graphsync.spec.files import FilesSource
from graphsync.spec.mapping import Mappings
from graphsync.spec.resets import CheckpointReset
from graphsync.spec.retention import Retention
from graphsync.spec.shapes import SchemaChanges


class Source(SpecModel):
    """Where changes come from: exactly one of postgres, neo4j, falkordb or files."""

    postgres: PostgresSource | None = None
    # Spelled out: the camelCase alias generator would make it `neo4J`.
    neo4j: Neo4jSource | None = Field(default=None, alias="neo4j")
    falkordb: FalkorDBSource | None = None
    files: FilesSource | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        _exactly_one(self, "source", ("postgres", "neo4j", "falkordb", "files"))
        return self

    @property
    def graph(self) -> Neo4jSource | FalkorDBSource | None:
        return self.neo4j or self.falkordb


class Transport(SpecModel):
    """What carries changes from capture to the workers (the streaming modes)."""

    redis_streams: RedisStreams | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if self.redis_streams is None:
            raise ValueError("choose a transport kind: redisStreams")
        return self


class Target(SpecModel):
    """The graph written: exactly one of neo4j or falkordb."""

    neo4j: Neo4jTarget | None = Field(default=None, alias="neo4j")
    falkordb: FalkorDBTarget | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        _exactly_one(self, "target", ("neo4j", "falkordb"))
        return self


def _exactly_one(model: SpecModel, section: str, kinds: tuple[str, ...]) -> None:
    chosen = [kind for kind in kinds if getattr(model, kind) is not None]
    if len(chosen) != 1:
        names = ", ".join(kinds)
        raise ValueError(f"choose exactly one {section} kind ({names}); got {len(chosen)}")


class Mode(enum.StrEnum):
    CONTINUOUS = "continuous"
    INCREMENTAL = "incremental"
    SNAPSHOT = "snapshot"
    SNAPSHOT_THEN_STREAM = "snapshotThenStream"
    # Graph sources: compare source and target entity by entity, then repair only what differs.
    DIFFERENTIAL = "differential"
    # Graph sources: both graphs are written; changes on either side reach the other, conflicts by the policy.
    BIDIRECTIONAL = "bidirectional"


GRAPH_SOURCE_MODES = (Mode.SNAPSHOT, Mode.INCREMENTAL, Mode.DIFFERENTIAL, Mode.BIDIRECTIONAL)
FILES_MODES = (Mode.SNAPSHOT, Mode.INCREMENTAL)


class ObjectRef(SpecModel):
    """A resource of the same namespace, by name."""

    name: str = Field(pattern=NAME_PATTERN, description="its name")


class PipelineSpec(SpecModel):
    name: str = Field(default="default", pattern=NAME_PATTERN, description="the pipeline's name")
    namespace: str | None = Field(
        default=None,
        pattern=NAME_PATTERN,
        description="the Kubernetes namespace of a SyncPipeline (set by the operator); part of the identity",
    )
    source: Source
    transport: Transport | None = None
    target: Target
    mappings: Mappings | None = Field(default=None, description="tables or graph entities to nodes; not for files")
    mode: Mode = Field(
        default=Mode.CONTINUOUS,
        description="continuous, snapshotThenStream, snapshot, incremental, differential or bidirectional",
    )
    batch_size: int = Field(default=500, ge=1, le=50_000, description="changes applied to the target in one write")
    conflict_policy_ref: ObjectRef | None = Field(
        default=None, description="bidirectional mode: a ConflictPolicy of the namespace to resolve conflicts by"
    )
    conflict_policy: ConflictPolicySpec | None = Field(
        default=None, description="bidirectional mode: who wins when both sides changed (default lastWriteWins)"
    )
    retention: Retention = Field(
        default_factory=Retention, description="how long the engine keeps its outbox events, tombstones, dead letters"
    )
    backfills: tuple[Backfill, ...] = Field(
        default=(),
        description="entities to write again from the source while the pipeline runs, each once per name",
    )
    schema_changes: SchemaChanges = Field(
        default_factory=SchemaChanges,
        description="PostgreSQL sources: what a change to a mapped table's columns does (follow or stop)",
    )
    checkpoint_resets: tuple[CheckpointReset, ...] = Field(
        default=(),
        description="positions set back (changes read again) or forward (skipped), each applied once per name",
    )

    @property
    def identity(self) -> str:
        """What names every stream, group, checkpoint, trigger, ledger, document and Redis key of this pipeline.

        A SyncPipeline's is `namespace.name`, so one name in two namespaces never shares state; a pipeline
        run from a file keeps its plain name. Neither part can hold a dot, so the two forms never collide.
        """
        return identity(self.name, self.namespace)

    @property
    def postgres(self) -> PostgresSource:
        if self.source.postgres is None:
            raise ValueError("source.postgres is required")
        return self.source.postgres

    @property
    def redis_streams(self) -> RedisStreams:
        if self.transport is None or self.transport.redis_streams is None:
            raise ValueError("transport.redisStreams is required")
        return self.transport.redis_streams

    @property
    def mapped(self) -> Mappings:
        if self.mappings is None:
            raise ValueError("mappings is required")
        return self.mappings

    @property
    def files(self) -> FilesSource:
        if self.source.files is None:
            raise ValueError("source.files is required")
        return self.source.files

    @property
    def neo4j(self) -> Neo4jTarget:
        if self.target.neo4j is None:
            raise ValueError("target.neo4j is required")
        return self.target.neo4j

    @property
    def graph_source(self) -> Neo4jSource | FalkorDBSource:
        graph = self.source.graph
        if graph is None:
            raise ValueError("source.neo4j or source.falkordb is required")
        return graph

    @property
    def reading(self) -> GraphReading:
        return self.graph_source.reading

    @property
    def falkordb(self) -> FalkorDBTarget:
        if self.target.falkordb is None:
            raise ValueError("target.falkordb is required")
        return self.target.falkordb

    @model_validator(mode="after")
    def _policy_fits(self) -> Self:
        if self.mode is not Mode.BIDIRECTIONAL:
            for field, value in (
                ("conflictPolicy", self.conflict_policy),
                ("conflictPolicyRef", self.conflict_policy_ref),
            ):
                if value is not None:
                    raise ValueError(f"{field} applies to mode bidirectional, not {self.mode.value}")
        return self

    @model_validator(mode="after")
    def _backfills_fit(self) -> Self:
        if self.backfills and self.source.files is not None:
            raise ValueError("backfills: a files source is synced file by file; a backfill writes mapped entities")
        names: set[str] = set()
        for index, backfill in enumerate(self.backfills):
            if backfill.name in names:
                raise ValueError(
                    f"backfills[{index}].name: {backfill.name!r} is used twice; each backfill needs its own"
                )
            names.add(backfill.name)
            if self.mappings is not None:
                try:
                    backfill.job().check_against(self.mappings)
                except ValueError as exc:
                    raise ValueError(f"backfills[{index}].{str(exc).removeprefix('scope.')}") from None
        return self

    @model_validator(mode="after")
    def _resets_fit(self) -> Self:
        if not self.checkpoint_resets:
            return self
        streaming = self.mode in (Mode.CONTINUOUS, Mode.SNAPSHOT_THEN_STREAM) and self.source.postgres is not None
        logical = self.source.postgres is not None and self.source.postgres.capture is CaptureMode.LOGICAL
        kinds = resets.kinds_of(
            files=self.source.files is not None,
            snapshot=self.mode in (Mode.SNAPSHOT, Mode.SNAPSHOT_THEN_STREAM),
            incremental=self.mode is Mode.INCREMENTAL,
            stream=(resets.SLOT if logical else resets.STREAM) if streaming else None,
        )
        entities = set(self.mappings.entity_names()) if self.mappings is not None else set()
        problem = resets.fit_problem(self.checkpoint_resets, kinds, entities)
        if problem is not None:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _mode_fits(self) -> Self:
        if self.source.files is not None:
            return self._files_fit()
        if self.mappings is None:
            raise ValueError("mappings is required for a postgres or graph source")
        if self.source.graph is not None:
            return self._graph_mode_fits(self.source.graph)
        if self.mode is Mode.DIFFERENTIAL:
            raise ValueError("mode differential needs a graph source (source.neo4j or source.falkordb)")
        if self.mode is Mode.BIDIRECTIONAL:
            if self.transport is not None:
                raise ValueError("transport: a bidirectional pipeline reads both sides directly, without a transport")
            _same_names_both_ways(self.mapped)
            return self
        streaming = self.mode in (Mode.CONTINUOUS, Mode.SNAPSHOT_THEN_STREAM)
        postgres = self.source.postgres
        logical = postgres is not None and postgres.capture is CaptureMode.LOGICAL
        if logical and not streaming:
            raise ValueError(f"source.postgres.capture: logical streams changes; mode {self.mode.value} does not")
        if logical and self.transport is not None:
            raise ValueError("transport: capture logical reads its replication slot directly, without a transport")
        if streaming and not logical and self.transport is None:
            raise ValueError(f"mode {self.mode.value} needs a transport (transport.redisStreams)")
        if self.mode is Mode.INCREMENTAL and postgres is not None and postgres.watermark_column is None:
            raise ValueError("mode incremental needs source.postgres.watermarkColumn")
        return self

    def _files_fit(self) -> Self:
        if self.mode not in FILES_MODES:
            modes = ", ".join(m.value for m in FILES_MODES)
            raise ValueError(f"mode {self.mode.value} does not apply to a files source; use {modes}")
        if self.transport is not None:
            raise ValueError("transport: a files source is read directly, without a transport")
        if self.mappings is not None:
            raise ValueError("mappings: a files source takes labels and types from its documents; remove mappings")
        return self

    def _graph_mode_fits(self, graph: Neo4jSource | FalkorDBSource) -> Self:
        if self.mode not in GRAPH_SOURCE_MODES:
            modes = ", ".join(m.value for m in GRAPH_SOURCE_MODES)
            raise ValueError(f"mode {self.mode.value} needs a change stream, which graph sources lack; use {modes}")
        if self.transport is not None:
            raise ValueError("transport: graph sources are read directly, without a transport")
        if self.mode is Mode.INCREMENTAL and graph.reading.watermark_property is None:
            raise ValueError("mode incremental needs reading.watermarkProperty on the graph source")
        if self.mode is Mode.BIDIRECTIONAL and self.source.falkordb is None and self.target.falkordb is None:
            raise ValueError(
                "a bidirectional graph pipeline needs FalkorDB on one side, where it keeps its ledger of both sides"
            )
        for node in self.mapped.nodes:
            if node.table is not None or node.foreign_keys:
                raise ValueError(
                    f"mappings.nodes[{node.name}]: table and foreignKeys describe tables; "
                    "a graph source reads sourceLabel and relationships"
                )
        for rel in self.mapped.relationships:
            if rel.table is not None:
                raise ValueError(f"mappings.relationships[{rel.name}].table: a graph source reads sourceType")
        if self.mode is Mode.BIDIRECTIONAL:
            _same_names_both_ways(self.mapped)
        return self


def identity(name: str, namespace: str | None = None) -> str:
    return f"{namespace}.{name}" if namespace else name


def _same_names_both_ways(mappings: Mappings) -> None:
    """A bidirectional pipeline writes each side with the other's properties, so they must have one name each."""
    for kind, items in (("nodes", mappings.nodes), ("relationships", mappings.relationships)):
        for item in items:
            if item.filter:
                raise ValueError(
                    f"mappings.{kind}[{item.name}].filter: a bidirectional pipeline keeps both sides whole (an edit "
                    "on the graph side of a row the filter turns away would have nowhere to go)"
                )
            chosen = item.properties
            if chosen.include or chosen.exclude or chosen.rename:
                raise ValueError(
                    f"mappings.{kind}[{item.name}].properties: a bidirectional pipeline maps every property "
                    "under its own name (no include, exclude or rename)"
                )
    for rel in mappings.relationships:
        if set(rel.key) != {rel.source.column, rel.target.column}:
            raise ValueError(
                f"mappings.relationships[{rel.name}].key: a bidirectional pipeline identifies a relationship by "
                f"its two ends ({rel.source.column}, {rel.target.column}), which also finds one written by hand"
            )
    for node in mappings.nodes:
        if node.key_property not in (None, node.key):
            raise ValueError(f"mappings.nodes[{node.name}].keyProperty: a bidirectional pipeline keeps the key's name")
