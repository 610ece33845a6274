"""Settings every test shares: no tracing, a metrics namespace, no real AWS credentials."""

import os

os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "geocode-dataflow")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "GeocodeDataflow")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("SAM_CLI_TELEMETRY", "0")
