-- Validate the check that 20261209000202 added NOT VALID (SHARE UPDATE EXCLUSIVE: the API and
-- the runner write throughout). Alone in its transaction.
alter table public.schedules validate constraint schedules_last_run_status_check;
