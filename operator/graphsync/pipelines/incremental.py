"""The incremental runner: each mapped table scanned by its watermark column, with an overlap for late commits."""

from __future__ import annotations

from contextlib import ExitStack

from graphsync import targets
from graphsync.connectors.postgres.checkpoints import PostgresCheckpoints
from graphsync.connectors.postgres.watermark import WatermarkSource
from graphsync.pipelines import assembly
from graphsync.pipelines.assembly import Carry
from graphsync.runner.control import RunControl
from graphsync.runner.stats import RunStats
from graphsync.spec.pipeline import PipelineSpec


def run(spec: PipelineSpec, control: RunControl, carry: Carry, epoch: int) -> RunStats:
    column = spec.postgres.watermark_column
    if column is None:
        raise ValueError("mode incremental needs source.postgres.watermarkColumn")
    with ExitStack() as stack:
        checkpoints = PostgresCheckpoints(
            assembly.pg(spec, stack), pipeline=spec.identity, schema=spec.postgres.schema_
        )
        source = WatermarkSource(
            assembly.pg(spec, stack),
            spec.mapped,
            checkpoints,
            column=column,
            overlap_seconds=spec.postgres.watermark_overlap_seconds,
        )
        return assembly.runner(spec, source, targets.sink(spec, stack), control, stack, carry=carry, epoch=epoch).run(
            control.stop
        )
