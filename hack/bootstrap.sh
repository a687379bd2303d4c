#!/usr/bin/env bash
# Installs everything graphsync's tests and demo need on a fresh Debian machine,
# and nothing twice: system packages, the Python environment (.venv, from the lock
# file), and the cached builds of every server (Go tools, the Neo4j launcher).
# Heavy builds are cached outside the repository (GRAPHSYNC_CACHE, default
# ~/.cache/graphsync), so a fresh clone reuses them.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_VERSION=15
UV_VERSION=0.13.9
apt_packages=()
[ -x "/usr/lib/postgresql/${PG_VERSION}/bin/postgres" ] || apt_packages+=("postgresql-${PG_VERSION}")
command -v openssl >/dev/null || apt_packages+=(openssl)
# TLS tests: a Redis built with TLS, and stunnel in front of FalkorDB (whose server is built without it).
[ -x /usr/bin/redis-server ] || apt_packages+=(redis-server)
command -v stunnel4 >/dev/null || apt_packages+=(stunnel4)
# Git credential tests: an SSH server that takes a key.
[ -x /usr/sbin/sshd ] || apt_packages+=(openssh-server)
command -v git >/dev/null || apt_packages+=(git)
command -v go >/dev/null || apt_packages+=(golang)
command -v mvn >/dev/null || apt_packages+=(maven)
command -v java >/dev/null || apt_packages+=(openjdk-17-jdk-headless)
# `make release`: the image's Debian root is made with it (no container engine needed).
command -v mmdebstrap >/dev/null || apt_packages+=(mmdebstrap)
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "bootstrap: installing ${apt_packages[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: need root to install ${apt_packages[*]} (or install them yourself)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_packages[@]}" >/dev/null
fi
# The Debian package stops its own cluster from starting: the substrate runs its own.
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --no-create-home --shell /usr/sbin/nologin postgres
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
[ -x .venv/bin/pip ] || .venv/bin/python -m ensurepip -q
if [ ! -x .venv/bin/uv ]; then
  .venv/bin/pip install -q "uv==${UV_VERSION}"
fi
echo "bootstrap: the Python environment (.venv)"
# The project (engine and operator, what the image ships) and, beside it, the development
# package in dev/ (the substrate and `graphsync-dev`), which the image never installs.
VIRTUAL_ENV="$PWD/.venv" .venv/bin/uv pip install -q -r requirements/dev.txt -e . -e dev

# Each server built for the first time says so, with an estimate and its progress every 30 s
# (about 15 minutes in all on a fresh 2-core machine); then every later run finds them cached.
echo "bootstrap: the servers (cached in ${GRAPHSYNC_CACHE:-$HOME/.cache/graphsync})"
.venv/bin/graphsync-dev build
