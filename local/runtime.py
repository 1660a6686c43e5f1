"""The Docker-free local runtime: template.yaml run on an embedded AWS, in one process.

It starts moto in server mode on loopback, creates exactly the queues, tables and EventBridge buses
and rules the template declares (read from the template, so local and deployed cannot drift; with
ShopifyEventSourceName set, the Shopify partner event bus, whose rule EventBridge applies as on AWS),
serves the template's API routes over HTTP as API Gateway would (REST proxy events), runs the SQS
event-source mappings (batch size, MaximumConcurrency, partial batch responses, visibility timeout and
redrive to the DLQ, which moto applies from the queue's RedrivePolicy), runs the ScheduleV2
schedules at their rate and on demand, and invokes the real handlers in-process with the
environment the template gives them and a Lambda-like context.

Fault injection: ``crash_next_invocations`` runs the next invocations of a function in a container process
that is killed partway, as Lambda's host kills a container that runs out of memory.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import importlib.util
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import requests
from werkzeug.wrappers import Request, Response

from local.template import Resolver, Template, TemplateError
from sandbox.runner import RunningServer, serve

REGION = "us-east-1"
ACCOUNT = "123456789012"
API_STAGE = "live"
MAX_API_BODY = 10 * 1024 * 1024  # API Gateway's payload limit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LambdaContext:
    """What a handler sees of the Lambda runtime."""

    function_name: str
    memory_limit_in_mb: int
    timeout_seconds: int
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/{self.aws_request_id}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


@dataclass
class LocalFunction:
    """A function and its warm containers: like Lambda, one invocation per container at a time.

    Each container is its own import of the handler module, so module-level state (clients,
    caches, the batch processor) is never shared by two invocations running at once.
    """

    logical_id: str
    name: str
    code_dir: Path
    handler: str
    timeout: int
    memory: int
    environment: dict[str, str]
    events: dict[str, dict[str, Any]]
    idle: list[ModuleType] = field(default_factory=list)
    cold_starts: int = 0
    pool_lock: threading.Lock = field(default_factory=threading.Lock)

    def _new_container(self, import_lock: threading.Lock) -> ModuleType:
        module_name = self.handler.rsplit(".", 1)[0]
        with import_lock:
            os.environ.update(self.environment)
            path = self.code_dir / f"{module_name.replace('.', '/')}.py"
            unique = f"_local_{self.logical_id}_{uuid.uuid4().hex[:8]}"
            spec = importlib.util.spec_from_file_location(unique, path)
            if spec is None or spec.loader is None:
                raise TemplateError(f"{self.logical_id}: cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[unique] = module
            spec.loader.exec_module(module)
        with self.pool_lock:
            self.cold_starts += 1
        return module

    def warm_up(self, import_lock: threading.Lock) -> None:
        module = self._new_container(import_lock)
        with self.pool_lock:
            self.idle.append(module)

    @contextlib.contextmanager
    def container(self, import_lock: threading.Lock) -> Iterator[Callable[[dict, Any], Any]]:
        """A warm container's handler, or a cold-started new one when all are busy."""
        with self.pool_lock:
            module = self.idle.pop(0) if self.idle else None  # oldest first: every warm container gets reused
        if module is None:
            module = self._new_container(import_lock)
        try:
            yield getattr(module, self.handler.rsplit(".", 1)[1])
        finally:
            with self.pool_lock:
                self.idle.append(module)


@dataclass(frozen=True)
class SqsBatching:
    """An SQS event source's BatchSize and MaximumBatchingWindowInSeconds."""

    size: int
    window_seconds: float


class ContainerKilled(Exception):
    """The invocation's container was killed before the function returned (``crash_next_invocations``)."""


@dataclass
class CrashPlan:
    """Crashes armed for one function: how many are left, and after which AWS call each container is killed."""

    remaining: int
    after_call: str
    calls: int
    visible_again_after: float | None


@dataclass(frozen=True)
class Crash:
    """An invocation run in a container process that was to be killed: its records, when it started, and when it
    was killed (None: the function returned first)."""

    function: str
    records: tuple[dict[str, Any], ...]
    started: float
    killed_at: float | None
    peak_rss_kb: int


@dataclass
class InvocationStats:
    invocations: int = 0
    errors: int = 0
    durations_ms: list[float] = field(default_factory=list)


class LocalRuntime:
    """template.yaml on loopback. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        template_path: str | Path = "template.yaml",
        *,
        parameters: Mapping[str, Any] | None = None,
        stack_name: str = "ml-connector-local",
        profile_path: str | Path | None = None,
        secrets: Mapping[str, Mapping[str, str]] | None = None,
        environment: Mapping[str, str] | None = None,
        run_schedules: bool = False,
        api_port: int = 0,
        poll_wait_seconds: int = 1,
        public_url: str | None = None,
    ) -> None:
        self.template = Template.load(template_path)
        self.root = Path(template_path).resolve().parent
        self.stack_name = stack_name
        self.parameter_overrides = dict(parameters or {})
        self.profile_path = Path(profile_path) if profile_path else None
        self.secrets = {k: dict(v) for k, v in (secrets or {}).items()}
        self.extra_environment = dict(environment or {})
        self.run_schedules = run_schedules
        self.api_port = api_port
        self.poll_wait_seconds = poll_wait_seconds
        self.public_url = public_url.rstrip("/") if public_url else None
        self.functions: dict[str, LocalFunction] = {}
        self.stats: dict[str, InvocationStats] = {}
        self.outputs: dict[str, str] = {}
        self._threads: list[threading.Thread] = []
        self._event_sources: list[SqsEventSource] = []
        self._stop = threading.Event()
        self._import_lock = threading.Lock()
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._crash_plans: dict[str, CrashPlan] = {}
        #: Invocations run in a container that was to be killed, in the order they started.
        self.crashes: list[Crash] = []
        self._moto: Any = None
        self._api: RunningServer | None = None
        self.endpoint = ""
        self.resolver: Resolver | None = None

    # --- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> LocalRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalRuntime:
        port = free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        self._moto = _start_moto(port, self.endpoint)
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()
        self._configure_process_environment()
        self.resolver = Resolver.create(
            self.template,
            self.parameter_overrides,
            {
                "AWS::Region": REGION,
                "AWS::AccountId": ACCOUNT,
                "AWS::StackName": self.stack_name,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
            },
        )
        self._create_resources()
        self._seed()
        self._api = serve(self._api_app, port=self.api_port)
        self._load_functions()
        self._resolve_outputs()
        self._start_event_sources()
        return self

    def stop(self) -> None:
        self.stop_event_sources()
        if self._api:
            self._api.stop()
        if self._moto:
            self._moto.terminate()
            try:
                self._moto.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._moto.kill()

    def stop_event_sources(self) -> None:
        """Stop the SQS mappings and the schedules; the API and the embedded AWS keep running. A mapping deletes
        what its function processed and hands back, visible at once, what it had received but not delivered."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        for source in self._event_sources:
            source.stop()
        self._event_sources.clear()

    def _configure_process_environment(self) -> None:
        """Point every boto3 client in this process (handlers included) at the embedded AWS."""
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_DEV": os.environ.get("POWERTOOLS_DEV", "false"),
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        from aws_lambda_powertools.utilities import parameters

        from mlconnector.aws import clients
        from mlconnector.profile import current_profile
        from mlconnector.published_profile import current_webhook_connections

        clients.reset()
        parameters.clear_caches()
        current_profile.cache_clear()
        current_webhook_connections.cache_clear()

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION)

    # --- resources ---------------------------------------------------------------------------------
    def _create_resources(self) -> None:
        assert self.resolver
        supported = {
            "AWS::SQS::Queue": self._create_queue,
            "AWS::DynamoDB::Table": self._create_table,
            "AWS::Events::EventBus": self._create_event_bus,
            "AWS::Events::Rule": self._create_rule,
            "AWS::SQS::QueuePolicy": self._apply_queue_policy,
        }
        names = [k for k, v in self.template.resources.items() if v["Type"] in supported]
        for logical_id in self.template.creation_order(names):
            resource = self.template.resources[logical_id]
            if "Condition" in resource and not self.resolver.condition(resource["Condition"]):
                continue
            properties = self.resolver.resolve(resource.get("Properties", {}))
            supported[resource["Type"]](logical_id, properties)
        for logical_id, resource in self.template.resources.items():
            if resource["Type"] == "AWS::Serverless::LayerVersion":
                self.resolver.refs[logical_id] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{logical_id}:1"
            elif resource["Type"] == "AWS::Serverless::HttpApi":
                self.resolver.refs[logical_id] = "local"

    def _create_queue(self, logical_id: str, props: dict[str, Any]) -> None:
        sqs = self.client("sqs")
        name = props.get("QueueName") or f"{self.stack_name}-{logical_id}-{uuid.uuid4().hex[:8]}"
        attributes = {}
        for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"):
            if key in props:
                attributes[key] = str(props[key])
        for key in ("RedrivePolicy", "RedriveAllowPolicy"):
            if key in props:
                attributes[key] = json.dumps(props[key])
        if props.get("SqsManagedSseEnabled"):
            attributes["SqsManagedSseEnabled"] = "true"
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        assert self.resolver
        self.resolver.refs[logical_id] = url
        self.resolver.attributes[logical_id] = {"Arn": arn, "QueueName": name, "QueueUrl": url}

    def _create_table(self, logical_id: str, props: dict[str, Any]) -> None:
        ddb = self.client("dynamodb")
        name = props.get("TableName") or f"{self.stack_name}-{logical_id}-{uuid.uuid4().hex[:8]}"
        kwargs: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        ddb.create_table(**kwargs)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        pitr = props.get("PointInTimeRecoverySpecification", {})
        if pitr.get("PointInTimeRecoveryEnabled"):
            ddb.update_continuous_backups(
                TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
        arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
        assert self.resolver
        self.resolver.refs[logical_id] = name
        self.resolver.attributes[logical_id] = {"Arn": arn}

    def _create_event_bus(self, logical_id: str, props: dict[str, Any]) -> None:
        """A partner event bus accepts the partner event source of the same name. On AWS the partner (Shopify, from
        the app's settings) has created the source in this account; here the runtime creates it first."""
        events = self.client("events")
        name = props["Name"]
        source = props.get("EventSourceName")
        if source:
            if source != name:
                raise TemplateError(f"{logical_id}: a partner event bus must be named after its event source")
            events.create_partner_event_source(Name=source, Account=ACCOUNT)
            arn = events.create_event_bus(Name=name, EventSourceName=source)["EventBusArn"]
        else:
            arn = events.create_event_bus(Name=name)["EventBusArn"]
        assert self.resolver
        self.resolver.refs[logical_id] = name
        self.resolver.attributes[logical_id] = {"Arn": arn, "Name": name}

    def _create_rule(self, logical_id: str, props: dict[str, Any]) -> None:
        events = self.client("events")
        bus = props.get("EventBusName", "default")
        name = props.get("Name") or f"{self.stack_name}-{logical_id}-{uuid.uuid4().hex[:8]}"
        arn = events.put_rule(
            Name=name,
            EventBusName=bus,
            EventPattern=json.dumps(props["EventPattern"]),
            State=props.get("State", "ENABLED"),
            Description=props.get("Description", ""),
        )["RuleArn"]
        if props.get("Targets"):
            events.put_targets(Rule=name, EventBusName=bus, Targets=props["Targets"])
        assert self.resolver
        self.resolver.refs[logical_id] = name if bus == "default" else f"{bus}|{name}"  # CloudFormation's Ref
        self.resolver.attributes[logical_id] = {"Arn": arn}

    def _apply_queue_policy(self, logical_id: str, props: dict[str, Any]) -> None:
        """Kept on the queues as on AWS (the embedded SQS does not enforce it)."""
        sqs = self.client("sqs")
        for url in props["Queues"]:
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})

    def put_partner_event(self, source_arn: str, event: Mapping[str, Any]) -> bool:
        """Deliver ``event`` (``source``, ``detail-type``, ``detail``) as an EventBridge SaaS partner does with
        PutPartnerEvents for the event source ``source_arn``: onto the partner event bus that accepted the source,
        whose rules route it. False when no bus in this region accepted it: AWS drops such events.

        moto's PutPartnerEvents puts partner events on the default bus, so the runtime puts the event on the
        partner event bus itself.
        """
        region, _, name = source_arn.removeprefix("arn:aws:events:").partition("::event-source/")
        events = self.client("events")
        buses = {b["Name"] for b in events.list_event_buses(NamePrefix=name).get("EventBuses", [])}
        if region != REGION or name not in buses or event.get("source") != name:
            return False
        entry = {
            "Source": name,
            "DetailType": str(event["detail-type"]),
            "Detail": json.dumps(event["detail"]),
            "EventBusName": name,
        }
        result = events.put_events(Entries=[entry])
        if result.get("FailedEntryCount"):
            raise RuntimeError(f"EventBridge refused the partner event: {result['Entries']}")
        return True

    def _seed(self) -> None:
        """What the operator provides outside the stack: the profile parameter and the secrets."""
        assert self.resolver
        secrets = self.client("secretsmanager")
        for name, value in self.secrets.items():
            secrets.create_secret(Name=name, SecretString=json.dumps(value))
        if self.profile_path:
            location = self.resolver.resolve(self.template.function_globals["Environment"]["Variables"])[
                "CONNECTOR_PROFILE"
            ]
            if not location.startswith("ssm:"):
                raise TemplateError("CONNECTOR_PROFILE must name an SSM parameter (ssm:/...)")
            self.put_profile(self.profile_path.read_text(encoding="utf-8"), location.removeprefix("ssm:"))

    def put_profile(self, text: str, parameter_name: str) -> None:
        """Publish a profile as ``mlc profile push`` does: validated, ``${VAR}`` expanded, as JSON."""
        from mlconnector.profile import parse_profile, publish

        document = publish(parse_profile(text, str(self.profile_path or parameter_name)))
        self.client("ssm").put_parameter(
            Name=parameter_name, Value=document, Type="String", Tier="Advanced", Overwrite=True
        )

    def put_secret(self, name: str, value: Mapping[str, str]) -> None:
        """Replace a secret's value (tests rotate or break credentials with it)."""
        self.client("secretsmanager").put_secret_value(SecretId=name, SecretString=json.dumps(dict(value)))
        from aws_lambda_powertools.utilities import parameters

        parameters.clear_caches()

    # --- functions ---------------------------------------------------------------------------------
    def _load_functions(self) -> None:
        assert self.resolver
        glob = self.template.function_globals
        for logical_id, resource in self.template.of_type("AWS::Serverless::Function").items():
            if "Condition" in resource and not self.resolver.condition(resource["Condition"]):
                continue
            props = resource["Properties"]
            env = {
                **self.resolver.resolve(glob.get("Environment", {}).get("Variables", {})),
                **self.resolver.resolve(props.get("Environment", {}).get("Variables", {})),
                **self.extra_environment,
            }
            env = {k: self._local_url(str(v)) for k, v in env.items()}
            function = LocalFunction(
                logical_id=logical_id,
                name=f"{self.stack_name}-{logical_id}",
                code_dir=self.root / props["CodeUri"],
                handler=props.get("Handler", glob.get("Handler", "app.lambda_handler")),
                timeout=int(props.get("Timeout", glob.get("Timeout", 3))),
                memory=int(props.get("MemorySize", glob.get("MemorySize", 128))),
                environment={k: str(v) for k, v in env.items()},
                events=props.get("Events", {}),
            )
            self.functions[logical_id] = function
            self.stats[logical_id] = InvocationStats()
        for function in self.functions.values():
            function.warm_up(self._import_lock)

    def _local_url(self, value: str) -> str:
        """The deployed API's URL (https://<id>.execute-api.<region>.amazonaws.com/<stage>) becomes the local
        one, or ``public_url`` (a tunnel to the local API) when a real store must reach it."""
        return _EXECUTE_API.sub(self.public_url or self.api_url, value)

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        """Invoke a function in-process as Lambda would, with a fresh context."""
        function = self.functions[logical_id]
        context = LambdaContext(function.name, function.memory, function.timeout)
        stats = self.stats[logical_id]
        started = time.perf_counter()
        with self._busy_lock:
            self._busy += 1
        try:
            crash = self._take_crash(logical_id)
            if crash:
                return self._invoke_and_kill(function, event, crash)
            with function.container(self._import_lock) as handler:
                return handler(event, context)
        except Exception:
            stats.errors += 1
            raise
        finally:
            with self._busy_lock:
                self._busy -= 1
            stats.invocations += 1
            stats.durations_ms.append((time.perf_counter() - started) * 1000)

    # --- crash injection ---------------------------------------------------------------------------
    def crash_next_invocations(
        self,
        logical_id: str,
        count: int,
        *,
        after_call: str,
        calls: int = 1,
        visible_again_after: float | None = None,
    ) -> None:
        """Kill the next ``count`` invocations of a function partway, as Lambda's host kills a container that runs
        out of memory: at a point the function does not choose and is not told of.

        While crashes are armed, each invocation runs in a container process of its own, killed (SIGKILL) the
        moment its ``calls``-th ``after_call`` AWS call (``"dynamodb:BatchWriteItem"``) has returned. What it had not
        written yet is lost, and an SQS batch is not deleted: every message of it comes back after the queue's
        visibility timeout (or ``visible_again_after`` seconds, for a test that cannot wait that long). An
        invocation that returns before it gets that far is a normal one and leaves the crash for the next. A
        container still running at the function's timeout is killed then, as Lambda does.
        """
        with self._busy_lock:
            self._crash_plans[logical_id] = CrashPlan(count, after_call, calls, visible_again_after)

    def _take_crash(self, logical_id: str) -> CrashPlan | None:
        with self._busy_lock:
            plan = self._crash_plans.get(logical_id)
            if not plan or plan.remaining <= 0:
                return None
            plan.remaining -= 1
            return plan

    def _invoke_and_kill(self, function: LocalFunction, event: dict[str, Any], plan: CrashPlan) -> Any:
        ready, answer_fd = os.pipe()
        spec = {
            "code_dir": str(function.code_dir),
            "handler": function.handler,
            "name": function.name,
            "memory": function.memory,
            "timeout": function.timeout,
            "answer_fd": answer_fd,
            "kill_after": [plan.after_call, plan.calls],
        }
        process = subprocess.Popen(  # noqa: S603 - our own interpreter running this module's container entry point
            [sys.executable, "-m", "local.runtime", json.dumps(spec)],
            cwd=self.root,
            env={**os.environ, **function.environment},
            stdin=subprocess.PIPE,
            pass_fds=(answer_fd,),
        )
        os.close(answer_fd)
        records = tuple(event.get("Records", ()))
        with os.fdopen(ready, "r", encoding="utf-8") as answers:
            assert process.stdin
            process.stdin.write(json.dumps(event).encode())
            process.stdin.close()
            if answers.readline() != "ready\n":  # the container's cold start failed
                process.wait()
                with self._busy_lock:
                    plan.remaining += 1
                raise ContainerKilled(f"{function.logical_id}: the container process exited with {process.returncode}")
            started, peak = time.time(), 0
            deadline = time.monotonic() + function.timeout
            while process.poll() is None and time.monotonic() < deadline:
                peak = max(peak, _peak_rss_kb(process.pid))
                time.sleep(0.1)
            if process.poll() is None:  # the function's timeout
                process.kill()
            if process.wait() == -signal.SIGKILL:
                self.crashes.append(Crash(function.logical_id, records, started, time.time(), peak))
                if plan.visible_again_after is not None:
                    self._make_visible_after(records, plan.visible_again_after)
                raise ContainerKilled(f"{function.logical_id}: container killed")
            with self._busy_lock:
                plan.remaining += 1
            if process.returncode != 0:
                raise RuntimeError(f"{function.logical_id}: the container process exited with {process.returncode}")
            self.crashes.append(Crash(function.logical_id, records, started, None, peak))
            return json.loads(answers.readline() or "null")

    def _make_visible_after(self, records: tuple[dict[str, Any], ...], seconds: float) -> None:
        sqs = self.client("sqs")
        for record in records:
            sqs.change_message_visibility(
                QueueUrl=self.queue_url_for_arn(record["eventSourceARN"]),
                ReceiptHandle=record["receiptHandle"],
                VisibilityTimeout=int(seconds),
            )

    # --- API Gateway (HTTP API, payload format 2.0) ----------------------------------------------------
    def _routes(self) -> list[tuple[str, re.Pattern[str], str, str]]:
        routes = []
        for logical_id, function in self.functions.items():
            for event in function.events.values():
                if event["Type"] != "HttpApi":
                    continue
                path, method = event["Properties"]["Path"], event["Properties"]["Method"].upper()
                pattern = re.compile("^" + re.sub(r"\{(\w+)\+?\}", r"(?P<\1>[^/]+)", path) + "$")
                routes.append((method, pattern, path, logical_id))
        return routes

    @Request.application
    def _api_app(self, request: Request) -> Response:
        if request.content_length and request.content_length > MAX_API_BODY:
            return _api_message(413, "Request Entity Too Large")
        for method, pattern, path, logical_id in self._routes():
            match = pattern.match(request.path)
            if match and request.method == method:
                event = api_event(request, f"{method} {path}", match.groupdict())
                try:
                    result = self.invoke(logical_id, event)
                except Exception:
                    return _api_message(500, "Internal Server Error")
                return self._api_response(result)
        return _api_message(404, "Not Found")

    @staticmethod
    def _api_response(result: Any) -> Response:
        """Payload format 2.0's answer: a dict with statusCode as the function shaped it; anything else that is
        JSON API Gateway sends as a 200 application/json body."""
        if not (isinstance(result, dict) and "statusCode" in result):
            try:
                return Response(json.dumps(result), 200, content_type="application/json")
            except (TypeError, ValueError):
                return _api_message(500, "Internal Server Error")
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
        response = Response(data, int(result["statusCode"]))
        for key, value in (result.get("headers") or {}).items():
            response.headers[key] = str(value)
        for cookie in result.get("cookies") or []:
            response.headers.add("Set-Cookie", str(cookie))
        return response

    @property
    def api_url(self) -> str:
        assert self._api
        return self._api.url

    def webhook_url(self, connection: str) -> str:
        return f"{self.api_url}/webhooks/{connection}"

    def _resolve_outputs(self) -> None:
        assert self.resolver
        for name, output in self.template.body.get("Outputs", {}).items():
            try:
                self.outputs[name] = self._local_url(str(self.resolver.resolve(output["Value"])))
            except TemplateError:
                continue  # outputs of resources the local runtime does not create (VPC, alarms)

    # --- SQS event-source mappings -----------------------------------------------------------------
    def _start_event_sources(self) -> None:
        assert self.resolver
        for logical_id, function in self.functions.items():
            for event_name, event in function.events.items():
                props = self.resolver.resolve(event.get("Properties", {}))
                if event["Type"] == "SQS":
                    self._start_sqs_mapping(logical_id, props)
                elif event["Type"] == "ScheduleV2" and self.run_schedules:
                    self._start_schedule(logical_id, event_name, props)

    def queue_url_for_arn(self, arn: str) -> str:
        assert self.resolver
        for attributes in self.resolver.attributes.values():
            if attributes.get("Arn") == arn and "QueueUrl" in attributes:
                return attributes["QueueUrl"]
        raise TemplateError(f"no queue with ARN {arn}")

    def _start_sqs_mapping(self, logical_id: str, props: dict[str, Any]) -> None:
        queue_arn = props["Queue"]
        source = SqsEventSource(
            sqs=self.client("sqs"),
            queue_url=self.queue_url_for_arn(queue_arn),
            queue_arn=queue_arn,
            batching=SqsBatching(
                size=int(props.get("BatchSize", 10)),
                window_seconds=float(props.get("MaximumBatchingWindowInSeconds", 0)),
            ),
            concurrency=int(props.get("ScalingConfig", {}).get("MaximumConcurrency", 2)),
            partial="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
            invoke=functools.partial(self.invoke, logical_id),
            wait_seconds=self.poll_wait_seconds,
            name=f"esm-{logical_id}",
        )
        source.start()
        self._event_sources.append(source)

    def queue_depth(self, url: str) -> int:
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def wait_until_drained(self, queue_output: str = "IngestQueueUrl", timeout: float = 120.0) -> bool:
        """True once the queue is empty (nothing visible, nothing in flight) and no handler is running.

        Checks every quarter second and wants three quiet checks in a row: each check is a
        GetQueueAttributes that the embedded SQS answers by counting every message.
        """
        url = self.outputs[queue_output]
        deadline = time.monotonic() + timeout
        quiet_checks = 0
        while time.monotonic() < deadline:
            with self._busy_lock:
                busy = self._busy
            quiet_checks = quiet_checks + 1 if busy == 0 and self.queue_depth(url) == 0 else 0
            if quiet_checks >= 3:
                return True
            time.sleep(0.25)
        return False

    # --- schedules ---------------------------------------------------------------------------------
    def schedule_events(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(function, event name, resolved properties) for every ScheduleV2 in the template."""
        assert self.resolver
        found = []
        for logical_id, function in self.functions.items():
            for event_name, event in function.events.items():
                if event["Type"] == "ScheduleV2":
                    found.append((logical_id, event_name, self.resolver.resolve(event.get("Properties", {}))))
        return found

    def trigger_schedule(self, logical_id: str, event_name: str, *, input_override: dict | None = None) -> Any:
        """Run a schedule now, with the Input the template gives it (placeholders filled in)."""
        for function_id, name, props in self.schedule_events():
            if function_id == logical_id and name == event_name:
                return self.invoke(logical_id, input_override or _schedule_input(props))
        raise KeyError(f"{logical_id}.{event_name}")

    def _start_schedule(self, logical_id: str, event_name: str, props: dict[str, Any]) -> None:
        if props.get("State", "ENABLED") != "ENABLED":
            return
        seconds = _rate_seconds(props["ScheduleExpression"])
        if seconds is None:
            return  # cron expressions run on demand locally (trigger_schedule)

        def run() -> None:
            while not self._stop.wait(seconds):
                try:
                    self.invoke(logical_id, _schedule_input(props))
                except Exception as exc:
                    print(f"schedule {logical_id}.{event_name} failed: {type(exc).__name__}", file=sys.stderr)

        thread = threading.Thread(target=run, name=f"schedule-{logical_id}-{event_name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    # --- convenience -------------------------------------------------------------------------------
    def post_webhook(self, connection: str, body: bytes, headers: Mapping[str, str]) -> requests.Response:
        return requests.post(self.webhook_url(connection), data=body, headers=dict(headers), timeout=10)


def _start_moto(port: int, endpoint: str, timeout: float = 30.0) -> subprocess.Popen:
    """The embedded AWS: moto's server (with local/aws_server.py's fixes) in its own process, so it
    runs on another core than the handlers."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter running moto's server module
        [sys.executable, "-m", "local.aws_server", "-H", "127.0.0.1", "-p", str(port)],
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the embedded AWS (moto server) exited with code {process.returncode}")
        try:
            requests.get(f"{endpoint}/moto-api/data.json", timeout=1)
            return process
        except requests.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the embedded AWS did not start on port {port} within {timeout:.0f}s")


class SqsEventSource:
    """Lambda's SQS event source mapping: a poller receives the next batch while the function runs, up to
    ``concurrency`` instances take batches as they free up, and what they processed is deleted in the
    background. The invocation (``invoke(event)``) decides, through ``batchItemFailures`` when ``partial``,
    which messages stay; a failed invocation leaves the whole batch to its visibility timeout.
    """

    def __init__(
        self,
        *,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        batching: SqsBatching,
        concurrency: int,
        partial: bool,
        invoke: Callable[[dict[str, Any]], Any],
        wait_seconds: int,
        name: str,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.batching = batching
        self.partial = partial
        self.invoke = invoke
        self.wait_seconds = wait_seconds
        self._ready: queue.Queue[list[dict]] = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._deletes = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-delete")
        self._threads = [threading.Thread(target=self._poll, name=f"{name}-poller", daemon=True)]
        self._threads += [
            threading.Thread(target=self._work, name=f"{name}-{n}", daemon=True) for n in range(concurrency)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop receiving; batches received but not delivered go back to the queue, processed ones are deleted."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._deletes.shutdown(wait=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                messages = gather_sqs_batch(self.sqs, self.queue_url, self.batching, self.wait_seconds)
            except Exception:
                time.sleep(0.2)
                continue
            while messages and not self._stop.is_set():
                try:
                    self._ready.put(messages, timeout=0.1)
                    messages = []
                except queue.Full:
                    continue
            if messages:
                self._release(messages)
        while not self._ready.empty():
            self._release(self._ready.get_nowait())

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self._ready.get(timeout=0.1)
            except queue.Empty:
                continue
            done = self._deliver(messages)
            if done:
                self._deletes.submit(self._delete, done)

    def _deliver(self, messages: list[dict]) -> list[dict]:
        """Invoke the function with a batch; the messages it processed."""
        try:
            result = self.invoke({"Records": [_sqs_record(m, self.queue_arn) for m in messages]})
        except Exception:
            return []
        failed: set[str] = set()
        if self.partial and isinstance(result, dict):
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        return [m for m in messages if m["MessageId"] not in failed]

    def _delete(self, messages: list[dict]) -> None:
        for entries in _receipt_entries(messages):
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)

    def _release(self, messages: list[dict]) -> None:
        """Make received messages visible again at once."""
        for entries in _receipt_entries(messages, VisibilityTimeout=0):
            self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)


def _receipt_entries(messages: list[dict], **fields: Any) -> Iterator[list[dict[str, Any]]]:
    """The entries of SQS's batch calls on received messages, ten (SQS's most) per call."""
    for start in range(0, len(messages), 10):
        yield [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], **fields}
            for i, m in enumerate(messages[start : start + 10])
        ]


def gather_sqs_batch(sqs: Any, queue_url: str, batching: SqsBatching, wait_seconds: int) -> list[dict]:
    """Up to ``BatchSize`` messages, ten per receive as SQS allows: once the first ones arrive it keeps
    receiving until the batch is full or the batching window has passed. Unlike Lambda's poller it stops
    early when the queue has nothing more, so a lone webhook is not held for the window."""

    def receive(count: int, wait: int) -> list[dict]:
        return sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, count),
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])

    messages = receive(batching.size, wait_seconds)
    deadline = time.monotonic() + batching.window_seconds
    while messages and len(messages) < batching.size and time.monotonic() < deadline:
        more = receive(batching.size - len(messages), 0)
        if not more:
            break
        messages.extend(more)
    return messages


def _sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", str(int(time.time() * 1000))),
            "SenderId": attributes.get("SenderId", ACCOUNT),
            "ApproximateFirstReceiveTimestamp": attributes.get(
                "ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000))
            ),
        },
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def _peak_rss_kb(pid: int) -> int:
    """A process's peak resident memory (``VmHWM``), in kB; 0 where /proc does not say."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _run_container(spec: dict[str, Any]) -> None:
    """A container process (``crash_next_invocations``): cold-start the handler, say so, invoke it once with the
    event from stdin, and write what it returned; killed by its own hand right after the planned AWS call."""
    event = json.loads(sys.stdin.read())
    _kill_after(*spec["kill_after"])
    module_name, handler_name = spec["handler"].rsplit(".", 1)
    path = Path(spec["code_dir"]) / f"{module_name.replace('.', '/')}.py"
    loader_spec = importlib.util.spec_from_file_location(f"_container_{module_name}", path)
    if loader_spec is None or loader_spec.loader is None:
        raise TemplateError(f"cannot load {path}")
    module = importlib.util.module_from_spec(loader_spec)
    loader_spec.loader.exec_module(module)
    with os.fdopen(spec["answer_fd"], "w", encoding="utf-8") as answers:
        answers.write("ready\n")
        answers.flush()
        context = LambdaContext(spec["name"], spec["memory"], spec["timeout"])
        result = getattr(module, handler_name)(event, context)
        answers.write(json.dumps(result, default=str) + "\n")


def _kill_after(operation: str, calls: int) -> None:
    """SIGKILL this process as soon as its ``calls``-th ``service:Operation`` AWS call has returned."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call
    made = 0
    lock = threading.Lock()

    def counted(client: Any, name: str, params: dict[str, Any]) -> Any:
        nonlocal made
        result = original(client, name, params)
        if f"{client.meta.service_model.service_name}:{name}" == operation:
            with lock:
                made += 1
                if made >= calls:
                    os.kill(os.getpid(), signal.SIGKILL)
        return result

    BaseClient._make_api_call = counted  # type: ignore[method-assign]


def api_event(request: Request, route_key: str, path_params: dict[str, str]) -> dict[str, Any]:
    """The event an HTTP API sends for payload format 2.0: header names lower case, repeated headers and query
    parameters joined with commas, cookies apart, the named stage in the path, no body key without a body."""
    raw = request.get_data(cache=False)
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        name = key.lower()
        if name != "cookie":
            headers[name] = f"{headers[name]},{value}" if name in headers else value
    now = time.time()
    path = f"/{API_STAGE}{request.path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": request.query_string.decode("latin-1"),
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "domainName": request.host,
            "domainPrefix": request.host.split(".")[0],
            "http": {
                "method": request.method,
                "path": path,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": request.remote_addr or "127.0.0.1",
                "userAgent": request.user_agent.string,
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": API_STAGE,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if request.cookies:
        event["cookies"] = [f"{k}={v}" for k, v in request.cookies.items(multi=True)]
    if request.args:
        event["queryStringParameters"] = {k: ",".join(request.args.getlist(k)) for k in request.args}
    if path_params:
        event["pathParameters"] = path_params
    if raw:
        try:
            event["body"] = raw.decode("utf-8")
        except UnicodeDecodeError:
            event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
    return event


def _api_message(status: int, message: str) -> Response:
    """An answer API Gateway gives itself, without invoking a function."""
    return Response(json.dumps({"message": message}), status, content_type="application/json")


_EXECUTE_API = re.compile(rf"https://[^/]+\.execute-api\.[^/]+\.amazonaws\.com/{API_STAGE}")
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")


def _rate_seconds(expression: str) -> int | None:
    match = _RATE.match(expression.strip())
    if not match:
        return None
    unit = match.group(2).rstrip("s")
    return int(match.group(1)) * {"minute": 60, "hour": 3600, "day": 86400}[unit]


def _schedule_input(props: dict[str, Any]) -> dict[str, Any]:
    text = props.get("Input", "{}")
    text = text.replace("<aws.scheduler.scheduled-time>", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    text = text.replace("<aws.scheduler.execution-id>", str(uuid.uuid4()))
    return json.loads(text)


if __name__ == "__main__":
    _run_container(json.loads(sys.argv[1]))
