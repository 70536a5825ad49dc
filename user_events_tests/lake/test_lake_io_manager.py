"""The lake IO manager's input side: the load gets exactly the hours of its window that hourly_typed_events read."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg
import pytest

from user_events.asset_keys import HOURLY_TYPED_EVENTS
from user_events.lake.io_manager import LakeIOManager
from user_events.lake.manifests import write_manifest
from user_events.lake.partitions import HOURLY_PARTITIONS
from user_events.lake.resources import LakeSettings

pytestmark = pytest.mark.unit

HOURS = [datetime(2019, 11, 1, h, tzinfo=UTC) for h in range(4)]


def test_load_input_splits_the_window_by_manifest(tmp_path):
    write_manifest(tmp_path, HOURS[0], [{"Key": "a", "Size": 3}])
    write_manifest(tmp_path, HOURS[2], [])
    write_manifest(tmp_path, HOURS[3], [])  # outside the window: not named
    manager = LakeIOManager(lake=LakeSettings(lake_dir=str(tmp_path)))
    context = dg.build_input_context(
        asset_key=HOURLY_TYPED_EVENTS,
        asset_partitions_def=HOURLY_PARTITIONS,
        asset_partition_key_range=dg.PartitionKeyRange("2019-11-01-00:00", "2019-11-01-02:00"),
    )
    typed = manager.load_input(context)
    assert (typed.root, typed.read, typed.unread) == (tmp_path.absolute(), [HOURS[0], HOURS[2]], [HOURS[1]])
