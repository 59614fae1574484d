-- Idempotency-Key on POST /api/schedules, run now and backfill (issue #25): the first success
-- of a caller's key, written in the transaction of the effect it answers, so a retry finds
-- either both (and gets the stored answer back) or neither (and does the work once).
-- A new, empty table: nothing waits on its creation.

create table if not exists public.idempotency_keys (
  -- who sent the key: the principal's actor ("user:<id>", "api_key:<id>", "service_role"), so
  -- one caller's key never meets another's
  scope text not null,
  key text not null check (key ~ '^[ -~]{1,255}$'),
  -- the API operation and, for a schedule's run now or backfill, the schedule in the path
  operation text not null,
  -- sha256 of the request's path and canonical body: the same key with another request is a 422
  request_fingerprint text not null,
  -- the answer of the first success; null only inside the transaction that claimed the key
  response_status smallint,
  response_body jsonb,
  created_at timestamptz not null default now(),
  -- key before operation: a reuse of the key for another operation is looked up by (scope, key)
  primary key (scope, key, operation)
);

-- The retention pass deletes keys older than a day, oldest first, in bounded batches.
create index if not exists idempotency_keys_created_at_idx
  on public.idempotency_keys (created_at);

-- Row level security on, and no policy: only the service (the database owner) reads or writes it.
alter table public.idempotency_keys enable row level security;
revoke all on public.idempotency_keys from anon, authenticated;
grant all on public.idempotency_keys to service_role;
