"""E2E: a failing workflow's run shows up as an ALERT line of the local stack.

The runner publishes to moto's EventBridge; the stack's rule (the template's pattern) sends the
event to a queue the stack reads and says one line per alert (devstack.alert_log).
"""

from __future__ import annotations

from devstack.stack import Stack
from tests.e2e.conftest import (
    WAIT_S,
    Api,
    MakeWorkflow,
    advance_to_next_minute,
    iso,
    sync_engine,
)


def test_a_failing_scheduled_run_is_shown_as_one_alert_line(
    stack: Stack, api1: Api, make_workflow: MakeWorkflow
) -> None:
    # Given an every-minute schedule of a workflow whose http step gets a 404
    workflow = make_workflow(path="/demo/no-such-endpoint")
    schedule = api1.create_schedule(workflow.id, "* * * * *")
    sync_engine(stack)

    # When the clock passes the next minute
    fire_time = advance_to_next_minute(stack)

    # Then the run is recorded failed, and the stack shows its Run Failed alert
    [run] = api1.runs(schedule["id"])
    assert run["status"] == "failed"
    assert stack.alert_log is not None
    line = stack.alert_log.wait_for(run["id"], WAIT_S)
    assert line is not None, "no alert line for the failed run"
    assert line.startswith(f"ALERT Run Failed: schedule {schedule['id']}")
    assert f"slot {iso(fire_time)}" in line
    assert "HTTP 404" in line
    assert [seen for seen in stack.alert_log.lines if run["id"] in seen] == [line]
