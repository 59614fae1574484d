"""The API's data shapes (pydantic v2): camelCase in JSON, snake_case in Python.

Owns: the base model and its checks, the schedules' shapes (create, update, views, previews,
errors), the runs' (run rows, run now, backfill) and the API keys'. Shapes, no behaviour: the
use cases above take and return them; `python -m scheduler.models.schedules schema` writes them
as JSON Schema.

May import: store, cron, platform.
"""
