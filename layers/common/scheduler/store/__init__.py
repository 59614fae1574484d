"""The database: the connection, the migrations and every SQL statement of the product.

Owns: the process-wide connection (db: `database()`), Supabase-style migrations (migrate),
keyset cursors (pagination), what the query modules share (sql), which schedules a list or a
bulk change is about (schedule_filters: the filter and its SQL condition), and one query module
per concept, each a class over one Database: workflows, schedules, runs, the queue of waiting
runs, the missed-fire check, run history, API keys, per-owner limits, Idempotency-Key records,
the EventBridge sync state and its pending updates, bulk changes, exclusion calendars. A use
case is given the query objects it uses; those over one Database share its transaction.

The only package that imports psycopg. May import: cron, platform.
"""
