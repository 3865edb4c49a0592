"""The one factory for boto3 clients; honours AWS_ENDPOINT_URL so the same code talks to MiniStack."""

from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

from hydroponics.settings import get_settings

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)


@lru_cache(maxsize=None)
def client(service: str) -> Any:
    """A cached client for `service`, created on first use in this container."""
    settings = get_settings()
    return boto3.session.Session().client(
        service,
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url or None,
        config=_CONFIG,
    )
