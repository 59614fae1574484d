"""The schedule list's filters at 1,000,000 schedules: one owner's first page, unfiltered and
filtered by label, q, lastRunStatus and all combined, through ApiFunction's handler.

A database of its own holds 1,000,000 schedules written by generate_series: 1,000 owners, one of
them (the measured owner) with every 10th schedule (100,000) over 20 workflows, the others about
900 each over 5.
Spread as a real fleet would be: created over a year; labels `team` (one of 20), `env` (prod,
staging, dev), `region` (one of 5) and on a tenth `tier=gold`; about 2% named "... nightly ...";
last run status 85% succeeded, 8% failed, 3% skipped, the rest never ran; 90% enabled. The
measured owner's schedules have their newest run in schedule_runs, which the page reads.

Each case is a GET /api/schedules with its query string (the default page of 20), timed in the
handler, cases interleaved round by round so that the shared machine's noise hits all alike;
reported as p50/p95 in ms, and each filtered p50 over the unfiltered one (`.ratio`).
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from urllib.parse import urlencode

from bench import backends

DATABASE = "bench_search"
SCHEDULES = backends.sized(1_000_000, 2_000)
OWNERS = backends.sized(1_000, 10)
ROUNDS = backends.sized(60, 3)
OWNER = uuid.UUID("00000000-0000-4000-8000-0000005ea4c4")
# name -> query string parameters (each finds a full first page at 1M, q_none nothing)
CASES: dict[str, list[tuple[str, str]]] = {
    "unfiltered": [],
    "label": [("label", "team=team-7")],
    "labels_2": [("label", "team=team-7"), ("label", "env=prod")],
    "q": [("q", "nightly")],
    "q_none": [("q", "no such text")],
    "last_run_failed": [("lastRunStatus", "failed")],
    "last_run_skipped": [("lastRunStatus", "skipped")],
    "combined": [("label", "env=prod"), ("lastRunStatus", "failed"), ("enabled", "true")],
}


def measure() -> dict[str, float]:
    backends.configure_environment()
    with backends.own_database(DATABASE) as url, backends.quiet_logs():
        return _measure(url)


def fill(url: str) -> float:
    """The rows (see the module); the seconds it took."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        # owner 0 is the measured one; workflows 1..20 are its, the others 5 per owner
        conn.execute(
            """insert into workflows (owner_id, name)
               select case when o = 0 then %(owner)s
                           else ('00000000-0000-4000-8000-' || lpad(o::text, 12, '0'))::uuid
                      end,
                      'workflow ' || o || '.' || n
               from generate_series(0, %(owners)s - 1) o,
                    generate_series(1, case when o = 0 then 20 else 5 end) n""",
            {"owner": OWNER, "owners": OWNERS},
        )
        conn.execute(
            """create temporary table owner_workflows as
               select w.id, w.owner_id = %(owner)s as measured,
                      row_number() over (partition by w.owner_id = %(owner)s order by w.id) - 1
                        as n
               from workflows w""",
            {"owner": OWNER},
        )
        # Every 10th schedule is the measured owner's, so its rows are spread over the year
        # among the others'. Each row's traits come from a hash of g, so that
        # they are independent of each other and of the owner (hashint4: PostgreSQL's own hash).
        conn.execute(
            """insert into schedules (workflow_id, cron, enabled, name, note, external_id,
                                      labels, created_at, last_run_status,
                                      last_run_scheduled_time)
               select wf.id, '0 * * * *', (h / 7) %% 10 <> 0,
                      case when (h / 13) %% 50 = 7 then 'report ' || g || ' nightly'
                           else 'report ' || g end,
                      case when g %% 3 = 0 then 'owned by team ' || h %% 20 end,
                      case when g %% 2 = 0 then 'ext-' || g end,
                      jsonb_build_object(
                        'team', 'team-' || h %% 20,
                        'env', (array['prod', 'staging', 'dev'])[(h / 20) %% 3 + 1],
                        'region', 'region-' || (h / 60) %% 5)
                        || case when (h / 300) %% 10 = 3 then '{"tier": "gold"}'::jsonb
                                else '{}'::jsonb end,
                      now() - g * (interval '365 days' / %(schedules)s),
                      st.status,
                      case when st.status is not null then now() - interval '1 hour' end
               from generate_series(1, %(schedules)s) g
               cross join lateral (select hashint4(g)::bigint + 2147483648 as h) hash
               cross join lateral (
                 select case when (h / 17) %% 100 < 85 then 'succeeded'
                             when (h / 17) %% 100 < 93 then 'failed'
                             when (h / 17) %% 100 < 96 then 'skipped' end as status) st
               join owner_workflows wf
                 on wf.measured = (g %% 10 = 0)
                and wf.n = case when g %% 10 = 0 then (g / 10) %% 20
                                else g %% ((%(owners)s - 1) * 5) end""",
            {"schedules": SCHEDULES, "owners": OWNERS},
        )
        # the measured owner's newest runs, as the runner recorded them (the page reads them)
        conn.execute(
            """insert into schedule_runs (schedule_id, workflow_id, trigger, scheduled_time,
                                          status, started_at, finished_at, attempt, error)
               select s.id, s.workflow_id, 'schedule', s.last_run_scheduled_time,
                      s.last_run_status, s.last_run_scheduled_time,
                      s.last_run_scheduled_time + interval '2 seconds', 1,
                      case when s.last_run_status = 'failed' then 'HTTP 500' end
               from schedules s
               where s.owner_id = %(owner)s and s.last_run_status is not null""",
            {"owner": OWNER},
        )
        # As autovacuum would have left the tables: visibility map set, statistics fresh.
        conn.execute("vacuum analyze workflows, schedules, schedule_runs")
    return time.perf_counter() - started


def _measure(url: str) -> dict[str, float]:
    from devstack.apigw import LambdaContext, build_http_api_event
    from functions.api.app import lambda_handler

    fill_s = fill(url)
    claims = {"sub": str(OWNER), "role": "authenticated", "aud": "authenticated"}

    def list_page(params: list[tuple[str, str]]) -> tuple[float, int]:
        event = build_http_api_event("GET", "/api/schedules", urlencode(params), {}, None, claims)
        started = time.perf_counter()
        response = lambda_handler(event, LambdaContext())
        elapsed = time.perf_counter() - started
        if response["statusCode"] != 200:
            raise RuntimeError(f"{params} answered {response}")
        return elapsed, len(json.loads(response["body"])["items"])

    for name, params in CASES.items():  # warm: the connection, imports, caches; and check
        _, items = list_page(params)
        found = items == 20 or (backends.smoke() and items > 0)
        if (name == "q_none") != (items == 0) or (name != "q_none" and not found):
            raise RuntimeError(f"{name}: {items} items on the first page")
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(ROUNDS):
        for name, params in CASES.items():
            times[name].append(list_page(params)[0])

    results: dict[str, float] = {"search.schedules": SCHEDULES, "search.fill_s": fill_s}
    unfiltered_p50 = statistics.median(times["unfiltered"])
    for name, samples in times.items():
        ms = [1000 * t for t in samples]
        results[f"search.{name}_ms.p50"] = statistics.median(ms)
        results[f"search.{name}_ms.p95"] = _p95(ms)
        if name != "unfiltered":
            results[f"search.{name}.ratio"] = statistics.median(samples) / unfiltered_p50
    return results


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]
