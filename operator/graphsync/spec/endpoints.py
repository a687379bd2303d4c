"""Where a pipeline reads and writes: connection settings of each source, transport and target kind.

Secrets never appear in a spec: each names an environment variable, or (in
Kubernetes) a Secret key that the operator turns into one.
"""

from __future__ import annotations

import enum
import os
import re
from typing import Annotated, Self

from pydantic import AfterValidator, Field, model_validator

from graphsync.spec.base import SpecModel
from graphsync.spec.identifiers import Identifier

NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"

# A password in a URL: `scheme://user:password@host`, or PostgreSQL's `?password=` parameter. The CRDs
# refuse the same (`graphsync_operator.api.crds`, CREDENTIALS_RULE), in RE2, which CEL speaks.
CREDENTIALS_IN_USERINFO = r"^[^/]*//[^/@?#\s]*:[^/@?#\s]*@"
CREDENTIALS_IN_QUERY = r"[?&](password|sslpassword)="
CREDENTIALS_MESSAGE = (
    "holds a password: a URL is written into the worker's ConfigMap and logs; "
    "give it as password: {secretKeyRef: {name, key}} (or env outside Kubernetes) instead"
)


def _without_password(url: str) -> str:
    if re.search(CREDENTIALS_IN_USERINFO, url) or re.search(CREDENTIALS_IN_QUERY, url):
        raise ValueError(CREDENTIALS_MESSAGE)
    return url


# Long enough for any real URL; a bound keeps the CRD's CEL check of it within the API server's cost budget.
URL_LENGTH = 2048
# Every URL or URI of a spec: a password in it is refused, naming the field.
CleanUrl = Annotated[str, AfterValidator(_without_password)]


class SecretKeyRef(SpecModel):
    """A key of a Secret in the resource's namespace."""

    name: str = Field(pattern=NAME_PATTERN, description="the Secret's name")
    key: str = Field(pattern=r"^[-._a-zA-Z0-9]+$", description="the key in the Secret's data")


class SecretValue(SpecModel):
    """A secret, never written in the spec: read from an environment variable, or (in Kubernetes) a Secret.

    The operator turns `secretKeyRef` into an environment variable of the worker
    pod, so the engine itself only ever reads `env`.
    """

    env: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="an environment variable (outside Kubernetes)"
    )
    secret_key_ref: SecretKeyRef | None = Field(
        default=None, description="a Secret key, given to the worker as an environment variable"
    )

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


# Where the files of `secretKeyRef`s live in a worker: the operator mounts each Secret key under it.
SECRETS_DIR_ENV = "GRAPHSYNC_SECRETS_DIR"


class SecretFile(SpecModel):
    """A secret kept in a file (a CA bundle, a client certificate or key): a path, or (in Kubernetes) a Secret key
    the operator mounts read-only into the worker, so the engine itself only ever reads `path`."""

    path: str | None = Field(
        default=None,
        pattern=r"^[^\s]+$",
        max_length=4096,
        description=f"a file; a relative path is taken from the directory ${SECRETS_DIR_ENV} names, if set",
    )
    secret_key_ref: SecretKeyRef | None = Field(
        default=None, description="a Secret key, mounted read-only into the worker as a file"
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.path is None) == (self.secret_key_ref is None):
            raise ValueError("set exactly one of path or secretKeyRef")
        return self

    def resolve(self, field_name: str) -> str:
        if self.path is None:
            raise ValueError(f"{field_name}: secretKeyRef is mounted by the operator; outside Kubernetes use path")
        path = os.path.join(os.environ.get(SECRETS_DIR_ENV, ""), self.path)
        if not os.path.isfile(path):
            raise ValueError(f"{field_name}: no file at {path}")
        return path


class PostgresSslMode(enum.StrEnum):
    # Encrypted; the server's certificate is not checked.
    REQUIRE = "require"
    # Encrypted, with a server certificate signed by the CA bundle.
    VERIFY_CA = "verify-ca"
    # As verify-ca, and the certificate names the host the URL names.
    VERIFY_FULL = "verify-full"


# libpq's TLS parameters belong in `tls`, where the files can come from Secrets; in the URL they would compete.
_URL_TLS = re.compile(r"[?&](sslmode|sslrootcert|sslcert|sslkey|sslcrl)=")


class PostgresTls(SpecModel):
    """TLS to PostgreSQL: how strict, the CA bundle to check the server with, a client certificate to log in with."""

    mode: PostgresSslMode = Field(
        default=PostgresSslMode.VERIFY_FULL,
        description="require (encrypted), verify-ca (and signed by ca) or verify-full (and naming the URL's host)",
    )
    ca: SecretFile | None = Field(default=None, description="the CA bundle the server's certificate is checked with")
    cert: SecretFile | None = Field(default=None, description="a client certificate (with key)")
    key: SecretFile | None = Field(default=None, description="the client certificate's private key")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key go together")
        if self.mode is not PostgresSslMode.REQUIRE and self.ca is None:
            raise ValueError(f"mode {self.mode.value} checks the server's certificate: set ca")
        return self

    def conninfo(self, field_name: str) -> dict[str, str]:
        """libpq's parameters, the files resolved (a missing one names its field)."""
        found = {"sslmode": self.mode.value}
        files = (("sslrootcert", "ca", self.ca), ("sslcert", "cert", self.cert), ("sslkey", "key", self.key))
        for parameter, name, source in files:
            if source is not None:
                found[parameter] = source.resolve(f"{field_name}.{name}")
        return found


class CaptureMode(enum.StrEnum):
    # The application calls `publish` in its own transactions.
    OUTBOX = "outbox"
    # The engine installs capture triggers on the mapped tables: no application change.
    TRIGGERS = "triggers"
    # The engine reads PostgreSQL's write-ahead log through a logical replication slot of its own:
    # no trigger, no application change, versions in commit order.
    LOGICAL = "logical"


class PostgresSource(SpecModel):
    """A PostgreSQL database: the mapped tables are read, and their changes captured."""

    url: CleanUrl = Field(
        max_length=URL_LENGTH, pattern=r"^postgres(ql)?://[^\s:@/]+(@|:)", description="without the password"
    )
    password: SecretValue | None = None
    tls: PostgresTls | None = None
    schema_: Identifier = Field(default="graphsync", alias="schema", description="where the engine's tables live")
    capture: CaptureMode = Field(
        default=CaptureMode.TRIGGERS,
        description="how changes are captured: triggers (installed on the mapped tables), outbox (the application"
        " publishes) or logical (a replication slot reads the write-ahead log)",
    )
    watermark_column: Identifier | None = Field(default=None, description="for incremental mode")
    watermark_overlap_seconds: float = Field(
        default=10.0,
        ge=0,
        description=(
            "incremental mode: rows stamped this close to now (or after the oldest open transaction began) are read"
            " again until they are older, so a transaction that commits after a later-stamped one is not read past"
        ),
    )
    slot_backlog_limit_bytes: int = Field(
        default=4 * 1024**3,
        ge=1024**2,
        description=(
            "capture logical: past this much WAL held by the pipeline's replication slot the pipeline reports"
            " Degraded (SlotBacklog), long before the server's disk fills"
        ),
    )
    poll_interval_seconds: float = Field(default=5.0, gt=0, description="bidirectional mode: how often a pass runs")

    @model_validator(mode="after")
    def _tls_in_one_place(self) -> Self:
        if self.tls is not None and _URL_TLS.search(self.url):
            raise ValueError("url: with tls set, TLS parameters (sslmode, sslrootcert, ...) go in tls, not in the URL")
        return self


class ServerTls(SpecModel):
    """TLS to Neo4j, Redis or FalkorDB: the CA bundle to check the server with (the system's when unset), and a
    client certificate for a server that asks for one. The server's certificate must name the URL's host."""

    ca: SecretFile | None = Field(default=None, description="the CA bundle the server's certificate is checked with")
    cert: SecretFile | None = Field(default=None, description="a client certificate")
    key: SecretFile | None = Field(default=None, description="the client certificate's private key")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key go together")
        return self


def _rediss_with_tls(url: str, tls: ServerTls | None) -> None:
    if tls is not None and not url.startswith("rediss://"):
        raise ValueError("url: with tls set, use rediss:// (the TLS scheme)")


class RedisStreams(SpecModel):
    """Redis Streams between capture and the workers: changes wait there, partitioned by key."""

    url: CleanUrl = Field(max_length=URL_LENGTH, pattern=r"^rediss?://", description="without the password")
    password: SecretValue | None = None
    partitions: int = Field(default=4, ge=1, le=256, description="streams per pipeline; changes of a key stay in one")
    claim_idle_seconds: float = Field(default=30.0, gt=0, description="reclaim a dead consumer's entries after this")
    redeliver_after_seconds: float = Field(default=120.0, gt=0, description="republish events not completed by then")
    max_stream_length: int = Field(
        default=1_000_000, ge=1000, description="entries a stream keeps, applied ones trimmed first"
    )
    tls: ServerTls | None = Field(default=None, description="a CA bundle or client certificate of your own (rediss://)")

    @model_validator(mode="after")
    def _tls_scheme(self) -> Self:
        _rediss_with_tls(self.url, self.tls)
        return self


class Neo4jTarget(SpecModel):
    """A Neo4j server (Bolt)."""

    uri: CleanUrl = Field(
        max_length=URL_LENGTH, pattern=r"^(bolt|neo4j)(\+s|\+ssc)?://", description="without the password"
    )
    user: str = Field(default="neo4j", description="the user to log in as")
    password: SecretValue | None = None
    database: str | None = Field(
        default=None, pattern=r"^[a-z][a-z0-9.-]{0,62}$", description="the database; the server's default when unset"
    )
    tls: ServerTls | None = Field(
        default=None, description="encrypt with a CA bundle or client certificate of your own (URI bolt:// or neo4j://)"
    )

    @model_validator(mode="after")
    def _tls_in_one_place(self) -> Self:
        # The driver takes its trust either from the scheme (+s: the system's CAs, +ssc: any) or from tls.
        if self.tls is not None and "+" in self.uri.split("://", 1)[0]:
            raise ValueError(
                "uri: with tls set, use bolt:// or neo4j:// (tls turns encryption on and says whom to trust)"
            )
        return self


class ZonedDateTimes(enum.StrEnum):
    # A date-time with a time zone is a poison record: FalkorDB has local date-times only.
    REFUSE = "refuse"
    # Written as the local date-time it is in UTC (the zone is dropped, the instant kept).
    UTC = "utc"


class FalkorDBTarget(SpecModel):
    """A FalkorDB server and one of its graphs."""

    url: CleanUrl = Field(
        max_length=URL_LENGTH, pattern=r"^rediss?://\S*$", description="the FalkorDB server, without the password"
    )
    password: SecretValue | None = None
    graph: str = Field(pattern=r"^[A-Za-z0-9_][-A-Za-z0-9_.]{0,127}$", description="the graph (key) to write")
    tls: ServerTls | None = Field(default=None, description="a CA bundle or client certificate of your own (rediss://)")
    zoned_date_times: ZonedDateTimes = Field(
        default=ZonedDateTimes.REFUSE,
        description="a date-time with a time zone, which FalkorDB cannot hold: refuse (a poison record, named) or "
        "utc (written as its local date-time in UTC)",
    )

    @model_validator(mode="after")
    def _tls_scheme(self) -> Self:
        _rediss_with_tls(self.url, self.tls)
        return self


class DeleteDetection(enum.StrEnum):
    # Compare the key sets of source and target and delete what the source no longer has.
    KEY_SCAN = "keyScan"
    # Deletes in the source are left in the target (an append-only source).
    IGNORE = "ignore"


class GraphReading(SpecModel):
    """How a graph source is read: graph databases have no change log to follow, so changes are found by scanning."""

    watermark_property: Identifier | None = Field(
        default=None, description="a property every change advances (e.g. updated_at); needed by mode incremental"
    )
    deletes: DeleteDetection = Field(
        default=DeleteDetection.KEY_SCAN,
        description="keyScan: what the source no longer has is deleted; ignore: deletes stay in the target",
    )
    delete_scan_interval_seconds: float = Field(
        default=300.0, gt=0, description="how often incremental mode scans keys"
    )
    poll_interval_seconds: float = Field(default=5.0, gt=0, description="how often incremental mode looks for changes")
    watermark_overlap_seconds: float = Field(
        default=10.0,
        ge=0,
        description=(
            "incremental mode: entities stamped this close to now (by the worker's clock) are read again until they"
            " are older, so a transaction that commits after a later-stamped one is not read past"
        ),
    )


class Neo4jSource(Neo4jTarget):
    """A Neo4j graph to read, as a source."""

    reading: GraphReading = Field(default_factory=GraphReading)


class FalkorDBSource(FalkorDBTarget):
    """A FalkorDB graph to read, as a source."""

    reading: GraphReading = Field(default_factory=GraphReading)
