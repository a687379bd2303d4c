"""`graphsync checkpoints` on plain data: positions in words and as a table."""

from __future__ import annotations

import argparse
from pathlib import Path

from graphsync.commands import specfile
from graphsync.commands.checkpoints import positions_text
from graphsync.positions import Position, group_detail, slot_detail


def test_a_slot_and_a_stream_group_are_said_in_words() -> None:
    slot = {"confirmed": "0/1A2B3C", "restart": "0/1A0000", "active": True, "heldBytes": 4096}
    assert slot_detail(slot) == "confirmed 0/1A2B3C, in use, holds 4,096 bytes of WAL"
    assert slot_detail({**slot, "active": False, "heldBytes": 0}) == "confirmed 0/1A2B3C, idle"
    group = {"lastDelivered": "1700000000000-3", "pending": 2, "lag": 1500}
    assert group_detail(group) == "delivered up to 1700000000000-3, 2 pending, 1,500 left to read"
    assert group_detail({**group, "lag": None}).endswith("unknown left to read")


def test_positions_print_as_a_table_with_what_they_mean() -> None:
    found = [
        Position("postgres", "snapshot", {"version": 0, "completed": True}),
        Position("slot", "graphsync_shop", {"confirmed": "0/16"}, "confirmed 0/16, in use"),
    ]
    data = [position.summary() for position in found]
    assert positions_text(data, False).splitlines() == [
        "STORE      NAME             VALUE",
        'postgres   snapshot         {"version":0,"completed":true}',
        'slot       graphsync_shop   {"confirmed":"0/16"}',
        "                            confirmed 0/16, in use",
    ]
    # Wide: what each means in a column of its own.
    assert positions_text(data, True).splitlines()[2].split()[-4:] == ["confirmed", "0/16,", "in", "use"]
    assert positions_text([], False) == "no positions kept (yet)"


def test_an_engine_command_names_its_pipeline_by_file() -> None:
    parser = argparse.ArgumentParser()
    specfile.file_option(lambda _args: 0)(parser)
    args = parser.parse_args(["-f", "p.yaml"])
    assert args.file == Path("p.yaml")
    assert args.handler(args) == 0
