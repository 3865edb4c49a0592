"""Realistic Lambda events (API Gateway HTTP API v2, SQS) and loading a function's handler module."""

import importlib.util
import json
import uuid
from pathlib import Path
from types import ModuleType, SimpleNamespace

FUNCTIONS = Path(__file__).resolve().parents[1] / "functions"


def load_handler(function: str) -> ModuleType:
    """Import functions/<function>/handler.py under a unique name (every function has a `handler.py`)."""
    spec = importlib.util.spec_from_file_location(f"fn_{function}_handler", FUNCTIONS / function / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lambda_context(name: str = "test") -> SimpleNamespace:
    return SimpleNamespace(function_name=name, memory_limit_in_mb=512, invoked_function_arn=f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
                           aws_request_id=str(uuid.uuid4()), get_remaining_time_in_millis=lambda: 30_000)


def http_event(method: str, path: str, body: object | None = None, headers: dict | None = None,
               query: str = "", source_ip: str = "127.0.0.1") -> dict:
    """An API Gateway HTTP API (payload 2.0) event, as the ingest and api functions receive it."""
    raw = body if isinstance(body, (str, type(None))) else json.dumps(body)
    all_headers = {"content-type": "application/json", "host": "api.local"} | {k.lower(): v for k, v in (headers or {}).items()}
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": all_headers,
        "requestContext": {"accountId": "000000000000", "apiId": "local", "domainName": "api.local", "stage": "$default",
                           "requestId": str(uuid.uuid4()), "routeKey": "$default", "time": "29/Nov/2026:12:00:00 +0000",
                           "timeEpoch": 0, "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                                    "sourceIp": source_ip, "userAgent": "pytest"}},
        "body": raw, "isBase64Encoded": False,
    }


def sqs_event(bodies: list[str], queue_arn: str = "arn:aws:sqs:us-east-1:000000000000:readings") -> dict:
    return {"Records": [{"messageId": str(uuid.uuid4()), "receiptHandle": "rh", "body": body, "attributes": {},
                         "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                         "eventSourceARN": queue_arn, "awsRegion": "us-east-1"} for body in bodies]}
