-- The outcome of a schedule's newest finished run, kept on the schedule itself so that the
-- list filters by it (GET /api/schedules?lastRunStatus=failed) through an index instead of
-- reading every schedule's newest run (issue #25). `last_run_status` is succeeded, failed or
-- skipped, as the runner records them (store/run_outcome.py; store/runs.py record_skipped_run
-- and the abandoned-run sweep's fail_abandoned_runs: in the statements that record the run, no
-- extra round trip); `last_run_scheduled_time` is
-- that run's slot, so a run recorded out of order (an older slot finishing after a newer one)
-- never overwrites the newer outcome. Null: no run recorded yet.
-- Nullable without a default: metadata only, no table rewrite. The check is NOT VALID (no scan
-- here); 20261209000203 validates it. 20261209000204 fills both for the existing schedules, and
-- the owner_id that 20261208000300 left null on the schedules written before it (the index of
-- an owner's page, 20261209000205, reads it). Alone in its transaction, giving up after a
-- second (see 20261208000500).
set local lock_timeout = '1s';

alter table public.schedules
  add column if not exists last_run_status text,
  add column if not exists last_run_scheduled_time timestamptz;

alter table public.schedules drop constraint if exists schedules_last_run_status_check;
alter table public.schedules add constraint schedules_last_run_status_check
  check (case when last_run_status is null then last_run_scheduled_time is null
              else last_run_status in ('succeeded', 'failed', 'skipped')
                   and last_run_scheduled_time is not null end)
  not valid;
