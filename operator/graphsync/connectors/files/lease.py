"""One writer at a time per files pipeline: a lease on the target, renewed while its holder writes.

Writers of one pipeline read reference counts and write them back; two at once (a sync-now Job next to
the worker, a repair next to it) would both count the same reference, and a file deleted later would
leave its nodes behind. A writer takes the lease before a round and gives it back after; one that dies
holding it loses it once `SECONDS` pass without a renewal.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from graphsync.connectors.files.store import DocumentStore

log = logging.getLogger(__name__)
SECONDS = 60.0
RENEW_EVERY = SECONDS / 6


class Lease:
    def __init__(self, store: DocumentStore, name: str, call: Callable[..., str | None]) -> None:
        """`call(function, *args)`: how a target call is made (the files sync's, retried through outages)."""
        self._store = store
        self._call = call
        self.name = name
        # Who holds it, as a person reading the lease (or a waiting writer's status) can find the writer.
        self.holder = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self._depth = 0

    @contextmanager
    def held(self, wait: Callable[[str, int], None]) -> Iterator[None]:
        """Hold the lease for the block; `wait(holder, attempt)` is called while another writer holds it
        (it may raise to give up). Held already (a repair holding it around the sync it runs), the block just
        runs: the outer hold renews and gives it back."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        attempt = 0
        while (holder := self._call(self._store.take_lease, self.name, self.holder, SECONDS)) != self.holder:
            wait(holder or "nobody", attempt)
            attempt += 1
        done = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(done,), name="files-lease", daemon=True)
        renewer.start()
        self._depth = 1
        try:
            yield
        finally:
            self._depth = 0
            done.set()
            renewer.join()
            try:
                self._store.release_lease(self.name, self.holder)
            except Exception as exc:  # noqa: BLE001 - it expires by itself; the next writer waits that long
                log.warning("files: could not give the writer lease back (it expires in %.0fs): %s", SECONDS, exc)

    def _renew(self, done: threading.Event) -> None:
        while not done.wait(RENEW_EVERY):
            try:
                holder = self._store.take_lease(self.name, self.holder, SECONDS)
            except Exception as exc:  # noqa: BLE001 - a target outage: the writes wait for it as well
                log.warning("files: could not renew the writer lease: %s", exc)
                continue
            if holder != self.holder:
                log.error("files: the writer lease was lost to %s (not renewed for %.0fs)", holder, SECONDS)
