"""A schedule's DST policy: fire times, slots, notes and the instants EventBridge's cron cannot
deliver, per policy, in zones with a one-hour change (Berlin, New York), a 30-minute one
(Lord Howe) and none (Tokyo)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scheduler.cron import (
    DEFAULT_DST_POLICY,
    DstPolicy,
    dst_notes,
    fire_slot,
    last_occurrence,
    next_fire_times,
    policy_fire_slot,
    policy_fire_times,
    policy_instants,
    policy_last_occurrence,
)

BERLIN, NEW_YORK, LORD_HOWE, TOKYO = (
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Tokyo",
)
SHIFT_LAST, SHIFT_BOTH = DstPolicy("shift", "last"), DstPolicy("shift", "both")
POLICIES = [DstPolicy(s, f) for s in ("skip", "shift") for f in ("first", "last", "both")]
# (zone, an instant a few hours before a change, the change's instant): 2027's changes
CHANGES = [
    (BERLIN, datetime(2027, 3, 27, 22, tzinfo=UTC), datetime(2027, 3, 28, 1, tzinfo=UTC)),
    (BERLIN, datetime(2027, 10, 30, 22, tzinfo=UTC), datetime(2027, 10, 31, 1, tzinfo=UTC)),
    (NEW_YORK, datetime(2027, 3, 14, 3, tzinfo=UTC), datetime(2027, 3, 14, 7, tzinfo=UTC)),
    (NEW_YORK, datetime(2027, 11, 7, 2, tzinfo=UTC), datetime(2027, 11, 7, 6, tzinfo=UTC)),
    (LORD_HOWE, datetime(2026, 10, 3, 12, tzinfo=UTC), datetime(2026, 10, 3, 15, 30, tzinfo=UTC)),
    (LORD_HOWE, datetime(2027, 4, 3, 12, tzinfo=UTC), datetime(2027, 4, 3, 15, tzinfo=UTC)),
]


def utc(month: int, day: int, hour: int, minute: int = 0, year: int = 2027) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (DEFAULT_DST_POLICY, [utc(3, 29, 0, 30)]),  # skipped that night
        (DstPolicy("shift"), [utc(3, 28, 1), utc(3, 29, 0, 30)]),  # at 03:00 CEST
    ],
)
def test_spring_forward_per_policy_in_berlin(policy: DstPolicy, expected: list[datetime]) -> None:
    # Given 02:30 daily in Berlin, whose clocks jump from 02:00 to 03:00 on 2027-03-28
    # When listed under the policy
    fires = policy_fire_times("30 2 * * *", BERLIN, utc(3, 27, 12), len(expected), policy=policy)
    # Then skip has no fire that night, shift fires at the first instant after the gap
    assert fires == expected


@pytest.mark.parametrize(
    ("fall_back", "expected"),
    [
        ("first", [utc(10, 31, 0, 30), utc(11, 1, 1, 30)]),  # 02:30 CEST
        ("last", [utc(10, 31, 1, 30), utc(11, 1, 1, 30)]),  # 02:30 CET
        ("both", [utc(10, 31, 0, 30), utc(10, 31, 1, 30)]),
    ],
)
def test_fall_back_per_policy_in_berlin(fall_back: str, expected: list[datetime]) -> None:
    # Given 02:30 daily in Berlin, whose 02:00-03:00 occurs twice on 2027-10-31
    policy = DstPolicy("skip", fall_back)  # type: ignore[arg-type]
    # When listed under the policy
    fires = policy_fire_times("30 2 * * *", BERLIN, utc(10, 30, 12), 2, policy=policy)
    # Then it fires at the first, the second or both of its instants
    assert fires == expected


def test_shifted_gap_times_and_the_fire_after_the_gap_are_one_fire() -> None:
    # Given every 15 minutes in New York, whose 02:00-03:00 does not exist on 2027-03-14
    # When listed under shift across the change (07:00Z is 03:00 EDT)
    fires = policy_fire_times(
        "*/15 * * * *", NEW_YORK, utc(3, 14, 6, 30), 4, policy=DstPolicy("shift")
    )
    # Then the four gap times and 03:00 itself make one fire at 07:00Z, then 03:15 EDT...
    assert fires == [utc(3, 14, 6, 45), utc(3, 14, 7), utc(3, 14, 7, 15), utc(3, 14, 7, 30)]


def test_lord_howe_half_hour_changes() -> None:
    # Given every 15 minutes from 01:00 to 02:59 in Lord Howe: 02:00-02:30 is skipped in
    # October 2026 (+10:30 -> +11), 01:30-02:00 repeats in April 2027 (+11 -> +10:30)
    expr = "*/15 1-2 * * *"
    spring = policy_fire_times(expr, LORD_HOWE, utc(10, 3, 15, 10, 2026), 3, policy=SHIFT_BOTH)
    autumn = policy_fire_times(expr, LORD_HOWE, utc(4, 3, 14, 20), 5, policy=SHIFT_BOTH)
    # Then 02:00 and 02:15 shift to 02:30 (+11) = 15:30Z with 02:30's own fire
    assert spring == [utc(10, 3, 15, 15, 2026), utc(10, 3, 15, 30, 2026), utc(10, 3, 15, 45, 2026)]
    # And 01:30 and 01:45 fire at +11 (14:30Z, 14:45Z) and at +10:30 (15:00Z, 15:15Z)
    repeated = [utc(4, 3, 14, 30), utc(4, 3, 14, 45), utc(4, 3, 15), utc(4, 3, 15, 15)]
    assert autumn == [*repeated, utc(4, 3, 15, 30)]


@pytest.mark.parametrize("policy", POLICIES)
def test_a_zone_without_dst_is_the_same_under_every_policy(policy: DstPolicy) -> None:
    after = utc(1, 1, 0)
    assert policy_fire_times("*/7 * * * *", TOKYO, after, 50, policy=policy) == next_fire_times(
        "*/7 * * * *", TOKYO, after, 50
    )
    assert policy_instants("*/7 * * * *", TOKYO, after, policy) == []


def test_until_and_after_bound_the_fire_times() -> None:
    # Given both instants of Berlin's repeated 02:30, with `until` between them
    fires = policy_fire_times(
        "30 2 * * *", BERLIN, utc(10, 30, 12), 5, until=utc(10, 31, 1), policy=SHIFT_BOTH
    )
    # Then only the first is listed; and from between them on, only the second
    assert fires == [utc(10, 31, 0, 30)]
    assert policy_fire_times("30 2 * * *", BERLIN, utc(10, 31, 0, 30), 1, policy=SHIFT_BOTH) == [
        utc(10, 31, 1, 30)
    ]


def test_slots_per_policy_of_a_repeated_time() -> None:
    first, second = utc(10, 31, 0, 30), utc(10, 31, 1, 30)  # 02:30 CEST, 02:30 CET
    expr = "30 2 * * *"
    # first: either delivery is the first instant's slot (today's rule)
    assert policy_fire_slot(expr, BERLIN, second, DEFAULT_DST_POLICY) == first
    assert fire_slot(expr, BERLIN, second) == first
    # last: the second instant is the slot; a delivery at the first is no slot (a no-op)
    assert policy_fire_slot(expr, BERLIN, second, SHIFT_LAST) == second
    assert policy_fire_slot(expr, BERLIN, first, SHIFT_LAST) is None
    # both: each instant is its own slot
    assert policy_fire_slot(expr, BERLIN, first, SHIFT_BOTH) == first
    assert policy_fire_slot(expr, BERLIN, second, SHIFT_BOTH) == second


def test_slots_per_policy_after_a_gap() -> None:
    after_gap = utc(3, 28, 1)  # 03:00 CEST, the first instant after Berlin's gap
    # shift: the gap's end is the slot of a gap time the cron names
    assert policy_fire_slot("30 2 * * *", BERLIN, after_gap, DstPolicy("shift")) == after_gap
    # skip: it is no slot of a cron that names only gap times
    assert policy_fire_slot("30 2 * * *", BERLIN, after_gap, DEFAULT_DST_POLICY) is None
    # shift, but the cron names no gap time (nor 03:00): no slot
    assert policy_fire_slot("30 4 * * *", BERLIN, after_gap, DstPolicy("shift")) is None
    # a delivery off the whole minute is never a slot
    assert (
        policy_fire_slot("30 2 * * *", BERLIN, after_gap + timedelta(seconds=1), SHIFT_BOTH) is None
    )


def test_last_occurrence_per_policy() -> None:
    first, second = utc(10, 31, 0, 30), utc(10, 31, 1, 30)
    # first: the slot may be delivered at either instant, so it is due after the second
    assert policy_last_occurrence(first, BERLIN, DEFAULT_DST_POLICY) == second
    assert last_occurrence(first, BERLIN) == second
    # last / both: each slot is delivered at its own instant only
    assert policy_last_occurrence(first, BERLIN, SHIFT_BOTH) == first
    assert policy_last_occurrence(second, BERLIN, SHIFT_LAST) == second


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    change=st.sampled_from(CHANGES),
    policy=st.sampled_from(POLICIES),
    expr=st.sampled_from(
        ["*/15 * * * *", "30 2 * * *", "0 * * * *", "*/10 1-3 * * *", "45 1 * * *", "0 3 * * *"]
    ),
)
def test_fire_times_are_exactly_the_instants_that_are_their_own_slot(
    change: tuple[str, datetime, datetime], policy: DstPolicy, expr: str
) -> None:
    # Given a window of six hours around a change, minute by minute
    zone, after, _ = change
    until = after + timedelta(hours=6)
    minutes = [after + timedelta(minutes=k) for k in range(1, 6 * 60 + 1)]
    # When listed under the policy
    fires = policy_fire_times(expr, zone, after, 10_000, until=until, policy=policy)
    # Then they ascend without a duplicate, and are the minutes that are their own slot
    assert fires == sorted(set(fires))
    assert fires == [m for m in minutes if policy_fire_slot(expr, zone, m, policy) == m]
    # And the default policy is next_fire_times'
    if policy.is_default:
        assert fires == next_fire_times(expr, zone, after, 10_000, until=until)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(change=st.sampled_from(CHANGES), policy=st.sampled_from(POLICIES))
def test_instants_for_at_schedules_are_fire_times_the_cron_does_not_make(
    change: tuple[str, datetime, datetime], policy: DstPolicy
) -> None:
    zone, after, _ = change
    expr = "*/20 * * * *"
    until = after + timedelta(hours=6)
    instants = [i for i in policy_instants(expr, zone, after, policy) if i <= until]
    fires = set(policy_fire_times(expr, zone, after, 10_000, until=until, policy=policy))
    plain = set(next_fire_times(expr, zone, after, 10_000, until=until))
    # Every extra instant is a fire time under the policy; every fire time the cron does not
    # make is one of them (under both, the repeated times' first instants are too)
    assert set(instants) <= fires
    assert fires - plain <= set(instants)
    if policy.fall_back == "both":
        repeated = {f for f in fires if policy_last_occurrence(f, zone, DEFAULT_DST_POLICY) != f}
        assert repeated <= set(instants)


def test_instants_per_policy_in_berlin() -> None:
    after = utc(3, 1, 0)
    # shift: the gap's end once; last: the second instants; both: both instants
    assert policy_instants("30 2 * * *", BERLIN, after, DstPolicy("shift")) == [utc(3, 28, 1)]
    assert policy_instants("30 2 * * *", BERLIN, after, DstPolicy("skip", "last")) == [
        utc(10, 31, 1, 30)
    ]
    assert policy_instants("30 2 * * *", BERLIN, after, SHIFT_BOTH) == [
        utc(3, 28, 1),
        utc(10, 31, 0, 30),
        utc(10, 31, 1, 30),
    ]
    # a cron that names 03:00 fires the gap's end itself: no extra instant for it
    assert policy_instants("0,30 2-3 * * *", BERLIN, after, DstPolicy("shift")) == []
    # only the next `changes` changes count
    assert policy_instants("30 2 * * *", BERLIN, after, SHIFT_BOTH, changes=1) == [utc(3, 28, 1)]


def test_notes_say_what_the_policy_does() -> None:
    after = utc(3, 1, 0)
    shifted, twice = dst_notes("30 2 * * *", BERLIN, after, policy=SHIFT_BOTH)
    assert (shifted.kind, shifted.at) == ("shifted", utc(3, 28, 1))
    assert shifted.note == (
        "02:30 does not exist on 2027-03-28 in Europe/Berlin: this fire runs at 03:00 CEST"
        " (01:00 UTC) instead (springForward shift)"
    )
    assert (twice.kind, twice.at, twice.fires) == ("twice", utc(10, 31, 0, 30), 1)
    assert twice.note == (
        "02:30 occurs twice on 2027-10-31 in Europe/Berlin: this fire runs twice, at 02:30 CEST"
        " (00:30 UTC) and again at 02:30 CET (01:30 UTC) (fallBack both)"
    )
    _, last = dst_notes("30 2 * * *", BERLIN, after, policy=SHIFT_LAST)
    assert (last.kind, last.at) == ("once", utc(10, 31, 1, 30))
    assert last.note.endswith(
        "runs once, at 02:30 CET (01:30 UTC), not at 02:30 CEST (fallBack last)"
    )
    # several gap times, and the cron's own fire after the gap
    (many,) = dst_notes(
        "*/30 2-3 * * *", BERLIN, after, horizon=timedelta(days=60), policy=SHIFT_LAST
    )
    assert many.note == (
        "02:00 and 02:30 do not exist on 2027-03-28 in Europe/Berlin: these 2 fires run once"
        " at 03:00 CEST (01:00 UTC) instead, together with the 03:00 fire (springForward shift)"
    )
    # the default policy's notes are unchanged
    skipped, once = dst_notes("30 2 * * *", BERLIN, after)
    assert (skipped.kind, once.kind, once.at) == ("skipped", "once", utc(10, 31, 0, 30))


def test_policy_from_a_stored_value() -> None:
    assert DstPolicy.of(None) == DEFAULT_DST_POLICY
    assert DstPolicy.of({"spring_forward": "shift"}) == DstPolicy("shift", "first")
    assert DstPolicy("shift", "both").as_columns() == {
        "spring_forward": "shift",
        "fall_back": "both",
    }
    with pytest.raises(ValueError, match="fallBack must be one of first, last, both"):
        DstPolicy.of({"fall_back": "twice"})
    with pytest.raises(ValueError, match="springForward must be one of skip, shift"):
        DstPolicy.of({"spring_forward": 1})
