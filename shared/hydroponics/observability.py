"""Logging and metrics for every function: Powertools Logger (JSON) and Metrics (EMF)."""

from aws_lambda_powertools import Logger, Metrics

SERVICE = "hydroponics"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="Hydroponics", service=SERVICE)
