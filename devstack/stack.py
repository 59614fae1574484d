"""The whole product on one machine, in one process: `Stack(data_dir).start()` ... `.stop()`.

PostgreSQL (pgserver, data in `<data_dir>/pg`), moto for DynamoDB, the Scheduler API, SQS and
EventBridge (alerts, shown one line each: devstack.alert_log),
the local Lambda service running the real handlers, the API gateway in front of ApiFunction,
and the EventBridge engine firing RunnerFunction. Handler code learns where everything is
only through the environment (`DATABASE_URL`, `AWS_ENDPOINT_URL_<SERVICE>`, ...), as in AWS.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from devstack.alert_log import AlertLog, create_alert_route
from devstack.clock import Clock, SystemClock
from devstack.console import LOG_DIR, Console
from devstack.demo import (
    DEMO_USERS,
    DemoEndpoint,
    ensure_demo_service_key,
    ensure_demo_workflow,
    load_or_create_secret,
    sign_token,
)
from devstack.engine import SchedulerEngine
from devstack.heartbeats import RECONCILE, Heartbeats
from devstack.lambda_endpoint import LocalLambda
from devstack.lambda_invocations import AsyncFailure
from devstack.local_functions import (
    API_FUNCTION,
    DLQ_NAME,
    RUNNER_FUNCTION,
    engine_scheduler_client,
    runner_concurrency_from_environment,
    template_functions,
)
from devstack.local_servers import LateApp, Router, Server
from devstack.missed_fire_loop import MissedFireLoop
from devstack.moto_server import start_moto_server
from devstack.stack_environment import StackEnvironment
from devstack.stack_shutdown import StackShutdown

log = logging.getLogger("devstack")

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "migrations"
# The missed-fire check's period (ReconcileFunction's in AWS), on the stack's clock.
MISSED_CHECK_INTERVAL_S = 60.0
_RUN_FAILURE_QUEUE_NAME = "workflow-scheduler-run-failures"  # the template's RunFailureQueue

Say = Callable[[str], None]


class StackAlreadyRunning(RuntimeError):
    def __init__(self, data_dir: Path, pid: str) -> None:
        who = f"pid {pid}" if pid else "another process"
        super().__init__(f"a local stack ({who}) is already running with {data_dir}")
        self.pid = pid


@dataclass(frozen=True)
class StackUser:
    sub: UUID
    token: str
    workflow_id: UUID


class Stack(StackEnvironment, StackShutdown):
    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 3000,
        clock: Clock | None = None,
        poll_interval_s: float = 5.0,
        say: Say | None = None,
        runner_concurrency: int | None = None,
        missed_check_interval_s: float | None = MISSED_CHECK_INTERVAL_S,
    ) -> None:
        """`runner_concurrency`: RunnerFunction's reserved concurrency (default
        RUNNER_CONCURRENCY, else the template's default). `missed_check_interval_s`: how often
        (on the stack's clock) the missed-fire check runs, after one at start-up; None: never
        on its own (tests that drive time call `check_missed_fires`)."""
        self.data_dir = data_dir.resolve()
        self.runner_concurrency = runner_concurrency or runner_concurrency_from_environment()
        self.run_failure_queue_url = ""
        self.alerts_queue_url = ""
        self.alert_log: AlertLog | None = None
        self.console: Console | None = None
        self._product_log_stream: Any = None  # the product logger's stream before ours
        self.clock = clock or SystemClock()
        self._requested_port = port
        self._poll_interval_s = poll_interval_s
        self._say = say or (lambda message: log.info("%s", message))
        self.demo = DemoEndpoint()
        self.heartbeats = Heartbeats(self._say, missed_check_interval_s)
        self.demo.heartbeat = self.heartbeats.as_json
        self.users: list[StackUser] = []
        self.service_token = ""
        self.service_key = ""
        self.database_url = ""
        self.api_url = ""
        self.aws_url = ""
        self._lock_file: Any = None
        self._pg: Any = None
        self._moto: Any = None
        self._gateway: Server | None = None
        self._lambda_server: Server | None = None
        self.lambdas: LocalLambda | None = None
        self.engine: SchedulerEngine | None = None
        self.missed_fires: MissedFireLoop | None = None
        self._missed_check_interval_s = missed_check_interval_s
        self._saved_env: dict[str, str | None] = {}

    @property
    def state_file(self) -> Path:
        return self.data_dir / "stack.json"

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- start

    def start(self) -> Stack:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.console = Console(
            self.data_dir / LOG_DIR,
            self._say,
            runner_function=RUNNER_FUNCTION,
            workflow_name=self._workflow_name,
        )
        router = Router(self.demo)
        self._gateway = Server(self._requested_port, self.console.wsgi(router))
        self.api_url = self._gateway.url
        self._say(f"Starting PostgreSQL (pgserver, data in {self.data_dir / 'pg'}) ...")
        self._start_postgres()
        self._say("Applying migrations ...")
        from scheduler.store.migrate import apply_migrations

        applied = apply_migrations(self.database_url, MIGRATIONS)
        self._say(f"  {len(applied)} migration(s) applied" if applied else "  schema up to date")
        self._say("Starting moto (DynamoDB, EventBridge Scheduler API, SQS, EventBridge) ...")
        self._start_moto()
        lambda_router = LateApp()
        self._lambda_server = Server(0, lambda_router)
        secret = load_or_create_secret(self.data_dir / "jwt-secret")
        self._set_environment(secret)
        self._route_product_log()
        from scheduler.config import get_settings

        functions = template_functions(
            self.runner_concurrency, get_settings().schedule_max_event_age_s
        )
        self.lambdas = LocalLambda(
            functions,
            env=dict(os.environ),
            on_failure=self._dead_letter,
            on_invocation=self.console.invocation,
        )
        lambda_router.app = self.lambdas
        self._create_aws_resources()
        self._say("Preparing the demo users and workflows ...")
        hook_url = f"{self.api_url}/demo/hook"
        from scheduler import clients
        from scheduler.store.api_keys import ApiKeyQueries
        from scheduler.store.db import database
        from scheduler.store.workflows import WorkflowQueries

        for user in DEMO_USERS:
            workflow_id = ensure_demo_workflow(WorkflowQueries(database()), user, hook_url)
            token = sign_token(secret, role="authenticated", sub=user.sub)
            self.users.append(StackUser(user.sub, token, workflow_id))
        self.service_token = sign_token(secret, role="service_role")
        self.service_key = ensure_demo_service_key(
            ApiKeyQueries(database()), self._previous_service_key()
        )
        self._say("Re-creating the EventBridge schedules from the database ...")
        counts = self._reconcile()
        self._say(f"  {counts.get('created', 0)} EventBridge schedule(s) created")
        retained = self._delete_expired_runs()
        self._say(f"  {retained['deleted']} run(s) older than RUN_HISTORY_DAYS deleted")
        self._say("Starting the Lambda functions (ApiFunction, RunnerFunction) ...")
        self._lambda_server.start()
        self.lambdas.warm_up([API_FUNCTION, RUNNER_FUNCTION])
        from devstack.apigw import WsgiGateway
        from functions.api.app import PUBLIC_ROUTES
        from functions.authorizer.app import authorize

        lambdas = self.lambdas
        router.api = WsgiGateway(
            lambda event, _context: lambdas.invoke_json(API_FUNCTION, event),
            authorize,
            PUBLIC_ROUTES,
        )
        engine_started_at = self.clock.now()
        self.engine = SchedulerEngine(
            engine_scheduler_client(),
            get_settings().schedule_group,
            lambdas.invoke_async,
            self.clock,
            poll_interval_s=self._poll_interval_s,
        )
        self.engine.start()
        self.missed_fires = MissedFireLoop(
            lambdas,
            RUNNER_FUNCTION,
            self.clock,
            self._missed_check_interval_s or MISSED_CHECK_INTERVAL_S,
            engine_started_at,
            self.heartbeats,
        )
        if self._missed_check_interval_s is not None:
            self._say("Checking for missed fire times (at start-up, then every minute) ...")
            self.missed_fires.start()
        self.alert_log = AlertLog(clients.aws_client("sqs"), self.alerts_queue_url, self._say)
        self.alert_log.start()
        self._gateway.start()
        self._write_state_file()

    def _take_lock(self) -> None:
        # Checked before anything touches the data directory: two stacks would corrupt it.
        lock_path = self.data_dir / "stack.lock"
        handle = lock_path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read().strip()
            handle.close()
            raise StackAlreadyRunning(self.data_dir, pid) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_file = handle

    def _start_postgres(self) -> None:
        import pgserver

        self._pg = pgserver.get_server(self.data_dir / "pg", cleanup_mode="stop")
        self.database_url = self._pg.get_uri()

    def _start_moto(self) -> None:
        self._moto, self.aws_url = start_moto_server()
        # In-process moto keeps state between stacks of one process (tests); a restart must not.
        reset_url = f"{self.aws_url}/moto-api/reset"
        request = urllib.request.Request(reset_url, method="POST")  # noqa: S310 (http, loopback)
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass

    def _create_aws_resources(self) -> None:
        """What template.yaml creates: the schedule group, the locks table, the DLQ."""
        from scheduler import clients
        from scheduler.config import get_settings
        from scheduler.sync.eventbridge import EventBridgeSchedules

        settings = get_settings()
        EventBridgeSchedules().ensure_group()
        dynamodb = clients.aws_client("dynamodb")
        with contextlib.suppress(dynamodb.exceptions.ResourceInUseException):
            dynamodb.create_table(
                TableName=settings.locks_table,
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        dynamodb.update_time_to_live(
            TableName=settings.locks_table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"},
        )
        sqs = clients.aws_client("sqs")
        sqs.create_queue(QueueName=DLQ_NAME)
        self.run_failure_queue_url = sqs.create_queue(QueueName=_RUN_FAILURE_QUEUE_NAME)["QueueUrl"]
        # AlertsToAlarmTopicRule's pattern, to a queue the stack reads instead of a topic
        self.alerts_queue_url = create_alert_route(clients.aws_client("events"), sqs)

    def _dead_letter(self, failure: AsyncFailure) -> None:
        """RunnerFunction's OnFailure destination: Lambda's record into the failure queue."""
        from scheduler import clients

        if self.console is not None:
            self.console.gave_up(failure)
        if self.run_failure_queue_url:
            clients.aws_client("sqs").send_message(
                QueueUrl=self.run_failure_queue_url,
                MessageBody=json.dumps(failure.destination_record()),
            )

    def _reconcile(self) -> dict[str, int]:
        """moto forgets everything on restart: register every row's schedule(s) again."""
        from scheduler.errors import DomainError
        from scheduler.policies.periodic_pass import PeriodicPassQueries, reconcile
        from scheduler.store.db import database
        from scheduler.sync.eventbridge import EventBridgeSchedules

        try:
            counts = reconcile(PeriodicPassQueries.over(database()), EventBridgeSchedules())
        except DomainError as exc:  # some rows failed: the stack still serves the others
            log.warning("reconcile incomplete: %s", exc)
            self.heartbeats.failed(RECONCILE, self.clock.now(), exc)
            return {}
        self.heartbeats.completed(RECONCILE, self.clock.now())
        return counts

    def _delete_expired_runs(self) -> dict[str, int | bool]:
        """RetentionFunction's hourly pass, once at start-up (cheap when nothing expired)."""
        from scheduler.config import get_settings
        from scheduler.policies.retention import delete_expired_runs
        from scheduler.store.db import database
        from scheduler.store.history import HistoryQueries

        return delete_expired_runs(
            HistoryQueries(database()), keep_days=get_settings().run_history_days, budget_s=30
        )

    def _workflow_name(self, workflow_id: str) -> str | None:
        """For the console's run lines (it calls one at a time); None if it cannot say."""
        from scheduler.store.db import database
        from scheduler.store.workflows import WorkflowQueries

        try:
            return str(WorkflowQueries(database()).get_workflow(UUID(workflow_id))["name"])
        except Exception:  # a deleted workflow, a stopping database: the line goes without
            return None

    def _previous_service_key(self) -> str | None:
        try:
            key = json.loads(self.state_file.read_text(encoding="utf-8")).get("serviceKey")
        except (OSError, ValueError, AttributeError):
            return None
        return key if isinstance(key, str) else None

    def _write_state_file(self) -> None:
        state = {
            "apiUrl": self.api_url,
            "docsUrl": f"{self.api_url}/api/docs",
            "demoHitsUrl": f"{self.api_url}/demo/hits",
            "heartbeatStatusUrl": f"{self.api_url}/demo/heartbeat",
            "users": [
                {"sub": str(u.sub), "token": u.token, "workflowId": str(u.workflow_id)}
                for u in self.users
            ],
            "serviceKey": self.service_key,
            "serviceToken": self.service_token,
            "lambdaEndpoint": self._lambda_server.url if self._lambda_server else None,
            "awsEndpoint": self.aws_url,
            "runFailureQueueUrl": self.run_failure_queue_url,
            "alertsQueueUrl": self.alerts_queue_url,
            "databaseUrl": self.database_url,
        }
        path = self.state_file
        path.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        path.chmod(0o600)  # it holds tokens

    # --- stop

    def check_missed_fires(self) -> dict[str, int]:
        """One missed-fire pass now (what the loop runs every interval)."""
        assert self.missed_fires is not None, "the stack is not started"
        return self.missed_fires.check_now()
