"""The fault matrix: one case per fault, each injected while several connections keep committing changes.

For every case the long-lived run itself must converge (no helper run settles for it): the target is
compared entity by entity with PostgreSQL while the run is still going, no record is dead-lettered
because of the fault, what the run reports (its stats, what a worker's status is made of) tells the
fault while it lasts, and the time to recover is measured. A fresh run afterwards finds nothing to do.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import neo4j
import psycopg
import pytest
from psycopg import sql

from graphsync.connectors.falkordb import graph as falkor_graph
from graphsync.connectors.falkordb.sink import FalkorSink
from graphsync.pipelines import run
from graphsync.runner.control import RunControl
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev import postgres
from graphsync_dev.service import Service
from tests import graphs, repos, shop
from tests.conftest import unique_name
from tests.integration.faults import (
    Watched,
    Writers,
    converge,
    dead_letters,
    first_batch_since,
    pipeline_spec,
)
from tests.integration.test_graph_sync import base_spec, falkor_snapshot, indexed, neo4j_graph, neo4j_run, sync

Conn = psycopg.Connection[Any]
# The figures of each case (time to recover), shown with `--log-cli-level=INFO`.
log = logging.getLogger(__name__)


def test_postgres_restarted_mid_stream_the_run_reconnects_and_loses_nothing(
    own_postgres: tuple[Service, Path, list[Service]],
    redis_service: Service,
    neo4j_service: Service,
    neo4j_driver: neo4j.Driver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pg, home, started = own_postgres
    monkeypatch.setenv("MATRIX_PG_PASSWORD", pg.env["GRAPHSYNC_PG_PASSWORD"])
    dsn = pg.env["GRAPHSYNC_PG_DSN"]
    schema = "shop"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        shop.create(conn, schema)
    spec = pipeline_spec(pg, schema, redis_service, {"neo4j": {"uri": neo4j_service.env["GRAPHSYNC_NEO4J_URI"]}})
    watched = Watched(spec)
    watched.start()
    with Writers(dsn, schema) as writers:
        time.sleep(4)
        restarted = postgres.restart(pg, home, down_seconds=3)
        started.append(restarted)
        back_at = time.monotonic()
        # While the server was gone, the run said so (a retry naming the lost connection), and kept running.
        time.sleep(4)
    assert writers.cut_off > 0, "the restart cut no writer off: the fault did not happen"
    assert watched.stats is not None
    # Whichever connection noticed first (the relay's, or the consumer's settling), the retry names the source.
    assert any(error.startswith("source:") for error in watched.stats.errors), watched.stats.errors
    assert watched.thread is not None
    assert watched.thread.is_alive(), f"the run ended: {watched.errors}"
    first_batch_after = first_batch_since(watched, back_at)

    with psycopg.connect(dsn, autocommit=True) as source:
        seconds = converge(lambda: shop.actual(neo4j_driver), lambda: shop.expected(source, schema))
    watched.finish()
    assert watched.errors == []
    assert dead_letters(spec, dsn) == 0
    fresh = run.run(spec, RunControl(stop=threading.Event(), until_idle=True))
    assert fresh.synced == 0
    log.info(
        "postgres restart: first batch %.1fs after it was back, converged %.1fs after writes stopped; "
        "%d changes, %d writer cut-offs",
        first_batch_after - back_at,
        seconds,
        writers.committed,
        writers.cut_off,
    )


class _Killed(BaseException):
    """The worker process dying at this point: nothing after it runs, nothing catches it."""


def test_a_rebuild_killed_right_after_its_rename_never_switches_in_an_empty_graph(
    neo4j_service: Service,
    neo4j_driver: neo4j.Driver,
    falkordb_service: Service,
    graph_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    graph_base = base_spec(neo4j_service, falkordb_service, graph_name)
    graph_source = indexed(neo4j_driver)
    graph_target = falkor_graph.connect(falkordb_service.env["GRAPHSYNC_FALKORDB_URL"], graph_name)
    graphs.build(neo4j_run(graph_source), people=600, companies=6, knows_per_person=2)
    rename = FalkorSink.switch_into

    def rename_then_die(sink: FalkorSink, name: str) -> None:
        rename(sink, name)
        raise _Killed

    monkeypatch.setattr(FalkorSink, "switch_into", rename_then_die)
    with pytest.raises(_Killed):
        sync(graph_base, "snapshot")
    monkeypatch.undo()
    expected = neo4j_graph(graph_source)
    assert falkor_snapshot(graph_target) == expected

    # The next scheduled run after the crash: it must finish (or redo) the switch, never swap in a graph
    # it only prepared.
    again = sync(graph_base, "snapshot")
    assert again.failed == 0
    assert len(expected["nodes"]) == 606
    assert falkor_snapshot(graph_target) == expected
    increments = sync(graph_base, "incremental")
    assert increments.synced == 0
    assert falkor_snapshot(graph_target) == expected
    graph_target.close()


def test_one_name_in_two_namespaces_on_one_redis_shares_nothing(
    postgres_service: Service,
    redis_service: Service,
    falkordb_service: Service,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MATRIX_PG_PASSWORD", postgres_service.env["GRAPHSYNC_PG_PASSWORD"])
    dsn = postgres_service.env["GRAPHSYNC_PG_DSN"]
    url = falkordb_service.env["GRAPHSYNC_FALKORDB_URL"]
    sides = []
    for prefix in ("a", "b"):
        namespace = unique_name(prefix).replace("_", "-")
        schema = namespace.replace("-", "_")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            shop.create(conn, schema)
        graph = unique_name("g")
        spec = pipeline_spec(postgres_service, schema, redis_service, {"falkordb": {"url": url, "graph": graph}})
        spec = spec.model_copy(update={"name": "shop", "namespace": namespace})
        sides.append((spec, schema, falkor_graph.connect(url, graph)))
    runs = [Watched(spec) for spec, _, _ in sides]
    for watched in runs:
        watched.start()
    with Writers(dsn, sides[0][1]), Writers(dsn, sides[1][1]):
        time.sleep(6)
    for watched in runs:
        assert watched.errors == []
    with psycopg.connect(dsn, autocommit=True) as source:
        for spec, schema, target in sides:
            seconds = converge(partial(shop.actual_falkordb, target), partial(shop.expected, source, schema))
            log.info("%s converged %.1fs after writes stopped", spec.identity, seconds)
    for watched in runs:
        watched.finish()
        assert watched.errors == []
    for spec, _, target in sides:
        assert dead_letters(spec, dsn) == 0
        target.close()


def files_pipeline(repo: Path, url: str, graph: str) -> PipelineSpec:
    return PipelineSpec.model_validate(
        {
            "name": unique_name("files").replace("_", "-"),
            "source": {"files": {"git": {"url": f"file://{repo}", "ref": "main"}, "include": ["*.json"]}},
            "target": {"falkordb": {"url": url, "graph": graph}},
            "mode": "incremental",
        }
    )


def test_a_git_remote_that_stops_answering_is_retried_then_synced(
    tmp_path: Path, falkordb_service: Service, graph_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAPHSYNC_CACHE_DIR", str(tmp_path / "cache"))
    repo, away = tmp_path / "kb", tmp_path / "kb-away"
    repos.init(repo)
    corpus = repos.generate(40)
    repos.commit(repo, corpus, "start")
    target = falkor_graph.connect(falkordb_service.env["GRAPHSYNC_FALKORDB_URL"], graph_name)
    spec = files_pipeline(repo, falkordb_service.env["GRAPHSYNC_FALKORDB_URL"], graph_name)
    run.run(spec, RunControl(stop=threading.Event(), until_idle=True))
    assert repos.actual(target.read) == repos.expected(corpus)

    repo.rename(away)  # the remote is gone: every fetch fails
    watched = Watched(spec)
    watched.start()
    deadline = time.monotonic() + 30
    while not (watched.stats and watched.stats.retries_by.get("source")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert watched.errors == []
    assert watched.stats is not None
    assert watched.stats.retries_by.get("source", 0) > 0
    assert any("files.git.url" in error for error in watched.stats.errors)

    away.rename(repo)
    for i in range(0, 40, 5):
        corpus.put(f"kb/{i % 20:02d}/doc-{i:05d}.json", repos.document(i, 40, revision=3))
    repos.commit(repo, corpus, "edits while the remote was away")
    back_at = time.monotonic()
    seconds = converge(lambda: repos.actual(target.read), lambda: repos.expected(corpus))
    watched.finish()
    assert watched.errors == []
    log.info(
        "git remote back: synced %.1fs later (%.1fs after the remote answered)", seconds, time.monotonic() - back_at
    )
    target.close()


def test_a_force_push_seen_through_a_fresh_mirror_resyncs_instead_of_failing(
    tmp_path: Path, falkordb_service: Service, graph_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAPHSYNC_CACHE_DIR", str(tmp_path / "cache"))
    repo = tmp_path / "kb"
    repos.init(repo)
    corpus = repos.generate(30)
    repos.commit(repo, corpus, "start")
    target = falkor_graph.connect(falkordb_service.env["GRAPHSYNC_FALKORDB_URL"], graph_name)
    spec = files_pipeline(repo, falkordb_service.env["GRAPHSYNC_FALKORDB_URL"], graph_name)
    run.run(spec, RunControl(stop=threading.Event(), until_idle=True))

    # History rewritten from scratch (the checkpoint's commit exists nowhere any more), and a new worker
    # whose mirror is cloned afresh.
    for i in range(0, 30, 3):
        del corpus.files[f"kb/{i % 20:02d}/doc-{i:05d}.json"]
    repos.git(repo, "checkout", "--quiet", "--orphan", "rewritten")
    repos.commit(repo, corpus, "rewritten history")
    repos.git(repo, "branch", "--quiet", "-M", "main")
    repos.git(repo, "reflog", "expire", "--expire=now", "--all")
    repos.git(repo, "gc", "--quiet", "--prune=now")
    shutil.rmtree(tmp_path / "cache")

    stats = run.run(spec, RunControl(stop=threading.Event(), until_idle=True))
    assert stats.files is not None
    assert stats.files.note is not None
    assert "no longer in the repository" in stats.files.note
    assert repos.actual(target.read) == repos.expected(corpus)
    target.close()
