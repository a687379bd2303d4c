"""The worker pool of a files sync: files listed in chunks, parsed and written in batches by threads.

One thread lists the files to sync, in chunks: a file whose stored hash equals its
current one is already done (so a run after a crash skips what it finished), the
others go through a bounded queue to `workers` threads. Each worker parses its file,
works out what changed against what the target holds, and writes up to `BATCH_FILES`
documents in one transaction, at most `maxConcurrentWrites` workers at a time. A file that
cannot be synced is recorded with its path and reason, keeps what it contributed before,
and the others go on.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from graphsync.connectors.files import contribution as contrib
from graphsync.connectors.files.documents import Parsers
from graphsync.connectors.files.repository import FileEntry, GitUnavailable, Reader, Repository
from graphsync.connectors.files.statements import DocumentWrite, Layout, Saved, label_keys, write
from graphsync.connectors.files.store import DocumentStore
from graphsync.runner.retry import Backoff, Interrupted
from graphsync.runner.stats import SOURCE, TARGET, RunStats
from graphsync.spec.files import FilesSource, Identity

log = logging.getLogger(__name__)
CHUNK = 256
# Files written in one transaction: per-file transactions spend most of their time on round trips.
BATCH_FILES = 64
# Failed files read again per round in an incremental run (a full listing reads them all).
MAX_FAILED_RETRIED = 10_000
T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    """What became of one file."""

    path: str
    kind: str
    nodes: int = 0
    edges: int = 0
    error: str | None = None


NOTHING = contrib.Stored(hash=None, merkle=None)


class FileSync:
    def __init__(
        self,
        store: DocumentStore,
        repository: Repository,
        files: FilesSource,
        *,
        layout: Layout,
        pipeline: str,
        stats: RunStats,
        stop: threading.Event,
        on_progress: Callable[[RunStats], None] | None = None,
    ) -> None:
        self.repository = repository
        self._store = store
        self._files = files
        self._parsers = Parsers(files.parsers)
        self._layout = layout
        self._prefix = f"{pipeline}:"
        self._stats = stats
        progress = stats.files
        assert progress is not None
        self._progress = progress
        self._stop = stop
        self._on_progress = on_progress
        self._writes = threading.Semaphore(files.max_concurrent_writes)
        self._backoff = Backoff()

    @property
    def store(self) -> DocumentStore:
        return self._store

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def waiting(self, holder: str, attempt: int) -> None:
        """Another writer of this pipeline holds the lease: said as a retry, waited out (Interrupted on stop)."""
        self._stats.add_retry(f"target: waiting for the files writer lease, held by {holder}", component=TARGET)
        self._stats.alive()
        self._backoff.wait(attempt, self._stop)

    def failed(self, commit: str | None) -> list[FileEntry]:
        """The files recorded as failed, as they are at `commit`."""
        paths = [path for path, _ in self.retrying(self._store.failures, self._prefix, MAX_FAILED_RETRIED)]
        return self.repository.entries(commit, paths)

    def work(self, base: str | None, commit: str | None, retry: Sequence[FileEntry] = ()) -> Iterator[FileEntry]:
        """The files to look at: those changed since `base` and those to `retry`, or every file and then the
        documents gone."""
        if base is not None and commit is not None:
            changed = {entry.path: entry for entry in self.repository.changed(base, commit)}
            again = [entry for entry in retry if entry.path not in changed]
            self._progress.total = len(changed) + len(again)
            yield from changed.values()
            yield from again
            return
        self._progress.total = self.repository.count(commit)
        yield from self.repository.files(commit)
        yield from self._vanished(commit)

    def _vanished(self, commit: str | None) -> Iterator[FileEntry]:
        after = self._prefix
        while page := self.retrying(self._store.page, self._prefix, after, CHUNK):
            paths = [doc_id[len(self._prefix) :] for doc_id in page]
            present = self.repository.existing(commit, paths)
            for path in paths:
                if path not in present:
                    self._progress.total += 1
                    yield FileEntry(path, None)
            after = page[-1]

    def sync(self, entries: Iterable[FileEntry], commit: str | None) -> None:
        work: queue.Queue[FileEntry | None] = queue.Queue(maxsize=self._files.workers * 4)
        threads = [
            threading.Thread(target=self._worker, args=(work, commit), name=f"files-{i}", daemon=True)
            for i in range(self._files.workers)
        ]
        for thread in threads:
            thread.start()
        try:
            for chunk in chunks(entries, CHUNK):
                stored = self.retrying(self._store.read, [self._prefix + e.path for e in chunk])
                for entry in chunk:
                    if _done(stored.get(self._prefix + entry.path), entry):
                        self._progress.finish(entry.path, outcome="unchanged")
                        continue
                    while not self._offer(work, entry):
                        if self._stop.is_set():
                            return
        except Interrupted:
            return
        finally:
            for _ in threads:
                while not self._offer(work, None) and any(t.is_alive() for t in threads):
                    pass
            for thread in threads:
                thread.join()

    def retrying(self, call: Callable[..., T], *args: object) -> T:
        """`call`, retried with backoff while the target reports a transient error; Interrupted on stop."""
        attempt = 0
        while True:
            try:
                return call(*args)
            except Interrupted:
                raise
            except Exception as exc:
                source = isinstance(exc, GitUnavailable)
                if not (source or self._store.is_transient(exc)):
                    raise
                if self._stop.is_set():
                    # Stopping during an outage: the file is not at fault, and is synced next run.
                    raise Interrupted from exc
                side = "source" if source else "target"
                self._stats.add_retry(f"{side}: {type(exc).__name__}: {exc}", component=SOURCE if source else TARGET)
                self._stats.alive()
                self._backoff.wait(attempt, self._stop)
                attempt += 1

    def _offer(self, work: queue.Queue[FileEntry | None], item: FileEntry | None) -> bool:
        try:
            work.put(item, timeout=0.2)
        except queue.Full:
            return False
        return True

    def _worker(self, work: queue.Queue[FileEntry | None], commit: str | None) -> None:
        reader = self.repository.reader(self._files.max_file_bytes)
        try:
            while True:
                items, last = _take(work, BATCH_FILES)
                if items and not self._stop.is_set():
                    self._batch(items, reader, commit)
                if last:
                    return
        except Interrupted:
            return
        finally:
            reader.close()

    def _batch(self, entries: list[FileEntry], reader: Reader, commit: str | None) -> None:
        """Write the files in one transaction; a batch the target refuses is retried file by file, so the file at
        fault is recorded on its own and the others go in."""
        for entry in entries:
            self._progress.start(entry.path)
        try:
            outcomes = self.retrying(self._attempt, entries, reader, commit)
        except Interrupted:
            raise
        except Exception:  # noqa: BLE001 - isolate the file at fault below
            outcomes = [outcome for entry in entries for outcome in self._alone(entry, reader, commit)]
        for outcome in outcomes:
            if outcome.error is not None:
                self._stats.add_error(f"{outcome.path}: {outcome.error}")
            self._progress.finish(outcome.path, outcome=outcome.kind, nodes=outcome.nodes, edges=outcome.edges)
        self._stats.alive()
        if self._on_progress is not None:
            self._on_progress(self._stats)

    def _attempt(self, entries: list[FileEntry], reader: Reader, commit: str | None) -> list[Outcome]:
        """One try at a batch, from what the target holds now: after a write whose reply was lost, the files it
        did write are found done, so a retry never counts a reference twice."""
        stored = self._store.read([self._prefix + entry.path for entry in entries])
        documents: list[DocumentWrite] = []
        failures: list[tuple[Saved, str]] = []
        outcomes: list[Outcome] = []
        for entry in entries:
            known = stored.get(self._prefix + entry.path)
            if _done(known, entry):
                outcomes.append(Outcome(entry.path, "unchanged"))
                continue
            saved = Saved(self._prefix + entry.path, entry.path, entry.hash or "", commit, now())
            try:
                document, kind = self._prepare(entry, known or NOTHING, reader, saved)
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
                failures.append((saved, _reason(exc)))
                outcomes.append(Outcome(entry.path, "failed", error=_reason(exc)))
                continue
            documents.append(document)
            outcomes.append(Outcome(entry.path, kind, len(document.found.nodes), len(document.found.edges)))
        if documents or failures:
            keys = label_keys(documents) if self._files.identity is Identity.ID else []
            labels = self._store.labels(keys) if keys else {}
            statements = write(self._layout, documents, current_labels=labels, failures=failures)
            with self._writes:
                self._store.write(statements)
        return outcomes

    def _alone(self, entry: FileEntry, reader: Reader, commit: str | None) -> list[Outcome]:
        try:
            return self.retrying(self._attempt, [entry], reader, commit)
        except Interrupted:
            raise
        except Exception as exc:  # noqa: BLE001 - this file is at fault: record it, keep the rest going
            reason = _reason(exc)
            saved = Saved(self._prefix + entry.path, entry.path, entry.hash or "", commit, now())
            self._record_failures([(saved, reason)])
            return [Outcome(entry.path, "failed", error=reason)]

    def _prepare(
        self, entry: FileEntry, stored: contrib.Stored, reader: Reader, saved: Saved
    ) -> tuple[DocumentWrite, str]:
        if entry.hash is None:
            return DocumentWrite(saved, contrib.removal(stored), None), "removed"
        parser = self._parsers.for_path(entry.path)
        if parser is None:
            raise ValueError("no parser is registered for this file kind (see files.parsers)")
        document = parser(reader.read(entry), entry.path)
        new = contrib.contribution(document, identity=self._files.identity, key_property=self._layout.key)
        if stored.error is None and stored.merkle == new.merkle:
            # The file changed but not what it says: only the document's hash is recorded.
            return DocumentWrite(saved, contrib.NO_CHANGES, new), "unchanged"
        # A cleared Merkle hash (a new document, or one a reconciliation marked) rewrites every entity it has.
        found = contrib.changes(stored, new, identity=self._files.identity, rewrite=stored.merkle is None)
        return DocumentWrite(saved, found, new), "succeeded"

    def _record_failures(self, failures: list[tuple[Saved, str]]) -> None:
        try:
            statements = write(self._layout, [], current_labels={}, failures=failures)
            with self._writes:
                self.retrying(self._store.write, statements)
        except Interrupted:
            raise
        except Exception as exc:  # noqa: BLE001 - reported in the run's errors; the files are retried next run
            log.warning("could not record %d failed files: %s", len(failures), exc)


def _take(work: queue.Queue[FileEntry | None], most: int) -> tuple[list[FileEntry], bool]:
    """Up to `most` queued files without waiting once one is in hand; True when the end was reached."""
    items: list[FileEntry] = []
    while len(items) < most:
        try:
            item = work.get() if not items else work.get_nowait()
        except queue.Empty:
            break
        if item is None:
            return items, True
        items.append(item)
    return items, False


def _done(stored: contrib.Stored | None, entry: FileEntry) -> bool:
    """Synced already: the target holds this version of the file, and did not record it as failed."""
    if stored is None:
        return entry.hash is None
    return stored.hash == entry.hash and stored.error is None


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
