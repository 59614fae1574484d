"""Every query object over one Database, for tests (never the product, where each use case gets
the queries it uses): tests seed and inspect rows through the concept's queries
(`queries.schedules.create_schedule`, `queries.db.execute`), and hand a use case its own bundle
(`queries.runner`, `queries.missed_fires`, ...), built over the same Database, so a test's
transaction is the use case's."""

from __future__ import annotations

from dataclasses import dataclass

from scheduler.api.schedules import ScheduleServiceQueries
from scheduler.policies.abandoned_runs import AbandonedRunQueries
from scheduler.policies.backfill import BackfillQueries
from scheduler.policies.missed_fires import MissedFireQueries
from scheduler.policies.periodic_pass import PeriodicPassQueries
from scheduler.run.fire import RunnerQueries
from scheduler.store.api_keys import ApiKeyQueries
from scheduler.store.audit import AuditQueries
from scheduler.store.db import Database, database
from scheduler.store.fire_checks import FireCheckQueries
from scheduler.store.history import HistoryQueries
from scheduler.store.limits import LimitQueries
from scheduler.store.queue import QueueQueries
from scheduler.store.runs import RunQueries
from scheduler.store.schedules import ScheduleQueries
from scheduler.store.sync_state import SyncStateQueries
from scheduler.store.workflows import WorkflowQueries
from scheduler.sync.reconcile import ReconcileQueries


@dataclass(frozen=True)
class AllQueries:
    db: Database
    workflows: WorkflowQueries
    schedules: ScheduleQueries
    runs: RunQueries
    queue: QueueQueries
    fire_checks: FireCheckQueries
    limits: LimitQueries
    api_keys: ApiKeyQueries
    history: HistoryQueries
    sync_state: SyncStateQueries
    audit: AuditQueries

    @classmethod
    def over(cls, db: Database) -> AllQueries:
        return cls(
            db,
            WorkflowQueries(db),
            ScheduleQueries(db),
            RunQueries(db),
            QueueQueries(db),
            FireCheckQueries(db),
            LimitQueries(db),
            ApiKeyQueries(db),
            HistoryQueries(db),
            SyncStateQueries(db),
            AuditQueries(db),
        )

    # --- each use case's own queries, over the same Database

    @property
    def runner(self) -> RunnerQueries:
        return RunnerQueries(self.runs, self.queue)

    @property
    def missed_fires(self) -> MissedFireQueries:
        return MissedFireQueries(self.fire_checks, self.queue)

    @property
    def abandoned_runs(self) -> AbandonedRunQueries:
        return AbandonedRunQueries(self.db, self.runs, self.fire_checks, self.queue)

    @property
    def reconcile(self) -> ReconcileQueries:
        return ReconcileQueries(self.db, self.schedules, self.sync_state)

    @property
    def periodic_pass(self) -> PeriodicPassQueries:
        return PeriodicPassQueries(self.abandoned_runs, self.missed_fires, self.reconcile)

    @property
    def backfill(self) -> BackfillQueries:
        return BackfillQueries.over(self.db)

    @property
    def schedule_service(self) -> ScheduleServiceQueries:
        return ScheduleServiceQueries.over(self.db)


def process_queries() -> AllQueries:
    """The queries over the process's Database (scheduler.store.db.database()), the one the
    handlers use."""
    return AllQueries.over(database())
