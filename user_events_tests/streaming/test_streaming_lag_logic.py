"""Pure test: the lag arithmetic and the verdict of the sinks' lag checks, on hand-computed fixtures."""

from __future__ import annotations

import pytest

from user_events.streaming.lag import (
    PartitionOffsets,
    first_unconsumed_offset,
    group_lag,
    judge_lag,
    partition_lag,
)

pytestmark = pytest.mark.unit

NOW_MS = 1_764_000_000_000
GROUP = "user_events.t.mongo_sink"


@pytest.mark.parametrize(
    ("log_start", "log_end", "committed", "lag"),
    [
        (0, 10, None, 10),  # nothing committed: the whole log
        (5, 10, None, 5),  # nothing committed, log start moved by retention
        (0, 10, 7, 3),
        (0, 10, 10, 0),  # caught up
        (8, 10, 3, 7),  # end − committed, as the sinks report it, even below the log start
        (0, 5, 9, 0),  # never negative
        (0, 0, None, 0),  # empty partition
    ],
)
def test_partition_lag_is_end_minus_committed(log_start, log_end, committed, lag):
    assert partition_lag(log_start, log_end, committed) == lag


def test_first_unconsumed_offset_is_the_committed_one_or_the_log_start():
    assert first_unconsumed_offset(0, None) == 0
    assert first_unconsumed_offset(4, None) == 4
    assert first_unconsumed_offset(0, 7) == 7
    assert first_unconsumed_offset(5, 3) == 5  # its message was deleted by retention: the next one


def test_group_lag_sums_partitions_and_takes_the_oldest_unconsumed_message():
    lag = group_lag(
        [
            PartitionOffsets(2, 10, 40, None, NOW_MS - 120_500),  # 30 waiting, the oldest 120.5 s old
            PartitionOffsets(0, 0, 100, 90, NOW_MS - 30_000),  # 10 waiting, 30 s
            PartitionOffsets(1, 0, 50, 50),  # caught up
        ],
        NOW_MS,
    )
    assert lag.messages == 40
    assert lag.oldest_age_seconds == 120.5
    assert [(d["partition"], d["lag"], d["age_seconds"]) for d in lag.partitions] == [
        (0, 10, 30.0),
        (1, 0, 0.0),
        (2, 30, 120.5),
    ]
    assert lag.partitions[1]["first_unconsumed_at"] is None
    assert (
        lag.partitions[0]["first_unconsumed_at"] == "2025-11-24T15:59:30.000+00:00"
    )  # 1_764_000_000 s is 16:00:00, minus 30 s
    assert lag.ages_unknown == ()


def test_nothing_unconsumed_is_age_zero():
    lag = group_lag([PartitionOffsets(0, 0, 5, 5), PartitionOffsets(1, 3, 3, None)], NOW_MS)
    assert (lag.messages, lag.oldest_age_seconds) == (0, 0.0)
    assert group_lag([], NOW_MS).oldest_age_seconds == 0.0


def test_an_unreadable_timestamp_is_left_out_of_the_age_and_named():
    lag = group_lag([PartitionOffsets(0, 0, 5, 2, None), PartitionOffsets(1, 0, 5, 4, NOW_MS - 2_000)], NOW_MS)
    assert (lag.messages, lag.oldest_age_seconds, lag.ages_unknown) == (4, 2.0, (0,))


def test_a_producer_clock_ahead_of_ours_is_age_zero():
    assert group_lag([PartitionOffsets(0, 0, 1, None, NOW_MS + 5_000)], NOW_MS).oldest_age_seconds == 0.0


def lag_of(messages: int, age: float = 0.0):
    return group_lag([PartitionOffsets(0, 0, messages, 0, NOW_MS - int(age * 1000) if messages else None)], NOW_MS)


def judge(messages: int, age: float = 0.0, members: int = 1, ever_committed: bool = True, **limits):
    limits = {"max_messages": 10_000, "max_seconds": 300.0, **limits}
    return judge_lag(lag_of(messages, age), members=members, ever_committed=ever_committed, group=GROUP, **limits)


def test_a_live_caught_up_group_passes():
    verdict = judge(0)
    assert verdict.passed and verdict.problems == ()
    assert verdict.summary == "lag 0 messages, oldest unconsumed 0s, 1 live member(s)"


def test_the_thresholds_are_exclusive():
    assert judge(10_000, age=300.0).passed
    assert judge(10_001).problems == ("lag 10001 messages > 10000",)
    assert judge(5, age=300.5).problems == ("oldest unconsumed message 300.5s old > 300s",)
    assert judge(3, max_messages=2).problems == ("lag 3 messages > 2",)


def test_no_live_member_fails_even_with_nothing_waiting():
    verdict = judge(0, members=0)
    assert not verdict.passed
    assert verdict.problems == (f"no live member in consumer group {GROUP}",)
    assert verdict.summary.endswith("(lag 0 messages, oldest unconsumed 0s, 0 live member(s))")


def test_a_group_that_never_ran_passes_until_a_message_waits():
    verdict = judge(0, members=0, ever_committed=False)
    assert verdict.passed and "has not started" in verdict.summary
    waiting = judge(5, members=0, ever_committed=False)
    assert waiting.problems == (
        f"no live member in consumer group {GROUP} (it has never committed an offset: the sink has not run here)",
    )


def test_every_problem_is_listed():
    verdict = judge(20_000, age=900, members=0)
    assert len(verdict.problems) == 3 and not verdict.passed
    assert verdict.summary.startswith("no live member")
