-- Per-owner request rates (run now; backfill next): one token bucket per owner and kind of
-- request, so that one tenant's requests cannot starve the others (scheduler/limits.py).
-- A request takes one token in a single upsert, which every ApiFunction instance runs against
-- the same row: the count is exact however many Lambdas serve the owner at once.

create table if not exists public.owner_rate_buckets (
  -- the workflows' owner (auth.users.id); workflows without an owner share the nil uuid
  owner_id uuid not null,
  -- what is limited, e.g. 'run_now'
  kind text not null check (length(kind) between 1 and 32),
  -- tokens left after the last request; refilled by elapsed time at the next one
  tokens double precision not null check (tokens >= 0),
  -- when `tokens` was computed: the newest request time seen
  updated_at timestamptz not null,
  -- whether the last request got a token (what the upsert answers)
  granted boolean not null,
  primary key (owner_id, kind)
);

-- Row level security on, and no policy: Supabase clients can neither read nor write the
-- buckets (a client that could write its own would lift its limit). The API connects as the
-- database owner, which RLS does not restrict.
alter table public.owner_rate_buckets enable row level security;
revoke all on public.owner_rate_buckets from anon, authenticated;
grant all on public.owner_rate_buckets to service_role;
