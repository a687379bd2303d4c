# One image for the operator and the workers: `graphsync-operator` runs the
# operator, `graphsync-operator worker ...` a pipeline. The install step is the same one
# CI runs (hack/bootstrap.sh): the pinned lock file, then the project itself.
FROM python:3.11.7-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 UV_VERSION=0.13.9
WORKDIR /src
RUN python -m venv /opt/graphsync && /opt/graphsync/bin/pip install "uv==${UV_VERSION}"
COPY requirements/runtime.txt requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY operator operator
RUN VIRTUAL_ENV=/opt/graphsync /opt/graphsync/bin/uv pip install -r requirements/runtime.txt . \
 && /opt/graphsync/bin/pip uninstall -y uv

FROM python:3.11.7-slim-bookworm
# git: the files source reads repositories through it.
RUN apt-get update && apt-get install -y --no-install-recommends git \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 65532 graphsync \
 && useradd --system --uid 65532 --gid graphsync --no-create-home --shell /usr/sbin/nologin graphsync
COPY --from=build /opt/graphsync /opt/graphsync
ENV PATH=/opt/graphsync/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    GRAPHSYNC_CACHE_DIR=/var/cache/graphsync
USER 65532:65532
# What every pod runs (the chart's operator and the workers also set it as their command);
# `docker run IMAGE run -A` starts the operator, `docker run --entrypoint graphsync IMAGE ...` the engine CLI.
ENTRYPOINT ["graphsync-operator"]
CMD ["--help"]
