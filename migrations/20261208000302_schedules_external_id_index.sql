-- migrate: no-transaction
-- An external_id is unique per owner (20261208000300). Built concurrently, so the API's and the
-- runner's writes go on during the build; hence alone in its file, outside any transaction
-- (scheduler/migrate.py). Partial: only the rows that have an external_id are in it. NULLS NOT
-- DISTINCT (PostgreSQL 15+): the schedules of workflows without an owner share one namespace
-- instead of escaping the uniqueness.
create unique index concurrently if not exists schedules_owner_external_id_key
  on public.schedules (owner_id, external_id) nulls not distinct
  where external_id is not null;
