"""Settings from the environment, parsed once per process (one cold start).

Read by scheduler.environment and validated by pydantic, as pydantic-settings did (whose import
cost more than the rest of this module). The authorizer's token settings are scheduler.auth.tokens'.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from scheduler import environment

# What the missed-fire check keeps off the retention horizon (Settings.surely_kept_history).
RETENTION_MARGIN = timedelta(days=1)


class Settings(BaseModel):
    # validate_default: as pydantic-settings, a default is checked like a value from the environment
    model_config = ConfigDict(extra="ignore", frozen=True, validate_default=True)

    # Database: a URL (local, tests) or the name of a Secrets Manager secret holding it (AWS).
    database_url: SecretStr | None = None
    database_secret_name: str | None = None
    # Timeouts are per transaction (SET LOCAL), so they hold through the transaction pooler.
    # One database call takes at most connect budget + statement timeout (scheduler.store.db): the
    # defaults (5 s + 3 s) fit the runner's 10 s recording reserve less the release's 1 s.
    # Each connect attempt waits this long at most (libpq's minimum is 2 s) ...
    db_connect_timeout_s: int = Field(default=2, ge=1, le=60)
    # ... and failed attempts are retried, with jittered backoff, within this budget in all.
    db_connect_budget_s: float = Field(default=5, ge=0, le=60)
    # A healthy statement of ours takes milliseconds; one that runs longer (lock waits included)
    # is cancelled and retried rather than eating the caller's budget.
    db_statement_timeout_ms: int = Field(default=3_000, ge=100)
    # Waiting for a lock held by another transaction (an API write, a reconcile repair).
    db_lock_timeout_ms: int = Field(default=2_000, ge=100)
    # A client stalled inside a transaction has its session ended (and locks freed) after this:
    # longer than any wait inside our transactions (EventBridge calls under the writer lock).
    db_idle_in_transaction_timeout_ms: int = Field(default=60_000, ge=1_000)
    # A warm connection idle longer than this is pinged before reuse (the pooler may drop it).
    db_idle_check_s: float = Field(default=60, ge=0)

    # EventBridge Scheduler: where schedules live and what they invoke.
    schedule_group: str = "workflow-scheduler"
    runner_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:runner"
    scheduler_role_arn: str = "arn:aws:iam::000000000000:role/scheduler-invoke-runner"
    schedule_dlq_arn: str = "arn:aws:sqs:us-east-1:000000000000:schedule-dlq"
    schedule_retry_attempts: int = Field(default=3, ge=0, le=185)
    schedule_max_event_age_s: int = Field(default=21_600, ge=60, le=86_400)  # as the template

    # Reconcile: how many invocations share a pass, by schedule-name prefix
    # (scheduler.sync.reconcile). 1, 16 or 256 (a power of 16: the first hex digits of the names);
    # the template allows those.
    reconcile_shards: int = Field(default=1, ge=1, le=256)
    # How far AWS's clock may run ahead of ours: a schedule modified within this of our write is
    # taken as our write (Lambda and AWS keep NTP time, well under a second apart).
    reconcile_clock_tolerance_s: float = Field(default=1.0, ge=0, le=60)
    # Schedules per second one drain of pending EventBridge updates writes (a bulk pause or
    # resume, then the drains that finish it: scheduler.sync.pending). Well under the lowest
    # UpdateSchedule quota AWS documents (50 per second), which every other writer shares.
    eventbridge_drain_rate: float = Field(default=20, gt=0, le=1000)
    # ReconcileFunction, which ApiFunction invokes to drain what a bulk change left pending;
    # empty (the local stack, tests): the next reconcile pass drains it.
    reconcile_function_arn: str = ""

    # Runner: DynamoDB lease lock and workflow steps.
    locks_table: str = "workflow-locks"
    lease_margin_s: int = Field(default=30, ge=1)
    clock_skew_s: int = Field(default=5, ge=0)
    # How long the runner retries a failing dependency in-process before the workflow starts;
    # past that it raises, and Lambda's retry of the invocation resumes where it stopped.
    runner_retry_s: float = Field(default=5, ge=0, le=60)
    # Workflow definitions are user input: http steps may not reach private networks unless allowed.
    allow_private_http_targets: bool = False
    http_step_timeout_s: float = Field(default=10, gt=0, le=300)
    # Header values given as {"secretRef": name} name Secrets Manager secrets under this prefix
    # only (the runner's IAM policy says the same); a read value is kept this long per process.
    workflow_secret_prefix: str = Field(
        default="workflow-secrets/", min_length=1, max_length=256, pattern=r"^[A-Za-z0-9/_+=.@-]+$"
    )
    workflow_secret_ttl_s: float = Field(default=300, ge=0, le=3600)
    # Alerts (scheduler.run.alerts): the EventBridge bus failed runs and disabled schedules go to.
    alert_event_bus: str = Field(default="default", min_length=1, max_length=256)

    # Missed fires (scheduler.policies.missed_fires): a fire time with no run row this long after it
    # was due (after its flexible window, and its repeated autumn occurrence) is missed.
    missed_fire_grace_s: int = Field(default=300, ge=30, le=86_400)
    # How often the check runs: ReconcileFunction's ReconcileSchedule, as the template passes it
    # (`missed_fire_check_interval_s` reads it). A pass more than two of these after the
    # previous one follows an outage of the check, whose slots' catch-up windows count at it.
    reconcile_schedule: str = Field(default="rate(15 minutes)", min_length=1, max_length=256)

    # An outside watchdog's URL (healthchecks.io style) the coordinator GETs after each pass,
    # with /fail appended after a failed one (scheduler.policies.heartbeat). It holds the check's
    # token: a SecretStr, so a repr or a log of the settings does not show it. Empty: no ping.
    heartbeat_url: SecretStr | None = None

    @property
    def heartbeat_ping_url(self) -> str | None:
        """The URL to ping; None when none is set (the template's default is empty)."""
        value = self.heartbeat_url.get_secret_value() if self.heartbeat_url else ""
        return value.strip() or None

    @property
    def missed_fire_check_interval_s(self) -> int:
        """The seconds between two passes of the check: those of a `rate(...)` schedule; a
        `cron(...)` one has no single interval, and is taken as the default 15 minutes."""
        return rate_seconds(self.reconcile_schedule) or DEFAULT_CHECK_INTERVAL_S

    # Per-owner limits (scheduler.policies.owner_limits): how much of the service one tenant may
    # take. They apply per owner acted on, the service role's requests included.
    max_schedules_per_owner: int = Field(default=1000, ge=1, le=100_000)
    run_now_per_minute: int = Field(default=30, ge=1, le=6000)
    # a backfill queues up to 1,000 runs: a few a minute is plenty for a person or a script
    backfill_per_minute: int = Field(default=6, ge=1, le=600)
    # Workflows of one owner whose backfill runs at once: each is a chain of runs that holds a
    # runner slot run after run, so without a cap one tenant's backfills could hold every
    # RunnerConcurrency slot and push other tenants' live fires past the missed-fire grace.
    max_active_backfills_per_owner: int = Field(default=2, ge=1, le=1000)

    # Run history (scheduler.policies.retention): runs scheduled longer ago than this are deleted,
    # except each schedule's latest. At least two days: a run's row is what dedupes a late
    # redelivery of its fire, which can come up to MaxEventAgeSeconds (6 hours) plus a flexible
    # window (up to 24 hours) after its fire time.
    run_history_days: int = Field(default=90, ge=2, le=3650)
    # The audit log (scheduler.store.audit): events older than this are deleted by the same
    # retention pass. Its own period: who changed a schedule is asked long after its runs went.
    audit_retention_days: int = Field(default=365, ge=1, le=3650)

    @property
    def surely_kept_history(self) -> timedelta:
        """How far back a run's row is surely still there: the missed-fire check looks back no
        further, or it would take the rows retention deleted for fire times that never ran
        (recorded missed, and run again under catchupPolicy all). A day less than
        `run_history_days`: a retention pass cuts at its own clock, a check pass at the start of
        its own (which lasts at most 15 minutes)."""
        return timedelta(days=self.run_history_days) - RETENTION_MARGIN

    # The Secrets Manager secret of the legacy HS256 JWT secret, which workflow steps may not
    # read (scheduler.steps.http); the authorizer reads it with the rest of its token settings.
    jwt_secret_name: str | None = None


# ReconcileSchedule's default, rate(15 minutes): the interval taken for a cron(...) schedule.
DEFAULT_CHECK_INTERVAL_S = 900
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86_400}


def rate_seconds(expression: str) -> int | None:
    """The interval of an EventBridge `rate(N minute(s)|hour(s)|day(s))` expression, in
    seconds; None for anything else (a `cron(...)` expression)."""
    text = expression.strip()
    if not (text.startswith("rate(") and text.endswith(")")):
        return None
    count, _, unit = text[len("rate(") : -1].strip().partition(" ")
    seconds = _UNIT_S.get(unit.strip().removesuffix("s"))
    if seconds is None or not (count.isascii() and count.isdigit()) or int(count) < 1:
        return None
    return int(count) * seconds


def from_environment() -> Settings:
    """The settings the process environment gives, validated (ValidationError if one is bad)."""
    return Settings.model_validate(environment.environment_values(Settings.model_fields))


@cache
def get_settings() -> Settings:
    return from_environment()


def secret_setting(value: SecretStr | None, secret_name: str | None) -> str | None:
    """A secret given directly (local, tests) or by its Secrets Manager name (AWS)."""
    return environment.secret_setting(
        None if value is None else value.get_secret_value(), secret_name
    )
