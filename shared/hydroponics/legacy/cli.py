"""The legacy import command line (scripts/import-legacy wraps it):

    python -m hydroponics.legacy path/to/hydroponics.db [--client-map 3=<client uuid> ...] [--dry-run] [--report FILE]

It uses the same settings as the functions (DATABASE_URL or DB_SECRET_ARN; API_KEYS_TABLE and
AWS_ENDPOINT_URL for the key index). Prints the verification report and writes it as JSON
(default: beside the legacy file, `<file>.import-report.json`). Exit status: 0 imported and
verified, 1 imported but not verified (see the report), 2 bad arguments or an unreadable file.
"""

import argparse
import json
import sys
from pathlib import Path
from uuid import UUID


def _client_map(values: list[str]) -> dict[str, UUID]:
    """`3=<uuid>` pairs, or a JSON file {"3": "<uuid>"}: legacy clients to import into existing clients."""
    pairs: dict[str, str] = {}
    for value in values:
        if "=" in value:
            legacy, _, target = value.partition("=")
            pairs[legacy.strip()] = target.strip()
        else:
            pairs |= {str(k): str(v) for k, v in json.loads(Path(value).read_text()).items()}
    try:
        mapped = {legacy: UUID(target) for legacy, target in pairs.items()}
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--client-map: not a client id: {exc}") from None
    if len(set(mapped.values())) != len(mapped):
        raise argparse.ArgumentTypeError("--client-map: two legacy clients map to one client")
    return mapped


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/import-legacy", description=__doc__.split("\n\n")[0])
    parser.add_argument("database", type=Path, help="the legacy server's SQLite file")
    parser.add_argument("--client-map", action="append", default=[], metavar="LEGACY=UUID|FILE.json",
                        help="import a legacy client into an existing platform client (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="do the whole import in a transaction rolled back")
    parser.add_argument("--report", type=Path, help="where to write the JSON report")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        client_map = _client_map(args.client_map)
    except (argparse.ArgumentTypeError, OSError, ValueError) as exc:
        parser.error(str(exc))
    if not args.database.is_file():
        parser.error(f"no legacy database at {args.database}")
    from hydroponics.legacy.run import import_legacy

    report = import_legacy(args.database, client_map, dry_run=args.dry_run)
    target = args.report or args.database.with_name(args.database.name + ".import-report.json")
    report.write(target)
    print(report.summary())
    print(f"report: {target}")
    return 0 if report.verified else 1


if __name__ == "__main__":
    sys.exit(main())
