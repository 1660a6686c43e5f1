"""The embedded AWS: moto's server, with its hottest constant-time work made cheap.

Profiling the embedded AWS under the pipeline (py-spy) showed most of its CPU going to work
whose result does not change, none of it to the emulation itself:

* every request lists moto's service packages (a directory listing with an ``isdir`` per
  entry) and the public methods of the response class (``inspect.getmembers``): cached;
* SQS asks for "now" through ``unix_time``/``unix_time_millis``, which build two datetimes per
  call, once per message for every visibility check: replaced by ``time.time()`` (the same
  UTC epoch seconds, without the datetimes);
* ``ReceiveMessage`` reads the queue's retention period through ``get_queue_attributes``, which
  counts every message in the queue three times, once per message it returns: read directly;
* ``SendMessage`` builds all queue attributes (three counts over every queued message) to read
  ``ContentBasedDeduplication``, which only FIFO queues have: skipped for standard queues, so a
  send no longer slows down as the queue fills; ``GetQueueAttributes`` for named attributes built
  them twice per name: built once per request.

Two correctness fixes. EventBridge: moto reads an event bus name as the last ``/`` segment of what it
is given, which breaks partner event buses (named after their source, ``aws.partner/shopify.com/1/x``):
rules, targets and events on them are looked up by the full name, or by what follows ``event-bus/`` in an
ARN. SQS: ``Queue.delete_message`` rebuilds the queue's message list without the
lock that ``add_message`` takes. Two deletes at once (the runtime's five poster workers) can put a
deleted message back, where it waits out the 360 s visibility timeout and is delivered again; a
send at the same moment can be lost. Deletes take the queue's lock here.

Request logging is off (the runtime discards it anyway). Everything else is moto as published.

Run as ``python -m local.aws_server -H 127.0.0.1 -p PORT`` (the arguments of ``moto.server``).
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from typing import Any

import moto.backends
import moto.core.responses
import moto.core.utils
import moto.events.models
import moto.sqs.models
from moto.server import main
from werkzeug.serving import WSGIRequestHandler


def _install_fixes() -> None:
    modules = tuple(moto.backends.list_of_moto_modules())
    moto.backends.list_of_moto_modules = lambda: iter(modules)
    moto.core.responses.method_names_from_class = functools.cache(moto.core.utils.method_names_from_class)
    WSGIRequestHandler.log_request = lambda *args, **kwargs: None  # type: ignore[method-assign]

    exact_unix_time = moto.sqs.models.unix_time

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else exact_unix_time(dt)

    moto.sqs.models.unix_time = unix_time
    moto.sqs.models.unix_time_millis = lambda dt=None: unix_time(dt) * 1000.0

    def is_message_valid_based_on_retention_period(backend: Any, queue_name: str, message: Any) -> bool:
        retention_seconds = int(backend.get_queue(queue_name).message_retention_period)
        return retention_seconds + message.sent_timestamp / 1000 > time.time()

    moto.sqs.models.SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period

    _share_attribute_work()

    def normalize_event_bus_arn(backend: Any, event_bus_arn: str | None) -> str:
        if event_bus_arn is None:
            return "default"
        return event_bus_arn.split(":event-bus/", 1)[1] if event_bus_arn.startswith("arn:") else event_bus_arn

    moto.events.models.EventsBackend._normalize_event_bus_arn = normalize_event_bus_arn

    unlocked_delete = moto.sqs.models.Queue.delete_message

    def delete_message(queue: Any, receipt_handle: str) -> None:
        with queue._messages_lock:
            unlocked_delete(queue, receipt_handle)

    moto.sqs.models.Queue.delete_message = delete_message


def _share_attribute_work() -> None:
    """Queue attributes built at most once per request, and not at all for a standard-queue send."""
    models = moto.sqs.models
    request = threading.local()
    build_attributes = models.Queue.attributes.fget

    def attributes(queue: Any) -> dict[str, Any]:
        if getattr(request, "sending", False) and not queue.fifo_queue:
            return {}  # the send path only reads ContentBasedDeduplication, a FIFO-only attribute
        memo = getattr(request, "memo", None)
        if memo is None:
            return build_attributes(queue)
        if id(queue) not in memo:
            memo[id(queue)] = build_attributes(queue)
        return memo[id(queue)]

    def within(flag: str, fresh: Any, operation: Any) -> Any:
        def run(backend: Any, *args: Any, **kwargs: Any) -> Any:
            setattr(request, flag, fresh())
            try:
                return operation(backend, *args, **kwargs)
            finally:
                setattr(request, flag, None)

        return run

    models.Queue.attributes = property(attributes)
    models.SQSBackend.send_message = within("sending", lambda: True, models.SQSBackend.send_message)
    models.SQSBackend.get_queue_attributes = within("memo", dict, models.SQSBackend.get_queue_attributes)


if __name__ == "__main__":
    sys.setswitchinterval(0.0005)
    _install_fixes()
    main(sys.argv[1:])
