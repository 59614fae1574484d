-- migrate: no-transaction
-- The last-run-status filter for one owner, newest first (lastRunStatus=failed: the few
-- failing schedules among many). Partial: the schedules that never ran are not in it. A
-- runner's record whose outcome is the last one's again changes no indexed column here (it may
-- stay a HOT update). Built concurrently, alone in its file (see 20261208000302).
create index concurrently if not exists schedules_owner_last_run_status_idx
  on public.schedules (owner_id, last_run_status, created_at desc, id desc)
  where last_run_status is not null;
