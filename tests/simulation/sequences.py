"""The operations of a seed: random, but the same for the same seed (its themes, weights, and
the shapes of the operations' dicts, which `operations.apply` applies)."""

from __future__ import annotations

import random
from typing import Any

from tests.simulation.faults import DEPENDENCIES, ONE_SHOTS

Op = dict[str, Any]
CRONS = {"* * * * *": 1, "*/5 * * * *": 2, "*/15 * * * *": 3, "0 * * * *": 4, "30 1 * * *": 1}
TIMEZONES = ["UTC", "America/New_York", "Europe/London"]
WINDOWS_S = [60, 600, 3600, 86400]
DURATIONS_S = [0, 20, 90, 240]
# How often the missed-fire check runs (ReconcileSchedule: rate(15 minutes) by default, a
# deploy parameter; the local stack runs it every minute).
CHECK_MINUTES = [5, 15]


# Each seed leans towards one kind of trouble (seed % len(THEMES)): weights of its operations
# and crons over the defaults. Sequences of any theme can hold every operation.
THEMES: list[dict[str, Any]] = [
    {"name": "mixed"},
    {
        "name": "long outages",
        "ops": {"everything_down": 5, "advance": 2},
        "crons": {"* * * * *": 5},
        "windows": [3600, 86400],
        "catchups": ["latest", "all"],
        "outage_hours": [9, 12, 30],
    },
    {
        "name": "retention while the check is down",
        "ops": {"check_down_for_days": 5, "retention": 3},
        "crons": {"* * * * *": 0, "*/5 * * * *": 0},
    },
    {
        "name": "pauses racing fires",
        "ops": {"pause_racing_a_fire": 8, "resume": 6},
        "crons": {"* * * * *": 4},
        "overlap": "buffer_one",
    },
    {
        "name": "dependency faults",
        "ops": {"outage": 12, "one_shot": 12},
        "windows": [60],
        "check_minutes": [1],
    },
]


def theme_of(seed: int) -> dict[str, Any]:
    return THEMES[seed % len(THEMES)]


def sequence(seed: int, length: int = 16) -> list[Op]:
    """The operations of one seed: random, but the same for the same seed."""
    rng = random.Random(seed * 7919 + 1)
    theme = theme_of(seed)
    ops: list[Op] = [_create_op(rng, theme) for _ in range(rng.randint(1, 3))]
    for _ in range(length):
        ops.append(_random_op(rng, theme))
    ops = _with_one_time_and_bulk(seed, _with_this_rounds_states(seed, ops))
    return _with_exceptions_and_calendars(seed, ops)


def _with_exceptions_and_calendars(seed: int, ops: list[Op]) -> list[Op]:
    """Exceptions of one occurrence and exclusion calendars, drawn from a random of their own
    (the operations drawn before stay as they were): skips and moves of an upcoming fire time
    (their answers lost and retried with the same Idempotency-Key, EventBridge failing during a
    move's at() write), removals; calendars of dates near the clock, schedules excluding them,
    edits of their dates (tests.simulation.excepted, tests.simulation.calendars)."""
    rng = random.Random(seed * 32452843 + 26)
    out: list[Op] = []
    for index, op in enumerate(ops):
        out.append(op)
        if op["op"] == "create" or rng.random() < 0.1:
            out.append(_exception_op(rng, f"except-{seed}-{index}"))
        if rng.random() < 0.04:
            out.append(
                {"op": "unexcept", "which": rng.randrange(1000), "lose_answer": rng.random() < 0.3}
            )
        if rng.random() < 0.08:
            out.append({"op": "calendar", "timezone": rng.choice(TIMEZONES), "days": _days(rng)})
        if rng.random() < 0.1:
            calendars = rng.sample(range(4), rng.choice([0, 1, 1, 2]))
            out.append({"op": "exclude", "schedule": rng.randrange(1000), "calendars": calendars})
        if rng.random() < 0.05:
            out.append({"op": "edit_calendar", "calendar": rng.randrange(1000), "days": _days(rng)})
    return out


def _exception_op(rng: random.Random, key: str) -> Op:
    op: Op = {
        "op": rng.choice(["skip", "move"]),
        "schedule": rng.randrange(1000),
        "nth": rng.choice([0, 0, 1, 3]),
        "note": rng.choice([None, "sim: closed"]),
        "key": key if rng.random() < 0.5 else None,
    }
    op["lose_answer"] = op["key"] is not None and rng.random() < 0.5
    if op["op"] == "move":
        # off the crons' minutes mostly (a move onto another fire time is refused, 409)
        op["by_minutes"] = rng.choice([-22, -13, 3, 7, 45, 182, 1501])
        op["eventbridge"] = rng.choice([None, None, None, None, "before", "after", "orphan"])
    return op


def _days(rng: random.Random) -> list[list[int]]:
    """A calendar's dates: day offsets from today in its zone, [start, end] each."""
    first = rng.choice([0, 0, 1, 2])
    days = [[first, first + rng.choice([0, 0, 1])]]
    if rng.random() < 0.3:
        days.append([first + 3, first + 3])
    return days


# Minutes from the create (or PATCH) to a one-time schedule's `at`.
AT_MINUTES = [2, 7, 30, 90, 600]


def _with_one_time_and_bulk(seed: int, ops: list[Op]) -> list[Op]:
    """One-time schedules and bulk changes, drawn from a random of their own (the operations
    drawn before stay as they were): some creates fire once, at `at` (an instant, or a wall
    time in the zone), instead of on their cron; PATCHes of `at` re-arm one (or make a
    recurring one one-time); each schedule has a group (a label), and bulk pauses and resumes
    of a group (or of all) come with faults: the answer lost and retried (with or without an
    Idempotency-Key), no time left in the request for EventBridge, the drain invocation it
    starts lost, EventBridge failing in the middle of a drain (tests.simulation.bulk)."""
    rng = random.Random(seed * 15485863 + 4)
    out: list[Op] = []
    for index, op in enumerate(ops):
        op = dict(op)
        if op["op"] == "create":
            op["group"] = rng.choice(["a", "b"])
            if rng.random() < 0.3:
                op["at_minutes"] = rng.choice(AT_MINUTES)
                op["at_wall"] = rng.random() < 0.5
        out.append(op)
        if rng.random() < 0.08:
            out.append(
                {
                    "op": "edit_at",
                    "schedule": rng.randrange(1000),
                    "minutes": rng.choice(AT_MINUTES),
                    "wall": rng.random() < 0.5,
                }
            )
        if rng.random() < 0.12:
            out.append(_bulk_op(rng, f"bulk-{seed}-{index}"))
    return out


def _bulk_op(rng: random.Random, key: str) -> Op:
    return {
        "op": "bulk",
        "action": rng.choice(["pause", "resume"]),
        "group": rng.choice(["a", "b", None]),
        "key": key if rng.random() < 0.5 else None,
        "lose_answer": rng.random() < 0.4,
        "budget_s": rng.choice([8.0, 8.0, 0.0]),
        "drain": rng.choice(["runs", "runs", "lost"]),
        "interrupt_after": rng.choice([None, None, 0, 1]),
    }


# An input's `x`: text the URL would have to encode, numbers, objects, lists, unicode, null.
INPUT_VALUES: list[Any] = ["a/b?c&d=e#f", 42, {"deep": [1, "two"]}, "ünï ✓", "", None, 3.5]


def _with_this_rounds_states(seed: int, ops: list[Op]) -> list[Op]:
    """Issue #25's states, drawn from a random of their own (so the operations drawn before
    stay as they were for the same seed): each schedule's input and pauseAfterFailures (and a
    target that fails often enough to reach it), Idempotency-Keys on create, run now and
    backfill with lost answers, PATCHes of the input, retries of old keyed requests, and faults
    at the record of a run (the statement that counts failures and pauses)."""
    rng = random.Random(seed * 104729 + 25)
    out: list[Op] = []
    for index, op in enumerate(ops):
        op = dict(op)
        if op["op"] == "create":
            op["input"] = {"nonce": f"n{seed}-{index}", "v": 0, "x": rng.choice(INPUT_VALUES)}
            op["pause_after"] = rng.choice([None, None, 1, 2, 3])
            if op["pause_after"] is not None:
                op["fail_percent"] = rng.choice([10, 30, 60])
        if op["op"] in ("create", "run_now", "backfill") and rng.random() < 0.5:
            op["key"] = f"key-{seed}-{index}"
            op["lose_answer"] = rng.random() < 0.5
        out.append(op)
        if rng.random() < 0.12:
            out.append(
                {"op": "edit_input", "schedule": rng.randrange(1000), "x": rng.choice(INPUT_VALUES)}
            )
        if rng.random() < 0.08:
            out.append({"op": "retry_keyed", "request": rng.randrange(1000)})
        if rng.random() < 0.08:  # the next record of a run (one that may pause or recover)
            kind = rng.choice(["lost_answer", "error", "death_after"])
            out.append({"op": "one_shot", "of": "record", "kind": kind})
    return out


def _create_op(rng: random.Random, theme: dict[str, Any]) -> Op:
    crons = {**CRONS, **theme.get("crons", {})}
    return {
        "op": "create",
        "cron": rng.choices(list(crons), weights=list(crons.values()))[0],
        "timezone": rng.choice(TIMEZONES),
        "catchup": rng.choice(theme.get("catchups", ["skip", "latest", "all"])),
        "window": rng.choice(theme.get("windows", WINDOWS_S)),
        "overlap": theme.get("overlap") or rng.choice(["skip", "buffer_one"]),
        "duration_s": rng.choice(DURATIONS_S),
        "fail_percent": rng.choice([0, 0, 10]),
    }


def _random_op(rng: random.Random, theme: dict[str, Any]) -> Op:
    weights = {**_WEIGHTS, **theme.get("ops", {})}
    which = rng.choices(list(weights), weights=list(weights.values()))[0]
    pick = rng.randrange(1000)  # which schedule: modulo the live ones when applied
    if which == "create":
        return _create_op(rng, theme)
    if which in ("pause", "resume", "delete", "run_now", "pause_racing_a_fire"):
        return {"op": which, "schedule": pick}
    if which == "edit_cron":
        return {"op": which, "schedule": pick, "cron": rng.choice(list(CRONS))}
    if which == "edit_timezone":
        return {"op": which, "schedule": pick, "timezone": rng.choice(TIMEZONES)}
    if which == "backfill":
        return {"op": which, "schedule": pick, "hours": rng.choice([1, 6, 24])}
    if which == "outage":
        return {
            "op": which,
            "of": rng.choice(DEPENDENCIES),
            "minutes": rng.choice([2, 4, 10, 30, 90]),
        }
    if which == "everything_down":
        return {"op": which, "hours": rng.choice(theme.get("outage_hours", [3, 9, 12, 30]))}
    if which == "check_down_for_days":
        return {"op": which, "days": rng.choice([2, 3, 5]), "keep_days": rng.randint(2, 6)}
    if which == "one_shot":
        return {
            "op": which,
            "of": rng.choice(["database", "dynamodb", "target"]),
            "kind": rng.choice(ONE_SHOTS),
        }
    if which == "retention":
        return {"op": which, "keep_days": rng.randint(2, 6)}
    return {"op": "advance", "minutes": rng.choice([1, 5, 20, 60, 120])}


_WEIGHTS = {
    "create": 2,
    "pause": 3,
    "resume": 3,
    "delete": 1,
    "run_now": 2,
    "edit_cron": 2,
    "edit_timezone": 1,
    "backfill": 2,
    "outage": 6,
    "everything_down": 1,
    "check_down_for_days": 1,
    "one_shot": 6,
    "pause_racing_a_fire": 2,
    "retention": 1,
    "advance": 6,
}
