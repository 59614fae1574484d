"""A schedule as it was (scheduler.policies.schedule_versions): its versions rebuilt from its
audit log's changes, newest undone first, and the expected fire times of each."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from scheduler.policies.expected import expected_fires, skip_kind
from scheduler.policies.schedule_versions import versions
from scheduler.run.overlap import OVERLAP_REASON

ROW = {
    "cron": "30 * * * *",
    "run_at": None,
    "timezone": "Europe/Berlin",
    "start_at": datetime(2026, 11, 27, 7, tzinfo=UTC),
    "end_at": None,
    "flexible_window_minutes": 5,
    "created_at": datetime(2026, 11, 26, tzinfo=UTC),
}


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 27, hour, minute, tzinfo=UTC)


def test_each_change_is_undone_newest_first_into_the_version_before_it() -> None:
    changes = [
        {
            "occurred_at": _at(3),
            "changes": {"timezone": {"before": "UTC", "after": "Europe/Berlin"}},
        },
        {
            "occurred_at": _at(5),
            "changes": {
                "cron": {"before": "0 * * * *", "after": "30 * * * *"},
                "startAt": {"before": None, "after": "2026-11-27T07:00:00Z"},
                "note": {"before": None, "after": "ignored: not a field of when it fires"},
            },
        },
    ]

    first, second, now = versions(ROW, changes)

    assert (first.since, first.until, second.since, second.until) == (None, _at(3), _at(3), _at(5))
    assert (now.since, now.until, now.row) == (_at(5), None, ROW)
    assert (second.row["cron"], second.row["timezone"], second.row["start_at"]) == (
        "0 * * * *",
        "Europe/Berlin",
        None,
    )
    assert (first.row["cron"], first.row["timezone"]) == ("0 * * * *", "UTC")
    assert "note" not in first.row


def test_a_value_the_log_cannot_give_back_keeps_the_newer_one() -> None:
    changes = [{"occurred_at": _at(5), "changes": {"startAt": {"before": "not an instant"}}}]

    before, _ = versions(ROW, changes)

    assert before.row["start_at"] == ROW["start_at"]


def test_a_one_time_schedule_made_from_a_cron_was_the_cron_before() -> None:
    one_time = {**ROW, "cron": None, "run_at": _at(9), "start_at": None}
    changes = [
        {
            "occurred_at": _at(5),
            "changes": {
                "cron": {"before": "0 * * * *", "after": None},
                "at": {"before": None, "after": "2026-11-27T09:00:00Z"},
                "startAt": {"before": "2026-11-27T02:00:00Z", "after": None},
            },
        }
    ]

    before, after = versions(one_time, changes)

    fires = list(itertools.islice(expected_fires(before.row, _at(0), _at(5), most=10), 10))
    assert fires == [_at(h) for h in (2, 3, 4, 5)]  # inside its window then, from 02:00
    assert list(expected_fires(after.row, _at(5), _at(12), most=10)) == [_at(9)]


def test_a_skipped_runs_kind_is_read_from_its_error() -> None:
    assert skip_kind(OVERLAP_REASON) == "overlap"
    assert skip_kind("skipped by exception 2026-11-27T07:00:00Z") == "exception"
    assert skip_kind("skipped by calendar holidays") == "calendar"
    assert skip_kind("skipped: its schedule was disabled while it waited") == "disabled"
    assert skip_kind(None) == "other"


def test_a_dst_policy_change_is_undone_and_the_version_before_runs_its_policys_fire_times() -> None:
    # 02:30 in Berlin; on 25 Oct 2026 the clocks show it twice (00:30Z CEST, 01:30Z CET)
    row = {**ROW, "cron": "30 2 * * *", "start_at": None, "dst_policy": None}
    row["created_at"] = datetime(2026, 10, 1, tzinfo=UTC)
    changes = [
        {
            "occurred_at": datetime(2026, 11, 1, tzinfo=UTC),
            "changes": {
                "dstPolicy": {
                    "before": {"springForward": "skip", "fallBack": "both"},
                    "after": {"springForward": "skip", "fallBack": "first"},
                }
            },
        }
    ]

    before, now = versions(row, changes)

    night = (datetime(2026, 10, 24, 22, tzinfo=UTC), datetime(2026, 10, 25, 22, tzinfo=UTC))
    assert list(expected_fires(before.row, *night, most=10)) == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
    ]
    assert list(expected_fires(now.row, *night, most=10)) == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    ]
