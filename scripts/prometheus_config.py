"""The shipped Prometheus configuration (infra/monitoring/prometheus.yml) pointed at one stack's API.

`scripts/prometheus_config.py --api-url URL --token-file F --rules R --out O`
writes the local copy scripts/up starts Prometheus with; tests render theirs with shorter intervals.
"""

import argparse
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

JOB = "hydroponics"


def render_config(shipped: dict[str, Any], api_url: str, token_file: str, rule_files: list[str],
                  interval: str | None = None) -> dict[str, Any]:
    """The shipped configuration with the hydroponics job scraping `api_url`/metrics with the token in `token_file`."""
    parts = urlsplit(api_url.rstrip("/"))
    config = yaml.safe_load(yaml.safe_dump(shipped))  # a deep copy
    [job] = [job for job in config["scrape_configs"] if job["job_name"] == JOB]
    job.update({"scheme": parts.scheme, "metrics_path": f"{parts.path}/metrics",
                "authorization": {"type": "Bearer", "credentials_file": token_file},
                "static_configs": [{"targets": [parts.netloc]}]})
    config["rule_files"] = rule_files
    if interval:
        config["global"].update({"scrape_interval": interval, "evaluation_interval": interval})
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shipped", type=Path, required=True)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--token-file", required=True)
    parser.add_argument("--rules", action="append", required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    config = render_config(yaml.safe_load(args.shipped.read_text()), args.api_url, args.token_file, args.rules)
    args.out.write_text(yaml.safe_dump(config, sort_keys=False))


if __name__ == "__main__":
    main()
