-- Validate the bounds that 20261208000300 added NOT VALID: VALIDATE scans the schedules under a
-- SHARE UPDATE EXCLUSIVE lock, which lets the API and the runner write throughout. Each column
-- is null on every row the scan finds (they are new), so every row passes.
alter table public.schedules validate constraint schedules_name_bounds;
alter table public.schedules validate constraint schedules_external_id_format;
