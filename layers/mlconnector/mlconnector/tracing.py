"""The Powertools Tracer, for the functions that trace their own calls (poster, poller, keeper, reconciler).

Creating a Tracer loads the X-Ray SDK and patches boto3/requests: worth it where the time goes
to ERP and store calls, not in the webhook receiver, whose whole job is two AWS calls on the
path a store waits on. The receiver is traced by API Gateway and Lambda (``Tracing: Active``)
without the SDK in its process.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Tracer

from mlconnector.observability import SERVICE_DEFAULT

tracer = Tracer(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE_DEFAULT))
