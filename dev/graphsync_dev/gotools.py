"""Go-built tools of the local Kubernetes substrate, built from the Go module proxy.

Each Go module under `hack/` (k8s, etcd, kwok, helm, kstatus, promtool) pins one upstream release in its
go.mod; they are separate modules so their dependency versions never have to agree
(helm and kwok follow newer client-go releases than the control plane). The version
that keys a cache entry is read from that go.mod, so bumping a release there is the
only change needed to rebuild.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from graphsync_dev import build
from graphsync_dev.paths import source_root
from graphsync_dev.process import SubstrateError


@dataclass(frozen=True)
class GoModule:
    """One recipe under `hack/<name>`: the binaries it builds and how their version is stamped."""

    name: str
    upstream: str  # the required module whose version names the cache entry
    binaries: Mapping[str, str]  # binary name -> main package
    ldflags: Callable[[Path], list[str]]

    @property
    def folder(self) -> Path:
        return source_root() / "hack" / self.name

    def version(self) -> str:
        return required_version(self.folder / "go.mod", self.upstream)

    def key(self) -> str:
        return build.recipe_key(self.version(), [self.folder / "go.mod", self.folder / "go.sum"])


def required_version(gomod: Path, module: str) -> str:
    """The version of `module` that a go.mod requires (direct or indirect)."""
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", gomod.read_text(), re.MULTILINE)
    if match is None:
        raise SubstrateError(f"{gomod} does not require {module}")
    return match.group(1)


def _kubernetes_ldflags(folder: Path) -> list[str]:
    # 1.34 derives each component's binary and emulation version from gitVersion; an
    # unstamped build reports v0.0.0-master and its compatibility checks misbehave.
    version = required_version(folder / "go.mod", "k8s.io/kubernetes")
    major, minor = version.lstrip("v").split(".")[:2]
    values = {"gitVersion": version, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean"}
    # kubectl reports its client version from client-go, the servers from component-base.
    return [
        f"-X {package}.{key}={value}"
        for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for key, value in values.items()
    ]


def _helm_ldflags(folder: Path) -> list[str]:
    version = required_version(folder / "go.mod", "helm.sh/helm/v3")
    # Helm's default capabilities (used by `helm template`) follow the client-go it was built with.
    client_go = required_version(folder / "go.mod", "k8s.io/client-go")
    minor = client_go.lstrip("v").split(".")[1]
    flags = [f"-X helm.sh/helm/v3/internal/version.version={version}"]
    for package in ("helm.sh/helm/v3/pkg/chartutil", "helm.sh/helm/v3/pkg/lint/rules"):
        flags += [f"-X {package}.k8sVersionMajor=1", f"-X {package}.k8sVersionMinor={minor}"]
    return flags


def _promtool_ldflags(folder: Path) -> list[str]:
    # Prometheus 3.x is the Go module's v0.3xx.y: v0.316.0 is Prometheus 3.16.0.
    minor, patch = required_version(folder / "go.mod", "github.com/prometheus/prometheus").lstrip("v").split(".")[1:3]
    return [f"-X github.com/prometheus/common/version.Version={int(minor) // 100}.{int(minor) % 100}.{patch}"]


def _no_ldflags(_folder: Path) -> list[str]:
    # etcd and kwok carry their release version in their source already.
    return []


MODULES: tuple[GoModule, ...] = (
    GoModule(
        name="k8s",
        upstream="k8s.io/kubernetes",
        binaries={
            name: f"k8s.io/kubernetes/cmd/{name}"
            for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
        },
        ldflags=_kubernetes_ldflags,
    ),
    # etcd 3.5+ keeps the server's main package at the root of the server module.
    GoModule(
        name="etcd",
        upstream="go.etcd.io/etcd/server/v3",
        binaries={"etcd": "go.etcd.io/etcd/server/v3"},
        ldflags=_no_ldflags,
    ),
    GoModule(
        name="kwok", upstream="sigs.k8s.io/kwok", binaries={"kwok": "sigs.k8s.io/kwok/cmd/kwok"}, ldflags=_no_ldflags
    ),
    GoModule(
        name="helm", upstream="helm.sh/helm/v3", binaries={"helm": "helm.sh/helm/v3/cmd/helm"}, ldflags=_helm_ldflags
    ),
    # Flux's kstatus library run on objects (the program is ours, in hack/kstatus): the GitOps tests' judge.
    GoModule(
        name="kstatus",
        upstream="sigs.k8s.io/cli-utils",
        binaries={"kstatus": "graphsync.io/hack/kstatus"},
        ldflags=_no_ldflags,
    ),
    # Prometheus's rule checker: `promtool check rules` and `promtool test rules` judge the chart's alerts.
    GoModule(
        name="promtool",
        upstream="github.com/prometheus/prometheus",
        binaries={"promtool": "github.com/prometheus/prometheus/cmd/promtool"},
        ldflags=_promtool_ldflags,
    ),
)

TOOLS: dict[str, GoModule] = {tool: module for module in MODULES for tool in module.binaries}


def _go_env() -> dict[str, str]:
    # -buildvcs=false: the recipes live inside the project's git checkout, whose state
    # says nothing about the tools. CGO off gives static binaries, as upstream releases are.
    flags = os.environ.get("GOFLAGS", "").split()
    flags = [f for f in flags if not f.startswith(("-mod=", "-buildvcs"))] + ["-mod=mod", "-buildvcs=false"]
    return {**os.environ, "GOFLAGS": " ".join(flags), "CGO_ENABLED": "0"}


def _build_module(module: GoModule, staging: Path) -> None:
    log = staging / "build.log"
    ldflags = " ".join(["-s", "-w", *module.ldflags(module.folder)])
    env = _go_env()
    for tool, package in module.binaries.items():
        started = time.monotonic()
        argv = ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(staging / "bin" / tool), package]
        build.run_build_step(argv, cwd=module.folder, log=log, env=env)
        with log.open("a") as out:
            out.write(f"built {tool} in {time.monotonic() - started:.0f}s\n")


def module_dir(module: GoModule) -> Path:
    """The cache folder holding `bin/` for every binary of `module`, built if missing."""
    return build.cached_build(module.name, module.key(), lambda staging: _build_module(module, staging))


def ensure(tool: str) -> Path:
    """The path of the built `tool`, building its whole module on first use."""
    try:
        module = TOOLS[tool]
    except KeyError:
        raise SubstrateError(f"unknown Go tool {tool!r}; choose from {', '.join(TOOLS)}") from None
    path = module_dir(module) / "bin" / tool
    if not path.is_file():
        raise SubstrateError(f"{path} is missing from its cache entry; delete {path.parent.parent} to rebuild")
    return path


def ensure_all() -> dict[str, Path]:
    return {tool: ensure(tool) for tool in TOOLS}
