-- migrate: no-transaction
-- The Run Missed alerts still to send (scheduler/missed_fires.py resends them each pass).
-- Built concurrently, alone in its file and outside any transaction (scheduler/migrate.py), so
-- the runner's writes go on while it scans the run history.
create index concurrently if not exists schedule_runs_missed_alert_pending_idx
  on public.schedule_runs (scheduled_time) where missed_alert_pending;
