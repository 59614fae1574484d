"""Recurring workflow scheduler: the package shared by every Lambda function (the common layer).

One sub-package per concept, layered: a package imports only from the layers below its own
(pyproject.toml's import-linter contracts, checked by `make lint`), top to bottom:

- api/            the Schedules API's use cases, errors -> HTTP, resolver, OpenAPI docs, dashboard
- auth/ policies/ who the caller is (tokens, JWS, JWKS, API keys); the policies of time (missed
                  fires, catch-up, backfill, retention, per-owner limits, the periodic pass)
- sync/ run/      EventBridge upkeep (calls, reconcile, shards); one fire's run (claim, lease,
                  overlap, queue, record, alerts)
- steps/          runWorkflow: definitions, the http and lambda steps, workflow secrets
- models/         the API's data shapes (pydantic), shared by the use cases
- store/          the database: connection, migrations, and the SQL, one query module per concept
- cron/           Unix cron: fields, EventBridge conversion, fire times, DST, descriptions
- the platform, importable from anywhere: clients (AWS clients), config, environment,
  observability, errors

Only store/ imports psycopg; only the AWS client modules import boto3 / botocore; the
authorizer's imports stay free of pydantic, psycopg and boto3.
"""
