"""Cost model: what a customer pays AWS a month, the fixed part itemised from template.yaml beside the
part that grows with orders, and the variable part as dollars per million orders.

Inputs: bench-results/{receiver,poster,poller}.json (run those first; the poster benchmark's
``lifecycle`` run counts the DynamoDB capacity units and the HTTP bytes of an order's whole life
from the requests themselves) and template.yaml (memory, schedules, alarms, the dashboard, log
retention, which tables keep point-in-time recovery, the VPC options and their resources). Prices
are us-east-1 list prices, each with the page it comes from; free tiers are ignored. Every price,
assumption and measured input is written into bench-results/cost.json with the results.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from tests.bench.common import ROOT, read_result, say, write_result

HOURS_PER_MONTH = 730
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
GB = 2**30


@dataclass(frozen=True)
class Price:
    usd: float
    per: str
    source: str


_LAMBDA = "https://aws.amazon.com/lambda/pricing/"
_DYNAMODB = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
_CLOUDWATCH = "https://aws.amazon.com/cloudwatch/pricing/"
_VPC = "https://aws.amazon.com/vpc/pricing/"
_EC2 = "https://aws.amazon.com/ec2/pricing/on-demand/"

#: us-east-1 list prices (x86 Lambda, on-demand DynamoDB, standard SQS).
PRICES = {
    "lambda_gb_second": Price(0.0000166667, "GB-second", _LAMBDA),
    "lambda_request": Price(0.20 / 1e6, "request", _LAMBDA),
    "api_gateway_http_request": Price(
        1.00 / 1e6,
        "HTTP API request (first 300 M a month; metered in 512 KB increments)",
        "https://aws.amazon.com/api-gateway/pricing/",
    ),
    "sqs_request": Price(0.40 / 1e6, "request (64 KB chunk)", "https://aws.amazon.com/sqs/pricing/"),
    "dynamodb_wru": Price(0.625 / 1e6, "write request unit", _DYNAMODB),
    "dynamodb_rru": Price(0.125 / 1e6, "read request unit", _DYNAMODB),
    "dynamodb_storage": Price(0.25, "GB-month (Standard table class)", _DYNAMODB),
    "dynamodb_pitr": Price(0.20, "GB-month of table size with point-in-time recovery", _DYNAMODB),
    "secrets_manager_secret": Price(0.40, "secret-month", "https://aws.amazon.com/secrets-manager/pricing/"),
    "secrets_manager_api_call": Price(0.05 / 10_000, "API call", "https://aws.amazon.com/secrets-manager/pricing/"),
    "ssm_advanced_parameter": Price(
        0.05, "advanced parameter-month", "https://aws.amazon.com/systems-manager/pricing/"
    ),
    "ssm_advanced_api_call": Price(
        0.05 / 10_000, "API interaction (advanced parameter)", "https://aws.amazon.com/systems-manager/pricing/"
    ),
    "cloudwatch_logs_ingest": Price(0.50, "GB ingested (standard log class)", _CLOUDWATCH),
    "cloudwatch_logs_storage": Price(0.03, "GB-month archived", _CLOUDWATCH),
    "cloudwatch_alarm": Price(0.10, "alarm metric-month (standard resolution)", _CLOUDWATCH),
    "cloudwatch_dashboard": Price(3.00, "dashboard-month", _CLOUDWATCH),
    "cloudwatch_custom_metric": Price(0.30, "metric-month (first 10,000; prorated by the hour)", _CLOUDWATCH),
    "xray_trace": Price(5.00 / 1e6, "trace recorded", "https://aws.amazon.com/xray/pricing/"),
    "scheduler_invocation": Price(1.00 / 1e6, "invocation", "https://aws.amazon.com/eventbridge/pricing/"),
    "nat_gateway_hour": Price(0.045, "NAT gateway-hour", _VPC),
    "nat_gateway_gb": Price(0.045, "GB processed (either direction)", _VPC),
    "public_ipv4_hour": Price(0.005, "public IPv4 address-hour (the Elastic IP)", _VPC),
    "vpn_connection_hour": Price(0.05, "Site-to-Site VPN connection-hour", "https://aws.amazon.com/vpn/pricing/"),
    "interface_endpoint_hour": Price(
        0.01, "interface endpoint-hour per AZ", "https://aws.amazon.com/privatelink/pricing/"
    ),
    "interface_endpoint_gb": Price(0.01, "GB processed", "https://aws.amazon.com/privatelink/pricing/"),
    "data_transfer_out_gb": Price(0.09, "GB out to the internet (first 10 TB a month)", _EC2),
    "ec2_t4g_nano_hour": Price(0.0042, "instance-hour (Linux)", _EC2),
    "ec2_t4g_micro_hour": Price(0.0084, "instance-hour (Linux)", _EC2),
    "ec2_t4g_small_hour": Price(0.0168, "instance-hour (Linux)", _EC2),
    "ec2_t4g_medium_hour": Price(0.0336, "instance-hour (Linux)", _EC2),
    "ebs_gp3_gb": Price(0.08, "GB-month", "https://aws.amazon.com/ebs/pricing/"),
}

ASSUMPTIONS: dict[str, Any] = {
    "reference_customers_orders_per_day": [1_000, 10_000, 100_000],
    "connections": 1,  # one store into one ERP (PrimaryConnection); a second connection adds its secrets and polls
    "webhooks_per_order": 1,  # order.created; a status change that makes a new version adds one delivery
    "documents_per_order": "measured: posted events per order in the poster benchmark's lifecycle run",
    "poll_sightings_per_order": "1 + overlap_seconds / poll interval: each poll re-reads the window since the"
    " watermark (the newest record seen) minus the overlap",
    "poll_resources": "the profile's polling.resources for woo-psft in config/local.yaml",
    "aws_call_latency_ms": 8,  # in-region SQS / DynamoDB call as seen from Lambda (moto's local figure not used)
    "erp_latency_ms": 50,  # per ERP call, as in the poster benchmark; scales the poster's GB-s linearly
    "records_per_poster_invocation": "1 + records arriving per second x MaximumBatchingWindowInSeconds, at most"
    " BatchSize (template.yaml): the event source waits that long to fill a batch",
    "receiver_aws_waits": 1,  # its audit write and its enqueue run side by side
    "reconciler_cpu_ms_per_document": 5,  # besides the ERP lookup's latency
    "poll_run_ms_per_resource": 600,  # a poll with little new: one store listing call and its answer
    "keeper_run_ms": 3000,  # lists and checks every subscription of the store
    "reconciler_run_ms": 3000,  # besides the per-document lookups: the ERP's day inquiry, the audit query
    "secrets_per_connection": "the secrets the woo-psft connection of config/local.yaml names (store, webhook, erp)",
    "secret_refreshes_per_month": 3 * 5 * 12 * 24 * 30,  # 3 secrets, 5 warm containers, every 5 minutes (max_age)
    # the published profile (an advanced parameter: mlc profile push), read again by 5 warm containers every
    # CONNECTOR_PROFILE_MAX_AGE (300 s)
    "profile_reads_per_month": 5 * 12 * 24 * 30,
    "sqs_event_source_polls_per_month": 5 * 3 * 60 * HOURS_PER_MONTH,  # Lambda's 5 pollers, 20-s long polls
    # EMF metrics in steady traffic (billed for the hours they are emitted): with the connection as dimension, then
    # the functions' own (service dimension), and Powertools' ColdStart per function (an upper bound: a cold start
    # every hour)
    "custom_metrics_per_connection": ["WebhooksReceived", "Enqueued", "Posted", "Skipped", "PolledRecords"],
    "custom_metrics_per_stack": ["WebhookRequests", "BatchRecords", "PollRuns", "KeeperRuns"],
    "xray": "the default sampling rule: the first request each second, then 5 %; the reservoir part (up to one"
    " trace a second) is listed apart from the 5 % that grows with orders",
    "log_storage": "ingested bytes kept for LogRetentionDays, not compressed (CloudWatch bills archived logs"
    " compressed: an upper bound)",
    "dynamodb_storage_after_months": 12,  # the audit and state tables are retained: storage grows with history
    "dynamodb_item_overhead_bytes": 100,  # per item, for storage
    "idempotency_days_kept": 14,  # the poster's IDEMPOTENCY_TTL_SECONDS
    "http_overhead": 0.05,  # TLS and TCP framing on top of the HTTP bytes the benchmark counts
    "aws_api_bytes_per_order_through_egress": 4096,  # the receiver's SQS send and its answer, the poller's reads
    "nat_instance_root_volume_gb": "from the launch template in template.yaml",
    "billing_granularity_ms": 1,
}


#: What API Gateway fills the access log's ``$context`` variables with for one delivery the receiver accepts (``200
#: {"enqueued": 1}``); a variable without a value is logged as ``-``. The line is template.yaml's Format with these.
ACCESS_LOG_VALUES = {
    "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
    "extendedRequestId": "Ab1CdEfGhIjKlMnO=",
    "identity.sourceIp": "203.0.113.10",
    "identity.userAgent": "WooCommerce/9.4.2 Hookshot (WordPress/6.7.1)",
    "requestTime": "03/Dec/2026:11:37:44 +0000",
    "httpMethod": "POST",
    "path": "/live/webhooks/woo-psft",
    "routeKey": "POST /webhooks/{connection}",
    "status": "200",
    "responseLength": "14",
    "responseLatency": "42",
    "integrationLatency": "38",
    "integrationStatus": "200",
    "error.responseType": "-",
    "error.message": "-",
    "integrationErrorMessage": "-",
}


def _template() -> Any:
    from local.template import Template

    return Template.load(ROOT / "template.yaml")


def _resolver(overrides: dict[str, str]) -> Any:
    from local.template import Resolver

    pseudo = {
        "AWS::Region": "us-east-1",
        "AWS::AccountId": "123456789012",
        "AWS::StackName": "cost",
        "AWS::Partition": "aws",
    }
    return Resolver.create(_template(), {"CustomerName": "cost", "PrimaryConnection": "woo-psft", **overrides}, pseudo)


def memory_mb() -> dict[str, int]:
    """MemorySize per function from template.yaml (Globals unless the function overrides it)."""
    template = _template()
    default = int(template.function_globals.get("MemorySize", 128))
    return {
        logical_id: int(resource["Properties"].get("MemorySize", default))
        for logical_id, resource in template.of_type("AWS::Serverless::Function").items()
    }


def _rate_minutes(expression: str) -> float:
    """Minutes between runs of ``rate(N unit)`` or of a daily ``cron(...)``."""
    if expression.startswith("rate("):
        amount, unit = expression[5:-1].split()
        return float(amount) * {"minute": 1, "minutes": 1, "hour": 60, "hours": 60, "day": 1440, "days": 1440}[unit]
    if expression.startswith("cron("):
        return 1440.0
    raise ValueError(f"schedule {expression!r} not understood")


@dataclass(frozen=True)
class StackFacts:
    """What template.yaml declares for one set of parameters: counts the fixed part is priced on."""

    functions: int
    standard_alarms: int
    metrics_insights_alarms: int
    dashboards: int
    log_retention_days: int
    pitr_tables: tuple[str, ...]
    poll_minutes: float
    keeper_minutes: float
    reconcile_minutes: float
    nat_gateways: int
    nat_instances: int
    nat_instance_type: str
    nat_instance_volume_gb: int
    elastic_ips: int
    vpn_connections: int
    interface_endpoint_azs: int


def stack_facts(overrides: dict[str, str]) -> StackFacts:
    template = _template()
    resolver = _resolver(overrides)

    def present(logical_id: str) -> bool:
        condition = template.resources[logical_id].get("Condition")
        return condition is None or resolver.condition(condition)

    def of_type(resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in template.of_type(resource_type).items() if present(k)}

    alarms = of_type("AWS::CloudWatch::Alarm")
    insights = sum(1 for a in alarms.values() if "Metrics" in a["Properties"])
    endpoints = [
        e for e in of_type("AWS::EC2::VPCEndpoint").values() if e["Properties"].get("VpcEndpointType") == "Interface"
    ]
    templates = of_type("AWS::EC2::LaunchTemplate")
    volume = 0
    for launch in templates.values():
        for mapping in launch["Properties"]["LaunchTemplateData"].get("BlockDeviceMappings", []):
            volume += int(mapping["Ebs"]["VolumeSize"])
    tables = of_type("AWS::DynamoDB::Table")
    pitr = tuple(
        k
        for k, t in tables.items()
        if resolver.resolve(t["Properties"].get("PointInTimeRecoverySpecification", {})).get(
            "PointInTimeRecoveryEnabled"
        )
    )
    return StackFacts(
        functions=len(of_type("AWS::Serverless::Function")),
        standard_alarms=len(alarms) - insights,
        metrics_insights_alarms=insights,
        dashboards=len(of_type("AWS::CloudWatch::Dashboard")),
        log_retention_days=int(resolver.parameter_values["LogRetentionDays"]),
        pitr_tables=pitr,
        poll_minutes=_rate_minutes(resolver.parameter_values["PollSchedule"]),
        keeper_minutes=_rate_minutes(resolver.parameter_values["KeeperSchedule"]),
        reconcile_minutes=_rate_minutes(resolver.parameter_values["ReconcileSchedule"]),
        nat_gateways=len(of_type("AWS::EC2::NatGateway")),
        nat_instances=len(of_type("AWS::EC2::Instance")),
        nat_instance_type=str(resolver.parameter_values.get("NatInstanceType", "")),
        nat_instance_volume_gb=volume,
        elastic_ips=len(of_type("AWS::EC2::EIP")),
        vpn_connections=len(of_type("AWS::EC2::VPNConnection")),
        interface_endpoint_azs=sum(len(e["Properties"]["SubnetIds"]) for e in endpoints),
    )


def profile_facts() -> dict[str, Any]:
    """The reference connection's polling and secrets, read from config/local.yaml with the profile's defaults."""
    import yaml

    from mlconnector.profile import Polling, SecretNames

    raw = yaml.safe_load((ROOT / "config" / "local.yaml").read_text(encoding="utf-8"))
    connection = next(c for c in raw["connections"] if c["name"] == "woo-psft")
    polling = Polling.model_validate(connection.get("polling", {}))
    secrets = SecretNames.model_validate(connection["secrets"])
    return {
        "overlap_seconds": polling.overlap_seconds,
        "poll_resources": list(polling.resources),
        "secrets": sum(1 for name in secrets.model_dump().values() if name),
    }


def access_log_bytes_per_request() -> int:
    """Bytes of the API's access log line for one accepted delivery (template.yaml's Format, ACCESS_LOG_VALUES)."""
    line_format = _template().resources["ConnectorApi"]["Properties"]["AccessLogSettings"]["Format"]

    def value(variable: re.Match[str]) -> str:
        if variable.group(1) not in ACCESS_LOG_VALUES:
            raise ValueError(f"access log variable $context.{variable.group(1)} has no value in ACCESS_LOG_VALUES")
        return ACCESS_LOG_VALUES[variable.group(1)]

    return len(re.sub(r"\$context\.([A-Za-z.]*[A-Za-z])", value, line_format).encode())


def lambda_cost(ms: float, mb: int) -> float:
    step = ASSUMPTIONS["billing_granularity_ms"]
    return math.ceil(ms / step) * step / 1000 * mb / 1024 * PRICES["lambda_gb_second"].usd


def usd(name: str) -> float:
    return PRICES[name].usd


# --- the part that grows with orders --------------------------------------------------------------------
def poster_batching() -> tuple[int, float]:
    """BatchSize and MaximumBatchingWindowInSeconds of the poster's SQS event in template.yaml."""
    event = _template().resources["PosterFunction"]["Properties"]["Events"]["Ingest"]["Properties"]
    return int(event["BatchSize"]), float(event.get("MaximumBatchingWindowInSeconds", 0))


def records_per_invocation(orders_per_day: float, records_per_order: float) -> float:
    batch, window = poster_batching()
    return min(float(batch), 1 + orders_per_day * records_per_order / 86_400 * window)


def variable_per_order(
    receiver: dict[str, Any], poster: dict[str, Any], poller: dict[str, Any], sightings: float, fill: float
) -> tuple[dict[str, float], dict[str, Any]]:
    """USD per order by item when the poster finds ``fill`` records per invocation (X-Ray above its reservoir),
    and the figures it rests on."""
    memory = memory_mb()
    latency = ASSUMPTIONS["aws_call_latency_ms"]
    life = poster["lifecycle"]
    slow = poster["erp_50ms"]
    webhooks = ASSUMPTIONS["webhooks_per_order"]
    records = per_order(life, "processing")  # poster records per order (customers come along)
    documents = per_order(life, "posted")
    lines: dict[str, float] = {}

    lines["api_gateway"] = webhooks * usd("api_gateway_http_request")
    r_ms = receiver["excluding_aws_calls"]["p50_ms"] + ASSUMPTIONS["receiver_aws_waits"] * latency
    lines["lambda_receiver"] = webhooks * (lambda_cost(r_ms, memory["WebhookReceiverFunction"]) + usd("lambda_request"))

    # Poster: a record's ERP calls (the 50 ms run's count per posted order) and its four DynamoDB round trips, of
    # which the records of one invocation overlap all but a batch's first claim and read and last write.
    erp_ms = slow["erp_calls_per_order"] * documents / records * ASSUMPTIONS["erp_latency_ms"]
    post_ms = erp_ms + 4 * latency / fill
    lines["lambda_poster"] = records * (lambda_cost(post_ms, memory["PosterFunction"]) + usd("lambda_request") / fill)
    largest = poller["runs"][-1]
    p_ms = 1000 / largest["orders_per_second"]  # moto-bound locally: an upper bound
    lines["lambda_poller"] = sightings * lambda_cost(p_ms, memory["PollerFunction"])
    recon_ms = ASSUMPTIONS["erp_latency_ms"] + ASSUMPTIONS["reconciler_cpu_ms_per_document"]
    lines["lambda_reconciler"] = documents * lambda_cost(recon_ms, memory["ReconcilerFunction"])

    # SQS: the receiver's send; the poster's receive and delete per invocation (the poll sends only what no webhook
    # brought, which in steady traffic is nothing).
    lines["sqs"] = (webhooks + records * 2 / fill) * usd("sqs_request")

    units = dynamodb_units_per_order(life, sightings)
    lines["dynamodb"] = units["write_units"] * usd("dynamodb_wru") + units["read_units"] * usd("dynamodb_rru")

    access_log = access_log_bytes_per_request()
    log_bytes = (receiver["log_bytes_per_webhook"] + access_log) * webhooks + slow["log_bytes_per_record"] * records
    lines["cloudwatch_logs_ingest"] = log_bytes / GB * usd("cloudwatch_logs_ingest")
    lines["xray_5_percent"] = (webhooks + records / fill) * 0.05 * usd("xray_trace")

    http = http_bytes_per_order(life, sightings)
    sent = (http["erp"]["sent"] + http["store"]["sent"]) * (1 + ASSUMPTIONS["http_overhead"])
    lines["data_transfer_out"] = sent / GB * usd("data_transfer_out_gb")
    inputs = {
        "records_per_poster_invocation": round(fill, 2),
        "records_per_order": round(records, 3),
        "documents_per_order": round(documents, 3),
        "poll_sightings_per_order": sightings,
        "modelled_ms": {
            "receiver": round(r_ms, 1),
            "poster_per_record": round(post_ms, 1),
            "poller_per_order": round(p_ms, 2),
        },
        "log_bytes_per_order": round(log_bytes, 1),
        "api_access_log_bytes_per_webhook": access_log,
        "dynamodb_units_per_order": units,
        "http_bytes_per_order": http,
        "memory_mb": memory,
    }
    return lines, inputs


def over_life(life: dict[str, Any], sightings: float, figure: Any) -> float:
    """``figure(phase)`` over an order's life: its delivery, the first poll that sees it, the overlap's re-readings."""
    return (
        figure(life["webhook_delivery"])
        + figure(life["first_poll_sighting"])
        + max(0.0, sightings - 1) * figure(life["overlap_re_reading"])
    )


def per_order(life: dict[str, Any], event: str) -> float:
    """How many ``event`` audit events the lifecycle run had per order."""
    return life["events"].get(event, 0) / life["orders"]


def dynamodb_units_per_order(life: dict[str, Any], sightings: float) -> dict[str, float]:
    return {
        "write_units": round(over_life(life, sightings, lambda phase: phase["write_units"]), 3),
        "read_units": round(over_life(life, sightings, lambda phase: phase["read_units"]), 3),
    }


def http_bytes_per_order(life: dict[str, Any], sightings: float) -> dict[str, dict[str, float]]:
    return {
        side: {
            way: round(over_life(life, sightings, lambda phase, s=side, w=way: phase["http_bytes"][s][w]), 1)
            for way in ("sent", "received")
        }
        for side in life["webhook_delivery"]["http_bytes"]
    }


def egress_bytes_per_order(http: dict[str, dict[str, float]]) -> float:
    """Bytes an order sends and receives through the egress (the ERP, the store, AWS APIs other than DynamoDB)."""
    total = sum(side["sent"] + side["received"] for side in http.values())
    return total * (1 + ASSUMPTIONS["http_overhead"]) + ASSUMPTIONS["aws_api_bytes_per_order_through_egress"]


# --- the fixed part, per customer ---------------------------------------------------------------------
def monthly(
    orders_per_day: int,
    lines: dict[str, float],
    inputs: dict[str, Any],
    life: dict[str, Any],
    profile: dict[str, Any],
) -> dict[str, Any]:
    """One reference customer's month: the variable items, the fixed items always there, and each option's."""
    orders = orders_per_day * DAYS_PER_MONTH
    memory = inputs["memory_mb"]
    base = stack_facts({})
    connections = ASSUMPTIONS["connections"]
    variable = {k: v * orders for k, v in lines.items()}

    fixed: dict[str, float] = {}
    fixed["secrets_manager_secrets"] = profile["secrets"] * connections * usd("secrets_manager_secret")
    fixed["secrets_manager_refreshes"] = ASSUMPTIONS["secret_refreshes_per_month"] * usd("secrets_manager_api_call")
    fixed["ssm_profile"] = usd("ssm_advanced_parameter") + ASSUMPTIONS["profile_reads_per_month"] * usd(
        "ssm_advanced_api_call"
    )
    fixed["cloudwatch_alarms"] = (base.standard_alarms + base.metrics_insights_alarms * connections) * usd(
        "cloudwatch_alarm"
    )
    fixed["cloudwatch_dashboard"] = base.dashboards * usd("cloudwatch_dashboard")
    metrics = (
        len(ASSUMPTIONS["custom_metrics_per_connection"]) * connections
        + len(ASSUMPTIONS["custom_metrics_per_stack"])
        + base.functions  # ColdStart, per function
    )
    fixed["cloudwatch_custom_metrics"] = metrics * usd("cloudwatch_custom_metric")
    log_gb = inputs["log_bytes_per_order"] * orders / GB
    fixed["cloudwatch_log_storage"] = log_gb * base.log_retention_days / DAYS_PER_MONTH * usd("cloudwatch_logs_storage")

    sizes = life["item_sizes"]
    overhead = ASSUMPTIONS["dynamodb_item_overhead_bytes"]
    per_order_bytes = {
        name: sizes[name]["items"] / life["orders"] * (sizes[name]["mean_bytes"] + overhead) for name in sizes
    }
    months = ASSUMPTIONS["dynamodb_storage_after_months"]
    kept_orders = {
        "Audit": orders * months,
        "State": orders * months,
        "Idempotency": orders_per_day * ASSUMPTIONS["idempotency_days_kept"],
    }
    table_gb = {name: per_order_bytes[name] * kept_orders[name] / GB for name in per_order_bytes}
    fixed["dynamodb_storage"] = sum(table_gb.values()) * usd("dynamodb_storage")
    fixed["dynamodb_pitr"] = sum(table_gb[f"{t.removesuffix('Table')}"] for t in base.pitr_tables) * usd(
        "dynamodb_pitr"
    )

    polls = SECONDS_PER_MONTH / 60 / base.poll_minutes * connections
    poll_ms = ASSUMPTIONS["poll_run_ms_per_resource"] * len(profile["poll_resources"])
    keeper_runs = SECONDS_PER_MONTH / 60 / base.keeper_minutes
    recon_runs = SECONDS_PER_MONTH / 60 / base.reconcile_minutes
    fixed["scheduled_runs"] = (
        polls * (lambda_cost(poll_ms, memory["PollerFunction"]) + usd("lambda_request"))
        + keeper_runs
        * (lambda_cost(ASSUMPTIONS["keeper_run_ms"], memory["WebhookKeeperFunction"]) + usd("lambda_request"))
        + recon_runs
        * (lambda_cost(ASSUMPTIONS["reconciler_run_ms"], memory["ReconcilerFunction"]) + usd("lambda_request"))
        + (polls + keeper_runs + recon_runs) * usd("scheduler_invocation")
    )
    fixed["sqs_event_source_polling"] = ASSUMPTIONS["sqs_event_source_polls_per_month"] * usd("sqs_request")
    # X-Ray: traced per second = 5 % of requests (variable, above) + 95 % of the first one each second.
    requests_per_second = (
        orders
        * (ASSUMPTIONS["webhooks_per_order"] + inputs["records_per_order"] / inputs["records_per_poster_invocation"])
        + polls
        + keeper_runs
        + recon_runs
    ) / SECONDS_PER_MONTH
    fixed["xray_reservoir"] = 0.95 * min(requests_per_second, 1.0) * SECONDS_PER_MONTH * usd("xray_trace")

    nat_gb = egress_bytes_per_order(inputs["http_bytes_per_order"]) * orders / GB
    options = {
        "nat_gateway": _egress({"UseVpc": "true", "EgressMode": "NatGateway"}, nat_gb),
        "nat_instance": _egress({"UseVpc": "true", "EgressMode": "NatInstance"}, nat_gb),
        "vpn": {
            "vpn_connection_hours": stack_facts({"UseVpc": "true", "UseVpn": "true"}).vpn_connections
            * HOURS_PER_MONTH
            * usd("vpn_connection_hour")
        },
        "interface_endpoints": _endpoints(orders),
    }
    total_variable = sum(variable.values())
    total_fixed = sum(fixed.values())
    return {
        "orders_per_day": orders_per_day,
        "orders_per_month": round(orders),
        "variable": {k: round(v, 2) for k, v in variable.items()},
        "fixed": {k: round(v, 2) for k, v in fixed.items()},
        "options": {name: {k: round(v, 2) for k, v in items.items()} for name, items in options.items()},
        "table_gb_after_months": {k: round(v, 2) for k, v in table_gb.items()},
        "egress_gb_per_month": round(nat_gb, 2),
        "totals": {
            "variable": round(total_variable, 2),
            "fixed": round(total_fixed, 2),
            "no_vpc": round(total_variable + total_fixed, 2),
            **{
                f"vpc_{name}": round(total_variable + total_fixed + sum(options[name].values()), 2)
                for name in ("nat_gateway", "nat_instance")
            },
        },
    }


def _egress(overrides: dict[str, str], nat_gb: float) -> dict[str, float]:
    """The static egress of one EgressMode: the NAT gateway or instance, the Elastic IP, what traffic costs."""
    facts = stack_facts(overrides)
    items = {"elastic_ip": facts.elastic_ips * HOURS_PER_MONTH * usd("public_ipv4_hour")}
    if facts.nat_gateways:
        items["nat_gateway_hours"] = facts.nat_gateways * HOURS_PER_MONTH * usd("nat_gateway_hour")
        items["nat_gateway_data_processing"] = nat_gb * usd("nat_gateway_gb")
    if facts.nat_instances:
        hourly = usd(f"ec2_{facts.nat_instance_type.replace('.', '_')}_hour")
        items["nat_instance_hours"] = facts.nat_instances * HOURS_PER_MONTH * hourly
        items["nat_instance_volume"] = facts.nat_instance_volume_gb * usd("ebs_gp3_gb")
        items["nat_instance_alarm"] = (facts.standard_alarms - stack_facts({}).standard_alarms) * usd(
            "cloudwatch_alarm"
        )
    return items


def _endpoints(orders: float) -> dict[str, float]:
    """Interface endpoints for SQS, Secrets Manager and SSM in each private subnet's AZ, and their traffic."""
    facts = stack_facts({"UseVpc": "true", "UseInterfaceEndpoints": "true"})
    aws_gb = ASSUMPTIONS["aws_api_bytes_per_order_through_egress"] * orders / GB
    return {
        "interface_endpoint_hours": facts.interface_endpoint_azs * HOURS_PER_MONTH * usd("interface_endpoint_hour"),
        "interface_endpoint_data": aws_gb * usd("interface_endpoint_gb"),
    }


def run() -> dict[str, Any]:
    receiver = read_result("receiver")
    poster = read_result("poster")
    poller = read_result("poller")
    if not (receiver and poster and poller and "lifecycle" in poster):
        say("== cost: skipped (run the receiver, poster and poller benchmarks first)")
        return {}
    profile = profile_facts()
    facts = stack_facts({})
    sightings = 1 + profile["overlap_seconds"] / (facts.poll_minutes * 60)
    life = poster["lifecycle"]
    customers = []
    for orders_per_day in ASSUMPTIONS["reference_customers_orders_per_day"]:
        fill = records_per_invocation(orders_per_day, per_order(life, "processing"))
        lines, inputs = variable_per_order(receiver, poster, poller, sightings, fill)
        customers.append(
            {
                **monthly(orders_per_day, lines, inputs, life, profile),
                "usd_per_million_orders": round(sum(lines.values()) * 1e6, 2),
                "breakdown_usd_per_million_orders": {k: round(v * 1e6, 2) for k, v in lines.items()},
                "inputs": inputs,
            }
        )
    largest = customers[-1]
    total = largest["usd_per_million_orders"]
    poster_wru = poster_write_units_per_record(life)
    figures = {
        "usd_per_million_orders": total,
        "at_orders_per_day": largest["orders_per_day"],
        "breakdown_usd_per_million_orders": largest["breakdown_usd_per_million_orders"],
        "poster_write_units_per_record": poster_wru,
        "customers": customers,
        "stack_facts": asdict(facts),
        "profile_facts": profile,
        "prices": {k: asdict(v) for k, v in PRICES.items()},
        "assumptions": ASSUMPTIONS,
    }
    say(
        f"== cost: ${total:.2f} per million orders for what grows with orders, at "
        f"{largest['orders_per_day']:,} orders a day (AWS list prices, us-east-1)"
    )
    for key, value in sorted(largest["breakdown_usd_per_million_orders"].items(), key=lambda kv: -kv[1]):
        say(f"  {key:<26} ${value:8.2f}")
    units = largest["inputs"]["dynamodb_units_per_order"]
    say(
        f"  DynamoDB per order: {units['write_units']} write units, {units['read_units']} read units "
        f"({sightings:g} poll sightings); the poster writes {poster_wru} units per record"
    )
    for customer in customers:
        t = customer["totals"]
        say(
            f"  {customer['orders_per_day']:>7,} orders/day: ${t['variable']:.2f} variable + ${t['fixed']:.2f} fixed"
            f" = ${t['no_vpc']:.2f}/month; with the static egress IP ${t['vpc_nat_gateway']:.2f} (NAT gateway)"
            f" or ${t['vpc_nat_instance']:.2f} (NAT instance)"
        )
    write_result("cost", figures)
    return figures


def poster_write_units_per_record(life: dict[str, Any]) -> float:
    delivery = life["webhook_delivery"]
    poster = sum(v for k, v in delivery["write_units_by"].items() if k.startswith("poster "))
    records = life["events"]["processing"] / life["orders"]
    return round(poster / records, 2)


if __name__ == "__main__":
    run()
