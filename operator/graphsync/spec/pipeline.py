"""The pipeline spec: source, optional transport, target, mappings, mode; embedded by the SyncPipeline resource."""

from __future__ import annotations

import enum
import os
from typing import Self

from pydantic import Field, model_validator

from graphsync.spec.base import SpecModel
from graphsync.spec.identifiers import Identifier
from graphsync.spec.mapping import Mappings

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


class SecretKeyRef(SpecModel):
    name: str = Field(pattern=NAME_PATTERN)
    key: str = Field(pattern=r"^[-._a-zA-Z0-9]+$")


class SecretValue(SpecModel):
    """A secret, never written in the spec: read from an environment variable, or (in Kubernetes) a Secret.

    The operator turns `secretKeyRef` into an environment variable of the worker
    pod, so the engine itself only ever reads `env`.
    """

    env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    secret_key_ref: SecretKeyRef | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.env is None) == (self.secret_key_ref is None):
            raise ValueError("set exactly one of env or secretKeyRef")
        return self

    def resolve(self, field_name: str) -> str:
        if self.env is None:
            raise ValueError(f"{field_name}: secretKeyRef is resolved by the operator; outside Kubernetes use env")
        value = os.environ.get(self.env)
        if value is None:
            raise ValueError(f"{field_name}: environment variable {self.env} is not set")
        return value


class CaptureMode(enum.StrEnum):
    # The application calls `publish` in its own transactions.
    OUTBOX = "outbox"
    # The engine installs capture triggers on the mapped tables: no application change.
    TRIGGERS = "triggers"


class PostgresSource(SpecModel):
    url: str = Field(pattern=r"^postgres(ql)?://[^\s:@/]+(@|:)", description="without the password")
    password: SecretValue | None = None
    schema_: Identifier = Field(default="graphsync", alias="schema", description="where the engine's tables live")
    capture: CaptureMode = CaptureMode.TRIGGERS
    watermark_column: Identifier | None = Field(default=None, description="for incremental mode")


class Source(SpecModel):
    postgres: PostgresSource | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if self.postgres is None:
            raise ValueError("choose a source kind: postgres")
        return self


class RedisStreams(SpecModel):
    url: str = Field(pattern=r"^rediss?://")
    password: SecretValue | None = None
    partitions: int = Field(default=4, ge=1, le=256)
    claim_idle_seconds: float = Field(default=30.0, gt=0, description="reclaim a dead consumer's entries after this")
    redeliver_after_seconds: float = Field(default=120.0, gt=0, description="republish events not completed by then")
    max_stream_length: int = Field(default=1_000_000, ge=1000)


class Transport(SpecModel):
    redis_streams: RedisStreams | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if self.redis_streams is None:
            raise ValueError("choose a transport kind: redisStreams")
        return self


class Neo4jTarget(SpecModel):
    uri: str = Field(pattern=r"^(bolt|neo4j)(\+s|\+ssc)?://")
    user: str = "neo4j"
    password: SecretValue | None = None
    database: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9.-]{0,62}$")


class Target(SpecModel):
    neo4j: Neo4jTarget | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if self.neo4j is None:
            raise ValueError("choose a target kind: neo4j")
        return self


class Mode(enum.StrEnum):
    CONTINUOUS = "continuous"
    INCREMENTAL = "incremental"
    SNAPSHOT = "snapshot"
    SNAPSHOT_THEN_STREAM = "snapshotThenStream"


class ObjectRef(SpecModel):
    name: str = Field(pattern=NAME_PATTERN)


class PipelineSpec(SpecModel):
    name: str = Field(default="default", pattern=NAME_PATTERN, description="names streams, groups and checkpoints")
    source: Source
    transport: Transport | None = None
    target: Target
    mappings: Mappings
    mode: Mode = Mode.CONTINUOUS
    batch_size: int = Field(default=500, ge=1, le=50_000)
    conflict_policy_ref: ObjectRef | None = None

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
    def neo4j(self) -> Neo4jTarget:
        if self.target.neo4j is None:
            raise ValueError("target.neo4j is required")
        return self.target.neo4j

    @model_validator(mode="after")
    def _mode_fits(self) -> Self:
        streaming = self.mode in (Mode.CONTINUOUS, Mode.SNAPSHOT_THEN_STREAM)
        if streaming and self.transport is None:
            raise ValueError(f"mode {self.mode.value} needs a transport (transport.redisStreams)")
        postgres = self.source.postgres
        if self.mode is Mode.INCREMENTAL and postgres is not None and postgres.watermark_column is None:
            raise ValueError("mode incremental needs source.postgres.watermarkColumn")
        return self
