"""What a started server leaves behind: its processes and its connection settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Service:
    """One running server (or group of processes, like the Kubernetes control plane).

    `env` holds the connection settings as environment variables (for example
    `GRAPHSYNC_PG_DSN`), so `graphsync-dev env` can print them and tests read them.
    """

    name: str
    pids: tuple[int, ...]
    env: Mapping[str, str]
    logs: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "pids": list(self.pids), "env": dict(self.env), "logs": list(self.logs)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Service:
        return cls(
            name=str(data["name"]),
            pids=tuple(int(p) for p in data["pids"]),
            env={str(k): str(v) for k, v in data["env"].items()},
            logs=tuple(str(p) for p in data.get("logs", ())),
        )
