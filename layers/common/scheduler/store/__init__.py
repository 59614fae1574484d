"""The database: the connection, the migrations and every SQL statement of the product.

Owns: the process-wide connection (db), Supabase-style migrations (migrate), keyset cursors
(pagination), and one query module per concept: schedules, runs, the queue of waiting runs, the
missed-fire check, run history, API keys, per-owner limits, the EventBridge sync state.

The only package that imports psycopg. May import: cron, platform.
"""
