"""The Idempotency-Key invariants (issue #25): one schedule, one run, one backfill per key, and a
retry answered as the first request was (the client's own findings: tests.simulation.client)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.simulation.model import iso

if TYPE_CHECKING:
    from tests.simulation.world import World


def request_violations(world: World) -> list[str]:
    found = list(world.client.findings)
    row = world.api_db.execute("select count(*) as schedules from schedules").fetchone()
    live = len(world.model.live())
    if row is not None and row["schedules"] != live:
        found.append(
            f"[one schedule per key] the database holds {row['schedules']} schedules, the "
            f"client created {live} (retries of a live key create none)"
        )
    for visit in world.target.visits:
        if visit.trigger == "manual" and (visit.schedule_id, visit.slot) not in world.manual_slots:
            found.append(
                f"[one run per key] schedule {visit.schedule_id} manual run {iso(visit.slot)}: "
                "no run-now answer named it (a retry ran it again?)"
            )
    return found
