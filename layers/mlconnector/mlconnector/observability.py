"""Powertools Logger and Metrics shared by the library and the handlers (the Tracer is in ``tracing``).

Metrics carry a ``connection`` dimension; each call emits one EMF line so records of
different connections in one batch are counted apart.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

NAMESPACE_DEFAULT = "MlConnector"
SERVICE_DEFAULT = "ml-connector"

# Explicit defaults, so importing the library outside a function (the CLI, tests) still yields valid EMF.
logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE_DEFAULT))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE_DEFAULT))


def count(name: str, connection: str, value: float = 1, unit: MetricUnit = MetricUnit.Count) -> None:
    """Emit one metric with the connection as dimension."""
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE_DEFAULT)
    with single_metric(name=name, unit=unit, value=value, namespace=namespace) as metric:
        metric.add_dimension(name="connection", value=connection)
