"""Secrets at rest: what opening a sealed channel target costs a delivery, beside what it would cost without
the data-key cache and with no encryption at all (all measured in this run, against MiniStack's KMS).

1. plaintext: reading the target as it is (the floor: what the platform did before sealing).
2. unseal, cached data key: AES-256-GCM decryption only (every delivery after a container's first).
3. unseal, cache off (SECRETS_KEY_CACHE_SECONDS=0): one KMS Decrypt per delivery.
4. seal: GenerateDataKey + encryption (a channel saved).

Needs MiniStack (AWS_ENDPOINT_URL, default :4566).
Usage: .venv/bin/python bench/secrets_bench.py [--rounds 200]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET = "jsons://receiver.example/hooks/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX?+Authorization=Bearer%20tok"


def timed(action, rounds: int) -> tuple[float, float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e6, ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    import boto3

    endpoint = os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    os.environ.update({"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_DEFAULT_REGION": "us-east-1",
                       "DATABASE_URL": os.environ.get("DATABASE_URL", "postgresql+pg8000://unused@127.0.0.1:1/x")})
    kms = boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1")
    os.environ["SECRETS_KEY_ID"] = kms.create_key(Description="secrets bench")["KeyMetadata"]["Arn"]
    from hydroponics import envelope
    from hydroponics.sealed_secrets import channel_target_context
    from hydroponics.settings import get_settings

    context = channel_target_context("bench-client", "bench-channel")
    row = {"target_url": TARGET}
    sealed = envelope.seal(TARGET, context)
    assert envelope.unseal(sealed, context) == TARGET
    figures = {"plaintext column (floor)": timed(lambda: row["target_url"], args.rounds),
               "unseal, data key cached": timed(lambda: envelope.unseal(sealed, context), args.rounds)}
    os.environ["SECRETS_KEY_CACHE_SECONDS"] = "0"
    get_settings.cache_clear()
    figures["unseal, cache off (KMS Decrypt each)"] = timed(lambda: envelope.unseal(sealed, context), args.rounds)
    figures["seal (GenerateDataKey + encrypt)"] = timed(lambda: envelope.seal(TARGET, context), args.rounds)
    print(f"{'secrets at rest, per call':40} {'p50 µs':>10} {'p95 µs':>10}   ({args.rounds} rounds)")
    for name, (p50, p95) in figures.items():
        print(f"{name:40} {p50:10.1f} {p95:10.1f}")


if __name__ == "__main__":
    main()
