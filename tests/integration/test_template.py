"""template.yaml keeps its safety properties: least privilege, retries, dead letters, TTL, alarms.

The template is read as written (short-form intrinsics such as !Ref and !GetAtt become their
long form), so every IAM statement the stack grants is visible here, not hidden in a policy
template or a managed policy.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from scheduler.auth.tokens import TokenSettings
from scheduler.config import Settings
from scheduler.run import alerts

from tests.conftest import ROOT

# Actions IAM cannot scope to a resource: the only ones allowed on "*".
UNSCOPED_ACTIONS = {"scheduler:ListSchedules"}
FUNCTIONS = (
    "ApiFunction", "RunnerFunction", "ReconcileFunction", "RetentionFunction", "AuthorizerFunction"
)  # fmt: skip
DATABASE_SECRET = {
    "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}"
    ":secret:${DatabaseSecretName}-??????"
}
WORKFLOW_SECRETS = {
    "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}"
    ":secret:${WorkflowSecretPrefix}*"
}
ALERT_BUS = {
    "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}"
    ":event-bus/${AlertEventBusName}"
}
GROUP_SCHEDULES = {
    "Fn::Sub": "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}"
    ":schedule/${ScheduleGroup}/*"
}


class CloudFormationLoader(yaml.SafeLoader):
    """PyYAML's safe loader plus CloudFormation's short-form intrinsic function tags."""


def _intrinsic(tag: str) -> Any:
    key = "Ref" if tag == "Ref" else "Condition" if tag == "Condition" else f"Fn::{tag}"

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {key: value}

    return construct


for _tag in (
    "Ref", "Condition", "GetAtt", "Sub", "If", "Not", "Equals", "And", "Or", "Join", "Select",
    "Split", "FindInMap", "Base64", "Cidr", "ImportValue", "GetAZs",
):  # fmt: skip
    CloudFormationLoader.add_constructor(f"!{_tag}", _intrinsic(_tag))


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=CloudFormationLoader)  # noqa: S506


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def function_statements(function: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every statement of a function's Policies; each policy must be an inline Statement list."""
    for policy in function["Properties"].get("Policies", []):
        if "Fn::If" in policy:  # [condition, when true, AWS::NoValue]
            _, policy, otherwise = policy["Fn::If"]
            assert otherwise == {"Ref": "AWS::NoValue"}
        assert set(policy) == {"Statement"}, "only inline statements: nothing hidden"
        yield from policy["Statement"]


def all_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, function in resources_of(template, "AWS::Serverless::Function").items():
        for statement in function_statements(function):
            yield name, statement
    for name, role in resources_of(template, "AWS::IAM::Role").items():
        assert "ManagedPolicyArns" not in role["Properties"]
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield name, statement


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_wildcard_action_and_no_wildcard_resource_where_a_narrower_one_exists(
    template: dict[str, Any],
) -> None:
    statements = list(all_statements(template))
    assert len(statements) >= 10
    for owner, statement in statements:
        actions = as_list(statement["Action"])
        for action in actions:
            assert "*" not in action, f"{owner}: wildcard action {action}"
        if "*" in as_list(statement["Resource"]):
            assert set(actions) <= UNSCOPED_ACTIONS, f"{owner}: {actions} on '*'"


def test_the_scheduler_role_is_trusted_by_scheduler_only_and_may_only_invoke_the_runner(
    template: dict[str, Any],
) -> None:
    role = template["Resources"]["SchedulerRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert "aws:SourceAccount" in trust["Condition"]["StringEquals"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    grants = {(s["Action"], str(s["Resource"])) for s in statements}
    assert grants == {
        ("lambda:InvokeFunction", str({"Fn::GetAtt": ["RunnerFunction", "Arn"]})),
        # EventBridge Scheduler writes dead-letter events with the execution role
        ("sqs:SendMessage", str({"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]})),
    }
    assert all(s["Effect"] == "Allow" for s in statements)


def test_the_runner_may_use_only_the_locks_table_and_its_secret(template: dict[str, Any]) -> None:
    runner = template["Resources"]["RunnerFunction"]
    allowed_resources = {
        str({"Fn::GetAtt": ["LocksTable", "Arn"]}),
        str(DATABASE_SECRET),
        str(WORKFLOW_SECRETS),
        str({"Ref": "WorkflowStepFunctionArns"}),  # only when the operator lists functions
        str(ALERT_BUS),
    }
    for statement in function_statements(runner):
        assert str(statement["Resource"]) in allowed_resources, statement
        for action in as_list(statement["Action"]):
            if action.startswith("dynamodb:"):
                assert action == "dynamodb:UpdateItem"  # scheduler.run.lock's only call
                assert statement["Resource"] == {"Fn::GetAtt": ["LocksTable", "Arn"]}
            if action.startswith("events:"):
                assert action == "events:PutEvents"  # scheduler.run.alerts' only call
                assert statement["Resource"] == ALERT_BUS
                assert statement["Condition"] == {"StringEquals": {"events:source": alerts.SOURCE}}


def test_only_the_runner_may_publish_alerts_and_only_to_the_alert_bus(
    template: dict[str, Any],
) -> None:
    # the runner (Run Failed, Schedule Disabled) and the missed-fire check (Run Missed) publish
    publishing = [
        (owner, statement)
        for owner, statement in all_statements(template)
        if any(action.startswith("events:") for action in as_list(statement["Action"]))
    ]
    assert {owner for owner, _ in publishing} == {"RunnerFunction", "ReconcileFunction"}
    bus = {
        "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}"
        ":event-bus/${AlertEventBusName}"
    }
    for _, statement in publishing:
        assert statement["Action"] == "events:PutEvents"
        assert statement["Resource"] == bus
        assert statement["Condition"] == {"StringEquals": {"events:source": alerts.SOURCE}}
    for publisher in ("RunnerFunction", "ReconcileFunction"):
        env = template["Resources"][publisher]["Properties"]["Environment"]
        assert env["Variables"]["ALERT_EVENT_BUS"] == {"Ref": "AlertEventBusName"}
    assert template["Parameters"]["AlertEventBusName"]["Default"] == "default"


def test_who_may_invoke_the_runner(template: dict[str, Any]) -> None:
    runner_arn = {"Fn::GetAtt": ["RunnerFunction", "Arn"]}
    invokers = {
        owner
        for owner, statement in all_statements(template)
        if "lambda:InvokeFunction" in as_list(statement["Action"])
        and statement["Resource"] == runner_arn
    }
    # EventBridge Scheduler's role (fires), the API (run now, backfill), the missed-fire check
    # (catch-up)
    assert invokers == {"SchedulerRole", "ApiFunction", "ReconcileFunction"}
    # and the runner itself, handing on waiting runs, by a policy of its own (a policy inside the
    # function naming its own ARN would make it depend on itself)
    policy = template["Resources"]["RunnerInvokesItself"]["Properties"]
    assert policy["Roles"] == [{"Ref": "RunnerFunctionRole"}]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert (statement["Action"], statement["Resource"]) == ("lambda:InvokeFunction", runner_arn)


def test_the_alert_rule_forwards_every_alert_to_the_alarm_topic_only_when_one_is_set(
    template: dict[str, Any],
) -> None:
    [rule] = resources_of(template, "AWS::Events::Rule").values()
    props = rule["Properties"]
    assert rule["Condition"] == "HasAlarmTopic"
    assert props["EventBusName"] == {"Ref": "AlertEventBusName"}
    pattern = props["EventPattern"]
    assert {key: pattern[key] for key in alerts.EVENT_PATTERN} == alerts.EVENT_PATTERN
    assert pattern["account"] == [{"Ref": "AWS::AccountId"}]  # never another account's events
    [target] = props["Targets"]
    assert target["Arn"] == {"Ref": "AlarmTopicArn"}
    # a topic passed in by ARN is not the stack's: its policy is the operator's (docs/alerts.md)
    assert resources_of(template, "AWS::SNS::TopicPolicy") == {}


def test_only_the_runner_reads_workflow_secrets_and_only_those_under_the_prefix(
    template: dict[str, Any],
) -> None:
    readers = {
        owner
        for owner, statement in all_statements(template)
        if statement["Resource"] == WORKFLOW_SECRETS
    }
    assert readers == {"RunnerFunction"}
    [grant] = [
        s
        for s in function_statements(template["Resources"]["RunnerFunction"])
        if s["Resource"] == WORKFLOW_SECRETS
    ]
    assert (grant["Effect"], grant["Action"]) == ("Allow", "secretsmanager:GetSecretValue")
    runner_env = template["Resources"]["RunnerFunction"]["Properties"]["Environment"]["Variables"]
    assert runner_env["WORKFLOW_SECRET_PREFIX"] == {"Ref": "WorkflowSecretPrefix"}
    # the parameter and the setting agree, and the prefix is never empty (that would be "*")
    parameter = template["Parameters"]["WorkflowSecretPrefix"]
    setting = Settings.model_fields["workflow_secret_prefix"]
    assert parameter["Default"] == setting.default
    assert parameter["AllowedPattern"].endswith("+$")
    # the default keeps out the stack's own secrets as docs/deploy.md names them
    for own in ("workflow-scheduler/database-url", "workflow-scheduler/jwt-secret"):
        assert not own.startswith(parameter["Default"])


@pytest.mark.parametrize("function", ["ApiFunction", "ReconcileFunction"])
def test_schedule_managers_act_only_on_the_group_and_pass_only_the_scheduler_role(
    template: dict[str, Any], function: str
) -> None:
    statements = list(function_statements(template["Resources"][function]))
    for statement in statements:
        for action in as_list(statement["Action"]):
            if action.startswith("scheduler:") and action not in UNSCOPED_ACTIONS:
                assert statement["Resource"] == GROUP_SCHEDULES, statement
            if action == "iam:PassRole":
                assert statement["Resource"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
                assert statement["Condition"] == {
                    "StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}
                }
    actions = {a for s in statements for a in as_list(s["Action"])}
    assert {"scheduler:CreateSchedule", "scheduler:UpdateSchedule", "iam:PassRole"} <= actions


def test_locks_table_is_on_demand_with_ttl_and_point_in_time_recovery(
    template: dict[str, Any],
) -> None:
    table = template["Resources"]["LocksTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_schedules_dead_letter_and_runner_retries_match_the_runner_rules(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    assert resources["ScheduleDeadLetterQueue"]["Type"] == "AWS::SQS::Queue"
    for function in ("ApiFunction", "ReconcileFunction"):
        env = resources[function]["Properties"]["Environment"]["Variables"]
        assert env["SCHEDULE_DLQ_ARN"] == {"Fn::GetAtt": ["ScheduleDeadLetterQueue", "Arn"]}
        assert env["SCHEDULE_RETRY_ATTEMPTS"] == {"Ref": "ScheduleRetryAttempts"}
        assert env["SCHEDULE_MAX_EVENT_AGE_S"] == {"Ref": "MaxEventAgeSeconds"}
        assert env["SCHEDULER_ROLE_ARN"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    invoke = resources["RunnerFunction"]["Properties"]["EventInvokeConfig"]
    # the runner raises only before it claims the run slot, so Lambda's retries are safe
    assert 1 <= invoke["MaximumRetryAttempts"] <= 2
    assert invoke["MaximumEventAgeInSeconds"] == {"Ref": "MaxEventAgeSeconds"}
    failure = invoke["DestinationConfig"]["OnFailure"]
    assert failure["Type"] == "SQS"
    queue = failure["Destination"]["Fn::GetAtt"][0]
    assert resources[queue]["Type"] == "AWS::SQS::Queue"
    age = template["Parameters"]["MaxEventAgeSeconds"]
    assert (age["MinValue"], age["MaxValue"]) == (60, 21_600)  # Lambda's async limits


def test_alarms_watch_runner_errors_throttles_and_dead_letters(template: dict[str, Any]) -> None:
    watched = set()
    for alarm in resources_of(template, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        (dimension,) = props["Dimensions"]
        if isinstance(dimension["Value"], dict):  # a resource of the stack (not a service name)
            target = dimension["Value"].get("Ref") or dimension["Value"]["Fn::GetAtt"][0]
            watched.add((props["MetricName"], target))
    assert {
        ("Errors", "RunnerFunction"),
        ("Throttles", "RunnerFunction"),
        ("ApproximateNumberOfMessagesVisible", "ScheduleDeadLetterQueue"),
    } <= watched


def test_every_function_logs_to_its_own_group_with_retention(template: dict[str, Any]) -> None:
    groups = resources_of(template, "AWS::Logs::LogGroup")
    used = []
    for name in FUNCTIONS:
        group = template["Resources"][name]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        used.append(group)
    assert len(set(used)) == len(FUNCTIONS)


def test_functions_share_the_built_layer_on_python312_with_tracing(
    template: dict[str, Any],
) -> None:
    function = template["Globals"]["Function"]
    assert function["Runtime"] == "python3.12"
    assert function["Architectures"] == [{"Ref": "Architecture"}]
    assert template["Parameters"]["Architecture"]["Default"] == "arm64"
    assert function["Tracing"] == "Active"
    assert function["Layers"] == [{"Ref": "CommonLayer"}]
    layer = template["Resources"]["CommonLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/common/"
    # built by layers/common/Makefile (the pins minus the runtime's SDK; see test_packaging)
    assert layer["Metadata"] == {
        "BuildMethod": "makefile",
        "BuildArchitecture": {"Ref": "Architecture"},
    }
    assert "build-CommonLayer:" in (ROOT / "layers" / "common" / "Makefile").read_text()
    assert set(resources_of(template, "AWS::Serverless::Function")) == set(FUNCTIONS)
    # and each function by functions/Makefile (its module with bytecode; see test_packaging)
    targets = (ROOT / "functions" / "Makefile").read_text()
    for name in FUNCTIONS:
        metadata = template["Resources"][name]["Metadata"]
        assert metadata == {"BuildMethod": "makefile", "ContextPath": "functions"}
        assert f"build-{name}" in targets


def test_environment_names_are_settings_and_no_secret_is_in_plain_text(
    template: dict[str, Any],
) -> None:
    fields = [*Settings.model_fields, *(f.name for f in dataclasses.fields(TokenSettings))]
    known = {name.upper() for name in fields}
    names = set(template["Globals"]["Function"]["Environment"]["Variables"])
    for name in FUNCTIONS:
        names |= set(template["Resources"][name]["Properties"]["Environment"]["Variables"])
    powertools = {n for n in names if n.startswith("POWERTOOLS_")}
    assert powertools >= {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"}
    assert names - powertools <= known, f"not settings: {sorted(names - powertools - known)}"
    # secrets are read from Secrets Manager by name at cold start, never passed as values
    assert {"DATABASE_URL", "JWT_SECRET"}.isdisjoint(names)
    assert "DATABASE_SECRET_NAME" in names


def test_outputs_name_the_api_url_group_and_table(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert {"ApiUrl", "ScheduleGroupName", "LocksTableName"} <= set(outputs)
    assert outputs["ScheduleGroupName"]["Value"] == {"Ref": "ScheduleGroup"}
    assert outputs["LocksTableName"]["Value"] == {"Ref": "LocksTable"}


# --- back-pressure: what bounds the load on the database and on the account's concurrency

# Lambda keeps this much of an account's concurrency unreserved; the default quota is 1,000.
ACCOUNT_CONCURRENCY_DEFAULT = 1_000
UNRESERVED_MINIMUM = 100
# The smallest Supabase compute (Nano, Micro): 200 pooler clients, Postgres max_connections 60
# (supabase.com/docs/guides/platform/compute-and-disk).
SMALLEST_POOLER_CLIENTS = 200
SMALLEST_MAX_CONNECTIONS = 60


def parameter_default(template: dict[str, Any], value: Any) -> Any:
    """A literal, or the default of the parameter a `Ref` names."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return template["Parameters"][value["Ref"]]["Default"]
    return value


def reads_the_database(function: dict[str, Any]) -> bool:
    return any(s["Resource"] == DATABASE_SECRET for s in function_statements(function))


def test_every_function_that_opens_database_connections_has_a_reserved_concurrency(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    reserved = {
        name: resources[name]["Properties"].get("ReservedConcurrentExecutions")
        for name in FUNCTIONS
    }
    assert reserved == {
        "RunnerFunction": {"Ref": "RunnerConcurrency"},
        "ApiFunction": {"Ref": "ApiConcurrency"},
        "ReconcileFunction": {"Ref": "ReconcileConcurrency"},  # shards at once, 1 by default
        "RetentionFunction": 1,  # one pass at a time
        # touches no database; the HTTP API's route throttling bounds it (and a cap here would
        # turn a burst into 5xx on every route instead of the gateway's 429)
        "AuthorizerFunction": None,
    }
    for name in FUNCTIONS:
        if reads_the_database(resources[name]):
            assert reserved[name] is not None, f"{name} opens connections with no bound"
    assert not reads_the_database(resources["AuthorizerFunction"])
    for name in ("RunnerConcurrency", "ApiConcurrency", "ReconcileConcurrency"):
        assert template["Parameters"][name]["Type"] == "Number"
        assert template["Parameters"][name]["MinValue"] == 1


def test_reserved_concurrency_at_the_defaults_fits_the_account_and_the_smallest_supabase(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    defaults = {
        name: parameter_default(template, resources[name]["Properties"][key])
        for name in FUNCTIONS
        if (key := "ReservedConcurrentExecutions") in resources[name]["Properties"]
    }
    assert defaults == {
        "RunnerFunction": 10,
        "ApiFunction": 10,
        "ReconcileFunction": 1,
        "RetentionFunction": 1,
    }
    total = sum(defaults.values())
    # CloudFormation fails the deploy if reservations leave less than 100 unreserved
    assert total <= ACCOUNT_CONCURRENCY_DEFAULT - UNRESERVED_MINIMUM
    # one connection per warm environment of each function that reads the database: at the
    # defaults they fit the smallest compute even without the pooler, with room for Supabase's
    # own services (auth, storage, realtime, the dashboard) in max_connections
    assert total <= SMALLEST_MAX_CONNECTIONS // 2 < SMALLEST_POOLER_CLIENTS


def test_throttled_fires_wait_in_the_async_queue_for_lambdas_longest_event_age(
    template: dict[str, Any],
) -> None:
    runner = template["Resources"]["RunnerFunction"]["Properties"]
    invoke = runner["EventInvokeConfig"]
    assert invoke["MaximumEventAgeInSeconds"] == {"Ref": "MaxEventAgeSeconds"}
    # a throttled async event is retried by Lambda until this age: 6 hours (Lambda's maximum)
    # lets a burst far beyond RunnerConcurrency drain instead of being dead-lettered
    assert template["Parameters"]["MaxEventAgeSeconds"]["Default"] == 21_600
    assert invoke["DestinationConfig"]["OnFailure"]["Type"] == "SQS"


@pytest.mark.parametrize("function", ["ReconcileFunction", "RetentionFunction"])
def test_reconcile_and_retention_run_one_pass_at_a_time_and_never_a_stale_one(
    template: dict[str, Any], function: str
) -> None:
    properties = template["Resources"][function]["Properties"]
    # (ReconcileFunction's: ReconcileConcurrency, for shards; one by default)
    assert parameter_default(template, properties["ReservedConcurrentExecutions"]) == 1
    # the next scheduled pass does whatever a failed or queued one would have
    assert properties["EventInvokeConfig"]["MaximumRetryAttempts"] == 0
    assert 60 <= properties["EventInvokeConfig"]["MaximumEventAgeInSeconds"] <= 900
    assert properties["Events"]["Every"]["Type"] == "Schedule"


def test_the_missed_fire_check_knows_how_often_reconcile_runs_it(template: dict[str, Any]) -> None:
    # a pass later than two intervals after the previous one follows an outage of the check
    # (scheduler.policies.missed_fires); the settings read the interval from the schedule expression
    variables = template["Resources"]["ReconcileFunction"]["Properties"]["Environment"]
    assert variables["Variables"]["RECONCILE_SCHEDULE"] == {"Ref": "ReconcileSchedule"}
    events = template["Resources"]["ReconcileFunction"]["Properties"]["Events"]
    assert events["Every"]["Properties"]["Schedule"] == {"Ref": "ReconcileSchedule"}
    default = template["Parameters"]["ReconcileSchedule"]["Default"]
    assert Settings(reconcile_schedule=default).missed_fire_check_interval_s == 900


def test_retention_keeps_the_parameters_days_reads_only_the_database_and_stops_in_time(
    template: dict[str, Any],
) -> None:
    from scheduler.policies.retention import STOP_BEFORE_DEADLINE_S

    retention = template["Resources"]["RetentionFunction"]["Properties"]
    assert retention["Environment"]["Variables"]["RUN_HISTORY_DAYS"] == {"Ref": "RunHistoryDays"}
    # the parameter and the setting agree on the default and the bounds
    parameter = template["Parameters"]["RunHistoryDays"]
    setting = Settings.model_fields["run_history_days"]
    bounds = {type(m).__name__: m for m in setting.metadata}
    assert parameter["Default"] == setting.default == 90
    assert (parameter["MinValue"], parameter["MaxValue"]) == (bounds["Ge"].ge, bounds["Le"].le)
    assert [
        s["Resource"] for s in function_statements(template["Resources"]["RetentionFunction"])
    ] == [DATABASE_SECRET]
    # a pass stops with time for its last batch (statement timeout + connect budget) to end
    statement_s = int(retention["Environment"]["Variables"]["DB_STATEMENT_TIMEOUT_MS"]) / 1000
    connect_budget_s = Settings.model_fields["db_connect_budget_s"].default
    assert statement_s + connect_budget_s < STOP_BEFORE_DEADLINE_S < retention["Timeout"] / 2
    assert ("Errors", "RetentionFunction") in {
        (a["Properties"]["MetricName"], a["Properties"]["Dimensions"][0]["Value"].get("Ref"))
        for a in resources_of(template, "AWS::CloudWatch::Alarm").values()
        if isinstance(a["Properties"]["Dimensions"][0]["Value"], dict)
    }
    # the missed-fire check and backfill read the same days: neither looks past what is kept
    for reader in ("ReconcileFunction", "ApiFunction"):
        variables = template["Resources"][reader]["Properties"]["Environment"]["Variables"]
        assert variables["RUN_HISTORY_DAYS"] == {"Ref": "RunHistoryDays"}


def test_reconcile_shards_by_name_prefix_and_may_invoke_itself(
    template: dict[str, Any],
) -> None:
    reconcile = template["Resources"]["ReconcileFunction"]["Properties"]
    assert parameter_default(template, reconcile["ReservedConcurrentExecutions"]) == 1
    # shards by the first hex digit(s) of the names, as scheduler.sync.shards splits them
    shards = template["Parameters"]["ReconcileShards"]
    assert (shards["Default"], shards["AllowedValues"]) == (1, [1, 16, 256])
    assert reconcile["Environment"]["Variables"]["RECONCILE_SHARDS"] == {"Ref": "ReconcileShards"}
    # a shard starts the others and its own continuation: it may invoke itself (and the runner,
    # for catch-up: test_who_may_invoke_the_runner)
    policy = template["Resources"]["ReconcileInvokesItself"]
    assert policy["Properties"]["Roles"] == [{"Ref": "ReconcileFunctionRole"}]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Resource"] == {"Fn::GetAtt": ["ReconcileFunction", "Arn"]}
    # the next scheduled pass repairs whatever a failed or queued one would have
    assert reconcile["EventInvokeConfig"]["MaximumRetryAttempts"] == 0
    assert 60 <= reconcile["EventInvokeConfig"]["MaximumEventAgeInSeconds"] <= 900


def test_every_route_is_throttled_below_what_the_api_function_can_take_at_once(
    template: dict[str, Any],
) -> None:
    api = template["Resources"]["HttpApi"]["Properties"]
    assert api["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
        "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
    }
    # at the defaults the gateway answers 429 before ApiFunction's concurrency is exhausted
    burst = parameter_default(template, {"Ref": "ApiThrottlingBurstLimit"})
    rate = parameter_default(template, {"Ref": "ApiThrottlingRateLimit"})
    assert 1 <= burst <= parameter_default(template, {"Ref": "ApiConcurrency"})
    assert rate >= 1


def test_api_access_logs_are_json_with_retention_and_never_hold_a_header(
    template: dict[str, Any],
) -> None:
    settings = template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]
    (group,) = settings["DestinationArn"]["Fn::GetAtt"][:1]
    assert settings["DestinationArn"] == {"Fn::GetAtt": [group, "Arn"]}
    log_group = template["Resources"][group]
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    fields = json.loads(settings["Format"])
    assert {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "route": "$context.routeKey",
        "status": "$context.status",
        "latencyMs": "$context.responseLatency",
        "integrationError": "$context.integrationErrorMessage",
    }.items() <= fields.items()
    assert all(v.startswith("$context.") for v in fields.values())
    # no request header (the bearer token), no claim, no body is logged
    text = settings["Format"].lower()
    for never in ("authorization", "header", "$context.authorizer.claims", "$input"):
        assert never not in text


def test_every_queue_is_encrypted_at_rest(template: dict[str, Any]) -> None:
    queues = resources_of(template, "AWS::SQS::Queue")
    assert set(queues) >= {"ScheduleDeadLetterQueue", "RunFailureQueue"}
    for name, queue in queues.items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, name
        assert props["MessageRetentionPeriod"] == 1_209_600, name  # SQS's maximum, 14 days


def test_alarms_watch_the_runner_falling_behind_and_the_api_at_its_limit(
    template: dict[str, Any],
) -> None:
    alarms = {
        (a["Properties"]["MetricName"], a["Properties"]["Dimensions"][0]["Value"]["Ref"]): a
        for a in resources_of(template, "AWS::CloudWatch::Alarm").values()
        if "Ref" in a["Properties"]["Dimensions"][0]["Value"]
    }
    backlog = alarms[("AsyncEventAge", "RunnerFunction")]["Properties"]
    assert backlog["Statistic"] == "Maximum"
    # milliseconds: well before a queued fire reaches the default maximum event age
    assert backlog["Threshold"] < 21_600 * 1000
    assert ("Throttles", "ApiFunction") in alarms


def test_an_alarm_fires_when_the_missed_fire_check_stops_running(template: dict[str, Any]) -> None:
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    alarm = template["Resources"]["MissedFireCheckStoppedAlarm"]["Properties"]
    # it watches the metric each pass of the check emits, as Powertools emits it in the stack
    # (namespace and service from Globals): EMF's namespace, name and dimension set
    globals_env = template["Globals"]["Function"]["Environment"]["Variables"]
    metrics = Metrics(
        namespace=globals_env["POWERTOOLS_METRICS_NAMESPACE"],
        service=globals_env["POWERTOOLS_SERVICE_NAME"],
    )
    metrics.clear_metrics()  # Powertools' metric set is shared by every instance in a process
    metrics.add_metric(name="RunMissed", unit=MetricUnit.Count, value=0)
    emitted = metrics.serialize_metric_set()
    metrics.clear_metrics()
    (directive,) = emitted["_aws"]["CloudWatchMetrics"]
    assert alarm["Namespace"] == directive["Namespace"]
    assert [m["Name"] for m in directive["Metrics"]] == [alarm["MetricName"]]
    assert directive["Dimensions"] == [[d["Name"] for d in alarm["Dimensions"]]]
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == {
        name: emitted[name] for name in directive["Dimensions"][0]
    }
    # no datapoint is what it watches for: a pass that never ran emits nothing
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "SampleCount",
        "LessThanThreshold",
        1,
    )
    assert alarm["TreatMissingData"] == "breaching"
    # two periods without a pass, each longer than the default check interval (15 minutes)
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 2
    assert template["Parameters"]["ReconcileSchedule"]["Default"] == "rate(15 minutes)"
    assert alarm["Period"] >= 15 * 60 * 2
    assert alarm["AlarmActions"] == {
        "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
    }


def test_retention_keeps_audit_events_for_the_audit_retention_days_parameter(
    template: dict[str, Any],
) -> None:
    retention = template["Resources"]["RetentionFunction"]["Properties"]
    variables = retention["Environment"]["Variables"]
    assert variables["AUDIT_RETENTION_DAYS"] == {"Ref": "AuditRetentionDays"}
    # the parameter and the setting agree on the default and the bounds
    parameter = template["Parameters"]["AuditRetentionDays"]
    setting = Settings.model_fields["audit_retention_days"]
    bounds = {type(m).__name__: m for m in setting.metadata}
    assert parameter["Default"] == setting.default == 365
    assert (parameter["MinValue"], parameter["MaxValue"]) == (bounds["Ge"].ge, bounds["Le"].le)


def _emitted_as_the_stack_emits(template: dict[str, Any], metric_name: str) -> dict[str, Any]:
    """The EMF document Powertools writes for `metric_name` in the stack (namespace and service
    from Globals)."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    globals_env = template["Globals"]["Function"]["Environment"]["Variables"]
    metrics = Metrics(
        namespace=globals_env["POWERTOOLS_METRICS_NAMESPACE"],
        service=globals_env["POWERTOOLS_SERVICE_NAME"],
    )
    metrics.clear_metrics()  # Powertools' metric set is shared by every instance in a process
    metrics.add_metric(name=metric_name, unit=MetricUnit.Count, value=1)
    emitted = metrics.serialize_metric_set()
    metrics.clear_metrics()
    return emitted


def _watches(alarm: dict[str, Any], emitted: dict[str, Any]) -> bool:
    (directive,) = emitted["_aws"]["CloudWatchMetrics"]
    return (
        alarm["Namespace"] == directive["Namespace"]
        and [m["Name"] for m in directive["Metrics"]] == [alarm["MetricName"]]
        and directive["Dimensions"] == [[d["Name"] for d in alarm["Dimensions"]]]
        and {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        == {name: emitted[name] for name in directive["Dimensions"][0]}
    )


@pytest.mark.parametrize(
    ("alarm_name", "heartbeat_metric"),
    [("ReconcileStoppedAlarm", "ReconcileCompleted"), ("MissedFireCheckStoppedAlarm", "RunMissed")],
)
def test_an_alarm_fires_when_a_part_of_the_pass_stops_completing(
    template: dict[str, Any], alarm_name: str, heartbeat_metric: str
) -> None:
    alarm = template["Resources"][alarm_name]["Properties"]
    assert _watches(alarm, _emitted_as_the_stack_emits(template, heartbeat_metric))
    # its absence is what it watches for: two hourly periods with no completed pass
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "SampleCount",
        "LessThanThreshold",
        1,
    )
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 2
    assert alarm["Period"] == 3600  # ReconcileSchedule is at most hourly (its description)
    assert "At least hourly" in template["Parameters"]["ReconcileSchedule"]["Description"]
    assert alarm["AlarmActions"] == {
        "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
    }


@pytest.mark.parametrize(
    ("alarm_name", "failure_metric"),
    [
        ("MissedFireCheckErrorsAlarm", "MissedFireCheckFailed"),
        ("AbandonedRunSweepErrorsAlarm", "AbandonedRunSweepFailed"),
    ],
)
def test_an_alarm_fires_on_a_failure_the_pass_survives(
    template: dict[str, Any], alarm_name: str, failure_metric: str
) -> None:
    """The check and the sweep catch their failures (the reconcile still runs), so Lambda's
    Errors never counts them: their own metric does."""
    alarm = template["Resources"][alarm_name]["Properties"]
    assert _watches(alarm, _emitted_as_the_stack_emits(template, failure_metric))
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "Sum",
        "GreaterThanOrEqualToThreshold",
        1,
    )
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == {
        "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
    }
    # and reconcile's own failures (ReconcileIncomplete ends the invocation) are Lambda's Errors
    errors = template["Resources"]["ReconcileErrorsAlarm"]["Properties"]
    assert (errors["Namespace"], errors["MetricName"]) == ("AWS/Lambda", "Errors")
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "ReconcileFunction"}}]


def test_the_heartbeat_url_is_an_optional_hidden_parameter_of_reconcile_only(
    template: dict[str, Any],
) -> None:
    import re

    parameter = template["Parameters"]["HeartbeatUrl"]
    assert parameter["Default"] == ""  # no ping unless an operator sets one
    assert parameter["NoEcho"] is True  # the URL holds the watchdog's token
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("")
    assert pattern.fullmatch("https://hc-ping.com/0a1b-2c3d")
    assert not pattern.fullmatch("file:///etc/passwd")
    assert not pattern.fullmatch("hc-ping.com/token")
    reading = {
        name
        for name in FUNCTIONS
        if "HEARTBEAT_URL" in template["Resources"][name]["Properties"]["Environment"]["Variables"]
    }
    assert reading == {"ReconcileFunction"}
    variables = template["Resources"]["ReconcileFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["HEARTBEAT_URL"] == {"Ref": "HeartbeatUrl"}
    assert Settings(heartbeat_url="").heartbeat_ping_url is None
    assert "0a1b" not in repr(Settings(heartbeat_url="https://hc-ping.com/0a1b"))
