"""A replication slot read over the streaming replication protocol: each change is decoded once.

A peek (`pg_logical_slot_peek_binary_changes`) decodes the WAL again from the slot's restart position at
every call, and PostgreSQL moves that position only when it logs the running transactions (about every
15 s): at thousands of changes a second most of the server's work was decoding again what it had sent.
`START_REPLICATION` keeps one decoding session open for the life of the connection and sends each
transaction once, as it commits, in commit order.

psycopg 3 has no replication API, but it opens a walsender connection (`replication=database`) and exposes
libpq (`pgconn`), and the protocol is small: after START_REPLICATION the connection is a COPY in both
directions. The server sends XLogData (`w`: a pgoutput message) and keepalives (`k`: how far it has read
the WAL); the client sends standby status updates (`r`): the position it has *flushed*, which becomes the
slot's confirmed position. That position is only ever one the caller confirmed (see `confirm`): what the
target committed. A status goes out every FEEDBACK_SECONDS from a thread of its own, so a reader held back
by a slow target is not taken for a dead client (`wal_sender_timeout`), and asks for a keepalive back,
which tells an idle reader how far it may confirm.

One lock serialises every use of the libpq connection (it is not safe across threads); nobody waits on the
socket while holding it.
"""

from __future__ import annotations

import logging
import re
import select
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import pq

from graphsync.connectors.postgres.logical import pgoutput
from graphsync.connectors.postgres.logical.slot import Slot

log = logging.getLogger(__name__)

# Replication commands take no parameters: the names are checked against the pattern slot names are made by.
_START = "START_REPLICATION SLOT {slot} LOGICAL 0/0 (proto_version '1', publication_names '{publications}')"
_NAME = re.compile(r"graphsync_[0-9a-f]{12}(_events)?")
_XLOG_DATA = struct.Struct("!QQq")
_KEEPALIVE = struct.Struct("!Qq?")
_STATUS = struct.Struct("!cQQQq?")
FEEDBACK_SECONDS = 1.0
FINISH_SECONDS = 10.0
# Messages taken from libpq's buffer under one hold of the lock.
RECEIVED_AT_ONCE = 5000


@dataclass(frozen=True)
class Keepalive:
    """The server has read the WAL up to `wal_end`, and sent every change committed before it."""

    wal_end: int


class StreamEnded(psycopg.OperationalError):
    """The server ended the stream (it shut down, or the slot was dropped): the run starts again."""


class Stream:
    def __init__(self, conn: psycopg.Connection[Any], slot: Slot) -> None:
        self._conn = conn
        self._pgconn = conn.pgconn
        self._slot = slot
        self._lock = threading.Lock()
        self._started = False
        # 0 is InvalidXLogRecPtr: the server leaves the slot where it is until something is confirmed.
        self._confirmed = 0
        # How far the server has sent: the status's "written" position.
        self._sent_up_to = 0
        self._done = threading.Event()
        self._feedback: threading.Thread | None = None

    def start(self) -> None:
        """Start streaming from the slot's confirmed position (idempotent)."""
        if self._started:
            return
        for name in (self._slot.name, self._slot.events):
            if not _NAME.fullmatch(name):
                raise ValueError(f"replication slot or publication name {name!r} is not one graphsync made")
        command = _START.format(slot=self._slot.name, publications=self._slot.publications)
        with self._lock:
            self._pgconn.send_query(command.encode())
            result = self._pgconn.get_result()
            if result is None or result.status != pq.ExecStatus.COPY_BOTH:
                message = result.error_message.decode(errors="replace") if result is not None else "no answer"
                raise psycopg.OperationalError(f"START_REPLICATION on slot {self._slot.name}: {message.strip()}")
        self._started = True
        self._feedback = threading.Thread(target=self._send_feedback, name="slot-feedback", daemon=True)
        self._feedback.start()

    def receive(self, timeout: float) -> list[bytes | Keepalive]:
        """The pgoutput messages and keepalives that arrived, waiting up to `timeout` seconds for the first."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = self._take()
            remaining = deadline - time.monotonic()
            if found or remaining <= 0:
                return found
            select.select([self._pgconn.socket], [], [], remaining)

    def confirm(self, lsn: int) -> None:
        """The slot may move up to `lsn` (an end of transaction the target has, or a keepalive's position with
        nothing left unapplied); told to the server with the next status."""
        with self._lock:
            self._confirmed = max(self._confirmed, lsn)

    def finish(self) -> None:
        """Send the confirmed position and end the stream, so the slot is where the target is before the next
        worker starts (the server handles the status before the end of the copy)."""
        self._done.set()
        if self._feedback is not None:
            self._feedback.join(timeout=FEEDBACK_SECONDS * 5)
        if not self._started or self._conn.closed or self._conn.broken:
            return
        deadline = time.monotonic() + FINISH_SECONDS
        with self._lock:
            self._status(reply=False)
            self._pgconn.put_copy_end()
            self._pgconn.flush()
            # The server answers with its own end of copy (after what it was sending), then the command's end.
            while (size := self._pgconn.get_copy_data(1)[0]) >= 0:
                if size == 0:
                    if time.monotonic() >= deadline:
                        log.warning("slot %s: the server did not end the stream; closing", self._slot.name)
                        return
                    select.select([self._pgconn.socket], [], [], 0.1)
                    self._pgconn.consume_input()
            while self._pgconn.get_result() is not None:
                pass
        self._started = False

    def _take(self) -> list[bytes | Keepalive]:
        found: list[bytes | Keepalive] = []
        consumed = False
        while len(found) < RECEIVED_AT_ONCE:
            size, data = self._pgconn.get_copy_data(1)
            if size == 0:
                if consumed:
                    break
                self._pgconn.consume_input()
                consumed = True
                continue
            if size < 0:
                result = self._pgconn.get_result()
                message = result.error_message.decode(errors="replace").strip() if result is not None else ""
                raise StreamEnded(f"the server ended the replication stream of slot {self._slot.name}: {message}")
            kind = data[0]
            if kind == ord("w"):
                start, _end, _sent = _XLOG_DATA.unpack_from(data, 1)
                self._sent_up_to = max(self._sent_up_to, start)
                found.append(bytes(data[1 + _XLOG_DATA.size :]))
            elif kind == ord("k"):
                wal_end, _sent, reply = _KEEPALIVE.unpack_from(data, 1)
                self._sent_up_to = max(self._sent_up_to, wal_end)
                found.append(Keepalive(wal_end))
                if reply:
                    self._status(reply=False)
        return found

    def _status(self, *, reply: bool) -> None:
        """A standby status update; called with the lock held."""
        now = int((time.time() - pgoutput.POSTGRES_EPOCH) * 1_000_000)
        written = max(self._sent_up_to, self._confirmed)
        self._pgconn.put_copy_data(_STATUS.pack(b"r", written, self._confirmed, self._confirmed, now, reply))
        self._pgconn.flush()

    def _send_feedback(self) -> None:
        while not self._done.wait(FEEDBACK_SECONDS):
            try:
                with self._lock:
                    if self._conn.closed or self._conn.broken:
                        return
                    self._status(reply=True)
            except psycopg.Error as exc:
                # The reader meets the same lost connection and ends the run.
                log.debug("slot status not sent: %s", exc)
                return
