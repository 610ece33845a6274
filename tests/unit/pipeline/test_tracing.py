"""X-Ray must not record the Dataflow URLs: they carry the key."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import socket
    from aws_xray_sdk import global_sdk_config
    from aws_xray_sdk.core import patch, xray_recorder
    from geocode_dataflow.pipeline.observability import TRACED_MODULES
    from geocode_dataflow.client import DataflowClient

    global_sdk_config.set_sdk_enabled(True)  # Powertools turns X-Ray off outside Lambda
    xray_recorder.configure(sampling=False, context_missing="LOG_ERROR")
    patch(TRACED_MODULES)  # what Tracer(patch_modules=TRACED_MODULES) does in Lambda
    sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]; sock.close()
    key = "XRAY-LEAK-CHECK-KEY-0123456789"
    segment = xray_recorder.begin_segment("check")
    try:
        DataflowClient(key, f"http://127.0.0.1:{port}/REST/v1/Dataflows", retries=0).get_job("abc")
    except Exception:
        pass
    document = segment.serialize()
    xray_recorder.end_segment()
    print("LEAK" if key in document else "CLEAN")
    """
)


def test_only_botocore_is_traced():
    from geocode_dataflow.pipeline.observability import TRACED_MODULES

    assert TRACED_MODULES == ("botocore",)


def test_a_failed_provider_call_leaves_no_key_in_the_trace():
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout.strip().splitlines()[-1] == "CLEAN", result.stdout + result.stderr
