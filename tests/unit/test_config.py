"""Settings parsed from the environment (scheduler.config): the missed-fire check's interval,
read from ReconcileSchedule's EventBridge schedule expression as the template passes it."""

from __future__ import annotations

import pytest
from scheduler.config import Settings, from_environment


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(15 minutes)", 900),  # the template's default
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(1 hour)", 3600),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86_400),
        # a cron(...) schedule has no single interval: taken as the default 15 minutes
        ("cron(0/10 * * * ? *)", 900),
        # not schedules EventBridge takes
        ("rate(0 minutes)", 900),
        ("rate(15 fortnights)", 900),
        ("rate(x minutes)", 900),
    ],
)
def test_the_missed_fire_checks_interval_is_read_from_the_reconcile_schedule(
    expression: str, seconds: int
) -> None:
    settings = from_environment_with({"RECONCILE_SCHEDULE": expression})
    assert settings.missed_fire_check_interval_s == seconds


def test_without_a_reconcile_schedule_the_check_runs_every_15_minutes() -> None:
    assert Settings().missed_fire_check_interval_s == 900


def from_environment_with(values: dict[str, str]) -> Settings:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in values.items():
            patch.setenv(name, value)
        return from_environment()
