"""Pure tests: the `lake` resource reads its unset fields from the settings when used; set fields win."""

import pytest

from user_events.config import settings
from user_events.lake.resources import LakeSettings

pytestmark = pytest.mark.unit


def test_topic_and_root_follow_the_environment_unless_set(monkeypatch, tmp_path):
    monkeypatch.delenv("USER_EVENTS_TOPIC", raising=False)
    monkeypatch.delenv("USER_EVENTS_LAKE_DIR", raising=False)
    lake = LakeSettings()
    assert (lake.topic_name(), lake.root()) == ("user_activity", settings().data_dir / "lake")
    monkeypatch.setenv("USER_EVENTS_TOPIC", "other_topic")
    monkeypatch.setenv("USER_EVENTS_LAKE_DIR", str(tmp_path))
    assert (lake.topic_name(), lake.root()) == ("other_topic", tmp_path)
    pinned = LakeSettings(topic="pinned", lake_dir=str(tmp_path / "pinned"))
    assert (pinned.topic_name(), pinned.root()) == ("pinned", tmp_path / "pinned")
