"""Who is calling: the principal, Supabase access tokens (JWS, JWKS) and the product's API keys.

Owns: token verification (the authorizer's job), API keys (their form, use cases, the admin
command), and `Principal`, made from what the authorizer vouched for.

May import: sync, run, steps, models, store, cron, platform; not api, not policies. What the
authorizer imports from here (tokens, jws, jwks, api_keys, principal) stays free of pydantic,
psycopg and boto3: it has a cold start of its own to keep short.
"""
