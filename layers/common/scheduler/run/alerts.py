"""Alerts: the events the product publishes to EventBridge when a run needs a human.

Source `workflow-scheduler`, detail types `Run Failed`, `Schedule Disabled` (the runner
disabled the schedule on a critical error), `Schedule Paused` (its pauseAfterFailures was
reached), `Run Recovered` (the first success after failed runs) and `Run Missed` (for the
missed-fire check), on the bus ALERT_EVENT_BUS (the account's default bus unless set). Nothing
for any other success.

An alert is a notification, never the truth: the run row is. So `publish` comes after the run
is recorded, never raises, never retries past its client's two attempts and its few seconds,
and a failure is logged and counted (`AlertPublishFailed`), never the run's failure. Delivery
is at most once per recorded outcome: only the invocation that recorded it publishes, so a
redelivered fire publishes nothing; a runner that dies between the record and the publish
loses the alert (the run history still shows the run). `dedupeKey` in the detail lets a
consumer drop the copy EventBridge's at-least-once delivery to its target may make.

The detail's `error` is the run's recorded error (what GET .../runs shows), cut to
MAX_ERROR_CHARS: the steps build their errors from parts known to be safe (no header value,
no URL path or query, no secret's value), see http_step and workflows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from uuid import UUID

from aws_lambda_powertools.metrics import MetricUnit

from scheduler import clients
from scheduler.config import get_settings
from scheduler.cron.timezones import iso_utc
from scheduler.observability import logger, metrics

DetailType = Literal[
    "Run Failed", "Run Missed", "Schedule Disabled", "Schedule Paused", "Run Recovered"
]

SOURCE = "workflow-scheduler"
RUN_FAILED: Final[DetailType] = "Run Failed"
RUN_MISSED: Final[DetailType] = "Run Missed"
SCHEDULE_DISABLED: Final[DetailType] = "Schedule Disabled"
SCHEDULE_PAUSED: Final[DetailType] = "Schedule Paused"
RUN_RECOVERED: Final[DetailType] = "Run Recovered"
DETAIL_TYPES = (RUN_FAILED, RUN_MISSED, SCHEDULE_DISABLED, SCHEDULE_PAUSED, RUN_RECOVERED)
# What a rule matches to receive every alert: template.yaml's AlarmTopicRule, the local stack's.
EVENT_PATTERN = {"source": [SOURCE], "detail-type": list(DETAIL_TYPES)}
MAX_ERROR_CHARS = 1000
# PutEvents takes at most ten entries.
ALERTS_PER_CALL = 10
# The most one publish can take (clients.events_client: 2 attempts of 1 s connect + 2 s read,
# plus the retry's backoff of at most 1 s); with less time left it is not tried.
MAX_PUBLISH_S = 7.0
_DEDUPE_SUFFIX = {
    RUN_FAILED: "failed",
    RUN_MISSED: "missed",
    SCHEDULE_DISABLED: "disabled",
    SCHEDULE_PAUSED: "paused",
    RUN_RECOVERED: "recovered",
}


@dataclass(frozen=True)
class RunRef:
    """The run an alert is about: its schedule, workflow, owner and slot."""

    run_id: UUID
    schedule_id: UUID
    workflow_id: UUID
    scheduled_time: datetime  # the slot (for a repeated autumn wall time, its first instant)
    trigger: str
    attempt: int | None = None  # EventBridge's delivery attempt; None for a missed fire
    owner_id: UUID | None = None
    workflow_name: str | None = None


@dataclass(frozen=True)
class Alert:
    detail_type: DetailType
    run: RunRef
    error: str | None
    occurred_at: datetime
    # Schedule Paused, Run Recovered: the consecutive failed runs that paused the schedule, or
    # that the success ended (the detail's `consecutiveFailures`); None: not in the detail.
    consecutive_failures: int | None = None

    def detail(self) -> dict[str, Any]:
        run = self.run
        counted = (
            {}
            if self.consecutive_failures is None
            else {"consecutiveFailures": self.consecutive_failures}
        )
        return {
            "scheduleId": str(run.schedule_id),
            "workflowId": str(run.workflow_id),
            "workflowName": run.workflow_name,
            "ownerId": None if run.owner_id is None else str(run.owner_id),
            "scheduledTime": iso_utc(run.scheduled_time),
            "trigger": run.trigger,
            "runId": str(run.run_id),
            "attempt": run.attempt,
            "error": _truncated(self.error),
            "occurredAt": iso_utc(self.occurred_at),
            # one alert per run and detail type: what a consumer dedupes on
            "dedupeKey": f"{run.run_id}:{_DEDUPE_SUFFIX[self.detail_type]}",
            **counted,
        }

    def entry(self, bus: str) -> dict[str, Any]:
        """The PutEvents entry."""
        return {
            "Source": SOURCE,
            "DetailType": self.detail_type,
            "Detail": json.dumps(self.detail(), separators=(",", ":")),
            "EventBusName": bus,
            "Time": self.occurred_at,
        }


def run_ref(run: Mapping[str, Any], about: Mapping[str, Any]) -> RunRef:
    """The RunRef of a run row (id, schedule_id, workflow_id, scheduled_time, trigger, and
    attempt if known); owner_id and workflow_name from `about` (the row itself, or its
    schedule's or claim's row)."""
    return RunRef(
        run_id=run["id"],
        schedule_id=run["schedule_id"],
        workflow_id=run["workflow_id"],
        scheduled_time=run["scheduled_time"],
        trigger=run["trigger"],
        attempt=run.get("attempt"),
        owner_id=about.get("owner_id"),
        workflow_name=about.get("workflow_name"),
    )


def for_run(
    kind: DetailType, run: Mapping[str, Any], about: Mapping[str, Any], at: datetime
) -> Alert:
    """The alert of `kind` about a run row, saying its error (see run_ref)."""
    return Alert(kind, run_ref(run, about), run["error"], at)


def run_failed(
    run: RunRef, error: str | None, *, occurred_at: datetime, disabled_reason: str | None = None
) -> list[Alert]:
    """The alerts of a run recorded failed: `Run Failed`, and `Schedule Disabled` when the
    record also disabled its schedule (a critical error)."""
    alerts = [Alert(RUN_FAILED, run, error, occurred_at)]
    if disabled_reason is not None:
        alerts.append(Alert(SCHEDULE_DISABLED, run, disabled_reason, occurred_at))
    return alerts


def schedule_paused(
    run: RunRef, reason: str, *, consecutive_failures: int, occurred_at: datetime
) -> Alert:
    """The alert of a failed run whose record paused its schedule (pauseAfterFailures): `run`
    is the failure that reached the threshold, `error` the schedule's disabled reason."""
    return Alert(SCHEDULE_PAUSED, run, reason, occurred_at, consecutive_failures)


def run_recovered(run: RunRef, *, consecutive_failures: int, occurred_at: datetime) -> Alert:
    """The alert of the first success after `consecutive_failures` failed runs: `run` is it."""
    return Alert(RUN_RECOVERED, run, None, occurred_at, consecutive_failures)


def run_missed(run: RunRef, cause: str | None, *, occurred_at: datetime) -> Alert:
    """The alert of a fire time recorded `missed` (the missed-fire check's)."""
    return Alert(RUN_MISSED, run, cause, occurred_at)


def publish(alerts: Sequence[Alert], *, time_left_s: float) -> bool:
    """Publish `alerts` in one PutEvents call; True when every entry was accepted.

    Never raises. Not tried with less than MAX_PUBLISH_S of `time_left_s` (the invocation's),
    so a publish never runs an invocation past its end.
    """
    if not alerts:
        return True
    kinds = [alert.detail_type for alert in alerts]
    if time_left_s < MAX_PUBLISH_S:
        return _failed(kinds, len(alerts), "not published: the invocation's time is nearly up")
    bus = get_settings().alert_event_bus
    try:
        answer = clients.events_client().put_events(Entries=[a.entry(bus) for a in alerts])
    except Exception as exc:  # a throttle, an outage, a timeout, a denied call: all logged
        return _failed(kinds, len(alerts), f"PutEvents failed: {_describe(exc)}")
    # Entries are answered in order, a refused one with an ErrorCode; none is retried here.
    entries = answer.get("Entries") or []
    refused = [i for i, entry in enumerate(entries) if entry.get("ErrorCode")]
    if answer.get("FailedEntryCount") and not refused:  # a count, but no entry says which
        refused = list(range(len(alerts)))
    sent = [kind for i, kind in enumerate(kinds) if i not in refused]
    if sent:
        logger.info("alert published", detail_types=sent)
        metrics.add_metric(name="AlertPublished", unit=MetricUnit.Count, value=len(sent))
    if not refused:
        return True
    codes = sorted({str(entries[i].get("ErrorCode")) for i in refused if i < len(entries)})
    return _failed([kinds[i] for i in refused], len(refused), f"PutEvents refused: {codes}")


def publish_in_chunks(
    alerts: Sequence[Alert], *, remaining_s: Callable[[], float] | None
) -> list[Alert]:
    """Publish `alerts` ALERTS_PER_CALL per PutEvents; the alerts of the calls EventBridge
    accepted whole. `remaining_s`: the invocation's seconds left (None: no limit)."""
    accepted: list[Alert] = []
    for i in range(0, len(alerts), ALERTS_PER_CALL):
        chunk = alerts[i : i + ALERTS_PER_CALL]
        time_left = remaining_s() if remaining_s is not None else MAX_PUBLISH_S * 2
        if publish(chunk, time_left_s=time_left):
            accepted.extend(chunk)
    return accepted


def publish_run_missed(
    runs: Sequence[Mapping[str, Any]], at: datetime, *, remaining_s: Callable[[], float] | None
) -> list[UUID]:
    """One `Run Missed` alert per run row (with owner_id and workflow_name, its alert pending:
    missed_alert_pending); the ids of the runs whose alert EventBridge accepted, for the
    caller to mark sent. The others stay pending, and the missed-fire check's passes send them
    again (the dedupeKey lets a consumer drop one sent twice, its answer lost)."""
    accepted = publish_in_chunks(
        [for_run(RUN_MISSED, r, r, at) for r in runs], remaining_s=remaining_s
    )
    return [alert.run.run_id for alert in accepted]


def _failed(kinds: Sequence[str], count: int, why: str) -> bool:
    logger.error("alert not published", detail_types=kinds, error=why)
    metrics.add_metric(name="AlertPublishFailed", unit=MetricUnit.Count, value=count)
    return False


def _truncated(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_ERROR_CHARS:
        return text
    return text[: MAX_ERROR_CHARS - 1] + "…"


def _describe(exc: Exception) -> str:
    """The failure's class and AWS error code: never its text, which may quote the entries."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return f"{type(exc).__name__}" + (f" ({code})" if code else "")
