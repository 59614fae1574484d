-- API keys: the product's own service credentials (scheduler/key_service.py), for backends
-- once Supabase's legacy service_role JWT is gone. A key is `wsk_<id>_<secret>`; only the
-- SHA-256 of its secret is kept. Revoking sets revoked_at (the row stays, for audits).

create table if not exists public.api_keys (
  -- also the key's public part: the id in `wsk_<id>_...`
  id uuid primary key,
  -- SHA-256 of the key's 256-bit secret
  secret_sha256 bytea not null check (length(secret_sha256) = 32),
  name text not null check (length(name) between 1 and 100),
  -- the one owner (auth.users.id) whose workflows the key acts on; null: every tenant
  owner_id uuid,
  read_only boolean not null default false,
  -- who made it: "service_role", "api_key:<id>", or "operator:<name>" (make api-key)
  created_by text not null check (length(created_by) between 1 and 200),
  created_at timestamptz not null default now(),
  -- refreshed at most once a minute (scheduler/key_store.py)
  last_used_at timestamptz,
  -- before year 10000 in UTC, the last instant a client library can read back
  expires_at timestamptz check (expires_at < '10000-01-01 00:00:00+00'),
  revoked_at timestamptz
);

-- The listing's order (newest first, keyset-paged).
create index if not exists api_keys_created_idx on public.api_keys (created_at desc, id desc);
-- Revoking a key revokes the keys it issued: found by created_by.
create index if not exists api_keys_created_by_idx on public.api_keys (created_by);

-- Row level security on, and no policy for anon or authenticated: Supabase clients can neither
-- read the digests nor mint a key by inserting a row. The API connects as the database owner,
-- and service_role bypasses RLS anyway.
alter table public.api_keys enable row level security;
revoke all on public.api_keys from anon, authenticated;
grant all on public.api_keys to service_role;
