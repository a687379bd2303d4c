"""`--address NAME:PORT=HOST:PORT`: reach a pipeline's databases from outside the cluster.

A pipeline's URLs name in-cluster addresses (`postgres.shop.svc:5432`) that a user's
machine cannot resolve; with `kubectl port-forward svc/postgres 15432:5432` the same
server answers at `127.0.0.1:15432`. The plugin rewrites every endpoint of the
rendered engine spec whose host and port are NAME:PORT before the engine connects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphsync.spec.pipeline import PipelineSpec
from graphsync_operator.plugin.steer import PluginError

# The port each scheme's clients use when a URL names none.
DEFAULT_PORTS = {
    "postgres": 5432,
    "postgresql": 5432,
    "redis": 6379,
    "rediss": 6379,
    "bolt": 7687,
    "neo4j": 7687,
}


@dataclass(frozen=True)
class Address:
    """One `--address`: connections meant for `cluster` (host:port) go to `local` (host:port) instead."""

    cluster: str
    local: str


def parse(text: str) -> Address:
    """`NAME:PORT=HOST:PORT`, both sides a host and a port number."""
    cluster, equals, local = text.partition("=")
    if not equals:
        raise ValueError(f"{text!r}: expected NAME:PORT=HOST:PORT")
    return Address(_host_port(text, cluster, "NAME:PORT"), _host_port(text, local, "HOST:PORT"))


def rewrite(spec: PipelineSpec, addresses: Sequence[Address]) -> PipelineSpec:
    """`spec` with every source, transport and target endpoint on a mapped NAME:PORT moved to its HOST:PORT.

    Every address must match some endpoint: one that matches nothing is a typo the user should hear of."""
    if not addresses:
        return spec
    mapping = {address.cluster: address.local for address in addresses}
    used: set[str] = set()
    source, target, transport = spec.source, spec.target, spec.transport
    update: dict[str, Any] = {
        "source": source.model_copy(
            update={
                "postgres": _moved(source.postgres, "url", mapping, used),
                "neo4j": _moved(source.neo4j, "uri", mapping, used),
                "falkordb": _moved(source.falkordb, "url", mapping, used),
            }
        ),
        "target": target.model_copy(
            update={
                "neo4j": _moved(target.neo4j, "uri", mapping, used),
                "falkordb": _moved(target.falkordb, "url", mapping, used),
            }
        ),
    }
    if transport is not None:
        update["transport"] = transport.model_copy(
            update={"redis_streams": _moved(transport.redis_streams, "url", mapping, used)}
        )
    unused = [address.cluster for address in addresses if address.cluster not in used]
    if unused:
        raise PluginError(
            f"--address {', '.join(unused)}: no endpoint of pipeline {spec.name} is at this address"
            f" (its endpoints: {', '.join(endpoints(spec))})"
        )
    return spec.model_copy(update=update)


def endpoints(spec: PipelineSpec) -> list[str]:
    """Every host:port the pipeline connects to, as `--address` names them."""
    return [_normal(host, url.default_port) for url in map(_Url.split, _urls(spec)) for host in url.hosts]


def rewrite_url(url: str, mapping: Mapping[str, str], used: set[str]) -> str:
    """`url` with each of its hosts (PostgreSQL URLs may list several) that `mapping` names replaced; the user,
    path and query stay. The matched NAME:PORTs are added to `used`."""
    parts = _Url.split(url)
    moved = []
    for host in parts.hosts:
        key = _normal(host, parts.default_port)
        if key in mapping:
            used.add(key)
        moved.append(mapping.get(key, host))
    return f"{parts.head}{','.join(moved)}{parts.tail}"


@dataclass(frozen=True)
class _Url:
    head: str  # scheme://user@
    hosts: list[str]
    tail: str  # /path?query
    default_port: int | None

    @classmethod
    def split(cls, url: str) -> _Url:
        scheme, separator, rest = url.partition("://")
        cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
        user, at, hosts = rest[:cut].rpartition("@")
        default = DEFAULT_PORTS.get(scheme.split("+")[0])
        return cls(f"{scheme}{separator}{user}{at}", hosts.split(",") if hosts else [], rest[cut:], default)


def _moved(endpoint: Any, field: str, mapping: Mapping[str, str], used: set[str]) -> Any:
    if endpoint is None:
        return None
    return endpoint.model_copy(update={field: rewrite_url(getattr(endpoint, field), mapping, used)})


def _urls(spec: PipelineSpec) -> list[str]:
    source, target, transport = spec.source, spec.target, spec.transport
    urls = [
        source.postgres.url if source.postgres else None,
        source.neo4j.uri if source.neo4j else None,
        source.falkordb.url if source.falkordb else None,
        transport.redis_streams.url if transport and transport.redis_streams else None,
        target.neo4j.uri if target.neo4j else None,
        target.falkordb.url if target.falkordb else None,
    ]
    return [url for url in urls if url]


def _normal(host: str, default: int | None) -> str:
    """`host:port` in lower case, the scheme's default port filled in (`[::1]:5432` keeps its brackets)."""
    name, colon, port = host.rpartition(":") if not host.endswith("]") else ("", "", "")
    if not colon or not port.isdigit():
        name, port = host, str(default) if default else ""
    return f"{name.lower()}:{port}" if port else name.lower()


def _host_port(text: str, part: str, shape: str) -> str:
    host, colon, port = part.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: {part!r} is not {shape} (a host and a port number from 1 to 65535)")
    if any(c in host for c in "/@,=? \t"):
        raise ValueError(f"{text!r}: {host!r} is not a host name or address")
    return f"{host.lower()}:{int(port)}"
