"""How long the engine keeps its own bookkeeping. Synced data is never touched, nor a dead letter not yet replayed."""

from __future__ import annotations

from pydantic import Field

from graphsync.spec.base import SpecModel

HOUR = 3600
DAY = 24 * HOUR


class Retention(SpecModel):
    completed_events_seconds: int = Field(
        default=DAY,
        ge=60,
        description="outbox events applied to the target (or dead-lettered) are deleted this long after",
    )
    tombstones_seconds: int = Field(
        default=7 * DAY,
        ge=HOUR,
        description=(
            "tombstones (which keep a late, older change from bringing a deleted entity back) are deleted this"
            " long after the delete; longer than any delay a change can have on its way"
        ),
    )
    replayed_dead_letters_seconds: int = Field(
        default=7 * DAY, ge=60, description="dead letters already replayed are deleted this long after the replay"
    )
    abandoned_capture_seconds: int | None = Field(
        default=None,
        ge=DAY,
        description=(
            "unset (the default): the capture of a pipeline no worker runs (deleted with deletionPolicy retain,"
            " or suspended) goes on, so it resumes without loss. Set: this pipeline's workers retire, on the same"
            " engine schema, the capture and events of any pipeline not seen running for this long"
        ),
    )
