"""The local stack's view of alerts: a rule on moto's default bus, a queue, a line per alert.

The runner publishes to moto's EventBridge exactly as it does in AWS; a rule with the pattern
of template.yaml's AlertsToAlarmTopicRule sends each alert to an SQS queue (in place of the
SNS topic: moto cannot show a topic's messages, and a queue is something to read), and a
thread prints one line per alert. So the log shows what a subscriber of the topic would get,
through the same routing, and nothing the runner does differs from AWS.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("devstack")

QUEUE_NAME = "workflow-scheduler-alerts"  # and the rule's; each stack adds a suffix
_POLL_WAIT_S = 1  # SQS long poll: how soon the thread notices a stop
_KEPT_LINES = 1000  # a long `make run` keeps only the latest


def create_alert_route(events: Any, sqs: Any) -> str:
    """A rule and its queue of this stack's own; returns the queue's URL.

    Named apart per stack: moto keeps one state per process, so stacks started in one process
    (the tests' restarts) would otherwise share one queue, and one stack's reader would take
    the other's alerts.
    """
    from scheduler.run import alerts

    name = f"{QUEUE_NAME}-{secrets.token_hex(4)}"
    url = str(sqs.create_queue(QueueName=name)["QueueUrl"])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(Name=name, EventPattern=json.dumps(alerts.EVENT_PATTERN))
    events.put_targets(Rule=name, Targets=[{"Id": "alerts-queue", "Arn": arn["QueueArn"]}])
    return url


def alert_line(event: dict[str, Any]) -> str:
    """One line a person reads: what happened, to which schedule and slot, and why."""
    detail = event.get("detail") or {}
    workflow = detail.get("workflowName") or detail.get("workflowId")
    return (
        f"ALERT {event.get('detail-type')}: schedule {detail.get('scheduleId')}"
        f" (workflow {workflow!r}), slot {detail.get('scheduledTime')},"
        f" run {detail.get('runId')}: {detail.get('error')}"
    )


class AlertLog:
    """Reads the alerts queue on a thread and says one line per alert; keeps the lines."""

    def __init__(self, sqs: Any, queue_url: str, say: Callable[[str], None]) -> None:
        self._sqs = sqs
        self._url = queue_url
        self._say = say
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._run, name="alert-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(_POLL_WAIT_S + 5)

    def wait_for(self, text: str, timeout_s: float) -> str | None:
        """The first line containing `text`, waiting up to `timeout_s` for it (tests)."""
        found = self.wait_for_lines(text, 1, timeout_s)
        return found[0] if found else None

    def wait_for_lines(self, text: str, count: int, timeout_s: float) -> list[str]:
        """The lines containing `text`, once there are `count` (or `timeout_s` passed)."""

        def matching() -> list[str]:
            return [line for line in self.lines if text in line]

        with self._changed:
            self._changed.wait_for(lambda: len(matching()) >= count, timeout=timeout_s)
            return matching()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                answer = self._sqs.receive_message(
                    QueueUrl=self._url, MaxNumberOfMessages=10, WaitTimeSeconds=_POLL_WAIT_S
                )
                for message in answer.get("Messages", []):
                    self._show(json.loads(message["Body"]))
                    self._sqs.delete_message(
                        QueueUrl=self._url, ReceiptHandle=message["ReceiptHandle"]
                    )
            except Exception:  # moto stopping, or a malformed body: keep the stack up
                log.debug("reading the alerts queue failed", exc_info=True)
                self._stop.wait(_POLL_WAIT_S)

    def _show(self, event: dict[str, Any]) -> None:
        line = alert_line(event)
        self._say(line)
        with self._changed:
            self.lines.append(line)
            del self.lines[:-_KEPT_LINES]
            self._changed.notify_all()
