"""The retention command line: a run (or its dry run) and a restore, printed as JSON.

    python -m hydroponics.retention [--dry-run]
    python -m hydroponics.retention restore --client C --from 2026-01-01 --to 2026-02-01 [--keep-days 30]

It uses the same settings as the functions (DATABASE_URL or DB_SECRET_ARN, ARCHIVE_BUCKET,
AWS_ENDPOINT_URL for MiniStack). Exit status: 0 done, 1 the run failed or was skipped, 2 bad arguments.
"""

import argparse
import json
import sys
from datetime import UTC, datetime
from uuid import UUID

from hydroponics.retention.restore import DEFAULT_KEEP_DAYS


def _moment(raw: str) -> datetime:
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an ISO-8601 date or time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hydroponics.retention", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print what a run would archive and delete; change nothing")
    commands = parser.add_subparsers(dest="command")
    restore = commands.add_parser("restore", help="put archived readings of one client back into PostgreSQL")
    restore.add_argument("--client", type=UUID, required=True, help="the client's id")
    restore.add_argument("--from", dest="start", type=_moment, required=True, help="start (inclusive), ISO-8601")
    restore.add_argument("--to", dest="end", type=_moment, required=True, help="end (exclusive), ISO-8601")
    restore.add_argument("--keep-days", type=int, default=DEFAULT_KEEP_DAYS,
                         help=f"days retention leaves the restored rows alone (default {DEFAULT_KEEP_DAYS}; 0: none)")
    return parser


def _print(document: dict) -> None:
    json.dump(document, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from hydroponics.retention import job, requests, restore

    if args.command == "restore":
        if args.end <= args.start or args.keep_days < 0:
            _parser().error("--to must be after --from, and --keep-days not negative")
        _print(restore.restore_readings(args.client, args.start, args.end, keep_days=args.keep_days).to_dict())
        return 0
    if args.dry_run:
        _print(requests.dry_run().to_dict() | {"dry_run": True})
        return 0
    record = job.run_retention(requested_by="cli")
    _print(vars(record))
    return 0 if record.status == "succeeded" else 1
