# One image for the operator and the workers: `graphsync-operator` runs the
# operator, `graphsync-operator worker ...` a pipeline. The install step is the same one
# CI runs (hack/bootstrap.sh): the pinned lock file, then the project itself.
#
# `make release` builds this same recipe without a container engine (graphsync-dev release):
# a root filesystem from the same Debian packages at the same versions (mmdebstrap), this build
# stage's RUN steps executed in it, the final stage's user, ENV, LABEL, ENTRYPOINT and CMD written
# into the image config. tests/unit/test_release_image.py keeps the two in agreement.
#
# The base is Debian's point release and every package we add is pinned by version, because the
# interpreter comes from Debian (python3.11) in both builds. Pin the digest too where a registry
# is reachable (`crane digest debian:12.15-slim`).
FROM debian:12.15-slim AS build
ENV PIP_NO_CACHE_DIR=1 UV_VERSION=0.13.9
RUN apt-get update && apt-get install -y --no-install-recommends \
      python3.11=3.11.2-6+deb12u9 python3.11-venv=3.11.2-6+deb12u9 \
      git=1:2.39.5-0+deb12u3 ca-certificates=20250419~deb12u2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
RUN python3.11 -m venv /opt/graphsync && /opt/graphsync/bin/pip install "uv==${UV_VERSION}"
COPY requirements/runtime.txt requirements/runtime.txt
COPY pyproject.toml README.md LICENSE ./
COPY operator operator
# Bytecode compiled at build time: the pods' root filesystem is read-only, so without it every
# start compiles every module again (measured in docs/benchmarks.md). unchecked-hash, because
# a builder that resets file times (reproducible builds do) would make timestamp-checked .pyc stale.
RUN VIRTUAL_ENV=/opt/graphsync /opt/graphsync/bin/uv pip install -r requirements/runtime.txt . \
 && /opt/graphsync/bin/pip uninstall -y uv \
 && /opt/graphsync/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash /opt/graphsync/lib

# The same packages as the build stage, so the venv runs on the very interpreter it was built with.
FROM debian:12.15-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      python3.11=3.11.2-6+deb12u9 python3.11-venv=3.11.2-6+deb12u9 \
      git=1:2.39.5-0+deb12u3 ca-certificates=20250419~deb12u2 \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 65532 graphsync \
 && useradd --system --uid 65532 --gid graphsync --no-create-home --shell /usr/sbin/nologin graphsync
COPY --from=build /opt/graphsync /opt/graphsync
ENV PATH=/opt/graphsync/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    GRAPHSYNC_CACHE_DIR=/var/cache/graphsync
# The release's version, commit and time: `graphsync-dev release` passes them (docker build --build-arg ...).
ARG VERSION REVISION CREATED
LABEL org.opencontainers.image.title="graphsync" \
      org.opencontainers.image.description="A Kubernetes operator that keeps graph databases in sync with their sources, declaratively." \
      org.opencontainers.image.url="https://github.com/graphsync/graphsync" \
      org.opencontainers.image.source="https://github.com/graphsync/graphsync" \
      org.opencontainers.image.documentation="https://github.com/graphsync/graphsync/tree/main/docs" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="graphsync" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
USER 65532:65532
# What every pod runs (the chart's operator and the workers also set it as their command);
# `docker run IMAGE run -A` starts the operator, `docker run --entrypoint graphsync IMAGE ...` the engine CLI.
ENTRYPOINT ["graphsync-operator"]
CMD ["--help"]
