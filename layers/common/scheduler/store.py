"""All SQL of the product. Parameterised statements only; rows come back as dicts (snake_case).

`owner` arguments scope a query to the workflows one user owns; `None` means the service
itself (the runner, reconcile, a service-role caller) and sees every row. Scoping is done here,
in SQL, so a query can never forget it; RLS guards the same tables for Supabase clients.
Driver errors never leave this module raw: they become domain errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql

from scheduler.db import Connection, Database
from scheduler.definitions import load_definition
from scheduler.errors import (
    InvalidInput,
    InvalidWorkflowDefinition,
    ScheduleNotFound,
    WorkflowNotFound,
)

Row = dict[str, Any]
Cursor = tuple[datetime, UUID]  # keyset pagination position: (sort timestamp, id) of the last row

_OWNED = "(%(owner)s::uuid is null or w.owner_id = %(owner)s::uuid)"
_UPDATABLE_SCHEDULE_COLUMNS = frozenset({"cron", "timezone", "enabled", "disabled_reason"})
# The definition comes as text and is loaded here, so a document the driver cannot load (nested
# too deep, a number out of range) is reported as such instead of failing the read.
_WORKFLOW_COLUMNS = """w.id, w.owner_id, w.name, w.definition::text as definition, w.status,
    w.run_count, w.last_run_at, w.last_run_status, w.lease_fence, w.created_at, w.updated_at"""
# One message for a run whose lease expired unrecorded: its runner crashed or outlived the lease.
ABANDONED_RUN_ERROR = "abandoned: its lease expired before it recorded a result"
# A newer lease started while this run's own lease was still live: two holders at once, which
# only a lock fault or clock skew beyond the tolerance can cause. Said as it is, not as expired.
SUPERSEDED_RUN_ERROR = "superseded: a newer lease of its workflow started while its lease was live"


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Group several store calls into one transaction (all or nothing)."""
        with self.db.transaction() as conn:
            yield conn

    @contextmanager
    def _integrity_errors(self) -> Iterator[None]:
        try:
            yield
        except psycopg.errors.CheckViolation as exc:
            raise InvalidInput(f"rejected by the database: {exc.diag.constraint_name}") from exc

    # --- workflows (owned by the host app; the scheduler reads them, tests and demos create)

    def create_workflow(
        self, owner_id: UUID, name: str, definition: dict[str, Any] | None = None
    ) -> Row:
        with self._integrity_errors():
            row = self.db.execute(
                "insert into workflows as w (owner_id, name, definition)"
                f" values (%s, %s, %s::jsonb) returning {_WORKFLOW_COLUMNS}",
                (owner_id, name, json.dumps(definition or {"steps": []})),
            ).fetchone()
        assert row is not None
        return _loaded(row)

    def get_workflow(self, workflow_id: UUID, owner: UUID | None = None) -> Row:
        row = self.db.execute(
            f"select {_WORKFLOW_COLUMNS} from workflows w where w.id = %(id)s and {_OWNED}",
            {"id": workflow_id, "owner": owner},
        ).fetchone()
        if row is None:
            raise WorkflowNotFound(workflow_id)
        return _loaded(row)

    def list_workflows(
        self, owner: UUID | None, *, limit: int = 50, after: Cursor | None = None
    ) -> list[Row]:
        rows = self.db.execute(
            f"""select {_WORKFLOW_COLUMNS} from workflows w
                where {_OWNED}
                  and (%(after_at)s::timestamptz is null
                       or (w.created_at, w.id) < (%(after_at)s, %(after_id)s::uuid))
                order by w.created_at desc, w.id desc limit %(limit)s""",
            _page({"owner": owner, "limit": limit}, after),
        ).fetchall()
        return [_loaded(row) for row in rows]

    # --- schedules

    def create_schedule(
        self,
        owner: UUID | None,
        *,
        workflow_id: UUID,
        cron: str,
        timezone: str,
        enabled: bool,
    ) -> Row:
        """Insert a schedule for a workflow the owner has; WorkflowNotFound otherwise."""
        params = {
            "owner": owner,
            "workflow_id": workflow_id,
            "cron": cron,
            "timezone": timezone,
            "enabled": enabled,
        }
        try:
            with self._integrity_errors():
                row = self.db.execute(
                    f"""insert into schedules (workflow_id, cron, timezone, enabled)
                        select w.id, %(cron)s, %(timezone)s, %(enabled)s from workflows w
                        where w.id = %(workflow_id)s and {_OWNED}
                        returning *""",
                    params,
                ).fetchone()
        except psycopg.errors.ForeignKeyViolation as exc:  # the workflow was deleted meanwhile
            raise WorkflowNotFound(workflow_id) from exc
        if row is None:
            raise WorkflowNotFound(workflow_id)
        return row

    def get_schedule(self, schedule_id: UUID, owner: UUID | None = None) -> Row:
        row = self.db.execute(
            f"""select s.* from schedules s join workflows w on w.id = s.workflow_id
                where s.id = %(id)s and {_OWNED}""",
            {"id": schedule_id, "owner": owner},
        ).fetchone()
        if row is None:
            raise ScheduleNotFound(schedule_id)
        return row

    def lock_schedule_writers(self, schedule_id: UUID) -> None:
        """Take the schedule's writer lock until the transaction ends (waiting for its holder).

        A transaction-scoped advisory lock keyed on the id, not a row lock: it serialises the
        writers of one schedule (API writes, their undo, reconcile's repair), which hold it
        across their EventBridge calls, while the runner, which never takes it, claims runs and
        records outcomes without waiting. Transaction-scoped, so it works through the
        transaction pooler and cannot outlive a failed Lambda.
        """
        conn = self.db.connection()
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            raise RuntimeError("a schedule's writer lock needs a transaction: use transaction()")
        self.db.execute("select pg_advisory_xact_lock(%s)", (_writer_lock_key(schedule_id),))

    def lock_schedule(self, schedule_id: UUID, owner: UUID | None = None) -> Row:
        """Take the schedule's writer lock, then read the row as committed by the last writer.

        The row itself is not locked (see lock_schedule_writers). ScheduleNotFound if it is
        gone or not the owner's.
        """
        self.lock_schedule_writers(schedule_id)
        # A statement of its own: its snapshot is taken after the lock was granted, so it sees
        # what the previous holder committed.
        return self.get_schedule(schedule_id, owner)

    def list_schedules(
        self,
        owner: UUID | None,
        *,
        workflow_id: UUID | None = None,
        enabled: bool | None = None,
        limit: int = 50,
        after: Cursor | None = None,
    ) -> list[Row]:
        """Newest first, keyset-paginated on (created_at, id)."""
        params = {"owner": owner, "workflow_id": workflow_id, "enabled": enabled, "limit": limit}
        return self.db.execute(
            f"""select s.* from schedules s join workflows w on w.id = s.workflow_id
                where {_OWNED}
                  and (%(workflow_id)s::uuid is null or s.workflow_id = %(workflow_id)s::uuid)
                  and (%(enabled)s::boolean is null or s.enabled = %(enabled)s::boolean)
                  and (%(after_at)s::timestamptz is null
                       or (s.created_at, s.id) < (%(after_at)s, %(after_id)s::uuid))
                order by s.created_at desc, s.id desc limit %(limit)s""",
            _page(params, after),
        ).fetchall()

    def iter_all_schedules(self, batch: int = 1000) -> Iterator[Row]:
        """Every schedule, in id order, a batch per query (reconcile reads them all)."""
        last: UUID | None = None
        while True:
            rows = self.db.execute(
                """select * from schedules where (%(last)s::uuid is null or id > %(last)s::uuid)
                   order by id limit %(batch)s""",
                {"last": last, "batch": batch},
            ).fetchall()
            yield from rows
            if len(rows) < batch:
                return
            last = rows[-1]["id"]

    def update_schedule(
        self, schedule_id: UUID, owner: UUID | None, changes: dict[str, Any]
    ) -> Row:
        """Apply `changes` (column -> value) and return the new row."""
        unknown = set(changes) - _UPDATABLE_SCHEDULE_COLUMNS
        if unknown or not changes:
            raise InvalidInput(f"cannot update schedule fields {sorted(unknown) or '(none)'}")
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column))
            for column in sorted(changes)
        )
        query = sql.SQL(
            """update schedules s set {assignments} from workflows w
               where w.id = s.workflow_id and s.id = %(id)s and """
            + _OWNED
            + " returning s.*"
        ).format(assignments=assignments)
        with self._integrity_errors():
            row = self.db.execute(query, {**changes, "id": schedule_id, "owner": owner}).fetchone()
        if row is None:
            raise ScheduleNotFound(schedule_id)
        return row

    def delete_schedule(self, schedule_id: UUID, owner: UUID | None = None) -> Row:
        """Delete and return the deleted row (its runs go with it: on delete cascade)."""
        row = self.db.execute(
            f"""delete from schedules s using workflows w
                where w.id = s.workflow_id and s.id = %(id)s and {_OWNED}
                returning s.*""",
            {"id": schedule_id, "owner": owner},
        ).fetchone()
        if row is None:
            raise ScheduleNotFound(schedule_id)
        return row

    # --- run history

    def list_runs(
        self,
        schedule_id: UUID,
        owner: UUID | None = None,
        *,
        limit: int = 50,
        after: Cursor | None = None,
    ) -> list[Row]:
        """Runs of a schedule, newest scheduled time first; ScheduleNotFound if not visible."""
        self.get_schedule(schedule_id, owner)
        return self.db.execute(
            """select * from schedule_runs r
               where r.schedule_id = %(schedule_id)s
                 and (%(after_at)s::timestamptz is null
                      or (r.scheduled_time, r.id) < (%(after_at)s, %(after_id)s::uuid))
               order by r.scheduled_time desc, r.id desc limit %(limit)s""",
            _page({"schedule_id": schedule_id, "limit": limit}, after),
        ).fetchall()

    def get_schedule_with_last_run(
        self, schedule_id: UUID, owner: UUID | None = None
    ) -> tuple[Row, Row | None]:
        """A schedule and its newest run (None before the first), in one round trip."""
        row = self.db.execute(
            f"""select s.*, to_jsonb(r) as last_run
                from schedules s join workflows w on w.id = s.workflow_id
                left join lateral (
                  select * from schedule_runs
                  where schedule_id = s.id order by scheduled_time desc, id desc limit 1
                ) r on true
                where s.id = %(id)s and {_OWNED}""",
            {"id": schedule_id, "owner": owner},
        ).fetchone()
        if row is None:
            raise ScheduleNotFound(schedule_id)
        last_run = row.pop("last_run")
        return row, last_run

    # --- runner (the service itself: no owner scoping; timestamps come from the runner's clock)

    def claim_run_slot(
        self,
        schedule_id: UUID,
        workflow_id: UUID,
        scheduled_time: datetime,
        *,
        trigger: str,
        attempt: int,
        claim_token: str,
        started_at: datetime,
        lease_expires_at: datetime,
    ) -> Row:
        """Read the schedule with its workflow and claim the (schedule, scheduled time) slot.

        One statement, safe to repeat. The slot is claimed when it has no run yet, or when its
        run was claimed but never started, either by this `claim_token` (a retry of the same
        invocation, whose earlier attempt ended) or by a claim whose lease has expired.
        Returns the schedule (`cron`, `timezone`, `enabled`), the workflow (`workflow_name`,
        `definition_json`: the definition's text, loaded by the runner), `run_id` (the claimed
        run; None when the schedule is disabled or the slot is held) and `existing`, the slot's
        run as it was before this statement (None if it had none). ScheduleNotFound if the
        schedule is gone or is not the workflow's.
        """
        try:
            row = self.db.execute(
                """with target as (
                     select s.id as schedule_id, s.workflow_id, s.cron, s.timezone, s.enabled,
                            w.name as workflow_name, w.definition::text as definition_json
                     from schedules s join workflows w on w.id = s.workflow_id
                     where s.id = %(schedule_id)s and s.workflow_id = %(workflow_id)s
                   ), existing as (
                     select to_jsonb(r) as run from schedule_runs r
                     where r.schedule_id = %(schedule_id)s
                       and r.scheduled_time = %(scheduled_time)s
                   ), claimed as (
                     insert into schedule_runs as r (schedule_id, workflow_id, trigger,
                                                     scheduled_time, attempt, claim_token,
                                                     started_at, lease_expires_at)
                     select schedule_id, workflow_id, %(trigger)s, %(scheduled_time)s,
                            %(attempt)s, %(claim_token)s, %(started_at)s, %(lease_expires_at)s
                     from target where enabled
                     on conflict (schedule_id, scheduled_time) do update
                       set attempt = excluded.attempt, claim_token = excluded.claim_token,
                           started_at = excluded.started_at,
                           lease_expires_at = excluded.lease_expires_at
                       where r.status = 'running' and r.fence is null
                         and (r.claim_token = excluded.claim_token
                              or r.lease_expires_at < excluded.started_at)
                     returning id
                   )
                   select target.*, (select id from claimed) as run_id,
                          (select run from existing) as existing
                   from target""",
                {
                    "schedule_id": schedule_id,
                    "workflow_id": workflow_id,
                    "trigger": trigger,
                    "scheduled_time": scheduled_time,
                    "attempt": attempt,
                    "claim_token": claim_token,
                    "started_at": started_at,
                    "lease_expires_at": lease_expires_at,
                },
            ).fetchone()
        except psycopg.errors.ForeignKeyViolation as exc:  # deleted while we claimed
            raise ScheduleNotFound(schedule_id) from exc
        if row is None:
            raise ScheduleNotFound(schedule_id)
        return row

    def unclaim_run_slot(self, run_id: UUID) -> None:
        """Give back a slot that never started (so a retry of the same fire can claim it)."""
        self.db.execute(
            "delete from schedule_runs where id = %s and status = 'running' and fence is null",
            (run_id,),
        )

    def start_run(
        self,
        run_id: UUID,
        workflow_id: UUID,
        *,
        claim_token: str,
        fence: int,
        lease_expires_at: datetime,
        now: datetime,
        fenced_error: str,
    ) -> Row:
        """Mark the workflow running under lease `fence`, in one statement, safe to repeat.

        Only the run's current claimant (`claim_token`) may start it, and only with a fence no
        older than the workflow's (the same fence again is this start repeated); then every
        other run of the workflow still `running` from an older lease (or never leased and
        expired) is failed as abandoned. A rejected fence fails this run instead. Returns
        `claimed` (the run is still this claimant's), `run_token` (its claimant's token),
        `started` and `abandoned_runs`.
        """
        row = self.db.execute(
            """with mine as (
                 select id from schedule_runs
                 where id = %(run_id)s and claim_token = %(claim_token)s
                   and status = 'running' and (fence is null or fence = %(fence)s)
                 for update
               ), workflow as (
                 update workflows set status = 'running', lease_fence = %(fence)s
                 where id = %(workflow_id)s and lease_fence <= %(fence)s
                   and exists (select 1 from mine)
                 returning id
               ), abandoned as (
                 update schedule_runs
                 set status = 'failed', finished_at = %(now)s,
                     error = case when lease_expires_at >= %(now)s then %(superseded_error)s
                                  else %(abandoned_error)s end
                 where workflow_id = %(workflow_id)s and status = 'running' and id <> %(run_id)s
                   and (fence < %(fence)s or (fence is null and lease_expires_at < %(now)s))
                   and exists (select 1 from workflow)
                 returning id
               ), run as (
                 update schedule_runs set
                   fence = %(fence)s,
                   lease_expires_at = %(lease_expires_at)s,
                   status = case when exists (select 1 from workflow)
                                 then 'running' else 'failed' end,
                   finished_at = case when exists (select 1 from workflow)
                                      then null else %(now)s::timestamptz end,
                   error = case when exists (select 1 from workflow)
                                then null else %(fenced_error)s end
                 where id in (select id from mine)
                 returning id
               )
               select exists (select 1 from mine) as claimed,
                      (select claim_token from schedule_runs where id = %(run_id)s) as run_token,
                      exists (select 1 from workflow) as started,
                      (select count(*) from abandoned) as abandoned_runs,
                      (select count(*) from run) as runs""",
            {
                "run_id": run_id,
                "workflow_id": workflow_id,
                "claim_token": claim_token,
                "fence": fence,
                "lease_expires_at": lease_expires_at,
                "now": now,
                "abandoned_error": ABANDONED_RUN_ERROR,
                "superseded_error": SUPERSEDED_RUN_ERROR,
                "fenced_error": fenced_error,
            },
        ).fetchone()
        assert row is not None
        return row

    def record_skipped_run(self, run_id: UUID, *, now: datetime, reason: str) -> None:
        """Finish a claimed run that did not start because the workflow was busy."""
        self.db.execute(
            """update schedule_runs set status = 'skipped', finished_at = %s, error = %s
               where id = %s and status = 'running' and fence is null""",
            (now, reason, run_id),
        )

    def record_run_outcome(
        self,
        run_id: UUID,
        *,
        schedule_id: UUID,
        workflow_id: UUID,
        fence: int,
        status: str,
        error: str | None,
        output: dict[str, Any] | None,
        started_at: datetime,
        finished_at: datetime,
        disabled_reason: str | None = None,
    ) -> str:
        """Record a finished run in one statement, safe to repeat: the run row, the workflow's
        state, and the schedule (`last_run_at` on success; disabled with the reason on a
        critical error).

        Fenced: nothing is written unless the run is still `running` under `fence`, and the
        workflow only while it is still `running` under `fence`, so a run whose lease a newer
        run took over cannot overwrite it. Returns `recorded` (written now, or by an earlier
        try of this same call), `gone` (the run row was deleted with its schedule: only the
        workflow's state was written) or `superseded` (a newer lease took over: nothing).
        """
        row = self.db.execute(
            """with current_run as (
                 select status, fence from schedule_runs where id = %(run_id)s
               ), run as (
                 update schedule_runs
                 set status = %(status)s, finished_at = %(finished_at)s, error = %(error)s,
                     output = %(output)s::jsonb
                 where id = %(run_id)s and status = 'running' and fence = %(fence)s
                 returning id
               ), workflow as (
                 update workflows
                 set status = 'idle', run_count = run_count + 1, last_run_at = %(started_at)s,
                     last_run_status = %(status)s
                 where id = %(workflow_id)s and lease_fence = %(fence)s and status = 'running'
                   and (exists (select 1 from run) or not exists (select 1 from current_run))
                 returning id
               ), schedule as (
                 update schedules set
                   last_run_at = case when %(succeeded)s
                                      then greatest(last_run_at, %(started_at)s::timestamptz)
                                      else last_run_at end,
                   enabled = enabled and %(disabled_reason)s::text is null,
                   disabled_reason = coalesce(%(disabled_reason)s::text, disabled_reason)
                 where id = %(schedule_id)s
                   and (%(succeeded)s or %(disabled_reason)s::text is not null)
                   and exists (select 1 from run)
                 returning id
               )
               select case
                        when exists (select 1 from run) then 'recorded'
                        when exists (select 1 from current_run
                                     where fence = %(fence)s and status = %(status)s)
                          then 'recorded'
                        when not exists (select 1 from current_run) then 'gone'
                        else 'superseded'
                      end as result,
                      (select count(*) from workflow) as workflows,
                      (select count(*) from schedule) as schedules""",
            {
                "run_id": run_id,
                "schedule_id": schedule_id,
                "workflow_id": workflow_id,
                "fence": fence,
                "status": status,
                "succeeded": status == "succeeded",
                "error": error,
                "output": None if output is None else json.dumps(output, default=str),
                "started_at": started_at,
                "finished_at": finished_at,
                "disabled_reason": disabled_reason,
            },
        ).fetchone()
        assert row is not None
        return str(row["result"])

    def fail_abandoned_runs(self, now: datetime) -> int:
        """Fail every run still `running` whose lease expired before `now` (its runner died);
        its workflow goes back to idle unless another run of it is running. Returns the count.
        """
        row = self.db.execute(
            """with failed as (
                 update schedule_runs
                 set status = 'failed', finished_at = %(now)s, error = %(error)s
                 where status = 'running' and lease_expires_at < %(now)s
                 returning id, workflow_id
               ), idle as (
                 update workflows w set status = 'idle'
                 where w.status = 'running' and w.id in (select workflow_id from failed)
                   and not exists (
                     select 1 from schedule_runs r
                     where r.workflow_id = w.id and r.status = 'running'
                       and r.id not in (select id from failed))
                 returning w.id
               )
               select (select count(*) from failed) as failed, (select count(*) from idle)""",
            {"now": now, "error": ABANDONED_RUN_ERROR},
        ).fetchone()
        assert row is not None
        return int(row["failed"])


def _loaded(row: Row) -> Row:
    """A workflow row with its definition loaded, or None and `definition_error` saying why."""
    try:
        return {**row, "definition": load_definition(row["definition"]), "definition_error": None}
    except InvalidWorkflowDefinition as exc:
        return {**row, "definition": None, "definition_error": str(exc)}


def _writer_lock_key(schedule_id: UUID) -> int:
    """The advisory lock key of a schedule: 64 bits of its id (a collision only serialises)."""
    return int.from_bytes(schedule_id.bytes[:8], "big", signed=True)


def _page(params: dict[str, Any], after: Cursor | None) -> dict[str, Any]:
    after_at, after_id = after if after is not None else (None, None)
    return {**params, "after_at": after_at, "after_id": after_id}
